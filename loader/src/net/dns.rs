//! A minimal DNS resolver: A records (IPv4) over UDP, asked of the servers
//! the caller gives (the DHCP lease's option 6), with a timeout and retries.
//! No cache, no TCP fallback, no search domains: a boot file's host name is
//! looked up once.
//!
//! The message format is RFC 1035 §4.1: a 12-byte header, the question, and
//! resource records whose names may be compressed (§4.1.4: a two-byte
//! pointer, top bits 11, to an earlier name). [`query`] and [`parse_reply`]
//! are pure; [`resolve`] does the sending.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The DNS server port.
pub const PORT: u16 = 53;
/// Record type A (RFC 1035 §3.2.2).
const TYPE_A: u16 = 1;
/// Class IN.
const CLASS_IN: u16 = 1;

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Not a host name DNS can carry.
    #[error("'{0}' is not a valid host name")]
    BadName(String),
    /// The reply is malformed.
    #[error("bad DNS reply: {0}")]
    Malformed(&'static str),
    /// The reply does not answer our question (another id or name).
    #[error("DNS reply to another question")]
    NotOurs,
    /// The server says the name does not exist (RCODE 3).
    #[error("DNS: no such host '{0}'")]
    NoSuchName(String),
    /// The server answered with another error code.
    #[error("DNS server error {code} ({}) for '{name}'", rcode_name(*code))]
    Server {
        /// RCODE.
        code: u8,
        /// The name asked.
        name: String,
    },
    /// The name exists but has no A record.
    #[error("DNS: '{0}' has no IPv4 address")]
    NoAddress(String),
    /// No server was given (the lease named none).
    #[error("DNS: no server to ask for '{0}' (the DHCP lease named none)")]
    NoServers(String),
    /// No server answered in time.
    #[error("DNS: no answer for '{name}' from {servers} after {tries} tries of {timeout:?}")]
    Timeout {
        /// The name asked.
        name: String,
        /// The servers, comma-separated.
        servers: String,
        /// Rounds over all servers.
        tries: u32,
        /// The wait in each round.
        timeout: Duration,
    },
    /// A socket call failed.
    #[error("DNS {what}: {msg}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error's text.
        msg: String,
    },
}

fn rcode_name(code: u8) -> &'static str {
    match code {
        1 => "format error",
        2 => "server failure",
        3 => "no such name",
        4 => "not implemented",
        5 => "refused",
        _ => "unknown",
    }
}

/// A query for `name`'s A records with message id `id` (recursion
/// desired).
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let bad = || DnsError::BadName(name.to_string());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad());
    }
    let mut m = Vec::with_capacity(18usize.saturating_add(trimmed.len()));
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00]); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // 1 question
    for label in trimmed.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(bad)?;
        if !label
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Err(bad());
        }
        m.push(len);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&TYPE_A.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(m)
}

/// Reads a reply to the query `id` for `name`: its A records, in order.
pub fn parse_reply(b: &[u8], id: u16, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
    let short = DnsError::Malformed("shorter than its header");
    let h = b.get(..12).ok_or(short)?;
    let u16_at = |i: usize| be16(h, i);
    if u16_at(0) != id {
        return Err(DnsError::NotOurs);
    }
    let flags = u16_at(2);
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("a query, not a reply"));
    }
    let rcode = (flags & 0x000f) as u8; // 4 bits
    let (qd, an) = (u16_at(4), u16_at(6));
    let mut pos = 12usize;
    for _ in 0..qd {
        let q = read_name(b, &mut pos)?;
        if !q.eq_ignore_ascii_case(name.strip_suffix('.').unwrap_or(name)) {
            return Err(DnsError::NotOurs);
        }
        pos = pos
            .checked_add(4)
            .filter(|&p| p <= b.len())
            .ok_or(DnsError::Malformed("question cut short"))?;
    }
    match rcode {
        0 => {}
        3 => return Err(DnsError::NoSuchName(name.to_string())),
        code => {
            return Err(DnsError::Server {
                code,
                name: name.to_string(),
            })
        }
    }
    let mut out = Vec::new();
    for _ in 0..an {
        read_name(b, &mut pos)?;
        let fixed = b
            .get(pos..pos.saturating_add(10))
            .ok_or(DnsError::Malformed("record cut short"))?;
        // TYPE, CLASS, TTL (4 bytes), RDLENGTH (RFC 1035 §4.1.3).
        let (ty, class, rdlen) = (be16(fixed, 0), be16(fixed, 2), usize::from(be16(fixed, 8)));
        let start = pos.saturating_add(10);
        let data = b
            .get(start..start.saturating_add(rdlen))
            .ok_or(DnsError::Malformed("record data cut short"))?;
        // CNAMEs come with their target's A records in the same answer
        // (RFC 1034 §4.3.2): every A record of the answer is taken.
        if ty == TYPE_A && class == CLASS_IN {
            let a: [u8; 4] = data
                .try_into()
                .map_err(|_| DnsError::Malformed("A record not 4 bytes"))?;
            out.push(Ipv4Addr::from(a));
        }
        pos = start.saturating_add(rdlen);
    }
    if out.is_empty() {
        return Err(DnsError::NoAddress(name.to_string()));
    }
    Ok(out)
}

