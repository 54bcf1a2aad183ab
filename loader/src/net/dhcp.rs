//! DHCPv4 messages, built and read; no sockets (the client loop is
//! [`crate::net::lease`]).
//!
//! The message layout is RFC 2131 §2 (a 236-byte BOOTP header, the magic
//! cookie 99.130.83.99, then options); options are RFC 2132's, with the
//! PXE ones of RFC 4578 (93 client architecture, 94 network interface, 97
//! client UUID, and the vendor class `PXEClient:Arch:xxxxx:UNDI:yyyzzz` of
//! the PXE 2.1 specification) and PXELINUX's 209/210 (RFC 5071). Reading:
//!
//! - an option that appears more than once is one option, its values
//!   concatenated (RFC 3396);
//! - option 52 (overload) says the `file` field (1), the `sname` field (2)
//!   or both (3) hold more options; they are read after the options field,
//!   `file` first (RFC 2131 §4.1), and are then not a file or server name;
//! - the boot file is the `file` field when it holds one, else option 67
//!   (RFC 2132 §9.5: 67 is for when `file` carries options; PXELINUX's
//!   `parse_dhcp` also lets a non-empty `file` win);
//! - anything short, cut or malformed is an error or a missing value, never
//!   a panic: an option running past the end of its area ends that area.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The magic cookie that starts the options.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Bytes before the cookie.
const HEADER: usize = 236;
/// BOOTP's minimum message size (RFC 1542 §2.1): shorter ones are padded.
const MIN_MESSAGE: usize = 300;
/// What the client asks for in option 55, in this order.
pub const PARAMETERS: &[u8] = &[1, 3, 6, 12, 15, 51, 54, 66, 67, 209, 210];
/// The largest message the client accepts (option 57): one Ethernet frame.
pub const MAX_MESSAGE: u16 = 1500;

/// Option 53's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Client looks for servers.
    Discover,
    /// Server offers an address.
    Offer,
    /// Client takes an offer (or renews).
    Request,
    /// Client refuses an address in use.
    Decline,
    /// Server confirms.
    Ack,
    /// Server refuses.
    Nak,
    /// Client gives the address back.
    Release,
    /// Client asks for configuration only.
    Inform,
}

impl MessageType {
    fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }

    fn from_code(c: u8) -> Option<MessageType> {
        Some(match c {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }
}

/// Who the client is, for the messages it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Transaction id (random, one per exchange).
    pub xid: u32,
    /// ARP hardware type (1: Ethernet).
    pub htype: u8,
    /// Hardware address (at most 16 bytes are sent).
    pub hw: Vec<u8>,
    /// Seconds since the client began (the `secs` field).
    pub secs: u16,
    /// Ask the server to broadcast its replies (the client has no address yet).
    pub broadcast: bool,
    /// PXE client architecture (RFC 4578 §2.1: 0 BIOS x86, 7 EFI x86-64,
    /// 11 EFI ARM64), for options 60 and 93.
    pub arch: u16,
    /// Client UUID for option 97 (the machine's SMBIOS UUID), if known.
    pub uuid: Option<[u8; 16]>,
    /// Host name for option 12, if any.
    pub hostname: Option<String>,
}

/// Option 60 as a PXE client sends it: `PXEClient:Arch:00007:UNDI:003016`.
pub fn vendor_class(arch: u16) -> String {
    format!("PXEClient:Arch:{arch:05}:UNDI:003016")
}

/// A DHCPDISCOVER from `client`.
pub fn discover(client: &Client) -> Vec<u8> {
    build(client, MessageType::Discover, &[])
}

/// A DHCPREQUEST taking `offer` (RFC 2131 §4.3.2, SELECTING: option 50
/// names the offered address, 54 the server, `ciaddr` stays 0).
pub fn request(client: &Client, offer: &Message) -> Vec<u8> {
    let mut extra: Vec<(u8, Vec<u8>)> = vec![(50, offer.yiaddr.octets().to_vec())];
    if let Some(s) = offer.server_id() {
        extra.push((54, s.octets().to_vec()));
    }
    build(client, MessageType::Request, &extra)
}

