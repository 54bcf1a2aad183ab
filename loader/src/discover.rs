//! Discovery: disks → partitions → filesystems ("volumes") → boot entries.
//!
//! Each volume is asked for its configs in the order real systems use them;
//! a volume with no config at all gets the plain /boot scan. Every problem
//! becomes a [`DiscoveryError`] next to the entries that did work.

use crate::block::{self, Disk, Partition, TableKind};
use crate::config::{bls, extlinux, grub, scan, uki};
use crate::fs::{dir::DirFs, ext4::Ext4Fs, FsView, Kind};
use crate::model::{BootEntry, DiscoveryError, Source};
use std::path::Path;

/// One readable filesystem.
pub struct Volume {
    /// For the user: "vda1", "disk.img:2", a directory path.
    pub name: String,
    /// GRUB-style device name this volume answers to (`hd0,gpt1`).
    pub grub_name: String,
    /// The filesystem.
    pub fs: Box<dyn FsView>,
    /// GPT partition GUID / MBR id (`PARTUUID=`).
    pub part_uuid: Option<String>,
    /// GPT partition name (`PARTLABEL=`).
    pub part_label: Option<String>,
    /// Whether the partition is an EFI System Partition.
    pub esp: bool,
}

impl Volume {
    /// How the volume is known, as `root=`, GRUB's `search` and fstab name it:
    /// `ext4 UUID=… LABEL=… PARTUUID=… PARTLABEL=…` (what it has of these).
    pub fn identity(&self) -> String {
        let mut parts = vec![self.fs.fs_type().to_string()];
        let ids = [
            ("UUID", self.fs.uuid()),
            ("LABEL", self.fs.label()),
            ("PARTUUID", self.part_uuid.clone()),
            ("PARTLABEL", self.part_label.clone()),
        ];
        for (k, v) in ids {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(" ")
    }
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("name", &self.name)
            .field("grub_name", &self.grub_name)
            .field("fs", &self.fs.fs_type())
            .field("uuid", &self.fs.uuid())
            .field("part_uuid", &self.part_uuid)
            .finish()
    }
}

/// Everything discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Readable filesystems, in disk order.
    pub volumes: Vec<Volume>,
    /// Boot entries in menu order; exactly one is `default` when any exist.
    pub entries: Vec<BootEntry>,
    /// Problems that did not stop discovery.
    pub errors: Vec<DiscoveryError>,
}

impl Discovery {
    /// The default entry's index.
    pub fn default_index(&self) -> Option<usize> {
        self.entries.iter().position(|e| e.default)
    }
}

/// Opens the filesystems on one disk. `index` numbers disks for GRUB names.
pub fn open_disk(disk: &Disk, index: usize, errors: &mut Vec<DiscoveryError>) -> Vec<Volume> {
    let (table, parts) = match block::partitions(disk) {
        Ok(p) => p,
        Err(e) => {
            errors.push(DiscoveryError {
                path: disk.path.display().to_string(),
                message: e.to_string(),
            });
            return Vec::new();
        }
    };
    let mut vols = Vec::new();
    for p in parts {
        let grub_name = match table {
            TableKind::Gpt => format!("hd{index},gpt{}", p.number),
            TableKind::Mbr => format!("hd{index},msdos{}", p.number),
            TableKind::None => format!("hd{index}"),
        };
        match open_partition(&p) {
            Ok(Some(fs)) => vols.push(Volume {
                name: p.name.clone(),
                grub_name,
                fs,
                part_uuid: p.part_uuid.clone(),
                part_label: p.part_label.clone(),
                esp: p.is_esp(),
            }),
            Ok(None) => log::debug!("{}: no filesystem hopboot can read", p.name),
            Err(e) => errors.push(DiscoveryError {
                path: p.name.clone(),
                message: e.to_string(),
            }),
        }
    }
    vols
}

