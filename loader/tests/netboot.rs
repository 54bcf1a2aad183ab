//! The network transfers (`hopboot_loader::net::fetch`) against real servers:
//! Debian's dnsmasq (TFTP and DNS) and nginx, started by each test inside a
//! network namespace of its own (`ip netns add`) whose only interface is its
//! own loopback (127.0.0.1, plus 192.0.2.10 for the DNS case): nothing can
//! reach, or come from, an address outside the namespace. The client runs
//! in a thread that entered the namespace (setns(2) on CLONE_NEWNET is per
//! thread), so its sockets live there too.
//!
//! Needs root (ip netns, setns) and the dnsmasq and nginx binaries
//! (scripts/install-deps.sh installs them); otherwise each test prints why
//! it is skipped and passes. `make test-netboot` runs them.

use hopboot_loader::net::download::{Progress, SinkError};
use hopboot_loader::net::fetch::{fetch, FetchError, Options};
use hopboot_loader::net::http::HttpError;
use hopboot_loader::net::tftp::TftpError;
use hopboot_loader::net::{dns, tftp};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// Why this machine cannot run the tests, if it cannot.
fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (ip netns add, setns)".into());
    }
    for tool in ["ip", "dnsmasq", "nginx"] {
        if find_tool(tool).is_none() {
            return Some(format!("{tool} is not installed (scripts/install-deps.sh installs it)"));
        }
    }
    None
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

macro_rules! need_servers {
    ($test:expr) => {
        if let Some(why) = skip_reason() {
            eprintln!("netboot {}: skipped: {why}", $test);
            return;
        }
    };
}

/// A network namespace with dnsmasq and nginx in it, removed on drop.
struct Lab {
    name: String,
    dir: tempfile::TempDir,
    servers: Vec<(String, Child)>,
}

