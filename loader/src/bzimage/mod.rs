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
//! The decompression room after the kernel is not a segment, so the old
//! kernel may keep things there up to the jump, the page tables of its
//! identity map among them: it keeps them out of segment destinations only.
//! The decompressor's first steps (its stack, the copy of itself to the top
//! of the room, its BSS) run on whatever page tables it was started with, and
//! overwrote those about one kexec in seven on a Debian 12 system (a silent
//! triple fault right after "Starting new kernel", found by `make soak`). So
//! the trampoline first switches to hopboot's own identity map, built in the
//! boot page: 2 MiB pages over the first 4 GiB and whatever segment lies
//! higher. (The other cure, a kernel segment as big as `init_size` as
//! kexec-tools makes it, would put the 64 MiB room under the half-of-RAM
//! rule above.)
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
//!   digests, a 75-byte trampoline (0x92 with its data) that loads hopboot's
//!   page tables and a GDT with the
//!   flat `__BOOT_CS` (0x10) / `__BOOT_DS` (0x18) segments the protocol
//!   asks for, points `%rsi` at the zero page and jumps to the kernel's 64-bit
//!   entry (load address + 0x200), and after the command line, those page
//!   tables. `kexec_load` starts the verifier with paging on and all memory
//!   identity-mapped by the old kernel's tables.
//!
//! Used only where it is equivalent: a BIOS (or coreboot without UEFI)
//! machine, a kernel with a 64-bit entry point. On UEFI machines the new
//! kernel needs the EFI runtime map that only the kernel's loader passes, and
//! under lockdown only signed `kexec_file_load` is allowed: those use it.

mod code;
mod header;
mod memory;

pub use code::{digest, VERIFY_MESSAGE};
pub use header::{parse_header, Header};
pub use memory::{parse_iomem, Platform, E820};

use code::{TRAMPOLINE, T_BOOT_PARAMS, T_ENTRY, T_GDT, T_GDTR_BASE, T_PAGE_TABLES, VERIFIER, V_MSG, V_TABLE};
use header::{zero_page, XLF_5LEVEL, XLF_CAN_BE_LOADED_ABOVE_4G};
use memory::Free;

use crate::le::put;

/// The loaded segment set for `kexec_load`, ready to hand to the kernel.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Physical address kexec jumps to: the verifier, which jumps on to the trampoline.
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

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const GIB4: u64 = 1 << 32;

fn page_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

// Boot page layout.
const TRAMPOLINE_OFF: usize = 0x1000;
const SEED_OFF: usize = 0x1100;
const VERIFY_OFF: usize = 0x1200;
const CMDLINE_OFF: usize = 0x1400;
/// `SETUP_RNG_SEED` from bootparam.h (kernels >= 6.0 read it, older ones skip it).
const SETUP_RNG_SEED: u32 = 9;

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

    // Boot page, high below 4 GiB (32-bit pointers suffice), with the page
    // tables after the command line.
    let mapped = [
        GIB4,
        kernel_addr + span,
        initrd_at.map_or(0, |(buf, at)| at + page_up(buf.len() as u64)),
    ]
    .into_iter()
    .max()
    .unwrap_or(GIB4);
    let tables_off = page_up((CMDLINE_OFF + cmdline.len() + 1) as u64) as usize;
    let tables = page_tables_len(mapped, platform.la57).ok_or(BzError::NoRoom("page tables"))?;
    let page_len = tables_off as u64 + tables;
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
    let top = identity_map(
        &mut bp[tables_off..],
        boot_addr + tables_off as u64,
        mapped,
        platform.la57,
    );
    put(&mut bp, TRAMPOLINE_OFF + T_PAGE_TABLES, &top.to_le_bytes());

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

/// Page-table entry bits: present, writable; a 2 MiB page.
const PTE_PW: u64 = 0x3;
const PTE_2M: u64 = 0x80;
const GIB: u64 = 1 << 30;

