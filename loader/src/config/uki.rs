//! Unified Kernel Images (BLS type #2, `/EFI/Linux/*.efi`): a PE stub with
//! the kernel, initrd, command line and os-release in named sections.
//!
//! Only the PE headers and the section table are parsed (goblin's
//! `pe::header`), not imports, exports, resources or certificates: a UKI needs
//! nothing else, and every parser we skip is attack surface we don't have.
//! goblin has had arithmetic panics on hostile PE files, so [`parse`] also
//! runs it under `catch_unwind`.
//!
//! Section contents follow systemd-stub(7) and the UAPI.5 UKI specification:
//! `.linux`, `.initrd`, `.ucode`, `.cmdline`, `.osrel`, `.uname`. In a
//! multi-profile UKI (sections after a `.profile` section) we use profile 0,
//! which is what systemd-stub boots by default: the base sections, overridden
//! by those between the first and second `.profile`.

use std::ops::Range;

/// Largest `.cmdline`, `.osrel` or `.uname` read as text; longer ones are cut.
const MAX_TEXT: usize = 64 << 10;
/// Most sections looked at: the PE format itself stops at 96.
const MAX_SECTIONS: usize = 256;

/// Why a file is not a usable UKI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UkiError {
    /// No valid DOS/PE header, or no PE optional header.
    #[error("not a PE image: {0}")]
    NotPe(String),
    /// A PE image without a `.linux` section (a plain EFI program).
    #[error("no .linux section: an EFI program, not a unified kernel image")]
    NoLinuxSection,
    /// The `.linux` section has no bytes.
    #[error("the .linux section is empty")]
    EmptyLinuxSection,
    /// A section's bytes lie (partly) beyond the end of the file.
    #[error("section {name} (bytes {offset}..+{len}) lies outside the {file_len}-byte file")]
    SectionOutOfFile {
        /// Section name.
        name: String,
        /// File offset of its data.
        offset: u64,
        /// Its length.
        len: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// More sections than any real UKI has.
    #[error("{0} sections: too many for a unified kernel image")]
    TooManySections(usize),
    /// The PE parser panicked on this input (a bug in goblin; reported, not fatal).
    #[error("the PE parser crashed on this file (goblin bug)")]
    ParserPanic,
}

/// What a UKI carries. Ranges are file offsets and lengths of section data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uki {
    /// `.linux`: the kernel image (offset, length).
    pub linux: (u64, u64),
    /// `.initrd` (offset, length).
    pub initrd: Option<(u64, u64)>,
    /// `.ucode`: early microcode cpio, loaded before `.initrd` (offset, length).
    pub ucode: Option<(u64, u64)>,
    /// `.cmdline`, up to the first NUL, trailing whitespace trimmed.
    pub cmdline: Option<String>,
    /// `.osrel` parsed as os-release(5), in file order.
    pub os_release: Vec<(String, String)>,
    /// `.uname`: the kernel version (`uname -r`).
    pub uname: Option<String>,
}

