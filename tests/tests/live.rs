//! `hopboot load` on a running system: a small Linux system (busybox shell,
//! its /boot with a kernel and grub.cfg) runs `hopboot load --reuse-cmdline`
//! and then `hopboot exec`; the kexec'd target shows the reused command line.

use hopboot_image_build::Compression;
use hopboot_qemu::target::{marker_line, MARKER};
use hopboot_qemu::vm::{Vm, VmConfig};
use hopboot_tests::{busybox, live_system, setup, BOOT_TIMEOUT};
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
    let cfg = "set default=0\nmenuentry 'Live Debian' {\n  linux /boot/vmlinuz-{v} root=/dev/nothing ro from=grubcfg\n  initrd /boot/initrd.img-{v}\n}\n";
    let initramfs = s.work.join("live.cpio.gz");
    live_system(&initramfs, INIT, &["sh", "mount", "echo", "mkdir", "rmdir", "cat"], cfg).unwrap();

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

// ---------------------------------------------------------------------------
// Boot filesystems that are not mounted: the live system's root is an ext4
// partition of a real GPT disk (mounted read-only, as a running system has
// it), its /boot and ESP are partitions of the same disk that nothing mounts.
// hopboot finds them through /etc/fstab or their GPT type and reads them from
// the block device; nothing is mounted and nothing written.

use hopboot_qemu::disk::{build_disk, Fs, Partition, Table};
use hopboot_qemu::vm::DiskAttach;

