//! The whole pipeline on the input as a disk image: partition table,
//! filesystems, every config format, JSON output, then what each entry
//! boots read as the loader reads it (sizes, the first bytes of the kernel
//! and initrds, a UKI's section table), without loading anything.
#![no_main]
use hopboot_loader::format::sdboot::uki;
use hopboot_loader::{discover, json};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    hopboot_fuzz::tolerate_caught_panics();
    let Some(d) = hopboot_fuzz::disk(data) else { return };
    let mut errors = Vec::new();
    let volumes = hopboot_loader::source::disk::open_disk(&d, 0, &hopboot_loader::source::NoMachine, &mut errors);
    let found = discover::discover(volumes, errors);
    let _ = json::discovery(&found);
    for e in found.entries.iter().take(16) {
        let Some(v) = found.volume_of(e) else { continue };
        for p in std::iter::once(&e.kernel).chain(&e.initrds).take(4) {
            let _ = v.fs.size(p);
            let _ = v.fs.read_range(p, 0, 4096);
            let _ = v.fs.read_range(p, 1 << 20, usize::MAX);
        }
        if e.kernel.to_ascii_lowercase().ends_with(".efi") {
            let _ = uki::read_layout(&*v.fs, &e.kernel);
        }
    }
});
