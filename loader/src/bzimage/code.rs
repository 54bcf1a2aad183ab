//! The machine code hopboot puts in the boot page: the trampoline into the
//! kernel's 64-bit entry and the verifier before it, with their patched
//! fields and table offsets, and the verifier's [`digest`].

/// The entry trampoline, position independent except for four absolute
/// fields patched by `plan` ([`T_BOOT_PARAMS`], [`T_ENTRY`],
/// [`T_PAGE_TABLES`], [`T_GDTR_BASE`]). It loads hopboot's own identity map
/// into CR3 first (why: trampoline.S). Assembled from `trampoline.S` next to
/// this file (GNU as, `.code64`; the listing with offsets and bytes is
/// there), which the test `trampoline_is_trampoline_s` assembles and compares
/// with these bytes.
pub(super) const TRAMPOLINE: [u8; 0x90] = {
    let mut t = [0u8; 0x90];
    let code: [u8; 0x4b] = [
        0xfa, 0xfc, 0x48, 0x8b, 0x05, 0x57, 0x00, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x01, 0x15, 0x75, 0x00, 0x00,
        0x00, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x8e, 0xe0, 0x8e, 0xe8, 0x48, 0x8d,
        0x25, 0xa7, 0x00, 0x00, 0x00, 0x6a, 0x10, 0x48, 0x8d, 0x05, 0x03, 0x00, 0x00, 0x00, 0x50, 0x48, 0xcb, 0x48,
        0x8b, 0x35, 0x14, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x05, 0x15, 0x00, 0x00, 0x00, 0x31, 0xdb, 0x31, 0xed, 0x31,
        0xff, 0xff, 0xe0,
    ];
    let mut i = 0;
    while i < code.len() {
        t[i] = code[i];
        i += 1;
    }
    let gdt: [u64; 2] = [0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];
    let mut g = 0;
    while g < 2 {
        let b = gdt[g].to_le_bytes();
        let mut k = 0;
        while k < 8 {
            t[T_GDT + 0x10 + g * 8 + k] = b[k];
            k += 1;
        }
        g += 1;
    }
    t[T_GDT + 0x20] = 31; // GDT limit: 4 descriptors
    t
};
/// The verifier the new kernel's entry point runs first: it recomputes the
/// [`digest`] of the kernel, the initrd, and the boot page's zero page,
/// trampoline and command line where `kexec_load` put them and jumps
/// to the trampoline (0x200 below it) if each matches its table entry. If one
/// does not (memory changed between the load and the jump: a stray DMA, a bad
/// DIMM), it prints [`VERIFY_MESSAGE`] on COM1 and resets the machine with a
/// triple fault, so the firmware starts over (kexec-tools' purgatory checks a
/// SHA-256 and then hangs). Paging is on with kexec's identity map, so the
/// physical addresses can be read as they are. Assembled from `verifier.S`
/// next to this file (GNU as, `.code64`; the listing with offsets and bytes is
/// there), which the test `verifier_is_verifier_s` assembles and compares with
/// these bytes.
pub(super) const VERIFIER: [u8; 0x71] = [
    0xfa, 0xfc, 0x48, 0x8d, 0x35, 0x77, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x4e, 0x08, 0x48, 0x85, 0xc9, 0x74, 0x21, 0x48,
    0x8b, 0x3e, 0x31, 0xc0, 0x48, 0xc1, 0xc0, 0x05, 0x48, 0x03, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x48, 0xff, 0xc9, 0x75,
    0xf0, 0x48, 0x3b, 0x46, 0x10, 0x75, 0x0b, 0x48, 0x83, 0xc6, 0x18, 0xeb, 0xd6, 0xe9, 0xc8, 0xfd, 0xff, 0xff, 0x48,
    0x8d, 0x35, 0xc1, 0x00, 0x00, 0x00, 0x0f, 0xb6, 0x1e, 0x85, 0xdb, 0x74, 0x20, 0xba, 0xfd, 0x03, 0x00, 0x00, 0xb9,
    0x00, 0x00, 0x10, 0x00, 0xec, 0xa8, 0x20, 0x75, 0x04, 0xff, 0xc9, 0x75, 0xf7, 0xba, 0xf8, 0x03, 0x00, 0x00, 0x88,
    0xd8, 0xee, 0x48, 0xff, 0xc6, 0xeb, 0xd9, 0x0f, 0x01, 0x1d, 0x09, 0x00, 0x00, 0x00, 0xcc, 0xf4, 0xeb, 0xf5,
];
/// The verifier's table of rows (label `table` in verifier.S).
pub(super) const V_TABLE: usize = 0x80;
/// The verifier's message (label `msg` in verifier.S).
pub(super) const V_MSG: usize = 0x100;
/// What the verifier prints on COM1 before it resets the machine.
pub const VERIFY_MESSAGE: &str =
    "\r\nhopboot: the kernel or initrd changed in memory before the jump (checksum); resetting\r\n";

/// The verifier's checksum of `buf` as it lies in memory, zero-padded to whole
/// 8-byte words: `h = rol(h, 5) + word` over the little-endian words. Not a
/// cryptographic hash: it catches corruption, not an attacker (who could
/// change the table as well).
pub fn digest(buf: &[u8]) -> u64 {
    // Whole words as arrays (one load each; this runs over every byte of the
    // kernel and initrd, and other slicings were 4-5x slower at opt-level z),
    // then the zero-padded tail.
    let step = |h: u64, w: [u8; 8]| h.rotate_left(5).wrapping_add(u64::from_le_bytes(w));
    let (words, tail) = buf.as_chunks::<8>();
    let mut h = words.iter().fold(0u64, |h, w| step(h, *w));
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        h = step(h, w);
    }
    h
}

