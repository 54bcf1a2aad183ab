//! Checks of ext4 metadata as ext4-view reads it, so that no walk inside
//! ext4-view can run without end.
//!
//! ext4-view keeps the blocks it reads in its own cache and walks extent
//! trees and directories inside its iterators: an extent tree whose
//! interior nodes share children (a DAG of a few blocks, all cached) with
//! empty leaves or zero-length extents makes one `read` visit trillions of
//! nodes without reading a byte from hopboot's reader, so no byte count
//! can stop it. What does stop it: every node visit that yields an extent
//! and every extent that yields a block moves the file forward, and a file
//! has a bounded number of blocks. So the reader under ext4-view checks
//! every block it hands out, before ext4-view can cache it:
//!
//! - a block that is an extent-tree node (the header as the kernel writes
//!   it) must have entries, and a leaf's extents must each cover a block
//!   (the kernel's `ext4_ext_check` refuses the same);
//! - an inode (in an inode table block) must obey the same rules in the
//!   root node it holds, a directory must be at most [`MAX_DIR_BYTES`], a
//!   symbolic link at most [`MAX_SYMLINK_BYTES`] (ext4-view allocates its
//!   target by its size), the journal at most [`MAX_JOURNAL_BYTES`].
//!
//! A bad node or inode is spoiled in the copy handed to ext4-view (its
//! extent magic cleared), so ext4-view reports that one file as corrupt
//! and the rest of the filesystem still reads; the disk is never written.
//! Then ext4-view's work for a file is bounded by its size, which hopboot
//! checks before it reads (at most the read's limit).
//!
//! Not covered: inode table blocks that ext4-view takes from a journal that
//! needs recovery (replayed in memory) are not recognised as such; their
//! extent nodes are still checked, so the walks stay bounded by the file's
//! size, but directory and symlink sizes there are not.

/// Largest directory ext4-view may walk: 32 MiB holds a million entries.
pub const MAX_DIR_BYTES: u64 = 32 << 20;
/// Largest symbolic link (PATH_MAX).
pub const MAX_SYMLINK_BYTES: u64 = 4096;
/// Largest journal (mke2fs makes at most 1 GiB by default).
pub const MAX_JOURNAL_BYTES: u64 = 1 << 30;

const EXTENT_MAGIC: [u8; 2] = [0x0a, 0xf3];
const EXTENTS_FL: u32 = 0x8_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
/// Where an inode's extent root (`i_block`) starts.
const I_BLOCK: usize = 0x28;

fn le16(b: &[u8], o: usize) -> u16 {
    crate::le::le_u16(b, o)
}

fn le32(b: &[u8], o: usize) -> u32 {
    crate::le::le_u32(b, o)
}

/// What is wrong with the extent node `node` (header and entries), if
/// anything. `root`: the node in the inode, which may be empty (an empty
/// file) and whose `eh_max` is 4.
fn node_problem(node: &[u8], root: bool) -> Option<String> {
    let entries = usize::from(le16(node, 2));
    let depth = le16(node, 6);
    if entries == 0 {
        return (!root || depth > 0).then(|| "an empty extent tree node".to_string());
    }
    if depth == 0 {
        for i in 0..entries {
            match node.get(12 + 12 * i..24 + 12 * i) {
                Some(e) if le16(e, 4) == 0 => return Some("a zero-length extent".to_string()),
                Some(_) => {}
                None => return None, // ext4-view refuses the node size itself
            }
        }
    }
    None
}

/// Whether `block` starts with an extent node header as the kernel writes
/// one outside an inode: the magic, at most 4 levels below the root, and
/// `eh_max` filling the block (with or without the checksum tail).
fn is_node(block: &[u8]) -> bool {
    let max = usize::from(le16(block, 4));
    let fill = block.len().saturating_sub(12) / 12;
    block.get(..2) == Some(&EXTENT_MAGIC[..])
        && le16(block, 6) <= 4
        && (max == fill || max + 1 == fill)
        && usize::from(le16(block, 2)) <= max
}

