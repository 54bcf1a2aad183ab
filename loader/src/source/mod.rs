//! Sources of volumes: where the filesystems that formats read come from.
//!
//! - [`disk`]: block devices and disk images → partition tables → a
//!   userspace reader (ext4, FAT) per partition, or the read-only kernel
//!   mount for what those cannot read (btrfs, xfs, ext4 with a journal
//!   ext4-view refuses…);
//! - [`dir`]: a directory given on the command line, as one filesystem;
//! - [`live`]: the running system's `/`, `/boot` and ESP, mounted or not
//!   (then found through [`fstab`] and the GPT types of the root's disks,
//!   [`sysfs`] naming the devices, and read like a [`disk`]'s partitions);
//! - [`threaded`]: PID 1's way to use [`disk`]: each disk opened and read on
//!   a thread of its own, with a deadline on every answer.
//!
//! A source never acts on the machine by itself: what it needs done (load a
//! filesystem module, lock a partition read-only, mount it) it asks of the
//! [`Machine`] it is given. PID 1 passes one that does it; the CLI passes
//! [`NoMachine`], which refuses, so `hopboot probe` reports such a
//! partition instead of mounting it. Unmounting is the machine's business
//! too, on the same side as mounting.
//!
//! A network source (files fetched, not read from a filesystem) fits the
//! same shape: a [`crate::model::Volume`] whose [`crate::fs::FsView`]
//! fetches.

pub mod dir;
pub mod disk;
pub mod fstab;
pub mod kernel_fs;
pub mod live;
pub mod sysfs;
pub mod threaded;

use std::path::{Path, PathBuf};

/// What a source may ask of the machine it runs on.
pub trait Machine {
    /// Whether this machine mounts at all; when not, the kernel-mount
    /// fallback is reported, not tried.
    fn can_mount(&self) -> bool;
    /// Loads the kernel modules filesystem `fstype` needs; returns the
    /// modules it loaded (none when built in or already loaded).
    fn load_filesystem(&self, fstype: &str) -> Result<Vec<String>, MachineError>;
    /// Marks block device `dev` read-only in the kernel (`BLKROSET`).
    fn lock_readonly(&self, dev: &Path) -> Result<(), MachineError>;
    /// Mounts `dev` read-only (`fstype`, with `data` options) for partition
    /// `name`; returns where.
    fn mount_ro(&self, dev: &Path, name: &str, fstype: &str, data: &str) -> Result<PathBuf, MachineError>;
}

/// A machine that does nothing: the CLI and tests. Kernel mounts are refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMachine;

impl Machine for NoMachine {
    fn can_mount(&self) -> bool {
        false
    }
    fn load_filesystem(&self, fstype: &str) -> Result<Vec<String>, MachineError> {
        Err(MachineError::NotPid1 {
            fstype: fstype.to_string(),
        })
    }
    fn lock_readonly(&self, _dev: &Path) -> Result<(), MachineError> {
        Err(MachineError::NotPid1 { fstype: String::new() })
    }
    fn mount_ro(&self, _dev: &Path, _name: &str, fstype: &str, _data: &str) -> Result<PathBuf, MachineError> {
        Err(MachineError::NotPid1 {
            fstype: fstype.to_string(),
        })
    }
}

/// Why a machine action failed.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Only hopboot as PID 1 mounts.
    #[error("{fstype} needs a kernel mount, which only hopboot as PID 1 does")]
    NotPid1 {
        /// The filesystem type.
        fstype: String,
    },
    /// The device node could not be opened.
    #[error("{}: {source}", .dev.display())]
    OpenDevice {
        /// The device.
        dev: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `BLKROSET` failed.
    #[error("{}: cannot set it read-only: {source}", .dev.display())]
    Lock {
        /// The device.
        dev: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The mount point could not be made.
    #[error("{}: {source}", .dir.display())]
    MountPoint {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// mount(2) failed; every argument is named.
    #[error("mount {} on {} (type {fstype}, flags {flags}, data {data:?}): {}", .dev.display(), .target.display(), .errno.desc())]
    Mount {
        /// The device.
        dev: PathBuf,
        /// The mount point.
        target: PathBuf,
        /// The filesystem type.
        fstype: String,
        /// The mount flags, as nix prints them.
        flags: String,
        /// The data options.
        data: String,
        /// The error.
        #[source]
        errno: nix::errno::Errno,
    },
    /// The filesystem's modules could not be loaded.
    #[error("{fstype}: {source}")]
    Module {
        /// The filesystem type.
        fstype: String,
        /// Why.
        source: crate::kmod::KmodError,
    },
}

/// Why a partition gave no volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The userspace reader failed and the kernel was not asked.
    #[error(transparent)]
    Fs(#[from] crate::fs::FsError),
    /// Neither the userspace reader nor a kernel mount could read it.
    #[error("unsupported: {}{source}", why_prefix(.why))]
    KernelMount {
        /// Why the userspace reader refused it, when one tried.
        why: Option<String>,
        /// Why the kernel mount failed.
        source: Box<MachineError>,
    },
    /// An ext4 with orphan inodes on a device that cannot be made read-only:
    /// a kernel mount would delete them, even read-only.
    #[error(
        "unsupported: {why}; not mounted by the kernel either: it has orphan inodes, which a kernel mount \
         deletes even read-only unless the device is read-only{} (run e2fsck on it)",
        lock_suffix(.lock)
    )]
    Orphans {
        /// Why the userspace reader refused it.
        why: String,
        /// Why the device could not be locked, when it was tried.
        lock: Option<Box<MachineError>>,
    },
}

fn why_prefix(why: &Option<String>) -> String {
    why.as_ref().map(|w| format!("{w}; ")).unwrap_or_default()
}

fn lock_suffix(lock: &Option<Box<MachineError>>) -> String {
    lock.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()
}
