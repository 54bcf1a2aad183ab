//! PID 1's policy: hopboot's own `hopboot.*` kernel command-line options,
//! and which entry to boot without asking.

use hopboot_loader::cmdline::Cmdline;
use hopboot_loader::discover::Discovery;
use hopboot_loader::kexec::Method;
use std::time::Duration;

/// hopboot's `hopboot.*` kernel command-line options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long to wait for block devices (`hopboot.wait=SECONDS`, default 5).
    pub wait: Duration,
    /// Menu countdown (`hopboot.timeout=SECONDS`); `None` = the default.
    pub timeout: Option<Duration>,
    /// Entry to boot without a menu (`hopboot.entry=` id, title or index).
    pub entry: Option<String>,
    /// Text appended to the chosen entry's command line (`hopboot.append=`).
    pub append: Option<String>,
    /// Verbose logging (`hopboot.debug`).
    pub debug: bool,
    /// How the kernel is loaded (`hopboot.kexec=file` forces kexec_file_load).
    pub kexec: Method,
}

impl Options {
    /// The options in `c`, with defaults for what is missing or invalid.
    pub fn from_cmdline(c: &Cmdline) -> Self {
        let secs = |k: &str| -> Option<Duration> {
            let v = c.get(k)?;
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
                .map(Duration::from_secs_f64)
        };
        Options {
            wait: secs("hopboot.wait").unwrap_or(Duration::from_secs(5)),
            timeout: secs("hopboot.timeout"),
            entry: c.get("hopboot.entry").map(str::to_string),
            append: c.get("hopboot.append").map(str::to_string),
            debug: c.has("hopboot.debug"),
            kexec: match c.get("hopboot.kexec") {
                Some("file") => Method::File,
                Some("test-bad-digest") => Method::TestBadDigest,
                _ => Method::Auto,
            },
        }
    }
}

/// Picks the entry to boot without asking: `wanted` (`hopboot.entry=` or the
/// CLI's ENTRY: id, title or index), else the loader's default.
pub fn choose(d: &Discovery, wanted: Option<&str>) -> Result<usize, String> {
    if let Some(w) = wanted {
        let by_name = d.entries.iter().position(|e| e.id == w || e.title == w);
        let by_index = w.parse::<usize>().ok().filter(|i| *i < d.entries.len());
        return by_name
            .or(by_index)
            .ok_or_else(|| format!("hopboot.entry={w}: no such entry"));
    }
    d.default_index().ok_or_else(|| "no default entry".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_last_wins() {
        let c = Cmdline::parse(r#"root=/dev/vda1 hopboot.append="a b" ro hopboot.wait=2 hopboot.wait=0.5 quiet"#);
        let o = Options::from_cmdline(&c);
        assert_eq!(o.append.as_deref(), Some("a b"));
        assert_eq!(o.wait, Duration::from_millis(500));
    }

    #[test]
    fn bad_numbers_fall_back() {
        let c = Cmdline::parse("hopboot.wait=-1 hopboot.timeout=NaN hopboot.debug");
        let o = Options::from_cmdline(&c);
        assert_eq!(o.wait, Duration::from_secs(5));
        assert_eq!(o.timeout, None);
        assert!(o.debug);
    }

    #[test]
    fn hostile_values_fall_back() {
        for v in [
            "1e400",
            "inf",
            "-inf",
            "86400",
            "0x10",
            "",
            "\u{0}",
            "99999999999999999999",
        ] {
            let c = Cmdline::parse(&format!("hopboot.wait={v} hopboot.timeout={v} hopboot.kexec={v}"));
            let o = Options::from_cmdline(&c);
            assert_eq!(o.wait, Duration::from_secs(5), "{v}");
            assert_eq!(o.timeout, None, "{v}");
            assert_eq!(o.kexec, Method::Auto, "{v}");
        }
    }
}
