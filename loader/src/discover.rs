//! Discovery: volumes (from [`crate::source`]) → boot entries (from
//! [`crate::format`]).
//!
//! Each volume is asked, format by format, for its configs in the order
//! real systems use them; each config is read once. A volume that no config
//! claimed gets the fallback formats (the plain /boot scan), unless an entry
//! already boots from it. Every problem becomes a [`DiscoveryError`] next to
//! the entries that did work.

use crate::format::{BootFormat, Config, Found, FORMATS};
use crate::model::{BootEntry, DiscoveryError, Problem, Volume};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
            for cfg in guarded(*f, &volumes, vi, &mut c.errors, || f.configs(&volumes, vi)) {
                claimed = true;
                if !read.contains(&cfg.key) {
                    log::debug!("{}: reading {} {}", cfg.key, f.name(), cfg.path);
                    let found = guarded(*f, &volumes, vi, &mut c.errors, || f.read(&volumes, &cfg));
                    c.collect(&cfg, found);
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
            for cfg in guarded(*f, &volumes, vi, &mut c.errors, || f.configs(&volumes, vi)) {
                let found = guarded(*f, &volumes, vi, &mut c.errors, || f.read(&volumes, &cfg));
                c.collect(&cfg, found);
            }
        }
    }
    if c.text_left_out > 0 {
        let problem = Problem::TooMuchText {
            left_out: c.text_left_out,
            max: MAX_MENU_TEXT,
            whose: "the menu",
        };
        c.errors.push(DiscoveryError::new("menu", problem));
    }
    if c.left_out > 0 {
        let problem = Problem::MenuFull {
            left_out: c.left_out,
            max: MAX_MENU_ENTRIES,
        };
        c.errors.push(DiscoveryError::new("menu", problem));
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

/// Runs one call into a format: a panic in it (a bug, or input its code did
/// not expect) becomes an error about that volume and an empty result, so
/// the other formats and volumes still give their entries.
fn guarded<T: Default>(
    f: &dyn BootFormat,
    volumes: &[Volume],
    vi: usize,
    errors: &mut Vec<DiscoveryError>,
    call: impl FnOnce() -> T,
) -> T {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        let name = volumes.get(vi).map_or_else(String::new, |v| v.name.clone());
        errors.push(DiscoveryError::new(name, Problem::Crashed { format: f.name() }));
        T::default()
    })
}

/// Most errors kept from one config; the rest are counted in one line.
pub const MAX_ERRORS_PER_CONFIG: usize = 50;

/// Collects entries, dropping the same boot reached by two routes.
#[derive(Default)]
struct Collector {
    entries: Vec<BootEntry>,
    /// Which config each entry came from: duplicates are dropped only across configs.
    origins: Vec<String>,
    errors: Vec<DiscoveryError>,
    default: Option<usize>,
    /// Entries by what they boot, so a duplicate is found without a scan of
    /// every entry (64 volumes of 1,024 entries took tens of seconds).
    by_boot: HashMap<BootKey, Vec<usize>>,
    /// Entries dropped because the menu was full.
    left_out: usize,
    /// Bytes of text the kept entries hold (see [`MAX_MENU_TEXT`]).
    text: usize,
    /// Entries dropped because the menu's text budget was spent.
    text_left_out: usize,
}

/// Most bytes of text (titles, paths, command lines) the entries of one
/// config may hold; the rest of its entries are left out, with an error.
/// A kernel command line is at most 2 KiB on x86 (COMMAND_LINE_SIZE), so a
/// real config of 1,024 entries needs well under 4 MiB; a hostile one (a
/// GRUB variable doubled twenty times on every entry, BLS entries of 64 KiB)
/// held hundreds of MiB.
pub const MAX_CONFIG_TEXT: usize = 4 << 20;
/// Most bytes of text the whole menu holds.
pub const MAX_MENU_TEXT: usize = 16 << 20;

/// What an entry boots: the volume, kernel, initrds and command line.
type BootKey = (usize, String, Vec<String>, String);

/// Most entries a menu holds; the rest are counted in one error.
pub const MAX_MENU_ENTRIES: usize = 2048;

