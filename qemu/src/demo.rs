//! Ready-made test disks: one GPT disk with one ext4 partition holding a Debian-like
//! root filesystem, in a few variants hopboot must handle.
//!
//! Every variant has a fixed filesystem UUID, so the kernel command lines (and the
//! `HOPBOOT-TARGET-MARKER cmdline=…` line the booted target prints) are known in
//! advance. The initrds are the [`crate::target`] initramfs.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, ensure, Context, Result};

use crate::disk::{self, Fs, Partition, Table};
use crate::kernel::Kernel;
use crate::target;
use crate::tmp::TempDir;

/// Size of the demo disks' only partition.
pub const PARTITION_MIB: u64 = 128;
/// The older of the two kernels on the [`Demo::Scan`] disk.
pub const SCAN_OLD_VERSION: &str = "6.1.0-9-amd64";

/// Which demo disk to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demo {
    /// `/boot/grub/grub.cfg` as Debian's grub-mkconfig writes it: a default entry and
    /// a recovery entry for the same kernel.
    Grub,
    /// No boot config: two kernels in `/boot` (the newer must win) and
    /// `/etc/kernel/cmdline`.
    Scan,
    /// `/etc/hostname` and an empty `/boot`: nothing to boot.
    Empty,
}

impl Demo {
    /// All variants.
    pub const ALL: [Demo; 3] = [Demo::Grub, Demo::Scan, Demo::Empty];

    /// The variant's name on the command line: `grub`, `scan`, `empty`.
    pub fn name(self) -> &'static str {
        match self {
            Demo::Grub => "grub",
            Demo::Scan => "scan",
            Demo::Empty => "empty",
        }
    }

    /// The fixed ext4 UUID of the variant's partition.
    pub fn fs_uuid(self) -> &'static str {
        match self {
            Demo::Grub => "4b0b0057-0000-4000-8000-000000000001",
            Demo::Scan => "4b0b0057-0000-4000-8000-000000000002",
            Demo::Empty => "4b0b0057-0000-4000-8000-000000000003",
        }
    }
}

impl fmt::Display for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Demo {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match Demo::ALL.into_iter().find(|d| d.name() == s) {
            Some(d) => Ok(d),
            None => bail!("unknown demo variant {s:?} (expected grub, scan or empty)"),
        }
    }
}

/// What a demo disk contains and what booting it must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoInfo {
    /// The disk image.
    pub disk: PathBuf,
    /// UUID of its ext4 filesystem.
    pub fs_uuid: String,
    /// Command line of the entry that must boot by default, as written in the config
    /// (`/proc/cmdline` of the target shows it, possibly after a `BOOT_IMAGE=` that a
    /// GRUB-compatible loader prepends). Empty for [`Demo::Empty`].
    pub expected_cmdline: String,
    /// Path inside the filesystem of the kernel that must boot by default, e.g.
    /// `/boot/vmlinuz-6.1.0-56-amd64`. Empty for [`Demo::Empty`].
    pub expected_kernel: String,
    /// Every kernel path inside the filesystem, oldest first.
    pub kernels: Vec<String>,
}

/// Builds the `variant` demo disk at `out` with `kernel` as its kernel(s).
///
/// Needs the musl build of `hopboot-target-init` for the initrds (`make build`).
pub fn demo_disk(out: &Path, kernel: &Kernel, variant: Demo) -> Result<DemoInfo> {
    let uuid = variant.fs_uuid();
    let ver = &kernel.version;
    let staging = TempDir::beside(out, "staging")?;
    let root = staging.path();
    let boot = root.join("boot");
    mkdir(&boot)?;
    mkdir(&root.join("etc"))?;
    write(&root.join("etc/hostname"), format!("hopboot-demo-{variant}\n"))?;

    let mut info = DemoInfo {
        disk: out.to_path_buf(),
        fs_uuid: uuid.to_owned(),
        expected_cmdline: String::new(),
        expected_kernel: String::new(),
        kernels: Vec::new(),
    };
    match variant {
        Demo::Grub => {
            let initrd = target::target_initramfs_bytes()?;
            install_kernel(root, kernel, ver, &initrd)?;
            mkdir(&boot.join("grub"))?;
            write(&boot.join("grub/grub.cfg"), grub_cfg(uuid, ver))?;
            info.expected_cmdline = grub_cmdline(uuid, "grub-default", false);
            info.expected_kernel = format!("/boot/vmlinuz-{ver}");
            info.kernels = vec![info.expected_kernel.clone()];
        }
        Demo::Scan => {
            ensure!(
                crate::version::compare(ver, SCAN_OLD_VERSION).is_gt(),
                "the Scan demo needs a kernel newer than {SCAN_OLD_VERSION}, got {ver}"
            );
            let initrd = target::target_initramfs_bytes()?;
            install_kernel(root, kernel, SCAN_OLD_VERSION, &initrd)?;
            install_kernel(root, kernel, ver, &initrd)?;
            mkdir(&root.join("etc/kernel"))?;
            info.expected_cmdline = format!("root=UUID={uuid} ro console=ttyS0 hopboot.demo=scan");
            write(&root.join("etc/kernel/cmdline"), format!("{}\n", info.expected_cmdline))?;
            info.expected_kernel = format!("/boot/vmlinuz-{ver}");
            info.kernels = vec![
                format!("/boot/vmlinuz-{SCAN_OLD_VERSION}"),
                info.expected_kernel.clone(),
            ];
        }
        Demo::Empty => {}
    }

    let part = Partition {
        label: Some(format!("demo-{variant}")),
        staging: Some(root.to_path_buf()),
        ..Partition::new(
            PARTITION_MIB,
            "8300",
            Fs::Ext4 {
                uuid: Some(uuid.to_owned()),
            },
        )
    };
    disk::build_disk(out, Table::Gpt, &[part])?;
    Ok(info)
}

