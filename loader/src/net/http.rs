//! An HTTP/1.1 client for GET (RFC 9110, 9112): `Host`, `Connection:
//! close` (one request per connection: boot files are few and big), bodies
//! framed by `Content-Length`, by chunked transfer coding or by the end of
//! the connection, redirects (301, 302, 303, 307, 308) up to a limit, and
//! connect and read timeouts. No HTTPS, no compression (none is asked for).
//!
//! The response head ([`parse_head`]) and the chunked decoder ([`Chunked`])
//! are pure and incremental; [`get`] does the I/O.

use super::dns;
use super::download::{Sink, SinkError};
use super::url::{Scheme, Url, UrlError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The longest response head read (status line and headers).
pub const MAX_HEAD: usize = 64 << 10;
/// The longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// The most trailer bytes taken after the last chunk.
const MAX_TRAILER: usize = 16 << 10;

/// A response's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order; names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body is framed (RFC 9112 §6.3), for a response to GET.
    pub fn framing(&self) -> Result<Framing, HeadError> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(Framing::None);
        }
        let te: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(last) = te.last() {
            // Chunked must be the last coding; any other coding (gzip, ...)
            // we did not ask for and cannot undo.
            if te.len() == 1 && last.eq_ignore_ascii_case("chunked") {
                return Ok(Framing::Chunked);
            }
            return Err(HeadError::Coding(te.join(", ")));
        }
        if let Some(e) = self
            .header("content-encoding")
            .filter(|e| !e.eq_ignore_ascii_case("identity"))
        {
            return Err(HeadError::Coding(e.to_string()));
        }
        let mut length = None;
        for (_, v) in self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            for v in v.split(',').map(str::trim) {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|_| v.bytes().all(|c| c.is_ascii_digit()))
                    .ok_or_else(|| HeadError::BadLength(v.to_string()))?;
                if length.is_some_and(|l| l != n) {
                    return Err(HeadError::BadLength(format!("{} and {n}", length.unwrap_or_default())));
                }
                length = Some(n);
            }
        }
        Ok(length.map_or(Framing::UntilClose, Framing::Length))
    }
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// When the server closes the connection.
    UntilClose,
}

/// Why a response head is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The status line is not `HTTP/1.x NNN reason`.
    #[error("bad HTTP status line {0:?}")]
    StatusLine(String),
    /// A header line has no colon or a bad name.
    #[error("bad HTTP header line {0:?}")]
    HeaderLine(String),
    /// The head is longer than [`MAX_HEAD`].
    #[error("HTTP response head longer than {MAX_HEAD} bytes")]
    TooLong,
    /// A bad or conflicting Content-Length.
    #[error("bad Content-Length {0}")]
    BadLength(String),
    /// A transfer or content coding other than chunked.
    #[error("the server used a coding hopboot cannot read: {0}")]
    Coding(String),
}

/// Reads a response head from the start of `buf`: `None` when the blank
/// line that ends it has not come yet, else the head and its length in
/// bytes (the body starts there). Lines may end in CRLF or bare LF
/// (RFC 9112 §2.2).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut lines = Vec::new();
    let mut pos = 0usize;
    let end = loop {
        let Some(nl) = buf.get(pos..).and_then(|b| b.iter().position(|&c| c == b'\n')) else {
            if buf.len() > MAX_HEAD {
                return Err(HeadError::TooLong);
            }
            return Ok(None);
        };
        let line_end = pos.saturating_add(nl);
        let line = buf.get(pos..line_end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = line_end.saturating_add(1);
        if pos > MAX_HEAD {
            return Err(HeadError::TooLong);
        }
        if line.is_empty() {
            if lines.is_empty() {
                continue; // blank lines before the status line (RFC 9112 §2.2)
            }
            break pos;
        }
        lines.push(String::from_utf8_lossy(line).into_owned());
    };
    let mut lines = lines.into_iter();
    let status_line = lines.next().unwrap_or_default();
    let bad_status = || HeadError::StatusLine(status_line.clone());
    let mut words = status_line.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(bad_status());
    }
    let code = words.next().unwrap_or_default();
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| code.len() == 3 && (100..600).contains(s))
        .ok_or_else(bad_status)?;
    let reason = words.next().unwrap_or_default().trim().to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // obs-fold: a continuation of the previous value (RFC 9112 §5.2).
            let Some((_, v)) = headers.last_mut() else {
                return Err(HeadError::HeaderLine(line));
            };
            v.push(' ');
            v.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::HeaderLine(line));
        };
        let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(HeadError::HeaderLine(line));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some((
        Head {
            status,
            reason,
            headers,
        },
        end,
    )))
}

