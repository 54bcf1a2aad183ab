//! End-to-end tests: archives read back by the system `cpio`, module trees made of real ELF objects
//! (built with binutils' `objcopy`), and whole images built with `build` and the CLI.
//!
//! Needs `cpio`, `objcopy`, `xz` and `zstd` (scripts/install-deps.sh installs them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hopboot_image_build::cpio::Archive;
use hopboot_image_build::modules::{self, ModuleTree};
use hopboot_image_build::{build, build_with_profile, compress, Compression, Options, Profile, ALWAYS_LOAD_FILE};

const KVER: &str = "6.1.0-test";

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `cpio ARGS` in `dir` with `archive` on stdin; returns (stdout, stderr).
fn cpio(dir: &Path, args: &[&str], archive: &[u8]) -> (String, String) {
    let path = dir.join("archive.cpio");
    fs::write(&path, archive).unwrap();
    let out = Command::new("cpio")
        .args(args)
        .env("TZ", "UTC")
        .current_dir(dir)
        .stdin(fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    fs::remove_file(&path).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cpio {args:?}: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// Extracts a newc archive into a new temporary directory.
fn extract(archive: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    cpio(dir.path(), &["-id", "--quiet", "--no-absolute-filenames"], archive);
    dir
}

/// Makes a relocatable ELF object whose `.modinfo` holds `fields` NUL-terminated, as the kernel
/// build does, and returns its bytes.
fn make_ko(modinfo: &[&str], format: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("modinfo.bin");
    let ko = dir.path().join("m.ko");
    let mut data = Vec::new();
    for f in modinfo {
        data.extend_from_slice(f.as_bytes());
        data.push(0);
    }
    fs::write(&bin, data).unwrap();
    run(Command::new("objcopy")
        .args(["-I", "binary", "-O", format, "--rename-section", ".data=.modinfo"])
        .arg(&bin)
        .arg(&ko));
    fs::read(ko).unwrap()
}

/// A module tree under a temp dir: `<tmp>/lib/modules/KVER`.
struct Tree {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lib/modules").join(KVER);
        fs::create_dir_all(&dir).unwrap();
        Self { _tmp: tmp, dir }
    }

    /// Adds module file `rel` (its suffix picks the compression) with a `depends=` field; returns
    /// the uncompressed ELF bytes.
    fn add(&self, rel: &str, depends: &str) -> Vec<u8> {
        let name = rel
            .rsplit('/')
            .next()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .replace('-', "_");
        let elf = make_ko(
            &[&format!("depends={depends}"), &format!("name={name}")],
            "elf64-x86-64",
        );
        let stored = if rel.ends_with(".ko.xz") {
            compress(&elf, Compression::Xz).unwrap()
        } else if rel.ends_with(".ko.zst") {
            compress(&elf, Compression::Zstd).unwrap()
        } else if rel.ends_with(".ko.gz") {
            compress(&elf, Compression::Gzip).unwrap()
        } else {
            elf.clone()
        };
        let path = self.dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, stored).unwrap();
        elf
    }

    fn resolve(&self, names: &[&str]) -> anyhow::Result<Vec<String>> {
        let mods = ModuleTree::open(&self.dir)?.resolve(names)?;
        Ok(mods.into_iter().map(|m| m.name).collect())
    }
}

/// The tree most tests use: virtio-like names, a dashed file name, every compression.
fn virtio_tree() -> Tree {
    let t = Tree::new();
    t.add("kernel/drivers/virtio/virtio_ring.ko.xz", "");
    t.add("kernel/drivers/virtio/virtio.ko.zst", "virtio_ring");
    t.add("kernel/drivers/block/virtio_blk.ko.gz", "virtio,virtio_ring");
    t.add("kernel/drivers/virtio/virtio_pci_modern_dev.ko", "");
    t.add(
        "kernel/drivers/virtio/virtio_pci.ko",
        "virtio_ring,virtio_pci_modern_dev,virtio",
    );
    t.add("kernel/drivers/gpu/virtio-gpu.ko", "virtio,virtio_ring");
    t.add("kernel/fs/unrelated.ko", "");
    t
}

fn test_options(dir: &Path, tree: Option<&Tree>, modules: &[&str]) -> Options {
    let binary = dir.join("hopboot");
    fs::write(&binary, b"\x7fELF fake hopboot binary").unwrap();
    Options {
        binary,
        modules_dir: tree.map(|t| t.dir.clone()),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        filesystems: vec![],
        extra: vec![],
        compression: Compression::None,
        mtime: 1_700_000_000,
        output: dir.join("out/initramfs.cpio"),
    }
}