fn open_partition(p: &Partition) -> Result<Option<Box<dyn FsView>>, crate::fs::FsError> {
    use crate::fs::FsError;
    if crate::fs::ext4::probe(&p.window) {
        return match Ext4Fs::open(p.window.clone()) {
            Ok(fs) => Ok(Some(Box::new(fs))),
            Err(e) if ext4_needs_kernel(&p.window, &e) => {
                // The kernel reads what ext4-view refuses; `noload` keeps a
                // dirty journal from being replayed (nothing is written).
                log::info!(
                    "{}: the userspace ext4 reader refuses it ({e}); trying a read-only kernel mount (noload)",
                    p.name
                );
                let why = match &e {
                    FsError::Unsupported(m) | FsError::Corrupt(m) => m.clone(),
                    other => other.to_string(),
                };
                // The kernel's orphan cleanup writes even on a read-only
                // mount (it lifts MS_RDONLY for it) unless the device itself
                // is read-only: mount such a one only on a locked device.
                if crate::fs::ext4::has_orphans(&p.window) {
                    let dev = Path::new("/dev").join(&p.name);
                    let can_lock = crate::mount::enabled() && dev.exists();
                    let lock = if can_lock {
                        crate::mount::lock_readonly(&dev)
                    } else {
                        Err(String::new())
                    };
                    if let Err(lock) = lock {
                        return Err(FsError::Unsupported(format!(
                            "{why}; not mounted by the kernel either: it has orphan inodes, which a kernel mount \
                             deletes even read-only unless the device is read-only{} (run e2fsck on it)",
                            if lock.is_empty() {
                                String::new()
                            } else {
                                format!(" ({lock})")
                            }
                        )));
                    }
                    log::info!(
                        "{}: orphan inodes; the device is set read-only so the kernel leaves them",
                        p.name
                    );
                }
                kernel_mount(p, "ext4")
                    .map(Some)
                    .map_err(|m| FsError::Unsupported(format!("{why}; {m}")))
            }
            Err(e) => Err(e),
        };
    }
    if crate::fs::fat::probe(&p.window) {
        return Ok(Some(Box::new(crate::fs::fat::FatFs::open(p.window.clone())?)));
    }
    if let Some(fstype) = crate::mount::probe(&p.window) {
        // No userspace reader: a read-only kernel mount (PID 1 only).
        return kernel_mount(p, fstype).map(Some).map_err(FsError::Unsupported);
    }
    Ok(None)
}

/// Whether an ext4 filesystem that ext4-view could not open is one for the
/// kernel: a feature ext4-view does not read (`inline_data`, `large_dir`,
/// `casefold`, a journal without 64-bit/v3 checksums that needs replaying…),
/// or any failure on a filesystem whose journal needs recovery (ext4-view
/// replays it in memory; a torn journal is the kernel's to ignore with
/// `noload`). A corrupt clean filesystem stays an error.
fn ext4_needs_kernel(window: &crate::block::Window, e: &crate::fs::FsError) -> bool {
    match e {
        crate::fs::FsError::Unsupported(_) => true,
        crate::fs::FsError::Corrupt(_) => crate::fs::ext4::needs_recovery(window),
        _ => false,
    }
}

/// Mounts partition `p` read-only through the kernel (PID 1 only) and
/// returns the mount as a filesystem, with the superblock's UUID and label.
fn kernel_mount(p: &Partition, fstype: &'static str) -> Result<Box<dyn FsView>, String> {
    let dev = Path::new("/dev").join(&p.name);
    if !crate::mount::enabled() || !dev.exists() {
        return Err(format!(
            "{fstype} needs a kernel mount, which only hopboot as PID 1 does"
        ));
    }
    match crate::kmod::load_for_filesystem(fstype) {
        Ok(loaded) if !loaded.is_empty() => log::info!("{}: loaded {} for {fstype}", p.name, loaded.join(" ")),
        Ok(_) => {}
        Err(e) => log::warn!("{}: {e}", p.name),
    }
    let dir = crate::mount::mount_ro(&dev, &p.name, fstype)?;
    let (uuid, label) = crate::mount::identity(&p.window, fstype);
    log::info!(
        "{}: {fstype} mounted read-only at {} ({})",
        p.name,
        dir.display(),
        crate::mount::options(fstype)
    );
    Ok(Box::new(DirFs::mounted(&dir, Vec::new(), uuid, label)))
}

