//! A GPT header sector, then the whole input as a disk image (primary and
//! backup headers, entry arrays, 512- and 4096-byte sectors).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = hopboot_loader::block::gpt::parse_header(data);
    if let Some(d) = hopboot_fuzz::disk(data) {
        let _ = hopboot_loader::block::partitions(&d);
    }
});
