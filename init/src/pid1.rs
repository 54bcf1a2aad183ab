//! PID 1: set up the minimal system, find entries, boot the default; on any
//! failure, stay at a prompt. Never returns, never exits.

use crate::machine::Pid1Machine;
use crate::menu::Choice;
use crate::options::{choose, NetMode, Options};
use crate::prompt::{self, Action};
use hopboot_loader::cmdline::Cmdline;
use hopboot_loader::discover::Discovery;
use hopboot_loader::kexec::{self, KexecError};
use hopboot_loader::model::{BootEntry, DiscoveryError, Problem, Volume};
use hopboot_loader::net::boot::{NicBoot, Watch};
use hopboot_loader::source::threaded::Threads;
use hopboot_loader::source::Machine;
use hopboot_loader::tpm;
use hopboot_loader::trust::policy::{Mode, Policy, Prechecks, Verdict};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Monotonic stage times since hopboot started, for the log and benchmarks.
pub struct Clock(Instant);

impl Clock {
    fn ms(&self) -> u128 {
        self.0.elapsed().as_millis()
    }
}

/// Everything PID 1 knows between rounds.
pub struct State {
    pub opts: Options,
    pub discovery: Discovery,
    pub clock: Clock,
    /// Entries that failed to load, by index, with why.
    pub failed: Vec<(usize, String)>,
    /// The entry currently loaded with kexec (index, full command line), so
    /// booting it needs only the reboot syscall.
    pub loaded: Option<(usize, String)>,
    /// Mounts the kernel-mount fallback made, unmounted before kexec or a
    /// rescan; shared with the disks' threads, which mount.
    pub machine: Arc<Pid1Machine>,
    /// The disks' threads, some perhaps blocked on a dead disk.
    pub threads: Threads,
    /// The network's interfaces still being tried (`hopboot.net=`).
    pub net: Option<Watch>,
    /// What the network gave so far, per interface: merged into every
    /// discovery (a rescan of the disks keeps them).
    pub net_found: Vec<NicBoot>,
    /// The signature policy (issue 14): the image's, made stricter by
    /// `hopboot.verify=`.
    pub policy: Policy,
}

/// Why PID 1 could not do what was asked; shown on the menu and the prompt.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// No such entry.
    #[error("no entry {0}")]
    NoEntry(usize),
    /// The entry's volume is not in the discovery any more.
    #[error("entry {} '{title}': the disk holding this entry is gone", .index + 1)]
    NoVolume {
        /// 0-based index.
        index: usize,
        /// Its title.
        title: String,
    },
    /// The kernel could not be loaded.
    #[error("entry {} '{title}': {source}", .index + 1)]
    Load {
        /// 0-based index.
        index: usize,
        /// Its title.
        title: String,
        /// Why.
        source: KexecError,
    },
    /// reboot(RB_KEXEC) came back.
    #[error("kexec reboot failed: {0}")]
    Kexec(#[source] std::io::Error),
    /// reboot(2) for a reboot or power-off failed.
    #[error("reboot: {0}")]
    Reboot(#[source] nix::errno::Errno),
    /// The rescue shell could not run.
    #[error(transparent)]
    Shell(#[from] prompt::ShellError),
}

pub fn run() -> ! {
    let clock = Clock(Instant::now());
    early_mounts();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let opts = Options::from_cmdline(&Cmdline::parse(&cmdline));
    crate::kmsg::init(opts.debug);
    hopboot_loader::sys::ignore_job_signals();
    std::panic::set_hook(Box::new(|info| {
        log::error!("internal error: {info}");
    }));
    log::info!(
        "hopboot {} started as PID 1 (stage=start t={}ms)",
        env!("CARGO_PKG_VERSION"),
        clock.ms()
    );
    load_modules(&clock);
    let net = start_network(&opts, &clock);
    let consoles = crate::menu::console_paths(&cmdline);
    let policy = load_policy(&opts);
    let mut state = State {
        opts,
        discovery: Discovery::default(),
        clock,
        failed: Vec::new(),
        loaded: None,
        machine: Arc::new(Pid1Machine::default()),
        threads: Threads::default(),
        net,
        net_found: Vec::new(),
        policy,
    };
    let mut round = Round {
        first: true,
        scan: true,
        message: None,
        consoles,
        typed: Vec::new(),
        resume: None,
    };
    loop {
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| one_round(&mut state, &mut round)));
        if r.is_err() {
            round.message = Some("internal error (see the log); back to the menu".into());
            round.first = false;
            // A panic while reading the disks would come back on every rescan:
            // show what is known instead (the prompt's `r` tries again).
            round.scan = false;
        }
        prompt::reap_children();
    }
}

