//! The rescue prompt on the consoles: list entries, boot one, retry, rescan,
//! shell, reboot or power off. Line-based (typed through the menu's line
//! editor, so a command ends with Enter whether the terminal sends CR or LF,
//! and Ctrl-C only clears the line).
//!
//! The rescue shell gets a session of its own with the console it was asked
//! from as its controlling terminal: it has job control (Ctrl-C interrupts
//! what it runs), and however it ends — `exit`, killed, stopped, the terminal
//! left raw — PID 1 takes the console back: a stopped shell is killed (nobody
//! else could continue it), the settings it changed are put back.

use crate::menu::{Consoles, Edit};
use hopboot_loader::model::BootEntry;
use std::io::Write;

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
    /// No console can answer: wait a little and ask again.
    Wait,
    /// Nothing to do (help, list).
    Nothing,
}

const HELP: &str =
    "commands: NUMBER boot that entry | l list | r retry | s rescan | sh shell | reboot | poweroff | h help";

/// The entries as a numbered list, with why those in `failed` failed.
fn list(entries: &[BootEntry], failed: &[(usize, String)]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("  (no boot entries)\r\n");
    }
    for (i, e) in entries.iter().enumerate() {
        let mark = if e.default { '*' } else { ' ' };
        let failed = failed
            .iter()
            .rev()
            .find(|(n, _)| *n == i)
            .map(|(_, why)| format!("  [failed: {why}]"));
        out.push_str(&format!(
            "{mark}{:>2}. {}  ({}, {}){}\r\n",
            i + 1,
            e.title,
            e.format,
            e.device,
            failed.unwrap_or_default()
        ));
    }
    out
}

/// Shows the prompt with the entries and reads one command.
pub fn ask(c: &mut Consoles, entries: &[BootEntry], failed: &[(usize, String)]) -> Action {
    c.write(&format!(
        "\r\nhopboot rescue prompt. {HELP}\r\n{}",
        list(entries, failed)
    ));
    let line = match crate::menu::edit_line(c, "hopboot> ", "") {
        Edit::Done(line) => line,
        Edit::Cancelled => return Action::Nothing,
        Edit::NoConsole => return Action::Wait,
    };
    match line.trim() {
        "h" | "help" | "?" => {
            c.write(&format!("{HELP}\r\n"));
            Action::Nothing
        }
        cmd => match parse(cmd, entries.len()) {
            // The menu lock: the shell needs the password, here as on the menu.
            Some(Action::Shell) if !crate::lock::unlock_shell(c) => Action::Nothing,
            Some(action) => action,
            None => {
                c.write(&format!("unknown command or entry: {cmd}\r\n"));
                Action::Nothing
            }
        },
    }
}

/// Parses one prompt command; `None` when it is not one.
pub fn parse(cmd: &str, entries: usize) -> Option<Action> {
    Some(match cmd {
        "" | "l" | "list" => Action::Nothing,
        "r" | "retry" => Action::Retry,
        "s" | "rescan" => Action::Rescan,
        "sh" | "shell" => Action::Shell,
        "reboot" | "b" => Action::Reboot,
        "poweroff" | "halt" | "p" => Action::Poweroff,
        n => match n.parse::<usize>() {
            Ok(i) if i >= 1 && i <= entries => Action::Boot(i - 1),
            _ => return None,
        },
    })
}

/// Why the rescue shell did not run.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The image has none.
    #[error("no shell in this image (/bin/sh)")]
    Missing,
    /// The menu lock is closed (the password was not given).
    #[error("the rescue shell is locked: this image has a password")]
    Locked,
    /// Its console could not be opened.
    #[error("rescue shell: cannot open {path}: {source}")]
    Console {
        /// The console.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It could not be started.
    #[error("/bin/sh: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Runs /bin/sh, when the image carries one, on `tty` (the console the user
/// asked from; `/dev/console` when unknown) and returns when it is over:
/// `Some(how)` when it did not end with `exit 0` ("killed by SIGKILL").
pub fn shell(tty: Option<&str>) -> Result<Option<String>, ShellError> {
    use nix::sys::termios::{tcgetattr, tcsetattr, SetArg};
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    let sh = c"/bin/sh";
    // Whoever asked for the shell asked for the password first (menu, prompt);
    // this is the last door, should a new path to here forget it.
    if !crate::lock::shell_open() {
        return Err(ShellError::Locked);
    }
    if !std::path::Path::new("/bin/sh").exists() {
        return Err(ShellError::Missing);
    }
    let path = tty.unwrap_or("/dev/console");
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(path)
    };
    // The shell's own open of the console: flags it sets (O_NONBLOCK) stay its own.
    let term = open().map_err(|source| ShellError::Console {
        path: path.to_string(),
        source,
    })?;
    let saved = tcgetattr(&term).ok();
    hopboot_loader::tpm::measure_shell("/bin/sh");
    let pid = hopboot_loader::sys::spawn_session(sh, term.as_fd()).map_err(ShellError::Spawn)?;
    drop(term);
    let how = wait_shell(pid);
    // When a session leader on a serial line exits, the kernel hangs the line
    // up (SIGHUP to what the shell left running there); a fresh open works,
    // and gets the settings back as they were before the shell.
    if let (Some(t), Ok(f)) = (saved, open()) {
        let _ = tcsetattr(&f, SetArg::TCSANOW, &t);
    }
    match how {
        None => {
            log::info!("rescue shell exited; back to the menu");
            Ok(None)
        }
        Some(how) => {
            let how = format!("rescue shell {how}");
            log::warn!("{how}; back to the menu");
            Ok(Some(how))
        }
    }
}

/// Waits for the shell `pid`: `None` after `exit 0`, else how it ended.
fn wait_shell(pid: i32) -> Option<String> {
    use nix::errno::Errno;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let pid = nix::unistd::Pid::from_raw(pid);
    let mut stopped: Option<Signal> = None;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED)) {
            Ok(WaitStatus::Exited(_, 0)) => return None,
            Ok(WaitStatus::Exited(_, code)) => return Some(format!("exited with status {code}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return Some(match stopped {
                    Some(s) => format!("was stopped by {}; ended it", s.as_str()),
                    None => format!("killed by {}", sig.as_str()),
                })
            }
            // Nobody but PID 1 could continue it, and PID 1 would wait forever.
            Ok(WaitStatus::Stopped(_, sig)) => {
                stopped = Some(sig);
                let _ = kill(pid, Signal::SIGKILL);
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Some(format!("could not be waited for ({e})")),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("3", 3), Some(Action::Boot(2)));
        assert_eq!(parse("4", 3), None);
        assert_eq!(parse("sh", 0), Some(Action::Shell));
        assert_eq!(parse("", 0), Some(Action::Nothing));
        assert_eq!(parse("\u{3}", 0), None);
    }
}
