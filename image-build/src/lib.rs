//! Builds the hopboot initramfs: a newc cpio archive holding the hopboot binary as `/init`, the
//! kernel modules it needs (with a `modules.dep` for them) and any extra files, reproducible bit for
//! bit and compressed.
//!
//! ```no_run
//! use hopboot_image_build::{build, Compression, Options};
//! let report = build(&Options {
//!     binary: "target/x86_64-unknown-linux-musl/release/hopboot".into(),
//!     modules_dir: Some("/lib/modules/6.1.0-56-amd64".into()),
//!     modules: vec!["virtio_blk".into(), "virtio_pci".into()],
//!     filesystems: vec![],
//!     extra: vec![],
//!     compression: Compression::Gzip,
//!     mtime: 0,
//!     output: "target/initramfs.cpio.gz".into(),
//! })?;
//! println!("{} bytes", report.compressed_bytes);
//! # anyhow::Ok(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compress;
pub mod cpio;
pub mod helpdoc;
pub mod modules;
pub mod payload;
pub mod profile;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use compress::{compress, Compression, UnknownCompression};
pub use profile::Profile;

/// Name of the list, next to `modules.dep`, of the modules hopboot loads at start whatever the
/// hardware: the ones asked for by name (`--module`), one canonical name per line. Profile modules
/// are not in it; hopboot loads those when a device matches their `modules.alias` patterns.
pub const ALWAYS_LOAD_FILE: &str = "modules.always";

/// Where the menu password's hash goes (`--password-hash`; read by PID 1 as
/// `/etc/hopboot/password`). Whatever an extra file put here must be a password hash
/// (`hopboot-password`'s PHC string): never a password in plain text.
pub const PASSWORD_PATH: &str = "etc/hopboot/password";

/// Directories every image has: mount points for PID 1, and `run`/`tmp` for tools it starts.
const DIRS: [&str; 5] = ["dev", "proc", "sys", "run", "tmp"];

/// What goes into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The hopboot binary, stored as `/init`.
    pub binary: PathBuf,
    /// A `/lib/modules/<KVER>` tree to take modules from; required if `modules` is not empty.
    pub modules_dir: Option<PathBuf>,
    /// Modules to ship, with their dependencies (`-` and `_` are equivalent). hopboot loads these
    /// at start, whether or not a device needs them (see [`ALWAYS_LOAD_FILE`]).
    pub modules: Vec<String>,
    /// Filesystem modules to ship for hopboot's read-only kernel mounts (`xfs`, `btrfs`, `ext4`
    /// …), with their dependencies and a crc32c implementation. Unlike `modules` they are not
    /// loaded at start: hopboot loads one when a partition of that type needs mounting.
    pub filesystems: Vec<String>,
    /// Extra files: (source on the host, destination path in the image).
    pub extra: Vec<(PathBuf, String)>,
    /// How the archive is compressed.
    pub compression: Compression,
    /// Modification time of every entry (normally `SOURCE_DATE_EPOCH`).
    pub mtime: u32,
    /// Where the image is written; replaced atomically.
    pub output: PathBuf,
}

/// Sizes of what [`build`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Size of the hopboot binary.
    pub binary_bytes: u64,
    /// Total size of the shipped modules, decompressed.
    pub modules_bytes: u64,
    /// Canonical names of the shipped modules, in load order.
    pub module_names: Vec<String>,
    /// Number of lines written to `modules.alias`.
    pub alias_count: usize,
    /// Size of the cpio archive.
    pub uncompressed_bytes: u64,
    /// Size of the output file.
    pub compressed_bytes: u64,
}

/// Builds the image described by `opts` and writes it to `opts.output`.
///
/// The image holds `init` (the binary, mode 0755), the directories `dev proc sys run tmp`,
/// `dev/console` (char device 5:1, mode 0600), the requested modules and their dependencies under
/// `lib/modules/<KVER>/` (decompressed, with `modules.dep`, `modules.order` and `modules.alias`
/// describing exactly them, and [`ALWAYS_LOAD_FILE`]) and the extra files, with their host
/// permission bits.
pub fn build(opts: &Options) -> Result<Report> {
    build_with_profile(opts, None)
}

