//! The firmware payload: one bzImage, built from Debian's `linux-source-6.1`, with hopboot's
//! initramfs built in (`CONFIG_INITRAMFS_SOURCE`) and every driver built in.
//!
//! The kernel configuration is `make tinyconfig` plus a fragment kept in the repository
//! (`payload/kernel.config`), where every option has a comment line above it saying why.
//! [`parse_fragment`] refuses an option without one; after `olddefconfig`, [`check_config`]
//! names every option of the fragment the final `.config` does not have (mistyped, or a
//! dependency missing) and [`refusals`] refuses a kernel hopboot cannot work in (no console, no
//! kexec, no built-in initramfs, no EFI stub).
//!
//! The extracted source and the build tree are cached under the work directory, keyed by the
//! source tarball and the fragment: a second build only relinks the new initramfs in. The build
//! is reproducible: fixed `KBUILD_BUILD_TIMESTAMP`/`USER`/`HOST`/`VERSION`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// Debian's kernel source tarball, from the package `linux-source-6.1`.
pub const DEFAULT_SOURCE: &str = "/usr/src/linux-source-6.1.tar.xz";
/// The Debian package that holds [`DEFAULT_SOURCE`].
pub const SOURCE_PACKAGE: &str = "linux-source-6.1";
/// The size budget of the whole payload (kernel and built-in hopboot): 3 MiB.
pub const DEFAULT_BUDGET: u64 = 3 << 20;
/// Bumped when the way the tree is configured or built changes, so old caches are not reused.
const RECIPE: &str = "hopboot-payload-1";
/// The date every build claims (`uname -v`), so that builds are reproducible.
const BUILD_TIMESTAMP: &str = "Thu Jan  1 00:00:00 UTC 1970";

/// A value in a kernel configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `# CONFIG_X is not set`, or absent from a `.config`.
    NotSet,
    /// `CONFIG_X=…` (`y`, `m`, a number, or a quoted string, as written).
    Set(String),
}

/// An option as a `.config` line writes it.
fn show(name: &str, value: &Value) -> String {
    match value {
        Value::NotSet => format!("# {name} is not set"),
        Value::Set(v) => format!("{name}={v}"),
    }
}

/// One option of the fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// `CONFIG_…`.
    pub name: String,
    /// What the fragment asks for.
    pub value: Value,
    /// Line number in the fragment (from 1).
    pub line: usize,
}

/// Reads one line of a kernel configuration: `CONFIG_X=v` or `# CONFIG_X is not set`.
fn config_line(line: &str) -> Option<(&str, Value)> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("# ") {
        let name = rest.strip_suffix(" is not set")?;
        return is_option_name(name).then_some((name, Value::NotSet));
    }
    let (name, value) = line.split_once('=')?;
    (is_option_name(name) && !value.is_empty()).then(|| (name, Value::Set(value.to_string())))
}

fn is_option_name(name: &str) -> bool {
    name.strip_prefix("CONFIG_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// Parses the fragment. Every option (or run of options) must have a comment line right above
/// it saying why; an option set twice, or a line that is neither, is an error.
pub fn parse_fragment(text: &str) -> Result<Vec<Setting>> {
    let mut out: Vec<Setting> = Vec::new();
    // Whether the previous line was a reason or an option under one.
    let mut explained = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        if line.is_empty() {
            explained = false;
            continue;
        }
        if let Some((name, value)) = config_line(line) {
            ensure!(
                explained,
                "line {n}: {name} has no reason: write a comment line above it saying why it is needed"
            );
            if let Some(prev) = out.iter().find(|s| s.name == name) {
                bail!("line {n}: {name} is already set on line {}", prev.line);
            }
            out.push(Setting {
                name: name.to_string(),
                value,
                line: n,
            });
            continue;
        }
        if line.starts_with("##") {
            // A section title, not a reason.
            explained = false;
        } else if let Some(c) = line.strip_prefix('#') {
            if c.trim_start().starts_with("CONFIG") {
                bail!("line {n}: {line:?} is not an option (write `# CONFIG_X is not set`)");
            }
            explained = true;
        } else {
            bail!("line {n}: {line:?} is not an option (CONFIG_X=value) nor a comment");
        }
    }
    Ok(out)
}

/// Parses a `.config`.
pub fn parse_config(text: &str) -> HashMap<String, Value> {
    text.lines()
        .filter_map(config_line)
        .map(|(n, v)| (n.to_string(), v))
        .collect()
}

fn get<'a>(config: &'a HashMap<String, Value>, name: &str) -> &'a Value {
    config.get(name).unwrap_or(&Value::NotSet)
}