/// The big-endian u16 at `i` of `b` (0 past its end: callers check the
/// length first).
fn be16(b: &[u8], i: usize) -> u16 {
    b.get(i..i.saturating_add(2))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_be_bytes)
}

/// Reads a (possibly compressed) name at `*pos`, moving `*pos` past it.
fn read_name(b: &[u8], pos: &mut usize) -> Result<String, DnsError> {
    let mut name = String::new();
    let mut at = *pos;
    let mut jumped = false;
    // Each pointer must go backwards, so a loop ends; bounded anyway.
    for _ in 0..128 {
        let len = *b.get(at).ok_or(DnsError::Malformed("name cut short"))?;
        match len & 0xc0 {
            0xc0 => {
                let lo = *b
                    .get(at.saturating_add(1))
                    .ok_or(DnsError::Malformed("pointer cut short"))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                if target >= at {
                    return Err(DnsError::Malformed("name pointer does not point back"));
                }
                if !jumped {
                    *pos = at.saturating_add(2);
                    jumped = true;
                }
                at = target;
            }
            0x00 if len == 0 => {
                if !jumped {
                    *pos = at.saturating_add(1);
                }
                return Ok(name);
            }
            0x00 => {
                let start = at.saturating_add(1);
                let label = b
                    .get(start..start.saturating_add(usize::from(len)))
                    .ok_or(DnsError::Malformed("label cut short"))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                if name.len() > 255 {
                    return Err(DnsError::Malformed("name longer than 255 bytes"));
                }
                at = start.saturating_add(usize::from(len));
            }
            _ => return Err(DnsError::Malformed("reserved label type")),
        }
    }
    Err(DnsError::Malformed("name has too many labels"))
}

/// How [`resolve`] asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The wait for an answer, per round over the servers.
    pub timeout: Duration,
    /// Rounds over all the servers.
    pub tries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(2),
            tries: 3,
        }
    }
}

/// `host`'s IPv4 addresses: an IP literal as it is, else asked of
/// `servers` (each a DNS server; port 53 unless given), in turn, round
/// after round. A definite answer (the name does not exist) ends the search.
pub fn resolve(host: &str, servers: &[SocketAddr], opts: &Options) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if servers.is_empty() {
        return Err(DnsError::NoServers(host.into()));
    }
    let io = |what: &'static str| {
        move |e: std::io::Error| DnsError::Io {
            what,
            msg: e.to_string(),
        }
    };
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io("bind"))?;
    let id = message_id();
    let q = query(id, host)?;
    let mut buf = [0u8; 1500];
    let mut last_error = None;
    for _ in 0..opts.tries.max(1) {
        for s in servers {
            // A send error (no route) just moves on to the next server.
            if let Err(e) = sock.send_to(&q, s) {
                last_error = Some(io("send")(e));
            }
        }
        let until = Instant::now().checked_add(opts.timeout).unwrap_or_else(Instant::now);
        while let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            sock.set_read_timeout(Some(left)).map_err(io("set the read timeout"))?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if servers.contains(&from) => {
                    match parse_reply(buf.get(..n).unwrap_or_default(), id, host) {
                        Ok(a) => return Ok(a.into_iter().map(IpAddr::V4).collect()),
                        Err(DnsError::NotOurs | DnsError::Malformed(_)) => {}
                        // SERVFAIL/REFUSED from one server: another may know.
                        Err(e @ DnsError::Server { .. }) => last_error = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // ICMP port unreachable from a server shows up here on Linux
                // for unconnected sockets too: wait for the others.
                Err(e) => last_error = Some(io("receive")(e)),
            }
        }
    }
    match last_error {
        Some(e @ DnsError::Server { .. }) => Err(e),
        _ => Err(DnsError::Timeout {
            name: host.into(),
            servers: servers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            tries: opts.tries.max(1),
            timeout: opts.timeout,
        }),
    }
}

