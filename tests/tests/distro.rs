//! `make test-distro`: a real Debian 12 installation, built here with debootstrap
//! (`hopboot_qemu::distro`, `scripts/build-distro-rootfs.sh`), boots through hopboot
//! until the installed system's own systemd runs `hopboot-marker.service`.
//!
//! What it proves: hopboot reads a real `grub-mkconfig` grub.cfg, picks GRUB's default
//! entry, kexecs the installed kernel with its real ~30 MB initramfs-tools initrd and
//! exactly GRUB's command line; that initrd finds and fscks the root filesystem, and
//! systemd reaches multi-user.target. And hopboot wrote nothing to the disk.
//!
//! Ignored by default (needs root, the Debian mirror and minutes of TCG):
//! `cargo test -p hopboot-tests --test distro -- --ignored --nocapture`.

use hopboot_image_build::Profile;
use hopboot_qemu::disk::sha256_file;
use hopboot_qemu::disk::{Fs, Partition};
use hopboot_qemu::distro::{distro_dir, DistroDisk};
use hopboot_qemu::qmp::Qmp;
use hopboot_qemu::vm::{DiskAttach, Firmware, Line, Vm, VmConfig};
use hopboot_tests::distro::{disk, disk_stats, grub_default_entry, FAILED_LINE, MARKER, MEMORY_MIB, ROOT_LINE};
use hopboot_tests::{custom_disk_with, profile_initramfs, setup, HOST_FILE};
use std::time::Duration;

/// Issue 13: the same installation booted from the network. In this test binary so that
/// the disk is built once for both (see [`hopboot_tests::distro::disk`]).
#[path = "distro/netboot.rs"]
mod netboot;

use hopboot_tests::KEXEC_LINE as KEXEC;
const RUN_INIT: &str = "Run /init as init process";
/// hopboot's kernel command line: no menu, boot the default.
const APPEND: &str = "console=ttyS0 panic=-1 hopboot.timeout=0 hopboot.wait=20";
/// The same after the payload's built-in `console=tty0 console=ttyS0,115200 panic=-1`.
const PAYLOAD_APPEND: &str = "hopboot.timeout=0 hopboot.wait=20";

/// Each partition's writes between the driver's `watch begin` and `watch end` lines of
/// `step` (the guest kernel's own counters, `/sys/class/block/*/stat`).
fn partition_writes(lines: &[Line], step: u32) -> Vec<(String, u64)> {
    use hopboot_tests::installed::KT;
    let counts = |what: &str| -> Vec<(String, u64)> {
        let needle = format!("{KT}step={step} watch {what} writes: ");
        let Some(l) = lines.iter().find(|l| l.text.contains(&needle)) else {
            return Vec::new();
        };
        let rest = &l.text[l.text.find(&needle).unwrap_or(0) + needle.len()..];
        rest.split_whitespace()
            .filter_map(|w| {
                let (p, n) = w.split_once('=')?;
                Some((p.to_owned(), n.parse().ok()?))
            })
            .collect()
    };
    let before = counts("begin");
    counts("end")
        .into_iter()
        .filter_map(|(p, n)| {
            let b = before.iter().find(|(q, _)| *q == p)?.1;
            Some((p, n.saturating_sub(b)))
        })
        .collect()
}

/// The guest kernel's timestamp at the start of a console line (`[    3.762140] …`).
fn kernel_time(line: &Line) -> Option<f64> {
    let rest = line.text.trim_start().strip_prefix('[')?;
    rest.split(']').next()?.trim().parse().ok()
}

fn find<'a>(lines: &'a [Line], needle: &str) -> Option<&'a Line> {
    lines.iter().find(|l| l.text.contains(needle))
}

/// hopboot's own lines before the kexec, each also printed with `tag`.
fn hopboot_lines<'a>(lines: &'a [Line], tag: &str) -> Vec<&'a Line> {
    let mine: Vec<&Line> = lines
        .iter()
        .take_while(|l| !l.text.contains(KEXEC))
        .filter(|l| l.text.contains("hopboot: "))
        .collect();
    for l in &mine {
        eprintln!("{tag}: {l}");
    }
    mine
}

