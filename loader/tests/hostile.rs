//! Hostile input on stable, inside `cargo test` (STYLE.md "Testing, fastest
//! first", step 3). Real fixtures are truncated at many offsets (every offset
//! for small files, sampled for big ones) and byte-flipped with a fixed-seed
//! xorshift; hand-made nasty cases aim at every limit the parsers have. Every
//! call runs under `catch_unwind` on its own thread and must use at most
//! [`CALL_LIMIT`] of CPU time (and return within [`HANG_LIMIT`]); a failing input is saved under
//! `$CARGO_TARGET_TMPDIR/hostile/` and named in the failure, ready to become a
//! `fuzz_*.bin` fixture.
//!
//! Fixtures: the golden corpus (`tests/corpus/*/root*/**`: grub.cfg, grubenv,
//! BLS entries, loader.conf, syslinux/isolinux/extlinux configs; origins in
//! tests/README.md); a GPT disk built here with `sgdisk`, `mkfs.ext4 -d`,
//! `mkfs.vfat` and `mcopy` (an ESP with BLS entries, an ext4 root with
//! grub.cfg and extlinux.conf); a UKI built with `objcopy` from systemd's
//! `linuxx64.efi.stub`. The cargo-fuzz targets in `fuzz/` cover the same
//! parsers with coverage guidance (nightly); this file is their stable floor.

use hopboot_loader::block::{self, gpt, mbr, BlockError, Disk, TableKind};
use hopboot_loader::format::grub::{self, script as grub_script, GrubHost, SearchBy};
use hopboot_loader::format::{
    extlinux,
    sdboot::{bls, uki},
};
use hopboot_loader::fs::{dir::DirFs, ext4::Ext4Fs, fat::FatFs, FsError, FsView, Kind};
use hopboot_loader::{cmdline, discover, json, kmod};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Most CPU time one parser call may use (debug build). Thread CPU time, not wall
/// time: on a loaded 2-core machine a call that needs 0.2 s of CPU can wait seconds
/// for it, and a wall-clock limit failed there.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// Wall time after which a call that has not returned counts as hung.
const HANG_LIMIT: Duration = Duration::from_secs(30);
/// Stack of the thread each call runs on: what PID 1's main thread gets
/// under the kernel's default 8 MiB `RLIMIT_STACK`.
const STACK: usize = 8 << 20;

// ---------------------------------------------------------------------------
// Harness

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .expect("CLOCK_THREAD_CPUTIME_ID")
}

/// xorshift64: a fixed seed gives the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Collects failing inputs of one test and reports them all at the end.
struct Checker {
    test: &'static str,
    failures: Vec<String>,
    calls: usize,
}

impl Checker {
    fn new(test: &'static str) -> Self {
        Checker {
            test,
            failures: Vec::new(),
            calls: 0,
        }
    }

    /// Runs `f` on its own thread under `catch_unwind`; records `input` as a
    /// failure when it panics, uses more than [`CALL_LIMIT`] of CPU time or does
    /// not return within [`HANG_LIMIT`].
    fn check<R: Send + 'static>(
        &mut self,
        case: &str,
        input: &[u8],
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        self.calls += 1;
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new().stack_size(STACK).spawn(move || {
            let start = thread_cpu_time();
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send((r, thread_cpu_time().saturating_sub(start)));
        });
        if let Err(e) = spawned {
            panic!("spawning a test thread: {e}");
        }
        let why = match rx.recv_timeout(HANG_LIMIT) {
            Ok((Ok(r), took)) if took <= CALL_LIMIT => return Some(r),
            Ok((Ok(_), took)) => format!("took {took:?} of CPU time"),
            Ok((Err(p), _)) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("panicked: {msg}")
            }
            // The thread is left running; the process ends with the test binary.
            Err(_) => format!("still running after {HANG_LIMIT:?} (hang?)"),
        };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{}-{}.bin", self.test, self.failures.len()));
        let _ = std::fs::write(&file, input);
        self.failures.push(format!(
            "{case}: {why} (input: {}, {} bytes)",
            file.display(),
            input.len()
        ));
        None
    }

    fn finish(self) {
        eprintln!("{}: {} calls", self.test, self.calls);
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} inputs failed:\n  {}",
            self.test,
            self.failures.len(),
            self.calls,
            self.failures.join("\n  ")
        );
    }
}

/// Truncation points: every offset up to `max` bytes, else the first 64,
/// the last 16 and random ones in between.
fn cuts(len: usize, rng: &mut Rng, max: usize) -> Vec<usize> {
    if len <= max {
        return (0..=len).collect();
    }
    let mut v: Vec<usize> = (0..64.min(len)).chain(len.saturating_sub(16)..=len).collect();
    while v.len() < max {
        v.push(rng.below(len));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Bytes a text mutation favours: quoting, blocks, variables, line ends.
const SPECIAL: &[u8] = b"{}[]()\"'$\\;#=*?.-+/~^ \t\n\r\0\xff\xc3";

/// `data` with 1 to `max` bytes in `region` replaced (random or special) or
/// a run of bytes removed or duplicated.
fn mutate(data: &[u8], rng: &mut Rng, max: usize, region: std::ops::Range<usize>) -> Vec<u8> {
    let mut b = data.to_vec();
    let end = region.end.min(b.len());
    if end <= region.start {
        return b;
    }
    for _ in 0..=rng.below(max) {
        let i = region.start + rng.below(end - region.start);
        match rng.below(8) {
            0..=3 => b[i] = rng.next() as u8,
            4 | 5 => b[i] = SPECIAL[rng.below(SPECIAL.len())],
            6 => {
                let n = rng.below(64).min(b.len() - i);
                b.drain(i..i + n);
                return b;
            }
            _ => {
                let n = rng.below(64).min(b.len() - i);
                let dup = b[i..i + n].to_vec();
                b.splice(i..i, dup);
                return b;
            }
        }
    }
    b
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

/// Files under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Corpus files whose name satisfies `pick`, as (filesystem root, path in it).
fn corpus_files(pick: impl Fn(&str) -> bool) -> Vec<(PathBuf, String)> {
    let mut v = Vec::new();
    for f in files_under(&corpus()) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !pick(name) {
            continue;
        }
        // The filesystem root: the `root` dir or a dir directly under `roots`.
        let root = f.ancestors().find(|a| {
            a.file_name().is_some_and(|n| n == "root")
                || a.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "roots")
        });
        if let Some(root) = root {
            let rel = f.strip_prefix(root).map(|r| format!("/{}", r.display()));
            if let Ok(rel) = rel {
                v.push((root.to_path_buf(), rel));
            }
        }
    }
    assert!(!v.is_empty(), "no corpus files found under {}", corpus().display());
    v
}

// ---------------------------------------------------------------------------
// In-memory filesystem and GRUB host (device "hd0")

#[derive(Clone, Default)]
struct Mem {
    files: BTreeMap<String, Vec<u8>>,
}

impl Mem {
    /// The small files of a corpus tree (kernels there are placeholders).
    fn from_tree(root: &Path) -> Mem {
        let mut m = Mem::default();
        for f in files_under(root) {
            let Ok(rel) = f.strip_prefix(root) else { continue };
            if std::fs::metadata(&f).map(|m| m.len()).unwrap_or(u64::MAX) <= 1 << 20 {
                m.files
                    .insert(format!("/{}", rel.display()), std::fs::read(&f).unwrap_or_default());
            }
        }
        m
    }

    fn with(mut self, path: &str, data: Vec<u8>) -> Mem {
        self.files.insert(path.to_string(), data);
        self
    }
}

impl FsView for Mem {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, FsError> {
        let mut v = Vec::new();
        self.copy_to(path, limit, &mut v)?;
        Ok(v)
    }
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        let p = hopboot_loader::fs::join("/", path);
        let data = self.files.get(&p).ok_or(FsError::NotFound(p.clone()))?;
        let size = data.len() as u64;
        if size > limit {
            return Err(FsError::TooLarge { path: p, size, limit });
        }
        out.write_all(data).map_err(|source| FsError::Io { path: p, source })?;
        Ok(size)
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        let p = hopboot_loader::fs::join("/", path);
        if self.files.contains_key(&p) {
            return Some(Kind::File);
        }
        let prefix = if p == "/" { p } else { format!("{p}/") };
        self.files.keys().any(|k| k.starts_with(&prefix)).then_some(Kind::Dir)
    }
    fn size(&self, path: &str) -> Option<u64> {
        self.files
            .get(&hopboot_loader::fs::join("/", path))
            .map(|d| d.len() as u64)
    }
    fn list(&self, path: &str) -> Vec<String> {
        let p = hopboot_loader::fs::join("/", path);
        let prefix = if p == "/" { p } else { format!("{p}/") };
        let mut v: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        v.dedup();
        v
    }
    fn uuid(&self) -> Option<String> {
        Some("0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f".into())
    }
    fn label(&self) -> Option<String> {
        None
    }
    fn fs_type(&self) -> &'static str {
        "dir"
    }
}