#[test]
fn system_cpio_lists_every_kind_in_sorted_order() {
    let mut a = Archive::new();
    a.add_file("/init", b"hello".to_vec(), 0o755);
    a.add_char_dev("dev/console", 0o600, 5, 1);
    a.add_symlink("bin/sh", "../init");
    a.add_dir("tmp", 0o1777);
    a.add_file("usr/share/doc/x.txt", vec![b'x'; 1001], 0o644);
    let tmp = tempfile::tempdir().unwrap();
    let (listing, _) = cpio(tmp.path(), &["-it", "--quiet"], &a.to_newc(0));
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "bin",
            "bin/sh",
            "dev",
            "dev/console",
            "init",
            "tmp",
            "usr",
            "usr/share",
            "usr/share/doc",
            "usr/share/doc/x.txt"
        ]
    );
    let (verbose, _) = cpio(tmp.path(), &["-itv", "--quiet"], &a.to_newc(0));
    let line = |name: &str| {
        verbose
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name} not in\n{verbose}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("dev/console")[..6], ["crw-------", "1", "root", "root", "5,", "1"]);
    assert_eq!(line("tmp")[0], "drwxrwxrwt");
    assert_eq!(line("bin/sh")[0], "lrwxrwxrwx");
    assert_eq!(line("init")[..5], ["-rwxr-xr-x", "1", "root", "root", "5"]);
    assert_eq!(line("usr/share/doc/x.txt")[4], "1001");
}

#[test]
fn system_cpio_extracts_files_dirs_and_symlinks() {
    // No device node here: creating one needs root, and this test must not.
    let mut a = Archive::new();
    a.add_file("init", b"#!/bin/true\n".to_vec(), 0o755);
    a.add_file("etc/deep/er/conf", vec![0, 1, 2], 0o640);
    a.add_symlink("bin/sh", "/init");
    a.add_dir("empty", 0o700);
    let dir = extract(&a.to_newc(0));
    let p = dir.path();
    assert_eq!(fs::read(p.join("init")).unwrap(), b"#!/bin/true\n");
    assert_eq!(fs::read(p.join("etc/deep/er/conf")).unwrap(), [0, 1, 2]);
    let mode = |rel: &str| fs::symlink_metadata(p.join(rel)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("init"), 0o755);
    assert_eq!(mode("etc/deep/er/conf"), 0o640);
    assert_eq!(mode("etc/deep"), 0o755);
    assert_eq!(mode("empty"), 0o700);
    assert_eq!(fs::read_link(p.join("bin/sh")).unwrap(), Path::new("/init"));
}

#[test]
fn goblin_reads_objcopy_modinfo_elf64_and_elf32() {
    for format in ["elf64-x86-64", "elf32-i386", "elf64-big"] {
        let ko = make_ko(&["license=GPL", "depends=b,c-d", "name=a"], format);
        let info = modules::modinfo(&ko).unwrap();
        assert_eq!(info[0], ("license".to_owned(), "GPL".to_owned()), "{format}");
        assert_eq!(modules::modinfo_depends(&ko).unwrap(), ["b", "c_d"], "{format}");
    }
    let empty = make_ko(&["depends=", "name=x"], "elf64-x86-64");
    assert!(modules::modinfo_depends(&empty).unwrap().is_empty());
}

#[test]
fn truncated_or_corrupt_elf_is_an_error_not_a_panic() {
    let ko = make_ko(&["depends=b", "name=a"], "elf64-x86-64");
    for len in 0..ko.len() {
        // Either an error or (if only unimportant trailing bytes went) a result: never a panic.
        let _ = modules::modinfo(&ko[..len]);
    }
    assert!(modules::modinfo(&ko[..64]).is_err());
    // Flip bytes in the ELF and section headers with a fixed pattern.
    let mut seed = 0x1234_5678u32;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let mut bad = ko.clone();
        let at = (seed >> 8) as usize % bad.len();
        bad[at] ^= (seed >> 24) as u8 | 1;
        let _ = modules::modinfo(&bad);
    }
    let no_modinfo = {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("x");
        fs::write(&bin, b"data").unwrap();
        run(Command::new("objcopy")
            .args(["-I", "binary", "-O", "elf64-x86-64"])
            .arg(&bin)
            .arg(dir.path().join("x.o")));
        fs::read(dir.path().join("x.o")).unwrap()
    };
    let err = modules::modinfo(&no_modinfo).unwrap_err();
    assert!(err.to_string().contains(".modinfo"), "{err}");
}

