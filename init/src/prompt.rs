//! The rescue prompt on the console: list entries, boot one, retry, rescan,
//! shell, reboot or power off. Line-based, so it works on any serial terminal.

use hopboot_loader::model::BootEntry;
use std::io::{BufRead, Write};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run discovery and boot the default again.
    Retry,
    /// Boot entry N (0-based).
    Boot(usize),
    /// Re-read the disks and show the list.
    Rescan,
    /// Reboot the machine.
    Reboot,
    /// Power off.
    Poweroff,
    /// Start /bin/sh.
    Shell,
    /// No input could be read: wait a little and ask again.
    Wait,
    /// Nothing to do (help, list).
    Nothing,
}

const HELP: &str =
    "commands: NUMBER boot that entry | l list | r retry | s rescan | sh shell | reboot | poweroff | h help";

/// Prints the entries as a numbered list, with why those in `failed` failed.
pub fn print_entries(entries: &[BootEntry], failed: &[(usize, String)]) {
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        let _ = writeln!(out, "  (no boot entries)");
    }
    for (i, e) in entries.iter().enumerate() {
        let mark = if e.default { '*' } else { ' ' };
        let failed = failed
            .iter()
            .rev()
            .find(|(n, _)| *n == i)
            .map(|(_, why)| format!("  [failed: {why}]"));
        let _ = writeln!(
            out,
            "{mark}{:>2}. {}  ({}, {}){}",
            i + 1,
            e.title,
            e.format,
            e.device,
            failed.unwrap_or_default()
        );
    }
    let _ = out.flush();
}

/// Shows the prompt with the entries and reads one command.
pub fn ask(entries: &[BootEntry], failed: &[(usize, String)]) -> Action {
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "\nhopboot rescue prompt. {HELP}");
    }
    print_entries(entries, failed);
    {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "hopboot> ");
        let _ = out.flush();
    }
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => return Action::Wait,
        Ok(_) => {}
    }
    parse(line.trim(), entries.len())
}

/// Parses one prompt command.
pub fn parse(cmd: &str, entries: usize) -> Action {
    match cmd {
        "" | "l" | "list" => Action::Nothing,
        "r" | "retry" => Action::Retry,
        "s" | "rescan" => Action::Rescan,
        "sh" | "shell" => Action::Shell,
        "reboot" | "b" => Action::Reboot,
        "poweroff" | "halt" | "p" => Action::Poweroff,
        "h" | "help" | "?" => {
            println!("{HELP}");
            Action::Nothing
        }
        n => match n.parse::<usize>() {
            Ok(i) if i >= 1 && i <= entries => Action::Boot(i - 1),
            _ => {
                println!("unknown command or entry: {n}");
                Action::Nothing
            }
        },
    }
}

/// Why the rescue shell did not run.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The image has none.
    #[error("no shell in this image (/bin/sh)")]
    Missing,
    /// It could not be started.
    #[error("/bin/sh: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Runs /bin/sh on the console when the image carries one; returns when it exits.
pub fn shell() -> Result<(), ShellError> {
    let sh = std::path::Path::new("/bin/sh");
    if !sh.exists() {
        return Err(ShellError::Missing);
    }
    // The shell stays in PID 1's process group, which owns the console.
    let mut cmd = std::process::Command::new(sh);
    // Ignored signals stay ignored across exec: give the shell the defaults
    // (Ctrl-C must work there). PID 1 itself gets no signal it has no handler
    // for, so it is safe meanwhile.
    hopboot_loader::sys::default_job_signals();
    let status = cmd.status();
    hopboot_loader::sys::ignore_job_signals();
    let status = status.map_err(ShellError::Spawn)?;
    log::info!("shell exited ({status}); back to the prompt");
    Ok(())
}

/// Reaps exited children (PID 1 inherits every orphan).
pub fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(st) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if st == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Leaves the console in a sane state for the next kernel: cursor and
/// attributes reset, output flushed.
pub fn restore_console() {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"\x1b[0m\r\n");
    let _ = out.flush();
}
