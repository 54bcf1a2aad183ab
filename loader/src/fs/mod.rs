//! Read-only views of one filesystem: the seam between discovery and storage.
//!
//! Discovery only sees [`FsView`]; in production that is an ext4 partition
//! read in userspace ([`ext4`]), in tests and `hopboot probe DIR` a plain
//! directory ([`dir`]). Nothing here can write.

pub mod dir;
pub mod ext4;
pub mod fat;

use std::io::Write;

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
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError>;
    /// Streams a whole file into `out` with large reads; returns its length.
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError>;
    /// Kind of the file at `path` (symlinks followed), `None` when missing.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// Size of the file at `path` (symlinks followed).
    fn size(&self, path: &str) -> Option<u64>;
    /// Names in a directory, sorted. Missing directory = empty.
    fn list(&self, path: &str) -> Vec<String>;
    /// Filesystem UUID, lower case, when it has one.
    fn uuid(&self) -> Option<String>;
    /// Filesystem label, when it has one.
    fn label(&self) -> Option<String>;
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
    #[test]
    fn join_normalises() {
        assert_eq!(super::join("/boot", "vmlinuz"), "/boot/vmlinuz");
        assert_eq!(super::join("/boot/", "/x//y/./z"), "/x/y/z");
        assert_eq!(super::join("/", "../../etc"), "/etc");
        assert_eq!(super::join("/a/b", "../c"), "/a/c");
    }
}
