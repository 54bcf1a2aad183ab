//! The benchmark's reference bootloader: `bench/minimal-kexec/minimal.c`, a minimal C PID 1 that
//! loads a fixed list of modules, mounts `/dev/vda1` read-only as ext4, takes the first `linux`
//! and `initrd` lines of the first menuentry of `/boot/grub/grub.cfg` and kexecs them.
//!
//! It is built here with the host's gcc (`-static -O2`, glibc) and packed with its modules into
//! a reproducible gzip initramfs:
//!
//! ```text
//! init                     the tool
//! modules.list             module paths in load order, dependencies first
//! lib/modules/KVER/...     those modules, decompressed
//! dev/console proc/ sys/ mnt/
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use hopboot_image_build::cpio::Archive;
use hopboot_image_build::modules::ModuleTree;
use hopboot_image_build::{compress, Compression};

/// The C source, relative to the workspace root.
pub const SOURCE: &str = "bench/minimal-kexec/minimal.c";
/// Prefix of the tool's log lines (it writes them to `/dev/kmsg`).
pub const LOG_PREFIX: &str = "minimal-kexec:";
/// What the tool prints before it sleeps forever on a failure.
pub const FAILED: &str = "minimal-kexec: FAILED";
/// The modules the tool needs on Debian's 6.1 kernel, where all of them are modules: the virtio
/// PCI transport and disk driver, and ext4. ext4 `depends=jbd2,mbcache,crc16`, which
/// [`ModuleTree::resolve`] adds; it also asks the crypto API for "crc32c" (its `softdep=pre:
/// crypto-crc32c`) to check metadata checksums, which mke2fs enables by default, and without
/// modprobe in the image nothing would load it: `crc32c_generic` is named before ext4 for that.
pub const MODULES: [&str; 4] = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"];

/// What [`build`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The gzip initramfs.
    pub initramfs: PathBuf,
    /// Its size.
    pub initramfs_bytes: u64,
    /// The static binary (stripped).
    pub binary_bytes: u64,
    /// Canonical module names, in load order.
    pub modules: Vec<String>,
}

/// Compiles the tool into `out_dir/minimal-kexec` and writes `out_dir/minimal-initramfs.cpio.gz`
/// with the [`MODULES`] of `modules_dir` (a `/lib/modules/KVER` tree).
pub fn build(out_dir: &Path, modules_dir: &Path) -> Result<Image> {
    let source = hopboot_qemu::paths::workspace_root()?.join(SOURCE);
    let binary = out_dir.join("minimal-kexec");
    compile(&source, &binary)?;
    let init = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let binary_bytes = init.len() as u64;

    let tree = ModuleTree::open(modules_dir)?;
    let resolved = tree.resolve(&MODULES)?;
    let mut archive = Archive::new();
    for dir in ["dev", "proc", "sys", "mnt"] {
        archive.add_dir(dir, 0o755);
    }
    // The kernel opens /dev/console as init's stdin/stdout/stderr before running it.
    archive.add_char_dev("dev/console", 0o600, 5, 1);
    archive.add_file("init", init, 0o755);
    let mut list = String::new();
    for m in &resolved {
        let path = format!("lib/modules/{}/{}", tree.kver(), m.path);
        archive.add_file(&path, tree.read(m)?, 0o644);
        list.push('/');
        list.push_str(&path);
        list.push('\n');
    }
    archive.add_file("modules.list", list.into_bytes(), 0o644);
    let image = compress(&archive.to_newc(0), Compression::Gzip).context("compressing the minimal-kexec initramfs")?;
    let initramfs = out_dir.join("minimal-initramfs.cpio.gz");
    std::fs::write(&initramfs, &image).with_context(|| format!("writing {}", initramfs.display()))?;
    Ok(Image {
        initramfs,
        initramfs_bytes: image.len() as u64,
        binary_bytes,
        modules: resolved.into_iter().map(|m| m.name).collect(),
    })
}

/// `gcc -static -O2 -s -Wall -Wextra -o OUT SOURCE`; warnings are passed on to stderr.
fn compile(source: &Path, out: &Path) -> Result<()> {
    let mut cmd = Command::new("gcc");
    cmd.args(["-static", "-O2", "-s", "-Wall", "-Wextra", "-o"])
        .arg(out)
        .arg(source);
    let output = cmd.output().with_context(|| {
        "cannot run gcc to build the minimal-kexec reference (apt-get install gcc libc6-dev; see scripts/install-deps.sh)"
    })?;
    if !output.status.success() {
        bail!(
            "gcc failed to build {} ({}): {}",
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let warnings = String::from_utf8_lossy(&output.stderr);
    if !warnings.trim().is_empty() {
        eprintln!("bench: gcc {}:\n{}", source.display(), warnings.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_compiles_static_and_without_warnings() {
        let dir = std::env::temp_dir().join(format!("hopboot-minimal-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = hopboot_qemu::paths::workspace_root().unwrap().join(SOURCE);
        let out = dir.join("minimal-kexec");
        let result = Command::new("gcc")
            .args(["-static", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg(&source)
            .output()
            .unwrap();
        let binary = std::fs::read(&out);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let binary = binary.unwrap();
        assert!(binary.starts_with(b"\x7fELF"));
        // No PT_INTERP program header: a static binary needs no dynamic loader, which the
        // initramfs lacks. ELF64: e_phoff at 32, e_phentsize at 54, e_phnum at 56.
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([binary[o], binary[o + 1]]));
        let phoff = u64::from_le_bytes(binary[32..40].try_into().unwrap()) as usize;
        let (phentsize, phnum) = (u16_at(54), u16_at(56));
        assert!(phnum > 0);
        for i in 0..phnum {
            let at = phoff + i * phentsize;
            let p_type = u32::from_le_bytes(binary[at..at + 4].try_into().unwrap());
            assert_ne!(p_type, 3, "PT_INTERP: not a static binary");
        }
    }
}
