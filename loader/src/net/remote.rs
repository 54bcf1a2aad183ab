//! A boot server as a filesystem: an [`FsView`] whose paths are what a
//! network config names (a URL, a TFTP file name, PXELINUX's `host::file`),
//! fetched on first use into a memfd and kept until [`Remote::forget`].
//!
//! Configs are read through it by the same parsers as a disk's (PXELINUX's
//! lookup asks [`FsView::is_file`] of each candidate name), and
//! [`crate::kexec::load`] reads a network entry's kernel and initrds through
//! it exactly as it reads a disk's: `size` fetches, `copy_to` streams from
//! the memfd. A failed fetch is remembered with its reason (an HTTP 404, a
//! TFTP error packet, a file too big for memory), so the error the boot
//! reports is the server's, not "not found".
//!
//! Names, as PXELINUX and iPXE hand them over:
//! - `http://…`, `tftp://…`: that URL;
//! - `host::file`: TFTP from `host`; `::file`: TFTP from the boot server;
//! - anything else: a file name on the boot server, over TFTP.

use super::download::{Download, Progress};
use super::fetch::{self, FetchError};
use crate::fs::{FsError, FsView, Kind};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A file fetched, or why not.
type Cached = Result<Arc<Download>, String>;

/// One boot server, as the DHCP lease of one interface names it.
pub struct Remote {
    /// The TFTP server for bare names (`siaddr`, option 66), if any.
    server: Option<String>,
    /// How transfers run (DNS servers, timeouts, budget).
    opts: fetch::Options,
    /// What was fetched, by name.
    cache: Mutex<BTreeMap<String, Cached>>,
    /// Shown in progress lines: "eth0".
    who: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("server", &self.server)
            .field("who", &self.who)
            .finish_non_exhaustive()
    }
}

/// Downloads longer than this get progress lines on the console.
const QUIET_FOR: Duration = Duration::from_secs(1);

impl Remote {
    /// A server reached through interface `who`; bare names go to `server`
    /// over TFTP.
    pub fn new(who: &str, server: Option<String>, opts: fetch::Options) -> Remote {
        Remote {
            server,
            opts,
            cache: Mutex::new(BTreeMap::new()),
            who: who.to_string(),
        }
    }

    /// The URL `name` stands for, or why it stands for none.
    pub fn url_of(&self, name: &str) -> Result<String, String> {
        if name.contains("://") {
            return Ok(name.to_string());
        }
        let (host, file) = match name.split_once("::") {
            Some(("", file)) => (self.server.clone(), file),
            Some((host, file)) => (Some(host.to_string()), file),
            None => (self.server.clone(), name),
        };
        let host = host.ok_or_else(|| format!("{name}: DHCP named no boot server to fetch it from"))?;
        // tftp://host/file: the file name follows the authority's slash as
        // is (a leading `/` of its own makes `//`); the URL's own
        // delimiters in it are percent-encoded (RFC 3617 decodes them).
        let mut file_enc = String::with_capacity(file.len());
        for c in file.chars() {
            match c {
                '%' | '?' | '#' => file_enc.push_str(&format!("%{:02X}", c as u32)),
                c => file_enc.push(c),
            }
        }
        Ok(format!("tftp://{host}/{file_enc}"))
    }

    /// `name`, fetched now unless it was already (or failed already).
    pub fn get(&self, name: &str) -> Result<Arc<Download>, FsError> {
        let fail = |msg: &str| FsError::Io {
            path: name.to_string(),
            source: std::io::Error::other(msg.to_string()),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(name) {
            return c.clone().map_err(|m| fail(&m));
        }
        let got = self.fetch(name);
        cache.insert(name.to_string(), got.clone());
        got.map_err(|m| fail(&m))
    }

    fn fetch(&self, name: &str) -> Cached {
        let url = self.url_of(name)?;
        let started = Instant::now();
        let mut last = started;
        let who = self.who.clone();
        let mut progress = |p: &Progress| {
            if p.elapsed >= QUIET_FOR && (p.done || last.elapsed() >= QUIET_FOR) {
                last = Instant::now();
                log::info!("{who}: {url}: {p}");
            }
        };
        let name_c = std::ffi::CString::new(format!("hopboot-net:{}", name.replace('\0', "")))
            .unwrap_or_else(|_| c"hopboot-net".to_owned());
        let got = fetch::fetch(&url, &name_c, &self.opts, Some(&mut progress));
        match got {
            Ok(d) => {
                log::debug!("{}: {url}: {} bytes in {} ms", self.who, d.size, d.elapsed.as_millis());
                Ok(Arc::new(d))
            }
            Err(e) => Err(why(name, &url, &e)),
        }
    }

    /// Drops every fetched file (their memory goes back), keeping what
    /// failed: a kernel loaded, or failed to load, is not needed again.
    pub fn forget(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, c| c.is_err());
    }

