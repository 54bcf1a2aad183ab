//! Block devices (or disk-image files) and their partition tables.
//!
//! Everything here only reads. A [`Disk`] is any file opened read-only;
//! [`partitions`] finds its GPT or MBR partitions (or none: a whole-disk
//! filesystem) and each [`Partition`] is a byte window on the same file.

pub mod gpt;
pub mod mbr;

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a partition table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The device failed to answer.
    #[error("{path}: read error at byte {offset}: {source}")]
    Io {
        /// Device or image path.
        path: String,
        /// Byte offset of the failed read.
        offset: u64,
        /// The OS error.
        source: io::Error,
    },
    /// The bytes do not make a valid table.
    #[error("{path}: corrupt {table} partition table: {why}")]
    Corrupt {
        /// Device or image path.
        path: String,
        /// "GPT" or "MBR".
        table: &'static str,
        /// What is wrong.
        why: String,
    },
}

/// A disk opened read-only: a block device or an image file.
#[derive(Debug, Clone)]
pub struct Disk {
    file: Arc<File>,
    /// The same device opened with O_DIRECT, for large aligned reads (block devices only).
    direct: Option<Arc<File>>,
    /// Path it was opened from.
    pub path: PathBuf,
    /// Short name for messages ("vda", "disk.img").
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Logical sector size (512 or 4096).
    pub sector_size: u64,
}

impl Disk {
    /// Opens `path` read-only. Block devices get their logical sector size
    /// from sysfs; image files are probed for 512 and 4096.
    pub fn open(path: &Path) -> io::Result<Disk> {
        let file = File::open(path)?;
        let size = {
            use std::io::Seek;
            let mut f = &file;
            f.seek(io::SeekFrom::End(0))?
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let sector_size = std::fs::read_to_string(format!("/sys/class/block/{name}/queue/logical_block_size"))
            .ok()
            .filter(|_| path.starts_with("/dev"))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| *s == 512 || *s == 4096)
            .unwrap_or(512);
        // Bulk reads bypass the page cache: under emulation, filling the cache
        // and copying out of it costs as much as the device read itself.
        let direct = path
            .starts_with("/dev")
            .then(|| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(path)
                    .ok()
            })
            .flatten()
            .map(Arc::new);
        Ok(Disk {
            file: Arc::new(file),
            direct,
            path: path.to_path_buf(),
            name,
            size,
            sector_size,
        })
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.file.read_exact_at(buf, offset).map_err(|source| BlockError::Io {
            path: self.path.display().to_string(),
            offset,
            source,
        })
    }

    /// Reads `len` bytes at `offset` into a new buffer.
    pub fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, BlockError> {
        let mut v = vec![0; len];
        self.read_at(offset, &mut v)?;
        Ok(v)
    }

    /// The whole disk as one window (a filesystem without a partition table).
    pub fn whole(&self) -> Window {
        Window {
            file: self.file.clone(),
            direct: self.direct.clone(),
            start: 0,
            len: self.size,
        }
    }

    /// Partition `number` of this disk: `len` bytes from byte `start`, named
    /// as the kernel names it, with the table's identity for it.
    pub fn partition(
        &self,
        number: u32,
        (start, len): (u64, u64),
        part_uuid: String,
        part_label: Option<String>,
        type_id: String,
    ) -> Partition {
        Partition {
            name: self.part_name(number),
            number,
            start,
            len,
            part_uuid: Some(part_uuid),
            part_label,
            type_id,
            window: Window {
                start,
                len,
                ..self.whole()
            },
        }
    }

    /// The name of partition `n` as the kernel would call it: `vda1`, `nvme0n1p1`.
    pub fn part_name(&self, n: u32) -> String {
        if self.path.starts_with("/dev") {
            if self.name.ends_with(|c: char| c.is_ascii_digit()) {
                format!("{}p{n}", self.name)
            } else {
                format!("{}{n}", self.name)
            }
        } else {
            format!("{}:{n}", self.name)
        }
    }
}

/// A byte range of a disk that a filesystem reader sees as its whole device.
#[derive(Debug, Clone)]
pub struct Window {
    file: Arc<File>,
    direct: Option<Arc<File>>,
    start: u64,
    len: u64,
}

impl Window {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Alignment of offset, length and buffer address that [`Window::read_bulk`]
    /// needs to bypass the page cache.
    pub const BULK_ALIGN: usize = 4096;

