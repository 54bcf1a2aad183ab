//! Downloaded files as a filesystem: an [`FsView`] over memfds, keyed by the
//! path the boot entry names (its kernel and initrd URLs, say), so that
//! [`crate::kexec::load`] reads network files exactly as it reads a disk's.
//! Reads use pread(2) on the memfd: the [`Download`]'s own position does
//! not matter and nothing is copied into a `Vec` that is not asked for.

use super::download::Download;
use crate::fs::{FsError, FsView, Kind};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileExt;

/// Files fetched before the boot, by name.
#[derive(Debug, Default)]
pub struct Fetched {
    files: BTreeMap<String, Download>,
}

impl Fetched {
    /// No files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `download` as `path` (replacing an earlier one).
    pub fn insert(&mut self, path: &str, download: Download) {
        self.files.insert(path.to_string(), download);
    }

    fn get(&self, path: &str) -> Result<&Download, FsError> {
        self.files.get(path).ok_or_else(|| FsError::NotFound(path.to_string()))
    }
}

/// 1 MiB pieces: as large as the disk readers' copies.
const PIECE: usize = 1 << 20;

impl FsView for Fetched {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let d = self.get(path)?;
        if d.size > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size: d.size,
                limit,
            });
        }
        let io = |source| FsError::Io {
            path: path.to_string(),
            source,
        };
        let mut buf = vec![0u8; PIECE.min(usize::try_from(d.size).unwrap_or(PIECE))];
        let mut at = 0u64;
        while at < d.size {
            let want = crate::fs::range_len(d.size, at, buf.len());
            let piece = buf.get_mut(..want).unwrap_or_default();
            d.file.read_exact_at(piece, at).map_err(io)?;
            out.write_all(piece).map_err(io)?;
            at = at.saturating_add(want as u64);
        }
        Ok(d.size)
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let d = self.get(path)?;
        let want = crate::fs::range_len(d.size, offset, len);
        let mut v = crate::fs::budget::reserve(path, want as u64)?;
        v.resize(want, 0);
        d.file.read_exact_at(&mut v, offset).map_err(|source| FsError::Io {
            path: path.to_string(),
            source,
        })?;
        Ok(v)
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.files.contains_key(path).then_some(Kind::File)
    }

    fn size(&self, path: &str) -> Option<u64> {
        self.files.get(path).map(|d| d.size)
    }

    fn list(&self, _path: &str) -> Vec<String> {
        Vec::new()
    }

    fn uuid(&self) -> Option<String> {
        None
    }

    fn label(&self) -> Option<String> {
        None
    }

    fn fs_type(&self) -> &'static str {
        "net"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::download::Sink;

    fn download(bytes: &[u8]) -> Download {
        let mut s = Sink::memfd(c"t", 1 << 30, None).unwrap();
        s.write(bytes).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn serves_downloads_like_files() {
        let kernel: Vec<u8> = (0..3 * PIECE + 5).map(|i| (i % 253) as u8).collect();
        let mut f = Fetched::new();
        f.insert("http://192.0.2.1/vmlinuz", download(&kernel));
        f.insert("http://192.0.2.1/initrd.img", download(b"initrd"));
        let k = "http://192.0.2.1/vmlinuz";
        assert_eq!((f.kind(k), f.size(k)), (Some(Kind::File), Some(kernel.len() as u64)));
        let mut out = Vec::new();
        assert_eq!(f.copy_to(k, u64::MAX, &mut out).unwrap(), kernel.len() as u64);
        assert!(out == kernel);
        assert_eq!(f.read_range(k, 0x202, 4).unwrap(), kernel[0x202..0x206]);
        assert_eq!(
            f.read_range(k, kernel.len() as u64 - 2, 10).unwrap(),
            kernel[kernel.len() - 2..]
        );
        assert!(f.read_range(k, 1 << 40, 10).unwrap().is_empty());
        assert_eq!(f.read("http://192.0.2.1/initrd.img", 100).unwrap(), b"initrd");
        assert!(matches!(
            f.copy_to(k, 10, &mut Vec::new()),
            Err(FsError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(f.read("tftp://x/y", 10), Err(FsError::NotFound(_))));
        assert_eq!(f.kind("tftp://x/y"), None);
    }
}
