//! The input as an ext4 image: open, then list and read like discovery.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    let Some(d) = hopboot_fuzz::disk(data) else { return };
    let _ = hopboot_loader::fs::ext4::probe(&d.whole());
    if let Ok(fs) = hopboot_loader::fs::ext4::Ext4Fs::open(d.whole()) {
        hopboot_fuzz::walk(&fs);
    }
});
