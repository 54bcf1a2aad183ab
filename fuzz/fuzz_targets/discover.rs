//! The whole pipeline on the input as a disk image: partition table,
//! filesystems, every config format, JSON output.
#![no_main]
use hopboot_loader::{discover, json};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    let Some(d) = hopboot_fuzz::disk(data) else { return };
    let mut errors = Vec::new();
    let volumes = hopboot_loader::source::disk::open_disk(&d, 0, &hopboot_loader::source::NoMachine, &mut errors);
    let _ = json::discovery(&discover::discover(volumes, errors));
});
