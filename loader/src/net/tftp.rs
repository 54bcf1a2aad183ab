//! A TFTP client for read requests: RFC 1350 in octet mode, with the option
//! extension (RFC 2347) for `blksize` (RFC 2348), `tsize` and `timeout`
//! (RFC 2349), and `windowsize` (RFC 7440) when asked for (dnsmasq ignores
//! it; atftpd takes it).
//!
//! The packets are built and read by pure functions ([`rrq`], [`ack`],
//! [`error`], [`parse`]); [`get`] is the transfer over a UDP socket:
//!
//! - the server answers from a new port, its transfer id (TID); the first
//!   reply fixes it, and packets from any other port get an error 5
//!   ("unknown transfer ID") and are otherwise ignored (RFC 1350 §4);
//! - blocks are acknowledged one by one, or with a window of N blocks the
//!   last block of each window (and the file's last block);
//! - a DATA block that is not the next one is ignored, but the last block
//!   received in order is acknowledged again, once: the server resends from
//!   there (our ACK was lost, or with a window a block was: RFC 7440 §4);
//!   block numbers wrap from 65535 to 0 for files of more than 65535
//!   blocks, as dnsmasq, atftpd, tftpd-hpa and iPXE do;
//! - nothing heard for a `timeout`: the last packet (the request or the last
//!   ACK) is sent again, at most `retries` times in a row; the whole transfer
//!   also has a deadline;
//! - an ERROR packet ends the transfer with its code and message; a server
//!   that refuses options (error 8) is asked again without any.

use super::download::{Sink, SinkError};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The server's well-known port.
pub const PORT: u16 = 69;
/// The block size without the blksize option.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The largest block size RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;

/// A TFTP packet as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A read request (opcode 1): file name, mode, options.
    Rrq {
        /// The file.
        file: String,
        /// `octet`, `netascii`, ...
        mode: String,
        /// Option names (lower-cased) and values.
        options: Vec<(String, String)>,
    },
    /// A write request (opcode 2); never answered.
    Wrq,
    /// A block of data (opcode 3).
    Data {
        /// Its number (the first is 1).
        block: u16,
        /// The bytes (fewer than the block size: the last block).
        data: &'a [u8],
    },
    /// An acknowledgement (opcode 4).
    Ack(u16),
    /// An error (opcode 5).
    Error {
        /// Its code (RFC 1350 §5; 8 from RFC 2347).
        code: u16,
        /// Its message.
        message: String,
    },
    /// The server's option acknowledgement (opcode 6, RFC 2347).
    Oack(Vec<(String, String)>),
}

/// Why bytes are not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its fixed part.
    #[error("TFTP packet of {0} bytes is too short")]
    TooShort(usize),
    /// The opcode is none of 1-6.
    #[error("unknown TFTP opcode {0}")]
    Opcode(u16),
    /// A string field lacks its terminating NUL.
    #[error("TFTP packet: a string is not NUL-terminated")]
    Unterminated,
    /// An option name has no value.
    #[error("TFTP packet: option '{0}' has no value")]
    OptionWithoutValue(String),
}

/// The name of an error code (RFC 1350 §5, RFC 2347).
pub fn error_name(code: u16) -> &'static str {
    match code {
        0 => "not defined",
        1 => "file not found",
        2 => "access violation",
        3 => "disk full",
        4 => "illegal TFTP operation",
        5 => "unknown transfer ID",
        6 => "file already exists",
        7 => "no such user",
        8 => "option negotiation refused",
        _ => "unknown error code",
    }
}