/// What carries over from one menu round to the next.
struct Round {
    /// The first round honours `hopboot.entry=` and the countdown.
    first: bool,
    /// Re-read the disks before showing the menu.
    scan: bool,
    /// Shown on the menu (the last error).
    message: Option<String>,
    /// Console devices for the menu.
    consoles: Vec<String>,
    /// Keys typed ahead of the last menu or prompt, for the next one.
    typed: Vec<u8>,
    /// The menu left for new entries: show it again with this entry
    /// selected and this much of the countdown left.
    resume: Option<(usize, Option<Duration>)>,
}

/// Default menu countdown when `hopboot.timeout=` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

fn one_round(state: &mut State, round: &mut Round) {
    if round.scan {
        let wait = if round.first { state.opts.wait } else { Duration::ZERO };
        rescan(state, wait);
        round.scan = false;
        if round.first && matches!(state.opts.net, NetMode::On | NetMode::First) {
            // hopboot.net=on/first: the first menu has the network's entries.
            wait_network(state, |_| false);
        }
    }
    if state.discovery.entries.is_empty() && wait_network(state, |d| !d.entries.is_empty()) {
        // The network brought entries: show them.
        return;
    }
    if state.discovery.entries.is_empty() {
        let why = crate::why::why_nothing(&state.discovery, state.opts.wait, &list_disks());
        log::error!("{why}");
        round.first = false;
        let mut c = crate::menu::Consoles::open(&round.consoles);
        c.give_typed(std::mem::take(&mut round.typed));
        let action = prompt::ask(&mut c, &state.discovery.entries, &state.failed);
        // The consoles are closed before a shell starts (its end hangs its line up);
        // what was typed after the command goes to the next round, not to a shell.
        let tty = c.active();
        if action != Action::Shell {
            round.typed = c.take_typed();
        }
        drop(c);
        match act(state, action, tty.as_deref()) {
            Ok(Some(_)) => round.scan = true,
            Ok(None) => {}
            Err(e) => log::error!("{e}"),
        }
        if action == Action::Rescan {
            round.scan = false;
        }
        return;
    }
    let default = state.discovery.default_index().unwrap_or(0);
    let first = std::mem::replace(&mut round.first, false);
    let mut tty = None;
    let choice = if let Some((selected, left)) = round.resume.take() {
        menu_choice(state, round, (default, selected), left, &mut tty)
    } else if first && state.opts.entry.is_some() {
        match choose(&state.discovery, state.opts.entry.as_deref()) {
            Ok(index) => Choice::Boot {
                index,
                cmdline: None,
                automatic: true,
            },
            Err(e) => {
                let e = format!("hopboot.entry: {e}");
                log::error!("{e}");
                round.message = Some(e);
                menu_choice(state, round, (default, default), None, &mut tty)
            }
        }
    } else if first && state.opts.timeout == Some(Duration::ZERO) {
        Choice::Boot {
            index: default,
            cmdline: None,
            automatic: true,
        }
    } else {
        let t = if first {
            Some(state.opts.timeout.unwrap_or(DEFAULT_TIMEOUT))
        } else {
            None
        };
        menu_choice(state, round, (default, default), t, &mut tty)
    };
    match choice {
        Choice::Boot {
            index,
            cmdline,
            automatic,
        } => {
            let err = match boot(state, index, cmdline) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            if automatic {
                // Nobody chose this entry: fall back to the others in menu
                // order, but not to those the signature policy refuses.
                let refused = refused(state);
                for i in 0..state.discovery.entries.len() {
                    let skip = |l: &[(usize, String)]| l.iter().any(|(f, _)| *f == i);
                    if i != index && !skip(&state.failed) && !skip(&refused) {
                        if let Ok(never) = boot(state, i, None) {
                            match never {}
                        }
                    }
                }
            }
            round.message = Some(err.to_string());
        }
        Choice::Rescan => round.scan = true,
        Choice::Refresh { selected, left } => round.resume = Some((selected, left)),
        Choice::Shell => {
            round.message = prompt::shell(tty.as_deref()).unwrap_or_else(|e| Some(e.to_string()));
        }
        Choice::Poweroff => round.message = act(state, Action::Poweroff, None).err().map(|e| e.to_string()),
        Choice::Reboot => round.message = act(state, Action::Reboot, None).err().map(|e| e.to_string()),
    }
}

