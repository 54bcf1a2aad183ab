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
use hopboot_loader::tpm;
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
    only_the_bootloaders(&mut d);
    if let Some(which) = efivars::apply(&mut d, &efivars::read(Path::new(efivars::EFIVARFS))) {
        log::info!("the default entry is systemd-boot's {which}");
    }
    d
}

/// On a running system hopboot shows what its bootloader shows. The plain
/// /boot scan, a fallback for filesystems no config claims, would add kernels
/// the bootloader never lists (with systemd-boot, Debian's /boot/vmlinuz-* on
/// the root filesystem beside the copies kernel-install made on the ESP):
/// dropped when any config was found. A system no bootloader config describes
/// keeps them.
fn only_the_bootloaders(d: &mut Discovery) {
    if d.entries.iter().all(|e| e.format == Format::Scan) {
        return;
    }
    let before = d.entries.len();
    d.entries.retain(|e| e.format != Format::Scan);
    if before != d.entries.len() {
        log::info!(
            "left out {} kernel(s) of the plain /boot scan: the bootloader's config does not list them",
            before - d.entries.len()
        );
    }
    if d.default_index().is_none() {
        if let Some(e) = d.entries.first_mut() {
            e.default = true;
        }
    }
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
    // The host's signature policy (/etc/hopboot, as in the image), if any,
    // then the TPM measurements of what passed it.
    let policy = hopboot_loader::trust::policy::Policy::load(Path::new("/"));
    let mut gate = |b: &mut kexec::Boot<'_>| {
        crate::pid1::signature_gate(&policy, b, vol.fs.as_ref(), false)?;
        tpm::gate(b)
    };
    kexec::load(&e, vol.fs.as_ref(), how.append, how.method, &mut gate).map_err(|err| err.to_string())?;
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

/// Whether the shutdown under way is `systemctl kexec`: a start job for
/// kexec.target (or systemd-kexec.service) is queued. `None` when systemd
/// cannot be asked.
fn kexec_pending() -> Option<bool> {
    let (code, out) =
        hopboot_loader::sys::run(&[c"systemctl", c"list-jobs", c"--no-legend", c"--no-pager"], 1 << 16).ok()?;
    (code == 0).then(|| kexec_job_listed(&String::from_utf8_lossy(&out)))
}

/// In `systemctl list-jobs --no-legend` output ("ID UNIT TYPE STATE" lines),
/// a start job for kexec.target or systemd-kexec.service.
fn kexec_job_listed(jobs: &str) -> bool {
    jobs.lines().any(|l| {
        let mut w = l.split_whitespace().skip(1);
        matches!(w.next(), Some("kexec.target" | "systemd-kexec.service")) && w.next() == Some("start")
    })
}

/// What hopboot-kexec.service's ExecStart (`--systemd`) or ExecStop
/// (`--systemd-stop`) does, from what is loaded and what the state file says.
#[derive(Debug, PartialEq, Eq)]
enum Act {
    /// Arm the placeholder (at boot).
    Arm,
    /// Already armed: nothing to do.
    Armed,
    /// Load the entry in the placeholder's place (at `systemctl kexec`).
    Load,
    /// Unload the placeholder (the unit stops, but not for a kexec).
    Disarm,
    /// Keep what a user or another tool loaded (the message says which).
    Keep(String),
    /// Nothing loaded and nothing to do.
    Nothing,
}

/// The decision, without side effects. `stop`: ExecStop; `kexec`: whether
/// a kexec is under way (ExecStop: `systemctl list-jobs`, `None` when systemd
/// could not be asked; ExecStart: `is-system-running` says "stopping", which
/// only an old unit started in kexec.target's transaction sees).
fn decide(stop: bool, loaded: bool, state: Option<&State>, kexec: Option<bool>) -> Act {
    match (state, loaded) {
        (Some(State::User(id) | State::Systemd(id)), true) => Act::Keep(format!("the entry loaded before ({id})")),
        (None, true) => Act::Keep("the kernel another tool loaded (kexec -l?)".into()),
        (Some(State::Placeholder | State::Early(_)), true) => match (stop, kexec) {
            // Asked at shutdown and unsure: a loaded entry costs nothing if
            // the firmware reboots instead.
            (true, Some(true) | None) | (false, Some(true)) => Act::Load,
            (true, Some(false)) => Act::Disarm,
            (false, _) => Act::Armed,
        },
        (_, false) if stop => Act::Nothing,
        (_, false) if kexec == Some(true) => Act::Load,
        (_, false) => Act::Arm,
    }
}

