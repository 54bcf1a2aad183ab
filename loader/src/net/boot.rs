//! The network as a boot source: on each Ethernet interface, link up, a
//! DHCP lease, then the boot server's config read as one of three formats,
//! giving menu entries whose files a [`Remote`] fetches when booted.
//!
//! Which format, from what DHCP said (the boot file name, options 209/210):
//! 1. A boot file that is an iPXE script (`#!ipxe`; fetched by its URL or
//!    over TFTP): run with [`ipxe::run`] (its `chain`s are fetched too).
//! 2. PXELINUX: options 209/210, or any boot file that is not a script: the
//!    `pxelinux.cfg/` lookup ([`pxelinux::config_names`]) against the boot
//!    server; the first config found is read with the syslinux parser.
//! 3. GRUB: when no PXELINUX config exists, `grub.cfg` next to the boot file
//!    (or in the GRUB prefix a `grub-mknetdir` tree has: the boot file's
//!    directory's parent when it is a platform directory such as
//!    `x86_64-efi`), then `grub/`, `boot/grub/`; in each directory
//!    `grub.cfg-01-<mac>` and `grub.cfg-<HEXIP>` (shortened a digit at a
//!    time) come before `grub.cfg`, as GRUB's own network lookup does.
//!    Devices `(tftp)`, `(tftp,HOST)`, `(http,HOST)` and `(pxe)` reach the
//!    server; `$net_default_server` and friends are set.
//!
//! Every interface runs on a thread of its own ([`start`]); the first to
//! answer is not waited for by the others, and each sends what it found
//! (entries, or why none) as soon as it knows.

use super::dhcp::Message;
use super::fetch;
use super::lease::{self, Identity, Lease};
use super::link::{self, Interface, Netlink};
use super::remote::Remote;
use crate::format::grub::{self, GrubHost, SearchBy};
use crate::format::{ipxe, pxelinux};
use crate::fs::{FsView, Kind};
use crate::model::{BootEntry, Format};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the network is tried.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// From the start to the last config read, per interface: link, lease
    /// and config together.
    pub deadline: Duration,
    /// What DHCP is told about this machine.
    pub identity: Identity,
    /// Where interfaces are listed (`/sys/class/net`).
    pub sys_class_net: PathBuf,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            deadline: Duration::from_secs(30),
            identity: Identity::default(),
            sys_class_net: PathBuf::from("/sys/class/net"),
        }
    }
}

/// What one interface gave.
#[derive(Debug)]
pub struct NicBoot {
    /// Interface name (`eth0`).
    pub iface: String,
    /// Its lease, for the menu (`eth0 192.0.2.10 via 192.0.2.1`), if any.
    pub device: Option<String>,
    /// The server the entries' files come from.
    pub remote: Option<Arc<Remote>>,
    /// Entries; their `volume` is 0 until the caller places them.
    pub entries: Vec<BootEntry>,
    /// Why there are no entries, or what went wrong beside them.
    pub errors: Vec<String>,
    /// The config the entries came from (a URL or TFTP name).
    pub config: Option<String>,
    /// Time from the start to this result.
    pub took: Duration,
}

impl NicBoot {
    fn failed(iface: &str, started: Instant, why: String) -> NicBoot {
        NicBoot {
            iface: iface.to_string(),
            device: None,
            remote: None,
            entries: Vec::new(),
            errors: vec![why],
            config: None,
            took: started.elapsed(),
        }
    }
}

/// The network's results as they come: one [`NicBoot`] per interface.
pub struct Watch {
    /// Where results arrive.
    pub rx: Receiver<NicBoot>,
    /// Interfaces being tried.
    pub interfaces: Vec<String>,
    /// When every interface will have answered.
    pub deadline: Instant,
}

