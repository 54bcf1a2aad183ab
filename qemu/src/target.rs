//! The "target" initramfs: what hopboot kexecs into in the QEMU tests.
//!
//! Its `/init` is `hopboot-target-init`, which prints
//! `HOPBOOT-TARGET-MARKER cmdline=<the kernel's /proc/cmdline>` on the console and
//! powers off, so a test proves which kernel command line was booted by waiting for
//! that line and for QEMU to exit.

use std::path::Path;

use anyhow::{Context, Result};
use hopboot_image_build::{compress, cpio::Archive, Compression};

use crate::paths;

/// Name of the musl binary that becomes `/init`.
pub const TARGET_INIT_BIN: &str = "hopboot-target-init";
/// The line prefix `hopboot-target-init` prints.
pub const MARKER: &str = "HOPBOOT-TARGET-MARKER";

/// The marker line for a kernel booted with `cmdline`.
pub fn marker_line(cmdline: &str) -> String {
    format!("{MARKER} cmdline={cmdline}")
}

/// The target initramfs as a gzip-compressed newc cpio archive.
///
/// Needs the musl build of `hopboot-target-init` (`make build`).
pub fn target_initramfs_bytes() -> Result<Vec<u8>> {
    let init_path = paths::musl_bin(TARGET_INIT_BIN)?;
    let init = std::fs::read(&init_path).with_context(|| format!("reading {}", init_path.display()))?;
    let mut archive = Archive::new();
    for dir in ["dev", "proc", "sys"] {
        archive.add_dir(dir, 0o755);
    }
    // The kernel opens /dev/console as init's stdin/stdout/stderr before running it.
    archive.add_char_dev("dev/console", 0o600, 5, 1);
    // The screen tests draw on the virtual terminal (`hopboot.target.screen`).
    archive.add_char_dev("dev/tty0", 0o600, 4, 0);
    archive.add_file("init", init, 0o755);
    compress(&archive.to_newc(0), Compression::Gzip).context("compressing the target initramfs")
}

/// Writes the target initramfs to `out`.
pub fn target_initramfs(out: &Path) -> Result<()> {
    let bytes = target_initramfs_bytes()?;
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))
}
