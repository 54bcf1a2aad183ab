//! `/etc/fstab` as the running system's own list of its boot filesystems,
//! and the ways it names a device (`UUID=`, `LABEL=`, `PARTUUID=`,
//! `PARTLABEL=`, `/dev/…`, `/dev/disk/by-*/…`), resolved without udev.
//!
//! The rules are util-linux's (libmount and libblkid): fields are separated
//! by blanks, a line whose first non-blank character is `#` is a comment,
//! `\NNN` (three octal digits) stands for a byte in any field (`\040` a
//! space), and a tag's value may be quoted (`UUID="…"`, `LABEL='…'`).

/// How an fstab line names its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// `UUID=`: the filesystem UUID (compared without case).
    Uuid(String),
    /// `LABEL=`: the filesystem label.
    Label(String),
    /// `PARTUUID=`: the GPT partition GUID or MBR `SIGNATURE-NN` (without case).
    PartUuid(String),
    /// `PARTLABEL=`: the GPT partition name.
    PartLabel(String),
    /// `ID=`: a `/dev/disk/by-id` name (udev's; there is no fallback).
    Id(String),
    /// An absolute path: a device node or a link to one (`/dev/disk/by-uuid/…`),
    /// or, for bind mounts, a directory.
    Path(String),
    /// Anything else: `tmpfs`, `proc`, `none`, `server:/export`, `//server/share`.
    Other(String),
}

/// Makes a [`Spec`] of a tag's value.
type Tag = fn(String) -> Spec;

/// The `/dev/disk/by-*` directories that name a device by a tag, and the tag.
const LINK_DIRS: &[(&str, Tag)] = &[
    ("/dev/disk/by-uuid/", Spec::Uuid),
    ("/dev/disk/by-label/", Spec::Label),
    ("/dev/disk/by-partuuid/", Spec::PartUuid),
    ("/dev/disk/by-partlabel/", Spec::PartLabel),
    ("/dev/disk/by-id/", Spec::Id),
];

impl Spec {
    /// Parses an (already unescaped) fstab source field.
    pub fn parse(s: &str) -> Spec {
        if let Some((tag, value)) = s.split_once('=') {
            let value = unquote(value).to_string();
            match tag {
                "UUID" => return Spec::Uuid(value),
                "LABEL" => return Spec::Label(value),
                "PARTUUID" => return Spec::PartUuid(value),
                "PARTLABEL" => return Spec::PartLabel(value),
                "ID" => return Spec::Id(value),
                _ => {}
            }
        }
        if s.starts_with('/') && !s.starts_with("//") {
            Spec::Path(s.to_string())
        } else {
            Spec::Other(s.to_string())
        }
    }

    /// The udev link that names this device (`/dev/disk/by-label/my\x20boot`),
    /// for tags; a path names itself.
    pub fn link(&self) -> Option<String> {
        let (dir, value) = match self {
            Spec::Path(p) => return Some(p.clone()),
            Spec::Other(_) => return None,
            Spec::Uuid(v) => ("/dev/disk/by-uuid/", v),
            Spec::Label(v) => ("/dev/disk/by-label/", v),
            Spec::PartUuid(v) => ("/dev/disk/by-partuuid/", v),
            Spec::PartLabel(v) => ("/dev/disk/by-partlabel/", v),
            Spec::Id(v) => ("/dev/disk/by-id/", v),
        };
        Some(format!("{dir}{}", udev_encode(value)))
    }

    /// The tag a `/dev/disk/by-{uuid,label,partuuid,partlabel,id}/NAME` path
    /// stands for, so that it can be looked for without the link (udev
    /// stopped, links gone).
    pub fn from_link(path: &str) -> Option<Spec> {
        LINK_DIRS.iter().find_map(|(dir, tag)| {
            let name = path.strip_prefix(dir)?;
            (!name.is_empty() && !name.contains('/')).then(|| tag(udev_decode(name)))
        })
    }

    /// Whether a device with these identities is the one named. UUIDs are
    /// compared without case (a FAT volume id is written `ABCD-1234` or
    /// `abcd-1234`), labels and partition names exactly, as libblkid does.
    pub fn matches(&self, id: &Identity) -> bool {
        let same = |a: &Option<String>, b: &str| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b));
        match self {
            Spec::Uuid(u) => same(&id.uuid, u),
            Spec::Label(l) => id.label.as_deref() == Some(l.as_str()),
            Spec::PartUuid(u) => same(&id.part_uuid, u),
            Spec::PartLabel(l) => id.part_label.as_deref() == Some(l.as_str()),
            Spec::Id(_) | Spec::Path(_) | Spec::Other(_) => false,
        }
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spec::Uuid(v) => write!(f, "UUID={v}"),
            Spec::Label(v) => write!(f, "LABEL={v}"),
            Spec::PartUuid(v) => write!(f, "PARTUUID={v}"),
            Spec::PartLabel(v) => write!(f, "PARTLABEL={v}"),
            Spec::Id(v) => write!(f, "ID={v}"),
            Spec::Path(v) | Spec::Other(v) => f.write_str(v),
        }
    }
}

