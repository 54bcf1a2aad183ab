//! `make soak` (outside `make test`; root for the Debian half): kexec over and over,
//! counting silent resets and hangs, keeping the serial log of every failure under
//! `target/soak/`.
//!
//! 1. PID 1: hopboot boots the demo GRUB disk N times (a fresh QEMU each time): each
//!    boot must reach the target's marker with GRUB's command line.
//! 2. The installed Debian 12 (/boot on its own partition) kexecs itself N times in a
//!    row through `systemctl kexec` and hopboot-kexec.service (the `.deb` installed),
//!    each boot reaching multi-user with no failed units and GRUB's default entry's
//!    command line. A QEMU that exits early (a reset) or goes quiet (a hang) is
//!    counted, its log kept, and started again: the count on the disk goes on.
//!
//! N: `HOPBOOT_SOAK_RUNS` (default 100).

use hopboot_qemu::demo::{demo_disk, Demo};
use hopboot_qemu::distro::{distro_dir, distro_disk, Layout, FS_UUID};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use hopboot_tests::installed::{kexec_disk, step_up, KT};
use hopboot_tests::{boot_hopboot, setup, BOOT_TIMEOUT};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn runs() -> u32 {
    std::env::var("HOPBOOT_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn soak_dir() -> PathBuf {
    let d = hopboot_qemu::paths::target_dir().unwrap().join("soak");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Counts a run that ended before its line, `e`: a reset when QEMU has exited, else a
/// hang; keeps the log as `target/soak/NAME.log` and stops QEMU.
fn failed(vm: &mut Vm, e: &anyhow::Error, what: &str, name: &str, resets: &mut u32, hangs: &mut u32) {
    let reset = vm.wait_exit(Duration::ZERO).is_ok();
    if reset {
        *resets += 1
    } else {
        *hangs += 1
    }
    eprintln!(
        "soak: {what}: {} ({e:#}); log {}",
        if reset { "QEMU exited: a reset" } else { "hang" },
        keep(vm, name).display()
    );
    vm.kill();
}

/// Keeps `vm`'s serial log as `target/soak/NAME.log`.
fn keep(vm: &Vm, name: &str) -> PathBuf {
    let p = soak_dir().join(format!("{name}.log"));
    std::fs::write(&p, vm.transcript()).unwrap();
    p
}

#[test]
#[ignore = "minutes to hours of TCG: make soak"]
fn pid1_boots_the_demo_disk_every_time() {
    let s = setup();
    let d = demo_disk(&s.work.join("soak-grub.img"), &s.kernel, Demo::Grub).unwrap();
    let want = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    let n = runs();
    let (mut ok, mut resets, mut hangs, mut wrong) = (0, 0u32, 0u32, 0);
    let started = Instant::now();
    for i in 1..=n {
        let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=20 hopboot.timeout=0").unwrap();
        // The whole line: the serial port delivers it in pieces (wait_for matched
        // the line cut short, e.g. "HOPBOOT-TARGET-MARKER cm", in 10 of 23 runs on a
        // loaded host).
        match vm.wait_for_line(MARKER, BOOT_TIMEOUT) {
            Ok(line) if line.text.trim() == want => {
                ok += 1;
                eprintln!("soak: pid1 run {i} ok ({:.0} s)", started.elapsed().as_secs_f64());
            }
            Ok(line) => {
                wrong += 1;
                eprintln!(
                    "soak: pid1 run {i}: wrong command line {:?} ({})",
                    line.text,
                    keep(&vm, &format!("pid1-{i}-wrong")).display()
                );
            }
            Err(e) => {
                let (what, name) = (format!("pid1 run {i}"), format!("pid1-{i}-fail"));
                failed(&mut vm, &e, &what, &name, &mut resets, &mut hangs);
                continue;
            }
        }
        let _ = vm.wait_exit(Duration::from_secs(60));
        vm.kill();
    }
    eprintln!(
        "soak: pid1: {n} boots in {:.0} s: {ok} ok, {resets} silent resets, {hangs} hangs, {wrong} wrong command lines",
        started.elapsed().as_secs_f64()
    );
    assert_eq!((ok, resets, hangs, wrong), (n, 0, 0, 0));
}

#[test]
#[ignore = "builds a Debian 12 installation with debootstrap (root, Debian mirror) and kexecs it for an hour: make soak"]
fn debian12_kexecs_itself_through_the_unit_every_time() {
    setup();
    let dir = distro_dir().unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let base = distro_disk(&dir.join("debian12.img")).unwrap();
    let n = runs();
    let l = kexec_disk("debian12-soak", &base, Layout::SeparateBoot, Some(n)).unwrap();
    let first = format!("root=UUID={FS_UUID} ro console=ttyS0,115200n8 hopboot.test=first");
    let want = format!(
        "BOOT_IMAGE=/vmlinuz-{} root=UUID={FS_UUID} ro console=ttyS0,115200n8",
        base.kernel_version
    );
    let (mut resets, mut hangs, mut bad) = (0u32, 0u32, 0u32);
    let mut seen = 0u32;
    let started = Instant::now();
    let mut qemus = 0;
    'qemu: while qemus < 10 {
        qemus += 1;
        // No -snapshot: the step count lives on the disk, so a restarted QEMU goes on.
        let mut cfg = VmConfig::new(&l.kernel, &l.initrd, &first).with_disk(DiskAttach::new(&l.disk));
        cfg.memory_mib = 1024;
        let mut vm = Vm::spawn(&cfg).unwrap();
        let mut next_step = seen + 1;
        loop {
            // One kexec boot under TCG takes about a minute; five is a hang.
            let want_line = format!("{KT}step={next_step} up");
            let done = format!("{KT}step={} done", n + 1);
            match vm.wait_for(&want_line, Duration::from_secs(300)) {
                Ok(_) => {
                    let lines = vm.lines();
                    if let Some(up) = step_up(&lines, next_step) {
                        if up.cmdline != want || !up.failed.is_empty() {
                            bad += 1;
                            eprintln!(
                                "soak: debian step {next_step}: cmdline [{}] failed [{}]",
                                up.cmdline, up.failed
                            );
                        }
                    }
                    seen = next_step;
                    eprintln!(
                        "soak: debian step {next_step} up ({:.0} s; {resets} resets, {hangs} hangs so far)",
                        started.elapsed().as_secs_f64()
                    );
                    if next_step > n {
                        vm.wait_for(&done, Duration::from_secs(60)).unwrap();
                        let _ = vm.wait_exit(Duration::from_secs(180));
                        break 'qemu;
                    }
                    next_step += 1;
                }
                Err(e) => {
                    let (what, name) = (format!("debian after step {seen}"), format!("debian-{seen}-fail"));
                    failed(&mut vm, &e, &what, &name, &mut resets, &mut hangs);
                    continue 'qemu;
                }
            }
        }
    }
    eprintln!(
        "soak: debian: {} kexec reboots in {:.0} s: {resets} silent resets, {hangs} hangs, {bad} wrong boots",
        seen.saturating_sub(1),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((seen, resets, hangs, bad), (n + 1, 0, 0, 0));
}
