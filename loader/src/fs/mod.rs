//! Read-only views of one filesystem: the seam between discovery and storage.
//!
//! Discovery only sees [`FsView`]; in production that is an ext4 partition
//! read in userspace ([`ext4`]), in tests and `hopboot probe DIR` a plain
//! directory ([`dir`]). Nothing here can write.

pub mod budget;
pub mod dir;
pub mod ext4;
mod ext4_check;
pub mod fat;

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Largest config file read (grub.cfg, BLS entries…): a cap against hostile input.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// Largest kernel or initrd read.
pub const MAX_IMAGE_BYTES: u64 = 2 << 30;

/// Why a filesystem or a file in it could not be read. Says whose fault it is:
/// the path does not exist, the bytes are bad, the format is unsupported, or the device failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// No such file or directory.
    #[error("{0}: not found")]
    NotFound(String),
    /// The file is larger than the cap for its kind.
    #[error("{path}: {size} bytes is more than the {limit}-byte limit")]
    TooLarge {
        /// File path.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// A buffer the file's size asks for does not fit in this machine's memory.
    #[error("{path}: {} MiB, too big for this machine's memory ({} MiB free)", .size.div_ceil(1 << 20), .free >> 20)]
    NoMemory {
        /// File path (and the part of it).
        path: String,
        /// Bytes asked for.
        size: u64,
        /// `MemAvailable`.
        free: u64,
    },
    /// The filesystem's bytes are invalid.
    #[error("{0}")]
    Corrupt(String),
    /// Valid but not something this reader handles.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The device or host filesystem failed.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file (or a symlink to one).
    File,
    /// Directory.
    Dir,
    /// Anything else.
    Other,
}

/// One filesystem, read-only. Paths are absolute inside the filesystem ("/boot/grub/grub.cfg").
pub trait FsView {
    /// Reads a whole file, failing with [`FsError::TooLarge`] above `limit` bytes.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let mut v = Vec::new();
        self.copy_to(path, limit, &mut v)?;
        Ok(v)
    }
    /// Streams a whole file into `out` with large reads; returns its length.
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError>;
    /// Reads `len` bytes of the file at `path` from byte `offset`, as pread(2)
    /// does: fewer only when the file ends first (none at or past its end).
    /// Only the asked-for part of the file is read, and the buffer is never
    /// larger than what the file holds there, so a huge `len` costs nothing.
    ///
    /// The default streams the whole file through [`FsView::copy_to`] (at most
    /// [`MAX_IMAGE_BYTES`]) and keeps the range: right, but not cheaper than
    /// reading it all. Real filesystems override it.
    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let size = self.size(path).unwrap_or(0);
        let mut w = RangeWriter::new(offset, len);
        w.out = budget::reserve(path, range_len(size, offset, len) as u64)?;
        self.copy_to(path, MAX_IMAGE_BYTES, &mut w)?;
        Ok(w.out)
    }
    /// Kind of the file at `path` (symlinks followed), `None` when missing.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// Size of the file at `path` (symlinks followed).
    fn size(&self, path: &str) -> Option<u64>;
    /// Names in a directory, sorted. Missing directory = empty.
    fn list(&self, path: &str) -> Vec<String>;
    /// Filesystem UUID, lower case, when it has one (none by default: a
    /// directory, a boot server).
    fn uuid(&self) -> Option<String> {
        None
    }
    /// Filesystem label, when it has one (none by default).
    fn label(&self) -> Option<String> {
        None
    }
    /// "ext4", "vfat", "dir".
    fn fs_type(&self) -> &'static str;

    /// Whether a regular file exists at `path`.
    fn is_file(&self, path: &str) -> bool {
        self.kind(path) == Some(Kind::File)
    }
    /// Whether a directory exists at `path`.
    fn is_dir(&self, path: &str) -> bool {
        self.kind(path) == Some(Kind::Dir)
    }
    /// Reads a text file (lossy UTF-8) of at most [`MAX_CONFIG_BYTES`].
    fn read_text(&self, path: &str) -> Result<String, FsError> {
        let b = self.read(path, MAX_CONFIG_BYTES)?;
        Ok(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// Runs `f`, a call into the userspace reader of `reader` (`"ext4"`: ext4-view,
/// `"FAT"`: fatfs), turning a panic inside the crate into
/// [`FsError::Corrupt`] ("ext4 /boot/x: the ext4 reader crashed (bug)"): one
/// corrupt partition must not take the other disks' entries down with it.
pub(crate) fn guard<R>(reader: &str, what: &str, f: impl FnOnce() -> Result<R, FsError>) -> Result<R, FsError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(crashed(reader, what)))
}

/// [`guard`]'s error, built once for all the closures it runs.
fn crashed(reader: &str, what: &str) -> FsError {
    FsError::Corrupt(format!("{reader} {what}: the {reader} reader crashed (bug)"))
}

