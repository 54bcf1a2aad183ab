//! What one `bench` invocation measured: the boots, the sizes and the memory search.

use hopboot_image_build::Compression;

use super::memory::MemorySearch;
use super::menu::PayloadBench;
use super::timeline::{Kind, Timeline};
use crate::minimal;

#[cfg(doc)]
use super::MODULES;

/// One boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// 1-based, per kind.
    pub index: u32,
    /// What was booted.
    pub kind: Kind,
    /// Guest memory.
    pub memory_mib: u32,
    /// `None` when the marker was reached; else why not.
    pub error: Option<String>,
    /// The milestones found (also for a failed run).
    pub timeline: Timeline,
}

impl Run {
    /// Reached the marker.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.timeline.total().is_some()
    }
}

/// Compressed initramfs sizes for one compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    /// The compression.
    pub compression: Compression,
    /// With [`MODULES`] and their dependencies.
    pub with_modules: u64,
    /// The binary alone.
    pub without_modules: u64,
}

/// Sizes of the standard build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// The stripped musl hopboot binary.
    pub binary_bytes: u64,
    /// gzip, zstd, xz.
    pub images: Vec<ImageSize>,
}

impl Sizes {
    pub(super) fn image(&self, c: Compression) -> Option<ImageSize> {
        self.images.iter().copied().find(|i| i.compression == c)
    }
}

/// Everything one `bench` invocation measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `--label`.
    pub label: String,
    /// UTC, ISO 8601.
    pub date: String,
    /// `tcg` or `kvm`.
    pub accel: String,
    /// Host CPUs.
    pub cpus: usize,
    /// Guest memory for the timed runs.
    pub memory_mib: u32,
    /// The first kernel's command line.
    pub append: String,
    /// The hopboot initramfs was built here (sizes and the demo disk are standard).
    pub standard_build: bool,
    /// Timed boots of both kinds, in the order they ran.
    pub runs: Vec<Run>,
    /// `None` with `--no-sizes` or a foreign initramfs.
    pub sizes: Option<Sizes>,
    /// `None` with `--no-memory-search`.
    pub memory: Option<MemorySearch>,
    /// The same search for the direct boot (`--baseline-direct`).
    pub memory_direct: Option<MemorySearch>,
    /// The minimal reference tool's image, with `--reference-minimal`.
    pub minimal: Option<minimal::Image>,
    /// Enter → "Starting new kernel" in seconds, one result per `--enter-runs` boot.
    pub enter: Vec<Result<f64, String>>,
    /// The firmware payload's sizes and menu runs (`--payload`).
    pub payload: Option<PayloadBench>,
}
