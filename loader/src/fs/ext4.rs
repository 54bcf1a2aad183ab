//! ext2/3/4 read in userspace with the `ext4-view` crate: nothing is mounted,
//! so nothing can be written and a dirty journal is never replayed.
//!
//! ext4-view 0.9 panicked on some hostile superblocks (a zero
//! `s_blocks_per_group`, a 64-bit `s_desc_size` under 64), which hopboot
//! checked up front; 1.0 returns errors for both. Every call into ext4-view
//! still runs under `catch_unwind` (`fs::guard`), as in [`super::fat`]: one corrupt
//! partition must not take the other disks' entries down with it.
//!
//! Every block ext4-view reads passes two checks in the reader under it:
//! the call's [`Meter`] (bytes and time), and `ext4_check` (extent nodes and
//! inodes that would make ext4-view walk without end are spoiled in the
//! copy it gets, so that file reads as corrupt).

use super::budget::{self, Meter};
use super::ext4_check::Check;
use super::{guard, FsError, FsView, Kind};
use crate::block::Window;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

/// Whether `window` starts with an ext2/3/4 superblock (magic 0xEF53 at byte 1080).
pub fn probe(window: &Window) -> bool {
    let mut m = [0u8; 2];
    window.read_at(1024 + 56, &mut m).is_ok() && m == [0x53, 0xEF]
}

/// Whether the superblock says the journal needs recovery (incompat flag
/// `needs_recovery`, 0x4): the filesystem was not unmounted cleanly.
pub fn needs_recovery(window: &Window) -> bool {
    let mut f = [0u8; 4];
    window.read_at(1024 + 0x60, &mut f).is_ok() && u32::from_le_bytes(f) & 0x4 != 0
}

/// Whether the superblock lists orphan inodes (files deleted while still
/// open when the system went down): `s_last_orphan` (0xe8) set, or the
/// orphan file's `orphan_present` flag (read-only-compatible 0x10000). The
/// kernel deletes them at mount time, even read-only and with `noload`,
/// unless the block device itself is read-only.
pub fn has_orphans(window: &Window) -> bool {
    let mut sb = [0u8; 0x100];
    if window.read_at(1024, &mut sb).is_err() {
        return false;
    }
    crate::le::le_u32(&sb, 0xe8) != 0 || crate::le::le_u32(&sb, 0x64) & 0x1_0000 != 0
}

/// The device as ext4-view sees it, with read-ahead: ext4-view asks for one
/// block at a time, so a file of 8 MiB would cost 2000 small reads; reading
/// 512 KiB ahead turns them into 16 (the device is never written, so the
/// cache cannot go stale). The read-ahead buffer is page aligned, so these
/// reads bypass the page cache ([`Window::read_bulk`]).
struct Reader {
    window: Window,
    /// The current call's budget, charged with every read.
    meter: Arc<Meter>,
    /// The metadata checks; `None` when the superblock made no sense to them.
    check: Rc<RefCell<Option<Check>>>,
    /// Backing store; the cache is `buf[off..off + len]`, `off` page aligning it.
    buf: Vec<u8>,
    off: usize,
    len: usize,
    cache_start: u64,
}

/// Read-ahead size.
const READ_AHEAD: usize = 512 << 10;
/// What loading may read besides the group descriptors (the journal).
const LOAD_BYTES: u64 = 256 << 20;
/// Most names listed from one directory (a /boot holds dozens; discovery
/// never needs more).
const MAX_DIR_ENTRIES: usize = 65_536;

impl Reader {
    fn new(window: Window, meter: Arc<Meter>, check: Rc<RefCell<Option<Check>>>) -> Self {
        Reader {
            window,
            meter,
            check,
            buf: Vec::new(),
            off: 0,
            len: 0,
            cache_start: 0,
        }
    }

    /// The cached bytes for `[start, start + len)`, if all are cached.
    fn cached(&self, start: u64, len: usize) -> Option<&[u8]> {
        let rel = usize::try_from(start.checked_sub(self.cache_start)?).ok()?;
        if rel.checked_add(len)? > self.len {
            return None;
        }
        self.buf.get(self.off + rel..self.off + rel + len)
    }

