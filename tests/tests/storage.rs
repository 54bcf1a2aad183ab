//! Storage matrix: ONE initramfs built with the `server` profile (no module
//! list) boots the GRUB demo disk on every disk interface QEMU offers, so
//! hopboot's coldplug must pick the right drivers from modules.alias, also
//! for devices that appear only after their bus driver loads (virtio
//! children, USB devices, SCSI targets).
//!
//! About 7 boots; run with `--test-threads=2` (`make qemu-test`).

use hopboot_image_build::Profile;
use hopboot_qemu::demo::{demo_disk, Demo, DemoInfo};
use hopboot_qemu::disk::{build_disk, sha256_file, Fs, Partition, Table, SECTOR_4K};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, DiskInterface, Vm};
use hopboot_tests::{
    boot_hopboot_on, boot_tree, grub_disk_mbr, grub_disk_with, profile_initramfs, setup, BOOT_TIMEOUT,
};
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

/// The GRUB demo disk rebuilt as a 4Kn disk (its GPT counted in 4096-byte
/// sectors, ext4 with 4 KiB blocks) on `interface` with 4096-byte logical
/// and physical sectors: the kernel and hopboot must both read the table in
/// 4 KiB LBAs. Returns the boot's VM.
fn four_k(interface: DiskInterface) -> Vm {
    let s = setup();
    let name = format!("4k-{}", interface.name());
    let d = grub_disk_with(&s.work.join(format!("storage-{name}.img")), Table::Gpt, SECTOR_4K).unwrap();
    // A real 4Kn layout: no GPT where a 512-byte reading looks for one.
    let bytes = std::fs::read(&d.disk).unwrap();
    assert_eq!(&bytes[4096..4104], b"EFI PART");
    assert_ne!(&bytes[512..520], b"EFI PART");
    drop(bytes);
    let vm = boots(
        &name,
        &d,
        &[DiskAttach::new(&d.disk).with_interface(interface).with_block_size(4096)],
    );
    let t = vm.transcript();
    assert!(
        t.contains("GPT primary header at LBA 1 of 4096-byte sectors"),
        "{name}: hopboot did not read a 4 KiB-sector GPT:\n{t}"
    );
    vm
}

#[test]
fn virtio_blk_4096_byte_sectors() {
    let vm = four_k(DiskInterface::VirtioBlk);
    let t = vm.transcript();
    assert!(t.contains("4096-byte logical blocks"), "{t}");
    let booting = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("hopboot: booting"))
        .expect("booting line");
    assert!(booting.text.contains("vda1"), "{}", booting.text);
}

#[test]
fn nvme_4096_byte_sectors() {
    let vm = four_k(DiskInterface::Nvme);
    let booting = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("hopboot: booting"))
        .expect("booting line");
    assert!(booting.text.contains("nvme0n1p1"), "{}", booting.text);
}

/// GRUB's `search` across disks: grub.cfg on disk 1 (which has a kernel of
/// its own) sets `$root` by the filesystem UUID of partition 2 of disk 2,
/// behind a decoy partition; inside the entry, searches by filesystem label
/// and partition GUID must name the same device, which the booted command
/// line shows (`ids-agree=yes`). The entry boots from vdb2.
#[test]
fn grub_search_finds_the_kernel_on_another_disk() {
    let s = setup();
    let v = &s.kernel.version;
    let (uuid, part_uuid) = (
        "5ea7c400-0000-4000-8000-0000000000b2",
        "b2b2b2b2-0000-4000-8000-0000000000b2",
    );
    let work = s.work.join("search");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let cmdline = format!("root=UUID={uuid} ro console=ttyS0 from=search");
    let cfg = format!(
        "set default=0\n\
         menuentry 'Kernel on disk 2' {{\n\
         \x20 search --no-floppy --fs-uuid --set=root {uuid}\n\
         \x20 search --no-floppy --label --set=bylabel hb-target\n\
         \x20 search --no-floppy --part-uuid --set=bypart {part_uuid}\n\
         \x20 agree=no\n\
         \x20 if [ \"$bylabel\" = \"$root\" -a \"$bypart\" = \"$root\" ]; then agree=yes; fi\n\
         \x20 linux /boot/vmlinuz-{v} {cmdline} ids-agree=$agree\n\
         \x20 initrd /boot/initrd.img-{v}\n\
         }}\n"
    );
    let ext4 = |u: &str| Fs::Ext4 {
        uuid: Some(u.to_string()),
    };
    // Disk 1: the config, and a kernel at the same path (a wrong $root would boot it).
    let cfg_tree = work.join("cfg");
    boot_tree(&cfg_tree, &cfg).unwrap();
    let disk1 = work.join("disk1.img");
    build_disk(
        &disk1,
        Table::Gpt,
        &[Partition::new(64, "8300", ext4("5ea7c400-0000-4000-8000-0000000000a1"))
            .with_label("hb-config")
            .with_staging(&cfg_tree)],
    )
    .unwrap();
    // Disk 2: a decoy without a kernel first, then the kernel's filesystem.
    let decoy = work.join("decoy");
    std::fs::create_dir_all(decoy.join("boot")).unwrap();
    std::fs::write(decoy.join("boot/README"), "nothing to boot here\n").unwrap();
    let target = work.join("target");
    boot_tree(&target, "").unwrap();
    std::fs::remove_dir_all(target.join("boot/grub")).unwrap();
    let disk2 = work.join("disk2.img");
    build_disk(
        &disk2,
        Table::Gpt,
        &[
            Partition::new(8, "8300", ext4("5ea7c400-0000-4000-8000-0000000000b1"))
                .with_label("decoy")
                .with_staging(&decoy),
            Partition {
                part_uuid: Some(part_uuid.to_string()),
                ..Partition::new(64, "8300", ext4(uuid))
                    .with_label("hb-target")
                    .with_staging(&target)
            },
        ],
    )
    .unwrap();
    let d = DemoInfo {
        disk: disk2.clone(),
        fs_uuid: uuid.to_string(),
        expected_cmdline: format!("{cmdline} ids-agree=yes"),
        expected_kernel: format!("/boot/vmlinuz-{v}"),
        kernels: vec![format!("/boot/vmlinuz-{v}")],
    };
    let vm = boots("search", &d, &[DiskAttach::new(&disk1), DiskAttach::new(&disk2)]);
    let booting = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains("hopboot: booting"))
        .expect("booting line");
    assert!(booting.text.contains("vdb2"), "{}", booting.text);
}
