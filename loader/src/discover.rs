//! Discovery: disks → partitions → filesystems ("volumes") → boot entries.
//!
//! Each volume is asked for its configs in the order real systems use them;
//! a volume with no config at all gets the plain /boot scan. Every problem
//! becomes a [`DiscoveryError`] next to the entries that did work.

use crate::block::{self, Disk, Partition, TableKind};
use crate::config::{grub, scan};
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
    /// GPT partition GUID / MBR id.
    pub part_uuid: Option<String>,
    /// Whether the partition is an EFI System Partition.
    pub esp: bool,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("name", &self.name)
            .field("grub_name", &self.grub_name)
            .field("fs", &self.fs.fs_type())
            .field("uuid", &self.fs.uuid())
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
    if crate::fs::ext4::probe(&p.window) {
        return Ok(Some(Box::new(Ext4Fs::open(p.window.clone())?)));
    }
    Ok(None)
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
    fn search(&self, by: grub::SearchBy, value: &str) -> Option<String> {
        let hit = self.vols.iter().find(|v| match by {
            grub::SearchBy::FsUuid => v.fs.uuid().is_some_and(|u| u.eq_ignore_ascii_case(value)),
            grub::SearchBy::Label => v.fs.label().as_deref() == Some(value),
            grub::SearchBy::File => v.fs.is_file(value),
        })?;
        Some(hit.grub_name.clone())
    }
}

/// Finds the boot entries on `volumes`.
pub fn discover(volumes: Vec<Volume>, mut errors: Vec<DiscoveryError>) -> Discovery {
    let mut entries: Vec<BootEntry> = Vec::new();
    let mut default: Option<usize> = None;
    for (vi, vol) in volumes.iter().enumerate() {
        let before = entries.len();
        let mut had_config = false;
        if let Some(cfg) = GRUB_PATHS.iter().find(|p| vol.fs.is_file(p)) {
            had_config = true;
            let host = Host { vols: &volumes };
            let menu = grub::run(&host, &vol.grub_name, cfg);
            let where_ = format!("{}:{cfg}", vol.name);
            errors.extend(menu.errors.iter().map(|m| DiscoveryError {
                path: where_.clone(),
                message: m.clone(),
            }));
            for (i, g) in menu.entries.iter().enumerate() {
                let Some(kvi) = volumes.iter().position(|v| v.grub_name == g.kernel.device) else {
                    errors.push(DiscoveryError {
                        path: where_.clone(),
                        message: format!("entry '{}': kernel device ({}) not found", g.title, g.kernel.device),
                    });
                    continue;
                };
                let kvol = &volumes[kvi];
                if !kvol.fs.is_file(&g.kernel.path) {
                    errors.push(DiscoveryError {
                        path: where_.clone(),
                        message: format!(
                            "entry '{}': kernel {} not found on {}",
                            g.title, g.kernel.path, kvol.name
                        ),
                    });
                    continue;
                }
                if g.initrds.iter().any(|i| i.device != g.kernel.device) {
                    log::warn!(
                        "entry '{}': initrds on another device than the kernel are read from the kernel's",
                        g.title
                    );
                }
                if menu.default == Some(i) && default.is_none() {
                    default = Some(entries.len());
                }
                entries.push(BootEntry {
                    title: g.title.clone(),
                    source: Source::Grub,
                    kernel: g.kernel.path.clone(),
                    initrds: g.initrds.iter().map(|p| p.path.clone()).collect(),
                    cmdline: g.cmdline.clone(),
                    default: false,
                    device: kvol.name.clone(),
                    id: g.id.clone().unwrap_or_else(|| g.title.clone()),
                    volume: kvi,
                    boot_image: Some(g.kernel_arg.clone()),
                });
            }
        }
        if !had_config {
            for s in scan::scan(vol.fs.as_ref(), &["/boot", "/"]) {
                entries.push(BootEntry {
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
                });
            }
        }
        if default.is_none() && entries.len() > before {
            default = Some(before);
        }
    }
    if let Some(e) = default.and_then(|d| entries.get_mut(d)) {
        e.default = true;
    }
    Discovery {
        volumes,
        entries,
        errors,
    }
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
