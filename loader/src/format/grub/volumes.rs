//! GRUB as a [`BootFormat`]: where grub.cfg lives on a volume, the
//! interpreter's view of hopboot's volumes (devices, `search`), and each
//! menu entry turned into a [`BootEntry`] whose kernel is really there.

use super::{run, GrubHost, SearchBy};
use crate::format::{BootFormat, Config, Found};
use crate::fs::{FsView, Kind};
use crate::model::{BootEntry, DiscoveryError, Format, Problem, Volume};

/// Where GRUB configs live, in the order hopboot tries them per volume.
pub const GRUB_PATHS: &[&str] = &[
    "/boot/grub/grub.cfg",
    "/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/grub2/grub.cfg",
    // Ubuntu's btrfs root: the `@` subvolume seen from the top-level volume,
    // which GRUB (and a plain mount) read; grub-install sets the prefix there.
    "/@/boot/grub/grub.cfg",
];

/// The GRUB config of a volume: the usual places, then `/EFI/*/grub.cfg`
/// (an ESP's stub or an ISO's config). At most one.
pub fn configs(fs: &dyn FsView) -> Option<String> {
    if let Some(p) = GRUB_PATHS.iter().find(|p| fs.is_file(p)) {
        return Some(p.to_string());
    }
    ["/EFI", "/efi"]
        .into_iter()
        .flat_map(|efi| fs.list(efi).into_iter().map(move |d| format!("{efi}/{d}/grub.cfg")))
        .find(|p| fs.is_file(p))
}

/// The GRUB format.
pub struct Grub;

impl BootFormat for Grub {
    fn name(&self) -> &'static str {
        "grub"
    }

    fn configs(&self, volumes: &[Volume], vi: usize) -> Vec<Config> {
        let found = volumes.get(vi).and_then(|v| configs(v.fs.as_ref()));
        found.map(|path| Config::file("grub", vi, path)).into_iter().collect()
    }

    fn read(&self, volumes: &[Volume], config: &Config) -> Found {
        let mut found = Found::default();
        let Some(vol) = volumes.get(config.volume) else {
            return found;
        };
        let cfg = &config.path;
        let menu = run(&Host { vols: volumes }, &vol.grub_name, cfg);
        let where_ = format!("{}:{cfg}", vol.name);
        let error = |p: Problem| DiscoveryError::new(where_.clone(), p);
        found
            .errors
            .extend(menu.errors.iter().map(|m| error(Problem::Config(m.clone()))));
        for (i, g) in menu.entries.iter().enumerate() {
            let Some(kvi) = find_device(volumes, &g.kernel.device) else {
                found.errors.push(error(Problem::DeviceMissing {
                    entry: g.title.clone(),
                    device: g.kernel.device.clone(),
                }));
                continue;
            };
            let Some(kvol) = volumes.get(kvi) else { continue };
            if !kvol.fs.is_file(&g.kernel.path) {
                found.errors.push(error(Problem::KernelMissing {
                    entry: Some(g.title.clone()),
                    kernel: g.kernel.path.clone(),
                    volume: kvol.name.clone(),
                }));
                continue;
            }
            if g.initrds.iter().any(|i| i.device != g.kernel.device) {
                log::warn!(
                    "entry '{}': initrds on another device than the kernel are read from the kernel's",
                    g.title
                );
            }
            if menu.default == Some(i) {
                found.default.get_or_insert(found.entries.len());
            }
            found.entries.push(BootEntry {
                title: g.title.clone(),
                format: if g.bls { Format::Bls } else { Format::Grub },
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
        found
    }
}

/// The interpreter's view of the machine: hopboot's volumes, by GRUB name.
struct Host<'a> {
    vols: &'a [Volume],
}

impl Host<'_> {
    fn vol(&self, dev: &str) -> Option<&Volume> {
        self.vols.get(find_device(self.vols, dev)?)
    }
}

impl GrubHost for Host<'_> {
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
    fn search(&self, by: SearchBy, value: &str) -> Option<String> {
        // GRUB compares UUIDs without case, labels and names exactly.
        let hit = self.vols.iter().find(|v| match by {
            SearchBy::FsUuid => v.fs.uuid().is_some_and(|u| u.eq_ignore_ascii_case(value)),
            SearchBy::Label => v.fs.label().as_deref() == Some(value),
            SearchBy::File => v.fs.is_file(value),
            SearchBy::PartUuid => v.part_uuid.as_ref().is_some_and(|u| u.eq_ignore_ascii_case(value)),
            SearchBy::PartLabel => v.part_label.as_deref() == Some(value),
        })?;
        Some(hit.grub_name.clone())
    }
}

/// The volume GRUB's device name `dev` reaches: the volume of that name,
/// else the one GRUB would read under it (see [`reaches`]).
pub(crate) fn find_device(volumes: &[Volume], dev: &str) -> Option<usize> {
    volumes
        .iter()
        .position(|v| v.grub_name == dev)
        .or_else(|| volumes.iter().position(|v| reaches(dev, v)))
}

