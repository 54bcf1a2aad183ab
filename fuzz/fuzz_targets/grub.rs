//! grub.cfg: the parser, then the interpreter on the input as
//! /boot/grub/grub.cfg (a `source`/`configfile` of that path re-enters it).
#![no_main]
use hopboot_loader::format::grub;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = grub::script::parse(&hopboot_fuzz::text(data));
    let host = hopboot_fuzz::OneFile {
        path: "/boot/grub/grub.cfg",
        data,
    };
    let _ = grub::run(&host, "hd0", "/boot/grub/grub.cfg");
});
