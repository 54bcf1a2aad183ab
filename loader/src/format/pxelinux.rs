//! PXELINUX: which config a network-booted client fetches, and its entries.
//!
//! Called by the network source ([`crate::net::boot`]). The pieces here
//! are pure: [`config_names`] gives the names a client tries, in order, from
//! what DHCP said; [`parse`] reads the one that exists through any
//! [`FsView`] (the network source will be one whose paths are the names
//! below) with the syslinux parser of [`crate::format::extlinux`].
//!
//! The rules, from syslinux 6's documentation (`doc/pxelinux.txt` and the
//! pxelinux(1) page `txt/pxelinux.txt`) and its sources (`core/fs/pxe/pxe.c`,
//! `core/fs/pxe/urlparse.c`, `core/fs/pxe/dhcp_option.c`):
//!
//! - The working directory is a *text prefix*: DHCP option 210
//!   (`pxelinux.pathprefix`) if given, else the boot file name (option 67 or
//!   the `file` field) up to its last character that cannot be part of a
//!   file name, i.e. "the parent directory of the PXELINUX file" (`get_prefix`
//!   in pxe.c keeps letters, digits, `.` and `-` as name characters). Option
//!   210 "almost certainly needs to end in" the server's separator: it is
//!   used as written.
//! - "All unqualified filenames are relative to the current directory": a
//!   name is appended to the prefix, as text, unless it is qualified: a URL
//!   (`scheme://…`, lpxelinux 5.10 and later) or `host::path` / `::path`
//!   (the old TFTP syntax: "suppresses the common filename prefix"). A name
//!   starting with `/` is *not* qualified: with prefix `/tftpboot/` it
//!   becomes `/tftpboot//vmlinuz`, as syslinux sends it ([`resolve`]).
//! - Lookup order: "After attempting the file as specified in the DHCP or
//!   hardcoded options [option 209, `pxelinux.configfile`, relative to the
//!   prefix], PXELINUX will probe the following paths, prefixed with
//!   `pxelinux.cfg/`, under the initial current working directory": the
//!   client UUID (if the PXE stack has one; option 97, type 0, 16 bytes, in
//!   lower-case `8-4-4-4-12` form), the ARP hardware type and address in
//!   lower case with dashes (`01-88-99-aa-bb-cc-dd`), the IPv4 address in
//!   upper-case hex (`C0A8025B`) and that string shortened one digit at a
//!   time down to one digit, then `default`. Option 209 is tried *first*,
//!   not instead of the rest: pxe.c's `pxe_load_config` falls through to
//!   the probes when it is missing.
//! - The config is a syslinux config (pxelinux(1): "See syslinux.cfg(5)"),
//!   and its INCLUDEs, kernels and initrds resolve against the same prefix,
//!   not against `pxelinux.cfg/`.

use crate::format::extlinux::{self, ExtMenu};
use crate::fs::FsView;
use crate::model::{BootEntry, Format};
use std::net::Ipv4Addr;

/// What a client knows after DHCP, as PXELINUX uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// The client UUID sent in option 97 (its 16 bytes after the type 0), if any.
    pub uuid: Option<[u8; 16]>,
    /// ARP hardware type (1 for Ethernet).
    pub hw_type: u8,
    /// Hardware address (6 bytes for Ethernet).
    pub mac: Vec<u8>,
    /// The address DHCP gave (`yiaddr`).
    pub ip: Option<Ipv4Addr>,
    /// Option 209, the config file name.
    pub config_file: Option<String>,
    /// Option 210, the path prefix.
    pub path_prefix: Option<String>,
    /// The boot file name (option 67 or the `file` field).
    pub boot_file: String,
}

/// Whether syslinux passes `name` unchanged rather than appending it to the
/// prefix: `scheme://…` or `host::path` (urlparse.c's `url_type`: the first
/// `:` followed by `//` or by `:`).
pub fn is_qualified(name: &str) -> bool {
    match name.find(':') {
        Some(i) => {
            let rest = &name[i + 1..];
            rest.starts_with("//") || rest.starts_with(':')
        }
        None => false,
    }
}

/// The name syslinux fetches for `name` with working directory `prefix`:
/// `name` itself if qualified, else the two strings concatenated.
pub fn resolve(prefix: &str, name: &str) -> String {
    if is_qualified(name) {
        name.to_string()
    } else {
        format!("{prefix}{name}")
    }
}

