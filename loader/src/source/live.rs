//! The running system's boot filesystems (`hopboot load`, `hopboot probe`
//! without a path), mounted or not.
//!
//! Three lists say where they are:
//! - the mount table (`/proc/self/mountinfo`): `/`, `/boot`, `/efi` and
//!   `/boot/efi` as mounted are read as directories;
//! - `/etc/fstab`: a `/boot`, `/efi` or `/boot/efi` it names that is not
//!   mounted (unmounted by hand, or already by systemd at shutdown, or an
//!   automount not triggered) is read from its block device with the
//!   userspace readers, never mounted;
//! - the GPT partition types of the disks holding `/`: an XBOOTLDR or EFI
//!   System Partition not mounted (systemd's gpt-auto mounts them without
//!   fstab lines) is read the same way.
//!
//! Each filesystem is listed once: a mount wins over fstab, and fstab over
//! the partition type; a device mounted somewhere else is read through that
//! mount. Each mounted volume hides the boot mount points below it, so a
//! separate /boot is seen once, as its own filesystem, as GRUB sees it.
//! Devices are found without udev (it is stopped at shutdown): through the
//! `/dev/disk/by-*` links when they are still there, else by reading every
//! partition's table entry and superblock, as blkid would.

use super::fstab::{self, Identity, Spec};
use super::sysfs::Sysfs;
use super::NoMachine;
use crate::block::{self, gpt, Disk, Partition, TableKind, Window};
use crate::fs::dir::DirFs;
use crate::fs::FsView;
use crate::model::{DiscoveryError, Problem, Volume};
use std::path::Path;

/// Mount points of a running system where boot files live.
pub const LIVE_MOUNTS: &[&str] = &["/", "/boot", "/efi", "/boot/efi"];

/// Why a boot filesystem of the running system could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// `/proc/self/mountinfo` could not be read.
    #[error("cannot read the mount table (is /proc mounted?): {0}")]
    MountTable(std::io::Error),
    /// `/etc/fstab` exists but could not be read.
    #[error("{0}")]
    Fstab(std::io::Error),
    /// No block device is the one fstab names.
    #[error("{spec}: no such device ({looked})")]
    NoDevice {
        /// The source as fstab writes it.
        spec: String,
        /// Where it was looked for.
        looked: String,
    },
    /// fstab's source is not a block device (tmpfs, NFS, a file).
    #[error("{spec} ({fstype}) is not a block device; hopboot reads an unmounted {point} only from a disk")]
    NotBlock {
        /// The source as fstab writes it.
        spec: String,
        /// fstab's filesystem type.
        fstype: String,
        /// The mount point.
        point: String,
    },
    /// The device holds no filesystem hopboot knows.
    #[error("no filesystem hopboot can read{}", fstype_suffix(.fstype))]
    NoFilesystem {
        /// What fstab says it holds, when it says.
        fstype: Option<String>,
    },
}

fn fstype_suffix(t: &Option<String>) -> String {
    t.as_ref().map(|t| format!(" (fstab says {t})")).unwrap_or_default()
}

/// The running system's boot filesystems, with what could not be read (an
/// fstab `/boot` whose device is missing, a btrfs `/boot` only the kernel
/// reads…).
pub fn volumes() -> (Vec<Volume>, Vec<DiscoveryError>) {
    let mut errors = Vec::new();
    let mounts = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => parse_mountinfo(&t),
        Err(e) => {
            errors.push(DiscoveryError::new("/proc/self/mountinfo", LiveError::MountTable(e)));
            Vec::new()
        }
    };
    let fstab = match std::fs::read_to_string("/etc/fstab") {
        Ok(t) => fstab::parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            errors.push(DiscoveryError::new("/etc/fstab", LiveError::Fstab(e)));
            Vec::new()
        }
    };
    let vols = Live::new(Sysfs::default(), mounts).volumes(&fstab, &mut errors);
    (vols, errors)
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    major: u64,
    minor: u64,
    /// The directory of the filesystem mounted (`/` unless a bind or subvolume).
    root: String,
    point: String,
    fstype: String,
    /// The mount source (`/dev/vda2`): the device when `major` is 0 (btrfs).
    source: String,
}

