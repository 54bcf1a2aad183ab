//! The boot manifest: the signed list of what may boot. Each entry names a
//! kernel and its initrds by SHA-256 of their bytes and the exact command
//! line; an entry boots under the signature policy only when one manifest
//! entry has all three. What produces the command line (grub.cfg, grubenv,
//! BLS snippets, an edit in the menu) does not need signing: the result does.
//!
//! ```text
//! hopboot-manifest 1
//! # comments and blank lines are skipped
//! entry Debian GNU/Linux
//! kernel sha256:<64 hex> /vmlinuz-6.1.0-18-amd64
//! initrd sha256:<64 hex> /initrd.img-6.1.0-18-amd64
//! cmdline root=UUID=… ro quiet
//! ```
//!
//! `entry` starts an entry (its title is for people); then exactly one
//! `kernel`, any number of `initrd` lines in the order they are loaded, and
//! exactly one `cmdline` (the rest of the line, byte for byte; `cmdline`
//! alone is the empty command line). Paths are for people too: the bytes
//! decide. The file is signed as a whole with minisign
//! (`hopboot.manifest.minisig`), so every rule here is strict: anything
//! unexpected makes the whole manifest unusable, never half-read.

use sha2::{Digest, Sha256};

/// A manifest larger than this is refused (a line is ~150 bytes).
pub const MAX_MANIFEST: u64 = 1 << 20;
/// At most this many entries.
pub const MAX_ENTRIES: usize = 4096;
/// At most this many initrds per entry.
pub const MAX_INITRDS: usize = 64;

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Sha256Digest {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Sha256Digest> {
    if text.len() != 64 || !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// One file: its digest and (for people) its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSum {
    /// SHA-256 of its bytes.
    pub sha256: Sha256Digest,
    /// Where it was when signed.
    pub path: String,
}

/// One signed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The title it had when signed.
    pub title: String,
    /// The kernel.
    pub kernel: FileSum,
    /// The initrds, in load order.
    pub initrds: Vec<FileSum>,
    /// The exact command line.
    pub cmdline: String,
}

impl ManifestEntry {
    /// The entry that allows exactly `images` (as `kexec::read_images` read
    /// them for `entry`) with `cmdline`, named after `entry`.
    pub fn of(entry: &crate::model::BootEntry, images: &crate::kexec::Images, cmdline: &str) -> ManifestEntry {
        ManifestEntry {
            title: entry.title.clone(),
            kernel: FileSum {
                sha256: images.kernel_sha256(),
                path: entry.kernel.clone(),
            },
            initrds: images
                .initrds()
                .zip(images.initrd_sha256s())
                .map(|((name, _), sha256)| FileSum {
                    sha256: *sha256,
                    path: name.to_string(),
                })
                .collect(),
            cmdline: cmdline.to_string(),
        }
    }
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Its entries, in file order.
    pub entries: Vec<ManifestEntry>,
}

/// Why a manifest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ManifestError {
    /// 1-based line number (0: the whole file).
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

fn sum(line: usize, rest: &str) -> Result<FileSum, ManifestError> {
    let err = |why: &str| ManifestError {
        line,
        why: why.to_string(),
    };
    let (digest, path) = rest.split_once(' ').unwrap_or((rest, ""));
    let hexed = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| err("expected sha256:<64 hex digits>"))?;
    let sha256 = unhex(hexed).ok_or_else(|| err("the digest is not 64 hex digits"))?;
    Ok(FileSum {
        sha256,
        path: path.trim().to_string(),
    })
}

/// What a manifest entry under construction has so far.
#[derive(Default)]
struct Partial {
    title: String,
    line: usize,
    kernel: Option<FileSum>,
    initrds: Vec<FileSum>,
    cmdline: Option<String>,
}

impl Partial {
    fn finish(self) -> Result<ManifestEntry, ManifestError> {
        let err = |why: &str| ManifestError {
            line: self.line,
            why: format!("entry {:?}: {why}", self.title),
        };
        Ok(ManifestEntry {
            kernel: self.kernel.clone().ok_or_else(|| err("no kernel line"))?,
            cmdline: self.cmdline.clone().ok_or_else(|| err("no cmdline line"))?,
            initrds: self.initrds,
            title: self.title,
        })
    }
}

