//! Bad input through the real binary: `hopboot probe --json` on broken disk
//! images and trees must exit 0, print the JSON shape, never panic, finish
//! in time, and say in `errors` what is broken where the input clearly is.
//! No QEMU: the images are built here with sgdisk, mkfs.ext4, mkfs.vfat and
//! mcopy (random bytes come from a fixed-seed xorshift).
//!
//! The binary is found as tests/corpus.rs finds it (the tests never run
//! cargo): `HOPBOOT_BIN`, else the newest of target/{debug,release,
//! x86_64-unknown-linux-musl/release}/hopboot.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one probe may take (a debug binary on a loaded machine included).
const PROBE_LIMIT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn hopboot_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOPBOOT_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "HOPBOOT_BIN={} is not a file", p.display());
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    ["debug", "release", "x86_64-unknown-linux-musl/release"]
        .iter()
        .map(|p| target.join(p).join("hopboot"))
        .filter(|p| p.is_file())
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no hopboot binary under {}/{{debug,release,x86_64-unknown-linux-musl/release}}: \
                 run `cargo build -p hopboot` (or `make build`) first, or set HOPBOOT_BIN",
                target.display()
            )
        })
}

/// What one probe printed.
struct Probe {
    entries: Vec<Value>,
    /// `path: message` of each error.
    errors: Vec<String>,
    stderr: String,
}

impl Probe {
    fn mentions(&self, what: &str) -> bool {
        self.errors.iter().any(|e| e.contains(what))
    }
}

/// Runs `hopboot probe --json PATH...` and checks what every run must
/// satisfy: exit code 0 within [`PROBE_LIMIT`], no panic, the JSON shape.
fn probe(paths: &[&Path]) -> Probe {
    let bin = hopboot_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(&bin)
        .arg("probe")
        .arg("--json")
        .args(paths)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for hopboot") {
            break s;
        }
        if start.elapsed() > PROBE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hopboot probe {paths:?} still running after {PROBE_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let ctx = format!("probe {paths:?} ({status}):\nstdout: {stdout:.2000}\nstderr: {stderr:.2000}");
    assert!(!stderr.contains("panicked"), "a panic: {ctx}");
    assert_eq!(status.code(), Some(0), "{ctx}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {ctx}"));
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {ctx}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["entries", "errors"], "{ctx}");
    let entries = v["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("entries: {ctx}"))
        .clone();
    for e in &entries {
        for k in ["title", "source", "kernel", "cmdline", "device", "id"] {
            assert!(e[k].is_string(), "entry field {k}: {e} in {ctx}");
        }
        assert!(
            e["initrds"].as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "{e}"
        );
        assert!(e["default"].is_boolean(), "{e}");
    }
    assert!(
        entries.is_empty() || entries.iter().filter(|e| e["default"] == Value::Bool(true)).count() == 1,
        "exactly one default: {ctx}"
    );
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors: {ctx}"))
        .iter()
        .map(|e| {
            let (p, m) = (e["path"].as_str(), e["message"].as_str());
            assert!(p.is_some() && m.is_some(), "error {e} in {ctx}");
            format!("{}: {}", p.unwrap_or(""), m.unwrap_or(""))
        })
        .collect();
    Probe {
        entries,
        errors,
        stderr,
    }
}

/// Runs a host tool that must succeed (the error names it and what it printed).
fn run(cmd: &mut Command) {
    if let Err(e) = hopboot_qemu::cmd::run(cmd) {
        panic!("{e:#}");
    }
}

/// Fixed-seed pseudo-random bytes (xorshift64).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (p, data) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }
}

/// An ext4 image of `kib` KiB holding a GRUB config and its kernel.
fn ext4_image(dir: &Path, name: &str, kib: u64) -> PathBuf {
    let tree = dir.join(format!("{name}-tree"));
    write_tree(
        &tree,
        &[
            (
                "boot/grub/grub.cfg",
                b"menuentry 'Debian' {\n  linux /boot/vmlinuz root=/dev/vda2\n}\n",
            ),
            ("boot/vmlinuz", b"kernel"),
        ],
    );
    let img = dir.join(name);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "1024", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(format!("{kib}k")));
    img
}

/// A GPT disk with one ext4 partition (sectors 64..) holding a GRUB config.
fn gpt_disk(dir: &Path) -> PathBuf {
    let fs = ext4_image(dir, "part.img", 2048);
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(64 * 512 + (2 << 20) + 64 * 512))
        .expect("disk file");
    run(Command::new("sgdisk")
        .args(["-a", "64", "-n", "1:64:+2M", "-t", "1:8300"])
        .arg(&disk)
        .stdout(Stdio::null()));
    let mut img = std::fs::read(&disk).expect("disk");
    let part = std::fs::read(&fs).expect("partition");
    img[64 * 512..64 * 512 + part.len()].copy_from_slice(&part);
    std::fs::write(&disk, &img).expect("disk");
    disk
}