/// The lines of /proc/self/mountinfo (`ID PARENT MAJ:MIN ROOT POINT OPTS
/// [OPTIONAL…] - FSTYPE SOURCE SUPEROPTS`), `\NNN` escapes decoded.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (ma, mi) = f.get(2)?.split_once(':')?;
            let sep = f.iter().skip(6).position(|x| *x == "-")? + 6;
            Some(Mount {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                root: fstab::unescape(f.get(3)?),
                point: fstab::unescape(f.get(4)?),
                fstype: f.get(sep + 1)?.to_string(),
                source: fstab::unescape(f.get(sep + 2).unwrap_or(&"")),
            })
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
            return Some(fstab::udev_decode(&e.file_name().to_string_lossy()));
        }
    }
    None
}

/// The filesystem UUID and label in `window`'s superblock, as blkid reports
/// them, for the filesystems hopboot knows (ext2/3/4, FAT, and those only
/// the kernel reads: btrfs, xfs…).
pub fn fs_identity(window: &Window) -> (Option<String>, Option<String>) {
    if crate::fs::fat::probe(window) {
        return match crate::fs::fat::FatFs::open(window.clone()) {
            Ok(f) => (f.uuid(), f.label()),
            Err(_) => (None, None),
        };
    }
    match super::kernel_fs::probe(window) {
        Some(t) => super::kernel_fs::identity(window, t),
        None => (None, None),
    }
}

/// The first of `parts` that `spec` names (`UUID=`, `LABEL=` from the
/// superblock read through `window_of`, `PARTUUID=`, `PARTLABEL=` from the
/// table), as blkid would find it without udev.
pub fn find_partition<'a>(
    spec: &Spec,
    parts: &'a [Partition],
    window_of: impl Fn(&Partition) -> Window,
) -> Option<&'a Partition> {
    let superblock = matches!(spec, Spec::Uuid(_) | Spec::Label(_));
    parts.iter().find(|p| {
        let (uuid, label) = if superblock {
            fs_identity(&window_of(p))
        } else {
            (None, None)
        };
        spec.matches(&Identity {
            uuid,
            label,
            part_uuid: p.part_uuid.clone(),
            part_label: p.part_label.clone(),
        })
    })
}

/// The filesystem on partition `p`, which is not mounted, read with the
/// userspace readers (nothing is mounted: [`NoMachine`]); what only the
/// kernel reads is an error, as is a partition with no filesystem hopboot
/// knows (`fstype`: what fstab says it holds). `name` names it in errors.
pub fn read_unmounted(p: &Partition, name: &str, fstype: Option<&str>) -> Result<Box<dyn FsView>, DiscoveryError> {
    match super::disk::open_partition(p, &NoMachine) {
        Ok(Some(fs)) => {
            log::info!("{name}: {} read from the device", fs.fs_type());
            Ok(fs)
        }
        Ok(None) => Err(DiscoveryError::new(
            name,
            LiveError::NoFilesystem {
                fstype: fstype.filter(|t| *t != "auto").map(String::from),
            },
        )),
        Err(e) => Err(DiscoveryError::new(name, e)),
    }
}

/// A volume found, before its GRUB name is given.
struct Found {
    name: String,
    /// The kernel name of its block device, when it has one.
    dev: Option<String>,
    /// Which directory of the filesystem it shows (mountinfo's root).
    root: String,
    fs: Box<dyn FsView>,
    part_uuid: Option<String>,
    part_label: Option<String>,
}

/// A disk's partition table: its kind and partitions.
type Table = (TableKind, Vec<Partition>);

/// The running system as the sources see it.
struct Live {
    sys: Sysfs,
    mounts: Vec<Mount>,
    /// The disks, in GRUB order.
    disks: Vec<String>,
    /// Each disk's table, read once (`None`: it could not be read).
    tables: Vec<(String, Option<Table>)>,
    /// Why a disk's table could not be read, until someone reports it.
    table_errors: Vec<(String, DiscoveryError)>,
}