    /// Fills the cache with up to [`READ_AHEAD`] bytes from the aligned
    /// offset at or below `start`, covering at least `need` bytes from `start`.
    fn fill(&mut self, start: u64, need: usize) -> std::io::Result<()> {
        const A: usize = Window::BULK_ALIGN;
        let base = start - start % A as u64;
        let lead = (start - base) as usize;
        let left = usize::try_from(self.window.len().saturating_sub(base)).unwrap_or(usize::MAX);
        let n = READ_AHEAD.max(lead + need).min(left);
        // Whole pages where the window allows (the last read of an odd-sized window is short).
        let n = if n.is_multiple_of(A) || n + (A - n % A) > left {
            n
        } else {
            n + (A - n % A)
        };
        if self.buf.len() < n + A {
            self.buf = vec![0u8; n + A];
        }
        self.off = (A - self.buf.as_ptr() as usize % A) % A;
        self.len = 0;
        let dst = &mut self.buf[self.off..self.off + n];
        self.window.read_bulk(base, dst)?;
        self.cache_start = base;
        self.len = n;
        Ok(())
    }
}

impl ext4_view::Ext4Read for Reader {
    fn read(&mut self, start: u64, dst: &mut [u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.meter.charge(dst.len())?;
        self.read_raw(start, dst)?;
        if let Some(check) = self.check.borrow_mut().as_mut() {
            check.check(start, dst);
        }
        Ok(())
    }
}

impl Reader {
    fn read_raw(
        &mut self,
        start: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        if let Some(src) = self.cached(start, dst.len()) {
            dst.copy_from_slice(src);
            return Ok(());
        }
        if dst.len() >= READ_AHEAD {
            return self.window.read_at(start, dst).map_err(|e| Box::new(e) as _);
        }
        self.fill(start, dst.len())
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        match self.cached(start, dst.len()) {
            Some(src) => {
                dst.copy_from_slice(src);
                Ok(())
            }
            None => Err("read-ahead came back short".into()),
        }
    }
}

/// An ext4 filesystem on a partition.
pub struct Ext4Fs {
    fs: ext4_view::Ext4,
    meter: Arc<Meter>,
    check: Rc<RefCell<Option<Check>>>,
    /// Bytes of the partition (or disk) the filesystem is on.
    device: u64,
}

/// Most block groups hopboot lets ext4-view load: 128 TiB with 4 KiB blocks.
/// ext4-view allocates a table of all group descriptors up front (16 bytes
/// each) before reading one, and a failed allocation aborts the process: no
/// `catch_unwind` turns it into an error. Bigger filesystems go to the kernel.
pub const MAX_BLOCK_GROUPS: u64 = 1 << 20;

/// Checks the superblock's geometry before ext4-view sizes anything by it: the
/// blocks must fit on the device (the kernel's "block count exceeds size of
/// device"), and the group count must stay within [`MAX_BLOCK_GROUPS`].
/// `s_blocks_count_hi` counts as ext4-view reads it, even without 64BIT. Bad
/// values the kernel would also refuse, or that ext4-view rejects itself, pass.
fn check_geometry(window: &Window) -> Result<(), FsError> {
    use crate::le::le_u32;
    let mut sb = [0u8; 0x154];
    if window.read_at(1024, &mut sb).is_err() {
        return Ok(()); // ext4-view reports the read error itself
    }
    let log_block_size = le_u32(&sb, 0x18);
    let blocks_per_group = u64::from(le_u32(&sb, 0x20));
    if log_block_size > 6 || blocks_per_group == 0 {
        return Ok(()); // ext4-view rejects these without allocating
    }
    let blocks = u64::from(le_u32(&sb, 0x150)) << 32 | u64::from(le_u32(&sb, 0x04));
    let device_blocks = window.len() >> (10 + log_block_size);
    if blocks > device_blocks {
        return Err(FsError::Corrupt(format!(
            "ext4: block count {blocks} exceeds the size of the device ({device_blocks} blocks)"
        )));
    }
    let groups = blocks
        .saturating_sub(u64::from(le_u32(&sb, 0x14)))
        .div_ceil(blocks_per_group);
    if groups > MAX_BLOCK_GROUPS {
        return Err(FsError::Unsupported(format!(
            "ext4: {groups} block groups, more than the userspace reader loads ({MAX_BLOCK_GROUPS})"
        )));
    }
    Ok(())
}

impl Ext4Fs {
    /// Loads the superblock and group descriptors of the filesystem in `window`.
    pub fn open(window: Window) -> Result<Self, FsError> {
        Self::open_metered(window, Meter::default())
    }

