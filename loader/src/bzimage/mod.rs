//! Loading an x86-64 bzImage with the classic `kexec_load(2)`: hopboot lays
//! out the segments itself, the way a BIOS boot loader would, instead of
//! asking the kernel's own loader (`kexec_file_load`).
//!
//! Why: `kexec_file_load` makes the running kernel SHA-256 every byte of the
//! kernel and initrd, and its purgatory hashes them all again before jumping
//! to the new kernel. Under QEMU's TCG that is seconds. It also reserves the
//! kernel's whole `init_size` (64 MiB for Debian's 6.1) as a segment, and the
//! kernel refuses a load whose segments exceed half of RAM, so small machines
//! fail with EINVAL. Here the kernel segment is only as big as the file and
//! nothing is hashed with SHA-256; a verifier at the entry point recomputes a
//! cheap checksum of the kernel and initrd instead ([`digest`]).
//!
//! What is built, following Documentation/arch/x86/boot.rst ("64-bit boot
//! protocol") and the fields the kernel's own bzImage64 loader fills:
//! - the protected-mode kernel (the file after its setup sectors), at
//!   `pref_address` when free, else the lowest free `kernel_alignment`-aligned
//!   place, with `init_size` bytes kept clear after it for decompression;
//! - the initrd, page aligned, as high as `initrd_addr_max` allows;
//! - one "boot page" segment: the zero page (`struct boot_params`: the
//!   image's setup header, e820 map, screen/EDD info of the running kernel,
//!   initrd and command-line pointers), a `SETUP_RNG_SEED` setup_data, the
//!   command line, the verifier (the entry point) with its table of
//!   digests, and a 70-byte trampoline that loads a GDT with the
//!   flat `__BOOT_CS` (0x10) / `__BOOT_DS` (0x18) segments the protocol
//!   asks for, points `%rsi` at the zero page and jumps to the kernel's 64-bit
//!   entry (load address + 0x200). `kexec_load` starts it with paging on and
//!   all memory identity-mapped.
//!
//! Used only where it is equivalent: a BIOS (or coreboot without UEFI)
//! machine, a kernel with a 64-bit entry point. On UEFI machines the new
//! kernel needs the EFI runtime map that only the kernel's loader passes, and
//! under lockdown only signed `kexec_file_load` is allowed: those use it.

use std::ops::Range;

/// The loaded segment set for `kexec_load`, ready to hand to the kernel.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Physical address the kernel starts executing (the trampoline).
    pub entry: u64,
    /// Protected-mode kernel: the bzImage after its setup sectors.
    pub kernel: &'a [u8],
    /// Where the kernel goes.
    pub kernel_addr: u64,
    /// The initrd and where it goes.
    pub initrd: Option<(&'a [u8], u64)>,
    /// Zero page, setup data, command line and trampoline.
    pub boot_page: Vec<u8>,
    /// Where the boot page goes.
    pub boot_addr: u64,
}

/// One segment as `kexec_load` takes it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Bytes to copy.
    pub buf: &'a [u8],
    /// Physical destination (page aligned).
    pub mem: u64,
    /// Destination size (page aligned, >= `buf.len()`).
    pub memsz: u64,
}

impl Plan<'_> {
    /// Makes the verifier's digest of the kernel wrong, so that the jump
    /// fails the check (tests of that path: `hopboot.kexec=test-bad-digest`).
    pub fn spoil_kernel_digest(&mut self) {
        self.boot_page[VERIFY_OFF + V_TABLE + 16] ^= 1;
    }

    /// The segments, in address order.
    pub fn segments(&self) -> Vec<Segment<'_>> {
        let mut v = vec![
            Segment {
                buf: self.kernel,
                mem: self.kernel_addr,
                memsz: page_up(self.kernel.len() as u64),
            },
            Segment {
                buf: &self.boot_page,
                mem: self.boot_addr,
                memsz: page_up(self.boot_page.len() as u64),
            },
        ];
        if let Some((buf, mem)) = self.initrd {
            v.push(Segment {
                buf,
                mem,
                memsz: page_up(buf.len() as u64),
            });
        }
        v.sort_by_key(|s| s.mem);
        v
    }
}