// The trampoline's fields plan() patches (labels in trampoline.S).
/// The zero page's address.
pub(super) const T_BOOT_PARAMS: usize = 0x50;
/// The kernel's 64-bit entry point.
pub(super) const T_ENTRY: usize = 0x58;
/// The top-level page table's address, loaded into CR3.
pub(super) const T_PAGE_TABLES: usize = 0x60;
/// The GDT (not patched; its address goes into the gdtr).
pub(super) const T_GDT: usize = 0x68;
/// The GDT's address in the gdtr `lgdt` loads.
pub(super) const T_GDTR_BASE: usize = 0x8a;

#[cfg(test)]
mod tests {
    use super::super::{SEED_OFF, TRAMPOLINE_OFF, VERIFY_OFF};
    use super::*;

    /// The digest as the verifier's loop computes it, word by word.
    #[test]
    fn digest_is_rol5_add_over_zero_padded_words() {
        assert_eq!(digest(&[]), 0);
        assert_eq!(digest(&[1]), 1);
        assert_eq!(digest(&[1, 0, 0, 0, 0, 0, 0, 0, 2]), (1u64 << 5) + 2);
        assert_eq!(
            digest(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]),
            0x10,
            "the top bit rotates round"
        );
        let a = vec![7u8; 4096];
        let mut b = a.clone();
        b[1234] ^= 1;
        assert_ne!(digest(&a), digest(&b));
    }

    /// Runs a binutils tool; a missing tool fails the test (it must not pass
    /// by skipping the comparison).
    fn run(tool: &str, args: &[&std::ffi::OsStr]) -> String {
        let out = std::process::Command::new(tool)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{tool}` ({e}): this test assembles the .S files next to code.rs \
                     with GNU binutils (as, objcopy, nm, objdump); install binutils \
                     (scripts/install-deps.sh does)"
                )
            });
        assert!(
            out.status.success(),
            "`{tool}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Assembles `name` (next to this file) with `as --64`: the `.text` bytes
    /// (`objcopy -O binary`) and the labels' offsets (`nm`).
    fn assemble(name: &str) -> (Vec<u8>, std::collections::HashMap<String, u64>) {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/bzimage")
            .join(name);
        let dir = std::env::temp_dir().join(format!("hopboot-asm-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (obj, bin) = (dir.join("out.o"), dir.join("out.bin"));
        run(
            "as",
            &["--64".as_ref(), "-o".as_ref(), obj.as_os_str(), src.as_os_str()],
        );
        // Every address resolved by as itself: the bytes objcopy copies out
        // of an unlinked object are final only without relocations.
        let relocs = run("objdump", &["-r".as_ref(), obj.as_os_str()]);
        assert!(
            !relocs.contains("RELOCATION RECORDS"),
            "{name} needs relocations:\n{relocs}"
        );
        run(
            "objcopy",
            &[
                "-O".as_ref(),
                "binary".as_ref(),
                "-j".as_ref(),
                ".text".as_ref(),
                obj.as_os_str(),
                bin.as_os_str(),
            ],
        );
        let bytes = std::fs::read(&bin).unwrap();
        let labels = run("nm", &[obj.as_os_str()])
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let value = u64::from_str_radix(f.next()?, 16).ok()?;
                Some((f.nth(1)?.to_string(), value))
            })
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        (bytes, labels)
    }

    /// TRAMPOLINE is trampoline.S assembled. The three fields plan() patches
    /// are assembled as `.quad 0`, the value the array holds there, so the
    /// bytes compare whole with nothing masked; the labels then pin the
    /// offsets plan() writes the fields at.
    #[test]
    fn trampoline_is_trampoline_s() {
        let (bin, label) = assemble("trampoline.S");
        assert_eq!(bin[..TRAMPOLINE.len()], TRAMPOLINE);
        // The array stops 2 bytes into gdtr's base; the rest of it is 0 too.
        assert_eq!(bin.len(), T_GDTR_BASE + 8);
        assert!(bin[TRAMPOLINE.len()..].iter().all(|&b| b == 0));
        assert_eq!(label["boot_params"], T_BOOT_PARAMS as u64);
        assert_eq!(label["entry"], T_ENTRY as u64);
        assert_eq!(label["page_tables"], T_PAGE_TABLES as u64);
        assert_eq!(label["gdt"], T_GDT as u64);
        assert_eq!(label["gdtr_base"], T_GDTR_BASE as u64);
        // Its stack (two pushes below stack_top) is past the code and data
        // and below the RNG seed.
        let stack = label["stack_top"] as usize;
        assert!(stack - 16 >= bin.len() && TRAMPOLINE_OFF + stack <= SEED_OFF);
    }

    /// VERIFIER is verifier.S assembled. Past the code, the idtr (all 0: an
    /// empty IDT) and the table (filled by plan()) are assembled as zeros,
    /// which is what the boot page holds there before plan() writes rows.
    #[test]
    fn verifier_is_verifier_s() {
        let (bin, label) = assemble("verifier.S");
        assert_eq!(bin[..VERIFIER.len()], VERIFIER);
        assert_eq!(bin.len(), V_MSG);
        assert!(bin[VERIFIER.len()..].iter().all(|&b| b == 0));
        assert_eq!(label["table"], V_TABLE as u64);
        assert_eq!(label["msg"], V_MSG as u64);
        // Its `jmp trampoline` goes where mod.rs puts the trampoline.
        assert_eq!(label["trampoline"], TRAMPOLINE_OFF.wrapping_sub(VERIFY_OFF) as u64);
    }
}