#[test]
fn the_good_disk_boots() {
    // The baseline the broken variants below start from.
    let d = tempfile::tempdir().expect("tempdir");
    let p = probe(&[&gpt_disk(d.path())]);
    assert_eq!(p.entries.len(), 1, "{:?}", p.errors);
    assert_eq!(p.entries[0]["title"], "Debian");
    assert!(p.errors.is_empty(), "{:?}", p.errors);
}

#[test]
fn random_bytes_and_zeros_are_no_disk() {
    let d = tempfile::tempdir().expect("tempdir");
    let random = d.path().join("random.img");
    std::fs::write(&random, noise(4 << 20, 0x853c_49e6_748f_ea9b)).expect("write");
    let zeros = d.path().join("zeros.img");
    std::fs::File::create(&zeros)
        .and_then(|f| f.set_len(4 << 20))
        .expect("zeros");
    let empty = d.path().join("empty.img");
    std::fs::write(&empty, b"").expect("write");
    // Random bytes with a boot-sector signature: an MBR with garbage entries.
    let mut mbr = noise(1 << 20, 0xda94_2042_e4dd_58b5);
    mbr[446..510].iter_mut().step_by(16).for_each(|b| *b = 0x80);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    let fake_mbr = d.path().join("mbr.img");
    std::fs::write(&fake_mbr, &mbr).expect("write");
    for img in [&random, &zeros, &empty, &fake_mbr] {
        let p = probe(&[img]);
        assert!(p.entries.is_empty(), "{}: {:?}", img.display(), p.entries);
    }
    // All at once: one bad disk does not stop the others.
    let good = gpt_disk(d.path());
    let p = probe(&[
        &random,
        &zeros,
        &empty,
        &fake_mbr,
        &good,
        Path::new("/nonexistent/disk.img"),
    ]);
    assert_eq!(p.entries.len(), 1, "{:?}", p.errors);
    assert!(p.mentions("/nonexistent/disk.img"), "{:?}", p.errors);
}

#[test]
fn truncated_gpt_disk() {
    let d = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(gpt_disk(d.path())).expect("disk");
    // Inside the entry array: the primary header's array is cut and the
    // backup header is gone, so the table is corrupt, and says so.
    let cut = d.path().join("cut-in-table.img");
    std::fs::write(&cut, &full[..8192]).expect("write");
    let p = probe(&[&cut]);
    assert!(p.entries.is_empty());
    assert!(p.mentions("corrupt GPT"), "{:?}", p.errors);
    // Inside the partition: the table is fine but the partition runs past
    // the end of the disk. hopboot leaves it out and says so (today as a
    // warning on stderr; an entry in `errors` would satisfy this too).
    let cut = d.path().join("cut-in-partition.img");
    std::fs::write(&cut, &full[..1 << 20]).expect("write");
    let p = probe(&[&cut]);
    assert!(p.entries.is_empty());
    assert!(
        p.mentions("GPT") || p.mentions("outside") || p.stderr.contains("GPT entry 1"),
        "nothing says partition 1 was dropped: {:?} / {}",
        p.errors,
        p.stderr
    );
    // Every 4 KiB through the table, and a few more: never a panic.
    for n in (0..20_480)
        .step_by(4096)
        .chain([511, 512, 1023, 1024, 1536, 17_408, 65_536])
    {
        let cut = d.path().join(format!("cut{n}.img"));
        std::fs::write(&cut, &full[..n]).expect("write");
        let p = probe(&[&cut]);
        assert!(p.entries.is_empty(), "cut at {n}: {:?}", p.entries);
    }
}

#[test]
fn corrupt_ext4_superblock() {
    let d = tempfile::tempdir().expect("tempdir");
    let good = std::fs::read(ext4_image(d.path(), "root.img", 2048)).expect("image");
    // Fields of the superblock at byte 1024 (the magic stays, so it is still ext4).
    let corruptions: [(&str, usize, &[u8]); 5] = [
        ("s_blocks_per_group = 0", 0x20, &[0, 0, 0, 0]),
        ("s_inodes_per_group = 0", 0x28, &[0, 0, 0, 0]),
        ("s_log_block_size = 255", 0x18, &[255, 0, 0, 0]),
        ("s_first_data_block past the end", 0x14, &[0xff, 0xff, 0xff, 0x7f]),
        ("s_blocks_count = 0", 0x04, &[0, 0, 0, 0]),
    ];
    for (what, off, bytes) in corruptions {
        let mut b = good.clone();
        b[1024 + off..1024 + off + bytes.len()].copy_from_slice(bytes);
        let img = d.path().join("bad.img");
        std::fs::write(&img, &b).expect("write");
        let p = probe(&[&img]);
        assert!(p.entries.is_empty(), "{what}: {:?}", p.entries);
        assert!(p.mentions("ext4"), "{what}: errors do not say ext4: {:?}", p.errors);
    }
}