impl Manifest {
    /// Parses a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        match lines.next() {
            Some((_, "hopboot-manifest 1")) => {}
            Some((n, _)) => {
                return Err(ManifestError {
                    line: n,
                    why: "the first line is not `hopboot-manifest 1`".into(),
                })
            }
            None => {
                return Err(ManifestError {
                    line: 0,
                    why: "empty".into(),
                })
            }
        }
        let mut m = Manifest::default();
        let mut cur: Option<Partial> = None;
        for (n, line) in lines {
            let err = |why: &str| ManifestError {
                line: n,
                why: why.to_string(),
            };
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            if word == "entry" {
                if let Some(p) = cur.take() {
                    m.entries.push(p.finish()?);
                }
                if m.entries.len() >= MAX_ENTRIES {
                    return Err(err("more than 4096 entries"));
                }
                cur = Some(Partial {
                    title: rest.trim().to_string(),
                    line: n,
                    ..Partial::default()
                });
                continue;
            }
            let p = cur.as_mut().ok_or_else(|| err("a line before the first `entry`"))?;
            match word {
                "kernel" if p.kernel.is_some() => return Err(err("a second kernel line")),
                "kernel" => p.kernel = Some(sum(n, rest)?),
                "initrd" if p.cmdline.is_some() => return Err(err("an initrd after the cmdline")),
                "initrd" if p.initrds.len() >= MAX_INITRDS => return Err(err("more than 64 initrds")),
                "initrd" => p.initrds.push(sum(n, rest)?),
                "cmdline" if p.cmdline.is_some() => return Err(err("a second cmdline line")),
                "cmdline" => p.cmdline = Some(rest.to_string()),
                other => return Err(err(&format!("unknown keyword {other:?}"))),
            }
        }
        if let Some(p) = cur.take() {
            m.entries.push(p.finish()?);
        }
        Ok(m)
    }

    /// The manifest as text, parsed back to itself by [`Manifest::parse`].
    /// Titles, paths and command lines are kept on one line (a line feed
    /// becomes a space: a command line with one then no longer matches, and
    /// the entry is refused rather than another allowed).
    pub fn render(&self, comment: &str) -> String {
        let one_line = |s: &str| s.replace('\n', " ");
        let mut out = String::from("hopboot-manifest 1\n");
        for c in comment.lines() {
            out.push_str(&format!("# {c}\n"));
        }
        for e in &self.entries {
            out.push_str(&format!("\nentry {}\n", one_line(&e.title)));
            out.push_str(&format!(
                "kernel sha256:{} {}\n",
                hex(&e.kernel.sha256),
                one_line(&e.kernel.path)
            ));
            for i in &e.initrds {
                out.push_str(&format!("initrd sha256:{} {}\n", hex(&i.sha256), one_line(&i.path)));
            }
            out.push_str(&format!("cmdline {}\n", one_line(&e.cmdline)));
        }
        out
    }

    /// The entry that allows exactly this kernel, these initrds (in this
    /// order) and this command line; else why none does, in words.
    pub fn allows(&self, kernel: &[u8], initrds: &[&[u8]], cmdline: &str) -> Result<&ManifestEntry, String> {
        let i: Vec<Sha256Digest> = initrds.iter().map(|b| sha256(b)).collect();
        self.allows_digests(&sha256(kernel), &i, cmdline)
    }

    /// [`Manifest::allows`] for files whose SHA-256 is known: `k` the kernel's,
    /// `i` each initrd's in order.
    pub fn allows_digests(
        &self,
        k: &Sha256Digest,
        i: &[Sha256Digest],
        cmdline: &str,
    ) -> Result<&ManifestEntry, String> {
        let k = *k;
        let same_files =
            |e: &&ManifestEntry| e.kernel.sha256 == k && e.initrds.iter().map(|s| s.sha256).eq(i.iter().copied());
        if let Some(e) = self.entries.iter().filter(same_files).find(|e| e.cmdline == cmdline) {
            return Ok(e);
        }
        if self.entries.iter().any(|e| same_files(&e)) {
            return Err("its command line is not the one signed (edited, or changed in the config)".into());
        }
        if !self.entries.iter().any(|e| e.kernel.sha256 == k) {
            return Err(format!(
                "its kernel (sha256 {}…) is not in the signed manifest",
                &hex(&k)[..12]
            ));
        }
        Err("its initrds are not the ones signed with this kernel".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            entries: vec![ManifestEntry {
                title: "Debian GNU/Linux".into(),
                kernel: FileSum {
                    sha256: sha256(b"kernel"),
                    path: "/vmlinuz-6.1".into(),
                },
                initrds: vec![
                    FileSum {
                        sha256: sha256(b"ucode"),
                        path: "/intel-ucode.img".into(),
                    },
                    FileSum {
                        sha256: sha256(b"initrd"),
                        path: "/initrd.img-6.1".into(),
                    },
                ],
                cmdline: "root=UUID=1234 ro quiet".into(),
            }],
        }
    }

    #[test]
    fn render_parses_back() {
        let m = sample();
        let text = m.render("signed by a test\nsecond line");
        assert!(text.starts_with("hopboot-manifest 1\n# signed by a test\n# second line\n"));
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        // Lines end with a line feed only: a carriage return is content, and a
        // command line with one is not the one signed.
        // (a CRLF manifest is refused as a whole, from its first line).
        assert_eq!(Manifest::parse(&text.replace('\n', "\r\n")).unwrap_err().line, 1);
        let cr = text.replace("quiet\n", "quiet\r\n");
        assert_eq!(
            Manifest::parse(&cr).unwrap().entries[0].cmdline,
            "root=UUID=1234 ro quiet\r"
        );
    }

    #[test]
    fn only_the_exact_files_and_command_line_are_allowed() {
        let m = sample();
        let ok = m.allows(b"kernel", &[b"ucode", b"initrd"], "root=UUID=1234 ro quiet");
        assert_eq!(ok.unwrap().title, "Debian GNU/Linux");
        let why = |k: &[u8], i: &[&[u8]], c: &str| m.allows(k, i, c).unwrap_err();
        assert!(why(
            b"kernel",
            &[b"ucode", b"initrd"],
            "root=UUID=1234 ro quiet init=/bin/sh"
        )
        .contains("command line"));
        assert!(why(b"kernel", &[b"ucode", b"initrd"], "root=UUID=1234 ro quiet ").contains("command line"));
        assert!(why(b"kernel", &[b"initrd", b"ucode"], "root=UUID=1234 ro quiet").contains("initrds"));
        assert!(why(b"kernel", &[b"initrd"], "root=UUID=1234 ro quiet").contains("initrds"));
        assert!(why(b"kernel", &[b"ucode", b"initrd", b"x"], "root=UUID=1234 ro quiet").contains("initrds"));
        assert!(why(b"kernel!", &[b"ucode", b"initrd"], "root=UUID=1234 ro quiet").contains("kernel"));
        assert!(Manifest::default().allows(b"", &[], "").is_err());
    }

    #[test]
    fn an_empty_command_line_and_no_initrd() {
        let text = format!(
            "hopboot-manifest 1\nentry x\nkernel sha256:{} k\ncmdline\n",
            hex(&sha256(b"k"))
        );
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(m.entries[0].cmdline, "");
        assert!(m.allows(b"k", &[], "").is_ok());
        assert!(m.allows(b"k", &[b""], "").is_err());
    }

    #[test]
    fn anything_unexpected_refuses_the_whole_manifest() {
        let d = hex(&sha256(b"k"));
        let bad = [
            "".to_string(),
            "hopboot-manifest 2\n".into(),
            format!("entry x\nkernel sha256:{d} k\ncmdline\n"),
            format!("hopboot-manifest 1\nkernel sha256:{d} k\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\n"),
            "hopboot-manifest 1\nentry x\ncmdline\n".into(),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\nkernel sha256:{d} k\ncmdline\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\ncmdline a\ncmdline b\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\ncmdline a\ninitrd sha256:{d} i\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha1:{d} k\ncmdline\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{} k\ncmdline\n", &d[1..]),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{}g k\ncmdline\n", &d[1..]),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\noptions x\ncmdline\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\ncmdline\nentry y\n"),
            format!("hopboot-manifest 1\nentry x\nkernel sha256:{d} k\ncmdline\nentry y\nkernel sha256:{d} k\n"),
        ];
        for t in &bad {
            assert!(Manifest::parse(t).is_err(), "{t:?}");
        }
        let many = format!(
            "hopboot-manifest 1\n{}",
            format!("entry x\nkernel sha256:{d} k\ncmdline\n").repeat(MAX_ENTRIES + 1)
        );
        assert!(Manifest::parse(&many).unwrap_err().why.contains("4096"));
    }
}
