//! Network booting's pieces (issue 13). Not used by PID 1 yet: the network
//! source and the menu's network entries are still to come.
//!
//! - [`dhcp`]: DHCPv4 messages: DISCOVER/REQUEST built with the PXE
//!   options, OFFER/ACK read (addresses, servers, boot file, PXELINUX's
//!   209/210, option overload). Pure.
//! - [`link`]: Ethernet interfaces from sysfs; link up, address and default
//!   route through rtnetlink (messages built here).
//! - [`lease`]: the DHCP client loop on one interface (retransmissions with
//!   backoff, one deadline), and putting the lease on the interface.
//! - [`fetch`]: a boot file by URL (`http://`, `tftp://`) into a memfd:
//!   [`tftp`] and [`http`] transfers, [`dns`] for host names, [`url`],
//!   and [`download`], the memfd behind a memory budget with progress;
//!   [`fetched`] serves downloads as an `FsView`, for `kexec::load`.
//!
//! Packet and message parsing is pure and unit-tested in each module; the
//! DHCP client is tested against dnsmasq (loader/tests/net_dhcp.rs), the
//! transfers against dnsmasq, atftpd and nginx (loader/tests/netboot.rs), each
//! in network namespaces of its own (`make test-netboot`).

pub mod dhcp;
pub mod dns;
pub mod download;
pub mod fetch;
pub mod fetched;
pub mod http;
pub mod lease;
pub mod link;
pub mod tftp;
pub mod url;
