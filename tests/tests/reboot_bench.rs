//! `make bench-reboot` (root: debootstrap; outside `make test`, it times things and
//! asserts nothing about speed): the installed Debian 12 (/boot on its own partition,
//! GRUB in the disk's BIOS boot partition, `GRUB_TIMEOUT=0`, the `.deb` installed and
//! hopboot-kexec.service enabled) reboots `HOPBOOT_BENCH_REBOOTS` times each way in one
//! QEMU, alternating: `systemctl kexec` (the unit loads GRUB's default entry at
//! shutdown) and `systemctl reboot` (SeaBIOS, GRUB, the same entry). Each reboot is
//! split, from the serial console's host timestamps, into
//! - shutdown: the driver's `bench` line → the old kernel's last line
//!   (`kexec_core: Starting new kernel` / `reboot: Restarting system`); hopboot's load
//!   is inside it and reported on its own;
//! - handoff: → the new kernel's clock zero (the firmware, GRUB's reads, decompression);
//! - boot: → the driver's `up` line (multi-user reached).
//!
//! The medians and the ratio go to stderr and `target/bench-reboot/summary.json`, with
//! the ratio of each kexec reboot to the firmware reboot after it, the ratio of what
//! the loader changes (shutdown + handoff), and the floor: the firmware path's shutdown
//! and boot alone, over its total, which no kexec loader can go below.

use hopboot_qemu::distro::{distro_dir, distro_disk, Layout, FS_UUID};
use hopboot_qemu::vm::{DiskAttach, Line, Vm, VmConfig};
use hopboot_tests::installed::{kexec_disk_with, KT};
use hopboot_tests::setup;
use std::time::Duration;

fn pairs() -> u32 {
    std::env::var("HOPBOOT_BENCH_REBOOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// The guest kernel's timestamp at the start of a console line (`[    3.762140] …`).
fn kernel_time(line: &Line) -> Option<f64> {
    let rest = line.text.trim_start().strip_prefix('[')?;
    rest.split(']').next()?.trim().parse().ok()
}

/// One reboot's phases, in seconds.
#[derive(Debug, Clone, Copy, Default)]
struct Phases {
    shutdown: f64,
    load: f64,
    handoff: f64,
    boot: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.shutdown + self.handoff + self.boot
    }
}

/// The phases of the reboot that step `k` started (`kind`: `kexec` or `reboot`).
fn phases(lines: &[Line], k: u32, kind: &str) -> Option<Phases> {
    let secs = |l: &Line| l.t.as_secs_f64();
    let start = lines
        .iter()
        .position(|l| l.text.contains(&format!("{KT}step={k} bench {kind}")))?;
    let up = start
        + lines[start..]
            .iter()
            .position(|l| l.text.contains(&format!("{KT}step={} up", k + 1)))?;
    let last = if kind == "kexec" {
        "kexec_core: Starting new kernel"
    } else {
        "reboot: Restarting system"
    };
    let down = start + lines[start..up].iter().position(|l| l.text.contains(last))?;
    // The new kernel's lines start with its banner (the old one may say more after
    // `last`, e.g. "reboot: machine restart").
    let banner = down
        + lines[down..up]
            .iter()
            .position(|l| l.text.contains("] Linux version "))?;
    let load = {
        let window = &lines[start..down];
        let a = window.iter().find(|l| l.text.contains("hopboot load: "));
        let b = window.iter().find(|l| l.text.contains("hopboot: loaded "));
        match (a, b) {
            (Some(a), Some(b)) => secs(b) - secs(a),
            _ => 0.0,
        }
    };
    // The new kernel's clock zero on the host's clock: each of its lines was printed at
    // or after (host time − its timestamp); the smallest such value is the best bound.
    let zero = lines[banner..up]
        .iter()
        .filter_map(|l| Some(secs(l) - kernel_time(l)?))
        .fold(f64::INFINITY, f64::min);
    if !zero.is_finite() {
        return None;
    }
    Some(Phases {
        shutdown: secs(&lines[down]) - secs(&lines[start]),
        load,
        handoff: zero - secs(&lines[down]),
        boot: secs(&lines[up]) - zero,
    })
}

/// One of a reboot's figures.
type Field = fn(&Phases) -> f64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror) and reboots it for ~15 minutes: make bench-reboot"]
fn debian12_reboots_through_kexec_and_through_the_firmware() {
    let n = pairs();
    let out = hopboot_qemu::paths::target_dir().unwrap().join("bench-reboot");
    // HOPBOOT_BENCH_REBOOT_LOG=FILE: only read the reboots of an earlier run's log.
    if let Ok(log) = std::env::var("HOPBOOT_BENCH_REBOOT_LOG") {
        report(&read_log(&std::fs::read_to_string(log).unwrap()), n, &out);
        return;
    }
    setup();
    let dir = distro_dir().unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let base = distro_disk(&dir.join("debian12.img")).unwrap();
    let bench = ("/var/lib/hopboot-test/bench", format!("{n}\n").into_bytes(), 0o644);
    let l = kexec_disk_with("debian12-bench", &base, Layout::SeparateBoot, &[bench]).unwrap();
    // GRUB's BIOS boot partition (grub-install fills it at the first boot), after the others.
    hopboot_qemu::disk::append_partition(&l.disk, 1, "ef02", "bios-grub").unwrap();
    std::fs::create_dir_all(&out).unwrap();

    // The first boot installs (QEMU -kernel, as the other kexec tests start) and powers off.
    let first = format!("root=UUID={FS_UUID} ro console=ttyS0,115200n8 hopboot.test=first");
    let mut cfg = VmConfig::new(&l.kernel, &l.initrd, first).with_disk(DiskAttach::new(&l.disk));
    cfg.memory_mib = 1024;
    cfg.log = Some(out.join("install.log"));
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for(&format!("{KT}step=0 installed"), Duration::from_secs(900))
        .unwrap_or_else(|e| panic!("{e:#} (log {})", out.join("install.log").display()));
    vm.wait_exit(Duration::from_secs(180)).unwrap();

    // Then the firmware boots the disk, and each reboot resets the same machine.
    let mut cfg = VmConfig::firmware_boot().with_disk(DiskAttach::new(&l.disk));
    cfg.memory_mib = 1024;
    cfg.reboot = true;
    cfg.log = Some(out.join("reboots.log"));
    let mut vm = Vm::spawn(&cfg).unwrap();
    let done = format!("{KT}step={} done", 2 * n + 1);
    vm.wait_for(&done, Duration::from_secs(300 * u64::from(2 * n + 1)))
        .unwrap_or_else(|e| panic!("{e:#} (log {})", out.join("reboots.log").display()));
    vm.wait_exit(Duration::from_secs(180)).unwrap();
    report(&vm.lines(), n, &out);
}

