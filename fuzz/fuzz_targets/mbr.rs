//! Sector 0 as a DOS/MBR table, then the whole input as a disk (logical
//! partitions follow the EBR chain).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = hopboot_loader::block::mbr::parse_boot_sector(data);
    if let Some(d) = hopboot_fuzz::disk(data) {
        let _ = hopboot_loader::block::partitions(&d);
    }
});
