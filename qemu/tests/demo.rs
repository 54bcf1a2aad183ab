//! Demo disks, built with a stand-in kernel file and read back with debugfs.
//!
//! Needs the musl build of hopboot-target-init (`make build`) for the initrds;
//! without it the test fails and says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use hopboot_qemu::demo::{self, Demo, SCAN_OLD_VERSION};
use hopboot_qemu::disk;
use hopboot_qemu::kernel::Kernel;
use hopboot_qemu::paths;
use hopboot_qemu::target::{self, TARGET_INIT_BIN};

const VERSION: &str = "6.1.0-56-amd64";

fn debugfs(image: &Path, request: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", request])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Names in a directory of the ext4 image, sorted, without `.` and `..`.
fn ls(image: &Path, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = debugfs(image, &format!("ls -p {dir}"))
        .lines()
        .filter_map(|l| l.split('/').nth(5).map(str::to_owned))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect();
    names.sort();
    names
}

#[test]
fn demo_disks_have_the_promised_trees() {
    if let Err(err) = paths::musl_bin(TARGET_INIT_BIN) {
        panic!("{err:#} (the Makefile builds it before the tests)");
    }
    let dir: PathBuf = paths::target_dir()
        .unwrap()
        .join("qemu-tests")
        .join(format!("demo-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let modules = dir.join(format!("kernel/lib/modules/{VERSION}"));
    fs::create_dir_all(&modules).unwrap();
    fs::create_dir_all(dir.join("kernel/boot")).unwrap();
    let vmlinuz = dir.join(format!("kernel/boot/vmlinuz-{VERSION}"));
    fs::write(&vmlinuz, b"stand-in bzImage").unwrap();
    let kernel = Kernel {
        version: VERSION.into(),
        vmlinuz,
        modules_dir: modules,
    };
    let initrd = target::target_initramfs_bytes().unwrap();

    for variant in Demo::ALL {
        let out = dir.join(format!("{variant}.img"));
        let info = demo::demo_disk(&out, &kernel, variant).unwrap();
        assert_eq!(info.disk, out);
        assert_eq!(info.fs_uuid, variant.fs_uuid());
        let (extents, _) = disk::layout(&[disk::Partition::new(demo::PARTITION_MIB, "8300", disk::Fs::None)]).unwrap();
        let part = dir.join(format!("{variant}.ext4"));
        disk::extract(&out, extents[0], &part).unwrap();
        let uuid = variant.fs_uuid();
        assert!(debugfs(&part, "stats").contains(&format!("Filesystem UUID:          {uuid}")));
        assert_eq!(debugfs(&part, "cat /etc/hostname"), format!("hopboot-demo-{variant}\n"));

        match variant {
            Demo::Grub => {
                assert_eq!(
                    ls(&part, "/boot"),
                    ["grub", &format!("initrd.img-{VERSION}"), &format!("vmlinuz-{VERSION}")]
                );
                assert_eq!(debugfs(&part, "cat /boot/grub/grub.cfg"), demo::grub_cfg(uuid, VERSION));
                assert_eq!(
                    info.expected_cmdline,
                    format!("root=UUID={uuid} ro console=ttyS0 hopboot.demo=grub-default")
                );
                assert_eq!(info.expected_kernel, format!("/boot/vmlinuz-{VERSION}"));
                assert_eq!(
                    debugfs(&part, &format!("cat /boot/vmlinuz-{VERSION}")),
                    "stand-in bzImage"
                );
                let got = dir.join("initrd.out");
                debugfs(&part, &format!("dump /boot/initrd.img-{VERSION} {}", got.display()));
                assert_eq!(fs::read(&got).unwrap(), initrd);
            }
            Demo::Scan => {
                assert_eq!(
                    ls(&part, "/boot"),
                    [
                        format!("initrd.img-{VERSION}"),
                        format!("initrd.img-{SCAN_OLD_VERSION}"),
                        format!("vmlinuz-{VERSION}"),
                        format!("vmlinuz-{SCAN_OLD_VERSION}"),
                    ]
                );
                assert_eq!(
                    debugfs(&part, "cat /etc/kernel/cmdline"),
                    format!("{}\n", info.expected_cmdline)
                );
                assert_eq!(
                    info.expected_cmdline,
                    format!("root=UUID={uuid} ro console=ttyS0 hopboot.demo=scan")
                );
                assert_eq!(
                    info.kernels,
                    [
                        format!("/boot/vmlinuz-{SCAN_OLD_VERSION}"),
                        format!("/boot/vmlinuz-{VERSION}")
                    ]
                );
                assert_eq!(info.expected_kernel, info.kernels[1]);
            }
            Demo::Empty => {
                assert_eq!(ls(&part, "/boot"), Vec::<String>::new());
                assert_eq!(info.expected_cmdline, "");
                assert!(info.kernels.is_empty());
            }
        }
    }

    // A kernel older than the Scan demo's "old" one cannot demonstrate "newest wins".
    let old = Kernel {
        version: "5.10.0-1-amd64".into(),
        ..kernel
    };
    let err = format!(
        "{:#}",
        demo::demo_disk(&dir.join("bad.img"), &old, Demo::Scan).unwrap_err()
    );
    assert!(err.contains("newer than"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