/// Why hopboot cannot lay out this image itself (the caller then uses
/// `kexec_file_load`, or reports it).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BzError {
    /// Not an x86 bzImage.
    #[error("not a bzImage: {0}")]
    NotBzImage(&'static str),
    /// A bzImage without the 64-bit entry point (boot protocol < 2.12).
    #[error("kernel has no 64-bit entry point (boot protocol {0:#x})")]
    No64BitEntry(u16),
    /// Command line longer than the kernel accepts.
    #[error("command line is {len} bytes; this kernel takes at most {max}")]
    CmdlineTooLong {
        /// Bytes given.
        len: usize,
        /// `cmdline_size` from the header.
        max: u32,
    },
    /// No free RAM for a piece.
    #[error("no room in RAM for the {0}")]
    NoRoom(&'static str),
    /// The machine may run 5-level page tables and the kernel cannot start in them.
    #[error("kernel cannot start with 5-level paging, which this CPU supports")]
    No5Level,
}

/// The fields of the setup header hopboot needs (boot.rst offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Boot protocol version.
    pub version: u16,
    /// 512-byte real-mode setup sectors after the boot sector.
    pub setup_sects: u8,
    /// XLF_* flags.
    pub xloadflags: u16,
    /// Whether the kernel may be loaded anywhere (aligned).
    pub relocatable: bool,
    /// Alignment for a relocatable kernel.
    pub kernel_alignment: u32,
    /// Preferred load address.
    pub pref_address: u64,
    /// Memory the kernel needs from its load address to decompress and run.
    pub init_size: u32,
    /// Highest address the initrd may occupy.
    pub initrd_addr_max: u32,
    /// Longest command line, without the NUL.
    pub cmdline_size: u32,
    /// End of the setup header (0x202 + the jump's offset byte).
    pub header_end: usize,
}

const XLF_KERNEL_64: u16 = 1;
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 2;
const XLF_5LEVEL: u16 = 1 << 5;
const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const GIB4: u64 = 1 << 32;

fn u16_at(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}
fn put(b: &mut [u8], o: usize, v: &[u8]) {
    if let Some(d) = b.get_mut(o..o + v.len()) {
        d.copy_from_slice(v);
    }
}
fn page_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// Reads the setup header of `image`; errors if it is not a bzImage with a
/// 64-bit entry point.
pub fn parse_header(image: &[u8]) -> Result<Header, BzError> {
    if image.len() < 0x300 {
        return Err(BzError::NotBzImage("shorter than its setup header"));
    }
    if u16_at(image, 0x1fe) != 0xAA55 || image.get(0x202..0x206) != Some(b"HdrS") {
        return Err(BzError::NotBzImage("no HdrS boot header"));
    }
    let version = u16_at(image, 0x206);
    let xloadflags = u16_at(image, 0x236);
    if version < 0x020c || xloadflags & XLF_KERNEL_64 == 0 {
        return Err(BzError::No64BitEntry(version));
    }
    let setup_sects = match image[0x1f1] {
        0 => 4,
        n => n,
    };
    let header_end = 0x202 + usize::from(image[0x201]);
    if header_end > 0x290 {
        return Err(BzError::NotBzImage("setup header runs past its field in the zero page"));
    }
    if image.len() <= (usize::from(setup_sects) + 1) * 512 {
        return Err(BzError::NotBzImage("truncated after the setup sectors"));
    }
    Ok(Header {
        version,
        setup_sects,
        xloadflags,
        relocatable: image[0x234] != 0,
        kernel_alignment: u32_at(image, 0x230).max(PAGE as u32),
        pref_address: u64_at(image, 0x258),
        init_size: u32_at(image, 0x260),
        initrd_addr_max: u32_at(image, 0x22c),
        cmdline_size: u32_at(image, 0x238),
        header_end,
    })
}

/// One e820 memory-map entry (`struct boot_e820_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820 {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// E820 type: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable, 7/12 pmem.
    pub kind: u32,
}

/// What the running machine tells about itself.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// The firmware memory map (`/sys/firmware/memmap`).
    pub e820: Vec<E820>,
    /// Free RAM to place segments in (System RAM minus a crash-kernel reservation).
    pub ram: Vec<Range<u64>>,
    /// The running kernel's own zero page (`/sys/kernel/boot_params/data`), for
    /// screen, EDD, ACPI RSDP and subarch information.
    pub boot_params: Option<Vec<u8>>,
    /// The CPU has 5-level paging (`la57`), so the running kernel may use it and
    /// hand it over at kexec: only a kernel that says it copes may follow.
    pub la57: bool,
}