#[test]
fn resolves_transitively_in_load_order() {
    let t = virtio_tree();
    assert_eq!(
        t.resolve(&["virtio_blk"]).unwrap(),
        ["virtio_ring", "virtio", "virtio_blk"]
    );
    assert_eq!(
        t.resolve(&["virtio-pci", "virtio_blk", "virtio_ring"]).unwrap(),
        [
            "virtio_ring",
            "virtio_pci_modern_dev",
            "virtio",
            "virtio_pci",
            "virtio_blk"
        ]
    );
    // Dashes and underscores are one name; the shipped path keeps the file's own spelling.
    let tree = ModuleTree::open(&t.dir).unwrap();
    assert!(!tree.has_modules_dep());
    let gpu = tree.resolve(&["virtio_gpu"]).unwrap();
    assert_eq!(gpu.last().unwrap().name, "virtio_gpu");
    assert_eq!(gpu.last().unwrap().path, "kernel/drivers/gpu/virtio-gpu.ko");
    let blk = tree.resolve(&["virtio-blk"]).unwrap();
    assert_eq!(blk[2].source, "kernel/drivers/block/virtio_blk.ko.gz");
    assert_eq!(blk[2].path, "kernel/drivers/block/virtio_blk.ko");
    assert!(t.resolve(&[] as &[&str]).unwrap().is_empty());
}

#[test]
fn unknown_modules_and_cycles_are_errors_naming_them() {
    let t = virtio_tree();
    let err = t.resolve(&["virtio_blk", "no_such_mod"]).unwrap_err().to_string();
    assert!(err.contains("no_such_mod"), "{err}");
    t.add("kernel/needs_ghost.ko", "virtio,ghost");
    let err = t.resolve(&["needs_ghost"]).unwrap_err().to_string();
    assert!(err.contains("\"ghost\"") && err.contains("needs_ghost"), "{err}");
    t.add("kernel/cyc_a.ko", "cyc_b");
    t.add("kernel/cyc_b.ko", "cyc_a");
    let err = t.resolve(&["cyc_a"]).unwrap_err().to_string();
    assert!(
        err.contains("cycle") && err.contains("cyc_a -> cyc_b -> cyc_a"),
        "{err}"
    );
    // A module that is not an ELF file (here: an empty file) is reported with its path.
    fs::write(t.dir.join("kernel/broken.ko"), b"").unwrap();
    let err = format!("{:#}", t.resolve(&["broken"]).unwrap_err());
    assert!(err.contains("broken.ko") && err.contains("not an ELF"), "{err}");
}

#[test]
fn modules_dep_file_is_used_when_present() {
    let t = Tree::new();
    // The .modinfo fields say nothing; modules.dep is the authority.
    t.add("kernel/a.ko", "");
    t.add("kernel/b.ko.xz", "");
    t.add("kernel/c.ko", "");
    t.add("kernel/sub/d-e.ko", "a");
    fs::write(
        t.dir.join("modules.dep"),
        "kernel/a.ko: kernel/b.ko.xz kernel/c.ko\nkernel/b.ko.xz: kernel/c.ko\nkernel/c.ko:\nkernel/sub/d-e.ko:\n",
    )
    .unwrap();
    let tree = ModuleTree::open(&t.dir).unwrap();
    assert!(tree.has_modules_dep());
    assert_eq!(tree.len(), 4);
    assert_eq!(t.resolve(&["a"]).unwrap(), ["c", "b", "a"]);
    assert_eq!(t.resolve(&["d_e"]).unwrap(), ["d_e"]);
    let mods = tree.resolve(&["a"]).unwrap();
    assert_eq!(
        modules::modules_dep(&mods).unwrap(),
        "kernel/c.ko:\nkernel/b.ko: kernel/c.ko\nkernel/a.ko: kernel/b.ko kernel/c.ko\n"
    );
    // A module missing from modules.dep is unknown, even if its file exists.
    t.add("kernel/late.ko", "");
    assert!(t.resolve(&["late"]).is_err());
    fs::write(t.dir.join("modules.dep"), "garbage line\n").unwrap();
    let err = format!("{:#}", ModuleTree::open(&t.dir).unwrap_err());
    assert!(err.contains("modules.dep") && err.contains("line 1"), "{err}");
}