impl Collector {
    /// Adds one config's entries and errors. The first config with entries
    /// gives the default: its own, or its first entry kept when its default
    /// was left out.
    fn collect(&mut self, cfg: &Config, found: Found) {
        let Found {
            entries,
            default,
            mut errors,
        } = found;
        // A config can produce errors without end (an INCLUDE fan-out made
        // hundreds of thousands): keep the first, count the rest.
        if errors.len() > MAX_ERRORS_PER_CONFIG {
            let more = errors.len() - MAX_ERRORS_PER_CONFIG;
            errors.truncate(MAX_ERRORS_PER_CONFIG);
            let path = errors.last().map_or_else(|| cfg.key.clone(), |e| e.path.clone());
            errors.push(DiscoveryError::new(path, Problem::More(more)));
        }
        self.errors.extend(errors);
        let mut cfg_first = None;
        let mut cfg_default = None;
        let mut cfg_text = 0usize;
        let mut cfg_left_out = 0;
        for (i, e) in entries.into_iter().enumerate() {
            // Only entries kept count: a duplicate holds nothing new.
            let text = e.text_bytes();
            if cfg_text.saturating_add(text) > MAX_CONFIG_TEXT {
                cfg_left_out += 1;
                continue;
            }
            if self.text.saturating_add(text) > MAX_MENU_TEXT {
                self.text_left_out += 1;
                continue;
            }
            let before = self.entries.len();
            let Some(idx) = self.push(&cfg.key, e) else { continue };
            if self.entries.len() > before {
                cfg_text += text;
                self.text += text;
            }
            cfg_first.get_or_insert(idx);
            if default == Some(i) {
                cfg_default.get_or_insert(idx);
            }
        }
        if self.default.is_none() {
            self.default = cfg_default.or(cfg_first);
        }
        if cfg_left_out > 0 {
            let problem = Problem::TooMuchText {
                left_out: cfg_left_out,
                max: MAX_CONFIG_TEXT,
                whose: "one config",
            };
            self.errors.push(DiscoveryError::new(cfg.key.clone(), problem));
        }
    }

    /// Adds `e`; returns its index (an earlier identical entry's from
    /// another config when a duplicate), `None` when the menu is full.
    fn push(&mut self, origin: &str, e: BootEntry) -> Option<usize> {
        let key: BootKey = (e.volume, e.kernel.clone(), e.initrds.clone(), e.cmdline.clone());
        let same = self.by_boot.entry(key).or_default();
        if let Some(&i) = same.iter().find(|&&i| self.origins.get(i).is_some_and(|o| o != origin)) {
            return Some(i);
        }
        if self.entries.len() >= MAX_MENU_ENTRIES {
            self.left_out += 1;
            return None;
        }
        same.push(self.entries.len());
        self.entries.push(e);
        self.origins.push(origin.to_string());
        Some(self.entries.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{extlinux::Extlinux, scan::Scan};

    /// A format whose code panics on every volume.
    struct Panics;

    impl BootFormat for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn configs(&self, _: &[Volume], vi: usize) -> Vec<Config> {
            vec![Config::file("panics", vi, "/x".into())]
        }
        fn read(&self, _: &[Volume], _: &Config) -> Found {
            panic!("a bug in a format")
        }
    }

    /// A format whose one config reports `n` problems.
    struct Noisy(usize);

    impl BootFormat for Noisy {
        fn name(&self) -> &'static str {
            "noisy"
        }
        fn configs(&self, _: &[Volume], vi: usize) -> Vec<Config> {
            vec![Config::file("noisy", vi, "/noisy.cfg".into())]
        }
        fn read(&self, _: &[Volume], _: &Config) -> Found {
            let errors = (0..self.0)
                .map(|i| DiscoveryError::new("d:/noisy.cfg", Problem::Config(format!("bad line {i}"))))
                .collect();
            Found {
                errors,
                ..Found::default()
            }
        }
    }

    /// A format whose config on each volume has `n` entries, each its own kernel.
    struct Many(usize);