/// The machine's identity as PXE firmware would send it: the architecture
/// (7, EFI x86-64, when booted by UEFI; else 0, BIOS) and the SMBIOS UUID
/// `dmi/id/product_uuid` shows, its bytes in the order printed (so that a
/// `pxelinux.cfg/<uuid>` file is named as `dmidecode` prints the UUID).
pub fn identity(sys: &Path) -> Identity {
    let uuid = std::fs::read_to_string(sys.join("class/dmi/id/product_uuid"))
        .ok()
        .and_then(|t| parse_uuid(t.trim()));
    Identity {
        arch: if sys.join("firmware/efi").exists() { 7 } else { 0 },
        uuid,
        hostname: None,
    }
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Starts one thread per Ethernet interface; `None` when there is none.
pub fn start(opts: &NetOptions) -> Option<Watch> {
    let ifaces = link::interfaces(&opts.sys_class_net);
    if ifaces.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut names = Vec::new();
    for (n, iface) in ifaces.into_iter().enumerate() {
        let tx = tx.clone();
        let opts = opts.clone();
        let name = iface.name.clone();
        let spawned = std::thread::Builder::new().name(format!("net-{name}")).spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                boot_nic(&iface, n, &opts, started, deadline)
            }))
            .unwrap_or_else(|_| NicBoot::failed(&iface.name, started, "internal error (see the log)".into()));
            let _ = tx.send(r);
        });
        match spawned {
            Ok(_) => names.push(name),
            Err(e) => log::warn!("{name}: cannot start its thread: {e}"),
        }
    }
    Some(Watch {
        rx,
        interfaces: names,
        deadline,
    })
}

/// Link, lease and config on one interface, the `n`th (`net<n>` to iPXE).
pub fn boot_nic(iface: &Interface, n: usize, opts: &NetOptions, started: Instant, deadline: Instant) -> NicBoot {
    let name = iface.name.as_str();
    let fail = |why: String| NicBoot::failed(name, started, why);
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => return fail(format!("{name}: {e}")),
    };
    if let Err(e) = nl.up(iface.index) {
        return fail(format!("{name}: {e}"));
    }
    let carrier_wait = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(5));
    if !link::wait_carrier(&opts.sys_class_net, name, carrier_wait) {
        return fail(format!(
            "{name}: no link after {:.1} s (no cable, or the switch port is down)",
            carrier_wait.as_secs_f64()
        ));
    }
    let lease = match lease::lease(iface, &opts.identity, deadline) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    if let Err(e) = lease::configure(&mut nl, iface, &lease) {
        return fail(e.to_string());
    }
    let device = lease.describe();
    log::info!(
        "{device}: lease from {} in {} ms",
        lease.server.map_or_else(|| "?".to_string(), |s| s.to_string()),
        lease.took.as_millis()
    );
    let mut out = read_config(iface, n, &lease, started, deadline);
    out.device = Some(device.clone());
    for e in &mut out.entries {
        e.device = device.clone();
    }
    out.took = started.elapsed();
    out
}

