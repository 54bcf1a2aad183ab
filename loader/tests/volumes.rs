//! Several real disks at once: images partitioned with `sgdisk` (and, for
//! 4096-byte sectors, util-linux `fdisk -b 4096`), filesystems made with
//! `mkfs.ext4 -d`, a journal made dirty with `debugfs`. Checks which volume
//! GRUB's `search` picks among several disks (filesystem UUID, filesystem
//! label, partition UUID and name, file), that the same kernel on two disks
//! is two entries naming their disks, that a 4Kn GPT is read, and that the
//! ext4 filesystems ext4-view refuses are reported as needing the kernel
//! mount (which only PID 1 does).

use hopboot_loader::discover::{self, Discovery};
use hopboot_loader::fs::{ext4::Ext4Fs, FsError, FsView};
use hopboot_loader::model::BootEntry;
use hopboot_loader::source::kernel_fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs a host tool that must succeed and returns its stdout (the error names
/// the tool and what it printed).
fn run(cmd: &mut Command) -> String {
    hopboot_qemu::cmd::stdout(cmd).unwrap_or_else(|e| panic!("{e:#}"))
}

fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// One ext4 filesystem to put on a disk.
struct Ext4 {
    uuid: &'static str,
    label: &'static str,
    /// GPT partition GUID and name.
    part_uuid: &'static str,
    part_name: &'static str,
    files: Vec<(&'static str, String)>,
    /// Extra `mkfs.ext4 -O` features.
    features: &'static str,
}

const PART_MIB: u64 = 4;

/// `mkfs.ext4 -d` of `fs.files` into a new image file of PART_MIB MiB.
fn mkfs(dir: &Path, name: &str, fs: &Ext4, block: u32) -> PathBuf {
    mkfs_sized(dir, name, fs, block, PART_MIB)
}

/// Like [`mkfs`], `mib` MiB.
fn mkfs_sized(dir: &Path, name: &str, fs: &Ext4, block: u32, mib: u64) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    let files: Vec<(&str, &str)> = fs.files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    std::fs::create_dir_all(&tree).unwrap();
    write_tree(&tree, &files);
    let img = dir.join(format!("{name}.fs"));
    let mut mkfs = Command::new("mkfs.ext4");
    mkfs.args(["-q", "-F", "-b", &block.to_string(), "-U", fs.uuid, "-L", fs.label])
        .env("E2FSPROGS_FAKE_TIME", "1700000000");
    if !fs.features.is_empty() {
        mkfs.args(["-O", fs.features]);
    }
    run(mkfs.arg("-d").arg(&tree).arg(&img).arg(format!("{}k", mib * 1024)));
    img
}

/// A GPT disk (512-byte sectors, sgdisk) holding `parts` back to back from
/// 1 MiB; returns its path. Partition N is `NAME.img:N`.
fn disk(dir: &Path, name: &str, parts: &[Ext4]) -> PathBuf {
    let path = dir.join(format!("{name}.img"));
    let total = (2 + PART_MIB * parts.len() as u64) << 20;
    std::fs::File::create(&path).unwrap().set_len(total).unwrap();
    let mut sgdisk = Command::new("sgdisk");
    for (i, p) in parts.iter().enumerate() {
        let n = i + 1;
        let start = 2048 + i as u64 * PART_MIB * 2048;
        sgdisk.args([
            format!("--new={n}:{start}:{}", start + PART_MIB * 2048 - 1),
            format!("--typecode={n}:8300"),
            format!("--partition-guid={n}:{}", p.part_uuid),
            format!("--change-name={n}:{}", p.part_name),
        ]);
    }
    run(sgdisk.arg(&path).stdout(Stdio::null()));
    place(&path, dir, name, parts, 512, 1024);
    path
}

/// Writes each filesystem of `parts` at its partition (1 MiB + N × PART_MIB).
fn place(path: &Path, dir: &Path, name: &str, parts: &[Ext4], _sector: u64, block: u32) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    for (i, p) in parts.iter().enumerate() {
        let img = mkfs(dir, &format!("{name}-{}", i + 1), p, block);
        let data = std::fs::read(img).unwrap();
        f.write_all_at(&data, (1 + PART_MIB * i as u64) << 20).unwrap();
    }
}

/// Discovery over the given disk images, disk i being GRUB's `hd<i>`.
fn discover_disks(disks: &[&Path]) -> Discovery {
    let mut errors = Vec::new();
    let mut vols = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        vols.extend(hopboot_loader::source::disk::open_path(
            d,
            i,
            &hopboot_loader::source::NoMachine,
            &mut errors,
        ));
    }
    discover::discover(vols, errors)
}

