//! PID 1's policy: hopboot's own `hopboot.*` kernel command-line options,
//! and which entry to boot without asking.

use hopboot_loader::cmdline::Cmdline;
use hopboot_loader::discover::Discovery;
use hopboot_loader::kexec::Method;
use hopboot_loader::model::Format;
use std::time::Duration;

/// hopboot's `hopboot.*` kernel command-line options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long to wait for block devices (`hopboot.wait=SECONDS`, default 5).
    pub wait: Duration,
    /// How long one disk may take to answer a round of discovery, and any
    /// one read when booting (`hopboot.disk_timeout=SECONDS`, default
    /// [`DEFAULT_DISK_TIMEOUT`]; 0 is not a deadline and means the default).
    pub disk_timeout: Duration,
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
    /// Network boot (`hopboot.net=off|auto|on|first`, default `auto`).
    pub net: NetMode,
    /// How long each network interface has for link, lease and config
    /// (`hopboot.net_timeout=SECONDS`, default [`DEFAULT_NET_TIMEOUT`]).
    pub net_timeout: Duration,
    /// `hopboot.verify=off|warn|enforce`: the signature policy, which may
    /// only become stricter than the image's (anything else is `enforce`).
    pub verify: Option<hopboot_loader::trust::policy::Mode>,
}

/// When the network is asked for entries (`hopboot.net=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// Never: no interface is touched.
    Off,
    /// In the background: local entries and the countdown never wait for
    /// it; network entries join the menu when they arrive; the local
    /// default wins. With no local entry, the network is waited for.
    Auto,
    /// Like `auto`, but the first menu waits for the network (up to
    /// `hopboot.net_timeout=`), so its entries are always on it.
    On,
    /// Like `on`, and the network's default entry is the default.
    First,
}

impl Options {
    /// The options in `c`, with defaults for what is missing or invalid.
    pub fn from_cmdline(c: &Cmdline) -> Self {
        let secs = |k: &str| parse_seconds(c.get(k)?);
        Options {
            wait: secs("hopboot.wait").unwrap_or(Duration::from_secs(5)),
            disk_timeout: secs("hopboot.disk_timeout")
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_DISK_TIMEOUT),
            timeout: secs("hopboot.timeout"),
            entry: c.get("hopboot.entry").map(str::to_string),
            append: c.get("hopboot.append").map(str::to_string),
            debug: c.has("hopboot.debug"),
            kexec: match c.get("hopboot.kexec") {
                Some("file") => Method::File,
                Some("test-bad-digest") => Method::TestBadDigest,
                _ => Method::Auto,
            },
            net: match c.get("hopboot.net") {
                Some("off" | "0" | "no") => NetMode::Off,
                Some("on" | "1" | "yes") => NetMode::On,
                Some("first") => NetMode::First,
                _ => NetMode::Auto,
            },
            net_timeout: secs("hopboot.net_timeout")
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_NET_TIMEOUT),
            verify: c.get("hopboot.verify").map(|v| {
                use hopboot_loader::trust::policy::Mode;
                Mode::parse(v).unwrap_or(Mode::Enforce)
            }),
        }
    }
}

/// Default of `hopboot.disk_timeout=`: what a disk that stops answering
/// adds to the time to the menu. A healthy disk answers discovery in tens of
/// milliseconds on hardware and well under a second under emulation.
pub const DEFAULT_DISK_TIMEOUT: Duration = Duration::from_secs(3);

/// Default of `hopboot.net_timeout=`: DHCP's retransmissions back off
/// 1, 2, 4, 8 s, so 30 s is four DISCOVERs with room for the config.
pub const DEFAULT_NET_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait or countdown accepted, in seconds (a day): more is a typo.
const MAX_SECONDS: u64 = 86_400;

/// Parses seconds written as a decimal number (`5`, `0.5`, `.25`, `2.`), up to
/// nanoseconds and below [`MAX_SECONDS`]; `None` for anything else. Written out
/// rather than through `f64`, whose parser's tables cost 13 KB of the binary.
fn parse_seconds(v: &str) -> Option<Duration> {
    let v = v.strip_prefix('+').unwrap_or(v);
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    // The first nine fraction digits are nanoseconds; the rest cannot matter.
    let nanos = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    (whole < MAX_SECONDS).then(|| Duration::new(whole, nanos))
}