/// Why a chunked body is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk-size line is not hex (or too big for 64 bits).
    #[error("bad chunk size line {0:?}")]
    BadSize(String),
    /// A chunk's data is not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    NoCrlf,
    /// A size or trailer line, or the trailer, is too long.
    #[error("chunk size or trailer line too long")]
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// A chunked-body decoder (RFC 9112 §7.1), fed the bytes as they come.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: ChunkState,
    line: Vec<u8>,
    trailer: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: ChunkState::Size,
            line: Vec::new(),
            trailer: 0,
        }
    }
}

impl Chunked {
    /// True once the last chunk and the trailer have been read.
    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from the start of `input`: how many bytes it took, and the
    /// body bytes among them (a part of `input`). Call again with the rest
    /// while bytes remain and it is not [`done`](Self::done); it takes at
    /// least one byte per call unless done.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<(usize, &'a [u8]), ChunkError> {
        match self.state {
            ChunkState::Done => Ok((0, &[])),
            ChunkState::Data(left) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let left = left.saturating_sub(n as u64);
                self.state = if left == 0 {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(left)
                };
                Ok((n, input.get(..n).unwrap_or_default()))
            }
            ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                let (taken, complete) = match input.iter().position(|&c| c == b'\n') {
                    Some(i) => (i.saturating_add(1), true),
                    None => (input.len(), false),
                };
                let part = input.get(..taken).unwrap_or_default();
                if self.line.len().saturating_add(part.len()) > MAX_LINE {
                    return Err(ChunkError::TooLong);
                }
                self.line.extend_from_slice(part);
                if complete {
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line)?;
                }
                Ok((taken, &[]))
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.state {
            ChunkState::Size => {
                let text = String::from_utf8_lossy(line);
                // chunk-size [ BWS ; chunk-ext ]
                let hex = text.split(';').next().unwrap_or_default().trim();
                let size = (!hex.is_empty() && hex.len() <= 16 && hex.bytes().all(|c| c.is_ascii_hexdigit()))
                    .then(|| u64::from_str_radix(hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| ChunkError::BadSize(text.chars().take(64).collect()))?;
                self.state = if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                };
            }
            ChunkState::DataEnd => {
                if !line.is_empty() {
                    return Err(ChunkError::NoCrlf);
                }
                self.state = ChunkState::Size;
            }
            ChunkState::Trailer => {
                self.trailer = self.trailer.saturating_add(line.len());
                if self.trailer > MAX_TRAILER {
                    return Err(ChunkError::TooLong);
                }
                if line.is_empty() {
                    self.state = ChunkState::Done;
                }
            }
            ChunkState::Data(_) | ChunkState::Done => {}
        }
        Ok(())
    }
}

/// How [`get`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The longest a TCP connect may take.
    pub connect_timeout: Duration,
    /// The longest a read (or write) may wait for the server.
    pub read_timeout: Duration,
    /// The most redirects followed (RFC 9110 §15.4 suggests detecting
    /// loops; 5 is what browsers' old limit and the issue ask).
    pub max_redirects: u8,
    /// DNS servers for host names (the lease's option 6); `fetch` also
    /// uses them for `tftp://` host names.
    pub dns: Vec<SocketAddr>,
    /// How DNS asks.
    pub dns_options: dns::Options,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            max_redirects: 5,
            dns: Vec::new(),
            dns_options: dns::Options::default(),
        }
    }
}

