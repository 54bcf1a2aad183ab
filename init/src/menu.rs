//! The boot menu on every console the kernel was given (`console=`), at once:
//! raw termios and plain ANSI, so a dumb 80x24 serial terminal works.
//!
//! Keys: ↑/↓ or k/j move, a digit picks that entry, Enter boots, `e` edits the
//! command line, `d` shows details, `r` rescans, `s` rescue shell, `p`
//! power off, `b` reboot. Any key stops the countdown.

use hopboot_loader::model::BootEntry;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Boot entry `index`, with an edited command line when `cmdline` is set.
    Boot {
        /// Entry index.
        index: usize,
        /// Replacement for the entry's command line (from `e`).
        cmdline: Option<String>,
        /// Whether the countdown expired (no user decision): failures fall back.
        automatic: bool,
    },
    /// Re-read the disks.
    Rescan,
    /// Rescue shell.
    Shell,
    /// Power off.
    Poweroff,
    /// Reboot.
    Reboot,
}

/// A key press, decoded from the terminal's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Left arrow.
    Left,
    /// Right arrow.
    Right,
    /// Enter / Return.
    Enter,
    /// Escape on its own.
    Esc,
    /// Backspace / DEL.
    Backspace,
    /// A printable character.
    Char(char),
    /// Anything else (ignored, but it still stops the countdown).
    Other,
}

/// The consoles the menu draws on and reads from.
pub struct Consoles {
    ttys: Vec<(File, Option<Termios>)>,
    pending: Vec<u8>,
}

/// Device paths for the kernel's `console=` parameters (`ttyS0,115200n8` →
/// `/dev/ttyS0`); `/dev/console` when there are none.
pub fn console_paths(cmdline: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for w in cmdline.split_whitespace() {
        if let Some(c) = w.strip_prefix("console=") {
            let name = c.split(',').next().unwrap_or("");
            if name.is_empty() || name.contains('/') || name == "null" {
                continue;
            }
            let p = format!("/dev/{name}");
            if !v.contains(&p) {
                v.push(p);
            }
        }
    }
    if v.is_empty() {
        v.push("/dev/console".into());
    }
    v
}

impl Consoles {
    /// Opens the consoles and puts the terminals in raw mode (input only:
    /// output keeps `\n` → `\r\n`). Restored on drop.
    pub fn open(paths: &[String]) -> Consoles {
        let mut ttys = Vec::new();
        for p in paths {
            let Ok(f) = std::fs::OpenOptions::new().read(true).write(true).open(p) else {
                log::debug!("console {p}: cannot open");
                continue;
            };
            let saved = termios::tcgetattr(f.as_fd()).ok();
            if let Some(orig) = &saved {
                let mut raw = orig.clone();
                termios::cfmakeraw(&mut raw);
                raw.output_flags = orig.output_flags;
                let _ = termios::tcsetattr(f.as_fd(), SetArg::TCSANOW, &raw);
            }
            ttys.push((f, saved));
        }
        Consoles {
            ttys,
            pending: Vec::new(),
        }
    }

    /// Whether any console is a terminal that can answer.
    pub fn interactive(&self) -> bool {
        self.ttys.iter().any(|(_, t)| t.is_some())
    }

    /// Writes to every console.
    pub fn write(&mut self, s: &str) {
        for (f, _) in &mut self.ttys {
            let _ = f.write_all(s.as_bytes());
            let _ = f.flush();
        }
    }

    fn read_byte(&mut self, timeout: Duration) -> Option<u8> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds: Vec<PollFd<'_>> = self
            .ttys
            .iter()
            .map(|(f, _)| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(timeout);
            return None;
        }
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let ready: Vec<usize> = fds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .map(|(i, _)| i)
            .collect();
        drop(fds);
        for i in ready {
            if let Some((f, _)) = self.ttys.get_mut(i) {
                let mut buf = [0u8; 64];
                if let Ok(n) = f.read(&mut buf) {
                    self.pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                }
            }
        }
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending.remove(0))
        }
    }

    /// Waits up to `timeout` for one key.
    pub fn key(&mut self, timeout: Duration) -> Option<Key> {
        let b = self.read_byte(timeout)?;
        Some(match b {
            b'\r' | b'\n' => Key::Enter,
            0x7f | 0x08 => Key::Backspace,
            0x1b => {
                // An escape sequence arrives at once; a lone ESC does not.
                match self.read_byte(Duration::from_millis(60)) {
                    Some(b'[') | Some(b'O') => match self.read_byte(Duration::from_millis(60)) {
                        Some(b'A') => Key::Up,
                        Some(b'B') => Key::Down,
                        Some(b'C') => Key::Right,
                        Some(b'D') => Key::Left,
                        _ => Key::Other,
                    },
                    Some(other) => {
                        self.pending.insert(0, other);
                        Key::Esc
                    }
                    None => Key::Esc,
                }
            }
            b if (0x20..0x7f).contains(&b) => Key::Char(char::from(b)),
            _ => Key::Other,
        })
    }
}