fn build(client: &Client, ty: MessageType, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let hw = client.hw.get(..client.hw.len().min(16)).unwrap_or(&[]);
    let mut m = Vec::with_capacity(400);
    m.extend_from_slice(&[1, client.htype, hw.len() as u8, 0]);
    m.extend_from_slice(&client.xid.to_be_bytes());
    m.extend_from_slice(&client.secs.to_be_bytes());
    m.extend_from_slice(&(if client.broadcast { 0x8000u16 } else { 0 }).to_be_bytes());
    m.extend_from_slice(&[0; 16]); // ciaddr, yiaddr, siaddr, giaddr
    let mut chaddr = [0u8; 16];
    chaddr[..hw.len()].copy_from_slice(hw);
    m.extend_from_slice(&chaddr);
    m.extend_from_slice(&[0; 64 + 128]); // sname, file
    m.extend_from_slice(&MAGIC);
    let mut opt = |code: u8, value: &[u8]| {
        // One option holds 255 bytes; longer values are split (RFC 3396).
        for chunk in value.chunks(255) {
            m.push(code);
            m.push(chunk.len() as u8);
            m.extend_from_slice(chunk);
        }
    };
    opt(53, &[ty.code()]);
    let mut id = vec![client.htype];
    id.extend_from_slice(hw);
    opt(61, &id);
    opt(57, &MAX_MESSAGE.to_be_bytes());
    opt(55, PARAMETERS);
    opt(60, vendor_class(client.arch).as_bytes());
    opt(93, &client.arch.to_be_bytes());
    opt(94, &[1, 3, 16]); // UNDI 3.16, as option 60 says
    if let Some(u) = &client.uuid {
        let mut v = vec![0];
        v.extend_from_slice(u);
        opt(97, &v);
    }
    if let Some(h) = client.hostname.as_deref().filter(|h| !h.is_empty()) {
        opt(12, h.as_bytes());
    }
    for (code, value) in extra {
        opt(*code, value);
    }
    m.push(255);
    if m.len() < MIN_MESSAGE {
        m.resize(MIN_MESSAGE, 0);
    }
    m
}

/// Why a datagram is not a DHCP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    /// Shorter than the header and cookie.
    #[error("DHCP message of {0} bytes is shorter than the 240-byte header")]
    TooShort(usize),
    /// The cookie is not 99.130.83.99 (a plain BOOTP message, or garbage).
    #[error("not a DHCP message (no magic cookie)")]
    NoCookie,
    /// `op` is neither 1 (request) nor 2 (reply).
    #[error("BOOTP op {0} is neither request nor reply")]
    BadOp(u8),
}

/// A DHCP message as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 1 from clients, 2 from servers.
    pub op: u8,
    /// Hardware type.
    pub htype: u8,
    /// Hardware address length as sent (may be wrong; `chaddr` is 16 bytes).
    pub hlen: u8,
    /// Transaction id.
    pub xid: u32,
    /// The `flags` field.
    pub flags: u16,
    /// Client address (renewals).
    pub ciaddr: Ipv4Addr,
    /// The address offered or given.
    pub yiaddr: Ipv4Addr,
    /// The next server (TFTP) in the header.
    pub siaddr: Ipv4Addr,
    /// Relay agent.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field.
    pub chaddr: [u8; 16],
    /// The `sname` field as text, unless it is empty or overloaded.
    pub sname: Option<String>,
    /// The `file` field as text, unless it is empty or overloaded.
    pub file: Option<String>,
    /// Every option by code, repeats concatenated, the overloaded fields
    /// included; 0 (pad), 255 (end) and 52 (overload) themselves are not kept
    /// (see [`Message::overload`]).
    pub options: BTreeMap<u8, Vec<u8>>,
    /// Option 52's value (0 when absent).
    pub overload: u8,
    /// Options cut short by the end of their area (the rest of that area is
    /// ignored): how many.
    pub cut_options: usize,
}

