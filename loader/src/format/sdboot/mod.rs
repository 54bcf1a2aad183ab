//! systemd-boot as a [`BootFormat`]: the Boot Loader Specification entries
//! ([`bls`], type #1, in `/loader/entries`) and the Unified Kernel Images
//! ([`uki`], type #2, in `/EFI/Linux`) of every volume of the system, sorted
//! together into one menu as systemd-boot does, with `loader.conf`'s default.
//! A volume with a GRUB config is GRUB's: its `/boot/loader/entries` are
//! read by GRUB's `blscfg`, not here.

pub mod bls;
pub mod efivars;
pub mod uki;

use crate::format::{grub, BootFormat, Config, Found};
use crate::fs::FsView;
use crate::model::{BootEntry, DiscoveryError, Format, Problem, Volume};

/// The systemd-boot format: one menu for the whole system.
pub struct SystemdBoot;

/// The one key of systemd-boot's menu: every volume that has entries leads to it.
const KEY: &str = "systemd-boot";

impl BootFormat for SystemdBoot {
    fn name(&self) -> &'static str {
        KEY
    }

    fn configs(&self, volumes: &[Volume], vi: usize) -> Vec<Config> {
        let Some(vol) = volumes.get(vi) else { return Vec::new() };
        let fs = vol.fs.as_ref();
        let has_grub = grub::configs(fs).is_some();
        if bls_dirs(fs, has_grub).is_empty() && ukis(fs).is_empty() {
            return Vec::new();
        }
        vec![Config {
            key: KEY.into(),
            volume: vi,
            path: String::new(),
        }]
    }

    /// All systemd-boot entries of the system (every ESP/XBOOTLDR-like
    /// volume), sorted together, with loader.conf's default.
    fn read(&self, volumes: &[Volume], _config: &Config) -> Found {
        let mut found = Found::default();
        let mut list: Vec<(bls::BlsEntry, usize)> = Vec::new();
        let mut conf = None;
        for (vi, vol) in volumes.iter().enumerate() {
            let fs = vol.fs.as_ref();
            let has_grub = grub::configs(fs).is_some();
            if conf.is_none() {
                conf = fs
                    .read_text("/loader/loader.conf")
                    .ok()
                    .map(|t| bls::parse_loader_conf(&t));
            }
            for dir in bls_dirs(fs, has_grub) {
                let (entries, errs) = bls::read_dir(fs, dir);
                for (p, m) in errs {
                    found
                        .errors
                        .push(DiscoveryError::new(format!("{}:{p}", vol.name), Problem::Config(m)));
                }
                list.extend(entries.into_iter().map(|e| (e, vi)));
            }
            for path in ukis(fs) {
                let at = format!("{}:{path}", vol.name);
                match uki::read(fs, &path) {
                    Ok(u) => match type2_entry(&u, &path) {
                        Ok(e) => list.push((e, vi)),
                        Err(m) => found.errors.push(DiscoveryError::new(at, Problem::Config(m))),
                    },
                    Err(e) => found.errors.push(DiscoveryError::new(at, e)),
                }
            }
        }
        drop_mirrored(&mut list, volumes);
        let conf = conf.unwrap_or_default();
        let mut sorted: Vec<bls::BlsEntry> = list.iter().map(|(e, _)| e.clone()).collect();
        bls::sort(&mut sorted);
        // Map sorted entries back to their volumes (by file path, unique per volume).
        let mut order: Vec<(bls::BlsEntry, usize)> = Vec::new();
        for e in sorted {
            if let Some(pos) = list.iter().position(|(o, _)| o.file == e.file && o.id == e.id) {
                order.push(list.remove(pos));
            }
        }
        let entries: Vec<bls::BlsEntry> = order.iter().map(|(e, _)| e.clone()).collect();
        let titles = bls::display_titles(&entries);
        let default = bls::default_index(&entries, &conf);
        for (i, (e, vi)) in order.iter().enumerate() {
            let Some(vol) = volumes.get(*vi) else { continue };
            let fs = vol.fs.as_ref();
            let error = |p: Problem| DiscoveryError::new(format!("{}:{}", vol.name, e.file), p);
            let title = titles.get(i).cloned().unwrap_or_else(|| bls::display_title(e));
            let (kernel, initrds, cmdline, format) = match (&e.efi, &e.linux) {
                (Some(efi), _) => {
                    // A UKI (type #2, or a type #1 `efi` line): options override its .cmdline.
                    // A type #2 entry's options are its .cmdline already (read above).
                    let cmdline = if e.options.is_empty() && e.file != *efi {
                        uki::read(fs, efi).ok().and_then(|u| u.cmdline).unwrap_or_default()
                    } else {
                        e.options.clone()
                    };
                    let format = if e.file.starts_with(UKI_DIR) {
                        Format::Uki
                    } else {
                        Format::Bls
                    };
                    (efi.clone(), Vec::new(), cmdline, format)
                }
                (None, Some(linux)) => (linux.clone(), e.initrds.clone(), e.options.clone(), Format::Bls),
                (None, None) => {
                    found.errors.push(error(Problem::NoKernel));
                    continue;
                }
            };
            if !fs.is_file(&kernel) {
                found.errors.push(error(Problem::KernelMissing {
                    entry: None,
                    kernel,
                    volume: vol.name.clone(),
                }));
                continue;
            }
            if default == Some(i) {
                found.default.get_or_insert(found.entries.len());
            }
            found.entries.push(BootEntry {
                title,
                format,
                kernel,
                initrds,
                cmdline,
                default: false,
                device: vol.name.clone(),
                id: e.id.clone(),
                volume: *vi,
                boot_image: None,
            });
        }
        found
    }
}

