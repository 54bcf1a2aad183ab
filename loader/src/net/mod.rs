//! Network booting's protocol pieces; not used by PID 1 yet (issue 13: the
//! link, the DHCP client loop with retries and the network source are still
//! to come).
//!
//! - [`dhcp`]: DHCPv4 messages: DISCOVER/REQUEST built with the PXE
//!   options, OFFER/ACK read (addresses, servers, boot file, PXELINUX's
//!   209/210, option overload).
//! - [`fetch`]: a boot file by URL (`http://`, `tftp://`) into a memfd:
//!   [`tftp`] and [`http`] transfers, [`dns`] for host names, [`url`],
//!   and [`download`], the memfd behind a memory budget with progress;
//!   [`fetched`] serves downloads as an `FsView`, for `kexec::load`.
//!
//! Packet and message parsing is pure and unit-tested in each module; the
//! transfers are tested against real dnsmasq and nginx in a network
//! namespace (loader/tests/netboot.rs, `make test-netboot`).

pub mod dhcp;
pub mod dns;
pub mod download;
pub mod fetch;
pub mod fetched;
pub mod http;
pub mod tftp;
pub mod url;