/// Opens a path given on the command line: a directory (one filesystem
/// root), or a disk image / block device.
pub fn open_path(path: &Path, index: usize, errors: &mut Vec<DiscoveryError>) -> Vec<Volume> {
    if path.is_dir() {
        let fs = DirFs::new(path);
        return vec![Volume {
            name: path.display().to_string(),
            grub_name: format!("hd{index}"),
            fs: Box::new(fs),
            part_uuid: None,
            part_label: None,
            esp: false,
        }];
    }
    match Disk::open(path) {
        Ok(d) => open_disk(&d, index, errors),
        Err(e) => {
            errors.push(DiscoveryError {
                path: path.display().to_string(),
                message: e.to_string(),
            });
            Vec::new()
        }
    }
}

/// Where GRUB configs live, in the order hopboot tries them per volume.
pub const GRUB_PATHS: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/grub2/grub.cfg",
];

struct Host<'a> {
    vols: &'a [Volume],
}

impl Host<'_> {
    fn vol(&self, dev: &str) -> Option<&Volume> {
        self.vols.iter().find(|v| v.grub_name == dev)
    }
}

impl grub::GrubHost for Host<'_> {
    fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
        self.vol(dev)?.fs.kind(path)
    }
    fn size(&self, dev: &str, path: &str) -> Option<u64> {
        self.vol(dev)?.fs.size(path)
    }
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
        let v = self.vol(dev).ok_or_else(|| format!("no device ({dev})"))?;
        v.fs.read_text(path).map_err(|e| e.to_string())
    }
    fn list(&self, dev: &str, path: &str) -> Vec<String> {
        self.vol(dev).map(|v| v.fs.list(path)).unwrap_or_default()
    }
    fn search(&self, by: grub::SearchBy, value: &str) -> Option<String> {
        // GRUB compares UUIDs without case, labels and names exactly.
        let hit = self.vols.iter().find(|v| match by {
            grub::SearchBy::FsUuid => v.fs.uuid().is_some_and(|u| u.eq_ignore_ascii_case(value)),
            grub::SearchBy::Label => v.fs.label().as_deref() == Some(value),
            grub::SearchBy::File => v.fs.is_file(value),
            grub::SearchBy::PartUuid => v.part_uuid.as_ref().is_some_and(|u| u.eq_ignore_ascii_case(value)),
            grub::SearchBy::PartLabel => v.part_label.as_deref() == Some(value),
        })?;
        Some(hit.grub_name.clone())
    }
}

/// Finds the GRUB configs of a volume: the usual places, then `/EFI/*/grub.cfg`
/// (an ESP's stub or an ISO's config).
fn grub_configs(fs: &dyn FsView) -> Vec<String> {
    if let Some(p) = GRUB_PATHS.iter().find(|p| fs.is_file(p)) {
        return vec![p.to_string()];
    }
    let mut v = Vec::new();
    for efi in ["/EFI", "/efi"] {
        for d in fs.list(efi) {
            let p = format!("{efi}/{d}/grub.cfg");
            if fs.is_file(&p) {
                v.push(p);
            }
        }
    }
    v.truncate(1);
    v
}

/// Collects entries, dropping the same boot reached by two routes.
struct Collector {
    entries: Vec<BootEntry>,
    /// Which config each entry came from: duplicates are dropped only across configs.
    origins: Vec<String>,
    origin: String,
    errors: Vec<DiscoveryError>,
    default: Option<usize>,
    /// The current config's own default and its first entry kept.
    cfg_default: Option<usize>,
    cfg_first: Option<usize>,
}