/// The geometry of the filesystem, from its superblock and group descriptors.
#[derive(Debug, Default)]
pub(super) struct Check {
    block_size: u64,
    inode_size: u64,
    inodes_per_group: u64,
    /// Bytes of one group's inode table.
    table_bytes: u64,
    /// Byte offset of each group's inode table, with the group, sorted.
    tables: Vec<(u64, u32)>,
    journal_inode: u64,
    /// Inodes and nodes spoiled so far (the first few, for the error message).
    pub(super) refused: Vec<String>,
}

impl Check {
    /// Reads the superblock and group descriptors through `read_at`. `None`
    /// when they make no sense: ext4-view refuses such a filesystem itself.
    pub(super) fn load(mut read_at: impl FnMut(u64, &mut [u8]) -> bool) -> Option<Check> {
        let mut sb = vec![0u8; 0x160];
        if !read_at(1024, &mut sb) {
            return None;
        }
        let block_size = 1024u64.checked_shl(le32(&sb, 0x18)).filter(|&b| b <= 1 << 16)?;
        let blocks = u64::from(le32(&sb, 0x150)) << 32 | u64::from(le32(&sb, 0x04));
        let per_group = u64::from(le32(&sb, 0x20));
        if per_group == 0 {
            return None;
        }
        let groups = blocks.checked_sub(u64::from(le32(&sb, 0x14)))?.div_ceil(per_group);
        if groups > super::ext4::MAX_BLOCK_GROUPS {
            return None;
        }
        let is64 = le32(&sb, 0x60) & 0x80 != 0;
        let desc = if is64 { u64::from(le16(&sb, 0xfe)) } else { 32 };
        let inode_size = u64::from(le16(&sb, 0x58));
        let inodes_per_group = u64::from(le32(&sb, 0x28));
        if desc < 32 || inode_size < 128 || inode_size > block_size || inodes_per_group == 0 {
            return None;
        }
        // The descriptors, as ext4-view reads them: right after the superblock's block.
        let first = if block_size == 1024 { 2 } else { 1 } * block_size;
        let mut tables = Vec::new();
        tables.try_reserve_exact(usize::try_from(groups).ok()?).ok()?;
        let per_chunk = (64u64 << 10) / desc;
        let mut buf = Vec::new();
        let mut g = 0u64;
        while g < groups {
            let n = per_chunk.min(groups - g);
            buf.resize(usize::try_from(n * desc).ok()?, 0);
            if !read_at(first + g * desc, &mut buf) {
                return None;
            }
            for (i, d) in buf.chunks_exact(usize::try_from(desc).ok()?).enumerate() {
                let hi = if is64 { u64::from(le32(d, 0x28)) } else { 0 };
                let table = (hi << 32 | u64::from(le32(d, 0x8))).checked_mul(block_size)?;
                tables.push((table, u32::try_from(g + i as u64).ok()?));
            }
            g += n;
        }
        tables.sort_unstable();
        Some(Check {
            block_size,
            inode_size,
            inodes_per_group,
            table_bytes: inodes_per_group.checked_mul(inode_size)?,
            tables,
            journal_inode: u64::from(le32(&sb, 0xe0)),
            refused: Vec::new(),
        })
    }

    /// How many block groups the filesystem has.
    pub(super) fn groups(&self) -> u64 {
        self.tables.len() as u64
    }

    /// The inode number of the inode table slot at byte `at`, if it is one.
    fn inode_at(&self, at: u64) -> Option<u64> {
        let i = self.tables.partition_point(|&(start, _)| start <= at).checked_sub(1)?;
        let &(start, group) = self.tables.get(i)?;
        let off = at - start;
        (off < self.table_bytes && off.is_multiple_of(self.inode_size))
            .then(|| u64::from(group) * self.inodes_per_group + off / self.inode_size + 1)
    }

    /// Checks the bytes `buf` that ext4-view asked for at byte `start`, and
    /// spoils the bad inodes and extent nodes in them.
    pub(super) fn check(&mut self, start: u64, buf: &mut [u8]) {
        let bs = self.block_size;
        // Whole blocks only: ext4-view reads metadata in blocks.
        let mut at = start.div_ceil(bs) * bs;
        while let Some(off) = usize::try_from(at - start).ok().filter(|&o| o < buf.len()) {
            let end = usize::try_from(bs).map_or(buf.len(), |b| off.saturating_add(b).min(buf.len()));
            if let Some(block) = buf.get_mut(off..end) {
                if self.inode_at(at).is_some() {
                    self.check_inodes(at, block);
                } else if is_node(block) {
                    if let Some(why) = node_problem(block, false) {
                        self.refuse(format!("extent tree block {}: {why}", at / bs));
                        block[0] = 0;
                    }
                }
            }
            at += bs;
        }
    }

