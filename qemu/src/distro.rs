//! A real Debian 12 installation on a GPT disk, for `make test-distro`.
//!
//! `scripts/build-distro-rootfs.sh` (root: debootstrap and chroot) installs bookworm with
//! its kernel, initramfs-tools, systemd and GRUB's tools into a directory, and runs the
//! installed system's own `update-initramfs` and `grub-mkconfig` there (see the script).
//! [`distro_disk`] then makes that directory the ext4 root of a one-partition GPT disk
//! with [`crate::disk::build_disk`] (`mkfs.ext4 -d`, `sgdisk`: no loop devices, no
//! mounts), with the filesystem UUID and partition GUID the script told GRUB about.
//!
//! Cache (`target/distro/cache/`): the downloaded .debs and a tarball of the
//! debootstrapped base; only the first build downloads and installs packages. Delete
//! the directory to pick up a newer bookworm.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::disk::{self, Fs, Partition, Table};
use crate::kernel::Kernel;
use crate::paths;

/// The root filesystem's UUID (`mkfs.ext4 -U`), as the stand-in grub-probe reports it.
pub const FS_UUID: &str = "5d1a8b2e-0c4f-4e3b-9a6d-44f15720a001";
/// The root partition's GPT unique GUID, as the stand-in grub-probe reports it.
pub const PART_UUID: &str = "8e7c7f53-2a61-4a39-b8c4-44f15720a001";
/// The script that builds the root filesystem, relative to the workspace root.
pub const SCRIPT: &str = "scripts/build-distro-rootfs.sh";
/// The GPT partition name (and ext4 label) of the root partition.
pub const LABEL: &str = "debian12-root";

/// The built disk and what the tests compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistroDisk {
    /// The raw disk image.
    pub disk: PathBuf,
    /// The root filesystem's UUID.
    pub fs_uuid: String,
    /// The root partition's GPT unique GUID.
    pub part_uuid: String,
    /// `/boot/grub/grub.cfg` exactly as the installed system's `grub-mkconfig` wrote it.
    pub grub_cfg: String,
    /// The installed kernel's release (`/boot/vmlinuz-<release>`).
    pub kernel_version: String,
    /// Size of `/boot/initrd.img-<release>` (the installed system's own initramfs).
    pub initrd_bytes: u64,
    /// Size of the root partition.
    pub partition_mib: u64,
    /// Time spent in the script (debootstrap on a cold cache, then the install stage).
    pub rootfs_time: Duration,
    /// Time spent building the disk image from the directory (mkfs.ext4 -d, sgdisk).
    pub image_time: Duration,
    /// The installed tree the image was made from (kept for [`layout_disk`]).
    pub rootfs: PathBuf,
}

/// `<target dir>/distro`: the cache, the staging directory and the default image path.
pub fn distro_dir() -> Result<PathBuf> {
    Ok(paths::target_dir()?.join("distro"))
}

/// Which boot packages the installation holds ([`SCRIPT`]'s BOOT argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// GRUB's tools only (grub-mkconfig); no boot loader installed.
    Bios,
    /// Also systemd-boot and GRUB for UEFI (grub-efi-amd64, signed, with shim), and an
    /// ESP tree in `/boot/efi` as `bootctl install` and `kernel-install` make it
    /// (for [`Layout::EspSystemdBoot`] and [`Layout::EspGrub`]).
    Uefi,
    /// Like [`Boot::Bios`], with systemd 254 from bookworm-backports in place of 252.
    BiosSystemdBackports,
}

/// Builds the Debian 12 disk at `out` (replacing it), with the cache in
/// `<target dir>/distro/cache`. Needs root; the script's progress goes to stderr.
pub fn distro_disk(out: &Path) -> Result<DistroDisk> {
    distro_disk_for(out, Boot::Bios)
}

/// [`distro_disk`] with the boot packages of `boot`.
pub fn distro_disk_for(out: &Path, boot: Boot) -> Result<DistroDisk> {
    let dir = distro_dir()?;
    let cache = dir.join("cache");
    let staging = out.with_extension("rootfs");
    let script = paths::workspace_root()?.join(SCRIPT);
    ensure!(script.is_file(), "{} is missing", script.display());

    let started = Instant::now();
    let mut cmd = Command::new(&script);
    cmd.arg(&cache).arg(&staging).arg(FS_UUID).arg(PART_UUID);
    cmd.args(match boot {
        Boot::Bios => ["bios", "stable"],
        Boot::Uefi => ["uefi", "stable"],
        Boot::BiosSystemdBackports => ["bios", "backports"],
    });
    let status = cmd.status().with_context(|| format!("running {}", script.display()))?;
    ensure!(
        status.success(),
        "{} failed ({status}); it needs root, debootstrap and the Debian mirror",
        script.display()
    );
    let rootfs_time = started.elapsed();

    // The directory stays (`DistroDisk::rootfs`): [`layout_disk`] derives other
    // layouts of the same installation from it.
    image_from_rootfs(out, &staging, rootfs_time)
}

