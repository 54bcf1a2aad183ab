//! depmod's modules.dep and the load order built from it.
#![no_main]
use hopboot_loader::kmod;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let _ = kmod::load_order(&kmod::parse_dep(&hopboot_fuzz::text(data)));
});
