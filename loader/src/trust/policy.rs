//! The signature policy: which keys are trusted and what happens to an
//! entry they did not sign.
//!
//! The image builder writes it into the initramfs (`--trust-key`,
//! `--verify`): the keys as `/etc/hopboot/trusted-keys/*.pub` (minisign
//! public keys) and the mode as `/etc/hopboot/verify` (`enforce` or `warn`).
//! The kernel command line (`hopboot.verify=`) can only make it stricter.
//!
//! Before kexec, [`Policy::check`] reads the boot manifest of the volume the
//! kernel is on ([`MANIFEST_PATHS`], with its `.minisig`), verifies its
//! signature, and looks for an entry with the SHA-256 of the kernel and
//! initrd bytes just read (the bytes kexec gets) and the exact command line.

use super::manifest::{Manifest, MAX_MANIFEST};
use super::{Keyring, MAX_SIGNATURE};
use crate::fs::FsView;
use crate::kexec::Boot;
use crate::model::BootEntry;
use std::path::Path;

/// Where the manifest is looked for on a disk's volume after the kernel's
/// own directory ([`manifest_paths`]); its signature is the same path with
/// `.minisig`.
pub const MANIFEST_PATHS: [&str; 2] = ["/hopboot.manifest", "/boot/hopboot.manifest"];

/// Where the manifest for the kernel at `kernel` is looked for, in order:
/// next to the kernel (`/boot/`, `/EFI/Linux/`, or on a boot server the
/// kernel's URL or TFTP directory), then, on a disk's volume, at its root
/// and in `/boot`. The first that exists is used.
pub fn manifest_paths(kernel: &str) -> Vec<String> {
    let next_to = match kernel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/hopboot.manifest"),
        None => "hopboot.manifest".to_string(),
    };
    let mut v = vec![next_to];
    if kernel.starts_with('/') {
        for p in MANIFEST_PATHS {
            if !v.iter().any(|x| x == p) {
                v.push(p.to_string());
            }
        }
    }
    v
}
/// The policy's directory in the initramfs (or on a live system).
pub const POLICY_DIR: &str = "etc/hopboot";

/// What happens to an entry that is not signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Mode {
    /// Nothing is checked.
    #[default]
    Off,
    /// It boots, with a warning on the console saying what failed.
    Warn,
    /// It does not boot; the menu says why.
    Enforce,
}

impl Mode {
    /// Parses `off`, `warn` or `enforce`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "off" => Some(Mode::Off),
            "warn" => Some(Mode::Warn),
            "enforce" => Some(Mode::Enforce),
            _ => None,
        }
    }

    /// As written in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Warn => "warn",
            Mode::Enforce => "enforce",
        }
    }
}

/// The words that start every refusal (the menu marks such entries).
pub const REFUSED: &str = "not signed";

/// The trusted keys and the mode.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// What happens to unsigned entries.
    pub mode: Mode,
    /// The keys any of which may sign a manifest.
    pub keys: Keyring,
    /// What was wrong with the policy files (logged; a broken policy fails
    /// closed: `enforce`).
    pub problems: Vec<String>,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The policy is off.
    Unchecked,
    /// A trusted key signed exactly this.
    Signed {
        /// The key's id.
        key_id: String,
        /// The manifest entry's title.
        title: String,
    },
    /// Not signed, or not as it is now: why, starting with [`REFUSED`].
    Unsigned(String),
}

