//! Boot formats: one module each, holding where its configs live, how it
//! reads them through [`FsView`](crate::fs::FsView), its parsing and its
//! default rule, behind one small trait, [`BootFormat`].
//!
//! - [`grub`]: grub.cfg run by a GRUB script interpreter (with Red Hat's `blscfg`);
//! - [`sdboot`]: systemd-boot: Boot Loader Specification entries (type #1,
//!   [`sdboot::bls`]) and Unified Kernel Images (type #2, [`sdboot::uki`]),
//!   sorted together, with loader.conf's default;
//! - [`extlinux`]: syslinux / extlinux / isolinux;
//! - [`scan`]: the plain /boot scan, the fallback for a filesystem no config uses.
//!
//! Network formats, not in [`FORMATS`] (they read a boot server, not a
//! volume; [`crate::net::boot`] calls them): [`pxelinux`] (which config a
//! PXE client fetches, read with the syslinux parser) and [`ipxe`] (an iPXE
//! script interpreter); a network GRUB config goes through [`grub`]'s
//! interpreter with the network's devices.
//!
//! [`crate::discover`] asks each format in [`FORMATS`] for the configs every
//! volume holds and has each config read once; the precedence between
//! formats (a filesystem is scanned only when no config boots from it, an
//! entry reached by two routes is listed once) is discover's, not theirs.
//!
//! Adding a format: a module here implementing [`BootFormat`], one line in
//! [`FORMATS`], and corpus cases (tests/corpus) checked with the real loader.

pub mod extlinux;
pub mod grub;
pub mod ipxe;
pub mod pxelinux;
pub mod scan;
pub mod sdboot;

use crate::model::{BootEntry, DiscoveryError, Volume};

/// One config of a format, as found on a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Unique across the system: a config reached from two volumes is read
    /// once (systemd-boot's entries belong to the whole system).
    pub key: String,
    /// The volume it was found on.
    pub volume: usize,
    /// Its path there (empty when the format has no single file).
    pub path: String,
}

impl Config {
    /// The config file `path` of format `name` on volume `vi`.
    pub fn file(name: &str, vi: usize, path: String) -> Config {
        Config {
            key: format!("{name} {vi}:{path}"),
            volume: vi,
            path,
        }
    }
}

/// What reading one config gave.
#[derive(Debug, Default)]
pub struct Found {
    /// Entries in the format's menu order.
    pub entries: Vec<BootEntry>,
    /// Which of them the format boots by default (an index into `entries`).
    pub default: Option<usize>,
    /// Problems, each next to what still worked.
    pub errors: Vec<DiscoveryError>,
}

/// A boot format.
pub trait BootFormat: Sync {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Whether this format only reads volumes no other format claimed (the scan).
    fn fallback(&self) -> bool {
        false
    }
    /// The configs of this format on volume `vi` of `volumes`; empty when it
    /// has none. A volume with a config is claimed: it is not scanned.
    fn configs(&self, volumes: &[Volume], vi: usize) -> Vec<Config>;
    /// Reads one config into entries. Never fails: problems go to [`Found::errors`].
    fn read(&self, volumes: &[Volume], config: &Config) -> Found;
}

/// Every format, in the order discovery asks them on each volume.
pub static FORMATS: &[&dyn BootFormat] = &[&grub::Grub, &sdboot::SystemdBoot, &extlinux::Extlinux, &scan::Scan];
