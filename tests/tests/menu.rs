//! The menu and PID 1 resilience, driven through the serial console.

use hopboot_qemu::demo::DemoInfo;
use hopboot_qemu::target::marker_line;
use hopboot_tests::{
    boot_hopboot, custom_disk, grub_disk, marker_after_exit, setup, BOOT_TIMEOUT, KERNEL, TARGET_INITRD,
};
use std::time::Duration;

fn recovery_cmdline(d: &DemoInfo) -> String {
    d.expected_cmdline.replace(
        "ro console=ttyS0 hopboot.demo=grub-default",
        "ro single console=ttyS0 hopboot.demo=grub-recovery",
    )
}

#[test]
fn keys_pick_the_second_entry() {
    let d = grub_disk("menu-keys");
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=20 hopboot.timeout=60").unwrap();
    vm.wait_for("(any key stops)", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"j").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // `d` shows where the entry lives, as root=/search would name it.
    vm.send(b"d").unwrap();
    let device = vm
        .wait_for_line("  device   vda1 (ext4 UUID=", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        device.text.contains(&format!("UUID={} ", d.fs_uuid)) && device.text.contains("PARTUUID="),
        "{}",
        device.text
    );
    vm.wait_for("(any key: back)", Duration::from_secs(60)).unwrap();
    vm.send(b" ").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    vm.send(b"\r").unwrap();
    let m = marker_after_exit(&mut vm);
    assert_eq!(
        m,
        marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, recovery_cmdline(&d)))
    );
}

#[test]
fn edit_changes_the_cmdline() {
    let d = grub_disk("menu-edit");
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=20 hopboot.timeout=60").unwrap();
    vm.wait_for("(any key stops)", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}"));
    vm.send(b"e").unwrap();
    vm.wait_for("edit> ", Duration::from_secs(30)).unwrap();
    // Remove the last word with backspaces, then type a new one.
    let last = d.expected_cmdline.rsplit(' ').next().unwrap().len();
    vm.send(&vec![0x7f; last]).unwrap();
    vm.send(b"hopboot.edited=yes\r").unwrap();
    let m = marker_after_exit(&mut vm);
    let edited = format!(
        "{}hopboot.edited=yes",
        &d.expected_cmdline[..d.expected_cmdline.len() - last]
    );
    assert_eq!(m, marker_line(&format!("BOOT_IMAGE={} {edited}", d.expected_kernel)));
}

#[test]
fn timeout_zero_boots_the_default_without_a_menu() {
    let d = grub_disk("menu-timeout0");
    let mut vm = boot_hopboot(std::slice::from_ref(&d.disk), "hopboot.wait=20 hopboot.timeout=0").unwrap();
    let m = marker_after_exit(&mut vm);
    assert_eq!(
        m,
        marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline))
    );
    assert!(
        !vm.transcript().contains("menu shown"),
        "a menu was shown with hopboot.timeout=0"
    );
}

#[test]
fn entry_option_selects_by_title() {
    let d = grub_disk("menu-entry");
    let mut vm = boot_hopboot(
        std::slice::from_ref(&d.disk),
        "hopboot.wait=20 \"hopboot.entry=Debian GNU/Linux (recovery mode)\"",
    )
    .unwrap();
    let m = marker_after_exit(&mut vm);
    assert_eq!(
        m,
        marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, recovery_cmdline(&d)))
    );
    assert!(!vm.transcript().contains("menu shown"));
}

#[test]
fn a_kernel_that_is_not_a_kernel_fails_and_the_next_entry_boots() {
    let s = setup();
    let disk = s.work.join("kexec-fail.img");
    let uuid = "4b0b0057-0000-4000-8000-0000000000f1";
    let v = &s.kernel.version;
    let cfg = format!(
        "set default=0\n\
         menuentry 'Broken kernel' {{\n  search --fs-uuid --set=root {uuid}\n  linux /boot/not-a-kernel console=ttyS0 which=broken\n  initrd /boot/initrd.img-{v}\n}}\n\
         menuentry 'Good kernel' {{\n  search --fs-uuid --set=root {uuid}\n  linux /boot/vmlinuz-{v} console=ttyS0 which=good\n  initrd /boot/initrd.img-{v}\n}}\n"
    );
    custom_disk(
        &disk,
        uuid,
        &[
            ("/boot/grub/grub.cfg", &cfg),
            (
                "/boot/not-a-kernel",
                "#!/bin/sh\necho this is a shell script, not a kernel\n",
            ),
            (&format!("/boot/vmlinuz-{v}"), KERNEL),
            (&format!("/boot/initrd.img-{v}"), TARGET_INITRD),
        ],
    )
    .unwrap();
    let mut vm = boot_hopboot(std::slice::from_ref(&disk), "hopboot.wait=20 hopboot.timeout=0").unwrap();
    let err = vm.wait_for("'Broken kernel'", BOOT_TIMEOUT).unwrap();
    let _ = err;
    let refused = vm
        .wait_for_line("not a kernel this machine can boot", Duration::from_secs(60))
        .unwrap();
    assert!(refused.text.contains("Broken kernel"), "{}", refused.text);
    let m = marker_after_exit(&mut vm);
    assert_eq!(
        m,
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} console=ttyS0 which=good"))
    );
}
