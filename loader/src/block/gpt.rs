//! GUID Partition Table (UEFI spec 2.10, section 5.3), read-only.
//!
//! The primary header (LBA 1) is used when its CRC and the entry array's CRC
//! are right; otherwise the backup header at the last LBA. Both 512- and
//! 4096-byte logical sectors are tried for image files.

use super::{crc32, BlockError, Disk, Partition};
use crate::le::{le_u32, le_u64};

/// Type GUID of an EFI System Partition.
pub const TYPE_ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Type GUID of an Extended Boot Loader Partition (XBOOTLDR: a separate
/// `/boot` in the Discoverable Partitions Specification).
pub const TYPE_XBOOTLDR: &str = "bc13c2ff-59e6-4262-a352-b275fd6f7172";

const MAX_ENTRIES: u32 = 1024;

/// A parsed, checked GPT header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// LBA of this header.
    pub my_lba: u64,
    /// LBA of the other copy.
    pub alternate_lba: u64,
    /// First LBA of the entry array.
    pub entries_lba: u64,
    /// Number of entries.
    pub num_entries: u32,
    /// Size of one entry in bytes.
    pub entry_size: u32,
    /// CRC32 of the entry array.
    pub entries_crc: u32,
    /// Disk GUID.
    pub disk_guid: String,
}

/// Parses and checks a header sector. `None` when it is not a valid header.
pub fn parse_header(sector: &[u8]) -> Option<Header> {
    if sector.get(0..8)? != b"EFI PART" {
        return None;
    }
    let size = usize::try_from(le_u32(sector, 12)).ok()?;
    if !(92..=sector.len()).contains(&size) {
        return None;
    }
    let mut copy = sector.get(..size)?.to_vec();
    copy.get_mut(16..20)?.fill(0);
    if crc32(&copy) != le_u32(sector, 16) {
        return None;
    }
    let num_entries = le_u32(sector, 80);
    let entry_size = le_u32(sector, 84);
    if num_entries > MAX_ENTRIES || !(128..=4096).contains(&entry_size) || !entry_size.is_multiple_of(8) {
        return None;
    }
    Some(Header {
        my_lba: le_u64(sector, 24),
        alternate_lba: le_u64(sector, 32),
        entries_lba: le_u64(sector, 72),
        num_entries,
        entry_size,
        entries_crc: le_u32(sector, 88),
        disk_guid: guid(sector.get(56..72)?),
    })
}

/// Formats an on-disk mixed-endian GUID as the usual lower-case text.
pub fn guid(b: &[u8]) -> String {
    let g = |i: usize| b.get(i).copied().unwrap_or(0);
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g(3),
        g(2),
        g(1),
        g(0),
        g(5),
        g(4),
        g(7),
        g(6),
        g(8),
        g(9),
        g(10),
        g(11),
        g(12),
        g(13),
        g(14),
        g(15)
    )
}

/// Reads the GPT of `disk`. `Ok(None)` when neither header is valid at either
/// sector size; an error only when the device fails.
pub fn read(disk: &Disk) -> Result<Option<Vec<Partition>>, BlockError> {
    let mut sizes = vec![disk.sector_size];
    if !disk.path.starts_with("/dev") {
        sizes = vec![512, 4096];
    }
    // A read error on one copy is what the backup is for: it is returned
    // only when no copy could be read.
    let mut failed: Option<BlockError> = None;
    for ss in sizes {
        let total = disk.size / ss;
        if total < 3 {
            continue;
        }
        let ss_usize = usize::try_from(ss).unwrap_or(512);
        for lba in [1, total - 1] {
            let sector = match disk.read_vec(lba * ss, ss_usize) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("{e}; trying the other GPT header");
                    failed.get_or_insert(e);
                    continue;
                }
            };
            let Some(h) = parse_header(&sector) else { continue };
            if h.my_lba != lba {
                continue;
            }
            let array_len = u64::from(h.num_entries) * u64::from(h.entry_size);
            let Some(array_end) = h.entries_lba.checked_mul(ss).and_then(|s| s.checked_add(array_len)) else {
                continue;
            };
            if array_end > disk.size {
                continue;
            }
            let array = match disk.read_vec(h.entries_lba * ss, usize::try_from(array_len).unwrap_or(0)) {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("{e} (GPT entries of the header at LBA {lba}); trying the other GPT header");
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if crc32(&array) != h.entries_crc {
                log::warn!(
                    "{}: GPT header at LBA {lba}: entry array CRC mismatch",
                    disk.path.display()
                );
                continue;
            }
            let parts = entries(disk, &h, &array, ss, total);
            log::debug!(
                "{}: GPT {} header at LBA {lba} of {ss}-byte sectors, {} partitions",
                disk.path.display(),
                if lba == 1 { "primary" } else { "backup" },
                parts.len()
            );
            return Ok(Some(parts));
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

fn entries(disk: &Disk, h: &Header, array: &[u8], ss: u64, total: u64) -> Vec<Partition> {
    let mut out = Vec::new();
    let esize = usize::try_from(h.entry_size).unwrap_or(128);
    for (i, e) in array.chunks_exact(esize).enumerate() {
        let type_id = guid(e.get(0..16).unwrap_or(&[]));
        if type_id == "00000000-0000-0000-0000-000000000000" {
            continue;
        }
        let (first, last) = (le_u64(e, 32), le_u64(e, 40));
        if first == 0 || first > last || last >= total {
            log::warn!(
                "{}: GPT entry {} has bad range {first}..{last}, skipped",
                disk.path.display(),
                i + 1
            );
            continue;
        }
        let name: Vec<u16> = e
            .get(56..128)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|c| *c != 0)
            .collect();
        let label = String::from_utf16_lossy(&name);
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let (start, len) = (first * ss, (last - first + 1) * ss);
        out.push(disk.partition(
            number,
            (start, len),
            guid(e.get(16..32).unwrap_or(&[])),
            (!label.is_empty()).then_some(label),
            type_id,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_is_mixed_endian() {
        let b = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
        ];
        assert_eq!(guid(&b), TYPE_ESP);
    }

    #[test]
    fn header_rejects_garbage() {
        assert_eq!(parse_header(b"EFI PART"), None);
        let mut s = vec![0u8; 512];
        s[..8].copy_from_slice(b"EFI PART");
        s[12..16].copy_from_slice(&92u32.to_le_bytes());
        assert_eq!(parse_header(&s), None); // CRC is wrong
        let crc = crc32(&s[..92]);
        s[16..20].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(&s), None); // entry size 0
    }
}