impl Drop for Consoles {
    fn drop(&mut self) {
        for (f, saved) in &self.ttys {
            if let Some(t) = saved {
                let _ = termios::tcsetattr(f.as_fd(), SetArg::TCSADRAIN, t);
            }
        }
    }
}

/// Cuts `s` to `n` characters for an 80-column line.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}

/// Draws the menu.
pub fn render(entries: &[BootEntry], failed: &[(usize, String)], selected: usize, message: Option<&str>) -> String {
    let mut o = String::from("\x1b[0m\x1b[2J\x1b[H");
    o.push_str(&format!("hopboot {} - boot menu\r\n\r\n", env!("CARGO_PKG_VERSION")));
    for (i, e) in entries.iter().enumerate() {
        let mark = if e.default { '*' } else { ' ' };
        let fail = if failed.iter().any(|(n, _)| *n == i) {
            " [failed]"
        } else {
            ""
        };
        let line = format!("{mark}{:>2}. {}", i + 1, fit(&e.title, 50));
        let info = format!("{} {}{fail}", e.format, e.device);
        let text = format!("{line:<56} {}", fit(&info, 22));
        if i == selected {
            o.push_str(&format!("\x1b[7m{text}\x1b[0m\r\n"));
        } else {
            o.push_str(&format!("{text}\r\n"));
        }
    }
    o.push_str("\r\nEnter boot  e edit  d details  r rescan  s shell  p poweroff  b reboot\r\n");
    if let Some(m) = message {
        o.push_str(&format!("{}\r\n", fit(m, 79)));
    }
    o
}

/// Details of one entry, for `d`; `volume` is how its filesystem is known
/// (`ext4 UUID=… PARTUUID=…`).
pub fn details(e: &BootEntry, append: Option<&str>, volume: Option<&str>) -> String {
    let mut o = format!(
        "\r\n{}\r\n  source   {}\r\n  device   {}{}\r\n  id       {}\r\n  kernel   {}\r\n",
        e.title,
        e.format,
        e.device,
        volume.map(|v| format!(" ({v})")).unwrap_or_default(),
        e.id,
        e.kernel
    );
    for i in &e.initrds {
        o.push_str(&format!("  initrd   {i}\r\n"));
    }
    o.push_str(&format!("  cmdline  {}\r\n(any key: back)\r\n", e.boot_cmdline(append)));
    o
}

/// A one-line editor: returns the edited text, or `None` on Esc.
pub fn edit_line(c: &mut Consoles, prompt: &str, initial: &str) -> Option<String> {
    let mut text: Vec<char> = initial.chars().collect();
    let mut cur = text.len();
    loop {
        let s: String = text.iter().collect();
        let back = text.len() - cur;
        let mut line = format!("\r\x1b[K{prompt}{s}");
        if back > 0 {
            line.push_str(&format!("\x1b[{back}D"));
        }
        c.write(&line);
        match c.key(Duration::from_secs(3600))? {
            Key::Enter => {
                c.write("\r\n");
                return Some(text.iter().collect());
            }
            Key::Esc => {
                c.write("\r\n");
                return None;
            }
            Key::Backspace if cur > 0 => {
                cur -= 1;
                text.remove(cur);
            }
            Key::Left => cur = cur.saturating_sub(1),
            Key::Right => cur = (cur + 1).min(text.len()),
            Key::Char(ch) if text.len() < 2000 => {
                text.insert(cur, ch);
                cur += 1;
            }
            _ => {}
        }
    }
}

/// What the menu shows.
pub struct View<'a> {
    /// The entries.
    pub entries: &'a [BootEntry],
    /// Entries that failed to load, with why.
    pub failed: &'a [(usize, String)],
    /// The entry selected at first (the default).
    pub default: usize,
    /// Countdown; `None` = wait for a key.
    pub timeout: Option<Duration>,
    /// `hopboot.append=`, shown in details.
    pub append: Option<&'a str>,
    /// How each volume is known (index = `BootEntry::volume`), shown in details.
    pub volumes: &'a [String],
    /// A message under the list (the last error).
    pub message: Option<&'a str>,
}

