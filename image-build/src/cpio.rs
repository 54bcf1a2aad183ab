//! An in-memory writer for the "newc" cpio format, the format the kernel unpacks an initramfs from.
//!
//! The format is described in the kernel's `Documentation/driver-api/early-userspace/buffer-format.rst`:
//! each entry is a 110-byte ASCII header (magic `070701`, then 13 fields of 8 hex digits), the NUL-terminated
//! name padded so that header + name is a multiple of 4 bytes, then the data padded to a multiple of 4 bytes.
//! The archive ends with an entry named `TRAILER!!!`.
//!
//! Output is reproducible: entries are sorted by path, owners are root, inode numbers are assigned in
//! sorted order and every entry gets the same mtime.

use std::collections::BTreeMap;

/// File type bits of `st_mode` (see inode(7)).
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Mode given to parent directories that were not added explicitly.
const PARENT_DIR_MODE: u32 = 0o755;

/// Name of the entry that ends every cpio archive.
const TRAILER: &str = "TRAILER!!!";

/// What an entry is, with the data that goes with its type.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    File(Vec<u8>),
    /// `explicit` is false for directories created only because a child needed them; an explicit
    /// `add_dir` later sets the mode, an implicit parent never overrides an explicit one.
    Dir {
        explicit: bool,
    },
    CharDev {
        major: u32,
        minor: u32,
    },
    Symlink(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    /// Permission bits only (`0o7777`); the type bits come from `kind`.
    perm: u32,
}

/// An in-memory newc ("070701") archive builder.
///
/// Parent directories are added automatically (mode 0o755). [`Archive::to_newc`] writes the entries
/// sorted by path, owned by uid/gid 0, with sequential inode numbers and one mtime for all of them.
/// Adding a path that is already present replaces the earlier entry.
///
/// Paths are relative to the archive root (`"dev/console"`); a leading `/`, repeated `/` and `.`
/// components are removed.
///
/// # Panics
///
/// The `add_*` methods panic on a path that [`normalize_path`] rejects (empty, or with a `..`
/// component) and `add_file` on data of 4 GiB or more, which newc cannot describe. Callers taking
/// paths or files from users check them first with [`normalize_path`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

/// Why [`normalize_path`] rejected a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPath {
    path: String,
    reason: &'static str,
}

impl std::fmt::Display for BadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid path in archive {:?}: {}", self.path, self.reason)
    }
}

impl std::error::Error for BadPath {}

/// Returns `path` as it is stored in the archive: relative, without empty or `.` components.
///
/// Rejects paths that name the root itself, contain `..` (the kernel would follow it out of the
/// rootfs), or contain a NUL byte (names are NUL-terminated in the format).
pub fn normalize_path(path: &str) -> Result<String, BadPath> {
    let bad = |reason| BadPath {
        path: path.to_owned(),
        reason,
    };
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("contains a `..` component")),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(bad("names the archive root"));
    }
    Ok(parts.join("/"))
}

