//! Unified Kernel Images (BLS type #2, `/EFI/Linux/*.efi`): a PE stub with
//! the kernel, initrd, command line and os-release in named sections.
//!
//! Only the PE headers and the section table are parsed (goblin's
//! `pe::header`), not imports, exports, resources or certificates: a UKI needs
//! nothing else, and every parser we skip is attack surface we don't have.
//! goblin has had arithmetic panics on hostile PE files, so it runs under
//! `catch_unwind`.
//!
//! A UKI is 30-100 MB (it carries the kernel and initrd), so it is never read
//! whole: [`read`] reads the first bytes for the headers and section table
//! (more only when the table lies further, at most [`MAX_HEADER_BYTES`]), then
//! the `.osrel`, `.cmdline` and `.uname` sections, each at most [`MAX_TEXT`]
//! bytes. [`read_layout`] stops after the section table: the loader reads
//! `.linux`, `.ucode` and `.initrd` itself, by range. [`parse`] runs the same
//! code over a file held in memory.
//!
//! Section contents follow systemd-stub(7) and the UAPI.5 UKI specification:
//! `.linux`, `.initrd`, `.ucode`, `.cmdline`, `.osrel`, `.uname`. In a
//! multi-profile UKI (sections after a `.profile` section) we use profile 0,
//! which is what systemd-stub boots by default: the base sections, overridden
//! by those between the first and second `.profile`.

use crate::fs::{FsError, FsView, MAX_IMAGE_BYTES};
use std::convert::Infallible;
use std::ops::Range;

/// Largest `.cmdline`, `.osrel` or `.uname` read as text; longer ones are cut
/// (only this much of them is read).
pub const MAX_TEXT: usize = 64 << 10;
/// Bytes read first: the headers and section table of any real UKI
/// (systemd's stub with a dozen sections needs under 1 KiB).
pub const HEAD_BYTES: usize = 4 << 10;
/// Most bytes of headers and section table read: PE files keep them in the
/// first few KiB, a file whose section table lies further is not a UKI.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
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
    /// Fewer bytes came back than the file's size promises (it changed while
    /// read, or its filesystem is inconsistent).
    #[error("{what}: only {got} of {want} bytes at offset {offset} could be read")]
    ShortRead {
        /// What was read: "the PE headers", a section name.
        what: String,
        /// Where.
        offset: u64,
        /// Bytes asked for.
        want: usize,
        /// Bytes returned.
        got: usize,
    },
}

/// Why a UKI could not be read from a file: the reading failed, or the
/// bytes are not a usable UKI.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// Reading failed (e.g. [`FsError`]).
    #[error(transparent)]
    Read(E),
    /// Not a usable UKI.
    #[error(transparent)]
    Uki(#[from] UkiError),
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
    /// An os-release value (last assignment wins), as written (possibly empty).
    pub fn os_release_get(&self, key: &str) -> Option<&str> {
        self.os_release
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first of `keys` set to a non-empty value: systemd-boot treats an
    /// empty value (`PRETTY_NAME=""`) as unset.
    fn first_set(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.os_release_get(k).filter(|v| !v.is_empty()))
    }

    /// Menu title, as systemd-boot 252 and 254 pick it: `PRETTY_NAME`, else
    /// `IMAGE_ID`, else `NAME`, else `ID` (nothing else: no version is
    /// appended, `.uname` is not read). `None` when the `.osrel` has none of
    /// them (or there is no `.osrel`): systemd-boot then does not list the
    /// UKI at all. Checked by booting both under OVMF
    /// (tests/corpus/uki-title-fallbacks).
    pub fn title(&self) -> Option<String> {
        self.first_set(&["PRETTY_NAME", "IMAGE_ID", "NAME", "ID"])
            .map(str::to_string)
    }

    /// Version, used by systemd-boot to tell equal titles apart (`Title
    /// (version)`) and to sort entries with equal sort keys: `IMAGE_VERSION`,
    /// else `VERSION`, else `VERSION_ID`, else `BUILD_ID`. Never `.uname`
    /// (systemd-boot 252 and 254 do not read it; tests/corpus/uki-same-title).
    pub fn version(&self) -> Option<String> {
        self.first_set(&["IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID"])
            .map(str::to_string)
    }

    /// Sort key: `IMAGE_ID`, else `ID`.
    pub fn sort_key(&self) -> Option<String> {
        self.first_set(&["IMAGE_ID", "ID"]).map(str::to_string)
    }
}