    /// [`Ext4Fs::open`] with the given budget per call (tests give small ones).
    pub fn open_metered(window: Window, meter: Meter) -> Result<Self, FsError> {
        check_geometry(&window)?;
        let device = window.len();
        let check = Check::load(|at, buf| window.read_at(at, buf).is_ok());
        let check = Rc::new(RefCell::new(check));
        let meter = Arc::new(meter);
        let groups = check.borrow().as_ref().map_or(0, Check::groups);
        let fs = call(&meter, &check, "superblock", || {
            // ext4-view reads every group descriptor on its own, and a
            // journal that needs recovery, before it returns.
            meter.allow(
                groups
                    .saturating_mul(budget::MIN_CHARGE as u64)
                    .saturating_add(LOAD_BYTES),
            );
            let reader = Reader::new(window, meter.clone(), check.clone());
            ext4_view::Ext4::load(Box::new(reader)).map_err(map_err(""))
        })?;
        Ok(Ext4Fs {
            fs,
            meter,
            check,
            device,
        })
    }

    /// Runs one call into ext4-view for `path` (see [`call`]).
    fn call<R>(&self, path: &str, f: impl FnOnce() -> Result<R, FsError>) -> Result<R, FsError> {
        call(&self.meter, &self.check, path, f)
    }

    fn meta(&self, path: &str) -> Option<ext4_view::Metadata> {
        self.call(path, || {
            let Ok(p) = self.resolve(path) else { return Ok(None) };
            Ok(self.fs.metadata(p.as_str()).ok())
        })
        .ok()
        .flatten()
    }

    /// `path` with every symlink in it followed here, one component at a
    /// time, so that ext4-view never follows one itself: it reads a target
    /// into a buffer as big as the symlink's inode claims (a corrupt one
    /// claimed 1.5 GB: fuzz-smoke's out-of-memory). A target longer than
    /// Linux's PATH_MAX is corrupt, and at most 40 symlinks are followed, as
    /// Linux does.
    fn resolve(&self, path: &str) -> Result<String, FsError> {
        const MAX_TARGET: u64 = 4096;
        const MAX_FOLLOWS: usize = 40;
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut follows = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            let here = format!(
                "/{}",
                done.iter()
                    .chain([&c])
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("/")
            );
            let m = self.fs.symlink_metadata(here.as_str()).map_err(map_err(path))?;
            if !m.is_symlink() {
                done.push(c);
                continue;
            }
            follows += 1;
            if follows > MAX_FOLLOWS {
                return Err(FsError::Corrupt(format!(
                    "ext4 {path}: more than {MAX_FOLLOWS} symlinks"
                )));
            }
            if m.len() > MAX_TARGET {
                return Err(FsError::Corrupt(format!(
                    "ext4 {path}: the symlink {here} claims a target of {} bytes",
                    m.len()
                )));
            }
            let target = self.fs.read_link(here.as_str()).map_err(map_err(path))?;
            let target = target
                .to_str()
                .map_err(|_| FsError::NotFound(path.to_string()))?
                .to_string();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_string));
        }
        Ok(format!("/{}", done.join("/")))
    }
}

