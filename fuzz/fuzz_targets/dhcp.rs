//! A DHCP message as received: `net::dhcp::parse` and every accessor.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = hopboot_loader::net::dhcp::parse(data) {
        let _ = (m.message_type(), m.subnet_mask(), m.routers(), m.dns_servers(), m.hostname());
        let _ = (m.domain(), m.lease_time(), m.server_id(), m.boot_file(), m.boot_server());
        let _ = (m.pxelinux_config_file(), m.pxelinux_path_prefix(), m.client_uuid());
    }
});
