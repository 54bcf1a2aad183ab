//! A PXELINUX config at /boot/pxelinux.cfg/default, read with prefix
//! `/boot/` (an INCLUDE of that path re-enters it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let fs = hopboot_fuzz::OneFile {
        path: "/boot/pxelinux.cfg/default",
        data,
    };
    let m = hopboot_loader::format::pxelinux::parse(&fs, "/boot/pxelinux.cfg/default", "/boot/");
    let _ = hopboot_loader::format::pxelinux::entries(&m, 0, "eth0");
});