/// A directory's names as [`FsView::list`] returns them: without `.` and
/// `..`, sorted.
pub(crate) fn listing(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = names.filter(|n| n != "." && n != "..").collect();
    v.sort();
    v
}

/// Bytes to set aside for a range read of `len` bytes at `offset` in a file
/// of `size` bytes: what the file holds there, at most `len`.
pub(crate) fn range_len(size: u64, offset: u64, len: usize) -> usize {
    usize::try_from(size.saturating_sub(offset)).map_or(len, |left| left.min(len))
}

/// A writer that keeps bytes `offset..offset + len` of what passes through
/// and drops the rest (the default [`FsView::read_range`]).
struct RangeWriter {
    /// Stream position of the next byte written.
    pos: u64,
    offset: u64,
    len: usize,
    out: Vec<u8>,
}

impl RangeWriter {
    fn new(offset: u64, len: usize) -> Self {
        RangeWriter {
            pos: 0,
            offset,
            len,
            out: Vec::new(),
        }
    }
}

impl Write for RangeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len();
        let end = self.pos.saturating_add(n as u64);
        if end > self.offset && self.out.len() < self.len {
            // Where the wanted range starts inside `buf` (0 once it has begun).
            let skip = usize::try_from(self.offset.saturating_sub(self.pos))
                .unwrap_or(n)
                .min(n);
            let rest = buf.get(skip..).unwrap_or_default();
            let take = rest.len().min(self.len - self.out.len());
            self.out
                .try_reserve(take)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
            self.out.extend_from_slice(rest.get(..take).unwrap_or_default());
        }
        self.pos = end;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Joins `base` (absolute dir) and a config-given path, normalising `.`/`..`
/// and repeated slashes; `..` never climbs above `/`.
pub fn join(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let full = if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    };
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default `read_range`, over a view that only has `copy_to`.
    struct Stream(Vec<u8>);

    impl FsView for Stream {
        fn read(&self, _: &str, _: u64) -> Result<Vec<u8>, FsError> {
            Ok(self.0.clone())
        }
        fn copy_to(&self, _: &str, _: u64, out: &mut dyn Write) -> Result<u64, FsError> {
            // Odd-sized pieces, so ranges start and end inside them.
            for piece in self.0.chunks(7) {
                out.write_all(piece).map_err(|source| FsError::Io {
                    path: "/f".into(),
                    source,
                })?;
            }
            Ok(self.0.len() as u64)
        }
        fn kind(&self, _: &str) -> Option<Kind> {
            Some(Kind::File)
        }
        fn size(&self, _: &str) -> Option<u64> {
            Some(self.0.len() as u64)
        }
        fn list(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn fs_type(&self) -> &'static str {
            "dir"
        }
    }

    #[test]
    fn default_read_range_keeps_the_range() {
        let data: Vec<u8> = (0..100u8).collect();
        let fs = Stream(data.clone());
        for (off, len) in [
            (0, 0),
            (0, 100),
            (0, 7),
            (3, 10),
            (7, 7),
            (95, 10),
            (99, 1),
            (100, 5),
            (500, 5),
        ] {
            let want = data.get(off..).unwrap_or_default();
            let want = &want[..len.min(want.len())];
            assert_eq!(fs.read_range("/f", off as u64, len).unwrap(), want, "{off}+{len}");
        }
        assert_eq!(fs.read_range("/f", 10, usize::MAX).unwrap(), &data[10..]);
    }

    #[test]
    fn range_len_is_what_the_file_holds() {
        assert_eq!(range_len(100, 0, 10), 10);
        assert_eq!(range_len(100, 95, 10), 5);
        assert_eq!(range_len(100, 100, 10), 0);
        assert_eq!(range_len(100, u64::MAX, 10), 0);
        assert_eq!(range_len(u64::MAX, 0, usize::MAX), usize::MAX);
    }

    #[test]
    fn guard_turns_a_panic_into_an_error() {
        assert_eq!(guard("ext4", "/x", || Ok(7)).unwrap(), 7);
        let e = guard::<()>("FAT", "open", || panic!("inside fatfs")).unwrap_err();
        assert!(matches!(e, FsError::Corrupt(_)));
        assert_eq!(e.to_string(), "FAT open: the FAT reader crashed (bug)");
        let e = guard::<()>("ext4", "/boot/x", || panic!("inside ext4-view")).unwrap_err();
        assert_eq!(e.to_string(), "ext4 /boot/x: the ext4 reader crashed (bug)");
    }

    #[test]
    fn join_normalises() {
        assert_eq!(super::join("/boot", "vmlinuz"), "/boot/vmlinuz");
        assert_eq!(super::join("/boot/", "/x//y/./z"), "/x/y/z");
        assert_eq!(super::join("/", "../../etc"), "/etc");
        assert_eq!(super::join("/a/b", "../c"), "/a/c");
    }
}
