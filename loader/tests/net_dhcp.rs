//! The DHCP client and rtnetlink against a real server: dnsmasq in a network
//! namespace of its own, joined by a veth pair to a second namespace where the
//! client runs (a thread that enters it). Nothing leaves the two namespaces.
//!
//! Needs root (network namespaces), `ip` (iproute2) and `dnsmasq`
//! (dnsmasq-base): without them each test says so and passes without checking.

use hopboot_loader::net::lease::{self, Identity};
use hopboot_loader::net::link::{self, Interface, Netlink};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x4e, 0x54, 0x01];

/// Whether the effective uid is 0 (`Uid:` in /proc/self/status: real,
/// effective, saved, fs).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
            .unwrap_or(false)
    })
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !is_root() {
        return Some("not root (network namespaces)".into());
    }
    for tool in ["ip", "dnsmasq"] {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|d| d.join(tool).is_file());
        if !found {
            return Some(format!("no {tool} (apt-get install iproute2 dnsmasq-base)"));
        }
    }
    None
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair: `srv` (192.0.2.1/24 on `veth-s`) and
/// `cli` (`veth-c`, no address, MAC [`MAC`]); both go when dropped, with the
/// dnsmasq started in `srv`.
struct Net {
    srv: String,
    cli: String,
    dnsmasq: Option<Child>,
    dir: tempfile::TempDir,
}

impl Net {
    fn new(tag: &str) -> Net {
        let id = format!("{}-{tag}", std::process::id());
        let (srv, cli) = (format!("hbs-{id}"), format!("hbc-{id}"));
        ip(&["netns", "add", &srv]);
        ip(&["netns", "add", &cli]);
        let n = Net {
            srv,
            cli,
            dnsmasq: None,
            dir: tempfile::tempdir().unwrap(),
        };
        ip(&[
            "link", "add", "veth-s", "netns", &n.srv, "type", "veth", "peer", "name", "veth-c", "netns", &n.cli,
        ]);
        ip(&["-n", &n.srv, "addr", "add", "192.0.2.1/24", "dev", "veth-s"]);
        ip(&["-n", &n.srv, "link", "set", "veth-s", "up"]);
        ip(&["-n", &n.srv, "link", "set", "lo", "up"]);
        let mac = link::mac_text(&MAC);
        ip(&["-n", &n.cli, "link", "set", "veth-c", "address", &mac]);
        n
    }

