//! The boot-entry model every config format produces.

use std::fmt;

/// Which config format an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// GRUB 2 grub.cfg.
    Grub,
    /// Boot Loader Specification type 1 entry.
    Bls,
    /// Unified Kernel Image.
    Uki,
    /// syslinux / extlinux / isolinux.
    Extlinux,
    /// Plain /boot scan (no config).
    Scan,
}

impl Source {
    /// Lower-case name used in JSON and on the menu.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Grub => "grub",
            Source::Bls => "bls",
            Source::Uki => "uki",
            Source::Extlinux => "extlinux",
            Source::Scan => "scan",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bootable entry, ready for the menu and for kexec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Title as the loader shows it.
    pub title: String,
    /// Format it came from.
    pub source: Source,
    /// Absolute kernel path inside the filesystem of `volume`.
    pub kernel: String,
    /// Initrd paths inside the same filesystem, in load order.
    pub initrds: Vec<String>,
    /// The command line the config gives, after variable expansion, without
    /// items the loader adds on its own (see [`BootEntry::boot_cmdline`]).
    pub cmdline: String,
    /// Whether this is the loader's default entry.
    pub default: bool,
    /// Where it was found, for the user ("vda1", "disk.img:2").
    pub device: String,
    /// Entry id (GRUB `--id`, BLS id, syslinux label, file name).
    pub id: String,
    /// Index of the volume the kernel and initrds are read from.
    pub volume: usize,
    /// What GRUB puts first on the command line (`BOOT_IMAGE=` + the
    /// `linux` argument as written); `None` for loaders that add nothing.
    pub boot_image: Option<String>,
}

impl BootEntry {
    /// The command line handed to the kernel: what the real loader would
    /// pass (GRUB prepends `BOOT_IMAGE=`), plus `append` from the user.
    pub fn boot_cmdline(&self, append: Option<&str>) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(img) = &self.boot_image {
            parts.push(format!("BOOT_IMAGE={img}"));
        }
        if !self.cmdline.trim().is_empty() {
            parts.push(self.cmdline.trim().to_string());
        }
        if let Some(a) = append.map(str::trim).filter(|a| !a.is_empty()) {
            parts.push(a.to_string());
        }
        parts.join(" ")
    }
}

/// A problem found during discovery; it never stops the other entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    /// The file (or device) concerned, e.g. "vda1:/boot/grub/grub.cfg".
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}
