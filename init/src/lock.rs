//! The menu lock (docs/trust.md "Menu lock"): when the image was built with a password
//! (`hopboot-image-build --password-hash FILE`, stored at [`PASSWORD_FILE`] as a
//! salted PBKDF2 hash, see `hopboot-password`), the command-line editor, the
//! rescue shell and booting an entry the signature policy calls unsigned ask for
//! it first. The first right answer unlocks all three for the rest of the boot.
//!
//! The password is read on the console the menu or prompt runs on, without echo;
//! three tries, each costing the whole KDF (a wrong one as much as the right one);
//! Esc or Ctrl-C gives up. No password file: nothing is locked and nothing is
//! asked. A password file that cannot be read or is not a hash keeps everything
//! locked (the image builder refuses to write one; a damaged image must not open).

use crate::menu::Consoles;
use hopboot_password::Stored;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the image builder stores the hash (a PHC string, one line).
pub const PASSWORD_FILE: &str = "/etc/hopboot/password";

/// Tries per question.
const TRIES: u32 = 3;
/// Longest password read (bytes): more is ignored, as a line editor would.
const MAX_LEN: usize = 1024;

/// What the image says about a password.
#[derive(Debug)]
enum Config {
    /// No password file: nothing is locked.
    Open,
    /// The stored hash.
    Hash(Stored),
    /// The file is there but unusable: locked for good.
    Broken(String),
}

static CONFIG: OnceLock<Config> = OnceLock::new();
/// Set by the first right password.
static UNLOCKED: AtomicBool = AtomicBool::new(false);
/// Set when the signature policy is `enforce`: the rescue shell could kexec
/// anything, so without a password it stays closed.
static ENFORCED: AtomicBool = AtomicBool::new(false);

/// Tells the lock that the signature policy is `enforce` (PID 1, at start).
pub fn set_enforced(on: bool) {
    ENFORCED.store(on, Ordering::SeqCst);
}

/// Why the rescue shell is off for good in this boot: `enforce` and no
/// password to open it with.
fn shell_off() -> Option<&'static str> {
    (ENFORCED.load(Ordering::SeqCst) && matches!(config(), Config::Open)).then_some(
        "The rescue shell is off: the signature policy is enforce, and this image has no password \
         to unlock it (hopboot-image-build --password-hash).",
    )
}

/// Asks before the rescue shell: the password when there is one; under
/// `enforce` without one, the shell is off and this says so.
pub fn unlock_shell(c: &mut Consoles) -> bool {
    if let Some(why) = shell_off() {
        log::warn!("{why}");
        c.write(&format!("\r\n{why}\r\n"));
        return false;
    }
    unlock(c, "The rescue shell")
}

/// Whether the shell may open now (the last door, in `prompt::shell`).
pub fn shell_open() -> bool {
    shell_off().is_none() && is_open()
}

fn config() -> &'static Config {
    CONFIG.get_or_init(|| load(std::path::Path::new(PASSWORD_FILE)))
}

fn load(path: &std::path::Path) -> Config {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::Open,
        Err(e) => Config::Broken(format!("{}: {e}", path.display())),
        Ok(text) => match Stored::parse(&text) {
            Ok(h) => {
                log::info!("menu lock: password set ({} PBKDF2 iterations)", h.iterations());
                Config::Hash(h)
            }
            Err(e) => Config::Broken(format!("{}: {e}", path.display())),
        },
    }
}

/// Whether the image has a password (set, or damaged and so locked for good).
pub fn configured() -> bool {
    !matches!(config(), Config::Open)
}

/// Whether what the lock guards may run now: no password, or it was given.
pub fn is_open() -> bool {
    UNLOCKED.load(Ordering::SeqCst) || matches!(config(), Config::Open)
}

/// Asks for the password on `c` before `what` (a noun phrase with a capital:
/// "The rescue shell") and says why. `true` when there is no password, it was
/// given earlier in this boot, or it is given now.
pub fn unlock(c: &mut Consoles, what: &str) -> bool {
    if is_open() {
        return true;
    }
    let ok = match config() {
        Config::Open => true,
        Config::Hash(h) => ask(c, h, what),
        Config::Broken(e) => {
            log::error!("menu lock: {e}: locked");
            c.write(&format!(
                "\r\n{what} is locked, and the password file is damaged ({e}): rebuild the image.\r\n"
            ));
            false
        }
    };
    if ok {
        UNLOCKED.store(true, Ordering::SeqCst);
    }
    ok
}

/// The hook for the signature policy: asks before booting `title`, which is not
/// signed or does not match its signature (`reason`), under `warn`.
pub fn unlock_unsigned(c: &mut Consoles, title: &str, reason: &str) -> bool {
    unlock(c, &format!("Booting '{title}' ({reason})"))
}