impl Policy {
    /// Reads the policy under `root` (`/` in PID 1's initramfs and on a live
    /// system): `etc/hopboot/verify` and `etc/hopboot/trusted-keys/*.pub`.
    /// No policy directory: off. A mode that does not parse, or an
    /// unreadable key: `enforce`, with the problem recorded.
    pub fn load(root: &Path) -> Policy {
        let dir = root.join(POLICY_DIR);
        let mut p = Policy::default();
        let keys_dir = dir.join("trusted-keys");
        // Names as strings, sorted (the image builder numbers them).
        let mut names: Vec<String> = std::fs::read_dir(&keys_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path().display().to_string())
                    .filter(|n| n.ends_with(".pub"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for n in &names {
            let added = std::fs::read_to_string(n)
                .map_err(|e| e.to_string())
                .and_then(|t| p.keys.add(&t, n).map_err(|e| e.to_string()));
            if let Err(e) = added {
                p.problems.push(format!("{n}: {e}"));
            }
        }
        match std::fs::read_to_string(dir.join("verify")) {
            Ok(t) => match Mode::parse(&t) {
                Some(m) => p.mode = m,
                None => p.problems.push(format!(
                    "{}/verify: {:?} is not off, warn or enforce",
                    dir.display(),
                    t.trim()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !p.keys.keys().is_empty() {
                    p.mode = Mode::Enforce;
                }
            }
            Err(e) => p.problems.push(format!("{}/verify: {e}", dir.display())),
        }
        if !p.problems.is_empty() {
            p.mode = Mode::Enforce;
        }
        p
    }

    /// Applies `hopboot.verify=` from the command line: only a stricter mode
    /// takes effect. Returns what to log when it was ignored.
    pub fn stricter(&mut self, asked: Mode) -> Option<String> {
        if asked >= self.mode {
            self.mode = asked;
            None
        } else {
            Some(format!(
                "hopboot.verify={} ignored: the image's policy is {} and the command line may only make it stricter",
                asked.as_str(),
                self.mode.as_str()
            ))
        }
    }

    /// The manifest for the kernel at `kernel` on the volume `files`
    /// ([`manifest_paths`]), its signature checked; the key's id with it.
    pub fn manifest(&self, files: &dyn FsView, kernel: &str) -> Result<(Manifest, String), String> {
        let Some(path) = manifest_paths(kernel).into_iter().find(|p| files.is_file(p)) else {
            return Err(format!("{REFUSED}: no hopboot.manifest on its volume"));
        };
        let path = path.as_str();
        let bytes = files
            .read(path, MAX_MANIFEST)
            .map_err(|e| format!("{REFUSED}: cannot read the manifest: {e}"))?;
        let sig_path = format!("{path}.minisig");
        let sig = files
            .read(&sig_path, MAX_SIGNATURE as u64)
            .map_err(|e| format!("{REFUSED}: the manifest has no signature: {e}"))?;
        let sig = String::from_utf8_lossy(&sig);
        let v = self
            .keys
            .verify(&bytes, &sig)
            .map_err(|e| format!("{REFUSED}: {path}: {e}"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| format!("{REFUSED}: {path}: not UTF-8"))?;
        let m = Manifest::parse(text).map_err(|e| format!("{REFUSED}: {path}: {e}"))?;
        Ok((m, v.key_id))
    }

    /// Decides on what is about to be loaded: the bytes read and the final
    /// command line, against the manifest of the volume `files`.
    pub fn check(&self, boot: &Boot<'_>, files: &dyn FsView) -> Verdict {
        if self.mode == Mode::Off {
            return Verdict::Unchecked;
        }
        let (m, key_id) = match self.manifest(files, &boot.entry.kernel) {
            Ok(x) => x,
            Err(why) => return Verdict::Unsigned(why),
        };
        // Through the images' memo: the TPM's SHA-256 bank uses the same digests.
        let (k, i) = (boot.images.kernel_sha256(), boot.images.initrd_sha256s());
        match m.allows_digests(&k, i, boot.cmdline) {
            Ok(e) => Verdict::Signed {
                key_id,
                title: e.title.clone(),
            },
            Err(why) => Verdict::Unsigned(format!("{REFUSED}: {why}")),
        }
    }

    /// A cheap check for the menu, before anything is read: whether the
    /// volume's manifest (signature checked) lists this entry by its file
    /// names and command line. The files' bytes are checked when it boots.
    /// For many entries, [`Prechecks`] reads each manifest once.
    pub fn precheck(&self, entry: &BootEntry, cmdline: &str, files: &dyn FsView) -> Verdict {
        Prechecks::new(self).precheck(entry.volume, entry, cmdline, files)
    }

    /// Whether the manifest `m` (signed by `key_id`) lists `entry` by its
    /// file names and `cmdline`.
    fn listed(m: &Manifest, key_id: &str, entry: &BootEntry, cmdline: &str) -> Verdict {
        let listed = m.entries.iter().find(|e| {
            e.kernel.path == entry.kernel
                && e.cmdline == cmdline
                && (entry.kernel.to_ascii_lowercase().ends_with(".efi")
                    || e.initrds
                        .iter()
                        .map(|i| i.path.as_str())
                        .eq(entry.initrds.iter().map(String::as_str)))
        });
        match listed {
            Some(e) => Verdict::Signed {
                key_id: key_id.to_string(),
                title: e.title.clone(),
            },
            None if m.entries.iter().any(|e| e.kernel.path == entry.kernel) => Verdict::Unsigned(format!(
                "{REFUSED}: its command line or initrds are not the ones signed"
            )),
            None => Verdict::Unsigned(format!("{REFUSED}: {} is not in the signed manifest", entry.kernel)),
        }
    }
}

/// A manifest with the id of the key that signed it, or why there is none.
type Signed = Result<(Manifest, String), String>;

/// [`Policy::precheck`] over many entries: each volume's manifest (for each
/// kernel directory) is read and its signature checked once, not once per
/// entry.
pub struct Prechecks<'p> {
    policy: &'p Policy,
    /// (volume, the manifest's candidate paths) → the manifest and its key, or why not.
    read: Vec<((usize, Vec<String>), Signed)>,
}

impl<'p> Prechecks<'p> {
    /// No manifest read yet.
    pub fn new(policy: &'p Policy) -> Self {
        Prechecks {
            policy,
            read: Vec::new(),
        }
    }

    /// [`Policy::precheck`] of `entry` on volume number `volume` (`files`).
    pub fn precheck(&mut self, volume: usize, entry: &BootEntry, cmdline: &str, files: &dyn FsView) -> Verdict {
        if self.policy.mode == Mode::Off {
            return Verdict::Unchecked;
        }
        let key = (volume, manifest_paths(&entry.kernel));
        let at = match self.read.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let r = self.policy.manifest(files, &entry.kernel);
                self.read.push((key, r));
                self.read.len() - 1
            }
        };
        match &self.read[at].1 {
            Ok((m, key_id)) => Policy::listed(m, key_id, entry, cmdline),
            Err(why) => Verdict::Unsigned(why.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn the_manifest_is_looked_for_next_to_the_kernel_then_at_the_root() {
        assert_eq!(
            manifest_paths("/boot/vmlinuz-6.1"),
            ["/boot/hopboot.manifest", "/hopboot.manifest"]
        );
        assert_eq!(
            manifest_paths("/EFI/Linux/debian.efi"),
            [
                "/EFI/Linux/hopboot.manifest",
                "/hopboot.manifest",
                "/boot/hopboot.manifest"
            ]
        );
        assert_eq!(
            manifest_paths("/vmlinuz"),
            ["/hopboot.manifest", "/boot/hopboot.manifest"]
        );
        // A boot server: the kernel's URL or TFTP directory only.
        assert_eq!(
            manifest_paths("http://192.0.2.1/debian/vmlinuz"),
            ["http://192.0.2.1/debian/hopboot.manifest"]
        );
        assert_eq!(
            manifest_paths("192.0.2.1::images/vmlinuz"),
            ["192.0.2.1::images/hopboot.manifest"]
        );
        assert_eq!(manifest_paths("vmlinuz"), ["hopboot.manifest"]);

        // The first that exists wins: next to the kernel before the root.
        let d = tempfile::tempdir().unwrap();
        let key = crate::trust::sign::SigningKey::generate().unwrap();
        let mut p = Policy::default();
        p.keys.add(&key.public_text(), "k").unwrap();
        p.mode = Mode::Enforce;
        let signed = |rel: &str, title: &str| {
            let text = format!(
                "hopboot-manifest 1\nentry {title}\nkernel sha256:{} /k\ncmdline\n",
                "0".repeat(64)
            );
            write(d.path(), rel, &text);
            write(
                d.path(),
                &format!("{rel}.minisig"),
                &key.sign(text.as_bytes(), "t").unwrap(),
            );
        };
        signed("hopboot.manifest", "root");
        signed("EFI/Linux/hopboot.manifest", "next to it");
        let fs = crate::fs::dir::DirFs::new(d.path());
        assert_eq!(
            p.manifest(&fs, "/EFI/Linux/x.efi").unwrap().0.entries[0].title,
            "next to it"
        );
        assert_eq!(p.manifest(&fs, "/boot/vmlinuz").unwrap().0.entries[0].title, "root");
    }

    #[test]
    fn prechecks_read_each_manifest_once() {
        let d = tempfile::tempdir().unwrap();
        let key = crate::trust::sign::SigningKey::generate().unwrap();
        let mut p = Policy::default();
        p.keys.add(&key.public_text(), "k").unwrap();
        p.mode = Mode::Enforce;
        let text = format!(
            "hopboot-manifest 1\nentry a\nkernel sha256:{0} /boot/a\ncmdline x\nentry b\nkernel sha256:{0} /boot/b\ncmdline y\n",
            "0".repeat(64)
        );
        write(d.path(), "hopboot.manifest", &text);
        write(
            d.path(),
            "hopboot.manifest.minisig",
            &key.sign(text.as_bytes(), "t").unwrap(),
        );
        let fs = crate::fs::dir::DirFs::new(d.path());
        let entry = |k: &str| BootEntry {
            title: k.into(),
            format: crate::model::Format::Grub,
            kernel: k.into(),
            initrds: vec![],
            cmdline: String::new(),
            default: false,
            device: "vda1".into(),
            id: k.into(),
            volume: 0,
            boot_image: None,
        };
        let mut checks = Prechecks::new(&p);
        assert!(matches!(
            checks.precheck(0, &entry("/boot/a"), "x", &fs),
            Verdict::Signed { .. }
        ));
        // Gone from the disk now: the second entry is decided on the manifest read once.
        std::fs::remove_file(d.path().join("hopboot.manifest")).unwrap();
        assert!(matches!(
            checks.precheck(0, &entry("/boot/b"), "y", &fs),
            Verdict::Signed { .. }
        ));
        assert!(matches!(
            checks.precheck(0, &entry("/boot/b"), "z", &fs),
            Verdict::Unsigned(_)
        ));
        // Another volume, and a fresh check, read again.
        assert!(matches!(
            checks.precheck(1, &entry("/boot/b"), "y", &fs),
            Verdict::Unsigned(_)
        ));
        assert!(matches!(p.precheck(&entry("/boot/a"), "x", &fs), Verdict::Unsigned(_)));
    }

    #[test]
    fn the_policy_files_and_the_command_line() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Policy::load(d.path()).mode, Mode::Off);
        let key = crate::trust::sign::SigningKey::generate().unwrap();
        write(d.path(), "etc/hopboot/trusted-keys/a.pub", &key.public_text());
        // Keys without a mode: enforce.
        let p = Policy::load(d.path());
        assert_eq!((p.mode, p.keys.keys().len()), (Mode::Enforce, 1));
        write(d.path(), "etc/hopboot/verify", "warn\n");
        let mut p = Policy::load(d.path());
        assert_eq!(p.mode, Mode::Warn);
        assert!(p.stricter(Mode::Off).unwrap().contains("only make it stricter"));
        assert_eq!(p.mode, Mode::Warn);
        assert_eq!(p.stricter(Mode::Enforce), None);
        assert_eq!(p.mode, Mode::Enforce);
        // Broken policy files fail closed.
        write(d.path(), "etc/hopboot/verify", "maybe\n");
        let p = Policy::load(d.path());
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.problems[0].contains("maybe"), "{:?}", p.problems);
        write(d.path(), "etc/hopboot/verify", "warn\n");
        write(
            d.path(),
            "etc/hopboot/trusted-keys/b.pub",
            "untrusted comment: x\nnot base64!\n",
        );
        let p = Policy::load(d.path());
        assert_eq!((p.mode, p.keys.keys().len()), (Mode::Enforce, 1));
    }
}
