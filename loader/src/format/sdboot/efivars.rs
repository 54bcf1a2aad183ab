//! systemd-boot's EFI variables that choose the entry, read-only through
//! efivarfs: `LoaderEntryOneShot` (`bootctl set-oneshot`, `systemctl reboot
//! --boot-loader-entry=`) and `LoaderEntryDefault` (`bootctl set-default`).
//! systemd-boot picks the one-shot first, then the EFI default, then
//! `loader.conf`'s `default` (its `config_default_entry_select`); hopboot
//! applies the same order to the entries it found ([`apply`]). systemd-boot
//! deletes the one-shot variable when it boots it; so does `hopboot load
//! --next` (in `init/src/live.rs`, through [`var_path`]), and nothing else
//! in hopboot writes variables.

use crate::discover::Discovery;
use crate::model::Format;
use std::path::Path;

/// The vendor GUID of systemd-boot's loader variables.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// Where the running kernel shows EFI variables.
pub const EFIVARFS: &str = "/sys/firmware/efi/efivars";

/// The variables that choose systemd-boot's entry; `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderVars {
    /// `LoaderEntryOneShot`: boot this entry id once.
    pub oneshot: Option<String>,
    /// `LoaderEntryDefault`: the default entry id.
    pub default: Option<String>,
}

/// The longest value read: entry ids are file names.
const MAX_VAR_BYTES: u64 = 4096;

/// Decodes an efivarfs file: 4 bytes of attributes, then the UTF-16LE
/// string, NUL-terminated. `None` for anything else (short, odd length,
/// empty, not UTF-16).
pub fn decode(bytes: &[u8]) -> Option<String> {
    let data = bytes.get(4..)?;
    if data.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    let s = String::from_utf16(&units).ok()?;
    (!s.is_empty()).then_some(s)
}

/// The efivarfs file of variable `name` of [`LOADER_GUID`] in `dir`.
pub fn var_path(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}-{LOADER_GUID}"))
}

/// Reads one variable of [`LOADER_GUID`] from `dir` (an efivarfs).
fn read_var(dir: &Path, name: &str) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(var_path(dir, name)).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_VAR_BYTES).read_to_end(&mut bytes).ok()?;
    decode(&bytes)
}

/// Reads [`LoaderVars`] from `dir` (normally [`EFIVARFS`]); all unset when
/// the machine has no EFI variables.
pub fn read(dir: &Path) -> LoaderVars {
    LoaderVars {
        oneshot: read_var(dir, "LoaderEntryOneShot"),
        default: read_var(dir, "LoaderEntryDefault"),
    }
}

/// Whether entry id `id` is the one the variable names (systemd-boot's ids
/// keep the `.conf` of type #1 entries; compared without case, as it does).
pub fn names(var: &str, id: &str) -> bool {
    var.eq_ignore_ascii_case(id) || var.eq_ignore_ascii_case(&format!("{id}.conf"))
}

/// Moves `d`'s default to the entry the variables name, systemd-boot's way:
/// the one-shot first, then the EFI default. Only when systemd-boot's menu is
/// the one that decides (the default is a BLS entry or a UKI) and the named
/// entry is one of systemd-boot's; otherwise `d` is left as it is. Returns
/// which variable chose, for the log.
pub fn apply(d: &mut Discovery, vars: &LoaderVars) -> Option<&'static str> {
    let sdboot = |f: Format| matches!(f, Format::Bls | Format::Uki);
    let current = d.default_index()?;
    if !sdboot(d.entries[current].format) {
        return None;
    }
    for (which, var) in [
        ("LoaderEntryOneShot", &vars.oneshot),
        ("LoaderEntryDefault", &vars.default),
    ] {
        let Some(var) = var else { continue };
        if let Some(i) = d.entries.iter().position(|e| sdboot(e.format) && names(var, &e.id)) {
            for (k, e) in d.entries.iter_mut().enumerate() {
                e.default = k == i;
            }
            return Some(which);
        }
        log::warn!("{which}={var}: no such systemd-boot entry; ignored");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BootEntry;

    fn var(s: &str) -> Vec<u8> {
        let mut b = vec![0x07, 0, 0, 0];
        for u in s.encode_utf16().chain([0]) {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b
    }

    fn entry(id: &str, format: Format, default: bool) -> BootEntry {
        BootEntry {
            title: id.into(),
            format,
            kernel: "/vmlinuz".into(),
            initrds: vec![],
            cmdline: String::new(),
            default,
            device: "vda1".into(),
            id: id.into(),
            volume: 0,
            boot_image: None,
        }
    }

    fn discovery(entries: Vec<BootEntry>) -> Discovery {
        Discovery {
            volumes: vec![],
            entries,
            errors: vec![],
        }
    }

    #[test]
    fn decodes_efivarfs_files() {
        assert_eq!(
            decode(&var("debian-6.1.0-13-amd64.conf")).as_deref(),
            Some("debian-6.1.0-13-amd64.conf")
        );
        assert_eq!(decode(&var("")), None);
        assert_eq!(decode(&[7, 0, 0]), None);
        assert_eq!(decode(&[7, 0, 0, 0, b'a']), None);
        // Without the terminating NUL (some firmware), and a lone surrogate.
        assert_eq!(decode(&[7, 0, 0, 0, b'a', 0]).as_deref(), Some("a"));
        assert_eq!(decode(&[7, 0, 0, 0, 0x00, 0xd8]), None);
    }

    #[test]
    fn reads_from_a_directory() {
        let dir = std::env::temp_dir().join(format!("hopboot-efivars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("LoaderEntryOneShot-{LOADER_GUID}")), var("b.conf")).unwrap();
        let v = read(&dir);
        assert_eq!(v.oneshot.as_deref(), Some("b.conf"));
        assert_eq!(v.default, None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(&dir), LoaderVars::default());
    }

    #[test]
    fn oneshot_then_efi_default_then_config() {
        let d = || {
            discovery(vec![
                entry("a", Format::Bls, true),
                entry("b", Format::Bls, false),
                entry("c", Format::Uki, false),
            ])
        };
        let def = |d: &Discovery| d.default_index().map(|i| d.entries[i].id.clone());
        let vars = |o: Option<&str>, e: Option<&str>| LoaderVars {
            oneshot: o.map(Into::into),
            default: e.map(Into::into),
        };
        let mut x = d();
        assert_eq!(
            apply(&mut x, &vars(Some("B.conf"), Some("c"))),
            Some("LoaderEntryOneShot")
        );
        assert_eq!(def(&x).as_deref(), Some("b"));
        let mut x = d();
        assert_eq!(
            apply(&mut x, &vars(Some("gone.conf"), Some("c"))),
            Some("LoaderEntryDefault")
        );
        assert_eq!(def(&x).as_deref(), Some("c"));
        assert_eq!(x.entries.iter().filter(|e| e.default).count(), 1);
        let mut x = d();
        assert_eq!(apply(&mut x, &vars(None, None)), None);
        assert_eq!(def(&x).as_deref(), Some("a"));
    }

    #[test]
    fn grubs_menu_is_not_systemd_boots() {
        let mut x = discovery(vec![entry("g", Format::Grub, true), entry("b", Format::Bls, false)]);
        let v = LoaderVars {
            oneshot: Some("b".into()),
            default: None,
        };
        assert_eq!(apply(&mut x, &v), None);
        assert!(x.entries[0].default);
    }
}
