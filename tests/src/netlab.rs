//! The network lab of the QEMU network-boot tests (`tests/tests/netboot.rs`,
//! `tests/tests/distro/netboot.rs`): a network namespace the test creates,
//! with a bridge, tap devices for the VM's cards, and real dnsmasq (DHCP,
//! TFTP) and nginx (HTTP) serving inside it, and nothing else: no address
//! outside the namespace is reachable from the VM.
//!
//! Needs root (ip netns, tap devices) and dnsmasq and nginx
//! (scripts/install-deps.sh); [`skipped`] says why not and lets the test
//! pass.

use crate::{profile_initramfs, setup, BOOT_TIMEOUT, KERNEL, TARGET_INITRD};
use hopboot_image_build::Profile;
use hopboot_qemu::target::MARKER;
use hopboot_qemu::vm::{DiskAttach, Nic, Vm, VmConfig};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first card's MAC address.
pub const MAC0: &str = "52:54:00:12:34:56";
/// The second card's MAC address.
pub const MAC1: &str = "52:54:00:12:34:57";
/// The bridge's address: DHCP, TFTP, the router.
pub const SERVER: &str = "192.0.2.1";
/// nginx's address and port.
pub const HTTP: &str = "192.0.2.1:8080";
/// A server that announces more than it sends (see [`Lab::short_server`]).
pub const SHORT: &str = "192.0.2.1:8081";

/// Why the lab cannot run here (not root, no tun device, a server missing), if it cannot.
pub fn skip_reason() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().nth(1) == Some("0")))?;
    if !uid {
        return Some("needs root (ip netns, tap devices)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun on this machine (QEMU's tap cards need it)".into());
    }
    for tool in ["ip", "dnsmasq", "nginx"] {
        let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file());
        if !found {
            return Some(format!("{tool} is not installed (scripts/install-deps.sh installs it)"));
        }
    }
    None
}

/// True, after saying `<test>: skipped: <why>` on stderr, when the lab
/// cannot run here: the test then returns (and passes).
pub fn skipped(test: &str) -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            true
        }
        None => false,
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace with a bridge `br0` (192.0.2.1/24), `tap0` on it and
/// `tap1` on nothing; its servers, killed on drop.
pub struct Lab {
    /// The namespace's name (`ip netns`).
    pub ns: String,
    dir: PathBuf,
    servers: Vec<(String, Child)>,
}