fn entry<'a>(d: &'a Discovery, title: &str) -> &'a BootEntry {
    d.entries
        .iter()
        .find(|e| e.title == title)
        .unwrap_or_else(|| panic!("no entry {title:?}: {:#?} {:?}", d.entries, d.errors))
}

const KVER: &str = "6.1.0-9-amd64";

fn kernel_files(tag: &str) -> Vec<(&'static str, String)> {
    vec![
        ("boot/vmlinuz-6.1.0-9-amd64", format!("kernel on {tag}")),
        ("boot/initrd.img-6.1.0-9-amd64", format!("initrd on {tag}")),
    ]
}

/// GRUB's `search` picks the right volume among two disks: by filesystem
/// UUID (any case), filesystem label, partition GUID, partition name, file;
/// a failed or kind-less search leaves `$root` alone (GRUB: "unspecified
/// search type"), so the kernel comes from the config's own volume, which
/// also has one.
#[test]
fn grub_search_picks_the_volume_across_disks() {
    let d = tempfile::tempdir().unwrap();
    let target_uuid = "5ea7c400-0000-4000-8000-00000000b002";
    let target_part = "b2b2b2b2-0000-4000-8000-00000000b002";
    let entries = [
        (
            "fs-uuid",
            format!("search --no-floppy --fs-uuid --set=root {}", target_uuid.to_uppercase()),
        ),
        ("label", "search --no-floppy --label --set=root target".to_string()),
        (
            "part-uuid",
            format!("search --no-floppy --part-uuid --set=root {target_part}"),
        ),
        (
            "part-label",
            "search --no-floppy --part-label --set=root hb-target".to_string(),
        ),
        (
            "file",
            "search --no-floppy --file --set=root /only-on-target".to_string(),
        ),
        ("short", format!("search.fs_uuid {target_uuid} root")),
        ("short-part", format!("search.part_uuid {target_part} root")),
        // Not found / not a search: $root stays the config's own volume.
        ("no-kind", "search --no-floppy --set=root /only-on-target".to_string()),
        (
            "fs-label-is-not-part-name",
            "search --no-floppy --label --set=root hb-target".to_string(),
        ),
        ("label-case", "search --no-floppy --label --set=root TARGET".to_string()),
        (
            "missing-uuid",
            "search --no-floppy --fs-uuid --set=root 00000000-dead-4000-8000-000000000000".to_string(),
        ),
    ];
    let mut cfg = String::from("set default=0\n");
    for (t, search) in &entries {
        cfg.push_str(&format!(
            "menuentry '{t}' {{\n  {search}\n  linux /boot/vmlinuz-{KVER} ro via={t}\n  initrd /boot/initrd.img-{KVER}\n}}\n"
        ));
    }
    let mut cfg_files = kernel_files("cfg disk");
    cfg_files.push(("boot/grub/grub.cfg", cfg));
    let a = disk(
        d.path(),
        "a",
        &[Ext4 {
            uuid: "5ea7c400-0000-4000-8000-00000000a001",
            label: "cfg",
            part_uuid: "a1a1a1a1-0000-4000-8000-00000000a001",
            part_name: "cfg",
            files: cfg_files,
            features: "",
        }],
    );
    let mut target_files = kernel_files("target");
    target_files.push(("only-on-target", String::new()));
    let b = disk(
        d.path(),
        "b",
        &[
            // A decoy first: GRUB takes the first match, so it must not match.
            Ext4 {
                uuid: "5ea7c400-0000-4000-8000-00000000b001",
                label: "decoy",
                part_uuid: "b1b1b1b1-0000-4000-8000-00000000b001",
                part_name: "target",
                files: kernel_files("decoy"),
                features: "",
            },
            Ext4 {
                uuid: target_uuid,
                label: "target",
                part_uuid: target_part,
                part_name: "hb-target",
                files: target_files,
                features: "",
            },
        ],
    );
    let found = discover_disks(&[&a, &b]);
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    for (t, _) in &entries {
        let e = entry(&found, t);
        let want = match *t {
            "no-kind" | "fs-label-is-not-part-name" | "label-case" | "missing-uuid" => "a.img:1",
            _ => "b.img:2",
        };
        assert_eq!(e.device, want, "entry {t}");
        assert_eq!(e.cmdline, format!("ro via={t}"));
        let vol = &found.volumes[e.volume];
        assert_eq!(vol.name, want);
        let kernel = vol.fs.read_text(&e.kernel).unwrap();
        assert_eq!(
            kernel,
            if want == "b.img:2" {
                "kernel on target"
            } else {
                "kernel on cfg disk"
            }
        );
    }
    // The identities search compares, as read from the disks.
    let v = found.volumes.iter().find(|v| v.name == "b.img:2").unwrap();
    assert_eq!(v.fs.uuid().as_deref(), Some(target_uuid));
    assert_eq!(v.fs.label().as_deref(), Some("target"));
    assert_eq!(v.part_uuid.as_deref(), Some(target_part));
    assert_eq!(v.part_label.as_deref(), Some("hb-target"));
    assert_eq!(v.grub_name, "hd1,gpt2");
}

