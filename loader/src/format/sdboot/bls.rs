//! Boot Loader Specification type #1 entries (`/loader/entries/*.conf`) and
//! systemd-boot's `loader.conf`, read the way systemd-boot reads them.
//!
//! Spec followed: UAPI.1 "The Boot Loader Specification", version 1.0 as
//! published by the UAPI group (sections "Type #1 Boot Loader Specification
//! Entries", "Boot counting", "Sorting" and "Version Order"); `loader.conf(5)`
//! for `default` (its `timeout` is not read: hopboot's countdown is its own).
//!
//! Where systemd-boot goes beyond the spec we follow systemd-boot: values in
//! double quotes are unquoted, entry ids and the `default` glob compare
//! case-insensitively (the ESP is FAT), and equal titles get the version, the
//! machine id and then the id appended (see [`display_titles`]).

use crate::fs::FsView;
use crate::glob;
use std::cmp::Ordering;

/// Most `*.conf` files read from one directory.
pub const MAX_ENTRIES: usize = 1024;
/// Largest entry file read.
pub const MAX_ENTRY_BYTES: u64 = 64 << 10;

/// The `architecture` value (EFI vocabulary) of the machine hopboot runs on.
/// Entries for another architecture are hidden, as the spec asks.
pub const LOCAL_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x64"
} else if cfg!(target_arch = "x86") {
    "ia32"
} else if cfg!(target_arch = "aarch64") {
    "aa64"
} else if cfg!(target_arch = "arm") {
    "arm"
} else if cfg!(target_arch = "riscv64") {
    "riscv64"
} else if cfg!(target_arch = "loongarch64") {
    "loongarch64"
} else {
    "unknown"
};

/// One type #1 entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlsEntry {
    /// File name without `.conf` and without the boot-counting suffix
    /// (`6a98…-6.5.6-300.fc39.x86_64`).
    pub id: String,
    /// Path of the `.conf` file, as given to [`parse_entry`].
    pub file: String,
    /// `title`.
    pub title: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `machine-id`.
    pub machine_id: Option<String>,
    /// `sort-key`.
    pub sort_key: Option<String>,
    /// `linux`, as an absolute normalised path on the entry's filesystem.
    pub linux: Option<String>,
    /// `initrd` lines in order, as absolute normalised paths.
    pub initrds: Vec<String>,
    /// All `options` lines joined by a space (kept verbatim: GRUB-style
    /// `$kernelopts` is not expanded here).
    pub options: String,
    /// `efi`, as an absolute normalised path.
    pub efi: Option<String>,
    /// `architecture`.
    pub architecture: Option<String>,
    /// Boot counting: tries left (`+LEFT` in the file name).
    pub tries_left: Option<u32>,
    /// Boot counting: tries done (`-DONE` after `+LEFT`; 0 when only `+LEFT` is given).
    pub tries_done: Option<u32>,
}

impl BlsEntry {
    /// Bytes of text the entry holds (see [`crate::discover::MAX_CONFIG_TEXT`]).
    pub fn text_bytes(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        [
            &self.title,
            &self.version,
            &self.machine_id,
            &self.sort_key,
            &self.linux,
            &self.efi,
            &self.architecture,
        ]
        .iter()
        .map(|o| opt(o))
        .chain([self.id.len(), self.file.len(), self.options.len()])
        .chain(self.initrds.iter().map(String::len))
        .fold(std::mem::size_of::<BlsEntry>(), usize::saturating_add)
    }

    /// Whether boot counting marked this entry "bad" (no tries left).
    pub fn is_bad(&self) -> bool {
        self.tries_left == Some(0)
    }
}

/// Splits a line into key and value the way systemd-boot does: the first
/// word is the key, the rest (trimmed) the value; a value wholly in double
/// quotes loses them. Comment and blank lines give `None`.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (key, rest) = line.split_once([' ', '\t'])?;
    let mut value = rest.trim();
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        value = value.get(1..value.len() - 1).unwrap_or(value);
    }
    (!value.is_empty()).then_some((key, value))
}

