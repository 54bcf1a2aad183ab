//! The plain /boot scan, for a filesystem without any boot config: kernels by
//! their usual names, each with the initrd its distribution would pair it
//! with, newest version first.

use crate::format::{BootFormat, Config, Found};
use crate::fs::FsView;
use crate::model::{BootEntry, DiscoveryError, Format, Problem, Volume};
use crate::version;
use std::collections::HashSet;

/// A kernel found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// Menu title.
    pub title: String,
    /// Version part of the file name ("6.1.0-13-amd64", "linux").
    pub version: String,
    /// Kernel path.
    pub kernel: String,
    /// Initrds in load order (microcode first).
    pub initrds: Vec<String>,
    /// Command line: /etc/kernel/cmdline, else `root=UUID=… ro` for a root fs.
    pub cmdline: String,
}

/// Kernel file name prefixes, and what follows them is the version.
const KERNEL_PREFIXES: &[&str] = &["vmlinuz-", "vmlinux-", "kernel-", "bzImage-", "Image-"];
/// Early-microcode images an Arch-style layout loads before the initramfs.
const MICROCODE: &[&str] = &["intel-ucode.img", "amd-ucode.img", "early_ucode.cpio"];

/// Initrd names, by distribution family, for kernel version `v`.
fn initrd_candidates(v: &str) -> Vec<String> {
    vec![
        format!("initrd.img-{v}"),    // Debian, Ubuntu
        format!("initramfs-{v}.img"), // Fedora, RHEL, Arch, Gentoo (dracut)
        format!("initrd-{v}"),        // openSUSE
        format!("initrd-{v}.img"),
        format!("initramfs-{v}"),
        format!("initrd-{v}.gz"),
    ]
}

/// Most kernels the scan lists (a real /boot has a handful); the rest are
/// counted, not listed.
pub const MAX_KERNELS: usize = 256;

/// Scans `dirs` (usually `/boot` and `/`) of one filesystem.
pub fn scan(fs: &dyn FsView, dirs: &[&str]) -> Vec<ScanEntry> {
    scan_counted(fs, dirs).0
}

/// [`scan`], and how many kernels were left out past [`MAX_KERNELS`]. Near
/// linear in the number of files: 50,000 names in /boot took minutes when
/// each lookup scanned the listing.
pub fn scan_counted(fs: &dyn FsView, dirs: &[&str]) -> (Vec<ScanEntry>, usize) {
    let cmdline = default_cmdline(fs);
    let mut found: Vec<ScanEntry> = Vec::new();
    let mut kernels: HashSet<String> = HashSet::new();
    let mut left_out = 0;
    for dir in dirs {
        let listing = fs.list(dir);
        let names: HashSet<&str> = listing.iter().map(String::as_str).collect();
        let path = |n: &str| crate::fs::join(dir, n);
        let micro: Vec<String> = MICROCODE
            .iter()
            .filter(|m| names.contains(*m))
            .map(|m| path(m))
            .collect();
        for name in &listing {
            let Some(ver) = KERNEL_PREFIXES.iter().find_map(|p| name.strip_prefix(p)) else {
                continue;
            };
            if ver.is_empty() || ver.ends_with(".old") || name.ends_with(".sig") || ver.ends_with(".efi") {
                continue;
            }
            let kernel = path(name);
            if kernels.contains(&kernel) {
                continue;
            }
            if kernels.len() >= MAX_KERNELS {
                left_out += 1;
                continue;
            }
            if !fs.is_file(&kernel) {
                continue;
            }
            kernels.insert(kernel.clone());
            let initrd = initrd_candidates(ver).into_iter().find(|c| names.contains(c.as_str()));
            let mut initrds = micro.clone();
            initrds.extend(initrd.iter().map(|i| path(i)));
            found.push(ScanEntry {
                title: format!("Linux {ver}"),
                version: ver.to_string(),
                kernel: kernel.clone(),
                initrds,
                cmdline: cmdline.clone(),
            });
            // Arch's fallback image is a second entry for the same kernel.
            let fallback = format!("initramfs-{ver}-fallback.img");
            if names.contains(fallback.as_str()) {
                let mut initrds = micro.clone();
                initrds.push(path(&fallback));
                found.push(ScanEntry {
                    title: format!("Linux {ver} (fallback initramfs)"),
                    version: format!("{ver}~fallback"),
                    kernel,
                    initrds,
                    cmdline: cmdline.clone(),
                });
            }
        }
    }
    version::sort_newest_first(&mut found, |e| &e.version);
    (found, left_out)
}

