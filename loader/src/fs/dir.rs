//! A host directory standing for the root of one filesystem (tests, `hopboot
//! probe DIR`, a running system's mounts, kernel-mount fallbacks).
//!
//! Nothing is read from outside the directory: every path, symlinks and `..`
//! included, is resolved with the directory as `/` (openat2 `RESOLVE_IN_ROOT`,
//! see [`crate::sys::open_in_root`]), so an absolute link (`/boot/vmlinuz ->
//! /boot/vmlinuz-6.1`) means the tree's own file, as on the real partition, and
//! a link to `/etc/shadow`, `/dev/…` or `/proc/…` finds nothing of the host's.
//! Another filesystem mounted below is not entered, and only regular files
//! are read (a FIFO or device node is "not found"). Kernels before 5.6 lack
//! openat2: there the host resolves paths as before.

use super::{FsError, FsView, Kind};
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest `UUID`/`LABEL` stand-in file read.
const MAX_IDENT_BYTES: u64 = 256;

/// A directory as a filesystem root. Optional files `UUID` and `LABEL` at the
/// top (as in u-root's test trees) stand in for the filesystem's identity.
#[derive(Debug, Clone)]
pub struct DirFs {
    root: PathBuf,
    /// The root, opened once; every path is resolved below it.
    root_fd: Option<Arc<File>>,
    /// Paths inside the tree that belong to other filesystems (mount points
    /// on a live system): they look absent, as on the real partition.
    hidden: Vec<String>,
    uuid: Option<String>,
    label: Option<String>,
    /// A copy of a `/boot` directory: `/boot/…` names its own root (see
    /// [`DirFs::tree`]).
    boot_is_root: bool,
}

impl DirFs {
    /// Wraps `root`.
    pub fn new(root: &Path) -> Self {
        Self::mounted(root, Vec::new(), None, None)
    }

    /// A mounted filesystem of a running system: its identity comes from the
    /// block device, and mount points below it (`hidden`) are left out.
    pub fn mounted(root: &Path, hidden: Vec<String>, uuid: Option<String>, label: Option<String>) -> Self {
        DirFs {
            root: root.to_path_buf(),
            root_fd: File::open(root).ok().map(Arc::new),
            hidden,
            uuid,
            label,
            boot_is_root: false,
        }
    }

    /// A tree given to `hopboot probe`. A copy of a `/boot` directory (a
    /// GRUB config at `/grub/grub.cfg` or `/grub2/grub.cfg`, and no `/boot`
    /// of its own) also answers under `/boot`: where `/boot` is a directory
    /// of `/`, grub-mkconfig writes `linux /boot/vmlinuz-…`, which in the
    /// copy is `/vmlinuz-…`, as on the partition GRUB reads.
    pub fn tree(root: &Path) -> Self {
        let mut fs = Self::new(root);
        fs.boot_is_root =
            fs.kind("/boot").is_none() && ["/grub/grub.cfg", "/grub2/grub.cfg"].iter().any(|p| fs.is_file(p));
        fs
    }

    /// `path` relative to the root (`.` for the root), `None` when hidden.
    fn rel(&self, path: &str) -> Option<String> {
        let mut rel = super::join("/", path);
        if self.boot_is_root && (rel == "/boot" || rel.starts_with("/boot/")) {
            rel = rel.split_off("/boot".len());
        }
        if self
            .hidden
            .iter()
            .any(|h| rel == *h || rel.starts_with(&format!("{h}/")))
        {
            return None;
        }
        let rel = rel.trim_start_matches('/');
        Some(if rel.is_empty() { ".".into() } else { rel.to_string() })
    }