/// `(id, tries_left, tries_done)` from an entry file name (`name+3-1.conf`).
/// The counter must sit right before the suffix; anything else is part of the id.
fn split_counter(stem: &str) -> (String, Option<u32>, Option<u32>) {
    let plain = (stem.to_string(), None, None);
    let Some((id, counter)) = stem.rsplit_once('+') else {
        return plain;
    };
    let digits = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (left, done) = match counter.split_once('-') {
        Some((l, d)) => (digits(l), digits(d)),
        None => (digits(counter), Some(0)),
    };
    match (left, done) {
        (Some(l), Some(d)) if !id.is_empty() => (id.to_string(), Some(l), Some(d)),
        _ => plain,
    }
}

/// Strips a `.conf` suffix (any case, as on FAT).
fn strip_conf(name: &str) -> &str {
    let n = name.len();
    match name.get(n.saturating_sub(5)..) {
        Some(s) if n > 5 && s.eq_ignore_ascii_case(".conf") => name.get(..n - 5).unwrap_or(name),
        _ => name,
    }
}

/// Parses one entry. `file_name` is the `.conf` file's path or name (the id
/// comes from its last component). Unknown keys are ignored; an entry with
/// neither `linux` nor `efi` is an error, as the spec requires one of them.
pub fn parse_entry(file_name: &str, text: &str) -> Result<BlsEntry, String> {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let (id, tries_left, tries_done) = split_counter(strip_conf(base));
    let mut e = BlsEntry {
        id,
        file: file_name.to_string(),
        tries_left,
        tries_done,
        ..Default::default()
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let path = |v: &str| crate::fs::join("/", v);
    for line in text.lines() {
        let Some((key, value)) = key_value(line) else {
            continue;
        };
        match key {
            "title" => e.title = Some(value.to_string()),
            "version" => e.version = Some(value.to_string()),
            "machine-id" => e.machine_id = Some(value.to_string()),
            "sort-key" => e.sort_key = Some(value.to_string()),
            "linux" => e.linux = Some(path(value)),
            "initrd" => e.initrds.push(path(value)),
            "efi" => e.efi = Some(path(value)),
            "architecture" => e.architecture = Some(value.to_string()),
            "options" => {
                if !e.options.is_empty() {
                    e.options.push(' ');
                }
                e.options.push_str(value);
            }
            _ => {}
        }
    }
    if e.linux.is_none() && e.efi.is_none() {
        return Err("no 'linux' or 'efi' key".into());
    }
    Ok(e)
}

/// What `loader.conf` says about which entry boots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderConf {
    /// `default`: a glob over entry ids. Special values starting with `@`
    /// (`@saved`) are kept here and match nothing in [`default_index`].
    pub default: Option<String>,
}

/// Parses `loader.conf`. Unknown keys and bad values are ignored (systemd-boot
/// carries on with its defaults too); the last occurrence of a key wins.
pub fn parse_loader_conf(text: &str) -> LoaderConf {
    let mut c = LoaderConf::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let Some((key, value)) = key_value(line) else {
            continue;
        };
        // Only `default` decides what boots; `timeout`, `editor`,
        // `console-mode`… are for systemd-boot's own menu, and hopboot's
        // countdown (hopboot.timeout=) rules its menu.
        if key == "default" {
            c.default = Some(value.to_string());
        }
    }
    c
}

/// strcmp order where an unset or empty string compares lower (spec, "Alphanumerical Order").
fn cmp_alnum(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
    }
}

