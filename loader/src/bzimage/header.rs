//! The bzImage setup header (boot.rst offsets) and the zero page built from it.

use super::{BzError, Platform, MIB, PAGE};
use crate::le::{le_u16, le_u32, le_u64, put};
use std::ops::Range;

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
pub(super) const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 2;
pub(super) const XLF_5LEVEL: u16 = 1 << 5;

/// Reads the setup header of `image`; errors if it is not a bzImage with a
/// 64-bit entry point.
pub fn parse_header(image: &[u8]) -> Result<Header, BzError> {
    if image.len() < 0x300 {
        return Err(BzError::NotBzImage("shorter than its setup header"));
    }
    if le_u16(image, 0x1fe) != 0xAA55 || image.get(0x202..0x206) != Some(b"HdrS") {
        return Err(BzError::NotBzImage("no HdrS boot header"));
    }
    let version = le_u16(image, 0x206);
    let xloadflags = le_u16(image, 0x236);
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
        kernel_alignment: le_u32(image, 0x230).max(PAGE as u32),
        pref_address: le_u64(image, 0x258),
        init_size: le_u32(image, 0x260),
        initrd_addr_max: le_u32(image, 0x22c),
        cmdline_size: le_u32(image, 0x238),
        header_end,
    })
}

/// `type_of_loader`: 0xD = kexec, as the kernel's own loader says.
const LOADER_KEXEC: u8 = 0xd0;

/// Fills the zero page's platform part and the image's setup header.
pub(super) fn zero_page(bp: &mut [u8], image: &[u8], h: &Header, platform: &Platform) {
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
        put(bp, 0x23c, &le_u32(cur, 0x23c).to_le_bytes()); // hardware_subarch
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
    use super::super::tests::image;
    use super::*;

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
}
