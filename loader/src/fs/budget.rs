//! Bounds on what one call into a filesystem reader may cost: bytes the
//! reader under the crate hands out and time ([`Meter`]), and memory for
//! buffers whose size the disk decides ([`buffer`], [`CappedVec`]).
//!
//! fatfs and ext4-view walk on-disk structures (cluster chains, extent
//! trees, directory blocks) inside their own iterators; a structure that
//! loops or shares parts can keep one call busy for ever without returning
//! to hopboot. Every byte they read passes through hopboot's reader
//! (`fat::WindowIo`, `ext4::Reader`), which charges it here and fails the
//! read once the call is over its allowance: the crate returns that error
//! and the call ends.

use super::{FsError, MAX_IMAGE_BYTES};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes a call that reads no file data (a lookup, a listing, a size) may
/// have the reader hand out: a path through a few directories of 8,192
/// FAT entries with long names (at most [`MIN_CHARGE`] a read), or 2,000
/// ext4 directory blocks of 4 KiB.
pub const META_BYTES: u64 = 8 << 20;
/// What one read costs at least (fatfs reads a directory entry, 32 bytes,
/// at a time: the calls cost more than the bytes).
pub const MIN_CHARGE: usize = 64;
/// Time such a call may take.
pub const META_TIME: Duration = Duration::from_secs(20);
/// Extra time per MiB of file data a call is allowed to read (1 MiB/s: a
/// USB 1.1 stick is slower than any disk a machine boots from).
pub const TIME_PER_MIB: Duration = Duration::from_secs(1);

/// The work budget of the current call into one filesystem reader, shared
/// by the filesystem (which starts each call) and the reader under the
/// crate (which charges every read). Atomics, so a reader can move with its
/// filesystem to another thread.
#[derive(Debug)]
pub struct Meter {
    base: Instant,
    used: AtomicU64,
    allowed: AtomicU64,
    /// Nanoseconds after `base` at which the current call started.
    start: AtomicU64,
    /// Nanoseconds the current call may take.
    time: AtomicU64,
    tripped: AtomicBool,
    meta_bytes: u64,
    meta_time: Duration,
}

