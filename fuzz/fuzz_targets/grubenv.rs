//! A grubenv block.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = hopboot_loader::format::grub::parse_grubenv(&hopboot_fuzz::text(data));
});
