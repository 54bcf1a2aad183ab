//! Network booting (issue 13). PID 1 starts [`boot::start`] after loading
//! the drivers: one thread per Ethernet interface, each sending the entries
//! its boot server offers (or why none) as soon as it knows.
//!
//! - [`boot`]: the network as a source: link, lease, then the boot
//!   server's config read as an iPXE script, a PXELINUX config or a GRUB
//!   config, into entries; [`remote`] is the server as an `FsView` (files
//!   fetched on first use into memfds), which `kexec::load` reads.
//! - [`dhcp`]: DHCPv4 messages: DISCOVER/REQUEST built with the PXE
//!   options, OFFER/ACK read (addresses, servers, boot file, PXELINUX's
//!   209/210, option overload). Pure.
//! - [`link`]: Ethernet interfaces from sysfs; link up, address and default
//!   route through rtnetlink (messages built here).
//! - [`lease`]: the DHCP client loop on one interface (retransmissions with
//!   backoff, one deadline), and putting the lease on the interface.
//! - [`fetch`]: a boot file by URL (`http://`, `tftp://`) into a memfd:
//!   [`tftp`] and [`http`] transfers, [`dns`] for host names, [`url`],
//!   and [`download`], the memfd behind a memory budget with progress,
//!   read back as a file is ([`remote`] serves downloads as an `FsView`).
//!
//! Packet and message parsing is pure and unit-tested in each module; the
//! DHCP client is tested against dnsmasq (loader/tests/net_dhcp.rs), the
//! transfers against dnsmasq, atftpd and nginx (loader/tests/netboot.rs), each
//! in network namespaces of its own (`make test-netboot`).

pub mod boot;
pub mod dhcp;
pub mod dns;
pub mod download;
pub mod fetch;
pub mod http;
pub mod lease;
pub mod link;
pub mod remote;
pub mod tftp;
pub mod url;