/// Reads a packet.
pub fn parse(b: &[u8]) -> Result<Packet<'_>, PacketError> {
    let (op, rest) = split_u16(b).ok_or(PacketError::TooShort(b.len()))?;
    Ok(match op {
        1 => {
            let mut strings = Strings(rest);
            let file = strings.next_str()?.ok_or(PacketError::Unterminated)?;
            let mode = strings.next_str()?.ok_or(PacketError::Unterminated)?;
            Packet::Rrq {
                file,
                mode: mode.to_ascii_lowercase(),
                options: strings.options()?,
            }
        }
        2 => Packet::Wrq,
        3 => {
            let (block, data) = split_u16(rest).ok_or(PacketError::TooShort(b.len()))?;
            Packet::Data { block, data }
        }
        4 => Packet::Ack(split_u16(rest).ok_or(PacketError::TooShort(b.len()))?.0),
        5 => {
            let (code, rest) = split_u16(rest).ok_or(PacketError::TooShort(b.len()))?;
            // Some servers omit the message's NUL: take what is there.
            let msg = rest.split(|&c| c == 0).next().unwrap_or_default();
            Packet::Error {
                code,
                message: String::from_utf8_lossy(msg).into_owned(),
            }
        }
        6 => Packet::Oack(Strings(rest).options()?),
        op => return Err(PacketError::Opcode(op)),
    })
}

fn split_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (head, rest) = b.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), rest))
}

/// NUL-terminated strings, one after another.
struct Strings<'a>(&'a [u8]);

impl Strings<'_> {
    /// The next string; `None` at the end; an error when unterminated.
    fn next_str(&mut self) -> Result<Option<String>, PacketError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let end = self.0.iter().position(|&c| c == 0).ok_or(PacketError::Unterminated)?;
        let (s, rest) = self.0.split_at(end);
        self.0 = rest.get(1..).unwrap_or_default();
        Ok(Some(String::from_utf8_lossy(s).into_owned()))
    }

    fn options(mut self) -> Result<Vec<(String, String)>, PacketError> {
        let mut out = Vec::new();
        while let Some(name) = self.next_str()? {
            let value = self
                .next_str()?
                .ok_or_else(|| PacketError::OptionWithoutValue(name.clone()))?;
            out.push((name.to_ascii_lowercase(), value));
        }
        Ok(out)
    }
}

/// A read request for `file` in octet mode with `options`; `None` when the
/// name holds a NUL (it could not be sent).
pub fn rrq(file: &str, options: &[(&str, String)]) -> Option<Vec<u8>> {
    if file.contains('\0') || options.iter().any(|(n, v)| n.contains('\0') || v.contains('\0')) {
        return None;
    }
    let mut p = vec![0, 1];
    for s in [file, "octet"]
        .into_iter()
        .chain(options.iter().flat_map(|(n, v)| [*n, v.as_str()]))
    {
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    Some(p)
}

/// An ACK of `block`.
pub fn ack(block: u16) -> [u8; 4] {
    let [a, b] = block.to_be_bytes();
    [0, 4, a, b]
}

/// An ERROR packet.
pub fn error(code: u16, message: &str) -> Vec<u8> {
    let mut p = vec![0, 5];
    p.extend_from_slice(&code.to_be_bytes());
    p.extend(message.bytes().filter(|&c| c != 0));
    p.push(0);
    p
}

/// How a transfer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The block size to ask for (`blksize`); 512 or less: not asked (the
    /// default 512 is used). 1468 fills an Ethernet frame: 1500 - IP 20 -
    /// UDP 8 - TFTP 4.
    pub blksize: u16,
    /// Ask the server for the file's size (`tsize`), checked against the
    /// budget before the transfer.
    pub tsize: bool,
    /// How long to wait for a packet before sending the last one again; also
    /// asked of the server (`timeout`, whole seconds, 1-255).
    pub timeout: Duration,
    /// How many times in a row a packet is sent again before giving up.
    pub retries: u32,
    /// Blocks the server may send before an ACK (`windowsize`, RFC 7440);
    /// 1: not asked (lockstep).
    pub windowsize: u16,
    /// The longest the whole transfer may take.
    pub deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            blksize: 1468,
            tsize: true,
            timeout: Duration::from_secs(1),
            retries: 5,
            windowsize: 1,
            deadline: Duration::from_secs(600),
        }
    }
}

