//! Disk images built without root, checked with the host's own tools
//! (sgdisk, partx, debugfs, dumpe2fs, mtools, blkid, sha256sum).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use hopboot_qemu::disk::{self, Fs, Partition, Table, MIB};

const UUID: &str = "0d15c0de-1234-4abc-8def-000000000042";

/// A scratch directory under the target dir, removed on success.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = hopboot_qemu::paths::target_dir()
            .unwrap()
            .join("qemu-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn write(path: &Path, data: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn staging_trees(s: &Scratch) -> (PathBuf, PathBuf) {
    let root = s.path("root");
    write(&root.join("boot/x"), "kernel bytes\n");
    write(&root.join("boot/grub/grub.cfg"), "set default=0\n");
    write(&root.join("etc/hostname"), "demo\n");
    let esp = s.path("esp");
    write(&esp.join("EFI/BOOT/BOOTX64.EFI"), "MZ fake\n");
    write(&esp.join("loader/entries/linux.conf"), "title Linux\n");
    (root, esp)
}

#[test]
fn gpt_with_ext4_and_vfat() {
    let s = Scratch::new("gpt");
    let (root, esp) = staging_trees(&s);
    let parts = [
        Partition {
            part_uuid: Some("11111111-2222-4333-8444-555555555555".into()),
            ..Partition::new(40, "ef00", Fs::Vfat)
                .with_label("ESP")
                .with_staging(&esp)
        },
        Partition::new(
            16,
            "8300",
            Fs::Ext4 {
                uuid: Some(UUID.into()),
            },
        )
        .with_label("hoproot")
        .with_staging(&root),
        Partition::new(2, "ea00", Fs::Raw(b"RAWDATA".to_vec())),
    ];
    let img = s.path("disk.img");
    disk::build_disk(&img, Table::Gpt, &parts).unwrap();
    let (extents, total) = disk::layout(&parts).unwrap();
    assert_eq!(fs::metadata(&img).unwrap().len(), total);
    assert_eq!(total, (1 + 40 + 16 + 2 + 1) * MIB);

    let table = tool("sgdisk", &["-p", p(&img)]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (n, (row, ext)) in rows.iter().zip(&extents).enumerate() {
        let want = [
            (n + 1).to_string(),
            ext.start_lba().to_string(),
            ext.end_lba().to_string(),
        ];
        assert_eq!(row[..3], want, "{table}");
    }
    assert_eq!([rows[0][5], rows[1][5], rows[2][5]], ["EF00", "8300", "EA00"]);
    let info = tool("sgdisk", &["-i", "1", p(&img)]);
    assert!(info.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), "{info}"); // ESP type GUID
    assert!(info.contains("11111111-2222-4333-8444-555555555555"), "{info}");
    assert!(info.contains("Partition name: 'ESP'"), "{info}");
    let info = tool("sgdisk", &["-i", "2", p(&img)]);
    assert!(info.contains("0FC63DAF-8483-4772-8E79-3D69D8477DE4"), "{info}"); // Linux data
    assert!(info.contains("Partition name: 'hoproot'"), "{info}");
    let info = tool("sgdisk", &["-i", "3", p(&img)]);
    assert!(info.contains("BC13C2FF-59E6-4262-A352-B275FD6F7172"), "{info}"); // XBOOTLDR

    // ext4: the staged files, UUID and label.
    let ext4 = s.path("p2.img");
    disk::extract(&img, extents[1], &ext4).unwrap();
    assert_eq!(tool("debugfs", &["-R", "cat /boot/x", p(&ext4)]), "kernel bytes\n");
    assert_eq!(
        tool("debugfs", &["-R", "cat /boot/grub/grub.cfg", p(&ext4)]),
        "set default=0\n"
    );
    let sb = tool("dumpe2fs", &["-h", p(&ext4)]);
    assert!(sb.contains(&format!("Filesystem UUID:          {UUID}")), "{sb}");
    assert!(sb.contains("Filesystem volume name:   hoproot"), "{sb}");

    // vfat: the staged tree, volume id 4842-0001 (partition 1), label.
    let fat = s.path("p1.img");
    disk::extract(&img, extents[0], &fat).unwrap();
    assert_eq!(tool("mtype", &["-i", p(&fat), "::/EFI/BOOT/BOOTX64.EFI"]), "MZ fake\n");
    assert_eq!(
        tool("mtype", &["-i", p(&fat), "::/loader/entries/linux.conf"]),
        "title Linux\n"
    );
    let id = tool("blkid", &["-p", "-o", "export", p(&fat)]);
    assert!(id.contains("UUID=4842-0001"), "{id}");
    assert!(id.contains("LABEL=ESP"), "{id}");
    assert!(id.contains("VERSION=FAT32"), "{id}");

    // Raw bytes at the start of partition 3, zeros after.
    let bytes = fs::read(&img).unwrap();
    let start = usize::try_from(extents[2].offset).unwrap();
    assert_eq!(&bytes[start..start + 8], b"RAWDATA\0");
}

