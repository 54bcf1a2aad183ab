//! Kernel modules shipped in the initramfs: `modules.dep` says what each
//! needs, `modules.alias` which devices each drives. Modules are loaded
//! dependencies-first with finit_module(2).
//!
//! Coldplug: [`Coldplug`] reads the `modalias` of every device in
//! `/sys/devices` and loads the modules whose alias patterns match it
//! ([`glob::MODALIAS`], the rules modprobe applies with fnmatch(3)). Loading a bus
//! driver (virtio_pci, xhci_pci, a SCSI host) creates new devices, some
//! synchronously (re-walking finds them) and some later (a USB port reset, a
//! SCSI scan): those arrive as kernel uevents on [`UeventSocket`]. Images
//! without `modules.alias` (older image-build) get [`load_all`] instead.

use crate::glob;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Parses depmod's `modules.dep`: `path: dep dep…` per line. Returns
/// (module path, its dependency paths) in file order.
pub fn parse_dep(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| {
            (
                m.trim().to_string(),
                deps.split_whitespace().map(str::to_string).collect(),
            )
        })
        .filter(|(m, _)| !m.is_empty())
        .collect()
}

/// Orders modules so that each comes after all its dependencies (depmod
/// lists every transitive dependency; order among them does not matter once
/// we sort). Cycles are broken rather than looped on.
pub fn load_order(dep: &[(String, Vec<String>)]) -> Vec<String> {
    let map: HashMap<&str, &[String]> = dep.iter().map(|(m, d)| (m.as_str(), d.as_slice())).collect();
    let mut done: HashSet<&str> = HashSet::new();
    let mut visiting: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    fn visit<'a>(
        m: &'a str,
        map: &HashMap<&'a str, &'a [String]>,
        done: &mut HashSet<&'a str>,
        visiting: &mut HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        // A chain deeper than any real one (depmod's are < 10) is cut like a
        // cycle: recursion per link would overflow the stack on a hostile file.
        if done.contains(m) || visiting.len() >= 256 || !visiting.insert(m) {
            return;
        }
        for d in map.get(m).copied().unwrap_or(&[]) {
            visit(d, map, done, visiting, out);
        }
        visiting.remove(m);
        done.insert(m);
        out.push(m.to_string());
    }
    for (m, _) in dep {
        visit(m, &map, &mut done, &mut visiting, &mut out);
    }
    out
}

/// The module directory for the running kernel: `/lib/modules/$(uname -r)`,
/// or the only directory there when the image was built for another name.
pub fn module_dir(root: &Path) -> Option<PathBuf> {
    let release = nix::sys::utsname::uname()
        .ok()
        .map(|u| u.release().to_string_lossy().into_owned());
    let base = root.join("lib/modules");
    if let Some(r) = release {
        let d = base.join(r);
        if d.join("modules.dep").is_file() {
            return Some(d);
        }
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("modules.dep").is_file())
        .collect();
    match dirs.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Result of loading the shipped modules.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Modules newly loaded.
    pub loaded: Vec<String>,
    /// Already present (built in or loaded before).
    pub present: Vec<String>,
    /// Modules that failed, with why (a [`ModuleError`]'s text).
    pub failed: Vec<(String, String)>,
}

/// Why one module could not be loaded. The module's name goes with it: in
/// [`LoadReport::failed`], or in [`KmodError::Module`].
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// Opening the module file failed.
    #[error("{}: {source}", path.display())]
    Open {
        /// The module file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// finit_module(2) refused the module file.
    #[error("{}: finit_module: {}", path.display(), errno.desc())]
    FinitModule {
        /// The module file.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        errno: nix::errno::Errno,
    },
    /// An alias or [`ALWAYS_FILE`] names a module that `modules.dep` does not list.
    #[error("not in modules.dep")]
    NotInDep,
}

