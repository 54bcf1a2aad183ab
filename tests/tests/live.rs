//! `hopboot load` on a running system: a small Linux system (busybox shell,
//! its /boot with a kernel and grub.cfg) runs `hopboot load --reuse-cmdline`
//! and then `hopboot exec`; the kexec'd target shows the reused command line.

use hopboot_image_build::cpio::Archive;
use hopboot_image_build::{compress, Compression};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{Vm, VmConfig};
use hopboot_tests::{busybox, setup, BOOT_TIMEOUT};
use std::time::Duration;

const INIT: &str = "#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo LIVE-SYSTEM-UP
hopboot probe
if hopboot load --reuse-cmdline; then echo LIVE-LOADED; fi
mkdir -p /run/systemd/system
if ! hopboot boot; then echo LIVE-BOOT-REFUSED; fi
rmdir /run/systemd/system
hopboot exec
echo LIVE-EXEC-FAILED
exec sh
";

#[test]
fn load_reuse_cmdline_then_exec_on_a_running_system() {
    let s = setup();
    let v = &s.kernel.version;
    let mut a = Archive::new();
    a.add_file("init", INIT.as_bytes().to_vec(), 0o755);
    a.add_file("bin/busybox", std::fs::read(busybox().unwrap()).unwrap(), 0o755);
    for applet in ["sh", "mount", "echo", "mkdir", "rmdir", "cat"] {
        a.add_symlink(&format!("bin/{applet}"), "busybox");
    }
    let hopboot = hopboot_qemu::paths::musl_bin("hopboot").unwrap();
    a.add_file("bin/hopboot", std::fs::read(hopboot).unwrap(), 0o755);
    a.add_char_dev("dev/console", 0o600, 5, 1);
    for d in ["proc", "sys", "run"] {
        a.add_dir(d, 0o755);
    }
    a.add_file(
        &format!("boot/vmlinuz-{v}"),
        std::fs::read(&s.kernel.vmlinuz).unwrap(),
        0o644,
    );
    a.add_file(
        &format!("boot/initrd.img-{v}"),
        hopboot_qemu::target::target_initramfs_bytes().unwrap(),
        0o644,
    );
    let cfg = format!(
        "set default=0\nmenuentry 'Live Debian' {{\n  linux /boot/vmlinuz-{v} root=/dev/nothing ro from=grubcfg\n  initrd /boot/initrd.img-{v}\n}}\n"
    );
    a.add_file("boot/grub/grub.cfg", cfg.into_bytes(), 0o644);
    let initramfs = s.work.join("live.cpio.gz");
    std::fs::write(&initramfs, compress(&a.to_newc(0), Compression::Gzip).unwrap()).unwrap();

    let append = "console=ttyS0 panic=-1 live.marker=reused-42";
    let mut vm = Vm::spawn(&VmConfig::new(&s.kernel.vmlinuz, &initramfs, append)).unwrap();
    vm.wait_for("LIVE-SYSTEM-UP", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_for("Live Debian", Duration::from_secs(60)).unwrap();
    vm.wait_for("LIVE-LOADED", Duration::from_secs(60)).unwrap();
    // With systemd running (its /run/systemd/system), `hopboot boot` refuses without --force.
    vm.wait_for("systemctl kexec", Duration::from_secs(60)).unwrap();
    vm.wait_for("LIVE-BOOT-REFUSED", Duration::from_secs(60)).unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let m = vm.lines().into_iter().find(|l| l.text.contains(MARKER)).unwrap();
    assert_eq!(
        m.text.trim(),
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} {append}"))
    );
    assert!(!vm.transcript().contains("LIVE-EXEC-FAILED"));
}