impl Collector {
    /// Starts collecting one config's entries.
    fn begin(&mut self, origin: String) {
        self.origin = origin;
        self.cfg_default = None;
        self.cfg_first = None;
    }

    /// Adds one of the current config's entries; `is_default` when the config names it.
    fn add(&mut self, e: BootEntry, is_default: bool) {
        let idx = self.push(e);
        self.cfg_first.get_or_insert(idx);
        if is_default {
            self.cfg_default.get_or_insert(idx);
        }
    }

    /// Ends a config: the first config with entries gives the default — its
    /// own, or its first entry kept when its default was left out.
    fn end(&mut self) {
        if self.default.is_none() {
            self.default = self.cfg_default.or(self.cfg_first);
        }
    }

    /// Adds `e`; returns its index (an earlier identical entry's when a duplicate).
    fn push(&mut self, e: BootEntry) -> usize {
        let same = |o: &BootEntry| {
            o.volume == e.volume && o.kernel == e.kernel && o.initrds == e.initrds && o.cmdline == e.cmdline
        };
        let origin = &self.origin;
        if let Some(i) = self
            .entries
            .iter()
            .zip(&self.origins)
            .position(|(o, from)| from != origin && same(o))
        {
            return i;
        }
        self.entries.push(e);
        self.origins.push(self.origin.clone());
        self.entries.len() - 1
    }

    fn error(&mut self, path: String, message: String) {
        self.errors.push(DiscoveryError { path, message });
    }
}

/// Finds the boot entries on `volumes`.
pub fn discover(volumes: Vec<Volume>, errors: Vec<DiscoveryError>) -> Discovery {
    let mut c = Collector {
        entries: Vec::new(),
        origins: Vec::new(),
        origin: String::new(),
        errors,
        default: None,
        cfg_default: None,
        cfg_first: None,
    };
    let mut sd_boot_done = false;
    let mut unconfigured = Vec::new();
    for (vi, vol) in volumes.iter().enumerate() {
        let mut had_config = false;
        for cfg in grub_configs(vol.fs.as_ref()) {
            had_config = true;
            grub_entries(&volumes, vi, &cfg, &mut c);
        }
        if is_sd_boot_volume(vol.fs.as_ref(), had_config) {
            had_config = true;
            if !sd_boot_done {
                sd_boot_done = true;
                sd_boot_entries(&volumes, &mut c);
            }
        }
        if let Some(cfg) = extlinux::CONFIG_PATHS.iter().find(|p| vol.fs.is_file(p)) {
            had_config = true;
            extlinux_entries(&volumes, vi, cfg, &mut c);
        }
        if !had_config {
            unconfigured.push(vi);
        }
    }
    // The plain scan, last, and only on filesystems no config uses: a separate
    // /boot that an ESP's grub.cfg boots from is not scanned on its own.
    for vi in unconfigured {
        let Some(vol) = volumes.get(vi) else { continue };
        if c.entries.iter().any(|e| e.volume == vi) {
            continue;
        }
        // Newest version first: the first entry is the scan's default.
        c.begin(format!("scan {vi}"));
        for s in scan::scan(vol.fs.as_ref(), &["/boot", "/"]) {
            c.add(
                BootEntry {
                    title: s.title,
                    source: Source::Scan,
                    id: s.kernel.rsplit('/').next().unwrap_or_default().to_string(),
                    kernel: s.kernel,
                    initrds: s.initrds,
                    cmdline: s.cmdline,
                    default: false,
                    device: vol.name.clone(),
                    volume: vi,
                    boot_image: None,
                },
                false,
            );
        }
        c.end();
    }
    let Collector {
        mut entries,
        errors,
        default,
        ..
    } = c;
    if let Some(e) = default.and_then(|d| entries.get_mut(d)) {
        e.default = true;
    }
    Discovery {
        volumes,
        entries,
        errors,
    }
}