/// Picks the entry to boot without asking: `wanted` (`hopboot.entry=` or the
/// CLI's ENTRY: id, title or index), else the loader's default.
pub fn choose(d: &Discovery, wanted: Option<&str>) -> Result<usize, String> {
    if let Some(w) = wanted {
        // systemd-boot's own ids keep the `.conf` (`bootctl list`, `set-oneshot`).
        let by_name = d.entries.iter().position(|e| {
            e.id == w || e.title == w || (e.format == Format::Bls && w.strip_suffix(".conf") == Some(e.id.as_str()))
        });
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
    use hopboot_loader::model::BootEntry;

    #[test]
    fn choose_takes_ids_titles_indexes_and_bootctls_conf_ids() {
        let entry = |id: &str, format| BootEntry {
            title: format!("T {id}"),
            format,
            kernel: "/vmlinuz".into(),
            initrds: vec![],
            cmdline: String::new(),
            default: id == "a",
            device: "vda1".into(),
            id: id.into(),
            volume: 0,
            boot_image: None,
        };
        let d = Discovery {
            volumes: vec![],
            entries: vec![
                entry("a", Format::Bls),
                entry("b", Format::Bls),
                entry("g", Format::Grub),
            ],
            errors: vec![],
        };
        assert_eq!(choose(&d, None), Ok(0));
        assert_eq!(choose(&d, Some("b")), Ok(1));
        assert_eq!(choose(&d, Some("T b")), Ok(1));
        assert_eq!(choose(&d, Some("2")), Ok(2));
        // `bootctl list` shows systemd-boot's id with its .conf.
        assert_eq!(choose(&d, Some("b.conf")), Ok(1));
        assert!(choose(&d, Some("g.conf")).is_err());
        assert!(choose(&d, Some("c")).is_err());
    }

    #[test]
    fn quotes_and_last_wins() {
        let c = Cmdline::parse(
            r#"root=/dev/vda1 hopboot.append="a b" ro hopboot.wait=2 hopboot.wait=0.5 hopboot.disk_timeout=1.5 quiet"#,
        );
        let o = Options::from_cmdline(&c);
        assert_eq!(o.append.as_deref(), Some("a b"));
        assert_eq!(o.wait, Duration::from_millis(500));
        assert_eq!(o.disk_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn net_modes() {
        let o = |c: &str| Options::from_cmdline(&Cmdline::parse(c));
        assert_eq!(o("").net, NetMode::Auto);
        assert_eq!(o("").net_timeout, DEFAULT_NET_TIMEOUT);
        assert_eq!(o("hopboot.net=off").net, NetMode::Off);
        assert_eq!(o("hopboot.net=on").net, NetMode::On);
        assert_eq!(o("hopboot.net=first hopboot.net_timeout=7.5").net, NetMode::First);
        assert_eq!(o("hopboot.net_timeout=7.5").net_timeout, Duration::from_millis(7500));
        assert_eq!(o("hopboot.net=bogus").net, NetMode::Auto);
    }

    #[test]
    fn bad_numbers_fall_back() {
        let c = Cmdline::parse("hopboot.wait=-1 hopboot.timeout=NaN hopboot.debug hopboot.disk_timeout=0");
        let o = Options::from_cmdline(&c);
        assert_eq!(o.wait, Duration::from_secs(5));
        assert_eq!(o.disk_timeout, DEFAULT_DISK_TIMEOUT);
        assert_eq!(o.timeout, None);
        assert!(o.debug);
    }

    #[test]
    fn seconds_are_decimal_numbers() {
        let s = |v: &str| parse_seconds(v);
        assert_eq!(s("5"), Some(Duration::from_secs(5)));
        assert_eq!(s("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(s(".25"), Some(Duration::from_millis(250)));
        assert_eq!(s("2."), Some(Duration::from_secs(2)));
        assert_eq!(s("+1.000000001999"), Some(Duration::new(1, 1)));
        assert_eq!(s("0"), Some(Duration::ZERO));
        assert_eq!(s("86399.9"), Some(Duration::from_millis(86_399_900)));
        for bad in ["", ".", "-1", "1e3", "1.2.3", "86400", "0x10", " 1", "NaN", "1,5"] {
            assert_eq!(s(bad), None, "{bad}");
        }
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
            let c = Cmdline::parse(&format!(
                "hopboot.wait={v} hopboot.timeout={v} hopboot.kexec={v} hopboot.disk_timeout={v}"
            ));
            let o = Options::from_cmdline(&c);
            assert_eq!(o.wait, Duration::from_secs(5), "{v}");
            assert_eq!(o.disk_timeout, DEFAULT_DISK_TIMEOUT, "{v}");
            assert_eq!(o.timeout, None, "{v}");
            assert_eq!(o.kexec, Method::Auto, "{v}");
        }
    }
}