/// The same kernel, initrd and command line on two disks are two entries,
/// each naming its own disk; one of them is the default.
#[test]
fn same_kernel_on_two_disks_is_two_entries() {
    let d = tempfile::tempdir().unwrap();
    let make = |name: &str, uuid: &'static str, part: &'static str, grub: bool| {
        let mut files = vec![
            ("boot/vmlinuz-6.1.0-9-amd64", "the same kernel".to_string()),
            ("boot/initrd.img-6.1.0-9-amd64", "the same initrd".to_string()),
            ("etc/kernel/cmdline", "root=LABEL=root ro quiet".to_string()),
        ];
        if grub {
            files.push((
                "boot/grub/grub.cfg",
                format!(
                    "menuentry 'Debian' {{\n  search --no-floppy --fs-uuid --set=root {uuid}\n  linux /boot/vmlinuz-{KVER} root=LABEL=root ro quiet\n  initrd /boot/initrd.img-{KVER}\n}}\n"
                ),
            ));
        }
        disk(
            d.path(),
            name,
            &[Ext4 {
                uuid,
                label: "root",
                part_uuid: part,
                part_name: "root",
                files,
                features: "",
            }],
        )
    };
    for grub in [false, true] {
        let one = make(
            "one",
            "0e000000-0000-4000-8000-000000000001",
            "0e0000a0-0000-4000-8000-000000000001",
            grub,
        );
        let two = make(
            "two",
            "0e000000-0000-4000-8000-000000000002",
            "0e0000a0-0000-4000-8000-000000000002",
            grub,
        );
        let found = discover_disks(&[&one, &two]);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        let got: Vec<(&str, &str, &str)> = found
            .entries
            .iter()
            .map(|e| (e.title.as_str(), e.device.as_str(), e.kernel.as_str()))
            .collect();
        let title = if grub {
            "Debian".to_string()
        } else {
            format!("Linux {KVER}")
        };
        let kernel = format!("/boot/vmlinuz-{KVER}");
        assert_eq!(
            got,
            [
                (title.as_str(), "one.img:1", kernel.as_str()),
                (title.as_str(), "two.img:1", kernel.as_str())
            ],
            "grub={grub}"
        );
        assert_ne!(found.entries[0].volume, found.entries[1].volume);
        assert_eq!(found.entries.iter().filter(|e| e.default).count(), 1);
        assert!(found.entries[0].default);
        let cmdline = &found.entries[0].cmdline;
        assert_eq!(cmdline, "root=LABEL=root ro quiet", "grub={grub}");
        assert_eq!(&found.entries[1].cmdline, cmdline);
    }
}