impl Default for Meter {
    fn default() -> Self {
        Meter::with_limits(META_BYTES, META_TIME)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Meter {
    /// A meter whose calls start with `bytes` and `time` (tests use small ones).
    pub fn with_limits(bytes: u64, time: Duration) -> Self {
        Meter {
            base: Instant::now(),
            used: AtomicU64::new(0),
            allowed: AtomicU64::new(bytes),
            start: AtomicU64::new(0),
            time: AtomicU64::new(u64::MAX),
            tripped: AtomicBool::new(false),
            meta_bytes: bytes,
            meta_time: time,
        }
    }

    fn now(&self) -> u64 {
        nanos(self.base.elapsed())
    }

    /// Starts a call: nothing used, the metadata allowance.
    pub fn begin(&self) {
        self.used.store(0, Ordering::Relaxed);
        self.allowed.store(self.meta_bytes, Ordering::Relaxed);
        self.start.store(self.now(), Ordering::Relaxed);
        self.time.store(nanos(self.meta_time), Ordering::Relaxed);
        self.tripped.store(false, Ordering::Relaxed);
    }

    /// Lets the current call read `file_bytes` of file data more (with a
    /// quarter on top for the structures that map it: a FAT lookup per
    /// 512-byte cluster costs [`MIN_CHARGE`]), and take the time that needs
    /// at [`TIME_PER_MIB`].
    pub fn allow(&self, file_bytes: u64) {
        let more = file_bytes.saturating_add(file_bytes / 4);
        let _ = self
            .allowed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| Some(a.saturating_add(more)));
        let secs = nanos(TIME_PER_MIB).saturating_mul(file_bytes.div_ceil(1 << 20));
        let _ = self
            .time
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_add(secs)));
    }

    /// Charges `n` bytes handed out by the reader; an error once the call is
    /// over its bytes or its time (and for every read after that).
    pub fn charge(&self, n: usize) -> std::io::Result<()> {
        let n = if n == 0 { 0 } else { n.max(MIN_CHARGE) };
        let used = self
            .used
            .fetch_add(n as u64, Ordering::Relaxed)
            .saturating_add(n as u64);
        let took = self.now().saturating_sub(self.start.load(Ordering::Relaxed));
        if used > self.allowed.load(Ordering::Relaxed) || took > self.time.load(Ordering::Relaxed) {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other(self.why()));
        }
        Ok(())
    }

    /// Checks the time alone (for loops that read from a cache).
    pub fn check_time(&self) -> std::io::Result<()> {
        self.charge(0)
    }

    /// Whether the current call ran out of work.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }

    /// What ran out, for the error.
    pub fn why(&self) -> String {
        let used = self.used.load(Ordering::Relaxed);
        if used > self.allowed.load(Ordering::Relaxed) {
            format!(
                "gave up after reading {} MiB of filesystem structures for one lookup (a loop in the filesystem?)",
                used >> 20
            )
        } else {
            let ms = self.time.load(Ordering::Relaxed) / 1_000_000;
            format!(
                "gave up after {}.{} s on one lookup (a loop in the filesystem?)",
                ms / 1000,
                ms % 1000 / 100
            )
        }
    }

    /// The error for `path` (logged) when the call tripped.
    pub fn tripped_error(&self, reader: &str, path: &str) -> Option<FsError> {
        if !self.tripped() {
            return None;
        }
        let e = FsError::Corrupt(format!("{reader} {path}: {}", self.why()));
        log::warn!("{e}");
        Some(e)
    }

    /// The error for `path` when the call tripped, else `e`.
    pub fn error(&self, reader: &str, path: &str, e: FsError) -> FsError {
        if self.tripped() {
            FsError::Corrupt(format!("{reader} {path}: {}", self.why()))
        } else {
            e
        }
    }
}

const MIB: u64 = 1 << 20;