    fn check_inodes(&mut self, at: u64, block: &mut [u8]) {
        let size = usize::try_from(self.inode_size).unwrap_or(usize::MAX);
        for (i, slot) in block.chunks_exact_mut(size).enumerate() {
            let Some(ino) = self.inode_at(at + i as u64 * self.inode_size) else {
                continue;
            };
            if let Some(why) = self.inode_problem(ino, slot) {
                self.refuse(format!("inode {ino}: {why}"));
                // Extents with no valid root: ext4-view reports this inode
                // as corrupt whenever its contents are read.
                let flags = (le32(slot, 0x20) | EXTENTS_FL) & !INLINE_DATA_FL;
                slot[0x20..0x24].copy_from_slice(&flags.to_le_bytes());
                slot[I_BLOCK] = 0;
            }
        }
    }

    fn inode_problem(&self, ino: u64, s: &[u8]) -> Option<String> {
        let mode = le16(s, 0);
        if mode == 0 {
            return None;
        }
        let size = u64::from(le32(s, 0x6c)) << 32 | u64::from(le32(s, 0x04));
        let cap = match mode & 0xf000 {
            _ if ino == self.journal_inode => Some(("a journal", MAX_JOURNAL_BYTES)),
            0x4000 => Some(("a directory", MAX_DIR_BYTES)),
            0xa000 => Some(("a symbolic link", MAX_SYMLINK_BYTES)),
            _ => None,
        };
        if let Some((what, cap)) = cap.filter(|&(_, cap)| size > cap) {
            return Some(format!("{what} of {size} bytes (at most {cap} are read)"));
        }
        let flags = le32(s, 0x20);
        let root = s.get(I_BLOCK..I_BLOCK + 60)?;
        if flags & EXTENTS_FL == 0 || flags & INLINE_DATA_FL != 0 || root.get(..2) != Some(&EXTENT_MAGIC[..]) {
            return None;
        }
        node_problem(root, true)
    }

    fn refuse(&mut self, what: String) {
        log::warn!("ext4: {what}; that file reads as corrupt");
        if self.refused.len() < 8 {
            self.refused.push(what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(depth: u16, max: u16, entries: &[(u32, u16, u32)], len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..2].copy_from_slice(&EXTENT_MAGIC);
        b[2..4].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        b[4..6].copy_from_slice(&max.to_le_bytes());
        b[6..8].copy_from_slice(&depth.to_le_bytes());
        for (i, &(lblk, n, pblk)) in entries.iter().enumerate() {
            let e = &mut b[12 + 12 * i..24 + 12 * i];
            e[0..4].copy_from_slice(&lblk.to_le_bytes());
            if depth == 0 {
                e[4..6].copy_from_slice(&n.to_le_bytes());
                e[8..12].copy_from_slice(&pblk.to_le_bytes());
            } else {
                e[4..8].copy_from_slice(&pblk.to_le_bytes());
            }
        }
        b
    }

    #[test]
    fn node_rules() {
        assert!(is_node(&node(0, 84, &[(0, 1, 100)], 1024)));
        assert!(
            !is_node(&node(0, 20, &[(0, 1, 100)], 1024)),
            "eh_max not filling the block"
        );
        assert!(!is_node(&node(5, 84, &[], 1024)), "too deep for a non-root node");
        assert_eq!(
            node_problem(&node(0, 84, &[(0, 1, 100), (1, 7, 200)], 1024), false),
            None
        );
        assert_eq!(node_problem(&node(0, 4, &[], 60), true), None, "an empty file");
        assert!(node_problem(&node(0, 84, &[], 1024), false).is_some());
        assert!(node_problem(&node(2, 4, &[], 60), true).is_some());
        assert!(node_problem(&node(0, 84, &[(0, 1, 100), (1, 0, 200)], 1024), false).is_some());
        assert_eq!(node_problem(&node(1, 84, &[(0, 0, 7), (5, 0, 7)], 1024), false), None);
    }
}