impl GrubHost for Mem {
    fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
        (dev == "hd0").then(|| FsView::kind(self, path)).flatten()
    }
    fn size(&self, dev: &str, path: &str) -> Option<u64> {
        (dev == "hd0").then(|| FsView::size(self, path)).flatten()
    }
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
        if dev != "hd0" {
            return Err(format!("no device ({dev})"));
        }
        FsView::read_text(self, path).map_err(|e| e.to_string())
    }
    fn search(&self, by: SearchBy, value: &str) -> Option<String> {
        let hit = match by {
            SearchBy::File => FsView::kind(self, value).is_some(),
            SearchBy::FsUuid => FsView::uuid(self).is_some_and(|u| u.eq_ignore_ascii_case(value)),
            SearchBy::Label | SearchBy::PartUuid | SearchBy::PartLabel => false,
        };
        hit.then(|| "hd0".to_string())
    }
    fn list(&self, dev: &str, path: &str) -> Vec<String> {
        if dev == "hd0" {
            FsView::list(self, path)
        } else {
            Vec::new()
        }
    }
}

fn run_grub(m: Mem, cfg: &str) -> grub::GrubMenu {
    grub::run(&m, "hd0", cfg)
}

fn grub_src(lines: &str) -> Mem {
    Mem::default().with("/boot/grub/grub.cfg", lines.as_bytes().to_vec())
}

// ---------------------------------------------------------------------------
// Config files from the golden corpus

#[test]
fn grub_cfgs_truncated_and_mutated() {
    let mut c = Checker::new("grub");
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    let cfgs = corpus_files(|n| n.ends_with(".cfg") || n == "grub.conf" || n == "grubenv");
    for (root, rel) in cfgs.iter().filter(|(_, r)| r.contains("grub")) {
        let tree = Mem::from_tree(root);
        let Some(orig) = tree.files.get(rel).cloned() else {
            continue;
        };
        let mut inputs: Vec<(String, Vec<u8>)> = cuts(orig.len(), &mut rng, 40)
            .into_iter()
            .map(|n| (format!("{rel} cut at {n}"), orig[..n].to_vec()))
            .collect();
        for i in 0..60 {
            inputs.push((format!("{rel} mutation {i}"), mutate(&orig, &mut rng, 8, 0..orig.len())));
        }
        // A grubenv is read by load_env from every grub.cfg of its tree.
        let cfg = if rel.ends_with("grubenv") {
            match tree.files.keys().find(|k| k.ends_with("grub.cfg")) {
                Some(k) => k.clone(),
                None => continue,
            }
        } else {
            rel.clone()
        };
        for (case, input) in inputs {
            let m = tree.clone().with(rel, input.clone());
            let (cfg, src) = (cfg.clone(), text(&input));
            c.check(&case, &input, move || {
                let _ = grub_script::parse_recovering(&src);
                let _ = grub::parse_grubenv(&src);
                let menu = run_grub(m, &cfg);
                assert!(menu.default.is_none() || menu.default < Some(menu.entries.len()));
            });
        }
    }
    c.finish();
}

#[test]
fn bls_entries_and_loader_conf_truncated_and_mutated() {
    let mut c = Checker::new("bls");
    let mut rng = Rng(0xbb67_ae85_84ca_a73b);
    for (root, rel) in corpus_files(|n| n.ends_with(".conf") && !n.starts_with("extlinux")) {
        let orig = std::fs::read(root.join(&rel[1..])).unwrap_or_default();
        let mut inputs: Vec<(String, Vec<u8>)> = cuts(orig.len(), &mut rng, 120)
            .into_iter()
            .map(|n| (format!("{rel} cut at {n}"), orig[..n].to_vec()))
            .collect();
        for i in 0..150 {
            inputs.push((format!("{rel} mutation {i}"), mutate(&orig, &mut rng, 6, 0..orig.len())));
        }
        for (case, input) in inputs {
            let (name, src) = (rel.clone(), text(&input));
            c.check(&case, &input, move || {
                let conf = bls::parse_loader_conf(&src);
                if let Ok(e) = bls::parse_entry(&name, &src) {
                    let mut v = vec![e.clone(), e];
                    bls::sort(&mut v);
                    let _ = bls::display_titles(&v);
                    let _ = bls::default_index(&v, &conf);
                }
            });
        }
    }
    c.finish();
}

#[test]
fn syslinux_configs_truncated_and_mutated() {
    let mut c = Checker::new("extlinux");
    let mut rng = Rng(0x3c6e_f372_fe94_f82b);
    let cfgs = corpus_files(|n| n.ends_with(".cfg") || n == "extlinux.conf");
    for (root, rel) in cfgs.iter().filter(|(_, r)| r.contains("linux")) {
        let tree = Mem::from_tree(root);
        let Some(orig) = tree.files.get(rel).cloned() else {
            continue;
        };
        // Each file is mutated in place, and the menu is read from the
        // tree's real entry point, which INCLUDEs it.
        let start = extlinux::CONFIG_PATHS
            .iter()
            .find(|p| tree.files.contains_key(**p))
            .map_or_else(|| rel.clone(), |p| p.to_string());
        let mut inputs: Vec<(String, Vec<u8>)> = cuts(orig.len(), &mut rng, 30)
            .into_iter()
            .map(|n| (format!("{rel} cut at {n}"), orig[..n].to_vec()))
            .collect();
        for i in 0..40 {
            inputs.push((format!("{rel} mutation {i}"), mutate(&orig, &mut rng, 8, 0..orig.len())));
        }
        for (case, input) in inputs {
            let m = tree.clone().with(rel, input.clone());
            let start = start.clone();
            c.check(&case, &input, move || {
                let menu = extlinux::parse(&m, &start);
                assert!(menu.default.is_none() == menu.entries.is_empty());
            });
        }
    }
    c.finish();
}

#[test]
fn small_text_formats_mutated() {
    let mut c = Checker::new("text");
    let mut rng = Rng(0xa54f_f53a_5f1d_36f1);
    let seeds: [&[u8]; 4] = [
        b"BOOT_IMAGE=/vmlinuz-6.1 root=UUID=0f4c ro quiet \"hopboot.append=a b\" hopboot.wait=2.5 initrd=/x",
        b"kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
          kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\n",
        b"NAME=\"Fedora Linux\"\nVERSION_ID=39\nPRETTY_NAME='Fedora \\\"39\\\"'\nHOME_URL=\"https://x/\"\n",
        b"# GRUB Environment Block\nsaved_entry=gnulinux-advanced>gnulinux-6.1\nnext_entry=\n#####",
    ];
    for seed in seeds {
        for i in 0..400 {
            let input = mutate(seed, &mut rng, 10, 0..seed.len());
            let src = text(&input);
            c.check(&format!("text mutation {i}"), &input, move || {
                let cl = cmdline::Cmdline::parse(&src);
                // hopboot's own options are PID 1's (init/src/options.rs tests them).
                let _ = (cl.get("hopboot.wait"), cl.has("hopboot.debug"));
                let _ = cmdline::to_kexec(&cmdline::strip_loader_items(&src));
                let _ = kmod::load_order(&kmod::parse_dep(&src));
                let _ = uki::parse_os_release(&src);
                let _ = grub::parse_grubenv(&src);
                let _ = grub::loader_cmdline(&src.split(' ').map(str::to_string).collect::<Vec<_>>());
            });
        }
    }
    c.finish();
}

// ---------------------------------------------------------------------------
// Nasty GRUB scripts

