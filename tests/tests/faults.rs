//! Failing disks, made by QEMU's own block layer: `blkdebug` fails reads of
//! chosen sectors with EIO, `throttle` makes a disk answer one request per
//! second or stop answering in the middle of discovery. In each test a
//! healthy disk sits beside the failing ones, and the test asserts: the
//! menu appears within hopboot's disk deadline (`hopboot.disk_timeout`,
//! default 3 s) after the disks are found (disks that stop while being
//! opened cost one deadline together, a disk that stops later in discovery
//! one more), with the healthy disk's entries; a failing disk is the menu's
//! problem line, and `x` lists each with what went wrong; the default entry
//! (on a failing disk) fails to load, and the healthy disk's entry boots.
//!
//! The images are never changed: the faults are between them and the guest.
//! Two boots; run with `--test-threads=2`.

use hopboot_qemu::demo::{demo_disk, Demo, DemoInfo};
use hopboot_qemu::disk::FIRST_PARTITION_OFFSET;
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Fault, Line, Vm};
use hopboot_tests::{boot_hopboot_on, setup, BOOT_TIMEOUT};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// hopboot's default `hopboot.disk_timeout`, in milliseconds.
const DISK_TIMEOUT_MS: u64 = 3000;
/// Slack on top of the deadline for the healthy disks' own discovery and
/// a busy host (they take 0.1-0.3 s under TCG).
const SLACK_MS: u64 = 2000;
/// How long the tests wait for the menu at all: on the code before the
/// per-disk threads, a stalled disk kept it away for good.
const MENU_WAIT: Duration = Duration::from_secs(120);
/// A countdown long enough for the keys the tests send.
const APPEND: &str = "hopboot.wait=30 hopboot.timeout=60";

fn demo(name: &str, variant: Demo) -> DemoInfo {
    let s = setup();
    demo_disk(&s.work.join(format!("faults-{name}.img")), &s.kernel, variant).unwrap()
}

/// `t=` of hopboot's last log line with `stage=STAGE` in `lines`, in ms.
fn stage_ms(lines: &[Line], stage: &str) -> Option<u64> {
    let tag = format!("(stage={stage} t=");
    lines.iter().rev().find_map(|l| {
        let rest = &l.text[l.text.find(&tag)? + tag.len()..];
        rest[..rest.find("ms)")?].parse().ok()
    })
}

