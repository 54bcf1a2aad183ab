//! The machine code hopboot puts in the boot page: the trampoline into the
//! kernel's 64-bit entry and the verifier before it, with their patched
//! fields and table offsets, and the verifier's [`digest`].

/// The entry trampoline, position independent except for three absolute
/// fields patched below. Assembled from (GNU as, `.code64`):
/// ```text
/// 00: fa                    cli
/// 01: fc                    cld
/// 02: 0f 01 15 6f 00 00 00  lgdt   gdtr(%rip)            # 0x78
/// 09: b8 18 00 00 00        mov    $0x18,%eax            # __BOOT_DS
/// 0e: 8e d8 / 8e c0 / 8e d0 / 8e e0 / 8e e8   mov %eax,%ds/%es/%ss/%fs/%gs
/// 18: 48 8d 25 b1 00 00 00  lea    stack_top(%rip),%rsp  # 0xd0
/// 1f: 6a 10                 push   $0x10                 # __BOOT_CS
/// 21: 48 8d 05 03 00 00 00  lea    1f(%rip),%rax         # 0x2b
/// 28: 50                    push   %rax
/// 29: 48 cb                 lretq                        # reload %cs
/// 2b: 48 8b 35 16 00 00 00  1: mov boot_params(%rip),%rsi  # 0x48
/// 32: 48 8b 05 17 00 00 00  mov    entry(%rip),%rax      # 0x50
/// 39: 31 db 31 ed 31 ff     xor %ebx,%ebx; xor %ebp,%ebp; xor %edi,%edi
/// 3f: ff e0                 jmp    *%rax
/// 48: .quad boot_params     50: .quad entry
/// 58: gdt: null, null, 0x10 = 0x00af9a000000ffff (64-bit code),
///          0x18 = 0x00cf92000000ffff (flat data)
/// 78: gdtr: .word 31, .quad gdt      d0: stack_top
/// ```
pub(super) const TRAMPOLINE: [u8; 0x80] = {
    let mut t = [0u8; 0x80];
    let code: [u8; 0x41] = [
        0xfa, 0xfc, 0x0f, 0x01, 0x15, 0x6f, 0x00, 0x00, 0x00, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x8e, 0xd8, 0x8e, 0xc0,
        0x8e, 0xd0, 0x8e, 0xe0, 0x8e, 0xe8, 0x48, 0x8d, 0x25, 0xb1, 0x00, 0x00, 0x00, 0x6a, 0x10, 0x48, 0x8d, 0x05,
        0x03, 0x00, 0x00, 0x00, 0x50, 0x48, 0xcb, 0x48, 0x8b, 0x35, 0x16, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x05, 0x17,
        0x00, 0x00, 0x00, 0x31, 0xdb, 0x31, 0xed, 0x31, 0xff, 0xff, 0xe0,
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
            t[0x68 + g * 8 + k] = b[k];
            k += 1;
        }
        g += 1;
    }
    t[0x78] = 31; // GDT limit: 4 descriptors
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
/// physical addresses can be read as they are. Assembled from (GNU as, `.code64`):
/// ```text
/// 00: fa fc                 cli; cld
/// 02: 48 8d 35 77 00 00 00  lea    table(%rip),%rsi      # 0x80
/// 09: 48 8b 4e 08           next: mov 8(%rsi),%rcx       # qwords; 0 ends the table
/// 0d: 48 85 c9 / 74 21      test %rcx,%rcx; jz good
/// 12: 48 8b 3e              mov    (%rsi),%rdi           # address
/// 15: 31 c0                 xor    %eax,%eax
/// 17: 48 c1 c0 05           1: rol $5,%rax
/// 1b: 48 03 07              add    (%rdi),%rax
/// 1e: 48 83 c7 08           add    $8,%rdi
/// 22: 48 ff c9 / 75 f0      dec %rcx; jnz 1b
/// 27: 48 3b 46 10 / 75 0b   cmp 16(%rsi),%rax; jne bad
/// 2d: 48 83 c6 18 / eb d6   add $24,%rsi; jmp next
/// 33: e9 c8 fd ff ff        good: jmp trampoline         # -0x200
/// 38: 48 8d 35 c1 00 00 00  bad: lea msg(%rip),%rsi      # 0x100
/// 3f: 0f b6 1e / 85 db / 74 20   2: movzbl (%rsi),%ebx; test; jz reset
/// 46: ba fd 03 00 00        mov    $0x3fd,%edx           # COM1 line status
/// 4b: b9 00 00 10 00        mov    $0x100000,%ecx        # bounded wait
/// 50: ec / a8 20 / 75 04    3: in (%dx),%al; test $0x20,%al; jnz 4f
/// 55: ff c9 / 75 f7         dec %ecx; jnz 3b
/// 59: ba f8 03 00 00        4: mov $0x3f8,%edx
/// 5e: 88 d8 / ee            mov %bl,%al; out %al,(%dx)
/// 61: 48 ff c6 / eb d9      inc %rsi; jmp 2b
/// 66: 0f 01 1d 09 00 00 00  reset: lidt idtr(%rip)       # 0x76: limit 0
/// 6d: cc / f4 / eb f5       int3; hlt; jmp reset
/// 76: idtr: .word 0, .quad 0
/// 80: table: 4 x { .quad address, qwords, digest }, then qwords = 0
/// 100: msg: NUL-terminated
/// ```
pub(super) const VERIFIER: [u8; 0x71] = [
    0xfa, 0xfc, 0x48, 0x8d, 0x35, 0x77, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x4e, 0x08, 0x48, 0x85, 0xc9, 0x74, 0x21, 0x48,
    0x8b, 0x3e, 0x31, 0xc0, 0x48, 0xc1, 0xc0, 0x05, 0x48, 0x03, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x48, 0xff, 0xc9, 0x75,
    0xf0, 0x48, 0x3b, 0x46, 0x10, 0x75, 0x0b, 0x48, 0x83, 0xc6, 0x18, 0xeb, 0xd6, 0xe9, 0xc8, 0xfd, 0xff, 0xff, 0x48,
    0x8d, 0x35, 0xc1, 0x00, 0x00, 0x00, 0x0f, 0xb6, 0x1e, 0x85, 0xdb, 0x74, 0x20, 0xba, 0xfd, 0x03, 0x00, 0x00, 0xb9,
    0x00, 0x00, 0x10, 0x00, 0xec, 0xa8, 0x20, 0x75, 0x04, 0xff, 0xc9, 0x75, 0xf7, 0xba, 0xf8, 0x03, 0x00, 0x00, 0x88,
    0xd8, 0xee, 0x48, 0xff, 0xc6, 0xeb, 0xd9, 0x0f, 0x01, 0x1d, 0x09, 0x00, 0x00, 0x00, 0xcc, 0xf4, 0xeb, 0xf5,
];
pub(super) const V_TABLE: usize = 0x80;
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

pub(super) const T_BOOT_PARAMS: usize = 0x48;
pub(super) const T_ENTRY: usize = 0x50;
pub(super) const T_GDT: usize = 0x58;
pub(super) const T_GDTR_BASE: usize = 0x7a;

#[cfg(test)]
mod tests {
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
}
