//! DOS/MBR partition tables: four primary entries, the protective entry of a
//! GPT disk (type 0xee), and logical partitions in a chain of extended boot
//! records (numbered from 5, as Linux does).

use super::{BlockError, Disk, Partition};
use crate::le::{le_u16, le_u32};

/// The most logical partitions followed, so a looping EBR chain ends.
const MAX_LOGICAL: u32 = 128;
/// Most extended boot records read. Empty ones (no logical partition) count
/// too: a chain of empty EBRs, each one sector further, would otherwise make
/// PID 1 read the whole disk.
const MAX_EBRS: u32 = 2 * MAX_LOGICAL;

/// One 16-byte partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Slot (0..4).
    pub slot: u8,
    /// Type byte.
    pub kind: u8,
    /// First sector (relative to the table's base).
    pub lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

/// A boot sector with a valid 0x55AA signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// Non-empty entries.
    pub entries: Vec<Entry>,
    /// An entry of type 0xee: the disk has a GPT.
    pub protective: bool,
    /// Disk signature (offset 440), used in `PARTUUID=SSSSSSSS-NN`.
    pub signature: u32,
}

/// Parses sector 0. `None` when the 0x55AA signature is missing, or when the
/// sector is a filesystem boot sector (FAT/NTFS) and not a partition table.
pub fn parse_boot_sector(s: &[u8]) -> Option<BootSector> {
    if s.len() < 512 || le_u16(s, 510) != 0xAA55 {
        return None;
    }
    // A FAT or NTFS volume boot record also ends in 55AA: not a table.
    if s.get(54..59) == Some(b"FAT12") || s.get(54..59) == Some(b"FAT16") || s.get(82..87) == Some(b"FAT32") {
        return None;
    }
    if s.get(3..7) == Some(b"NTFS") {
        return None;
    }
    let mut entries = Vec::new();
    for slot in 0..4u8 {
        let off = 446 + usize::from(slot) * 16;
        let e = s.get(off..off + 16)?;
        let status = e.first().copied().unwrap_or(0);
        if status != 0 && status != 0x80 {
            return None; // not a partition table
        }
        let kind = e.get(4).copied().unwrap_or(0);
        let (lba, sectors) = (le_u32(e, 8), le_u32(e, 12));
        if kind != 0 && sectors != 0 {
            entries.push(Entry {
                slot,
                kind,
                lba,
                sectors,
            });
        }
    }
    let protective = entries.iter().any(|e| e.kind == 0xee);
    Some(BootSector {
        entries,
        protective,
        signature: le_u32(s, 440),
    })
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0f | 0x85)
}