/// Like [`build`], also shipping the modules of `profile` (and their dependencies), which hopboot
/// loads only for matching devices.
pub fn build_with_profile(opts: &Options, profile: Option<Profile>) -> Result<Report> {
    let binary = fs::read(&opts.binary).with_context(|| format!("reading hopboot binary {}", opts.binary.display()))?;
    let mut report = Report {
        binary_bytes: len_u64(&binary),
        ..Report::default()
    };
    check_size(&opts.binary, &binary)?;
    let mut archive = cpio::Archive::new();
    archive.add_file("init", binary, 0o755);
    for dir in DIRS {
        archive.add_dir(dir, 0o755);
    }
    // The kernel opens /dev/console for init's stdio before init runs; without the node, PID 1
    // starts with no stdin/stdout/stderr until it mounts devtmpfs.
    archive.add_char_dev("dev/console", 0o600, 5, 1);

    let none = opts.modules.is_empty() && opts.filesystems.is_empty() && profile.is_none();
    match (&opts.modules_dir, none) {
        (Some(dir), false) => add_modules(&mut archive, dir, opts, profile, &mut report)?,
        (None, false) => bail!(
            "modules requested ({}{}) but no module directory given",
            opts.modules.join(", "),
            profile.map(|p| format!(" profile {p}")).unwrap_or_default()
        ),
        (_, true) => {}
    }

    for (src, dest) in &opts.extra {
        let dest_norm = cpio::normalize_path(dest)?;
        if archive.contains(&dest_norm) {
            bail!("extra file {}: {dest_norm:?} is already in the image", src.display());
        }
        let meta = fs::metadata(src).with_context(|| format!("extra file {}", src.display()))?;
        if !meta.is_file() {
            bail!("extra file {}: not a regular file", src.display());
        }
        let data = fs::read(src).with_context(|| format!("reading extra file {}", src.display()))?;
        check_size(src, &data)?;
        if dest_norm == PASSWORD_PATH {
            // Stored as the one canonical line, readable by root only.
            let hash = password_hash(&data).with_context(|| format!("password hash {}", src.display()))?;
            archive.add_file(&dest_norm, format!("{hash}\n").into_bytes(), 0o600);
            continue;
        }
        archive.add_file(&dest_norm, data, meta.permissions().mode() & 0o7777);
    }

    let cpio = archive.to_newc(opts.mtime);
    report.uncompressed_bytes = len_u64(&cpio);
    let image = compress(&cpio, opts.compression).with_context(|| format!("{} compression", opts.compression))?;
    report.compressed_bytes = len_u64(&image);
    write_atomic(&opts.output, &image)?;
    Ok(report)
}

/// Resolves the modules to ship from `dir` (`names`, then those of `profile`) and adds them, with
/// `modules.dep`, `modules.order`, `modules.alias` and the always-load list (`names`).
fn add_modules(
    archive: &mut cpio::Archive,
    dir: &Path,
    opts: &Options,
    profile: Option<Profile>,
    report: &mut Report,
) -> Result<()> {
    let names = &opts.modules;
    let tree = modules::ModuleTree::open(dir)?;
    let mut wanted = names.to_vec();
    if let Some(p) = profile {
        wanted.extend(p.modules(&tree));
    }
    if !opts.filesystems.is_empty() {
        // ext4, xfs and btrfs ask the kernel for "crc32c", which it would load through modprobe.
        wanted.extend(["crc32c_generic".to_string()].into_iter().filter(|m| tree.contains(m)));
        wanted.extend(opts.filesystems.iter().cloned());
    }
    let resolved = tree.resolve(&wanted)?;
    let base = format!("lib/modules/{}", tree.kver());
    // The kver lands in a path: make sure it is one component.
    cpio::normalize_path(&base)
        .ok()
        .filter(|p| *p == base)
        .with_context(|| format!("unusable kernel version {:?}", tree.kver()))?;
    let mut aliases = Vec::with_capacity(resolved.len());
    for m in &resolved {
        let data = tree.read(m)?;
        check_size(&tree.dir().join(&m.source), &data)?;
        let patterns =
            modules::modinfo_aliases(&data).with_context(|| format!("{}", tree.dir().join(&m.source).display()))?;
        report.alias_count += patterns.len();
        aliases.push((m.name.clone(), patterns));
        report.modules_bytes += len_u64(&data);
        archive.add_file(&format!("{base}/{}", m.path), data, 0o644);
    }
    let dep = modules::modules_dep(&resolved)?;
    archive.add_file(&format!("{base}/modules.dep"), dep.into_bytes(), 0o644);
    let order = modules::modules_order(&resolved);
    archive.add_file(&format!("{base}/modules.order"), order.into_bytes(), 0o644);
    let alias = modules::modules_alias(&aliases);
    archive.add_file(&format!("{base}/modules.alias"), alias.into_bytes(), 0o644);
    let mut always: Vec<String> = Vec::new();
    for n in names
        .iter()
        .map(|n| modules::normalize_name(n.trim()))
        .filter(|n| !n.is_empty())
    {
        if !always.contains(&n) {
            always.push(n);
        }
    }
    let always: String = always.iter().map(|n| format!("{n}\n")).collect();
    archive.add_file(&format!("{base}/{ALWAYS_LOAD_FILE}"), always.into_bytes(), 0o644);
    report.module_names = resolved.into_iter().map(|m| m.name).collect();
    Ok(())
}

