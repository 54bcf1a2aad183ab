//! The boot menu on every console the kernel was given (`console=`), at once:
//! raw termios and plain ANSI, so a dumb 80x24 serial terminal works.
//!
//! Keys: ↑/↓ or k/j move, PgUp/PgDn and Home/End scroll, a digit picks that
//! entry, Enter boots, `e` edits the command line, `d` shows details, `x`
//! lists the problems discovery met, `r` rescans, `s` rescue shell, `p` power
//! off, `b` reboot, Ctrl-L redraws. Any key stops the countdown; control keys
//! (Ctrl-C, Ctrl-Z, Ctrl-\) are keys like the others: the terminal is raw, so
//! they signal nobody.
//!
//! A long menu shows [`ROWS`] entries at a time: a key writes at most one
//! screen (about 2 KB) and, when the selection moves inside the window, only
//! the two lines that change, whatever the number of entries.
//!
//! Consoles come and go. One that hangs up (a USB serial adapter unplugged,
//! a virtio console removed, a modem line dropped) is closed and opened again
//! every second until it is back, and then redrawn. When none is left, nobody
//! can answer: the countdown starts again as at power-on (`hopboot.timeout`,
//! default 3 s) and boots the default entry, unless a console comes back and
//! a key stops it. A console is never waited on: reads and writes do not
//! block, a write that cannot go out within 2 s is dropped.

use hopboot_loader::model::{BootEntry, DiscoveryError};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, OutputFlags, SetArg, Termios};
use std::collections::VecDeque;
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
    /// New entries arrived: show the menu again with entry `selected`
    /// selected and what was `left` of the countdown.
    Refresh {
        /// The entry selected.
        selected: usize,
        /// The countdown left; `None` when it had been stopped.
        left: Option<Duration>,
    },
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
    /// Page Up.
    PageUp,
    /// Page Down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Enter / Return.
    Enter,
    /// Escape on its own.
    Esc,
    /// Backspace / DEL.
    Backspace,
    /// A control character: Ctrl-C is `Ctrl('c')` (Ctrl-\ and the like are `Other`).
    Ctrl(char),
    /// A printable character.
    Char(char),
    /// Anything else (ignored, but it still stops the countdown).
    Other,
}

/// How often consoles that are gone are tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How long a write may wait for a console that does not take output.
const WRITE_STALL: Duration = Duration::from_secs(2);
/// How many times a console's loss and return are logged (a flapping line
/// must not fill the log).
const LOGGED_FLAPS: u32 = 3;

/// One console.
struct Tty {
    path: String,
    /// `None` while it is gone (hung up, unplugged, not there yet).
    file: Option<File>,
    /// Its settings before raw mode, put back on drop.
    saved: Option<Termios>,
    /// Losses so far.
    flaps: u32,
}

/// The consoles the menu draws on and reads from.
pub struct Consoles {
    ttys: Vec<Tty>,
    pending: VecDeque<u8>,
    /// The console the last byte came from.
    active: Option<usize>,
    /// When consoles that are gone are tried again.
    retry_at: Instant,
    /// A console came back since [`Consoles::take_returned`].
    returned: bool,
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

/// Opens a console without making it anyone's controlling terminal, without
/// blocking, and puts a terminal in raw mode (input only: output gets the
/// kernel's `\n` → `\r\n` whatever a shell left behind).
fn open_tty(path: &str) -> Option<(File, Option<Termios>)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let saved = termios::tcgetattr(f.as_fd()).ok();
    if let Some(orig) = &saved {
        let mut raw = orig.clone();
        termios::cfmakeraw(&mut raw);
        raw.output_flags = OutputFlags::OPOST | OutputFlags::ONLCR;
        let _ = termios::tcsetattr(f.as_fd(), SetArg::TCSANOW, &raw);
    }
    Some((f, saved))
}

