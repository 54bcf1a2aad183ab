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
            let Some(kvi) = volumes.iter().position(|v| v.grub_name == g.kernel.device) else {
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
        self.vols.iter().find(|v| v.grub_name == dev)
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