impl Archive {
    /// Returns an empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a regular file with permission bits `mode` (e.g. `0o755`).
    pub fn add_file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        assert!(
            u32::try_from(data.len()).is_ok(),
            "cpio: {path:?} is {} bytes, newc cannot store files of 4 GiB or more",
            data.len()
        );
        self.insert(path, Kind::File(data), mode);
    }

    /// Adds a directory with permission bits `mode`.
    pub fn add_dir(&mut self, path: &str, mode: u32) {
        self.insert(path, Kind::Dir { explicit: true }, mode);
    }

    /// Adds a character device node `major:minor` with permission bits `mode`.
    pub fn add_char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.insert(path, Kind::CharDev { major, minor }, mode);
    }

    /// Adds a symbolic link pointing at `target` (stored as is; links have mode 0o777).
    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Kind::Symlink(target.to_owned()), 0o777);
    }

    /// Returns true if `path` (normalized as by [`normalize_path`]) is in the archive, including
    /// directories that were added implicitly as parents.
    pub fn contains(&self, path: &str) -> bool {
        normalize_path(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// Returns the number of entries, parent directories included, trailer excluded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, path: &str, kind: Kind, mode: u32) {
        let path = normalize_path(path).unwrap_or_else(|e| panic!("cpio: {e}"));
        // Every proper prefix ending before a '/' is a parent directory.
        for (i, _) in path.match_indices('/') {
            if let Some(parent) = path.get(..i) {
                self.entries.entry(parent.to_owned()).or_insert(Entry {
                    kind: Kind::Dir { explicit: false },
                    perm: PARENT_DIR_MODE,
                });
            }
        }
        self.entries.insert(
            path,
            Entry {
                kind,
                perm: mode & 0o7777,
            },
        );
    }

    /// Serializes the archive in newc format, every entry with modification time `mtime`.
    ///
    /// The same entries and `mtime` always give the same bytes.
    pub fn to_newc(&self, mtime: u32) -> Vec<u8> {
        let data_len: usize = self
            .entries
            .iter()
            .map(|(path, e)| 120 + path.len() + payload(&e.kind).len())
            .sum();
        let mut out = Vec::with_capacity(data_len + 128);
        // Inode 0 is avoided: some tools treat it as "no inode".
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let (type_bits, nlink, rdev) = match &entry.kind {
                Kind::File(_) => (S_IFREG, 1, (0, 0)),
                Kind::Dir { .. } => (S_IFDIR, 2, (0, 0)),
                Kind::CharDev { major, minor } => (S_IFCHR, 1, (*major, *minor)),
                Kind::Symlink(_) => (S_IFLNK, 1, (0, 0)),
            };
            let header = Header {
                ino,
                mode: type_bits | entry.perm,
                nlink,
                mtime,
                rdev,
            };
            write_entry(&mut out, &header, path, payload(&entry.kind));
        }
        let trailer = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            rdev: (0, 0),
        };
        write_entry(&mut out, &trailer, TRAILER, &[]);
        out
    }
}

/// The bytes stored after an entry's name: file contents or symlink target.
fn payload(kind: &Kind) -> &[u8] {
    match kind {
        Kind::File(data) => data,
        Kind::Symlink(target) => target.as_bytes(),
        Kind::Dir { .. } | Kind::CharDev { .. } => &[],
    }
}

/// The header fields that vary between entries; uid, gid, the filesystem device and the checksum
/// are always 0.
struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
}

