//! Running host tools with errors that say what ran and what it printed.

use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// `program arg1 arg2 ...`, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; a spawn failure or non-zero exit is an error that
/// carries the command line and its stderr (and stdout, when stderr is empty).
pub fn run(cmd: &mut Command) -> Result<Output> {
    let line = describe(cmd);
    let out = cmd.output().with_context(|| {
        format!(
            "cannot run `{line}` (is {} installed? see scripts/install-deps.sh)",
            cmd.get_program().to_string_lossy()
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout)
        } else {
            stderr
        };
        bail!("`{line}` failed ({}): {}", out.status, detail.trim());
    }
    Ok(out)
}

/// Like [`run`], returning stdout as text.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    let out = run(cmd)?;
    String::from_utf8(out.stdout).with_context(|| format!("`{}` printed non-UTF-8 output", describe(cmd)))
}
