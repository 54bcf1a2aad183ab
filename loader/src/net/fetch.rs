//! One call for a boot file by URL: `http://` or `tftp://` into a memfd
//! under a memory budget, with progress.

use super::download::{default_budget, Download, ProgressFn, Sink, SinkError};
use super::url::{Scheme, Url, UrlError};
use super::{dns, http, tftp};
use std::net::SocketAddr;

/// How [`fetch`] runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The most bytes the file may have; `None`: [`default_budget`] (this
    /// machine's available memory less a reserve).
    pub budget: Option<u64>,
    /// HTTP's timeouts, redirects and DNS servers.
    pub http: http::Options,
    /// TFTP's block size, timeouts and retries.
    pub tftp: tftp::Options,
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A bad URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The memfd could not be made.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The TFTP server's name did not resolve.
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    /// The HTTP transfer failed.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// The TFTP transfer failed.
    #[error("{url}: {source}")]
    Tftp {
        /// The URL.
        url: String,
        /// Why.
        source: tftp::TftpError,
    },
}

/// Downloads `url` into a memfd named after `name` (for /proc/PID/fd).
pub fn fetch(
    url: &str,
    name: &std::ffi::CStr,
    opts: &Options,
    progress: Option<ProgressFn<'_>>,
) -> Result<Download, FetchError> {
    let url = Url::parse(url)?;
    let mut sink = Sink::memfd(name, opts.budget.unwrap_or_else(default_budget), progress)?;
    match url.scheme {
        Scheme::Http => {
            http::get(&url, &opts.http, &mut sink)?;
        }
        Scheme::Tftp => {
            let ip = dns::resolve(&url.host, &opts.http.dns, &opts.http.dns_options)?
                .into_iter()
                .next()
                .ok_or_else(|| dns::DnsError::NoAddress(url.host.clone()))?;
            let server = SocketAddr::new(ip, url.port_or_default());
            tftp::get(server, &url.tftp_file(), &opts.tftp, &mut sink).map_err(|source| FetchError::Tftp {
                url: url.to_string(),
                source,
            })?;
        }
    }
    Ok(sink.finish()?)
}