/// Shows the menu with the default entry and the one selected at first;
/// `tty` is set to the console the choice came from.
fn menu_choice(
    state: &mut State,
    round: &mut Round,
    (default, selected): (usize, usize),
    timeout: Option<Duration>,
    tty: &mut Option<String>,
) -> Choice {
    let mut c = crate::menu::Consoles::open(&round.consoles);
    c.give_typed(std::mem::take(&mut round.typed));
    log::info!("menu shown (stage=menu t={}ms)", state.clock.ms());
    let entries = state.discovery.entries.clone();
    let mut failed = state.failed.clone();
    for r in refused(state) {
        if !failed.iter().any(|(f, _)| *f == r.0) {
            failed.push(r);
        }
    }
    let append = state.opts.append.clone();
    // While the countdown runs, load the default entry, so that the timeout
    // (or Enter on it) only needs the reboot syscall.
    let volumes: Vec<String> = state.discovery.volumes.iter().map(|v| v.identity()).collect();
    let problems = problem_lines(&state.discovery);
    let unattended = state.opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
    // The preload and the network's news both change the state, one at a time.
    let shared = std::cell::RefCell::new(state);
    let mut preload = || {
        if let Some(e) = entries.get(default) {
            if !failed.iter().any(|(f, _)| *f == default) {
                let _ = load(&mut shared.borrow_mut(), default, e);
            }
        }
    };
    let view = crate::menu::View {
        entries: &entries,
        failed: &failed,
        default: selected,
        timeout,
        unattended,
        append: append.as_deref(),
        volumes: &volumes,
        message: round.message.as_deref(),
        problems: &problems,
    };
    let disks = list_disks();
    let mut changed = || {
        prompt::reap_children();
        list_disks() != disks
    };
    let mut news = || poll_network(&mut shared.borrow_mut());
    let mut choice = crate::menu::run(&mut c, view, &mut preload, &mut changed, &mut news);
    if let Choice::Boot {
        index,
        automatic: false,
        ..
    } = choice
    {
        let state = shared.borrow();
        if !unlock_unsigned(&state, &mut c, index) {
            round.message = Some(format!(
                "entry {} was not booted: it is not signed and stays locked",
                index + 1
            ));
            choice = Choice::Refresh {
                selected: index,
                left: None,
            };
        }
    }
    *tty = c.active();
    if choice != Choice::Shell {
        round.typed = c.take_typed();
    }
    choice
}

/// The problems for the menu (see `menu::problem_line`), disks that failed
/// first ("vdb: stopped answering after 3.0 s, left out (…)", "vdc: read
/// error at byte 0: I/O error"): the menu shows the first under the list,
/// and what is wrong with the hardware matters more than what is written on it.
fn problem_lines(d: &Discovery) -> Vec<String> {
    let device = d.errors.iter().filter(|e| e.problem.is_device_failure());
    let other = d.errors.iter().filter(|e| !e.problem.is_device_failure());
    device.chain(other).map(crate::menu::problem_line).collect()
}

/// Mounts the API filesystems. Failures are logged once the logger is up
/// (it needs /proc and /dev), so they are printed to the console here.
fn early_mounts() {
    use nix::mount::{mount, MsFlags};
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (src, dst, fstype, flags, data) in [
        ("proc", "/proc", "proc", nosuid, None),
        ("sysfs", "/sys", "sysfs", nosuid, None),
        ("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755")),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        ),
    ] {
        let _ = std::fs::create_dir_all(dst);
        match mount(Some(src), dst, Some(fstype), flags, data) {
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => eprintln!("hopboot: mount {fstype} on {dst} (flags {flags:?}, data {data:?}): {e}"),
        }
    }
    // securityfs says whether the kernel is locked down (kexec::lockdown);
    // a kernel without it (ENODEV) is not.
    match mount(
        Some("securityfs"),
        "/sys/kernel/security",
        Some("securityfs"),
        nosuid,
        None::<&str>,
    ) {
        Ok(()) | Err(nix::errno::Errno::EBUSY | nix::errno::Errno::ENODEV | nix::errno::Errno::ENOENT) => {}
        Err(e) => eprintln!("hopboot: mount securityfs on /sys/kernel/security: {e}"),
    }
    // The kernel opened /dev/console for us when the initramfs has the node;
    // if not (fds 0-2 closed), open it now that devtmpfs is there.
    if nix::fcntl::fcntl(0, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        if let Ok(c) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/console") {
            use std::os::fd::AsRawFd;
            for fd in 0..3 {
                let _ = nix::unistd::dup2(c.as_raw_fd(), fd);
            }
        }
    }
}

