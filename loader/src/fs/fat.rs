//! FAT12/16/32 (the EFI System Partition, syslinux and U-Boot boot
//! partitions) read in userspace with the `fatfs` crate.
//!
//! Read-only by construction: `fatfs` wants `Read + Write + Seek`, and the
//! adapter's `write` always fails, so nothing can reach the disk even if
//! `fatfs` tries (it would only ever try to update the FSInfo sector or the
//! dirty flag on unmount; access dates are off). Lookups are case-insensitive,
//! as FAT is, on long and on 8.3 names. `fatfs` is not hardened against
//! hostile images, so every call into it runs under `catch_unwind`
//! (`fs::guard`), directory walks are capped, and every byte fatfs reads is
//! charged to the call's [`Meter`]: a directory whose cluster chain comes
//! back to itself, full of deleted or long-name entries that fatfs skips
//! inside its own iterator, ends with an error instead of looping for ever.

use super::budget::{self, Meter};
use super::{guard, FsError, FsView, Kind};
use crate::block::Window;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// Bytes the adapter reads ahead: fatfs reads 32-byte directory entries one
/// at a time, this turns them into few, larger reads.
const CACHE: usize = 256 << 10;
/// Most entries looked at in one directory (a corrupt cluster chain can loop;
/// real ESP directories hold a few dozen).
const MAX_DIR_ENTRIES: usize = 8192;
/// Most path components followed.
const MAX_DEPTH: usize = 64;

/// Whether `window` starts with a FAT boot sector: the 0x55AA signature, a
/// sane BIOS Parameter Block, and "FAT" in one of the fs-type fields (at 0x36
/// for FAT12/16, 0x52 for FAT32; mkfs.fat and Windows both write them).
pub fn probe(window: &Window) -> bool {
    let mut b = [0u8; 512];
    if window.read_at(0, &mut b).is_err() {
        return false;
    }
    let le16 = |o: usize| crate::le::le_u16(&b, o);
    let byte = |o: usize| b.get(o).copied().unwrap_or(0);
    let bytes_per_sector = le16(11);
    let sectors_per_cluster = byte(13);
    let fat_string = |o: usize| b.get(o..o + 3) == Some(b"FAT");
    b.get(510..512) == Some(&[0x55, 0xAA])
        && matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && sectors_per_cluster.is_power_of_two()
        && le16(14) >= 1
        && byte(16) >= 1
        && (byte(21) == 0xF0 || byte(21) >= 0xF8)
        && (fat_string(0x36) || fat_string(0x52))
}

/// `Read + Seek` over a [`Window`] with read-ahead, and a `Write` that
/// refuses everything.
///
/// fatfs reads a file one cluster at a time and looks up each next cluster
/// in the FAT, so reads alternate between the FAT and the data area: one
/// cached window would be refilled twice per cluster (for a 30 MB UKI with
/// 2 KiB clusters, 30 000 refills of 64 KiB). A few windows, least recently
/// used replaced, keep both the FAT and the file's data cached.
struct WindowIo {
    window: Window,
    /// The current call's budget, charged with every read.
    meter: Arc<Meter>,
    pos: u64,
    /// `(start, bytes, last use)`; at most [`SLOTS`].
    slots: Vec<(u64, Vec<u8>, u64)>,
    clock: u64,
}

/// Cached windows.
const SLOTS: usize = 4;

impl WindowIo {
    fn new(window: Window, meter: Arc<Meter>) -> Self {
        WindowIo {
            window,
            meter,
            pos: 0,
            slots: Vec::new(),
            clock: 0,
        }
    }

