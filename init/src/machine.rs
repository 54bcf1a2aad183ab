//! PID 1's machine: what discovery's disk source may ask of it (load a
//! filesystem's modules, lock a partition read-only, mount it read-only),
//! and the unmounting of those mounts, on the same side.

use hopboot_loader::source::{Machine, MachineError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where fallback mounts go.
pub const MOUNT_DIR: &str = "/run/hopboot/mnt";

/// The machine hopboot runs on as PID 1; it remembers what it mounted.
#[derive(Debug, Default)]
pub struct Pid1Machine {
    mounted: Mutex<Vec<PathBuf>>,
}

impl Pid1Machine {
    /// Unmounts everything [`Machine::mount_ro`] mounted (before kexec, or a rescan).
    pub fn unmount_all(&self) {
        let list = self
            .mounted
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        for t in list.iter().rev() {
            if let Err(e) = nix::mount::umount2(t, nix::mount::MntFlags::MNT_DETACH) {
                log::warn!("umount {}: {}", t.display(), e.desc());
            }
        }
    }
}

impl Machine for Pid1Machine {
    fn can_mount(&self) -> bool {
        true
    }

    fn load_filesystem(&self, fstype: &str) -> Result<Vec<String>, MachineError> {
        hopboot_loader::kmod::load_for_filesystem(fstype).map_err(|e| MachineError::Module {
            fstype: fstype.to_string(),
            source: e,
        })
    }

    /// Marks the block device read-only in the kernel (see
    /// [`hopboot_loader::sys::block_set_readonly`]): a filesystem mounted
    /// from it then cannot write even where a read-only mount would (ext4's
    /// orphan cleanup).
    fn lock_readonly(&self, dev: &Path) -> Result<(), MachineError> {
        let f = std::fs::File::open(dev).map_err(|source| MachineError::OpenDevice {
            dev: dev.to_path_buf(),
            source,
        })?;
        hopboot_loader::sys::block_set_readonly(&f).map_err(|source| MachineError::Lock {
            dev: dev.to_path_buf(),
            source,
        })
    }

    /// Mounts `dev` read-only at MOUNT_DIR/`name`; the device itself is
    /// marked read-only first, where the kernel allows.
    fn mount_ro(&self, dev: &Path, name: &str, fstype: &str, data: &str) -> Result<PathBuf, MachineError> {
        use nix::mount::{mount, MsFlags};
        if let Err(e) = self.lock_readonly(dev) {
            log::warn!("{e}; relying on the read-only mount alone");
        }
        let target = Path::new(MOUNT_DIR).join(name.replace('/', "_"));
        std::fs::create_dir_all(&target).map_err(|source| MachineError::MountPoint {
            dir: target.clone(),
            source,
        })?;
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let data_opt = (!data.is_empty()).then_some(data);
        mount(Some(dev), &target, Some(fstype), flags, data_opt).map_err(|errno| MachineError::Mount {
            dev: dev.to_path_buf(),
            target: target.clone(),
            fstype: fstype.to_string(),
            flags: format!("{flags:?}"),
            data: data.to_string(),
            errno,
        })?;
        if let Ok(mut m) = self.mounted.lock() {
            m.push(target.clone());
        }
        Ok(target)
    }
}
