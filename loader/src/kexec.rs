//! Loading an entry for kexec: kernel and initrds are streamed from the
//! filesystem into memfds (several initrds concatenated into one, as the
//! boot protocol allows), then handed to kexec_file_load(2).

use crate::discover::Volume;
use crate::fs::{FsError, MAX_IMAGE_BYTES};
use crate::model::BootEntry;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

/// Why an entry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KexecError {
    /// Reading the kernel or an initrd failed.
    #[error("cannot read {what}: {source}")]
    Read {
        /// "kernel /boot/vmlinuz-…".
        what: String,
        /// Why.
        source: FsError,
    },
    /// memfd_create failed.
    #[error("cannot create an in-memory file: {0}")]
    Memfd(nix::errno::Errno),
    /// The command line cannot be passed.
    #[error(transparent)]
    Cmdline(#[from] crate::cmdline::CmdlineError),
    /// The UKI cannot be taken apart.
    #[error("not a usable Unified Kernel Image: {0}")]
    Uki(String),
    /// Writing to the in-memory file failed (out of memory).
    #[error("cannot buffer the kernel: {0}")]
    Write(std::io::Error),
    /// The entry points at a volume that is gone.
    #[error("the disk holding this entry is gone")]
    NoVolume,
    /// kexec_file_load refused.
    #[error("the kernel refused to load it: {}", explain(.0))]
    Load(std::io::Error),
}

/// Says what a kexec_file_load errno means for the user.
pub fn explain(e: &std::io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::EKEYREJECTED) | Some(libc::EPERM) | Some(libc::EBADMSG) => {
            "signature check failed or kexec is locked down (Secure Boot requires a signed kernel)"
        }
        Some(libc::ENOEXEC) => "not a kernel this machine can boot (wrong format or architecture)",
        Some(libc::ENOMEM) | Some(libc::EFBIG) => "kernel or initrd too big for the memory available",
        Some(libc::EBUSY) => "another kexec is in progress",
        Some(libc::ENOSYS) => "this kernel was built without kexec_file_load",
        Some(libc::EINVAL) => "the kernel rejected the image or its command line",
        _ => "",
    };
    if why.is_empty() {
        e.to_string()
    } else {
        format!("{why} ({e})")
    }
}

fn memfd(name: &std::ffi::CStr) -> Result<File, KexecError> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(KexecError::Memfd)?;
    Ok(File::from(fd))
}

/// Reads the entry's files and loads them as the next kernel. After this
/// returns `Ok`, [`reboot_into`] starts it.
pub fn load(entry: &BootEntry, volumes: &[Volume], append: Option<&str>) -> Result<(), KexecError> {
    let vol = volumes.get(entry.volume).ok_or(KexecError::NoVolume)?;
    let cmdline = crate::cmdline::to_kexec(&entry.boot_cmdline(append))?;
    let started = std::time::Instant::now();
    let mut kernel = memfd(c"hopboot-kernel")?;
    // Early pieces of the initrd that come from a UKI (.ucode, .initrd).
    let mut uki_initrd: Vec<u8> = Vec::new();
    if entry.kernel.to_ascii_lowercase().ends_with(".efi") {
        // A Unified Kernel Image: its .linux is the kernel, .ucode + .initrd the initrd.
        let bytes = vol
            .fs
            .read(&entry.kernel, MAX_IMAGE_BYTES)
            .map_err(|source| KexecError::Read {
                what: format!("UKI {}", entry.kernel),
                source,
            })?;
        let u = crate::config::uki::parse(&bytes).map_err(|e| KexecError::Uki(e.to_string()))?;
        let section = |r: (u64, u64)| -> Option<&[u8]> {
            let start = usize::try_from(r.0).ok()?;
            let len = usize::try_from(r.1).ok()?;
            bytes.get(start..start.checked_add(len)?)
        };
        let linux = section(u.linux).ok_or_else(|| KexecError::Uki(".linux lies outside the file".into()))?;
        kernel.write_all(linux).map_err(KexecError::Write)?;
        for r in [u.ucode, u.initrd].into_iter().flatten() {
            uki_initrd.extend_from_slice(section(r).unwrap_or(&[]));
        }
    } else {
        vol.fs
            .copy_to(&entry.kernel, MAX_IMAGE_BYTES, &mut kernel)
            .map_err(|source| KexecError::Read {
                what: format!("kernel {}", entry.kernel),
                source,
            })?;
    }
    let initrd = if entry.initrds.is_empty() && uki_initrd.is_empty() {
        None
    } else {
        let mut f = memfd(c"hopboot-initrd")?;
        f.write_all(&uki_initrd).map_err(KexecError::Write)?;
        for i in &entry.initrds {
            vol.fs
                .copy_to(i, MAX_IMAGE_BYTES, &mut f)
                .map_err(|source| KexecError::Read {
                    what: format!("initrd {i}"),
                    source,
                })?;
        }
        Some(f)
    };
    let read = started.elapsed();
    // A previous load (an earlier attempt) is replaced by the kernel itself.
    let r = crate::sys::kexec_file_load(kernel.as_fd(), initrd.as_ref().map(|f| f.as_fd()), &cmdline)
        .map_err(KexecError::Load);
    log::info!(
        "read kernel and initrds in {} ms, kexec_file_load took {} ms",
        read.as_millis(),
        (started.elapsed() - read).as_millis()
    );
    r
}

/// Syncs and starts the loaded kernel. Returns only on failure.
pub fn reboot_into() -> std::io::Error {
    nix::unistd::sync();
    match nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_KEXEC) {
        Ok(never) => match never {},
        Err(e) => std::io::Error::from(e),
    }
}
