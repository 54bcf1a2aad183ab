//! The kernel-mount fallback: a filesystem without a userspace reader (btrfs,
//! xfs) or one the userspace ext4 reader refuses is mounted read-only with
//! log replay off, its grub.cfg is read, it is unmounted, and the kernel
//! boots; the disk image is unchanged. The xfs and ext4 cases have a log or
//! journal that really needs recovery, checked with xfsprogs/e2fsprogs first.

use hopboot_image_build::{Compression, Options};
use hopboot_qemu::disk::{build_disk, extract, layout, sha256_file, Fs, Partition, Table};
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{DiskAttach, Vm, VmConfig};
use hopboot_tests::{boot_tree, hopboot_initramfs_with, run_then_cut_power, setup, xfs_image, BOOT_TIMEOUT};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs a host tool; returns stdout and stderr together, and the exit status.
fn tool(cmd: &mut Command) -> (String, std::process::ExitStatus) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text, out.status)
}

/// Boots `disk` through the hopboot image `initramfs` and returns the
/// console transcript and the marker line; checks the disk's sha256 did not change.
fn boot_unchanged(name: &str, disk: &Path, initramfs: &Path) -> (String, String) {
    let s = setup();
    let before = sha256_file(disk).unwrap();
    let cfg = VmConfig::new(
        &s.kernel.vmlinuz,
        initramfs,
        "console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0",
    )
    .with_disk(DiskAttach::new(disk));
    let started = Instant::now();
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for(MARKER, BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    eprintln!("{name}: booted in {:.1}s", started.elapsed().as_secs_f64());
    let lines = vm.lines();
    for l in lines.iter().filter(|l| {
        ["XFS (", "EXT4-fs (", "JBD2", "hopboot: vda1"]
            .iter()
            .any(|k| l.text.contains(k))
    }) {
        eprintln!("{name}: {l}");
    }
    let m = lines.iter().find(|l| l.text.contains(MARKER)).unwrap();
    assert_eq!(sha256_file(disk).unwrap(), before, "{name}: the disk changed");
    (vm.transcript(), m.text.trim().to_string())
}

/// hopboot with virtio and `fs` shipped but not loaded at start: hopboot loads
/// it (and a crc32c) when it meets a partition that needs it.
fn initramfs_with_fs(out: &Path, fs: &str) -> std::path::PathBuf {
    let s = setup();
    hopboot_image_build::build(&Options {
        binary: hopboot_qemu::paths::musl_bin("hopboot").unwrap(),
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: ["virtio_blk", "virtio_pci"].map(String::from).to_vec(),
        filesystems: vec![fs.into()],
        extra: Vec::new(),
        compression: Compression::Gzip,
        mtime: 0,
        output: out.to_path_buf(),
    })
    .unwrap();
    out.to_path_buf()
}

/// An empty work directory for one test.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let work = setup().work.join(name);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    work
}

/// A 128 MiB ext4 image of `tree` with 4 KiB blocks, `features` (mkfs -O), `uuid`
/// and `label`.
fn mkfs_ext4(tree: &Path, fsimg: &Path, features: &str, uuid: &str, label: Option<&str>) {
    std::fs::File::create(fsimg).unwrap().set_len(128 << 20).unwrap();
    let mut mkfs = Command::new("mkfs.ext4");
    mkfs.args(["-q", "-F", "-b", "4096", "-O", features, "-U", uuid]);
    if let Some(l) = label {
        mkfs.args(["-L", l]);
    }
    let (out, st) = tool(mkfs.args(["-E", "root_owner=0:0", "-d"]).arg(tree).arg(fsimg));
    assert!(st.success(), "{out}");
}

/// `fsimg` as the one partition of a GPT disk in `work` (the image is moved in),
/// and hopboot with ext4 loaded at start.
fn ext4_disk(work: &Path, fsimg: &Path) -> (std::path::PathBuf, [Partition; 1], std::path::PathBuf) {
    let disk = work.join("disk.img");
    let parts = [Partition::new(130, "8300", Fs::Image(fsimg.to_path_buf()))];
    build_disk(&disk, Table::Gpt, &parts).unwrap();
    std::fs::remove_file(fsimg).unwrap();
    let initramfs = work.join("hopboot-ext4.cpio.gz");
    hopboot_initramfs_with(&initramfs, &["virtio_blk", "virtio_pci", "crc32c_generic", "ext4"]).unwrap();
    (disk, parts, initramfs)
}

