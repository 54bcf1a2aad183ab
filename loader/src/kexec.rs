//! Loading an entry for kexec: the kernel and initrds are read from the
//! entry's files (any [`FsView`]) into memory, several initrds concatenated
//! into one as the boot protocol allows. On a BIOS x86-64 machine that is not
//! locked down, hopboot sets the kernel up itself ([`crate::bzimage`]) and
//! loads it with kexec_load(2), behind a verifier that checks the images
//! before the jump; otherwise (UEFI, lockdown, `hopboot.kexec=file`, or a
//! kernel hopboot cannot set up) they go to memfds for kexec_file_load(2).

use crate::fs::{FsError, FsView, MAX_IMAGE_BYTES};
use crate::model::BootEntry;
use crate::trust::manifest::sha256;
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
    /// The files are larger than the memory this machine has free.
    #[error(
        "kernel and initrds are {} MiB, too big for this machine's memory ({} MiB free)",
        .need.div_ceil(MIB),
        .free / MIB
    )]
    TooBig {
        /// Bytes the kernel and initrds take, as their files say.
        need: u64,
        /// `MemAvailable` from /proc/meminfo.
        free: u64,
    },
    /// memfd_create failed.
    #[error("cannot create an in-memory file: {0}")]
    Memfd(nix::errno::Errno),
    /// The command line cannot be passed.
    #[error(transparent)]
    Cmdline(#[from] crate::cmdline::CmdlineError),
    /// The UKI cannot be taken apart.
    #[error("not a usable Unified Kernel Image: {0}")]
    Uki(#[source] crate::format::sdboot::uki::UkiError),
    /// Writing to the in-memory file failed (out of memory).
    #[error("cannot buffer the kernel: {0}")]
    Write(std::io::Error),
    /// A check before loading (a signature, a measurement) refused it.
    #[error("{0}")]
    Refused(String),
    /// This kernel is locked down and refused the image: it only boots
    /// kernels signed by a key it trusts.
    #[error("this kernel is locked down (lockdown={mode}): only kernels signed by a key it trusts can be booted, and the kernel refused this one ({})", explain(.source))]
    LockedDown {
        /// `integrity` or `confidentiality`.
        mode: String,
        /// What kexec_file_load returned.
        source: std::io::Error,
    },
    /// kexec_file_load refused (after hopboot's own setup was not possible
    /// or refused too: why, unless `hopboot.kexec=file` asked for it).
    #[error("the kernel refused to load it: {}{}", explain(.0), .1.as_ref().map(|w| format!("; before that, {w}")).unwrap_or_default())]
    Load(#[source] std::io::Error, Option<NotClassic>),
}

/// Why hopboot did not set the kernel up itself for `kexec_load` (it then
/// hands it to the kernel's own loader, `kexec_file_load`).
#[derive(Debug, thiserror::Error)]
pub enum NotClassic {
    /// `hopboot.kexec=file`.
    #[error("hopboot.kexec=file")]
    Asked,
    /// hopboot's own setup is x86-64 only.
    #[error("not x86-64")]
    NotX86,
    /// The new kernel needs the EFI runtime map only the kernel's loader passes.
    #[error("UEFI machine: the new kernel needs the EFI runtime map")]
    Uefi,
    /// Neither /sys/firmware/memmap nor /proc/iomem gave a memory map.
    #[error("no readable firmware memory map")]
    NoMemoryMap,
    /// The image cannot be set up this way.
    #[error(transparent)]
    Image(#[from] crate::bzimage::BzError),
    /// The kernel is locked down: `kexec_load` is refused, only the
    /// kernel's own loader (which checks signatures) may load.
    #[error("this kernel is locked down (lockdown={0})")]
    LockedDown(String),
    /// kexec_load itself refused.
    #[error("kexec_load refused: {}", explain(.0))]
    Refused(#[source] std::io::Error),
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
        Some(libc::EINVAL) => {
            "the kernel rejected the image or its command line, or the image needs more than half of the memory"
        }
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

/// Which kexec system call loads the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// hopboot's own x86-64 setup with `kexec_load` where that is equivalent
    /// (no UEFI, a 64-bit-entry bzImage, not locked down), else `kexec_file_load`.
    #[default]
    Auto,
    /// Always `kexec_file_load` (`hopboot.kexec=file`).
    File,
    /// For tests of the failure path only (`hopboot.kexec=test-bad-digest`):
    /// like `Auto`, but the kernel's digest in the verifier's table is wrong,
    /// so the machine prints the verifier's message and resets instead of
    /// starting the kernel.
    TestBadDigest,
}

const MIB: u64 = 1 << 20;

/// `n` bytes as a buffer length.
fn cap(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

use crate::fs::budget::{parse_mem_available as mem_available, CappedVec};

/// Refuses files that cannot fit in memory before a byte of them is read:
/// their sizes come from the disk, and a failed allocation would abort PID 1.
fn check_fits(need: u64, meminfo: &str) -> Result<(), KexecError> {
    match mem_available(meminfo) {
        Some(free) if need > free => Err(KexecError::TooBig { need, free }),
        _ => Ok(()),
    }
}

/// What an entry boots, read into memory: the kernel and the initrds
/// concatenated as the boot protocol allows. These are the bytes handed to
/// kexec, and the bytes the checks before it ([`load`]'s gate: signatures,
/// TPM measurements) see.
#[derive(Debug)]
pub struct Images {
    /// The kernel (a UKI's `.linux` section).
    pub kernel: Vec<u8>,
    /// All initrds, one after the other.
    pub initrd: Vec<u8>,
    /// Each initrd's name and range in [`Images::initrd`], in order: a UKI's
    /// `.ucode` and `.initrd` sections (`/EFI/Linux/x.efi:.initrd`), then the
    /// entry's initrd files.
    pub parts: Vec<(String, std::ops::Range<usize>)>,
    /// SHA-256 of the kernel and of each initrd, computed once, on first use.
    sha256: Sha256Memo,
}

/// The SHA-256 of an [`Images`]' parts, once computed: the signature check and
/// the TPM's SHA-256 bank hash the same bytes (a Debian kernel and initrd, 38 MB:
/// about 450 ms under TCG, 22 ms on a host with the SHA extensions).
#[derive(Debug, Default)]
struct Sha256Memo {
    kernel: std::sync::OnceLock<[u8; 32]>,
    initrds: std::sync::OnceLock<Vec<[u8; 32]>>,
}

impl Images {
    /// The kernel, all initrds one after the other, and each initrd's name and
    /// range in them.
    pub fn new(kernel: Vec<u8>, initrd: Vec<u8>, parts: Vec<(String, std::ops::Range<usize>)>) -> Images {
        Images {
            kernel,
            initrd,
            parts,
            sha256: Sha256Memo::default(),
        }
    }

    /// The kernel's SHA-256, computed on the first call.
    pub fn kernel_sha256(&self) -> [u8; 32] {
        *self.sha256.kernel.get_or_init(|| sha256(&self.kernel))
    }

    /// Each initrd's SHA-256, in order, computed on the first call.
    pub fn initrd_sha256s(&self) -> &[[u8; 32]] {
        self.sha256
            .initrds
            .get_or_init(|| self.initrds().map(|(_, b)| sha256(b)).collect())
    }

    /// The digests of [`Images::kernel_sha256`] and [`Images::initrd_sha256s`]
    /// if something already asked for them; nothing is computed here.
    pub fn known_sha256s(&self) -> (Option<[u8; 32]>, Option<&[[u8; 32]]>) {
        (
            self.sha256.kernel.get().copied(),
            self.sha256.initrds.get().map(Vec::as_slice),
        )
    }

    /// Each initrd's name and bytes, in order.
    pub fn initrds(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.parts
            .iter()
            .map(|(name, r)| (name.as_str(), self.initrd.get(r.clone()).unwrap_or_default()))
    }
}

/// What the gate in [`load`] is shown: the images, the command line that
/// will be passed, and the entry they come from.
pub struct Boot<'a> {
    /// The entry.
    pub entry: &'a BootEntry,
    /// Its kernel and initrds, as read.
    pub images: &'a Images,
    /// The command line the kernel gets (with any `append`).
    pub cmdline: &'a str,
    /// Bytes the gate adds after the initrds once its checks are done (the
    /// TPM event log's cpio archive, [`crate::tpm`]): a newc archive, put at
    /// a 4-byte boundary as the kernel's unpacker needs. Empty: nothing.
    pub initrd_tail: Vec<u8>,
}

/// Reads the kernel and initrds of `entry` from `files` (the filesystem its
/// kernel is on), each at most the size its file had when checked against
/// the memory available.
pub fn read_images(entry: &BootEntry, files: &dyn FsView) -> Result<Images, KexecError> {
    let read_err = |what: &str, path: &str| {
        let what = format!("{what} {path}");
        move |source| KexecError::Read { what, source }
    };
    // The kernel (a bzImage) and the initrd, in memory: for kexec_load they
    // are the segments' buffers; for kexec_file_load they go to memfds.
    let kernel: Vec<u8>;
    let mut parts = Vec::new();
    let size = |p: &str| files.size(p).unwrap_or(0);
    let initrd_sizes = entry.initrds.iter().map(|p| size(p)).fold(0u64, u64::saturating_add);
    let sizes = size(&entry.kernel).saturating_add(initrd_sizes);
    check_fits(sizes, &std::fs::read_to_string("/proc/meminfo").unwrap_or_default())?;
    // The initrds are concatenated into one buffer, set aside once: growing
    // it file by file would copy it each time and could fail half-way.
    let reserve = |what: &str, path: &str, n: u64| crate::fs::budget::reserve(path, n).map_err(read_err(what, path));
    // Up to 3 bytes of padding before each initrd after the first (see pad4).
    let padding = 3u64.saturating_mul(entry.initrds.len() as u64 + 1);
    let mut initrd = reserve(
        "initrd",
        entry.initrds.first().map_or("", String::as_str),
        initrd_sizes.saturating_add(padding),
    )?;
    if entry.kernel.to_ascii_lowercase().ends_with(".efi") {
        // A Unified Kernel Image: its .linux is the kernel, .ucode + .initrd
        // come first in the initrd. Only the headers and these sections are
        // read, each straight from its range of the file.
        use crate::format::sdboot::uki;
        let u = uki::read_layout(files, &entry.kernel).map_err(|e| match e {
            uki::ReadError::Read(source) => read_err("UKI", &entry.kernel)(source),
            uki::ReadError::Uki(e) => KexecError::Uki(e),
        })?;
        let section = |name: &str, (offset, len): (u64, u64)| -> Result<Vec<u8>, KexecError> {
            let len = usize::try_from(len).map_err(|_| {
                read_err("UKI", &entry.kernel)(FsError::TooLarge {
                    path: format!("{}: {name}", entry.kernel),
                    size: len,
                    limit: usize::MAX as u64,
                })
            })?;
            let bytes = files
                .read_range(&entry.kernel, offset, len)
                .map_err(read_err("UKI", &entry.kernel))?;
            if bytes.len() != len {
                let got = bytes.len();
                let e = uki::UkiError::ShortRead {
                    what: name.to_string(),
                    offset,
                    want: len,
                    got,
                };
                return Err(KexecError::Uki(e));
            }
            Ok(bytes)
        };
        kernel = section(".linux", u.linux)?;
        for (name, r) in [(".ucode", u.ucode), (".initrd", u.initrd)] {
            if let Some(r) = r {
                let bytes = section(name, r)?;
                pad4(&mut initrd);
                let start = initrd.len();
                if initrd.is_empty() && initrd.capacity() < bytes.len() {
                    initrd = bytes;
                } else {
                    initrd
                        .try_reserve(bytes.len())
                        .map_err(|_| KexecError::Write(std::io::ErrorKind::OutOfMemory.into()))?;
                    initrd.extend_from_slice(&bytes);
                }
                parts.push((format!("{}:{name}", entry.kernel), start..initrd.len()));
            }
        }
    } else {
        let n = size(&entry.kernel).min(MAX_IMAGE_BYTES);
        let mut w = CappedVec::new(reserve("kernel", &entry.kernel, n)?, cap(n));
        files
            .copy_to(&entry.kernel, n, &mut w)
            .map_err(read_err("kernel", &entry.kernel))?;
        kernel = w.out;
    }
    // Each initrd at most the size it was checked with: a file that grows
    // while read (or a filesystem that delivers more) is an error, not a
    // bigger buffer.
    let mut w = CappedVec::new(initrd, usize::MAX);
    for i in &entry.initrds {
        let n = size(i).min(MAX_IMAGE_BYTES);
        pad4(&mut w.out);
        let have = w.out.len();
        w = CappedVec::new(w.out, cap(n).saturating_add(have));
        files.copy_to(i, n, &mut w).map_err(read_err("initrd", i))?;
        parts.push((i.clone(), have..w.out.len()));
    }
    Ok(Images::new(kernel, w.out, parts))
}

/// Reads the entry's files from `files` (the filesystem its kernel is on)
/// and loads them as the next kernel. `gate` sees what was read and the
/// command line before anything is loaded (signatures, measurements); its
/// `Err` refuses the entry, and what it leaves in [`Boot::initrd_tail`] is
/// added to the initrd. After this returns `Ok`, [`reboot_into`] starts it.
pub fn load(
    entry: &BootEntry,
    files: &dyn FsView,
    append: Option<&str>,
    method: Method,
    gate: &mut dyn FnMut(&mut Boot<'_>) -> Result<(), String>,
) -> Result<(), KexecError> {
    let text = entry.boot_cmdline(append);
    let cmdline = crate::cmdline::to_kexec(&text)?;
    let started = std::time::Instant::now();
    let images = read_images(entry, files)?;
    let read = started.elapsed();
    let mut boot = Boot {
        entry,
        images: &images,
        cmdline: &text,
        initrd_tail: Vec::new(),
    };
    gate(&mut boot).map_err(KexecError::Refused)?;
    let tail = boot.initrd_tail;
    let Images {
        mut kernel,
        mut initrd,
        parts,
        ..
    } = images;
    if !tail.is_empty() {
        append_archive(&mut initrd, &tail)?;
    }
    let has_initrd = !(parts.is_empty() && initrd.is_empty());
    let checked = started.elapsed();

    let classic = match method {
        Method::File => Err(NotClassic::Asked),
        Method::Auto | Method::TestBadDigest => classic_load(
            &kernel,
            has_initrd.then_some(&initrd[..]),
            &cmdline,
            method == Method::TestBadDigest,
        ),
    };
    let how = match classic {
        Ok(()) => "kexec_load".to_string(),
        Err(why) => {
            log::debug!("kexec_file_load: {why}");
            let how = format!("kexec_file_load ({why})");
            let kfd = memfd(c"hopboot-kernel")?;
            (&kfd).write_all(&kernel).map_err(KexecError::Write)?;
            drop(std::mem::take(&mut kernel));
            let ifd = if has_initrd {
                let f = memfd(c"hopboot-initrd")?;
                (&f).write_all(&initrd).map_err(KexecError::Write)?;
                Some(f)
            } else {
                None
            };
            drop(std::mem::take(&mut initrd));
            // A previous load (an earlier attempt) is replaced by the kernel itself.
            crate::sys::kexec_file_load(kfd.as_fd(), ifd.as_ref().map(|f| f.as_fd()), &cmdline).map_err(|e| match (
                lockdown(),
                e.raw_os_error(),
            ) {
                (Some(mode), Some(libc::EPERM | libc::EKEYREJECTED | libc::EBADMSG | libc::ENOKEY)) => {
                    KexecError::LockedDown { mode, source: e }
                }
                _ => KexecError::Load(e, (method != Method::File).then_some(why)),
            })?;
            how
        }
    };
    log::info!(
        "read kernel and initrds in {} ms, checks before loading {} ms, {how} took {} ms",
        read.as_millis(),
        (checked - read).as_millis(),
        (started.elapsed() - checked).as_millis()
    );
    Ok(())
}

/// Zeros up to a 4-byte boundary before the next initrd, as GRUB puts
/// between initrds (ALIGN_UP(size, 4) in its initrd loaders): the kernel's
/// initramfs unpacker skips zeros between archives but looks for an
/// uncompressed cpio header only at a multiple of 4 (init/initramfs.c), so
/// a cpio after a gzip initrd of odd length was "invalid magic".
fn pad4(initrd: &mut Vec<u8>) {
    let len = initrd.len().next_multiple_of(4);
    initrd.resize(len, 0);
}

/// Adds the cpio archive `tail` to `initrd`, at a 4-byte boundary ([`pad4`]).
fn append_archive(initrd: &mut Vec<u8>, tail: &[u8]) -> Result<(), KexecError> {
    initrd
        .try_reserve(tail.len().saturating_add(3))
        .map_err(|_| KexecError::Write(std::io::ErrorKind::OutOfMemory.into()))?;
    pad4(initrd);
    initrd.extend_from_slice(tail);
    Ok(())
}

/// Loads with hopboot's own bzImage setup and `kexec_load`. `Err` says why
/// not (the caller falls back to `kexec_file_load`).
fn classic_load(
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &std::ffi::CStr,
    bad_digest: bool,
) -> Result<(), NotClassic> {
    if !cfg!(target_arch = "x86_64") {
        return Err(NotClassic::NotX86);
    }
    if let Some(mode) = lockdown() {
        return Err(NotClassic::LockedDown(mode));
    }
    if std::path::Path::new("/sys/firmware/efi").exists() {
        return Err(NotClassic::Uefi);
    }
    let platform = crate::bzimage::Platform::read().ok_or(NotClassic::NoMemoryMap)?;
    // A seed for the new kernel's random pool, as the kernel's own loader
    // passes, only when ours is initialised (the new kernel may credit it).
    let mut seed = [0u8; 32];
    let seed = crate::sys::random_if_ready(&mut seed).then_some(seed);
    let mut plan = crate::bzimage::plan(kernel, initrd, cmdline.to_bytes(), &platform, seed)?;
    if bad_digest {
        log::warn!("hopboot.kexec=test-bad-digest: the verifier will find the kernel changed and reset");
        plan.spoil_kernel_digest();
    }
    match crate::sys::kexec_load(plan.entry, &plan.segments()) {
        Ok(()) => {
            let initrd = plan
                .initrd
                .map_or("none".into(), |(b, a)| format!("{a:#x} ({} bytes)", b.len()));
            log::debug!(
                "kexec_load: kernel at {:#x}, initrd at {initrd}, boot parameters at {:#x}, entry {:#x}",
                plan.kernel_addr,
                plan.boot_addr,
                plan.entry
            );
            Ok(())
        }
        Err(e) => Err(NotClassic::Refused(e)),
    }
}

/// The lockdown mode of the running kernel when it is locked down
/// (`integrity`, `confidentiality`), from `/sys/kernel/security/lockdown`
/// (`none [integrity] confidentiality`: the bracketed one is in force).
pub fn lockdown() -> Option<String> {
    parse_lockdown(&std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?)
}

/// The mode in force in the text of `/sys/kernel/security/lockdown`, unless `none`.
pub fn parse_lockdown(text: &str) -> Option<String> {
    let mode = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))?;
    (mode != "none").then(|| mode.to_string())
}

/// Whether a kernel is loaded for kexec (`/sys/kernel/kexec_loaded`), by
/// either system call; `None` when the kernel does not say.
pub fn loaded() -> Option<bool> {
    match std::fs::read_to_string("/sys/kernel/kexec_loaded").ok()?.trim() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// Loads the [`crate::bzimage::placeholder`]: a stand-in that resets the
/// machine through its firmware if it is ever started. x86-64 only, and only
/// where `kexec_load` is allowed (not under lockdown).
pub fn load_placeholder() -> std::io::Result<()> {
    if !cfg!(target_arch = "x86_64") {
        return Err(std::io::ErrorKind::Unsupported.into());
    }
    let platform = crate::bzimage::Platform::read()
        .ok_or_else(|| std::io::Error::other("no memory map in /sys/firmware/memmap"))?;
    let p = crate::bzimage::placeholder(&platform).map_err(std::io::Error::other)?;
    crate::sys::kexec_load(p.entry, &p.segments())
}

/// Syncs and starts the loaded kernel. Returns only on failure.
pub fn reboot_into() -> std::io::Error {
    nix::unistd::sync();
    match nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_KEXEC) {
        Ok(never) => match never {},
        Err(e) => std::io::Error::from(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:         250000 kB\nMemFree:          180000 kB\nMemAvailable:     204800 kB\n";

    #[test]
    fn the_lockdown_mode_in_force() {
        assert_eq!(parse_lockdown("[none] integrity confidentiality\n"), None);
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(
            parse_lockdown("none integrity [confidentiality]\n").as_deref(),
            Some("confidentiality")
        );
        assert_eq!(parse_lockdown(""), None);
        let e = KexecError::LockedDown {
            mode: "integrity".into(),
            source: std::io::Error::from_raw_os_error(libc::EKEYREJECTED),
        };
        assert!(e.to_string().starts_with(
            "this kernel is locked down (lockdown=integrity): only kernels signed by a key it trusts can be booted"
        ));
    }

    #[test]
    fn files_larger_than_free_memory_are_refused_before_reading() {
        assert_eq!(mem_available(MEMINFO), Some(200 * MIB));
        assert!(check_fits(100 * MIB, MEMINFO).is_ok());
        let e = check_fits(4 << 30, MEMINFO).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel and initrds are 4096 MiB, too big for this machine's memory (200 MiB free)"
        );
        // No MemAvailable line (kernels before 3.14): no check.
        assert!(check_fits(u64::MAX, "MemTotal: 1 kB\n").is_ok());
    }

    /// A filesystem whose one initrd claims to be 1 TiB.
    struct Claims;

    impl FsView for Claims {
        fn copy_to(&self, path: &str, _: u64, _: &mut dyn Write) -> Result<u64, FsError> {
            panic!("{path} was read, though it cannot fit")
        }
        fn kind(&self, _: &str) -> Option<crate::fs::Kind> {
            Some(crate::fs::Kind::File)
        }
        fn size(&self, path: &str) -> Option<u64> {
            Some(if path.contains("initrd") { 1 << 40 } else { 8 << 20 })
        }
        fn list(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn fs_type(&self) -> &'static str {
            "dir"
        }
    }

    /// GRUB puts each initrd at a 4-byte boundary; the kernel finds an
    /// uncompressed cpio after a gzip one only there. The ranges are the
    /// files' bytes (what is measured and verified), without the padding.
    #[test]
    fn initrds_start_at_4_byte_boundaries_and_the_gate_archive_comes_last() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vmlinuz"), b"KERNEL").unwrap();
        std::fs::write(dir.path().join("one"), b"12345").unwrap();
        std::fs::write(dir.path().join("two"), b"0707").unwrap();
        let e = BootEntry {
            title: "t".into(),
            format: crate::model::Format::Scan,
            kernel: "/vmlinuz".into(),
            initrds: vec!["/one".into(), "/two".into()],
            cmdline: String::new(),
            default: true,
            device: "d".into(),
            id: "t".into(),
            volume: 0,
            boot_image: None,
        };
        let fs = crate::fs::dir::DirFs::new(dir.path());
        let im = read_images(&e, &fs).unwrap();
        assert_eq!(im.initrd, b"12345\0\0\x000707");
        let parts: Vec<(&str, &[u8])> = im.initrds().collect();
        assert_eq!(parts, vec![("/one", &b"12345"[..]), ("/two", &b"0707"[..])]);
        let mut initrd = b"123".to_vec();
        append_archive(&mut initrd, b"0707TAIL").unwrap();
        assert_eq!(initrd, b"123\x000707TAIL");
    }

    #[test]
    fn a_terabyte_initrd_is_too_big_not_an_abort() {
        let e = BootEntry {
            title: "huge".into(),
            format: crate::model::Format::Scan,
            kernel: "/boot/vmlinuz".into(),
            initrds: vec!["/boot/initrd.img".into()],
            cmdline: String::new(),
            default: true,
            device: "vda1".into(),
            id: "huge".into(),
            volume: 0,
            boot_image: None,
        };
        let r = load(&e, &Claims, None, Method::File, &mut |_| Ok(()));
        assert!(matches!(r, Err(KexecError::TooBig { .. })), "{r:?}");
    }
}
