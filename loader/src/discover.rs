//! Discovery: volumes (from [`crate::source`]) → boot entries (from
//! [`crate::format`]).
//!
//! Each volume is asked, format by format, for its configs in the order
//! real systems use them; each config is read once. A volume that no config
//! claimed gets the fallback formats (the plain /boot scan), unless an entry
//! already boots from it. Every problem becomes a [`DiscoveryError`] next to
//! the entries that did work.

use crate::format::{BootFormat, Config, Found, FORMATS};
use crate::model::{BootEntry, DiscoveryError, Volume};

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

    /// The volume entry `e` reads its kernel and initrds from.
    pub fn volume_of(&self, e: &BootEntry) -> Option<&Volume> {
        self.volumes.get(e.volume)
    }
}

/// Finds the boot entries on `volumes` with every format in [`FORMATS`];
/// `errors` are the sources' problems, kept in front of the formats' own.
pub fn discover(volumes: Vec<Volume>, errors: Vec<DiscoveryError>) -> Discovery {
    discover_with(FORMATS, volumes, errors)
}

/// [`discover`] with a given list of formats.
pub fn discover_with(formats: &[&dyn BootFormat], volumes: Vec<Volume>, errors: Vec<DiscoveryError>) -> Discovery {
    let mut c = Collector {
        errors,
        ..Default::default()
    };
    let mut read: Vec<String> = Vec::new();
    let mut unclaimed = Vec::new();
    for vi in 0..volumes.len() {
        let mut claimed = false;
        for f in formats.iter().filter(|f| !f.fallback()) {
            for cfg in f.configs(&volumes, vi) {
                claimed = true;
                if !read.contains(&cfg.key) {
                    log::debug!("{}: reading {} {}", cfg.key, f.name(), cfg.path);
                    c.collect(&cfg, f.read(&volumes, &cfg));
                    read.push(cfg.key);
                }
            }
        }
        if !claimed {
            unclaimed.push(vi);
        }
    }
    // The fallback, last, and only on filesystems no config uses: a separate
    // /boot that an ESP's grub.cfg boots from is not scanned on its own.
    for vi in unclaimed {
        for f in formats.iter().filter(|f| f.fallback()) {
            if c.entries.iter().any(|e| e.volume == vi) {
                break;
            }
            for cfg in f.configs(&volumes, vi) {
                c.collect(&cfg, f.read(&volumes, &cfg));
            }
        }
    }
    let Collector {
        mut entries,
        errors,
        default,
        ..
    } = c;
    if let Some(e) = default.and_then(|d| entries.get_mut(d)) {
        e.default = true;
    }
    Discovery {
        volumes,
        entries,
        errors,
    }
}

/// Collects entries, dropping the same boot reached by two routes.
#[derive(Default)]
struct Collector {
    entries: Vec<BootEntry>,
    /// Which config each entry came from: duplicates are dropped only across configs.
    origins: Vec<String>,
    errors: Vec<DiscoveryError>,
    default: Option<usize>,
}

impl Collector {
    /// Adds one config's entries and errors. The first config with entries
    /// gives the default: its own, or its first entry kept when its default
    /// was left out.
    fn collect(&mut self, cfg: &Config, found: Found) {
        let Found {
            entries,
            default,
            errors,
        } = found;
        self.errors.extend(errors);
        let mut cfg_first = None;
        let mut cfg_default = None;
        for (i, e) in entries.into_iter().enumerate() {
            let idx = self.push(&cfg.key, e);
            cfg_first.get_or_insert(idx);
            if default == Some(i) {
                cfg_default.get_or_insert(idx);
            }
        }
        if self.default.is_none() {
            self.default = cfg_default.or(cfg_first);
        }
    }

    /// Adds `e`; returns its index (an earlier identical entry's from
    /// another config when a duplicate).
    fn push(&mut self, origin: &str, e: BootEntry) -> usize {
        let same = |o: &BootEntry| {
            o.volume == e.volume && o.kernel == e.kernel && o.initrds == e.initrds && o.cmdline == e.cmdline
        };
        if let Some(i) = self
            .entries
            .iter()
            .zip(&self.origins)
            .position(|(o, from)| from != origin && same(o))
        {
            return i;
        }
        self.entries.push(e);
        self.origins.push(origin.to_string());
        self.entries.len() - 1
    }
}