impl Lab {
    /// Makes the namespace `hopboot-nb-<pid>-<tag>` and the lab's directory
    /// (`tftp/`, `www/`, the servers' logs) under the test's work directory.
    pub fn new(tag: &str) -> Lab {
        let ns = format!("hopboot-nb-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        run(Command::new("ip").args(["netns", "add", &ns]));
        let dir = setup().work.join(format!("netboot-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["tftp", "www", "nginx-tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let lab = Lab {
            ns,
            dir,
            servers: Vec::new(),
        };
        let ipn = |args: &[&str]| run(Command::new("ip").args(["-n", &lab.ns]).args(args));
        ipn(&["link", "set", "lo", "up"]);
        ipn(&["link", "add", "br0", "type", "bridge"]);
        ipn(&["addr", "add", &format!("{SERVER}/24"), "dev", "br0"]);
        ipn(&["link", "set", "br0", "up"]);
        for tap in ["tap0", "tap1"] {
            ipn(&["tuntap", "add", tap, "mode", "tap"]);
            ipn(&["link", "set", tap, "up"]);
        }
        ipn(&["link", "set", "tap0", "master", "br0"]);
        lab
    }

    /// `rel` in the lab's directory (`tftp/…` is the TFTP root, `www/…` nginx's).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes `text` to `rel`, or the kernel / target initrd for the placeholders
    /// [`KERNEL`] and [`TARGET_INITRD`].
    pub fn file(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match text {
            KERNEL => {
                std::fs::copy(&setup().kernel.vmlinuz, &p).unwrap();
            }
            TARGET_INITRD => hopboot_qemu::target::target_initramfs(&p).unwrap(),
            _ => std::fs::write(&p, text).unwrap(),
        }
    }

    fn spawn(&mut self, what: &str, args: &[String]) {
        let log = std::fs::File::create(self.path(&format!("{what}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        self.servers.push((what.into(), child));
    }

    /// Stops the server started as `what` (`dnsmasq`, `nginx`), if it runs.
    pub fn stop(&mut self, what: &str) {
        if let Some(i) = self.servers.iter().position(|(w, _)| w == what) {
            let (_, mut c) = self.servers.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// dnsmasq on br0: DHCP (192.0.2.100-150, router 192.0.2.1), TFTP from
    /// `tftp/`, no DNS; `extra` options (the boot file).
    pub fn dnsmasq(&mut self, extra: &[&str]) {
        let log = self.path("dnsmasq.log");
        let mut args: Vec<String> = vec![
            "dnsmasq".into(),
            "--keep-in-foreground".into(),
            "--conf-file=/dev/null".into(),
            "--user=root".into(),
            "--group=root".into(),
            "--port=0".into(),
            "--interface=br0".into(),
            "--bind-interfaces".into(),
            "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h".into(),
            format!("--dhcp-option=3,{SERVER}"),
            format!("--dhcp-leasefile={}", self.path("leases").display()),
            "--enable-tftp".into(),
            format!("--tftp-root={}", self.path("tftp").display()),
            "--log-dhcp".into(),
            format!("--log-facility={}", log.display()),
            format!("--pid-file={}", self.path("dnsmasq.pid").display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn("dnsmasq", &args);
        self.wait_for(&log, "DHCP, IP range");
    }

    /// nginx on 192.0.2.1:8080 serving `www/`. Its access log
    /// (`nginx-access.log`, see [`Lab::served`]) has each request's time.
    pub fn nginx(&mut self) {
        let d = self.dir.display().to_string();
        let conf = format!(
            r#"daemon off;
master_process off;
user root root;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    log_format timed '$status $body_bytes_sent $request_time "$request"';
    access_log {d}/nginx-access.log timed;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen {HTTP};
        root {d}/www;
    }}
}}
"#
        );
        let path = self.path("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        self.spawn(
            "nginx",
            &[
                "nginx".into(),
                "-p".into(),
                format!("{d}/"),
                "-c".into(),
                path.display().to_string(),
            ],
        );
        self.within(|| {
            let until = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(HTTP).is_err() {
                assert!(Instant::now() < until, "nginx did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    /// What nginx served so far, from its access log: one [`Served`] per request.
    pub fn served(&self) -> Vec<Served> {
        std::fs::read_to_string(self.path("nginx-access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(Served::parse)
            .collect()
    }

    fn wait_for(&mut self, log: &Path, text: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if std::fs::read_to_string(log).is_ok_and(|l| l.contains(text)) {
                return;
            }
            for (what, c) in &mut self.servers {
                if let Ok(Some(st)) = c.try_wait() {
                    let out = std::fs::read_to_string(self.dir.join(format!("{what}.out"))).unwrap_or_default();
                    panic!("{what} exited ({st}): {out}");
                }
            }
            assert!(Instant::now() < until, "{} never said {text:?}", log.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.ns)).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// A server on [`SHORT`] that answers every request with a 200 announcing
    /// 8 MiB and closes the connection after 1 MiB: a download cut short.
    pub fn short_server(&self) {
        let listener = self.within(|| std::net::TcpListener::bind(SHORT).unwrap());
        // The socket lives in the namespace; serving it needs no setns.
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let mut c = c;
                let mut req = [0u8; 4096];
                let _ = c.read(&mut req);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n");
                let _ = c.write_all(&vec![0x5a; 1 << 20]);
            }
        });
    }

    /// The VM [`Lab::boot`] starts: the Debian kernel with hopboot's
    /// server-profile initramfs (virtio-net), `nics` cards on tap0, tap1…,
    /// `disks`, hopboot's command line `append` after `console=ttyS0
    /// panic=-1`, the serial log in `serial.log`. For a test to adjust
    /// (memory, QMP) before [`Vm::spawn`].
    pub fn vm_config(&self, nics: &[&str], disks: &[PathBuf], append: &str) -> VmConfig {
        let s = setup();
        let mut cfg = VmConfig::new(
            &s.kernel.vmlinuz,
            profile_initramfs(Profile::Server),
            format!("console=ttyS0 panic=-1 {append}"),
        );
        cfg.netns = Some(self.ns.clone());
        for (i, mac) in nics.iter().enumerate() {
            cfg.nics.push(Nic {
                tap: format!("tap{i}"),
                mac: mac.to_string(),
                model: "virtio-net-pci".into(),
            });
        }
        for d in disks {
            cfg = cfg.with_disk(DiskAttach::new(d));
        }
        cfg.log = Some(self.path("serial.log"));
        cfg
    }

    /// Boots hopboot (server profile: virtio-net) with `nics` cards and `disks`.
    pub fn boot(&self, nics: &[&str], disks: &[PathBuf], append: &str) -> Vm {
        Vm::spawn(&self.vm_config(nics, disks, append)).unwrap()
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
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// One request in nginx's access log (the lab's `timed` format:
/// `200 32190861 3.512 "GET /initrd.img HTTP/1.1"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// The HTTP status.
    pub status: u16,
    /// The body's bytes sent.
    pub bytes: u64,
    /// nginx's `$request_time`: from the request's first byte read to the
    /// response's last byte written, in seconds (millisecond resolution).
    pub seconds: f64,
    /// The request line (`GET /initrd.img HTTP/1.1`).
    pub request: String,
}

impl Served {
    /// Reads one line of the `timed` format.
    pub fn parse(line: &str) -> Option<Served> {
        let (head, rest) = line.split_once(" \"")?;
        let mut words = head.split_whitespace();
        let served = Served {
            status: words.next()?.parse().ok()?,
            bytes: words.next()?.parse().ok()?,
            seconds: words.next()?.parse().ok()?,
            request: rest.strip_suffix('"')?.to_string(),
        };
        words.next().is_none().then_some(served)
    }

    /// The path requested (`/initrd.img`).
    pub fn path(&self) -> &str {
        self.request.split_whitespace().nth(1).unwrap_or("")
    }
}

/// The target's command line, once it printed it (QEMU then exits).
pub fn booted(vm: &mut Vm) -> String {
    if let Err(e) = vm.wait_for(MARKER, BOOT_TIMEOUT) {
        panic!("{e:#}\n{}", vm.transcript());
    }
    let _ = vm.wait_exit(Duration::from_secs(60));
    let line = vm
        .lines()
        .into_iter()
        .find(|l| l.text.contains(MARKER))
        .expect("marker line");
    line.text
        .split_once("cmdline=")
        .map(|(_, c)| c.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines_are_read() {
        let s = Served::parse(r#"200 32190861 3.512 "GET /initrd.img HTTP/1.1""#).unwrap();
        assert_eq!(
            s,
            Served {
                status: 200,
                bytes: 32_190_861,
                seconds: 3.512,
                request: "GET /initrd.img HTTP/1.1".into()
            }
        );
        assert_eq!(s.path(), "/initrd.img");
        assert_eq!(Served::parse(r#"404 153 0.000 "GET /x HTTP/1.1""#).unwrap().status, 404);
        assert_eq!(Served::parse("200 1 0.1"), None);
        assert_eq!(Served::parse(r#"200 x 0.1 "GET / HTTP/1.1""#), None);
        assert_eq!(Served::parse(r#"200 1 0.1 9 "GET / HTTP/1.1""#), None);
    }
}