/// Shows the menu with a countdown on the default entry and returns the choice
/// (`timeout` `None` = wait for the user). `preload` runs once while the countdown shows; `disks_changed` is polled
/// every 2 s while the menu waits for the user, and a new disk rescans.
pub fn run(
    c: &mut Consoles,
    view: View<'_>,
    preload: &mut dyn FnMut(),
    disks_changed: &mut dyn FnMut() -> bool,
) -> Choice {
    let View {
        entries,
        failed,
        default,
        timeout,
        append,
        volumes,
        message,
    } = view;
    let mut selected = default.min(entries.len().saturating_sub(1));
    if !c.interactive() {
        return Choice::Boot {
            index: selected,
            cmdline: None,
            automatic: true,
        };
    }
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut msg: Option<String> = message.map(str::to_string);
    let mut redraw = true;
    let mut last_secs = u64::MAX;
    let mut preloaded = false;
    loop {
        if redraw {
            c.write(&render(entries, failed, selected, msg.as_deref()));
            redraw = false;
            last_secs = u64::MAX;
        }
        if !preloaded && deadline.is_some() {
            // Keys typed meanwhile wait in the terminal's buffer.
            preloaded = true;
            preload();
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    c.write("\r\n");
                    return Choice::Boot {
                        index: selected,
                        cmdline: None,
                        automatic: true,
                    };
                }
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                if secs != last_secs {
                    let title = entries.get(selected).map(|e| e.title.as_str()).unwrap_or("");
                    c.write(&format!(
                        "\r\x1b[KBooting '{}' in {secs}s (any key stops)",
                        fit(title, 40)
                    ));
                    last_secs = secs;
                }
                left.min(Duration::from_millis(250))
            }
            None => Duration::from_secs(2),
        };
        let Some(key) = c.key(wait) else {
            if deadline.is_none() && disks_changed() {
                return Choice::Rescan;
            }
            continue;
        };
        if deadline.take().is_some() {
            c.write("\r\x1b[K");
        }
        let n = entries.len();
        match key {
            Key::Up | Key::Char('k') => {
                selected = (selected + n - 1) % n.max(1);
                redraw = true;
            }
            Key::Down | Key::Char('j') => {
                selected = (selected + 1) % n.max(1);
                redraw = true;
            }
            Key::Char(d @ '1'..='9') => {
                let i = (d as usize) - ('1' as usize);
                if i < n {
                    selected = i;
                }
                redraw = true;
            }
            Key::Enter => {
                return Choice::Boot {
                    index: selected,
                    cmdline: None,
                    automatic: false,
                }
            }
            Key::Char('e') => {
                if let Some(e) = entries.get(selected) {
                    c.write("\r\n(Enter boots, Esc cancels)\r\n");
                    if let Some(edited) = edit_line(c, "edit> ", &e.cmdline) {
                        return Choice::Boot {
                            index: selected,
                            cmdline: Some(edited),
                            automatic: false,
                        };
                    }
                }
                redraw = true;
            }
            Key::Char('d') => {
                if let Some(e) = entries.get(selected) {
                    c.write(&details(e, append, volumes.get(e.volume).map(String::as_str)));
                    let _ = c.key(Duration::from_secs(3600));
                }
                redraw = true;
            }
            Key::Char('r') => return Choice::Rescan,
            Key::Char('s') => return Choice::Shell,
            Key::Char('p') => return Choice::Poweroff,
            Key::Char('b') => return Choice::Reboot,
            _ => {
                msg = Some("keys: arrows/j/k move, 1-9 pick, Enter boot, e edit, d details, r rescan, s shell, p poweroff, b reboot".into());
                redraw = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consoles_from_cmdline() {
        assert_eq!(
            console_paths("root=x console=tty0 console=ttyS0,115200n8"),
            ["/dev/tty0", "/dev/ttyS0"]
        );
        assert_eq!(console_paths("quiet"), ["/dev/console"]);
        assert_eq!(
            console_paths("console=../x console=ttyS0 console=ttyS0"),
            ["/dev/ttyS0"]
        );
    }

    #[test]
    fn long_titles_fit() {
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(fit("ab", 4), "ab");
    }
}