/// Runs one call into ext4-view for `path` under a fresh budget and
/// `catch_unwind`. A call that ran out of budget is an error saying so; a
/// corrupt file that `ext4_check` refused says why.
fn call<R>(
    meter: &Meter,
    check: &RefCell<Option<Check>>,
    path: &str,
    f: impl FnOnce() -> Result<R, FsError>,
) -> Result<R, FsError> {
    let refused = || check.borrow().as_ref().map_or(0, |c| c.refused.len());
    meter.begin();
    let before = refused();
    let r = guard("ext4", path, f);
    if let Some(e) = meter.tripped_error("ext4", path) {
        return Err(e);
    }
    match r {
        Err(FsError::Corrupt(m)) => Err(explain(check, m, before)),
        r => r,
    }
}

/// A corrupt-file message, with what `ext4_check` refused during the call
/// (from index `before` of its list), or anything it refused when the
/// message is about extents (ext4-view may have cached the spoiled block in
/// an earlier call).
fn explain(check: &RefCell<Option<Check>>, m: String, before: usize) -> FsError {
    let why = check.borrow().as_ref().map_or_else(String::new, |c| {
        let new = c.refused.get(before..).unwrap_or_default();
        if !new.is_empty() {
            new.join("; ")
        } else if m.contains("extent") {
            c.refused.join("; ")
        } else {
            String::new()
        }
    });
    if why.is_empty() {
        FsError::Corrupt(m)
    } else {
        FsError::Corrupt(format!("{m} (hopboot refused {why})"))
    }
}

fn map_err(path: &str) -> impl Fn(ext4_view::Ext4Error) -> FsError + '_ {
    move |e| match e {
        ext4_view::Ext4Error::NotFound => FsError::NotFound(path.to_string()),
        ext4_view::Ext4Error::Corrupt(c) => FsError::Corrupt(format!("ext4 {path}: {c}")),
        ext4_view::Ext4Error::Incompatible(i) => FsError::Unsupported(format!("ext4: {i}")),
        ext4_view::Ext4Error::Io(io) => FsError::Io {
            path: path.to_string(),
            source: std::io::Error::other(io.to_string()),
        },
        other => FsError::Corrupt(format!("ext4 {path}: {other}")),
    }
}