/// Loads the kernel modules the machine needs: coldplug from `modules.alias`
/// (see `hopboot_loader::kmod`), or every shipped module for images without
/// one. Devices that appear later (USB, SCSI scans) are handled by a
/// background thread listening for uevents, which runs for the life of PID 1.
fn load_modules(clock: &Clock) {
    use hopboot_loader::kmod::{self, Coldplug, UeventSocket};
    let Some(dir) = kmod::module_dir(Path::new("/")) else {
        log::info!("no kernel modules in the image (stage=modules t={}ms)", clock.ms());
        return;
    };
    let mut cold = match Coldplug::open(&dir) {
        Ok(Some(c)) => c,
        Ok(None) => return load_every_module(&dir, clock),
        Err(e) => {
            log::warn!("{}: {e}; loading every module", dir.display());
            return load_every_module(&dir, clock);
        }
    };
    let start = Instant::now();
    // Listen before walking /sys so that no device slips between the two.
    let socket = UeventSocket::open().map_err(|e| log::warn!("uevent socket: {e}; re-scanning /sys instead"));
    let mut loaded = cold.load_always();
    // Bus drivers create their children (virtio0, SCSI hosts) while loading:
    // their uevents are queued by then, so later passes read the socket
    // instead of re-walking /sys. Bounded: each pass loads at least one of
    // finitely many modules, but a cap costs nothing.
    let walk = Instant::now();
    let mut devices = kmod::sysfs_modaliases(Path::new(SYS));
    log::debug!(
        "coldplug: {} devices in /sys ({}us)",
        devices.len(),
        walk.elapsed().as_micros()
    );
    let mut passes = 0;
    for _ in 0..32 {
        passes += 1;
        let new = cold.add_devices(&devices);
        if new.is_empty() {
            break;
        }
        loaded.extend(new);
        devices = match socket.as_ref().map(UeventSocket::drain) {
            Ok(Ok(d)) => d,
            _ => kmod::sysfs_modaliases(Path::new(SYS)),
        };
    }
    for (m, e) in &cold.report.failed {
        log::warn!("module {m}: {e}");
    }
    log::info!(
        "coldplug: loaded {} modules in {}ms ({} passes, {} aliases): {} ({} already present, {} failed) (stage=modules t={}ms)",
        loaded.len(),
        start.elapsed().as_millis(),
        passes,
        cold.alias_count(),
        if loaded.is_empty() { "none".to_string() } else { loaded.join(" ") },
        cold.report.present.len(),
        cold.report.failed.len(),
        clock.ms()
    );
    let clock0 = clock.0;
    let spawned = std::thread::Builder::new()
        .name("hotplug".into())
        .spawn(move || hotplug(cold, socket.ok(), clock0));
    if let Err(e) = spawned {
        log::warn!("cannot start the hotplug thread: {e}; devices that appear later get no driver");
    }
}

const SYS: &str = "/sys";

/// Loads modules for devices added after coldplug: from uevents, or, without
/// the socket, by re-walking /sys with backoff for [`RESCAN_FOR`].
fn hotplug(mut cold: hopboot_loader::kmod::Coldplug, socket: Option<hopboot_loader::kmod::UeventSocket>, t0: Instant) {
    use hopboot_loader::kmod;
    let report = |cold: &kmod::Coldplug, new: &[String], why: &str, failed_before: usize| {
        for (m, e) in cold.report.failed.iter().skip(failed_before) {
            log::warn!("module {m}: {e}");
        }
        if !new.is_empty() {
            log::info!(
                "hotplug: loaded {} for {why} (t={}ms)",
                new.join(" "),
                t0.elapsed().as_millis()
            );
        }
    };
    let Some(socket) = socket else {
        let mut delay = Duration::from_millis(50);
        while t0.elapsed() < RESCAN_FOR {
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(1));
            let failed = cold.report.failed.len();
            let new = cold.add_devices(&kmod::sysfs_modaliases(Path::new(SYS)));
            report(&cold, &new, "new devices", failed);
        }
        return;
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let failed = cold.report.failed.len();
        match socket.recv(&mut buf) {
            Ok(n) => {
                let Some(alias) = buf.get(..n).and_then(kmod::uevent_modalias) else {
                    continue;
                };
                let alias = alias.to_string();
                let new = cold.add_devices(&[alias.as_str()]);
                report(&cold, &new, &alias, failed);
            }
            // Events were dropped (ENOBUFS): catch up from /sys.
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                let new = cold.add_devices(&kmod::sysfs_modaliases(Path::new(SYS)));
                report(&cold, &new, "devices found re-scanning /sys", failed);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("uevent socket: {e}; no more hotplug");
                return;
            }
        }
    }
}

/// How long the fallback (no uevent socket) keeps re-walking /sys.
const RESCAN_FOR: Duration = Duration::from_secs(30);

