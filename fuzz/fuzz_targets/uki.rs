//! A unified kernel image (goblin's PE headers included), read whole and by
//! range from a file that claims to be longer than it is, and the input as
//! os-release text.
#![no_main]
use hopboot_loader::format::sdboot::uki;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    if let Ok(u) = uki::parse(data) {
        let _ = (u.title(), u.version());
    }
    // A file whose size says 4 KiB more than it gives: every read near the
    // end comes back short.
    let read_at = |offset: u64, len: usize| -> Result<Vec<u8>, ()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        let rest = data.get(start..).unwrap_or_default();
        Ok(rest.get(..len.min(rest.len())).unwrap_or_default().to_vec())
    };
    let _ = uki::read_with(data.len() as u64 + 4096, read_at);
    let _ = uki::parse_os_release(&hopboot_fuzz::text(data));
});
