//! A kernel image as hopboot's own kexec_load setup sees it: the bzImage
//! header, then the placement of kernel, initrd and boot page on QEMU's
//! 512 MiB memory map (every header value is the input's).
#![no_main]
use hopboot_loader::bzimage::{plan, Platform, E820};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    let e820 = |addr, size, kind| E820 { addr, size, kind };
    let platform = Platform {
        e820: vec![
            e820(0, 0x9fc00, 1),
            e820(0x9fc00, 0x400, 2),
            e820(0x10_0000, 0x1fee_0000, 1),
            e820(0x1ffe_0000, 0x2_0000, 2),
        ],
        ram: vec![0x1000..0x9f000, 0x10_0000..0x1ffe_0000],
        boot_params: None,
        la57: data.last() == Some(&0x57),
    };
    let initrd = data.get(..data.len().min(4096));
    if let Ok(p) = plan(data, initrd, b"console=ttyS0 ro", &platform, Some([7; 32])) {
        // Every segment the plan hands to kexec_load lies in RAM.
        for s in p.segments() {
            let end = s.mem.checked_add(s.memsz);
            assert!(end.is_some_and(|e| e <= 0x1ffe_0000), "segment {:#x}+{:#x}", s.mem, s.memsz);
        }
    }
    let _ = plan(data, None, b"", &platform, None);
});
