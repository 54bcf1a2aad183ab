//! A host directory standing for the root of one filesystem (tests, `hopboot
//! probe DIR`, a running system's mounts, kernel-mount fallbacks). A path
//! given to it never leaves the directory: `..` is normalised away. Symlinks
//! are followed by the host kernel, not inside the tree: an absolute link
//! (`/boot/vmlinuz -> /boot/vmlinuz-6.1`) resolves against the host's `/`,
//! which on a live system is the same file, but in a copied tree is not.

use super::{FsError, FsView, Kind};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A directory as a filesystem root. Optional files `UUID` and `LABEL` at the
/// top (as in u-root's test trees) stand in for the filesystem's identity.
#[derive(Debug, Clone)]
pub struct DirFs {
    root: PathBuf,
    /// Paths inside the tree that belong to other filesystems (mount points
    /// on a live system): they look absent, as on the real partition.
    hidden: Vec<String>,
    uuid: Option<String>,
    label: Option<String>,
}

impl DirFs {
    /// Wraps `root`.
    pub fn new(root: &Path) -> Self {
        DirFs {
            root: root.to_path_buf(),
            hidden: Vec::new(),
            uuid: None,
            label: None,
        }
    }

    /// A mounted filesystem of a running system: its identity comes from the
    /// block device, and mount points below it (`hidden`) are left out.
    pub fn mounted(root: &Path, hidden: Vec<String>, uuid: Option<String>, label: Option<String>) -> Self {
        DirFs {
            root: root.to_path_buf(),
            hidden,
            uuid,
            label,
        }
    }

    fn host(&self, path: &str) -> Option<PathBuf> {
        let rel = super::join("/", path);
        if self
            .hidden
            .iter()
            .any(|h| rel == *h || rel.starts_with(&format!("{h}/")))
        {
            return None;
        }
        Some(self.root.join(rel.trim_start_matches('/')))
    }

    fn meta(&self, path: &str) -> Option<std::fs::Metadata> {
        std::fs::metadata(self.host(path)?).ok()
    }

    fn ident(&self, name: &str) -> Option<String> {
        let s = std::fs::read_to_string(self.root.join(name)).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    }
}

impl FsView for DirFs {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let io = |source| FsError::Io {
            path: path.to_string(),
            source,
        };
        let meta = self.meta(path).ok_or_else(|| FsError::NotFound(path.to_string()))?;
        if !meta.is_file() {
            return Err(FsError::NotFound(path.to_string()));
        }
        if meta.len() > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size: meta.len(),
                limit,
            });
        }
        let host = self.host(path).ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let f = std::fs::File::open(host).map_err(io)?;
        std::io::copy(&mut f.take(limit), out).map_err(io)
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let io = |source| FsError::Io {
            path: path.to_string(),
            source,
        };
        let meta = self.meta(path).filter(|m| m.is_file());
        let meta = meta.ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let host = self.host(path).ok_or_else(|| FsError::NotFound(path.to_string()))?;
        let mut f = std::fs::File::open(host).map_err(io)?;
        let want = super::range_len(meta.len(), offset, len);
        let mut v = Vec::with_capacity(want);
        if want > 0 {
            f.seek(SeekFrom::Start(offset)).map_err(io)?;
            // A file that grew since `meta` still gives at most `len` bytes.
            f.take(u64::try_from(len).unwrap_or(u64::MAX))
                .read_to_end(&mut v)
                .map_err(io)?;
        }
        Ok(v)
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        let m = self.meta(path)?;
        Some(if m.is_file() {
            Kind::File
        } else if m.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        })
    }

    fn size(&self, path: &str) -> Option<u64> {
        self.meta(path).map(|m| m.len())
    }

    fn list(&self, path: &str) -> Vec<String> {
        let Some(host) = self.host(path) else { return Vec::new() };
        match std::fs::read_dir(host) {
            Ok(rd) => super::listing(
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            ),
            Err(_) => Vec::new(),
        }
    }

    fn uuid(&self) -> Option<String> {
        self.uuid
            .clone()
            .or_else(|| self.ident("UUID").map(|s| s.to_lowercase()))
    }

    fn label(&self) -> Option<String> {
        self.label.clone().or_else(|| self.ident("LABEL"))
    }

    fn fs_type(&self) -> &'static str {
        "dir"
    }
}

/// A temporary directory holding `files` (path → contents), for tests.
#[cfg(test)]
pub(crate) fn test_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let p = d.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_range_reads_the_range_only() {
        let data: String = (0..10_000u32).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let d = test_tree(&[("boot/big", &data), ("boot/empty", ""), ("boot/sub/x", "x")]);
        let fs = DirFs::new(d.path());
        let b = data.as_bytes();
        assert_eq!(fs.read_range("/boot/big", 0, 16).unwrap(), &b[..16]);
        assert_eq!(fs.read_range("/boot/big", 4093, 10).unwrap(), &b[4093..4103]);
        // Short at the end of the file, empty at and past it.
        assert_eq!(fs.read_range("/boot/big", 9_990, 100).unwrap(), &b[9_990..]);
        assert!(fs.read_range("/boot/big", 10_000, 100).unwrap().is_empty());
        assert!(fs.read_range("/boot/big", u64::MAX, 100).unwrap().is_empty());
        assert_eq!(fs.read_range("/boot/big", 1, usize::MAX).unwrap(), &b[1..]);
        assert!(fs.read_range("/boot/empty", 0, 10).unwrap().is_empty());
        assert!(fs.read_range("/boot/big", 5, 0).unwrap().is_empty());
        assert!(matches!(fs.read_range("/boot/nope", 0, 1), Err(FsError::NotFound(_))));
        assert!(matches!(fs.read_range("/boot/sub", 0, 1), Err(FsError::NotFound(_))));
        // `..` stays inside the tree; hidden paths are absent.
        assert_eq!(fs.read_range("/../boot/sub/x", 0, 5).unwrap(), b"x");
        let hidden = DirFs::mounted(d.path(), vec!["/boot/sub".into()], None, None);
        assert!(matches!(
            hidden.read_range("/boot/sub/x", 0, 1),
            Err(FsError::NotFound(_))
        ));
    }
}