impl Uki {
    /// An os-release value (last assignment wins).
    pub fn os_release_get(&self, key: &str) -> Option<&str> {
        self.os_release
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Menu title, as systemd-boot makes it: `PRETTY_NAME`, else `NAME
    /// VERSION_ID`, else `Linux <uname>`.
    pub fn title(&self) -> String {
        let get = |k: &str| self.os_release_get(k).filter(|v| !v.trim().is_empty());
        if let Some(p) = get("PRETTY_NAME") {
            return p.to_string();
        }
        match (get("NAME"), get("VERSION_ID")) {
            (Some(n), Some(v)) => return format!("{n} {v}"),
            (Some(n), None) => return n.to_string(),
            _ => {}
        }
        match &self.uname {
            Some(u) => format!("Linux {u}"),
            None => "Linux".to_string(),
        }
    }

    /// Version for sorting and display: `.uname`, else `VERSION_ID`.
    pub fn version(&self) -> Option<String> {
        self.uname
            .clone()
            .or_else(|| self.os_release_get("VERSION_ID").map(str::to_string))
    }
}

/// Parses a UKI held in memory. Never panics: a goblin panic becomes
/// [`UkiError::ParserPanic`].
pub fn parse(bytes: &[u8]) -> Result<Uki, UkiError> {
    std::panic::catch_unwind(|| parse_inner(bytes)).unwrap_or(Err(UkiError::ParserPanic))
}

/// One section: its name and data range in the file.
struct Section {
    name: String,
    data: Range<u64>,
}

fn sections(bytes: &[u8]) -> Result<Vec<Section>, UkiError> {
    let header = goblin::pe::header::Header::parse(bytes).map_err(|e| UkiError::NotPe(e.to_string()))?;
    if header.signature != goblin::pe::header::PE_MAGIC {
        return Err(UkiError::NotPe("no 'PE\\0\\0' signature".into()));
    }
    if header.optional_header.is_none() {
        return Err(UkiError::NotPe("no optional header (an object file?)".into()));
    }
    let n = usize::from(header.coff_header.number_of_sections);
    if n > MAX_SECTIONS {
        return Err(UkiError::TooManySections(n));
    }
    // Section table: after the signature, the COFF header and the optional header.
    let mut offset = usize::try_from(header.dos_header.pe_pointer)
        .ok()
        .and_then(|p| p.checked_add(goblin::pe::header::SIZEOF_PE_MAGIC))
        .and_then(|p| p.checked_add(goblin::pe::header::SIZEOF_COFF_HEADER))
        .and_then(|p| p.checked_add(usize::from(header.coff_header.size_of_optional_header)))
        .ok_or_else(|| UkiError::NotPe("section table offset overflows".into()))?;
    let table = header
        .coff_header
        .sections(bytes, &mut offset)
        .map_err(|e| UkiError::NotPe(format!("section table: {e}")))?;
    let file_len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    table
        .iter()
        .map(|s| {
            let raw = &s.name;
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            let name = String::from_utf8_lossy(raw.get(..end).unwrap_or(raw)).into_owned();
            // virtual_size is the payload's real length (size_of_raw_data is
            // padded to the file alignment); 0 means "not set": use the raw size.
            let len = match s.virtual_size {
                0 => s.size_of_raw_data,
                v => v.min(s.size_of_raw_data),
            };
            let start = u64::from(s.pointer_to_raw_data);
            let stop = start.checked_add(u64::from(len)).filter(|e| *e <= file_len);
            match stop {
                Some(stop) => Ok(Section {
                    name,
                    data: start..stop,
                }),
                None => Err(UkiError::SectionOutOfFile {
                    name,
                    offset: start,
                    len: u64::from(len),
                    file_len,
                }),
            }
        })
        .collect()
}

/// Text of a section: up to the first NUL and at most [`MAX_TEXT`] bytes,
/// lossy UTF-8, trailing whitespace trimmed.
fn text(bytes: &[u8], r: &Range<u64>) -> String {
    let start = usize::try_from(r.start).unwrap_or(usize::MAX);
    let end = usize::try_from(r.end).unwrap_or(usize::MAX);
    let data = bytes.get(start..end).unwrap_or(&[]);
    let data = data.get(..MAX_TEXT).unwrap_or(data);
    let data = data.split(|b| *b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(data).trim_end().to_string()
}

fn parse_inner(bytes: &[u8]) -> Result<Uki, UkiError> {
    let all = sections(bytes)?;
    // Profile 0: sections before the first `.profile`, overridden by those
    // between the first and the second one.
    let mut profile = 0usize;
    let mut chosen: Vec<&Section> = Vec::new();
    for s in &all {
        if s.name == ".profile" {
            profile += 1;
            continue;
        }
        if profile > 1 {
            break;
        }
        if profile == 1 {
            chosen.retain(|c| c.name != s.name);
        }
        if !chosen.iter().any(|c| c.name == s.name) {
            chosen.push(s);
        }
    }
    let find = |name: &str| chosen.iter().find(|s| s.name == name).map(|s| &s.data);
    let span = |r: &Range<u64>| (r.start, r.end.saturating_sub(r.start));
    let linux = find(".linux").ok_or(UkiError::NoLinuxSection)?;
    if linux.is_empty() {
        return Err(UkiError::EmptyLinuxSection);
    }
    let nonempty = |r: &&Range<u64>| !r.is_empty();
    Ok(Uki {
        linux: span(linux),
        initrd: find(".initrd").filter(nonempty).map(span),
        ucode: find(".ucode").filter(nonempty).map(span),
        cmdline: find(".cmdline").map(|r| text(bytes, r).trim_start().to_string()),
        os_release: find(".osrel")
            .map(|r| parse_os_release(&text(bytes, r)))
            .unwrap_or_default(),
        uname: find(".uname")
            .map(|r| text(bytes, r).trim().to_string())
            .filter(|u| !u.is_empty()),
    })
}

/// Parses os-release(5) text: `KEY=value` lines, `#` comments, values in
/// shell-style quoting (`"..."` with `\` escaping `"`, `\`, `$` and `` ` ``;
/// `'...'` literal; outside quotes `\` escapes any character).
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().take(1024) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.push((key.to_string(), unquote(raw.trim())));
    }
    out
}

