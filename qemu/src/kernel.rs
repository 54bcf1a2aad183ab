//! A real Debian kernel (vmlinuz + modules) for the QEMU tests, fetched with
//! `apt-get download` and cached under `target/kernel/`.
//!
//! Cache layout (`target/kernel/`):
//!
//! ```text
//! .lock                 flock()ed around every fetch: test processes run in parallel
//! current               the version last fetched, e.g. "6.1.0-56-amd64"
//! <version>/            `dpkg-deb -x` of linux-image-<version>
//! <version>/.hopboot-extracted   stamp written once the extraction is complete
//! debs/                 downloads in progress
//! ```
//!
//! Once `current` and its stamp exist, [`debian_kernel`] is instant and offline.
//! `HOPBOOT_KERNEL_REFRESH=1` asks apt again (for a newer kernel); if apt fails, any
//! cached kernel is used. `HOPBOOT_KERNEL_DIR` skips apt entirely.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::paths;
use crate::version;

/// Env var naming an unpacked kernel tree (`boot/vmlinuz-*`, `lib/modules/*`) to use
/// instead of Debian's.
pub const KERNEL_DIR_ENV: &str = "HOPBOOT_KERNEL_DIR";
/// Env var that, set to `1`, makes [`debian_kernel`] ask apt for a newer kernel.
pub const REFRESH_ENV: &str = "HOPBOOT_KERNEL_REFRESH";
/// The Debian metapackage that depends on the current kernel package.
pub const META_PACKAGE: &str = "linux-image-amd64";

const STAMP: &str = ".hopboot-extracted";
const CURRENT: &str = "current";

/// A kernel image with its modules, as unpacked from a Debian package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// The kernel release, as in `uname -r`: `6.1.0-56-amd64`.
    pub version: String,
    /// The bzImage, `…/boot/vmlinuz-<version>`.
    pub vmlinuz: PathBuf,
    /// `…/lib/modules/<version>`, with `modules.dep` and the `.ko` files.
    pub modules_dir: PathBuf,
}

impl Kernel {
    /// Reads an unpacked kernel tree: the newest `ROOT/boot/vmlinuz-<version>` and its
    /// `ROOT/lib/modules/<version>` (or `ROOT/usr/lib/modules/<version>`).
    pub fn from_dir(root: &Path) -> Result<Kernel> {
        let boot = root.join("boot");
        let entries = fs::read_dir(&boot).with_context(|| format!("reading {}", boot.display()))?;
        let mut versions = Vec::new();
        for entry in entries {
            let name = entry
                .with_context(|| format!("reading {}", boot.display()))?
                .file_name();
            if let Some(v) = name.to_str().and_then(|n| n.strip_prefix("vmlinuz-")) {
                versions.push(v.to_owned());
            }
        }
        let version = versions
            .into_iter()
            .max_by(|a, b| version::compare(a, b))
            .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
        let modules_dir = ["lib/modules", "usr/lib/modules"]
            .iter()
            .map(|d| root.join(d).join(&version))
            .find(|d| d.is_dir())
            .with_context(|| {
                format!(
                    "no lib/modules/{version} in {} for boot/vmlinuz-{version}",
                    root.display()
                )
            })?;
        Ok(Kernel {
            vmlinuz: boot.join(format!("vmlinuz-{version}")),
            modules_dir,
            version,
        })
    }
}

/// The Debian kernel the QEMU tests boot, from `$HOPBOOT_KERNEL_DIR` or the cache in
/// `<target dir>/kernel/` (fetched with apt on first use).
pub fn debian_kernel() -> Result<Kernel> {
    if let Some(dir) = std::env::var_os(KERNEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return Kernel::from_dir(Path::new(&dir)).with_context(|| format!("using {KERNEL_DIR_ENV}"));
    }
    let refresh = std::env::var_os(REFRESH_ENV).is_some_and(|v| v == "1");
    debian_kernel_in(&paths::target_dir()?.join("kernel"), refresh)
}

/// [`debian_kernel`] with an explicit cache directory; `refresh` asks apt even when a
/// kernel is cached.
pub fn debian_kernel_in(cache: &Path, refresh: bool) -> Result<Kernel> {
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let lock_path = cache.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // Blocks while another process fetches; released when `lock` is dropped.
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    if !refresh {
        if let Some(kernel) = current(cache)? {
            return Ok(kernel);
        }
    }
    match fetch(cache) {
        Ok(kernel) => Ok(kernel),
        Err(err) => match newest_cached(cache) {
            Some(kernel) => {
                eprintln!(
                    "hopboot-qemu: fetching the Debian kernel failed ({err:#}); using cached {}",
                    kernel.version
                );
                Ok(kernel)
            }
            None => Err(err.context(format!(
                "fetching the Debian kernel into {} (needs Debian's apt mirror; `apt-get update` may help, \
                 or point {KERNEL_DIR_ENV} at an unpacked kernel)",
                cache.display()
            ))),
        },
    }
}

