//! The input as a FAT image: open, then list and read like discovery.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    let Some(d) = hopboot_fuzz::disk(data) else { return };
    let _ = hopboot_loader::fs::fat::probe(&d.whole());
    if let Ok(fs) = hopboot_loader::fs::fat::FatFs::open(d.whole()) {
        hopboot_fuzz::walk(&fs);
    }
});