#[test]
fn ext4_is_reproducible() {
    let s = Scratch::new("repro");
    let (root, _) = staging_trees(&s);
    let part = Partition::new(
        8,
        "8300",
        Fs::Ext4 {
            uuid: Some(UUID.into()),
        },
    )
    .with_staging(&root);
    let (a, b) = (s.path("a.img"), s.path("b.img"));
    disk::build_filesystem(&a, &part, 1).unwrap();
    disk::build_filesystem(&b, &part, 1).unwrap();
    assert_eq!(disk::sha256_file(&a).unwrap(), disk::sha256_file(&b).unwrap());
}

#[test]
fn mbr_table() {
    let s = Scratch::new("mbr");
    let (root, esp) = staging_trees(&s);
    let parts = [
        Partition::new(8, "ef00", Fs::Vfat).with_staging(&esp),
        Partition::new(
            12,
            "8300",
            Fs::Ext4 {
                uuid: Some(UUID.into()),
            },
        )
        .with_staging(&root),
        Partition::new(1, "0c", Fs::None),
    ];
    let img = s.path("mbr.img");
    disk::build_disk(&img, Table::Mbr, &parts).unwrap();
    let (extents, _) = disk::layout(&parts).unwrap();

    // partx (util-linux) reads the table the way the kernel does.
    let table = tool(
        "partx",
        &[
            "--show",
            "--bytes",
            "--noheadings",
            "--output",
            "NR,START,SECTORS,TYPE,UUID,SCHEME",
            p(&img),
        ],
    );
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (i, (row, ext)) in rows.iter().zip(&extents).enumerate() {
        let n = (i + 1).to_string();
        let start = ext.start_lba().to_string();
        let sectors = (ext.len / 512).to_string();
        let uuid = format!("4842424f-0{}", i + 1);
        assert_eq!(row[..3], [n.as_str(), &start, &sectors], "{table}");
        assert_eq!(row[4..], [uuid.as_str(), "dos"], "{table}");
    }
    assert_eq!([rows[0][3], rows[1][3], rows[2][3]], ["0xef", "0x83", "0xc"]);

    // sfdisk is in Debian's fdisk package, which not every machine has.
    if let Ok(out) = Command::new("sfdisk").arg("-J").arg(&img).output() {
        // One line or several per partition, depending on the sfdisk version.
        let json = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(json.contains("\"label\": \"dos\""), "{json}");
        assert!(json.contains("\"start\": 2048, \"size\": 16384"), "{json}");
    }

    let ext4 = s.path("p2.img");
    disk::extract(&img, extents[1], &ext4).unwrap();
    assert_eq!(tool("debugfs", &["-R", "cat /etc/hostname", p(&ext4)]), "demo\n");
}

#[test]
fn bad_input_is_an_error() {
    let s = Scratch::new("bad");
    let img = s.path("bad.img");
    let ext4 = |uuid: &str| Fs::Ext4 {
        uuid: Some(uuid.into()),
    };

    let missing = Partition::new(8, "8300", ext4(UUID)).with_staging(&s.path("nope"));
    let err = format!("{:#}", disk::build_disk(&img, Table::Gpt, &[missing]).unwrap_err());
    assert!(err.contains("nope") && err.contains("does not exist"), "{err}");

    let five = vec![Partition::new(1, "8300", Fs::None); 5];
    let err = format!("{:#}", disk::build_disk(&img, Table::Mbr, &five).unwrap_err());
    assert!(err.contains("at most 4"), "{err}");

    let err = format!(
        "{:#}",
        disk::build_disk(&img, Table::Mbr, &[Partition::new(1, "8304", Fs::None)]).unwrap_err()
    );
    assert!(err.contains("no MBR equivalent"), "{err}");

    let err = format!(
        "{:#}",
        disk::build_disk(&img, Table::Gpt, &[Partition::new(4, "8300", ext4("not-a-uuid"))]).unwrap_err()
    );
    assert!(err.contains("mkfs.ext4"), "{err}");

    let big = Partition::new(1, "8300", Fs::Raw(vec![1; 2 * MIB as usize]));
    let err = format!("{:#}", disk::build_disk(&img, Table::Gpt, &[big]).unwrap_err());
    assert!(err.contains("do not fit"), "{err}");

    let err = format!("{:#}", disk::sha256_file(&s.path("absent")).unwrap_err());
    assert!(err.contains("absent"), "{err}");
}