/// Bytes of page tables identity-mapping `[0, end)` with 2 MiB pages: one
/// table per GiB, one above them (up to 512 GiB), one more with 5 levels.
/// `None` past 512 GiB.
fn page_tables_len(end: u64, la57: bool) -> Option<u64> {
    let gib = end.div_ceil(GIB);
    (gib <= 512).then(|| (gib + 2 + u64::from(la57)) * PAGE)
}

/// Writes page tables into `buf` (which lies at physical `at`, page
/// aligned, [`page_tables_len`] bytes) that identity-map `[0, end)` rounded
/// up to whole GiB, with 2 MiB pages; returns the top-level table's address
/// (for CR3). Tables in order: the top (a PML5 with 5 levels, pointing at
/// the PML4), the PML4 (its first entry covers 512 GiB), the PDPT, then one
/// page directory per GiB.
fn identity_map(buf: &mut [u8], at: u64, end: u64, la57: bool) -> u64 {
    let gib = end.div_ceil(GIB);
    let first = u64::from(la57);
    let (pml4, pdpt) = (at + first * PAGE, at + (first + 1) * PAGE);
    let mut entry = |table: u64, index: u64, value: u64| {
        put(buf, ((table - at) + index * 8) as usize, &value.to_le_bytes());
    };
    if la57 {
        entry(at, 0, pml4 | PTE_PW);
    }
    entry(pml4, 0, pdpt | PTE_PW);
    for g in 0..gib {
        let pd = pdpt + (g + 1) * PAGE;
        entry(pdpt, g, pd | PTE_PW);
        for m in 0..512 {
            entry(pd, m, (g * GIB + m * 2 * MIB) | PTE_PW | PTE_2M);
        }
    }
    at
}

/// What the placeholder prints on COM1 before it resets the machine.
pub const PLACEHOLDER_MESSAGE: &str = "\r\nhopboot: the kexec placeholder ran (no kernel was loaded in its place at shutdown); resetting through the firmware\r\n";

/// A stand-in "kernel" for `kexec_load` that only resets the machine: the
/// verifier with one table row that can never match, so it prints
/// [`PLACEHOLDER_MESSAGE`] on COM1 and triple-faults. `hopboot load
/// --systemd` loads it at boot so that `systemctl kexec` accepts the request
/// (it refuses when no kernel is loaded and `/sbin/kexec` is missing), and
/// replaces it with the real entry at shutdown; should that never happen,
/// `systemctl kexec` ends in a firmware reboot, never in a hang.
#[derive(Debug)]
pub struct Placeholder {
    /// Where `kexec_load` jumps: the verifier.
    pub entry: u64,
    /// The one segment's bytes.
    pub page: Vec<u8>,
    /// Its physical address.
    pub addr: u64,
}

impl Placeholder {
    /// The segment for `kexec_load`.
    pub fn segments(&self) -> Vec<Segment<'_>> {
        vec![Segment {
            buf: &self.page,
            mem: self.addr,
            memsz: page_up(self.page.len() as u64),
        }]
    }
}