/// A GRUB device name: disk `hdN` and, for a partition, its table (`None`
/// for a bare number) and number.
#[derive(Debug, PartialEq, Eq)]
struct DeviceName<'a> {
    disk: u32,
    part: Option<(Option<&'a str>, u32)>,
}

/// Reads `hdN`, `hdN,gptM`, `hdN,msdosM`, `hdN,M`. Anything else (nested
/// labels such as `hd0,msdos1,bsd1`, `cd0`, `lvm/…`) is `None`: GRUB names
/// MBR logical partitions flat (`hd0,msdos5`), not below their extended one.
fn device_name(name: &str) -> Option<DeviceName<'_>> {
    let name = name.trim_start_matches('(').trim_end_matches(')');
    let (disk, part) = match name.split_once(',') {
        Some((d, p)) => (d, Some(p)),
        None => (name, None),
    };
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let disk = number(disk.strip_prefix("hd")?)?;
    let part = match part {
        None => None,
        Some(p) => {
            let table = ["gpt", "msdos"].into_iter().find(|t| p.starts_with(t));
            let n = number(table.map_or(p, |t| &p[t.len()..]))?;
            Some((table, n))
        }
    };
    Some(DeviceName { disk, part })
}

/// Whether GRUB, asked for device `dev`, reads volume `v`. Checked with
/// grub-emu 2.06 (two disks through a device map, an MBR disk with a logical
/// partition and a GPT disk): `(hd0,5)` and `(hd0,msdos5)` both read the
/// logical partition, `(hd1,2)` and `(hd1,gpt2)` the GPT one; `(hd0,gpt1)`
/// on the MBR disk, `(hd1,msdos1)` on the GPT disk, the extended partition
/// `(hd0,msdos2)` and `(hd0,msdos1,msdos5)` read nothing. A tree given to
/// `hopboot probe` answers to every partition of its disk.
fn reaches(dev: &str, v: &Volume) -> bool {
    let (Some(want), Some(have)) = (device_name(dev), device_name(&v.grub_name)) else {
        return false;
    };
    if want.disk != have.disk {
        return false;
    }
    if v.any_partition {
        return true;
    }
    match (want.part, have.part) {
        (None, None) => true,
        (Some((wt, wn)), Some((ht, hn))) => wn == hn && (wt.is_none() || wt == ht),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;

    fn vol(grub_name: &str, any_partition: bool) -> Volume {
        Volume {
            name: grub_name.to_string(),
            grub_name: grub_name.to_string(),
            any_partition,
            fs: Box::new(DirFs::new(std::path::Path::new("/nonexistent"))),
            part_uuid: None,
            part_label: None,
        }
    }

    /// GRUB's device names against hopboot's volumes, as grub-emu 2.06 read
    /// them (see [`reaches`]).
    #[test]
    fn grub_device_names() {
        let vols = [
            vol("hd0,msdos1", false),
            vol("hd0,msdos5", false),
            vol("hd1,gpt1", false),
            vol("hd1,gpt2", false),
            vol("hd2", false),
        ];
        for (dev, want) in [
            ("hd0,1", Some(0)),
            ("hd0,msdos1", Some(0)),
            ("(hd0,5)", Some(1)),
            ("hd0,msdos5", Some(1)),
            ("hd0,msdos2", None),
            ("hd0,gpt1", None),
            ("hd0,msdos1,msdos5", None),
            ("hd1,2", Some(3)),
            ("hd1,gpt2", Some(3)),
            ("hd1,msdos1", None),
            ("hd1", None),
            ("hd2", Some(4)),
            ("hd2,gpt1", None),
            ("hd3,gpt1", None),
            ("hd,1", None),
            ("cd0", None),
        ] {
            assert_eq!(find_device(&vols, dev), want, "{dev}");
        }
        // A tree: every partition of its disk, and the disk itself.
        let trees = [vol("hd0", true), vol("hd1", true)];
        for (dev, want) in [
            ("hd0,gpt2", Some(0)),
            ("hd0,msdos5", Some(0)),
            ("hd0", Some(0)),
            ("hd1,3", Some(1)),
            ("hd2,gpt2", None),
        ] {
            assert_eq!(find_device(&trees, dev), want, "{dev}");
        }
    }

    /// Where a volume's grub.cfg is found: the usual places first, Ubuntu's
    /// btrfs `@` subvolume seen from the top-level volume, then an ESP's.
    #[test]
    fn config_places() {
        use crate::fs::dir::test_tree as tree;
        let at = |files: &[(&str, &str)]| configs(&DirFs::new(tree(files).path()));
        assert_eq!(
            at(&[("@/boot/grub/grub.cfg", "")]).as_deref(),
            Some("/@/boot/grub/grub.cfg")
        );
        assert_eq!(
            at(&[("@/boot/grub/grub.cfg", ""), ("boot/grub/grub.cfg", "")]).as_deref(),
            Some("/boot/grub/grub.cfg")
        );
        assert_eq!(
            at(&[("EFI/ubuntu/grub.cfg", "")]).as_deref(),
            Some("/EFI/ubuntu/grub.cfg")
        );
        assert_eq!(at(&[("@home/boot/grub/grub.cfg", "")]), None);
    }
}