fn ip(b: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = b.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn ips(b: &[u8]) -> Vec<Ipv4Addr> {
    if !b.len().is_multiple_of(4) {
        return Vec::new();
    }
    b.chunks_exact(4).filter_map(ip).collect()
}

/// Text of a string option or field: up to the first NUL, lossy UTF-8.
fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or(&[])).into_owned()
}

/// Reads options from `area` into `out`; returns option 52 if seen and
/// whether an option was cut short.
fn read_options(area: &[u8], out: &mut BTreeMap<u8, Vec<u8>>) -> (Option<u8>, bool) {
    let mut overload = None;
    let mut i = 0;
    while let Some(&code) = area.get(i) {
        match code {
            0 => i += 1,
            255 => break,
            _ => {
                let Some(&len) = area.get(i + 1) else {
                    return (overload, true);
                };
                let Some(value) = area.get(i + 2..i + 2 + len as usize) else {
                    return (overload, true);
                };
                if code == 52 {
                    overload = value.first().copied();
                } else {
                    out.entry(code).or_default().extend_from_slice(value);
                }
                i += 2 + len as usize;
            }
        }
    }
    (overload, false)
}

/// Reads a DHCP message (either direction).
pub fn parse(packet: &[u8]) -> Result<Message, DhcpError> {
    let (Some(header), Some(cookie)) = (packet.get(..HEADER), packet.get(HEADER..HEADER + 4)) else {
        return Err(DhcpError::TooShort(packet.len()));
    };
    if cookie != MAGIC {
        return Err(DhcpError::NoCookie);
    }
    let byte = |i: usize| header.get(i).copied().unwrap_or(0);
    let be32 = |i: usize| {
        header
            .get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_be_bytes)
    };
    let addr = |i: usize| header.get(i..i + 4).and_then(ip).unwrap_or(Ipv4Addr::UNSPECIFIED);
    let op = byte(0);
    if op != 1 && op != 2 {
        return Err(DhcpError::BadOp(op));
    }
    let sname_field = header.get(44..108).unwrap_or(&[]);
    let file_field = header.get(108..236).unwrap_or(&[]);
    let mut options = BTreeMap::new();
    let (ov, cut) = read_options(packet.get(HEADER + 4..).unwrap_or(&[]), &mut options);
    let overload = ov.unwrap_or(0);
    let mut cut_options = usize::from(cut);
    if overload & 1 != 0 {
        cut_options += usize::from(read_options(file_field, &mut options).1);
    }
    if overload & 2 != 0 {
        cut_options += usize::from(read_options(sname_field, &mut options).1);
    }
    let field = |f: &[u8], bit: u8| Some(text(f)).filter(|t| overload & bit == 0 && !t.is_empty());
    let mut chaddr = [0u8; 16];
    if let Some(c) = header.get(28..44) {
        chaddr.copy_from_slice(c);
    }
    Ok(Message {
        op,
        htype: byte(1),
        hlen: byte(2),
        xid: be32(4),
        flags: header
            .get(10..12)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u16::from_be_bytes),
        ciaddr: addr(12),
        yiaddr: addr(16),
        siaddr: addr(20),
        giaddr: addr(24),
        chaddr,
        sname: field(sname_field, 2),
        file: field(file_field, 1),
        options,
        overload,
        cut_options,
    })
}