fn image_from_rootfs(out: &Path, rootfs: &Path, rootfs_time: Duration) -> Result<DistroDisk> {
    let started = Instant::now();
    let grub_path = rootfs.join("boot/grub/grub.cfg");
    let grub_cfg = fs::read_to_string(&grub_path).with_context(|| format!("reading {}", grub_path.display()))?;
    let kernel = Kernel::from_dir(rootfs).context("finding the installed kernel")?;
    let initrd = rootfs.join(format!("boot/initrd.img-{}", kernel.version));
    let initrd_bytes = fs::metadata(&initrd)
        .with_context(|| format!("{} is missing", initrd.display()))?
        .len();

    let partition_mib = partition_size_mib(rootfs)?;
    let part = Partition {
        part_uuid: Some(PART_UUID.to_owned()),
        ..Partition::new(
            partition_mib,
            "8300",
            Fs::Ext4 {
                uuid: Some(FS_UUID.to_owned()),
            },
        )
        .with_label(LABEL)
        .with_staging(rootfs)
    };
    disk::build_disk(out, Table::Gpt, &[part])?;
    Ok(DistroDisk {
        disk: out.to_path_buf(),
        fs_uuid: FS_UUID.to_owned(),
        part_uuid: PART_UUID.to_owned(),
        grub_cfg,
        kernel_version: kernel.version,
        initrd_bytes,
        partition_mib,
        rootfs_time,
        image_time: started.elapsed(),
        rootfs: rootfs.to_path_buf(),
    })
}

/// The /boot filesystem's UUID in [`Layout::SeparateBoot`].
pub const BOOT_FS_UUID: &str = "5d1a8b2e-0c4f-4e3b-9a6d-44f15720b007";

/// The ESP's filesystem UUID (vfat volume id) in the ESP layouts: it is partition 1,
/// so [`crate::disk::VFAT_VOLUME_ID_BASE`] + 1.
pub const ESP_FS_UUID: &str = "4842-0001";

/// Where the installed system keeps /boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// /boot is a directory of the root filesystem (what [`distro_disk`] builds).
    RootBoot,
    /// /boot is its own ext4 partition (the second), in /etc/fstab by UUID.
    SeparateBoot,
    /// UEFI with systemd-boot: the ESP (vfat, GPT type EF00, partition 1) mounted at
    /// /boot/efi (in /etc/fstab by UUID) holds systemd-boot, loader.conf and the type #1
    /// entry with its kernel and initrd, as `bootctl install` and `kernel-install` wrote
    /// them; / is partition 2, /boot a directory of it, without a grub.cfg. Needs a base
    /// built with [`Boot::Uefi`].
    EspSystemdBoot,
    /// UEFI with GRUB: the same ESP at /boot/efi, empty (the installed system runs
    /// `grub-install` itself, as Debian's installer does); grub.cfg in /boot/grub on /.
    /// Needs a base built with [`Boot::Uefi`].
    EspGrub,
}

impl Layout {
    /// Whether the ESP is partition 1 (and / partition 2).
    pub fn has_esp(self) -> bool {
        matches!(self, Layout::EspSystemdBoot | Layout::EspGrub)
    }

    /// The mount point of the boot filesystem the kexec tests unmount by hand: /boot
    /// (not a mount point in [`Layout::RootBoot`]), or the ESP (with GRUB it holds
    /// only the grub.cfg that sends GRUB on to /boot/grub on /).
    pub fn boot_mount(self) -> &'static str {
        match self {
            Layout::RootBoot | Layout::SeparateBoot => "/boot",
            Layout::EspSystemdBoot | Layout::EspGrub => "/boot/efi",
        }
    }
}

/// A disk derived from a built installation, and what booting it directly needs.
#[derive(Debug, Clone)]
pub struct LayoutDisk {
    /// The raw disk image.
    pub disk: PathBuf,
    /// The installed kernel and initrd, copied out for QEMU's -kernel/-initrd.
    pub kernel: PathBuf,
    /// The installed system's own initramfs.
    pub initrd: PathBuf,
}