/// `(name, script, what the errors must mention)`: each must finish in time
/// and say why it stopped.
#[test]
fn grub_nasty_scripts() {
    let mut c = Checker::new("grub-nasty");
    let big_words = "w ".repeat(300_000);
    let cases: Vec<(&str, String, &str)> = vec![
        ("source of itself", "source /boot/grub/grub.cfg\n".into(), "recursion"),
        (
            "configfile of itself",
            "configfile $prefix/grub.cfg\n".into(),
            "recursion",
        ),
        (
            "10^5 nested if",
            format!("{}echo\n{}", "if true; then\n".repeat(100_000), "fi\n".repeat(100_000)),
            "nested too deeply",
        ),
        (
            "10^5 nested menuentry",
            format!(
                "{}linux /v\n{}",
                "menuentry a {\n".repeat(100_000),
                "}\n".repeat(100_000)
            ),
            "nested too deeply",
        ),
        (
            "for over 10^6 words",
            format!("for x in {big_words}; do set y=$x; done\n"),
            "loops stopped",
        ),
        ("while true", "while true; do true; done\n".into(), "loops stopped"),
        ("function calling itself", "function f { f; }\nf\n".into(), "recursion"),
        (
            "functions calling each other",
            "function f { g; }\nfunction g { f; }\nf\n".into(),
            "recursion",
        ),
        ("eval of itself", "function f { eval f; }\nf\n".into(), "recursion"),
        (
            "self-calling function nested in blocks",
            format!(
                "function f {{\n{}f\n{}}}\nf\n",
                "if true; then\n".repeat(60),
                "fi\n".repeat(60)
            ),
            "recursion",
        ),
        (
            "variable doubling",
            format!("set a=xxxxxxxxxxxxxxxx\n{}", "set a=\"$a$a\"\n".repeat(64)),
            "MiB of work",
        ),
        (
            "variable doubling in a loop",
            "set a=x\nwhile true; do set a=\"$a$a$a$a\"; done\n".into(),
            "MiB of work",
        ),
        (
            "source fan-out over a big file",
            format!("{}#{}\n", "source /boot/grub/grub.cfg\n".repeat(8), "x".repeat(1 << 20)),
            "MiB of work",
        ),
        (
            "load_env of a big file, many times",
            format!(
                "{}#{}\n",
                "load_env -f /boot/grub/grub.cfg\n".repeat(2000),
                "x".repeat(1 << 20)
            ),
            "MiB of work",
        ),
        (
            "menuentry defined in a loop",
            format!(
                "for i in {}; do menuentry \"$i\" {{ linux /v$i }}; done\n",
                "1 ".repeat(20_000)
            ),
            "menu entries",
        ),
        (
            "big function called many times",
            format!(
                "function f {{\n{}}}\n{}",
                "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".repeat(20_000),
                "f\n".repeat(20_000)
            ),
            "MiB of work",
        ),
        (
            "menu entries copying a big environment",
            format!(
                "set a={}\nfor i in {}; do menuentry x {{ linux /v }}; done\n",
                "y".repeat(1 << 20),
                "1 ".repeat(10_000)
            ),
            "MiB of work",
        ),
        (
            "blscfg in a loop",
            "while true; do blscfg; done\n".into(),
            "MiB of work",
        ),
        (
            "submenus nested 100 deep",
            format!(
                "{}menuentry a {{ linux /v }}\n{}",
                "submenu s {\n".repeat(100),
                "}\n".repeat(100)
            ),
            "nested too deeply",
        ),
        (
            "unterminated quote",
            "menuentry 'a { linux /v }\n".into(),
            "unterminated",
        ),
        (
            "default loop",
            "set default='a>a>a>a>a>a>a>a'\nsubmenu a { submenu a { menuentry a { linux /v } } }\n".into(),
            "",
        ),
    ];
    for (name, src, want) in cases {
        let mut files = grub_src(&src);
        // blscfg reads these.
        for i in 0..64 {
            files = files.with(&format!("/loader/entries/e{i}.conf"), b"title t\nlinux /v\n".to_vec());
        }
        let menu = c.check(name, src.as_bytes(), move || run_grub(files, "/boot/grub/grub.cfg"));
        if let Some(menu) = menu {
            let all = menu.errors.join("\n");
            if !all.contains(want) {
                c.failures
                    .push(format!("{name}: errors do not mention {want:?}: {all:.300}"));
            }
        }
    }
    c.finish();
}

// ---------------------------------------------------------------------------
// Nasty BLS and syslinux inputs

#[test]
fn boot_with_twenty_thousand_kernels() {
    // A /boot full of kernel-named files: each lookup once scanned the whole
    // listing, and the newest-first insertion sort compared every pair.
    let mut c = Checker::new("scan-many");
    let d = tempfile::tempdir().unwrap();
    let boot = d.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for i in 0..20_000 {
        std::fs::write(boot.join(format!("vmlinuz-6.1.{i}")), b"").unwrap();
        if i % 2 == 0 {
            std::fs::write(boot.join(format!("initrd.img-6.1.{i}")), b"").unwrap();
        }
    }
    let root = d.path().to_path_buf();
    let r = c.check("scan", b"", move || {
        hopboot_loader::format::scan::scan_counted(&DirFs::new(&root), &["/boot", "/"])
    });
    if let Some((entries, left_out)) = r {
        let max = hopboot_loader::format::scan::MAX_KERNELS;
        assert_eq!((entries.len(), left_out), (max, 20_000 - max));
        // Newest first among those listed.
        assert!(entries
            .windows(2)
            .all(|w| { hopboot_loader::version::rpm(&w[0].version, &w[1].version) != std::cmp::Ordering::Less }));
    }
    c.finish();
}

#[test]
fn loader_conf_default_glob_of_a_few_mib() {
    // A `default` pattern as long as loader.conf may be, with stars that the
    // matcher backtracks to, against the most entries a menu holds.
    let mut c = Checker::new("bls-glob");
    let entries: Vec<bls::BlsEntry> = (0..bls::MAX_ENTRIES)
        .map(|i| bls::parse_entry(&format!("/loader/entries/{}-{i}.conf", "a".repeat(200)), "linux /k\n").unwrap())
        .collect();
    let longest_read = format!("{}b", "*a".repeat((bls::MAX_DEFAULT_PATTERN - 1) / 2));
    for pattern in [
        "*a".repeat(2 << 20),
        format!("{}b", "a*".repeat(1 << 20)),
        "[".repeat(4 << 20),
        longest_read,
    ] {
        let conf = bls::parse_loader_conf(&format!("default {pattern}\n"));
        let entries = entries.clone();
        let r = c.check("default_index", pattern.as_bytes(), move || {
            bls::default_index(&entries, &conf)
        });
        if let Some(r) = r {
            assert_eq!(r, Some(0), "an unmatchable default falls back to the first entry");
        }
    }
    c.finish();
}