    /// Opens `path` inside the root with open(2) `flags`.
    fn open(&self, path: &str, flags: OFlag) -> std::io::Result<File> {
        let not_found = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let rel = self.rel(path).ok_or_else(not_found)?;
        let root = self.root_fd.as_ref().ok_or_else(not_found)?;
        match crate::sys::open_in_root(root.as_fd(), Path::new(&rel), flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                use std::os::unix::fs::OpenOptionsExt;
                let extra = if flags.contains(OFlag::O_PATH) {
                    OFlag::empty()
                } else {
                    OFlag::O_NONBLOCK | OFlag::O_NOCTTY
                };
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags((flags | extra).bits())
                    .open(self.root.join(rel))
            }
            r => r,
        }
    }

    fn meta(&self, path: &str) -> Option<std::fs::Metadata> {
        self.open(path, OFlag::O_PATH).ok()?.metadata().ok()
    }

    /// Opens the regular file at `path` for reading, with its length.
    fn open_file(&self, path: &str) -> Result<(File, u64), FsError> {
        let io = |source| FsError::Io {
            path: path.to_string(),
            source,
        };
        let f = match self.open(path, OFlag::O_RDONLY) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FsError::NotFound(path.to_string())),
            Err(e) => return Err(io(e)),
        };
        let m = f.metadata().map_err(io)?;
        if !m.is_file() {
            return Err(FsError::NotFound(path.to_string()));
        }
        Ok((f, m.len()))
    }

    fn ident(&self, name: &str) -> Option<String> {
        let (f, _) = self.open_file(name).ok()?;
        let mut s = String::new();
        f.take(MAX_IDENT_BYTES).read_to_string(&mut s).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    }
}

impl FsView for DirFs {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let (f, size) = self.open_file(path)?;
        if size > limit {
            return Err(FsError::TooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        std::io::copy(&mut f.take(limit), out).map_err(|source| FsError::Io {
            path: path.to_string(),
            source,
        })
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let io = |source| FsError::Io {
            path: path.to_string(),
            source,
        };
        let (mut f, size) = self.open_file(path)?;
        let want = super::range_len(size, offset, len);
        let mut v = super::budget::reserve(path, want as u64)?;
        if want > 0 {
            f.seek(SeekFrom::Start(offset)).map_err(io)?;
            // A file that grew since it was opened still gives at most `len` bytes.
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
        let Ok(f) = self.open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY) else {
            return Vec::new();
        };
        let Ok(mut dir) = nix::dir::Dir::from(f) else {
            return Vec::new();
        };
        super::listing(
            dir.iter()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        )
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

    #[test]
    fn links_resolve_inside_the_tree_and_only_regular_files_are_read() {
        use std::os::unix::fs::symlink;
        let host = test_tree(&[("secret", "host file")]);
        let secret = host.path().join("secret");
        let d = test_tree(&[("boot/vmlinuz-6.1", "kernel"), ("etc/hostname", "tree")]);
        let t = d.path();
        symlink("/boot/vmlinuz-6.1", t.join("boot/vmlinuz")).unwrap();
        symlink(&secret, t.join("boot/grub.cfg")).unwrap();
        symlink("../../../../../../../../etc/hostname", t.join("boot/up")).unwrap();
        symlink("/proc/self/environ", t.join("boot/env")).unwrap();
        nix::unistd::mkfifo(&t.join("LABEL"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let fs = DirFs::new(t);
        // An absolute link is the tree's own file, as on the partition.
        assert_eq!(fs.read("/boot/vmlinuz", 100).unwrap(), b"kernel");
        // A link out of the tree finds nothing of the host's…
        assert!(matches!(fs.read("/boot/grub.cfg", 100), Err(FsError::NotFound(_))));
        assert_eq!(fs.kind("/boot/grub.cfg"), None);
        // …`..` stops at the tree's root…
        assert_eq!(fs.read("/boot/up", 100).unwrap(), b"tree");
        // …and /proc is the tree's /proc, which has no such file.
        assert!(fs.read("/boot/env", 1 << 20).is_err());
        // A FIFO standing in for LABEL neither blocks nor counts.
        assert_eq!(fs.label(), None);
        assert_eq!(fs.kind("/LABEL"), Some(Kind::Other));
    }
}