/// Why [`load_for_filesystem`] failed.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// Reading the module directory's `modules.dep`, `modules.alias` or
    /// [`ALWAYS_FILE`] failed.
    #[error("{}: {source}", dir.display())]
    ReadIndex {
        /// The module directory (`/lib/modules/<release>`).
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A module the filesystem needs (or one of its dependencies) did not load.
    #[error("module {module}: {source}")]
    Module {
        /// The module's name (`ext4`, `crc32c_generic`).
        module: String,
        /// Why.
        #[source]
        source: ModuleError,
    },
}

/// Loads every module listed in `dir/modules.dep`, dependencies first.
pub fn load_all(dir: &Path) -> Result<LoadReport, std::io::Error> {
    let text = std::fs::read_to_string(dir.join("modules.dep"))?;
    let order = load_order(&parse_dep(&text));
    let mut report = LoadReport::default();
    for m in order {
        let name = Path::new(&m)
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".ko").to_string())
            .unwrap_or_else(|| m.clone());
        match load_one(&dir.join(&m)) {
            Ok(true) => report.loaded.push(name),
            Ok(false) => report.present.push(name),
            Err(e) => report.failed.push((name, e.to_string())),
        }
    }
    Ok(report)
}

/// Loads one module file; `Ok(false)` when it was already loaded.
fn load_one(path: &Path) -> Result<bool, ModuleError> {
    let f = std::fs::File::open(path).map_err(|source| ModuleError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    match nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty()) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EEXIST) => Ok(false),
        Err(errno) => Err(ModuleError::FinitModule {
            path: path.to_path_buf(),
            errno,
        }),
    }
}

/// Name, next to `modules.dep`, of the list of modules to load whatever the
/// hardware (image-build's `--module`), one name per line.
pub const ALWAYS_FILE: &str = "modules.always";

/// One `alias PATTERN MODULE` line of depmod's `modules.alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// fnmatch(3) pattern matched against a device's modalias.
    pub pattern: String,
    /// Canonical module name (`usb_storage`).
    pub module: String,
}

/// Parses `modules.alias`; comments, blank and malformed lines are skipped.
pub fn parse_alias(text: &str) -> Vec<Alias> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next(), w.next()) {
                (Some("alias"), Some(pattern), Some(module), None) => Some(Alias {
                    pattern: pattern.to_string(),
                    module: canonical(module),
                }),
                _ => None,
            }
        })
        .collect()
}

/// A module name with `-` replaced by `_`, as the kernel names modules.
fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a path in `modules.dep`:
/// `kernel/drivers/usb/storage/usb-storage.ko` is `usb_storage`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split_once(".ko").map_or(file, |(stem, _)| stem);
    canonical(stem)
}

/// The modules whose patterns match `modalias`, in `aliases` order, each once.
pub fn matching_modules<'a>(aliases: &'a [Alias], modalias: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for a in aliases {
        if !out.contains(&a.module.as_str()) && glob::matches(&a.pattern, modalias, glob::MODALIAS) {
            out.push(&a.module);
        }
    }
    out
}

/// The files to load, in order, for module `name`: its dependencies as
/// `modules.dep` lists them (loadable from last to first), then the module.
/// `None` if `name` is not in `dep`.
pub fn load_plan<'a>(dep: &'a [(String, Vec<String>)], name: &str) -> Option<Vec<&'a str>> {
    let (path, deps) = dep.iter().find(|(m, _)| module_name(m) == name)?;
    let mut plan: Vec<&str> = deps.iter().rev().map(String::as_str).collect();
    plan.push(path);
    Some(plan)
}

/// The `MODALIAS=` of a kernel uevent for an added device (`add@/devices/...`
/// then NUL-separated `KEY=value` fields), or `None` for any other event.
pub fn uevent_modalias(msg: &[u8]) -> Option<&str> {
    let mut fields = msg.split(|&b| b == 0).filter_map(|f| std::str::from_utf8(f).ok());
    let header = fields.next()?;
    if !header.starts_with("add@") {
        return None;
    }
    fields
        .find_map(|f| f.strip_prefix("MODALIAS="))
        .filter(|m| !m.is_empty())
}