#[test]
fn bls_entry_of_10_mib() {
    let mut c = Checker::new("bls-big");
    let mut s = String::from("title Big\nlinux /vmlinuz\n");
    while s.len() < 10 << 20 {
        s.push_str("options aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    }
    let t = s.clone();
    c.check("parse_entry on 10 MiB", b"", move || {
        bls::parse_entry("big.conf", &t).map(|e| e.options.len())
    });
    let t = s.clone();
    c.check("loader.conf of 10 MiB", b"", move || bls::parse_loader_conf(&t));
    let one_line = "x".repeat(10 << 20);
    c.check("10 MiB line", b"", move || {
        bls::parse_entry("big.conf", &one_line).is_err()
    });
    // Through a filesystem: the file is over the cap and not read at all.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("loader/entries")).unwrap();
    std::fs::write(d.path().join("loader/entries/big.conf"), &s).unwrap();
    std::fs::write(d.path().join("loader/entries/ok.conf"), "linux /vmlinuz\n").unwrap();
    let root = d.path().to_path_buf();
    let r = c.check("read_dir with a 10 MiB entry", b"", move || {
        bls::read_dir(&DirFs::new(&root), "/loader/entries")
    });
    if let Some((entries, errors)) = r {
        assert_eq!(entries.len(), 1, "the small entry is still read");
        assert!(
            errors
                .iter()
                .any(|(p, m)| p.ends_with("big.conf") && m.contains("limit")),
            "{errors:?}"
        );
    }
    c.finish();
}

#[test]
fn extlinux_nasty_configs() {
    let mut c = Checker::new("extlinux-nasty");
    let cfg = "/syslinux/syslinux.cfg";
    let pad = format!("# {}\n", "x".repeat(1 << 20));
    let cases: Vec<(&str, Mem, &str)> = vec![
        (
            "INCLUDE of itself",
            Mem::default().with(cfg, b"LABEL a\nKERNEL /v\nINCLUDE syslinux.cfg\n".to_vec()),
            "nested more than",
        ),
        (
            "two files including each other",
            Mem::default()
                .with(cfg, b"INCLUDE b.cfg\nLABEL a\nLINUX /v\n".to_vec())
                .with("/syslinux/b.cfg", b"MENU INCLUDE syslinux.cfg\n".to_vec()),
            "nested more than",
        ),
        (
            "INCLUDE fan-out over a big file",
            Mem::default().with(cfg, format!("{}{pad}", "INCLUDE syslinux.cfg\n".repeat(8)).into_bytes()),
            "bytes of config read",
        ),
        (
            "CONFIG loop",
            Mem::default().with(cfg, b"CONFIG /syslinux/syslinux.cfg\n".to_vec()),
            "CONFIG switches",
        ),
        (
            "default CONFIG label loop",
            Mem::default().with(cfg, b"DEFAULT a\nLABEL a\nCONFIG syslinux.cfg\n".to_vec()),
            "CONFIG switches",
        ),
        (
            "10^6 labels",
            Mem::default().with(cfg, "LABEL x\nLINUX /v\n".repeat(1_000_000).into_bytes()),
            "",
        ),
        (
            "10^5 MENU BEGIN",
            Mem::default().with(cfg, "MENU BEGIN\nLABEL x\nLINUX /v\n".repeat(100_000).into_bytes()),
            "",
        ),
        (
            "TEXT HELP never ended",
            Mem::default().with(cfg, format!("TEXT HELP\n{}", "LABEL x\n".repeat(100_000)).into_bytes()),
            "",
        ),
    ];
    for (name, fs, want) in cases {
        let input = fs.files.get(cfg).cloned().unwrap_or_default();
        if let Some(menu) = c.check(name, &input, move || extlinux::parse(&fs, cfg)) {
            let all = menu.errors.join("\n");
            if !all.contains(want) {
                c.failures
                    .push(format!("{name}: errors do not mention {want:?}: {all:.300}"));
            }
        }
    }
    c.finish();
}

#[test]
fn kmod_dependency_chains() {
    let mut c = Checker::new("kmod");
    // A 10^5-long chain and a cycle: load_order must neither recurse away
    // nor loop.
    let mut chain = String::new();
    for i in 0..100_000 {
        chain.push_str(&format!("m{i}.ko: m{}.ko\n", i + 1));
    }
    let input = chain.clone().into_bytes();
    c.check("10^5-long dependency chain", &input, move || {
        kmod::load_order(&kmod::parse_dep(&chain)).len()
    });
    c.check("cycle", b"a: b\nb: c\nc: a\n", || {
        kmod::load_order(&kmod::parse_dep("a: b\nb: c\nc: a\n")).len()
    });
    c.finish();
}

// ---------------------------------------------------------------------------
// Disk images: GPT, MBR, ext4, FAT, the whole discovery

/// Runs a host tool that must succeed (the error names it and what it printed).
fn run(cmd: &mut Command) {
    if let Err(e) = hopboot_qemu::cmd::run(cmd) {
        panic!("{e:#}");
    }
}

fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (p, data) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// Partition 1 (ESP, FAT) starts here, partition 2 (ext4 root) after it.
const ESP_START: u64 = 64 * 512;
const ESP_LEN: u64 = 1 << 20;
const ROOT_START: u64 = ESP_START + ESP_LEN;
const ROOT_LEN: u64 = 2 << 20;

/// A real GPT disk: 64-sector alignment, an ESP (FAT12, BLS entries and a
/// kernel) and an ext4 root (grub.cfg, grubenv, extlinux.conf, kernels).
/// Returns (disk, FAT image, ext4 image).
fn build_disk(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let esp_tree = dir.join("esp");
    write_tree(
        &esp_tree,
        &[
            ("loader/loader.conf", b"timeout 3\ndefault arch*\n"),
            (
                "loader/entries/arch.conf",
                b"title Arch Linux\nlinux /vmlinuz-linux\ninitrd /initramfs-linux.img\noptions root=UUID=0f4c rw\n",
            ),
            (
                "loader/entries/arch-fallback+3-1.conf",
                b"title Arch (fallback)\nversion 6.1\nlinux /vmlinuz-linux\noptions root=UUID=0f4c rw\n",
            ),
            ("vmlinuz-linux", b"kernel"),
            ("initramfs-linux.img", b"initrd"),
            ("EFI/BOOT/BOOTX64.EFI", b"MZ not really"),
        ],
    );
    let root_tree = dir.join("root");
    write_tree(
        &root_tree,
        &[
            (
                "boot/grub/grub.cfg",
                b"load_env\nset default=\"${saved_entry}\"\nset timeout=5\n\
                  function load_video { insmod all_video; }\n\
                  menuentry 'Debian GNU/Linux' --id debian {\n  load_video\n  search --no-floppy --fs-uuid --set=root 0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f\n  \
                  linux /boot/vmlinuz-6.1.0-13-amd64 root=UUID=0f4c1b1e ro quiet\n  initrd /boot/initrd.img-6.1.0-13-amd64\n}\n\
                  submenu 'Advanced' {\n  menuentry 'recovery' { linux /boot/vmlinuz-6.1.0-13-amd64 single }\n}\n",
            ),
            ("boot/grub/grubenv", b"# GRUB Environment Block\nsaved_entry=debian\n##########\n"),
            (
                "boot/extlinux/extlinux.conf",
                b"DEFAULT lts\nLABEL lts\n  MENU LABEL Linux lts\n  LINUX /boot/vmlinuz-6.1.0-13-amd64\n  INITRD /boot/initrd.img-6.1.0-13-amd64\n  APPEND root=/dev/sda2\n",
            ),
            ("boot/vmlinuz-6.1.0-13-amd64", b"kernel"),
            ("boot/initrd.img-6.1.0-13-amd64", b"initrd"),
        ],
    );
    let esp = dir.join("esp.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", "12", "-i", "48420001", "-n", "ESP"])
        .arg(&esp)
        .arg((ESP_LEN / 1024).to_string())
        .stdout(std::process::Stdio::null()));
    let mut mcopy = Command::new("mcopy");
    mcopy.env("MTOOLS_SKIP_CHECK", "1").args(["-s", "-i"]).arg(&esp);
    for e in std::fs::read_dir(&esp_tree).unwrap() {
        mcopy.arg(e.unwrap().path());
    }
    run(mcopy.arg("::/"));
    let rootfs = dir.join("root.img");
    run(Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-b",
            "1024",
            "-U",
            "0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f",
            "-L",
            "root",
        ])
        .args(["-E", "hash_seed=6d3376e4-fc93-4509-95ec-a21d68011da2"])
        .arg("-d")
        .arg(&root_tree)
        .arg(&rootfs)
        .arg(format!("{}k", ROOT_LEN / 1024))
        .env("E2FSPROGS_FAKE_TIME", "1700000000"));
    let disk = dir.join("disk.img");
    let total = ROOT_START + ROOT_LEN + 64 * 512;
    std::fs::File::create(&disk).unwrap().set_len(total).unwrap();
    run(Command::new("sgdisk")
        .args(["-a", "64", "-U", "11111111-2222-3333-4444-555555555555"])
        .args([
            "-n",
            &format!("1:{}:+{}K", ESP_START / 512, ESP_LEN / 1024),
            "-t",
            "1:ef00",
        ])
        .args(["-u", "1:aaaaaaaa-0000-0000-0000-000000000001", "-c", "1:EFI System"])
        .args([
            "-n",
            &format!("2:{}:+{}K", ROOT_START / 512, ROOT_LEN / 1024),
            "-t",
            "2:8300",
        ])
        .args(["-u", "2:aaaaaaaa-0000-0000-0000-000000000002", "-c", "2:root"])
        .arg(&disk)
        .stdout(std::process::Stdio::null()));
    let mut img = std::fs::read(&disk).unwrap();
    for (part, start) in [(&esp, ESP_START), (&rootfs, ROOT_START)] {
        let data = std::fs::read(part).unwrap();
        img[start as usize..start as usize + data.len()].copy_from_slice(&data);
    }
    std::fs::write(&disk, &img).unwrap();
    (disk, esp, rootfs)
}

