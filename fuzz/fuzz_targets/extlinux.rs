//! A syslinux/extlinux config at /syslinux/syslinux.cfg (an INCLUDE or
//! CONFIG of that path re-enters it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let fs = hopboot_fuzz::OneFile {
        path: "/syslinux/syslinux.cfg",
        data,
    };
    let _ = hopboot_loader::format::extlinux::parse(&fs, "/syslinux/syslinux.cfg");
});