#[test]
fn build_writes_init_dirs_modules_and_extras() {
    let t = virtio_tree();
    let work = tempfile::tempdir().unwrap();
    let mut opts = test_options(work.path(), Some(&t), &["virtio_blk", "virtio-gpu"]);
    let extra = work.path().join("motd");
    fs::write(&extra, b"welcome\n").unwrap();
    fs::set_permissions(&extra, fs::Permissions::from_mode(0o640)).unwrap();
    opts.extra.push((extra, "/etc/motd".into()));

    let report = build(&opts).unwrap();
    let image = fs::read(&opts.output).unwrap();
    assert_eq!(
        report.module_names,
        ["virtio_ring", "virtio", "virtio_blk", "virtio_gpu"]
    );
    assert_eq!(report.binary_bytes, 24);
    assert_eq!(report.uncompressed_bytes, image.len() as u64);
    assert_eq!(report.compressed_bytes, image.len() as u64);

    let tmp = tempfile::tempdir().unwrap();
    let (verbose, _) = cpio(tmp.path(), &["-itv", "--quiet"], &image);
    assert!(
        verbose
            .lines()
            .any(|l| l.starts_with("crw-------") && l.ends_with(" dev/console")),
        "{verbose}"
    );
    // Dates are the given mtime (2023-11-14), not 1970.
    assert!(verbose.contains("Nov 14  2023"), "{verbose}");

    // Extract everything but the device node (mknod needs root).
    let dir = tempfile::tempdir().unwrap();
    let listed = cpio(tmp.path(), &["-it", "--quiet"], &image).0;
    let wanted: Vec<&str> = listed.lines().filter(|l| *l != "dev/console").collect();
    let mut args = vec!["-id", "--quiet"];
    args.extend(&wanted);
    cpio(dir.path(), &args, &image);
    let p = dir.path();
    let mode = |rel: &str| fs::metadata(p.join(rel)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(fs::read(p.join("init")).unwrap(), b"\x7fELF fake hopboot binary");
    assert_eq!(mode("init"), 0o755);
    for d in ["dev", "proc", "sys", "run", "tmp"] {
        assert!(p.join(d).is_dir(), "{d}");
    }
    assert_eq!(fs::read(p.join("etc/motd")).unwrap(), b"welcome\n");
    assert_eq!(mode("etc/motd"), 0o640);

    let base = p.join("lib/modules").join(KVER);
    let dep = fs::read_to_string(base.join("modules.dep")).unwrap();
    assert_eq!(
        dep,
        "kernel/drivers/virtio/virtio_ring.ko:\n\
         kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
         kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
         kernel/drivers/gpu/virtio-gpu.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    );
    let order = fs::read_to_string(base.join("modules.order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        [
            "kernel/drivers/virtio/virtio_ring.ko",
            "kernel/drivers/virtio/virtio.ko",
            "kernel/drivers/block/virtio_blk.ko",
            "kernel/drivers/gpu/virtio-gpu.ko"
        ]
    );
    // Compressed modules are shipped decompressed, byte for byte the ELF that was compressed.
    let mut total = 0;
    for rel in order.lines() {
        let data = fs::read(base.join(rel)).unwrap();
        assert!(data.starts_with(b"\x7fELF"), "{rel}");
        assert!(!modules::modinfo(&data).unwrap().is_empty(), "{rel}");
        total += data.len() as u64;
    }
    assert_eq!(report.modules_bytes, total);
    // Only the requested closure is shipped.
    assert!(!base.join("kernel/fs").exists());
    assert!(!base.join("kernel/drivers/virtio/virtio_pci.ko").exists());
}

#[test]
fn build_is_reproducible_and_mtime_changes_bytes() {
    let t = virtio_tree();
    let work = tempfile::tempdir().unwrap();
    let mut opts = test_options(work.path(), Some(&t), &["virtio_pci", "virtio_blk"]);
    build(&opts).unwrap();
    let first = fs::read(&opts.output).unwrap();
    build(&opts).unwrap();
    assert_eq!(fs::read(&opts.output).unwrap(), first);

    opts.compression = Compression::Gzip;
    build(&opts).unwrap();
    let gz1 = fs::read(&opts.output).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz1[..]), &mut plain).unwrap();
    assert_eq!(plain, first);
    build(&opts).unwrap();
    assert_eq!(fs::read(&opts.output).unwrap(), gz1);

    for c in [Compression::Zstd, Compression::Xz] {
        opts.compression = c;
        let report = build(&opts).unwrap();
        let packed = fs::read(&opts.output).unwrap();
        assert_eq!(report.compressed_bytes, packed.len() as u64);
        let tool = if c == Compression::Xz { "xz" } else { "zstd" };
        let unpacked = run(Command::new(tool).arg("-dc").arg(&opts.output));
        assert_eq!(unpacked, first, "{c}");
    }

    opts.compression = Compression::None;
    opts.mtime += 1;
    build(&opts).unwrap();
    let later = fs::read(&opts.output).unwrap();
    assert_eq!(later.len(), first.len());
    assert_ne!(later, first);
    // No temp files left next to the output.
    let names: Vec<_> = fs::read_dir(opts.output.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["initramfs.cpio"]);
}