/// Why an HTTP download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A bad URL (also a redirect's).
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The host name did not resolve.
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    /// No address of the host accepted a connection.
    #[error("HTTP: cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The last address's error.
        source: std::io::Error,
    },
    /// Sending or receiving failed (a timeout included).
    #[error("HTTP: {url}: {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// The head is unreadable.
    #[error("HTTP: {url}: {source}")]
    Head {
        /// The URL.
        url: String,
        /// Why.
        source: HeadError,
    },
    /// The server sent nothing for the read timeout.
    #[error("HTTP: {url}: the server sent nothing for {after:?} while {what}")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The server closed the connection before a response head.
    #[error("HTTP: {0}: the server closed the connection without a response")]
    NoResponse(String),
    /// A status other than 200 (and not a followed redirect).
    #[error("HTTP {status} {reason}: {url}")]
    Status {
        /// The code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The URL.
        url: String,
    },
    /// A redirect without `Location`.
    #[error("HTTP {status} redirect without a Location: {url}")]
    NoLocation {
        /// The code.
        status: u16,
        /// The URL.
        url: String,
    },
    /// More redirects than allowed.
    #[error("HTTP: more than {limit} redirects, the last to {url}")]
    TooManyRedirects {
        /// The limit.
        limit: u8,
        /// Where the last one pointed.
        url: String,
    },
    /// A redirect to a scheme other than http.
    #[error("HTTP: {from} redirects to {to}, which is not http://")]
    RedirectScheme {
        /// The redirecting URL.
        from: String,
        /// The target.
        to: String,
    },
    /// The chunked body is malformed.
    #[error("HTTP: {url}: {source}")]
    Chunked {
        /// The URL.
        url: String,
        /// Why.
        source: ChunkError,
    },
    /// The connection ended before the whole body came.
    #[error("HTTP: {url}: the body was cut short after {got} bytes{}", want.map_or(" (the last chunk never came)".into(), |w| format!(" of {w}")))]
    CutShort {
        /// The URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// The announced length, if it was.
        want: Option<u64>,
    },
    /// The destination refused the bytes.
    #[error("HTTP: {url}: {source}")]
    Sink {
        /// The URL.
        url: String,
        /// Why.
        source: SinkError,
    },
}

/// GETs `url` into `sink`, following redirects; returns the URL the body
/// came from.
pub fn get(url: &Url, opts: &Options, sink: &mut Sink<'_>) -> Result<Url, HttpError> {
    let mut url = url.clone();
    let mut redirects = 0u8;
    loop {
        if url.scheme != Scheme::Http {
            return Err(UrlError::Unsupported {
                scheme: "tftp".into(),
                url: url.to_string(),
            }
            .into());
        }
        let (head, mut conn, rest) = request(&url, opts)?;
        let u = url.to_string();
        match head.status {
            200 => {
                body(&head, &mut conn, rest, &u, opts.read_timeout, sink)?;
                return Ok(url);
            }
            301 | 302 | 303 | 307 | 308 => {
                let location = head.header("location").ok_or_else(|| HttpError::NoLocation {
                    status: head.status,
                    url: u.clone(),
                })?;
                let next = url.join(location)?;
                if next.scheme != Scheme::Http {
                    return Err(HttpError::RedirectScheme {
                        from: u,
                        to: next.to_string(),
                    });
                }
                redirects = redirects.saturating_add(1);
                if redirects > opts.max_redirects {
                    return Err(HttpError::TooManyRedirects {
                        limit: opts.max_redirects,
                        url: next.to_string(),
                    });
                }
                log::debug!("HTTP {} {u} -> {next}", head.status);
                url = next;
            }
            status => {
                return Err(HttpError::Status {
                    status,
                    reason: head.reason,
                    url: u,
                })
            }
        }
    }
}