/// What a device is known by: its filesystem's UUID and label (from the
/// superblock) and its partition's GUID and name (from the table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Filesystem UUID.
    pub uuid: Option<String>,
    /// Filesystem label.
    pub label: Option<String>,
    /// Partition GUID (`PARTUUID=`).
    pub part_uuid: Option<String>,
    /// Partition name (`PARTLABEL=`).
    pub part_label: Option<String>,
}

/// One line of fstab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The source (first field).
    pub spec: Spec,
    /// The mount point, normalised (`/boot/` → `/boot`); `none`/`swap` stay as written.
    pub file: String,
    /// The filesystem type (`auto` when the line has none).
    pub vfstype: String,
    /// The mount options, one by one (`defaults` when the line has none).
    pub options: Vec<String>,
}

impl Entry {
    /// Whether the line is a bind mount (`bind`, `rbind`): its source is a
    /// directory of a filesystem mounted elsewhere, not a device.
    pub fn is_bind(&self) -> bool {
        self.options.iter().any(|o| o == "bind" || o == "rbind")
    }
}

/// Parses fstab text; lines that are not mount lines (comments, blank, a lone
/// field) are skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            if line.starts_with('#') {
                return None;
            }
            let mut f = line.split([' ', '\t']).filter(|w| !w.is_empty()).map(unescape);
            let spec = f.next()?;
            let file = f.next()?;
            let vfstype = f.next().unwrap_or_else(|| "auto".into());
            let options = f.next().unwrap_or_else(|| "defaults".into());
            Some(Entry {
                spec: Spec::parse(&spec),
                file: if file.starts_with('/') {
                    crate::fs::join("/", &file)
                } else {
                    file
                },
                vfstype,
                options: options.split(',').filter(|o| !o.is_empty()).map(String::from).collect(),
            })
        })
        .collect()
}

/// The last line for mount point `point` (as `mount` takes the last).
pub fn find<'a>(entries: &'a [Entry], point: &str) -> Option<&'a Entry> {
    entries.iter().rev().find(|e| e.file == point)
}

/// Decodes fstab's `\NNN` octal escapes (`\040` space, `\011` tab, `\134`
/// backslash…); a backslash not followed by three octal digits stays.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| c == b'\\' && d.iter().all(|x| (b'0'..=b'7').contains(x)));
        match oct {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, x| v * 8 + u32::from(x - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A tag value without the quotes libblkid allows around it (`"…"`, `'…'`);
/// a value whose quote is not closed stays as written.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            if let Some(end) = inner.rfind(q) {
                return inner.get(..end).unwrap_or(inner);
            }
        }
    }
    v
}