#[test]
fn sha256_matches_sha256sum() {
    let s = Scratch::new("sha");
    let abc = s.path("abc");
    fs::write(&abc, "abc").unwrap();
    assert_eq!(
        disk::sha256_file(&abc).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let big = s.path("big");
    fs::write(&big, (0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    let expected = tool("sha256sum", &[p(&big)]);
    assert_eq!(
        disk::sha256_file(&big).unwrap(),
        expected.split_whitespace().next().unwrap()
    );
}

/// A 4Kn disk: the GPT counts 4096-byte sectors (sfdisk), so the header is at
/// byte 4096, not 512; ext4 gets 4 KiB blocks; partx, told the sector size,
/// reads the partitions back at the layout's offsets.
#[test]
fn gpt_with_4096_byte_sectors() {
    let s = Scratch::new("gpt4k");
    let (root, esp) = staging_trees(&s);
    let parts = [
        Partition {
            part_uuid: Some("44444444-2222-4333-8444-555555555555".into()),
            ..Partition::new(40, "ef00", Fs::Vfat).with_label("ESP4K")
        },
        Partition::new(
            16,
            "8300",
            Fs::Ext4 {
                uuid: Some(UUID.into()),
            },
        )
        .with_label("root4k")
        .with_staging(&root),
    ];
    let img = s.path("disk4k.img");
    disk::build_disk_with(&img, Table::Gpt, &parts, disk::SECTOR_4K).unwrap();
    let (extents, total) = disk::layout(&parts).unwrap();
    assert_eq!(fs::metadata(&img).unwrap().len(), total);
    let bytes = fs::read(&img).unwrap();
    assert_eq!(&bytes[4096..4104], b"EFI PART");
    assert_ne!(&bytes[512..520], b"EFI PART");

    // util-linux fdisk, told the sector size, reads the table back.
    let table = tool(
        "fdisk",
        &[
            "-b",
            "4096",
            "-l",
            "-o",
            "Device,Start,End,Type-UUID,UUID,Name",
            p(&img),
        ],
    );
    assert!(table.contains("Disklabel type: gpt"), "{table}");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip_while(|l| !l.starts_with("Device"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    for (row, ext) in rows.iter().zip(&extents) {
        let (start, end) = (ext.start_lba_of(4096).to_string(), ext.end_lba_of(4096).to_string());
        assert_eq!(row[1..3], [start.as_str(), end.as_str()], "{table}");
    }
    assert_eq!(rows[0][1], "256", "{table}"); // 1 MiB in 4 KiB sectors
    assert_eq!(
        rows[0][3..],
        [
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "44444444-2222-4333-8444-555555555555",
            "ESP4K"
        ],
        "{table}"
    );
    assert_eq!(rows[1][3], "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "{table}");
    assert_eq!(rows[1][5], "root4k", "{table}");

    let ext4 = s.path("p2.img");
    disk::extract(&img, extents[1], &ext4).unwrap();
    let sb = tool("dumpe2fs", &["-h", p(&ext4)]);
    assert!(sb.contains("Block size:               4096"), "{sb}");
    assert_eq!(tool("debugfs", &["-R", "cat /etc/hostname", p(&ext4)]), "demo\n");
    let fat = s.path("p1.img");
    disk::extract(&img, extents[0], &fat).unwrap();
    let id = tool("blkid", &["-p", "-o", "export", p(&fat)]);
    assert!(id.contains("LABEL=ESP4K"), "{id}");
    assert!(id.contains("BLOCK_SIZE=4096"), "{id}");

    // mtools cannot fill a FAT with 4 KiB sectors: a clear error, not a broken disk.
    let filled = [Partition::new(40, "ef00", Fs::Vfat).with_staging(&esp)];
    let err = format!(
        "{:#}",
        disk::build_disk_with(&img, Table::Gpt, &filled, disk::SECTOR_4K).unwrap_err()
    );
    assert!(err.contains("cannot be filled"), "{err}");

    let err = format!(
        "{:#}",
        disk::build_disk_with(&img, Table::Gpt, &parts, 1024).unwrap_err()
    );
    assert!(err.contains("only 512 and 4096"), "{err}");
}

/// `Fs::Image`: a filesystem made beforehand lands at the partition's start;
/// one too big for the partition is refused before anything is written.
#[test]
fn prebuilt_filesystem_image() {
    let s = Scratch::new("image");
    let (root, _) = staging_trees(&s);
    let fsimg = s.path("fs.img");
    disk::build_filesystem(
        &fsimg,
        &Partition::new(
            6,
            "8300",
            Fs::Ext4 {
                uuid: Some(UUID.into()),
            },
        )
        .with_staging(&root),
        1,
    )
    .unwrap();
    let parts = [
        Partition::new(2, "8300", Fs::None),
        Partition::new(8, "8300", Fs::Image(fsimg.clone())),
    ];
    let img = s.path("disk.img");
    disk::build_disk(&img, Table::Gpt, &parts).unwrap();
    let (extents, _) = disk::layout(&parts).unwrap();
    let back = s.path("back.img");
    disk::extract(&img, extents[1], &back).unwrap();
    let (a, b) = (fs::read(&fsimg).unwrap(), fs::read(&back).unwrap());
    assert_eq!(a[..], b[..a.len()]);
    assert!(b[a.len()..].iter().all(|&x| x == 0));
    assert_eq!(tool("debugfs", &["-R", "cat /boot/x", p(&back)]), "kernel bytes\n");

    let err = format!(
        "{:#}",
        disk::build_disk(&img, Table::Gpt, &[Partition::new(4, "8300", Fs::Image(fsimg))]).unwrap_err()
    );
    assert!(err.contains("does not fit in 4 MiB"), "{err}");
}