/// Type name in `/sys/firmware/memmap/N/type` → e820 type number.
fn e820_kind(name: &str) -> u32 {
    match name.trim() {
        "System RAM" => 1,
        "ACPI Tables" => 3,
        "ACPI Non-volatile Storage" => 4,
        "Unusable memory" => 5,
        "Persistent Memory" => 7,
        "Persistent Memory (legacy)" => 12,
        "Soft Reserved" => 0xefff_ffff,
        _ => 2,
    }
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// Parses `/proc/iomem` text: top-level "System RAM" ranges, minus any
/// "Crash kernel" reservation inside them (with `end` exclusive).
pub fn parse_iomem(text: &str) -> Vec<Range<u64>> {
    let mut ram = Vec::new();
    let mut holes = Vec::new();
    for line in text.lines() {
        let Some((range, name)) = line.split_once(" : ") else {
            continue;
        };
        let top = !range.starts_with(' ');
        let Some((a, b)) = range.trim().split_once('-') else {
            continue;
        };
        let (Some(a), Some(b)) = (parse_hex(a), parse_hex(b)) else {
            continue;
        };
        if b < a || (a == 0 && b == 0) {
            continue; // addresses hidden (not root)
        }
        match name.trim() {
            "System RAM" if top => ram.push(a..b + 1),
            "Crash kernel" => holes.push(a..b + 1),
            _ => {}
        }
    }
    for h in holes {
        ram = subtract(&ram, &h);
    }
    ram
}

fn subtract(ranges: &[Range<u64>], cut: &Range<u64>) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    for r in ranges {
        if cut.end <= r.start || cut.start >= r.end {
            out.push(r.clone());
            continue;
        }
        if r.start < cut.start {
            out.push(r.start..cut.start);
        }
        if cut.end < r.end {
            out.push(cut.end..r.end);
        }
    }
    out
}

impl Platform {
    /// Reads the running machine (`/sys/firmware/memmap`, `/proc/iomem`,
    /// `/sys/kernel/boot_params/data`). `None` if the memory map is unreadable.
    pub fn read() -> Option<Platform> {
        let mut e820 = Vec::new();
        let dir = std::fs::read_dir("/sys/firmware/memmap").ok()?;
        for d in dir.flatten() {
            let p = d.path();
            let field = |f: &str| std::fs::read_to_string(p.join(f)).ok();
            let (Some(start), Some(end), Some(kind)) = (field("start"), field("end"), field("type")) else {
                continue;
            };
            let (Some(start), Some(end)) = (parse_hex(&start), parse_hex(&end)) else {
                continue;
            };
            if end >= start {
                e820.push(E820 {
                    addr: start,
                    size: end - start + 1,
                    kind: e820_kind(&kind),
                });
            }
        }
        e820.sort_by_key(|e| e.addr);
        let mut ram = std::fs::read_to_string("/proc/iomem")
            .map(|t| parse_iomem(&t))
            .unwrap_or_default();
        if ram.is_empty() {
            ram = e820
                .iter()
                .filter(|e| e.kind == 1)
                .map(|e| e.addr..e.addr + e.size)
                .collect();
        }
        if e820.is_empty() || ram.is_empty() {
            return None;
        }
        let boot_params = std::fs::read("/sys/kernel/boot_params/data")
            .ok()
            .filter(|b| b.len() >= 4096);
        let la57 = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|t| {
            t.lines()
                .filter(|l| l.starts_with("flags"))
                .any(|l| l.split_whitespace().any(|f| f == "la57"))
        });
        Some(Platform {
            e820,
            ram,
            boot_params,
            la57,
        })
    }
}

/// Free RAM, carved up as pieces are placed.
struct Free(Vec<Range<u64>>);

impl Free {
    fn take(&mut self, at: u64, size: u64) {
        self.0 = subtract(&self.0, &(at..at + size));
    }
    fn fits(&self, at: u64, size: u64) -> bool {
        self.0.iter().any(|r| r.start <= at && at + size <= r.end)
    }
    /// Highest `align`-aligned place for `size` bytes within `[min, max)`.
    fn top(&self, size: u64, align: u64, min: u64, max: u64) -> Option<u64> {
        let mut best = None;
        for r in &self.0 {
            let hi = r.end.min(max);
            if hi < size {
                continue;
            }
            let at = (hi - size) / align * align;
            if at >= r.start.max(min) && best.is_none_or(|b| at > b) {
                best = Some(at);
            }
        }
        best
    }
    /// Lowest `align`-aligned place for `size` bytes within `[min, max)`.
    fn bottom(&self, size: u64, align: u64, min: u64, max: u64) -> Option<u64> {
        let mut best = None;
        for r in &self.0 {
            let at = r.start.max(min).div_ceil(align) * align;
            if at + size <= r.end.min(max) && best.is_none_or(|b| at < b) {
                best = Some(at);
            }
        }
        best
    }
}