/// The working directory: option 210, else the boot file's directory
/// (everything up to its last character that is not a letter, digit, `.`
/// or `-`; empty when there is none).
pub fn prefix(client: &Client) -> String {
    if let Some(p) = &client.path_prefix {
        return p.clone();
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    match client.boot_file.rfind(|c: char| !name_char(c)) {
        Some(i) => {
            let end = i + client.boot_file[i..].chars().next().map_or(1, char::len_utf8);
            client.boot_file[..end].to_string()
        }
        None => String::new(),
    }
}

/// The UUID as pxelinux names its config: lower-case hex, dashes after the
/// 4th, 6th, 8th and 10th byte, the bytes in the order option 97 sends them.
pub fn uuid_name(uuid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `01-88-99-aa-bb-cc-dd`: the hardware type, then the address.
pub fn hw_name(hw_type: u8, mac: &[u8]) -> String {
    let mut s = format!("{hw_type:02x}");
    for b in mac {
        s.push_str(&format!("-{b:02x}"));
    }
    s
}

/// The config names the client tries, in order, each as fetched (resolved
/// against [`prefix`]): option 209, then `pxelinux.cfg/` + UUID, hardware
/// address, hex IP and its 7 shorter prefixes, `default`.
pub fn config_names(client: &Client) -> Vec<String> {
    let prefix = prefix(client);
    let mut names = Vec::new();
    if let Some(c) = client.config_file.as_deref().filter(|c| !c.is_empty()) {
        names.push(resolve(&prefix, c));
    }
    let dir = format!("{prefix}pxelinux.cfg/");
    if let Some(u) = &client.uuid {
        names.push(format!("{dir}{}", uuid_name(u)));
    }
    if !client.mac.is_empty() {
        names.push(format!("{dir}{}", hw_name(client.hw_type, &client.mac)));
    }
    if let Some(ip) = client.ip {
        let hex = format!("{:08X}", u32::from(ip));
        for len in (1..=hex.len()).rev() {
            names.push(format!("{dir}{}", &hex[..len]));
        }
    }
    names.push(format!("{dir}default"));
    names
}

/// The first of [`config_names`] that `fs` has, read: `(name, menu)`.
/// `None` when none exists (PXELINUX then reboots; the caller says why).
pub fn find_and_parse(fs: &dyn FsView, client: &Client) -> Option<(String, ExtMenu)> {
    let prefix = prefix(client);
    config_names(client).into_iter().find(|n| fs.is_file(n)).map(|n| {
        let menu = parse(fs, &n, &prefix);
        (n, menu)
    })
}

/// Reads config `name` (as fetched) with working directory `prefix`: the
/// syslinux parser, every unqualified name appended to the prefix.
pub fn parse(fs: &dyn FsView, name: &str, prefix: &str) -> ExtMenu {
    extlinux::parse_pxe(fs, name, prefix)
}

/// The menu as boot entries of source `pxelinux`, read from volume `volume`
/// (the network source's), shown with `device` ("eth0 192.0.2.10 via …").
pub fn entries(menu: &ExtMenu, volume: usize, device: &str) -> Vec<BootEntry> {
    menu.entries
        .iter()
        .enumerate()
        .map(|(i, e)| BootEntry {
            title: e.title.clone(),
            format: Format::Pxelinux,
            kernel: e.kernel.clone(),
            initrds: e.initrds.clone(),
            cmdline: e.append.clone(),
            default: menu.default == Some(i),
            device: device.to_string(),
            id: e.label.clone(),
            volume,
            boot_image: Some(e.kernel_arg.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::dir::DirFs;
    use crate::fs::{FsError, Kind};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A TFTP server's files by the name a client asks for.
    struct Server(BTreeMap<String, String>);

    impl Server {
        fn new(files: &[(&str, &str)]) -> Server {
            Server(files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        }
    }

    impl FsView for Server {
        fn copy_to(&self, path: &str, _: u64, out: &mut dyn std::io::Write) -> Result<u64, FsError> {
            let data = self.0.get(path).ok_or_else(|| FsError::NotFound(path.to_string()))?;
            out.write_all(data.as_bytes()).map_err(|e| FsError::Io {
                path: path.to_string(),
                source: e,
            })?;
            Ok(data.len() as u64)
        }
        fn kind(&self, path: &str) -> Option<Kind> {
            self.0.contains_key(path).then_some(Kind::File)
        }
        fn size(&self, path: &str) -> Option<u64> {
            self.0.get(path).map(|d| d.len() as u64)
        }
        fn list(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn fs_type(&self) -> &'static str {
            "tftp"
        }
    }

    fn client() -> Client {
        Client {
            uuid: Some([
                0xb8, 0x94, 0x59, 0x08, 0xd6, 0xa6, 0x41, 0xa9, 0x61, 0x1d, 0x74, 0xa6, 0xab, 0x80, 0xb8, 0x3d,
            ]),
            hw_type: 1,
            mac: vec![0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd],
            ip: Some(Ipv4Addr::new(192, 168, 2, 91)),
            config_file: None,
            path_prefix: None,
            boot_file: "mybootdir/pxelinux.0".into(),
        }
    }

    /// The example of pxelinux(1), "Configuration filename", name for name.
    #[test]
    fn lookup_order_is_the_documented_one() {
        assert_eq!(
            config_names(&client()),
            [
                "mybootdir/pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d",
                "mybootdir/pxelinux.cfg/01-88-99-aa-bb-cc-dd",
                "mybootdir/pxelinux.cfg/C0A8025B",
                "mybootdir/pxelinux.cfg/C0A8025",
                "mybootdir/pxelinux.cfg/C0A802",
                "mybootdir/pxelinux.cfg/C0A80",
                "mybootdir/pxelinux.cfg/C0A8",
                "mybootdir/pxelinux.cfg/C0A",
                "mybootdir/pxelinux.cfg/C0",
                "mybootdir/pxelinux.cfg/C",
                "mybootdir/pxelinux.cfg/default",
            ]
        );
        // No UUID, no address: MAC and default only.
        let c = Client {
            uuid: None,
            ip: None,
            boot_file: "pxelinux.0".into(),
            ..client()
        };
        assert_eq!(
            config_names(&c),
            ["pxelinux.cfg/01-88-99-aa-bb-cc-dd", "pxelinux.cfg/default"]
        );
    }

    /// syslinux's doc/pxelinux.txt example: configfile "configs/common" with
    /// pathprefix "/tftpboot/pxelinux/files/" is
    /// /tftpboot/pxelinux/files/configs/common; the probes follow it.
    #[test]
    fn options_209_and_210() {
        let c = Client {
            config_file: Some("configs/common".into()),
            path_prefix: Some("/tftpboot/pxelinux/files/".into()),
            boot_file: "/tftpboot/pxelinux/pxelinux.bin".into(),
            ..client()
        };
        let names = config_names(&c);
        assert_eq!(names[0], "/tftpboot/pxelinux/files/configs/common");
        assert_eq!(
            names[1],
            "/tftpboot/pxelinux/files/pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d"
        );
        assert_eq!(names.last().unwrap(), "/tftpboot/pxelinux/files/pxelinux.cfg/default");
        assert_eq!(names.len(), 12);
        // A qualified 209 is not prefixed; a URL prefix (lpxelinux) is kept.
        let c = Client {
            config_file: Some("http://192.0.2.1/cfg/host1".into()),
            path_prefix: Some("http://192.0.2.1/tcl/".into()),
            ..client()
        };
        let names = config_names(&c);
        assert_eq!(names[0], "http://192.0.2.1/cfg/host1");
        assert_eq!(
            names[1],
            "http://192.0.2.1/tcl/pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d"
        );
    }

    #[test]
    fn prefix_is_the_boot_file_directory_as_syslinux_cuts_it() {
        let p = |f: &str| {
            prefix(&Client {
                boot_file: f.into(),
                ..Client::default()
            })
        };
        assert_eq!(p("boot/pxelinux.0"), "boot/");
        assert_eq!(p("/tftpboot/x86/pxelinux.0"), "/tftpboot/x86/");
        assert_eq!(p("pxelinux.0"), "");
        assert_eq!(p(""), "");
        // An underscore is not a name character for get_prefix: it cuts there.
        assert_eq!(p("boot/lpxe_linux.0"), "boot/lpxe_");
        assert_eq!(p("192.0.2.3::boot/pxelinux.0"), "192.0.2.3::boot/");
    }

    #[test]
    fn names_resolve_like_syslinux() {
        assert_eq!(resolve("boot/", "vmlinuz"), "boot/vmlinuz");
        assert_eq!(resolve("/tftpboot/", "/vmlinuz"), "/tftpboot//vmlinuz");
        assert_eq!(resolve("boot/", "::vmlinuz"), "::vmlinuz");
        assert_eq!(resolve("boot/", "192.0.2.9::k/vmlinuz"), "192.0.2.9::k/vmlinuz");
        assert_eq!(resolve("boot/", "http://h/k"), "http://h/k");
        // A colon alone (an option-like word) is not a URL.
        assert_eq!(resolve("boot/", "a:b"), "boot/a:b");
        assert_eq!(uuid_name(&[0u8; 16]), "00000000-0000-0000-0000-000000000000");
        assert_eq!(hw_name(6, &[1, 0xab]), "06-01-ab");
    }

    /// A MAC-specific config wins over `default`; kernels and INCLUDEs
    /// resolve against the prefix, not against pxelinux.cfg/.
    #[test]
    fn mac_config_beats_default_and_paths_use_the_prefix() {
        let server = Server::new(&[
            (
                "boot/pxelinux.cfg/default",
                "DEFAULT a\nLABEL a\n KERNEL vmlinuz-default\n",
            ),
            (
                "boot/pxelinux.cfg/01-88-99-aa-bb-cc-dd",
                "INCLUDE menus/extra.cfg\nDEFAULT mine\nLABEL mine\n MENU LABEL Mine\n KERNEL images/vmlinuz\n \
                 INITRD images/initrd.img,::abs.img\n APPEND console=ttyS0\n",
            ),
            ("boot/menus/extra.cfg", "LABEL extra\n LINUX http://192.0.2.5/k\n"),
        ]);
        let c = Client {
            boot_file: "boot/pxelinux.0".into(),
            ..client()
        };
        let (name, menu) = find_and_parse(&server, &c).unwrap();
        assert_eq!(name, "boot/pxelinux.cfg/01-88-99-aa-bb-cc-dd");
        assert!(menu.errors.is_empty(), "{:?}", menu.errors);
        assert_eq!(menu.entries.len(), 2);
        assert_eq!(menu.entries[0].kernel, "http://192.0.2.5/k");
        let d = &menu.entries[menu.default.unwrap()];
        assert_eq!(d.kernel, "boot/images/vmlinuz");
        assert_eq!(d.initrds, ["boot/images/initrd.img", "::abs.img"]);
        let e = entries(&menu, 3, "eth0 192.168.2.91");
        assert_eq!(e[1].format.as_str(), "pxelinux");
        assert!(e[1].default && !e[0].default);
        assert_eq!(e[1].title, "Mine");
        assert_eq!(e[1].cmdline, "console=ttyS0");
        assert_eq!(e[1].volume, 3);
        // Without the MAC file, `default`.
        let mut server = server;
        server.0.remove("boot/pxelinux.cfg/01-88-99-aa-bb-cc-dd");
        let (name, menu) = find_and_parse(&server, &c).unwrap();
        assert_eq!(name, "boot/pxelinux.cfg/default");
        assert_eq!(menu.entries[0].kernel, "boot/vmlinuz-default");
        server.0.clear();
        assert!(find_and_parse(&server, &c).is_none());
    }

    /// netboot.cz's pxelinux.cfg/default (MIT; loader/testdata/netboot/
    /// SOURCES.md), served as a TFTP root: MENU INCLUDEs relative to the
    /// prefix, the missing ones skipped as syslinux does, URL kernels (an
    /// lpxelinux setup) passed unchanged, LOCALBOOT and MENU EXIT left out,
    /// so the default (MENU DEFAULT on the LOCALBOOT label) falls back to the
    /// first Linux entry.
    #[test]
    fn netboot_cz_default_config() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/netboot/netboot.cz");
        let fs = DirFs::new(&root);
        let c = Client {
            boot_file: "/pxelinux.0".into(),
            ..client()
        };
        let (name, menu) = find_and_parse(&fs, &c).unwrap();
        assert_eq!(name, "/pxelinux.cfg/default");
        assert!(menu.errors.is_empty(), "{:?}", menu.errors);
        let titles: Vec<&str> = menu.entries.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Debian amd64 installer (stable, testing, unstable)",
                "Debian x86 installer (stable, testing, unstable)",
                "Debian amd64 graphical installer",
                "Debian x86 graphical installer",
            ]
        );
        assert_eq!(menu.default, Some(0));
        let base = "http://ftp.debian.cz/pub/mirror/ftp.debian.org/debian/dists/stable/main/installer-amd64/current/images/netboot/debian-installer/amd64/";
        assert_eq!(menu.entries[0].kernel, format!("{base}linux"));
        assert_eq!(menu.entries[0].initrds, [format!("{base}initrd.gz")]);
        assert_eq!(menu.entries[0].append, format!("initrd={base}initrd.gz vga=788 --"));
    }
}
