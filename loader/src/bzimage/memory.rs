//! The physical memory hopboot places segments in: what the running machine
//! reports (firmware memory map, `/proc/iomem`, its own zero page) and the
//! free-range allocator that carves it up.

use std::ops::Range;

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
    /// The running kernel uses 5-level paging (`la57` in /proc/cpuinfo: the
    /// kernel clears the flag when it runs with 4 levels, whatever the CPU
    /// can do) and hands it over at kexec: only a kernel that says it copes
    /// may follow, and the trampoline's page tables have five levels.
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
pub(super) struct Free(pub(super) Vec<Range<u64>>);

impl Free {
    pub(super) fn take(&mut self, at: u64, size: u64) {
        self.0 = subtract(&self.0, &(at..at.saturating_add(size)));
    }
    /// Whether `size` bytes at `at` are free. `at` may come straight from a
    /// kernel's header (`pref_address`): a sum past 2^64 fits nowhere.
    pub(super) fn fits(&self, at: u64, size: u64) -> bool {
        at.checked_add(size)
            .is_some_and(|end| self.0.iter().any(|r| r.start <= at && end <= r.end))
    }
    /// Highest `align`-aligned place for `size` bytes within `[min, max)`.
    pub(super) fn top(&self, size: u64, align: u64, min: u64, max: u64) -> Option<u64> {
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
    pub(super) fn bottom(&self, size: u64, align: u64, min: u64, max: u64) -> Option<u64> {
        let mut best = None;
        for r in &self.0 {
            // `min` and `align` come from the kernel's header: no wrapping.
            let Some(at) = r.start.max(min).div_ceil(align.max(1)).checked_mul(align) else {
                continue;
            };
            let fits = at.checked_add(size).is_some_and(|end| end <= r.end.min(max));
            if fits && best.is_none_or(|b| at < b) {
                best = Some(at);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