/// A GPT in 4096-byte sectors (util-linux fdisk -b 4096, as a 4Kn disk
/// has): the header is at byte 4096 and LBAs count 4 KiB, so a 512-byte
/// reading finds nothing; hopboot probes 4096 on image files and finds the
/// partitions where they are.
#[test]
fn gpt_with_4096_byte_sectors() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("4kn.img");
    let parts = [
        Ext4 {
            uuid: "4c000000-0000-4000-8000-000000000001",
            label: "esp-ish",
            part_uuid: "4c0000a0-0000-4000-8000-000000000001",
            part_name: "first",
            files: vec![("hello", "first".into())],
            features: "",
        },
        Ext4 {
            uuid: "4c000000-0000-4000-8000-000000000002",
            label: "root4k",
            part_uuid: "4c0000a0-0000-4000-8000-000000000002",
            part_name: "second",
            files: kernel_files("4kn"),
            features: "",
        },
    ];
    let total = (2 + PART_MIB * parts.len() as u64) << 20;
    std::fs::File::create(&path).unwrap().set_len(total).unwrap();
    let mut script = String::from("label: gpt\n");
    for (i, p) in parts.iter().enumerate() {
        let start = 256 + i as u64 * PART_MIB * 256;
        script.push_str(&format!(
            "start={start}, size={}, type=0fc63daf-8483-4772-8e79-3d69d8477de4, uuid={}, name=\"{}\"\n",
            PART_MIB * 256,
            p.part_uuid,
            p.part_name
        ));
    }
    let script_path = d.path().join("layout.sfdisk");
    std::fs::write(&script_path, script).unwrap();
    let mut fdisk = Command::new("fdisk")
        .args(["-b", "4096"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fdisk (util-linux, Debian package fdisk)");
    {
        use std::io::Write;
        let mut stdin = fdisk.stdin.take().unwrap();
        write!(stdin, "I\n{}\nw\n", script_path.display()).unwrap();
    }
    let out = fdisk.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Script successfully applied"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    place(&path, d.path(), "4kn", &parts, 4096, 4096);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[4096..4104], b"EFI PART");
    assert_ne!(&bytes[512..520], b"EFI PART");

    let disk = hopboot_loader::block::Disk::open(&path).unwrap();
    let (kind, found) = hopboot_loader::block::partitions(&disk).unwrap();
    assert_eq!(kind, hopboot_loader::block::TableKind::Gpt);
    let got: Vec<(u32, u64, u64, Option<&str>)> = found
        .iter()
        .map(|p| (p.number, p.start, p.len, p.part_label.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (1, 1 << 20, PART_MIB << 20, Some("first")),
            (2, (1 + PART_MIB) << 20, PART_MIB << 20, Some("second"))
        ]
    );
    let found = discover_disks(&[&path]);
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert_eq!(found.entries.len(), 1, "{:#?}", found.entries);
    let e = &found.entries[0];
    assert_eq!(
        (e.device.as_str(), e.kernel.as_str()),
        ("4kn.img:2", "/boot/vmlinuz-6.1.0-9-amd64")
    );
    let v = &found.volumes[e.volume];
    assert_eq!(v.fs.label().as_deref(), Some("root4k"));
    assert_eq!(v.part_uuid.as_deref(), Some("4c0000a0-0000-4000-8000-000000000002"));
    assert_eq!(v.fs.read_text(&e.kernel).unwrap(), "kernel on 4kn");
}

/// ext4 filesystems the kernel mounts but ext4-view 0.9 refuses: each is
/// `Unsupported` (not corrupt), and outside PID 1 discovery says it needs
/// the kernel mount. A dirty journal that ext4-view can replay (64-bit,
/// checksum v3: a metadata_csum filesystem) is read, replayed in memory.
#[test]
fn ext4_that_only_the_kernel_reads_is_reported_as_such() {
    let d = tempfile::tempdir().unwrap();
    let base = |features: &'static str| Ext4 {
        uuid: "e4000000-0000-4000-8000-000000000001",
        label: "root",
        part_uuid: "e40000a0-0000-4000-8000-000000000001",
        part_name: "root",
        files: vec![(
            "boot/grub/grub.cfg",
            "menuentry 'x' { linux /boot/vmlinuz hb.fs=on-disk }\n".into(),
        )],
        features,
    };
    let open = |img: &Path| {
        let disk = hopboot_loader::block::Disk::open(img).unwrap();
        Ext4Fs::open(disk.whole())
    };
    for (features, why) in [
        ("inline_data", "DATA_IN_INODE"),
        ("large_dir", "LARGE_DIRECTORIES"),
        ("casefold", "0x20000"),
        ("ea_inode", "LARGE_EXTENDED_ATTRIBUTES_IN_INODES"),
    ] {
        let img = mkfs(d.path(), features, &base(features), 4096);
        match open(&img) {
            Err(FsError::Unsupported(m)) => assert!(m.contains(why), "{features}: {m}"),
            Err(e) => panic!("{features}: {e}"),
            Ok(_) => panic!("{features}: ext4-view 0.9 read it; this test no longer covers the fallback"),
        }
        let mut errors = Vec::new();
        let vols = hopboot_loader::source::disk::open_path(&img, 0, &hopboot_loader::source::NoMachine, &mut errors);
        assert!(vols.is_empty());
        let msg = &errors.first().expect("an error").message();
        assert!(
            msg.contains(why) && msg.contains("needs a kernel mount"),
            "{features}: {msg}"
        );
    }

    // Orphan inodes (files deleted while open at a crash): the kernel would
    // delete them even on a read-only mount, so no kernel mount is offered.
    let img = mkfs(d.path(), "orphans", &base("inline_data"), 4096);
    run(Command::new("debugfs")
        .args(["-w", "-R", "ssv last_orphan 12"])
        .arg(&img));
    let mut errors = Vec::new();
    assert!(
        hopboot_loader::source::disk::open_path(&img, 0, &hopboot_loader::source::NoMachine, &mut errors).is_empty()
    );
    let msg = &errors.first().expect("an error").message();
    assert!(
        msg.contains("orphan inodes") && !msg.contains("needs a kernel mount"),
        "{msg}"
    );

    // A dirty journal: debugfs writes a transaction holding grub.cfg's block
    // with other contents, and sets needs_recovery.
    let dirty = |features: &'static str, jo: &str, name: &str| {
        // 16 MiB: room for a journal (mke2fs makes none below that).
        let img = mkfs_sized(d.path(), name, &base(features), 4096, 16);
        let blocks = run(Command::new("debugfs")
            .args(["-R", "blocks /boot/grub/grub.cfg"])
            .arg(&img));
        let block: u64 = blocks.trim().parse().unwrap_or_else(|_| panic!("blocks: {blocks:?}"));
        let mut data = vec![0u8; 4096];
        {
            use std::os::unix::fs::FileExt;
            std::fs::File::open(&img)
                .unwrap()
                .read_exact_at(&mut data, block * 4096)
                .unwrap();
        }
        let text = String::from_utf8_lossy(&data).replace("hb.fs=on-disk", "hb.fs=journal");
        let jblock = d.path().join(format!("{name}.jblock"));
        std::fs::write(&jblock, text.as_bytes()).unwrap();
        let cmds = d.path().join(format!("{name}.debugfs"));
        std::fs::write(&cmds, format!("{jo}\njw -b {block} {}\njc\n", jblock.display())).unwrap();
        run(Command::new("debugfs").arg("-w").arg("-f").arg(&cmds).arg(&img));
        let sb = run(Command::new("dumpe2fs").arg("-h").arg(&img).stderr(Stdio::null()));
        assert!(sb.contains("needs_recovery"), "{sb}");
        img
    };
    // No metadata_csum: the journal has no v3 checksums, ext4-view 0.9 cannot replay it.
    let img = dirty("has_journal,^metadata_csum", "jo", "dirty-nocsum");
    match open(&img) {
        Err(FsError::Unsupported(m)) => assert!(m.contains("journal"), "{m}"),
        Err(e) => panic!("dirty, no csum: {e}"),
        Ok(_) => panic!("dirty, no csum: ext4-view 0.9 read it; this test no longer covers the fallback"),
    }
    // metadata_csum, journal checksums v3 (what the kernel writes there):
    // ext4-view replays the journal in memory and shows its contents.
    let img = dirty("has_journal,metadata_csum", "jo -c -v 3", "dirty-csum");
    let fs = open(&img).unwrap();
    let cfg = fs.read_text("/boot/grub/grub.cfg").unwrap();
    assert!(cfg.contains("hb.fs=journal"), "{cfg}");
}