/// The live system's initramfs `/init`: loads the virtio and ext4 modules,
/// mounts the disk's root partition (vda3) read-only and runs its
/// `/live.sh` chrooted into it, so that `/` is a partition of the disk.
const LIVE_ROOT_INIT: &str = "#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /dev /sysroot
mount -t proc proc /proc
mount -t devtmpfs dev /dev
cd /lib/modules/*/ && for m in $(cat modules.order); do insmod $m; done
cd /
for i in $(seq 1 20); do [ -b /dev/vda3 ] && break; sleep 1; done
mount -t ext4 -o ro /dev/vda3 /sysroot || echo LIVE-ROOT-MOUNT-FAILED
mount -t proc proc /sysroot/proc
mount -t sysfs sys /sysroot/sys
mount -t devtmpfs dev /sysroot/dev
exec chroot /sysroot /bin/sh /live.sh
";

/// The filesystem UUID of the separate /boot in fstab.
const BOOT_UUID: &str = "7e3f0a52-8d1b-4c6e-9f20-3a4b5c6d7e8f";

/// `/live.sh` on the root partition: prints the mount table, runs `steps`
/// (hopboot probe, load…), prints the mount table again and whether it
/// changed, runs `then`, and boots what was loaded.
fn live_script(steps: &str, then: &str) -> String {
    format!(
        "#!/bin/sh
export PATH=/bin
echo LIVE-SYSTEM-UP
before=$(cat /proc/self/mountinfo)
echo MOUNTINFO-BEFORE; echo \"$before\"
{steps}
after=$(cat /proc/self/mountinfo)
echo MOUNTINFO-AFTER; echo \"$after\"
if [ \"$before\" = \"$after\" ]; then echo LIVE-MOUNTS-UNCHANGED; else echo LIVE-MOUNTS-CHANGED; fi
{then}
hopboot exec
echo LIVE-EXEC-FAILED
"
    )
}

/// A staging directory under `work` holding `files` (path → contents;
/// [`hopboot_tests::KERNEL`] and [`hopboot_tests::TARGET_INITRD`] stand for
/// the Debian kernel and the target initramfs).
fn staging(work: &std::path::Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let s = setup();
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match *content {
            hopboot_tests::KERNEL => {
                std::fs::copy(&s.kernel.vmlinuz, &p).unwrap();
            }
            hopboot_tests::TARGET_INITRD => hopboot_qemu::target::target_initramfs(&p).unwrap(),
            text => std::fs::write(&p, text).unwrap(),
        }
    }
    dir
}

/// The root partition's tree: busybox, hopboot, `fstab` as /etc/fstab,
/// `script` as /live.sh, and empty mount points.
fn root_tree(work: &std::path::Path, fstab: &str, script: &str) -> std::path::PathBuf {
    let dir = staging(work, "root", &[("etc/fstab", fstab), ("live.sh", script)]);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(busybox().unwrap(), dir.join("bin/busybox")).unwrap();
    let hopboot = hopboot_qemu::paths::musl_bin("hopboot").unwrap();
    std::fs::copy(hopboot, dir.join("bin/hopboot")).unwrap();
    for applet in ["sh", "cat", "mount", "umount", "sleep"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    for d in ["proc", "sys", "dev", "boot", "efi", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    dir
}

/// Boots the live system with `disk` (its root is partition 3) and returns
/// the serial transcript and the target's marker line; checks that the
/// disk image is byte for byte the same afterwards and that the mount
/// table was the same before and after hopboot ran.
fn boot_live(name: &str, disk: &std::path::Path) -> (String, String) {
    let s = setup();
    let work = s.work.join(name);
    let init = work.join("init");
    std::fs::write(&init, LIVE_ROOT_INIT).unwrap();
    let initramfs = work.join("live-root.cpio.gz");
    hopboot_image_build::build(&hopboot_image_build::Options {
        binary: init,
        modules_dir: Some(s.kernel.modules_dir.clone()),
        modules: ["virtio_blk", "virtio_pci", "crc32c_generic", "ext4"]
            .iter()
            .map(|m| m.to_string())
            .collect(),
        filesystems: Vec::new(),
        extra: vec![(busybox().unwrap(), "bin/busybox".to_string())],
        compression: Compression::Gzip,
        mtime: 0,
        output: initramfs.clone(),
    })
    .unwrap();
    let before = hopboot_qemu::disk::sha256_file(disk).unwrap();
    let cfg = VmConfig::new(&s.kernel.vmlinuz, &initramfs, "console=ttyS0 panic=-1").with_disk(DiskAttach::new(disk));
    let mut vm = Vm::spawn(&cfg).unwrap();
    vm.wait_for("LIVE-SYSTEM-UP", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", vm.transcript()));
    if let Err(e) = vm.wait_for(MARKER, BOOT_TIMEOUT) {
        panic!("{e:#}\n{}", vm.transcript());
    }
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    let t = vm.transcript();
    let marker = vm.lines().into_iter().find(|l| l.text.contains(MARKER)).unwrap();
    // The mount tables as the live system printed them, before and after hopboot ran.
    let table: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.contains("MOUNTINFO-BEFORE"))
        .filter(|l| l.contains("MOUNTINFO-") || l.contains(" - "))
        .collect();
    println!("{name}:\n{}", table.join("\n"));
    assert!(!t.contains("LIVE-ROOT-MOUNT-FAILED"), "{t}");
    assert!(t.contains("LIVE-MOUNTS-UNCHANGED"), "the mount table changed:\n{t}");
    // The mount table shows the root from the disk, and no boot partition.
    let mounts: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.contains("MOUNTINFO-AFTER"))
        .take_while(|l| !l.contains("LIVE-MOUNTS-"))
        .collect();
    assert!(
        mounts
            .iter()
            .any(|l| l.contains(" / / ro") && l.contains("ext4 /dev/vda3")),
        "{t}"
    );
    assert!(
        !mounts
            .iter()
            .any(|l| l.contains("/dev/vda1") || l.contains("/dev/vda2")),
        "{t}"
    );
    assert_eq!(
        hopboot_qemu::disk::sha256_file(disk).unwrap(),
        before,
        "the disk image changed"
    );
    (t, marker.text.trim().to_string())
}

/// How many lines of `t` contain `needle`.
fn count(t: &str, needle: &str) -> usize {
    t.lines().filter(|l| l.contains(needle)).count()
}

/// /boot is its own ext4 partition (type "Linux filesystem", so only fstab
/// says what it is), named in /etc/fstab by UUID and not mounted; the ESP is
/// /efi, named by a /dev/disk/by-label link that does not exist (no udev).
/// `hopboot probe` lists both once (the ESP is not listed again for its
/// type), and `hopboot load` + `exec` boots the kernel read from the
/// unmounted /boot, with that entry's command line. A /boot/efi whose
/// device is gone is reported.
#[test]
fn unmounted_boot_named_in_fstab_by_uuid_boots() {
    let s = setup();
    let v = &s.kernel.version;
    let work = s.work.join("fstab-uuid");
    std::fs::create_dir_all(&work).unwrap();
    let grub_cfg = format!(
        "set default=0\nmenuentry 'Fstab Boot' {{\n  linux /vmlinuz-{v} root=/dev/nothing ro console=ttyS0 from=fstab-uuid\n  initrd /initrd.img-{v}\n}}\n"
    );
    let kernel = format!("vmlinuz-{v}");
    let initrd = format!("initrd.img-{v}");
    let boot = staging(
        &work,
        "boot",
        &[
            ("grub/grub.cfg", &grub_cfg),
            (&kernel, hopboot_tests::KERNEL),
            (&initrd, hopboot_tests::TARGET_INITRD),
        ],
    );
    let esp = staging(
        &work,
        "esp",
        &[
            (
                "loader/entries/esp.conf",
                "title ESP Entry\nlinux /vmlinuz\noptions root=/dev/nothing from=esp\n",
            ),
            ("vmlinuz", hopboot_tests::KERNEL),
        ],
    );
    let fstab = format!(
        "# /etc/fstab: static file system information.\n\
         #\n\
         # <file system> <mount point>   <type>  <options>       <dump>  <pass>\n\
         /dev/vda3\t/\text4\tro\t0\t1\n\
         # /boot was on /dev/vda2 during installation\n\
         UUID=\"{BOOT_UUID}\" /boot           ext4    defaults,nofail 0       2\n\
         /dev/disk/by-label/EFISYS /efi vfat umask=0077 0 1\n\
         PARTLABEL=gone\\040esp /boot/efi vfat umask=0077,nofail 0 1\n\
         /dev/vda9 none swap sw 0 0\n\
         tmpfs /tmp tmpfs mode=1777 0 0\n"
    );
    let script = live_script(
        "hopboot probe\nif hopboot load 'Fstab Boot'; then echo LIVE-LOADED; fi",
        "",
    );
    let root = root_tree(&work, &fstab, &script);
    let disk = work.join("disk.img");
    build_disk(
        &disk,
        Table::Gpt,
        &[
            Partition::new(24, "ef00", Fs::Vfat)
                .with_label("EFISYS")
                .with_staging(&esp),
            Partition::new(
                48,
                "8300",
                Fs::Ext4 {
                    uuid: Some(BOOT_UUID.into()),
                },
            )
            .with_staging(&boot),
            Partition::new(16, "8300", Fs::Ext4 { uuid: None }).with_staging(&root),
        ],
    )
    .unwrap();
    let (t, marker) = boot_live("fstab-uuid", &disk);
    assert!(t.contains("LIVE-LOADED"), "{t}");
    assert_eq!(count(&t, "Fstab Boot  (grub, /boot (vda2, not mounted))"), 1, "{t}");
    // A /dev/disk/by-label link udev never made: the label, from the superblock.
    assert_eq!(count(&t, "ESP Entry  (bls, /efi (vda1, not mounted))"), 1, "{t}");
    assert_eq!(count(&t, "ESP Entry"), 1, "{t}");
    assert!(
        t.contains("error: /etc/fstab: /boot/efi: PARTLABEL=gone esp: no such device"),
        "{t}"
    );
    assert_eq!(
        marker,
        marker_line(&format!(
            "BOOT_IMAGE=/vmlinuz-{v} root=/dev/nothing ro console=ttyS0 from=fstab-uuid"
        ))
    );
}

/// No fstab line names a boot partition: the XBOOTLDR (ext4) and the ESP
/// (FAT) of the root's disk are found by their GPT types, read unmounted,
/// and the ESP's kernel boots. Once the XBOOTLDR partition is mounted at
/// /boot, it is listed once, as the mount.
#[test]
fn unmounted_xbootldr_and_esp_found_by_gpt_type_boot() {
    let s = setup();
    let v = &s.kernel.version;
    let work = s.work.join("gpt-type");
    std::fs::create_dir_all(&work).unwrap();
    let xbootldr = staging(
        &work,
        "xbootldr",
        &[
            (
                "loader/entries/x.conf",
                &format!("title XBOOTLDR Entry\nlinux /vmlinuz-{v}\noptions root=/dev/nothing from=xbootldr\n"),
            ),
            (&format!("vmlinuz-{v}"), hopboot_tests::KERNEL),
        ],
    );
    let esp = staging(
        &work,
        "esp",
        &[
            (
                "loader/entries/esp.conf",
                "title ESP Entry\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=/dev/nothing ro console=ttyS0 from=esp-gpt-type\n",
            ),
            ("vmlinuz", hopboot_tests::KERNEL),
            ("initrd.img", hopboot_tests::TARGET_INITRD),
        ],
    );
    let fstab = "# <file system> <mount point> <type> <options> <dump> <pass>\n/dev/vda3 / ext4 ro 0 1\n";
    let script = live_script(
        "hopboot probe\nif hopboot load 'ESP Entry'; then echo LIVE-LOADED; fi",
        "mount -t ext4 -o ro /dev/vda2 /boot && echo LIVE-BOOT-MOUNTED\nhopboot probe\numount /boot",
    );
    let root = root_tree(&work, fstab, &script);
    let disk = work.join("disk.img");
    build_disk(
        &disk,
        Table::Gpt,
        &[
            Partition::new(40, "ef00", Fs::Vfat).with_staging(&esp),
            Partition::new(24, "ea00", Fs::Ext4 { uuid: None }).with_staging(&xbootldr),
            Partition::new(16, "8300", Fs::Ext4 { uuid: None }).with_staging(&root),
        ],
    )
    .unwrap();
    let (t, marker) = boot_live("gpt-type", &disk);
    assert!(t.contains("LIVE-LOADED") && t.contains("LIVE-BOOT-MOUNTED"), "{t}");
    // Before the mount: both partitions, by type; after it: the mount, once.
    assert_eq!(count(&t, "ESP Entry  (bls, vda1 (ESP, not mounted))"), 2, "{t}");
    assert_eq!(
        count(&t, "XBOOTLDR Entry  (bls, vda2 (XBOOTLDR, not mounted))"),
        1,
        "{t}"
    );
    assert_eq!(count(&t, "XBOOTLDR Entry  (bls, /boot)"), 1, "{t}");
    assert_eq!(count(&t, "XBOOTLDR Entry"), 2, "{t}");
    assert_eq!(t.lines().filter(|l| l.starts_with("error: ")).count(), 0, "{t}");
    assert_eq!(
        marker,
        marker_line("root=/dev/nothing ro console=ttyS0 from=esp-gpt-type")
    );
}
