//! The URLs a network boot fetches: `http://host[:port]/path?query` and
//! `tftp://host[:port]/file` (RFC 3986's generic syntax, RFC 3617 for TFTP),
//! and the resolution of an HTTP `Location` against the URL it came from
//! (RFC 3986 §5.2, for the forms servers send: absolute, `//host/...`,
//! `/path`, `relative/path`, `?query`).

/// A URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `tftp://`
    Tftp,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Tftp => "tftp",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Tftp => super::tftp::PORT,
        }
    }
}

/// A parsed URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Its scheme.
    pub scheme: Scheme,
    /// The host: a name or an IP literal (IPv6 without brackets).
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// The path with its query, starting with `/` (no fragment).
    pub path: String,
}

/// Why a string is not a URL we can fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// No `scheme://`.
    #[error("'{0}' is not a URL (no scheme://)")]
    NoScheme(String),
    /// A scheme other than http and tftp.
    #[error("'{scheme}://' is not supported (only http:// and tftp://): {url}")]
    Unsupported {
        /// The scheme.
        scheme: String,
        /// The URL.
        url: String,
    },
    /// Bad host or port.
    #[error("bad host or port in '{0}'")]
    BadAuthority(String),
}

impl Url {
    /// Parses an absolute URL.
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        let s = s.trim();
        let (scheme, rest) = s.split_once("://").ok_or_else(|| UrlError::NoScheme(s.into()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "tftp" => Scheme::Tftp,
            other => {
                return Err(UrlError::Unsupported {
                    scheme: other.into(),
                    url: s.into(),
                })
            }
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let bad = || UrlError::BadAuthority(s.into());
        if authority.contains('@') {
            return Err(bad()); // credentials in a boot URL: refused rather than sent
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'%'));
        if !host_ok {
            return Err(bad());
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The port, the scheme's default if none was given.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// `host[:port]` as HTTP's `Host` header wants it (the port only when
    /// not the default, IPv6 in brackets).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) if p != self.scheme.default_port() => format!("{host}:{p}"),
            _ => host,
        }
    }

    /// The TFTP file name: the path without its first `/` (RFC 3617 §2),
    /// percent-decoded.
    pub fn tftp_file(&self) -> String {
        let p = self.path.strip_prefix('/').unwrap_or(&self.path);
        percent_decode(p)
    }

    /// The request target for HTTP: the path, with bytes HTTP does not
    /// allow there (spaces, controls, non-ASCII) percent-encoded.
    pub fn request_target(&self) -> String {
        let mut out = String::with_capacity(self.path.len());
        for b in self.path.bytes() {
            if b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// `location` (an HTTP `Location` value) resolved against this URL.
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let location = location.trim();
        if location.contains("://") && !location.starts_with(['/', '?']) {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme.name()));
        }
        let location = location.split('#').next().unwrap_or_default();
        let base_path = self.path.split('?').next().unwrap_or("/");
        let path = if location.starts_with('/') {
            location.to_string()
        } else if location.starts_with('?') {
            format!("{base_path}{location}")
        } else if location.is_empty() {
            self.path.clone()
        } else {
            let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{location}")
        };
        Ok(Url {
            path: remove_dot_segments(&path),
            ..self.clone()
        })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{host}", self.scheme.name())?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&self.path)
    }
}

/// RFC 3986 §5.2.4 on the path part (the query is kept as it is).
fn remove_dot_segments(path: &str) -> String {
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = p.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

/// `%XX` sequences decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b.get(i.saturating_add(1)..i.saturating_add(3)).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16).ok()
        });
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i = i.saturating_add(3);
            }
            _ => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = Url::parse("http://boot.example:8080/debian/linux?arch=amd64#x").unwrap();
        assert_eq!(
            u,
            Url {
                scheme: Scheme::Http,
                host: "boot.example".into(),
                port: Some(8080),
                path: "/debian/linux?arch=amd64".into()
            }
        );
        assert_eq!(u.authority(), "boot.example:8080");
        assert_eq!(u.to_string(), "http://boot.example:8080/debian/linux?arch=amd64");
        let u = Url::parse("HTTP://[fe80::1]?x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.path.as_str(), u.authority()),
            ("fe80::1", "/?x", "[fe80::1]".into())
        );
        let t = Url::parse("tftp://192.0.2.1/pxelinux.cfg/01-52-54-00-12-34-56").unwrap();
        assert_eq!((t.scheme, t.port_or_default()), (Scheme::Tftp, 69));
        assert_eq!(t.tftp_file(), "pxelinux.cfg/01-52-54-00-12-34-56");
        assert_eq!(
            Url::parse("tftp://h//srv/my%20file").unwrap().tftp_file(),
            "/srv/my file"
        );
    }

    #[test]
    fn refuses() {
        assert!(matches!(Url::parse("boot/linux"), Err(UrlError::NoScheme(_))));
        assert!(matches!(Url::parse("https://x/"), Err(UrlError::Unsupported { .. })));
        for bad in [
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h h/",
            "http://[::1/",
        ] {
            assert!(matches!(Url::parse(bad), Err(UrlError::BadAuthority(_))), "{bad}");
        }
    }

    #[test]
    fn joins_locations() {
        let base = Url::parse("http://h:8080/a/b/c?q=1").unwrap();
        let j = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(j("http://other/x"), "http://other/x");
        assert_eq!(j("//other:81/y"), "http://other:81/y");
        assert_eq!(j("/r2"), "http://h:8080/r2");
        assert_eq!(j("d"), "http://h:8080/a/b/d");
        assert_eq!(j("../d?z"), "http://h:8080/a/d?z");
        assert_eq!(j("./"), "http://h:8080/a/b/");
        assert_eq!(j("?z"), "http://h:8080/a/b/c?z");
        assert_eq!(j("../../../../x"), "http://h:8080/x");
        assert!(base.join("ftp://x/").is_err());
    }

    #[test]
    fn request_target_is_encoded() {
        let u = Url::parse("http://h/a b/ü\"").unwrap();
        assert_eq!(u.request_target(), "/a%20b/%C3%BC%22");
    }
}