/// Opens `bytes` as a disk image (written to `path`) and runs discovery.
fn discover_image(path: &Path, bytes: &[u8]) -> discover::Discovery {
    std::fs::write(path, bytes).unwrap();
    let mut errors = Vec::new();
    let vols = hopboot_loader::source::disk::open_path(path, 0, &hopboot_loader::source::NoMachine, &mut errors);
    let d = discover::discover(vols, errors);
    let _ = json::discovery(&d);
    d
}

/// Walks a filesystem like discovery does, with bounds.
fn walk(fs: &dyn FsView) {
    let _ = (fs.uuid(), fs.label());
    let mut dirs = vec![("/".to_string(), 0)];
    let mut seen = 0;
    while let Some((dir, depth)) = dirs.pop() {
        for n in fs.list(&dir).into_iter().take(32) {
            seen += 1;
            if seen > 200 {
                return;
            }
            let p = hopboot_loader::fs::join(&dir, &n);
            match fs.kind(&p) {
                Some(Kind::Dir) if depth < 3 => dirs.push((p, depth + 1)),
                Some(Kind::File) => {
                    let _ = (fs.size(&p), fs.read(&p, 1 << 20));
                }
                _ => {}
            }
        }
    }
}

#[test]
fn real_gpt_disk_reads_back() {
    let d = tempfile::tempdir().unwrap();
    let (disk, _, _) = build_disk(d.path());
    let bytes = std::fs::read(&disk).unwrap();
    let found = discover_image(&d.path().join("copy.img"), &bytes);
    let titles: Vec<&str> = found.entries.iter().map(|e| e.title.as_str()).collect();
    assert!(titles.contains(&"Debian GNU/Linux"), "{titles:?} {:?}", found.errors);
    assert!(titles.contains(&"Arch Linux"), "{titles:?}");
    assert!(titles.contains(&"Linux lts"), "{titles:?}");
    assert!(found.errors.is_empty(), "{:?}", found.errors);
}

#[test]
fn gpt_disk_truncated_and_mutated() {
    let mut c = Checker::new("disk");
    let d = tempfile::tempdir().unwrap();
    let (disk, _, _) = build_disk(d.path());
    let orig = std::fs::read(&disk).unwrap();
    let len = orig.len();
    let mut rng = Rng(0x510e_527f_ade6_82d1);
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    // Cuts: through the GPT, the FAT and ext4 metadata, and at random.
    let mut points: Vec<usize> = vec![0, 1, 511, 512, 513, 1023, 1024, 1100, 4096, 17_408];
    for base in [ESP_START, ROOT_START] {
        points.extend([0, 512, 1024, 2048, 4096, 8192, 65_536].map(|o| base as usize + o));
    }
    points.extend((0..20).map(|_| rng.below(len)));
    points.extend([len - 512, len - 1]);
    for n in points {
        inputs.push((format!("disk cut at {n}"), orig[..n.min(len)].to_vec()));
    }
    // Flips in each metadata region; the disk keeps its length, so the
    // backup GPT stays (and is used when the primary breaks).
    let (esp, root) = (ESP_START as usize, ROOT_START as usize);
    let regions = [
        ("primary GPT", 0..17_408),
        ("backup GPT", len - 33 * 512..len),
        ("FAT boot sector and FATs", esp..esp + 8192),
        ("FAT root dir and data", esp + 8192..esp + 64 * 1024),
        ("ext4 superblock and group descriptors", root + 1024..root + 8192),
        ("ext4 bitmaps and inode table", root + 8192..root + 300 * 1024),
    ];
    for (what, region) in regions {
        for i in 0..40 {
            inputs.push((
                format!("{what} mutation {i}"),
                mutate_bytes(&orig, &mut rng, 6, region.clone()),
            ));
        }
    }
    for (i, (case, input)) in inputs.into_iter().enumerate() {
        let path = d.path().join(format!("m{i}.img"));
        let copy = input.clone();
        c.check(&case, &input, move || {
            let found = discover_image(&path, &copy);
            let _ = std::fs::remove_file(&path);
            assert!(found.entries.iter().filter(|e| e.default).count() <= 1);
        });
    }
    c.finish();
}

/// Like [`mutate`] but never changes the length (offsets stay meaningful).
fn mutate_bytes(data: &[u8], rng: &mut Rng, max: usize, region: std::ops::Range<usize>) -> Vec<u8> {
    let mut b = data.to_vec();
    for _ in 0..=rng.below(max) {
        let i = region.start + rng.below(region.end - region.start);
        b[i] = match rng.below(4) {
            0 => 0,
            1 => 0xff,
            2 => b[i] ^ (1 << rng.below(8)),
            _ => rng.next() as u8,
        };
    }
    b
}

#[test]
fn filesystems_alone_truncated_and_mutated() {
    let mut c = Checker::new("fs");
    let d = tempfile::tempdir().unwrap();
    let (_, esp, rootfs) = build_disk(d.path());
    let mut rng = Rng(0x9b05_688c_2b3e_6c1f);
    for (name, img, meta) in [("fat", &esp, 64 * 1024), ("ext4", &rootfs, 300 * 1024)] {
        let orig = std::fs::read(img).unwrap();
        let mut inputs: Vec<(String, Vec<u8>)> = cuts(orig.len(), &mut rng, 40)
            .into_iter()
            .map(|n| (format!("{name} cut at {n}"), orig[..n].to_vec()))
            .collect();
        for i in 0..120 {
            inputs.push((
                format!("{name} mutation {i}"),
                mutate_bytes(&orig, &mut rng, 8, 0..meta),
            ));
        }
        for (i, (case, input)) in inputs.into_iter().enumerate() {
            let path = d.path().join(format!("{name}{i}.img"));
            std::fs::write(&path, &input).unwrap();
            let is_fat = name == "fat";
            c.check(&case, &input, move || {
                let disk = Disk::open(&path).unwrap();
                if is_fat {
                    let _ = hopboot_loader::fs::fat::probe(&disk.whole());
                    if let Ok(fs) = FatFs::open(disk.whole()) {
                        walk(&fs);
                    }
                } else {
                    let _ = hopboot_loader::fs::ext4::probe(&disk.whole());
                    if let Ok(fs) = Ext4Fs::open(disk.whole()) {
                        walk(&fs);
                    }
                }
                let _ = std::fs::remove_file(&path);
            });
        }
    }
    c.finish();
}