/// What the lease's boot server offers, read as one of the formats.
fn read_config(iface: &Interface, n: usize, lease: &Lease, started: Instant, deadline: Instant) -> NicBoot {
    let name = iface.name.as_str();
    let ack = &lease.ack;
    let mut out = NicBoot {
        iface: name.to_string(),
        device: None,
        remote: None,
        entries: Vec::new(),
        errors: Vec::new(),
        config: None,
        took: started.elapsed(),
    };
    let mut fopts = fetch::Options::default();
    fopts.http.dns = lease
        .dns
        .iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(*ip), 53))
        .collect();
    // No transfer may outlive the interface's deadline by much: configs are small.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(2));
    fopts.http.connect_timeout = fopts.http.connect_timeout.min(left);
    let server = ack.boot_server();
    let remote = Arc::new(Remote::new(name, server.clone(), fopts));
    out.remote = Some(remote.clone());
    let boot_file = ack.boot_file().unwrap_or_default();
    let client = pxelinux::Client {
        uuid: ack.client_uuid(),
        hw_type: 1,
        mac: iface.mac.to_vec(),
        ip: Some(lease.address),
        config_file: ack.pxelinux_config_file(),
        path_prefix: ack.pxelinux_path_prefix(),
        boot_file: boot_file.clone(),
    };
    let pxelinux_options = client.config_file.is_some() || client.path_prefix.is_some();
    if boot_file.is_empty() && !pxelinux_options {
        out.errors.push(format!(
            "{name}: DHCP gave an address ({}) but no boot file: nothing to boot from the network",
            lease.address
        ));
        return out;
    }
    // 1. An iPXE script as the boot file. A boot file that cannot be
    // fetched is reported only if no config is found either (PXELINUX
    // setups name pxelinux.0, which may well not be on an HTTP-only server).
    let mut boot_file_error = None;
    if !boot_file.is_empty() && !pxelinux_options {
        match remote.head(&boot_file, 64) {
            Ok(head) if ipxe::is_script(&String::from_utf8_lossy(&head)) => {
                return ipxe_entries(out, &remote, &boot_file, iface, n, lease);
            }
            Ok(_) => {}
            Err(e) => boot_file_error = Some(e.to_string()),
        }
    }
    // 2. PXELINUX.
    let fs: &dyn FsView = remote.as_ref();
    if let Some((cfg, menu)) = pxelinux::find_and_parse(fs, &client) {
        log::info!("{name}: PXELINUX config {cfg}");
        out.errors.extend(menu.errors.iter().map(|e| format!("{cfg}: {e}")));
        out.entries = pxelinux::entries(&menu, 0, name);
        out.config = Some(cfg);
        return out;
    }
    // 3. GRUB.
    for cfg in grub_config_names(&boot_file, &iface.mac, lease.address) {
        if !fs.is_file(&cfg) {
            continue;
        }
        log::info!("{name}: GRUB config {cfg}");
        let host = NetGrub {
            remote: &remote,
            server: server.clone().unwrap_or_default(),
        };
        let dev = format!("tftp,{}", host.server);
        let vars = [
            ("net_default_server", host.server.clone()),
            ("net_default_ip", lease.address.to_string()),
            ("net_default_mac", iface.mac_text()),
            ("pxe_default_server", host.server.clone()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let menu = grub::run_with(&host, &dev, &format!("/{cfg}"), &vars);
        out.errors.extend(menu.errors.iter().map(|e| format!("{cfg}: {e}")));
        for (i, g) in menu.entries.iter().enumerate() {
            let Some(kernel) = host.name(&g.kernel.device, &g.kernel.path) else {
                out.errors.push(format!(
                    "{cfg}: entry '{}': kernel on ({}), not on the network",
                    g.title, g.kernel.device
                ));
                continue;
            };
            let initrds = g.initrds.iter().filter_map(|p| host.name(&p.device, &p.path)).collect();
            out.entries.push(BootEntry {
                title: g.title.clone(),
                format: Format::Grub,
                kernel,
                initrds,
                cmdline: g.cmdline.clone(),
                default: menu.default == Some(i),
                device: name.to_string(),
                id: g.id.clone().unwrap_or_else(|| g.title.clone()),
                volume: 0,
                boot_image: Some(g.kernel_arg.clone()),
            });
        }
        if !out.entries.iter().any(|e| e.default) {
            if let Some(e) = out.entries.first_mut() {
                e.default = true;
            }
        }
        out.config = Some(cfg);
        return out;
    }
    if let Some(e) = boot_file_error {
        out.errors.push(format!("{name}: boot file: {e}"));
    }
    let tried = pxelinux::config_names(&client);
    out.errors.push(format!(
        "{name}: boot file '{boot_file}' from {}: not an iPXE script, and no PXELINUX config (tried {} names, the last {}) or GRUB config on the server",
        server.as_deref().unwrap_or("(no server)"),
        tried.len(),
        tried.last().map_or("", String::as_str),
    ));
    out
}

fn ipxe_entries(
    mut out: NicBoot,
    remote: &Arc<Remote>,
    script_name: &str,
    iface: &Interface,
    n: usize,
    lease: &Lease,
) -> NicBoot {
    let name = iface.name.as_str();
    let text = match remote.read(script_name, ipxe::MAX_SCRIPT_BYTES as u64) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            out.errors.push(format!("{name}: {e}"));
            return out;
        }
    };
    let uri = remote.url_of(script_name).unwrap_or_else(|_| script_name.to_string());
    let mut settings = ipxe::nic_settings(&format!("net{n}"), &iface.mac, Some(lease.address));
    settings.extend(ipxe_lease_settings(&lease.ack, n));
    let mut fetch = |u: &str| match remote.head(u, 64) {
        Ok(head) if ipxe::is_script(&String::from_utf8_lossy(&head)) => {
            match remote.read(u, ipxe::MAX_SCRIPT_BYTES as u64) {
                Ok(b) => ipxe::Fetched::Text(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => ipxe::Fetched::Failed(e.to_string()),
            }
        }
        Ok(_) => ipxe::Fetched::Image,
        Err(e) => ipxe::Fetched::Failed(e.to_string()),
    };
    let menu = ipxe::run(&text, &uri, &settings, &mut fetch);
    log::info!("{name}: iPXE script {uri}: {} entries", menu.entries.len());
    out.errors.extend(menu.errors.iter().map(|e| format!("{uri}: {e}")));
    out.entries = ipxe::entries(&menu, 0, name);
    if !out.entries.iter().any(|e| e.default) {
        if let Some(e) = out.entries.first_mut() {
            e.default = true;
        }
    }
    out.config = Some(uri);
    // Chained images were only looked at: their bytes go back.
    remote.forget();
    out
}

