//! A kernel command line: parsing, hopboot's options, the kexec check.
#![no_main]
use hopboot_loader::cmdline;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let s = hopboot_fuzz::text(data);
    let _ = cmdline::Cmdline::parse(&s).options();
    let _ = cmdline::to_kexec(&cmdline::strip_loader_items(&s));
});