/// `MemAvailable` from the text of /proc/meminfo, in bytes.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// This machine's `MemAvailable`, `None` where the kernel does not say
/// (before 3.14) or /proc is not mounted.
pub fn mem_available() -> Option<u64> {
    #[cfg(test)]
    if let Some(free) = tests::FREE.with(|f| f.get()) {
        return Some(free);
    }
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// The error for a buffer of `size` bytes for `path` that this machine
/// cannot hold with `free` bytes available.
pub fn no_memory(path: &str, size: u64, free: u64) -> FsError {
    FsError::NoMemory {
        path: path.to_string(),
        size,
        free,
    }
}

/// Refuses a file whose directory entry or inode claims more bytes than the
/// device holding its filesystem: neither FAT nor a boot file on ext4 can
/// (ext4 could only by being sparse, and nothing hopboot boots is). The
/// claimed size would otherwise size a buffer ([`buffer`]) with memory a
/// small machine does not have, for bytes the device cannot give back.
/// Above [`MAX_IMAGE_BYTES`] the file is [`FsError::TooLarge`] first.
pub fn fits_device(path: &str, size: u64, device: u64) -> Result<(), FsError> {
    if size > MAX_IMAGE_BYTES {
        return Err(FsError::TooLarge {
            path: path.to_string(),
            size,
            limit: MAX_IMAGE_BYTES,
        });
    }
    if size > device {
        return Err(FsError::Corrupt(format!(
            "{path}: claims {size} bytes, more than the {device}-byte device holding it"
        )));
    }
    Ok(())
}

/// A zeroed buffer of `len` bytes for reading a part of `path` whose size
/// the disk decides: refused above [`MAX_IMAGE_BYTES`], above this
/// machine's `MemAvailable`, or when the allocation fails, instead of
/// aborting the process (PID 1: a kernel panic).
pub fn buffer(path: &str, len: usize) -> Result<Vec<u8>, FsError> {
    let mut v = reserve(path, len as u64)?;
    v.resize(len, 0);
    Ok(v)
}

/// An empty vector with room for `size` bytes, under the same rules as [`buffer`].
pub fn reserve(path: &str, size: u64) -> Result<Vec<u8>, FsError> {
    if size > MAX_IMAGE_BYTES {
        return Err(FsError::TooLarge {
            path: path.to_string(),
            size,
            limit: MAX_IMAGE_BYTES,
        });
    }
    let free = mem_available();
    if let Some(free) = free.filter(|&f| size > f) {
        return Err(no_memory(path, size, free));
    }
    let mut v = Vec::new();
    let n = usize::try_from(size).map_err(|_| no_memory(path, size, free.unwrap_or(0)))?;
    v.try_reserve_exact(n)
        .map_err(|_| no_memory(path, size, free.unwrap_or(0)))?;
    Ok(v)
}

/// A `Write` into a vector that never grows past `cap` bytes and never
/// aborts on a failed allocation: both are write errors.
pub struct CappedVec {
    /// What was written.
    pub out: Vec<u8>,
    cap: usize,
}

impl CappedVec {
    /// Writes after what `out` holds, up to `cap` bytes in all.
    pub fn new(out: Vec<u8>, cap: usize) -> Self {
        CappedVec { out, cap }
    }
}

impl std::io::Write for CappedVec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.cap.saturating_sub(self.out.len()) {
            return Err(std::io::Error::other(format!(
                "more than the {} MiB expected",
                (self.cap as u64).div_ceil(MIB)
            )));
        }
        self.out
            .try_reserve(buf.len())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// `MemAvailable` as this test thread's [`mem_available`] sees it.
        pub(crate) static FREE: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// Runs `f` with [`mem_available`] answering `free` on this thread.
    pub(crate) fn with_free<R>(free: u64, f: impl FnOnce() -> R) -> R {
        FREE.with(|c| c.set(Some(free)));
        let r = f();
        FREE.with(|c| c.set(None));
        r
    }

    #[test]
    fn meter_trips_on_bytes_and_on_time() {
        let m = Meter::with_limits(1000, Duration::from_secs(60));
        m.begin();
        assert!(m.charge(600).is_ok());
        assert!(m.charge(400).is_ok());
        let e = m.charge(1).unwrap_err(); // costs MIN_CHARGE
        assert!(e.to_string().contains("a loop in the filesystem"), "{e}");
        assert!(m.tripped());
        // A new call starts afresh; file data widens the allowance.
        m.begin();
        assert!(!m.tripped());
        m.allow(8000);
        assert!(m.charge(10_000).is_ok());
        assert!(m.charge(2000).is_err());
        let m = Meter::with_limits(u64::MAX, Duration::ZERO);
        m.begin();
        std::thread::sleep(Duration::from_millis(2));
        assert!(m.check_time().is_err());
        assert!(m.why().contains("gave up after"), "{}", m.why());
    }

    #[test]
    fn buffers_sized_by_the_disk_are_checked() {
        assert_eq!(parse_mem_available("MemAvailable:  2048 kB\n"), Some(2 << 20));
        assert!(matches!(buffer("/x", usize::MAX), Err(FsError::TooLarge { .. })));
        let e = with_free(256 << 20, || reserve("/boot/initrd", 1 << 30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/boot/initrd: 1024 MiB, too big for this machine's memory (256 MiB free)"
        );
        assert_eq!(with_free(256 << 20, || buffer("/x", 10)).unwrap(), vec![0; 10]);
        let mut w = CappedVec::new(Vec::new(), 5);
        use std::io::Write;
        assert!(w.write_all(b"abc").is_ok());
        assert!(w.write_all(b"def").is_err());
        assert_eq!(w.out, b"abc");
    }
}