/// What iPXE's own DHCP settings would hold: `hostname`, `domain`,
/// `next-server`, `filename`, `dns`, `gateway`, each also as `net<n>/…`.
fn ipxe_lease_settings(ack: &Message, n: usize) -> Vec<(String, String)> {
    let mut v: Vec<(&str, String)> = Vec::new();
    if let Some(h) = ack.hostname() {
        v.push(("hostname", h));
    }
    if let Some(d) = ack.domain() {
        v.push(("domain", d));
    }
    if !ack.siaddr.is_unspecified() {
        v.push(("next-server", ack.siaddr.to_string()));
    }
    if let Some(f) = ack.boot_file() {
        v.push(("filename", f));
    }
    if let Some(d) = ack.dns_servers().first() {
        v.push(("dns", d.to_string()));
    }
    if let Some(g) = ack.routers().first() {
        v.push(("gateway", g.to_string()));
    }
    if let Some(m) = ack.subnet_mask() {
        v.push(("netmask", m.to_string()));
    }
    v.into_iter()
        .flat_map(|(k, val)| [(k.to_string(), val.clone()), (format!("net{n}/{k}"), val)])
        .collect()
}

/// The GRUB configs a network-booted GRUB would read, in order (see the
/// module's documentation), as TFTP names without a leading `/`.
pub fn grub_config_names(boot_file: &str, mac: &[u8; 6], ip: Ipv4Addr) -> Vec<String> {
    let file = boot_file.trim_start_matches('/');
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    let mut dirs: Vec<String> = Vec::new();
    let platform = ["i386-pc", "x86_64-efi", "i386-efi", "arm64-efi"];
    if let Some((parent, last)) = dir.rsplit_once('/') {
        if platform.contains(&last) {
            dirs.push(parent.to_string());
        }
    } else if platform.contains(&dir) {
        dirs.push(String::new());
    }
    dirs.push(dir.to_string());
    for sub in ["grub", "boot/grub"] {
        dirs.push(if dir.is_empty() {
            sub.to_string()
        } else {
            format!("{dir}/{sub}")
        });
        dirs.push(sub.to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    let hex = format!("{:08X}", u32::from(ip));
    let mac = link::mac_text(mac).replace(':', "-");
    let mut names = Vec::new();
    for d in dirs {
        let at = |f: &str| {
            if d.is_empty() {
                f.to_string()
            } else {
                format!("{d}/{f}")
            }
        };
        names.push(at(&format!("grub.cfg-01-{mac}")));
        for len in (1..=hex.len()).rev() {
            names.push(at(&format!("grub.cfg-{}", &hex[..len])));
        }
        names.push(at("grub.cfg"));
    }
    names
}

/// GRUB's network devices over a [`Remote`].
struct NetGrub<'a> {
    remote: &'a Remote,
    /// The boot server (`$net_default_server`).
    server: String,
}

impl NetGrub<'_> {
    /// The [`Remote`] name of `path` on GRUB device `dev`: `(tftp)`,
    /// `(tftp,HOST)`, `(pxe)`, `(pxe:HOST)`, `(http,HOST)`; `None` for a disk.
    fn name(&self, dev: &str, path: &str) -> Option<String> {
        let dev = dev.trim_start_matches('(').trim_end_matches(')');
        let (proto, host) = match dev.split_once([',', ':']) {
            Some((p, h)) => (p, h.to_string()),
            None => (dev, self.server.clone()),
        };
        let file = path.trim_start_matches('/');
        match proto {
            "tftp" | "pxe" if host == self.server => Some(file.to_string()),
            "tftp" | "pxe" => Some(format!("{host}::{file}")),
            "http" => Some(format!("http://{host}/{file}")),
            _ => None,
        }
    }
}

