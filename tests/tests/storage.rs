//! Storage matrix: ONE initramfs built with the `server` profile (no module
//! list) boots the GRUB demo disk on every disk interface QEMU offers, so
//! hopboot's coldplug must pick the right drivers from modules.alias, also
//! for devices that appear only after their bus driver loads (virtio
//! children, USB devices, SCSI targets).
//!
//! About 7 boots; run with `--test-threads=2` (`make qemu-test`).

use hopboot_image_build::Profile;
use hopboot_qemu::demo::{demo_disk, Demo, DemoInfo};
use hopboot_qemu::disk::sha256_file;
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, DiskInterface, Vm};
use hopboot_tests::{boot_hopboot_on, grub_disk_mbr, profile_initramfs, setup, BOOT_TIMEOUT};
use std::time::Duration;

const APPEND: &str = "hopboot.timeout=0 hopboot.wait=30 hopboot.debug";

/// Boots `disks` through the server image and checks that the target shows
/// `d`'s default entry and that no disk changed; returns the VM for more checks.
fn boots(name: &str, d: &DemoInfo, disks: &[DiskAttach]) -> Vm {
    let before: Vec<String> = disks.iter().map(|a| sha256_file(&a.path).unwrap()).collect();
    let mut vm = boot_hopboot_on(profile_initramfs(Profile::Server), disks, APPEND).unwrap();
    if let Err(e) = vm.wait_for(MARKER, BOOT_TIMEOUT) {
        panic!("{name}: {e:#}");
    }
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let lines = vm.lines();
    let marker = lines.iter().find(|l| l.text.contains(MARKER)).expect("marker line");
    let expected = marker_line(&format!("BOOT_IMAGE={} {}", d.expected_kernel, d.expected_cmdline));
    assert_eq!(marker.text.trim(), expected, "{name}");
    for (a, sum) in disks.iter().zip(&before) {
        assert_eq!(
            &sha256_file(&a.path).unwrap(),
            sum,
            "{name}: {} changed",
            a.path.display()
        );
    }
    let t = vm.transcript();
    assert!(!t.contains("Attempted to kill init"), "{name}: {t}");
    for l in lines
        .iter()
        .filter(|l| l.text.contains("coldplug:") || l.text.contains("hotplug:"))
    {
        eprintln!("{name}: {:7.3}s {}", l.t.as_secs_f64(), l.text.trim());
    }
    eprintln!("{name}: marker at {:.1}s", marker.t.as_secs_f64());
    vm
}

fn grub_disk(name: &str) -> DemoInfo {
    let s = setup();
    demo_disk(&s.work.join(format!("storage-{name}.img")), &s.kernel, Demo::Grub).unwrap()
}

/// The GRUB demo disk alone on `interface`.
fn one_disk(interface: DiskInterface) {
    let d = grub_disk(interface.name());
    boots(
        interface.name(),
        &d,
        &[DiskAttach::new(&d.disk).with_interface(interface)],
    );
}

#[test]
fn virtio_blk() {
    one_disk(DiskInterface::VirtioBlk);
}

#[test]
fn virtio_scsi() {
    one_disk(DiskInterface::VirtioScsi);
}

#[test]
fn ahci() {
    one_disk(DiskInterface::Ahci);
}

#[test]
fn nvme() {
    one_disk(DiskInterface::Nvme);
}

#[test]
fn usb_storage() {
    one_disk(DiskInterface::Usb);
}

#[test]
fn mbr_table_on_ahci() {
    let s = setup();
    let d = grub_disk_mbr(&s.work.join("storage-mbr.img")).unwrap();
    boots(
        "mbr",
        &d,
        &[DiskAttach::new(&d.disk).with_interface(DiskInterface::Ahci)],
    );
}

/// An empty disk first (virtio-blk), the kernel's disk second on another
/// controller (NVMe): both drivers load, the second disk's entry boots.
#[test]
fn kernel_on_the_second_disk() {
    let s = setup();
    let empty = demo_disk(&s.work.join("storage-empty.img"), &s.kernel, Demo::Empty).unwrap();
    let d = grub_disk("second");
    let vm = boots(
        "two-disks",
        &d,
        &[
            DiskAttach::new(&empty.disk),
            DiskAttach::new(&d.disk).with_interface(DiskInterface::Nvme),
        ],
    );
    let booting = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("hopboot: booting"))
        .expect("booting line");
    assert!(booting.text.contains("nvme0n1p1"), "{}", booting.text);
}