/// Lays out the [`Placeholder`] high below 4 GiB in `platform`'s RAM.
pub fn placeholder(platform: &Platform) -> Result<Placeholder, BzError> {
    let len = page_up((VERIFY_OFF + V_MSG + PLACEHOLDER_MESSAGE.len() + 1) as u64);
    let addr = Free(platform.ram.clone())
        .top(len, PAGE, MIB, GIB4)
        .ok_or(BzError::NoRoom("placeholder"))?;
    let mut page = vec![0u8; len as usize];
    put(&mut page, VERIFY_OFF, &VERIFIER);
    // One row: the page's first qword (zero, so its digest is 0), expected 1.
    for (k, v) in [addr, 1, 1].into_iter().enumerate() {
        put(&mut page, VERIFY_OFF + V_TABLE + k * 8, &v.to_le_bytes());
    }
    put(&mut page, VERIFY_OFF + V_MSG, PLACEHOLDER_MESSAGE.as_bytes());
    Ok(Placeholder {
        entry: addr + VERIFY_OFF as u64,
        page,
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::le::{le_u32, le_u64};

    use std::ops::Range;

    /// A synthetic bzImage with Debian 6.1's header values.
    pub(super) fn image() -> Vec<u8> {
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

    #[test]
    fn a_preferred_address_that_wraps_is_not_free() {
        // pref_address + init_size past 2^64: a wrapped sum once said "fits".
        for pref in [u64::MAX - 0xfff, u64::MAX - 0x3f9_8000 + 0x1000, 1 << 63] {
            let mut img = image();
            put(&mut img, 0x258, &pref.to_le_bytes());
            let p = plan(&img, None, b"", &qemu_512m(), None);
            if let Ok(p) = p {
                let ram = qemu_512m().ram;
                assert!(
                    ram.iter().any(|r| r.start <= p.kernel_addr && p.kernel_addr < r.end),
                    "{pref:#x}: kernel at {:#x}",
                    p.kernel_addr
                );
            }
        }
        // Not relocatable: nowhere else to go.
        let mut img = image();
        put(&mut img, 0x258, &(u64::MAX - 0xfff).to_le_bytes());
        img[0x234] = 0;
        assert!(matches!(
            plan(&img, None, b"", &qemu_512m(), None),
            Err(BzError::NoRoom("kernel"))
        ));
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
        assert_eq!(le_u32(bp, 0x218) as u64, initrd_at);
        assert_eq!(le_u32(bp, 0x21c), initrd.len() as u32);
        let cmd = le_u32(bp, 0x228) as u64 - p.boot_addr;
        assert_eq!(&bp[cmd as usize..cmd as usize + 18], b"root=/dev/vda1 ro\0");
        assert_eq!(bp[0x1e8], 8, "e820 entries");
        assert_eq!(le_u64(bp, 0x2d0 + 3 * 20), 0x100000);
        assert_eq!(le_u32(bp, 0x2d0 + 3 * 20 + 16), 1);
        assert_eq!(le_u32(bp, 0x1e0), (0x1ffe_0000 - 1 - 0x100000) >> 10, "alt_mem_k");
        // setup_data chain: one RNG seed.
        let sd = (le_u64(bp, 0x250) - p.boot_addr) as usize;
        assert_eq!(le_u64(bp, sd), 0);
        assert_eq!(le_u32(bp, sd + 8), SETUP_RNG_SEED);
        assert_eq!(&bp[sd + 16..sd + 48], &[9u8; 32]);
        // The entry is the verifier; its table names the kernel and the initrd
        // with their digests, then ends.
        let v = (p.entry - p.boot_addr) as usize;
        assert_eq!(bp[v..v + VERIFIER.len()], VERIFIER);
        let row = |i: usize| {
            (0..3)
                .map(|k| le_u64(bp, v + V_TABLE + i * 24 + k * 8))
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
        assert_eq!(le_u64(bp, t + T_BOOT_PARAMS), p.boot_addr);
        assert_eq!(le_u64(bp, t + T_ENTRY), p.kernel_addr + 0x200);
        assert_eq!(le_u64(bp, t + T_GDTR_BASE), p.boot_addr + (t + T_GDT) as u64);
        assert_eq!(le_u64(bp, t + T_GDT + 0x10), 0x00af_9a00_0000_ffff);
        assert_eq!(le_u64(bp, t + T_GDT + 0x18), 0x00cf_9200_0000_ffff);
        // Its page tables: in the boot page, after the command line, mapping
        // what the decompressor touches before it builds its own.
        let cr3 = le_u64(bp, t + T_PAGE_TABLES);
        assert_eq!(cr3 % 4096, 0);
        assert!(cr3 >= p.boot_addr + (CMDLINE_OFF + 18) as u64);
        assert!(cr3 + 6 * 4096 <= p.boot_addr + bp.len() as u64);
        for at in [
            0x9_f000,
            p.kernel_addr,
            p.kernel_addr + 0x3f9_7fff,
            p.boot_addr + t as u64,
            initrd_at,
            0xffff_ffff,
        ] {
            assert_eq!(walk(&p, cr3, at, false), Some(at), "{at:#x}");
        }
        assert_eq!(walk(&p, cr3, 1 << 32, false), None, "nothing above 4 GiB here");
    }

    /// What the page tables at `cr3` in `p`'s boot page map `va` to.
    fn walk(p: &Plan, cr3: u64, va: u64, la57: bool) -> Option<u64> {
        let read = |table: u64, index: u64| {
            let off = table.checked_sub(p.boot_addr)? + index * 8;
            let e = le_u64(&p.boot_page, off as usize);
            (e & 1 == 1).then_some(e)
        };
        let mut table = cr3;
        let shifts: &[u32] = if la57 { &[48, 39, 30] } else { &[39, 30] };
        for &sh in shifts {
            table = read(table, (va >> sh) & 511)? & !0xfff;
        }
        let pde = read(table, (va >> 21) & 511)?;
        assert_eq!(pde & 0x83, 0x83, "a present, writable 2 MiB page");
        Some((pde & !0x1f_ffff & ((1 << 52) - 1)) | (va & 0x1f_ffff))
    }

    #[test]
    fn page_tables_reach_a_kernel_above_4g_and_have_five_levels_on_la57() {
        let img = image();
        let mut pf = qemu_512m();
        // RAM below 4 GiB too small for the kernel's 64 MiB room: it goes above.
        pf.ram = vec![0x1000..0x9fc00, 0x100000..0x200_0000, 0x1_0000_0000..0x1_8000_0000];
        pf.la57 = true;
        let p = plan(&img, None, b"x", &pf, None).unwrap();
        assert!(p.kernel_addr >= 1 << 32, "{:#x}", p.kernel_addr);
        let cr3 = le_u64(&p.boot_page, TRAMPOLINE_OFF + T_PAGE_TABLES);
        for at in [0x9_f000, p.boot_addr, p.kernel_addr, p.kernel_addr + 0x3f9_7fff] {
            assert_eq!(walk(&p, cr3, at, true), Some(at), "{at:#x}");
        }
        assert_eq!(page_tables_len(513 << 30, false), None);
        assert_eq!(page_tables_len(1, false), Some(3 * 4096));
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
        assert_eq!(le_u64(&plan.boot_page, 0x250), 0);
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

    /// The placeholder's verifier must always take its "changed" branch:
    /// its one row names the page's own first qword, whose digest differs
    /// from the expected value, and the message is where it prints from.
    #[test]
    fn placeholder_always_resets() {
        let p = placeholder(&qemu_512m()).unwrap();
        let ram = &qemu_512m().ram;
        assert!(ram
            .iter()
            .any(|r| r.start <= p.addr && p.addr + p.page.len() as u64 <= r.end));
        assert!(p.addr + (p.page.len() as u64) <= GIB4);
        assert_eq!(p.entry, p.addr + VERIFY_OFF as u64);
        let v = VERIFY_OFF;
        assert_eq!(&p.page[v..v + VERIFIER.len()], &VERIFIER[..]);
        let row = |k: usize| le_u64(&p.page, v + V_TABLE + k * 8);
        assert_eq!(row(0), p.addr);
        assert_eq!(row(1), 1);
        assert_ne!(row(2), digest(&p.page[..8]), "the row must never match");
        assert_eq!(row(4), 0, "one row, then the end of the table");
        let msg = &p.page[v + V_MSG..];
        assert!(msg.starts_with(PLACEHOLDER_MESSAGE.as_bytes()));
        assert_eq!(msg[PLACEHOLDER_MESSAGE.len()], 0);
        assert_eq!(p.segments().len(), 1);
    }
}