    /// The cached slot holding `[pos, pos + want)`, filling one if none does.
    fn slot(&mut self, pos: u64, want: usize) -> io::Result<&[u8]> {
        self.clock += 1;
        let end = pos.saturating_add(want as u64);
        let hit = self
            .slots
            .iter()
            .position(|(s, b, _)| pos >= *s && end <= s.saturating_add(b.len() as u64));
        let i = match hit {
            Some(i) => i,
            None => {
                let len = usize::try_from(self.window.len().saturating_sub(pos))
                    .unwrap_or(usize::MAX)
                    .min(CACHE);
                let mut buf = vec![0u8; len];
                self.window.read_at(pos, &mut buf)?;
                if self.slots.len() < SLOTS {
                    self.slots.push((pos, buf, 0));
                    self.slots.len() - 1
                } else {
                    let lru = (0..self.slots.len()).min_by_key(|&i| self.slots[i].2).unwrap_or(0);
                    self.slots[lru] = (pos, buf, 0);
                    lru
                }
            }
        };
        let clock = self.clock;
        let (start, buf, used) = &mut self.slots[i];
        *used = clock;
        let off = usize::try_from(pos - *start).unwrap_or(usize::MAX);
        buf.get(off..off.saturating_add(want))
            .ok_or_else(|| io::Error::other("read cache out of range"))
    }
}

impl Read for WindowIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.window.len().saturating_sub(self.pos);
        let want = usize::try_from(avail).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        self.meter.charge(want)?;
        let dst = buf.get_mut(..want).unwrap_or_default();
        if want >= CACHE {
            self.window.read_at(self.pos, dst)?;
        } else {
            let src = self.slot(self.pos, want)?;
            dst.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(want as u64);
        Ok(want)
    }
}

impl Write for WindowIo {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "hopboot opens FAT filesystems read-only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for WindowIo {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => i128::from(self.window.len()) + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        self.pos = u64::try_from(new).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

type Fs = fatfs::FileSystem<WindowIo>;
type Dir<'a> = fatfs::Dir<'a, WindowIo>;
type Entry<'a> = fatfs::DirEntry<'a, WindowIo>;

/// What a path names.
enum Node<'a> {
    Root,
    Entry(Entry<'a>),
}

/// A FAT filesystem on a partition.
pub struct FatFs {
    fs: Fs,
    meter: Arc<Meter>,
    /// Bytes of the partition (or disk) the filesystem is on.
    device: u64,
}

fn io_err(path: &str, e: io::Error) -> FsError {
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound(path.to_string()),
        _ if e.raw_os_error().is_some() => FsError::Io {
            path: path.to_string(),
            source: e,
        },
        _ => FsError::Corrupt(format!("FAT {path}: {e}")),
    }
}

/// Case-insensitive name comparison, as FAT lookups are.
fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

impl FatFs {
    /// Reads the boot sector (and FSInfo for FAT32) of the filesystem in `window`.
    pub fn open(window: Window) -> Result<Self, FsError> {
        Self::open_metered(window, Meter::default())
    }

    /// [`FatFs::open`] with the given budget per call (tests give small ones).
    pub fn open_metered(window: Window, meter: Meter) -> Result<Self, FsError> {
        let meter = Arc::new(meter);
        meter.begin();
        let device = window.len();
        guard("FAT", "open", || {
            let opts = fatfs::FsOptions::new().update_accessed_date(false);
            let io = WindowIo::new(window, meter.clone());
            let fs = fatfs::FileSystem::new(io, opts).map_err(|e| io_err("", e))?;
            Ok(FatFs {
                fs,
                meter: meter.clone(),
                device,
            })
        })
        .map_err(|e| meter.error("FAT", "open", e))
    }

    /// Runs one call into fatfs for `path` under a fresh budget and
    /// `catch_unwind`; a call that ran out of budget is an error saying so,
    /// whatever fatfs made of the failed read.
    fn call<R>(&self, path: &str, f: impl FnOnce() -> Result<R, FsError>) -> Result<R, FsError> {
        self.meter.begin();
        let r = guard("FAT", path, f);
        match self.meter.tripped_error("FAT", path) {
            Some(e) => Err(e),
            None => r,
        }
    }