/// Copies the kernel to `/boot/vmlinuz-<as_version>` and writes the initrd as
/// `/boot/initrd.img-<as_version>`, the Debian names.
fn install_kernel(root: &Path, kernel: &Kernel, as_version: &str, initrd: &[u8]) -> Result<()> {
    let dst = root.join(format!("boot/vmlinuz-{as_version}"));
    fs::copy(&kernel.vmlinuz, &dst)
        .with_context(|| format!("copying {} to {}", kernel.vmlinuz.display(), dst.display()))?;
    write(&root.join(format!("boot/initrd.img-{as_version}")), initrd)
}

fn grub_cmdline(uuid: &str, demo: &str, single: bool) -> String {
    let single = if single { " single" } else { "" };
    format!("root=UUID={uuid} ro{single} console=ttyS0 hopboot.demo={demo}")
}

/// A `grub.cfg` shaped like Debian 12's grub-mkconfig output (header, `load_video`
/// function, `$menuentry_id_option`, tab-indented entries) with two entries for
/// kernel `version` on the filesystem `uuid`: the default (`hopboot.demo=grub-default`)
/// and recovery mode (`single … hopboot.demo=grub-recovery`).
pub fn grub_cfg(uuid: &str, version: &str) -> String {
    let entry = |title: &str, id: &str, cmdline: &str, loading: &str| {
        format!(
            "menuentry '{title}' --class debian --class gnu-linux --class gnu --class os \
             $menuentry_id_option '{id}' {{\n\
             \tload_video\n\
             \tinsmod gzio\n\
             \tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi\n\
             \tinsmod part_gpt\n\
             \tinsmod ext2\n\
             \tsearch --no-floppy --fs-uuid --set=root {uuid}\n\
             \techo\t'{loading}'\n\
             \tlinux\t/boot/vmlinuz-{version} {cmdline}\n\
             \techo\t'Loading initial ramdisk ...'\n\
             \tinitrd\t/boot/initrd.img-{version}\n\
             }}\n"
        )
    };
    let default = entry(
        "Debian GNU/Linux",
        &format!("gnulinux-simple-{uuid}"),
        &grub_cmdline(uuid, "grub-default", false),
        &format!("Loading Linux {version} ..."),
    );
    let recovery = entry(
        "Debian GNU/Linux (recovery mode)",
        &format!("gnulinux-{version}-recovery-{uuid}"),
        &grub_cmdline(uuid, "grub-recovery", true),
        &format!("Loading Linux {version} ..."),
    );
    format!(
        "#\n\
         # DO NOT EDIT THIS FILE\n\
         #\n\
         # It is automatically generated by grub-mkconfig using templates\n\
         # from /etc/grub.d and settings from /etc/default/grub\n\
         #\n\
         \n\
         ### BEGIN /etc/grub.d/00_header ###\n\
         set default=0\n\
         \n\
         if [ x\"${{feature_menuentry_id}}\" = xy ]; then\n\
         \x20 menuentry_id_option=\"--id\"\n\
         else\n\
         \x20 menuentry_id_option=\"\"\n\
         fi\n\
         \n\
         export menuentry_id_option\n\
         \n\
         function load_video {{\n\
         \x20 if [ x$feature_all_video_module = xy ]; then\n\
         \x20   insmod all_video\n\
         \x20 else\n\
         \x20   insmod efi_gop\n\
         \x20   insmod efi_uga\n\
         \x20   insmod ieee1275_fb\n\
         \x20   insmod vbe\n\
         \x20   insmod vga\n\
         \x20   insmod video_bochs\n\
         \x20   insmod video_cirrus\n\
         \x20 fi\n\
         }}\n\
         \n\
         terminal_output console\n\
         set timeout=5\n\
         ### END /etc/grub.d/00_header ###\n\
         \n\
         ### BEGIN /etc/grub.d/10_linux ###\n\
         {default}\
         {recovery}\
         \n\
         ### END /etc/grub.d/10_linux ###\n"
    )
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn write(path: &Path, data: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Demo::ALL {
            assert_eq!(d.name().parse::<Demo>().unwrap(), d);
        }
        let err = "grubb".parse::<Demo>().unwrap_err().to_string();
        assert!(err.contains("grubb"), "{err}");
    }

    #[test]
    fn grub_cfg_has_both_entries() {
        let cfg = grub_cfg("U", "6.1.0-56-amd64");
        assert!(cfg.contains("set default=0\n"));
        assert!(cfg.contains("set timeout=5\n"));
        assert!(cfg.contains(
            "menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os \
             $menuentry_id_option 'gnulinux-simple-U' {\n"
        ));
        assert!(cfg.contains(
            "\tlinux\t/boot/vmlinuz-6.1.0-56-amd64 root=UUID=U ro console=ttyS0 hopboot.demo=grub-default\n"
        ));
        assert!(cfg.contains(
            "\tlinux\t/boot/vmlinuz-6.1.0-56-amd64 root=UUID=U ro single console=ttyS0 hopboot.demo=grub-recovery\n"
        ));
        assert!(cfg.contains("\tinitrd\t/boot/initrd.img-6.1.0-56-amd64\n"));
        assert!(cfg.contains("\tsearch --no-floppy --fs-uuid --set=root U\n"));
        assert_eq!(cfg.matches("menuentry '").count(), 2);
        assert_eq!(cfg.matches('{').count(), cfg.matches('}').count());
    }
}
