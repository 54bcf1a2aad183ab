//! The kernel-mount fallback: a btrfs root (no userspace reader) is mounted
//! read-only with log replay off, its grub.cfg is read, it is unmounted, and
//! the kernel boots; the disk image is unchanged.

use hopboot_image_build::{Compression, Options};
use hopboot_qemu::disk::{build_disk, sha256_file, Fs, Partition, Table};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use hopboot_tests::{setup, BOOT_TIMEOUT};
use std::time::Duration;

#[test]
fn btrfs_root_is_read_through_a_read_only_kernel_mount() {
    let s = setup();
    let v = &s.kernel.version;
    let uuid = "4b0b0057-0000-4000-8000-0000000000b1";
    let work = s.work.join("btrfs");
    let staging = work.join("staging");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(staging.join("boot/grub")).unwrap();
    std::fs::copy(&s.kernel.vmlinuz, staging.join(format!("boot/vmlinuz-{v}"))).unwrap();
    hopboot_qemu::target::target_initramfs(&staging.join(format!("boot/initrd.img-{v}"))).unwrap();
    std::fs::write(
        staging.join("boot/grub/grub.cfg"),
        format!(
            "set default=0\nmenuentry 'Debian on btrfs' {{\n  search --no-floppy --fs-uuid --set=root {uuid}\n  linux /boot/vmlinuz-{v} root=UUID={uuid} ro console=ttyS0 from=btrfs\n  initrd /boot/initrd.img-{v}\n}}\n"
        ),
    )
    .unwrap();
    let fsimg = work.join("fs.img");
    std::fs::File::create(&fsimg).unwrap().set_len(200 << 20).unwrap();
    let st = std::process::Command::new("mkfs.btrfs")
        .args(["-q", "-f", "-U", uuid, "-L", "btrfsroot", "--rootdir"])
        .arg(&staging)
        .arg(&fsimg)
        .status()
        .expect("mkfs.btrfs (btrfs-progs) is installed by scripts/install-deps.sh");
    assert!(st.success());
    let disk = work.join("disk.img");
    build_disk(
        &disk,
        Table::Gpt,
        &[Partition::new(210, "8300", Fs::Raw(std::fs::read(&fsimg).unwrap()))],
    )
    .unwrap();

    // hopboot's image with btrfs (crc32c_generic first: libcrc32c needs a crc32c
    // provider, and the TCG CPU has no SSE4.2 for crc32c-intel).
    let initramfs = work.join("hopboot-btrfs.cpio.gz");
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot").unwrap(),
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: ["virtio_blk", "virtio_pci", "crc32c_generic", "btrfs"]
            .map(String::from)
            .to_vec(),
        extra: Vec::new(),
        compression: Compression::Gzip,
        mtime: 0,
        output: initramfs.clone(),
    })
    .unwrap();

    let before = sha256_file(&disk).unwrap();
    let cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        &initramfs,
        "console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0",
    )
    .with_disk(DiskAttach::new(&disk));
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let m = vm.lines().into_iter().find(|l| l.text.contains(MARKER)).unwrap();
    assert_eq!(
        m.text.trim(),
        marker_line(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-{v} root=UUID={uuid} ro console=ttyS0 from=btrfs"
        ))
    );
    assert_eq!(sha256_file(&disk).unwrap(), before, "the btrfs disk changed");
}