/// Writes all of `b`, waiting at most [`WRITE_STALL`] for room.
fn write_within(mut f: &File, mut b: &[u8]) -> std::io::Result<()> {
    use std::io::ErrorKind;
    let end = Instant::now() + WRITE_STALL;
    while !b.is_empty() {
        match f.write(b) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => b = b.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ErrorKind::TimedOut.into());
                }
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                let _ = poll(&mut [PollFd::new(f.as_fd(), PollFlags::POLLOUT)], PollTimeout::from(ms));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Consoles {
    /// Opens the consoles and puts the terminals in raw mode; restored on
    /// drop. One that cannot be opened yet is tried again every second.
    pub fn open(paths: &[String]) -> Consoles {
        let ttys = paths
            .iter()
            .map(|p| {
                let (file, saved) = match open_tty(p) {
                    Some((f, s)) => (Some(f), s),
                    None => {
                        log::debug!("console {p}: cannot open");
                        (None, None)
                    }
                };
                Tty {
                    path: p.clone(),
                    file,
                    saved,
                    flaps: 0,
                }
            })
            .collect();
        Consoles {
            ttys,
            pending: VecDeque::new(),
            active: None,
            retry_at: Instant::now() + RETRY,
            returned: false,
        }
    }

    /// Keys typed ahead and not read yet, to hand to the next [`Consoles`]
    /// (a round's menu or prompt closes its consoles).
    pub fn take_typed(&mut self) -> Vec<u8> {
        self.pending.drain(..).collect()
    }

    /// Keys typed ahead while another [`Consoles`] was open; read first.
    pub fn give_typed(&mut self, typed: Vec<u8>) {
        self.pending.extend(typed);
    }

    /// Whether any console is a terminal that can answer now.
    pub fn interactive(&self) -> bool {
        self.ttys.iter().any(|t| t.file.is_some() && t.saved.is_some())
    }

    /// The console the last key came from (a rescue shell runs there).
    pub fn active(&self) -> Option<String> {
        self.active.and_then(|i| self.ttys.get(i)).map(|t| t.path.clone())
    }

    /// Whether a console came back since the last call: it needs a redraw.
    pub fn take_returned(&mut self) -> bool {
        std::mem::take(&mut self.returned)
    }

    /// Writes to every console.
    pub fn write(&mut self, s: &str) {
        let mut lost = Vec::new();
        for (i, t) in self.ttys.iter().enumerate() {
            if let Some(f) = &t.file {
                match write_within(f, s.as_bytes()) {
                    Ok(()) => {}
                    // Output is stuck (flow control): this text is dropped.
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) => lost.push((i, e.to_string())),
                }
            }
        }
        for (i, why) in lost {
            self.lose(i, &why);
        }
    }

    /// Closes console `i`, which hung up or failed; it is tried again later.
    fn lose(&mut self, i: usize, why: &str) {
        if let Some(t) = self.ttys.get_mut(i) {
            t.file = None;
            t.saved = None;
            t.flaps = t.flaps.saturating_add(1);
            if t.flaps <= LOGGED_FLAPS {
                log::warn!("console {}: {why}; trying it again every second", t.path);
            }
        }
        if self.active == Some(i) {
            self.active = None;
        }
    }

    /// Opens again the consoles that are gone, once a [`RETRY`] period.
    fn retry(&mut self) {
        let now = Instant::now();
        if now < self.retry_at {
            return;
        }
        self.retry_at = now + RETRY;
        for t in self.ttys.iter_mut().filter(|t| t.file.is_none()) {
            if let Some((f, saved)) = open_tty(&t.path) {
                if t.flaps > 0 && t.flaps <= LOGGED_FLAPS {
                    log::info!("console {} is back", t.path);
                }
                t.file = Some(f);
                t.saved = saved;
                self.returned = true;
            }
        }
    }

    /// Reads what console `i` has after `poll` said `revents`.
    fn drain(&mut self, i: usize, revents: PollFlags) -> bool {
        let hup = revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL);
        let Some(Some(mut f)) = self.ttys.get(i).map(|t| t.file.as_ref()) else {
            return false;
        };
        let mut buf = [0u8; 64];
        let why = match f.read(&mut buf) {
            Ok(0) => "end of input (hung up)".to_string(),
            Ok(n) => {
                self.pending.extend(buf.get(..n).unwrap_or_default());
                self.active = Some(i);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                if !hup {
                    return false;
                }
                "hung up".to_string()
            }
            Err(e) => e.to_string(),
        };
        self.lose(i, &why);
        true
    }

    /// Waits up to `timeout` for one byte from any console. Never spins:
    /// each pass either waits in `poll` or drops a console that hung up.
    fn read_byte(&mut self, timeout: Duration) -> Option<u8> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            self.retry();
            let left = end.saturating_duration_since(Instant::now());
            let slice = left.min(RETRY);
            let open: Vec<usize> = (0..self.ttys.len())
                .filter(|&i| self.ttys.get(i).is_some_and(|t| t.file.is_some()))
                .collect();
            let mut fds: Vec<PollFd<'_>> = self
                .ttys
                .iter()
                .filter_map(|t| t.file.as_ref())
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            let ready: Vec<(usize, PollFlags)> = if fds.is_empty() {
                std::thread::sleep(slice);
                Vec::new()
            } else {
                let ms = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX);
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(n) if n > 0 => fds
                        .iter()
                        .zip(&open)
                        .filter_map(|(p, &i)| Some((i, p.revents()?)))
                        .filter(|(_, r)| !r.is_empty())
                        .collect(),
                    Ok(_) | Err(Errno::EINTR) => Vec::new(),
                    Err(e) => {
                        log::debug!("poll on the consoles: {e}");
                        std::thread::sleep(slice);
                        Vec::new()
                    }
                }
            };
            drop(fds);
            let mut progress = ready.is_empty();
            for (i, revents) in ready {
                progress |= self.drain(i, revents);
            }
            if !progress {
                // Ready but nothing to read (another reader was faster): do not spin.
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.pending.is_empty() && Instant::now() >= end {
                return None;
            }
        }
    }

    /// Waits up to `timeout` for one byte, undecoded (a password's).
    pub fn byte(&mut self, timeout: Duration) -> Option<u8> {
        self.read_byte(timeout)
    }

    /// Waits up to `timeout` for one key.
    pub fn key(&mut self, timeout: Duration) -> Option<Key> {
        let b = self.read_byte(timeout)?;
        Some(match b {
            b'\r' | b'\n' => Key::Enter,
            0x7f | 0x08 => Key::Backspace,
            0x1b => self.escape(),
            0x01..=0x1a => Key::Ctrl(char::from(b + 0x60)),
            b if (0x20..0x7f).contains(&b) => Key::Char(char::from(b)),
            _ => Key::Other,
        })
    }

    /// The rest of an escape sequence (`ESC [ A`, `ESC [ 5 ~`, `ESC O H`…),
    /// which arrives at once; a lone ESC does not.
    fn escape(&mut self) -> Key {
        let gap = Duration::from_millis(60);
        match self.read_byte(gap) {
            Some(b'[') | Some(b'O') => {}
            Some(other) => {
                self.pending.push_front(other);
                return Key::Esc;
            }
            None => return Key::Esc,
        }
        let mut num = 0u32;
        for _ in 0..8 {
            match self.read_byte(gap) {
                Some(d @ b'0'..=b'9') => num = num.saturating_mul(10).saturating_add(u32::from(d - b'0')),
                Some(b';') => num = 0,
                Some(b'A') => return Key::Up,
                Some(b'B') => return Key::Down,
                Some(b'C') => return Key::Right,
                Some(b'D') => return Key::Left,
                Some(b'H') => return Key::Home,
                Some(b'F') => return Key::End,
                Some(b'~') => {
                    return match num {
                        1 | 7 => Key::Home,
                        4 | 8 => Key::End,
                        5 => Key::PageUp,
                        6 => Key::PageDown,
                        _ => Key::Other,
                    }
                }
                _ => return Key::Other,
            }
        }
        Key::Other
    }

    /// Waits for any key while a console can give one.
    fn any_key(&mut self) {
        while self.interactive() {
            if self.key(RETRY).is_some() {
                return;
            }
        }
    }
}