    fn find<'a>(dir: &Dir<'a>, name: &str) -> Option<Entry<'a>> {
        dir.iter()
            .take(MAX_DIR_ENTRIES)
            .map_while(Result::ok)
            .find(|e| same_name(&e.file_name(), name) || same_name(&e.short_file_name(), name))
    }

    /// Resolves `path`; `Ok(None)` when it does not exist.
    fn lookup(&self, path: &str) -> Option<Node<'_>> {
        let norm = super::join("/", path);
        let parts: Vec<&str> = norm.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() > MAX_DEPTH {
            return None;
        }
        let Some((last, dirs)) = parts.split_last() else {
            return Some(Node::Root);
        };
        let mut dir = self.fs.root_dir();
        for d in dirs {
            let e = Self::find(&dir, d).filter(|e| e.is_dir())?;
            dir = e.to_dir();
        }
        Self::find(&dir, last).map(Node::Entry)
    }

    fn dir(&self, path: &str) -> Option<Dir<'_>> {
        match self.lookup(path)? {
            Node::Root => Some(self.fs.root_dir()),
            Node::Entry(e) if e.is_dir() => Some(e.to_dir()),
            Node::Entry(_) => None,
        }
    }
}

impl FsView for FatFs {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        self.call(path, || {
            let e = match self.lookup(path) {
                Some(Node::Entry(e)) if e.is_file() => e,
                _ => return Err(FsError::NotFound(path.to_string())),
            };
            let size = e.len();
            if size > limit {
                return Err(FsError::TooLarge {
                    path: path.to_string(),
                    size,
                    limit,
                });
            }
            budget::fits_device(path, size, self.device)?;
            self.meter.allow(size);
            let mut f = e.to_file();
            let mut buf = vec![0u8; 256 << 10];
            let mut total = 0u64;
            while total < size {
                let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
                if n == 0 {
                    break;
                }
                // fatfs stops at the directory entry's size; the cap is a backstop.
                let n = usize::try_from(size - total).unwrap_or(usize::MAX).min(n);
                out.write_all(buf.get(..n).unwrap_or_default())
                    .map_err(|source| FsError::Io {
                        path: path.to_string(),
                        source,
                    })?;
                total = total.saturating_add(n as u64);
            }
            if total != size {
                return Err(FsError::Corrupt(format!(
                    "FAT {path}: cluster chain ends after {total} of {size} bytes"
                )));
            }
            Ok(total)
        })
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        self.call(path, || {
            let e = match self.lookup(path) {
                Some(Node::Entry(e)) if e.is_file() => e,
                _ => return Err(FsError::NotFound(path.to_string())),
            };
            budget::fits_device(path, e.len(), self.device)?;
            let want = super::range_len(e.len(), offset, len);
            let mut v = budget::buffer(path, want)?;
            // Following the chain to `offset` reads the FAT, then `want` bytes of data.
            self.meter.allow(offset.saturating_add(want as u64) / 64 + want as u64);
            if want == 0 {
                return Ok(v);
            }
            let mut f = e.to_file();
            // fatfs follows the cluster chain to `offset`, and stops where the
            // chain ends: a position short of `offset` means a broken chain.
            let at = f.seek(SeekFrom::Start(offset)).map_err(|e| io_err(path, e))?;
            let mut got = 0;
            if at == offset {
                while let Some(dst) = v.get_mut(got..).filter(|d| !d.is_empty()) {
                    let n = f.read(dst).map_err(|e| io_err(path, e))?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
            }
            if got != want {
                return Err(FsError::Corrupt(format!(
                    "FAT {path}: cluster chain ends before byte {} of {}",
                    offset.saturating_add(got as u64),
                    e.len()
                )));
            }
            Ok(v)
        })
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.call(path, || {
            Ok(self.lookup(path).map(|n| match n {
                Node::Root => Kind::Dir,
                Node::Entry(e) if e.is_dir() => Kind::Dir,
                Node::Entry(e) if e.is_file() => Kind::File,
                Node::Entry(_) => Kind::Other,
            }))
        })
        .ok()
        .flatten()
    }

    fn size(&self, path: &str) -> Option<u64> {
        self.call(path, || {
            Ok(match self.lookup(path) {
                Some(Node::Entry(e)) if e.is_file() => Some(e.len()),
                _ => None,
            })
        })
        .ok()
        .flatten()
    }