    /// dnsmasq in `srv`, DHCP only (port 0: no DNS), with `extra` options.
    fn dnsmasq(&mut self, extra: &[&str]) {
        let leases = self.dir.path().join("leases");
        let log = std::fs::File::create(self.dir.path().join("dnsmasq.log")).unwrap();
        let mut args: Vec<String> = [
            "netns",
            "exec",
            &self.srv,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=veth-s",
            "--bind-interfaces",
            "--dhcp-range=192.0.2.50,192.0.2.60,255.255.255.0,1h",
            "--log-dhcp",
            "--log-facility=-",
            "--pid-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("dnsmasq");
        self.dnsmasq = Some(child);
        // Listening once its log says so.
        let end = Instant::now() + Duration::from_secs(10);
        while !self.log().contains("DHCP, IP range") {
            assert!(Instant::now() < end, "dnsmasq did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// `veth-c` as the client sees it (index read inside `cli`).
    fn client_interface(&self) -> Interface {
        let out = ip(&["-n", &self.cli, "-o", "link", "show", "veth-c"]);
        let index = out.split(':').next().unwrap().trim().parse().unwrap();
        Interface {
            name: "veth-c".into(),
            index,
            mac: MAC,
        }
    }

    /// Runs `f` on a thread inside `cli`.
    fn in_client<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.cli);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.srv, &self.cli] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// DISCOVER → OFFER → REQUEST → ACK with dnsmasq; the lease carries the PXE
/// answers (next server and boot file, 209/210, router, DNS, host name), and
/// once configured the interface has the address and the default route.
#[test]
fn a_lease_from_dnsmasq_configures_the_interface() {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut net = Net::new("lease");
    let host = format!("--dhcp-host={},192.0.2.55,pxe-client", link::mac_text(&MAC));
    net.dnsmasq(&[
        &host,
        "--dhcp-option=3,192.0.2.1",
        "--dhcp-option=6,192.0.2.1,192.0.2.2",
        "--dhcp-option=209,pxelinux.cfg/special",
        "--dhcp-option=210,/boot/",
        "--dhcp-boot=pxelinux.0,,192.0.2.1",
    ]);
    let iface = net.client_interface();
    let i = iface.clone();
    let lease = net.in_client(move || {
        let mut nl = Netlink::open().unwrap();
        nl.up(i.index).unwrap();
        let who = Identity {
            arch: 7,
            ..Default::default()
        };
        let lease = lease::lease(&i, &who, Instant::now() + Duration::from_secs(20));
        if let Ok(l) = &lease {
            lease::configure(&mut nl, &i, l).unwrap();
        }
        lease
    });
    let lease = lease.unwrap_or_else(|e| panic!("{e}\ndnsmasq:\n{}", net.log()));
    assert_eq!(lease.address, Ipv4Addr::new(192, 0, 2, 55));
    assert_eq!(lease.prefix, 24);
    assert_eq!(lease.routers, [Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(lease.dns, [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)]);
    assert_eq!(lease.server, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(lease.ack.boot_file().as_deref(), Some("pxelinux.0"));
    assert_eq!(lease.ack.boot_server().as_deref(), Some("192.0.2.1"));
    assert_eq!(
        lease.ack.pxelinux_config_file().as_deref(),
        Some("pxelinux.cfg/special")
    );
    assert_eq!(lease.ack.pxelinux_path_prefix().as_deref(), Some("/boot/"));
    assert_eq!(lease.ack.hostname().as_deref(), Some("pxe-client"));
    assert_eq!(lease.describe(), "veth-c 192.0.2.55 via 192.0.2.1");
    // dnsmasq saw the PXE client: option 93's architecture and option 60.
    let log = net.log();
    assert!(log.contains("DHCPACK(veth-s) 192.0.2.55"), "{log}");
    assert!(log.contains("PXEClient:Arch:00007:UNDI:003016"), "{log}");
    // The kernel's view inside the client's namespace.
    let addr = ip(&["-n", &net.cli, "-4", "-o", "addr", "show", "dev", "veth-c"]);
    assert!(addr.contains("inet 192.0.2.55/24 brd 192.0.2.255"), "{addr}");
    let route = ip(&["-n", &net.cli, "-4", "route", "show", "default"]);
    assert!(route.contains("default via 192.0.2.1 dev veth-c proto dhcp"), "{route}");
    // A second address request replaces, not fails (configure twice).
    let i = iface.clone();
    let again = lease.clone();
    net.in_client(move || lease::configure(&mut Netlink::open().unwrap(), &i, &again))
        .unwrap();
}

/// No server answers: the client gives up at its deadline with a message
/// that says how long it waited and how often it asked.
#[test]
fn no_server_ends_at_the_deadline() {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let net = Net::new("silent");
    let i = net.client_interface();
    let started = Instant::now();
    let r = net.in_client(move || {
        Netlink::open().unwrap().up(i.index).unwrap();
        lease::lease(&i, &Identity::default(), Instant::now() + Duration::from_secs(4))
    });
    let took = started.elapsed();
    let e = r.expect_err("a lease with no server?").to_string();
    assert!(e.starts_with("DHCP on veth-c: no offer in 4."), "{e}");
    // 1 + 2 s, then the 4 s wait is cut by the deadline: three DISCOVERs.
    assert!(e.ends_with("(3 DISCOVERs sent)"), "{e}");
    assert!(took < Duration::from_secs(6), "{took:?}");
}

/// The kernel refuses a change on an interface that does not exist: the
/// error carries its errno.
#[test]
fn netlink_refusals_say_why() {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let net = Net::new("refuse");
    let e = net
        .in_client(|| Netlink::open().unwrap().up(999_999))
        .expect_err("link 999999 exists?");
    assert!(
        e.to_string()
            .starts_with("netlink: setting the link up: No such device"),
        "{e}"
    );
}
