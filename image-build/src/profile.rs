//! Storage profiles: named sets of driver modules to ship, so that an image boots from the disk
//! controllers a machine is likely to have without listing modules by hand.
//!
//! A profile only decides what is *shipped*. hopboot loads a shipped profile module only when a
//! device in `/sys` matches one of its aliases (see `modules.alias`), so a larger profile costs
//! image size, not boot time on machines without that hardware.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

use crate::modules::ModuleTree;

/// A named set of storage modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// virtio-blk over PCI: QEMU/KVM and most clouds.
    Minimal,
    /// `minimal` plus the common physical and virtual controllers: AHCI/SATA and PATA (PIIX),
    /// NVMe, virtio-scsi, USB mass storage (xHCI, EHCI; usb-storage and UAS), SD/MMC over PCI;
    /// and the network cards of [`NETWORK`], for network boot.
    Server,
    /// Every module under the storage driver directories of the tree (see [`ALL_STORAGE_DIRS`]),
    /// and [`NETWORK`].
    AllStorage,
}

/// Modules of [`Profile::Minimal`].
pub const MINIMAL: &[&str] = &["virtio_blk", "virtio_pci"];

/// Modules [`Profile::Server`] adds to [`MINIMAL`]. `sd_mod` is listed because disks behind SCSI,
/// SATA and USB controllers appear as SCSI devices, which only `sd_mod` turns into block devices
/// (it matches their `scsi:t-0x00` modalias).
pub const SERVER_EXTRA: &[&str] = &[
    // SATA (AHCI) and PATA on Intel PIIX (QEMU's `pc` machine)
    "ahci",
    "ata_piix",
    "sd_mod",
    // NVMe
    "nvme",
    // virtio-scsi
    "virtio_scsi",
    // USB mass storage: host controllers, then both storage protocols
    "xhci_pci",
    "ehci_pci",
    "usb_storage",
    "uas",
    // SD/MMC card readers on PCI
    "sdhci_pci",
    "mmc_block",
];

/// Network cards for network boot (`hopboot.net=`), in `server` and `all-storage`: virtio-net
/// (QEMU/KVM, clouds), Intel's e1000 (QEMU's default card, many older servers) and e1000e
/// (82574 and the PCH-attached ports of most Intel desktops and servers). Each is loaded only
/// when a card matches it, like the storage modules.
pub const NETWORK: &[&str] = &["virtio_net", "e1000", "e1000e"];

/// Filesystems hopboot reads through a read-only kernel mount (no userspace reader, or an
/// ext4 that `ext4-view` refuses: see the loader's `mount` module), in [`Profile::AllStorage`]
/// (about 2.4 MB gzip together, so not in `server`: add them there with `--module`). No device asks for them, so they cost nothing at boot: hopboot loads
/// one (by its `fs-TYPE` alias) only when a partition of that type needs mounting.
/// `crc32c_generic` is there because ext4, xfs and btrfs ask the kernel for a crc32c through
/// a modprobe helper the image does not have.
pub const FILESYSTEMS: &[&str] = &["crc32c_generic", "ext4", "xfs", "btrfs"];

/// Directories (relative to the module tree) whose modules form [`Profile::AllStorage`]. Left out
/// on purpose: `nvme/target` (exporting disks, not using them), `usb/gadget`, network block
/// protocols outside `block/`, and RAID/device-mapper (`md/`), which hopboot cannot assemble.
pub const ALL_STORAGE_DIRS: &[&str] = &[
    "kernel/drivers/ata/",
    "kernel/drivers/block/",
    "kernel/drivers/mmc/",
    "kernel/drivers/nvme/host/",
    "kernel/drivers/scsi/",
    "kernel/drivers/usb/host/",
    "kernel/drivers/usb/storage/",
    "kernel/drivers/virtio/",
];

impl Profile {
    /// All profiles, smallest first.
    pub const ALL: [Profile; 3] = [Profile::Minimal, Profile::Server, Profile::AllStorage];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Minimal => "minimal",
            Profile::Server => "server",
            Profile::AllStorage => "all-storage",
        }
    }

    /// Canonical names of the profile's modules in `tree` (without their dependencies, which
    /// [`ModuleTree::resolve`] adds). For the fixed lists, a module missing from the tree makes
    /// `resolve` fail, so a kernel without e.g. NVMe support is noticed.
    pub fn modules(self, tree: &ModuleTree) -> Vec<String> {
        let fixed = |extra: &[&str]| MINIMAL.iter().chain(extra).map(|m| (*m).to_owned()).collect();
        match self {
            Profile::Minimal => fixed(&[]),
            Profile::Server => MINIMAL
                .iter()
                .chain(SERVER_EXTRA)
                .chain(NETWORK)
                .map(|m| (*m).to_owned())
                .collect(),
            Profile::AllStorage => {
                let mut v = tree.names_under(ALL_STORAGE_DIRS);
                v.extend(FILESYSTEMS.iter().map(|m| (*m).to_owned()).filter(|m| tree.contains(m)));
                v.extend(NETWORK.iter().map(|m| (*m).to_owned()).filter(|m| tree.contains(m)));
                v.sort();
                v.dedup();
                v
            }
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match Profile::ALL.into_iter().find(|p| p.name() == s) {
            Some(p) => Ok(p),
            None => bail!("unknown profile {s:?} (expected minimal, server or all-storage)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
        assert!("server ".parse::<Profile>().is_err());
        assert!("all".parse::<Profile>().is_err());
    }

    #[test]
    fn server_contains_minimal_and_no_duplicates() {
        let mut all: Vec<&str> = MINIMAL.iter().chain(SERVER_EXTRA).chain(NETWORK).copied().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all.iter().all(|m| !m.contains('-')), "names must be canonical");
    }
}