/// Menu order between two entries (spec, "Sorting"):
/// 1. entries marked bad by boot counting (`+0-N`) last;
/// 2. if both have `sort-key`: `sort-key` ascending, then `machine-id`
///    ascending, then `version` descending;
/// 3. an entry with `sort-key` before one without;
/// 4. then the file name without suffix (our `id`), descending version order;
/// 5. entries differing only in their counters: more tries left first, then
///    fewer tries done; last, the path, so the order is total.
pub fn compare(a: &BlsEntry, b: &BlsEntry) -> Ordering {
    a.is_bad()
        .cmp(&b.is_bad())
        .then_with(|| match (&a.sort_key, &b.sort_key) {
            (Some(ka), Some(kb)) => cmp_alnum(Some(ka), Some(kb))
                .then_with(|| cmp_alnum(a.machine_id.as_deref(), b.machine_id.as_deref()))
                .then_with(|| {
                    crate::version::uapi(b.version.as_deref().unwrap_or(""), a.version.as_deref().unwrap_or(""))
                }),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| crate::version::uapi(&sort_name(b), &sort_name(a)))
        .then_with(|| b.tries_left.unwrap_or(u32::MAX).cmp(&a.tries_left.unwrap_or(u32::MAX)))
        .then_with(|| a.tries_done.unwrap_or(0).cmp(&b.tries_done.unwrap_or(0)))
        .then_with(|| a.file.cmp(&b.file))
}

/// The name systemd-boot sorts by: its entry id, the file name as found,
/// lower-cased, with its suffix and boot counter (`pair-b+3-1.conf`,
/// `arch-linux.efi`; `arch.conf` sorts after `arch-fallback.conf` in
/// descending order, i.e. comes first). See [`menu_id`].
fn sort_name(e: &BlsEntry) -> String {
    menu_id(e)
}

/// The id systemd-boot 252 and 254 give an entry and show in its menu (as the
/// title of an untitled entry, and to tell apart entries whose title, version
/// and machine id are all equal): the file's name lower-cased (ASCII), with
/// the `.conf`/`.efi` suffix and any boot counter kept: `Pair-B+3-1.conf`
/// shows as `pair-b+3-1.conf`. Checked by booting both under OVMF
/// (tests/corpus/uki-same-title). Our [`BlsEntry::id`] (no suffix, no
/// counter, case kept) is the id `loader.conf` and `bootctl` speak of.
pub fn menu_id(e: &BlsEntry) -> String {
    let base = e.file.rsplit('/').next().filter(|b| !b.is_empty()).unwrap_or(&e.id);
    base.to_ascii_lowercase()
}

/// Sorts entries into menu order ([`compare`]).
pub fn sort(entries: &mut [BlsEntry]) {
    entries.sort_by(compare);
}

/// The default entry of `entries`, which must already be in menu order
/// ([`sort`]). Like systemd-boot 252 and 254 (`config_load_defaults`,
/// `config_entry_find`; checked under OVMF: tests/corpus/popos-kernelstub):
/// the first entry whose [`menu_id`] (the file name lower-cased, with its
/// `.conf`/`.efi` suffix and boot counter) matches the lower-cased `default`
/// glob; otherwise the first entry. So `default Pop_OS-current`, as
/// kernelstub writes it, matches nothing: `pop_os-current.conf` is the id. `@saved`
/// and other `@` values name an EFI variable hopboot cannot read, so they
/// fall back to the first entry too. `None` when there are no entries or all
/// of them are marked bad by boot counting (nothing to boot unattended).
pub fn default_index(entries: &[BlsEntry], conf: &LoaderConf) -> Option<usize> {
    if entries.iter().all(BlsEntry::is_bad) {
        return None;
    }
    let pattern = conf.default.as_deref().filter(|p| !p.starts_with('@'));
    let pattern = pattern.map(fold_stars).filter(|p| {
        let fits = p.len() <= MAX_DEFAULT_PATTERN;
        if !fits {
            log::warn!(
                "loader.conf: a default pattern of {} bytes matches no entry id (at most {MAX_DEFAULT_PATTERN} are read)",
                p.len()
            );
        }
        fits
    });
    if let Some(p) = pattern.as_deref() {
        let matches = |name: &str| glob::matches(p, name, glob::LOADER_CONF);
        let hit = entries.iter().position(|e| matches(&menu_id(e)));
        if hit.is_some() {
            return hit;
        }
    }
    Some(0)
}

/// Longest `default` pattern matched, once runs of `*` are folded. Entry ids
/// are file names (at most 255 bytes), so real patterns are far shorter; a
/// longer one (a hostile loader.conf can hold megabytes) would cost the
/// matcher pattern × name × entries steps.
pub const MAX_DEFAULT_PATTERN: usize = 512;

/// `pattern` with each run of `*` made one `*`: the same glob (a `*` inside a
/// `[...]` set is a member, and a repeated member is the same set).
fn fold_stars(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len().min(MAX_DEFAULT_PATTERN + 1));
    for c in pattern.chars() {
        if !(c == '*' && out.ends_with('*')) {
            out.push(c);
        }
    }
    out
}