// Boot page layout.
const TRAMPOLINE_OFF: usize = 0x1000;
const SEED_OFF: usize = 0x1100;
const VERIFY_OFF: usize = 0x1200;
const CMDLINE_OFF: usize = 0x1400;
/// `SETUP_RNG_SEED` from bootparam.h (kernels >= 6.0 read it, older ones skip it).
const SETUP_RNG_SEED: u32 = 9;
/// `type_of_loader`: 0xD = kexec, as the kernel's own loader says.
const LOADER_KEXEC: u8 = 0xd0;

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
const TRAMPOLINE: [u8; 0x80] = {
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
const VERIFIER: [u8; 0x71] = [
    0xfa, 0xfc, 0x48, 0x8d, 0x35, 0x77, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x4e, 0x08, 0x48, 0x85, 0xc9, 0x74, 0x21, 0x48,
    0x8b, 0x3e, 0x31, 0xc0, 0x48, 0xc1, 0xc0, 0x05, 0x48, 0x03, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x48, 0xff, 0xc9, 0x75,
    0xf0, 0x48, 0x3b, 0x46, 0x10, 0x75, 0x0b, 0x48, 0x83, 0xc6, 0x18, 0xeb, 0xd6, 0xe9, 0xc8, 0xfd, 0xff, 0xff, 0x48,
    0x8d, 0x35, 0xc1, 0x00, 0x00, 0x00, 0x0f, 0xb6, 0x1e, 0x85, 0xdb, 0x74, 0x20, 0xba, 0xfd, 0x03, 0x00, 0x00, 0xb9,
    0x00, 0x00, 0x10, 0x00, 0xec, 0xa8, 0x20, 0x75, 0x04, 0xff, 0xc9, 0x75, 0xf7, 0xba, 0xf8, 0x03, 0x00, 0x00, 0x88,
    0xd8, 0xee, 0x48, 0xff, 0xc6, 0xeb, 0xd9, 0x0f, 0x01, 0x1d, 0x09, 0x00, 0x00, 0x00, 0xcc, 0xf4, 0xeb, 0xf5,
];
const V_TABLE: usize = 0x80;
const V_MSG: usize = 0x100;
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

const T_BOOT_PARAMS: usize = 0x48;
const T_ENTRY: usize = 0x50;
const T_GDT: usize = 0x58;
const T_GDTR_BASE: usize = 0x7a;

/// Lays out `image` (a whole bzImage file), `initrd` and `cmdline` (without
/// NUL) for `kexec_load` on `platform`. `seed`, if any, becomes the new
/// kernel's `SETUP_RNG_SEED`.
pub fn plan<'a>(
    image: &'a [u8],
    initrd: Option<&'a [u8]>,
    cmdline: &[u8],
    platform: &Platform,
    seed: Option<[u8; 32]>,
) -> Result<Plan<'a>, BzError> {
    let h = parse_header(image)?;
    if platform.la57 && h.xloadflags & XLF_5LEVEL == 0 {
        return Err(BzError::No5Level);
    }
    if cmdline.len() > h.cmdline_size as usize {
        return Err(BzError::CmdlineTooLong {
            len: cmdline.len(),
            max: h.cmdline_size,
        });
    }
    let kernel = &image[(usize::from(h.setup_sects) + 1) * 512..];
    let mut free = Free(platform.ram.clone());
    let above_4g = h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0;

    // Kernel: its preferred address, else the lowest aligned free place at
    // or above it; `init_size` (decompression room) is kept clear.
    let span = page_up(u64::from(h.init_size).max(kernel.len() as u64));
    let align = u64::from(h.kernel_alignment);
    let kernel_addr = if free.fits(h.pref_address, span) {
        Some(h.pref_address)
    } else if h.relocatable {
        let min = h.pref_address.max(MIB);
        free.bottom(span, align, min, GIB4)
            .or_else(|| above_4g.then(|| free.bottom(span, align, min, u64::MAX)).flatten())
    } else {
        None
    }
    .ok_or(BzError::NoRoom("kernel"))?;
    free.take(kernel_addr, span);

    // Initrd: as high as the kernel allows, from 16 MiB up.
    let initrd_at = match initrd {
        None => None,
        Some(buf) => {
            let size = page_up(buf.len() as u64);
            let max = (u64::from(h.initrd_addr_max) + 1).min(GIB4);
            let at = free
                .top(size, PAGE, 16 * MIB, max)
                .or_else(|| free.top(size, PAGE, MIB, max))
                .or_else(|| above_4g.then(|| free.top(size, PAGE, MIB, u64::MAX)).flatten())
                .ok_or(BzError::NoRoom("initrd"))?;
            free.take(at, size);
            Some((buf, at))
        }
    };

    // Boot page, high below 4 GiB (32-bit pointers suffice).
    let page_len = page_up((CMDLINE_OFF + cmdline.len() + 1) as u64);
    let boot_addr = free
        .top(page_len, PAGE, MIB, GIB4)
        .ok_or(BzError::NoRoom("boot parameters"))?;
    free.take(boot_addr, page_len);

    let mut bp = vec![0u8; page_len as usize];
    zero_page(&mut bp, image, &h, platform);
    let cmd_addr = boot_addr + CMDLINE_OFF as u64;
    put(&mut bp, 0x228, &(cmd_addr as u32).to_le_bytes());
    put(&mut bp, 0x0c8, &((cmd_addr >> 32) as u32).to_le_bytes());
    put(&mut bp, CMDLINE_OFF, cmdline);
    if let Some((buf, at)) = initrd_at {
        let len = buf.len() as u64;
        put(&mut bp, 0x218, &(at as u32).to_le_bytes());
        put(&mut bp, 0x21c, &(len as u32).to_le_bytes());
        put(&mut bp, 0x0c0, &((at >> 32) as u32).to_le_bytes());
        put(&mut bp, 0x0c4, &((len >> 32) as u32).to_le_bytes());
    }
    if let Some(seed) = seed {
        // setup_data: { next: u64, type: u32, len: u32, data }.
        put(&mut bp, SEED_OFF + 8, &SETUP_RNG_SEED.to_le_bytes());
        put(&mut bp, SEED_OFF + 12, &32u32.to_le_bytes());
        put(&mut bp, SEED_OFF + 16, &seed);
        put(&mut bp, 0x250, &(boot_addr + SEED_OFF as u64).to_le_bytes());
    }

    let tramp = boot_addr + TRAMPOLINE_OFF as u64;
    put(&mut bp, TRAMPOLINE_OFF, &TRAMPOLINE);
    put(&mut bp, TRAMPOLINE_OFF + T_BOOT_PARAMS, &boot_addr.to_le_bytes());
    put(&mut bp, TRAMPOLINE_OFF + T_ENTRY, &(kernel_addr + 0x200).to_le_bytes());
    put(
        &mut bp,
        TRAMPOLINE_OFF + T_GDTR_BASE,
        &(tramp + T_GDT as u64).to_le_bytes(),
    );

    // The verifier and its table, once everything else is in place: the
    // kernel, the initrd, the boot page below the verifier (zero page,
    // trampoline, seed) and above it (command line).
    put(&mut bp, VERIFY_OFF, &VERIFIER);
    let row = |at: u64, buf: &[u8]| [at, buf.len().div_ceil(8) as u64, digest(buf)];
    let rows = [
        Some(row(kernel_addr, kernel)),
        initrd_at.map(|(buf, at)| row(at, buf)),
        Some(row(boot_addr, &bp[..VERIFY_OFF])),
        Some(row(boot_addr + CMDLINE_OFF as u64, &bp[CMDLINE_OFF..])),
    ];
    for (i, fields) in rows.into_iter().flatten().enumerate() {
        for (k, v) in fields.into_iter().enumerate() {
            put(&mut bp, VERIFY_OFF + V_TABLE + i * 24 + k * 8, &v.to_le_bytes());
        }
    }
    put(&mut bp, VERIFY_OFF + V_MSG, VERIFY_MESSAGE.as_bytes());

    Ok(Plan {
        entry: boot_addr + VERIFY_OFF as u64,
        kernel,
        kernel_addr,
        initrd: initrd_at,
        boot_page: bp,
        boot_addr,
    })
}