fn is_y(config: &HashMap<String, Value>, name: &str) -> bool {
    *get(config, name) == Value::Set("y".into())
}

/// Each option of `fragment` that the final configuration does not have as asked, in words.
pub fn check_config(fragment: &[Setting], config: &HashMap<String, Value>) -> Vec<String> {
    fragment
        .iter()
        .filter(|s| *get(config, &s.name) != s.value)
        .map(|s| {
            let have = get(config, &s.name);
            let why = if config.contains_key(&s.name) {
                "a dependency or a `select` decided otherwise"
            } else {
                "mistyped, or a dependency of it is not set"
            };
            format!(
                "line {}: {} was asked, the final .config has {} ({why})",
                s.line,
                show(&s.name, &s.value),
                show(&s.name, have)
            )
        })
        .collect()
}

/// What makes a kernel useless as hopboot's payload, whatever the fragment says.
pub fn refusals(config: &HashMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            out.push(what.to_string());
        }
    };
    need(
        is_y(config, "CONFIG_PRINTK") && is_y(config, "CONFIG_TTY"),
        "no console: CONFIG_PRINTK and CONFIG_TTY are needed",
    );
    need(
        is_y(config, "CONFIG_SERIAL_8250_CONSOLE") || is_y(config, "CONFIG_VT_CONSOLE"),
        "no console: neither CONFIG_SERIAL_8250_CONSOLE nor CONFIG_VT_CONSOLE is set",
    );
    need(
        is_y(config, "CONFIG_KEXEC") && is_y(config, "CONFIG_KEXEC_FILE"),
        "no kexec: CONFIG_KEXEC and CONFIG_KEXEC_FILE are both needed (hopboot's loader and the kernel's)",
    );
    need(
        is_y(config, "CONFIG_FIRMWARE_MEMMAP"),
        "no kexec: CONFIG_FIRMWARE_MEMMAP is needed (hopboot's kexec_load path reads /sys/firmware/memmap)",
    );
    let initramfs = matches!(get(config, "CONFIG_INITRAMFS_SOURCE"), Value::Set(v) if !v.trim_matches('"').is_empty());
    need(
        is_y(config, "CONFIG_BLK_DEV_INITRD") && initramfs,
        "no hopboot: CONFIG_BLK_DEV_INITRD and a CONFIG_INITRAMFS_SOURCE are needed",
    );
    for (opt, what) in [
        (
            "CONFIG_BINFMT_ELF",
            "no hopboot: CONFIG_BINFMT_ELF is needed to run /init",
        ),
        (
            "CONFIG_DEVTMPFS",
            "no disks: CONFIG_DEVTMPFS is needed (hopboot mounts it)",
        ),
        ("CONFIG_PROC_FS", "no hopboot: CONFIG_PROC_FS is needed"),
        ("CONFIG_SYSFS", "no hopboot: CONFIG_SYSFS is needed"),
        ("CONFIG_FUTEX", "no hopboot: CONFIG_FUTEX is needed (threads)"),
        ("CONFIG_EFI_STUB", "not a UEFI application: CONFIG_EFI_STUB is needed"),
    ] {
        need(is_y(config, opt), what);
    }
    out
}

/// What to build.
#[derive(Clone, Debug)]
pub struct PayloadOptions {
    /// `linux-source-6.1.tar.xz`.
    pub source: PathBuf,
    /// The configuration fragment (`payload/kernel.config`).
    pub fragment: PathBuf,
    /// The uncompressed initramfs to build in.
    pub initramfs: PathBuf,
    /// Where the source and build trees are cached.
    pub work: PathBuf,
    /// The payload to write.
    pub output: PathBuf,
    /// The size budget in bytes.
    pub budget: u64,
    /// `make -j`.
    pub jobs: usize,
}