/// The lines of a serial log the harness wrote (`[  12.345] text`).
fn read_log(text: &str) -> Vec<Line> {
    text.lines()
        .filter_map(|l| {
            let (t, text) = l.strip_prefix('[')?.split_once("] ")?;
            Some(Line {
                t: Duration::from_secs_f64(t.trim().parse().ok()?),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// Splits the `n` reboots each way in `lines` into phases; prints and writes the medians.
fn report(lines: &[Line], n: u32, out: &std::path::Path) {
    let (mut kexec, mut firmware) = (Vec::new(), Vec::new());
    for k in 1..=2 * n {
        let kind = if k % 2 == 1 { "kexec" } else { "reboot" };
        let p = phases(lines, k, kind).unwrap_or_else(|| panic!("step {k}: the {kind} reboot's lines are missing"));
        eprintln!(
            "bench-reboot: {kind:6} {:6.2} s = shutdown {:5.2} (load {:4.2}) + handoff {:5.2} + boot {:5.2}",
            p.total(),
            p.shutdown,
            p.load,
            p.handoff,
            p.boot
        );
        if kind == "kexec" {
            kexec.push(p)
        } else {
            firmware.push(p)
        }
    }
    let med = |v: &[Phases], f: Field| median(v.iter().map(f).collect());
    let fields: [(&str, Field); 5] = [
        ("total", Phases::total),
        ("shutdown", |p| p.shutdown),
        ("load", |p| p.load),
        ("handoff", |p| p.handoff),
        ("boot", |p| p.boot),
    ];
    let mut json = format!("{{\n  \"reboots_each_way\": {n},\n");
    for (name, v) in [("kexec", &kexec), ("firmware", &firmware)] {
        let parts: Vec<String> = fields
            .iter()
            .map(|(f, get)| format!("\"{f}_s\": {:.3}", med(v, *get)))
            .collect();
        json.push_str(&format!("  \"{name}_median\": {{ {} }},\n", parts.join(", ")));
        eprintln!("bench-reboot: median {name}: {}", parts.join(", "));
    }
    let ratio = med(&kexec, Phases::total) / med(&firmware, Phases::total);
    // Each kexec reboot against the firmware reboot right after it (the same load on
    // the host, give or take a minute).
    let pair_ratio = median(
        kexec
            .iter()
            .zip(&firmware)
            .map(|(k, f)| k.total() / f.total())
            .collect(),
    );
    // What the loader can change: its shutdown and handoff against the firmware's
    // (SeaBIOS, GRUB's reads, the firmware path's shutdown); the boot is the same system.
    let own = |p: &Phases| p.shutdown + p.handoff;
    let own_ratio = med(&kexec, own) / med(&firmware, own);
    // The best any kexec loader could reach: a shutdown as short as the firmware
    // path's (no load), a handoff of nothing (not even the kernel's decompression),
    // then the same boot. Above 0.6, the goal is out of any loader's reach.
    let floor = median(firmware.iter().map(|f| (f.shutdown + f.boot) / f.total()).collect());
    json.push_str(&format!(
        "  \"ratio_kexec_to_firmware\": {ratio:.3},\n  \"ratio_per_pair_median\": {pair_ratio:.3},\n  \
         \"ratio_shutdown_and_handoff\": {own_ratio:.3},\n  \"ratio_floor_zero_cost_loader\": {floor:.3}\n}}\n"
    ));
    eprintln!(
        "bench-reboot: kexec reboot / firmware reboot = {ratio:.2} (medians; goal <= 0.6); per pair {pair_ratio:.2}"
    );
    eprintln!("bench-reboot: shutdown + handoff, kexec / firmware = {own_ratio:.2} (what the loader changes)");
    eprintln!(
        "bench-reboot: floor for a loader that costs nothing (the firmware path's shutdown, then the boot) = {floor:.2} of the firmware reboot"
    );
    std::fs::write(out.join("summary.json"), json).unwrap();
}