/// The `modalias` of every device under `devices` (normally `/sys/devices`),
/// sorted and without duplicates. Symlinks (`subsystem`, `driver`, ...) are
/// not followed, so each device is visited once.
pub fn read_modaliases(devices: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![devices.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.filter_map(Result::ok) {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                pending.push(e.path());
            } else if ft.is_file() && e.file_name() == "modalias" {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    let text = text.trim();
                    if !text.is_empty() {
                        out.push(text.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The `modalias` of every device the running kernel knows, sorted and
/// without duplicates, from `sys` (normally `/sys`): each bus's device list
/// (`bus/*/devices/*`, a few dozen entries) plus the CPU's feature alias,
/// instead of walking the whole `devices` tree (thousands of directories,
/// ~0.1 s under emulation). Falls back to the walk when `bus` lists nothing.
pub fn sysfs_modaliases(sys: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let read = |p: &Path, out: &mut Vec<String>| {
        if let Ok(text) = std::fs::read_to_string(p) {
            let text = text.trim();
            if !text.is_empty() {
                out.push(text.to_string());
            }
        }
    };
    let mut devices = 0;
    for bus in std::fs::read_dir(sys.join("bus")).into_iter().flatten().flatten() {
        for dev in std::fs::read_dir(bus.path().join("devices"))
            .into_iter()
            .flatten()
            .flatten()
        {
            devices += 1;
            read(&dev.path().join("modalias"), &mut out);
        }
    }
    if devices == 0 {
        return read_modaliases(&sys.join("devices"));
    }
    read(&sys.join("devices/system/cpu/modalias"), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Loads what a kernel mount of `fstype` needs from the image's modules: the
/// module with alias `fs-<fstype>` (the name the kernel itself asks for), after
/// a crc32c implementation (`crypto-crc32c`), which ext4, xfs and btrfs
/// request through a modprobe helper the image does not have. Returns the
/// modules newly loaded; nothing when the image has no alias index.
pub fn load_for_filesystem(fstype: &str) -> Result<Vec<String>, KmodError> {
    let Some(dir) = module_dir(Path::new("/")) else {
        return Ok(Vec::new());
    };
    let mut cold = match Coldplug::open(&dir) {
        Ok(Some(cold)) => cold,
        Ok(None) => return Ok(Vec::new()),
        Err(source) => return Err(KmodError::ReadIndex { dir, source }),
    };
    let loaded = cold.add_devices(&["crypto-crc32c".to_string(), format!("fs-{fstype}")]);
    match cold.first_failure.take() {
        Some((module, source)) => Err(KmodError::Module { module, source }),
        None => Ok(loaded),
    }
}

/// Loads the modules devices need, each at most once, and remembers what it did.
#[derive(Debug)]
pub struct Coldplug {
    dir: PathBuf,
    dep: Vec<(String, Vec<String>)>,
    aliases: Vec<Alias>,
    always: Vec<String>,
    /// Modaliases already matched.
    seen: HashSet<String>,
    /// Module files already tried (loaded, present or failed).
    tried: HashSet<String>,
    /// Everything loaded so far.
    pub report: LoadReport,
    /// The first failure in [`Coldplug::report`], with its typed error.
    first_failure: Option<(String, ModuleError)>,
}

impl Coldplug {
    /// Reads `modules.dep`, `modules.alias` and [`ALWAYS_FILE`] from `dir`.
    /// `Ok(None)` when the image has no `modules.alias` (use [`load_all`]).
    pub fn open(dir: &Path) -> Result<Option<Self>, std::io::Error> {
        let alias = match std::fs::read_to_string(dir.join("modules.alias")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let dep = parse_dep(&std::fs::read_to_string(dir.join("modules.dep"))?);
        let always = match std::fs::read_to_string(dir.join(ALWAYS_FILE)) {
            Ok(t) => t.split_whitespace().map(canonical).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Some(Coldplug {
            dir: dir.to_path_buf(),
            dep,
            aliases: parse_alias(&alias),
            always,
            seen: HashSet::new(),
            tried: HashSet::new(),
            report: LoadReport::default(),
            first_failure: None,
        }))
    }

    /// Number of alias patterns known.
    pub fn alias_count(&self) -> usize {
        self.aliases.len()
    }

    /// Loads the modules listed in [`ALWAYS_FILE`]; returns those newly loaded.
    pub fn load_always(&mut self) -> Vec<String> {
        let names = self.always.clone();
        names.iter().flat_map(|n| self.load(n)).collect()
    }

    /// Matches the modaliases not seen before and loads the modules they
    /// need; returns the modules newly loaded (dependencies included).
    pub fn add_devices<S: AsRef<str>>(&mut self, modaliases: &[S]) -> Vec<String> {
        let mut wanted: Vec<String> = Vec::new();
        for m in modaliases {
            let m = m.as_ref();
            if !self.seen.insert(m.to_string()) {
                continue;
            }
            let names = matching_modules(&self.aliases, m);
            if !names.is_empty() {
                log::debug!("device {m}: {}", names.join(" "));
            }
            for name in names {
                if !wanted.iter().any(|w| w == name) {
                    wanted.push(name.to_string());
                }
            }
        }
        wanted.iter().flat_map(|n| self.load(n)).collect()
    }

    /// Loads module `name` and its dependencies; returns those newly loaded.
    fn load(&mut self, name: &str) -> Vec<String> {
        let Some(plan) = load_plan(&self.dep, name) else {
            self.fail(name.to_string(), ModuleError::NotInDep);
            return Vec::new();
        };
        let plan: Vec<String> = plan.into_iter().map(str::to_string).collect();
        let mut loaded = Vec::new();
        for path in plan {
            if !self.tried.insert(path.clone()) {
                continue;
            }
            let m = module_name(&path);
            match load_one(&self.dir.join(&path)) {
                Ok(true) => {
                    self.report.loaded.push(m.clone());
                    loaded.push(m);
                }
                Ok(false) => self.report.present.push(m),
                Err(e) => self.fail(m, e),
            }
        }
        loaded
    }

    /// Records that `module` failed to load.
    fn fail(&mut self, module: String, e: ModuleError) {
        self.report.failed.push((module.clone(), e.to_string()));
        if self.first_failure.is_none() {
            self.first_failure = Some((module, e));
        }
    }
}

/// A netlink socket receiving the kernel's uevents (NETLINK_KOBJECT_UEVENT,
/// multicast group 1), as udev's does.
#[derive(Debug)]
pub struct UeventSocket(OwnedFd);

impl UeventSocket {
    /// Opens and binds the socket. Open it before walking /sys, so that a
    /// device added during the walk is still reported.
    pub fn open() -> Result<Self, std::io::Error> {
        use nix::sys::socket::{
            bind, setsockopt, socket, sockopt, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
        };
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkKObjectUEvent,
        )?;
        // A burst of events (a USB hub with many ports) must not overflow the
        // default buffer; if it still does, recv reports ENOBUFS and the caller
        // re-walks /sys. Needs CAP_NET_ADMIN, which PID 1 has; best effort.
        let _ = setsockopt(&fd, sockopt::RcvBufForce, &(1 << 20));
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 1))?;
        Ok(UeventSocket(fd))
    }

    /// The modaliases of the added-device uevents already queued, without
    /// blocking. Devices a module creates while it loads have sent theirs by
    /// the time finit_module returns, so this replaces re-walking /sys.
    /// An error (ENOBUFS: events were dropped) means: walk /sys instead.
    pub fn drain(&self) -> Result<Vec<String>, std::io::Error> {
        use nix::sys::socket::{recvfrom, NetlinkAddr};
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::new();
        loop {
            let r = nix::sys::socket::recv(
                self.0.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT,
            );
            match r {
                Ok(_) => {}
                Err(nix::errno::Errno::EAGAIN) => return Ok(out),
                Err(e) => return Err(e.into()),
            }
            let (n, from) = recvfrom::<NetlinkAddr>(self.0.as_raw_fd(), &mut buf)?;
            if from.is_some_and(|a| a.pid() == 0) {
                if let Some(m) = buf.get(..n).and_then(uevent_modalias) {
                    out.push(m.to_string());
                }
            }
        }
    }

    /// Blocks for the next uevent from the kernel (messages from user space
    /// are dropped) and returns its length in `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        use nix::sys::socket::{recvfrom, NetlinkAddr};
        loop {
            let (n, from) = recvfrom::<NetlinkAddr>(self.0.as_raw_fd(), buf)?;
            if from.is_some_and(|a| a.pid() == 0) {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_come_first() {
        let dep = parse_dep(
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
             kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n\
             kernel/drivers/virtio/virtio.ko:\n\
             garbage line\n",
        );
        let order = load_order(&dep);
        let pos = |m: &str| order.iter().position(|x| x.ends_with(m)).unwrap();
        assert_eq!(order.len(), 3);
        assert!(pos("/virtio.ko") < pos("virtio_ring.ko"));
        assert!(pos("virtio_ring.ko") < pos("virtio_blk.ko"));
    }

    /// Real aliases from the Debian 6.1.0-56-amd64 modules (`.modinfo` `alias=`
    /// fields, as image-build writes them to modules.alias).
    const ALIASES: &str = "# Aliases extracted from modules themselves.
alias virtio:d00000002v* virtio_blk
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias scsi:t-0x00* sd_mod
alias scsi:t-0x0e* sd_mod
alias block-major-8-* sd_mod
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias virtio:d00000008v* virtio_scsi
alias pci:v*d*sv*sd*bc0Csc03i30* xhci_pci
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb-storage
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip62in* uas
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* uas
alias usb:v4971p1012d*dc*dsc*dp*ic*isc*ip*in* uas
alias pci:v*d*sv*sd*bc08sc05i* sdhci_pci
alias mmc:block mmc_block
not an alias line
alias too many words here
";

    /// Modaliases of QEMU 10.0's q35 devices, read in a guest (hopboot.debug).
    const VIRTIO_BLK_PCI: &str = "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00";
    const ICH9_AHCI: &str = "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01";
    const QEMU_NVME: &str = "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02";
    const QEMU_XHCI: &str = "pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30";
    const USB_STORAGE: &str = "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00";
    const SCSI_DISK: &str = "scsi:t-0x00";
    const ICH9_LPC: &str = "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00";

    fn modules(modalias: &str) -> Vec<String> {
        let a = parse_alias(ALIASES);
        matching_modules(&a, modalias).into_iter().map(String::from).collect()
    }

    #[test]
    fn alias_file_lines() {
        let a = parse_alias(ALIASES);
        assert_eq!(a.len(), 16);
        assert_eq!(
            a[10],
            Alias {
                pattern: "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*".into(),
                module: "usb_storage".into()
            }
        );
    }

    #[test]
    fn devices_pick_their_drivers() {
        assert_eq!(modules(VIRTIO_BLK_PCI), ["virtio_pci"]);
        assert_eq!(modules("virtio:d00000002v00001AF4"), ["virtio_blk"]);
        assert_eq!(modules("virtio:d00000008v00001AF4"), ["virtio_scsi"]);
        // By class (01/06/01) and by id: one module, once.
        assert_eq!(modules(ICH9_AHCI), ["ahci"]);
        assert_eq!(modules(QEMU_NVME), ["nvme"]);
        assert_eq!(modules(QEMU_XHCI), ["xhci_pci"]);
        // Bulk-only USB storage: both protocols claim it, as with modprobe.
        assert_eq!(modules(USB_STORAGE), ["usb_storage", "uas"]);
        assert_eq!(modules(SCSI_DISK), ["sd_mod"]);
        assert_eq!(modules("scsi:t-0x05"), Vec::<String>::new()); // CD-ROM: sr_mod, not shipped
        assert_eq!(modules("mmc:block"), ["mmc_block"]);
        assert!(modules(ICH9_LPC).is_empty());
        assert!(modules("").is_empty());
    }

    #[test]
    fn plan_loads_dependencies_first() {
        let dep = parse_dep(
            "kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/usb/core/usbcore.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko kernel/drivers/usb/common/usb-common.ko\n\
             kernel/drivers/scsi/scsi_common.ko:\n",
        );
        assert_eq!(
            load_plan(&dep, "usb_storage").unwrap(),
            [
                "kernel/drivers/usb/common/usb-common.ko",
                "kernel/drivers/scsi/scsi_common.ko",
                "kernel/drivers/scsi/scsi_mod.ko",
                "kernel/drivers/usb/core/usbcore.ko",
                "kernel/drivers/usb/storage/usb-storage.ko",
            ]
        );
        assert_eq!(
            load_plan(&dep, "scsi_common").unwrap(),
            ["kernel/drivers/scsi/scsi_common.ko"]
        );
        assert!(load_plan(&dep, "uas").is_none());
        assert_eq!(module_name("kernel/drivers/usb/storage/usb-storage.ko"), "usb_storage");
        assert_eq!(module_name("a.ko.xz"), "a");
    }

    #[test]
    fn uevents() {
        let add = b"add@/devices/pci0000:00/0000:00:02.0/virtio0\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:02.0/virtio0\0SUBSYSTEM=virtio\0MODALIAS=virtio:d00000002v00001AF4\0SEQNUM=1234\0";
        assert_eq!(uevent_modalias(add), Some("virtio:d00000002v00001AF4"));
        let bind = b"bind@/devices/x\0ACTION=bind\0MODALIAS=virtio:d00000002v00001AF4\0";
        assert_eq!(uevent_modalias(bind), None);
        assert_eq!(uevent_modalias(b"add@/devices/x\0ACTION=add\0SUBSYSTEM=block\0"), None);
        assert_eq!(uevent_modalias(b"libudev\0\xfe\xed"), None);
        assert_eq!(uevent_modalias(b""), None);
        assert_eq!(uevent_modalias(b"add@/x\0MODALIAS=\0"), None);
    }

    #[test]
    fn walks_sysfs_like_tree() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("pci0000:00/0000:00:02.0");
        std::fs::create_dir_all(d.join("virtio0")).unwrap();
        std::fs::write(d.join("modalias"), format!("{VIRTIO_BLK_PCI}\n")).unwrap();
        std::fs::write(d.join("virtio0/modalias"), "virtio:d00000002v00001AF4\n").unwrap();
        std::fs::write(d.join("virtio0/other"), "x").unwrap();
        std::os::unix::fs::symlink(t.path().join("pci0000:00"), d.join("virtio0/loop")).unwrap();
        assert_eq!(read_modaliases(t.path()), [VIRTIO_BLK_PCI, "virtio:d00000002v00001AF4"]);
        assert!(read_modaliases(&t.path().join("missing")).is_empty());
    }

    #[test]
    fn reads_bus_device_lists_like_sysfs() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path();
        let pci = sys.join("devices/pci0000:00/0000:00:02.0");
        std::fs::create_dir_all(pci.join("virtio0")).unwrap();
        std::fs::write(pci.join("modalias"), format!("{VIRTIO_BLK_PCI}\n")).unwrap();
        std::fs::write(pci.join("virtio0/modalias"), "virtio:d00000002v00001AF4\n").unwrap();
        std::fs::create_dir_all(sys.join("devices/system/cpu")).unwrap();
        std::fs::write(sys.join("devices/system/cpu/modalias"), "cpu:type:x86,ven0000\n").unwrap();
        // A device only /sys/devices has (no bus): not visited by the bus walk.
        std::fs::create_dir_all(sys.join("devices/virtual/misc/x")).unwrap();
        std::fs::write(sys.join("devices/virtual/misc/x/modalias"), "nobus:x\n").unwrap();
        for (bus, dev, target) in [
            ("pci", "0000:00:02.0", pci.clone()),
            ("virtio", "virtio0", pci.join("virtio0")),
        ] {
            std::fs::create_dir_all(sys.join("bus").join(bus).join("devices")).unwrap();
            std::os::unix::fs::symlink(target, sys.join("bus").join(bus).join("devices").join(dev)).unwrap();
        }
        std::fs::create_dir_all(sys.join("bus/empty/devices")).unwrap();
        assert_eq!(
            sysfs_modaliases(sys),
            ["cpu:type:x86,ven0000", VIRTIO_BLK_PCI, "virtio:d00000002v00001AF4"]
        );
        // No bus lists at all: the whole tree is walked.
        std::fs::remove_dir_all(sys.join("bus")).unwrap();
        assert_eq!(sysfs_modaliases(sys).len(), 4);
    }

    #[test]
    fn coldplug_without_alias_file_falls_back() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("modules.dep"), "kernel/a.ko:\n").unwrap();
        assert!(Coldplug::open(t.path()).unwrap().is_none());
        std::fs::write(t.path().join("modules.alias"), "alias pci:v1* a\n").unwrap();
        std::fs::write(t.path().join(ALWAYS_FILE), "b-c\n").unwrap();
        let mut c = Coldplug::open(t.path()).unwrap().unwrap();
        assert_eq!(c.alias_count(), 1);
        assert_eq!(c.always, ["b_c"]);
        // Matching `a` tries its file (absent here: a failure, recorded once).
        assert!(c.add_devices(&["pci:v1x", "pci:v1x", "usb:x"]).is_empty());
        assert_eq!(c.report.failed.len(), 1);
        assert!(c.add_devices(&["pci:v1y"]).is_empty());
        assert_eq!(c.report.failed.len(), 1);
        assert!(c.load_always().is_empty());
        assert_eq!(
            c.report.failed[1],
            ("b_c".to_string(), "not in modules.dep".to_string())
        );
    }

    /// The typed errors read as the strings they replace, and keep their cause.
    #[test]
    fn errors_name_the_step_and_keep_the_cause() {
        use std::error::Error;
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("modules.dep"), "kernel/a.ko:\n").unwrap();
        std::fs::write(t.path().join("modules.alias"), "alias fs-x a\nalias fs-y b\n").unwrap();
        let mut c = Coldplug::open(t.path()).unwrap().unwrap();
        assert!(c.add_devices(&["fs-x", "fs-y"]).is_empty());
        let path = t.path().join("kernel/a.ko");
        let (module, first) = c.first_failure.take().unwrap();
        assert_eq!(module, "a");
        assert!(
            matches!(&first, ModuleError::Open { path: p, source } if *p == path && source.kind() == std::io::ErrorKind::NotFound)
        );
        assert_eq!(c.report.failed[0], ("a".to_string(), first.to_string()));
        assert_eq!(
            first.to_string(),
            format!("{}: No such file or directory (os error 2)", path.display())
        );
        assert_eq!(c.report.failed[1], ("b".to_string(), "not in modules.dep".to_string()));
        let e = KmodError::Module {
            module: "ext4".into(),
            source: ModuleError::FinitModule {
                path: "/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko".into(),
                errno: nix::errno::Errno::ENOEXEC,
            },
        };
        assert_eq!(
            e.to_string(),
            "module ext4: /lib/modules/6.1.0/kernel/fs/ext4/ext4.ko: finit_module: Exec format error"
        );
        let cause = e.source().and_then(Error::source).unwrap();
        assert_eq!(cause.downcast_ref(), Some(&nix::errno::Errno::ENOEXEC));
        let e = KmodError::ReadIndex {
            dir: "/lib/modules/6.1.0".into(),
            source: std::io::Error::from_raw_os_error(nix::libc::EACCES),
        };
        assert_eq!(e.to_string(), "/lib/modules/6.1.0: Permission denied (os error 13)");
        assert!(e.source().is_some());
    }

    #[test]
    fn cycles_terminate() {
        let order = load_order(&parse_dep("a.ko: b.ko\nb.ko: a.ko\n"));
        assert_eq!(order.len(), 2);
    }
}