/// Waits for the menu and returns its list of entries (from its title to
/// the key help) and how long after the disks were listed it came (ms,
/// hopboot's clock). Its notes (the failed disks) follow: [`note`].
fn menu(vm: &mut Vm) -> (String, u64) {
    vm.wait_for("(stage=menu t=", MENU_WAIT)
        .unwrap_or_else(|e| panic!("no menu: {e:#}"));
    vm.wait_for_line("Enter boot  e edit", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let lines = vm.lines();
    let (devices, shown) = (stage_ms(&lines, "devices"), stage_ms(&lines, "menu"));
    let (Some(devices), Some(shown)) = (devices, shown) else {
        panic!("no stage times in the log:\n{}", vm.transcript());
    };
    eprintln!("disks listed at {devices} ms, menu at {shown} ms");
    let t = hopboot_qemu::vm::strip_ansi(&vm.transcript());
    let start = t.rfind("- boot menu").expect("menu title");
    let end = t[start..].find("Enter boot").map_or(t.len(), |e| start + e);
    (t[start..end].to_string(), shown.saturating_sub(devices))
}

/// Checks that the menu came within `deadlines` disk deadlines (plus the
/// healthy disks' own time) of the disks being listed.
fn on_time(vm: &Vm, took_ms: u64, deadlines: u64) {
    assert!(
        took_ms <= deadlines * DISK_TIMEOUT_MS + SLACK_MS,
        "the menu took {took_ms} ms after the disks were listed, more than {deadlines} deadlines:\n{}",
        vm.transcript()
    );
}

/// The menu's problem line (the first problem, "! vdc: …"): a failing disk.
fn first_problem(vm: &mut Vm) -> String {
    let line = vm
        .wait_for_line("! vd", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no disk on the problem line: {e:#}"));
    hopboot_qemu::vm::strip_ansi(&line.text)
}

/// Presses `x` and returns the problems the menu lists, then goes back.
fn problems(vm: &mut Vm) -> Vec<String> {
    vm.send(b"x").unwrap();
    let head = vm
        .wait_for_line("Problems met finding entries:", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for_line("(any key: back)", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let lines = vm.lines();
    let from = lines.iter().rposition(|l| l == &head).unwrap();
    let list = lines[from + 1..]
        .iter()
        .map(|l| hopboot_qemu::vm::strip_ansi(&l.text).trim().to_string())
        .take_while(|l| l != "(any key: back)")
        .collect();
    vm.send(b" ").unwrap();
    list
}

/// Picks entry `n` (1-9) and boots it; returns the target's marker line.
fn boot_entry(vm: &mut Vm, n: u8) -> String {
    std::thread::sleep(Duration::from_millis(300));
    vm.send(&[b'0' + n]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.send(b"\r").unwrap();
    marker(vm)
}

/// The target's marker line once it powered off.
fn marker(vm: &mut Vm) -> String {
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let lines = vm.lines();
    let m = lines.iter().find(|l| l.text.contains(MARKER)).expect("marker line");
    m.text.trim().to_string()
}

/// The 512-byte sector of disk `disk` that holds a block from the middle
/// of `path` on its first partition's ext4 (from debugfs's block map).
fn sector_inside(disk: &Path, path: &str) -> u64 {
    let spec = format!("{}?offset={FIRST_PARTITION_OFFSET}", disk.display());
    let run = |args: &[&str]| {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("running e2fsprogs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let header = run(&["dumpe2fs", "-h", &spec]);
    let block_size: u64 = header
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("block size");
    let size = std::fs::metadata(disk).unwrap().len(); // only to sanity-check
    let logical = run(&["debugfs", "-R", &format!("stat {path}"), &spec]);
    let file_size: u64 = logical
        .split_whitespace()
        .skip_while(|w| *w != "Size:")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("file size");
    let middle = file_size / block_size / 2;
    let phys: u64 = run(&["debugfs", "-R", &format!("bmap {path} {middle}"), &spec])
        .trim()
        .parse()
        .expect("bmap");
    let sector = (FIRST_PARTITION_OFFSET + phys * block_size) / 512;
    assert!(sector * 512 < size);
    sector
}

/// Four disks beside a healthy one (vdb): vdc stops answering while it is
/// being opened (after the kernel's own partition scan), vdd answers one
/// request per second, vde stops in the middle of discovery (the formats'
/// reads), and vda, the first disk with the default entry, answers
/// discovery but stops in the middle of its kernel. The menu comes within
/// two deadlines (vdc and vdd together while opening, then vde) with vda's
/// and vdb's entries and names vdc, vdd and vde; loading vda's default
/// entry (while the countdown runs) is given up, and vdb's entry boots.
#[test]
fn disks_that_stop_answering_are_named_and_left_behind() {
    let grub = demo("stop-grub", Demo::Grub);
    let scan = demo("stop-scan", Demo::Scan);
    let disks = [
        // The kernel's scan and hopboot's discovery read well under 1.5 MB;
        // the kernel and initrd are about 8 MB.
        DiskAttach::new(&grub.disk)
            .read_only()
            .with_fault(Fault::StopAfter { burst: 1_500_000 }),
        DiskAttach::new(&scan.disk).read_only(),
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::StopAfter { burst: 64 << 10 }),
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::OnePerSecond { burst: 10 }),
        // Enough for the table and the filesystem, not for the formats.
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::StopAfter { burst: 600_000 }),
    ];
    let mut vm = boot_hopboot_on(&setup().initramfs, &disks, APPEND).unwrap();
    let (m, took) = menu(&mut vm);
    for want in ["grub vda1", "scan vdb1"] {
        assert!(m.contains(want), "{want} not on the menu:\n{m}");
    }
    for gone in ["vdc1", "vdd1", "vde1"] {
        assert!(!m.contains(gone), "{gone} on the menu:\n{m}");
    }
    let first = first_problem(&mut vm);
    assert!(first.contains("stopped answering after 3.0 s"), "{first}");
    let failed = vm
        .wait_for_line("'Debian GNU/Linux': cannot read kernel", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(failed.text.contains("vda stopped answering"), "{}", failed.text);
    // Disks that stop while being opened cost one deadline together; each
    // one that stops later in discovery costs one more. Where the
    // one-request-per-second disk runs out depends on how many requests
    // the kernel's scan left it: either is right.
    let listed = problems(&mut vm);
    let mut deadlines = 1;
    for (disk, doing) in [
        ("vdc", Some("(opening its partitions)")),
        ("vdd", None),
        ("vde", Some("(looking up vde1:/")),
    ] {
        let want = format!("{disk}: stopped answering after 3.0 s, left out (");
        let Some(p) = listed.iter().find(|p| p.starts_with(&want)) else {
            panic!("{want:?} not among the problems: {listed:#?}");
        };
        assert!(p.contains(doing.unwrap_or("(")), "{p}");
        if !p.contains("(opening its partitions)") {
            deadlines += 1;
        }
    }
    on_time(&vm, took, deadlines);
    assert_eq!(boot_entry(&mut vm, 3), marker_line(&scan.expected_cmdline));
    let booting = vm
        .lines()
        .into_iter()
        .rfind(|l| l.text.contains("hopboot: booting"))
        .unwrap();
    assert!(booting.text.contains("from vdb1"), "{}", booting.text);
}

/// EIO from four disks beside a healthy one: vda's kernel (the default
/// entry: loading it fails), both GPT headers of vdc, the
/// ext4 superblock of vdd1, the primary GPT header of vde (the backup is
/// read instead: its entries show; the kernel reads the disk in 4 KiB
/// pages, so LBA 0 fails with LBA 1 and the kernel itself finds no
/// partitions). The menu, as fast as without faults, names vdc and vdd1
/// with the read error; vdb's entry boots.
#[test]
fn read_errors_are_named_and_the_healthy_disk_boots() {
    let grub = demo("eio-grub", Demo::Grub);
    let scan = demo("eio-scan", Demo::Scan);
    let last = std::fs::metadata(&scan.disk).unwrap().len() / 512 - 1;
    let kernel = sector_inside(&grub.disk, &grub.expected_kernel);
    let superblock = FIRST_PARTITION_OFFSET / 512 + 2;
    let disks = [
        DiskAttach::new(&grub.disk)
            .read_only()
            .with_fault(Fault::ReadErrors(vec![kernel])),
        DiskAttach::new(&scan.disk).read_only(),
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::ReadErrors(vec![1, last])),
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::ReadErrors(vec![superblock])),
        DiskAttach::new(&scan.disk)
            .read_only()
            .with_fault(Fault::ReadErrors(vec![1])),
    ];
    let mut vm = boot_hopboot_on(&setup().initramfs, &disks, APPEND).unwrap();
    let (m, took) = menu(&mut vm);
    on_time(&vm, took, 0);
    for want in ["grub vda1", "scan vdb1", "scan vde1"] {
        assert!(m.contains(want), "{want} not on the menu:\n{m}");
    }
    let first = first_problem(&mut vm);
    assert!(first.contains("I/O error"), "{first}");
    let failed = vm
        .wait_for_line("'Debian GNU/Linux': cannot read kernel", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(failed.text.contains("I/O error"), "{}", failed.text);
    // Both GPT headers, and the superblock.
    let listed = problems(&mut vm);
    for want in [
        "vdc: read error at byte 0: I/O error",
        "vdd1: reading its first 4096 bytes: I/O error",
    ] {
        assert!(
            listed.iter().any(|p| p.starts_with(want)),
            "{want:?} not among {listed:#?}"
        );
    }
    assert_eq!(boot_entry(&mut vm, 3), marker_line(&scan.expected_cmdline));
    let booting = vm
        .lines()
        .into_iter()
        .rfind(|l| l.text.contains("hopboot: booting"))
        .unwrap();
    assert!(booting.text.contains("from vdb1"), "{}", booting.text);
}