    fn list(&self, path: &str) -> Vec<String> {
        self.call(path, || {
            let Some(dir) = self.dir(path) else {
                return Ok(Vec::new());
            };
            Ok(super::listing(
                dir.iter()
                    .take(MAX_DIR_ENTRIES)
                    .map_while(Result::ok)
                    .map(|e| e.file_name()),
            ))
        })
        .unwrap_or_default()
    }

    /// The volume serial number as blkid and GRUB print it for FAT:
    /// `XXXX-XXXX`, upper-case hex (e.g. `4842-0001`). Unlike ext4's UUID this
    /// is not lower case, because `UUID=`/`--fs-uuid` strings for FAT are
    /// written in upper case by blkid, fstab and GRUB.
    fn uuid(&self) -> Option<String> {
        let id = self.fs.volume_id();
        Some(format!("{:04X}-{:04X}", id >> 16, id & 0xffff))
    }

    /// The volume label, as blkid reports it: the root directory's volume
    /// entry, else the boot sector's, trimmed; "NO NAME" means none.
    fn label(&self) -> Option<String> {
        self.call("label", || {
            let l = match self.fs.read_volume_label_from_root_dir() {
                Ok(Some(l)) => l,
                _ => self.fs.volume_label(),
            };
            let l = l.trim().to_string();
            Ok((!l.is_empty() && l != "NO NAME").then_some(l))
        })
        .ok()
        .flatten()
    }

    fn fs_type(&self) -> &'static str {
        "vfat"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Disk;
    use std::path::Path;
    use std::process::Command;

