//! Network booting's protocol pieces, pure and without sockets; not used by
//! PID 1 yet (issue 13: the link, the DHCP client loop with retries, TFTP and
//! HTTP transfers and the network source are still to come).
//!
//! - [`dhcp`]: DHCPv4 messages: DISCOVER/REQUEST built with the PXE
//!   options, OFFER/ACK read (addresses, servers, boot file, PXELINUX's
//!   209/210, option overload).

pub mod dhcp;