/// Lists the primary and logical partitions of an MBR disk.
pub fn read(disk: &Disk, bs: &BootSector) -> Result<Vec<Partition>, BlockError> {
    let ss = 512u64.max(disk.sector_size);
    let mut out = Vec::new();
    let push = |number: u32, kind: u8, start_lba: u64, sectors: u64, out: &mut Vec<Partition>| {
        let (start, len) = (start_lba * ss, sectors * ss);
        if start.checked_add(len).is_none_or(|end| end > disk.size) || len == 0 {
            log::warn!(
                "{}: MBR partition {number} lies outside the disk, skipped",
                disk.path.display()
            );
            return;
        }
        out.push(disk.partition(
            number,
            (start, len),
            format!("{:08x}-{number:02x}", bs.signature),
            None,
            format!("{kind:#04x}"),
        ));
    };
    for e in &bs.entries {
        if !is_extended(e.kind) {
            push(
                u32::from(e.slot) + 1,
                e.kind,
                u64::from(e.lba),
                u64::from(e.sectors),
                &mut out,
            );
        }
    }
    // Logical partitions: each EBR holds one logical entry (relative to the
    // EBR) and a link to the next EBR (relative to the extended partition).
    if let Some(ext) = bs.entries.iter().find(|e| is_extended(e.kind)) {
        let base = u64::from(ext.lba);
        let mut next = base;
        let mut number = 5;
        let mut visited = 0;
        while number < 5 + MAX_LOGICAL {
            visited += 1;
            if visited > MAX_EBRS {
                log::warn!(
                    "{}: more than {MAX_EBRS} extended boot records; the logical partitions after them are left out",
                    disk.path.display()
                );
                break;
            }
            if next.checked_mul(ss).is_none_or(|at| at >= disk.size) {
                break;
            }
            let sector = disk.read_vec(next * ss, 512)?;
            if le_u16(&sector, 510) != 0xAA55 {
                break;
            }
            let (kind, rel, sectors) = (sector[446 + 4], le_u32(&sector, 446 + 8), le_u32(&sector, 446 + 12));
            if kind != 0 && sectors != 0 {
                push(number, kind, next + u64::from(rel), u64::from(sectors), &mut out);
                number += 1;
            }
            let link = le_u32(&sector, 446 + 16 + 8);
            if link == 0 || !is_extended(sector[446 + 16 + 4]) {
                break;
            }
            let n = base + u64::from(link);
            if n <= next {
                break; // chains only go forward; this stops loops
            }
            next = n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A disk with an extended partition at sector 1 whose EBR chain is
    /// `empty` EBRs without a partition, one sector apart, then one EBR with a
    /// logical partition.
    fn ebr_chain(empty: u32) -> tempfile::NamedTempFile {
        let total = 2 + empty + 1 + 8;
        let mut img = vec![0u8; total as usize * 512];
        img[..512].copy_from_slice(&sector(&[(0, 0x05, 1, total - 1)]));
        for i in 0..=empty {
            let at = 1 + i;
            let mut ebr = if i == empty {
                sector(&[(0, 0x83, 1, 8)])
            } else {
                sector(&[])
            };
            if i < empty {
                // The link: the next EBR, relative to the extended partition.
                let o = 446 + 16;
                ebr[o + 4] = 0x05;
                ebr[o + 8..o + 12].copy_from_slice(&(i + 1).to_le_bytes());
                ebr[o + 12..o + 16].copy_from_slice(&1u32.to_le_bytes());
            }
            let o = at as usize * 512;
            img[o..o + 512].copy_from_slice(&ebr);
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&img).unwrap();
        f
    }

    #[test]
    fn empty_ebrs_count_against_the_walk() {
        // A short chain of empty EBRs still reaches the logical partition…
        let f = ebr_chain(10);
        let d = Disk::open(f.path()).unwrap();
        let bs = parse_boot_sector(&d.read_vec(0, 512).unwrap()).unwrap();
        assert_eq!(read(&d, &bs).unwrap().len(), 1);
        // …but a long one is cut off, however few partitions it held.
        let f = ebr_chain(MAX_EBRS + 10);
        let d = Disk::open(f.path()).unwrap();
        let bs = parse_boot_sector(&d.read_vec(0, 512).unwrap()).unwrap();
        assert_eq!(read(&d, &bs).unwrap().len(), 0);
    }

    fn sector(entries: &[(u8, u8, u32, u32)]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        for (i, (status, kind, lba, n)) in entries.iter().enumerate() {
            let o = 446 + i * 16;
            s[o] = *status;
            s[o + 4] = *kind;
            s[o + 8..o + 12].copy_from_slice(&lba.to_le_bytes());
            s[o + 12..o + 16].copy_from_slice(&n.to_le_bytes());
        }
        s[510] = 0x55;
        s[511] = 0xAA;
        s
    }

    #[test]
    fn protective_and_plain() {
        let p = parse_boot_sector(&sector(&[(0, 0xee, 1, 100)])).map(|b| b.protective);
        assert_eq!(p, Some(true));
        let b = parse_boot_sector(&sector(&[(0x80, 0x83, 2048, 4096), (0, 0x82, 8192, 10)]));
        assert_eq!(b.map(|b| b.entries.len()), Some(2));
    }

    #[test]
    fn not_a_table() {
        assert_eq!(parse_boot_sector(&[0u8; 512]), None);
        assert_eq!(parse_boot_sector(&sector(&[(0x12, 0x83, 1, 1)])), None);
        let mut fat = sector(&[]);
        fat[82..87].copy_from_slice(b"FAT32");
        assert_eq!(parse_boot_sector(&fat), None);
    }
}