impl Drop for Consoles {
    fn drop(&mut self) {
        for t in &self.ttys {
            if let (Some(f), Some(saved)) = (&t.file, &t.saved) {
                let _ = termios::tcsetattr(f.as_fd(), SetArg::TCSANOW, saved);
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

/// Entries shown at once; a longer menu scrolls (a 24-line terminal holds
/// them with the header, the scroll marks, the keys, a problem, a message
/// and the countdown).
pub const ROWS: usize = 16;

/// The first entry shown so that `selected` is in the window starting near `top`.
fn top_for(selected: usize, top: usize, n: usize) -> usize {
    let top = if selected < top {
        selected
    } else if selected >= top + ROWS {
        selected + 1 - ROWS
    } else {
        top
    };
    top.min(n.saturating_sub(ROWS))
}

/// Screen row (1-based) of entry `i` when the window starts at `top`.
fn row(i: usize, top: usize) -> usize {
    3 + i.saturating_sub(top)
}

/// One discovery problem on one line's worth of text: "vdb1:/boot/grub/grub.cfg: stopped …".
pub fn problem_line(e: &DiscoveryError) -> String {
    let msg = e.message();
    // Messages often start with the file the path already names.
    let file = e.path.split_once(':').map_or(e.path.as_str(), |(_, f)| f);
    // A disk as its partitions are named: "vdb", not "/dev/vdb".
    let path = e.path.strip_prefix("/dev/").unwrap_or(&e.path);
    match msg.strip_prefix(file) {
        Some(rest) if !file.is_empty() && rest.starts_with(':') => format!("{path}{rest}"),
        _ => format!("{path}: {msg}"),
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
    /// The countdown that starts when no console is left.
    pub unattended: Duration,
    /// `hopboot.append=`, shown in details.
    pub append: Option<&'a str>,
    /// How each volume is known (index = `BootEntry::volume`), shown in details.
    pub volumes: &'a [String],
    /// A message under the list (the last error).
    pub message: Option<&'a str>,
    /// What discovery could not read (see [`problem_line`]): the first is
    /// shown under the list, `x` lists them.
    pub problems: &'a [String],
}

impl View<'_> {
    /// Entry `i`'s line, in reverse video when selected.
    fn line(&self, i: usize, selected: bool) -> String {
        let Some(e) = self.entries.get(i) else {
            return String::new();
        };
        let mark = if e.default { '*' } else { ' ' };
        let fail = match self.failed.iter().find(|(n, _)| *n == i) {
            Some((_, why)) if why.starts_with(hopboot_loader::trust::policy::REFUSED) => " [refused]",
            Some(_) => " [failed]",
            None => "",
        };
        let w = self.entries.len().to_string().len().max(2);
        let line = format!("{mark}{:>w$}. {}", i + 1, fit(&e.title, 52 - w));
        let info = format!("{} {}{fail}", e.format, e.device);
        let text = format!("{line:<56} {}", fit(&info, 22));
        if selected {
            format!("\x1b[7m{text}\x1b[0m")
        } else {
            text
        }
    }

    /// The whole screen, the window of entries starting at `top`.
    pub fn render(&self, selected: usize, top: usize, message: Option<&str>) -> String {
        let n = self.entries.len();
        let end = (top + ROWS).min(n);
        let mut o = format!("\x1b[0m\x1b[2J\x1b[Hhopboot {} - boot menu", env!("CARGO_PKG_VERSION"));
        if n > ROWS {
            o.push_str(&format!("  (entries {}-{end} of {n})", top + 1));
        }
        o.push_str("\r\n");
        if top > 0 {
            o.push_str(&format!("   ^ {top} more (PgUp, Home)"));
        }
        o.push_str("\r\n");
        for i in top..end {
            o.push_str(&self.line(i, i == selected));
            o.push_str("\r\n");
        }
        if end < n {
            o.push_str(&format!("   v {} more (PgDn, End)", n - end));
        }
        o.push_str("\r\nEnter boot  e edit  d details  r rescan  s shell  p poweroff  b reboot\r\n");
        if let Some(first) = self.problems.first() {
            let more = match self.problems.len() {
                1 => " (x)".to_string(),
                k => format!(" (+{} more: x)", k - 1),
            };
            o.push_str(&format!(
                "! {}{more}\r\n",
                fit(first, 77usize.saturating_sub(more.len()))
            ));
        }
        if let Some(m) = message {
            o.push_str(&format!("{}\r\n", fit(m, 79)));
        }
        o
    }

    /// Moves the selection from `old` to `new`, both in the window at `top`:
    /// two lines rewritten, the cursor put back.
    fn render_move(&self, old: usize, new: usize, top: usize) -> String {
        format!(
            "\x1b7\x1b[{};1H{}\x1b[K\x1b[{};1H{}\x1b[K\x1b8",
            row(old, top),
            self.line(old, false),
            row(new, top),
            self.line(new, true)
        )
    }
}

/// Details of one entry, for `d`; `volume` is how its filesystem is known
/// (`ext4 UUID=… PARTUUID=…`).
pub fn details(e: &BootEntry, append: Option<&str>, volume: Option<&str>, problem: Option<&str>) -> String {
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
    o.push_str(&format!("  cmdline  {}\r\n", e.boot_cmdline(append)));
    if let Some(p) = problem {
        o.push_str(&format!("  problem  {}\r\n", fit(p, 400)));
    }
    o.push_str("(any key: back)\r\n");
    o
}

/// The problems, for `x` (at most 100 lines).
fn problem_list(problems: &[String]) -> String {
    let mut o = String::from("\r\nProblems met finding entries:\r\n");
    if problems.is_empty() {
        o.push_str("  (none)\r\n");
    }
    for p in problems.iter().take(100) {
        o.push_str(&format!("  {}\r\n", fit(p, 400)));
    }
    if problems.len() > 100 {
        o.push_str(&format!("  and {} more (see the log)\r\n", problems.len() - 100));
    }
    o.push_str("(any key: back)\r\n");
    o
}

/// How a line edit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Enter: the text.
    Done(String),
    /// Esc or Ctrl-C.
    Cancelled,
    /// No console is left to type on.
    NoConsole,
}

/// A one-line editor (←/→, Backspace, Ctrl-U clears). Waits as long as a
/// console is there to type on.
pub fn edit_line(c: &mut Consoles, prompt: &str, initial: &str) -> Edit {
    let mut text: Vec<char> = initial.chars().collect();
    let mut cur = text.len();
    let mut draw = true;
    loop {
        if std::mem::take(&mut draw) | c.take_returned() {
            let s: String = text.iter().collect();
            let back = text.len() - cur;
            let mut line = format!("\r\x1b[K{prompt}{s}");
            if back > 0 {
                line.push_str(&format!("\x1b[{back}D"));
            }
            c.write(&line);
        }
        let Some(key) = c.key(RETRY) else {
            if !c.interactive() {
                return Edit::NoConsole;
            }
            continue;
        };
        draw = true;
        match key {
            Key::Enter => {
                c.write("\r\n");
                return Edit::Done(text.iter().collect());
            }
            Key::Esc | Key::Ctrl('c') => {
                c.write(if key == Key::Esc { "\r\n" } else { "^C\r\n" });
                return Edit::Cancelled;
            }
            Key::Ctrl('u') => {
                text.clear();
                cur = 0;
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
            _ => draw = false,
        }
    }
}

/// What the screen needs after a key.
enum Draw {
    Nothing,
    All,
    /// The selection moved inside the window, from this entry.
    Move(usize),
}

/// Under the menu after the password was not given.
const LOCKED: &str = "locked: this image has a password (e and s ask for it)";

const HELP: &str = "keys: arrows j k PgUp PgDn Home End move, 1-9 pick, x problems, Ctrl-L redraw";

/// Shows the menu with a countdown on the default entry and returns the choice
/// (`timeout` `None` = wait for the user). `preload` runs once while the countdown shows; `disks_changed` is polled
/// every 2 s while the menu waits for the user, and a new disk rescans. `news` is polled at each
/// tick (every 250 ms of a countdown, every 2 s without): when it says entries arrived (the network's), the menu returns
/// [`Choice::Refresh`] to be shown again with them, the selection and countdown kept.
pub fn run(
    c: &mut Consoles,
    view: View<'_>,
    preload: &mut dyn FnMut(),
    disks_changed: &mut dyn FnMut() -> bool,
    news: &mut dyn FnMut() -> bool,
) -> Choice {
    let n = view.entries.len();
    let default = view.default.min(n.saturating_sub(1));
    let mut selected = default;
    if !c.interactive() {
        return Choice::Boot {
            index: selected,
            cmdline: None,
            automatic: true,
        };
    }
    let mut top = top_for(selected, 0, n);
    let mut deadline = view.timeout.map(|t| Instant::now() + t);
    let mut msg: Option<String> = view.message.map(str::to_string);
    let mut draw = Draw::All;
    let mut last_secs = u64::MAX;
    let mut preloaded = false;
    loop {
        if c.take_returned() {
            draw = Draw::All;
        }
        match std::mem::replace(&mut draw, Draw::Nothing) {
            Draw::All => {
                c.write(&view.render(selected, top, msg.as_deref()));
                last_secs = u64::MAX;
            }
            Draw::Move(old) => c.write(&view.render_move(old, selected, top)),
            Draw::Nothing => {}
        }
        if deadline.is_none() && !c.interactive() {
            // Nobody can answer any more: as at power-on with nobody there.
            log::warn!(
                "no console left: booting the default entry in {}s unless one comes back",
                view.unattended.as_secs()
            );
            selected = default;
            top = top_for(selected, top, n);
            deadline = Some(Instant::now() + view.unattended);
            draw = Draw::All;
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
                    let title = view.entries.get(selected).map(|e| e.title.as_str()).unwrap_or("");
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
            if news() {
                return Choice::Refresh {
                    selected,
                    left: deadline.map(|d| d.saturating_duration_since(Instant::now())),
                };
            }
            if deadline.is_none() && disks_changed() {
                return Choice::Rescan;
            }
            continue;
        };
        if deadline.take().is_some() {
            c.write("\r\x1b[K");
        }
        let (old, old_top) = (selected, top);
        let last = n.saturating_sub(1);
        match key {
            Key::Up | Key::Char('k') => selected = (selected + n.max(1) - 1) % n.max(1),
            Key::Down | Key::Char('j') => selected = (selected + 1) % n.max(1),
            // A page: the window and the selection move together.
            Key::PageUp => {
                selected = selected.saturating_sub(ROWS);
                top = top.saturating_sub(ROWS);
            }
            Key::PageDown => {
                selected = (selected + ROWS).min(last);
                top = (top + ROWS).min(n.saturating_sub(ROWS));
            }
            Key::Home => selected = 0,
            Key::End => selected = last,
            Key::Char(d @ '1'..='9') => {
                let i = (d as usize) - ('1' as usize);
                if i < n {
                    selected = i;
                }
            }
            Key::Ctrl('l') => draw = Draw::All,
            Key::Enter => {
                return Choice::Boot {
                    index: selected,
                    cmdline: None,
                    automatic: false,
                }
            }
            Key::Char('e') => {
                if let Some(e) = view.entries.get(selected) {
                    if !crate::lock::unlock(c, "The command-line editor") {
                        msg = Some(LOCKED.into());
                        draw = Draw::All;
                        continue;
                    }
                    c.write("\r\n(Enter boots, Esc cancels)\r\n");
                    if let Edit::Done(edited) = edit_line(c, "edit> ", &e.cmdline) {
                        return Choice::Boot {
                            index: selected,
                            cmdline: Some(edited),
                            automatic: false,
                        };
                    }
                }
                draw = Draw::All;
            }
            Key::Char('d') => {
                if let Some(e) = view.entries.get(selected) {
                    let problem = view.failed.iter().find(|(n, _)| *n == selected);
                    let volume = view.volumes.get(e.volume).map(String::as_str);
                    c.write(&details(e, view.append, volume, problem.map(|(_, why)| why.as_str())));
                    c.any_key();
                }
                draw = Draw::All;
            }
            Key::Char('x') => {
                c.write(&problem_list(view.problems));
                c.any_key();
                draw = Draw::All;
            }
            Key::Char('r') => return Choice::Rescan,
            Key::Char('s') => {
                if crate::lock::unlock_shell(c) {
                    return Choice::Shell;
                }
                msg = Some(LOCKED.into());
                draw = Draw::All;
            }
            Key::Char('p') => return Choice::Poweroff,
            Key::Char('b') => return Choice::Reboot,
            _ => {
                if msg.as_deref() != Some(HELP) {
                    msg = Some(HELP.into());
                    draw = Draw::All;
                }
            }
        }
        if selected != old || top != old_top {
            top = top_for(selected, top, n);
            draw = match draw {
                Draw::Nothing if top == old_top => Draw::Move(old),
                _ => Draw::All,
            };
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hopboot_loader::model::Format;
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, PtyMaster};

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

    fn entries(n: usize) -> Vec<BootEntry> {
        (0..n)
            .map(|i| BootEntry {
                title: format!("Debian GNU/Linux, with Linux 6.1.0-{i}-amd64"),
                format: Format::Grub,
                kernel: format!("/boot/vmlinuz-{i}"),
                initrds: vec![],
                cmdline: format!("root=/dev/vda1 entry={i}"),
                default: i == 0,
                device: "vda1".into(),
                id: format!("e{i}"),
                volume: 0,
                boot_image: None,
            })
            .collect()
    }

    fn view(e: &[BootEntry]) -> View<'_> {
        View {
            entries: e,
            failed: &[],
            default: 0,
            timeout: None,
            unattended: Duration::from_millis(1500),
            append: None,
            volumes: &[],
            message: None,
            problems: &[],
        }
    }

    /// A pseudo-terminal pair: the master, and the slave's path for [`Consoles::open`].
    pub(crate) fn pty() -> (PtyMaster, String) {
        let m = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
        grantpt(&m).unwrap();
        unlockpt(&m).unwrap();
        let name = ptsname_r(&m).unwrap();
        (m, name)
    }

    /// What the master has received within `wait`.
    fn drain(m: &mut PtyMaster, wait: Duration) -> String {
        let mut out = Vec::new();
        let end = Instant::now() + wait;
        while Instant::now() < end {
            let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) == 0 {
                continue;
            }
            let mut b = [0u8; 4096];
            match m.read(&mut b) {
                Ok(n) if n > 0 => out.extend_from_slice(&b[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_long_menu_scrolls_and_a_key_writes_the_same_whatever_its_length() {
        let (small, big) = (entries(5), entries(1000));
        let (vs, vb) = (view(&small), view(&big));
        let one = vs.render(0, 0, None).len();
        let full = vb.render(0, 0, None);
        assert!(full.contains("(entries 1-16 of 1000)"), "{full}");
        assert!(full.contains("v 984 more"), "{full}");
        assert!(full.len() < 2_600, "{} bytes", full.len());
        assert!(full.len() < one * 4);
        // The last page: entry 1000 shown, the rest above.
        let top = top_for(999, 0, 1000);
        assert_eq!(top, 984);
        let end = vb.render(999, top, None);
        assert!(
            end.contains("(entries 985-1000 of 1000)") && end.contains("^ 984 more"),
            "{end}"
        );
        assert!(end.contains("1000. Debian") && !end.contains(" 984. "), "{end}");
        // Moving inside the window rewrites two lines.
        assert!(vb.render_move(998, 999, top).len() < 300);
        assert_eq!(top_for(983, top, 1000), 983);
        assert_eq!(top_for(5, 0, 1000), 0);
        assert_eq!(top_for(3, 0, 4), 0);
    }

    #[test]
    fn a_disk_is_named_as_its_partitions_are() {
        let e = DiscoveryError::new(
            "/dev/vdc",
            hopboot_loader::model::Problem::Stalled {
                after: Duration::from_secs(3),
                doing: "opening its partitions".into(),
            },
        );
        assert_eq!(
            problem_line(&e),
            "vdc: stopped answering after 3.0 s, left out (opening its partitions)"
        );
    }

    #[test]
    fn problems_show_under_the_list_without_the_path_twice() {
        let e = DiscoveryError::new(
            "vdb1:/boot/grub/grub.cfg",
            hopboot_loader::model::Problem::Config(
                "/boot/grub/grub.cfg: stopped after 16 MiB of work (files read, variables expanded, copies)".into(),
            ),
        );
        let line = problem_line(&e);
        assert!(
            line.starts_with("vdb1:/boot/grub/grub.cfg: stopped after 16 MiB"),
            "{line}"
        );
        let e = entries(2);
        let probs = [line.clone(), "vda: stopped answering".to_string()];
        let v = View {
            problems: &probs,
            ..view(&e)
        };
        let screen = v.render(0, 0, None);
        assert!(
            screen.contains("! vdb1:/boot/grub/grub.cfg: stopped after 16 MiB of work"),
            "{screen}"
        );
        assert!(screen.contains("(+1 more: x)"), "{screen}");
    }

    #[test]
    fn keys_and_escape_sequences_decode() {
        let (mut m, path) = pty();
        let mut c = Consoles::open(&[path]);
        assert!(c.interactive());
        m.write_all(b"\x1b[A\x1b[5~\x1b[6~\x1bOH\x1b[4~\x1b[F\x03\x1a\x1c\rq")
            .unwrap();
        let keys: Vec<Key> = std::iter::from_fn(|| c.key(Duration::from_millis(500))).collect();
        assert_eq!(
            keys,
            [
                Key::Up,
                Key::PageUp,
                Key::PageDown,
                Key::Home,
                Key::End,
                Key::End,
                Key::Ctrl('c'),
                Key::Ctrl('z'),
                Key::Other,
                Key::Enter,
                Key::Char('q')
            ]
        );
    }

    /// CPU time this thread used, in clock ticks.
    fn thread_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        let f: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15; `after` starts at field 3.
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    #[test]
    fn a_console_that_hangs_up_is_not_spun_on_and_the_default_boots_when_none_is_left() {
        let e = entries(3);
        // Through a link that goes away with the device: the pty's number may
        // be reused by another test meanwhile.
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("console");
        let (m, path) = pty();
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let mut c = Consoles::open(&[link.display().to_string()]);
        let v = View { default: 1, ..view(&e) };
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::remove_file(&link).unwrap();
            drop(m);
        });
        let (start, ticks) = (Instant::now(), thread_ticks());
        let mut polled = 0;
        let choice = run(
            &mut c,
            v,
            &mut || {},
            &mut || {
                polled += 1;
                false
            },
            &mut || false,
        );
        let (took, used) = (start.elapsed(), thread_ticks() - ticks);
        closer.join().unwrap();
        assert_eq!(
            choice,
            Choice::Boot {
                index: 1,
                cmdline: None,
                automatic: true
            }
        );
        // The hang-up, then the unattended countdown of 1.5 s.
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
            "{took:?}"
        );
        // 100 ticks a second: a spinning loop would use about as many as it ran.
        assert!(
            used * 1000 < 100 * took.as_millis() as u64 / 4,
            "{used} ticks in {took:?}"
        );
        assert!(polled < 10, "disks polled {polled} times");
    }

    #[test]
    fn a_console_that_comes_back_is_redrawn_and_answers() {
        let e = entries(3);
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("console");
        let (m1, p1) = pty();
        std::os::unix::fs::symlink(&p1, &link).unwrap();
        let mut c = Consoles::open(&[link.display().to_string()]);
        let v = View {
            unattended: Duration::from_secs(30),
            ..view(&e)
        };
        let helper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::remove_file(&link).unwrap();
            drop(m1);
            // Gone long enough for the unattended countdown to start.
            std::thread::sleep(Duration::from_millis(2500));
            // The same console path, a new device behind it (a USB adapter plugged in again).
            let (mut m2, p2) = pty();
            std::os::unix::fs::symlink(&p2, &link).unwrap();
            let screen = drain(&mut m2, Duration::from_secs(2));
            m2.write_all(b"j\r").unwrap();
            (screen, m2)
        });
        let choice = run(&mut c, v, &mut || {}, &mut || false, &mut || false);
        let (screen, _m2) = helper.join().unwrap();
        // Redrawn with the countdown, which the key stops.
        assert!(screen.contains("boot menu") && screen.contains("in 29s"), "{screen:?}");
        assert_eq!(
            choice,
            Choice::Boot {
                index: 1,
                cmdline: None,
                automatic: false
            }
        );
    }
}