/// The title systemd-boot shows for one entry on its own: `title`, else its
/// [`menu_id`] (`notitle.conf`).
pub fn display_title(e: &BlsEntry) -> String {
    e.title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| menu_id(e))
}

/// Titles for a whole menu, made unique the way systemd-boot 252 and 254 do
/// it (checked under OVMF: tests/corpus/uki-same-title): where titles are
/// equal, append ` (version)` to those that have one; where titles are still
/// equal, ` (first 8 characters of machine-id)` to those that have one (UKIs
/// have none); where they still are, ` (id)` ([`menu_id`]: `twin-1.efi`,
/// `pair-a.conf`). A UKI's version is its os-release's (`IMAGE_VERSION`,
/// `VERSION`, `VERSION_ID`, `BUILD_ID`), never `.uname`.
pub fn display_titles(entries: &[BlsEntry]) -> Vec<String> {
    let mut titles: Vec<String> = entries.iter().map(display_title).collect();
    type Extra = fn(&BlsEntry) -> Option<String>;
    let steps: [Extra; 3] = [
        |e| e.version.clone(),
        |e| e.machine_id.as_ref().map(|m| m.chars().take(8).collect()),
        |e| Some(menu_id(e)),
    ];
    for extra in steps {
        let dup: Vec<bool> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| titles.iter().enumerate().any(|(j, u)| i != j && t == u))
            .collect();
        if !dup.contains(&true) {
            break;
        }
        for ((t, e), d) in titles.iter_mut().zip(entries).zip(dup) {
            if let Some(x) = extra(e).filter(|_| d) {
                *t = format!("{t} ({x})");
            }
        }
    }
    titles
}

