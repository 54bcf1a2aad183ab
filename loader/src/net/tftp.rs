//! A TFTP client for read requests: RFC 1350 in octet mode, with the option
//! extension (RFC 2347) for `blksize` (RFC 2348), `tsize` and `timeout`
//! (RFC 2349). Windowsize (RFC 7440) is not asked for: Debian's dnsmasq, the
//! server the tests run, does not offer it, and lockstep reaches ~tens of
//! MB/s on a LAN with 1468-byte blocks.
//!
//! The packets are built and read by pure functions ([`rrq`], [`ack`],
//! [`error`], [`parse`]); [`get`] is the transfer over a UDP socket:
//!
//! - the server answers from a new port, its transfer id (TID); the first
//!   reply fixes it, and packets from any other port get an error 5
//!   ("unknown transfer ID") and are otherwise ignored (RFC 1350 §4);
//! - a DATA block that is not the next one is ignored, except the previous
//!   block, which is acknowledged again (our ACK was lost, the server sent it
//!   again); block numbers wrap from 65535 to 0 for files of more than
//!   65535 blocks, as dnsmasq, tftpd-hpa and iPXE do;
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
    let request = |options: &[(&str, String)]| rrq(path, options).ok_or_else(|| TftpError::BadPath(path.into()));
    let mut last = request(&asked)?;
    sock.send_to(&last, server).map_err(io("send"))?;

    // One byte more than the largest block we may get: a longer DATA is caught.
    let mut buf = vec![0u8; usize::from(want_blksize.max(DEFAULT_BLKSIZE)) + 5];
    let mut peer: Option<SocketAddr> = None;
    let mut blksize = DEFAULT_BLKSIZE;
    let mut expected: u16 = 1;
    let mut blocks: u64 = 0;
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
                last = ack(block).to_vec();
                tries = 1;
                sock.send_to(&last, from).map_err(io("send"))?;
                if data.len() < usize::from(blksize) {
                    break;
                }
                expected = expected.wrapping_add(1);
            }
            Packet::Data { block, .. } if peer.is_some() && blocks > 0 && block == expected.wrapping_sub(1) => {
                // The server did not get our ACK of this block.
                sock.send_to(&last, from).map_err(io("send"))?;
            }
            _ => {} // old blocks, stray packets
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
