//! Discovery reads a few KiB of each Unified Kernel Image, not the 30-100 MB
//! of kernel and initrd it carries (issue 7): real UKIs (systemd's stub plus
//! sections, built with objcopy as `ukify` does) with a 48 MiB `.linux` and
//! an 8 MiB `.initrd`, on a directory and on a FAT image, behind an `FsView`
//! that counts every byte handed out.

use hopboot_loader::discover;
use hopboot_loader::fs::{dir::DirFs, fat::FatFs, FsError, FsView, Kind};
use hopboot_loader::model::Volume;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

const LINUX_BYTES: usize = 48 << 20;
const INITRD_BYTES: usize = 8 << 20;
/// What discovery may read of one UKI.
const BUDGET: u64 = 256 << 10;

/// Runs a host tool that must succeed (the error names it and what it printed).
fn run(cmd: &mut Command) {
    if let Err(e) = hopboot_qemu::cmd::run(cmd) {
        panic!("{e:#}");
    }
}

/// A UKI at `out`: systemd's stub plus `sections`.
fn build_uki(out: &Path, sections: &[(&str, &[u8])]) {
    hopboot_qemu::uki::build_from_bytes(out, sections).unwrap_or_else(|e| panic!("{e:#}"));
}

/// The ESP tree: two big UKIs, one without `.cmdline`.
fn esp(root: &Path) -> Vec<u8> {
    let linux: Vec<u8> = (0..LINUX_BYTES).map(|i| (i % 251) as u8).collect();
    let initrd = vec![0x5a; INITRD_BYTES];
    let linux_dir = root.join("EFI/Linux");
    std::fs::create_dir_all(&linux_dir).unwrap();
    let osrel = |v: &str| format!("NAME=Fedora\nVERSION_ID={v}\nPRETTY_NAME=\"Fedora {v}\"\n").into_bytes();
    build_uki(
        &linux_dir.join("fedora-6.5.efi"),
        &[
            (".osrel", &osrel("39")),
            (".cmdline", b"root=/dev/vda2 ro quiet\n"),
            (".uname", b"6.5.6-300.fc39.x86_64\n"),
            (".initrd", &initrd),
            (".linux", &linux),
        ],
    );
    build_uki(
        &linux_dir.join("fedora-6.4.efi"),
        &[
            (".osrel", &osrel("38")),
            (".uname", b"6.4.1-200.fc38.x86_64\n"),
            (".initrd", &initrd),
            (".linux", &linux),
        ],
    );
    linux
}

/// Every read through an `FsView`: (path, offset, bytes).
type Log = Arc<Mutex<Vec<(String, u64, u64)>>>;

struct Counting<F> {
    fs: F,
    log: Log,
}

impl<F: FsView> Counting<F> {
    fn note(&self, path: &str, offset: u64, n: u64) {
        self.log.lock().unwrap().push((path.to_string(), offset, n));
    }
}

impl<F: FsView> FsView for Counting<F> {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let v = self.fs.read(path, limit)?;
        self.note(path, 0, v.len() as u64);
        Ok(v)
    }
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let n = self.fs.copy_to(path, limit, out)?;
        self.note(path, 0, n);
        Ok(n)
    }
    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        let v = self.fs.read_range(path, offset, len)?;
        self.note(path, offset, v.len() as u64);
        Ok(v)
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        self.fs.kind(path)
    }
    fn size(&self, path: &str) -> Option<u64> {
        self.fs.size(path)
    }
    fn list(&self, path: &str) -> Vec<String> {
        self.fs.list(path)
    }
    fn uuid(&self) -> Option<String> {
        self.fs.uuid()
    }
    fn label(&self) -> Option<String> {
        self.fs.label()
    }
    fn fs_type(&self) -> &'static str {
        self.fs.fs_type()
    }
}

/// Discovers the one volume `fs` and checks the two UKI entries and what
/// was read of them.
fn check(what: &str, fs: Box<dyn FsView>, log: &Log) -> discover::Discovery {
    let vol = Volume {
        name: what.to_string(),
        grub_name: "hd0,gpt1".into(),
        any_partition: false,
        fs,
        part_uuid: None,
        part_label: None,
    };
    let d = discover::discover(vec![vol], Vec::new());
    assert!(d.errors.is_empty(), "{what}: {:?}", d.errors);
    let got: Vec<(&str, &str, &str)> = d
        .entries
        .iter()
        .map(|e| (e.title.as_str(), e.kernel.as_str(), e.cmdline.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("Fedora 39", "/EFI/Linux/fedora-6.5.efi", "root=/dev/vda2 ro quiet"),
            ("Fedora 38", "/EFI/Linux/fedora-6.4.efi", ""),
        ],
        "{what}"
    );
    let log = log.lock().unwrap();
    for uki in ["/EFI/Linux/fedora-6.5.efi", "/EFI/Linux/fedora-6.4.efi"] {
        let reads: Vec<&(String, u64, u64)> = log.iter().filter(|r| r.0 == uki).collect();
        let bytes: u64 = reads.iter().map(|r| r.2).sum();
        eprintln!("{what}: discovery read {bytes} bytes of {uki} in {} reads", reads.len());
        assert!(bytes > 0 && bytes < BUDGET, "{what}: {bytes} bytes of {uki}: {reads:?}");
        // Read once: the headers are read a single time, even for the UKI
        // without `.cmdline` (which used to be read again for it).
        assert_eq!(reads.iter().filter(|r| r.1 == 0).count(), 1, "{what} {uki}: {reads:?}");
    }
    d
}

#[test]
fn discovery_reads_a_few_kib_of_each_uki() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("esp");
    let linux = esp(&tree);
    let size = std::fs::metadata(tree.join("EFI/Linux/fedora-6.5.efi")).unwrap().len();
    assert!(size > (LINUX_BYTES + INITRD_BYTES) as u64, "{size}");

    // A directory.
    let log = Log::default();
    let fs = Counting {
        fs: DirFs::new(&tree),
        log: log.clone(),
    };
    let disc = check("dir", Box::new(fs), &log);

    // The loader's side: .linux, read by range, is the kernel byte for byte.
    let e = &disc.entries[0];
    let fs = disc.volumes[0].fs.as_ref();
    let u = hopboot_loader::format::sdboot::uki::read_layout(fs, &e.kernel).unwrap();
    assert_eq!(u.linux.1, LINUX_BYTES as u64);
    let got = fs.read_range(&e.kernel, u.linux.0, u.linux.1 as usize).unwrap();
    assert!(got == linux, ".linux differs");
    assert_eq!(u.initrd.map(|r| r.1), Some(INITRD_BYTES as u64));

    // A FAT32 image, as an ESP is.
    let img = d.path().join("esp.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", "32"])
        .arg(&img)
        .arg("160000"));
    run(Command::new("mcopy")
        .arg("-s")
        .arg("-i")
        .arg(&img)
        .arg(tree.join("EFI"))
        .arg("::/")
        .env("MTOOLS_SKIP_CHECK", "1"));
    let disk = hopboot_loader::block::Disk::open(&img).unwrap();
    let log = Log::default();
    let fs = Counting {
        fs: FatFs::open(disk.whole()).unwrap(),
        log: log.clone(),
    };
    check("FAT32", Box::new(fs), &log);
}