    impl BootFormat for Many {
        fn name(&self) -> &'static str {
            "many"
        }
        fn configs(&self, _: &[Volume], vi: usize) -> Vec<Config> {
            vec![Config::file("many", vi, "/many.cfg".into())]
        }
        fn read(&self, _: &[Volume], _: &Config) -> Found {
            let entries = (0..self.0)
                .map(|i| BootEntry {
                    title: format!("k{i}"),
                    format: crate::model::Format::Grub,
                    kernel: format!("/boot/k{i}"),
                    initrds: Vec::new(),
                    cmdline: String::new(),
                    default: false,
                    device: "d".into(),
                    id: format!("k{i}"),
                    // Every volume's config boots volume 0: duplicates across configs.
                    volume: 0,
                    boot_image: None,
                })
                .collect();
            Found {
                entries,
                default: Some(1),
                ..Found::default()
            }
        }
    }

    /// A format whose config on each volume has `n` entries whose command
    /// lines are `bytes` long.
    struct Wordy(usize, usize);

    impl BootFormat for Wordy {
        fn name(&self) -> &'static str {
            "wordy"
        }
        fn configs(&self, _: &[Volume], vi: usize) -> Vec<Config> {
            vec![Config::file("wordy", vi, "/wordy.cfg".into())]
        }
        fn read(&self, _: &[Volume], cfg: &Config) -> Found {
            let mut found = Many(self.0).read(&[], cfg);
            for (i, e) in found.entries.iter_mut().enumerate() {
                e.cmdline = format!("{i} {}", "x".repeat(self.1));
                e.volume = cfg.volume;
            }
            found
        }
    }

    /// Entries whose text goes over a config's or the menu's budget are left
    /// out and counted: 1,024 entries of 64 KiB (a BLS directory at its
    /// limits, a GRUB variable doubled on every entry) held 64 MiB per
    /// config, and 64 volumes of them 4 GiB.
    #[test]
    fn entries_over_the_text_budget_are_left_out_and_counted() {
        let t = tempfile::tempdir().unwrap();
        let vols = |n| (0..n).map(|i| crate::source::dir::volume(t.path(), i)).collect();
        let d = discover_with(&[&Wordy(1024, 64 << 10)], vols(1), Vec::new());
        let text: usize = d.entries.iter().map(BootEntry::text_bytes).sum();
        assert!(text <= MAX_CONFIG_TEXT, "{text}");
        assert_eq!(d.entries.len(), 63);
        assert_eq!(d.default_index(), Some(1));
        let msgs: Vec<String> = d
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message()))
            .collect();
        assert_eq!(
            msgs,
            ["wordy 0:/wordy.cfg: 961 entries left out: their titles and command lines went over 4096 KiB (the most one config may hold)"]
        );
        // Many configs: the menu's budget, counted once.
        let d = discover_with(&[&Wordy(1024, 64 << 10)], vols(8), Vec::new());
        let text: usize = d.entries.iter().map(BootEntry::text_bytes).sum();
        assert!(text <= MAX_MENU_TEXT, "{text}");
        let last = d.errors.last().map(|e| e.message()).unwrap_or_default();
        assert!(last.contains("the most the menu may hold"), "{last}");
        // Small entries are not affected.
        let d = discover_with(&[&Wordy(1024, 500)], vols(1), Vec::new());
        assert_eq!(d.entries.len(), 1024);
        assert!(d.errors.is_empty());
    }

    #[test]
    fn duplicates_across_configs_are_one_entry_and_a_full_menu_says_so() {
        let t = tempfile::tempdir().unwrap();
        let vols = |n| (0..n).map(|i| crate::source::dir::volume(t.path(), i)).collect();
        // 64 volumes whose configs all boot the same 1,000 kernels: one menu of 1,000.
        let d = discover_with(&[&Many(1000)], vols(64), Vec::new());
        assert_eq!(d.entries.len(), 1000);
        assert_eq!(d.default_index(), Some(1));
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        // More than a menu holds: the rest are counted, the default kept.
        let d = discover_with(&[&Many(MAX_MENU_ENTRIES + 500)], vols(1), Vec::new());
        assert_eq!(d.entries.len(), MAX_MENU_ENTRIES);
        assert_eq!(d.default_index(), Some(1));
        let msgs: Vec<String> = d
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message()))
            .collect();
        assert_eq!(
            msgs,
            [format!(
                "menu: 500 more entries left out (a menu holds {MAX_MENU_ENTRIES})"
            )]
        );
    }

    #[test]
    fn a_config_keeps_its_first_errors_and_counts_the_rest() {
        let t = tempfile::tempdir().unwrap();
        let vol = || crate::source::dir::volume(t.path(), 0);
        let d = discover_with(&[&Noisy(100_000)], vec![vol()], Vec::new());
        assert_eq!(d.errors.len(), MAX_ERRORS_PER_CONFIG + 1);
        assert_eq!(d.errors[0].message(), "bad line 0");
        let last = d.errors.last().unwrap();
        assert_eq!(
            (last.path.as_str(), last.message()),
            (
                "d:/noisy.cfg",
                format!("and {} more problems", 100_000 - MAX_ERRORS_PER_CONFIG)
            )
        );
        let d = discover_with(&[&Noisy(3)], vec![vol()], Vec::new());
        assert_eq!(d.errors.len(), 3);
    }

    #[test]
    fn a_format_that_panics_costs_only_its_own_entries() {
        let t = tempfile::tempdir().unwrap();
        let boot = t.path().join("boot");
        std::fs::create_dir_all(boot.join("extlinux")).unwrap();
        std::fs::write(boot.join("vmlinuz-6.1"), b"k").unwrap();
        std::fs::write(
            boot.join("extlinux/extlinux.conf"),
            "DEFAULT a\nLABEL a\n  KERNEL /boot/vmlinuz-6.1\n  APPEND ro\n",
        )
        .unwrap();
        let vol = crate::source::dir::volume(t.path(), 0);
        let formats: &[&dyn BootFormat] = &[&Panics, &Extlinux, &Scan];
        let d = discover_with(formats, vec![vol], Vec::new());
        assert_eq!(d.entries.len(), 1, "{:?}", d.entries);
        assert_eq!(d.entries[0].kernel, "/boot/vmlinuz-6.1");
        assert!(d.entries[0].default);
        let errors: Vec<String> = d.errors.iter().map(|e| e.message()).collect();
        assert_eq!(errors, ["the panics reader crashed (bug); its entries are left out"]);
    }
}
