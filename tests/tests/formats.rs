//! End to end per config format: a disk whose only entry comes from one
//! format boots, and the target shows the command line that format gives.

use hopboot_qemu::disk::{Fs, Partition};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_tests::{boot_hopboot, custom_disk_with, setup, BOOT_TIMEOUT, KERNEL, TARGET_INITRD, UKI};
use std::time::Duration;

fn boot_marker(name: &str, part: Partition, files: &[(&str, &str)]) -> String {
    let disk = setup().work.join(format!("{name}.img"));
    custom_disk_with(&disk, part, files).unwrap();
    let before = hopboot_qemu::disk::sha256_file(&disk).unwrap();
    let mut vm = boot_hopboot(std::slice::from_ref(&disk), "hopboot.wait=20 hopboot.timeout=0").unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    assert_eq!(
        hopboot_qemu::disk::sha256_file(&disk).unwrap(),
        before,
        "the disk image changed"
    );
    vm.lines()
        .into_iter()
        .find(|l| l.text.contains(MARKER))
        .unwrap()
        .text
        .trim()
        .to_string()
}

fn esp() -> Partition {
    Partition::new(64, "ef00", Fs::Vfat).with_label("ESP")
}

#[test]
fn bls_entry_on_a_fat_esp() {
    let v = &setup().kernel.version;
    let entry = format!(
        "title Debian (BLS)\nversion {v}\nlinux /debian/{v}/linux\ninitrd /debian/{v}/initrd.img\noptions console=ttyS0 from=bls\n"
    );
    let m = boot_marker(
        "fmt-bls",
        esp(),
        &[
            ("/loader/loader.conf", "default debian-*\ntimeout 3\n"),
            (&format!("/loader/entries/debian-{v}.conf"), &entry),
            (&format!("/debian/{v}/linux"), KERNEL),
            (&format!("/debian/{v}/initrd.img"), TARGET_INITRD),
        ],
    );
    // systemd-boot adds initrd= items for the EFI stub; kexec needs none, and the spec's cmdline is `options`.
    assert_eq!(m, marker_line("console=ttyS0 from=bls"));
}

#[test]
fn unified_kernel_image_on_a_fat_esp() {
    let uki = format!("{UKI}console=ttyS0 from=uki");
    let m = boot_marker("fmt-uki", esp(), &[("/EFI/Linux/debian.efi", &uki)]);
    assert_eq!(m, marker_line("console=ttyS0 from=uki"));
}

#[test]
fn extlinux_conf_on_ext4() {
    let v = &setup().kernel.version;
    let conf = format!(
        "DEFAULT debian\nTIMEOUT 30\nMENU TITLE Boot\nLABEL debian\n  MENU LABEL Debian (extlinux)\n  LINUX /boot/vmlinuz-{v}\n  INITRD /boot/initrd.img-{v}\n  APPEND console=ttyS0 from=extlinux\n"
    );
    let part = Partition::new(
        128,
        "8300",
        Fs::Ext4 {
            uuid: Some("4b0b0057-0000-4000-8000-0000000000e1".into()),
        },
    );
    let m = boot_marker(
        "fmt-extlinux",
        part,
        &[
            ("/boot/extlinux/extlinux.conf", &conf),
            (&format!("/boot/vmlinuz-{v}"), KERNEL),
            (&format!("/boot/initrd.img-{v}"), TARGET_INITRD),
        ],
    );
    // syslinux puts BOOT_IMAGE=<kernel as written> first, like GRUB.
    assert_eq!(
        m,
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} console=ttyS0 from=extlinux"))
    );
}
