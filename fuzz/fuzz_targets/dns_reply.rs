//! A DNS reply as received: `net::dns::parse_reply` for the question
//! `boot.test`, with the id the reply carries (so the parser goes past the
//! id check).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let id = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let _ = hopboot_loader::net::dns::parse_reply(data, id, "boot.test");
});