#[test]
fn build_without_modules_has_no_lib_dir() {
    let work = tempfile::tempdir().unwrap();
    let opts = test_options(work.path(), None, &[]);
    let report = build(&opts).unwrap();
    assert_eq!((report.modules_bytes, report.module_names.len()), (0, 0));
    let tmp = tempfile::tempdir().unwrap();
    let (listing, _) = cpio(tmp.path(), &["-it", "--quiet"], &fs::read(&opts.output).unwrap());
    assert_eq!(listing, "dev\ndev/console\ninit\nproc\nrun\nsys\ntmp\n");
}

#[test]
fn build_reports_bad_input_clearly() {
    let t = virtio_tree();
    let work = tempfile::tempdir().unwrap();
    let err_of = |opts: &Options| format!("{:#}", build(opts).unwrap_err());

    let mut opts = test_options(work.path(), Some(&t), &["virtio_blk"]);
    opts.binary = work.path().join("missing");
    assert!(err_of(&opts).contains("missing"));

    let opts = test_options(work.path(), None, &["virtio_blk"]);
    assert!(err_of(&opts).contains("no module directory"));

    let opts = test_options(work.path(), Some(&t), &["virtio_blk", "nonexistent"]);
    assert!(err_of(&opts).contains("\"nonexistent\""));

    let mut opts = test_options(work.path(), Some(&t), &[]);
    opts.modules_dir = Some(work.path().join("nowhere"));
    opts.modules = vec!["x".into()];
    assert!(err_of(&opts).contains("nowhere"));

    let mut opts = test_options(work.path(), None, &[]);
    opts.extra.push((opts.binary.clone(), "/init".into()));
    assert!(err_of(&opts).contains("already in the image"));
    opts.extra = vec![(work.path().join("absent"), "x".into())];
    assert!(err_of(&opts).contains("absent"));
    opts.extra = vec![(opts.binary.clone(), "../x".into())];
    assert!(err_of(&opts).contains(".."));
    opts.extra = vec![(work.path().to_owned(), "dir".into())];
    assert!(err_of(&opts).contains("not a regular file"));
    assert!(!opts.output.exists());
}

#[test]
fn cli_builds_lists_and_fails_cleanly() {
    let exe = env!("CARGO_BIN_EXE_hopboot-image-build");
    let t = virtio_tree();
    let work = tempfile::tempdir().unwrap();
    let opts = test_options(work.path(), Some(&t), &[]);
    let out = work.path().join("initramfs.cpio.gz");
    let stdout = run(Command::new(exe)
        .arg("--binary")
        .arg(&opts.binary)
        .arg("--output")
        .arg(&out)
        .arg("--modules-dir")
        .arg(&t.dir)
        .args(["--module", "virtio-blk", "--compression=gzip"])
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("initramfs: {} (gzip)\n", out.display())),
        "{stdout}"
    );
    assert!(stdout.contains("modules (3)"), "{stdout}");
    assert!(stdout.contains("virtio_ring, virtio, virtio_blk"), "{stdout}");
    assert!(out.exists());

    let list = run(Command::new(exe)
        .arg("--modules-dir")
        .arg(&t.dir)
        .args(["--module", "virtio_blk", "--list"]));
    let names: Vec<_> = String::from_utf8(list)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["virtio_ring", "virtio", "virtio_blk"]);

    let help = run(Command::new(exe).arg("--help"));
    assert!(String::from_utf8(help)
        .unwrap()
        .starts_with("Usage: hopboot-image-build"));

    for args in [
        vec!["--bogus"],
        vec!["--binary", "/nonexistent/hopboot", "--output", "/tmp/x"],
        vec!["--output", "/tmp/x"],
    ] {
        let o = Command::new(exe).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("hopboot-image-build: "), "{err}");
    }
    let o = Command::new(exe)
        .arg("--binary")
        .arg(&opts.binary)
        .arg("--output")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOURCE_DATE_EPOCH"));
}

