//! Where the workspace, its target directory and the prebuilt musl binaries are.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The Rust target the PID 1 binaries are built for (`make build`).
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// The workspace root: the directory whose `Cargo.toml` has a `[workspace]` table.
///
/// Tries the directory this crate was compiled from (`CARGO_MANIFEST_DIR/..`) first,
/// then walks up from the current directory, so a copied binary still works when run
/// inside a checkout.
pub fn workspace_root() -> Result<PathBuf> {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    if let Some(dir) = compiled.filter(|d| is_workspace_root(d)) {
        return Ok(dir);
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for dir in cwd.ancestors() {
        if is_workspace_root(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "cannot find the hopboot workspace: neither {} nor any parent of {} has a Cargo.toml with [workspace]",
        env!("CARGO_MANIFEST_DIR"),
        cwd.display()
    )
}

fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .map(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (relative to the current
/// directory, as cargo treats it), else `<workspace>/target`.
pub fn target_dir() -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => std::path::absolute(PathBuf::from(&dir))
            .with_context(|| format!("resolving CARGO_TARGET_DIR={}", PathBuf::from(dir).display())),
        _ => Ok(workspace_root()?.join("target")),
    }
}

/// Path of a release binary built for [`MUSL_TARGET`], e.g. `musl_bin("hopboot-target-init")`.
///
/// Fails with a hint to run `make build` if the binary does not exist yet: this crate
/// never runs cargo itself (that would deadlock on cargo's lock inside `cargo test`).
pub fn musl_bin(name: &str) -> Result<PathBuf> {
    let path = target_dir()?.join(MUSL_TARGET).join("release").join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: run `make build` first (or `cargo build --release --target {MUSL_TARGET} -p {name}`)",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_has_the_qemu_crate() {
        let root = workspace_root().unwrap();
        assert!(root.join("qemu").join("Cargo.toml").is_file(), "{}", root.display());
    }

    #[test]
    fn missing_musl_bin_says_make_build() {
        let err = musl_bin("no-such-binary-hopboot").unwrap_err().to_string();
        assert!(err.contains("make build"), "{err}");
    }
}
