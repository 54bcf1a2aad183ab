//! Network interfaces: which there are (sysfs), bringing one up and giving it
//! an address and a default route (rtnetlink, RFC 3549, through a
//! `NETLINK_ROUTE` socket; the messages are built here, so no `unsafe` and no
//! netlink crate).
//!
//! The message layouts are the kernel's uapi (`linux/netlink.h`,
//! `rtnetlink.h`, `if_addr.h`): a 16-byte `nlmsghdr`, then `ifinfomsg` (16
//! bytes), `ifaddrmsg` (8) or `rtmsg` (12), then attributes (`rtattr`: length,
//! type, value, padded to 4 bytes). Every request asks for an acknowledgement
//! (`NLM_F_ACK`), and the kernel's `NLMSG_ERROR` answer carries 0 or a
//! negative errno.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const AF_INET: u8 = 2;
const IFF_UP: u32 = 0x1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
/// `RTPROT_DHCP`: the route came from a DHCP client.
const RTPROT_DHCP: u8 = 16;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// One network interface that can carry a DHCP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel name (`eth0`, `enp0s3`).
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// Hardware (MAC) address.
    pub mac: [u8; 6],
}

impl Interface {
    /// `52:54:00:12:34:56`.
    pub fn mac_text(&self) -> String {
        mac_text(&self.mac)
    }
}