/// `hopboot load --systemd` (hopboot-kexec.service's ExecStart, at boot) and
/// `--systemd-stop` (its ExecStop: at shutdown, before the boot filesystems
/// are unmounted). Returns the exit code.
pub fn systemd(how: &How<'_>, stop: bool) -> i32 {
    let loaded = kexec::loaded().unwrap_or(false);
    let state = read_state();
    let kexec = if stop { kexec_pending() } else { Some(stopping()) };
    match decide(stop, loaded, state.as_ref(), kexec) {
        Act::Keep(what) => {
            println!("hopboot: keeping {what}");
            0
        }
        Act::Nothing => {
            println!("hopboot: nothing is loaded; nothing to do");
            0
        }
        Act::Armed => {
            println!("hopboot: already armed for systemctl kexec");
            0
        }
        Act::Disarm => {
            let _ = hopboot_loader::sys::kexec_file_unload();
            forget();
            println!("hopboot: not a kexec: unloaded the placeholder");
            0
        }
        Act::Load => {
            // The bootloader's own entry: a one-shot (grub-reboot, bootctl
            // set-oneshot) is used up as the bootloader would; an entry the
            // unit names (hopboot-kexec@ENTRY) leaves it alone.
            let how = How {
                next: how.entry.is_none(),
                ..*how
            };
            match load_entry(&how, "load") {
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
            }
        }
        Act::Arm => arm(how),
    }
}

/// At boot: arms the placeholder, and says what would be loaded today.
fn arm(how: &How<'_>) -> i32 {
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
    fn the_plain_scan_is_left_out_beside_a_bootloader_config() {
        let d = |entries| Discovery {
            volumes: vec![],
            entries,
            errors: vec![],
        };
        let ids = |d: &Discovery| d.entries.iter().map(|e| (e.id.clone(), e.default)).collect::<Vec<_>>();
        let mut both = d(vec![
            entry("scan", Format::Scan, true),
            entry("debian.conf", Format::Bls, false),
            entry("second.conf", Format::Bls, false),
        ]);
        only_the_bootloaders(&mut both);
        assert_eq!(
            ids(&both),
            [("debian.conf".to_string(), true), ("second.conf".to_string(), false)]
        );
        let mut grub = d(vec![
            entry("g", Format::Grub, false),
            entry("scan", Format::Scan, false),
        ]);
        grub.entries[0].default = true;
        only_the_bootloaders(&mut grub);
        assert_eq!(ids(&grub), [("g".to_string(), true)]);
        // No config at all: the scan is all there is.
        let mut scan = d(vec![entry("a", Format::Scan, true), entry("b", Format::Scan, false)]);
        only_the_bootloaders(&mut scan);
        assert_eq!(scan.entries.len(), 2);
    }

    #[test]
    fn kexec_jobs_are_found_in_list_jobs() {
        let jobs = "  93 kexec.target                 start waiting\n 120 systemd-kexec.service start waiting\n";
        assert!(kexec_job_listed(jobs));
        assert!(kexec_job_listed("7 systemd-kexec.service start waiting"));
        assert!(!kexec_job_listed(
            " 88 reboot.target start waiting\n 90 systemd-reboot.service start waiting\n"
        ));
        assert!(!kexec_job_listed(" 5 kexec.target stop running\n"));
        assert!(!kexec_job_listed(""));
    }

    #[test]
    fn start_arms_and_stop_loads_only_for_a_kexec() {
        let p = Some(State::Placeholder);
        let user = Some(State::User("x".into()));
        // ExecStart at boot.
        assert_eq!(decide(false, false, None, Some(false)), Act::Arm);
        assert_eq!(decide(false, true, p.as_ref(), Some(false)), Act::Armed);
        assert!(matches!(decide(false, true, user.as_ref(), Some(false)), Act::Keep(_)));
        assert!(matches!(decide(false, true, None, Some(false)), Act::Keep(_)));
        // An old unit started in kexec.target's transaction.
        assert_eq!(decide(false, true, p.as_ref(), Some(true)), Act::Load);
        // ExecStop: a kexec, unsure, or another shutdown.
        assert_eq!(decide(true, true, p.as_ref(), Some(true)), Act::Load);
        assert_eq!(decide(true, true, p.as_ref(), None), Act::Load);
        assert_eq!(
            decide(true, true, Some(&State::Early("e".into())), Some(true)),
            Act::Load
        );
        assert_eq!(decide(true, true, p.as_ref(), Some(false)), Act::Disarm);
        assert!(matches!(decide(true, true, user.as_ref(), Some(true)), Act::Keep(_)));
        assert_eq!(decide(true, false, p.as_ref(), Some(true)), Act::Nothing);
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