/// What starts hopboot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstKernel {
    /// Debian's kernel with the minimal-profile hopboot initramfs (SeaBIOS, -kernel/-initrd).
    Debian,
    /// The firmware payload (`make payload`) under SeaBIOS with `-kernel`.
    PayloadBios,
    /// The firmware payload as \EFI\BOOT\BOOTX64.EFI on an ESP, started by OVMF itself.
    PayloadUefi,
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro"]
fn debian12_boots_through_hopboot_into_its_own_systemd() {
    boot_debian12(FirstKernel::Debian);
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro"]
fn debian12_boots_through_the_payload_under_seabios() {
    boot_debian12(FirstKernel::PayloadBios);
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro"]
fn debian12_boots_through_the_payload_started_by_ovmf() {
    boot_debian12(FirstKernel::PayloadUefi);
}

fn boot_debian12(first: FirstKernel) {
    let s = setup();
    let dir = distro_dir().unwrap();
    // ---- the disk: debootstrap (cached), update-initramfs and grub-mkconfig in the chroot
    let d = disk();
    eprintln!(
        "distro: disk built: root filesystem {:.0}s (debootstrap when the cache is cold, then install), \
         image {:.0}s; kernel {}, initrd {:.1} MB, partition {} MiB",
        d.rootfs_time.as_secs_f64(),
        d.image_time.as_secs_f64(),
        d.kernel_version,
        d.initrd_bytes as f64 / 1e6,
        d.partition_mib
    );
    let entry = grub_default_entry(&d.grub_cfg).unwrap_or_else(|e| panic!("{e:#}\n{}", d.grub_cfg));
    // What grub-mkconfig must have written for this installation (else the test would
    // compare hopboot against a config that does not describe the disk).
    assert_eq!(entry.title, "Debian GNU/Linux");
    assert_eq!(entry.kernel, format!("/boot/vmlinuz-{}", d.kernel_version));
    assert_eq!(entry.initrd, format!("/boot/initrd.img-{}", d.kernel_version));
    let args: Vec<&str> = entry.args.split(' ').collect();
    assert!(args.contains(&format!("root=UUID={}", d.fs_uuid).as_str()), "{entry:?}");
    assert!(
        args.contains(&"ro") && args.iter().any(|a| a.starts_with("console=ttyS0")),
        "{entry:?}"
    );
    let expected_cmdline = entry.cmdline();
    eprintln!("distro: grub.cfg's default entry {:?}: {expected_cmdline}", entry.title);

    // ---- the boot
    // The installed system mounts its root read-write (journal replay, journald, the
    // random seed...), so QEMU runs with -snapshot: guest writes go to a temporary
    // overlay and the image stays as built. The sha256 comparison below therefore only
    // shows that the snapshot held. What shows that *hopboot* never writes is QEMU's own
    // write counter for the drive, read over QMP the moment the first kernel prints
    // "Starting new kernel" (hopboot is done; the installed kernel has not started):
    // it must be zero, while the same counter read once the installed system runs must
    // not be (so a zero is not an artefact of the snapshot or of the counter).
    let before = sha256_file(&d.disk).unwrap();
    let name = match first {
        FirstKernel::Debian => "serial",
        FirstKernel::PayloadBios => "payload-bios",
        FirstKernel::PayloadUefi => "payload-uefi",
    };
    let qmp_path = s.work.join(format!("distro-{name}-qmp.sock"));
    let _ = std::fs::remove_file(&qmp_path);
    let serial_log = dir.join(format!("{name}.log"));
    let payload = || {
        let p = hopboot_qemu::paths::target_dir()
            .unwrap()
            .join("payload/hopboot-payload.bzImage");
        assert!(p.is_file(), "{} does not exist: run `make payload`", p.display());
        p
    };
    // The installed disk is always the first (vda, QMP's disk0).
    let mut cfg = match first {
        FirstKernel::Debian => VmConfig::new(&s.kernel.vmlinuz, profile_initramfs(Profile::Minimal), APPEND),
        FirstKernel::PayloadBios => VmConfig::payload(payload(), PAYLOAD_APPEND),
        FirstKernel::PayloadUefi => {
            VmConfig::firmware_boot().with_firmware(Firmware::uefi(s.work.join("distro.OVMF_VARS.fd")).unwrap())
        }
    }
    .with_disk(DiskAttach::new(&d.disk));
    if first == FirstKernel::PayloadUefi {
        // OVMF finds no ESP on the installed disk (GRUB was never installed) and starts
        // the payload from this one.
        let esp = s.work.join("distro-esp.img");
        let boot = format!("{HOST_FILE}{}", payload().display());
        custom_disk_with(
            &esp,
            Partition::new(64, "ef00", Fs::Vfat).with_label("ESP"),
            &[("/EFI/BOOT/BOOTX64.EFI", &boot)],
        )
        .unwrap();
        cfg = cfg.with_disk(DiskAttach::new(&esp).read_only());
    }
    cfg.memory_mib = MEMORY_MIB;
    cfg.log = Some(serial_log.clone());
    cfg.extra_args = vec![
        "-snapshot".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_path.display()),
    ];
    let mut vm = Vm::spawn(&cfg).unwrap();
    let mut qmp = Qmp::connect(&qmp_path, Duration::from_secs(30)).unwrap();
    let fail = |vm: &Vm, e: anyhow::Error| -> ! {
        panic!(
            "{e:#}\n(full serial log: {})\n{}",
            serial_log.display(),
            vm.stderr_lines().join("\n")
        )
    };
    if first == FirstKernel::PayloadUefi {
        // The payload's built-in command line has no hopboot.timeout: Enter at the menu.
        if let Err(e) = vm.wait_for("menu shown (stage=menu", Duration::from_secs(240)) {
            fail(&vm, e);
        }
        vm.send(b"\r").unwrap();
    }
    if let Err(e) = vm.wait_for(KEXEC, Duration::from_secs(240)) {
        fail(&vm, e);
    }
    let at_kexec = disk_stats(&mut qmp, "disk0").unwrap();
    if let Err(e) = vm.wait_for(ROOT_LINE, Duration::from_secs(900)) {
        fail(&vm, e);
    }
    let in_system = disk_stats(&mut qmp, "disk0").unwrap();
    if let Err(e) = vm.wait_for(MARKER, Duration::from_secs(120)) {
        fail(&vm, e);
    }
    // The unit powers the system off right after its lines.
    let status = vm.wait_exit(Duration::from_secs(180)).unwrap();
    let lines = vm.lines();
    let transcript = vm.transcript();

    // ---- hopboot's part
    let hopboot_lines = hopboot_lines(&lines, "distro");
    if first != FirstKernel::Debian {
        let banner = find(&lines, "Linux version").expect("the first kernel's banner");
        assert!(
            banner.text.contains("(hopboot@hopboot)"),
            "not the payload: {}",
            banner.text
        );
    }
    let booting = hopboot_lines
        .iter()
        .find(|l| l.text.contains("hopboot: booting "))
        .expect("hopboot's booting line");
    let chose = format!(
        "booting 'Debian GNU/Linux' from vda1: {} {expected_cmdline} (",
        entry.kernel
    );
    assert!(booting.text.contains(&chose), "{}\nexpected: {chose}", booting.text);
    assert_eq!(
        lines.iter().filter(|l| l.text.contains(KEXEC)).count(),
        1,
        "one kexec, from hopboot into the installed kernel"
    );

    // ---- hopboot wrote nothing, and read at least the kernel and initrd
    eprintln!("distro: disk I/O when hopboot kexecs: {at_kexec:?}");
    eprintln!("distro: disk I/O once the installed system runs: {in_system:?}");
    assert_eq!(
        (at_kexec.wr_operations, at_kexec.wr_bytes, at_kexec.unmap_operations),
        (0, 0, 0),
        "writes or discards reached the disk before the installed kernel started"
    );
    let vmlinuz_bytes = 1_000_000; // any real bzImage is larger; the initrd size is exact
    assert!(
        at_kexec.rd_bytes >= d.initrd_bytes + vmlinuz_bytes,
        "hopboot read only {} bytes, less than the initrd ({}) and a kernel",
        at_kexec.rd_bytes,
        d.initrd_bytes
    );
    assert!(
        in_system.wr_operations > 0,
        "the installed system runs read-write, yet QEMU counted no writes: the counter proves nothing"
    );
    assert_eq!(
        sha256_file(&d.disk).unwrap(),
        before,
        "the disk image changed (QEMU's -snapshot should have kept every write off it)"
    );

    // ---- the installed system's part
    let marker = find(&lines, MARKER).expect("marker line");
    // systemd may start a console line with an erase-to-end-of-line (ESC [ K).
    assert_eq!(
        hopboot_qemu::vm::strip_ansi(&marker.text).trim(),
        format!("{MARKER} {} {expected_cmdline}", d.kernel_version),
        "the installed system's uname -r and /proc/cmdline"
    );
    let root = find(&lines, ROOT_LINE).expect("root line");
    let root_words: Vec<&str> = root.text.split_whitespace().collect();
    assert!(
        matches!(root_words.as_slice(), [_, "/dev/vda1", "ext4", opts] if opts.split(',').any(|o| o == "rw")),
        "root filesystem: {}",
        root.text
    );
    let failed = find(&lines, FAILED_LINE).expect("failed-units line");
    assert_eq!(failed.text.trim(), format!("{FAILED_LINE} []"), "systemd units failed");
    assert!(
        find(&lines, &format!("Linux version {} ", d.kernel_version)).is_some(),
        "the installed kernel's banner"
    );
    hopboot_tests::distro::assert_installed_system_healthy(&transcript);
    assert!(status.success(), "QEMU exited with {status} after the poweroff");

    // ---- timings (host clock of the serial lines; guest kernel clock in brackets)
    let first_init = find(&lines, RUN_INIT).expect("first Run /init");
    let kexec = find(&lines, KEXEC).expect("kexec line");
    let second_init = lines
        .iter()
        .skip_while(|l| !l.text.contains(KEXEC))
        .find(|l| l.text.contains(RUN_INIT))
        .expect("the installed kernel's Run /init");
    let host_window = kexec.t.saturating_sub(first_init.t).as_secs_f64();
    let guest_window = match (kernel_time(first_init), kernel_time(kexec)) {
        (Some(a), Some(b)) => format!("{:.3}s", b - a),
        _ => "-".into(),
    };
    eprintln!(
        "distro: decision window (\"Run /init\" -> \"Starting new kernel\"): {host_window:.2}s host, \
         {guest_window} guest kernel clock"
    );
    eprintln!(
        "distro: QEMU start -> hopboot's Run /init {:.1}s -> kexec {:.1}s -> installed initrd's Run /init {:.1}s \
         -> marker {:.1}s; exit {:.1}s after start",
        first_init.t.as_secs_f64(),
        kexec.t.as_secs_f64(),
        second_init.t.as_secs_f64(),
        marker.t.as_secs_f64(),
        lines.last().map_or(0.0, |l| l.t.as_secs_f64())
    );
    eprintln!(
        "distro: hopboot read {:.1} MB in {} requests ({} flushes) before the kexec",
        at_kexec.rd_bytes as f64 / 1e6,
        at_kexec.rd_operations,
        at_kexec.flush_operations
    );
    eprintln!("distro: serial log: {}", serial_log.display());
}

#[test]
fn kernel_timestamps_are_read_from_console_lines() {
    let line = |text: &str| Line {
        t: Duration::ZERO,
        text: text.into(),
    };
    assert_eq!(
        kernel_time(&line("[    3.762140] Run /init as init process")),
        Some(3.76214)
    );
    assert_eq!(kernel_time(&line("hopboot: no stamp")), None);
    assert_eq!(kernel_time(&line("[ garbage ] x")), None);
}

#[test]
fn partition_writes_are_the_counters_differences() {
    let line = |text: &str| Line {
        t: Duration::ZERO,
        text: text.into(),
    };
    let lines = [
        line("HOPBOOT-KT step=2 watch begin writes: vda1=1 vda2=1 "),
        line("HOPBOOT-KT step=3 watch begin writes: vda1=10 vda2=5 "),
        line("HOPBOOT-KT step=3 | hopboot: loaded"),
        line("HOPBOOT-KT step=3 watch end writes: vda1=14 vda2=5 "),
    ];
    let w = partition_writes(&lines, 3);
    assert_eq!(w, [("vda1".to_owned(), 4), ("vda2".to_owned(), 0)]);
    assert!(partition_writes(&lines, 2).is_empty(), "no end line");
}

/// `systemctl kexec` on the installed Debian 12 with hopboot-kexec.service, /boot on its
/// own partition (issue 12's tests 1-4): booted directly the first time (QEMU -kernel,
/// a command line of its own), the system installs hopboot and enables the unit, then
/// kexecs five times through it, each boot checked from the serial console:
/// 1, 2. `systemctl kexec` with nothing loaded by hand, twice in a row: GRUB's default
///    entry comes up (its command line, not the first boot's), no failed units;
/// 3. `hopboot load --entry hopboot-second` (a second GRUB entry): that entry comes up;
/// 4. `umount /boot` then `hopboot load`: loaded from the block device, default entry;
/// 5. `grub-reboot 2` then `hopboot load --next`: the third top-level entry (after the
///    "Advanced options" submenu) comes up, and GRUB's next_entry is used up.
#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro-kexec"]
fn debian12_systemctl_kexec_with_boot_on_its_own_partition() {
    systemctl_kexec(hopboot_qemu::distro::Layout::SeparateBoot);
}

/// The same kexecs with /boot a directory of the root filesystem (BIOS, GRUB), as
/// Debian's installer lays a disk out by default: grub.cfg names `/boot/vmlinuz-…`,
/// and step 4 has nothing to unmount (the load reads /boot through the root's mount).
#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro-kexec"]
fn debian12_systemctl_kexec_with_boot_on_the_root_filesystem() {
    systemctl_kexec(hopboot_qemu::distro::Layout::RootBoot);
}

/// The same five kexecs on UEFI (OVMF starts the installed kernel with QEMU -kernel, so
/// /sys/firmware/efi exists and hopboot loads with kexec_file_load), systemd-boot on
/// the ESP at /boot/efi with the type #1 entry `bootctl install` + `kernel-install`
/// wrote (kernel and initrd on the ESP), and no grub.cfg:
/// 1, 2. the unit loads systemd-boot's default (the first entry by sort-key; loader.conf
///    names none): that entry's `options` come up;
/// 3. `hopboot load --entry hopboot-second.conf` (the id as `bootctl list` gives it);
/// 4. `umount /boot/efi` then `hopboot load`: the kernel is read from the unmounted ESP;
/// 5. `LoaderEntryOneShot=hopboot-second.conf` written to efivarfs (bootctl refuses
///    without systemd-boot having started), `hopboot load --next`: that entry comes up,
///    and the variable is gone (used once).
#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro-kexec"]
fn debian12_systemctl_kexec_on_uefi_with_systemd_boot_on_the_esp() {
    systemctl_kexec(hopboot_qemu::distro::Layout::EspSystemdBoot);
}

/// The same five kexecs on UEFI with GRUB: the installed system runs `grub-install
/// --target=x86_64-efi` onto its ESP (/boot/efi) and `update-grub` at the first boot;
/// grub.cfg is /boot/grub's on /. Step 4 unmounts the ESP; step 5 is `grub-reboot
/// hopboot-second` (on UEFI, "UEFI Firmware Settings" comes before 40_custom's entry).
#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro-kexec"]
fn debian12_systemctl_kexec_on_uefi_with_grub_and_an_esp() {
    systemctl_kexec(hopboot_qemu::distro::Layout::EspGrub);
}

/// The Debian 12 installation with the UEFI boot packages and an ESP tree, built once
/// per test binary.
fn uefi_disk() -> &'static DistroDisk {
    static DISK: std::sync::OnceLock<Result<DistroDisk, String>> = std::sync::OnceLock::new();
    let r = DISK.get_or_init(|| {
        let dir = distro_dir().map_err(|e| format!("{e:#}"))?;
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        hopboot_qemu::distro::distro_disk_for(&dir.join("debian12-uefi.img"), hopboot_qemu::distro::Boot::Uefi)
            .map_err(|e| format!("building the Debian 12 UEFI disk: {e:#}"))
    });
    match r {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

/// The `options` of the one type #1 entry `kernel-install` wrote into the ESP tree.
fn bls_options(d: &DistroDisk) -> String {
    let dir = d.rootfs.join("boot/efi/loader/entries");
    let confs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    assert_eq!(confs.len(), 1, "{confs:?}");
    let text = std::fs::read_to_string(&confs[0]).unwrap();
    let options: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("options"))
        .map(str::trim)
        .collect();
    assert!(!options.is_empty(), "{}: no options line:\n{text}", confs[0].display());
    options.join(" ")
}

/// The BIOS installation with systemd 254 from bookworm-backports, built once per test
/// binary.
fn backports_disk() -> &'static DistroDisk {
    static DISK: std::sync::OnceLock<Result<DistroDisk, String>> = std::sync::OnceLock::new();
    let r = DISK.get_or_init(|| {
        let dir = distro_dir().map_err(|e| format!("{e:#}"))?;
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        hopboot_qemu::distro::distro_disk_for(
            &dir.join("debian12-systemd254.img"),
            hopboot_qemu::distro::Boot::BiosSystemdBackports,
        )
        .map_err(|e| format!("building the Debian 12 disk with systemd 254: {e:#}"))
    });
    match r {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

/// Issue 12's tests on backports' systemd 254 (/boot on its own partition, BIOS): the
/// same seven boots as with bookworm's 252; the installed system must say 254.
#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror, minutes): make test-distro-kexec"]
fn debian12_systemctl_kexec_on_systemd_254_from_backports() {
    systemctl_kexec_on(hopboot_qemu::distro::Layout::SeparateBoot, true);
}

fn systemctl_kexec(layout: hopboot_qemu::distro::Layout) {
    systemctl_kexec_on(layout, false)
}

fn systemctl_kexec_on(layout: hopboot_qemu::distro::Layout, systemd_254: bool) {
    use hopboot_qemu::distro::{Layout, FS_UUID};
    use hopboot_tests::installed::{kexec_disk, step_up, KT};
    let s = setup();
    let dir = distro_dir().unwrap();
    let (d, name) = match layout {
        Layout::SeparateBoot if systemd_254 => (backports_disk(), "separate-boot-systemd254"),
        Layout::SeparateBoot => (disk(), "separate-boot"),
        Layout::EspSystemdBoot => (uefi_disk(), "esp-systemd-boot"),
        Layout::EspGrub => (uefi_disk(), "esp-grub"),
        Layout::RootBoot => (disk(), "root-boot"),
    };
    let l = kexec_disk(&format!("debian12-{name}"), d, layout, None).unwrap();
    let first = format!("root=UUID={FS_UUID} ro console=ttyS0,115200n8 hopboot.test=first");
    let mut cfg = VmConfig::new(&l.kernel, &l.initrd, &first).with_disk(DiskAttach::new(&l.disk));
    if layout.has_esp() {
        // OVMF starts the kernel (its EFI stub) from QEMU's -kernel: a UEFI boot.
        cfg = cfg.with_firmware(Firmware::uefi(s.work.join(format!("kexec-{name}.OVMF_VARS.fd"))).unwrap());
    }
    cfg.memory_mib = MEMORY_MIB;
    let serial_log = dir.join(format!("kexec-{name}.log"));
    cfg.log = Some(serial_log.clone());
    let qmp_path = dir.join(format!("kexec-{name}-qmp.sock"));
    let _ = std::fs::remove_file(&qmp_path);
    cfg.extra_args = vec![
        "-snapshot".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_path.display()),
    ];
    let started = std::time::Instant::now();
    let mut vm = Vm::spawn(&cfg).unwrap();
    let mut qmp = Qmp::connect(&qmp_path, Duration::from_secs(30)).unwrap();
    let wait = |vm: &mut Vm, needle: &str, secs: u64| {
        if let Err(e) = vm.wait_for(needle, Duration::from_secs(secs)) {
            vm.kill();
            panic!("{e:#}\n(full serial log: {})", serial_log.display());
        }
    };
    // Seven boots of the installed system under TCG (about a minute each). Around the
    // loads by hand (steps 2 and 3, the second from the unmounted boot filesystem),
    // QEMU's own write counters for the disk are read (reported, see below).
    let mut writes = Vec::new();
    for step in [2, 3] {
        wait(&mut vm, &format!("{KT}step={step} watch begin"), 900);
        let before = disk_stats(&mut qmp, "disk0").unwrap();
        wait(&mut vm, &format!("{KT}step={step} watch end"), 120);
        let after = disk_stats(&mut qmp, "disk0").unwrap();
        writes.push((step, before, after));
    }
    wait(&mut vm, &format!("{KT}step=6 done"), 900);
    vm.wait_exit(Duration::from_secs(180)).unwrap();
    eprintln!(
        "distro: {name}: seven boots in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let lines = vm.lines();
    for l in lines.iter().filter(|l| l.text.contains(KT)) {
        eprintln!("distro: {l}");
    }
    if systemd_254 {
        let v = format!("{KT}step=0 systemd=[systemd 254 ");
        assert!(
            lines.iter().any(|l| l.text.contains(&v)),
            "the installed system does not run systemd 254 (see {})",
            serial_log.display()
        );
    }
    let up = |n| step_up(&lines, n).unwrap_or_else(|| panic!("no 'up' line for step {n}"));
    // The boot filesystem step 3 unmounts: /boot (vda2) or the ESP (vda1); the driver
    // says `root` for a /boot that is a directory of /.
    let boot_dev = match layout {
        Layout::RootBoot => "root",
        _ if layout.has_esp() => "/dev/vda1",
        _ => "/dev/vda2",
    };
    let u0 = up(0);
    // OVMF's loader for QEMU's -kernel adds the initrd it passes.
    let first_seen = if layout.has_esp() {
        format!("{first} initrd=initrd")
    } else {
        first.clone()
    };
    assert_eq!(u0.cmdline, first_seen);
    assert_eq!(u0.failed, "", "failed units at the first boot");
    assert!(
        u0.boot.starts_with(boot_dev),
        "boot filesystem at the first boot: {}",
        u0.boot
    );
    assert_eq!(u0.efi, layout.has_esp(), "/sys/firmware/efi at the first boot");
    let default_args = format!("root=UUID={FS_UUID} ro console=ttyS0,115200n8");
    let want = |second: bool| {
        let extra = if second { " hopboot.test=second" } else { "" };
        match layout {
            Layout::SeparateBoot => format!("BOOT_IMAGE=/vmlinuz-{} {default_args}{extra}", d.kernel_version),
            Layout::EspGrub | Layout::RootBoot => {
                format!("BOOT_IMAGE=/boot/vmlinuz-{} {default_args}{extra}", d.kernel_version)
            }
            // systemd-boot passes the entry's options as they are.
            _ => format!("{}{extra}", bls_options(d)),
        }
    };
    for n in 1..=6 {
        let u = up(n);
        assert_eq!(u.failed, "", "failed units at boot {n}: {}", u.cmdline);
        assert!(u.boot.starts_with(boot_dev), "boot filesystem at boot {n}: {}", u.boot);
        assert_eq!(u.efi, layout.has_esp(), "/sys/firmware/efi at boot {n}");
        // 3: loaded by hand; 5: the one-shot, by hand (--next); 6: the one-shot,
        // by the unit at shutdown.
        let second = n == 3 || n == 5 || n == 6;
        assert_eq!(u.cmdline, want(second), "boot {n}");
    }
    for (step, before, after) in &writes {
        eprintln!(
            "distro: step {step}: the load read {} bytes",
            after.rd_bytes - before.rd_bytes
        );
        // QEMU counts for the whole disk, and the root filesystem is written in the
        // window too (4-6 writes: atime of the binaries run, the journal); the guest
        // kernel's counters per partition say which.
        let parts = partition_writes(&lines, *step);
        eprintln!(
            "distro: step {step}: {} writes to the disk while hopboot loaded; per partition: {parts:?}",
            after.wr_operations - before.wr_operations
        );
        // At step 3 the boot filesystem (/boot on vda2, or the ESP on vda1) is not
        // mounted and hopboot reads its block device: nothing may write to it. (At
        // step 2 it is mounted: the kernel may write atimes of the files read, which
        // is not hopboot's doing.)
        if *step == 3 && layout != Layout::RootBoot {
            let part = boot_dev.trim_start_matches("/dev/");
            let boot = parts.iter().find(|(p, _)| p == part);
            assert_eq!(
                boot.map(|(_, n)| *n),
                Some(0),
                "writes to the unmounted {part}: {parts:?}"
            );
        }
        assert!(
            // (Through a mount, at step 2 or on /, the files may come from the page cache.)
            after.rd_operations > before.rd_operations || *step == 2 || layout == Layout::RootBoot,
            "step {step}: nothing read from the disk?"
        );
    }
    let said = |step: u32| {
        lines
            .iter()
            .filter(|l| l.text.contains(&format!("{KT}step={step} ")))
            .map(|l| l.text.clone())
            .collect::<Vec<_>>()
    };
    if layout == Layout::EspSystemdBoot {
        // Set before the load, gone after it, and still gone at the next boot.
        let four = said(4);
        let set = four
            .iter()
            .position(|l| l.contains("oneshot=[hopboot-second.conf]"))
            .unwrap_or_else(|| panic!("the one-shot was not set: {four:?}"));
        assert!(
            four[set..].iter().any(|l| l.contains("oneshot=[unset]")),
            "systemd-boot's one-shot still set after hopboot load --next: {four:?}"
        );
        assert!(said(5).iter().any(|l| l.contains("oneshot=[unset]")), "{:?}", said(5));
        // `hopboot list` shows what systemd-boot shows: the two type #1 entries,
        // not also Debian's /boot/vmlinuz-* on the root filesystem (plain scan).
        let from = four.iter().position(|l| l.contains("run: hopboot list")).unwrap();
        let to = four.iter().position(|l| l.contains("run: hopboot load")).unwrap();
        let listed: Vec<&String> = four[from + 1..to]
            .iter()
            .filter(|l| {
                l.split_once(" | ").is_some_and(|(_, r)| {
                    r.trim_start_matches(['*', ' '])
                        .starts_with(|c: char| c.is_ascii_digit())
                })
            })
            .collect();
        assert_eq!(listed.len(), 2, "hopboot list: {:?}", &four[from..to]);
        assert!(listed.iter().any(|l| l.contains("hopboot-second")), "{listed:?}");
        // Set again at step 5 and loaded by the unit: used up as well.
        assert!(
            said(5).iter().any(|l| l.contains("oneshot=[hopboot-second.conf]")),
            "{:?}",
            said(5)
        );
        assert!(said(6).iter().any(|l| l.contains("oneshot=[unset]")), "{:?}", said(6));
    } else {
        let editenv_after = said(5);
        let set = editenv_after
            .iter()
            .position(|l| l.contains("run: grub-reboot"))
            .unwrap_or_else(|| panic!("no grub-reboot at step 5: {editenv_after:?}"));
        assert!(
            !editenv_after[..set].iter().any(|l| l.contains("next_entry=")),
            "GRUB's one-shot still set after hopboot load --next: {editenv_after:?}"
        );
        assert!(
            editenv_after[set..].iter().any(|l| l.contains("next_entry=")),
            "grub-reboot set no next_entry at step 5: {editenv_after:?}"
        );
        let six = said(6);
        assert!(
            !six.iter().any(|l| l.contains("next_entry=")),
            "GRUB's one-shot still set after the unit loaded it: {six:?}"
        );
    }
    // The unit said, at step 5's shutdown, that it used the one-shot up.
    let used_up = if layout == Layout::EspSystemdBoot {
        "used up systemd-boot's one-shot entry"
    } else {
        "used up GRUB's one-shot entry"
    };
    assert_eq!(
        lines.iter().filter(|l| l.text.contains(used_up)).count(),
        2,
        "'{used_up}' twice (by hand at step 4, by the unit at step 5's shutdown); see {}",
        serial_log.display()
    );
    // `systemctl stop` (no kexec) unloads the placeholder armed at boot.
    let six = said(6);
    assert!(
        six.iter()
            .any(|l| l.contains("armed kexec_loaded=1 loaded=[placeholder]")),
        "{six:?}"
    );
    assert!(
        six.iter().any(|l| l.contains("stopped kexec_loaded=0 loaded=[]")),
        "{six:?}"
    );
}