/// A MAC address as colon-separated lower-case hex.
pub fn mac_text(mac: &[u8]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Reads `52:54:00:12:34:56`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The Ethernet interfaces under `sys_class_net` (`/sys/class/net`), in name
/// order: ARP type 1, a MAC address that is not all zeros; not loopback,
/// not wireless (a `wireless` or `phy80211` entry: no association here), not
/// virtual bridges or bonds' masters (a `bridge` or `bonding` entry).
pub fn interfaces(sys_class_net: &Path) -> Vec<Interface> {
    let Ok(dir) = std::fs::read_dir(sys_class_net) else {
        return Vec::new();
    };
    let mut out: Vec<Interface> = dir
        .flatten()
        .take(1024)
        .filter_map(|d| {
            let p = d.path();
            let read = |f: &str| std::fs::read_to_string(p.join(f)).ok();
            if read("type")?.trim() != "1" {
                return None;
            }
            if ["wireless", "phy80211", "bridge", "bonding"]
                .iter()
                .any(|x| p.join(x).exists())
            {
                return None;
            }
            let mac = parse_mac(&read("address")?)?;
            if mac == [0; 6] {
                return None;
            }
            Some(Interface {
                name: d.file_name().to_string_lossy().into_owned(),
                index: read("ifindex")?.trim().parse().ok()?,
                mac,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Whether the interface reports a carrier (`/sys/class/net/NAME/carrier`
/// is 1; reading it fails while the link is down).
pub fn carrier(sys_class_net: &Path, name: &str) -> bool {
    std::fs::read_to_string(sys_class_net.join(name).join("carrier")).is_ok_and(|t| t.trim() == "1")
}

/// Netlink failures.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The socket could not be made or used.
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    /// The kernel refused the request.
    #[error("netlink: {what}: {err}")]
    Refused {
        /// The request.
        what: &'static str,
        /// The kernel's errno.
        err: io::Error,
    },
    /// No answer, or not one that could be read.
    #[error("netlink: {0}: no acknowledgement")]
    NoAck(&'static str),
}

/// Appends one attribute.
fn attr(m: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    m.extend_from_slice(&(len as u16).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(value);
    while !m.len().is_multiple_of(4) {
        m.push(0);
    }
}

/// A request: header (length filled in), then `body`.
fn message(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    let len = (m.len() as u32).to_ne_bytes();
    m[..4].copy_from_slice(&len);
    m
}

/// RTM_NEWLINK setting IFF_UP on `index`.
pub fn link_up_message(index: u32, seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[0] = 0; // AF_UNSPEC
    b[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    b[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
    b[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    message(RTM_NEWLINK, 0, seq, &b)
}

/// The broadcast address of `addr/prefix`.
pub fn broadcast(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let host_bits = 32u32.saturating_sub(prefix.min(32) as u32);
    let host = if host_bits == 32 {
        u32::MAX
    } else {
        (1u32 << host_bits) - 1
    };
    Ipv4Addr::from(u32::from(addr) | host)
}

/// A subnet mask's prefix length (`255.255.255.0` → 24); a mask that is
/// not a run of ones counts its leading ones.
pub fn prefix_len(mask: Ipv4Addr) -> u8 {
    u32::from(mask).leading_ones() as u8
}

/// RTM_NEWADDR: `addr/prefix` on `index`, with its broadcast address.
pub fn add_address_message(index: u32, addr: Ipv4Addr, prefix: u8, seq: u32) -> Vec<u8> {
    let mut b = vec![AF_INET, prefix.min(32), 0, RT_SCOPE_UNIVERSE];
    b.extend_from_slice(&index.to_ne_bytes());
    attr(&mut b, IFA_LOCAL, &addr.octets());
    attr(&mut b, IFA_ADDRESS, &addr.octets());
    attr(&mut b, IFA_BROADCAST, &broadcast(addr, prefix).octets());
    message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq, &b)
}

/// RTM_NEWROUTE: the default route through `gateway` on `index`.
pub fn default_route_message(index: u32, gateway: Ipv4Addr, seq: u32) -> Vec<u8> {
    let mut b = vec![
        AF_INET,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_DHCP,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
    ];
    b.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut b, RTA_GATEWAY, &gateway.octets());
    attr(&mut b, RTA_OIF, &index.to_ne_bytes());
    message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq, &b)
}

/// Reads the kernel's answer to request `seq` in `buf`: `Some(0)` for an
/// acknowledgement, `Some(errno)` for a refusal, `None` when `buf` holds no
/// `NLMSG_ERROR` for `seq`.
pub fn ack_of(buf: &[u8], seq: u32) -> Option<i32> {
    let mut i = 0usize;
    while let Some(h) = buf.get(i..i + 16) {
        let len = u32::from_ne_bytes(h[0..4].try_into().ok()?) as usize;
        let ty = u16::from_ne_bytes(h[4..6].try_into().ok()?);
        let s = u32::from_ne_bytes(h[8..12].try_into().ok()?);
        if len < 16 {
            return None;
        }
        if ty == NLMSG_ERROR && s == seq {
            let e = i32::from_ne_bytes(buf.get(i + 16..i + 20)?.try_into().ok()?);
            return Some(e.checked_neg().unwrap_or(i32::MAX));
        }
        i = i.checked_add((len + 3) & !3)?;
    }
    None
}

/// A `NETLINK_ROUTE` socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// Opens one (needs CAP_NET_ADMIN for the changes).
    pub fn open() -> Result<Netlink, LinkError> {
        use nix::sys::socket::{
            bind, setsockopt, socket, sockopt, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
        };
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(io::Error::from)?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &NetlinkAddr::new(0, 0)).map_err(io::Error::from)?;
        let tv = nix::sys::time::TimeVal::new(2, 0);
        setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(io::Error::from)?;
        Ok(Netlink { fd, seq: 1 })
    }

    fn request(&mut self, what: &'static str, build: impl Fn(u32) -> Vec<u8>) -> Result<(), LinkError> {
        use nix::sys::socket::{recv, sendto, MsgFlags, NetlinkAddr};
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let m = build(seq);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&self.fd.as_fd());
        sendto(raw, &m, &NetlinkAddr::new(0, 0), MsgFlags::empty()).map_err(io::Error::from)?;
        let mut buf = vec![0u8; 8192];
        // Other answers (late ones to earlier requests) are skipped.
        for _ in 0..16 {
            let n = recv(raw, &mut buf, MsgFlags::empty()).map_err(|e| match e {
                nix::errno::Errno::EAGAIN => LinkError::NoAck(what),
                e => LinkError::Io(e.into()),
            })?;
            match ack_of(buf.get(..n).unwrap_or(&[]), seq) {
                Some(0) => return Ok(()),
                Some(e) => {
                    return Err(LinkError::Refused {
                        what,
                        err: io::Error::from_raw_os_error(e),
                    })
                }
                None => continue,
            }
        }
        Err(LinkError::NoAck(what))
    }

    /// Sets the interface up.
    pub fn up(&mut self, index: u32) -> Result<(), LinkError> {
        self.request("setting the link up", |s| link_up_message(index, s))
    }

    /// Gives the interface `addr/prefix`.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
        self.request("adding the address", |s| add_address_message(index, addr, prefix, s))
    }

    /// Routes everything else through `gateway`.
    pub fn default_route(&mut self, index: u32, gateway: Ipv4Addr) -> Result<(), LinkError> {
        self.request("adding the default route", |s| default_route_message(index, gateway, s))
    }
}

/// Waits up to `wait` for the interface's carrier (a link that was just set
/// up takes a moment); returns whether it came.
pub fn wait_carrier(sys_class_net: &Path, name: &str, wait: Duration) -> bool {
    let end = std::time::Instant::now() + wait;
    loop {
        if carrier(sys_class_net, name) {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory laid out like /sys/class/net: loopback, a wireless card, a
    /// bridge, an interface with no MAC and one with a garbage ifindex are
    /// left out; the rest come in name order.
    #[test]
    fn interfaces_from_a_sysfs_like_tree() {
        let dir = tempfile::tempdir().unwrap();
        let add = |name: &str, ty: &str, mac: &str, index: &str, extra: &[&str]| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("type"), format!("{ty}\n")).unwrap();
            std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
            std::fs::write(d.join("ifindex"), format!("{index}\n")).unwrap();
            for x in extra {
                std::fs::create_dir_all(d.join(x)).unwrap();
            }
        };
        add("lo", "772", "00:00:00:00:00:00", "1", &[]);
        add("enp0s3", "1", "52:54:00:12:34:56", "2", &[]);
        add("eth1", "1", "52:54:00:12:34:57", "3", &[]);
        add("wlan0", "1", "52:54:00:12:34:58", "4", &["phy80211"]);
        add("br0", "1", "52:54:00:12:34:59", "5", &["bridge"]);
        add("dummy0", "1", "00:00:00:00:00:00", "6", &[]);
        add("bad0", "1", "52:54:00:12:34:5a", "x", &[]);
        let found = interfaces(dir.path());
        let names: Vec<(&str, u32)> = found.iter().map(|i| (i.name.as_str(), i.index)).collect();
        assert_eq!(names, [("enp0s3", 2), ("eth1", 3)]);
        assert_eq!(found[0].mac_text(), "52:54:00:12:34:56");
        assert!(interfaces(&dir.path().join("nowhere")).is_empty());
    }

    #[test]
    fn macs_and_prefixes() {
        assert_eq!(
            parse_mac("52:54:00:12:34:56\n"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("zz:54:00:12:34:56"), None);
        assert_eq!(mac_text(&[0x52, 0x54, 0, 0xab, 0x34, 0x56]), "52:54:00:ab:34:56");
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), 24);
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 240, 0)), 20);
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), 0);
        assert_eq!(
            broadcast(Ipv4Addr::new(192, 0, 2, 10), 24),
            Ipv4Addr::new(192, 0, 2, 255)
        );
        assert_eq!(
            broadcast(Ipv4Addr::new(10, 1, 2, 3), 8),
            Ipv4Addr::new(10, 255, 255, 255)
        );
        assert_eq!(broadcast(Ipv4Addr::new(10, 1, 2, 3), 0), Ipv4Addr::BROADCAST);
        assert_eq!(broadcast(Ipv4Addr::new(10, 1, 2, 3), 32), Ipv4Addr::new(10, 1, 2, 3));
    }

    /// The bytes `ip addr add 192.0.2.10/24 brd + dev <3>` sends (strace of
    /// iproute2, attribute order aside), checked field by field.
    #[test]
    fn address_message_layout() {
        let m = add_address_message(3, Ipv4Addr::new(192, 0, 2, 10), 24, 7);
        assert_eq!(m.len(), 16 + 8 + 3 * 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        let flags = u16::from_ne_bytes(m[6..8].try_into().unwrap());
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[16..20], &[AF_INET, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 3);
        // IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST: 8 bytes each.
        assert_eq!(u16::from_ne_bytes(m[24..26].try_into().unwrap()), 8);
        assert_eq!(u16::from_ne_bytes(m[26..28].try_into().unwrap()), IFA_LOCAL);
        assert_eq!(&m[28..32], &[192, 0, 2, 10]);
        assert_eq!(u16::from_ne_bytes(m[42..44].try_into().unwrap()), IFA_BROADCAST);
        assert_eq!(&m[44..48], &[192, 0, 2, 255]);
    }

    #[test]
    fn route_and_link_messages() {
        let r = default_route_message(2, Ipv4Addr::new(192, 0, 2, 1), 9);
        assert_eq!(r.len(), 16 + 12 + 8 + 8);
        assert_eq!(
            &r[16..24],
            &[AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_DHCP, 0, RTN_UNICAST]
        );
        assert_eq!(&r[32..36], &[192, 0, 2, 1]);
        let l = link_up_message(5, 1);
        assert_eq!(l.len(), 32);
        assert_eq!(i32::from_ne_bytes(l[20..24].try_into().unwrap()), 5);
        assert_eq!(u32::from_ne_bytes(l[24..28].try_into().unwrap()), IFF_UP);
    }

    #[test]
    fn acks_are_found_and_garbage_is_not() {
        let mut a = message(NLMSG_ERROR, 0, 4, &0i32.to_ne_bytes());
        a.extend_from_slice(&[0; 16]); // the echoed request header
        let n = a.len() as u32;
        a[0..4].copy_from_slice(&n.to_ne_bytes());
        assert_eq!(ack_of(&a, 4), Some(0));
        assert_eq!(ack_of(&a, 5), None);
        let mut refused = message(NLMSG_ERROR, 0, 6, &(-17i32).to_ne_bytes());
        let n = refused.len() as u32;
        refused[0..4].copy_from_slice(&n.to_ne_bytes());
        assert_eq!(ack_of(&refused, 6), Some(17));
        // Two messages in one datagram: the second is the answer.
        let mut two = a.clone();
        two.extend_from_slice(&refused);
        assert_eq!(ack_of(&two, 6), Some(17));
        assert_eq!(ack_of(&[], 1), None);
        assert_eq!(ack_of(&[0xff; 15], 1), None);
        let mut zero_len = a.clone();
        zero_len[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(ack_of(&zero_len, 4), None);
        let mut huge = a;
        huge[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ack_of(&huge, 5), None);
        assert_eq!(ack_of(&i32::MIN.to_ne_bytes().repeat(8), 1), None);
    }
}