/// Loads every module in `dir/modules.dep`: images built before modules.alias.
fn load_every_module(dir: &Path, clock: &Clock) {
    match hopboot_loader::kmod::load_all(dir) {
        Ok(r) => {
            for (m, e) in &r.failed {
                log::warn!("module {m}: {e}");
            }
            log::info!(
                "loaded {} modules ({} already present, {} failed) (stage=modules t={}ms)",
                r.loaded.len(),
                r.present.len(),
                r.failed.len(),
                clock.ms()
            );
        }
        Err(e) => log::warn!("{}: {e}", dir.join("modules.dep").display()),
    }
}

/// Whole disks the kernel knows: /sys/class/block entries that are not
/// partitions, not empty, not loop/ram/device-mapper/RAID devices, sorted (the
/// live source numbers disks for GRUB the same way).
pub fn list_disks() -> Vec<PathBuf> {
    let sys = hopboot_loader::source::sysfs::Sysfs::default();
    sys.disks().iter().map(|d| sys.node(d)).collect()
}

/// Opens every disk and discovers entries; waits up to `wait` for disks to
/// appear and for at least one entry, re-reading only when the disk set
/// changes. Each disk is read on a thread of its own and has
/// `hopboot.disk_timeout=` to answer (see `source::threaded`): a disk that
/// stops answering is named and left out, the others' entries show on time.
pub fn scan_devices(state: &mut State, wait: Duration) -> Discovery {
    let deadline = Instant::now() + wait;
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut result = Discovery::default();
    let mut delay = Duration::from_millis(5);
    let machine: Arc<dyn Machine + Send + Sync> = state.machine.clone();
    loop {
        let disks = list_disks();
        if disks != seen {
            seen = disks.clone();
            log::info!(
                "block devices: {} (stage=devices t={}ms)",
                if disks.is_empty() { "none".into() } else { names(&disks) },
                state.clock.ms()
            );
            result = state.threads.open(&disks, &machine, state.opts.disk_timeout).discover();
            if !result.entries.is_empty() {
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    log::info!(
        "found {} entries on {} filesystems (stage=entries t={}ms)",
        result.entries.len(),
        result.volumes.len(),
        state.clock.ms()
    );
    for e in &result.errors {
        log::warn!("{}: {}", e.path, e.problem);
    }
    result
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Loads entry `i` and reboots into it. Returns only on failure.
pub fn boot(state: &mut State, i: usize, cmdline: Option<String>) -> Result<std::convert::Infallible, BootError> {
    let Some(e) = state.discovery.entries.get(i) else {
        return Err(BootError::NoEntry(i + 1));
    };
    let mut e = e.clone();
    if let Some(c) = cmdline {
        e.cmdline = c;
    }
    let e = &e;
    let append = state.opts.append.clone();
    log::info!(
        "booting '{}' from {}: {} {} (stage=chosen t={}ms)",
        e.title,
        e.device,
        e.kernel,
        e.boot_cmdline(append.as_deref()),
        state.clock.ms()
    );
    load(state, i, e)?;
    // Fallback kernel mounts go before the next kernel starts; the files are
    // already in the kexec buffers.
    state.machine.unmount_all();
    // The TPM is extended with what the loaded kernel's initrd logs only now
    // that it is booted (the preload may have loaded another entry first).
    tpm::commit();
    prompt::restore_console();
    Err(BootError::Kexec(kexec::reboot_into()))
}

/// Loads entry `i` (as `e`, possibly edited) unless exactly that is loaded already.
fn load(state: &mut State, i: usize, e: &BootEntry) -> Result<(), BootError> {
    let append = state.opts.append.clone();
    let key = (i, e.boot_cmdline(append.as_deref()));
    if state.loaded.as_ref() == Some(&key) && !tpm::log_grew_since_load() {
        log::info!("already loaded (stage=kexec_loaded t={}ms)", state.clock.ms());
        return Ok(());
    }
    state.loaded = None;
    let result = match state.discovery.volume_of(e) {
        Some(vol) => {
            let policy = &state.policy;
            // The signature first: what it refuses is not measured.
            let mut gate = |b: &mut kexec::Boot<'_>| {
                signature_gate(policy, b, vol.fs.as_ref(), true)?;
                tpm::gate_deferred(b)
            };
            let r = kexec::load(e, vol.fs.as_ref(), append.as_deref(), state.opts.kexec, &mut gate).map_err(|source| {
                BootError::Load {
                    index: i,
                    title: e.title.clone(),
                    source,
                }
            });
            // A network entry's downloads are in the kernel's buffers now (or
            // failed): their memory goes back.
            if vol.fs.fs_type() == "net" {
                for nic in state.net_found.iter().filter(|n| n.iface == vol.name) {
                    if let Some(r) = &nic.remote {
                        r.forget();
                    }
                }
            }
            r
        }
        None => Err(BootError::NoVolume {
            index: i,
            title: e.title.clone(),
        }),
    };
    match result {
        Ok(()) => {
            log::info!("kernel loaded (stage=kexec_loaded t={}ms)", state.clock.ms());
            state.loaded = Some(key);
            Ok(())
        }
        Err(err) => {
            log::error!("{err}");
            let why = match &err {
                BootError::Load { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            state.failed.push((i, why));
            Err(err)
        }
    }
}

/// The image's signature policy (/etc/hopboot), made stricter by
/// `hopboot.verify=`; what is wrong with it is logged.
fn load_policy(opts: &Options) -> Policy {
    let mut p = Policy::load(Path::new("/"));
    for problem in &p.problems {
        log::error!("signature policy: {problem} (failing closed: enforce)");
    }
    if let Some(asked) = opts.verify {
        if let Some(why) = p.stricter(asked) {
            log::warn!("{why}");
        }
    }
    crate::lock::set_enforced(p.mode == Mode::Enforce);
    if p.mode != Mode::Off {
        log::info!(
            "signature policy: {} with {} trusted key(s){}",
            p.mode.as_str(),
            p.keys.keys().len(),
            p.keys.keys().iter().map(|k| format!(" {}", k.id)).collect::<String>()
        );
    }
    p
}

/// The check before kexec: under `enforce` an unsigned entry is refused,
/// under `warn` it boots with a warning, unless `menu_lock` and the image's
/// password guards it and was not given (the menu asks for it when such an
/// entry is chosen: [`unlock_unsigned`]).
pub fn signature_gate(
    policy: &Policy,
    b: &kexec::Boot<'_>,
    files: &dyn hopboot_loader::fs::FsView,
    menu_lock: bool,
) -> Result<(), String> {
    let started = Instant::now();
    match policy.check(b, files) {
        Verdict::Unchecked => Ok(()),
        Verdict::Signed { key_id, title } => {
            log::info!(
                "signature: '{}' is signed by key {key_id} (manifest entry '{title}'), checked in {} ms",
                b.entry.title,
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Verdict::Unsigned(why) if policy.mode == Mode::Enforce => Err(why),
        Verdict::Unsigned(why) if menu_lock && crate::lock::configured() && !crate::lock::is_open() => Err(format!(
            "{why}; booting it needs the image's password: choose it on the menu"
        )),
        Verdict::Unsigned(why) => {
            log::warn!(
                "WARNING: '{}' is {why}; booting it anyway because the policy is warn",
                b.entry.title
            );
            Ok(())
        }
    }
}

/// Under `warn` with a menu password, asks for it on the menu's consoles
/// before the chosen entry `index` boots when the manifest does not list it.
/// `false`: not given; the entry does not boot.
fn unlock_unsigned(state: &State, c: &mut crate::menu::Consoles, index: usize) -> bool {
    if state.policy.mode != Mode::Warn || !crate::lock::configured() || crate::lock::is_open() {
        return true;
    }
    let Some(e) = state.discovery.entries.get(index) else {
        return true;
    };
    let Some(vol) = state.discovery.volume_of(e) else {
        return true;
    };
    match state
        .policy
        .precheck(e, &e.boot_cmdline(state.opts.append.as_deref()), vol.fs.as_ref())
    {
        Verdict::Unsigned(why) => crate::lock::unlock_unsigned(c, &e.title, &why),
        _ => true,
    }
}

/// Under `enforce`, the entries the menu marks as refused, with why: their
/// volume's manifest does not list them (see `Policy::precheck`). Their bytes
/// are checked again when they boot.
fn refused(state: &State) -> Vec<(usize, String)> {
    if state.policy.mode != Mode::Enforce {
        return Vec::new();
    }
    let append = state.opts.append.as_deref();
    let mut checks = Prechecks::new(&state.policy);
    state
        .discovery
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let vol = state.discovery.volume_of(e)?;
            match checks.precheck(e.volume, e, &e.boot_cmdline(append), vol.fs.as_ref()) {
                Verdict::Unsigned(why) => Some((i, why)),
                _ => None,
            }
        })
        .collect()
}

/// Carries out a prompt action (typed on `tty`). `Some(true)` = run an automatic round next.
fn act(state: &mut State, action: Action, tty: Option<&str>) -> Result<Option<bool>, BootError> {
    match action {
        Action::Retry => Ok(Some(true)),
        Action::Boot(i) => boot(state, i, None).map(|never| match never {}),
        Action::Rescan => {
            rescan(state, Duration::ZERO);
            Ok(None)
        }
        Action::Reboot | Action::Poweroff => {
            nix::unistd::sync();
            let mode = if action == Action::Reboot {
                nix::sys::reboot::RebootMode::RB_AUTOBOOT
            } else {
                nix::sys::reboot::RebootMode::RB_POWER_OFF
            };
            match nix::sys::reboot::reboot(mode) {
                Ok(never) => match never {},
                Err(e) => Err(BootError::Reboot(e)),
            }
        }
        Action::Shell => prompt::shell(tty).map(|_| None).map_err(BootError::from),
        Action::Wait => {
            // Nobody at the console: look again for disks now and then.
            std::thread::sleep(Duration::from_secs(5));
            Ok(Some(true))
        }
        Action::Nothing => Ok(None),
    }
}

/// Re-reads the disks (waiting up to `wait` for them), keeping the network's entries.
fn rescan(state: &mut State, wait: Duration) {
    state.machine.unmount_all();
    state.discovery = scan_devices(state, wait);
    let mode = state.opts.net;
    for nic in &state.net_found {
        merge_nic(&mut state.discovery, nic, mode);
    }
    poll_network(state);
}

/// Starts trying the network's interfaces in the background, unless
/// `hopboot.net=off` or there is no Ethernet interface.
fn start_network(opts: &Options, clock: &Clock) -> Option<Watch> {
    use hopboot_loader::net::boot;
    if opts.net == NetMode::Off {
        log::info!("network: off (hopboot.net=off)");
        return None;
    }
    let nopts = boot::NetOptions {
        deadline: opts.net_timeout,
        identity: boot::identity(Path::new(SYS)),
        sys_class_net: Path::new(SYS).join("class/net"),
    };
    match boot::start(&nopts) {
        Some(w) => {
            log::info!(
                "network: trying {} for up to {} s (stage=net_start t={}ms)",
                w.interfaces.join(" "),
                opts.net_timeout.as_secs(),
                clock.ms()
            );
            Some(w)
        }
        None => {
            log::info!("network: no Ethernet interface");
            None
        }
    }
}

/// How long after its deadline an interface's answer is still waited for
/// (a transfer under way when the deadline passed).
const NET_GRACE: Duration = Duration::from_secs(5);

/// Whether some interface has not answered yet and may still.
fn net_pending(state: &State) -> bool {
    state
        .net
        .as_ref()
        .is_some_and(|w| state.net_found.len() < w.interfaces.len() && Instant::now() < w.deadline + NET_GRACE)
}

/// Takes what the network's interfaces sent since the last call into the
/// discovery; true when that added entries or problems.
fn poll_network(state: &mut State) -> bool {
    let Some(w) = &state.net else {
        return false;
    };
    let mut changed = false;
    while let Ok(nic) = w.rx.try_recv() {
        if nic.entries.is_empty() {
            for e in &nic.errors {
                log::warn!("network: {e}");
            }
        } else {
            log::info!(
                "network: {}: {} entries from {} in {} ms (stage=net_entries t={}ms)",
                nic.device.as_deref().unwrap_or(&nic.iface),
                nic.entries.len(),
                nic.config.as_deref().unwrap_or("?"),
                nic.took.as_millis(),
                state.clock.ms()
            );
        }
        changed |= merge_nic(&mut state.discovery, &nic, state.opts.net);
        state.net_found.push(nic);
    }
    changed
}

/// Polls the network until no interface is pending, or `enough` says the
/// discovery has what is needed; true when anything was added.
fn wait_network(state: &mut State, enough: impl Fn(&Discovery) -> bool) -> bool {
    let mut any = poll_network(state);
    if net_pending(state) {
        log::info!("waiting for the network (stage=net_wait t={}ms)", state.clock.ms());
    }
    while net_pending(state) && !enough(&state.discovery) {
        std::thread::sleep(Duration::from_millis(50));
        any |= poll_network(state);
    }
    any
}

/// Adds one interface's entries (on a volume of their own) and problems to
/// `d`. The default stays the local one unless `hopboot.net=first` (the
/// first interface to answer with a default then has it) or there is none.
fn merge_nic(d: &mut Discovery, nic: &NicBoot, mode: NetMode) -> bool {
    for e in &nic.errors {
        d.errors.push(DiscoveryError::new(
            nic.iface.clone(),
            Problem::Config(e.strip_prefix(&format!("{}: ", nic.iface)).unwrap_or(e).to_string()),
        ));
    }
    let Some(remote) = nic.remote.as_ref().filter(|_| !nic.entries.is_empty()) else {
        return !nic.errors.is_empty();
    };
    let vi = d.volumes.len();
    d.volumes.push(Volume {
        name: nic.iface.clone(),
        grub_name: format!("net:{}", nic.iface),
        any_partition: false,
        fs: Box::new(hopboot_loader::net::remote::Shared(remote.clone())),
        part_uuid: None,
        part_label: None,
    });
    let current = d.default_index();
    let net_has_it = current
        .and_then(|i| d.entries.get(i))
        .and_then(|e| d.volumes.get(e.volume))
        .is_some_and(|v| v.fs.fs_type() == "net");
    let take = match mode {
        NetMode::First => !net_has_it,
        _ => current.is_none(),
    } && nic.entries.iter().any(|e| e.default);
    if take {
        for e in &mut d.entries {
            e.default = false;
        }
    }
    d.entries.extend(nic.entries.iter().cloned().map(|mut e| {
        e.volume = vi;
        e.default &= take;
        e
    }));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use hopboot_loader::model::Format;
    use hopboot_loader::net::remote::Remote;

    fn entry(title: &str, default: bool) -> BootEntry {
        BootEntry {
            title: title.into(),
            format: Format::Grub,
            kernel: "/vmlinuz".into(),
            initrds: vec![],
            cmdline: String::new(),
            default,
            device: "vda1".into(),
            id: title.into(),
            volume: 0,
            boot_image: None,
        }
    }

    fn local(n: usize) -> Discovery {
        let vols = (0..n)
            .map(|i| Volume {
                name: format!("vda{i}"),
                grub_name: format!("hd0,gpt{i}"),
                any_partition: false,
                fs: Box::new(hopboot_loader::fs::dir::DirFs::new(Path::new("/nonexistent"))),
                part_uuid: None,
                part_label: None,
            })
            .collect();
        Discovery {
            volumes: vols,
            entries: (0..n).map(|i| entry(&format!("local {i}"), i == 0)).collect(),
            errors: vec![],
        }
    }

    fn nic(iface: &str, titles: &[&str], errors: &[&str]) -> NicBoot {
        NicBoot {
            iface: iface.into(),
            device: Some(format!("{iface} 192.0.2.10")),
            remote: Some(Arc::new(Remote::new(iface, None, Default::default()))),
            entries: titles.iter().enumerate().map(|(i, t)| entry(t, i == 0)).collect(),
            errors: errors.iter().map(|e| e.to_string()).collect(),
            config: None,
            took: Duration::ZERO,
        }
    }

    fn defaults(d: &Discovery) -> Vec<&str> {
        d.entries
            .iter()
            .filter(|e| e.default)
            .map(|e| e.title.as_str())
            .collect()
    }

    #[test]
    fn the_local_default_wins_unless_net_first() {
        let mut d = local(2);
        assert!(merge_nic(&mut d, &nic("eth0", &["net a", "net b"], &[]), NetMode::Auto));
        assert_eq!(defaults(&d), ["local 0"]);
        assert_eq!(d.entries.len(), 4);
        assert_eq!(d.entries[2].volume, 2);
        assert_eq!(d.volumes[2].fs.fs_type(), "net");
        let mut d = local(1);
        merge_nic(&mut d, &nic("eth0", &["net a"], &[]), NetMode::First);
        // The first NIC to answer keeps it under `first`.
        merge_nic(&mut d, &nic("eth1", &["net c"], &[]), NetMode::First);
        assert_eq!(defaults(&d), ["net a"]);
    }

    #[test]
    fn with_no_local_entry_the_network_has_the_default() {
        let mut d = local(0);
        merge_nic(&mut d, &nic("eth0", &["net a", "net b"], &[]), NetMode::Auto);
        merge_nic(&mut d, &nic("eth1", &["net c"], &[]), NetMode::Auto);
        assert_eq!(defaults(&d), ["net a"]);
        assert_eq!(d.default_index(), Some(0));
    }

    #[test]
    fn a_nic_without_entries_adds_its_reason_only() {
        let mut d = local(1);
        let n = nic(
            "eth1",
            &[],
            &["eth1: DHCP on eth1: no offer in 30.0 s (5 DISCOVERs sent)"],
        );
        assert!(merge_nic(&mut d, &n, NetMode::Auto));
        assert_eq!(d.volumes.len(), 1);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].path, "eth1");
        assert!(d.errors[0].problem.to_string().starts_with("DHCP on eth1"));
        assert!(!merge_nic(&mut d, &nic("eth2", &[], &[]), NetMode::Auto));
    }
}
