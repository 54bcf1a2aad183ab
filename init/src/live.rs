//! hopboot on a running system (`hopboot probe`, `list`, `load` without
//! paths): discovery of the system's boot filesystems with systemd-boot's EFI
//! variables applied, loading one entry, what was loaded (a state file in
//! /run, which the next boot starts without), and `hopboot-kexec.service`'s
//! `--systemd` mode.

use hopboot_loader::discover::{self, Discovery};
use hopboot_loader::format::sdboot::efivars;
use hopboot_loader::kexec::{self, Method};
use hopboot_loader::model::{BootEntry, Format};
use hopboot_loader::source::live;
use std::path::{Path, PathBuf};

/// What `hopboot load` was asked for.
pub struct How<'a> {
    /// ENTRY: id, title or index; `None` for the bootloader's default.
    pub entry: Option<&'a str>,
    /// `--reuse-cmdline`.
    pub reuse: bool,
    /// `--append`.
    pub append: Option<&'a str>,
    /// `--kexec-file` or not.
    pub method: Method,
    /// `--next`: use up GRUB's or systemd-boot's one-shot.
    pub next: bool,
}

/// The running system's entries, as its bootloader would show them.
pub fn discover() -> Discovery {
    let (volumes, errors) = live::volumes();
    let mut d = discover::discover(volumes, errors);
    if let Some(which) = efivars::apply(&mut d, &efivars::read(Path::new(efivars::EFIVARFS))) {
        log::info!("the default entry is systemd-boot's {which}");
    }
    d
}

/// Where hopboot notes what it loaded: /run is a tmpfs, so the note lives
/// exactly as long as the loaded kernel can.
const STATE: &str = "/run/hopboot/loaded";

/// What is loaded, as far as hopboot knows.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// The placeholder `--systemd` loads at boot.
    Placeholder,
    /// An entry `--systemd` loaded at boot because the placeholder was
    /// refused (lockdown): replaced at shutdown like the placeholder.
    Early(String),
    /// An entry `--systemd` loaded at shutdown.
    Systemd(String),
    /// An entry a user loaded with `hopboot load`: kept at shutdown.
    User(String),
}

impl State {
    fn parse(text: &str) -> Option<State> {
        let line = text.lines().next()?;
        let (kind, id) = line.split_once(' ').unwrap_or((line, ""));
        Some(match kind {
            "placeholder" => State::Placeholder,
            "early" => State::Early(id.into()),
            "systemd" => State::Systemd(id.into()),
            "user" => State::User(id.into()),
            _ => return None,
        })
    }

    fn line(&self) -> String {
        match self {
            State::Placeholder => "placeholder".into(),
            State::Early(id) => format!("early {id}"),
            State::Systemd(id) => format!("systemd {id}"),
            State::User(id) => format!("user {id}"),
        }
    }
}

fn read_state() -> Option<State> {
    State::parse(&std::fs::read_to_string(STATE).ok()?)
}

fn write_state(s: &State) {
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all("/run/hopboot")?;
        std::fs::write(STATE, format!("{}\n", s.line()))
    };
    if let Err(e) = write() {
        log::warn!("cannot note what was loaded in {STATE}: {e}");
    }
}

/// Forgets what was loaded (`hopboot unload`).
pub fn forget() {
    let _ = std::fs::remove_file(STATE);
}

/// Loads the entry `how` names (or the default); returns it.
fn load_entry(how: &How<'_>, name: &str) -> Result<BootEntry, String> {
    let d = discover();
    for e in &d.errors {
        log::warn!("{}: {}", e.path, e.problem);
    }
    let i = crate::options::choose(&d, how.entry)?;
    let mut e = d.entries.get(i).cloned().ok_or("no such entry")?;
    if how.reuse {
        let current = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        e.cmdline = hopboot_loader::cmdline::strip_loader_items(&current);
    }
    println!(
        "hopboot {name}: '{}' from {}: {} {}",
        e.title,
        e.device,
        e.kernel,
        e.boot_cmdline(how.append)
    );
    let vol = d.volume_of(&e).ok_or("the disk holding this entry is gone")?;
    kexec::load(&e, vol.fs.as_ref(), how.append, how.method).map_err(|err| err.to_string())?;
    if how.next {
        use_up_grub_oneshot(&d, &e);
        use_up_sdboot_oneshot(Path::new(efivars::EFIVARFS), &e);
    }
    Ok(e)
}