impl Live {
    fn new(sys: Sysfs, mounts: Vec<Mount>) -> Self {
        let disks = sys.disks();
        Live {
            sys,
            mounts,
            disks,
            tables: Vec::new(),
            table_errors: Vec::new(),
        }
    }

    /// The visible mount at `point` (the last one mounted there).
    fn visible(&self, point: &str) -> Option<&Mount> {
        self.mounts.iter().rev().find(|m| m.point == point)
    }

    /// The kernel name of a mount's block device.
    fn dev_of(&self, m: &Mount) -> Option<String> {
        if m.major != 0 {
            return self.sys.name_of(m.major, m.minor);
        }
        // btrfs (and others) give an anonymous device number: the source names it.
        m.source
            .starts_with("/dev/")
            .then(|| self.sys.name_of_node(Path::new(&m.source)).ok().flatten())
            .flatten()
    }

    /// Disk `disk`'s partitions, read once. Why it failed is kept for
    /// [`Live::report_table`]: naming a mounted volume does not need the
    /// table, looking for an unmounted one does.
    fn table(&mut self, disk: &str) -> Option<Table> {
        if let Some((_, t)) = self.tables.iter().find(|(d, _)| d == disk) {
            return t.clone();
        }
        let node = self.sys.node(disk);
        let path = node.display().to_string();
        let t = match Disk::open(&node) {
            Ok(d) => block::partitions(&d).map_err(|e| DiscoveryError::new(path, e)),
            Err(e) => Err(DiscoveryError::new(path, Problem::Open(e))),
        };
        let t = t.map_err(|e| self.table_errors.push((disk.to_string(), e))).ok();
        self.tables.push((disk.to_string(), t.clone()));
        t
    }

    /// [`Live::table`], reporting a failure (once).
    fn report_table(&mut self, disk: &str, errors: &mut Vec<DiscoveryError>) -> Option<Table> {
        let t = self.table(disk);
        if let Some(i) = self.table_errors.iter().position(|(d, _)| d == disk) {
            errors.push(self.table_errors.swap_remove(i).1);
        }
        t
    }

    /// A partition read through its own device node (`/dev/vda2`) rather
    /// than through the disk's: the node's page cache is dropped when the
    /// last user closes it (the unmount), so what was written through the
    /// filesystem is what is read, never stale pages of an earlier read.
    fn own_window(&self, p: &Partition) -> Window {
        match Disk::open(&self.sys.node(&p.name)) {
            Ok(d) if d.size == p.len => d.whole(),
            _ => p.window.clone(),
        }
    }

    /// Block device `dev` (a kernel name) as a partition: from its disk's
    /// table when it is a partition (for its GPT identity), else the whole
    /// device (LVM, RAID, a disk without a table).
    fn partition(&mut self, dev: &str) -> Result<Partition, Problem> {
        if let Some((disk, n)) = self.sys.partition_of(dev) {
            if let Some((_, parts)) = self.table(&disk) {
                if let Some(p) = parts.into_iter().find(|p| p.number == n) {
                    return Ok(Partition {
                        window: self.own_window(&p),
                        name: dev.to_string(),
                        ..p
                    });
                }
            }
        }
        let d = Disk::open(&self.sys.node(dev)).map_err(Problem::Open)?;
        Ok(Partition {
            name: dev.to_string(),
            number: 0,
            start: 0,
            len: d.size,
            part_uuid: None,
            part_label: None,
            type_id: String::new(),
            window: d.whole(),
        })
    }

    /// The disks holding `/` (through device-mapper and RAID).
    fn root_disks(&self) -> Vec<String> {
        self.visible("/")
            .and_then(|m| self.dev_of(m))
            .map(|d| self.sys.disks_under(&d))
            .unwrap_or_default()
    }