/// Why a TFTP transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    /// The path cannot be put in a request (it holds a NUL).
    #[error("TFTP path {0:?} holds a NUL byte")]
    BadPath(String),
    /// A socket call failed.
    #[error("TFTP {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The server sent an ERROR packet.
    #[error("TFTP server error {code} ({}): {message}", error_name(*code))]
    Server {
        /// Its code.
        code: u16,
        /// Its message.
        message: String,
    },
    /// Nothing came back after the retries.
    #[error("TFTP: no answer from {server} after {tries} tries of {timeout:?} ({state})")]
    Timeout {
        /// The server.
        server: SocketAddr,
        /// How many packets were sent.
        tries: u32,
        /// The wait for each.
        timeout: Duration,
        /// Where the transfer was.
        state: String,
    },
    /// The transfer took longer than its deadline.
    #[error("TFTP: the transfer did not finish within {0:?}")]
    Deadline(Duration),
    /// The server sent something that breaks the protocol.
    #[error("TFTP: bad packet from the server: {0}")]
    Protocol(String),
    /// The transfer ended before the size the server announced.
    #[error("TFTP: the transfer ended after {got} of the {tsize} bytes the server announced")]
    Short {
        /// Bytes received.
        got: u64,
        /// The announced size.
        tsize: u64,
    },
    /// The destination refused the bytes.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> TftpError {
    move |source| TftpError::Io { what, source }
}