/// `hopboot load` (and `boot`) by hand.
pub fn load(how: &How<'_>, name: &str) -> Result<(), String> {
    if how.next && how.entry.is_some() {
        return Err("--next loads the bootloader's next entry: give no ENTRY with it".into());
    }
    let e = load_entry(how, name)?;
    write_state(&State::User(e.id));
    Ok(())
}

/// Where GRUB keeps its environment block, inside a filesystem.
const GRUBENVS: [&str; 4] = [
    "/boot/grub/grubenv",
    "/grub/grubenv",
    "/boot/grub2/grubenv",
    "/grub2/grubenv",
];

/// After GRUB's one-shot entry (`grub-reboot`: `next_entry` in grubenv) was
/// loaded, unsets it as GRUB does when it boots it, with the system's own
/// `grub-editenv` writing through the mounted filesystem (hopboot itself
/// writes to no disk).
fn use_up_grub_oneshot(d: &Discovery, e: &BootEntry) {
    if e.format != Format::Grub || !e.default {
        return;
    }
    let Some(vol) = d.volume_of(e) else { return };
    let found = GRUBENVS.iter().find(|p| {
        vol.fs.read_text(p).is_ok_and(|t| {
            hopboot_loader::format::grub::parse_grubenv(&t)
                .iter()
                .any(|(k, v)| k == "next_entry" && !v.is_empty())
        })
    });
    let Some(inside) = found else {
        log::info!("--next: GRUB has no one-shot entry (next_entry) set");
        return;
    };
    // Live volumes are named by their mount points.
    let mount = Path::new(&vol.name);
    if !(mount.is_absolute() && mount.is_dir()) {
        eprintln!(
            "hopboot load: --next: {} is not mounted; GRUB's next_entry stays set",
            vol.name
        );
        return;
    }
    let file: PathBuf = mount.join(inside.trim_start_matches('/'));
    let Ok(c_file) = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()) else {
        return;
    };
    for tool in [c"grub-editenv", c"grub2-editenv"] {
        let name = tool.to_string_lossy();
        match hopboot_loader::sys::run(&[tool, &c_file, c"unset", c"next_entry"], 0) {
            Ok((0, _)) => {
                println!(
                    "hopboot load: used up GRUB's one-shot entry ({name} {} unset next_entry)",
                    file.display()
                );
                return;
            }
            Ok((code, _)) => {
                eprintln!(
                    "hopboot load: --next: {name} {} unset next_entry exited {code}",
                    file.display()
                );
                return;
            }
            // Not installed (ENOENT): try the next name.
            Err(_) => continue,
        }
    }
    eprintln!(
        "hopboot load: --next: no grub-editenv here; GRUB's next_entry stays set in {}",
        file.display()
    );
}

/// After systemd-boot's one-shot entry (`LoaderEntryOneShot`, `bootctl
/// set-oneshot`) was loaded, deletes the variable as systemd-boot does when it
/// boots it. efivarfs marks the variable immutable: cleared first, as
/// `bootctl` does. Returns whether it was deleted.
fn use_up_sdboot_oneshot(efivarfs: &Path, e: &BootEntry) -> bool {
    if !matches!(e.format, Format::Bls | Format::Uki) || !e.default {
        return false;
    }
    let Some(var) = efivars::read(efivarfs).oneshot else {
        log::info!("--next: systemd-boot has no one-shot entry (LoaderEntryOneShot) set");
        return false;
    };
    if !efivars::names(&var, &e.id) {
        return false;
    }
    let path = efivars::var_path(efivarfs, "LoaderEntryOneShot");
    let removed = std::fs::File::open(&path)
        .and_then(|f| hopboot_loader::sys::clear_immutable(&f))
        .and_then(|()| std::fs::remove_file(&path));
    match removed {
        Ok(()) => {
            println!("hopboot load: used up systemd-boot's one-shot entry (LoaderEntryOneShot={var} deleted)");
            true
        }
        Err(err) => {
            eprintln!(
                "hopboot load: --next: cannot delete {}: {err}; systemd-boot's one-shot stays set",
                path.display()
            );
            false
        }
    }
}

/// Whether systemd is shutting the system down (`systemctl
/// is-system-running` says "stopping"); asked only when the state file does
/// not tell.
fn stopping() -> bool {
    hopboot_loader::sys::run(&[c"systemctl", c"is-system-running"], 64)
        .is_ok_and(|(_, out)| out.trim_ascii() == b"stopping")
}