/// Manual check against a real Debian module tree (no modules.dep, as unpacked from the .deb):
/// `HOPBOOT_MODULES_DIR=/tmp/k/x/lib/modules/6.1.0-56-amd64 cargo test -p hopboot-image-build -- --ignored`
#[test]
#[ignore = "needs a real kernel module tree in HOPBOOT_MODULES_DIR"]
fn real_debian_tree() {
    let dir = std::env::var_os("HOPBOOT_MODULES_DIR").expect("set HOPBOOT_MODULES_DIR");
    let tree = ModuleTree::open(Path::new(&dir)).unwrap();
    let names: Vec<_> = tree
        .resolve(&["virtio_blk", "virtio_pci"])
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        [
            "virtio_ring",
            "virtio",
            "virtio_blk",
            "virtio_pci_modern_dev",
            "virtio_pci_legacy_dev",
            "virtio_pci"
        ]
    );
}

#[test]
fn profile_ships_aliases_and_always_list() {
    let t = virtio_tree();
    // Real aliases of the Debian 6.1 modules, with a duplicate that is written once.
    let blk = make_ko(
        &[
            "alias=virtio:d00000002v*",
            "alias=virtio:d00000002v*",
            "depends=virtio,virtio_ring",
            "name=virtio_blk",
        ],
        "elf64-x86-64",
    );
    fs::write(
        t.dir.join("kernel/drivers/block/virtio_blk.ko.gz"),
        compress(&blk, Compression::Gzip).unwrap(),
    )
    .unwrap();
    let pci = make_ko(
        &[
            "alias=pci:v00001AF4d*sv*sd*bc*sc*i*",
            "depends=virtio_ring,virtio_pci_modern_dev,virtio",
            "name=virtio_pci",
        ],
        "elf64-x86-64",
    );
    fs::write(t.dir.join("kernel/drivers/virtio/virtio_pci.ko"), pci).unwrap();
    let work = tempfile::tempdir().unwrap();
    let opts = test_options(work.path(), Some(&t), &["virtio-gpu"]);
    let report = build_with_profile(&opts, Some(Profile::Minimal)).unwrap();
    assert_eq!(
        report.module_names,
        [
            "virtio_ring",
            "virtio",
            "virtio_gpu",
            "virtio_blk",
            "virtio_pci_modern_dev",
            "virtio_pci"
        ]
    );
    assert_eq!(report.alias_count, 2);
    let dir = extract_without_console(&fs::read(&opts.output).unwrap());
    let base = dir.path().join("lib/modules").join(KVER);
    assert_eq!(
        fs::read_to_string(base.join("modules.alias")).unwrap(),
        "# Aliases extracted from modules themselves.\n\
         alias virtio:d00000002v* virtio_blk\n\
         alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n"
    );
    // Only the module asked for by name is loaded whatever the hardware.
    assert_eq!(fs::read_to_string(base.join(ALWAYS_LOAD_FILE)).unwrap(), "virtio_gpu\n");
    assert!(base.join("modules.dep").is_file());

    // A profile alone needs a module tree; with one, the always-list is empty.
    let mut opts = test_options(work.path(), None, &[]);
    assert!(build_with_profile(&opts, Some(Profile::Minimal)).is_err());
    opts.modules_dir = Some(t.dir.clone());
    build_with_profile(&opts, Some(Profile::Minimal)).unwrap();
    let dir = extract_without_console(&fs::read(&opts.output).unwrap());
    let base = dir.path().join("lib/modules").join(KVER);
    assert_eq!(fs::read_to_string(base.join(ALWAYS_LOAD_FILE)).unwrap(), "");
    // Filesystem modules are shipped (with their dependencies) but never always-loaded.
    opts.filesystems = vec!["unrelated".into()];
    let report = build_with_profile(&opts, Some(Profile::Minimal)).unwrap();
    assert!(
        report.module_names.iter().any(|m| m == "unrelated"),
        "{:?}",
        report.module_names
    );
    let dir = extract_without_console(&fs::read(&opts.output).unwrap());
    let base = dir.path().join("lib/modules").join(KVER);
    assert!(base.join("kernel/fs/unrelated.ko").is_file());
    assert_eq!(fs::read_to_string(base.join(ALWAYS_LOAD_FILE)).unwrap(), "");
    opts.filesystems.clear();
    // A profile module missing from the tree is an error naming it.
    let err = build_with_profile(&opts, Some(Profile::Server)).unwrap_err();
    assert!(format!("{err:#}").contains("ahci"), "{err:#}");
}

