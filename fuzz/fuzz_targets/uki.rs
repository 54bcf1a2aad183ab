//! A unified kernel image (goblin's PE headers included), and the input as
//! os-release text.
#![no_main]
use hopboot_loader::config::uki;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    if let Ok(u) = uki::parse(data) {
        let _ = (u.title(), u.version());
    }
    let _ = uki::parse_os_release(&hopboot_fuzz::text(data));
});