/// Rewrites the GPT header at `lba` (512-byte sectors) and fixes its CRC.
fn patch_gpt_header(img: &mut [u8], lba: usize, f: impl FnOnce(&mut [u8])) {
    let h = &mut img[lba * 512..lba * 512 + 512];
    f(h);
    let size = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
    h[16..20].fill(0);
    let crc = block::crc32(&h[..size.min(512)]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

fn set_u32(h: &mut [u8], off: usize, v: u32) {
    h[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(h: &mut [u8], off: usize, v: u64) {
    h[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn gpt_nasty_headers() {
    let mut c = Checker::new("gpt-nasty");
    let d = tempfile::tempdir().unwrap();
    let (disk, _, _) = build_disk(d.path());
    let orig = std::fs::read(&disk).unwrap();
    let last = orig.len() / 512 - 1;
    type Patch = fn(&mut [u8]);
    let patches: [(&str, Patch); 7] = [
        ("num_entries = u32::MAX", |h| set_u32(h, 80, u32::MAX)),
        ("num_entries = 1024 (array past the disk)", |h| set_u32(h, 80, 1024)),
        ("entry_size = 0", |h| set_u32(h, 84, 0)),
        ("entry_size = u32::MAX", |h| set_u32(h, 84, u32::MAX)),
        ("entries LBA beyond the disk", |h| set_u64(h, 72, 1 << 40)),
        ("entries LBA overflowing a byte offset", |h| {
            set_u64(h, 72, u64::MAX / 2)
        }),
        ("header size = 0xffffffff", |h| set_u32(h, 12, u32::MAX)),
    ];
    for (what, patch) in patches {
        // Primary only: the backup header takes over.
        let mut one = orig.clone();
        patch_gpt_header(&mut one, 1, patch);
        // Both: the table is corrupt, and says so.
        let mut both = one.clone();
        patch_gpt_header(&mut both, last, patch);
        for (which, img, backup_ok) in [("primary", one, true), ("both", both, false)] {
            let path = d.path().join(format!("{what}-{which}.img"));
            std::fs::write(&path, &img).unwrap();
            let r = c.check(&format!("{what} ({which})"), &img, move || {
                let disk = Disk::open(&path).unwrap();
                let _ = gpt::parse_header(&disk.read_vec(512, 512).unwrap());
                block::partitions(&disk).map(|(k, p)| (k, p.len()))
            });
            match r {
                Some(Ok((TableKind::Gpt, 2))) if backup_ok => {}
                Some(Err(BlockError::Corrupt { table: "GPT", .. })) if !backup_ok => {}
                Some(other) => c.failures.push(format!("{what} ({which}): unexpected {other:?}")),
                None => {}
            }
        }
    }
    c.finish();
}

/// A 512-byte MBR with `entries` as (status, type, lba, sectors).
fn mbr_sector(entries: &[(u8, u8, u32, u32)]) -> Vec<u8> {
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
fn mbr_nasty_tables() {
    let mut c = Checker::new("mbr-nasty");
    let d = tempfile::tempdir().unwrap();
    let sectors = 4096usize;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // An extended partition whose EBR links to itself.
    let mut img = vec![0u8; sectors * 512];
    img[..512].copy_from_slice(&mbr_sector(&[(0, 0x05, 1, 1000)]));
    img[512..1024].copy_from_slice(&mbr_sector(&[(0, 0x83, 10, 10), (0, 0x05, 0, 10)]));
    cases.push(("EBR chain linking to itself", img.clone()));
    // Linking back to an earlier EBR.
    img[512..1024].copy_from_slice(&mbr_sector(&[(0, 0x83, 10, 10), (0, 0x05, 100, 10)]));
    img[101 * 512..102 * 512].copy_from_slice(&mbr_sector(&[(0, 0x83, 10, 10), (0, 0x05, 0, 10)]));
    cases.push(("EBR chain looping back", img.clone()));
    // The longest forward chain: one EBR per sector.
    let mut long = vec![0u8; sectors * 512];
    long[..512].copy_from_slice(&mbr_sector(&[(0, 0x0f, 1, 3000)]));
    for i in 1..3000u32 {
        let at = i as usize * 512;
        long[at..at + 512].copy_from_slice(&mbr_sector(&[(0, 0x83, 0, 1), (0, 0x05, i, 1)]));
    }
    cases.push(("3000-long EBR chain", long));
    // Entries beyond the disk and overflowing.
    cases.push((
        "entries past the end",
        [
            mbr_sector(&[(0x80, 0x83, u32::MAX, u32::MAX), (0, 0x0f, u32::MAX - 1, 5)]),
            vec![0; 4096],
        ]
        .concat(),
    ));
    cases.push(("only a boot sector", mbr_sector(&[(0, 0x83, 1, 10)])));
    cases.push((
        "protective MBR, no GPT",
        [mbr_sector(&[(0, 0xee, 1, 100)]), vec![0; 8192]].concat(),
    ));
    for (i, (what, img)) in cases.into_iter().enumerate() {
        let path = d.path().join(format!("mbr{i}.img"));
        std::fs::write(&path, &img).unwrap();
        let copy = img.clone();
        let r = c.check(what, &img, move || {
            let _ = mbr::parse_boot_sector(&copy);
            let disk = Disk::open(&path).unwrap();
            block::partitions(&disk).map(|(k, p)| (k, p.len()))
        });
        match r {
            Some(Ok((_, n))) if n <= 4 + 128 => {}
            Some(Err(BlockError::Corrupt { .. })) if what.starts_with("protective") => {}
            Some(other) => c.failures.push(format!("{what}: unexpected {other:?}")),
            None => {}
        }
    }
    c.finish();
}

/// A filesystem whose geometry fits its (sparse, 8 GiB) device but needs more
/// block groups than [`hopboot_loader::fs::ext4::MAX_BLOCK_GROUPS`]: refused
/// as unsupported (discovery then asks the kernel) before ext4-view sizes its
/// descriptor table by it.
#[test]
fn ext4_with_more_block_groups_than_the_reader_loads() {
    use hopboot_loader::fs::ext4::MAX_BLOCK_GROUPS;
    let d = tempfile::tempdir().unwrap();
    let (_, _, rootfs) = build_disk(d.path());
    let mut fs = std::fs::read(&rootfs).unwrap();
    let block_size = 1024u64 << u32::from_le_bytes(fs[1024 + 0x18..1024 + 0x1c].try_into().unwrap());
    let blocks_per_group = 8u64;
    let blocks = (MAX_BLOCK_GROUPS + 1) * blocks_per_group + 1;
    fs[1024 + 0x04..1024 + 0x08].copy_from_slice(&(blocks as u32).to_le_bytes());
    fs[1024 + 0x20..1024 + 0x24].copy_from_slice(&(blocks_per_group as u32).to_le_bytes());
    let big = d.path().join("many-groups.img");
    let f = std::fs::File::create(&big).unwrap();
    std::io::Write::write_all(&mut &f, &fs).unwrap();
    f.set_len(blocks * block_size).unwrap(); // sparse
    let r = Ext4Fs::open(Disk::open(&big).unwrap().whole()).map(|_| ());
    assert!(
        matches!(&r, Err(FsError::Unsupported(m)) if m.contains("block groups")),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------
// UKI (PE) files

/// A real UKI: systemd's stub plus .osrel/.cmdline/.uname/.initrd/.linux
/// sections added with objcopy (as `ukify` does), above the stub's own.
fn build_uki(dir: &Path) -> Vec<u8> {
    let linux: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sections: [(&str, &[u8]); 5] = [
        (
            ".osrel",
            b"NAME=\"Fedora Linux\"\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39\"\n",
        ),
        (".cmdline", b"root=/dev/vda2 ro quiet\n"),
        (".uname", b"6.5.6-300.fc39.x86_64\n"),
        (".initrd", &[0xa5; 3000]),
        (".linux", &linux),
    ];
    let out = dir.join("uki.efi");
    hopboot_qemu::uki::build_from_bytes(&out, &sections).unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::read(out).unwrap()
}

/// Offset of the section header named `name` in a PE file.
fn section_header(pe_file: &[u8], name: &str) -> usize {
    let pe = u32::from_le_bytes(pe_file[0x3c..0x40].try_into().unwrap()) as usize;
    let nsec = u16::from_le_bytes(pe_file[pe + 6..pe + 8].try_into().unwrap()) as usize;
    let opt = u16::from_le_bytes(pe_file[pe + 20..pe + 22].try_into().unwrap()) as usize;
    let table = pe + 24 + opt;
    (0..nsec)
        .map(|i| table + i * 40)
        .find(|o| pe_file[*o..*o + 8].starts_with(name.as_bytes()) && pe_file[*o + name.len()] == 0)
        .unwrap_or_else(|| panic!("no {name} section"))
}

#[test]
fn uki_truncated_mutated_and_nasty() {
    let mut c = Checker::new("uki");
    let d = tempfile::tempdir().unwrap();
    let good = build_uki(d.path());
    assert!(uki::parse(&good).is_ok(), "the built UKI parses");
    let mut rng = Rng(0x1f83_d9ab_fb41_bd6b);
    let mut inputs: Vec<(String, Vec<u8>)> = cuts(good.len(), &mut rng, 400)
        .into_iter()
        .map(|n| (format!("uki cut at {n}"), good[..n].to_vec()))
        .collect();
    for i in 0..400 {
        inputs.push((
            format!("uki header mutation {i}"),
            mutate_bytes(&good, &mut rng, 6, 0..1024),
        ));
    }
    let linux = section_header(&good, ".linux");
    let osrel = section_header(&good, ".osrel");
    type Patch = fn(&mut [u8], usize);
    let nasty: [(&str, Patch); 6] = [
        (".linux data beyond the file", |b, s| set_u32(b, s + 20, 0xffff_ff00)),
        (".linux size beyond the file", |b, s| {
            set_u32(b, s + 16, u32::MAX);
            set_u32(b, s + 8, u32::MAX)
        }),
        (".linux offset + size overflowing u32", |b, s| {
            set_u32(b, s + 20, 0x8000_0000);
            set_u32(b, s + 16, 0x8000_0000)
        }),
        (".osrel data beyond the file", |b, s| set_u32(b, s + 20, 0x7fff_ffff)),
        ("PE header pointer beyond the file", |b, _| {
            set_u32(b, 0x3c, 0x7fff_fff0)
        }),
        ("0xffff sections", |b, _| {
            let pe = u32::from_le_bytes(b[0x3c..0x40].try_into().unwrap()) as usize;
            b[pe + 6..pe + 8].copy_from_slice(&0xffffu16.to_le_bytes());
        }),
    ];
    for (what, patch) in nasty {
        let mut b = good.clone();
        patch(&mut b, if what.starts_with(".osrel") { osrel } else { linux });
        inputs.push((what.to_string(), b));
    }
    for (case, input) in inputs {
        let copy = input.clone();
        let nasty = !case.starts_with("uki ");
        let r = c.check(&case, &input, move || uki::parse(&copy).map(|u| u.linux));
        match r {
            Some(Ok((off, n))) if off + n <= input.len() as u64 && !nasty => {}
            Some(Err(uki::UkiError::ParserPanic)) => c.failures.push(format!("{case}: goblin panicked")),
            Some(Err(_)) => {}
            Some(Ok(r)) => c.failures.push(format!("{case}: accepted with .linux at {r:?}")),
            None => {}
        }
    }
    c.finish();
}

/// Superblocks that crashed the ext4 reader (found by the `ext4` fuzz target
/// and STYLE.md section 4): ext4-view 0.9 panicked on `s_blocks_per_group = 0`
/// (a division by zero) and on a 64-bit filesystem with `s_desc_size = 1`
/// (fuzz crash d60916d1); 1.0 aborted the process on `s_blocks_count_hi = 1`
/// without 64BIT (fuzz oom-a66acd11: a 2^40-block filesystem on a tiny device,
/// a 2 GiB descriptor table allocated up front). Each is a typed error, for
/// the filesystem and for discovery of the whole disk.
#[test]
fn ext4_superblocks_that_crashed_the_reader() {
    let d = tempfile::tempdir().unwrap();
    let (disk, _, rootfs) = build_disk(d.path());
    // (case, superblock offset, bytes, what the error must say)
    let patches: [(&str, usize, &[u8], &str); 3] = [
        ("s_blocks_per_group = 0", 0x20, &[0, 0, 0, 0], "ext4"),
        ("64-bit with s_desc_size = 1", 0xfe, &[1, 0], "ext4"),
        (
            "s_blocks_count_hi = 256 without 64BIT",
            0x150,
            &[0, 1, 0, 0],
            "exceeds the size of the device",
        ),
    ];
    let mut c = Checker::new("ext4-sb");
    for (what, off, bytes, says) in patches {
        let patch = |img: &mut [u8], base: usize| {
            img[base + 1024 + off..base + 1024 + off + bytes.len()].copy_from_slice(bytes);
            if off == 0xfe {
                img[base + 1024 + 0x60] |= 0x80; // INCOMPAT_64BIT
            }
        };
        let mut fs = std::fs::read(&rootfs).unwrap();
        patch(&mut fs, 0);
        let bad = d.path().join("bad-root.img");
        std::fs::write(&bad, &fs).unwrap();
        let r = c.check(&format!("{what}: ext4 open"), &fs, move || {
            Ext4Fs::open(Disk::open(&bad).unwrap().whole()).map(|_| ())
        });
        if let Some(r) = r {
            assert!(
                matches!(&r, Err(FsError::Corrupt(m)) if m.contains(says)),
                "{what}: {r:?}"
            );
        }
        let mut img = std::fs::read(&disk).unwrap();
        patch(&mut img, ROOT_START as usize);
        let path = d.path().join("bad-disk.img");
        let copy = img.clone();
        let found = c.check(&format!("{what}: discovery"), &img, move || {
            let d = discover_image(&path, &copy);
            let titles: Vec<String> = d.entries.iter().map(|e| e.title.clone()).collect();
            let errors: Vec<String> = d
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message()))
                .collect();
            (titles, errors)
        });
        if let Some((titles, errors)) = found {
            // The ESP's entries survive the broken root filesystem.
            assert!(titles.iter().any(|t| t == "Arch Linux"), "{what}: {titles:?}");
            assert!(errors.iter().any(|e| e.contains("ext4")), "{what}: {errors:?}");
        }
    }
    c.finish();
}

// ---------------------------------------------------------------------------
// Loops inside the filesystems' own structures (issue 16)

/// What `debugfs -R "imap PATH"` says: (block, offset) of the inode.
fn ext4_inode_location(img: &Path, path: &str) -> (u64, u64) {
    let out = Command::new("debugfs")
        .args(["-R", &format!("imap {path}")])
        .arg(img)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.split("located at block ").nth(1).expect("debugfs imap");
    let (block, offset) = at.split_once(", offset ").unwrap();
    let offset = offset.trim().trim_start_matches("0x");
    (block.trim().parse().unwrap(), u64::from_str_radix(offset, 16).unwrap())
}

/// What `debugfs -R "blocks PATH"` says.
fn ext4_blocks(img: &Path, path: &str) -> Vec<u64> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("blocks {path}")])
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|b| b.parse().unwrap())
        .collect()
}

/// An extent node header.
fn extent_header(entries: u16, max: u16, depth: u16) -> Vec<u8> {
    let mut h = vec![0x0a, 0xf3];
    for v in [entries, max, depth, 0, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// Makes the extent tree of the inode at `inode` (byte offset in `img`) a
/// DAG five levels deep over the 1 KiB blocks `nodes` (five of them): the
/// root's 4 entries and each interior node's 84 all point at the next
/// node, and the leaf holds 84 zero-length extents (`zero_len`) or none.
/// 4 * 84^4 = 2e8 leaf visits, none of which moves the file forward.
fn ext4_extent_dag(img: &mut [u8], inode: usize, nodes: &[u64], zero_len: bool) {
    let mut root = extent_header(4, 4, 5);
    for _ in 0..4 {
        root.extend_from_slice(&0u32.to_le_bytes());
        root.extend_from_slice(&(nodes[0] as u32).to_le_bytes());
        root.extend_from_slice(&[0; 4]);
    }
    img[inode + 0x28..inode + 0x28 + root.len()].copy_from_slice(&root);
    for (level, &b) in nodes.iter().enumerate() {
        let depth = 4 - level as u16;
        let leaf = depth == 0;
        let entries = if leaf && !zero_len { 0 } else { 84 };
        let mut n = extent_header(entries, 84, depth);
        for _ in 0..entries {
            n.extend_from_slice(&0u32.to_le_bytes()); // first logical block
            if leaf {
                n.extend_from_slice(&0u16.to_le_bytes()); // ee_len = 0
                n.extend_from_slice(&0u16.to_le_bytes());
                n.extend_from_slice(&(nodes[0] as u32).to_le_bytes());
            } else {
                n.extend_from_slice(&(nodes[level + 1] as u32).to_le_bytes());
                n.extend_from_slice(&[0; 4]);
            }
        }
        n.resize(1024, 0);
        img[b as usize * 1024..(b as usize + 1) * 1024].copy_from_slice(&n);
    }
}

/// ext4 (1 KiB blocks, no metadata checksums so the test can patch bytes)
/// whose grub.cfg, a kernel and the BLS entries directory have extent trees
/// that share their nodes: ext4-view walked them for hours (the blocks are
/// in its cache, so no read reached hopboot). Each is refused as corrupt in
/// a few milliseconds, and the extlinux entry on the same filesystem still
/// shows.
#[test]
fn ext4_extent_trees_whose_nodes_share_children() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    let pad: Vec<u8> = (0..12 * 1024u32).map(|i| (i % 251) as u8).collect();
    write_tree(
        &tree,
        &[
            ("boot/grub/grub.cfg", &pad[..]),
            ("boot/vmlinuz-dag", &pad[..]),
            ("boot/vmlinuz-6.1", b"kernel"),
            ("loader/entries/a.conf", b"title A\nlinux /boot/vmlinuz-6.1\n"),
            (
                "boot/extlinux/extlinux.conf",
                b"DEFAULT lts\nLABEL lts\n  LINUX /boot/vmlinuz-6.1\n  APPEND root=/dev/sda2\n",
            ),
        ],
    );
    let img = d.path().join("dag.img");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "1024", "-O", "^metadata_csum", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("4M"));
    let mut bytes = std::fs::read(&img).unwrap();
    let inode = |p: &str| {
        let (b, o) = ext4_inode_location(&img, p);
        (b * 1024 + o) as usize
    };
    let cfg_blocks = ext4_blocks(&img, "/boot/grub/grub.cfg");
    let kernel_blocks = ext4_blocks(&img, "/boot/vmlinuz-dag");
    ext4_extent_dag(&mut bytes, inode("/boot/grub/grub.cfg"), &cfg_blocks[..5], true);
    ext4_extent_dag(&mut bytes, inode("/boot/vmlinuz-dag"), &kernel_blocks[..5], false);
    ext4_extent_dag(&mut bytes, inode("/loader/entries"), &cfg_blocks[..5], true);
    std::fs::write(&img, &bytes).unwrap();

    let mut c = Checker::new("ext4-dag");
    for (path, says) in [
        ("/boot/grub/grub.cfg", "zero-length extent"),
        ("/boot/vmlinuz-dag", "empty extent tree node"),
    ] {
        let i = img.clone();
        let r = c.check(&format!("read {path}"), &bytes, move || {
            let fs = Ext4Fs::open(Disk::open(&i).unwrap().whole()).unwrap();
            (
                fs.read(path, 1 << 20).map(|_| ()),
                fs.read_range(path, 0, 4096).map(|_| ()),
            )
        });
        if let Some((read, range)) = r {
            for r in [read, range] {
                assert!(
                    matches!(&r, Err(FsError::Corrupt(m)) if m.contains(says)),
                    "{path}: {r:?}"
                );
            }
        }
    }
    let i = img.clone();
    let listed = c.check("list /loader/entries", &bytes, move || {
        let fs = Ext4Fs::open(Disk::open(&i).unwrap().whole()).unwrap();
        (
            fs.list("/loader/entries"),
            fs.kind("/loader/entries/a.conf"),
            fs.list("/boot"),
        )
    });
    if let Some((entries, a, boot)) = listed {
        assert!(entries.is_empty(), "{entries:?}");
        assert_eq!(a, None);
        assert!(boot.contains(&"vmlinuz-6.1".to_string()), "{boot:?}");
    }
    let path = d.path().join("copy.img");
    let copy = bytes.clone();
    let found = c.check("discovery", &bytes, move || {
        let d = discover_image(&path, &copy);
        let titles: Vec<String> = d.entries.iter().map(|e| e.title.clone()).collect();
        let errors: Vec<String> = d
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message()))
            .collect();
        (titles, errors)
    });
    if let Some((titles, errors)) = found {
        assert!(titles.iter().any(|t| t == "lts"), "{titles:?} {errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("grub.cfg") && e.contains("zero-length extent")),
            "{errors:?}"
        );
    }
    c.finish();
}

/// FAT16 whose `/loader` directory is one cluster of deleted entries
/// chained to itself: fatfs skips deleted entries inside its own iterator,
/// so it read that cluster for ever and `take(n)` around it never fired.
/// Every byte fatfs reads is now charged to the call: listings, lookups
/// through it and discovery of the disk end, with the ESP's other files
/// still readable.
#[test]
fn fat_directory_whose_cluster_chain_loops() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("esp");
    write_tree(
        &tree,
        &[
            ("loader/loader.conf", b"timeout 3\n"),
            ("loader/entries/arch.conf", b"title Arch\nlinux /vmlinuz-linux\n"),
            ("vmlinuz-linux", b"kernel"),
            (
                "syslinux/syslinux.cfg",
                b"DEFAULT lts\nLABEL lts\n  LINUX /vmlinuz-linux\n  APPEND root=/dev/sda2\n",
            ),
        ],
    );
    let img = d.path().join("loop.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", "16", "-s", "1"])
        .arg(&img)
        .arg("4096")
        .stdout(std::process::Stdio::null()));
    let mut mcopy = Command::new("mcopy");
    mcopy.env("MTOOLS_SKIP_CHECK", "1").args(["-s", "-i"]).arg(&img);
    for e in std::fs::read_dir(&tree).unwrap() {
        mcopy.arg(e.unwrap().path());
    }
    run(mcopy.arg("::/"));
    let mut b = std::fs::read(&img).unwrap();
    let le16 = |b: &[u8], o: usize| usize::from(u16::from_le_bytes([b[o], b[o + 1]]));
    let (reserved, fats, roots, fat_sectors) = (le16(&b, 14), usize::from(b[16]), le16(&b, 17), le16(&b, 22));
    let root = (reserved + fats * fat_sectors) * 512;
    let data = root + roots * 32;
    let entry = (root..root + roots * 32)
        .step_by(32)
        .find(|&e| &b[e..e + 11] == b"LOADER     ")
        .expect("LOADER's directory entry");
    let cluster = le16(&b, entry + 26);
    let at = data + (cluster - 2) * 512;
    for e in (at..at + 512).step_by(32) {
        b[e] = 0xe5; // deleted, ".", ".." and the long names too
    }
    for f in 0..fats {
        let fat = (reserved + f * fat_sectors) * 512 + 2 * cluster;
        b[fat..fat + 2].copy_from_slice(&(cluster as u16).to_le_bytes());
    }
    std::fs::write(&img, &b).unwrap();

    let mut c = Checker::new("fat-loop");
    let i = img.clone();
    let r = c.check("FsView calls", &b, move || {
        let fs = FatFs::open(Disk::open(&i).unwrap().whole()).unwrap();
        (
            fs.list("/loader"),
            fs.kind("/loader/entries/arch.conf"),
            fs.read("/loader/loader.conf", 1 << 20).map(|_| ()),
            fs.read("/syslinux/syslinux.cfg", 1 << 20).map(|_| ()),
        )
    });
    if let Some((list, kind, read, other)) = r {
        assert!(list.is_empty(), "{list:?}");
        assert_eq!(kind, None);
        assert!(
            matches!(&read, Err(FsError::Corrupt(m)) if m.contains("a loop in the filesystem")),
            "{read:?}"
        );
        assert!(other.is_ok(), "{other:?}");
    }
    let path = d.path().join("copy.img");
    let copy = b.clone();
    let found = c.check("discovery", &b, move || {
        let d = discover_image(&path, &copy);
        d.entries.iter().map(|e| e.title.clone()).collect::<Vec<_>>()
    });
    if let Some(titles) = found {
        assert!(titles.iter().any(|t| t == "lts"), "{titles:?}");
    }
    c.finish();
}

