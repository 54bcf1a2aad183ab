//! End to end: the Debian kernel starts hopboot as PID 1, hopboot finds the
//! entry on a GPT/ext4 disk and kexecs the Debian kernel again with the
//! target initramfs, whose /init prints /proc/cmdline.

use hopboot_qemu::demo::{demo_disk, Demo};
use hopboot_qemu::disk::sha256_file;
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_tests::{boot_hopboot, setup, BOOT_TIMEOUT};
use std::time::Duration;

/// Waits for the target's marker, then for QEMU to exit (the target powers
/// off right after printing), and returns the complete marker line.
fn marker(vm: &mut hopboot_qemu::vm::Vm) -> hopboot_qemu::vm::Line {
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    vm.lines()
        .into_iter()
        .find(|l| l.text.contains(MARKER))
        .expect("marker line")
}

fn disk(name: &str, variant: Demo) -> hopboot_qemu::demo::DemoInfo {
    let s = setup();
    let path = s.work.join(format!("{name}.img"));
    demo_disk(&path, &s.kernel, variant).unwrap()
}

#[test]
fn grub_default_entry_boots_with_exact_cmdline_and_disk_untouched() {
    let d = disk("grub", Demo::Grub);
    let before = sha256_file(&d.disk).unwrap();
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=20").unwrap();
    let marker = marker(&mut vm);
    // GRUB puts BOOT_IMAGE=<the linux argument> first; hopboot does the same.
    let expected = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    assert_eq!(marker.text.trim(), expected);
    let lines = vm.lines();
    let t = |needle: &str| lines.iter().find(|l| l.text.contains(needle)).map(|l| l.t);
    assert!(t("hopboot: ").is_some(), "hopboot's log did not reach the console");
    assert!(t("kexec_core: Starting new kernel").is_some());
    assert!(!vm.transcript().contains("Attempted to kill init"));
    assert_eq!(sha256_file(&d.disk).unwrap(), before, "the disk image changed");
    eprintln!(
        "timeline: hopboot start {:?}, kexec {:?}, marker {:?}",
        t("hopboot: hopboot"),
        t("Starting new kernel"),
        Some(marker.t)
    );
}

/// The default loader on this BIOS machine is hopboot's own bzImage setup
/// with kexec_load; `hopboot.kexec=file` must still boot through the
/// kernel's kexec_file_load (the path UEFI machines and lockdown take).
#[test]
fn both_kexec_loaders_boot_the_same_entry() {
    let d = disk("grub-loaders", Demo::Grub);
    let expected = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    for (opt, how) in [
        ("", "kexec_load took"),
        ("hopboot.kexec=file", "kexec_file_load (hopboot.kexec=file) took"),
    ] {
        let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), &format!("hopboot.wait=20 {opt}")).unwrap();
        let marker = marker(&mut vm);
        assert_eq!(marker.text.trim(), expected, "with '{opt}'");
        let lines = vm.lines();
        assert!(
            lines.iter().any(|l| l.text.contains(how)),
            "with '{opt}': no line saying '{how}'"
        );
    }
}

/// hopboot's own kexec_load enters a verifier that recomputes the kernel's and
/// initrd's digests before the jump. Every other boot here proves it passes
/// intact images; `hopboot.kexec=test-bad-digest` records a wrong digest, and
/// then the jump must not happen: the verifier's message on COM1, a reset
/// (QEMU runs with -no-reboot, so it exits), and no target.
#[test]
fn the_verifier_stops_a_kernel_that_changed_after_the_load() {
    let d = disk("grub-bad-digest", Demo::Grub);
    let mut vm = boot_hopboot(
        std::slice::from_ref(&d.disk),
        "hopboot.wait=20 hopboot.kexec=test-bad-digest",
    )
    .unwrap();
    vm.wait_for("kexec_core: Starting new kernel", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for(
        "hopboot: the kernel or initrd changed in memory before the jump (checksum); resetting",
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60))
        .expect("the verifier resets the machine (QEMU exits with -no-reboot)");
    let transcript = vm.transcript();
    assert!(!transcript.contains(MARKER), "the target started:\n{transcript}");
    assert_eq!(
        transcript.matches("Linux version").count(),
        1,
        "a second kernel started"
    );
}