    fn volumes(mut self, fstab: &[fstab::Entry], errors: &mut Vec<DiscoveryError>) -> Vec<Volume> {
        let mut found: Vec<Found> = Vec::new();
        // Mount points with something mounted, automounts included: a
        // filesystem above them does not show what is below.
        let occupied: Vec<&str> = LIVE_MOUNTS
            .iter()
            .copied()
            .filter(|mp| *mp == "/" || self.visible(mp).is_some())
            .collect();
        // In mount-point order, as the system stacks them: what is mounted,
        // else what fstab says belongs there.
        for mp in LIVE_MOUNTS.iter().copied() {
            let m = self.visible(mp).cloned();
            // An automount not triggered yet: reading it would mount it.
            if mp != "/" && m.as_ref().is_none_or(|m| m.fstype == "autofs") {
                let Some(e) = fstab::find(fstab, mp) else { continue };
                match self.fstab_device(e, mp) {
                    Ok(Some(dev)) => {
                        let head = format!("{mp} ({dev}");
                        self.add_device(&mut found, &dev, head, Some(&e.vfstype), errors);
                    }
                    Ok(None) => {}
                    Err(p) => errors.push(DiscoveryError::new(format!("/etc/fstab: {mp}"), p)),
                }
                continue;
            }
            let dev = m.as_ref().and_then(|m| self.dev_of(m));
            let root = m.as_ref().map_or("/", |m| m.root.as_str());
            if dev.is_some() && found.iter().any(|f| f.dev == dev && f.root == root) {
                log::debug!("{mp}: the same filesystem as listed already");
                continue;
            }
            let hidden: Vec<String> = occupied
                .iter()
                .filter(|o| **o != mp && o.starts_with(mp))
                .map(|o| crate::fs::join("/", o.strip_prefix(mp).unwrap_or(o)))
                .collect();
            found.push(self.mounted(mp.to_string(), mp, m.as_ref(), dev, hidden));
        }
        // Then the boot partitions of the root's disks that neither names.
        for disk in self.root_disks() {
            let Some((_, parts)) = self.report_table(&disk, errors) else {
                continue;
            };
            for p in parts {
                let kind = match p.type_id.as_str() {
                    gpt::TYPE_XBOOTLDR => "XBOOTLDR",
                    gpt::TYPE_ESP => "ESP",
                    _ => continue,
                };
                let head = format!("{} ({kind}", p.name);
                self.add_device(&mut found, &p.name, head, None, errors);
            }
        }
        self.grub_names(found)
    }

    /// The filesystem mounted at `point` (mount `m`, device `dev`) as volume
    /// `name`, hiding the mount points `hidden`; its identity from udev's
    /// links, else from its superblock (udev stopped).
    fn mounted(
        &mut self,
        name: String,
        point: &str,
        m: Option<&Mount>,
        dev: Option<String>,
        hidden: Vec<String>,
    ) -> Found {
        let links = m.map(|m| {
            (
                disk_link("uuid", m.major, m.minor),
                disk_link("label", m.major, m.minor),
            )
        });
        let (mut uuid, mut label) = links.unwrap_or((None, None));
        let part = dev.as_deref().and_then(|d| self.partition(d).ok());
        if uuid.is_none() {
            if let Some(p) = &part {
                (uuid, label) = fs_identity(&p.window);
            }
        }
        let uuid = uuid.map(|u| u.to_lowercase());
        Found {
            name,
            dev,
            root: m.map_or("/", |m| m.root.as_str()).to_string(),
            fs: Box::new(DirFs::mounted(Path::new(point), hidden, uuid, label)),
            part_uuid: part.as_ref().and_then(|p| p.part_uuid.clone()),
            part_label: part.and_then(|p| p.part_label),
        }
    }

    /// Adds block device `dev` unless it is listed already: through its
    /// mount when it is mounted somewhere else, else read from the device.
    /// `head` begins its name (`/boot (vda2`, `vda1 (ESP`); `fstype` is what
    /// fstab says it holds.
    fn add_device(
        &mut self,
        found: &mut Vec<Found>,
        dev: &str,
        head: String,
        fstype: Option<&str>,
        errors: &mut Vec<DiscoveryError>,
    ) {
        if found.iter().any(|f| f.dev.as_deref() == Some(dev)) {
            log::debug!("{head}): listed already");
            return;
        }
        let elsewhere = self
            .mounts
            .iter()
            .rev()
            .find(|m| m.root == "/" && m.fstype != "autofs" && self.dev_of(m).as_deref() == Some(dev))
            .cloned();
        if let Some(m) = elsewhere {
            let name = format!("{head}, mounted at {})", m.point);
            found.push(self.mounted(name, &m.point, Some(&m), Some(dev.to_string()), Vec::new()));
            return;
        }
        let name = format!("{head}, not mounted)");
        let p = match self.partition(dev) {
            Ok(p) => p,
            Err(e) => return errors.push(DiscoveryError::new(name, e)),
        };
        match read_unmounted(&p, &name, fstype) {
            Ok(fs) => found.push(Found {
                name,
                dev: Some(dev.to_string()),
                root: "/".into(),
                fs,
                part_uuid: p.part_uuid,
                part_label: p.part_label,
            }),
            Err(e) => errors.push(e),
        }
    }