// ---------------------------------------------------------------------------
// Network replies: captured from dnsmasq and nginx (testdata/netboot/SOURCES.md)

#[test]
fn network_replies_truncated_and_mutated() {
    use hopboot_loader::net::{dns, http, tftp};
    let mut c = Checker::new("net");
    let mut rng = Rng(0x6e65_7462_6f6f_7421);
    let net = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/netboot");
    let read = |p: &str| std::fs::read(net.join(p)).unwrap();
    let mut chunked = read("nginx/200-ssi-chunked.http");
    chunked.extend_from_slice(b"8;ext=1\r\n01234567\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n");
    let seeds = [
        ("dns", read("dnsmasq/dnsmasq-a-boot.test.bin")),
        ("dns", read("dnsmasq/dnsmasq-refused.bin")),
        ("tftp", read("dnsmasq/dnsmasq-oack.bin")),
        ("tftp", read("dnsmasq/dnsmasq-error-not-found.bin")),
        ("http", read("nginx/200-static.http")),
        ("http", chunked),
    ];
    for (kind, seed) in &seeds {
        let mut inputs: Vec<Vec<u8>> = cuts(seed.len(), &mut rng, 512)
            .into_iter()
            .map(|n| seed[..n].to_vec())
            .collect();
        inputs.extend((0..300).map(|_| mutate(seed, &mut rng, 6, 0..seed.len())));
        for (i, input) in inputs.into_iter().enumerate() {
            let kind = *kind;
            let data = input.clone();
            c.check(&format!("{kind} {i}"), &input, move || match kind {
                "dns" => {
                    let _ = dns::parse_reply(&data, 0xbeef, "boot.test");
                }
                "tftp" => {
                    let _ = tftp::parse(&data);
                }
                _ => {
                    let body = match http::parse_head(&data) {
                        Ok(Some((h, len))) => {
                            let _ = h.framing();
                            data[len..].to_vec()
                        }
                        _ => data.clone(),
                    };
                    let mut d = http::Chunked::default();
                    let mut rest = &body[..];
                    while !rest.is_empty() && !d.done() {
                        match d.feed(rest) {
                            Ok((taken, _)) => {
                                assert!(taken > 0, "the chunked decoder took nothing");
                                rest = &rest[taken..];
                            }
                            Err(_) => break,
                        }
                    }
                }
            });
        }
    }
    c.finish();
}