/// What was built.
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    /// The whole payload (the bzImage).
    pub payload_bytes: u64,
    /// The initramfs as built in, uncompressed.
    pub initramfs_bytes: u64,
    /// The initramfs' share of the payload: its size compressed alone the way the kernel image
    /// is (an estimate: the image is compressed as one stream).
    pub initramfs_share: u64,
    /// The rest: the kernel's share.
    pub kernel_share: u64,
    /// The kernel's compression (`xz`, `zstd`, `lz4`, `gzip` …).
    pub compression: String,
    /// The budget.
    pub budget: u64,
    /// The cache key of the build tree.
    pub key: String,
    /// Whether the build tree came from the cache.
    pub cached: bool,
    /// Seconds `make` took.
    pub make_seconds: f64,
}

impl Breakdown {
    /// The breakdown as a table.
    pub fn table(&self) -> String {
        let pct = |n: u64| n as f64 * 100.0 / self.payload_bytes.max(1) as f64;
        format!(
            "payload ({}-compressed bzImage)  {:>9} bytes  (budget {} bytes, {:.0}% used)\n  \
             kernel share                 {:>9} bytes  {:>5.1}%\n  \
             hopboot initramfs share      {:>9} bytes  {:>5.1}%  ({} bytes uncompressed)\n",
            self.compression,
            self.payload_bytes,
            self.budget,
            self.payload_bytes as f64 * 100.0 / self.budget.max(1) as f64,
            self.kernel_share,
            pct(self.kernel_share),
            self.initramfs_share,
            pct(self.initramfs_share),
            self.initramfs_bytes,
        )
    }

    /// The breakdown as JSON (`target/payload/payload.json`, read by `make bench`).
    pub fn json(&self) -> String {
        format!(
            "{{\n  \"payload_bytes\": {},\n  \"kernel_share_bytes\": {},\n  \"initramfs_share_bytes\": {},\n  \
             \"initramfs_bytes\": {},\n  \"compression\": \"{}\",\n  \"budget_bytes\": {},\n  \"key\": \"{}\"\n}}\n",
            self.payload_bytes,
            self.kernel_share,
            self.initramfs_share,
            self.initramfs_bytes,
            self.compression,
            self.budget,
            self.key
        )
    }
}

/// The kernel compression a configuration asks for.
pub fn compression(config: &HashMap<String, Value>) -> &'static str {
    [
        ("CONFIG_KERNEL_XZ", "xz"),
        ("CONFIG_KERNEL_ZSTD", "zstd"),
        ("CONFIG_KERNEL_LZ4", "lz4"),
        ("CONFIG_KERNEL_LZO", "lzo"),
        ("CONFIG_KERNEL_LZMA", "lzma"),
        ("CONFIG_KERNEL_BZIP2", "bzip2"),
        ("CONFIG_KERNEL_GZIP", "gzip"),
    ]
    .into_iter()
    .find(|(o, _)| is_y(config, o))
    .map_or("gzip", |(_, n)| n)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let st = cmd.status().with_context(|| format!("{what}: cannot start {cmd:?}"))?;
    ensure!(st.success(), "{what} failed ({st}): {cmd:?}");
    Ok(())
}