    /// The block device fstab line `e` (for mount point `mp`) names, by
    /// kernel name; `None` for a bind mount (its files are on a mounted
    /// filesystem, seen there).
    fn fstab_device(&mut self, e: &fstab::Entry, mp: &str) -> Result<Option<String>, Problem> {
        if e.is_bind() {
            log::debug!("{mp}: a bind mount of {} in fstab, not mounted", e.spec);
            return Ok(None);
        }
        let not_block = || LiveError::NotBlock {
            spec: e.spec.to_string(),
            fstype: e.vfstype.clone(),
            point: mp.to_string(),
        };
        match &e.spec {
            Spec::Other(_) => Err(not_block().into()),
            Spec::Path(p) => match self.sys.name_of_node(Path::new(p)) {
                Ok(Some(dev)) => Ok(Some(dev)),
                Ok(None) => Err(not_block().into()),
                // A /dev/disk/by-* link udev did not make (or removed): the tag it stands for.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => match Spec::from_link(p) {
                    Some(tag) => self.find_by_tag(&tag, &e.spec).map(Some),
                    None => Err(LiveError::NoDevice {
                        spec: e.spec.to_string(),
                        looked: "no such file".into(),
                    }
                    .into()),
                },
                Err(err) => Err(Problem::Open(err)),
            },
            tag => {
                if let Some(Ok(Some(dev))) = tag.link().map(|l| self.sys.name_of_node(Path::new(&l))) {
                    return Ok(Some(dev));
                }
                self.find_by_tag(tag, &e.spec).map(Some)
            }
        }
    }

    /// Looks at every partition's table entry and superblock (the root's
    /// disks first, then the other disks, then LVM/RAID devices) for `tag`
    /// (`written`: as fstab writes it).
    fn find_by_tag(&mut self, tag: &Spec, written: &Spec) -> Result<String, Problem> {
        let link = tag.link().unwrap_or_default();
        if matches!(tag, Spec::Id(_)) {
            return Err(LiveError::NoDevice {
                spec: written.to_string(),
                looked: format!("{link} is missing, and only udev knows by-id names"),
            }
            .into());
        }
        let root = self.root_disks();
        let others = self.disks.iter().filter(|d| !root.contains(d)).cloned();
        let order: Vec<String> = root.iter().cloned().chain(others).collect();
        for disk in order {
            let Some((_, parts)) = self.table(&disk) else { continue };
            if let Some(p) = find_partition(tag, &parts, |p| self.own_window(p)) {
                return Ok(p.name.clone());
            }
        }
        for dev in self.sys.stacked() {
            let Ok(d) = Disk::open(&self.sys.node(&dev)) else {
                continue;
            };
            let (uuid, label) = fs_identity(&d.whole());
            if tag.matches(&Identity {
                uuid,
                label,
                ..Identity::default()
            }) {
                return Ok(dev);
            }
        }
        Err(LiveError::NoDevice {
            spec: written.to_string(),
            looked: format!("no {link}, and no partition's superblock or table entry has it"),
        }
        .into())
    }

    /// GRUB's names, as PID 1 gives them: `hdD,gptN` / `hdD,msdosN` for
    /// partition N of the D-th disk, `hdD` for a whole disk; a filesystem on
    /// no disk (the initramfs, LVM, RAID) gets a number after the disks.
    fn grub_names(&mut self, found: Vec<Found>) -> Vec<Volume> {
        let mut next = self.disks.len();
        let mut vols = Vec::new();
        for f in found {
            let named = f.dev.as_deref().and_then(|dev| self.grub_name(dev));
            let grub_name = named.unwrap_or_else(|| {
                next += 1;
                format!("hd{}", next - 1)
            });
            vols.push(Volume {
                name: f.name,
                grub_name,
                any_partition: false,
                fs: f.fs,
                part_uuid: f.part_uuid,
                part_label: f.part_label,
            });
        }
        vols
    }

    fn grub_name(&mut self, dev: &str) -> Option<String> {
        if let Some(d) = self.disks.iter().position(|d| d == dev) {
            return Some(format!("hd{d}"));
        }
        let (disk, n) = self.sys.partition_of(dev)?;
        let d = self.disks.iter().position(|x| *x == disk)?;
        match self.table(&disk)?.0 {
            TableKind::Gpt => Some(format!("hd{d},gpt{n}")),
            TableKind::Mbr => Some(format!("hd{d},msdos{n}")),
            TableKind::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Problem;
    use crate::source::VolumeError;
    use hopboot_qemu::disk::{build_disk, Fs, Partition as Part, Table};
    use std::process::Command;

    const BOOT_UUID: &str = "6b1f2f46-3c43-4e2a-8d8a-1b2c3d4e5f60";
    const ROOT_PARTUUID: &str = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d";

    /// A real disk as an installer leaves it (sgdisk, mkfs): 1 an ESP (FAT,
    /// label ESP, volume id 4842-0001), 2 a /boot (ext4, a fixed UUID, label
    /// and partition name "bootfs"), 3 the root (ext4, a fixed PARTUUID),
    /// 4 a btrfs /boot, 5 nothing.
    fn installed_disk(dir: &std::path::Path) -> std::path::PathBuf {
        let esp = dir.join("esp");
        std::fs::create_dir_all(esp.join("loader/entries")).unwrap();
        std::fs::write(esp.join("loader/entries/a.conf"), "title A\nlinux /vmlinuz\n").unwrap();
        let boot = dir.join("boot");
        std::fs::create_dir_all(boot.join("grub")).unwrap();
        std::fs::write(boot.join("grub/grub.cfg"), "menuentry x {}\n").unwrap();
        let btrfs = dir.join("btrfs.img");
        std::fs::File::create(&btrfs).unwrap().set_len(120 << 20).unwrap();
        let st = Command::new("mkfs.btrfs")
            .args(["-q", "-f", "-L", "btrboot"])
            .arg(&btrfs)
            .status()
            .unwrap();
        assert!(st.success(), "mkfs.btrfs");
        let mut root = Part::new(8, "8300", Fs::Ext4 { uuid: None }).with_label("root");
        root.part_uuid = Some(ROOT_PARTUUID.to_uppercase());
        let parts = [
            Part::new(8, "ef00", Fs::Vfat).with_label("ESP").with_staging(&esp),
            Part::new(
                8,
                "ea00",
                Fs::Ext4 {
                    uuid: Some(BOOT_UUID.into()),
                },
            )
            .with_label("bootfs")
            .with_staging(&boot),
            root,
            Part::new(121, "8300", Fs::Image(btrfs)),
            Part::new(1, "8300", Fs::None),
        ];
        let img = dir.join("disk.img");
        build_disk(&img, Table::Gpt, &parts).unwrap();
        img
    }

    #[test]
    fn fstab_specs_find_their_partition_without_udev() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(&installed_disk(dir.path())).unwrap();
        let (_, parts) = block::partitions(&disk).unwrap();
        let find = |spec: &str| {
            let spec = fstab::parse(&format!("{spec} /boot auto defaults 0 2"))[0].spec.clone();
            find_partition(&spec, &parts, |p| p.window.clone()).map(|p| p.number)
        };
        assert_eq!(find(&format!("UUID={BOOT_UUID}")), Some(2));
        assert_eq!(find(&format!("UUID=\"{}\"", BOOT_UUID.to_uppercase())), Some(2));
        assert_eq!(find("LABEL=bootfs"), Some(2));
        assert_eq!(find("LABEL=BOOTFS"), None, "labels are compared exactly");
        assert_eq!(find("PARTLABEL=bootfs"), Some(2));
        // FAT: the volume id as blkid writes it, in either case; the label.
        assert_eq!(find("UUID=4842-0001"), Some(1));
        assert_eq!(find("UUID='4842-0001'"), Some(1));
        assert_eq!(find("LABEL=ESP"), Some(1));
        assert_eq!(find(&format!("PARTUUID={ROOT_PARTUUID}")), Some(3));
        assert_eq!(find("LABEL=btrboot"), Some(4), "btrfs's label, from its superblock");
        assert_eq!(find("UUID=00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(find("PARTLABEL=nosuch"), None);
        // A path is not a tag: it is resolved through /dev, not here.
        assert_eq!(find("/dev/vda2"), None);
        assert_eq!(parts[1].type_id, gpt::TYPE_XBOOTLDR);
        assert_eq!(parts[0].type_id, gpt::TYPE_ESP);
    }

    #[test]
    fn unmounted_partitions_are_read_or_give_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(&installed_disk(dir.path())).unwrap();
        let (_, parts) = block::partitions(&disk).unwrap();
        let esp = read_unmounted(&parts[0], "vda1 (ESP, not mounted)", None).unwrap();
        assert_eq!(esp.fs_type(), "vfat");
        assert_eq!(esp.list("/loader/entries"), ["a.conf"]);
        let boot = read_unmounted(&parts[1], "/boot (vda2, not mounted)", Some("ext4")).unwrap();
        assert_eq!(boot.uuid().as_deref(), Some(BOOT_UUID));
        assert!(boot.is_file("/grub/grub.cfg"));
        // btrfs: only a kernel mount reads it, and the CLI never mounts.
        let e = read_unmounted(&parts[3], "/boot (vda4, not mounted)", Some("btrfs"))
            .err()
            .unwrap();
        assert_eq!(e.path, "/boot (vda4, not mounted)");
        assert!(
            matches!(&e.problem, Problem::Volume(VolumeError::KernelMount { .. })),
            "{:?}",
            e.problem
        );
        assert!(e.message().contains("btrfs needs a kernel mount"), "{}", e.message());
        let e = read_unmounted(&parts[4], "/efi (vda5, not mounted)", Some("vfat"))
            .err()
            .unwrap();
        assert!(
            matches!(&e.problem, Problem::Live(LiveError::NoFilesystem { fstype: Some(t) }) if t == "vfat"),
            "{:?}",
            e.problem
        );
        assert_eq!(e.message(), "no filesystem hopboot can read (fstab says vfat)");
    }

    #[test]
    fn mountinfo_lines() {
        let m = parse_mountinfo(
            "22 1 254:3 / / rw,relatime shared:1 - ext4 /dev/vda3 rw\n\
             30 22 254:2 / /boot rw - ext4 /dev/vda2 rw\n\
             31 22 0:5 / /my\\040dir rw - tmpfs tmpfs rw\n\
             40 22 0:45 /@boot /boot/efi rw,relatime shared:5 master:2 - btrfs /dev/vdb1 rw,subvol=/@boot\n\
             41 22 0:46 / /efi rw - autofs systemd-1 rw,fd=52\n\
             garbage\n\
             50 1 1:2 / /x rw\n",
        );
        let short: Vec<(u64, u64, &str, &str, &str, &str)> = m
            .iter()
            .map(|m| {
                (
                    m.major,
                    m.minor,
                    m.root.as_str(),
                    m.point.as_str(),
                    m.fstype.as_str(),
                    m.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            short,
            [
                (254, 3, "/", "/", "ext4", "/dev/vda3"),
                (254, 2, "/", "/boot", "ext4", "/dev/vda2"),
                (0, 5, "/", "/my dir", "tmpfs", "tmpfs"),
                (0, 45, "/@boot", "/boot/efi", "btrfs", "/dev/vdb1"),
                (0, 46, "/", "/efi", "autofs", "systemd-1"),
            ]
        );
    }
}