/// 192.0.2.10 (TEST-NET-1) is on the namespace's loopback: the name the
/// DNS test resolves points there.
const BOOT_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const HTTP_PORT: u16 = 8080;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let name = format!("hopboot-nt-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]));
        let lab = Lab {
            name,
            dir: tempfile::tempdir().unwrap(),
            servers: Vec::new(),
        };
        run(Command::new("ip").args(["-n", &lab.name, "link", "set", "lo", "up"]));
        run(Command::new("ip").args(["-n", &lab.name, "addr", "add", &format!("{BOOT_IP}/32"), "dev", "lo"]));
        for d in ["tftp", "www/files", "www/ssi", "www/slow", "nginx-tmp"] {
            std::fs::create_dir_all(lab.dir.path().join(d)).unwrap();
        }
        lab
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes `len` bytes of deterministic noise to `rel` (under the lab).
    fn file(&self, rel: &str, len: usize, seed: u64) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, noise(len, seed)).unwrap();
        p
    }

    fn spawn(&mut self, what: &str, args: &[&str]) {
        let log = std::fs::File::create(self.path(&format!("{what}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        self.servers.push((what.into(), child));
    }

    /// dnsmasq: TFTP from `tftp/` and DNS on 127.0.0.1:53 answering
    /// `boot.test` with 192.0.2.10 (nothing forwarded: no upstream).
    fn dnsmasq(&mut self) {
        let root = self.path("tftp");
        let log = self.path("dnsmasq.log");
        let pid = self.path("dnsmasq.pid");
        let args = [
            "dnsmasq".to_string(),
            "--keep-in-foreground".into(),
            "--conf-file=/dev/null".into(),
            "--user=root".into(),
            "--group=root".into(),
            format!("--pid-file={}", pid.display()),
            format!("--log-facility={}", log.display()),
            "--listen-address=127.0.0.1".into(),
            "--bind-interfaces".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            format!("--address=/boot.test/{BOOT_IP}"),
            "--enable-tftp".into(),
            format!("--tftp-root={}", root.display()),
            "--log-queries".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn("dnsmasq", &args);
        self.wait_for(&log, "TFTP root is");
    }

    /// atftpd (RFC 7440 windowsize) on 127.0.0.1:69 serving `tftp/`; it
    /// logs to its stdout (`--logfile` to a file stays in its stdio buffer).
    fn atftpd(&mut self) {
        let root = self.path("tftp").display().to_string();
        self.spawn(
            "atftpd",
            &[
                "atftpd",
                "--daemon",
                "--no-fork",
                "--user",
                "root.root",
                "--bind-address",
                "127.0.0.1",
                "--port",
                "69",
                "--no-multicast",
                "--verbose=7",
                "--logfile",
                "-",
                &root,
            ],
        );
        let log = self.path("atftpd.out");
        self.wait_for(&log, "directory:");
    }

    /// nginx on 127.0.0.1:8080 and 192.0.2.10:80 serving `www/`:
    /// - `/files/`: static files (Content-Length);
    /// - `/ssi/`: the same bytes through the SSI filter, which drops the
    ///   length: nginx sends them chunked to an HTTP/1.1 client;
    /// - `/slow/`: static files at 512 KiB/s (the cut-short test kills
    ///   nginx during one);
    /// - `/r1` -> `/r2` -> absolute `/sub/r3` -> relative `../files/FILE`,
    ///   `/loop1` <-> `/loop2`, `/error` (500).
    fn nginx(&mut self) {
        let d = self.dir.path().display().to_string();
        let conf = format!(
            r#"daemon off;
master_process off;
user root root;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    default_type application/octet-stream;
    absolute_redirect off;
    server {{
        listen 127.0.0.1:{HTTP_PORT};
        listen {BOOT_IP}:80;
        root {d}/www;
        location /ssi/ {{ ssi on; ssi_types *; }}
        location /slow/ {{ limit_rate 512k; }}
        location = /r1 {{ return 302 /r2; }}
        location = /r2 {{ return 301 http://127.0.0.1:{HTTP_PORT}/sub/r3; }}
        location = /sub/r3 {{ return 307 ../files/small.bin; }}
        location = /loop1 {{ return 302 /loop2; }}
        location = /loop2 {{ return 302 /loop1; }}
        location = /error {{ return 500; }}
    }}
}}
"#
        );
        let path = self.path("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let prefix = format!("{d}/");
        self.spawn("nginx", &["nginx", "-p", &prefix, "-c", path.to_str().unwrap()]);
        // Ready when it accepts a connection (from inside the namespace).
        self.within(|| {
            let until = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", HTTP_PORT)).is_err() {
                assert!(Instant::now() < until, "nginx did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    fn wait_for(&mut self, log: &Path, text: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if std::fs::read_to_string(log).is_ok_and(|l| l.contains(text)) {
                return;
            }
            for (what, c) in &mut self.servers {
                if let Ok(Some(st)) = c.try_wait() {
                    let out = std::fs::read_to_string(self.dir.path().join(format!("{what}.out"))).unwrap_or_default();
                    panic!("{what} exited ({st}): {out}");
                }
            }
            assert!(Instant::now() < until, "{} never said {text:?}", log.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `f` in a thread that entered the namespace.
    fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Waits for the server `what` to exit (after a test killed it).
    fn reap(&mut self, what: &str) {
        let (_, c) = self.servers.iter_mut().find(|(w, _)| w == what).unwrap();
        c.wait().unwrap();
    }

    fn pid_of(&self, what: &str) -> i32 {
        let (_, c) = self.servers.iter().find(|(w, _)| w == what).unwrap();
        // `ip netns exec` execs the server: the child is the server.
        c.id() as i32
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &mut self.servers {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Deterministic bytes (xorshift64*), different per seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The downloaded file equals `want`, byte for byte (read from the memfd).
fn assert_same(mut got: std::fs::File, size: u64, want: &Path) {
    let want = std::fs::read(want).unwrap();
    assert_eq!(size, want.len() as u64);
    let mut bytes = Vec::new();
    got.read_to_end(&mut bytes).unwrap();
    assert!(bytes == want, "the downloaded bytes differ from the served file");
}

fn opts(budget: u64) -> Options {
    let mut o = Options {
        budget: Some(budget),
        ..Default::default()
    };
    o.http.dns = vec![SocketAddr::from(([127, 0, 0, 1], 53))];
    o.http.read_timeout = Duration::from_secs(5);
    o
}

fn tftp_opts(blksize: u16) -> Options {
    let mut o = opts(1 << 30);
    o.tftp = tftp::Options {
        blksize,
        ..Default::default()
    };
    o
}

#[test]
fn tftp_blksize_1468_and_512() {
    need_servers!("tftp_blksize_1468_and_512");
    let mut lab = Lab::new("tftp");
    let want = lab.file("tftp/vmlinuz", 5 * MIB + 123, 1);
    lab.file("tftp/exact", 3 * 1468, 2); // a multiple of the block: ends with an empty block
    lab.dnsmasq();
    for blksize in [1468, 512] {
        let mut reports = Vec::new();
        let mut progress = |p: &Progress| reports.push(*p);
        let t = Instant::now();
        let d = lab
            .within(|| {
                fetch(
                    "tftp://127.0.0.1/vmlinuz",
                    c"k",
                    &tftp_opts(blksize),
                    Some(&mut progress),
                )
            })
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "netboot: TFTP blksize {blksize}: {} bytes in {secs:.2} s ({:.1} MiB/s)",
            d.size,
            d.size as f64 / secs / MIB as f64
        );
        assert_same(d.file, d.size, &want);
        let last = reports.last().expect("a final progress report");
        assert!(last.done && last.bytes == want.metadata().unwrap().len());
        assert_eq!(last.total, Some(last.bytes), "tsize was asked and given");
    }
    let d = lab
        .within(|| fetch("tftp://127.0.0.1/exact", c"k", &tftp_opts(1468), None))
        .unwrap();
    assert_same(d.file, d.size, &lab.path("tftp/exact"));
    let log = std::fs::read_to_string(lab.path("dnsmasq.log")).unwrap();
    assert!(
        log.contains("sent") && log.contains("vmlinuz"),
        "dnsmasq did not log the transfers: {log}"
    );
}

#[test]
fn tftp_windowsize_with_atftpd() {
    need_servers!("tftp_windowsize_with_atftpd");
    if find_tool("atftpd").is_none() {
        eprintln!("netboot tftp_windowsize_with_atftpd: skipped: atftpd is not installed (scripts/install-deps.sh installs it)");
        return;
    }
    let mut lab = Lab::new("window");
    let want = lab.file("tftp/vmlinuz", 5 * MIB + 321, 10);
    lab.atftpd();
    for window in [1, 8] {
        let mut o = tftp_opts(1468);
        o.tftp.windowsize = window;
        let t = Instant::now();
        let d = lab
            .within(|| fetch("tftp://127.0.0.1/vmlinuz", c"k", &o, None))
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "netboot: atftpd blksize 1468 windowsize {window}: {} bytes in {secs:.2} s ({:.1} MiB/s)",
            d.size,
            d.size as f64 / secs / MIB as f64
        );
        assert_same(d.file, d.size, &want);
    }
    let log = std::fs::read_to_string(lab.path("atftpd.out")).unwrap();
    assert!(
        log.contains("windowsize option -> 8"),
        "atftpd did not take the windowsize option: {log}"
    );
}

#[test]
fn tftp_block_numbers_wrap() {
    need_servers!("tftp_block_numbers_wrap");
    let mut lab = Lab::new("wrap");
    // 65535 blocks of 512 bytes are 32 MiB less 512: this takes 67585.
    let want = lab.file("tftp/initrd.img", 33 * MIB + 7, 3);
    lab.dnsmasq();
    let t = Instant::now();
    let d = lab
        .within(|| fetch("tftp://127.0.0.1/initrd.img", c"i", &tftp_opts(512), None))
        .unwrap();
    eprintln!(
        "netboot: TFTP {} blocks of 512 in {:.2} s",
        d.size / 512 + 1,
        t.elapsed().as_secs_f64()
    );
    assert!(d.size / 512 > 65535);
    assert_same(d.file, d.size, &want);
}

#[test]
fn tftp_errors() {
    need_servers!("tftp_errors");
    let mut lab = Lab::new("tftperr");
    lab.file("tftp/big", 3 * MIB, 4);
    lab.dnsmasq();
    let e = lab.within(|| fetch("tftp://127.0.0.1/pxelinux.cfg/missing", c"x", &tftp_opts(1468), None));
    let msg = e.as_ref().unwrap_err().to_string();
    eprintln!("netboot: missing file: {msg}");
    match e {
        Err(FetchError::Tftp {
            source: TftpError::Server { code: 1, message },
            ..
        }) => assert!(message.contains("not found"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(
        msg.starts_with("tftp://127.0.0.1/pxelinux.cfg/missing: TFTP server error 1 (file not found)"),
        "{msg}"
    );
    // The budget refuses the file on its tsize, before any block.
    let mut o = tftp_opts(1468);
    o.budget = Some(MIB as u64);
    let e = lab
        .within(|| fetch("tftp://127.0.0.1/big", c"x", &o, None))
        .unwrap_err();
    eprintln!("netboot: too big: {e}");
    assert!(
        matches!(
            e,
            FetchError::Tftp {
                source: TftpError::Sink(SinkError::TooBig { size, budget: 1048576 }),
                ..
            } if size == 3 * MIB as u64
        ),
        "{e:?}"
    );
    // Nobody on the port: the request is retried, then a clear timeout.
    let mut o = tftp_opts(1468);
    o.tftp.timeout = Duration::from_millis(200);
    o.tftp.retries = 2;
    let t = Instant::now();
    let e = lab
        .within(|| fetch("tftp://127.0.0.1:6969/x", c"x", &o, None))
        .unwrap_err();
    eprintln!("netboot: no server: {e} ({} ms)", t.elapsed().as_millis());
    assert!(
        matches!(
            e,
            FetchError::Tftp {
                source: TftpError::Timeout { tries: 3, .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn http_length_chunked_and_redirects() {
    need_servers!("http_length_chunked_and_redirects");
    let mut lab = Lab::new("http");
    let big = lab.file("www/files/big.bin", 6 * MIB + 11, 5);
    std::fs::copy(&big, lab.path("www/ssi/big.bin")).unwrap();
    let small = lab.file("www/files/small.bin", 100_000, 6);
    lab.nginx();
    let o = opts(1 << 30);
    let t = Instant::now();
    let d = lab
        .within(|| fetch(&format!("http://127.0.0.1:{HTTP_PORT}/files/big.bin"), c"k", &o, None))
        .unwrap();
    eprintln!(
        "netboot: HTTP Content-Length: {} bytes in {} ms",
        d.size,
        t.elapsed().as_millis()
    );
    assert_same(d.file, d.size, &big);

    // Through SSI: no length, chunked. The access log shows what nginx sent.
    let mut reports = Vec::new();
    let mut progress = |p: &Progress| reports.push(*p);
    let d = lab
        .within(|| {
            fetch(
                &format!("http://127.0.0.1:{HTTP_PORT}/ssi/big.bin"),
                c"k",
                &o,
                Some(&mut progress),
            )
        })
        .unwrap();
    assert_same(d.file, d.size, &big);
    assert_eq!(reports.last().unwrap().total, None, "a chunked body announces no size");
    let chunked = lab.within(|| {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", HTTP_PORT)).unwrap();
        c.write_all(b"GET /ssi/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 512];
        let n = c.read(&mut head).unwrap();
        String::from_utf8_lossy(&head[..n]).to_ascii_lowercase()
    });
    assert!(
        chunked.contains("transfer-encoding: chunked"),
        "nginx did not chunk: {chunked}"
    );

    // /r1 -> /r2 -> http://127.0.0.1:8080/sub/r3 -> ../files/small.bin
    let d = lab
        .within(|| fetch(&format!("http://127.0.0.1:{HTTP_PORT}/r1"), c"k", &o, None))
        .unwrap();
    assert_same(d.file, d.size, &small);
    let e = lab
        .within(|| fetch(&format!("http://127.0.0.1:{HTTP_PORT}/loop1"), c"k", &o, None))
        .unwrap_err();
    eprintln!("netboot: loop: {e}");
    assert!(
        matches!(e, FetchError::Http(HttpError::TooManyRedirects { limit: 5, .. })),
        "{e:?}"
    );
    // nginx logs a request after its response is sent: wait for the lines.
    let loops = || {
        let access = std::fs::read_to_string(lab.path("nginx-access.log")).unwrap();
        (access.matches("GET /loop").count(), access)
    };
    let until = Instant::now() + Duration::from_secs(5);
    while loops().0 < 6 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (n, access) = loops();
    assert_eq!(n, 6, "5 redirects followed, the 6th refused: {access}");
}

#[test]
fn http_errors() {
    need_servers!("http_errors");
    let mut lab = Lab::new("httperr");
    let big = lab.file("www/files/big.bin", 4 * MIB, 7);
    std::fs::copy(&big, lab.path("www/ssi/big.bin")).unwrap();
    lab.file("www/slow/initrd.img", 8 * MIB, 8);
    lab.nginx();
    let o = opts(1 << 30);
    let url = |p: &str| format!("http://127.0.0.1:{HTTP_PORT}{p}");

    let e = lab
        .within(|| fetch(&url("/files/missing"), c"k", &o, None))
        .unwrap_err();
    eprintln!("netboot: 404: {e}");
    assert!(
        matches!(&e, FetchError::Http(HttpError::Status { status: 404, .. })),
        "{e:?}"
    );
    assert_eq!(e.to_string(), format!("HTTP 404 Not Found: {}", url("/files/missing")));
    let e = lab.within(|| fetch(&url("/error"), c"k", &o, None)).unwrap_err();
    assert!(
        matches!(&e, FetchError::Http(HttpError::Status { status: 500, .. })),
        "{e:?}"
    );

    // The budget: refused on Content-Length before the body; a chunked body
    // (no length) is stopped when it passes the budget.
    let small = opts(MIB as u64);
    let e = lab
        .within(|| fetch(&url("/files/big.bin"), c"k", &small, None))
        .unwrap_err();
    eprintln!("netboot: too big: {e}");
    assert!(
        matches!(&e, FetchError::Http(HttpError::Sink { source: SinkError::TooBig { size, .. }, .. }) if *size == 4 * MIB as u64),
        "{e:?}"
    );
    let e = lab
        .within(|| fetch(&url("/ssi/big.bin"), c"k", &small, None))
        .unwrap_err();
    eprintln!("netboot: too big, chunked: {e}");
    assert!(
        matches!(
            &e,
            FetchError::Http(HttpError::Sink {
                source: SinkError::Overflow { .. },
                ..
            })
        ),
        "{e:?}"
    );

    // Cut short: nginx is killed (SIGKILL) during a rate-limited transfer;
    // the kernel closes its connection and the body ends early.
    let pid = nix::unistd::Pid::from_raw(lab.pid_of("nginx"));
    let mut killed = false;
    let mut progress = |p: &Progress| {
        if !killed && p.bytes > 0 {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
            killed = true;
        }
    };
    let e = lab
        .within(|| fetch(&url("/slow/initrd.img"), c"i", &o, Some(&mut progress)))
        .unwrap_err();
    eprintln!("netboot: cut short: {e}");
    match e {
        FetchError::Http(HttpError::CutShort { got, want, .. }) => {
            assert_eq!(want, Some(8 * MIB as u64));
            assert!(got > 0 && got < 8 * MIB as u64, "{got}");
        }
        other => panic!("{other:?}"),
    }
    // A server that accepts and then says nothing: the read timeout.
    let mut quick = opts(1 << 30);
    quick.http.read_timeout = Duration::from_millis(300);
    let t = Instant::now();
    let e = lab
        .within(|| {
            // Connections complete in the kernel's backlog; nothing is ever read or sent.
            let _silent = std::net::TcpListener::bind("127.0.0.1:8081").unwrap();
            fetch("http://127.0.0.1:8081/vmlinuz", c"k", &quick, None)
        })
        .unwrap_err();
    eprintln!("netboot: silent server: {e} ({} ms)", t.elapsed().as_millis());
    assert!(matches!(&e, FetchError::Http(HttpError::Timeout { .. })), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3));

    // And with the server gone (reaped: its listening socket is closed), a
    // clear refusal.
    lab.reap("nginx");
    let e = lab
        .within(|| fetch(&url("/files/big.bin"), c"k", &o, None))
        .unwrap_err();
    eprintln!("netboot: server gone: {e}");
    assert!(matches!(&e, FetchError::Http(HttpError::Connect { .. })), "{e:?}");
}

#[test]
fn dns_through_dnsmasq() {
    need_servers!("dns_through_dnsmasq");
    let mut lab = Lab::new("dns");
    let small = lab.file("www/files/small.bin", 12345, 9);
    lab.dnsmasq();
    lab.nginx();
    let server = [SocketAddr::from(([127, 0, 0, 1], 53))];
    let got = lab
        .within(|| dns::resolve("boot.test", &server, &dns::Options::default()))
        .unwrap();
    assert_eq!(got, vec![IpAddr::V4(BOOT_IP)]);
    // The name in a URL: resolved, then nginx's port 80 on 192.0.2.10.
    let d = lab
        .within(|| fetch("http://boot.test/files/small.bin", c"k", &opts(1 << 30), None))
        .unwrap();
    assert_same(d.file, d.size, &small);
    // A name dnsmasq does not know (and has no upstream for).
    let e = lab
        .within(|| dns::resolve("nothing.test", &server, &dns::Options::default()))
        .unwrap_err();
    eprintln!("netboot: unknown name: {e}");
    assert!(
        matches!(e, dns::DnsError::Server { code: 5, .. } | dns::DnsError::NoSuchName(_)),
        "{e:?}"
    );
    // A server that is not there: retried, then a timeout naming it.
    let quick = dns::Options {
        timeout: Duration::from_millis(200),
        tries: 2,
    };
    let e = lab
        .within(|| dns::resolve("boot.test", &[SocketAddr::from(([127, 0, 0, 2], 53))], &quick))
        .unwrap_err();
    eprintln!("netboot: no DNS server: {e}");
    assert!(matches!(e, dns::DnsError::Timeout { tries: 2, .. }), "{e:?}");
    let log = std::fs::read_to_string(lab.path("dnsmasq.log")).unwrap();
    assert!(log.contains("query[A] boot.test from 127.0.0.1"), "{log}");
}
