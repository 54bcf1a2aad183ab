//! Network booting's pieces (issue 13). Not used by PID 1 yet: the network
//! source, transfers and the menu's network entries are still to come.
//!
//! - [`dhcp`]: DHCPv4 messages: DISCOVER/REQUEST built with the PXE
//!   options, OFFER/ACK read (addresses, servers, boot file, PXELINUX's
//!   209/210, option overload). Pure.
//! - [`link`]: Ethernet interfaces from sysfs; link up, address and default
//!   route through rtnetlink (messages built here).
//! - [`lease`]: the DHCP client loop on one interface (retransmissions with
//!   backoff, one deadline), and putting the lease on the interface.

pub mod dhcp;
pub mod lease;
pub mod link;