/// Parses a UKI held in memory. Never panics: a goblin panic becomes
/// [`UkiError::ParserPanic`]. The same code as [`read`], over a slice.
pub fn parse(bytes: &[u8]) -> Result<Uki, UkiError> {
    let file_len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let read_at = |offset: u64, len: usize| -> Result<Vec<u8>, Infallible> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let rest = bytes.get(start..).unwrap_or_default();
        Ok(rest.get(..len.min(rest.len())).unwrap_or_default().to_vec())
    };
    read_with(file_len, read_at).map_err(|e| match e {
        ReadError::Uki(e) => e,
        ReadError::Read(never) => match never {},
    })
}

/// Reads a UKI from a filesystem: its headers and the text sections only
/// (a few KiB, whatever the size of the kernel and initrd it carries).
pub fn read(fs: &dyn FsView, path: &str) -> Result<Uki, ReadError<FsError>> {
    let len = file_len(fs, path).map_err(ReadError::Read)?;
    read_with(len, |offset, n| fs.read_range(path, offset, n))
}

/// Reads a UKI's headers and section table from a filesystem: where its
/// `.linux`, `.ucode` and `.initrd` are, to be read with [`FsView::read_range`].
pub fn read_layout(fs: &dyn FsView, path: &str) -> Result<Layout, ReadError<FsError>> {
    let len = file_len(fs, path).map_err(ReadError::Read)?;
    layout_with(len, |offset, n| fs.read_range(path, offset, n))
}

/// The size of the UKI at `path`; above [`MAX_IMAGE_BYTES`] it is refused,
/// as a kernel of that size is.
fn file_len(fs: &dyn FsView, path: &str) -> Result<u64, FsError> {
    let size = fs.size(path).ok_or_else(|| FsError::NotFound(path.to_string()))?;
    if size > MAX_IMAGE_BYTES {
        return Err(FsError::TooLarge {
            path: path.to_string(),
            size,
            limit: MAX_IMAGE_BYTES,
        });
    }
    Ok(size)
}

/// Reads a UKI of `file_len` bytes through `read_at(offset, len)`, which
/// returns `len` bytes from `offset` (fewer only at the end of the file):
/// the headers and section table, then the `.osrel`, `.cmdline` and `.uname`
/// of profile 0, each at most [`MAX_TEXT`] bytes. Never anything else.
pub fn read_with<E>(
    file_len: u64,
    mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Uki, ReadError<E>> {
    let layout = layout_with(file_len, &mut read_at)?;
    let mut section_text = |name: &str, r: &Option<Range<u64>>| -> Result<Option<String>, ReadError<E>> {
        let Some(r) = r else { return Ok(None) };
        let len = usize::try_from(r.end.saturating_sub(r.start))
            .unwrap_or(usize::MAX)
            .min(MAX_TEXT);
        let bytes = read_full(&mut read_at, name, r.start, len)?;
        Ok(Some(text(&bytes)))
    };
    let cmdline = section_text(".cmdline", &layout.cmdline)?;
    let osrel = section_text(".osrel", &layout.osrel)?;
    let uname = section_text(".uname", &layout.uname)?;
    Ok(Uki {
        linux: layout.linux,
        initrd: layout.initrd,
        ucode: layout.ucode,
        cmdline: cmdline.map(|c| c.trim_start().to_string()),
        os_release: osrel.map(|o| parse_os_release(&o)).unwrap_or_default(),
        uname: uname.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()),
    })
}