fn len_u64(data: &[u8]) -> u64 {
    // usize is at most 64 bits on every target Rust supports.
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

/// newc stores sizes in 32 bits.
/// The hash in a `--password-hash` file, or why it is not one.
fn password_hash(data: &[u8]) -> Result<hopboot_password::Stored> {
    let text = std::str::from_utf8(data).ok();
    text.and_then(|t| hopboot_password::Stored::parse(t).ok())
        .ok_or_else(|| {
            let why = match text.map(hopboot_password::Stored::parse) {
                Some(Err(e)) => e.to_string(),
                _ => "not text".into(),
            };
            anyhow::anyhow!("{why}; make one with `hopboot-image-build --hash-password`, which reads the password")
        })
}

/// Reads a password from `input` and hashes it with a random salt and `iterations`
/// (`--hash-password`). From a terminal (`confirm`) it is typed twice and must match;
/// otherwise the first line is the password. The trailing newline is not part of it.
pub fn hash_password(
    input: &mut dyn std::io::BufRead,
    prompt: &mut dyn Write,
    confirm: bool,
    iterations: u32,
) -> Result<hopboot_password::Stored> {
    let mut read = |label: &str| -> Result<Vec<u8>> {
        if confirm {
            write!(prompt, "{label}")?;
            prompt.flush()?;
        }
        let mut line = Vec::new();
        input.read_until(b'\n', &mut line).context("reading the password")?;
        if confirm {
            // The Enter typed was not echoed either.
            writeln!(prompt)?;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Ok(line)
    };
    let mut first = read("Menu password: ")?;
    let mut again = if confirm { read("Again: ")? } else { first.clone() };
    let same = first == again;
    again.fill(0);
    let result = if first.is_empty() {
        Err(anyhow::anyhow!("no password given (an empty one would lock nothing)"))
    } else if !same {
        Err(anyhow::anyhow!("the two passwords differ"))
    } else {
        let salt = hopboot_password::random_bytes(hopboot_password::SALT_LEN).context("reading /dev/urandom")?;
        hopboot_password::Stored::new(&first, &salt, iterations).map_err(anyhow::Error::from)
    };
    first.fill(0);
    result
}

fn check_size(path: &Path, data: &[u8]) -> Result<()> {
    if u32::try_from(data.len()).is_err() {
        bail!(
            "{}: {} bytes is too big for a cpio archive (4 GiB max)",
            path.display(),
            data.len()
        );
    }
    Ok(())
}

/// Writes `data` to a temporary file next to `path` and renames it over `path`, so a reader never
/// sees a half-written image. Creates the parent directory if needed.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let file_name = path
        .file_name()
        .with_context(|| format!("output {}: not a file path", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = parent.join(tmp_name);
    let result = (|| {
        let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(data)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
