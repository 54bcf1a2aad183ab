//! A boot manifest (trust::manifest): parsed; what parses renders back to
//! the same manifest, and is matched against the input's own bytes.
#![no_main]
use hopboot_loader::trust::manifest::Manifest;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let Ok(m) = Manifest::parse(&hopboot_fuzz::text(data)) else { return };
    let again = Manifest::parse(&m.render("fuzz")).expect("a rendered manifest parses");
    assert_eq!(again, m);
    let _ = m.allows(data, &[data], "");
});
