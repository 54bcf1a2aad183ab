//! systemd-boot's loader.conf.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = hopboot_loader::format::sdboot::bls::parse_loader_conf(&hopboot_fuzz::text(data));
});
