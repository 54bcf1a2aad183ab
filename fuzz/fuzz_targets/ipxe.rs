//! An iPXE script (dictionary `ipxe.dict`); every `chain` fetches the input
//! again, so chained scripts and their bounds are exercised too.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let mut fetch = |_: &str| hopboot_loader::format::ipxe::Fetched::Text(text.clone());
    let settings = hopboot_loader::format::ipxe::nic_settings("net0", &[0x52, 0x54, 0, 1, 2, 3], None);
    let m = hopboot_loader::format::ipxe::run(&text, "http://192.0.2.1/boot.ipxe", &settings, &mut fetch);
    let _ = hopboot_loader::format::ipxe::entries(&m, 0, "eth0");
});
