//! `hopboot-qemu bench`: how long the boot decision takes, how big hopboot's image is and how
//! little guest memory it needs, measured on the serial console alone.
//!
//! A run boots QEMU (`-kernel` + an initramfs + a disk) and records when milestone lines arrive
//! on the host, counted from QEMU's spawn:
//!
//! ```text
//! QEMU start → first serial line → "Run /init as init process" → first "hopboot:" line
//!   → each "(stage=NAME t=Nms)" line → "kexec_core: Starting new kernel" → target marker
//! ```
//!
//! Only the kernel's own lines and the target marker are required, so the same measurement
//! works for any other bootloader initramfs that kexecs the demo disk's kernel. The kernel
//! prints "Run /init" twice (once per kernel); the first one, before "Starting new kernel", opens
//! the *decision window*, which "Starting new kernel" closes.
//!
//! The first serial line is when the kernel's serial console comes up and replays its log
//! buffer (QEMU's firmware prints nothing on the serial port with `-kernel`), so the first
//! interval covers the firmware, bzImage decompression and early kernel setup.
//!
//! The parts: [`timeline`] finds the milestones in a serial log, [`stats`] turns the runs into
//! minimum/median/maximum figures, [`report`] writes the table and the chart, [`json`] the
//! `summary.json`, [`memory`] bisects the smallest memory, and [`run`] builds the images and
//! boots them; [`summary`] holds what was measured. [`menu`] times the firmware payload and
//! Debian's kernel to hopboot's menu, in phases (`--payload`), and [`distro`] finds the memory
//! floors of the real Debian install through hopboot and directly (`--distro`).

mod distro;
mod json;
mod memory;
mod menu;
mod report;
mod run;
mod stats;
mod summary;
mod timeline;

#[cfg(test)]
mod fixtures;

use std::path::PathBuf;
use std::time::Duration;

pub use distro::run as run_distro;
pub use run::run;

#[cfg(doc)]
use {crate::minimal, hopboot_qemu::demo::Demo, hopboot_qemu::vm::VmConfig};

/// The first kernel's command line unless `--append` replaces it. Debian's kernel prints
/// "Run /init" (KERN_INFO) and "Starting new kernel" (KERN_NOTICE) at its default console
/// loglevel (CONFIG_CONSOLE_LOGLEVEL_DEFAULT=7), so no `loglevel=` is needed; `quiet` would
/// hide both and is refused.
pub const DEFAULT_APPEND: &str = "console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0";
/// Modules of the standard hopboot initramfs: virtio disks over PCI.
pub const MODULES: [&str; 2] = ["virtio_blk", "virtio_pci"];
/// Smallest `-m` the harness accepts ([`VmConfig::qemu_args`]).
pub const MEMORY_FLOOR_MIB: u32 = 64;
/// At most this many boots for the memory search.
pub const MEMORY_PROBES: u32 = 6;

/// What `hopboot-qemu bench` measures and where it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The initramfs under test; `None` builds hopboot's (gzip, [`MODULES`]).
    pub initramfs: Option<PathBuf>,
    /// The disk to boot from; `None` builds the [`Demo::Grub`] disk.
    pub disk: Option<PathBuf>,
    /// The first kernel; `None` is the Debian kernel.
    pub kernel: Option<PathBuf>,
    /// Timed boots.
    pub runs: u32,
    /// The first kernel's command line.
    pub append: String,
    /// Output directory (built images, serial logs, summary.json, timeline.svg).
    pub out: PathBuf,
    /// Guest memory for the timed runs.
    pub memory_mib: u32,
    /// Search the smallest memory that still boots.
    pub memory_search: bool,
    /// Measure binary and initramfs sizes (standard build only).
    pub sizes: bool,
    /// Name of this measurement in the summary; `None`: `hopboot` or the initramfs file name.
    pub label: Option<String>,
    /// Also time, interleaved, a direct boot of the target kernel and initramfs.
    pub baseline_direct: bool,
    /// Also time, interleaved, the minimal C reference tool ([`minimal`]) on the same disk.
    pub reference_minimal: bool,
    /// Boots with a menu countdown in which Enter is pressed once the default entry is
    /// preloaded, to time Enter → "Starting new kernel" (hopboot only).
    pub enter_runs: u32,
    /// Give up on one boot after this long.
    pub timeout: Duration,
    /// The firmware payload (`make payload`): its sizes, and menu runs against Debian's kernel.
    pub payload: Option<PathBuf>,
    /// Rounds of menu runs (payload, then Debian's kernel) with `payload`.
    pub menu_runs: u32,
}

impl Options {
    /// Defaults: 5 runs, [`DEFAULT_APPEND`], 512 MiB, memory search and sizes on, into `out`.
    pub fn new(out: PathBuf) -> Options {
        Options {
            initramfs: None,
            disk: None,
            kernel: None,
            runs: 5,
            append: DEFAULT_APPEND.to_owned(),
            out,
            memory_mib: 512,
            memory_search: true,
            sizes: true,
            label: None,
            baseline_direct: false,
            reference_minimal: false,
            enter_runs: 0,
            timeout: Duration::from_secs(300),
            payload: None,
            menu_runs: 5,
        }
    }
}