/// The kernel named by `cache/current`, if it was completely extracted.
fn current(cache: &Path) -> Result<Option<Kernel>> {
    let Ok(text) = fs::read_to_string(cache.join(CURRENT)) else {
        return Ok(None);
    };
    let version = text.trim();
    if version.is_empty() || !cache.join(version).join(STAMP).is_file() {
        return Ok(None);
    }
    Kernel::from_dir(&cache.join(version)).map(Some)
}

/// Any completely extracted kernel in the cache, newest first.
fn newest_cached(cache: &Path) -> Option<Kernel> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(STAMP).is_file())
        .collect();
    dirs.sort_by(|a, b| {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        version::compare(&name(a), &name(b))
    });
    dirs.iter().rev().find_map(|d| Kernel::from_dir(d).ok())
}

fn fetch(cache: &Path) -> Result<Kernel> {
    let debs = cache.join("debs");
    fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;

    let meta = apt_download(&debs, META_PACKAGE)?;
    let depends = cmd::stdout(Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"))?;
    let package = kernel_package(&depends).with_context(|| {
        format!(
            "no linux-image-* package in `Depends: {}` of {}",
            depends.trim(),
            meta.display()
        )
    })?;
    let version = package.trim_start_matches("linux-image-").to_owned();
    let dest = cache.join(&version);

    if !dest.join(STAMP).is_file() {
        let deb = apt_download(&debs, &package)?;
        let partial = cache.join(format!("{version}.partial"));
        if partial.exists() {
            fs::remove_dir_all(&partial).with_context(|| format!("removing {}", partial.display()))?;
        }
        cmd::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
        if dest.exists() {
            fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
        }
        fs::rename(&partial, &dest).with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
        fs::write(dest.join(STAMP), format!("{package}\n"))
            .with_context(|| format!("writing {}", dest.join(STAMP).display()))?;
        // The tree is what we keep; the .deb (tens of MB) is not needed any more.
        let _ = fs::remove_file(&deb);
    }
    let kernel = Kernel::from_dir(&dest)?;
    if kernel.version != version {
        bail!(
            "{} contains vmlinuz-{}, expected vmlinuz-{version}",
            dest.display(),
            kernel.version
        );
    }
    fs::write(cache.join(CURRENT), format!("{version}\n"))
        .with_context(|| format!("writing {}", cache.join(CURRENT).display()))?;
    Ok(kernel)
}

/// Runs `apt-get download PACKAGE` in `dir` and returns the downloaded `.deb`.
fn apt_download(dir: &Path, package: &str) -> Result<PathBuf> {
    let prefix = format!("{package}_");
    let matching = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(OsStr::to_str).unwrap_or("");
            if name.starts_with(&prefix) && name.ends_with(".deb") {
                found.push(path);
            }
        }
        Ok(found)
    };
    // Old downloads would make "which .deb is new" ambiguous.
    for old in matching(dir)? {
        fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    cmd::run(
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(dir),
    )?;
    match matching(dir)?.as_slice() {
        [deb] => Ok(deb.clone()),
        [] => bail!(
            "`apt-get download {package}` left no {prefix}*.deb in {}",
            dir.display()
        ),
        many => bail!(
            "`apt-get download {package}` left {} files in {}",
            many.len(),
            dir.display()
        ),
    }
}

/// The versioned kernel package in a `Depends:` field such as
/// `linux-image-6.1.0-56-amd64 (= 6.1.192-2)`.
pub fn kernel_package(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .filter_map(|alt| alt.split_whitespace().next())
        .find(|name| name.starts_with("linux-image-") && *name != META_PACKAGE)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_package_from_depends() {
        assert_eq!(
            kernel_package("linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(
            kernel_package("initramfs-tools | linux-initramfs-tool, linux-image-6.12.9-amd64 (= 6.12.9-1)").as_deref(),
            Some("linux-image-6.12.9-amd64")
        );
        assert_eq!(kernel_package("libc6 (>= 2.36)"), None);
        assert_eq!(kernel_package(""), None);
    }

    #[test]
    fn from_dir_picks_newest_and_its_modules() {
        let dir = crate::tmp::TempDir::beside(&std::env::temp_dir().join("kernel-test"), "k").unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("boot")).unwrap();
        for v in ["6.1.0-9-amd64", "6.1.0-56-amd64"] {
            fs::write(root.join("boot").join(format!("vmlinuz-{v}")), b"k").unwrap();
        }
        fs::write(root.join("boot/config-6.1.0-99-amd64"), b"c").unwrap();
        fs::create_dir_all(root.join("lib/modules/6.1.0-56-amd64")).unwrap();
        let k = Kernel::from_dir(root).unwrap();
        assert_eq!(k.version, "6.1.0-56-amd64");
        assert_eq!(k.vmlinuz, root.join("boot/vmlinuz-6.1.0-56-amd64"));
        assert_eq!(k.modules_dir, root.join("lib/modules/6.1.0-56-amd64"));

        fs::remove_dir_all(root.join("lib")).unwrap();
        let err = format!("{:#}", Kernel::from_dir(root).unwrap_err());
        assert!(err.contains("lib/modules/6.1.0-56-amd64"), "{err}");
        let err = format!("{:#}", Kernel::from_dir(&root.join("nope")).unwrap_err());
        assert!(err.contains("nope/boot"), "{err}");
    }
}
