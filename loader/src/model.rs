//! The model every part of discovery shares: the [`Volume`]s that sources
//! produce, the [`BootEntry`]s that formats read from them, and the
//! [`DiscoveryError`]s that either may report.

use crate::fs::{FsError, FsView};
use std::fmt;

/// Which boot format an entry came from (`source` in `hopboot probe --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
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
    /// PXELINUX config fetched from a boot server.
    Pxelinux,
    /// iPXE script fetched from a boot server.
    Ipxe,
}

impl Format {
    /// Lower-case name used in JSON and on the menu.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Grub => "grub",
            Format::Bls => "bls",
            Format::Uki => "uki",
            Format::Extlinux => "extlinux",
            Format::Scan => "scan",
            Format::Pxelinux => "pxelinux",
            Format::Ipxe => "ipxe",
        }
    }
}

impl fmt::Display for Format {
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
    pub format: Format,
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
    /// Bytes of text the entry holds: what it costs in memory, roughly.
    pub fn text_bytes(&self) -> usize {
        let fixed = std::mem::size_of::<BootEntry>();
        [&self.title, &self.kernel, &self.cmdline, &self.device, &self.id]
            .iter()
            .map(|s| s.len())
            .chain(self.initrds.iter().map(|i| i.len() + std::mem::size_of::<String>()))
            .chain(self.boot_image.iter().map(String::len))
            .fold(fixed, usize::saturating_add)
    }

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

/// One readable filesystem, as a source found it: a partition read in
/// userspace or mounted by the kernel, a directory, a live system's mount.
pub struct Volume {
    /// For the user: "vda1", "disk.img:2", a directory path.
    pub name: String,
    /// GRUB-style device name this volume answers to (`hd0,gpt1`).
    pub grub_name: String,
    /// A directory tree given to `hopboot probe`: the partition it stands
    /// for is not known, so it answers to every partition of its disk
    /// (`hdN,gptM`, `hdN,msdosM`, `hdN,M`) as well as to `hdN`.
    pub any_partition: bool,
    /// The filesystem.
    pub fs: Box<dyn FsView>,
    /// GPT partition GUID / MBR id (`PARTUUID=`).
    pub part_uuid: Option<String>,
    /// GPT partition name (`PARTLABEL=`).
    pub part_label: Option<String>,
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

impl fmt::Debug for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Volume")
            .field("name", &self.name)
            .field("grub_name", &self.grub_name)
            .field("any_partition", &self.any_partition)
            .field("fs", &self.fs.fs_type())
            .field("uuid", &self.fs.uuid())
            .field("part_uuid", &self.part_uuid)
            .finish()
    }
}

/// A problem found during discovery; it never stops the other entries.
#[derive(Debug)]
pub struct DiscoveryError {
    /// The file (or device) concerned, e.g. "vda1:/boot/grub/grub.cfg".
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl DiscoveryError {
    /// An error about `path`.
    pub fn new(path: impl Into<String>, problem: impl Into<Problem>) -> Self {
        DiscoveryError {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// What is wrong, in words.
    pub fn message(&self) -> String {
        self.problem.to_string()
    }
}

/// What went wrong where, kept typed so that PID 1 can say why nothing boots.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A device could not be opened.
    #[error(transparent)]
    Open(std::io::Error),
    /// A device's partition table could not be read.
    #[error(transparent)]
    Table(#[from] crate::block::BlockError),
    /// A filesystem (or a file in it) could not be read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A filesystem hopboot cannot read and could not have the kernel mount.
    #[error(transparent)]
    Volume(#[from] crate::source::VolumeError),
    /// A boot filesystem the running system names (fstab, GPT type) could
    /// not be found or read.
    #[error(transparent)]
    Live(#[from] crate::source::live::LiveError),
    /// A Unified Kernel Image could not be read.
    #[error(transparent)]
    Uki(#[from] crate::format::sdboot::uki::ReadError<FsError>),
    /// A disk that did not finish answering within its deadline
    /// (`hopboot.disk_timeout=`); its entries are left out of this round.
    #[error("stopped answering after {} s, left out ({doing})", tenths(*.after))]
    Stalled {
        /// How long the disk had.
        after: std::time::Duration,
        /// What it was asked when it stopped ("reading vdb1:/boot/grub/grub.cfg").
        doing: String,
    },
    /// What a config's own reader reported (a syntax error, a bad line…).
    #[error("{0}")]
    Config(String),
    /// An entry whose kernel is not there.
    #[error("{}kernel {kernel} not found on {volume}", entry_prefix(.entry))]
    KernelMissing {
        /// The entry's title, where the message names it.
        entry: Option<String>,
        /// The kernel path.
        kernel: String,
        /// The volume it was looked for on.
        volume: String,
    },
    /// An entry whose kernel is on a device that is not there.
    #[error("entry '{entry}': kernel device ({device}) not found")]
    DeviceMissing {
        /// The entry's title.
        entry: String,
        /// The GRUB device name.
        device: String,
    },
    /// Entries that did not fit on the menu.
    #[error("{left_out} more entries left out (a menu holds {max})")]
    MenuFull {
        /// How many.
        left_out: usize,
        /// The most a menu holds.
        max: usize,
    },
    /// Entries left out because their text (titles, paths, command lines)
    /// went over what one config, or the whole menu, may hold in memory.
    #[error("{left_out} entries left out: their titles and command lines went over {} KiB (the most {whose} may hold)", .max >> 10)]
    TooMuchText {
        /// How many entries.
        left_out: usize,
        /// The budget, in bytes.
        max: usize,
        /// "one config" or "the menu".
        whose: &'static str,
    },
    /// More problems in the same config, not listed one by one.
    #[error("and {0} more problems")]
    More(usize),
    /// A format's code panicked on this volume (a bug); caught.
    #[error("the {format} reader crashed (bug); its entries are left out")]
    Crashed {
        /// The format's name.
        format: &'static str,
    },
    /// An entry that names no kernel at all.
    #[error("entry has neither `linux` nor `efi`")]
    NoKernel,
}

/// `2.0`: seconds with one decimal, without float formatting (its tables
/// cost kilobytes in PID 1).
fn tenths(d: std::time::Duration) -> String {
    let t = (d.as_millis() + 50) / 100;
    format!("{}.{}", t / 10, t % 10)
}

fn entry_prefix(entry: &Option<String>) -> String {
    entry.as_ref().map(|t| format!("entry '{t}': ")).unwrap_or_default()
}

impl Problem {
    /// Whether the problem is the hardware failing (a read error, a device
    /// that stopped answering), as opposed to what is written on it: such
    /// problems are named on the menu, not only in the log.
    pub fn is_device_failure(&self) -> bool {
        use crate::block::BlockError;
        use crate::source::VolumeError;
        matches!(
            self,
            Problem::Open(_)
                | Problem::Stalled { .. }
                | Problem::Table(BlockError::Io { .. })
                | Problem::Fs(FsError::Io { .. })
                | Problem::Volume(VolumeError::Fs(FsError::Io { .. }))
                | Problem::Uki(crate::format::sdboot::uki::ReadError::Read(FsError::Io { .. }))
        )
    }

    /// Whether the problem is an entry that names a kernel hopboot cannot find.
    pub fn is_missing_kernel(&self) -> bool {
        matches!(
            self,
            Problem::KernelMissing { .. } | Problem::DeviceMissing { .. } | Problem::NoKernel
        )
    }
}