/// `len` bytes at `offset` through `read_at`, or [`UkiError::ShortRead`].
fn read_full<E>(
    read_at: &mut impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
    what: &str,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, ReadError<E>> {
    let bytes = read_at(offset, len).map_err(ReadError::Read)?;
    if bytes.len() != len {
        return Err(ReadError::Uki(UkiError::ShortRead {
            what: what.to_string(),
            offset,
            want: len,
            got: bytes.len(),
        }));
    }
    Ok(bytes)
}

/// Reads the headers and section table of a UKI of `file_len` bytes through
/// `read_at` (as in [`read_with`]): the first [`HEAD_BYTES`], more when the
/// section table lies further, never more than [`MAX_HEADER_BYTES`].
pub fn layout_with<E>(
    file_len: u64,
    mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Layout, ReadError<E>> {
    let upto = |n: usize| usize::try_from(file_len).map_or(n, |l| l.min(n));
    let mut head = read_full(&mut read_at, "the PE headers", 0, upto(HEAD_BYTES))?;
    // Each round reads more (or stops), and never past MAX_HEADER_BYTES.
    loop {
        let need = upto(headers_len(&head));
        if need <= head.len() {
            break;
        }
        if need > MAX_HEADER_BYTES {
            return Err(ReadError::Uki(UkiError::NotPe(format!(
                "the headers and section table end at byte {need}, past the first {MAX_HEADER_BYTES} bytes"
            ))));
        }
        let at = u64::try_from(head.len()).unwrap_or(u64::MAX);
        let more = read_full(&mut read_at, "the PE headers", at, need - head.len())?;
        head.extend_from_slice(&more);
    }
    parse_headers(&head, file_len).map_err(ReadError::Uki)
}

/// How many bytes from the start of the file goblin and the section table
/// need, as far as `head` tells: the DOS header, then the PE signature and
/// COFF header at `e_lfanew`, then the optional header (as goblin reads it:
/// up to 240 bytes, whatever its declared size) and the section table.
/// Answers with what it can see; the caller reads that much and asks again.
fn headers_len(head: &[u8]) -> usize {
    const DOS_HEADER: usize = 64;
    /// A PE32+ optional header with all 16 data directories.
    const MAX_OPTIONAL: usize = 240;
    let le = |o: usize, n: usize| {
        head.get(o..o.checked_add(n)?)
            .map(|b| b.iter().rev().fold(0usize, |v, x| v << 8 | usize::from(*x)))
    };
    let Some(pe) = le(0x3c, 4) else { return DOS_HEADER };
    // Signature (4) + COFF header (20).
    let coff_end = pe.saturating_add(24).max(DOS_HEADER);
    let (Some(sections), Some(optional)) = (le(pe.saturating_add(6), 2), le(pe.saturating_add(20), 2)) else {
        return coff_end;
    };
    // Past MAX_SECTIONS the table is refused anyway: no need to read it.
    let table = sections.min(MAX_SECTIONS + 1).saturating_mul(40);
    coff_end
        .saturating_add(optional)
        .saturating_add(table)
        .max(coff_end.saturating_add(MAX_OPTIONAL))
}

/// Where a UKI's sections are: the kernel, initrd and microcode to load,
/// and the text sections [`read_with`] reads. Profile 0 already chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `.linux` (offset, length), never empty.
    pub linux: (u64, u64),
    /// `.initrd` (offset, length), when not empty.
    pub initrd: Option<(u64, u64)>,
    /// `.ucode` (offset, length), when not empty.
    pub ucode: Option<(u64, u64)>,
    cmdline: Option<Range<u64>>,
    osrel: Option<Range<u64>>,
    uname: Option<Range<u64>>,
}

/// Parses the PE headers and section table at the start of a file of
/// `file_len` bytes (`head`: its first bytes, as many as [`headers_len`]
/// asks, or the whole file). Never panics: a goblin panic becomes
/// [`UkiError::ParserPanic`].
fn parse_headers(head: &[u8], file_len: u64) -> Result<Layout, UkiError> {
    let all = std::panic::catch_unwind(|| sections(head, file_len)).unwrap_or(Err(UkiError::ParserPanic))?;
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
    let find = |name: &str| chosen.iter().find(|s| s.name == name).map(|s| s.data.clone());
    let span = |r: Range<u64>| (r.start, r.end.saturating_sub(r.start));
    let linux = find(".linux").ok_or(UkiError::NoLinuxSection)?;
    if linux.is_empty() {
        return Err(UkiError::EmptyLinuxSection);
    }
    let nonempty = |r: &Range<u64>| !r.is_empty();
    Ok(Layout {
        linux: span(linux),
        initrd: find(".initrd").filter(nonempty).map(span),
        ucode: find(".ucode").filter(nonempty).map(span),
        cmdline: find(".cmdline"),
        osrel: find(".osrel"),
        uname: find(".uname"),
    })
}

/// One section: its name and data range in the file.
struct Section {
    name: String,
    data: Range<u64>,
}

/// The section table, from the headers in `bytes` (the start of a file of
/// `file_len` bytes); every section's data must lie inside the file.
fn sections(bytes: &[u8], file_len: u64) -> Result<Vec<Section>, UkiError> {
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

/// Text of a section's first bytes (at most [`MAX_TEXT`]): up to the first
/// NUL, lossy UTF-8, trailing whitespace trimmed.
fn text(data: &[u8]) -> String {
    let data = data.get(..MAX_TEXT).unwrap_or(data);
    let data = data.split(|b| *b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(data).trim_end().to_string()
}

/// Parses a UKI's `.osrel` the way systemd-boot reads it (not os-release(5)'s
/// shell quoting): lines end at `\n` or `\r`; each is trimmed of spaces and
/// tabs; `#` starts a comment; the key is everything before the first `=` (a
/// line without `=` is skipped), the value everything after the run of `=`;
/// a value that starts with `"` on a line that ends with `"` loses those two
/// quotes, and that is all: no escapes, single quotes stay (`PRETTY_NAME='X'`
/// shows as `'X'`). Checked against systemd-boot 252 and 254 under OVMF
/// (tests/corpus/uki-title-fallbacks).
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.split(['\n', '\r']).take(1024) {
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim_start_matches('=');
        let value = match value.strip_prefix('"') {
            Some(inner) if line.ends_with('"') => inner.strip_suffix('"').unwrap_or(inner),
            _ => value,
        };
        out.push((key.to_string(), value.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    const OS_RELEASE: &str = "NAME=\"Fedora Linux\"\nVERSION=\"39 (Workstation Edition)\"\nID=fedora\n\
        VERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39 (Workstation Edition)\"\n\
        CPE_NAME=\"cpe:/o:fedoraproject:fedora:39\"\nHOME_URL='https://fedoraproject.org/'\n";

    /// Builds a real UKI with objcopy from systemd's stub, with small fake
    /// payloads; `extra` adds more `(section, contents)` after the standard ones.
    fn build_uki(dir: &Path, cmdline: &[u8], extra: &[(&str, &[u8])]) -> (PathBuf, Vec<u8>, Vec<u8>) {
        let linux: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let initrd: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 241) as u8).collect();
        let mut sections: Vec<(&str, &[u8])> = vec![
            (".osrel", OS_RELEASE.as_bytes()),
            (".cmdline", cmdline),
            (".uname", b"6.5.6-300.fc39.x86_64\n"),
            (".initrd", &initrd),
            (".linux", &linux),
        ];
        sections.extend_from_slice(extra);
        let out = dir.join("uki.efi");
        hopboot_qemu::uki::build_from_bytes(&out, &sections).unwrap_or_else(|e| panic!("{e:#}"));
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
        assert_eq!(u.title().as_deref(), Some("Fedora Linux 39 (Workstation Edition)"));
        assert_eq!(u.version().as_deref(), Some("39 (Workstation Edition)"));
        assert_eq!(u.os_release_get("HOME_URL"), Some("'https://fedoraproject.org/'"));
    }

    #[test]
    fn the_stub_alone_is_not_a_uki() {
        let stub_path = hopboot_qemu::uki::efi_stub().unwrap_or_else(|e| panic!("{e:#}"));
        let stub = std::fs::read(&stub_path).unwrap_or_else(|e| panic!("{}: {e}", stub_path.display()));
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
        // The headers end at the optional header's SizeOfHeaders (the section
        // table's place differs between systemd versions' stubs).
        let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let headers = le32(&bytes, le32(&bytes, 0x3c) + 24 + 60);
        for (from, to) in [(".prof_", ".profile"), (".cmdl_", ".cmdline")] {
            for n in 1..=2 {
                let mut pat = format!("{from}{n}").into_bytes();
                pat.push(0);
                let at = bytes[..headers].windows(pat.len()).position(|w| w == &pat[..]).unwrap();
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

    /// One read: (offset, length asked, length returned).
    type Read = (u64, usize, usize);

    /// Parses `bytes` with `read_with`, and every read it made.
    fn recorded(bytes: &[u8]) -> (Result<Uki, UkiError>, Vec<Read>) {
        let mut log = Vec::new();
        let r = read_with(bytes.len() as u64, |off, len| {
            let start = (off as usize).min(bytes.len());
            let got = bytes[start..(start + len).min(bytes.len())].to_vec();
            log.push((off, len, got.len()));
            Ok::<_, Infallible>(got)
        });
        (
            r.map_err(|e| match e {
                ReadError::Uki(e) => e,
                ReadError::Read(n) => match n {},
            }),
            log,
        )
    }

    /// Only the first 4 KiB and the three text sections are read, each once
    /// and exactly: never a byte of `.linux` or `.initrd`.
    #[test]
    fn reads_headers_and_text_sections_only() {
        let d = tempfile::tempdir().unwrap();
        let (path, _, _) = build_uki(d.path(), b"root=/dev/vda2 ro quiet\n", &[]);
        let bytes = std::fs::read(&path).unwrap();
        let (u, log) = recorded(&bytes);
        let u = u.unwrap();
        assert_eq!(u.cmdline.as_deref(), Some("root=/dev/vda2 ro quiet"));
        assert_eq!(u.uname.as_deref(), Some("6.5.6-300.fc39.x86_64"));
        assert_eq!(u.title().as_deref(), Some("Fedora Linux 39 (Workstation Edition)"));
        assert_eq!(log[0], (0, HEAD_BYTES, HEAD_BYTES), "{log:?}");
        let text_lens = [OS_RELEASE.len(), 24, 22];
        assert_eq!(log.len(), 4, "{log:?}");
        let mut lens: Vec<usize> = log[1..].iter().map(|r| r.1).collect();
        lens.sort();
        let mut want = text_lens.to_vec();
        want.sort();
        assert_eq!(lens, want, "{log:?}");
        for &(off, len, got) in &log[1..] {
            assert_eq!(len, got);
            for (s, l) in [u.linux, u.initrd.unwrap()] {
                assert!(
                    off + len as u64 <= s || off >= s + l,
                    "read {off}+{len} overlaps {s}+{l}"
                );
            }
        }
        assert_eq!(parse(&bytes).unwrap(), u);
    }

    /// A long `.cmdline` is cut at MAX_TEXT, and only that much of it is read.
    #[test]
    fn long_text_sections_are_read_up_to_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let long = vec![b'x'; 3 * MAX_TEXT];
        let (path, _, _) = build_uki(d.path(), &long, &[]);
        let bytes = std::fs::read(&path).unwrap();
        let (u, log) = recorded(&bytes);
        assert_eq!(u.unwrap().cmdline.map(|c| c.len()), Some(MAX_TEXT));
        assert!(log.iter().any(|r| r.1 == MAX_TEXT), "{log:?}");
        assert!(log.iter().all(|r| r.1 <= MAX_TEXT), "{log:?}");
    }

    /// `pad` zero bytes between the DOS stub and the PE header (e_lfanew and
    /// every section's file offset moved along).
    fn with_padding(bytes: &[u8], pad: usize) -> Vec<u8> {
        let le32 = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let pe = le32(bytes, 0x3c) as usize;
        let mut out = bytes[..pe].to_vec();
        out.resize(pe + pad, 0);
        out.extend_from_slice(&bytes[pe..]);
        out[0x3c..0x40].copy_from_slice(&((pe + pad) as u32).to_le_bytes());
        let pe = pe + pad;
        let n = u16::from_le_bytes([out[pe + 6], out[pe + 7]]) as usize;
        let opt = u16::from_le_bytes([out[pe + 20], out[pe + 21]]) as usize;
        for i in 0..n {
            let at = pe + 24 + opt + i * 40 + 20;
            let raw = le32(&out, at);
            if raw != 0 {
                out[at..at + 4].copy_from_slice(&(raw + pad as u32).to_le_bytes());
            }
        }
        out
    }

    /// A section table past the first read is read with more reads; one past
    /// MAX_HEADER_BYTES is refused with a clear error.
    #[test]
    fn section_table_beyond_the_first_read() {
        let d = tempfile::tempdir().unwrap();
        let (path, linux, initrd) = build_uki(d.path(), b"quiet", &[]);
        let bytes = std::fs::read(&path).unwrap();
        // The COFF header past the first 4 KiB; then only its section table.
        for pad in [20_000, HEAD_BYTES - 0x80] {
            let far = with_padding(&bytes, pad);
            let (u, log) = recorded(&far);
            let u = u.unwrap_or_else(|e| panic!("pad {pad}: {e}"));
            assert_eq!(slice(&far, u.linux), &linux[..]);
            assert_eq!(slice(&far, u.initrd.unwrap()), &initrd[..]);
            assert_eq!(u.cmdline.as_deref(), Some("quiet"));
            // The header reads: contiguous from byte 0, more than one, and
            // ending a little past the section table (not at the file's end).
            let mut header_bytes = 0;
            let mut reads = 0;
            for r in &log {
                if r.0 != header_bytes as u64 {
                    break;
                }
                header_bytes += r.2;
                reads += 1;
            }
            assert!(reads >= 2 && header_bytes < pad + 0x80 + 2048, "pad {pad}: {log:?}");
            assert_eq!(log.len(), reads + 3, "pad {pad}: {log:?}");
        }
        let far = with_padding(&bytes, MAX_HEADER_BYTES);
        let (u, log) = recorded(&far);
        match u {
            Err(UkiError::NotPe(m)) => assert!(m.contains("past the first 65536 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(log.len(), 1, "{log:?}");
    }

    /// A file that gives fewer bytes than its size promises (a filesystem at
    /// odds with itself): a clear error for headers and sections alike.
    #[test]
    fn short_reads_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let (path, _, _) = build_uki(d.path(), b"quiet", &[]);
        let bytes = std::fs::read(&path).unwrap();
        // Inside the DOS header, the PE headers, and the .cmdline section.
        let cmdline = bytes.windows(5).rposition(|w| w == b"quiet").unwrap();
        for stop in [0, 30, 100, 2000, cmdline + 2] {
            let r = read_with(bytes.len() as u64, |off, len| {
                let end = (off as usize + len).min(stop);
                Ok::<_, Infallible>(bytes[(off as usize).min(end)..end].to_vec())
            });
            match r {
                Err(ReadError::Uki(UkiError::ShortRead { want, got, .. })) => assert!(got < want),
                other => panic!("stop {stop}: {other:?}"),
            }
        }
        // The reader's own error comes back as it is.
        let r = read_with(bytes.len() as u64, |_, _| Err::<Vec<u8>, _>("disk gone"));
        assert!(matches!(r, Err(ReadError::Read("disk gone"))));
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
    fn os_release_as_systemd_boot_reads_it() {
        let v = parse_os_release(
            "# comment\nNAME=\"Arch Linux\"\r\nID=arch\n  BUILD_ID=rolling\t\nPRETTY_NAME='Single'\n\
             ANSI=\"0;36\\\" x\"\nBAD KEY=1\nnovalue\nEMPTY=\nQUOTES=\"\"\nHALF=\"open\nEQ==x=y\n",
        );
        let get = |k: &str| v.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NAME"), Some("Arch Linux"));
        assert_eq!(get("ID"), Some("arch"));
        assert_eq!(get("BUILD_ID"), Some("rolling"));
        // No single-quote handling, no escapes: what systemd-boot shows.
        assert_eq!(get("PRETTY_NAME"), Some("'Single'"));
        assert_eq!(get("ANSI"), Some("0;36\\\" x"));
        assert_eq!(get("BAD KEY"), Some("1"));
        assert_eq!(get("novalue"), None);
        assert_eq!(get("EMPTY"), Some(""));
        assert_eq!(get("QUOTES"), Some(""));
        assert_eq!(get("HALF"), Some("\"open"));
        assert_eq!(get("EQ"), Some("x=y"));
    }

    #[test]
    fn title_version_and_sort_key_as_systemd_boot_picks_them() {
        let mut u = Uki {
            uname: Some("6.6.1-arch1-1".into()),
            ..Default::default()
        };
        // No .osrel: systemd-boot does not list the UKI; .uname is never used.
        assert_eq!(u.title(), None);
        assert_eq!(u.version(), None);
        u.os_release = parse_os_release("VERSION_ID=5\nBUILD_ID=b5\n");
        assert_eq!(u.title(), None);
        assert_eq!(u.version().as_deref(), Some("5"));
        u.os_release = parse_os_release("NAME=\"Arch Linux\"\nVERSION_ID=20240101\nBUILD_ID=rolling\n");
        assert_eq!(u.title().as_deref(), Some("Arch Linux"));
        assert_eq!(u.version().as_deref(), Some("20240101"));
        assert_eq!(u.sort_key(), None);
        u.os_release = parse_os_release("ID=arch\nNAME=\"Arch Linux\"\nIMAGE_ID=img\nPRETTY_NAME=\"\"\n");
        assert_eq!(u.title().as_deref(), Some("img"));
        assert_eq!(u.sort_key().as_deref(), Some("img"));
        u.os_release = parse_os_release("ID=arch\nVERSION=\"v 1\"\nVERSION_ID=1\nIMAGE_VERSION=\n");
        assert_eq!(u.title().as_deref(), Some("arch"));
        assert_eq!(u.version().as_deref(), Some("v 1"));
        assert_eq!(u.sort_key().as_deref(), Some("arch"));
        // The last assignment wins, an empty one unsets.
        u.os_release = parse_os_release("PRETTY_NAME=A\nPRETTY_NAME=\"\"\nNAME=B\n");
        assert_eq!(u.title().as_deref(), Some("B"));
    }
}
