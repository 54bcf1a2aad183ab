//! The kernel-mount fallback, for filesystems the userspace readers cannot
//! read (btrfs, xfs, f2fs, ISO 9660, and ext4 with a feature or journal
//! ext4-view refuses): mounted read-only at
//! `/run/hopboot/mnt/<partition>`, with log replay off where the filesystem has
//! a journal (so a dirty journal is never written back), and unmounted
//! before kexec. Only PID 1 turns this on; elsewhere such a partition is
//! reported, not mounted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ENABLED: AtomicBool = AtomicBool::new(false);
static MOUNTED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Where fallback mounts go.
pub const MOUNT_DIR: &str = "/run/hopboot/mnt";

/// Allows kernel mounts (PID 1 only).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Whether kernel mounts are allowed.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// A filesystem type known by its superblock magic, with the mount options
/// that keep the device untouched. Bytes: (offset, magic).
struct Known {
    fstype: &'static str,
    offset: u64,
    magic: &'static [u8],
    /// `ro` is always set; these keep a journal/log from being replayed.
    data: &'static str,
    /// Offset of the 16-byte filesystem UUID, and of the label with its length.
    uuid: Option<u64>,
    label: Option<(u64, usize)>,
}

const KNOWN: &[Known] = &[
    // subvolid=5: the top-level tree, which is what GRUB's paths (/@/boot/…) name.
    Known {
        fstype: "btrfs",
        offset: 0x10040,
        magic: b"_BHRfS_M",
        data: "subvolid=5,rescue=nologreplay",
        uuid: Some(0x10020),
        label: Some((0x1012B, 256)),
    },
    Known {
        fstype: "xfs",
        offset: 0,
        magic: b"XFSB",
        data: "norecovery",
        uuid: Some(32),
        label: Some((108, 12)),
    },
    Known {
        fstype: "f2fs",
        offset: 0x400,
        magic: &[0x10, 0x20, 0xF5, 0xF2],
        data: "norecovery",
        uuid: Some(0x400 + 0x6C),
        label: None,
    },
    Known {
        fstype: "iso9660",
        offset: 0x8001,
        magic: b"CD001",
        data: "",
        uuid: None,
        label: Some((0x8028, 32)),
    },
    // Read in userspace first (fs::ext4); the kernel only gets what ext4-view
    // refuses. `noload`: the journal is not even loaded, so a dirty one is
    // never replayed.
    Known {
        fstype: "ext4",
        offset: 1024 + 0x38,
        magic: &[0x53, 0xEF],
        data: "noload",
        uuid: Some(1024 + 0x68),
        label: Some((1024 + 0x78, 16)),
    },
];

/// The mount options used for `fstype`, for the log: `ro` and the data options.
pub fn options(fstype: &str) -> String {
    let data = KNOWN.iter().find(|k| k.fstype == fstype).map(|k| k.data).unwrap_or("");
    if data.is_empty() {
        "ro".to_string()
    } else {
        format!("ro,{data}")
    }
}

/// The kernel filesystem type in `window`, when one is recognised.
pub fn probe(window: &crate::block::Window) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|k| {
            let mut b = vec![0u8; k.magic.len()];
            window.read_at(k.offset, &mut b).is_ok() && b == k.magic
        })
        .map(|k| k.fstype)
}

/// The UUID (lower case) and label a recognised filesystem's superblock gives.
pub fn identity(window: &crate::block::Window, fstype: &str) -> (Option<String>, Option<String>) {
    let Some(k) = KNOWN.iter().find(|k| k.fstype == fstype) else {
        return (None, None);
    };
    let uuid = k.uuid.and_then(|off| {
        let mut b = [0u8; 16];
        window.read_at(off, &mut b).ok()?;
        let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        Some(format!(
            "{}-{}-{}-{}-{}",
            h[..4].concat(),
            h[4..6].concat(),
            h[6..8].concat(),
            h[8..10].concat(),
            h[10..].concat()
        ))
    });
    let label = k.label.and_then(|(off, len)| {
        let mut b = vec![0u8; len];
        window.read_at(off, &mut b).ok()?;
        let s = String::from_utf8_lossy(&b).trim_end_matches(['\0', ' ']).to_string();
        (!s.is_empty()).then_some(s)
    });
    (uuid, label)
}

/// Marks the block device `dev` read-only in the kernel (see
/// [`crate::sys::block_set_readonly`]): a filesystem mounted from it then
/// cannot write even where a read-only mount would (ext4's orphan cleanup).
pub fn lock_readonly(dev: &Path) -> Result<(), String> {
    let f = std::fs::File::open(dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    crate::sys::block_set_readonly(&f).map_err(|e| format!("{}: cannot set it read-only: {e}", dev.display()))
}

/// Mounts `dev` read-only at MOUNT_DIR/`name` and returns the mount point.
/// The device itself is marked read-only first, where the kernel allows.
pub fn mount_ro(dev: &Path, name: &str, fstype: &str) -> Result<PathBuf, String> {
    use nix::mount::{mount, MsFlags};
    if let Err(e) = lock_readonly(dev) {
        log::warn!("{e}; relying on the read-only mount alone");
    }
    let data = KNOWN.iter().find(|k| k.fstype == fstype).map(|k| k.data).unwrap_or("");
    let target = Path::new(MOUNT_DIR).join(name.replace('/', "_"));
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let data_opt = (!data.is_empty()).then_some(data);
    mount(Some(dev), &target, Some(fstype), flags, data_opt).map_err(|e| {
        format!(
            "mount {} on {} (type {fstype}, flags {flags:?}, data {data:?}): {}",
            dev.display(),
            target.display(),
            e.desc()
        )
    })?;
    if let Ok(mut m) = MOUNTED.lock() {
        m.push(target.clone());
    }
    Ok(target)
}

/// Unmounts everything [`mount_ro`] mounted (before kexec, or a rescan).
pub fn unmount_all() {
    let list = MOUNTED.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default();
    for t in list.iter().rev() {
        if let Err(e) = nix::mount::umount2(t, nix::mount::MntFlags::MNT_DETACH) {
            log::warn!("umount {}: {}", t.display(), e.desc());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_types_have_read_only_recovery_options() {
        for k in super::KNOWN {
            if k.fstype != "iso9660" {
                assert!(
                    k.data.contains("norecovery") || k.data.contains("nologreplay") || k.data.contains("noload"),
                    "{}",
                    k.fstype
                );
            }
        }
    }
}