/// The BLS entry directory read on a volume: `/loader/entries` (ESP,
/// XBOOTLDR: the one systemd-boot and bootctl read), else
/// `/boot/loader/entries` (a root filesystem holding /boot), never both: on
/// a boot partition with a `boot -> .` link (ostree's) they are the same
/// directory, and systemd-boot reads only the first. None where a GRUB
/// config reads them (blscfg).
fn bls_dirs(fs: &dyn FsView, has_grub: bool) -> Vec<&'static str> {
    // A volume with a GRUB config is GRUB's: its snippets are read by `blscfg`.
    if has_grub {
        return Vec::new();
    }
    ["/loader/entries", "/boot/loader/entries"]
        .into_iter()
        .find(|d| fs.is_dir(d))
        .into_iter()
        .collect()
}

/// Drops entries that are copies of an entry already listed from another
/// volume: the same file, the same keys and a kernel of the same size.
/// proxmox-boot-tool (and ESP mirroring in general) keeps identical ESPs on
/// several disks; systemd-boot reads only the ESP it was started from, so
/// its menu lists each entry once, not once per ESP.
fn drop_mirrored(list: &mut Vec<(bls::BlsEntry, usize)>, volumes: &[Volume]) {
    let size = |e: &bls::BlsEntry, vi: usize| {
        let kernel = e.efi.as_ref().or(e.linux.as_ref())?;
        volumes.get(vi)?.fs.size(kernel)
    };
    let mut kept: Vec<(bls::BlsEntry, usize)> = Vec::with_capacity(list.len());
    for (e, vi) in list.drain(..) {
        let copy = kept
            .iter()
            .any(|(k, kvi)| *kvi != vi && *k == e && size(k, *kvi).is_some() && size(k, *kvi) == size(&e, vi));
        if copy {
            log::debug!(
                "{}: the same entry as on an earlier volume (a mirrored ESP): listed once",
                e.file
            );
        } else {
            kept.push((e, vi));
        }
    }
    *list = kept;
}

/// Where type #2 entries live.
const UKI_DIR: &str = "/EFI/Linux/";

/// Type #2 entries: `/EFI/Linux/*.efi`.
fn ukis(fs: &dyn FsView) -> Vec<String> {
    fs.list("/EFI/Linux")
        .into_iter()
        .filter(|n| n.to_ascii_lowercase().ends_with(".efi") && !n.starts_with('.'))
        .map(|n| format!("{UKI_DIR}{n}"))
        .collect()
}