/// A name as udev writes it in a `/dev/disk/by-*` link: bytes that are not
/// safe in a file name (`/`, blanks, `\`, control bytes, and any byte that is
/// not part of a valid UTF-8 text) as `\xNN`.
pub fn udev_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let safe = c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii();
        if safe {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

/// The inverse of [`udev_encode`]: `\xNN` back to its byte.
pub fn udev_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 2..i + 4)
            .filter(|_| c == b'\\' && b.get(i + 1) == Some(&b'x'))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as installers and users write them: Debian's installer (UUID=,
    /// a swap line, a commented-out cdrom), systemd-style `PARTUUID=` with
    /// `x-systemd` options, tabs, quotes, `\040`, a bind mount, tmpfs, NFS.
    const FSTAB: &str = "# /etc/fstab: static file system information.\n\
#\n\
# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n\
# / was on /dev/vda3 during installation\n\
UUID=0f7c8a3e-58c1-4b0e-9d2b-8b6f1e0d2c11 /               ext4    errors=remount-ro 0       1\n\
# /boot was on /dev/vda2 during installation\n\
UUID=\"6b1f2f46-3c43-4e2a-8d8a-1b2c3d4e5f60\" /boot           ext4    defaults,nofail        0       2\n\
   # an indented comment\n\
PARTUUID='a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d'\t/boot/efi/\tvfat\tumask=0077,x-systemd.automount 0 1\n\
/dev/mapper/vg-swap none            swap    sw              0       0\n\
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0\n\
LABEL=My\\040Boot /mnt/my\\040disk ext4 defaults 0 0\n\
/srv/boot /efi none bind,ro 0 0\n\
tmpfs /tmp tmpfs mode=1777 0 0\n\
server:/export /home nfs4 _netdev 0 0\n\
/dev/disk/by-partlabel/ESP\\134x /esp vfat\n\
lonely-field\n\
\n";

    #[test]
    fn real_world_lines() {
        let e = parse(FSTAB);
        let got: Vec<(Spec, &str, &str)> = e
            .iter()
            .map(|e| (e.spec.clone(), e.file.as_str(), e.vfstype.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Spec::Uuid("0f7c8a3e-58c1-4b0e-9d2b-8b6f1e0d2c11".into()), "/", "ext4"),
                (
                    Spec::Uuid("6b1f2f46-3c43-4e2a-8d8a-1b2c3d4e5f60".into()),
                    "/boot",
                    "ext4"
                ),
                (
                    Spec::PartUuid("a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d".into()),
                    "/boot/efi",
                    "vfat"
                ),
                (Spec::Path("/dev/mapper/vg-swap".into()), "none", "swap"),
                (Spec::Path("/dev/sr0".into()), "/media/cdrom0", "udf,iso9660"),
                (Spec::Label("My Boot".into()), "/mnt/my disk", "ext4"),
                (Spec::Path("/srv/boot".into()), "/efi", "none"),
                (Spec::Other("tmpfs".into()), "/tmp", "tmpfs"),
                (Spec::Other("server:/export".into()), "/home", "nfs4"),
                (Spec::Path("/dev/disk/by-partlabel/ESP\\x".into()), "/esp", "vfat"),
            ]
        );
        assert_eq!(e[1].options, ["defaults", "nofail"]);
        assert_eq!(e[2].options, ["umask=0077", "x-systemd.automount"]);
        assert!(e[6].is_bind() && !e[1].is_bind());
        // A line without options gets mount's defaults.
        assert_eq!(e[9].options, ["defaults"]);
        // The last line for a mount point counts, as with mount(8).
        let twice = parse("LABEL=a /boot ext4\nLABEL=b /boot// ext4\n");
        assert_eq!(find(&twice, "/boot").map(|e| &e.spec), Some(&Spec::Label("b".into())));
        assert_eq!(find(&e, "/efi").map(|e| e.is_bind()), Some(true));
        assert!(find(&e, "/nowhere").is_none());
    }

    #[test]
    fn tags_quotes_and_escapes() {
        assert_eq!(Spec::parse("UUID=\"ABCD-1234\""), Spec::Uuid("ABCD-1234".into()));
        assert_eq!(Spec::parse("LABEL='x y'"), Spec::Label("x y".into()));
        assert_eq!(
            Spec::parse("PARTLABEL=EFI system"),
            Spec::PartLabel("EFI system".into())
        );
        assert_eq!(Spec::parse("ID=ata-disk-part1"), Spec::Id("ata-disk-part1".into()));
        // An unclosed quote stays; tag names are upper case only (libmount).
        assert_eq!(Spec::parse("LABEL=\"open"), Spec::Label("\"open".into()));
        assert_eq!(Spec::parse("uuid=1234"), Spec::Other("uuid=1234".into()));
        assert_eq!(Spec::parse("//srv/share"), Spec::Other("//srv/share".into()));
        assert_eq!(unescape("a\\040b\\011c\\134d\\12e\\"), "a b\tc\\d\\12e\\");
        assert_eq!(Spec::Label("x y".into()).to_string(), "LABEL=x y");
    }

    #[test]
    fn udev_links_both_ways() {
        let l = Spec::Label("My Boot/1".into());
        assert_eq!(l.link().as_deref(), Some("/dev/disk/by-label/My\\x20Boot\\x2f1"));
        assert_eq!(Spec::from_link("/dev/disk/by-label/My\\x20Boot\\x2f1"), Some(l));
        assert_eq!(
            Spec::from_link("/dev/disk/by-uuid/4842-0001"),
            Some(Spec::Uuid("4842-0001".into()))
        );
        assert_eq!(
            Spec::from_link("/dev/disk/by-partuuid/x"),
            Some(Spec::PartUuid("x".into()))
        );
        assert_eq!(Spec::from_link("/dev/disk/by-path/pci-0000:00:04.0"), None);
        assert_eq!(Spec::from_link("/dev/vda2"), None);
        assert_eq!(
            Spec::Label("été".into()).link().as_deref(),
            Some("/dev/disk/by-label/été")
        );
        assert_eq!(Spec::Other("tmpfs".into()).link(), None);
    }

    #[test]
    fn matching_rules() {
        let id = Identity {
            uuid: Some("4842-0001".into()),
            label: Some("ESP".into()),
            part_uuid: Some("a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d".into()),
            part_label: Some("EFI system".into()),
        };
        assert!(Spec::Uuid("4842-0001".into()).matches(&id));
        assert!(Spec::Uuid("4842-0001".to_uppercase()).matches(&id));
        assert!(Spec::PartUuid("A0B1C2D3-E4F5-4A6B-8C7D-9E0F1A2B3C4D".into()).matches(&id));
        assert!(Spec::Label("ESP".into()).matches(&id));
        assert!(!Spec::Label("esp".into()).matches(&id));
        assert!(Spec::PartLabel("EFI system".into()).matches(&id));
        assert!(!Spec::PartLabel("EFI".into()).matches(&id));
        assert!(!Spec::Uuid("4842-0002".into()).matches(&id));
        assert!(!Spec::Path("/dev/vda1".into()).matches(&id));
        assert!(!Spec::Uuid("x".into()).matches(&Identity::default()));
    }
}