/// Builds `out` from `base`'s installed tree in `layout`, with `files` (path in the
/// installed system, contents, mode) and `links` (path, target) added and `remove`
/// (paths) taken away; the
/// tree itself is left as it is (the copy is made of hard links, and every changed
/// file is replaced, never written in place).
pub fn layout_disk(
    out: &Path,
    base: &DistroDisk,
    layout: Layout,
    files: &[(&str, Vec<u8>, u32)],
    links: &[(&str, &str)],
    remove: &[&str],
) -> Result<LayoutDisk> {
    use std::os::unix::fs::PermissionsExt;
    let work = out.with_extension("rootfs");
    let _ = fs::remove_dir_all(&work);
    let status = Command::new("cp").arg("-al").arg(&base.rootfs).arg(&work).status()?;
    ensure!(
        status.success(),
        "cp -al {} {} failed",
        base.rootfs.display(),
        work.display()
    );
    let inside = |p: &str| work.join(p.trim_start_matches('/'));
    for p in remove {
        let p = inside(p);
        if p.is_dir() {
            fs::remove_dir_all(&p)?;
        } else if p.symlink_metadata().is_ok() {
            fs::remove_file(&p)?;
        }
    }
    let mut fstab = fs::read_to_string(inside("etc/fstab"))?;
    if layout == Layout::SeparateBoot {
        fstab.push_str(&format!("UUID={BOOT_FS_UUID} /boot ext4 defaults 0 2\n"));
    }
    if layout.has_esp() {
        ensure!(
            inside("boot/efi/loader/loader.conf").is_file(),
            "{} has no ESP tree (boot/efi/loader): build it with Boot::Uefi",
            base.rootfs.display()
        );
        // As Debian's installer writes it.
        fstab.push_str(&format!("UUID={ESP_FS_UUID} /boot/efi vfat umask=0077 0 1\n"));
    }
    if layout == Layout::EspSystemdBoot {
        // systemd-boot's system: no GRUB menu to prefer over its entries.
        fs::remove_file(inside("boot/grub/grub.cfg"))?;
    }
    let mut all: Vec<(&str, Vec<u8>, u32)> = vec![("/etc/fstab", fstab.into_bytes(), 0o644)];
    all.extend(files.iter().cloned());
    for (path, bytes, mode) in &all {
        let p = inside(path);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir)?;
        }
        // A hard link to the base tree: replace, never write through it.
        let _ = fs::remove_file(&p);
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode))?;
    }
    for (path, target) in links {
        let p = inside(path);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p).with_context(|| format!("linking {}", p.display()))?;
    }
    let kernel = out.with_extension("vmlinuz");
    let initrd = out.with_extension("initrd");
    fs::copy(inside(&format!("boot/vmlinuz-{}", base.kernel_version)), &kernel)?;
    fs::copy(inside(&format!("boot/initrd.img-{}", base.kernel_version)), &initrd)?;
    let root_part = |mib| Partition {
        part_uuid: Some(PART_UUID.to_owned()),
        ..Partition::new(
            mib,
            "8300",
            Fs::Ext4 {
                uuid: Some(FS_UUID.to_owned()),
            },
        )
        .with_label(LABEL)
        .with_staging(&work)
    };
    let parts = match layout {
        Layout::RootBoot => vec![root_part(partition_size_mib(&work)?)],
        Layout::SeparateBoot => {
            // /boot's contents move to their own filesystem; the mount point stays, empty.
            let boot = out.with_extension("boot");
            let _ = fs::remove_dir_all(&boot);
            fs::rename(inside("boot"), &boot)?;
            fs::create_dir(inside("boot"))?;
            let boot_mib = partition_size_mib(&boot)?;
            vec![
                root_part(partition_size_mib(&work)?),
                Partition::new(
                    boot_mib,
                    "8300",
                    Fs::Ext4 {
                        uuid: Some(BOOT_FS_UUID.to_owned()),
                    },
                )
                .with_label("debian12-boot")
                .with_staging(&boot),
            ]
        }
        Layout::EspSystemdBoot | Layout::EspGrub => {
            // /boot/efi's contents move to the ESP (for GRUB: none, grub-install runs
            // in the installed system); the mount point stays, empty.
            let esp = out.with_extension("esp");
            let _ = fs::remove_dir_all(&esp);
            fs::rename(inside("boot/efi"), &esp)?;
            fs::create_dir(inside("boot/efi"))?;
            if layout == Layout::EspGrub {
                fs::remove_dir_all(&esp)?;
                fs::create_dir(&esp)?;
            }
            let esp_mib = partition_size_mib(&esp)?;
            vec![
                Partition::new(esp_mib, "ef00", Fs::Vfat)
                    .with_label("ESP")
                    .with_staging(&esp),
                root_part(partition_size_mib(&work)?),
            ]
        }
    };
    disk::build_disk(out, Table::Gpt, &parts)?;
    for p in [work, out.with_extension("boot"), out.with_extension("esp")] {
        let _ = fs::remove_dir_all(p);
    }
    Ok(LayoutDisk {
        disk: out.to_path_buf(),
        kernel,
        initrd,
    })
}

/// Room for the tree (`du`) plus half again and 256 MiB for the running system's
/// journal and logs, in whole 64 MiB steps.
fn partition_size_mib(rootfs: &Path) -> Result<u64> {
    let out = Command::new("du")
        .args(["-s", "-x", "--block-size=1M"])
        .arg(rootfs)
        .output()
        .context("running du")?;
    ensure!(out.status.success(), "du -s {} failed", rootfs.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let used: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected du output {text:?}"))?;
    let want = used.saturating_mul(3) / 2 + 256;
    Ok(want.div_ceil(64) * 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::MIB;

    #[test]
    fn partition_size_has_headroom() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("distro-size"), "t").unwrap();
        fs::write(dir.path().join("f"), vec![1u8; 3 * MIB as usize]).unwrap();
        let mib = partition_size_mib(dir.path()).unwrap();
        assert_eq!(mib % 64, 0);
        assert!(mib >= 256 + 3, "{mib}");
        assert!(partition_size_mib(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn uuids_are_lowercase_uuids() {
        for u in [FS_UUID, PART_UUID] {
            let groups: Vec<usize> = u.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{u}");
            assert!(u
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }
}
