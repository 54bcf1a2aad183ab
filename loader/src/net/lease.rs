//! The DHCPv4 client loop (RFC 2131 §3.1 and §4.4.1): DISCOVER until an
//! OFFER, REQUEST it until an ACK, with retransmissions that back off, all
//! inside one deadline; then the lease is put on the interface (address,
//! default route) through [`super::link`].
//!
//! The client has no address yet, so it asks servers to broadcast their
//! replies (the `flags` broadcast bit) and reads them on a UDP socket bound to
//! port 68 on that one interface (`SO_BINDTODEVICE`): several interfaces can
//! run their exchanges side by side. Offers without an address (proxyDHCP,
//! PXE's port 4011 servers) are not used. Renewal is not done: a bootloader
//! holds its lease for the minutes before kexec.

use super::dhcp::{self, Client, Message, MessageType};
use super::link::{self, Interface, LinkError, Netlink};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// What the client says about itself.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// PXE client architecture (options 60 and 93): 0 BIOS, 7 EFI x86-64.
    pub arch: u16,
    /// The machine's SMBIOS UUID (option 97), if known.
    pub uuid: Option<[u8; 16]>,
    /// Option 12, if any.
    pub hostname: Option<String>,
}

/// An address lease and what came with it.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The interface it is for.
    pub interface: String,
    /// The address given.
    pub address: Ipv4Addr,
    /// Its prefix length (from option 1; /24 without one).
    pub prefix: u8,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// The server that gave it (option 54).
    pub server: Option<Ipv4Addr>,
    /// The ACK itself: the boot file, next server, PXELINUX options…
    pub ack: Message,
    /// How long the exchange took.
    pub took: Duration,
}

impl Lease {
    /// `eth0 192.0.2.10 via 192.0.2.1` (no `via` without a router).
    pub fn describe(&self) -> String {
        match self.routers.first() {
            Some(r) => format!("{} {} via {r}", self.interface, self.address),
            None => format!("{} {}", self.interface, self.address),
        }
    }
}

/// Why no lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The socket could not be made.
    #[error("DHCP on {iface}: {err}")]
    Socket {
        /// Interface.
        iface: String,
        /// Why.
        err: io::Error,
    },
    /// No server offered an address in time.
    #[error("DHCP on {iface}: no offer in {secs:.1} s ({sent} DISCOVERs sent)")]
    NoOffer {
        /// Interface.
        iface: String,
        /// Seconds waited.
        secs: f64,
        /// Messages sent.
        sent: u32,
    },
    /// An offer came but no ACK.
    #[error("DHCP on {iface}: server {server} offered {offered} but did not acknowledge it in time")]
    NoAck {
        /// Interface.
        iface: String,
        /// The offering server.
        server: String,
        /// The address offered.
        offered: Ipv4Addr,
    },
    /// The server refused (NAK) every time.
    #[error("DHCP on {iface}: server {server} refused the request (NAK) {times} times")]
    Nak {
        /// Interface.
        iface: String,
        /// The refusing server.
        server: String,
        /// How often.
        times: u32,
    },
    /// Putting the lease on the interface failed.
    #[error("DHCP on {iface}: {err}")]
    Configure {
        /// Interface.
        iface: String,
        /// Why.
        err: LinkError,
    },
}

/// The wait before retransmission `n` (0-based): 1, 2, 4, then 8 s; RFC 2131
/// §4.1 starts at 4 s, which is long for a machine waiting to boot.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.min(3))
}

/// Four random bytes for a transaction id.
fn random_xid() -> u32 {
    use std::io::Read;
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b = (t.subsec_nanos() ^ std::process::id()).to_ne_bytes();
    }
    u32::from_ne_bytes(b)
}

/// A UDP socket on 0.0.0.0:68, bound to `iface`, allowed to broadcast.
fn socket(iface: &str) -> io::Result<UdpSocket> {
    use nix::sys::socket::{bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::Broadcast, &true)?;
    setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface))?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(0, 0, 0, 0, dhcp::CLIENT_PORT),
    )?;
    Ok(UdpSocket::from(fd))
}