    /// The file's first bytes (at most `n`), e.g. to tell a script from a binary.
    pub fn head(&self, name: &str, n: usize) -> Result<Vec<u8>, FsError> {
        self.read_range(name, 0, n)
    }
}

/// A fetch error as the menu shows it after the file's name: the URL is
/// said once, first, and only when the name is not the URL itself.
fn why(name: &str, url: &str, e: &FetchError) -> String {
    let mut text = e.to_string();
    // "HTTP: URL: what" and "HTTP 404 Not Found: URL" name it already.
    if let Some(rest) = text.strip_prefix(&format!("HTTP: {url}: ")) {
        text = format!("HTTP: {rest}");
    } else if let Some(rest) = text.strip_prefix(&format!("{url}: ")) {
        text = rest.to_string();
    } else if let Some(rest) = text.strip_suffix(&format!(": {url}")) {
        text = rest.to_string();
    }
    if name == url {
        text
    } else {
        format!("{url}: {text}")
    }
}

impl FsView for Remote {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        self.get(path)?.copy_to(path, limit, out)
    }

    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        self.get(path)?.read_range(path, offset, len)
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.get(path).ok().map(|_| Kind::File)
    }

    fn size(&self, path: &str) -> Option<u64> {
        self.get(path).ok().map(|d| d.size)
    }

    fn list(&self, _path: &str) -> Vec<String> {
        Vec::new()
    }

    fn fs_type(&self) -> &'static str {
        "net"
    }
}

/// A [`Remote`] shared between the menu's volume and whoever keeps the
/// network's results across rescans.
#[derive(Debug, Clone)]
pub struct Shared(pub Arc<Remote>);

impl FsView for Shared {
    fn copy_to(&self, path: &str, limit: u64, out: &mut dyn Write) -> Result<u64, FsError> {
        self.0.copy_to(path, limit, out)
    }
    fn read_range(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, FsError> {
        self.0.read_range(path, offset, len)
    }
    fn kind(&self, path: &str) -> Option<Kind> {
        self.0.kind(path)
    }
    fn size(&self, path: &str) -> Option<u64> {
        self.0.size(path)
    }
    fn list(&self, path: &str) -> Vec<String> {
        self.0.list(path)
    }
    fn fs_type(&self) -> &'static str {
        "net"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_urls() {
        let r = Remote::new("eth0", Some("192.0.2.1".into()), fetch::Options::default());
        assert_eq!(r.url_of("http://h/a/vmlinuz").unwrap(), "http://h/a/vmlinuz");
        assert_eq!(r.url_of("tftp://h/x").unwrap(), "tftp://h/x");
        assert_eq!(
            r.url_of("pxelinux.cfg/default").unwrap(),
            "tftp://192.0.2.1/pxelinux.cfg/default"
        );
        // A leading slash stays part of the file name (tftp://h//tftpboot/x).
        assert_eq!(r.url_of("/tftpboot/x").unwrap(), "tftp://192.0.2.1//tftpboot/x");
        assert_eq!(r.url_of("::boot/vmlinuz").unwrap(), "tftp://192.0.2.1/boot/vmlinuz");
        assert_eq!(r.url_of("10.0.0.9::vmlinuz").unwrap(), "tftp://10.0.0.9/vmlinuz");
        let odd = r.url_of("cfg/100%?#x").unwrap();
        assert_eq!(crate::net::url::Url::parse(&odd).unwrap().tftp_file(), "cfg/100%?#x");
        let none = Remote::new("eth1", None, fetch::Options::default());
        assert!(none.url_of("vmlinuz").unwrap_err().contains("no boot server"));
    }

    #[test]
    fn a_failed_fetch_says_why_each_time() {
        // Port 1 on the loopback refuses at once: no traffic leaves the machine.
        let r = Remote::new("lo", Some("127.0.0.1".into()), fetch::Options::default());
        let e = r.get("http://127.0.0.1:1/vmlinuz").unwrap_err().to_string();
        // The name once, then why.
        assert!(e.starts_with("http://127.0.0.1:1/vmlinuz: "), "{e}");
        assert!(e.contains("cannot connect"), "{e}");
        assert_eq!(r.size("http://127.0.0.1:1/vmlinuz"), None);
        let again = r.get("http://127.0.0.1:1/vmlinuz").unwrap_err().to_string();
        assert_eq!(e, again);
        r.forget();
        assert_eq!(r.get("http://127.0.0.1:1/vmlinuz").unwrap_err().to_string(), e);
    }
}