/// The question itself, up to [`TRIES`] times.
fn ask(c: &mut Consoles, stored: &Stored, what: &str) -> bool {
    c.write(&format!(
        "\r\n{what} is locked by a password (set when this image was built).\r\n"
    ));
    for n in 1..=TRIES {
        c.write("Password (Esc cancels): ");
        let Some(mut typed) = read_secret(c) else {
            c.write("\r\nCancelled.\r\n");
            return false;
        };
        let t = Instant::now();
        let ok = stored.verify(&typed);
        typed.fill(0);
        drop(std::hint::black_box(typed));
        log::info!("menu lock: password checked in {} ms", t.elapsed().as_millis());
        if ok {
            log::info!("menu lock: unlocked for the rest of this boot ({what})");
            c.write("\r\nUnlocked for the rest of this boot.\r\n");
            return true;
        }
        log::warn!("menu lock: wrong password ({what}, try {n} of {TRIES})");
        c.write(&format!("\r\nWrong password ({n} of {TRIES}).\r\n"));
    }
    c.write(&format!("{what} stays locked.\r\n"));
    false
}

/// One line typed on `c`, not echoed; `None` on Esc, Ctrl-C or when no console is left.
/// Backspace removes a character (UTF-8), Ctrl-U the whole line.
fn read_secret(c: &mut Consoles) -> Option<Vec<u8>> {
    let mut typed: Vec<u8> = Vec::new();
    loop {
        let Some(b) = c.byte(Duration::from_secs(1)) else {
            if !c.interactive() {
                typed.fill(0);
                return None;
            }
            continue;
        };
        match b {
            b'\r' | b'\n' => return Some(typed),
            0x1b | 0x03 => {
                // An arrow key is ESC [ A: its tail is not a key for the menu.
                while c.byte(Duration::from_millis(60)).is_some() {}
                typed.fill(0);
                return None;
            }
            0x7f | 0x08 => {
                // A UTF-8 character's continuation bytes go with it.
                while let Some(last) = typed.pop() {
                    if last & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            0x15 => {
                typed.fill(0);
                typed.clear();
            }
            b if b < 0x20 => {}
            b if typed.len() < MAX_LEN => typed.push(b),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    use crate::menu::tests::pty;

    /// Runs [`ask`] on a pty with `keys` typed, and returns its answer and the screen.
    fn asked(keys: &'static [u8]) -> (bool, String) {
        let stored = Stored::new("pässword".as_bytes(), b"0123456789abcdef", 1_000).unwrap();
        let (mut m, path) = pty();
        let mut c = Consoles::open(&[path]);
        m.write_all(keys).unwrap();
        let ok = ask(&mut c, &stored, "The rescue shell");
        drop(c);
        let mut screen = Vec::new();
        let mut buf = [0u8; 4096];
        // The slave is closed: the master reads what was written, then EIO.
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&buf[..n]);
        }
        (ok, String::from_utf8_lossy(&screen).into_owned())
    }

    #[test]
    fn the_right_password_unlocks_without_echo() {
        let (ok, screen) = asked("wrong\rpäss\x7f\x7f\x7f\x7fxx\x15pässword\r".as_bytes());
        assert!(ok, "{screen}");
        assert!(screen.contains("The rescue shell is locked by a password"), "{screen}");
        assert!(screen.contains("Wrong password (1 of 3)"), "{screen}");
        assert!(screen.contains("Unlocked for the rest of this boot"), "{screen}");
        assert!(
            !screen.contains("wrong") && !screen.contains("päss"),
            "echoed: {screen}"
        );
    }

    #[test]
    fn three_wrong_passwords_or_esc_keep_it_locked() {
        let (ok, screen) = asked(b"a\rb\rc\rpassword\r");
        assert!(!ok);
        assert!(
            screen.contains("Wrong password (3 of 3)") && screen.contains("stays locked"),
            "{screen}"
        );
        let (ok, screen) = asked(b"p\x1b[A");
        assert!(!ok);
        assert!(screen.contains("Cancelled"), "{screen}");
        let (ok, _) = asked(b"p\x03");
        assert!(!ok);
    }

    #[test]
    fn the_file_decides_and_a_damaged_one_stays_locked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("password");
        assert!(matches!(load(&p), Config::Open));
        std::fs::write(&p, "hunter2\n").unwrap();
        assert!(matches!(load(&p), Config::Broken(e) if e.contains("not a password hash")));
        let s = Stored::new(b"x", b"0123456789abcdef", 1_000).unwrap();
        std::fs::write(&p, format!("{s}\n")).unwrap();
        assert!(matches!(load(&p), Config::Hash(h) if h == s));
    }
}
