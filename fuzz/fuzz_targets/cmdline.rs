//! A kernel command line: parsing, looking keys up, the kexec check. (hopboot's own
//! `hopboot.*` options are PID 1's, in init/src/options.rs, with their own tests.)
#![no_main]
use hopboot_loader::cmdline;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let s = hopboot_fuzz::text(data);
    let c = cmdline::Cmdline::parse(&s);
    let _ = (c.get("hopboot.wait"), c.get("hopboot.entry"), c.has("hopboot.debug"));
    let _ = cmdline::to_kexec(&cmdline::strip_loader_items(&s));
});