impl FsView for Ext4Fs {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        self.call(path, || {
            let resolved = self.resolve(path)?;
            let mut f = self.fs.open(resolved.as_str()).map_err(map_err(path))?;
            let size = f.metadata().len();
            if f.metadata().is_dir() {
                return Err(FsError::NotFound(path.to_string()));
            }
            if size > limit {
                return Err(FsError::TooLarge {
                    path: path.to_string(),
                    size,
                    limit,
                });
            }
            budget::fits_device(path, size, self.device)?;
            self.meter.allow(size);
            // Large reads: ext4-view follows the extent tree, a big buffer keeps
            // the per-call overhead small.
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                let n = f.read_bytes(&mut buf).map_err(map_err(path))?;
                if n == 0 {
                    break;
                }
                // Blocks ext4-view has cached cost no read: the time still counts.
                self.meter.check_time().map_err(|source| FsError::Io {
                    path: path.to_string(),
                    source,
                })?;
                let chunk = buf.get(..n).unwrap_or(&[]);
                out.write_all(chunk).map_err(|source| FsError::Io {
                    path: path.to_string(),
                    source,
                })?;
                total = total.saturating_add(n as u64);
            }
            Ok(total)
        })
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        self.call(path, || {
            // Not a regular file is "no such file", as in the other views.
            let resolved = self.resolve(path)?;
            let mut f = self.fs.open(resolved.as_str()).map_err(|e| match e {
                ext4_view::Ext4Error::IsADirectory | ext4_view::Ext4Error::IsASpecialFile => {
                    FsError::NotFound(path.to_string())
                }
                e => map_err(path)(e),
            })?;
            let size = f.metadata().len();
            if size > super::MAX_IMAGE_BYTES {
                return Err(FsError::TooLarge {
                    path: path.to_string(),
                    size,
                    limit: super::MAX_IMAGE_BYTES,
                });
            }
            budget::fits_device(path, size, self.device)?;
            let mut v = budget::buffer(path, super::range_len(size, offset, len))?;
            if v.is_empty() {
                return Ok(v);
            }
            // Seeking walks the file's blocks up to `offset`.
            self.meter.allow(offset / 64 + v.len() as u64);
            // seek_to walks the extent tree to the block holding `offset`.
            f.seek_to(offset).map_err(map_err(path))?;
            let mut got = 0;
            while let Some(dst) = v.get_mut(got..).filter(|d| !d.is_empty()) {
                let n = f.read_bytes(dst).map_err(map_err(path))?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            v.truncate(got);
            Ok(v)
        })
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        let m = self.meta(path)?;
        Some(if m.is_dir() {
            Kind::Dir
        } else if m.file_type().is_regular_file() {
            Kind::File
        } else {
            Kind::Other
        })
    }

    fn size(&self, path: &str) -> Option<u64> {
        self.meta(path).map(|m| m.len())
    }

    fn list(&self, path: &str) -> Vec<String> {
        self.call(path, || {
            let Ok(rd) = self
                .resolve(path)
                .and_then(|p| self.fs.read_dir(p.as_str()).map_err(map_err(path)))
            else {
                return Ok(Vec::new());
            };
            Ok(super::listing(
                rd.take(MAX_DIR_ENTRIES)
                    .map_while(Result::ok)
                    .filter_map(|e| e.file_name().as_str().ok().map(str::to_string)),
            ))
        })
        .unwrap_or_default()
    }

    fn uuid(&self) -> Option<String> {
        Some(self.fs.uuid().to_string().to_lowercase())
    }

    fn label(&self) -> Option<String> {
        let l = self.fs.label().to_str().ok()?.trim_end_matches('\0').to_string();
        (!l.is_empty()).then_some(l)
    }

    fn fs_type(&self) -> &'static str {
        "ext4"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Disk;
    use crate::fs::budget::tests::with_free;
    use std::process::Command;

    /// An ext4 image whose /boot/initrd.img claims `size` bytes (`debugfs
    /// sif`: the blocks past the real 6 bytes are holes).
    fn claiming(dir: &std::path::Path, size: u64) -> std::path::PathBuf {
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("boot")).unwrap();
        std::fs::write(tree.join("boot/initrd.img"), b"initrd").unwrap();
        let img = dir.join(format!("claim-{size}.img"));
        let ok = |c: &mut Command| {
            let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e} (install e2fsprogs)"));
            assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        ok(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("2M"));
        ok(Command::new("debugfs")
            .args(["-w", "-R", &format!("sif /boot/initrd.img size {size}")])
            .arg(&img));
        img
    }

    /// Symlinks are followed by hopboot, component by component, as the
    /// kernel would: absolute and relative targets, `..`, chains, a symlinked
    /// directory; a loop and a symlink whose inode claims a 1.5 GB target
    /// (fuzz-smoke's out-of-memory inside ext4-view) are errors, not a buffer.
    #[test]
    fn symlinks_are_followed_here_and_a_huge_target_is_corrupt() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        std::fs::create_dir_all(tree.join("boot/grub")).unwrap();
        std::fs::write(tree.join("boot/vmlinuz-6.1"), b"kernel").unwrap();
        symlink("boot/vmlinuz-6.1", tree.join("vmlinuz")).unwrap();
        symlink("/vmlinuz", tree.join("chain")).unwrap();
        symlink("../grub/./../vmlinuz-6.1", tree.join("boot/grub/up")).unwrap();
        symlink("boot", tree.join("b")).unwrap();
        symlink("loop2", tree.join("loop1")).unwrap();
        symlink("loop1", tree.join("loop2")).unwrap();
        // Long enough to be stored in a block (over 59 bytes), then claimed huge.
        symlink(format!("/boot/{}", "x/".repeat(40)), tree.join("huge")).unwrap();
        let img = d.path().join("links.img");
        let ok = |c: &mut Command| {
            let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e} (install e2fsprogs)"));
            assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        // Without metadata checksums, as the fuzzer's image: debugfs leaves the
        // symlink's inode checksum stale.
        ok(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-O", "^metadata_csum", "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("2M"));
        ok(Command::new("debugfs")
            .args(["-w", "-R", "sif /huge size 1493172231"])
            .arg(&img));
        let fs = Ext4Fs::open(Disk::open(&img).unwrap().whole()).unwrap();
        for p in ["/vmlinuz", "/chain", "/boot/grub/up", "/b/vmlinuz-6.1", "/b/../vmlinuz"] {
            assert_eq!(fs.read_range(p, 0, 64).unwrap(), b"kernel", "{p}");
            assert_eq!(fs.kind(p), Some(Kind::File), "{p}");
        }
        assert_eq!(fs.kind("/b"), Some(Kind::Dir));
        assert!(fs.list("/b").contains(&"vmlinuz-6.1".to_string()));
        let mut out = Vec::new();
        assert_eq!(fs.copy_to("/chain", 100, &mut out).unwrap(), 6);
        let e = fs.read_range("/loop1", 0, 64).unwrap_err().to_string();
        assert!(e.contains("more than 40 symlinks"), "{e}");
        let e = fs.read_range("/huge", 0, 64).unwrap_err().to_string();
        assert!(
            e.contains("the symlink /huge claims a target of 1493172231 bytes"),
            "{e}"
        );
        assert_eq!(fs.kind("/huge/x"), None);
        assert_eq!(fs.size("/huge"), None);
    }

    /// A file that claims more than a read may hold is refused before a
    /// buffer is set aside: above MAX_IMAGE_BYTES as too large, above
    /// `MemAvailable` as too big for this machine's memory. The buffer was
    /// `vec![0; size]`: on a 256 MiB machine, an abort of PID 1.
    #[test]
    fn read_range_of_a_file_claiming_more_than_memory() {
        let d = tempfile::tempdir().unwrap();
        let img = claiming(d.path(), 4 << 30);
        let fs = Ext4Fs::open(Disk::open(&img).unwrap().whole()).unwrap();
        assert_eq!(fs.size("/boot/initrd.img"), Some(4 << 30));
        let r = fs.read_range("/boot/initrd.img", 0, usize::MAX);
        assert!(matches!(r, Err(FsError::TooLarge { .. })), "{:?}", r.map(|v| v.len()));

        // More than the 2 MiB filesystem holds: refused whatever memory is free
        // (it was a 1.5 GiB buffer when memory allowed, fuzz-smoke's OOM).
        let img = claiming(d.path(), 1536 << 20);
        let fs = Ext4Fs::open(Disk::open(&img).unwrap().whole()).unwrap();
        let r = with_free(8 << 30, || fs.read_range("/boot/initrd.img", 0, usize::MAX));
        match r {
            Err(e) => assert_eq!(
                e.to_string(),
                "/boot/initrd.img: claims 1610612736 bytes, more than the 2097152-byte device holding it"
            ),
            Ok(v) => panic!("read {} bytes", v.len()),
        }
        let mut sink = Vec::new();
        assert!(matches!(
            fs.copy_to("/boot/initrd.img", u64::MAX, &mut sink),
            Err(FsError::Corrupt(_))
        ));
        assert!(sink.is_empty());

        // What the device could hold but this machine's memory cannot.
        let img = claiming(d.path(), 1536 << 10);
        let fs = Ext4Fs::open(Disk::open(&img).unwrap().whole()).unwrap();
        let r = with_free(1 << 20, || fs.read_range("/boot/initrd.img", 0, usize::MAX));
        match r {
            Err(e) => assert_eq!(
                e.to_string(),
                "/boot/initrd.img: 2 MiB, too big for this machine's memory (1 MiB free)"
            ),
            Ok(v) => panic!("read {} bytes", v.len()),
        }
        // What fits still reads.
        let r = with_free(256 << 20, || fs.read_range("/boot/initrd.img", 0, 6)).unwrap();
        assert_eq!(r, b"initrd");
    }
}