impl Message {
    /// Option `code`'s bytes.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options.get(&code).map(Vec::as_slice)
    }

    fn text_option(&self, code: u8) -> Option<String> {
        self.option(code).map(text).filter(|t| !t.is_empty())
    }

    /// Option 53.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(53)? {
            [c] => MessageType::from_code(*c),
            _ => None,
        }
    }

    /// Whether this is a server's reply to `client`'s exchange (same xid and
    /// hardware address).
    pub fn answers(&self, client: &Client) -> bool {
        let n = client.hw.len().min(16);
        self.op == 2 && self.xid == client.xid && self.chaddr.get(..n) == client.hw.get(..n)
    }

    /// Option 1, the subnet mask.
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        ip(self.option(1)?)
    }
    /// Option 3, routers (first is the default gateway).
    pub fn routers(&self) -> Vec<Ipv4Addr> {
        self.option(3).map(ips).unwrap_or_default()
    }
    /// Option 6, DNS servers.
    pub fn dns_servers(&self) -> Vec<Ipv4Addr> {
        self.option(6).map(ips).unwrap_or_default()
    }
    /// Option 12, the host name.
    pub fn hostname(&self) -> Option<String> {
        self.text_option(12)
    }
    /// Option 15, the domain name.
    pub fn domain(&self) -> Option<String> {
        self.text_option(15)
    }
    /// Option 51, the lease time in seconds.
    pub fn lease_time(&self) -> Option<u32> {
        self.option(51)?.try_into().ok().map(u32::from_be_bytes)
    }
    /// Option 54, the server identifier.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        ip(self.option(54)?)
    }
    /// Option 66, the TFTP server name (a host name or dotted address).
    pub fn tftp_server(&self) -> Option<String> {
        self.text_option(66)
    }
    /// Option 67, the boot file name.
    pub fn bootfile_option(&self) -> Option<String> {
        self.text_option(67)
    }
    /// Option 209, PXELINUX's config file.
    pub fn pxelinux_config_file(&self) -> Option<String> {
        self.text_option(209)
    }
    /// Option 210, PXELINUX's path prefix.
    pub fn pxelinux_path_prefix(&self) -> Option<String> {
        self.text_option(210)
    }
    /// Option 97, the client UUID (type 0 and 16 bytes; anything else is ignored).
    pub fn client_uuid(&self) -> Option<[u8; 16]> {
        match self.option(97)? {
            [0, rest @ ..] => rest.try_into().ok(),
            _ => None,
        }
    }
    /// The boot file: the `file` field, else option 67.
    pub fn boot_file(&self) -> Option<String> {
        self.file.clone().or_else(|| self.bootfile_option())
    }
    /// Where to fetch the boot file from: option 66, else `sname`, else
    /// `siaddr` (when not 0.0.0.0), else the server identifier.
    pub fn boot_server(&self) -> Option<String> {
        self.tftp_server()
            .or_else(|| self.sname.clone())
            .or_else(|| (!self.siaddr.is_unspecified()).then(|| self.siaddr.to_string()))
            .or_else(|| self.server_id().map(|s| s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn client() -> Client {
        Client {
            xid: 0x811b_925b,
            htype: 1,
            hw: vec![0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            secs: 0,
            broadcast: true,
            arch: 7,
            uuid: Some([
                0xb8, 0x94, 0x59, 0x08, 0xd6, 0xa6, 0x41, 0xa9, 0x61, 0x1d, 0x74, 0xa6, 0xab, 0x80, 0xb8, 0x3d,
            ]),
            hostname: Some("node7".into()),
        }
    }

    fn testdata(name: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/netboot/udhcpd")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Walks options the simple way, to check the encoder independently of `parse`.
    fn walk(m: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 240;
        while m[i] != 255 {
            let (c, l) = (m[i], m[i + 1] as usize);
            out.push((c, m[i + 2..i + 2 + l].to_vec()));
            i += 2 + l;
        }
        out
    }

    #[test]
    fn discover_has_the_pxe_options() {
        let m = discover(&client());
        assert!(m.len() >= 300);
        assert_eq!(&m[..4], &[1, 1, 6, 0]);
        assert_eq!(&m[4..8], &0x811b_925bu32.to_be_bytes());
        assert_eq!(&m[10..12], &[0x80, 0]);
        assert_eq!(&m[28..34], &[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(&m[236..240], &MAGIC);
        let o = walk(&m);
        let get = |c: u8| o.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(o[0], (53, vec![1]));
        assert_eq!(get(55), [1, 3, 6, 12, 15, 51, 54, 66, 67, 209, 210]);
        assert_eq!(get(60), b"PXEClient:Arch:00007:UNDI:003016");
        assert_eq!(get(61), [1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(get(93), [0, 7]);
        assert_eq!(get(97)[0], 0);
        assert_eq!(&get(97)[1..], &client().uuid.unwrap());
        assert_eq!(get(12), b"node7");
        assert!(o.iter().all(|(c, _)| *c != 50 && *c != 54));
        // And it reads back.
        let p = parse(&m).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Discover));
        assert_eq!(p.client_uuid(), client().uuid);
        assert_eq!(vendor_class(0), "PXEClient:Arch:00000:UNDI:003016");
    }

    /// A real exchange: busybox 1.35.0's udhcpd (config in
    /// testdata/netboot/udhcpd/udhcpd.conf) answering busybox udhcpc over a
    /// veth pair; the OFFER and ACK bytes as captured.
    #[test]
    fn real_udhcpd_offer_and_ack() {
        let disc = parse(&testdata("udhcpc-discover.bin")).unwrap();
        assert_eq!(disc.message_type(), Some(MessageType::Discover));
        assert_eq!(disc.option(60), Some(&b"PXEClient:Arch:00007:UNDI:003016"[..]));
        for (name, ty) in [("offer.bin", MessageType::Offer), ("ack.bin", MessageType::Ack)] {
            let m = parse(&testdata(name)).unwrap();
            assert_eq!(m.message_type(), Some(ty), "{name}");
            assert_eq!(m.op, 2);
            assert_eq!(m.xid, disc.xid);
            assert!(m.answers(&Client {
                xid: disc.xid,
                hw: disc.chaddr[..6].to_vec(),
                ..client()
            }));
            assert!(!m.answers(&Client {
                xid: disc.xid ^ 1,
                ..client()
            }));
            assert_eq!(m.yiaddr, Ipv4Addr::new(192, 0, 2, 110));
            assert_eq!(m.siaddr, Ipv4Addr::new(192, 0, 2, 1));
            assert_eq!(m.server_id(), Some(Ipv4Addr::new(192, 0, 2, 1)));
            assert_eq!(m.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
            assert_eq!(m.routers(), [Ipv4Addr::new(192, 0, 2, 1)]);
            assert_eq!(
                m.dns_servers(),
                [Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 54)]
            );
            assert_eq!(m.hostname().as_deref(), Some("client1"));
            assert_eq!(m.domain().as_deref(), Some("example.test"));
            assert_eq!(m.lease_time(), Some(3600));
            assert_eq!(m.tftp_server().as_deref(), Some("192.0.2.1"));
            assert_eq!(m.bootfile_option().as_deref(), Some("boot/pxelinux.0"));
            assert_eq!(m.file.as_deref(), Some("pxelinux.0"));
            assert_eq!(m.sname.as_deref(), Some("bootsrv"));
            // The `file` field wins over option 67.
            assert_eq!(m.boot_file().as_deref(), Some("pxelinux.0"));
            assert_eq!(m.boot_server().as_deref(), Some("192.0.2.1"));
            assert_eq!(m.pxelinux_config_file().as_deref(), Some("pxelinux.cfg/special"));
            assert_eq!(m.pxelinux_path_prefix().as_deref(), Some("boot/"));
            assert_eq!(m.cut_options, 0);
        }
        // The REQUEST we would send for that offer.
        let offer = parse(&testdata("offer.bin")).unwrap();
        let r = request(&client(), &offer);
        let p = parse(&r).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Request));
        assert_eq!(p.option(50), Some(&[192, 0, 2, 110][..]));
        assert_eq!(p.option(54), Some(&[192, 0, 2, 1][..]));
        assert_eq!(p.xid, client().xid);
    }

    /// Option 52: `file` and `sname` carry options, read after the options
    /// field, and are then no file or server name; repeated options concatenate.
    #[test]
    fn overload_and_concatenation() {
        let mut m = parse(&testdata("offer.bin")).map(|_| testdata("offer.bin")).unwrap();
        // file field (108..236 of the header): option 67 "vmlinuz" then end.
        let file_opts = [&[67u8, 7][..], b"vmlinuz", &[255]].concat();
        m[108..236].fill(0);
        m[108..108 + file_opts.len()].copy_from_slice(&file_opts);
        // sname field (44..108): option 66 "tftp.example" then end.
        let sname_opts = [&[66u8, 12][..], b"tftp.example", &[255]].concat();
        m[44..108].fill(0);
        m[44..44 + sname_opts.len()].copy_from_slice(&sname_opts);
        // Options field: overload 3 first, a split option 15 ("exa" + "mple.test").
        let opts = [
            &[53u8, 1, 2, 52, 1, 3, 15, 3][..],
            b"exa",
            &[15, 9],
            b"mple.test",
            &[67, 4],
            b"opt.",
            &[255],
        ]
        .concat();
        m.truncate(240);
        m.extend_from_slice(&opts);
        let p = parse(&m).unwrap();
        assert_eq!(p.overload, 3);
        assert_eq!(p.file, None);
        assert_eq!(p.sname, None);
        assert_eq!(p.domain().as_deref(), Some("example.test"));
        // Option 67 from the options field, then from `file`: concatenated.
        assert_eq!(p.bootfile_option().as_deref(), Some("opt.vmlinuz"));
        assert_eq!(p.boot_file().as_deref(), Some("opt.vmlinuz"));
        assert_eq!(p.tftp_server().as_deref(), Some("tftp.example"));
        // Without overload the fields are text again (here: option bytes).
        let mut m2 = m.clone();
        m2[240 + 5] = 0;
        assert_eq!(parse(&m2).unwrap().overload, 0);
        assert!(parse(&m2).unwrap().file.is_some());
    }

    #[test]
    fn hostile_packets_never_panic() {
        let offer = testdata("offer.bin");
        // Every truncation: short ones are errors, longer ones parse with cut options.
        for n in 0..=offer.len() {
            match parse(&offer[..n]) {
                Err(DhcpError::TooShort(k)) => assert!(n < 240 && k == n),
                Err(e) => panic!("{n}: {e}"),
                Ok(m) => {
                    assert!(n >= 240);
                    let _ = (m.boot_file(), m.boot_server(), m.dns_servers(), m.client_uuid());
                }
            }
        }
        assert_eq!(parse(&offer[..250]).unwrap().cut_options, 1);
        let mut bad = offer.clone();
        bad[236] = 0;
        assert_eq!(parse(&bad), Err(DhcpError::NoCookie));
        bad = offer.clone();
        bad[0] = 9;
        assert_eq!(parse(&bad), Err(DhcpError::BadOp(9)));
        // Random bytes and random flips of the real offer.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut p = offer.clone();
            for _ in 0..(next() % 16) {
                let i = (next() as usize) % p.len();
                p[i] = next() as u8;
            }
            p.truncate(240 + (next() as usize) % (p.len() - 239));
            if let Ok(m) = parse(&p) {
                let _ = (
                    m.message_type(),
                    m.lease_time(),
                    m.routers(),
                    m.hostname(),
                    m.boot_file(),
                );
            }
            let garbage: Vec<u8> = (0..(next() % 600)).map(|_| next() as u8).collect();
            let _ = parse(&garbage);
        }
        // An all-overloaded message of nothing but pads and cut options.
        let mut m = vec![2u8; 236];
        m.extend_from_slice(&MAGIC);
        m.extend_from_slice(&[52, 1, 3, 0, 0, 99]);
        m[44..236].fill(0);
        m[108] = 200;
        m[109] = 200;
        m[44] = 7;
        m[45] = 200;
        let p = parse(&m).unwrap();
        assert_eq!(p.cut_options, 3);
    }
}