/// `hopboot load --systemd`, run by hopboot-kexec.service at boot and again
/// in `systemctl kexec`'s transaction, after umount.target. Returns the exit
/// code.
pub fn systemd(how: &How<'_>) -> i32 {
    let loaded = kexec::loaded().unwrap_or(false);
    let state = read_state();
    let shutdown = match (&state, loaded) {
        (Some(State::Placeholder | State::Early(_)), true) => true,
        (Some(State::User(id) | State::Systemd(id)), true) => {
            println!("hopboot: keeping the entry loaded before ({id})");
            return 0;
        }
        (None, true) => {
            println!("hopboot: keeping the kernel another tool loaded (kexec -l?)");
            return 0;
        }
        (_, false) => stopping(),
    };
    if shutdown {
        return match load_entry(how, "load") {
            Ok(e) => {
                write_state(&State::Systemd(e.id));
                println!("hopboot: loaded '{}' for systemctl kexec", e.title);
                0
            }
            Err(err) => {
                eprintln!("hopboot load: {err}");
                let _ = hopboot_loader::sys::kexec_file_unload();
                forget();
                eprintln!("hopboot: nothing loaded: the machine reboots through its firmware instead");
                1
            }
        };
    }
    // At boot: arm the placeholder, and say what would be loaded today.
    match kexec::load_placeholder() {
        Ok(()) => {
            write_state(&State::Placeholder);
            let d = discover();
            match crate::options::choose(&d, how.entry)
                .ok()
                .and_then(|i| d.entries.get(i))
            {
                Some(e) => println!(
                    "hopboot: ready for systemctl kexec; it will load '{}' ({}) at shutdown",
                    e.title, e.id
                ),
                None => eprintln!(
                    "hopboot: ready for systemctl kexec, but no entry to load was found today: {}",
                    how.entry.unwrap_or("no default entry")
                ),
            }
            0
        }
        Err(why) => {
            // Under lockdown only signed kernels load: load the real entry now.
            log::info!("placeholder refused ({}); loading the entry now", kexec::explain(&why));
            match load_entry(how, "load") {
                Ok(e) => {
                    write_state(&State::Early(e.id));
                    println!("hopboot: loaded '{}' now; it is loaded again at shutdown", e.title);
                    0
                }
                Err(err) => {
                    eprintln!("hopboot load: {err}");
                    1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, format: Format, default: bool) -> BootEntry {
        BootEntry {
            title: id.into(),
            format,
            kernel: "/vmlinuz".into(),
            initrds: vec![],
            cmdline: String::new(),
            default,
            device: "vda1".into(),
            id: id.into(),
            volume: 0,
            boot_image: None,
        }
    }

    /// On a plain directory standing in for efivarfs (no immutable flag there; the
    /// real one is the Debian test, tests/tests/distro.rs).
    #[test]
    fn next_deletes_systemd_boots_oneshot_only_when_it_chose_the_entry() {
        let dir = std::env::temp_dir().join(format!("hopboot-live-oneshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let var = efivars::var_path(&dir, "LoaderEntryOneShot");
        let mut bytes = vec![7u8, 0, 0, 0];
        for u in "second.conf".encode_utf16().chain([0]) {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        std::fs::write(&var, &bytes).unwrap();
        // Another entry, a GRUB entry, or one that is not the default: kept.
        assert!(!use_up_sdboot_oneshot(&dir, &entry("first", Format::Bls, true)));
        assert!(!use_up_sdboot_oneshot(&dir, &entry("second", Format::Grub, true)));
        assert!(!use_up_sdboot_oneshot(&dir, &entry("second", Format::Bls, false)));
        assert!(var.exists());
        assert!(use_up_sdboot_oneshot(&dir, &entry("second", Format::Bls, true)));
        assert!(!var.exists());
        assert!(!use_up_sdboot_oneshot(&dir, &entry("second", Format::Bls, true)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn state_lines_round_trip() {
        for s in [
            State::Placeholder,
            State::Early("a".into()),
            State::Systemd("debian-6.1.conf".into()),
            State::User("gnulinux-simple-1234".into()),
        ] {
            assert_eq!(State::parse(&s.line()), Some(s));
        }
        assert_eq!(State::parse(""), None);
        assert_eq!(State::parse("other x\n"), None);
    }
}