/// A message id that differs between calls and boots (RFC 5452 §9.2 wants
/// it unpredictable; without a DNSSEC check this only keeps stray replies
/// apart).
fn message_id() -> u16 {
    let mut b = [0u8; 2];
    if crate::sys::random_if_ready(&mut b) {
        return u16::from_ne_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (t ^ std::process::id().rotate_left(16)) as u16 // the low bits: truncation meant
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_layout() {
        let q = query(0x1234, "boot.example.").unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\0\x01\0\0\0\0\0\0\x04boot\x07example\0\0\x01\0\x01".to_vec()
        );
        for bad in [
            "",
            ".",
            "a..b",
            "x y",
            &"a".repeat(64),
            &format!("{}.x", "a.".repeat(127)),
        ] {
            assert!(matches!(query(1, bad), Err(DnsError::BadName(_))), "{bad:?}");
        }
    }

    /// A reply to `boot.test` built by hand (AA and RA set): the question,
    /// then `answers`, whose names may point back at the question's (0xc00c).
    fn reply(id: u16, rcode: u8, answers: &[&[u8]]) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x85, 0x80 | rcode, 0, 1, 0, answers.len() as u8, 0, 0, 0, 0]);
        m.extend_from_slice(b"\x04boot\x04test\0\0\x01\0\x01");
        for a in answers {
            m.extend_from_slice(a);
        }
        m
    }

    const A: &[u8] = b"\xc0\x0c\0\x01\0\x01\0\0\0\0\0\x04\xc0\x00\x02\x0a";

    #[test]
    fn reads_a_records_through_pointers() {
        let cname = b"\xc0\x0c\0\x05\0\x01\0\0\0\x3c\0\x06\x03www\xc0\x11";
        let r = reply(7, 0, &[cname, A]);
        assert_eq!(
            parse_reply(&r, 7, "boot.test").unwrap(),
            vec![Ipv4Addr::new(192, 0, 2, 10)]
        );
        assert_eq!(parse_reply(&r, 7, "BOOT.test.").unwrap().len(), 1);
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(parse_reply(&reply(7, 0, &[A]), 8, "boot.test"), Err(DnsError::NotOurs));
        assert_eq!(parse_reply(&reply(7, 0, &[A]), 7, "other.test"), Err(DnsError::NotOurs));
        assert_eq!(
            parse_reply(&reply(7, 3, &[]), 7, "boot.test"),
            Err(DnsError::NoSuchName("boot.test".into()))
        );
        assert!(matches!(
            parse_reply(&reply(7, 5, &[]), 7, "boot.test"),
            Err(DnsError::Server { code: 5, .. })
        ));
        assert_eq!(
            parse_reply(&reply(7, 0, &[]), 7, "boot.test"),
            Err(DnsError::NoAddress("boot.test".into()))
        );
        // A pointer to itself, forward or out of range: an error, no loop.
        let looped = reply(7, 0, &[b"\xc0\x1e\0\x01"]);
        assert!(matches!(
            parse_reply(&looped, 7, "boot.test"),
            Err(DnsError::Malformed(_))
        ));
        let full = reply(7, 0, &[A]);
        for len in 0..full.len() {
            assert!(parse_reply(&full[..len], 7, "boot.test").is_err(), "{len}");
        }
    }

    #[test]
    fn real_dnsmasq_replies() {
        let a = include_bytes!("../../testdata/netboot/dnsmasq/dnsmasq-a-boot.test.bin");
        assert_eq!(
            parse_reply(a, 0xbeef, "boot.test").unwrap(),
            vec![Ipv4Addr::new(192, 0, 2, 10)]
        );
        assert_eq!(parse_reply(a, 0xbeee, "boot.test"), Err(DnsError::NotOurs));
        let refused = include_bytes!("../../testdata/netboot/dnsmasq/dnsmasq-refused.bin");
        let e = parse_reply(refused, 0xbeef, "nothing.test").unwrap_err();
        assert_eq!(e.to_string(), "DNS server error 5 (refused) for 'nothing.test'");
        // The reply repeats our question byte for byte.
        assert_eq!(query(0xbeef, "boot.test").unwrap()[12..], a[12..27]);
    }

    #[test]
    fn literals_skip_dns() {
        let o = Options::default();
        assert_eq!(
            resolve("192.0.2.1", &[], &o).unwrap(),
            vec![IpAddr::from([192, 0, 2, 1])]
        );
        assert_eq!(
            resolve("[::1]", &[], &o).unwrap(),
            vec![IpAddr::from(Ipv6Addr::LOCALHOST)]
        );
        assert_eq!(
            resolve("boot.test", &[], &o),
            Err(DnsError::NoServers("boot.test".into()))
        );
    }
    use std::net::Ipv6Addr;
}