#[test]
fn fat_esp_with_garbage_loader_entries() {
    let d = tempfile::tempdir().expect("tempdir");
    let tree = d.path().join("esp");
    let garbage = noise(3000, 0x1405_7b7e_f767_814f);
    let big_garbage = noise(70_000, 0x2545_f491_4f6c_dd1d);
    write_tree(
        &tree,
        &[
            ("loader/loader.conf", &noise(2000, 0x9e37_79b9_7f4a_7c15)),
            ("loader/entries/garbage.conf", &garbage),
            (
                "loader/entries/no-kernel.conf",
                b"title Only a title\n\x00\x01\x02 options quiet\n",
            ),
            ("loader/entries/huge.conf", &big_garbage),
            (
                "loader/entries/missing-kernel.conf",
                b"title Missing\nlinux /vmlinuz-nope\n",
            ),
            ("loader/entries/good.conf", b"title Good\nlinux /vmlinuz\n"),
            ("EFI/Linux/garbage.efi", &garbage),
            ("EFI/Linux/mz-only.efi", b"MZ"),
            ("vmlinuz", b"kernel"),
        ],
    );
    let img = d.path().join("esp.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-n", "ESP"])
        .arg(&img)
        .arg("4096")
        .stdout(Stdio::null()));
    let mut mcopy = Command::new("mcopy");
    mcopy.env("MTOOLS_SKIP_CHECK", "1").args(["-s", "-i"]).arg(&img);
    for e in std::fs::read_dir(&tree).expect("tree") {
        mcopy.arg(e.expect("entry").path());
    }
    run(mcopy.arg("::/"));
    let p = probe(&[&img]);
    let titles: Vec<&str> = p.entries.iter().filter_map(|e| e["title"].as_str()).collect();
    assert_eq!(titles, ["Good"], "{:?}", p.errors);
    for what in [
        "garbage.conf: no 'linux' or 'efi' key",
        "no-kernel.conf: no 'linux' or 'efi' key",
        "huge.conf",
        "vmlinuz-nope not found",
        "garbage.efi: not a PE image",
        "mz-only.efi: not a PE image",
    ] {
        assert!(p.mentions(what), "errors do not mention {what:?}: {:#?}", p.errors);
    }
}

#[test]
fn directory_with_garbage_grub_cfg() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut cfg = noise(20_000, 0x6c62_272e_07bb_0142);
    // Some GRUB structure among the noise, so the parser goes deep too.
    cfg.extend_from_slice(b"\nmenuentry 'x' {\n if [ $a = \"b ] ; then\n source $prefix/grub.cfg\n}\n{{{{ ${ \\\n");
    cfg.extend_from_slice(&"submenu s {\n".repeat(200).into_bytes());
    write_tree(
        &d.path().join("root"),
        &[("boot/grub/grub.cfg", &cfg), ("boot/vmlinuz", b"k")],
    );
    let p = probe(&[&d.path().join("root")]);
    assert!(!p.errors.is_empty());
    assert!(p.errors.iter().all(|e| e.contains("grub.cfg")), "{:?}", p.errors);
    // A config over the 4 MiB cap is refused whole, with a reason.
    let big = d.path().join("big");
    write_tree(
        &big,
        &[("boot/grub/grub.cfg", "# padding\n".repeat(500_000).as_bytes())],
    );
    let p = probe(&[&big]);
    assert!(p.entries.is_empty());
    assert!(p.mentions("limit"), "{:?}", p.errors);
    // A config that sources itself forever, and one that loops.
    let rec = d.path().join("rec");
    write_tree(
        &rec,
        &[
            (
                "boot/grub/grub.cfg",
                b"source /boot/grub/grub.cfg\nfunction f { f; }\nf\nwhile true; do true; done\n\
                  menuentry a { linux /boot/vmlinuz }\n",
            ),
            ("boot/vmlinuz", b"k"),
        ],
    );
    let p = probe(&[&rec]);
    assert!(p.mentions("recursion"), "{:?}", p.errors);
    assert!(p.mentions("loops stopped"), "{:?}", p.errors);
}