#[test]
fn plain_scan_boots_the_newest_kernel() {
    let d = disk("scan", Demo::Scan);
    assert_eq!(d.kernels.len(), 2);
    let before = sha256_file(&d.disk).unwrap();
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "quiet hopboot.wait=20").unwrap();
    let marker = marker(&mut vm);
    // No loader adds BOOT_IMAGE= to a scanned kernel: the cmdline is /etc/kernel/cmdline.
    assert_eq!(marker.text.trim(), marker_line(&d.expected_cmdline));
    let booted = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("hopboot: booting"))
        .expect("hopboot's lines reach the console even with `quiet`");
    assert!(booted.text.contains(&d.expected_kernel), "{}", booted.text);
    assert!(d.expected_kernel.ends_with(&setup().kernel.version));
    assert_eq!(sha256_file(&d.disk).unwrap(), before, "the disk image changed");
}

#[test]
fn nothing_bootable_stays_at_the_prompt_and_says_why() {
    let d = disk("empty", Demo::Empty);
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=1").unwrap();
    vm.wait_for("no boot entries found", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for("hopboot>", Duration::from_secs(30)).unwrap();
    // The reason line is complete once the prompt follows it (wait_for also
    // matches a line still being printed).
    let why = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("no boot entries found"))
        .unwrap();
    assert!(why.text.contains("vda1 (ext4)"), "{}", why.text);
    // The prompt answers: list, then power off cleanly.
    vm.send(b"l\n").unwrap();
    vm.wait_for("(no boot entries)", Duration::from_secs(30)).unwrap();
    vm.send(b"poweroff\n").unwrap();
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let t = vm.transcript();
    assert!(!t.contains("Kernel panic"), "{t}");
    assert!(!t.contains("Attempted to kill init"), "{t}");
}

/// The rescue prompt under stress (issue 16): control keys at the prompt,
/// Enter as a terminal sends it (CR), a rescue shell with job control, one
/// killed with SIGKILL after leaving the terminal raw and without echo.
#[test]
fn rescue_shell_runs_and_returns_to_the_prompt() {
    use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
    let s = setup();
    let d = disk("empty-shell", Demo::Empty);
    let initramfs = s.work.join("hopboot-shell.cpio.gz");
    hopboot_tests::shell_initramfs(&initramfs, &[]).unwrap();
    let cfg = VmConfig::new(&s.kernel.vmlinuz, &initramfs, "console=ttyS0 panic=-1 hopboot.wait=1")
        .with_disk(DiskAttach::new(&d.disk));
    let mut vm = Vm::spawn(&cfg).unwrap();
    let short = Duration::from_secs(30);
    vm.wait_for("hopboot>", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Ctrl-C, Ctrl-Z, Ctrl-\ signal nobody; the prompt still answers.
    vm.send(b"\x03\x1a\x1c").unwrap();
    vm.send(b"l\r").unwrap();
    vm.wait_for("(no boot entries)", short).unwrap();
    vm.send(b"sh\r").unwrap();
    vm.wait_for("/ # ", short).unwrap();
    vm.send(b"echo SHELL-$((40+2))\r").unwrap();
    vm.wait_for("SHELL-42", short).unwrap();
    // Job control: Ctrl-C interrupts a command (without it, `sleep` ran on).
    vm.send(b"sleep 1000\r").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    vm.send(b"\x03").unwrap();
    vm.send(b"echo AGAIN-$((6*7))\r").unwrap();
    vm.wait_for("AGAIN-42", short).unwrap();
    vm.send(b"exit\r").unwrap();
    vm.wait_for("shell exited", short).unwrap();
    vm.wait_for("hopboot>", short).unwrap();
    // A shell killed after leaving the terminal raw: the prompt still reads CR-ended lines.
    vm.send(b"sh\r").unwrap();
    vm.wait_for("/ # ", short).unwrap();
    vm.send(b"stty raw -echo; kill -9 $$\r").unwrap();
    vm.wait_for("rescue shell killed by SIGKILL", short).unwrap();
    vm.wait_for("hopboot>", short).unwrap();
    vm.send(b"l\r").unwrap();
    vm.wait_for("(no boot entries)", short).unwrap();
    vm.send(b"poweroff\r").unwrap();
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let t = vm.transcript();
    assert!(!t.contains("Attempted to kill init"), "{t}");
    assert!(!t.contains("job control turned off"), "{t}");
}