impl GrubHost for NetGrub<'_> {
    fn kind(&self, dev: &str, path: &str) -> Option<Kind> {
        self.remote.kind(&self.name(dev, path)?)
    }
    fn size(&self, dev: &str, path: &str) -> Option<u64> {
        self.remote.size(&self.name(dev, path)?)
    }
    fn read_text(&self, dev: &str, path: &str) -> Result<String, String> {
        let n = self.name(dev, path).ok_or_else(|| format!("no device ({dev})"))?;
        self.remote.read_text(&n).map_err(|e| e.to_string())
    }
    fn search(&self, _by: SearchBy, _value: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_looks_next_to_its_image_then_in_its_prefix() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let ip = Ipv4Addr::new(192, 0, 2, 10);
        let n = grub_config_names("boot/grub/x86_64-efi/core.efi", &mac, ip);
        assert_eq!(n[0], "boot/grub/grub.cfg-01-52-54-00-12-34-56");
        assert_eq!(n[1], "boot/grub/grub.cfg-C000020A");
        assert_eq!(n[8], "boot/grub/grub.cfg-C");
        assert_eq!(n[9], "boot/grub/grub.cfg");
        assert_eq!(n[19], "boot/grub/x86_64-efi/grub.cfg");
        let n = grub_config_names("grubnetx64.efi", &mac, ip);
        assert_eq!(n[9], "grub.cfg");
        assert_eq!(n[19], "grub/grub.cfg");
        assert_eq!(n[29], "boot/grub/grub.cfg");
        assert_eq!(n.len(), 30);
    }

    #[test]
    fn grub_devices_reach_the_server() {
        let r = Remote::new("eth0", Some("192.0.2.1".into()), fetch::Options::default());
        let g = NetGrub {
            remote: &r,
            server: "192.0.2.1".into(),
        };
        assert_eq!(g.name("tftp", "/boot/vmlinuz").unwrap(), "boot/vmlinuz");
        assert_eq!(g.name("(tftp,192.0.2.1)", "/vmlinuz").unwrap(), "vmlinuz");
        assert_eq!(g.name("tftp,192.0.2.7", "/vmlinuz").unwrap(), "192.0.2.7::vmlinuz");
        assert_eq!(g.name("pxe", "/a").unwrap(), "a");
        assert_eq!(g.name("http,192.0.2.1:8080", "/k").unwrap(), "http://192.0.2.1:8080/k");
        assert_eq!(g.name("hd0,gpt2", "/vmlinuz"), None);
    }

    #[test]
    fn uuids_as_dmidecode_prints_them() {
        let u = parse_uuid("b8945908-d6a6-41a9-611d-74a6ab80b83d").unwrap();
        assert_eq!(pxelinux::uuid_name(&u), "b8945908-d6a6-41a9-611d-74a6ab80b83d");
        assert_eq!(parse_uuid("nope"), None);
    }
}