fn default_cmdline(fs: &dyn FsView) -> String {
    if let Ok(c) = fs.read_text("/etc/kernel/cmdline") {
        let c = c.split_whitespace().collect::<Vec<_>>().join(" ");
        if !c.is_empty() {
            return c;
        }
    }
    match fs.uuid() {
        Some(u) if fs.is_dir("/etc") => format!("root=UUID={u} ro"),
        _ => String::new(),
    }
}

/// The scan as a [`BootFormat`]: the fallback, for a volume no config
/// claimed and no entry boots from; newest version first, and the first
/// entry is the default.
pub struct Scan;

impl BootFormat for Scan {
    fn name(&self) -> &'static str {
        "scan"
    }

    fn fallback(&self) -> bool {
        true
    }

    fn configs(&self, volumes: &[Volume], vi: usize) -> Vec<Config> {
        if volumes.get(vi).is_none() {
            return Vec::new();
        }
        vec![Config {
            key: format!("scan {vi}"),
            volume: vi,
            path: String::new(),
        }]
    }

    fn read(&self, volumes: &[Volume], config: &Config) -> Found {
        let mut found = Found::default();
        let Some(vol) = volumes.get(config.volume) else {
            return found;
        };
        let (entries, left_out) = scan_counted(vol.fs.as_ref(), &["/boot", "/"]);
        if left_out > 0 {
            let problem = Problem::Config(format!(
                "{left_out} more kernels not scanned (the scan lists at most {MAX_KERNELS})"
            ));
            found.errors.push(DiscoveryError::new(vol.name.clone(), problem));
        }
        found.entries = entries
            .into_iter()
            .map(|s| BootEntry {
                title: s.title,
                format: Format::Scan,
                id: s.kernel.rsplit('/').next().unwrap_or_default().to_string(),
                kernel: s.kernel,
                initrds: s.initrds,
                cmdline: s.cmdline,
                default: false,
                device: vol.name.clone(),
                volume: config.volume,
                boot_image: None,
            })
            .collect();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;

    use crate::fs::dir::test_tree as tree;

    #[test]
    fn debian_newest_first() {
        let d = tree(&[
            ("boot/vmlinuz-6.1.0-9-amd64", "k"),
            ("boot/initrd.img-6.1.0-9-amd64", "i"),
            ("boot/vmlinuz-6.1.0-13-amd64", "k"),
            ("boot/initrd.img-6.1.0-13-amd64", "i"),
            ("boot/config-6.1.0-13-amd64", "c"),
            ("etc/kernel/cmdline", "root=/dev/vda1  ro\n"),
        ]);
        let e = scan(&DirFs::new(d.path()), &["/boot", "/"]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kernel, "/boot/vmlinuz-6.1.0-13-amd64");
        assert_eq!(e[0].initrds, ["/boot/initrd.img-6.1.0-13-amd64"]);
        assert_eq!(e[0].cmdline, "root=/dev/vda1 ro");
        assert_eq!(e[1].kernel, "/boot/vmlinuz-6.1.0-9-amd64");
    }

    #[test]
    fn arch_microcode_and_fallback() {
        let d = tree(&[
            ("boot/vmlinuz-linux", "k"),
            ("boot/initramfs-linux.img", "i"),
            ("boot/initramfs-linux-fallback.img", "i"),
            ("boot/intel-ucode.img", "u"),
        ]);
        let e = scan(&DirFs::new(d.path()), &["/boot"]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].initrds, ["/boot/intel-ucode.img", "/boot/initramfs-linux.img"]);
        assert_eq!(
            e[1].initrds,
            ["/boot/intel-ucode.img", "/boot/initramfs-linux-fallback.img"]
        );
        assert_eq!(e[0].cmdline, "");
    }
}