/// Reads the `*.conf` entries of `dir` (e.g. `/loader/entries`), in file-name
/// order (call [`sort`] for menu order). Files starting with `.` are skipped,
/// as are entries for another architecture ([`LOCAL_ARCH`]). Problems come
/// back per file as `(path, message)`.
pub fn read_dir(fs: &dyn FsView, dir: &str) -> (Vec<BlsEntry>, Vec<(String, String)>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let names: Vec<String> = fs
        .list(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.') && strip_conf(n).len() < n.len())
        .collect();
    if names.len() > MAX_ENTRIES {
        errors.push((
            dir.to_string(),
            format!("{} entry files; only the first {MAX_ENTRIES} are read", names.len()),
        ));
    }
    // Text kept so far: the entries stay in memory, the budget is discovery's.
    let mut kept = 0usize;
    for (n, name) in names.iter().take(MAX_ENTRIES).enumerate() {
        if kept > crate::discover::MAX_CONFIG_TEXT {
            errors.push((
                dir.to_string(),
                format!(
                    "the entries read hold more than {} KiB of text; {} entry files left unread",
                    crate::discover::MAX_CONFIG_TEXT >> 10,
                    names.len().min(MAX_ENTRIES) - n
                ),
            ));
            break;
        }
        let path = crate::fs::join(dir, name);
        if !fs.is_file(&path) {
            continue;
        }
        let bytes = match fs.read(&path, MAX_ENTRY_BYTES) {
            Ok(b) => b,
            Err(e) => {
                errors.push((path, e.to_string()));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        match parse_entry(&path, &text) {
            Ok(e) => match &e.architecture {
                Some(a) if !a.eq_ignore_ascii_case(LOCAL_ARCH) => {
                    log::debug!("{path}: for architecture {a}, not {LOCAL_ARCH}: hidden");
                }
                _ => {
                    kept = kept.saturating_add(e.text_bytes());
                    entries.push(e)
                }
            },
            Err(m) => errors.push((path, m)),
        }
    }
    (entries, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;
    use std::path::Path;

    const FEDORA: &str = "title Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Workstation Edition)
version 6.5.6-300.fc39.x86_64
linux /vmlinuz-6.5.6-300.fc39.x86_64
initrd /initramfs-6.5.6-300.fc39.x86_64.img $tuned_initrd
options root=UUID=0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f ro rootflags=subvol=root rhgb quiet $tuned_params
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
";

    fn entry(file: &str, text: &str) -> BlsEntry {
        parse_entry(file, text).unwrap()
    }

    /// Entry files are read until the entries kept hold the text one config
    /// may (4 MiB), not all 1,024 of up to 64 KiB each: 64 MiB held at once.
    #[test]
    fn read_dir_stops_at_the_text_budget() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("loader/entries");
        std::fs::create_dir_all(&dir).unwrap();
        let options = "x".repeat(60 << 10);
        for i in 0..100 {
            let text = format!("title T{i}\nlinux /vmlinuz\noptions {options}\n");
            std::fs::write(dir.join(format!("e{i:03}.conf")), text).unwrap();
        }
        let fs = DirFs::new(t.path());
        let (entries, errors) = read_dir(&fs, "/loader/entries");
        let kept: usize = entries.iter().map(BlsEntry::text_bytes).sum();
        assert!(
            entries.len() < 100 && kept <= crate::discover::MAX_CONFIG_TEXT + (64 << 10),
            "{}",
            entries.len()
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].1.contains("entry files left unread"), "{errors:?}");
    }

    #[test]
    fn fedora_grub_style_entry() {
        let e = entry(
            "/loader/entries/4f1e2b6a8c9d4e0f9a1b2c3d4e5f6a7b-6.5.6-300.fc39.x86_64.conf",
            FEDORA,
        );
        assert_eq!(e.id, "4f1e2b6a8c9d4e0f9a1b2c3d4e5f6a7b-6.5.6-300.fc39.x86_64");
        assert_eq!(e.version.as_deref(), Some("6.5.6-300.fc39.x86_64"));
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz-6.5.6-300.fc39.x86_64"));
        // GRUB's blscfg would expand $tuned_initrd; the spec does not.
        assert_eq!(e.initrds, ["/initramfs-6.5.6-300.fc39.x86_64.img $tuned_initrd"]);
        assert!(e.options.starts_with("root=UUID=0f4c1b1e"));
        assert!(e.options.ends_with("$tuned_params"));
        assert_eq!(e.tries_left, None);
    }

    #[test]
    fn arch_systemd_boot_entry_keeps_initrd_order_and_joins_options() {
        let e = entry(
            "arch.conf",
            "# written by hand\ntitle   Arch Linux\nlinux   /vmlinuz-linux\ninitrd  /intel-ucode.img\n\
             initrd  /initramfs-linux.img\noptions root=PARTUUID=3e2b6f4a-01 rw\n\toptions\tquiet  splash \n",
        );
        assert_eq!(e.id, "arch");
        assert_eq!(e.initrds, ["/intel-ucode.img", "/initramfs-linux.img"]);
        assert_eq!(e.options, "root=PARTUUID=3e2b6f4a-01 rw quiet  splash");
        assert_eq!(display_title(&e), "Arch Linux");
    }

    #[test]
    fn relative_paths_are_from_the_fs_root_and_quotes_are_dropped() {
        let e = entry(
            "x.conf",
            "linux vmlinuz\ninitrd ./a//b/../initrd\ntitle \"Quoted title\"\nfoo\n",
        );
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz"));
        assert_eq!(e.initrds, ["/a/initrd"]);
        assert_eq!(e.title.as_deref(), Some("Quoted title"));
    }

    #[test]
    fn entry_needs_linux_or_efi() {
        assert!(parse_entry("a.conf", "title x\noptions quiet\n").is_err());
        let e = entry("win.conf", "title Shell\nefi /EFI/tools/shellx64.efi\n");
        assert_eq!(e.efi.as_deref(), Some("/EFI/tools/shellx64.efi"));
    }

    #[test]
    fn boot_counting_suffix() {
        let e = entry("fedora-6.5+3.conf", "linux /k\n");
        assert_eq!(
            (e.id.as_str(), e.tries_left, e.tries_done),
            ("fedora-6.5", Some(3), Some(0))
        );
        let e = entry("fedora-6.5+0-3.CONF", "linux /k\n");
        assert_eq!(
            (e.id.as_str(), e.tries_left, e.tries_done),
            ("fedora-6.5", Some(0), Some(3))
        );
        assert!(e.is_bad());
        // Not a counter: stays in the id.
        for name in ["a+b.conf", "a+1-.conf", "a+-1.conf", "+1.conf", "a+99999999999.conf"] {
            let e = entry(name, "linux /k\n");
            assert_eq!(e.id, strip_conf(name), "{name}");
            assert_eq!(e.tries_left, None, "{name}");
        }
    }

    /// The spec's sorting rules on a set like systemd's own test: sort-key
    /// groups first (ascending), newest version first inside a group, then
    /// entries without sort-key by file name in descending version order.
    #[test]
    fn sort_order() {
        let mk = |file: &str, body: &str| entry(file, &format!("linux /k\n{body}"));
        let mut v = vec![
            mk(
                "a-10.conf",
                "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f\n",
            ),
            mk(
                "a-5.conf",
                "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f\n",
            ),
            mk(
                "b.conf",
                "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd\n",
            ),
            mk(
                "c.conf",
                "title C\nsort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176\n",
            ),
            mk(
                "cx.conf",
                "title C\nsort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176\n",
            ),
            mk(
                "d.conf",
                "title D\nsort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292\n",
            ),
            mk("e+0-3.conf", "title E\nsort-key aaaa\n"),
        ];
        sort(&mut v);
        let ids: Vec<&str> = v.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["d", "cx", "c", "b", "a-10", "a-5", "e"]);
    }

    #[test]
    fn fedora_rescue_sorts_after_kernels() {
        let mid = "de8380606ce44a2dabad127eb049acbe";
        let mut v = vec![
            entry(
                &format!("{mid}-0-rescue.conf"),
                "linux /r\nversion 6.5.6-300.fc39.x86_64\n",
            ),
            entry(&format!("{mid}-6.5.6-300.fc39.x86_64.conf"), "linux /a\n"),
            entry(&format!("{mid}-6.5.12-300.fc39.x86_64.conf"), "linux /b\n"),
        ];
        sort(&mut v);
        assert_eq!(v[0].linux.as_deref(), Some("/b"));
        assert_eq!(v[1].linux.as_deref(), Some("/a"));
        assert_eq!(v[2].linux.as_deref(), Some("/r"));
    }

    #[test]
    fn loader_conf_values() {
        let c = parse_loader_conf("#timeout 3\ntimeout 5\ndefault  de83806*\nconsole-mode keep\neditor no\n");
        assert_eq!(c.default.as_deref(), Some("de83806*"));
        assert_eq!(parse_loader_conf("").default, None);
        assert_eq!(parse_loader_conf("default @saved\n").default.as_deref(), Some("@saved"));
    }

    #[test]
    fn default_is_first_match_in_menu_order() {
        let mut v = vec![
            entry("fedora-6.5.6.conf", "linux /a\n"),
            entry("fedora-6.5.12.conf", "linux /b\n"),
            entry("arch.conf", "linux /c\n"),
        ];
        sort(&mut v);
        let conf = |d: &str| LoaderConf {
            default: Some(d.into()),
        };
        let ids = |i: Option<usize>| i.map(|i| v[i].id.clone());
        assert_eq!(
            ids(default_index(&v, &conf("fedora-*"))).as_deref(),
            Some("fedora-6.5.12")
        );
        assert_eq!(ids(default_index(&v, &conf("arch.conf"))).as_deref(), Some("arch"));
        assert_eq!(ids(default_index(&v, &conf("ARCH.Conf"))).as_deref(), Some("arch"));
        // The id keeps its suffix: a name without `.conf` matches nothing.
        assert_eq!(default_index(&v, &conf("arch")), Some(0));
        assert_eq!(default_index(&v, &conf("nomatch*")), Some(0));
        assert_eq!(default_index(&v, &conf("@saved")), Some(0));
        assert_eq!(default_index(&v, &conf("auto-windows")), Some(0));
        assert_eq!(default_index(&v, &LoaderConf::default()), Some(0));
        assert_eq!(default_index(&[], &LoaderConf::default()), None);
        // kernelstub's `default Pop_OS-current` (systemd-boot 252/254 under OVMF).
        let mut pop = vec![
            entry("Pop_OS-current.conf", "linux /a\ntitle Pop!_OS\n"),
            entry("Pop_OS-oldkern.conf", "linux /b\ntitle Pop!_OS\n"),
        ];
        sort(&mut pop);
        assert_eq!(pop[0].id, "Pop_OS-oldkern");
        assert_eq!(default_index(&pop, &conf("Pop_OS-current")), Some(0));
        assert_eq!(default_index(&pop, &conf("Pop_OS-current.conf")), Some(1));
        // The boot counter is part of the id in 252 and 254.
        let counted = vec![entry("a.conf", "linux /a\n"), entry("b+3-1.conf", "linux /b\n")];
        assert_eq!(default_index(&counted, &conf("b.conf")), Some(0));
        assert_eq!(default_index(&counted, &conf("b+3-1.conf")), Some(1));
        assert_eq!(default_index(&counted, &conf("b*")), Some(1));
        let bad = vec![entry("x+0-3.conf", "linux /a\n")];
        assert_eq!(default_index(&bad, &LoaderConf::default()), None);
    }

    #[test]
    fn equal_titles_are_disambiguated_like_systemd_boot() {
        let mid = "6a9857a393724b7a981ebb5b8495b9ea";
        let v = vec![
            entry(
                "a.conf",
                &format!("linux /a\ntitle Fedora\nversion 6.5\nmachine-id {mid}\n"),
            ),
            entry(
                "b.conf",
                &format!("linux /b\ntitle Fedora\nversion 6.4\nmachine-id {mid}\n"),
            ),
            entry("c.conf", "linux /c\ntitle Debian\nversion 1\nmachine-id 11112222\n"),
            entry("d.conf", "linux /d\ntitle Debian\nversion 1\nmachine-id 33334444\n"),
            entry("e.conf", "linux /e\ntitle Same\n"),
            entry("f.conf", "linux /f\ntitle Same\n"),
            entry("no-title.conf", "linux /g\n"),
        ];
        assert_eq!(
            display_titles(&v),
            [
                "Fedora (6.5)",
                "Fedora (6.4)",
                "Debian (1) (11112222)",
                "Debian (1) (33334444)",
                // The id as systemd-boot 252/254 show it: the file name with
                // its suffix (tests/corpus/uki-same-title, booted under OVMF).
                "Same (e.conf)",
                "Same (f.conf)",
                "no-title.conf",
            ]
        );
        assert_eq!(display_titles(&v[..1]), ["Fedora"]);
    }

    /// The id systemd-boot shows and sorts by keeps the suffix and the boot
    /// counter and is lower-cased (systemd-boot 252 and 254 under OVMF:
    /// tests/corpus/uki-same-title).
    #[test]
    fn menu_ids_are_lower_case_file_names_with_counter() {
        let mut v = vec![
            entry("/loader/entries/pair-a.conf", "linux /a\ntitle Pair OS\nversion 2\n"),
            entry(
                "/loader/entries/Pair-B+3-1.conf",
                "linux /b\ntitle Pair OS\nversion 2\n",
            ),
            entry("/loader/entries/NoTitle.conf", "linux /c\n"),
            entry("/loader/entries/mixed.conf", "linux /d\ntitle Mixed\n"),
        ];
        sort(&mut v);
        assert_eq!(v[0].id, "Pair-B");
        assert_eq!(
            display_titles(&v),
            [
                "Pair OS (2) (pair-b+3-1.conf)",
                "Pair OS (2) (pair-a.conf)",
                "notitle.conf",
                "Mixed",
            ]
        );
    }

    use crate::fs::dir::test_tree as tree;

    #[test]
    fn read_dir_filters_and_reports() {
        let big = "#".repeat(70 << 10);
        let d = tree(&[
            (
                "loader/entries/arch.conf",
                "title Arch\nlinux /vmlinuz-linux\narchitecture x64\n",
            ),
            (
                "loader/entries/arm.conf",
                "title Arm\nlinux /Image\narchitecture aa64\n",
            ),
            ("loader/entries/broken.conf", "title Broken\n"),
            ("loader/entries/.hidden.conf", "linux /x\n"),
            ("loader/entries/notes.txt", "linux /x\n"),
            ("loader/entries/huge.conf", &big),
            ("loader/entries/UPPER.CONF", "linux /u\n"),
        ]);
        let (v, errs) = read_dir(&DirFs::new(d.path()), "/loader/entries");
        let ids: Vec<&str> = v.iter().map(|e| e.id.as_str()).collect();
        if LOCAL_ARCH == "x64" {
            assert_eq!(ids, ["UPPER", "arch"]);
        }
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/loader/entries/broken.conf", "/loader/entries/huge.conf"]);
        assert_eq!(v[1].file, "/loader/entries/arch.conf");
        let (v, errs) = read_dir(&DirFs::new(d.path()), "/missing");
        assert!(v.is_empty() && errs.is_empty());
    }

    /// u-root's BLS trees: the copies in tests/corpus and tests/fixtures
    /// (committed, so the test never skips), laid out as in u-root.
    fn corpus() -> Option<std::path::PathBuf> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("hopboot-bls-corpus-{}-{n}", std::process::id()));
        for (name, src) in [
            ("fedora_32", base.join("corpus/uroot-bls-fedora32/root")),
            ("madeup", base.join("corpus/uroot-bls-madeup/root")),
            ("typeone", base.join("fixtures/u-root-bls/typeone")),
        ] {
            assert!(src.is_dir(), "{} missing", src.display());
            let link = dir.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(src.canonicalize().unwrap(), &link).unwrap();
        }
        Some(dir)
    }

    /// u-root's Fedora 32 tree: the kernel entry first, the rescue entry
    /// second (u-root's JSON agrees), and loader.conf's glob picks the kernel.
    #[test]
    fn uroot_fedora_32_tree() {
        let Some(c) = corpus() else { return };
        let fs = DirFs::new(&c.join("fedora_32"));
        let (mut v, errs) = read_dir(&fs, "/loader/entries");
        assert!(errs.is_empty(), "{errs:?}");
        sort(&mut v);
        let conf = parse_loader_conf(&fs.read_text("/loader/loader.conf").unwrap());
        assert_eq!(default_index(&v, &conf), Some(0));
        assert_eq!(
            display_titles(&v),
            [
                "Fedora 32 (Server Edition)",
                "Fedora 32 (Server Edition) - Rescue Image"
            ]
        );
        assert_eq!(
            v[0].linux.as_deref(),
            Some("/de8380606ce44a2dabad127eb049acbe/5_6_6_300_fc32_x86_64/linux")
        );
        assert_eq!(v[1].id, "de8380606ce44a2dabad127eb049acbe-0-rescue");
        assert!(v[1].options.ends_with("rd.auto=1"));
        for e in &v {
            assert!(fs.is_file(e.linux.as_deref().unwrap()));
            assert!(e.initrds.iter().all(|i| fs.is_file(i)));
        }
    }

    /// u-root's "madeup" tree: the entry without `linux` is an error, the
    /// other one is kept with both `options` lines joined.
    #[test]
    fn uroot_madeup_and_typeone() {
        let Some(c) = corpus() else { return };
        let (v, errs) = read_dir(&DirFs::new(&c.join("madeup")), "/loader/entries");
        assert_eq!(v.len(), 1);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].0.ends_with("entry-2.conf"));
        assert_eq!(
            v[0].options,
            "root=UUID=6d3376e4-fc93-4509-95ec-a21d68011da2 earlyprintk=ttyS0"
        );
        assert_eq!(v[0].linux.as_deref(), Some("/fakefile"));
        // `c/typeone` is a link out of `c`: a tree's links never lead out of
        // it, so the fixture is opened as its own root.
        let (v, errs) = read_dir(&DirFs::new(&c.join("typeone")), "/");
        assert!(errs.is_empty());
        assert_eq!(v[0].sort_key.as_deref(), Some("fedora"));
        assert_eq!(v[0].options, "root=UUID=6d3376e4-fc93-4509-95ec-a21d68011da2 quiet");
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"title linux initrd options sort-key version +-.~^*?[]!\"#\n\t \xff\xfe";
        for _ in 0..300 {
            let mut s = Vec::new();
            for _ in 0..(seed % 200) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&s);
            let name = format!("{}.conf", text.lines().next().unwrap_or(""));
            if let Ok(e) = parse_entry(&name, &text) {
                let mut v = vec![e.clone(), e];
                sort(&mut v);
                let _ = display_titles(&v);
                let conf = parse_loader_conf(&text);
                let _ = default_index(&v, &conf);
            }
        }
    }
}