fn grub_entries(volumes: &[Volume], vi: usize, cfg: &str, c: &mut Collector) {
    let Some(vol) = volumes.get(vi) else { return };
    let host = Host { vols: volumes };
    let menu = grub::run(&host, &vol.grub_name, cfg);
    c.begin(format!("grub {vi}:{cfg}"));
    let where_ = format!("{}:{cfg}", vol.name);
    for m in &menu.errors {
        c.error(where_.clone(), m.clone());
    }
    for (i, g) in menu.entries.iter().enumerate() {
        let Some(kvi) = volumes.iter().position(|v| v.grub_name == g.kernel.device) else {
            c.error(
                where_.clone(),
                format!("entry '{}': kernel device ({}) not found", g.title, g.kernel.device),
            );
            continue;
        };
        let Some(kvol) = volumes.get(kvi) else { continue };
        if !kvol.fs.is_file(&g.kernel.path) {
            c.error(
                where_.clone(),
                format!(
                    "entry '{}': kernel {} not found on {}",
                    g.title, g.kernel.path, kvol.name
                ),
            );
            continue;
        }
        if g.initrds.iter().any(|i| i.device != g.kernel.device) {
            log::warn!(
                "entry '{}': initrds on another device than the kernel are read from the kernel's",
                g.title
            );
        }
        c.add(
            BootEntry {
                title: g.title.clone(),
                source: if g.bls { Source::Bls } else { Source::Grub },
                kernel: g.kernel.path.clone(),
                initrds: g.initrds.iter().map(|p| p.path.clone()).collect(),
                cmdline: g.cmdline.clone(),
                default: false,
                device: kvol.name.clone(),
                id: g.id.clone().unwrap_or_else(|| g.title.clone()),
                volume: kvi,
                boot_image: Some(g.kernel_arg.clone()),
            },
            menu.default == Some(i),
        );
    }
    c.end();
}

/// BLS entry directories systemd-boot reads on a volume: `/loader/entries` (ESP,
/// XBOOTLDR); `/boot/loader/entries` only where no GRUB config reads them (blscfg).
fn bls_dirs(fs: &dyn FsView, has_grub: bool) -> Vec<&'static str> {
    let mut v = Vec::new();
    // A volume with a GRUB config is GRUB's: its snippets are read by `blscfg`.
    if !has_grub && fs.is_dir("/loader/entries") {
        v.push("/loader/entries");
    }
    if !has_grub && fs.is_dir("/boot/loader/entries") {
        v.push("/boot/loader/entries");
    }
    v
}

fn is_sd_boot_volume(fs: &dyn FsView, has_grub: bool) -> bool {
    !bls_dirs(fs, has_grub).is_empty() || !ukis(fs).is_empty()
}

/// Type #2 entries: `/EFI/Linux/*.efi`.
fn ukis(fs: &dyn FsView) -> Vec<String> {
    fs.list("/EFI/Linux")
        .into_iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".efi") && !n.starts_with('.'))
        .map(|n| format!("/EFI/Linux/{n}"))
        .collect()
}

/// Reads a UKI's headers and small sections, by range: a few KiB, never
/// the kernel and initrd it carries.
pub fn read_uki(fs: &dyn FsView, path: &str) -> Result<uki::Uki, String> {
    uki::read(fs, path).map_err(|e| e.to_string())
}

