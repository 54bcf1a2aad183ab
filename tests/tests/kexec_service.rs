//! `hopboot load --systemd` and `--systemd-stop`, what hopboot-kexec.service runs,
//! on a small running system (busybox, its /boot with a kernel and grub.cfg): at
//! boot it arms the placeholder (a kernel is loaded, so `systemctl kexec` would
//! accept); at stop it loads the real entry in its place; a failed load unloads, so the machine
//! would reboot through its firmware; and the placeholder, if it ever runs, says
//! so on the serial console and resets.

use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{Vm, VmConfig};
use hopboot_tests::{live_system, setup, BOOT_TIMEOUT};
use std::time::Duration;

const GRUB_CFG: &str = "set default=0\nmenuentry 'Live Debian' --id live {\n  linux /boot/vmlinuz-{v} console=ttyS0 root=/dev/nothing ro from=service\n  initrd /boot/initrd.img-{v}\n}\n";
const APPLETS: &[&str] = &["sh", "mount", "echo", "cat", "mv", "mkdir"];
const APPEND: &str = "console=ttyS0 panic=-1";
/// `bzimage::PLACEHOLDER_MESSAGE`, as the serial console shows it.
const PLACEHOLDER_MESSAGE: &str =
    "hopboot: the kexec placeholder ran (no kernel was loaded in its place at shutdown); resetting through the firmware";
const WAIT: Duration = Duration::from_secs(90);

fn boot(name: &str, init: &str) -> Vm {
    let s = setup();
    let initramfs = s.work.join(format!("{name}.cpio.gz"));
    live_system(&initramfs, init, APPLETS, GRUB_CFG).unwrap();
    let mut vm = Vm::spawn(&VmConfig::new(&s.kernel.vmlinuz, &initramfs, APPEND)).unwrap();
    vm.wait_for("LIVE-SYSTEM-UP", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm
}

const UP: &str = "#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo LIVE-SYSTEM-UP
";

/// At boot the placeholder is armed, and a second start leaves it; at "shutdown"
/// (`--systemd-stop`; no systemctl here, so it cannot tell a kexec from another
/// shutdown and loads) the entry replaces it, and a second stop keeps it; `hopboot
/// exec` then boots the entry's kernel.
#[test]
fn armed_at_boot_then_loaded_in_its_place() {
    let init = format!(
        "{UP}hopboot load --systemd
echo LOADED=$(cat /sys/kernel/kexec_loaded) STATE=$(cat /run/hopboot/loaded)
hopboot load --systemd
hopboot load --systemd-stop
echo LOADED=$(cat /sys/kernel/kexec_loaded) STATE=$(cat /run/hopboot/loaded)
hopboot load --systemd-stop
hopboot exec
echo EXEC-FAILED
exec sh
"
    );
    let mut vm = boot("service-load", &init);
    vm.wait_for("ready for systemctl kexec; it will load 'Live Debian' (live)", WAIT)
        .unwrap();
    vm.wait_for("LOADED=1 STATE=placeholder", WAIT).unwrap();
    vm.wait_for("already armed for systemctl kexec", WAIT).unwrap();
    vm.wait_for("loaded 'Live Debian' for systemctl kexec", WAIT).unwrap();
    vm.wait_for("LOADED=1 STATE=systemd live", WAIT).unwrap();
    vm.wait_for("keeping the entry loaded before (live)", WAIT).unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let v = &setup().kernel.version;
    let m = vm.lines().into_iter().find(|l| l.text.contains(MARKER)).unwrap();
    assert_eq!(
        m.text.trim(),
        marker_line(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-{v} console=ttyS0 root=/dev/nothing ro from=service"
        ))
    );
    assert!(!vm.transcript().contains("EXEC-FAILED"));
}

/// A load that fails at "shutdown" unloads the placeholder (the firmware reboots
/// the machine instead); armed again, the placeholder, started, prints its
/// message on COM1 and resets the machine.
#[test]
fn failed_load_unloads_and_the_placeholder_resets() {
    let v = &setup().kernel.version;
    let init = format!(
        "{UP}hopboot load --systemd
echo LOADED=$(cat /sys/kernel/kexec_loaded)
mv /boot/vmlinuz-{v} /boot/gone
hopboot load --systemd-stop
echo AFTER-FAIL LOADED=$(cat /sys/kernel/kexec_loaded) STATE=$(cat /run/hopboot/loaded 2>/dev/null || echo none)
hopboot load --systemd
hopboot exec
echo EXEC-FAILED
exec sh
"
    );
    let mut vm = boot("service-fail", &init);
    vm.wait_for("LOADED=1", WAIT).unwrap();
    vm.wait_for("reboots through its firmware instead", WAIT).unwrap();
    vm.wait_for("AFTER-FAIL LOADED=0 STATE=none", WAIT).unwrap();
    vm.wait_for("hopboot: the kexec placeholder ran", WAIT).unwrap();
    // -no-reboot: the reset ends QEMU.
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let t = vm.transcript();
    assert!(t.contains(PLACEHOLDER_MESSAGE), "{t}");
    assert!(!t.contains("EXEC-FAILED"));
    assert!(!t.contains(MARKER));
}