    fn run(cmd: &mut Command) {
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("{cmd:?}: {e}: install dosfstools and mtools (apt-get install dosfstools mtools)")
        });
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A tree like an ESP with systemd-boot entries, an Arch kernel and a
    /// syslinux directory: long names, mixed case, nested dirs, a 200 KiB file.
    fn esp_tree(root: &Path) {
        let files: &[(&str, Vec<u8>)] = &[
            ("loader/loader.conf", b"timeout 3\ndefault fedora-*\n".to_vec()),
            (
                "loader/entries/fedora-6.5.conf",
                b"title Fedora\nlinux /vmlinuz-6.5\ninitrd /initramfs-6.5.img\n".to_vec(),
            ),
            (
                "loader/entries/arch.conf",
                b"title Arch\nlinux /vmlinuz-linux\n".to_vec(),
            ),
            ("EFI/BOOT/BOOTX64.EFI", b"MZ fake".to_vec()),
            ("EFI/Linux/arch-linux.efi", b"MZ uki".to_vec()),
            ("vmlinuz-linux", (0..200_000u32).map(|i| (i % 253) as u8).collect()),
            ("syslinux/syslinux.cfg", b"DEFAULT arch\n".to_vec()),
            ("UPPER.TXT", b"upper".to_vec()),
            ("MixedCase.Conf", b"mixed".to_vec()),
        ];
        for (p, c) in files {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        }
    }

    /// mkfs.vfat an image with `fat_bits` (12/16/32), small but within each
    /// type's cluster-count range, and copy `tree` into it.
    fn image(dir: &Path, fat_bits: u32, tree: &Path) -> std::path::PathBuf {
        let img = dir.join(format!("fat{fat_bits}.img"));
        let kib = match fat_bits {
            12 => "2048",
            16 => "4096",
            _ => "34000",
        };
        let mut mkfs = Command::new("mkfs.vfat");
        mkfs.args([
            "-C",
            "-F",
            &fat_bits.to_string(),
            "-s",
            "1",
            "-n",
            "HOPBOOT ESP",
            "-i",
            "48420001",
        ]);
        run(mkfs.arg(&img).arg(kib));
        let mut mcopy = Command::new("mcopy");
        mcopy.arg("-s").arg("-i").arg(&img);
        for e in std::fs::read_dir(tree).unwrap() {
            mcopy.arg(e.unwrap().path());
        }
        mcopy.arg("::/");
        run(mcopy.env("MTOOLS_SKIP_CHECK", "1"));
        img
    }

    fn open(img: &Path) -> FatFs {
        let disk = Disk::open(img).unwrap();
        assert!(probe(&disk.whole()), "probe {}", img.display());
        FatFs::open(disk.whole()).unwrap()
    }

    #[test]
    fn fat12_16_32_images_read_back_like_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        esp_tree(&tree);
        for bits in [12, 16, 32] {
            let img = image(d.path(), bits, &tree);
            let before = std::fs::read(&img).unwrap();
            {
                let fs = open(&img);
                assert_eq!(fs.fs_type(), "vfat");
                assert_eq!(fs.uuid().as_deref(), Some("4842-0001"), "FAT{bits}");
                assert_eq!(fs.label().as_deref(), Some("HOPBOOT ESP"), "FAT{bits}");
                assert_eq!(
                    fs.list("/"),
                    [
                        "EFI",
                        "MixedCase.Conf",
                        "UPPER.TXT",
                        "loader",
                        "syslinux",
                        "vmlinuz-linux"
                    ]
                );
                assert_eq!(fs.list("/loader/entries"), ["arch.conf", "fedora-6.5.conf"]);
                assert_eq!(fs.list("/EFI/BOOT"), ["BOOTX64.EFI"]);
                // Every file reads back identical, by its own name and case-folded.
                for p in [
                    "loader/loader.conf",
                    "loader/entries/fedora-6.5.conf",
                    "EFI/Linux/arch-linux.efi",
                    "vmlinuz-linux",
                    "MixedCase.Conf",
                ] {
                    let want = std::fs::read(tree.join(p)).unwrap();
                    assert_eq!(fs.read(&format!("/{p}"), 1 << 20).unwrap(), want, "FAT{bits} {p}");
                    assert_eq!(fs.read(&format!("/{}", p.to_uppercase()), 1 << 20).unwrap(), want);
                    assert_eq!(fs.size(&format!("/{p}")), Some(want.len() as u64));
                }
                assert_eq!(fs.read_text("/upper.txt").unwrap(), "upper");
                assert_eq!(fs.read_text("/efi/boot/bootx64.efi").unwrap(), "MZ fake");
                assert_eq!(fs.kind("/"), Some(Kind::Dir));
                assert_eq!(fs.kind("/loader/ENTRIES"), Some(Kind::Dir));
                assert_eq!(fs.kind("/loader/entries/arch.conf"), Some(Kind::File));
                assert_eq!(fs.kind("/loader/nope"), None);
                assert_eq!(fs.kind("/vmlinuz-linux/x"), None);
                assert!(fs.list("/vmlinuz-linux").is_empty());
                assert!(matches!(fs.read("/loader", 100), Err(FsError::NotFound(_))));
                assert!(matches!(fs.read("/nope", 100), Err(FsError::NotFound(_))));
                assert!(matches!(
                    fs.read("/vmlinuz-linux", 1000),
                    Err(FsError::TooLarge { size: 200_000, .. })
                ));
                // Ranges, across cluster boundaries (512-byte clusters) and at the end.
                let big = std::fs::read(tree.join("vmlinuz-linux")).unwrap();
                for (off, len) in [(0, 16), (511, 2), (4000, 70_000), (199_990, 100), (123_457, 1)] {
                    let want = &big[off..(off + len).min(big.len())];
                    let got = fs.read_range("/VMLINUZ-linux", off as u64, len).unwrap();
                    assert!(got == want, "FAT{bits} range {off}+{len}");
                }
                assert!(fs.read_range("/vmlinuz-linux", 200_000, 10).unwrap().is_empty());
                assert!(fs.read_range("/vmlinuz-linux", u64::MAX, 10).unwrap().is_empty());
                assert_eq!(fs.read_range("/vmlinuz-linux", 1, usize::MAX).unwrap(), &big[1..]);
                assert_eq!(fs.read_range("/upper.txt", 2, 100).unwrap(), b"per");
                assert!(matches!(fs.read_range("/loader", 0, 1), Err(FsError::NotFound(_))));
                assert!(matches!(fs.read_range("/nope", 0, 1), Err(FsError::NotFound(_))));
                // BLS on top of FAT, through FsView only.
                let (entries, errs) = crate::format::sdboot::bls::read_dir(&fs, "/loader/entries");
                assert!(errs.is_empty());
                assert_eq!(entries.len(), 2);
            }
            assert!(std::fs::read(&img).unwrap() == before, "FAT{bits} image changed");
        }
    }

    /// A FAT16 file whose cluster chain ends after its first cluster: ranges
    /// inside that cluster read, ranges past it are corrupt, never short.
    #[test]
    fn read_range_on_a_broken_cluster_chain() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        esp_tree(&tree);
        let img = image(d.path(), 16, &tree);
        let mut b = std::fs::read(&img).unwrap();
        let le16 = |b: &[u8], o: usize| usize::from(u16::from_le_bytes([b[o], b[o + 1]]));
        let (reserved, fats, roots, fat_sectors) = (le16(&b, 14), usize::from(b[16]), le16(&b, 17), le16(&b, 22));
        let root = (reserved + fats * fat_sectors) * 512;
        // The root directory's short entry of the 200 000-byte file.
        let entry = (root..root + roots * 32)
            .step_by(32)
            .find(|&e| b[e + 11] != 0x0f && u32::from_le_bytes(b[e + 28..e + 32].try_into().unwrap()) == 200_000)
            .expect("vmlinuz-linux's directory entry");
        let first = le16(&b, entry + 26);
        for f in 0..fats {
            let at = (reserved + f * fat_sectors) * 512 + 2 * first;
            b[at..at + 2].copy_from_slice(&[0xff, 0xff]);
        }
        let bad = d.path().join("chain.img");
        std::fs::write(&bad, &b).unwrap();
        let fs = open(&bad);
        let want = std::fs::read(tree.join("vmlinuz-linux")).unwrap();
        assert_eq!(fs.read_range("/vmlinuz-linux", 10, 500).unwrap(), &want[10..510]);
        for (off, len) in [(0, 513), (100_000, 10), (511, 2)] {
            match fs.read_range("/vmlinuz-linux", off, len) {
                Err(FsError::Corrupt(m)) => assert!(m.contains("cluster chain ends"), "{m}"),
                other => panic!("{off}+{len}: {other:?}"),
            }
        }
        assert!(matches!(fs.read("/vmlinuz-linux", 1 << 20), Err(FsError::Corrupt(_))));
    }

    /// A directory entry claiming 4 GiB, or 1.5 GiB on a 256 MiB machine,
    /// over a one-cluster chain: a range read of it is refused before a
    /// buffer of that size is set aside (it was `vec![0; size]`, an abort on
    /// a small machine).
    #[test]
    fn read_range_of_a_file_claiming_gibibytes() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        esp_tree(&tree);
        let img = image(d.path(), 16, &tree);
        let b = std::fs::read(&img).unwrap();
        let le16 = |b: &[u8], o: usize| usize::from(u16::from_le_bytes([b[o], b[o + 1]]));
        let (reserved, fats, roots, fat_sectors) = (le16(&b, 14), usize::from(b[16]), le16(&b, 17), le16(&b, 22));
        let root = (reserved + fats * fat_sectors) * 512;
        let entry = (root..root + roots * 32)
            .step_by(32)
            .find(|&e| &b[e..e + 11] == b"UPPER   TXT")
            .expect("UPPER.TXT's directory entry");
        let claim = |size: u32| {
            let mut b = b.clone();
            b[entry + 28..entry + 32].copy_from_slice(&size.to_le_bytes());
            let bad = d.path().join(format!("claim-{size}.img"));
            std::fs::write(&bad, &b).unwrap();
            open(&bad)
        };
        let fs = claim(u32::MAX);
        assert_eq!(fs.size("/UPPER.TXT"), Some(u64::from(u32::MAX)));
        let r = fs.read_range("/UPPER.TXT", 0, usize::MAX);
        assert!(matches!(r, Err(FsError::TooLarge { .. })), "{:?}", r.map(|v| v.len()));
        // More than the 4 MiB filesystem holds: refused whatever memory is free.
        let fs = claim(1536 << 20);
        let r = crate::fs::budget::tests::with_free(8 << 30, || fs.read_range("/UPPER.TXT", 0, usize::MAX));
        match r {
            Err(e) => assert_eq!(
                e.to_string(),
                "/UPPER.TXT: claims 1610612736 bytes, more than the 4194304-byte device holding it"
            ),
            Ok(v) => panic!("read {} bytes", v.len()),
        }
        let mut sink = Vec::new();
        assert!(matches!(
            fs.copy_to("/UPPER.TXT", u64::MAX, &mut sink),
            Err(FsError::Corrupt(_))
        ));
        assert!(sink.is_empty());
        // What the device could hold but this machine's memory cannot.
        let fs = claim(3 << 20);
        let r = crate::fs::budget::tests::with_free(2 << 20, || fs.read_range("/UPPER.TXT", 0, usize::MAX));
        match r {
            Err(e) => assert_eq!(
                e.to_string(),
                "/UPPER.TXT: 3 MiB, too big for this machine's memory (2 MiB free)"
            ),
            Ok(v) => panic!("read {} bytes", v.len()),
        }
    }

    #[test]
    fn no_label_and_default_serial() {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("plain.img");
        run(Command::new("mkfs.vfat")
            .args(["-C", "-i", "0000abcd"])
            .arg(&img)
            .arg("34000"));
        let fs = open(&img);
        assert_eq!(fs.label(), None);
        assert_eq!(fs.uuid().as_deref(), Some("0000-ABCD"));
        assert!(fs.list("/").is_empty());
    }

    #[test]
    fn probe_rejects_other_filesystems_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("x.img");
        std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
        let disk = Disk::open(&img).unwrap();
        assert!(!probe(&disk.whole()));
        assert!(FatFs::open(disk.whole()).is_err());
        // An MBR-looking sector with the signature but no BPB.
        let mut b = vec![0u8; 4096];
        b[510] = 0x55;
        b[511] = 0xAA;
        std::fs::write(&img, &b).unwrap();
        assert!(!probe(&Disk::open(&img).unwrap().whole()));
        std::fs::write(&img, b"short").unwrap();
        assert!(!probe(&Disk::open(&img).unwrap().whole()));
    }

    /// Truncated and bit-flipped images: errors or odd listings, never a panic
    /// or a hang, and never a write.
    #[test]
    fn hostile_images_never_panic() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        esp_tree(&tree);
        let img = image(d.path(), 16, &tree);
        let good = std::fs::read(&img).unwrap();
        let bad = d.path().join("bad.img");
        let mut seed = 0x0bad_5eed_1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..150 {
            let mut b = good.clone();
            if round % 3 == 0 {
                b.truncate((next() % good.len() as u64) as usize);
            } else {
                // Flip bytes in the metadata area (boot sector, FATs, root dir).
                for _ in 0..16 {
                    let i = (next() % 40_000) as usize;
                    b[i] = next() as u8;
                }
            }
            std::fs::write(&bad, &b).unwrap();
            let disk = Disk::open(&bad).unwrap();
            let _ = probe(&disk.whole());
            if let Ok(fs) = FatFs::open(disk.whole()) {
                let _ = (fs.uuid(), fs.label());
                for dir in ["/", "/loader", "/loader/entries", "/EFI/Linux"] {
                    for n in fs.list(dir).iter().take(50) {
                        let p = format!("{dir}/{n}");
                        let _ = (fs.kind(&p), fs.size(&p), fs.read(&p, 1 << 20));
                        let _ = fs.read_range(&p, 1000, 5000);
                    }
                }
            }
            assert!(std::fs::read(&bad).unwrap() == b, "round {round}: image changed");
        }
    }
}