/// Connects, sends the GET and reads the head; returns it, the connection
/// and the body bytes read with the head.
fn request(url: &Url, opts: &Options) -> Result<(Head, TcpStream, Vec<u8>), HttpError> {
    let u = url.to_string();
    let addrs = dns::resolve(&url.host, &opts.dns, &opts.dns_options)?;
    let mut last = None;
    let mut conn = None;
    for ip in addrs {
        match TcpStream::connect_timeout(&SocketAddr::new(ip, url.port_or_default()), opts.connect_timeout) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut conn = conn.ok_or_else(|| HttpError::Connect {
        url: u.clone(),
        source: last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
    })?;
    let io = |what: &'static str| io_error(what, &u, opts.read_timeout);
    conn.set_read_timeout(Some(opts.read_timeout))
        .map_err(io("setting a timeout"))?;
    conn.set_write_timeout(Some(opts.read_timeout))
        .map_err(io("setting a timeout"))?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hopboot/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.request_target(),
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    conn.write_all(req.as_bytes()).map_err(io("sending the request"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = read(&mut conn, &mut chunk).map_err(io("waiting for the response"))?;
        if n == 0 {
            return Err(HttpError::NoResponse(u));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        match parse_head(&buf) {
            Ok(None) => {}
            Ok(Some((head, len))) if (100..200).contains(&head.status) => {
                // An interim response (100 Continue, 103 Early Hints): the
                // real one follows.
                buf.drain(..len);
            }
            Ok(Some((head, len))) => return Ok((head, conn, buf.split_off(len))),
            Err(source) => return Err(HttpError::Head { url: u, source }),
        }
    }
}

/// An I/O error while `what` on `url`: a socket timeout (EAGAIN from
/// SO_RCVTIMEO/SO_SNDTIMEO) becomes [`HttpError::Timeout`].
fn io_error(what: &'static str, url: &str, timeout: Duration) -> impl FnOnce(std::io::Error) -> HttpError {
    let url = url.to_string();
    move |source| match source.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => HttpError::Timeout {
            what,
            url,
            after: timeout,
        },
        _ => HttpError::Io { what, url, source },
    }
}

fn read(conn: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match conn.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Reads the body after `head` (its first bytes in `rest`) into `sink`.
fn body(
    head: &Head,
    conn: &mut TcpStream,
    rest: Vec<u8>,
    u: &str,
    timeout: Duration,
    sink: &mut Sink<'_>,
) -> Result<(), HttpError> {
    let sink_err = |source| HttpError::Sink { url: u.into(), source };
    let framing = head
        .framing()
        .map_err(|source| HttpError::Head { url: u.into(), source })?;
    if let Framing::Length(n) = framing {
        sink.announce(n).map_err(sink_err)?;
    }
    let mut chunked = Chunked::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut pending = rest;
    loop {
        let data: &[u8] = if pending.is_empty() {
            if matches!(framing, Framing::None) || framing == Framing::Length(sink.written()) {
                return Ok(());
            }
            let n = read(conn, &mut buf).map_err(io_error("reading the body", u, timeout))?;
            if n == 0 {
                return match framing {
                    Framing::UntilClose => Ok(()),
                    Framing::Length(want) => Err(HttpError::CutShort {
                        url: u.into(),
                        got: sink.written(),
                        want: Some(want),
                    }),
                    _ => Err(HttpError::CutShort {
                        url: u.into(),
                        got: sink.written(),
                        want: None,
                    }),
                };
            }
            buf.get(..n).unwrap_or_default()
        } else {
            &pending
        };
        match framing {
            Framing::None => return Ok(()),
            Framing::Length(want) => {
                let left = usize::try_from(want.saturating_sub(sink.written())).unwrap_or(usize::MAX);
                // Bytes past Content-Length are not the body: dropped.
                sink.write(data.get(..left.min(data.len())).unwrap_or_default())
                    .map_err(sink_err)?;
            }
            Framing::UntilClose => sink.write(data).map_err(sink_err)?,
            Framing::Chunked => {
                let mut d = data;
                while !d.is_empty() && !chunked.done() {
                    let (taken, out) = chunked
                        .feed(d)
                        .map_err(|source| HttpError::Chunked { url: u.into(), source })?;
                    if !out.is_empty() {
                        sink.write(out).map_err(sink_err)?;
                    }
                    d = d.get(taken..).unwrap_or_default();
                }
                if chunked.done() {
                    return Ok(());
                }
            }
        }
        pending = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Debian's nginx (loader/testdata/netboot/SOURCES.md).
    fn nginx(name: &str, body: &[u8]) -> Vec<u8> {
        let mut v = std::fs::read(format!("{}/testdata/netboot/nginx/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn head_of_a_static_file() {
        let static_file = nginx("200-static.http", b"BODY");
        let (h, len) = parse_head(&static_file).unwrap().unwrap();
        assert_eq!(&static_file[len..], b"BODY");
        assert_eq!((h.status, h.reason.as_str()), (200, "OK"));
        assert_eq!(h.header("content-length"), Some("4194304"));
        assert_eq!(h.framing(), Ok(Framing::Length(4194304)));
        // Every prefix is "not yet", never an error or a wrong head.
        for cut in 0..len {
            assert_eq!(parse_head(&static_file[..cut]), Ok(None), "{cut}");
        }
        let chunked = nginx("200-ssi-chunked.http", b"8000\r\n");
        let (h, len) = parse_head(&chunked).unwrap().unwrap();
        assert_eq!(h.framing(), Ok(Framing::Chunked));
        let mut c = Chunked::default();
        assert_eq!(c.feed(&chunked[len..]), Ok((6, &b""[..])));
        assert_eq!(c.feed(&[0; 0x9000]).unwrap().1.len(), 0x8000);
    }

    #[test]
    fn head_variants() {
        let h = |s: &str| parse_head(s.as_bytes()).map(|o| o.map(|(h, _)| h));
        let chunked = h("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 5\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(chunked.framing(), Ok(Framing::Chunked));
        let close = h("HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(close.framing(), Ok(Framing::UntilClose));
        let folded = h("HTTP/1.1 302 Found\r\nLocation: /a\r\n  b\r\n\r\n").unwrap().unwrap();
        assert_eq!(folded.header("LOCATION"), Some("/a b"));
        assert_eq!(h("HTTP/1.1 404\r\n\r\n").unwrap().unwrap().reason, "");
        let gz = h("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n").unwrap().unwrap();
        assert_eq!(gz.framing(), Err(HeadError::Coding("gzip".into())));
        let two = h("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(two.framing(), Err(HeadError::BadLength(_))));
        let neg = h("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").unwrap().unwrap();
        assert!(matches!(neg.framing(), Err(HeadError::BadLength(_))));
        for bad in ["ICY 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200\r\n\r\n"] {
            assert!(matches!(h(bad), Err(HeadError::StatusLine(_))), "{bad}");
        }
        assert!(matches!(
            h("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(HeadError::HeaderLine(_))
        ));
        assert!(matches!(
            h("HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n"),
            Err(HeadError::HeaderLine(_))
        ));
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(h(&long), Err(HeadError::TooLong));
    }

    fn decode_in_pieces(body: &[u8], piece: usize) -> Result<(Vec<u8>, bool), ChunkError> {
        let mut d = Chunked::default();
        let mut out = Vec::new();
        for p in body.chunks(piece) {
            let mut p = p;
            while !p.is_empty() && !d.done() {
                let (taken, data) = d.feed(p)?;
                assert!(taken > 0);
                out.extend_from_slice(data);
                p = &p[taken..];
            }
        }
        Ok((out, d.done()))
    }

    #[test]
    fn chunked_in_any_pieces() {
        // As nginx sends it (hex sizes, CRLF), with an extension and a trailer.
        let body = b"1000\r\n"
            .iter()
            .chain(&[b'x'; 0x1000])
            .chain(b"\r\n5;name=value\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n")
            .copied()
            .collect::<Vec<u8>>();
        for piece in [1, 2, 3, 7, 4096, 100000] {
            let (out, done) = decode_in_pieces(&body, piece).unwrap();
            assert!(done, "{piece}");
            assert_eq!(out.len(), 0x1005);
            assert!(out.ends_with(b"xhello"));
        }
        let (out, done) = decode_in_pieces(&body[..body.len() - 2], 5).unwrap();
        assert!(!done && out.len() == 0x1005);
    }

    #[test]
    fn chunked_errors() {
        assert!(matches!(decode_in_pieces(b"zz\r\n", 3), Err(ChunkError::BadSize(_))));
        assert!(matches!(decode_in_pieces(b"\r\n", 3), Err(ChunkError::BadSize(_))));
        assert!(matches!(
            decode_in_pieces(b"11111111111111111\r\n", 3),
            Err(ChunkError::BadSize(_))
        ));
        assert_eq!(decode_in_pieces(b"2\r\nabc\r\n", 3), Err(ChunkError::NoCrlf));
        let long = vec![b'1'; MAX_LINE + 1];
        assert_eq!(decode_in_pieces(&long, 100), Err(ChunkError::TooLong));
        // A huge size is fine to parse: the budget stops the download.
        let (out, done) = decode_in_pieces(b"ffffffffffffffff\r\nab", 1).unwrap();
        assert!(!done && out == b"ab");
    }
}