fn output(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("{what}: cannot start {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(out.stdout)
}

/// SHA-256 of files, through coreutils' `sha256sum`, as one hex string.
fn digest(files: &[&Path], extra: &str) -> Result<String> {
    let out = output(Command::new("sha256sum").args(files), "sha256sum")?;
    let mut all = String::from_utf8_lossy(&out).into_owned();
    for f in files {
        // The digests carry the paths; keep only the digests.
        all = all.replace(&*f.to_string_lossy(), "");
    }
    all.push_str(extra);
    let out = output(
        Command::new("sh").args(["-c", "printf %s \"$1\" | sha256sum", "sh", &all]),
        "sha256sum",
    )?;
    Ok(String::from_utf8_lossy(&out).chars().take(16).collect())
}

/// Writes `data` to `path` unless it already holds exactly that (so `make` sees no change).
fn write_if_changed(path: &Path, data: &[u8]) -> Result<()> {
    if fs::read(path).ok().as_deref() == Some(data) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The environment that makes a kernel build reproducible.
pub fn reproducible_env(cmd: &mut Command) -> &mut Command {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into());
    cmd.env("KBUILD_BUILD_TIMESTAMP", BUILD_TIMESTAMP)
        .env("KBUILD_BUILD_USER", "hopboot")
        .env("KBUILD_BUILD_HOST", "hopboot")
        .env("KBUILD_BUILD_VERSION", "1")
        .env("SOURCE_DATE_EPOCH", epoch)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
}

/// Extracts the source tarball under `work` once; returns the tree.
fn source_tree(opts: &PayloadOptions, key: &str) -> Result<PathBuf> {
    let tree = opts.work.join(format!("src-{key}"));
    if tree.join(".hopboot-extracted").is_file() {
        return Ok(tree);
    }
    let tmp = opts.work.join(format!("src-{key}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    eprintln!("payload: extracting {}", opts.source.display());
    run(
        Command::new("tar")
            .arg("-xJf")
            .arg(&opts.source)
            .arg("-C")
            .arg(&tmp)
            .arg("--strip-components=1"),
        "extracting the kernel source",
    )?;
    fs::write(tmp.join(".hopboot-extracted"), b"")?;
    let _ = fs::remove_dir_all(&tree);
    fs::rename(&tmp, &tree)?;
    Ok(tree)
}

fn make(src: &Path, build: &Path, jobs: usize, targets: &[&str], log: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(src)
        .arg(format!("O={}", build.display()))
        .arg("ARCH=x86_64")
        .arg(format!("-j{jobs}"))
        .args(targets);
    reproducible_env(&mut cmd);
    match log {
        None => {
            // Quiet unless it fails (olddefconfig warns about every option the fragment sets).
            let out = cmd.output().context("cannot start make")?;
            ensure!(
                out.status.success(),
                "make {} failed ({}):\n{}{}",
                targets.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(())
        }
        Some(log) => {
            let f = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
            let st = cmd
                .stdout(f.try_clone()?)
                .stderr(f)
                .status()
                .context("cannot start make")?;
            if !st.success() {
                let text = fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!(
                    "the kernel build failed ({st}); the last lines of {}:\n{}",
                    log.display(),
                    tail.join("\n")
                );
            }
            Ok(())
        }
    }
}

/// Configures the build tree: tinyconfig, the fragment, the initramfs, olddefconfig; then checks.
fn configure(src: &Path, build: &Path, fragment: &[Setting], initramfs: &Path, jobs: usize) -> Result<()> {
    make(src, build, jobs, &["tinyconfig"], None)?;
    let mut config = fs::read_to_string(build.join(".config")).context("reading tinyconfig's .config")?;
    config.push_str("\n# hopboot payload fragment\n");
    for s in fragment {
        config.push_str(&show(&s.name, &s.value));
        config.push('\n');
    }
    config.push_str(&format!("CONFIG_INITRAMFS_SOURCE=\"{}\"\n", initramfs.display()));
    config.push_str("CONFIG_INITRAMFS_COMPRESSION_NONE=y\n");
    fs::write(build.join(".config"), config)?;
    make(src, build, jobs, &["olddefconfig"], None)
}

/// Builds the payload (see the module documentation).
pub fn build_payload(opts: &PayloadOptions) -> Result<Breakdown> {
    if !opts.source.is_file() {
        bail!(
            "{} does not exist: install the Debian package {SOURCE_PACKAGE} \
             (`apt-get install {SOURCE_PACKAGE}`, or `make deps` as root)",
            opts.source.display()
        );
    }
    let fragment_text =
        fs::read_to_string(&opts.fragment).with_context(|| format!("reading {}", opts.fragment.display()))?;
    let fragment = parse_fragment(&fragment_text).with_context(|| format!("in {}", opts.fragment.display()))?;
    let cpio = fs::read(&opts.initramfs).with_context(|| format!("reading {}", opts.initramfs.display()))?;
    ensure!(
        cpio.starts_with(b"070701"),
        "{} is not an uncompressed newc cpio archive (build it with --compression none)",
        opts.initramfs.display()
    );
    fs::create_dir_all(&opts.work).with_context(|| format!("creating {}", opts.work.display()))?;
    let work = fs::canonicalize(&opts.work)?;

    let src_key = digest(&[&opts.source], RECIPE)?;
    let key = digest(&[&opts.source, &opts.fragment], RECIPE)?;
    let src = source_tree(opts, &src_key)?;
    let build = work.join(format!("build-{key}"));
    let configured = build.join(".hopboot-configured");
    let cached = configured.is_file();
    let initramfs = build.join("hopboot-initramfs.cpio");
    if !cached {
        let _ = fs::remove_dir_all(&build);
        fs::create_dir_all(&build)?;
        write_if_changed(&initramfs, &cpio)?;
        eprintln!(
            "payload: configuring {} (tinyconfig + {})",
            build.display(),
            opts.fragment.display()
        );
        configure(&src, &build, &fragment, &initramfs, opts.jobs)?;
    } else {
        write_if_changed(&initramfs, &cpio)?;
    }
    let config = parse_config(&fs::read_to_string(build.join(".config"))?);
    let mut problems = check_config(&fragment, &config);
    problems.extend(refusals(&config));
    if !problems.is_empty() {
        let _ = fs::remove_file(&configured);
        bail!(
            "the kernel configuration is not what {} asks for:\n  {}",
            opts.fragment.display(),
            problems.join("\n  ")
        );
    }
    fs::write(&configured, b"")?;

    eprintln!(
        "payload: building the kernel in {} ({}; log: build.log)",
        build.display(),
        if cached {
            "cached tree, relinking what changed"
        } else {
            "first build of this configuration"
        }
    );
    let start = std::time::Instant::now();
    make(&src, &build, opts.jobs, &["bzImage"], Some(&build.join("build.log")))?;
    let make_seconds = start.elapsed().as_secs_f64();

    let image = fs::read(build.join("arch/x86/boot/bzImage")).context("reading the built bzImage")?;
    let comp = compression(&config).to_string();
    let initramfs_share = compressed_size(&cpio, &comp)?;
    let payload_bytes = image.len() as u64;
    let breakdown = Breakdown {
        payload_bytes,
        initramfs_bytes: cpio.len() as u64,
        initramfs_share,
        kernel_share: payload_bytes.saturating_sub(initramfs_share),
        compression: comp,
        budget: opts.budget,
        key,
        cached,
        make_seconds,
    };
    if payload_bytes > opts.budget {
        bail!(
            "the payload is {} bytes, over its budget of {} bytes by {}:\n{}",
            payload_bytes,
            opts.budget,
            payload_bytes - opts.budget,
            breakdown.table()
        );
    }
    if let Some(dir) = opts.output.parent() {
        fs::create_dir_all(dir)?;
    }
    write_if_changed(&opts.output, &image)?;
    let json = opts.output.with_extension("json");
    fs::File::create(&json)?.write_all(breakdown.json().as_bytes())?;
    Ok(breakdown)
}

/// `data`'s size compressed the way the kernel compresses its image.
fn compressed_size(data: &[u8], compression: &str) -> Result<u64> {
    let args: &[&str] = match compression {
        "xz" => &["xz", "--check=crc32", "--x86", "--lzma2=,dict=32MiB", "-c"],
        "zstd" => &["zstd", "-22", "--ultra", "-c"],
        "lz4" => &["lz4", "-l", "-9", "-c"],
        "gzip" => &["gzip", "-n", "-9", "-c"],
        other => bail!("no size estimate for {other} compression"),
    };
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", args[0]))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    ensure!(out.status.success(), "{} failed", args[0]);
    Ok(out.stdout.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAGMENT: &str = "\
# A title comment of the file.

## Section
# Why A.
CONFIG_A=y
# Why B and C (a run under one reason).
CONFIG_B=\"x y\"
# CONFIG_C is not set
";

    #[test]
    fn fragment_options_with_reasons() {
        let f = parse_fragment(FRAGMENT).unwrap();
        assert_eq!(
            f,
            [
                Setting {
                    name: "CONFIG_A".into(),
                    value: Value::Set("y".into()),
                    line: 5
                },
                Setting {
                    name: "CONFIG_B".into(),
                    value: Value::Set("\"x y\"".into()),
                    line: 7
                },
                Setting {
                    name: "CONFIG_C".into(),
                    value: Value::NotSet,
                    line: 8
                },
            ]
        );
    }

    #[test]
    fn an_option_without_a_reason_is_refused() {
        let e = parse_fragment("## Section\nCONFIG_A=y\n").unwrap_err().to_string();
        assert!(e.contains("line 2: CONFIG_A has no reason"), "{e}");
        let e = parse_fragment("# Why.\nCONFIG_A=y\n\nCONFIG_B=y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4: CONFIG_B has no reason"), "{e}");
    }

    #[test]
    fn malformed_and_duplicate_lines_are_refused() {
        let e = parse_fragment("# Why.\nCONFIG_A=y\nCONFIG_A=n\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3: CONFIG_A is already set on line 2"), "{e}");
        let e = parse_fragment("# Why.\nCONFIG_A\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_fragment("# Why.\n# CONFIG_A is off\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_fragment("# Why.\nKEXEC=y\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn the_final_config_is_checked_option_by_option() {
        let f = parse_fragment("# Why.\nCONFIG_A=y\nCONFIG_TYPO=y\nCONFIG_B=y\n# CONFIG_C is not set\n").unwrap();
        let c = parse_config("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_X=y\n");
        let p = check_config(&f, &c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("line 3: CONFIG_TYPO=y was asked") && p[0].contains("mistyped"),
            "{p:?}"
        );
        assert!(p[1].contains("line 4: CONFIG_B=y was asked, the final .config has # CONFIG_B is not set"));
    }

    #[test]
    fn a_kernel_without_console_or_kexec_is_refused() {
        let good = "CONFIG_PRINTK=y\nCONFIG_TTY=y\nCONFIG_SERIAL_8250_CONSOLE=y\nCONFIG_KEXEC=y\n\
                    CONFIG_KEXEC_FILE=y\nCONFIG_FIRMWARE_MEMMAP=y\nCONFIG_BLK_DEV_INITRD=y\n\
                    CONFIG_INITRAMFS_SOURCE=\"/x.cpio\"\nCONFIG_BINFMT_ELF=y\nCONFIG_DEVTMPFS=y\n\
                    CONFIG_PROC_FS=y\nCONFIG_SYSFS=y\nCONFIG_FUTEX=y\nCONFIG_EFI_STUB=y\n";
        assert_eq!(refusals(&parse_config(good)), Vec::<String>::new());
        let no_console = good.replace("CONFIG_SERIAL_8250_CONSOLE=y", "");
        let r = refusals(&parse_config(&no_console));
        assert!(r.len() == 1 && r[0].starts_with("no console"), "{r:?}");
        let no_kexec = good.replace("CONFIG_KEXEC=y", "# CONFIG_KEXEC is not set");
        let r = refusals(&parse_config(&no_kexec));
        assert!(r.len() == 1 && r[0].starts_with("no kexec"), "{r:?}");
        let no_initramfs = good.replace("\"/x.cpio\"", "\"\"");
        let r = refusals(&parse_config(&no_initramfs));
        assert!(r.len() == 1 && r[0].contains("INITRAMFS_SOURCE"), "{r:?}");
    }

    #[test]
    fn the_repository_fragment_parses_and_asks_for_what_hopboot_needs() {
        let text = include_str!("../../payload/kernel.config");
        let f = parse_fragment(text).unwrap();
        let mut config: HashMap<String, Value> = f.iter().map(|s| (s.name.clone(), s.value.clone())).collect();
        config.insert("CONFIG_INITRAMFS_SOURCE".into(), Value::Set("\"/x\"".into()));
        assert_eq!(refusals(&config), Vec::<String>::new());
        assert_eq!(compression(&config), "zstd");
    }

    #[test]
    fn a_missing_source_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let e = build_payload(&PayloadOptions {
            source: dir.path().join("linux-source-6.1.tar.xz"),
            fragment: "x".into(),
            initramfs: "y".into(),
            work: dir.path().into(),
            output: dir.path().join("out"),
            budget: DEFAULT_BUDGET,
            jobs: 1,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("apt-get install linux-source-6.1"), "{e}");
    }
}