/// What GRUB's `search` compares on kernel-mounted filesystems comes from
/// their superblocks: type, UUID and label as mkfs wrote them (ext4 is
/// recognised too, for the fallback).
#[test]
fn kernel_mount_identities_from_real_superblocks() {
    let d = tempfile::tempdir().unwrap();
    let uuid = "1d000000-0000-4000-8000-0000000000a1";
    let cases: [(&str, Vec<String>, u64); 3] = [
        (
            "ext4",
            vec![
                "-q".into(),
                "-F".into(),
                "-U".into(),
                uuid.into(),
                "-L".into(),
                "hb-ext4".into(),
            ],
            16,
        ),
        (
            "xfs",
            vec![
                "-q".into(),
                "-f".into(),
                "-m".into(),
                format!("uuid={uuid}"),
                "-L".into(),
                "hb-xfs".into(),
            ],
            300,
        ),
        (
            "btrfs",
            vec![
                "-q".into(),
                "-f".into(),
                "-U".into(),
                uuid.into(),
                "-L".into(),
                "hb-btrfs".into(),
            ],
            128,
        ),
    ];
    for (fstype, args, mib) in cases {
        let img = d.path().join(format!("{fstype}.img"));
        std::fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        run(Command::new(format!("mkfs.{fstype}")).args(&args).arg(&img));
        let window = hopboot_loader::block::Disk::open(&img).unwrap().whole();
        assert_eq!(kernel_fs::probe(&window), Some(fstype), "{fstype}");
        let (u, l) = kernel_fs::identity(&window, fstype);
        assert_eq!(u.as_deref(), Some(uuid), "{fstype}");
        assert_eq!(l, Some(format!("hb-{fstype}")), "{fstype}");
        std::fs::remove_file(&img).unwrap();
    }
}
