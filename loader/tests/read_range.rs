//! `FsView::read_range` on real ext4 images (`mkfs.ext4 -d`, 1 KiB and 4 KiB
//! blocks): ranges inside a block, across blocks and extents, across a hole
//! of a sparse file, and at the end of the file, compared with the host's
//! copy of the same file.

use hopboot_loader::fs::{ext4::Ext4Fs, FsError, FsView};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A 3 MiB file with a pattern that differs in every block.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 10) as u8).collect()
}

fn mkfs(tree: &Path, img: &Path, block: u32) {
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", &block.to_string()])
        .arg("-d")
        .arg(tree)
        .arg(img)
        .arg("16M")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("mkfs.ext4: {e} (install e2fsprogs)"));
    assert!(
        out.status.success(),
        "mkfs.ext4: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ext4_read_range_matches_the_file() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    std::fs::create_dir_all(tree.join("boot/dir")).unwrap();
    let big = pattern(3 << 20);
    std::fs::write(tree.join("boot/big"), &big).unwrap();
    std::fs::write(tree.join("boot/empty"), b"").unwrap();
    std::fs::write(tree.join("boot/small"), b"hello").unwrap();
    // Sparse: 5000 bytes, a hole to 1 MiB, 5000 bytes.
    {
        let mut f = std::fs::File::create(tree.join("boot/sparse")).unwrap();
        f.write_all(&big[..5000]).unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(&big[..5000]).unwrap();
    }
    let sparse = std::fs::read(tree.join("boot/sparse")).unwrap();
    for block in [1024u32, 4096] {
        let img = d.path().join(format!("b{block}.img"));
        mkfs(&tree, &img, block);
        let disk = hopboot_loader::block::Disk::open(&img).unwrap();
        let fs = Ext4Fs::open(disk.whole()).unwrap();
        let ranges = [
            (0usize, 16usize),
            (1000, 100),
            (1023, 2),
            (4095, 4098),
            (100_000, 1 << 20),
            (2 << 20, 70_000),
            ((3 << 20) - 10, 100),
        ];
        for (off, len) in ranges {
            let got = fs.read_range("/boot/big", off as u64, len).unwrap();
            assert!(got == big[off..(off + len).min(big.len())], "{block}: big {off}+{len}");
        }
        let end = big.len() as u64;
        assert!(fs.read_range("/boot/big", end, 10).unwrap().is_empty());
        assert!(fs.read_range("/boot/big", u64::MAX, 10).unwrap().is_empty());
        assert!(fs.read_range("/boot/big", 7, usize::MAX).unwrap() == big[7..]);
        for (off, len) in [(4990, 20), (4000, (1 << 20) + 2000), ((1 << 20) - 3, 10), (200_000, 5)] {
            let got = fs.read_range("/boot/sparse", off as u64, len).unwrap();
            assert!(
                got == sparse[off..(off + len).min(sparse.len())],
                "{block}: sparse {off}+{len}"
            );
        }
        assert_eq!(fs.read_range("/boot/small", 1, 3).unwrap(), b"ell");
        assert!(fs.read_range("/boot/empty", 0, 10).unwrap().is_empty());
        assert!(matches!(fs.read_range("/boot/dir", 0, 1), Err(FsError::NotFound(_))));
        assert!(matches!(fs.read_range("/boot/nope", 0, 1), Err(FsError::NotFound(_))));
    }
}