fn unquote(raw: &str) -> String {
    let mut v = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => v.push(e),
                            Some(e) => {
                                v.push('\\');
                                v.push(e);
                            }
                            None => v.push('\\'),
                        },
                        c => v.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    v.push(c);
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    v.push(e);
                }
            }
            c => v.push(c),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

    const OS_RELEASE: &str = "NAME=\"Fedora Linux\"\nVERSION=\"39 (Workstation Edition)\"\nID=fedora\n\
        VERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39 (Workstation Edition)\"\n\
        CPE_NAME=\"cpe:/o:fedoraproject:fedora:39\"\nHOME_URL='https://fedoraproject.org/'\n";

    /// Where to put new sections: above the stub's own, as ukify does.
    fn free_vma(stub: &[u8]) -> u64 {
        let h = goblin::pe::header::Header::parse(stub).unwrap();
        let base = h.optional_header.unwrap().windows_fields.image_base;
        let mut off = h.dos_header.pe_pointer as usize + 4 + 20 + h.coff_header.size_of_optional_header as usize;
        let end = h
            .coff_header
            .sections(stub, &mut off)
            .unwrap()
            .iter()
            .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size.max(s.size_of_raw_data)))
            .max()
            .unwrap();
        (base + end + 0xffff) & !0xffff
    }

    /// Builds a real UKI with objcopy from systemd's stub, with small fake
    /// payloads; `extra` adds more `(section, contents)` after the standard ones.
    fn build_uki(dir: &Path, cmdline: &[u8], extra: &[(&str, &[u8])]) -> (PathBuf, Vec<u8>, Vec<u8>) {
        let stub = std::fs::read(STUB).unwrap_or_else(|e| {
            panic!("{STUB}: {e}: install systemd-boot-efi (Debian: apt-get install systemd-boot-efi)")
        });
        let linux: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let initrd: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 241) as u8).collect();
        let mut sections: Vec<(String, Vec<u8>)> = vec![
            (".osrel".into(), OS_RELEASE.as_bytes().to_vec()),
            (".cmdline".into(), cmdline.to_vec()),
            (".uname".into(), b"6.5.6-300.fc39.x86_64\n".to_vec()),
            (".initrd".into(), initrd.clone()),
            (".linux".into(), linux.clone()),
        ];
        sections.extend(extra.iter().map(|(n, c)| (n.to_string(), c.to_vec())));
        let mut vma = free_vma(&stub);
        let mut cmd = Command::new("objcopy");
        for (i, (name, data)) in sections.iter().enumerate() {
            let f = dir.join(format!("sec{i}"));
            std::fs::write(&f, data).unwrap();
            cmd.arg("--add-section").arg(format!("{name}={}", f.display()));
            cmd.arg("--change-section-vma").arg(format!("{name}={vma:#x}"));
            vma += ((data.len() as u64).max(1) + 0xffff) & !0xffff;
        }
        let out = dir.join("uki.efi");
        let st = cmd.arg(STUB).arg(&out).status().expect("objcopy (binutils) is needed");
        assert!(st.success(), "objcopy failed");
        (out, linux, initrd)
    }

    fn slice(bytes: &[u8], (off, len): (u64, u64)) -> &[u8] {
        &bytes[off as usize..(off + len) as usize]
    }

    #[test]
    fn real_uki_from_systemd_stub() {
        let d = tempfile::tempdir().unwrap();
        let (path, linux, initrd) = build_uki(d.path(), b"root=/dev/vda2 ro quiet\n\0", &[]);
        let bytes = std::fs::read(&path).unwrap();
        let u = parse(&bytes).unwrap();
        assert_eq!(slice(&bytes, u.linux), &linux[..]);
        assert_eq!(slice(&bytes, u.initrd.unwrap()), &initrd[..]);
        assert_eq!(u.cmdline.as_deref(), Some("root=/dev/vda2 ro quiet"));
        assert_eq!(u.uname.as_deref(), Some("6.5.6-300.fc39.x86_64"));
        assert_eq!(u.ucode, None);
        assert_eq!(u.title(), "Fedora Linux 39 (Workstation Edition)");
        assert_eq!(u.version().as_deref(), Some("6.5.6-300.fc39.x86_64"));
        assert_eq!(u.os_release_get("HOME_URL"), Some("https://fedoraproject.org/"));
    }

    #[test]
    fn the_stub_alone_is_not_a_uki() {
        let stub = std::fs::read(STUB).unwrap_or_else(|e| panic!("{STUB}: {e}: install systemd-boot-efi"));
        assert_eq!(parse(&stub), Err(UkiError::NoLinuxSection));
    }

    /// Multi-profile UKI: profile 0 overrides `.cmdline`; later profiles are ignored.
    #[test]
    fn profile_zero_overrides_base_sections() {
        let d = tempfile::tempdir().unwrap();
        // objcopy refuses duplicate names: add placeholders, then rename
        // them in the section table (in the headers, before the first section).
        let extra: [(&str, &[u8]); 4] = [
            (".prof_1", b"ID=default\n"),
            (".cmdl_1", b"root=/dev/vda2 ro profile0"),
            (".prof_2", b"ID=rescue\n"),
            (".cmdl_2", b"root=/dev/vda2 ro rescue"),
        ];
        let (path, linux, _) = build_uki(d.path(), b"root=/dev/vda2 ro base", &extra);
        let mut bytes = std::fs::read(&path).unwrap();
        for (from, to) in [(".prof_", ".profile"), (".cmdl_", ".cmdline")] {
            for n in 1..=2 {
                let mut pat = format!("{from}{n}").into_bytes();
                pat.push(0);
                let at = bytes[..1024].windows(pat.len()).position(|w| w == &pat[..]).unwrap();
                bytes[at..at + 8].copy_from_slice(to.as_bytes());
            }
        }
        let u = parse(&bytes).unwrap();
        assert_eq!(u.cmdline.as_deref(), Some("root=/dev/vda2 ro profile0"));
        assert_eq!(slice(&bytes, u.linux), &linux[..]);
    }

    #[test]
    fn truncated_and_corrupted_ukis_fail_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let (path, _, _) = build_uki(d.path(), b"quiet", &[]);
        let bytes = std::fs::read(&path).unwrap();
        // Every offset through the headers, then sampled.
        let mut cuts: Vec<usize> = (0..2048.min(bytes.len())).collect();
        cuts.extend((2048..bytes.len()).step_by(97));
        for n in cuts {
            match parse(&bytes[..n]) {
                Ok(u) => assert!(u.linux.0 + u.linux.1 <= n as u64),
                Err(e) => assert_ne!(e, UkiError::ParserPanic, "cut at {n}"),
            }
        }
        // Byte flips with a fixed seed.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut b = bytes.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % 1024.min(b.len() as u64)) as usize;
                b[i] ^= (seed >> 32) as u8 | 1;
            }
            if let Ok(u) = parse(&b) {
                assert!(u.linux.0 + u.linux.1 <= b.len() as u64);
            }
        }
    }

    #[test]
    fn garbage_is_not_pe() {
        assert!(matches!(parse(b""), Err(UkiError::NotPe(_))));
        assert!(matches!(parse(b"MZ"), Err(UkiError::NotPe(_))));
        assert!(matches!(parse(&[0u8; 4096]), Err(UkiError::NotPe(_))));
        let mut bz = vec![0u8; 4096];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert!(matches!(parse(&bz), Err(UkiError::NotPe(_))));
    }

    #[test]
    fn os_release_quoting() {
        let v = parse_os_release(
            "# comment\nNAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\nPRETTY_NAME='It''s \"fine\"'\n\
             ANSI=\"0;36\\\" \\$x \\n\"\nBAD KEY=1\nnovalue\nEMPTY=\nPLAIN=a\\ b\n",
        );
        let get = |k: &str| v.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NAME"), Some("Arch Linux"));
        assert_eq!(get("ID"), Some("arch"));
        assert_eq!(get("PRETTY_NAME"), Some("Its \"fine\""));
        assert_eq!(get("ANSI"), Some("0;36\" $x \\n"));
        assert_eq!(get("EMPTY"), Some(""));
        assert_eq!(get("PLAIN"), Some("a b"));
        assert_eq!(get("BAD KEY"), None);
        assert_eq!(
            parse_os_release("X=\"unterminated\n"),
            [("X".into(), "unterminated".into())]
        );
    }

    #[test]
    fn title_fallbacks() {
        let mut u = Uki {
            uname: Some("6.6.1-arch1-1".into()),
            ..Default::default()
        };
        assert_eq!(u.title(), "Linux 6.6.1-arch1-1");
        u.os_release = parse_os_release("NAME=\"Arch Linux\"\nVERSION_ID=20240101\n");
        assert_eq!(u.title(), "Arch Linux 20240101");
        u.uname = None;
        assert_eq!(u.version().as_deref(), Some("20240101"));
        assert_eq!(Uki::default().title(), "Linux");
    }
}