/// A type #2 entry as systemd-boot lists it: its file name as id, its
/// os-release for title, version and sort key ([`uki::Uki::title`]), its
/// .cmdline as options. A UKI whose `.osrel` names no OS (or that has no
/// `.osrel`) is not on systemd-boot's menu (252 and 254, checked under OVMF):
/// the message says why.
fn type2_entry(u: &uki::Uki, path: &str) -> Result<bls::BlsEntry, String> {
    let Some(title) = u.title() else {
        let why = if u.os_release.is_empty() {
            "no .osrel section (or an empty one)"
        } else {
            "its .osrel sets none of PRETTY_NAME, IMAGE_ID, NAME, ID"
        };
        return Err(format!("{why}: systemd-boot does not list this UKI"));
    };
    Ok(bls::BlsEntry {
        id: path.rsplit('/').next().unwrap_or_default().to_string(),
        file: path.to_string(),
        title: Some(title),
        version: u.version(),
        sort_key: u.sort_key(),
        efi: Some(path.to_string()),
        options: u.cmdline.clone().unwrap_or_default(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::{test_tree as tree, DirFs};

    /// Two ESPs kept identical (proxmox-boot-tool): each entry once; an
    /// entry that differs, or whose kernel differs in size, stays.
    #[test]
    fn mirrored_esps_list_each_entry_once() {
        let entry = |k: &str| {
            format!(
                "title PVE\nversion {k}\noptions root=ZFS=rpool/ROOT/pve-1 boot=zfs\nlinux /EFI/proxmox/{k}/vmlinuz\n"
            )
        };
        let esp = |stale: bool| {
            let mut files = vec![
                ("loader/entries/proxmox-6.8.conf".to_string(), entry("6.8")),
                ("EFI/proxmox/6.8/vmlinuz".to_string(), "kernel 6.8".to_string()),
                ("loader/entries/proxmox-6.5.conf".to_string(), entry("6.5")),
            ];
            files.push((
                "EFI/proxmox/6.5/vmlinuz".to_string(),
                if stale { "old".into() } else { "kernel 6.5".into() },
            ));
            let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            tree(&refs)
        };
        let (a, b) = (esp(false), esp(true));
        let vol = |name: &str, d: &tempfile::TempDir| Volume {
            name: name.to_string(),
            grub_name: String::new(),
            any_partition: false,
            fs: Box::new(DirFs::new(d.path())),
            part_uuid: None,
            part_label: None,
        };
        let vols = [vol("esp-a", &a), vol("esp-b", &b)];
        let found = SystemdBoot.read(
            &vols,
            &Config {
                key: KEY.into(),
                volume: 0,
                path: String::new(),
            },
        );
        let got: Vec<(&str, &str)> = found
            .entries
            .iter()
            .map(|e| (e.device.as_str(), e.kernel.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("esp-a", "/EFI/proxmox/6.8/vmlinuz"),
                ("esp-a", "/EFI/proxmox/6.5/vmlinuz"),
                ("esp-b", "/EFI/proxmox/6.5/vmlinuz"),
            ]
        );
    }

    /// `/loader/entries`, else `/boot/loader/entries`: never both, so an ostree
    /// /boot partition (`boot -> .`) does not list each entry twice.
    #[test]
    fn one_entry_directory_per_volume() {
        let both = tree(&[
            ("loader/entries/a.conf", "linux /a\n"),
            ("boot/loader/entries/b.conf", "linux /b\n"),
        ]);
        assert_eq!(bls_dirs(&DirFs::new(both.path()), false), ["/loader/entries"]);
        assert!(bls_dirs(&DirFs::new(both.path()), true).is_empty());
        let root = tree(&[("boot/loader/entries/b.conf", "linux /b\n")]);
        assert_eq!(bls_dirs(&DirFs::new(root.path()), false), ["/boot/loader/entries"]);
        let linked = tree(&[("loader.1/entries/ostree-1.conf", "linux /a\n")]);
        std::os::unix::fs::symlink("loader.1", linked.path().join("loader")).unwrap();
        std::os::unix::fs::symlink(".", linked.path().join("boot")).unwrap();
        let fs = DirFs::new(linked.path());
        assert!(fs.is_dir("/boot/loader/entries"));
        assert_eq!(bls_dirs(&fs, false), ["/loader/entries"]);
    }
}