    /// Like [`Window::read_at`], but for large reads: when the window's device
    /// has an O_DIRECT handle and `offset` (on the disk), `buf.len()` and
    /// `buf`'s address are multiples of [`Window::BULK_ALIGN`], the read skips
    /// the page cache; otherwise (or if the kernel refuses) it is an ordinary read.
    pub fn read_bulk(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let a = Self::BULK_ALIGN as u64;
        if let Some(direct) = &self.direct {
            let n = buf.len() as u64;
            let abs = self.start.checked_add(offset);
            let inside = offset.checked_add(n).is_some_and(|e| e <= self.len);
            let aligned = abs.is_some_and(|x| x.is_multiple_of(a))
                && n.is_multiple_of(a)
                && (buf.as_ptr() as usize).is_multiple_of(Self::BULK_ALIGN);
            if let (true, true, Some(abs)) = (inside, aligned, abs) {
                match direct.read_exact_at(buf, abs) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.read_at(offset, buf)
    }

    /// Reads exactly `buf.len()` bytes at `offset` inside the window; reading
    /// past its end is an error, never a read of the neighbour partition.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let n = u64::try_from(buf.len()).map_err(|_| io::Error::other("read too large"))?;
        let end = offset.checked_add(n).filter(|e| *e <= self.len);
        let abs = end.and(self.start.checked_add(offset));
        match abs {
            Some(abs) => self.file.read_exact_at(buf, abs),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {n} bytes at {offset} past the end of a {}-byte partition",
                    self.len
                ),
            )),
        }
    }
}

/// One partition (or the whole disk when there is no table).
#[derive(Debug, Clone)]
pub struct Partition {
    /// Kernel-style name: `vda1`, or `disk.img:1` for an image.
    pub name: String,
    /// 1-based partition number (0 = whole disk).
    pub number: u32,
    /// Start, bytes from the start of the disk.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// GPT partition GUID (lower case) or MBR `DISKSIG-NN`, as `PARTUUID=` uses.
    pub part_uuid: Option<String>,
    /// GPT partition name.
    pub part_label: Option<String>,
    /// GPT type GUID (lower case) or MBR type byte (`0x83`).
    pub type_id: String,
    /// The bytes of the partition.
    pub window: Window,
}

/// Which kind of partition table a disk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// GUID Partition Table.
    Gpt,
    /// DOS/MBR table (primary + logical partitions).
    Mbr,
    /// No table: the disk is one filesystem (or empty).
    None,
}

/// Finds the partitions of `disk`: GPT (when the MBR is protective or a valid
/// GPT header exists), else MBR, else the whole disk as one partition.
///
/// A read error on the first sectors is not the end: the kernel reads a disk
/// in 4 KiB pages, so one bad sector among LBA 0-7 takes the MBR and the
/// primary GPT with it; the backup GPT at the end of the disk is tried then,
/// and the first error is returned only when it fails too.
pub fn partitions(disk: &Disk) -> Result<(TableKind, Vec<Partition>), BlockError> {
    let lba0 = match disk.read_vec(0, 512.min(usize::try_from(disk.size).unwrap_or(512))) {
        Ok(b) => b,
        Err(e) => {
            log::warn!("{e}; looking for the backup GPT header");
            return match gpt::read(disk) {
                Ok(Some(parts)) => Ok((TableKind::Gpt, parts)),
                Ok(None) | Err(_) => Err(e),
            };
        }
    };
    let mbr = mbr::parse_boot_sector(&lba0);
    let protective = mbr.as_ref().is_some_and(|m| m.protective);
    if protective || mbr.is_none() {
        match gpt::read(disk) {
            Ok(Some(parts)) => return Ok((TableKind::Gpt, parts)),
            Ok(None) if protective => {
                return Err(BlockError::Corrupt {
                    path: disk.path.display().to_string(),
                    table: "GPT",
                    why: "protective MBR but no valid GPT header (primary or backup)".into(),
                })
            }
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(m) = mbr {
        if !m.entries.is_empty() {
            return Ok((TableKind::Mbr, mbr::read(disk, &m)?));
        }
    }
    Ok((
        TableKind::None,
        vec![Partition {
            name: disk.name.clone(),
            number: 0,
            start: 0,
            len: disk.size,
            part_uuid: None,
            part_label: None,
            type_id: String::new(),
            window: disk.whole(),
        }],
    ))
}

/// CRC-32 (IEEE 802.3, reflected), as the GPT header and entry array use.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