/// Extracts everything but `dev/console` (mknod needs root).
fn extract_without_console(image: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let listed = cpio(tmp.path(), &["-it", "--quiet"], image).0;
    let mut args = vec!["-id", "--quiet"];
    args.extend(listed.lines().filter(|l| *l != "dev/console"));
    let dir = tempfile::tempdir().unwrap();
    cpio(dir.path(), &args, image);
    dir
}

/// `--hash-password` then `--password-hash`: the image holds the hash at /etc/hopboot/password
/// (root only), and the password nowhere; a file that is not a hash is refused, whichever option
/// puts it there.
#[test]
fn a_password_is_stored_hashed_and_a_plain_one_is_refused() {
    use std::io::Write;
    let exe = env!("CARGO_BIN_EXE_hopboot-image-build");
    let work = tempfile::tempdir().unwrap();
    let password = "plain-text-must-not-appear";
    let hash_with = |input: &str, args: &[&str]| {
        let mut child = Command::new(exe)
            .arg("--hash-password")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = hash_with(
        &format!("{password}\r\nignored second line\n"),
        &["--iterations", "1000"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with("$pbkdf2-sha256$i=1000$") && line.ends_with('\n'),
        "{line}"
    );
    let stored = hopboot_password::Stored::parse(&line).unwrap();
    assert!(stored.verify(password.as_bytes()));
    // A fresh salt each time.
    let again = hash_with(&format!("{password}\n"), &["--iterations=1000"]);
    assert_ne!(String::from_utf8(again.stdout).unwrap(), line);
    // The default is the strong one.
    let strong = hash_with("x", &[]);
    assert!(String::from_utf8(strong.stdout)
        .unwrap()
        .starts_with("$pbkdf2-sha256$i=600000$"));
    for (input, args, why) in [
        ("\n", &[][..], "no password given"),
        ("pw\n", &["--iterations", "10"][..], "10 iterations is out of range"),
    ] {
        let o = hash_with(input, args);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why) && o.stdout.is_empty(), "{err}");
    }

    let hash_file = work.path().join("password.hash");
    fs::write(&hash_file, &line).unwrap();
    let opts = test_options(work.path(), None, &[]);
    run(Command::new(exe)
        .arg("--binary")
        .arg(&opts.binary)
        .arg("--output")
        .arg(&opts.output)
        .arg("--password-hash")
        .arg(&hash_file)
        .args(["--compression", "none"]));
    let image = fs::read(&opts.output).unwrap();
    assert!(!image.windows(password.len()).any(|w| w == password.as_bytes()));
    let dir = extract_without_console(&image);
    let stored_file = dir.path().join("etc/hopboot/password");
    assert_eq!(fs::read_to_string(&stored_file).unwrap(), line);
    assert_eq!(fs::metadata(&stored_file).unwrap().permissions().mode() & 0o777, 0o600);

    // The password itself where the hash should be: refused, by --password-hash and by --add.
    let plain = work.path().join("plain");
    fs::write(&plain, format!("{password}\n")).unwrap();
    for how in [
        vec!["--password-hash".to_string(), plain.display().to_string()],
        vec![
            "--add".to_string(),
            format!("{}:/etc/hopboot/password", plain.display()),
        ],
    ] {
        let o = Command::new(exe)
            .arg("--binary")
            .arg(&opts.binary)
            .arg("--output")
            .arg(work.path().join("refused.cpio"))
            .args(&how)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{how:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("not a password hash") && err.contains("--hash-password"),
            "{err}"
        );
        assert!(!work.path().join("refused.cpio").exists());
    }
}