/// `dumpe2fs -h` of the disk's first partition, as e2fsprogs sees it after the boot.
fn superblock_after(work: &Path, disk: &Path, parts: &[Partition]) -> String {
    let (ext, _) = layout(parts).unwrap();
    let back = work.join("back.img");
    extract(disk, ext[0], &back).unwrap();
    tool(Command::new("dumpe2fs").arg("-h").arg(&back)).0
}

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

    // btrfs shipped, loaded on demand with crc32c_generic (libcrc32c needs a crc32c
    // provider, and the TCG CPU has no SSE4.2 for crc32c-intel).
    let initramfs = initramfs_with_fs(&work.join("hopboot-btrfs.cpio.gz"), "btrfs");

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
    let t = vm.transcript();
    assert!(
        t.contains("loaded ") && t.contains(" for btrfs"),
        "btrfs was not loaded on demand:\n{t}"
    );
}

/// XFS whose log needs recovery: made with `mkfs.xfs -p`, then mounted
/// read-write by the Debian kernel in QEMU, changed, synced and the power cut
/// (xfs_repair -n confirms the dirty log). hopboot mounts it `ro,norecovery`:
/// the log is not replayed (no "Starting recovery"), grub.cfg's entry boots,
/// the disk is bit for bit the same.
#[test]
fn xfs_with_a_dirty_log_is_read_with_norecovery() {
    let s = setup();
    let v = &s.kernel.version;
    let uuid = "4b0b0057-0000-4000-8000-0000000000f5";
    let work = fresh_dir("xfs");
    let tree = work.join("tree");
    boot_tree(
        &tree,
        &format!(
            "set default=0\nmenuentry 'Debian on xfs' {{\n  search --no-floppy --fs-uuid --set=root {uuid}\n  linux /boot/vmlinuz-{v} root=UUID={uuid} ro console=ttyS0 from=xfs\n  initrd /boot/initrd.img-{v}\n}}\n"
        ),
    )
    .unwrap();
    let fsimg = work.join("xfs.img");
    xfs_image(&fsimg, &tree, uuid, "xfsroot", 320).unwrap();

    // Real writes by the real kernel, then the power is cut.
    run_then_cut_power(
        &fsimg,
        &["virtio_blk", "virtio_pci", "crc32c_generic", "xfs"],
        "mount -t xfs /dev/vda /mnt || fail mount\n\
         mkdir /mnt/churn || fail mkdir\n\
         for i in $(seq 1 200); do echo \"file $i\" > /mnt/churn/f$i || fail write; done\n\
         rm /mnt/churn/f1* && mv /mnt/churn /mnt/churned || fail rm\n\
         sync\n\
         echo XFS-DIRTY-NOW",
        "XFS-DIRTY-NOW",
    )
    .unwrap();
    let (repair, _) = tool(Command::new("xfs_repair").arg("-n").arg(&fsimg));
    assert!(
        repair.contains("valuable metadata changes in a log"),
        "xfs_repair -n does not see a dirty log:\n{repair}"
    );
    let (logprint, _) = tool(Command::new("xfs_logprint").arg("-t").arg(&fsimg));
    assert!(logprint.contains("<DIRTY>"), "{logprint}");

    let disk = work.join("disk.img");
    let part = Partition::new(330, "8300", Fs::Image(fsimg.clone()));
    build_disk(&disk, Table::Gpt, &[part]).unwrap();
    std::fs::remove_file(&fsimg).unwrap();
    // xfs is shipped but nothing loads it at boot: hopboot loads it (and a
    // crc32c) when it finds a partition that needs it.
    let initramfs = initramfs_with_fs(&work.join("hopboot-xfs.cpio.gz"), "xfs");

    let (t, marker) = boot_unchanged("xfs", &disk, &initramfs);
    assert_eq!(
        marker,
        marker_line(&format!(
            "BOOT_IMAGE=/boot/vmlinuz-{v} root=UUID={uuid} ro console=ttyS0 from=xfs"
        )),
        "{t}"
    );
    assert!(
        t.contains("vda1: xfs mounted read-only") && t.contains("(ro,norecovery)"),
        "{t}"
    );
    assert!(!t.contains("Starting recovery"), "the xfs log was replayed:\n{t}");
    assert!(
        t.contains("vda1: loaded ") && t.contains(" for xfs"),
        "xfs was not loaded on demand:\n{t}"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

/// ext4 with a dirty journal that ext4-view 0.9 cannot replay (no
/// metadata_csum, so the journal has no v3 checksums, like a filesystem made
/// before 2016). debugfs writes a real jbd2 transaction holding grub.cfg's
/// block with `hb.fs=journal` where the disk says `hb.fs=on-disk`, and sets
/// needs_recovery (e2fsck and a replayed copy confirm both). hopboot falls
/// back to a kernel mount `ro,noload`: the journal is not replayed, the
/// on-disk grub.cfg boots, the disk is bit for bit the same.
#[test]
fn ext4_with_a_journal_ext4_view_refuses_is_read_with_noload() {
    let s = setup();
    let v = &s.kernel.version;
    let uuid = "4b0b0057-0000-4000-8000-0000000000e4";
    let work = fresh_dir("ext4-dirty");
    let tree = work.join("tree");
    let cmdline = format!("root=UUID={uuid} ro console=ttyS0 hb.fs=on-disk");
    boot_tree(
        &tree,
        &format!(
            "set default=0\nmenuentry 'Debian on old ext4' {{\n  search --no-floppy --fs-uuid --set=root {uuid}\n  linux /boot/vmlinuz-{v} {cmdline}\n  initrd /boot/initrd.img-{v}\n}}\n"
        ),
    )
    .unwrap();
    let fsimg = work.join("ext4.img");
    mkfs_ext4(&tree, &fsimg, "has_journal,^metadata_csum", uuid, Some("oldroot"));

    // The journal transaction: grub.cfg's block, changed.
    let (blocks, _) = tool(
        Command::new("debugfs")
            .args(["-R", "blocks /boot/grub/grub.cfg"])
            .arg(&fsimg),
    );
    let block: u64 = blocks
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("debugfs blocks: {blocks}"));
    let mut data = vec![0u8; 4096];
    {
        use std::os::unix::fs::FileExt;
        std::fs::File::open(&fsimg)
            .unwrap()
            .read_exact_at(&mut data, block * 4096)
            .unwrap();
    }
    let on_disk = String::from_utf8_lossy(&data).into_owned();
    assert!(on_disk.contains("hb.fs=on-disk"), "{on_disk}");
    let jblock = work.join("journal-block");
    std::fs::write(&jblock, on_disk.replace("hb.fs=on-disk", "hb.fs=journal")).unwrap();
    let cmds = work.join("debugfs-cmds");
    std::fs::write(&cmds, format!("jo\njw -b {block} {}\njc\n", jblock.display())).unwrap();
    let (out, st) = tool(Command::new("debugfs").arg("-w").arg("-f").arg(&cmds).arg(&fsimg));
    assert!(st.success(), "{out}");

    // Dirty for e2fsprogs: needs_recovery, e2fsck -n skips a replay it would do.
    let (sb, _) = tool(Command::new("dumpe2fs").arg("-h").arg(&fsimg));
    assert!(sb.contains("needs_recovery"), "{sb}");
    assert!(!sb.contains("metadata_csum"), "{sb}");
    let (fsck, _) = tool(Command::new("e2fsck").args(["-n", "-f"]).arg(&fsimg));
    assert!(fsck.contains("skipping journal recovery"), "{fsck}");
    let (cat, _) = tool(
        Command::new("debugfs")
            .args(["-R", "cat /boot/grub/grub.cfg"])
            .arg(&fsimg),
    );
    assert!(cat.contains("hb.fs=on-disk"), "{cat}");
    // Replaying a copy gives the journal's grub.cfg: the journal matters.
    let replayed = work.join("replayed.img");
    std::fs::copy(&fsimg, &replayed).unwrap();
    let (out, st) = tool(Command::new("e2fsck").args(["-p"]).arg(&replayed));
    assert!(st.code().is_some_and(|c| c <= 1), "{out}");
    let (cat, _) = tool(
        Command::new("debugfs")
            .args(["-R", "cat /boot/grub/grub.cfg"])
            .arg(&replayed),
    );
    assert!(cat.contains("hb.fs=journal"), "{cat}");
    std::fs::remove_file(&replayed).unwrap();

    // hopboot's userspace reader refuses it (outside PID 1: an error, no mount).
    let probe = Command::new(hopboot_qemu::paths::musl_bin("hopboot").unwrap())
        .args(["probe", "--json"])
        .arg(&fsimg)
        .output()
        .unwrap();
    let probe = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.contains("missing required journal features") && probe.contains("needs a kernel mount"),
        "{probe}"
    );

    let (disk, parts, initramfs) = ext4_disk(&work, &fsimg);

    let (t, marker) = boot_unchanged("ext4", &disk, &initramfs);
    assert_eq!(
        marker,
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} {cmdline}")),
        "{t}"
    );
    assert!(t.contains("missing required journal features"), "{t}");
    assert!(
        t.contains("vda1: ext4 mounted read-only") && t.contains("(ro,noload)"),
        "{t}"
    );
    assert!(!t.contains("recovery complete"), "the journal was replayed:\n{t}");
    // Still dirty afterwards, as e2fsprogs sees it.
    let sb = superblock_after(&work, &disk, &parts);
    assert!(sb.contains("needs_recovery"), "{sb}");
    std::fs::remove_dir_all(&work).unwrap();
}