/// All systemd-boot entries of the system (every ESP/XBOOTLDR-like volume),
/// sorted together as systemd-boot does, with loader.conf's default.
fn sd_boot_entries(volumes: &[Volume], c: &mut Collector) {
    c.begin("systemd-boot".into());
    let mut list: Vec<(bls::BlsEntry, usize)> = Vec::new();
    let mut conf = bls::LoaderConf::default();
    let mut conf_found = false;
    for (vi, vol) in volumes.iter().enumerate() {
        let fs = vol.fs.as_ref();
        let has_grub = !grub_configs(fs).is_empty();
        if !conf_found {
            if let Ok(t) = fs.read_text("/loader/loader.conf") {
                conf = bls::parse_loader_conf(&t);
                conf_found = true;
            }
        }
        for dir in bls_dirs(fs, has_grub) {
            let (entries, errs) = bls::read_dir(fs, dir);
            for (p, m) in errs {
                c.error(format!("{}:{p}", vol.name), m);
            }
            list.extend(entries.into_iter().map(|e| (e, vi)));
        }
        for path in ukis(fs) {
            match read_uki(fs, &path) {
                Ok(u) => {
                    let id = path.rsplit('/').next().unwrap_or_default().to_string();
                    let e = bls::BlsEntry {
                        id,
                        file: path.clone(),
                        title: Some(u.title()),
                        version: u.version(),
                        sort_key: u
                            .os_release_get("IMAGE_ID")
                            .or(u.os_release_get("ID"))
                            .map(str::to_string),
                        efi: Some(path.clone()),
                        options: u.cmdline.clone().unwrap_or_default(),
                        ..Default::default()
                    };
                    list.push((e, vi));
                }
                Err(m) => c.error(format!("{}:{path}", vol.name), m),
            }
        }
    }
    let mut sorted: Vec<bls::BlsEntry> = list.iter().map(|(e, _)| e.clone()).collect();
    bls::sort(&mut sorted);
    // Map sorted entries back to their volumes (by file path, unique per volume).
    let mut order: Vec<(bls::BlsEntry, usize)> = Vec::new();
    for e in sorted {
        if let Some(pos) = list.iter().position(|(o, _)| o.file == e.file && o.id == e.id) {
            let (o, vi) = list.remove(pos);
            order.push((o, vi));
        }
    }
    let entries: Vec<bls::BlsEntry> = order.iter().map(|(e, _)| e.clone()).collect();
    let titles = bls::display_titles(&entries);
    let default = bls::default_index(&entries, &conf);
    for (i, (e, vi)) in order.iter().enumerate() {
        let Some(vol) = volumes.get(*vi) else { continue };
        let fs = vol.fs.as_ref();
        let title = titles.get(i).cloned().unwrap_or_else(|| bls::display_title(e));
        let (kernel, initrds, cmdline, source) = match (&e.efi, &e.linux) {
            (Some(efi), _) => {
                // A UKI (type #2, or a type #1 `efi` line): options override its .cmdline.
                // A type #2 entry's options are its .cmdline already (read above).
                let cmdline = if e.options.is_empty() && e.file != *efi {
                    read_uki(fs, efi).ok().and_then(|u| u.cmdline).unwrap_or_default()
                } else {
                    e.options.clone()
                };
                let src = if e.file.starts_with("/EFI/Linux/") {
                    Source::Uki
                } else {
                    Source::Bls
                };
                (efi.clone(), Vec::new(), cmdline, src)
            }
            (None, Some(linux)) => (linux.clone(), e.initrds.clone(), e.options.clone(), Source::Bls),
            (None, None) => {
                c.error(
                    format!("{}:{}", vol.name, e.file),
                    "entry has neither `linux` nor `efi`".into(),
                );
                continue;
            }
        };
        if !fs.is_file(&kernel) {
            c.error(
                format!("{}:{}", vol.name, e.file),
                format!("kernel {kernel} not found on {}", vol.name),
            );
            continue;
        }
        c.add(
            BootEntry {
                title,
                source,
                kernel,
                initrds,
                cmdline,
                default: false,
                device: vol.name.clone(),
                id: e.id.clone(),
                volume: *vi,
                boot_image: None,
            },
            default == Some(i),
        );
    }
    c.end();
}