/// Waits until `until` for a reply to `client` of one of `want`; other
/// datagrams are skipped.
fn receive(s: &UdpSocket, client: &Client, want: &[MessageType], until: Instant) -> Option<Message> {
    let mut buf = vec![0u8; 1500];
    loop {
        let left = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        s.set_read_timeout(Some(left)).ok()?;
        let n = match s.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        let Ok(m) = dhcp::parse(buf.get(..n).unwrap_or(&[])) else {
            continue;
        };
        if m.answers(client) && m.message_type().is_some_and(|t| want.contains(&t)) {
            return Some(m);
        }
    }
}

/// Times a REQUEST is refused before giving up.
const MAX_NAKS: u32 = 3;

/// Gets a lease on `iface` (which must be up) before `deadline`.
pub fn lease(iface: &Interface, who: &Identity, deadline: Instant) -> Result<Lease, LeaseError> {
    let start = Instant::now();
    let name = iface.name.clone();
    let s = socket(&name).map_err(|err| LeaseError::Socket {
        iface: name.clone(),
        err,
    })?;
    let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, dhcp::SERVER_PORT);
    let mut client = Client {
        xid: random_xid(),
        htype: 1,
        hw: iface.mac.to_vec(),
        secs: 0,
        broadcast: true,
        arch: who.arch,
        uuid: who.uuid,
        hostname: who.hostname.clone(),
    };
    let mut sent = 0u32;
    let mut naks = 0u32;
    loop {
        // SELECTING: DISCOVER until an offer with an address.
        let offer = loop {
            if Instant::now() >= deadline {
                return Err(LeaseError::NoOffer {
                    iface: name,
                    secs: start.elapsed().as_secs_f64(),
                    sent,
                });
            }
            client.secs = start.elapsed().as_secs().min(u16::MAX as u64) as u16;
            // A send that fails (no carrier yet) is retried like a lost one.
            if s.send_to(&dhcp::discover(&client), to).is_ok() {
                sent += 1;
            }
            let until = (Instant::now() + backoff(sent.saturating_sub(1))).min(deadline);
            if let Some(o) = receive(&s, &client, &[MessageType::Offer], until) {
                if !o.yiaddr.is_unspecified() {
                    break o;
                }
            }
        };
        let server = offer
            .server_id()
            .map_or_else(|| "(no server id)".to_string(), |a| a.to_string());
        log::debug!("{name}: offer of {} from {server}", offer.yiaddr);
        // REQUESTING: the same request, retransmitted, until ACK or NAK.
        let mut tries = 0u32;
        let answer = loop {
            if Instant::now() >= deadline || tries >= 4 {
                return Err(LeaseError::NoAck {
                    iface: name,
                    server,
                    offered: offer.yiaddr,
                });
            }
            let _ = s.send_to(&dhcp::request(&client, &offer), to);
            let until = (Instant::now() + backoff(tries)).min(deadline);
            tries += 1;
            if let Some(a) = receive(&s, &client, &[MessageType::Ack, MessageType::Nak], until) {
                break a;
            }
        };
        if answer.message_type() == Some(MessageType::Nak) {
            naks += 1;
            if naks >= MAX_NAKS {
                return Err(LeaseError::Nak {
                    iface: name,
                    server,
                    times: naks,
                });
            }
            client.xid = random_xid();
            continue;
        }
        let address = if answer.yiaddr.is_unspecified() {
            offer.yiaddr
        } else {
            answer.yiaddr
        };
        return Ok(Lease {
            interface: name,
            address,
            prefix: answer.subnet_mask().map_or(24, link::prefix_len),
            routers: answer.routers(),
            dns: answer.dns_servers(),
            server: answer.server_id().or(offer.server_id()),
            ack: answer,
            took: start.elapsed(),
        });
    }
}

/// Puts `lease` on `iface`: its address, and the default route through its
/// first router.
pub fn configure(nl: &mut Netlink, iface: &Interface, lease: &Lease) -> Result<(), LeaseError> {
    let err = |err| LeaseError::Configure {
        iface: iface.name.clone(),
        err,
    };
    nl.add_address(iface.index, lease.address, lease.prefix).map_err(err)?;
    if let Some(r) = lease.routers.first() {
        nl.default_route(iface.index, *r).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_stays() {
        let secs: Vec<u64> = (0..6).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff(u32::MAX).as_secs(), 8);
    }

    #[test]
    fn xids_differ() {
        let a: std::collections::BTreeSet<u32> = (0..8).map(|_| random_xid()).collect();
        assert!(a.len() > 1);
    }
}
