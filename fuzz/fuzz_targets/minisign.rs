//! A minisign signature file, then a NUL, then the data it claims to sign,
//! checked against the test key (loader/testdata/minisign/key1.pub).
#![no_main]
const KEY: &str = include_str!("../../loader/testdata/minisign/key1.pub");
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let (sig, signed) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut ring = hopboot_loader::trust::Keyring::default();
    ring.add(KEY, "key1.pub").unwrap();
    let _ = ring.verify(signed, &hopboot_fuzz::text(sig));
    // The key parser too.
    let _ = hopboot_loader::trust::Keyring::default().add(&hopboot_fuzz::text(sig), "fuzz");
});