fn extlinux_entries(volumes: &[Volume], vi: usize, cfg: &str, c: &mut Collector) {
    let Some(vol) = volumes.get(vi) else { return };
    let menu = extlinux::parse(vol.fs.as_ref(), cfg);
    c.begin(format!("extlinux {vi}:{cfg}"));
    let where_ = format!("{}:{cfg}", vol.name);
    for m in &menu.errors {
        c.error(where_.clone(), m.clone());
    }
    for (i, e) in menu.entries.iter().enumerate() {
        if !vol.fs.is_file(&e.kernel) {
            c.error(
                where_.clone(),
                format!("entry '{}': kernel {} not found on {}", e.title, e.kernel, vol.name),
            );
            continue;
        }
        c.add(
            BootEntry {
                title: e.title.clone(),
                source: Source::Extlinux,
                kernel: e.kernel.clone(),
                initrds: e.initrds.clone(),
                cmdline: e.append.clone(),
                default: false,
                device: vol.name.clone(),
                id: e.label.clone(),
                volume: vi,
                boot_image: Some(e.kernel_arg.clone()),
            },
            menu.default == Some(i),
        );
    }
    c.end();
}

/// Mount points of a running system where boot files live.
pub const LIVE_MOUNTS: &[&str] = &["/", "/boot", "/efi", "/boot/efi"];

/// One line of /proc/self/mountinfo: (device major, minor, mount point).
fn parse_mountinfo(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let dev = f.nth(2)?;
            let mp = f.nth(1)?;
            let (ma, mi) = dev.split_once(':')?;
            // Mount points escape spaces etc. as \040: decode the common ones.
            let mp = mp.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\");
            Some((ma.parse().ok()?, mi.parse().ok()?, mp))
        })
        .collect()
}

/// Looks up a symlink in /dev/disk/by-{uuid,label} pointing at device `maj:min`.
fn disk_link(kind: &str, maj: u64, min: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::read_dir(format!("/dev/disk/by-{kind}")).ok()?;
    for e in dir.flatten() {
        let Ok(m) = std::fs::metadata(e.path()) else { continue };
        let rdev = m.rdev();
        if nix::sys::stat::major(rdev) == maj && nix::sys::stat::minor(rdev) == min {
            // udev escapes unusual characters as \xNN.
            return Some(e.file_name().to_string_lossy().replace("\\x20", " "));
        }
    }
    None
}

/// The filesystems of the running system that hold boot files (`/`, `/boot`,
/// the ESP), as directories; each hides the mount points below it, so a
/// separate /boot is seen once, as its own filesystem, as GRUB sees it.
pub fn live_volumes() -> Vec<Volume> {
    let mounts = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    // The last mount on a mount point is the visible one.
    let visible = |mp: &str| mounts.iter().rev().find(|(_, _, m)| m == mp).cloned();
    let present: Vec<&str> = LIVE_MOUNTS
        .iter()
        .copied()
        .filter(|mp| *mp == "/" || visible(mp).is_some())
        .collect();
    let mut vols = Vec::new();
    for (i, mp) in present.iter().enumerate() {
        let hidden: Vec<String> = present
            .iter()
            .filter(|o| *o != mp && o.starts_with(mp))
            .map(|o| crate::fs::join("/", o.strip_prefix(mp).unwrap_or(o)))
            .collect();
        let (uuid, label) = match visible(mp) {
            Some((maj, min, _)) => (
                disk_link("uuid", maj, min).map(|u| u.to_lowercase()),
                disk_link("label", maj, min),
            ),
            None => (None, None),
        };
        vols.push(Volume {
            name: mp.to_string(),
            grub_name: format!("hd{i}"),
            fs: Box::new(DirFs::mounted(Path::new(mp), hidden, uuid, label)),
            part_uuid: None,
            part_label: None,
            esp: mp.contains("efi"),
        });
    }
    vols
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_lines() {
        let m = super::parse_mountinfo(
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
             30 22 254:2 / /boot rw - ext4 /dev/vda2 rw\n\
             31 22 0:5 / /my\\040dir rw - tmpfs tmpfs rw\n\
             garbage\n",
        );
        assert_eq!(
            m,
            [(254, 1, "/".into()), (254, 2, "/boot".into()), (0, 5, "/my dir".into())]
        );
    }
}