/// Reads `path` from the TFTP server at `server` into `sink`.
pub fn get(server: SocketAddr, path: &str, opts: &Options, sink: &mut Sink<'_>) -> Result<(), TftpError> {
    let started = Instant::now();
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).map_err(io("bind"))?;
    let timeout = opts.timeout.max(Duration::from_millis(10));
    let mut asked: Vec<(&str, String)> = Vec::new();
    let want_blksize = opts.blksize.clamp(8, MAX_BLKSIZE);
    if want_blksize > DEFAULT_BLKSIZE {
        asked.push(("blksize", want_blksize.to_string()));
    }
    if opts.tsize {
        asked.push(("tsize", "0".into()));
    }
    let secs = timeout.as_secs().clamp(1, 255);
    asked.push(("timeout", secs.to_string()));
    let want_window = opts.windowsize.max(1);
    if want_window > 1 {
        asked.push(("windowsize", want_window.to_string()));
    }
    let request = |options: &[(&str, String)]| rrq(path, options).ok_or_else(|| TftpError::BadPath(path.into()));
    let mut last = request(&asked)?;
    sock.send_to(&last, server).map_err(io("send"))?;

    // One byte more than the largest block we may get: a longer DATA is caught.
    let mut buf = vec![0u8; usize::from(want_blksize.max(DEFAULT_BLKSIZE)) + 5];
    let mut peer: Option<SocketAddr> = None;
    let mut blksize = DEFAULT_BLKSIZE;
    let mut expected: u16 = 1;
    let mut blocks: u64 = 0;
    let mut window: u16 = 1;
    // In-order blocks since the last ACK sent, and whether the last in-order
    // block was acknowledged again for a block out of order.
    let mut unacked: u16 = 0;
    let mut reacked = false;
    let mut tries: u32 = 1;
    let mut plain_retry = false;
    loop {
        let left = opts.deadline.checked_sub(started.elapsed()).filter(|d| !d.is_zero());
        let left = left.ok_or(TftpError::Deadline(opts.deadline))?;
        sock.set_read_timeout(Some(timeout.min(left)))
            .map_err(io("set the read timeout"))?;
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if started.elapsed() >= opts.deadline {
                    return Err(TftpError::Deadline(opts.deadline));
                }
                if tries > opts.retries {
                    let state = match peer {
                        None => "no reply to the read request".into(),
                        Some(_) => format!("waiting for block {} after {blocks} blocks", blocks.saturating_add(1)),
                    };
                    return Err(TftpError::Timeout {
                        server,
                        tries,
                        timeout,
                        state,
                    });
                }
                tries = tries.saturating_add(1);
                sock.send_to(&last, peer.unwrap_or(server)).map_err(io("send"))?;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("receive")(e)),
        };
        if from.ip() != server.ip() {
            continue; // not our server at all
        }
        if peer.is_some_and(|p| p != from) {
            // Another TID: tell it, and go on with ours (RFC 1350 §4).
            let _ = sock.send_to(&error(5, "unknown transfer ID"), from);
            continue;
        }
        let packet = match parse(buf.get(..n).unwrap_or_default()) {
            Ok(p) => p,
            Err(e) => {
                let _ = sock.send_to(&error(4, "malformed packet"), from);
                return Err(TftpError::Protocol(e.to_string()));
            }
        };
        match packet {
            Packet::Error { code: 8, .. } if peer.is_none() && !plain_retry => {
                // Options refused: ask once more without any (RFC 2347).
                plain_retry = true;
                last = request(&[])?;
                tries = 1;
                sock.send_to(&last, server).map_err(io("send"))?;
            }
            Packet::Error { code, message } => return Err(TftpError::Server { code, message }),
            Packet::Oack(options) if peer.is_none() && !plain_retry => {
                for (name, value) in &options {
                    let bad = || TftpError::Protocol(format!("option {name}={value} in the server's OACK"));
                    match name.as_str() {
                        "blksize" => {
                            blksize = value
                                .parse()
                                .ok()
                                .filter(|&b: &u16| (8..=want_blksize).contains(&b) && want_blksize > DEFAULT_BLKSIZE)
                                .ok_or_else(bad)?;
                        }
                        "tsize" if opts.tsize => {
                            let size: u64 = value.parse().map_err(|_| bad())?;
                            if let Err(e) = sink.announce(size) {
                                let _ = sock.send_to(&error(3, "file too big for this machine's memory"), from);
                                return Err(e.into());
                            }
                        }
                        "timeout" => {}
                        "windowsize" if want_window > 1 => {
                            window = value
                                .parse()
                                .ok()
                                .filter(|w: &u16| (1..=want_window).contains(w))
                                .ok_or_else(bad)?;
                        }
                        _ => {
                            let _ = sock.send_to(&error(8, "unexpected option"), from);
                            return Err(bad());
                        }
                    }
                }
                peer = Some(from);
                last = ack(0).to_vec();
                tries = 1;
                sock.send_to(&last, from).map_err(io("send"))?;
            }
            Packet::Oack(_) if peer == Some(from) && blocks == 0 => {
                // Our ACK 0 was lost.
                sock.send_to(&last, from).map_err(io("send"))?;
            }
            Packet::Data { block, data } if block == expected && (peer.is_some() || block == 1) => {
                if peer.is_none() {
                    // The server ignored the options: plain RFC 1350.
                    peer = Some(from);
                    blksize = DEFAULT_BLKSIZE;
                }
                if data.len() > usize::from(blksize) {
                    let _ = sock.send_to(&error(4, "block larger than blksize"), from);
                    return Err(TftpError::Protocol(format!(
                        "block {block} holds {} bytes, more than the block size {blksize}",
                        data.len()
                    )));
                }
                if let Err(e) = sink.write(data) {
                    let _ = sock.send_to(&error(3, "file too big for this machine's memory"), from);
                    return Err(e.into());
                }
                blocks = blocks.saturating_add(1);
                // On a timeout this ACK goes out, sent now or not.
                last = ack(block).to_vec();
                tries = 1;
                reacked = false;
                unacked = unacked.saturating_add(1);
                let end = data.len() < usize::from(blksize);
                if end || unacked >= window {
                    unacked = 0;
                    sock.send_to(&last, from).map_err(io("send"))?;
                }
                if end {
                    break;
                }
                expected = expected.wrapping_add(1);
            }
            Packet::Data { .. } if peer == Some(from) && !reacked => {
                // Not the next block: an old one (the server did not get our
                // ACK) or one after a lost block. Acknowledge the last block
                // received in order, once, so the server resends from there.
                reacked = true;
                unacked = 0;
                sock.send_to(&last, from).map_err(io("send"))?;
            }
            _ => {} // further stray blocks, stray packets
        }
    }
    match sink.announced() {
        Some(tsize) if sink.written() != tsize => Err(TftpError::Short {
            got: sink.written(),
            tsize,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_with_options() {
        let p = rrq(
            "pxelinux.cfg/default",
            &[("blksize", "1468".into()), ("tsize", "0".into())],
        )
        .unwrap();
        assert_eq!(
            p,
            b"\0\x01pxelinux.cfg/default\x00octet\x00blksize\x001468\x00tsize\x000\x00"
        );
        assert_eq!(
            parse(&p).unwrap(),
            Packet::Rrq {
                file: "pxelinux.cfg/default".into(),
                mode: "octet".into(),
                options: vec![("blksize".into(), "1468".into()), ("tsize".into(), "0".into())],
            }
        );
        assert_eq!(rrq("a\0b", &[]), None);
    }

    #[test]
    fn oack() {
        // RFC 2347's layout: opcode 6, then name NUL value NUL pairs.
        let p = b"\0\x06blksize\x001468\x00tsize\x004194304\x00timeout\x001\x00";
        assert_eq!(
            parse(p).unwrap(),
            Packet::Oack(vec![
                ("blksize".into(), "1468".into()),
                ("tsize".into(), "4194304".into()),
                ("timeout".into(), "1".into())
            ])
        );
        assert_eq!(
            parse(b"\0\x06BLKSIZE\0"),
            Err(PacketError::OptionWithoutValue("BLKSIZE".into()))
        );
        assert_eq!(parse(b"\0\x06blksize\x00512"), Err(PacketError::Unterminated));
    }

    #[test]
    fn data_ack_error() {
        assert_eq!(
            parse(b"\0\x03\xff\xffabc").unwrap(),
            Packet::Data {
                block: 65535,
                data: b"abc"
            }
        );
        assert_eq!(parse(b"\0\x03\0\x01").unwrap(), Packet::Data { block: 1, data: b"" });
        assert_eq!(parse(&ack(258)).unwrap(), Packet::Ack(258));
        assert_eq!(
            parse(&error(1, "file /x not found")).unwrap(),
            Packet::Error {
                code: 1,
                message: "file /x not found".into()
            }
        );
        // No NUL after the message: still read.
        assert_eq!(
            parse(b"\0\x05\0\x02denied").unwrap(),
            Packet::Error {
                code: 2,
                message: "denied".into()
            }
        );
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(parse(b""), Err(PacketError::TooShort(0)));
        assert_eq!(parse(b"\0"), Err(PacketError::TooShort(1)));
        assert_eq!(parse(b"\0\x03\0"), Err(PacketError::TooShort(3)));
        assert_eq!(parse(b"\0\x09"), Err(PacketError::Opcode(9)));
        assert_eq!(parse(b"\0\x01file"), Err(PacketError::Unterminated));
        for len in 0..40 {
            let p = rrq("some/file", &[("tsize", "0".into())]).unwrap();
            let _ = parse(&p[..len.min(p.len())]);
        }
    }

    #[test]
    fn real_dnsmasq_packets() {
        let d = |name: &str| {
            std::fs::read(format!(
                "{}/testdata/netboot/dnsmasq/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        assert_eq!(
            parse(&d("dnsmasq-oack.bin")).unwrap(),
            Packet::Oack(vec![("blksize".into(), "1468".into()), ("tsize".into(), "24".into())])
        );
        assert_eq!(
            parse(&d("dnsmasq-data1.bin")).unwrap(),
            Packet::Data {
                block: 1,
                data: b"hello from dnsmasq tftp\n"
            }
        );
        let Packet::Error { code: 1, message } = parse(&d("dnsmasq-error-not-found.bin")).unwrap() else {
            panic!("not an error 1");
        };
        assert_eq!(message, "file /tmp/cap2/tftp/missing.cfg not found for 127.0.0.1");
    }

    /// A scripted server on 127.0.0.1 for what real servers do not do on
    /// demand: a stray TID, a lost block inside a window, an old block. The
    /// transfers against real dnsmasq and atftpd are in tests/netboot.rs.
    #[test]
    fn windows_losses_and_stray_tids() {
        use std::net::UdpSocket;
        const BLK: usize = 600;
        let file: Vec<u8> = (0..BLK * 10 + 3).map(|i| (i % 251) as u8).collect();
        let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = listen.local_addr().unwrap();
        let data = file.clone();
        let script = std::thread::spawn(move || {
            let t = Duration::from_secs(5);
            listen.set_read_timeout(Some(t)).unwrap();
            let mut buf = [0u8; 2048];
            let (n, client) = listen.recv_from(&mut buf).unwrap();
            let Packet::Rrq { file, options, .. } = parse(&buf[..n]).unwrap() else {
                panic!("not an RRQ")
            };
            assert_eq!(file, "images/linux");
            assert!(options.contains(&("windowsize".into(), "4".into())), "{options:?}");
            assert!(options.contains(&("blksize".into(), "1024".into())), "{options:?}");
            let tid = UdpSocket::bind("127.0.0.1:0").unwrap();
            tid.set_read_timeout(Some(t)).unwrap();
            let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
            stray.set_read_timeout(Some(t)).unwrap();
            let oack = b"\0\x06blksize\x00600\x00windowsize\x004\x00tsize\x006003\x00";
            tid.send_to(oack, client).unwrap();
            let expect_ack = |want: u16| {
                let mut buf = [0u8; 64];
                let (n, from) = tid.recv_from(&mut buf).unwrap();
                assert_eq!(from, client);
                assert_eq!(parse(&buf[..n]).unwrap(), Packet::Ack(want));
            };
            expect_ack(0);
            let block = |b: u16| {
                let start = (usize::from(b) - 1) * BLK;
                let mut p = vec![0, 3];
                p.extend_from_slice(&b.to_be_bytes());
                p.extend_from_slice(&data[start..(start + BLK).min(data.len())]);
                p
            };
            // A stray TID's block 1 (garbage): refused with error 5, ignored.
            stray.send_to(b"\0\x03\0\x01garbage", client).unwrap();
            let (n, _) = stray.recv_from(&mut buf).unwrap();
            assert!(matches!(parse(&buf[..n]).unwrap(), Packet::Error { code: 5, .. }));
            // Window 1-4 with block 3 lost: the client acknowledges 2, once.
            for b in [1, 2, 4] {
                tid.send_to(&block(b), client).unwrap();
            }
            expect_ack(2);
            for b in 3..=6 {
                tid.send_to(&block(b), client).unwrap();
            }
            expect_ack(6);
            // An old block (as if ACK 6 was lost), then the next window.
            tid.send_to(&block(6), client).unwrap();
            expect_ack(6);
            for b in 7..=10 {
                tid.send_to(&block(b), client).unwrap();
            }
            expect_ack(10);
            tid.send_to(&block(11), client).unwrap();
            expect_ack(11);
        });
        let opts = Options {
            blksize: 1024,
            windowsize: 4,
            timeout: Duration::from_secs(3),
            ..Options::default()
        };
        let mut sink = Sink::memfd(c"t", 1 << 20, None).unwrap();
        get(server, "images/linux", &opts, &mut sink).unwrap();
        script.join().unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut sink.finish().unwrap().file, &mut got).unwrap();
        assert!(got == file);
    }

    #[test]
    fn error_text_names_the_code() {
        let e = TftpError::Server {
            code: 1,
            message: "file /srv/x not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "TFTP server error 1 (file not found): file /srv/x not found"
        );
    }
}
