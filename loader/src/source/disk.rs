//! Disks → volumes: a disk's partition table, then per partition the
//! userspace reader that knows its filesystem (ext4, FAT), else a read-only
//! kernel mount through the [`Machine`] (PID 1 only).

use super::{kernel_fs, Machine, VolumeError};
use crate::block::{self, Disk, Partition, TableKind};
use crate::fs::{dir::DirFs, ext4::Ext4Fs, FsError, FsView};
use crate::model::{DiscoveryError, Volume};
use std::path::Path;

/// Opens the filesystems on one disk. `index` numbers disks for GRUB names.
pub fn open_disk(disk: &Disk, index: usize, machine: &dyn Machine, errors: &mut Vec<DiscoveryError>) -> Vec<Volume> {
    let (table, parts) = match block::partitions(disk) {
        Ok(p) => p,
        Err(e) => {
            errors.push(DiscoveryError::new(disk.path.display().to_string(), e));
            return Vec::new();
        }
    };
    let mut vols = Vec::new();
    for p in parts {
        let grub_name = match table {
            TableKind::Gpt => format!("hd{index},gpt{}", p.number),
            TableKind::Mbr => format!("hd{index},msdos{}", p.number),
            TableKind::None => format!("hd{index}"),
        };
        match open_partition(&p, machine) {
            Ok(Some(fs)) => vols.push(Volume {
                name: p.name.clone(),
                grub_name,
                any_partition: false,
                fs,
                part_uuid: p.part_uuid.clone(),
                part_label: p.part_label.clone(),
            }),
            Ok(None) => log::debug!("{}: no filesystem hopboot can read", p.name),
            Err(e) => errors.push(DiscoveryError::new(p.name.clone(), e)),
        }
    }
    vols
}

/// Opens a path given on the command line: a directory (one filesystem
/// root), or a disk image / block device.
pub fn open_path(path: &Path, index: usize, machine: &dyn Machine, errors: &mut Vec<DiscoveryError>) -> Vec<Volume> {
    if path.is_dir() {
        return vec![super::dir::volume(path, index)];
    }
    match Disk::open(path) {
        Ok(d) => open_disk(&d, index, machine, errors),
        Err(e) => {
            errors.push(DiscoveryError::new(
                path.display().to_string(),
                crate::model::Problem::Open(e),
            ));
            Vec::new()
        }
    }
}

/// Bytes read from the start of a partition before the filesystem probes:
/// where ext4, FAT and XFS keep their superblocks.
const HEAD: u64 = 4096;

/// The filesystem on partition `p`: a userspace reader, else a read-only
/// kernel mount through `machine`; `None` when hopboot knows none there.
pub(crate) fn open_partition(p: &Partition, machine: &dyn Machine) -> Result<Option<Box<dyn FsView>>, VolumeError> {
    // The probes take a read error for "not this filesystem"; a partition
    // whose first sectors cannot be read is a failing disk, and says so.
    let mut head = vec![0u8; usize::try_from(HEAD.min(p.window.len())).unwrap_or(0)];
    if let Err(source) = p.window.read_at(0, &mut head) {
        return Err(VolumeError::Fs(FsError::Io {
            path: format!("reading its first {} bytes", head.len()),
            source,
        }));
    }
    if crate::fs::ext4::probe(&p.window) {
        return match Ext4Fs::open(p.window.clone()) {
            Ok(fs) => Ok(Some(Box::new(fs))),
            Err(e) if ext4_needs_kernel(&p.window, &e) => {
                // The kernel reads what ext4-view refuses; `noload` keeps a
                // dirty journal from being replayed (nothing is written).
                log::info!(
                    "{}: the userspace ext4 reader refuses it ({e}); trying a read-only kernel mount (noload)",
                    p.name
                );
                let why = match &e {
                    FsError::Unsupported(m) | FsError::Corrupt(m) => m.clone(),
                    other => other.to_string(),
                };
                // The kernel's orphan cleanup writes even on a read-only
                // mount (it lifts MS_RDONLY for it) unless the device itself
                // is read-only: mount such a one only on a locked device.
                if crate::fs::ext4::has_orphans(&p.window) {
                    let dev = Path::new("/dev").join(&p.name);
                    if !machine.can_mount() || !dev.exists() {
                        return Err(VolumeError::Orphans { why, lock: None });
                    }
                    if let Err(lock) = machine.lock_readonly(&dev) {
                        return Err(VolumeError::Orphans {
                            why,
                            lock: Some(Box::new(lock)),
                        });
                    }
                    log::info!(
                        "{}: orphan inodes; the device is set read-only so the kernel leaves them",
                        p.name
                    );
                }
                kernel_mount(p, "ext4", machine)
                    .map(Some)
                    .map_err(|source| VolumeError::KernelMount {
                        why: Some(why),
                        source: Box::new(source),
                    })
            }
            Err(e) => Err(e.into()),
        };
    }
    if crate::fs::fat::probe(&p.window) {
        return Ok(Some(Box::new(crate::fs::fat::FatFs::open(p.window.clone())?)));
    }
    if let Some(fstype) = kernel_fs::probe(&p.window) {
        // No userspace reader: a read-only kernel mount (PID 1 only).
        return kernel_mount(p, fstype, machine)
            .map(Some)
            .map_err(|source| VolumeError::KernelMount {
                why: None,
                source: Box::new(source),
            });
    }
    Ok(None)
}

/// Whether an ext4 filesystem that ext4-view could not open is one for the
/// kernel: a feature ext4-view does not read (`inline_data`, `large_dir`,
/// `casefold`, a journal without 64-bit/v3 checksums that needs replaying…),
/// or any failure on a filesystem whose journal needs recovery (ext4-view
/// replays it in memory; a torn journal is the kernel's to ignore with
/// `noload`). A corrupt clean filesystem stays an error.
fn ext4_needs_kernel(window: &block::Window, e: &FsError) -> bool {
    match e {
        FsError::Unsupported(_) => true,
        FsError::Corrupt(_) => crate::fs::ext4::needs_recovery(window),
        _ => false,
    }
}

/// Has the machine mount partition `p` read-only and returns the mount as a
/// filesystem, with the superblock's UUID and label.
fn kernel_mount(
    p: &Partition,
    fstype: &'static str,
    machine: &dyn Machine,
) -> Result<Box<dyn FsView>, super::MachineError> {
    let dev = Path::new("/dev").join(&p.name);
    if !machine.can_mount() || !dev.exists() {
        return Err(super::MachineError::NotPid1 {
            fstype: fstype.to_string(),
        });
    }
    match machine.load_filesystem(fstype) {
        Ok(loaded) if !loaded.is_empty() => log::info!("{}: loaded {} for {fstype}", p.name, loaded.join(" ")),
        Ok(_) => {}
        Err(e) => log::warn!("{}: {e}", p.name),
    }
    let dir = machine.mount_ro(&dev, &p.name, fstype, kernel_fs::data_options(fstype))?;
    let (uuid, label) = kernel_fs::identity(&p.window, fstype);
    log::info!(
        "{}: {fstype} mounted read-only at {} ({})",
        p.name,
        dir.display(),
        kernel_fs::options(fstype)
    );
    Ok(Box::new(DirFs::mounted(&dir, Vec::new(), uuid, label)))
}