/// Fills the zero page's platform part and the image's setup header.
fn zero_page(bp: &mut [u8], image: &[u8], h: &Header, platform: &Platform) {
    if let Some(cur) = &platform.boot_params {
        // From the running kernel's zero page, as the kernel's loader does:
        // screen_info, ACPI RSDP, EDD.
        let copy = |bp: &mut [u8], r: Range<usize>| {
            if let Some(src) = cur.get(r.clone()) {
                put(bp, r.start, src);
            }
        };
        copy(bp, 0x000..0x040); // screen_info
        copy(bp, 0x070..0x078); // acpi_rsdp_addr
        copy(bp, 0x1e9..0x1eb); // eddbuf_entries, edd_mbr_sig_buf_entries
        copy(bp, 0x290..0x2d0); // edd_mbr_sig_buffer
        copy(bp, 0xd00..0xeec); // eddbuf
    }
    // The image's own setup header (0x1f1 up to the end its jump names).
    put(bp, 0x1f1, &image[0x1f1..h.header_end]);
    if let Some(cur) = &platform.boot_params {
        put(bp, 0x23c, &u32_at(cur, 0x23c).to_le_bytes()); // hardware_subarch
    }
    bp[0x210] = LOADER_KEXEC;
    bp[0x211] = 0; // loadflags: no 16-bit setup ran
    bp[0x1ef] = 0; // sentinel: this zero page is clean

    // e820 (128 entries fit in the zero page).
    let n = platform.e820.len().min(128);
    bp[0x1e8] = n as u8;
    let mut ext_mem_k = 0u64;
    for (i, e) in platform.e820.iter().take(n).enumerate() {
        let o = 0x2d0 + i * 20;
        put(bp, o, &e.addr.to_le_bytes());
        put(bp, o + 8, &e.size.to_le_bytes());
        put(bp, o + 16, &e.kind.to_le_bytes());
        let end = e.addr + e.size.saturating_sub(1);
        if e.kind == 1 && e.addr <= MIB && end > MIB {
            ext_mem_k = (end >> 10) - (MIB >> 10);
        }
    }
    // Memory above 1 MiB in KiB, where the old BIOS calls put it.
    put(bp, 0x002, &(ext_mem_k.min(0xfc00) as u16).to_le_bytes());
    put(bp, 0x1e0, &(ext_mem_k.min(0xffff_ffff) as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic bzImage with Debian 6.1's header values.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 40 * 512 + 8 * 4096];
        b[0x1f1] = 39;
        put(&mut b, 0x1fe, &0xAA55u16.to_le_bytes());
        b[0x200] = 0xeb;
        b[0x201] = 0x6a; // header ends at 0x26c
        put(&mut b, 0x202, b"HdrS");
        put(&mut b, 0x206, &0x020fu16.to_le_bytes());
        b[0x211] = 1;
        put(&mut b, 0x22c, &0x7fff_ffffu32.to_le_bytes());
        put(&mut b, 0x230, &0x20_0000u32.to_le_bytes());
        b[0x234] = 1;
        put(&mut b, 0x236, &0x7fu16.to_le_bytes());
        put(&mut b, 0x238, &2047u32.to_le_bytes());
        put(&mut b, 0x258, &0x100_0000u64.to_le_bytes());
        put(&mut b, 0x260, &0x3f9_8000u32.to_le_bytes());
        b[40 * 512] = 0x55;
        b
    }

    /// QEMU's 512 MiB q35 map, as /sys/firmware/memmap shows it.
    fn qemu_512m() -> Platform {
        Platform {
            e820: vec![
                E820 {
                    addr: 0,
                    size: 0x9fc00,
                    kind: 1,
                },
                E820 {
                    addr: 0x9fc00,
                    size: 0x400,
                    kind: 2,
                },
                E820 {
                    addr: 0xf0000,
                    size: 0x10000,
                    kind: 2,
                },
                E820 {
                    addr: 0x100000,
                    size: 0x1fee_0000,
                    kind: 1,
                },
                E820 {
                    addr: 0x1ffe_0000,
                    size: 0x20000,
                    kind: 2,
                },
                E820 {
                    addr: 0xb000_0000,
                    size: 0x1000_0000,
                    kind: 2,
                },
                E820 {
                    addr: 0xfed1_c000,
                    size: 0x4000,
                    kind: 2,
                },
                E820 {
                    addr: 0xfffc_0000,
                    size: 0x40000,
                    kind: 2,
                },
            ],
            ram: vec![0x1000..0x9fc00, 0x100000..0x1ffe_0000],
            boot_params: None,
            la57: false,
        }
    }

    fn overlap(a: &Range<u64>, b: &Range<u64>) -> bool {
        a.start < b.end && b.start < a.end
    }

    #[test]
    fn header_of_a_debian_like_kernel() {
        let h = parse_header(&image()).unwrap();
        assert_eq!(h.version, 0x020f);
        assert_eq!(h.setup_sects, 39);
        assert_eq!(h.init_size, 0x3f9_8000);
        assert_eq!(h.header_end, 0x26c);
        assert!(h.relocatable);
    }

    #[test]
    fn rejects_what_it_cannot_start() {
        assert!(matches!(parse_header(&[0u8; 100]), Err(BzError::NotBzImage(_))));
        assert!(matches!(parse_header(&[0u8; 4096]), Err(BzError::NotBzImage(_))));
        let mut old = image();
        put(&mut old, 0x206, &0x020au16.to_le_bytes());
        assert_eq!(parse_header(&old), Err(BzError::No64BitEntry(0x020a)));
        let mut no64 = image();
        put(&mut no64, 0x236, &0u16.to_le_bytes());
        assert_eq!(parse_header(&no64), Err(BzError::No64BitEntry(0x020f)));
        let mut truncated = image();
        truncated.truncate(40 * 512);
        assert!(parse_header(&truncated).is_err());
    }

    #[test]
    fn segments_are_placed_in_ram_apart_and_the_zero_page_points_at_them() {
        let img = image();
        let initrd = vec![7u8; 3 * 4096 + 5];
        let p = plan(&img, Some(&initrd), b"root=/dev/vda1 ro", &qemu_512m(), Some([9; 32])).unwrap();
        assert_eq!(p.kernel_addr, 0x100_0000, "pref_address is free");
        let (_, initrd_at) = p.initrd.unwrap();
        // The initrd is as high as RAM allows and clear of the decompression room.
        assert_eq!(initrd_at, 0x1ffe_0000 - 4 * 4096);
        let kernel_room = p.kernel_addr..p.kernel_addr + 0x3f9_8000;
        for s in p.segments() {
            let r = s.mem..s.mem + s.memsz;
            assert_eq!(s.mem % 4096, 0);
            assert_eq!(s.memsz % 4096, 0);
            assert!(s.buf.len() as u64 <= s.memsz);
            assert!(qemu_512m().ram.iter().any(|m| m.start <= r.start && r.end <= m.end));
            if s.mem != p.kernel_addr {
                assert!(!overlap(&r, &kernel_room), "{r:x?} inside the kernel's init_size");
            }
        }
        let bp = &p.boot_page;
        assert_eq!(&bp[0x202..0x206], b"HdrS");
        assert_eq!(bp[0x210], 0xd0);
        assert_eq!(u32_at(bp, 0x218) as u64, initrd_at);
        assert_eq!(u32_at(bp, 0x21c), initrd.len() as u32);
        let cmd = u32_at(bp, 0x228) as u64 - p.boot_addr;
        assert_eq!(&bp[cmd as usize..cmd as usize + 18], b"root=/dev/vda1 ro\0");
        assert_eq!(bp[0x1e8], 8, "e820 entries");
        assert_eq!(u64_at(bp, 0x2d0 + 3 * 20), 0x100000);
        assert_eq!(u32_at(bp, 0x2d0 + 3 * 20 + 16), 1);
        assert_eq!(u32_at(bp, 0x1e0), (0x1ffe_0000 - 1 - 0x100000) >> 10, "alt_mem_k");
        // setup_data chain: one RNG seed.
        let sd = (u64_at(bp, 0x250) - p.boot_addr) as usize;
        assert_eq!(u64_at(bp, sd), 0);
        assert_eq!(u32_at(bp, sd + 8), SETUP_RNG_SEED);
        assert_eq!(&bp[sd + 16..sd + 48], &[9u8; 32]);
        // The entry is the verifier; its table names the kernel and the initrd
        // with their digests, then ends.
        let v = (p.entry - p.boot_addr) as usize;
        assert_eq!(bp[v..v + VERIFIER.len()], VERIFIER);
        let row = |i: usize| {
            (0..3)
                .map(|k| u64_at(bp, v + V_TABLE + i * 24 + k * 8))
                .collect::<Vec<_>>()
        };
        let words = |b: &[u8]| b.len().div_ceil(8) as u64;
        assert_eq!(row(0), [p.kernel_addr, words(p.kernel), digest(p.kernel)]);
        assert_eq!(row(1), [initrd_at, words(&initrd), digest(&initrd)]);
        let (below, above) = (&bp[..v], &bp[CMDLINE_OFF..]);
        assert_eq!(row(2), [p.boot_addr, words(below), digest(below)]);
        assert_eq!(row(3), [p.boot_addr + CMDLINE_OFF as u64, words(above), digest(above)]);
        assert!(above.starts_with(b"root=/dev/vda1 ro\0"));
        assert_eq!(row(4)[1], 0, "end of the table");
        assert!(V_TABLE + 5 * 24 <= V_MSG && V_MSG + VERIFY_MESSAGE.len() < CMDLINE_OFF - VERIFY_OFF);
        assert!(bp[v + V_MSG..].starts_with(VERIFY_MESSAGE.as_bytes()));
        // Its `jmp` lands on the trampoline, 0x200 below.
        let rel = i32::from_le_bytes(VERIFIER[0x34..0x38].try_into().unwrap());
        let t = (v as i64 + 0x38 + i64::from(rel)) as usize;
        assert_eq!(t, TRAMPOLINE_OFF);
        // The trampoline knows the zero page, the 64-bit entry and its GDT.
        assert_eq!(bp[t], 0xfa);
        assert_eq!(u64_at(bp, t + T_BOOT_PARAMS), p.boot_addr);
        assert_eq!(u64_at(bp, t + T_ENTRY), p.kernel_addr + 0x200);
        assert_eq!(u64_at(bp, t + T_GDTR_BASE), p.boot_addr + (t + T_GDT) as u64);
        assert_eq!(u64_at(bp, t + T_GDT + 0x10), 0x00af_9a00_0000_ffff);
        assert_eq!(u64_at(bp, t + T_GDT + 0x18), 0x00cf_9200_0000_ffff);
    }

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

    #[test]
    fn small_memory_still_fits_because_init_size_is_not_a_segment() {
        let img = image();
        let mut p = qemu_512m();
        p.ram = vec![0x1000..0x9fc00, 0x100000..0x7fe_0000]; // 128 MiB
        let initrd = vec![0u8; 30 << 20];
        let plan = plan(&img, Some(&initrd), b"", &p, None).unwrap();
        let total: u64 = plan.segments().iter().map(|s| s.memsz).sum();
        assert!(total < 40 << 20, "{total}");
        // No seed: no setup_data at all.
        assert_eq!(u64_at(&plan.boot_page, 0x250), 0);
    }

    #[test]
    fn no_room_and_long_cmdlines_are_errors() {
        let img = image();
        let mut p = qemu_512m();
        p.ram = vec![0x1000..0x9fc00, 0x100000..0x200_0000];
        assert_eq!(plan(&img, None, b"", &p, None).unwrap_err(), BzError::NoRoom("kernel"));
        // A CPU with 5-level paging: the Debian-like image says it copes, an old one does not.
        let la57 = Platform {
            la57: true,
            ..qemu_512m()
        };
        assert!(plan(&img, None, b"", &la57, None).is_ok());
        let mut old = img.clone();
        put(&mut old, 0x236, &0x1fu16.to_le_bytes());
        assert_eq!(plan(&old, None, b"", &la57, None).unwrap_err(), BzError::No5Level);
        let long = vec![b'x'; 2048];
        assert!(matches!(
            plan(&img, None, &long, &qemu_512m(), None),
            Err(BzError::CmdlineTooLong { len: 2048, max: 2047 })
        ));
    }

    #[test]
    fn iomem_ram_without_the_crash_kernel() {
        let text = "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n\
                    00100000-1ffdffff : System RAM\n  01000000-01e00e56 : Kernel code\n\
                    \x20 0c000000-0dffffff : Crash kernel\nfeb80000-febfffff : PCI Bus 0000:00\n";
        assert_eq!(
            parse_iomem(text),
            vec![0x1000..0x9fc00, 0x100000..0xc00_0000, 0xe00_0000..0x1ffe_0000]
        );
        // Not root: all addresses read as zero.
        assert!(parse_iomem("00000000-00000000 : System RAM\n").is_empty());
    }
}