fn write_entry(out: &mut Vec<u8>, h: &Header, name: &str, data: &[u8]) {
    // Name length and file size both fit: names come from `&str` paths far below 4 GiB and
    // `add_file` rejects data of 4 GiB or more; symlink targets are checked here.
    let namesize = u32::try_from(name.len() + 1).expect("cpio: name of 4 GiB or more");
    let filesize = u32::try_from(data.len()).expect("cpio: entry of 4 GiB or more");
    let fields = [
        h.ino, h.mode, 0, // uid
        0, // gid
        h.nlink, h.mtime, filesize, 0, // devmajor
        0, // devminor
        h.rdev.0, h.rdev.1, namesize, 0, // check (only used by the "070702" crc format)
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Pads with NUL bytes to a multiple of 4. Headers start at offsets that are multiples of 4, so the
/// total length is what needs aligning.
fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed newc entry: the 13 header fields, the name and the data.
    #[derive(Debug)]
    struct Parsed {
        fields: [u32; 13],
        name: String,
        data: Vec<u8>,
    }

    /// An independent reader that checks the layout rules while parsing.
    fn parse(mut buf: &[u8]) -> Vec<Parsed> {
        let total = buf.len();
        let mut out = Vec::new();
        loop {
            let at = total - buf.len();
            assert_eq!(at % 4, 0, "header at unaligned offset {at}");
            assert_eq!(&buf[..6], b"070701", "magic at offset {at}");
            let mut fields = [0u32; 13];
            for (i, f) in fields.iter_mut().enumerate() {
                let hex = std::str::from_utf8(&buf[6 + 8 * i..14 + 8 * i]).unwrap();
                assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "field {i}: {hex:?}");
                *f = u32::from_str_radix(hex, 16).unwrap();
            }
            let namesize = fields[11] as usize;
            let filesize = fields[6] as usize;
            let name_bytes = &buf[110..110 + namesize];
            assert_eq!(name_bytes.last(), Some(&0), "namesize includes the NUL");
            let name = std::str::from_utf8(&name_bytes[..namesize - 1]).unwrap().to_owned();
            let data_at = (110 + namesize).next_multiple_of(4);
            assert!(buf[110 + namesize..data_at].iter().all(|&b| b == 0), "name padding");
            let data = buf[data_at..data_at + filesize].to_vec();
            let next = (data_at + filesize).next_multiple_of(4);
            assert!(buf[data_at + filesize..next].iter().all(|&b| b == 0), "data padding");
            buf = &buf[next..];
            let done = name == TRAILER;
            out.push(Parsed { fields, name, data });
            if done {
                assert!(buf.is_empty(), "{} bytes after the trailer", buf.len());
                return out;
            }
        }
    }

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.add_file("/init", b"#!hopboot".to_vec(), 0o755);
        a.add_dir("proc", 0o555);
        a.add_char_dev("dev/console", 0o600, 5, 1);
        a.add_symlink("bin/sh", "../init");
        a.add_file("lib/modules/6.1.0/kernel/a.ko", vec![7; 5], 0o644);
        a
    }

    #[test]
    fn header_fields_and_layout() {
        let entries = parse(&sample().to_newc(0x1234_5678));
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/6.1.0",
                "lib/modules/6.1.0/kernel",
                "lib/modules/6.1.0/kernel/a.ko",
                "proc",
                TRAILER,
            ]
        );
        let by_name = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.fields[11] as usize, e.name.len() + 1, "{}: namesize", e.name);
            assert_eq!(e.fields[6] as usize, e.data.len(), "{}: filesize", e.name);
            assert_eq!(e.fields[2..4], [0, 0], "{}: uid/gid", e.name);
            assert_eq!(e.fields[7..9], [0, 0], "{}: dev", e.name);
            assert_eq!(e.fields[12], 0, "{}: check", e.name);
            if e.name != TRAILER {
                assert_eq!(e.fields[0] as usize, i + 1, "{}: inode", e.name);
                assert_eq!(e.fields[5], 0x1234_5678, "{}: mtime", e.name);
            }
        }
        let init = by_name("init");
        assert_eq!((init.fields[1], init.fields[4]), (0o100_755, 1));
        assert_eq!(init.data, b"#!hopboot");
        assert_eq!(by_name("proc").fields[1], 0o040_555);
        assert_eq!(by_name("lib/modules").fields[1], 0o040_755);
        let console = by_name("dev/console");
        assert_eq!(console.fields[1], 0o020_600);
        assert_eq!(console.fields[9..11], [5, 1]);
        let sh = by_name("bin/sh");
        assert_eq!((sh.fields[1], sh.data.as_slice()), (0o120_777, &b"../init"[..]));
        let trailer = by_name(TRAILER);
        assert_eq!(trailer.fields[..2], [0, 0]);
        assert_eq!(trailer.fields[4], 1);
    }

    #[test]
    fn explicit_dir_mode_wins_over_implicit_parent() {
        let mut a = Archive::new();
        a.add_dir("etc", 0o700);
        a.add_file("etc/x", vec![], 0o644);
        a.add_file("usr/y", vec![], 0o644);
        a.add_dir("usr", 0o750);
        let e = parse(&a.to_newc(0));
        assert_eq!(e[0].name, "etc");
        assert_eq!(e[0].fields[1], 0o040_700);
        assert_eq!(e[2].name, "usr");
        assert_eq!(e[2].fields[1], 0o040_750);
    }

    #[test]
    fn same_input_same_bytes_and_mtime_matters() {
        assert_eq!(sample().to_newc(1), sample().to_newc(1));
        assert_ne!(sample().to_newc(1), sample().to_newc(2));
    }

    #[test]
    fn empty_archive_is_just_the_trailer() {
        let bytes = Archive::new().to_newc(0);
        assert_eq!(bytes.len(), 124); // 110 + "TRAILER!!!\0" (11) = 121, padded to 124
        assert_eq!(parse(&bytes).len(), 1);
    }

    #[test]
    fn paths_are_normalized_or_rejected() {
        assert_eq!(normalize_path("/dev//console").unwrap(), "dev/console");
        assert_eq!(normalize_path("./a/./b/").unwrap(), "a/b");
        assert!(normalize_path("a/../../etc").is_err());
        assert!(normalize_path("/").is_err());
        assert!(normalize_path("").is_err());
        assert!(normalize_path("a\0b").is_err());
        let mut a = Archive::new();
        a.add_file("/x/y", vec![], 0o644);
        assert!(a.contains("x") && a.contains("/x/y") && !a.contains("y"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    #[should_panic(expected = "`..`")]
    fn dot_dot_panics() {
        Archive::new().add_dir("../x", 0o755);
    }
}