/// ext4 with orphan inodes (files deleted while open when the power went) and
/// a feature ext4-view refuses (inline_data): the kernel would delete the
/// orphans even on a read-only mount, so hopboot marks the device read-only
/// (BLKROSET) first; the kernel then skips the cleanup and the disk stays
/// byte-identical.
#[test]
fn ext4_with_orphans_is_mounted_on_a_read_only_device() {
    let s = setup();
    let v = &s.kernel.version;
    let uuid = "4b0b0057-0000-4000-8000-0000000000e5";
    let work = fresh_dir("ext4-orphans");
    let tree = work.join("tree");
    let cmdline = format!("root=UUID={uuid} ro console=ttyS0 hb.fs=orphans");
    boot_tree(
        &tree,
        &format!(
            "set default=0\nmenuentry 'Debian with orphans' {{\n  linux /boot/vmlinuz-{v} {cmdline}\n  initrd /boot/initrd.img-{v}\n}}\n"
        ),
    )
    .unwrap();
    // The orphan: a real file's inode, whose link is then dropped as a crash would leave it.
    std::fs::write(tree.join("deleted-while-open"), vec![7u8; 64 << 10]).unwrap();
    let fsimg = work.join("ext4.img");
    mkfs_ext4(&tree, &fsimg, "inline_data", uuid, None);
    let (ino, _) = tool(
        Command::new("debugfs")
            .args(["-R", "stat /deleted-while-open"])
            .arg(&fsimg),
    );
    let inode: u32 = ino
        .split("Inode: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("debugfs stat: {ino}"));
    let cmds = work.join("debugfs-cmds");
    std::fs::write(&cmds, format!("unlink /deleted-while-open\nssv last_orphan {inode}\n")).unwrap();
    let (out, st) = tool(Command::new("debugfs").arg("-w").arg("-f").arg(&cmds).arg(&fsimg));
    assert!(st.success(), "{out}");
    let (sb, _) = tool(Command::new("dumpe2fs").arg("-h").arg(&fsimg));
    assert!(sb.contains(&format!("First orphan inode:       {inode}")), "{sb}");

    let (disk, parts, initramfs) = ext4_disk(&work, &fsimg);

    let (t, marker) = boot_unchanged("ext4-orphans", &disk, &initramfs);
    assert_eq!(
        marker,
        marker_line(&format!("BOOT_IMAGE=/boot/vmlinuz-{v} {cmdline}")),
        "{t}"
    );
    assert!(t.contains("orphan inodes; the device is set read-only"), "{t}");
    assert!(
        t.contains("skipping orphan cleanup"),
        "the kernel did not skip the cleanup:\n{t}"
    );
    // The orphan is still listed, as e2fsprogs sees it.
    let sb = superblock_after(&work, &disk, &parts);
    assert!(sb.contains(&format!("First orphan inode:       {inode}")), "{sb}");
    std::fs::remove_dir_all(&work).unwrap();
}
