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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use hopboot_image_build::{build, Compression, Options as ImageOptions};
use hopboot_qemu::demo::{self, Demo};
use hopboot_qemu::kernel;
use hopboot_qemu::paths;
use hopboot_qemu::target::{self, MARKER};
use hopboot_qemu::vm::{self, DiskAttach, Line, Vm, VmConfig};

use crate::minimal;
use crate::svg;

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

/// The kernel's `Run %s as init process` (init/main.c), split around the path.
const RUN_INIT: (&str, &str) = ("Run ", " as init process");
/// `pr_notice("Starting new kernel\n")` in kernel/kexec_core.c.
const KEXEC: &str = "kexec_core: Starting new kernel";
/// Prefix of hopboot's kmsg lines.
const HOPBOOT: &str = "hopboot:";
/// A timed boot without serial output this long has hung (or waits at a menu). The longest
/// quiet stretch of a good boot under TCG is the kexec hand-over: 7-12 s on a busy 2-core host.
const RUN_SILENCE: Duration = Duration::from_secs(60);
/// The same for a memory probe, which is expected to fail now and then.
const PROBE_SILENCE: Duration = Duration::from_secs(30);
/// Lines after which the marker cannot come: stop waiting for it.
const FATAL: [&str; 3] = [
    "Kernel panic - not syncing",
    "hopboot: no entry could be booted",
    minimal::FAILED,
];

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
        }
    }
}

/// One milestone line of a boot.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestone {
    /// `first_kernel_line`, `run_init`, `hopboot_first_line`, `hopboot.<stage>`,
    /// `starting_new_kernel` or `target_marker` (for the minimal tool, `minimal_first_line` and
    /// `minimal.<stage>` instead of hopboot's).
    pub name: String,
    /// Index of the serial line.
    pub line: usize,
    /// Host seconds since QEMU was spawned.
    pub t_s: f64,
    /// The kernel's own `[   1.234567]` timestamp, when the line has one.
    pub kernel_s: Option<f64>,
    /// hopboot's own `t=Nms` on a stage line.
    pub hopboot_ms: Option<u64>,
}

/// The milestones of one boot, in serial-line order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// Milestones as found, in line order.
    pub milestones: Vec<Milestone>,
}

/// The time between two consecutive milestones.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Where it starts (`qemu_start` for the first).
    pub from: String,
    /// Where it ends.
    pub to: String,
    /// Host seconds since QEMU spawn.
    pub start: f64,
    /// Host seconds since QEMU spawn.
    pub end: f64,
}

impl Timeline {
    /// Finds the milestones of a hopboot (or foreign bootloader) boot in a recorded serial console.
    #[cfg(test)]
    pub fn from_lines(lines: &[Line]) -> Timeline {
        Timeline::from_lines_of(lines, Kind::Bootloader)
    }

    /// Finds the milestones in a recorded serial console; the stage lines are those of the
    /// bootloader of `kind` ([`Kind::log`]).
    pub fn from_lines_of(lines: &[Line], kind: Kind) -> Timeline {
        let (prefix, tag) = kind.log();
        let texts: Vec<String> = lines.iter().map(|l| vm::strip_ansi(&l.text)).collect();
        let find_from = |start: usize, pred: &dyn Fn(&str) -> bool| {
            texts
                .get(start..)
                .and_then(|rest| rest.iter().position(|t| pred(t)))
                .map(|i| i + start)
        };
        let mut found: Vec<(usize, String, Option<u64>)> = Vec::new();
        if let Some(i) = find_from(0, &|t| !t.trim().is_empty()) {
            found.push((i, "first_kernel_line".into(), None));
        }
        let run_init = find_from(0, &is_run_init);
        if let Some(i) = run_init {
            found.push((i, "run_init".into(), None));
        }
        let after_init = run_init.map_or(0, |i| i + 1);
        let kexec = find_from(after_init, &|t| t.contains(KEXEC));
        let marker = find_from(0, &|t| t.contains(MARKER));
        // The bootloader's lines count only in the first kernel, before it hands over.
        let window_end = kexec.or(marker).unwrap_or(texts.len());
        let mut seen_first = false;
        for (i, text) in texts.iter().enumerate().take(window_end).skip(after_init) {
            if !text.contains(prefix) {
                continue;
            }
            if !seen_first {
                found.push((i, format!("{tag}_first_line"), None));
                seen_first = true;
            }
            if let Some((stage, ms)) = parse_stage(text) {
                let name = format!("{tag}.{stage}");
                // A stage logged twice (e.g. devices, as disks appear) counts from its first line.
                if !found.iter().any(|(_, n, _)| *n == name) {
                    found.push((i, name, ms));
                }
            }
        }
        if let Some(i) = kexec {
            found.push((i, "starting_new_kernel".into(), None));
        }
        if let Some(i) = marker {
            found.push((i, "target_marker".into(), None));
        }
        // Stable: on a shared line the order above (first hopboot line, then its stage) holds.
        found.sort_by_key(|(i, _, _)| *i);
        let milestones = found
            .into_iter()
            .filter_map(|(i, name, hopboot_ms)| {
                let line = lines.get(i)?;
                Some(Milestone {
                    name,
                    line: i,
                    t_s: line.t.as_secs_f64(),
                    kernel_s: kernel_timestamp(&texts[i]),
                    hopboot_ms,
                })
            })
            .collect();
        Timeline { milestones }
    }

    /// The milestone called `name`.
    pub fn get(&self, name: &str) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.name == name)
    }

    /// Host seconds from the first "Run /init" to "Starting new kernel".
    pub fn decision_window(&self) -> Option<f64> {
        Some(self.get("starting_new_kernel")?.t_s - self.get("run_init")?.t_s)
    }

    /// The same window on the first kernel's own clock.
    pub fn kernel_decision_window(&self) -> Option<f64> {
        Some(self.get("starting_new_kernel")?.kernel_s? - self.get("run_init")?.kernel_s?)
    }

    /// Host seconds from the first "Run /init" until the bootloader of `kind` knows what it
    /// boots, before loading it: hopboot's `chosen` stage, the minimal tool's `entry` stage.
    /// `None` without those stage lines (a foreign bootloader).
    pub fn until_entry(&self, kind: Kind) -> Option<f64> {
        let stage = match kind {
            Kind::Minimal => "minimal.entry",
            Kind::Bootloader | Kind::Direct => "hopboot.chosen",
        };
        Some(self.get(stage)?.t_s - self.get("run_init")?.t_s)
    }

    /// Host seconds from QEMU's spawn to the target marker.
    pub fn total(&self) -> Option<f64> {
        self.get("target_marker").map(|m| m.t_s)
    }

    /// Consecutive intervals from QEMU's spawn. Milestones on the same line collapse into the
    /// last one (hopboot's first line is normally its `stage=start` line).
    pub fn segments(&self) -> Vec<Segment> {
        let mut points: Vec<&Milestone> = Vec::new();
        for m in &self.milestones {
            match points.last_mut() {
                Some(last) if last.line == m.line => *last = m,
                _ => points.push(m),
            }
        }
        let mut out = Vec::new();
        let (mut from, mut start) = ("qemu_start".to_owned(), 0.0);
        for p in points {
            out.push(Segment {
                from: from.clone(),
                to: p.name.clone(),
                start,
                end: p.t_s,
            });
            from.clone_from(&p.name);
            start = p.t_s;
        }
        out
    }
}

fn is_run_init(text: &str) -> bool {
    let body = strip_kernel_timestamp(text);
    body.starts_with(RUN_INIT.0) && body.ends_with(RUN_INIT.1)
}

/// `text` without a leading `[    1.234567] `.
fn strip_kernel_timestamp(text: &str) -> &str {
    let t = text.trim();
    match t.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((ts, rest)) if ts.trim().parse::<f64>().is_ok() => rest.trim_start(),
        _ => t,
    }
}

/// The kernel's `[    1.234567]` at the start of `text`.
fn kernel_timestamp(text: &str) -> Option<f64> {
    let (ts, _) = text.trim_start().strip_prefix('[')?.split_once(']')?;
    ts.trim().parse().ok()
}

/// `(stage=NAME t=Nms)` at the end of a hopboot log line: the name and hopboot's milliseconds.
fn parse_stage(text: &str) -> Option<(String, Option<u64>)> {
    let at = text.rfind("(stage=")?;
    let rest = &text[at + "(stage=".len()..];
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        return None;
    }
    let ms = rest[name.len()..]
        .trim_start()
        .strip_prefix("t=")
        .and_then(|r| r.split_once("ms"))
        .and_then(|(n, _)| n.parse().ok());
    Some((name, ms))
}

/// Minimum, median and maximum of some measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Smallest.
    pub min: f64,
    /// Middle value (mean of the two middle ones for an even count).
    pub median: f64,
    /// Largest.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Stats {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Stats {
            min: v[0],
            median,
            max: v[n - 1],
            n,
        })
    }

    fn json(self) -> Json {
        Json::obj([
            ("min", Json::secs(self.min)),
            ("median", Json::secs(self.median)),
            ("max", Json::secs(self.max)),
            ("n", Json::Int(self.n as u64)),
        ])
    }
}

/// What was booted in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first kernel with the initramfs under test, kexecing the disk's kernel.
    Bootloader,
    /// The first kernel with the minimal C reference tool ([`minimal`]) kexecing the same kernel.
    Minimal,
    /// The target kernel and initramfs straight from QEMU: no bootloader.
    Direct,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bootloader => "bootloader",
            Kind::Minimal => "minimal",
            Kind::Direct => "direct",
        }
    }

    /// The prefix of the bootloader's log lines and the milestone name its stages get
    /// (`<tag>.<stage>`, `<tag>_first_line`).
    fn log(self) -> (&'static str, &'static str) {
        match self {
            Kind::Minimal => (minimal::LOG_PREFIX, "minimal"),
            Kind::Bootloader | Kind::Direct => (HOPBOOT, "hopboot"),
        }
    }
}

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

    fn json(&self) -> Json {
        let t = &self.timeline;
        let milestones = t
            .milestones
            .iter()
            .map(|m| {
                Json::obj([
                    ("name", Json::Str(m.name.clone())),
                    ("t_s", Json::secs(m.t_s)),
                    ("kernel_s", m.kernel_s.map_or(Json::Null, Json::micros)),
                    ("hopboot_ms", m.hopboot_ms.map_or(Json::Null, Json::Int)),
                    ("line", Json::Int(m.line as u64)),
                ])
            })
            .collect();
        Json::obj([
            ("run", Json::Int(u64::from(self.index))),
            ("kind", Json::Str(self.kind.name().into())),
            ("ok", Json::Bool(self.ok())),
            ("error", self.error.clone().map_or(Json::Null, Json::Str)),
            ("memory_mib", Json::Int(u64::from(self.memory_mib))),
            ("decision_window_s", t.decision_window().map_or(Json::Null, Json::secs)),
            (
                "kernel_decision_window_s",
                t.kernel_decision_window().map_or(Json::Null, Json::micros),
            ),
            ("total_s", t.total().map_or(Json::Null, Json::secs)),
            ("milestones", Json::Arr(milestones)),
        ])
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
    fn image(&self, c: Compression) -> Option<ImageSize> {
        self.images.iter().copied().find(|i| i.compression == c)
    }
}

/// One boot of the memory search.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `-m`.
    pub mib: u32,
    /// Reached the marker.
    pub ok: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// The memory search's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemorySearch {
    /// Smallest memory seen to boot.
    pub min_ok_mib: Option<u32>,
    /// Largest memory seen to fail (or the floor minus one, assumed).
    pub max_fail_mib: u32,
    /// The boots, in order.
    pub probes: Vec<Probe>,
}

/// Bisects between `floor - 1` (assumed to fail) and `known_ok` (booted), in steps of
/// `step` MiB, with at most `max_probes` calls of `probe`, which says whether a boot with that
/// much memory reached the marker (and if not, why).
pub fn search_memory(
    floor: u32,
    known_ok: u32,
    step: u32,
    max_probes: u32,
    mut probe: impl FnMut(u32) -> Result<(), String>,
) -> MemorySearch {
    let step = step.max(1);
    let mut s = MemorySearch {
        min_ok_mib: Some(known_ok),
        max_fail_mib: floor.saturating_sub(1),
        probes: Vec::new(),
    };
    let mut ok = known_ok;
    while (s.probes.len() as u32) < max_probes && ok - s.max_fail_mib > step {
        // The midpoint, rounded to a multiple of `step`, kept strictly inside (fail, ok).
        let mid = s.max_fail_mib + (ok - s.max_fail_mib) / 2;
        let mid = (mid / step * step).clamp(s.max_fail_mib + 1, ok - 1).max(floor);
        let result = probe(mid);
        s.probes.push(Probe {
            mib: mid,
            ok: result.is_ok(),
            reason: result.err(),
        });
        if s.probes.last().is_some_and(|p| p.ok) {
            ok = mid;
        } else {
            s.max_fail_mib = mid;
        }
    }
    s.min_ok_mib = Some(ok);
    s
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
    /// The minimal reference tool's image, with `--reference-minimal`.
    pub minimal: Option<minimal::Image>,
    /// Enter → "Starting new kernel" in seconds, one result per `--enter-runs` boot.
    pub enter: Vec<Result<f64, String>>,
}

/// hopboot's decision window divided by the minimal reference tool's.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRatio {
    /// `(round, ratio)` for each round (runs of the same index) where both reached the marker.
    pub rounds: Vec<(u32, f64)>,
    /// Median of the per-round ratios.
    pub median_of_rounds: Option<f64>,
    /// Median bootloader window / median minimal window.
    pub of_medians: Option<f64>,
}

/// Per-interval statistics over runs: `(from, to, stats)` in boot order.
pub type Intervals = Vec<(String, String, Stats)>;

impl Summary {
    fn ok_runs(&self, kind: Kind) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.kind == kind && r.ok())
    }

    fn stat(&self, kind: Kind, f: impl Fn(&Timeline) -> Option<f64>) -> Option<Stats> {
        let v: Vec<f64> = self.ok_runs(kind).filter_map(|r| f(&r.timeline)).collect();
        Stats::of(&v)
    }

    /// Enter → "Starting new kernel" over the `--enter-runs` boots that got there.
    pub fn enter_stats(&self) -> Option<Stats> {
        let v: Vec<f64> = self.enter.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        Stats::of(&v)
    }

    /// Decision window over the successful bootloader runs.
    pub fn decision_window(&self) -> Option<Stats> {
        self.stat(Kind::Bootloader, Timeline::decision_window)
    }

    /// QEMU start → marker over the successful bootloader runs.
    pub fn total(&self) -> Option<Stats> {
        self.stat(Kind::Bootloader, Timeline::total)
    }

    /// QEMU start → marker over the successful direct runs.
    pub fn direct_total(&self) -> Option<Stats> {
        self.stat(Kind::Direct, Timeline::total)
    }

    /// Median host seconds from QEMU start of every milestone, sorted by that median.
    pub fn stage_medians(&self) -> Vec<(String, f64)> {
        // First-seen order, so that a tie on the median keeps boot order.
        let mut by_name: Vec<(String, Vec<f64>)> = Vec::new();
        for r in self.ok_runs(Kind::Bootloader) {
            for m in &r.timeline.milestones {
                match by_name.iter_mut().find(|(n, _)| *n == m.name) {
                    Some((_, v)) => v.push(m.t_s),
                    None => by_name.push((m.name.clone(), vec![m.t_s])),
                }
            }
        }
        let mut v: Vec<(String, f64)> = by_name
            .into_iter()
            .filter_map(|(name, ts)| Some((name, Stats::of(&ts)?.median)))
            .collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        v
    }

    /// Median of hopboot's own `t=` per stage.
    pub fn hopboot_stage_ms(&self) -> Vec<(String, f64)> {
        self.stage_ms(Kind::Bootloader)
    }

    /// Decision window over the successful minimal-tool runs.
    pub fn minimal_decision_window(&self) -> Option<Stats> {
        self.stat(Kind::Minimal, Timeline::decision_window)
    }

    /// QEMU start → marker over the successful minimal-tool runs.
    pub fn minimal_total(&self) -> Option<Stats> {
        self.stat(Kind::Minimal, Timeline::total)
    }

    /// The bootloader's decision window over the minimal tool's, per round and of the medians;
    /// `None` without a successful minimal run.
    pub fn minimal_ratio(&self) -> Option<WindowRatio> {
        self.ratio_to_minimal(|t, _| t.decision_window())
    }

    /// [`Timeline::until_entry`] over the successful runs of `kind`.
    pub fn until_entry(&self, kind: Kind) -> Option<Stats> {
        self.stat(kind, |t| t.until_entry(kind))
    }

    /// The bootloader's [`Timeline::until_entry`] over the minimal tool's, per round and of the
    /// medians; `None` without a successful minimal run.
    pub fn minimal_ratio_until_entry(&self) -> Option<WindowRatio> {
        self.ratio_to_minimal(Timeline::until_entry)
    }

    /// `f` of each bootloader run over `f` of the minimal run of the same round, and of the medians.
    fn ratio_to_minimal(&self, f: impl Fn(&Timeline, Kind) -> Option<f64>) -> Option<WindowRatio> {
        let stats = |kind| self.stat(kind, |t| f(t, kind));
        let reference = stats(Kind::Minimal)?;
        let value = |kind, index| {
            self.ok_runs(kind)
                .find(|r| r.index == index)
                .and_then(|r| f(&r.timeline, kind))
        };
        let rounds: Vec<(u32, f64)> = self
            .ok_runs(Kind::Bootloader)
            .filter_map(|r| {
                let ratio = value(Kind::Bootloader, r.index)? / value(Kind::Minimal, r.index)?;
                Some((r.index, ratio))
            })
            .collect();
        let ratios: Vec<f64> = rounds.iter().map(|(_, x)| *x).collect();
        Some(WindowRatio {
            median_of_rounds: Stats::of(&ratios).map(|s| s.median),
            of_medians: stats(Kind::Bootloader).map(|b| b.median / reference.median),
            rounds,
        })
    }

    /// Median of the bootloader's own `t=` per stage, for runs of `kind`.
    fn stage_ms(&self, kind: Kind) -> Vec<(String, f64)> {
        let tag = format!("{}.", kind.log().1);
        let mut by_name: Vec<(String, Vec<f64>)> = Vec::new();
        for r in self.ok_runs(kind) {
            for m in &r.timeline.milestones {
                let (Some(stage), Some(ms)) = (m.name.strip_prefix(&tag), m.hopboot_ms) else {
                    continue;
                };
                match by_name.iter_mut().find(|(n, _)| n == stage) {
                    Some((_, v)) => v.push(ms as f64),
                    None => by_name.push((stage.to_owned(), vec![ms as f64])),
                }
            }
        }
        by_name
            .into_iter()
            .filter_map(|(n, v)| Some((n, Stats::of(&v)?.median)))
            .collect()
    }

    /// Statistics of each interval between consecutive milestones, for runs of `kind`.
    pub fn intervals(&self, kind: Kind) -> Intervals {
        let mut acc: Vec<(String, String, Vec<f64>)> = Vec::new();
        for r in self.ok_runs(kind) {
            for s in r.timeline.segments() {
                let d = s.end - s.start;
                match acc.iter_mut().find(|(f, t, _)| *f == s.from && *t == s.to) {
                    Some((_, _, v)) => v.push(d),
                    None => acc.push((s.from, s.to, vec![d])),
                }
            }
        }
        acc.into_iter()
            .filter_map(|(f, t, v)| Some((f, t, Stats::of(&v)?)))
            .collect()
    }

    /// `summary.json`.
    pub fn json(&self) -> Json {
        let opt_stats = |s: Option<Stats>| s.map_or(Json::Null, Stats::json);
        let median = |s: Option<Stats>| s.map_or(Json::Null, |s| Json::secs(s.median));
        let bytes = |b: Option<u64>| b.map_or(Json::Null, Json::Int);
        let sizes = self.sizes.as_ref();
        let gzip = sizes.and_then(|s| s.image(Compression::Gzip));
        let size_table = sizes.map_or(Json::Null, |s| {
            Json::Obj(
                s.images
                    .iter()
                    .map(|i| {
                        let v = Json::obj([
                            ("with_modules", Json::Int(i.with_modules)),
                            ("without_modules", Json::Int(i.without_modules)),
                        ]);
                        (i.compression.name().to_owned(), v)
                    })
                    .collect(),
            )
        });
        let memory = self.memory.as_ref().map_or(Json::Null, |m| {
            let probes = m
                .probes
                .iter()
                .map(|p| {
                    Json::obj([
                        ("mib", Json::Int(u64::from(p.mib))),
                        ("ok", Json::Bool(p.ok)),
                        ("reason", p.reason.clone().map_or(Json::Null, Json::Str)),
                    ])
                })
                .collect();
            Json::obj([
                ("floor_mib", Json::Int(u64::from(MEMORY_FLOOR_MIB))),
                ("max_fail_mib", Json::Int(u64::from(m.max_fail_mib))),
                ("probes", Json::Arr(probes)),
            ])
        });
        let intervals = |kind| {
            Json::Arr(
                self.intervals(kind)
                    .into_iter()
                    .map(|(from, to, s)| {
                        let Json::Obj(mut fields) = s.json() else {
                            unreachable!()
                        };
                        fields.insert(0, ("from".into(), Json::Str(from)));
                        fields.insert(1, ("to".into(), Json::Str(to)));
                        Json::Obj(fields)
                    })
                    .collect(),
            )
        };
        let baseline = match (self.direct_total(), self.total()) {
            (Some(direct), total) => Json::obj([
                ("total_s", Json::secs(direct.median)),
                ("total", direct.json()),
                (
                    "ratio_total",
                    total.map_or(Json::Null, |t| Json::ratio(t.median / direct.median)),
                ),
                (
                    "overhead_s",
                    total.map_or(Json::Null, |t| Json::secs(t.median - direct.median)),
                ),
                ("intervals", intervals(Kind::Direct)),
            ]),
            (None, _) => Json::Null,
        };
        let count = |kind: Kind, ok: bool| {
            let n = self.runs.iter().filter(|r| r.kind == kind && (!ok || r.ok())).count();
            Json::Int(n as u64)
        };
        let ratio = |x: Option<f64>| x.map_or(Json::Null, Json::ratio);
        let stage_ms = |kind| {
            Json::Obj(
                self.stage_ms(kind)
                    .into_iter()
                    .map(|(n, ms)| (n, Json::Num(ms.round())))
                    .collect(),
            )
        };
        let reference = if self.minimal.is_some() || self.runs.iter().any(|r| r.kind == Kind::Minimal) {
            let m = self.minimal.as_ref();
            let ratios = |r: Option<WindowRatio>| {
                r.map_or(Json::Null, |r| {
                    let rounds = r
                        .rounds
                        .iter()
                        .map(|(round, x)| {
                            Json::obj([("round", Json::Int(u64::from(*round))), ("ratio", Json::ratio(*x))])
                        })
                        .collect();
                    Json::obj([
                        ("median_of_rounds", ratio(r.median_of_rounds)),
                        ("of_medians", ratio(r.of_medians)),
                        ("rounds", Json::Arr(rounds)),
                    ])
                })
            };
            let total_ratio = self.total().zip(self.minimal_total()).map(|(t, m)| t.median / m.median);
            Json::obj([
                ("tool", Json::Str(minimal::SOURCE.into())),
                ("runs_total", count(Kind::Minimal, false)),
                ("runs_ok", count(Kind::Minimal, true)),
                ("decision_window_s", median(self.minimal_decision_window())),
                ("decision_window", opt_stats(self.minimal_decision_window())),
                (
                    "kernel_decision_window",
                    opt_stats(self.stat(Kind::Minimal, Timeline::kernel_decision_window)),
                ),
                ("total_s", median(self.minimal_total())),
                ("total", opt_stats(self.minimal_total())),
                ("ratio_decision_window", ratios(self.minimal_ratio())),
                ("ratio_total", ratio(total_ratio)),
                ("until_entry", opt_stats(self.until_entry(Kind::Minimal))),
                ("bootloader_until_entry", opt_stats(self.until_entry(Kind::Bootloader))),
                ("ratio_until_entry", ratios(self.minimal_ratio_until_entry())),
                ("stage_ms", stage_ms(Kind::Minimal)),
                ("intervals", intervals(Kind::Minimal)),
                ("binary_bytes", bytes(m.map(|m| m.binary_bytes))),
                ("initramfs_bytes", bytes(m.map(|m| m.initramfs_bytes))),
                (
                    "modules",
                    Json::Arr(
                        m.map(|m| m.modules.iter().map(|n| Json::Str(n.clone())).collect())
                            .unwrap_or_default(),
                    ),
                ),
            ])
        } else {
            Json::Null
        };
        Json::obj([
            ("label", Json::Str(self.label.clone())),
            ("date", Json::Str(self.date.clone())),
            ("accel", Json::Str(self.accel.clone())),
            ("cpus", Json::Int(self.cpus as u64)),
            ("memory_mib", Json::Int(u64::from(self.memory_mib))),
            ("append", Json::Str(self.append.clone())),
            ("standard_build", Json::Bool(self.standard_build)),
            ("runs_total", count(Kind::Bootloader, false)),
            ("runs_ok", count(Kind::Bootloader, true)),
            ("decision_window_s", median(self.decision_window())),
            ("decision_window", opt_stats(self.decision_window())),
            (
                "kernel_decision_window",
                opt_stats(self.stat(Kind::Bootloader, Timeline::kernel_decision_window)),
            ),
            ("total_s", median(self.total())),
            ("total", opt_stats(self.total())),
            (
                "stages",
                Json::Obj(
                    self.stage_medians()
                        .into_iter()
                        .map(|(n, t)| (n, Json::secs(t)))
                        .collect(),
                ),
            ),
            ("hopboot_stage_ms", stage_ms(Kind::Bootloader)),
            ("intervals", intervals(Kind::Bootloader)),
            ("binary_bytes", bytes(sizes.map(|s| s.binary_bytes))),
            ("initramfs_bytes", bytes(gzip.map(|g| g.with_modules))),
            (
                "initramfs_bytes_without_modules",
                bytes(gzip.map(|g| g.without_modules)),
            ),
            ("initramfs_sizes", size_table),
            (
                "min_memory_mib",
                bytes(self.memory.as_ref().and_then(|m| m.min_ok_mib).map(u64::from)),
            ),
            ("memory_search", memory),
            ("baseline_direct", baseline),
            ("reference_minimal", reference),
            ("enter_to_kexec", opt_stats(self.enter_stats())),
            (
                "enter_to_kexec_errors",
                Json::Arr(
                    self.enter
                        .iter()
                        .filter_map(|r| r.as_ref().err())
                        .map(|e| Json::Str(e.clone()))
                        .collect(),
                ),
            ),
            ("runs", Json::Arr(self.runs.iter().map(Run::json).collect())),
        ])
    }

    /// The timeline chart: one row per run.
    pub fn chart(&self) -> svg::Chart {
        let mut legend: Vec<(String, String)> = Vec::new();
        let mut rows = Vec::new();
        for r in &self.runs {
            let mut bars = Vec::new();
            for s in r.timeline.segments() {
                let key = format!("{}>{}", s.from, s.to);
                if !legend.iter().any(|(k, _)| *k == key) {
                    legend.push((key.clone(), format!("{} → {}", display(&s.from), display(&s.to))));
                }
                bars.push(svg::Bar {
                    key,
                    start: s.start,
                    end: s.end,
                });
            }
            let t = &r.timeline;
            let window = t.get("run_init").zip(t.get("starting_new_kernel"));
            let mut note = match (t.total(), t.decision_window()) {
                (Some(total), Some(w)) => format!("{total:.1} s (window {w:.2} s)"),
                (Some(total), None) => format!("{total:.1} s"),
                _ => "no marker".to_owned(),
            };
            if r.error.is_some() {
                note = format!("FAILED: {note}");
            }
            rows.push(svg::Row {
                label: format!("{} {}", r.kind.name(), r.index),
                bars,
                window: window.map(|(a, b)| (a.t_s, b.t_s)),
                note,
            });
        }
        let title = format!("{}: boot timeline, host seconds from QEMU start", self.label);
        let count = |kind| self.runs.iter().filter(|r| r.kind == kind).count();
        let direct = match count(Kind::Direct) {
            0 => String::new(),
            n => format!(" + {n} direct (no bootloader)"),
        };
        let reference = match count(Kind::Minimal) {
            0 => String::new(),
            n => format!(" + {n} minimal (C reference tool)"),
        };
        let subtitle = format!(
            "{} bootloader runs{reference}{direct}, {}, {} host CPUs, {} MiB guest, {}",
            count(Kind::Bootloader),
            self.accel,
            self.cpus,
            self.memory_mib,
            self.date
        );
        svg::Chart {
            title,
            subtitle,
            rows,
            legend,
            window_legend: "decision window: Run /init → Starting new kernel".into(),
        }
    }

    /// The short table printed at the end.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let fmt = |st: &Stats| format!("{:>8.3} {:>8.3} {:>8.3}", st.min, st.median, st.max);
        let _ = writeln!(
            s,
            "{} ({}, {} host CPUs, {} MiB): {} of {} runs reached the marker",
            self.label,
            self.accel,
            self.cpus,
            self.memory_mib,
            self.ok_runs(Kind::Bootloader).count(),
            self.runs.iter().filter(|r| r.kind == Kind::Bootloader).count()
        );
        let _ = writeln!(s, "{:<52} {:>8} {:>8} {:>8}", "interval (s)", "min", "median", "max");
        for (from, to, st) in self.intervals(Kind::Bootloader) {
            let name = format!("{} → {}", display(&from), display(&to));
            let _ = writeln!(s, "{name:<52} {}", fmt(&st));
        }
        if let Some(w) = self.decision_window() {
            let _ = writeln!(
                s,
                "{:<52} {}",
                "DECISION WINDOW (Run /init → Starting new kernel)",
                fmt(&w)
            );
        }
        if let Some(t) = self.total() {
            let _ = writeln!(s, "{:<52} {}", "TOTAL (QEMU start → target marker)", fmt(&t));
        }
        if let Some(d) = self.direct_total() {
            let _ = writeln!(
                s,
                "{:<52} {}",
                "direct boot, no bootloader (QEMU start → marker)",
                fmt(&d)
            );
            if let Some(t) = self.total() {
                let _ = writeln!(
                    s,
                    "  bootloader total / direct: {:.2}x ({:+.2} s)",
                    t.median / d.median,
                    t.median - d.median
                );
            }
        }
        if let Some(e) = self.enter_stats() {
            let _ = writeln!(
                s,
                "{:<52} {}",
                "Enter at the menu (preloaded) → Starting new kernel",
                fmt(&e)
            );
        }
        let stages = self.hopboot_stage_ms();
        if !stages.is_empty() {
            let list: Vec<String> = stages.iter().map(|(n, ms)| format!("{n} {ms:.0}")).collect();
            let _ = writeln!(s, "hopboot's own t= (median ms): {}", list.join(", "));
        }
        let minimal_runs = self.runs.iter().filter(|r| r.kind == Kind::Minimal).count();
        if minimal_runs > 0 {
            let _ = writeln!(
                s,
                "minimal C reference ({}): {} of {minimal_runs} runs reached the marker",
                minimal::SOURCE,
                self.ok_runs(Kind::Minimal).count(),
            );
            for (from, to, st) in self.intervals(Kind::Minimal) {
                if from == "qemu_start" || to == "target_marker" || from == "first_kernel_line" {
                    continue; // the same kernel work as in every run
                }
                let name = format!("  {} → {}", display(&from), display(&to));
                let _ = writeln!(s, "{name:<52} {}", fmt(&st));
            }
            if let Some(w) = self.minimal_decision_window() {
                let _ = writeln!(s, "{:<52} {}", "MINIMAL DECISION WINDOW", fmt(&w));
            }
            if let Some(t) = self.minimal_total() {
                let _ = writeln!(s, "{:<52} {}", "MINIMAL TOTAL", fmt(&t));
            }
            let x = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}x"));
            if let Some(r) = self.minimal_ratio() {
                let _ = writeln!(
                    s,
                    "  {} / minimal decision window: {} (median of {} rounds), {} (of the medians)",
                    self.label,
                    x(r.median_of_rounds),
                    r.rounds.len(),
                    x(r.of_medians)
                );
            }
            if let (Some(b), Some(m)) = (self.until_entry(Kind::Bootloader), self.until_entry(Kind::Minimal)) {
                let r = self.minimal_ratio_until_entry();
                let _ = writeln!(
                    s,
                    "  until the entry is known (Run /init → hopboot chosen | minimal entry): {:.3} s vs {:.3} s, {} (median of rounds)",
                    b.median,
                    m.median,
                    x(r.and_then(|r| r.median_of_rounds))
                );
            }
            let stages = self.stage_ms(Kind::Minimal);
            if !stages.is_empty() {
                let list: Vec<String> = stages.iter().map(|(n, ms)| format!("{n} {ms:.0}")).collect();
                let _ = writeln!(s, "minimal's own t= (median ms): {}", list.join(", "));
            }
        }
        if let Some(sizes) = &self.sizes {
            let _ = writeln!(s, "hopboot binary: {} bytes", sizes.binary_bytes);
            for i in &sizes.images {
                let _ = writeln!(
                    s,
                    "initramfs {:<5} {:>9} bytes with modules, {:>9} without",
                    i.compression.name(),
                    i.with_modules,
                    i.without_modules
                );
            }
        }
        if let Some(m) = &self.memory {
            let probes: Vec<String> = m
                .probes
                .iter()
                .map(|p| format!("{}{}", p.mib, if p.ok { "✓" } else { "✗" }))
                .collect();
            match m.min_ok_mib {
                Some(ok) => {
                    let _ = writeln!(
                        s,
                        "min memory: {ok} MiB boots, {} MiB does not (probes: {})",
                        m.max_fail_mib,
                        probes.join(" ")
                    );
                }
                None => {
                    let _ = writeln!(s, "min memory: unknown (probes: {})", probes.join(" "));
                }
            }
        }
        s
    }
}

/// Readable milestone names for the table and the legend.
fn display(name: &str) -> String {
    match name {
        "qemu_start" => "QEMU start".into(),
        "first_kernel_line" => "first kernel line".into(),
        "run_init" => "Run /init".into(),
        "hopboot_first_line" => "first hopboot line".into(),
        "minimal_first_line" => "first minimal line".into(),
        "starting_new_kernel" => "Starting new kernel".into(),
        "target_marker" => "target marker".into(),
        other => match (other.strip_prefix("hopboot."), other.strip_prefix("minimal.")) {
            (Some(stage), _) => format!("hopboot {stage}"),
            (_, Some(stage)) => format!("minimal {stage}"),
            _ => other.into(),
        },
    }
}

/// A JSON value, written by hand (the harness has no serde).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A number; non-finite values are written as `null`.
    Num(f64),
    /// An unsigned integer.
    Int(u64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Seconds, to the millisecond (host timestamps are no finer).
    fn secs(x: f64) -> Json {
        Json::Num((x * 1e3).round() / 1e3)
    }

    /// Kernel timestamps keep their microseconds.
    fn micros(x: f64) -> Json {
        Json::Num((x * 1e6).round() / 1e6)
    }

    fn ratio(x: f64) -> Json {
        Json::Num((x * 1e3).round() / 1e3)
    }

    /// The value of `key` in an object.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Pretty-printed, two spaces per level; short arrays of scalars stay on one line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d));
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => write_json_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    item.write(out, depth + 1);
                }
                pad(out, depth);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    write_json_string(out, k);
                    out.push_str(": ");
                    v.write(out, depth + 1);
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2024-05-01T12:34:56Z` for a time since the Unix epoch.
pub fn iso8601(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (mut days, rem) = (secs / 86_400, secs % 86_400);
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Boots `cfg` until the marker, a fatal line, QEMU's exit, `silence` without serial output
/// (a bootloader waiting at its menu after a failure) or `timeout`. Returns the serial lines
/// and, on failure, why.
fn boot(cfg: &VmConfig, timeout: Duration, silence: Duration) -> Result<(Vec<Line>, Option<String>)> {
    let spawned = Instant::now();
    let mut vm = Vm::spawn(cfg)?;
    let deadline = spawned + timeout;
    let mut scanned = 0;
    let error = loop {
        if vm.wait_for(MARKER, Duration::from_millis(500)).is_ok() {
            break None;
        }
        let lines = vm.lines();
        if let Some(fatal) = lines
            .get(scanned..)
            .unwrap_or_default()
            .iter()
            .find(|l| FATAL.iter().any(|f| l.text.contains(f)))
        {
            break Some(format!("at {:.1}s: {}", fatal.t.as_secs_f64(), fatal.text.trim()));
        }
        scanned = lines.len();
        if vm.wait_exit(Duration::ZERO).is_ok() {
            // The reader may still hold the last lines: one more look once it reaches EOF.
            if vm.wait_for(MARKER, Duration::from_secs(5)).is_ok() {
                break None;
            }
            let status = vm.wait_exit(Duration::ZERO).map(|s| s.to_string()).unwrap_or_default();
            break Some(format!(
                "QEMU exited ({status}) after {} serial lines",
                vm.lines().len()
            ));
        }
        let last = lines
            .last()
            .cloned()
            .into_iter()
            .chain(vm.partial_line())
            .max_by_key(|l| l.t);
        if let Some(last) = last {
            let quiet = spawned.elapsed().saturating_sub(last.t);
            if quiet >= silence {
                let text: String = vm::strip_ansi(last.text.trim()).chars().take(120).collect();
                break Some(format!(
                    "no serial output for {:.0}s after {:.1}s: {text}",
                    quiet.as_secs_f64(),
                    last.t.as_secs_f64()
                ));
            }
        }
        if Instant::now() >= deadline {
            break Some(format!("no marker after {:.0}s", timeout.as_secs_f64()));
        }
    };
    if error.is_none() {
        // The target powers off right after the marker; give it a moment, then make sure.
        let _ = vm.wait_exit(Duration::from_secs(30));
    }
    vm.kill();
    Ok((vm.lines(), error))
}

/// The command line with `hopboot.timeout=0` replaced by a long countdown.
fn with_menu_countdown(append: &str) -> String {
    let mut words: Vec<&str> = append
        .split_whitespace()
        .filter(|w| !w.starts_with("hopboot.timeout="))
        .collect();
    words.push("hopboot.timeout=60");
    words.join(" ")
}

/// Boots to hopboot's menu, waits until the countdown has preloaded the default entry
/// (its `stage=kexec_loaded` line), presses Enter and returns the seconds from the key
/// to the kernel's "Starting new kernel" line.
fn enter_to_kexec(cfg: &VmConfig, timeout: Duration) -> Result<f64, String> {
    let spawned = Instant::now();
    let mut vm = Vm::spawn(cfg).map_err(|e| format!("{e:#}"))?;
    let result = (|| {
        vm.wait_for("stage=kexec_loaded", timeout)?;
        // The line is printed when the load returns; the menu then goes back to reading keys.
        std::thread::sleep(Duration::from_millis(200));
        vm.send(b"\r")?;
        let pressed = spawned.elapsed();
        let line = vm.wait_for("kexec_core: Starting new kernel", Duration::from_secs(60))?;
        anyhow::Ok(line.t.saturating_sub(pressed).as_secs_f64())
    })()
    .map_err(|e| format!("{e:#}"));
    vm.kill();
    result
}

/// A boot configuration for runs of one kind.
struct Setup {
    kind: Kind,
    cfg: VmConfig,
}

impl Setup {
    fn run(&self, index: u32, memory_mib: u32, out: &Path, timeout: Duration, silence: Duration) -> Result<Run> {
        let mut cfg = self.cfg.clone();
        cfg.memory_mib = memory_mib;
        let log = match self.kind {
            Kind::Bootloader if memory_mib == self.cfg.memory_mib => format!("run-{index:02}.log"),
            Kind::Bootloader => format!("memory-{memory_mib}.log"),
            Kind::Minimal => format!("minimal-{index:02}.log"),
            Kind::Direct => format!("direct-{index:02}.log"),
        };
        cfg.log = Some(out.join("logs").join(log));
        let (lines, error) = boot(&cfg, timeout, silence)?;
        let timeline = Timeline::from_lines_of(&lines, self.kind);
        let error = error.or_else(|| timeline.total().is_none().then(|| "no marker line".to_owned()));
        Ok(Run {
            index,
            kind: self.kind,
            memory_mib,
            error,
            timeline,
        })
    }
}

/// Builds the standard hopboot initramfs with `compression`, with or without modules.
fn build_image(binary: &Path, modules_dir: &Path, compression: Compression, modules: bool, out: &Path) -> Result<u64> {
    let report = build(&ImageOptions {
        binary: binary.to_path_buf(),
        modules_dir: Some(modules_dir.to_path_buf()),
        modules: if modules {
            MODULES.iter().map(|m| m.to_string()).collect()
        } else {
            Vec::new()
        },
        filesystems: Vec::new(),
        extra: Vec::new(),
        compression,
        mtime: 0,
        output: out.to_path_buf(),
    })
    .with_context(|| format!("building {}", out.display()))?;
    Ok(report.compressed_bytes)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Runs the whole benchmark and writes `summary.json`, `timeline.svg` (and `timeline.png` when
/// `rsvg-convert` is installed) to `opts.out`.
pub fn run(opts: &Options) -> Result<Summary> {
    ensure!(opts.runs >= 1, "--runs must be at least 1");
    ensure!(
        !opts.append.split_whitespace().any(|w| w == "quiet"),
        "the kernel command line contains `quiet`, which hides \"Run /init\" and \"Starting new kernel\""
    );
    let out = &opts.out;
    std::fs::create_dir_all(out.join("logs")).with_context(|| format!("creating {}", out.display()))?;
    let standard = opts.initramfs.is_none();
    // The minimal reference takes its modules from the Debian kernel tree.
    let needs_debian = opts.kernel.is_none() || standard || opts.disk.is_none() || opts.reference_minimal;
    let debian = if needs_debian {
        Some(kernel::debian_kernel()?)
    } else {
        None
    };
    let kernel_path = match (&opts.kernel, &debian) {
        (Some(k), _) => k.clone(),
        (None, Some(d)) => d.vmlinuz.clone(),
        (None, None) => bail!("no kernel"),
    };

    let mut sizes = None;
    let initramfs = match (&opts.initramfs, &debian) {
        (Some(i), _) => i.clone(),
        (None, Some(d)) => {
            let binary = paths::musl_bin("hopboot")?;
            let path = out.join("hopboot-initramfs.cpio.gz");
            eprintln!("bench: building {}", path.display());
            let with = build_image(&binary, &d.modules_dir, Compression::Gzip, true, &path)?;
            if opts.sizes {
                let mut images = Vec::new();
                for c in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
                    let dir = out.join("sizes");
                    let name = |m: &str| dir.join(format!("hopboot-initramfs-{m}.cpio.{}", c.name()));
                    let with_modules = match c {
                        Compression::Gzip => with,
                        _ => build_image(&binary, &d.modules_dir, c, true, &name("modules"))?,
                    };
                    let without_modules = build_image(&binary, &d.modules_dir, c, false, &name("bare"))?;
                    images.push(ImageSize {
                        compression: c,
                        with_modules,
                        without_modules,
                    });
                }
                let binary_bytes = std::fs::metadata(&binary)
                    .with_context(|| format!("reading {}", binary.display()))?
                    .len();
                sizes = Some(Sizes { binary_bytes, images });
            }
            path
        }
        (None, None) => bail!("no kernel modules for the standard initramfs"),
    };

    let mut direct_append = "console=ttyS0 panic=-1".to_owned();
    let disk = match (&opts.disk, &debian) {
        (Some(d), _) => d.clone(),
        (None, Some(k)) => {
            let path = out.join("demo-grub.img");
            eprintln!("bench: building {}", path.display());
            let info = demo::demo_disk(&path, k, Demo::Grub)?;
            // What the demo's grub.cfg gives the target kernel (plus panic=-1 so a failure ends QEMU).
            direct_append = format!("BOOT_IMAGE={} {} panic=-1", info.expected_kernel, info.expected_cmdline);
            info.disk
        }
        (None, None) => bail!("no kernel for the demo disk"),
    };

    let attach = DiskAttach::new(&disk).read_only();
    let mut cfg = VmConfig::new(&kernel_path, &initramfs, &opts.append).with_disk(attach.clone());
    cfg.memory_mib = opts.memory_mib;
    let bootloader = Setup {
        kind: Kind::Bootloader,
        cfg,
    };
    let mut minimal_image = None;
    let reference = match (opts.reference_minimal, &debian) {
        (true, Some(d)) => {
            eprintln!("bench: building the minimal-kexec reference from {}", minimal::SOURCE);
            let image = minimal::build(out, &d.modules_dir)?;
            eprintln!(
                "bench: {} ({} bytes; modules {})",
                image.initramfs.display(),
                image.initramfs_bytes,
                image.modules.join(" ")
            );
            // The same kernel, command line, disk and memory as the bootloader under test.
            let mut cfg = VmConfig::new(&kernel_path, &image.initramfs, &opts.append).with_disk(attach.clone());
            cfg.memory_mib = opts.memory_mib;
            minimal_image = Some(image);
            Some(Setup {
                kind: Kind::Minimal,
                cfg,
            })
        }
        (true, None) => bail!("--reference-minimal needs the Debian kernel's modules"),
        (false, _) => None,
    };
    let direct = if opts.baseline_direct {
        let target = out.join("target-initramfs.cpio.gz");
        target::target_initramfs(&target)?;
        let mut cfg = VmConfig::new(&kernel_path, &target, direct_append).with_disk(attach);
        cfg.memory_mib = opts.memory_mib;
        Some(Setup {
            kind: Kind::Direct,
            cfg,
        })
    } else {
        None
    };

    let label = opts.label.clone().unwrap_or_else(|| match &opts.initramfs {
        None => "hopboot".to_owned(),
        Some(p) => file_name(p),
    });
    let mut summary = Summary {
        label,
        date: iso8601(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()),
        accel: vm::accel().to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_mib: opts.memory_mib,
        append: opts.append.clone(),
        standard_build: standard,
        runs: Vec::new(),
        sizes,
        memory: None,
        minimal: minimal_image,
        enter: Vec::new(),
    };

    // One QEMU at a time: under TCG each takes a whole core. Interleaved, so that a slow phase
    // of the host hits every kind alike: bootloader, minimal, direct, bootloader, …
    for i in 1..=opts.runs {
        for setup in std::iter::once(&bootloader)
            .chain(reference.as_ref())
            .chain(direct.as_ref())
        {
            let run = setup.run(i, opts.memory_mib, out, opts.timeout, RUN_SILENCE)?;
            let t = &run.timeline;
            eprintln!(
                "bench: {} run {i}/{}: total {}, decision window {}{}",
                run.kind.name(),
                opts.runs,
                t.total().map_or("-".into(), |x| format!("{x:.2}s")),
                t.decision_window().map_or("-".into(), |x| format!("{x:.2}s")),
                run.error.as_ref().map_or(String::new(), |e| format!(" FAILED: {e}"))
            );
            summary.runs.push(run);
        }
    }

    for i in 1..=opts.enter_runs {
        let mut cfg = bootloader.cfg.clone();
        cfg.append = with_menu_countdown(&cfg.append);
        cfg.log = Some(out.join("logs").join(format!("enter-{i:02}.log")));
        let r = enter_to_kexec(&cfg, opts.timeout);
        eprintln!(
            "bench: enter run {i}/{}: {}",
            opts.enter_runs,
            match &r {
                Ok(s) => format!("Enter → Starting new kernel {:.0} ms", s * 1000.0),
                Err(e) => format!("FAILED: {e}"),
            }
        );
        summary.enter.push(r);
    }

    if opts.memory_search {
        match summary.total() {
            Some(total) => {
                // A probe gets twice the slowest timed boot (at least a minute) before it counts as failed.
                let timeout = Duration::from_secs_f64((total.max * 2.0).max(60.0)).min(opts.timeout);
                let search = search_memory(MEMORY_FLOOR_MIB, opts.memory_mib, 8, MEMORY_PROBES, |mib| {
                    let result = match bootloader.run(0, mib, out, timeout, PROBE_SILENCE) {
                        Ok(run) if run.ok() => Ok(()),
                        Ok(run) => Err(run.error.unwrap_or_else(|| "no marker".into())),
                        Err(e) => Err(format!("{e:#}")),
                    };
                    eprintln!(
                        "bench: memory {mib} MiB: {}",
                        result
                            .as_ref()
                            .map_or_else(|e| format!("fails ({e})"), |()| "boots".into())
                    );
                    result
                });
                summary.memory = Some(search);
            }
            None => eprintln!("bench: no timed run reached the marker; skipping the memory search"),
        }
    }

    let json_path = out.join("summary.json");
    std::fs::write(&json_path, summary.json().render()).with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = out.join("timeline.svg");
    std::fs::write(&svg_path, svg::render(&summary.chart()))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let png = out.join("timeline.png");
    let converted = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(&svg_path)
        .output()
        .is_ok_and(|o| o.status.success());
    eprintln!(
        "bench: wrote {}, {}{}",
        json_path.display(),
        svg_path.display(),
        if converted {
            format!(", {}", png.display())
        } else {
            String::new()
        }
    );
    if summary.ok_runs(Kind::Bootloader).next().is_none() {
        print!("{}", summary.table());
        bail!(
            "no run reached the target marker (serial logs in {})",
            out.join("logs").display()
        );
    }
    if reference.is_some() && summary.ok_runs(Kind::Minimal).next().is_none() {
        print!("{}", summary.table());
        bail!(
            "no run of the minimal reference reached the target marker (serial logs in {}/minimal-*.log)",
            out.join("logs").display()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shortened real transcript (Debian 6.1 kernel, hopboot, demo GRUB disk), host times in
    /// the first column as the harness records them.
    const TRANSCRIPT: &str = "\
6.564 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
6.565 [    0.000000] Command line: console=ttyS0 panic=-1 hopboot.wait=20 hopboot.timeout=0
9.930 [    3.740000] Freeing unused kernel image (rodata/data gap) memory: 1300K
9.939 [    3.744975] Run /init as init process
10.052 [    3.857810] hopboot: hopboot 0.1.0 started as PID 1 (stage=start t=46ms)
10.206 [    4.012193] hopboot: loaded 6 modules (0 already present, 0 failed) (stage=modules t=202ms)
10.210 [    4.015000] hopboot: block devices: none (stage=devices t=206ms)
10.219 [    4.024957] hopboot: block devices: /dev/vda (stage=devices t=215ms)
10.313 [    4.118811] hopboot: found 2 entries on 1 filesystems (stage=entries t=309ms)
10.315 [    4.120354] hopboot: booting 'Debian GNU/Linux' from vda1: /boot/vmlinuz-6.1.0-56-amd64 BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default (stage=chosen t=311ms)
12.564 [    6.370513] hopboot: kernel loaded (stage=kexec_loaded t=2561ms)
12.570 [    6.380000] kexec_core: Starting new kernel
19.727 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
19.728 [    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default
23.026 [    3.765115] Run /init as init process
23.159 HOPBOOT-TARGET-MARKER cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=4b0b0057 ro console=ttyS0 hopboot.demo=grub-default
";

    fn lines(transcript: &str) -> Vec<Line> {
        transcript
            .lines()
            .map(|l| {
                let (t, text) = l.split_once(' ').unwrap();
                Line {
                    t: Duration::from_secs_f64(t.parse().unwrap()),
                    text: text.to_owned(),
                }
            })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn timeline_of_a_hopboot_boot() {
        let t = Timeline::from_lines(&lines(TRANSCRIPT));
        let names: Vec<&str> = t.milestones.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "first_kernel_line",
                "run_init",
                "hopboot_first_line",
                "hopboot.start",
                "hopboot.modules",
                "hopboot.devices",
                "hopboot.entries",
                "hopboot.chosen",
                "hopboot.kexec_loaded",
                "starting_new_kernel",
                "target_marker",
            ]
        );
        // The first "Run /init", not the target kernel's.
        assert!(close(t.get("run_init").unwrap().t_s, 9.939));
        assert_eq!(t.get("run_init").unwrap().kernel_s, Some(3.744975));
        // A repeated stage counts from its first line.
        assert_eq!(t.get("hopboot.devices").unwrap().hopboot_ms, Some(206));
        assert_eq!(t.get("hopboot.kexec_loaded").unwrap().hopboot_ms, Some(2561));
        assert_eq!(t.get("target_marker").unwrap().kernel_s, None);
        assert!(close(t.decision_window().unwrap(), 12.570 - 9.939));
        assert!(close(t.kernel_decision_window().unwrap(), 6.38 - 3.744975));
        assert!(close(t.total().unwrap(), 23.159));

        let segs = t.segments();
        // hopboot's first line is its stage=start line: one segment, not a zero-length one.
        let pairs: Vec<(&str, &str)> = segs.iter().map(|s| (s.from.as_str(), s.to.as_str())).collect();
        assert_eq!(pairs[0], ("qemu_start", "first_kernel_line"));
        assert_eq!(pairs[2], ("run_init", "hopboot.start"));
        assert_eq!(pairs[3], ("hopboot.start", "hopboot.modules"));
        assert_eq!(*pairs.last().unwrap(), ("starting_new_kernel", "target_marker"));
        assert_eq!(segs.len(), 10);
        for w in segs.windows(2) {
            assert!(close(w[0].end, w[1].start));
        }
    }

    #[test]
    fn timeline_of_a_foreign_bootloader_needs_only_kernel_lines() {
        let text = "\
1.0 [    0.000000] Linux version 6.1.0
4.0 [    3.000000] Run /init as init process
4.5 some other loader: scanning (stage=x is not ours)
9.0 [    8.000000] kexec_core: Starting new kernel
15.0 [    3.000000] Run /init as init process
15.5 HOPBOOT-TARGET-MARKER cmdline=x
";
        let t = Timeline::from_lines(&lines(text));
        let names: Vec<&str> = t.milestones.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["first_kernel_line", "run_init", "starting_new_kernel", "target_marker"]
        );
        assert!(close(t.decision_window().unwrap(), 5.0));
        assert!(close(t.total().unwrap(), 15.5));

        // A boot that never got past the first kernel.
        let t = Timeline::from_lines(&lines(
            "1.0 [    0.000000] Linux version\n2.0 [    1.0] Kernel panic - not syncing: x\n",
        ));
        assert_eq!(t.milestones.len(), 1);
        assert_eq!(t.decision_window(), None);
        assert_eq!(t.total(), None);
    }

    #[test]
    fn parses_stage_suffixes() {
        assert_eq!(
            parse_stage("[ 1.0] hopboot: kernel loaded (stage=kexec_loaded t=2561ms)"),
            Some(("kexec_loaded".into(), Some(2561)))
        );
        assert_eq!(
            parse_stage("hopboot: x (stage=devices)"),
            Some(("devices".into(), None))
        );
        assert_eq!(parse_stage("hopboot: no stage here"), None);
        assert_eq!(parse_stage("hopboot: (stage=)"), None);
        assert_eq!(kernel_timestamp("[    3.744975] Run /init"), Some(3.744975));
        assert_eq!(kernel_timestamp("HOPBOOT-TARGET-MARKER"), None);
        assert!(is_run_init("[    3.7] Run /sbin/init as init process"));
        assert!(!is_run_init("[    3.7] Failed to execute /init (error -2)"));
    }

    #[test]
    fn stats_min_median_max() {
        assert_eq!(Stats::of(&[]), None);
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 2.0, 3.0, 3));
        let s = Stats::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 3.0, 10.0, 4));
        assert_eq!(Stats::of(&[f64::NAN, 5.0]).unwrap().median, 5.0);
    }

    #[test]
    fn memory_search_bisects_within_the_probe_budget() {
        let mut calls = Vec::new();
        let s = search_memory(64, 512, 8, 6, |mib| {
            calls.push(mib);
            if mib >= 150 {
                Ok(())
            } else {
                Err("oom".into())
            }
        });
        assert!(calls.len() <= 6, "{calls:?}");
        let ok = s.min_ok_mib.unwrap();
        assert!(ok >= 150 && ok - s.max_fail_mib <= 16, "{s:?}");
        assert!(s.max_fail_mib < 150);
        assert!(calls.iter().all(|m| *m >= 64 && *m < 512));

        // Everything boots: it walks down to the floor and no further.
        let s = search_memory(64, 512, 8, 20, |_| Ok(()));
        assert_eq!(s.min_ok_mib, Some(64));
        assert_eq!(s.max_fail_mib, 63);
    }

    fn summary() -> Summary {
        let base = lines(TRANSCRIPT);
        let mut runs = Vec::new();
        for (i, shift) in [0.0, 1.0, 0.5].into_iter().enumerate() {
            let shifted: Vec<Line> = base
                .iter()
                .map(|l| Line {
                    t: l.t + Duration::from_secs_f64(shift),
                    text: l.text.clone(),
                })
                .collect();
            runs.push(Run {
                index: i as u32 + 1,
                kind: Kind::Bootloader,
                memory_mib: 512,
                error: None,
                timeline: Timeline::from_lines(&shifted),
            });
        }
        let direct = "1.0 [ 0.0] Linux version\n4.0 [ 3.0] Run /init as init process\n4.2 HOPBOOT-TARGET-MARKER x\n";
        runs.push(Run {
            index: 1,
            kind: Kind::Direct,
            memory_mib: 512,
            error: None,
            timeline: Timeline::from_lines(&lines(direct)),
        });
        runs.push(Run {
            index: 4,
            kind: Kind::Bootloader,
            memory_mib: 512,
            error: Some("no marker after 300s".into()),
            timeline: Timeline::from_lines(&base[..3]),
        });
        Summary {
            label: "hop\"boot".into(),
            date: iso8601(Duration::from_secs(1_700_000_000)),
            accel: "tcg".into(),
            cpus: 2,
            memory_mib: 512,
            append: DEFAULT_APPEND.into(),
            standard_build: true,
            runs,
            sizes: Some(Sizes {
                binary_bytes: 778_864,
                images: vec![ImageSize {
                    compression: Compression::Gzip,
                    with_modules: 462_674,
                    without_modules: 350_000,
                }],
            }),
            memory: Some(MemorySearch {
                min_ok_mib: Some(136),
                max_fail_mib: 128,
                probes: vec![Probe {
                    mib: 128,
                    ok: false,
                    reason: Some("Kernel panic".into()),
                }],
            }),
            minimal: None,
            enter: vec![Ok(0.012), Ok(0.018), Ok(0.015), Err("timed out".into())],
        }
    }

    #[test]
    fn summary_json_has_the_documented_fields() {
        let s = summary();
        let j = s.json();
        let num = |k: &str| match j.get(k) {
            Some(Json::Num(x)) => *x,
            Some(Json::Int(n)) => *n as f64,
            other => panic!("{k}: {other:?}"),
        };
        // Medians over the three successful hopboot runs (shifts 0, 0.5, 1).
        assert!(close(num("decision_window_s"), 2.631));
        assert!(close(num("total_s"), 23.659));
        assert_eq!(num("binary_bytes"), 778_864.0);
        assert_eq!(num("initramfs_bytes"), 462_674.0);
        assert_eq!(num("initramfs_bytes_without_modules"), 350_000.0);
        assert_eq!(num("min_memory_mib"), 136.0);
        assert_eq!(num("cpus"), 2.0);
        assert_eq!(num("runs_ok"), 3.0);
        assert_eq!(num("runs_total"), 4.0);
        assert_eq!(j.get("accel"), Some(&Json::Str("tcg".into())));
        assert_eq!(j.get("date"), Some(&Json::Str("2023-11-14T22:13:20Z".into())));
        for key in ["decision_window", "total"] {
            let stats = j.get(key).unwrap();
            for field in ["min", "median", "max", "n"] {
                assert!(stats.get(field).is_some(), "{key}.{field}");
            }
        }
        assert_eq!(j.get("total").unwrap().get("max"), Some(&Json::Num(24.159)));
        // Enter → kexec over the three boots that got there; the failure is listed.
        let enter = j.get("enter_to_kexec").unwrap();
        assert_eq!(enter.get("median"), Some(&Json::Num(0.015)));
        assert_eq!(enter.get("n"), Some(&Json::Int(3)));
        assert_eq!(
            j.get("enter_to_kexec_errors"),
            Some(&Json::Arr(vec![Json::Str("timed out".into())]))
        );
        assert_eq!(
            with_menu_countdown("console=ttyS0 hopboot.timeout=0 x"),
            "console=ttyS0 x hopboot.timeout=60"
        );
        let stages = j.get("stages").unwrap();
        assert_eq!(stages.get("run_init"), Some(&Json::Num(10.439)));
        assert_eq!(stages.get("hopboot.kexec_loaded"), Some(&Json::Num(13.064)));
        assert_eq!(stages.get("target_marker"), Some(&Json::Num(23.659)));
        let Json::Obj(stage_list) = stages else { panic!() };
        let order: Vec<&str> = stage_list.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order[..4],
            ["first_kernel_line", "run_init", "hopboot_first_line", "hopboot.start"]
        );
        assert_eq!(
            j.get("hopboot_stage_ms").unwrap().get("kexec_loaded"),
            Some(&Json::Num(2561.0))
        );
        let Some(Json::Arr(runs)) = j.get("runs") else { panic!() };
        assert_eq!(runs.len(), 5);
        assert_eq!(runs[4].get("ok"), Some(&Json::Bool(false)));
        let Some(Json::Arr(ms)) = runs[0].get("milestones") else {
            panic!()
        };
        assert_eq!(ms.len(), 11);
        let baseline = j.get("baseline_direct").unwrap();
        assert_eq!(baseline.get("total_s"), Some(&Json::Num(4.2)));
        assert_eq!(baseline.get("ratio_total"), Some(&Json::Num(5.633)));

        let text = j.render();
        assert!(text.starts_with("{\n  \"label\": \"hop\\\"boot\",\n"), "{text}");
        assert!(text.contains("\"decision_window_s\": 2.631,"), "{text}");
        assert!(text.contains("\"kernel_s\": null,"), "{text}");
        assert_eq!(text.matches('{').count(), text.matches('}').count());
        assert_eq!(text.matches('[').count(), text.matches(']').count());
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        write_json_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(Json::Num(f64::NAN).render(), "null\n");
        assert_eq!(Json::Arr(vec![]).render(), "[]\n");
    }

    #[test]
    fn table_and_chart_cover_every_run() {
        let s = summary();
        let table = s.table();
        assert!(table.contains("DECISION WINDOW"), "{table}");
        assert!(table.contains("Run /init → hopboot start"), "{table}");
        assert!(table.contains("136 MiB boots, 128 MiB does not"), "{table}");
        assert!(table.contains("5.63x"), "{table}");
        let chart = s.chart();
        assert_eq!(chart.rows.len(), s.runs.len());
        let svg = svg::render(&chart);
        assert_eq!(svg.matches("<g class=\"row\"").count(), s.runs.len());
        assert!(svg.contains("FAILED"));
    }

    /// The minimal C reference on the same disk (shortened real transcript).
    const MINIMAL_TRANSCRIPT: &str = "\
6.300 [    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2
9.000 [    3.221337] Run /init as init process
9.100 [    3.319525] minimal-kexec: started as PID 1 (stage=start t=5ms)
9.600 [    3.847309] minimal-kexec: loaded 11 modules (stage=modules t=535ms)
9.601 [    3.847838] minimal-kexec: /dev/vda1 is there (stage=disk t=535ms)
9.640 [    3.882150] EXT4-fs (vda1): mounted filesystem without journal. Quota mode: none.
9.650 [    3.891685] minimal-kexec: booting /boot/vmlinuz-6.1.0-56-amd64 initrd /boot/initrd.img-6.1.0-56-amd64: BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 ro
9.651 [    3.892654] minimal-kexec: entry read (stage=entry t=580ms)
11.500 [    5.770547] minimal-kexec: kernel loaded (stage=kexec_loaded t=2458ms)
11.520 [    5.790466] kexec_core: Starting new kernel
22.870 [    2.755179] Run /init as init process
23.043 HOPBOOT-TARGET-MARKER cmdline=BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 ro
";

    #[test]
    fn timeline_of_the_minimal_reference() {
        let t = Timeline::from_lines_of(&lines(MINIMAL_TRANSCRIPT), Kind::Minimal);
        let names: Vec<&str> = t.milestones.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "first_kernel_line",
                "run_init",
                "minimal_first_line",
                "minimal.start",
                "minimal.modules",
                "minimal.disk",
                "minimal.entry",
                "minimal.kexec_loaded",
                "starting_new_kernel",
                "target_marker",
            ]
        );
        assert_eq!(t.get("minimal.kexec_loaded").unwrap().hopboot_ms, Some(2458));
        assert!(close(t.decision_window().unwrap(), 2.52));
        // Read as a hopboot boot, its lines are not stages.
        let t = Timeline::from_lines(&lines(MINIMAL_TRANSCRIPT));
        assert!(t.milestones.iter().all(|m| !m.name.starts_with("minimal")));
        assert!(close(t.decision_window().unwrap(), 2.52));
    }

    #[test]
    fn minimal_reference_ratios() {
        let mut s = summary();
        assert_eq!(s.json().get("reference_minimal"), Some(&Json::Null));
        assert_eq!(s.minimal_ratio(), None);
        // Rounds 1 and 2 of the minimal tool; round 2 is 0.5 s slower in its window.
        for (index, shift) in [(1, 0.0), (2, 0.5)] {
            let mut l = lines(MINIMAL_TRANSCRIPT);
            for line in &mut l[9..] {
                line.t += Duration::from_secs_f64(shift);
            }
            s.runs.push(Run {
                index,
                kind: Kind::Minimal,
                memory_mib: 512,
                error: None,
                timeline: Timeline::from_lines_of(&l, Kind::Minimal),
            });
        }
        s.minimal = Some(minimal::Image {
            initramfs: "minimal-initramfs.cpio.gz".into(),
            initramfs_bytes: 976_068,
            binary_bytes: 686_984,
            modules: vec!["virtio".into(), "ext4".into()],
        });
        let r = s.minimal_ratio().unwrap();
        // hopboot's window is 2.631 s in every round.
        let (r1, r2) = (2.631 / 2.52, 2.631 / 3.02);
        assert_eq!(r.rounds.len(), 2);
        assert!(close(r.rounds[0].1, r1) && close(r.rounds[1].1, r2), "{r:?}");
        assert!(close(r.median_of_rounds.unwrap(), (r1 + r2) / 2.0));
        assert!(close(r.of_medians.unwrap(), 2.631 / 2.77));

        let j = s.json();
        let m = j.get("reference_minimal").unwrap();
        assert_eq!(m.get("runs_ok"), Some(&Json::Int(2)));
        assert_eq!(m.get("decision_window_s"), Some(&Json::Num(2.77)));
        assert_eq!(m.get("decision_window").unwrap().get("n"), Some(&Json::Int(2)));
        let ratio = m.get("ratio_decision_window").unwrap();
        assert_eq!(ratio.get("of_medians"), Some(&Json::Num(0.95)));
        assert!(ratio.get("median_of_rounds").is_some());
        assert_eq!(m.get("stage_ms").unwrap().get("kexec_loaded"), Some(&Json::Num(2458.0)));
        // Run /init → entry: 0.651 s for the minimal tool, 0.376 s (→ chosen) for hopboot.
        assert_eq!(m.get("until_entry").unwrap().get("median"), Some(&Json::Num(0.651)));
        assert_eq!(
            m.get("bootloader_until_entry").unwrap().get("median"),
            Some(&Json::Num(0.376))
        );
        let until = m.get("ratio_until_entry").unwrap();
        assert_eq!(until.get("of_medians"), Some(&Json::Num(0.578)));
        assert_eq!(m.get("initramfs_bytes"), Some(&Json::Int(976_068)));
        // The headline figures stay hopboot's.
        assert_eq!(j.get("decision_window_s"), Some(&Json::Num(2.631)));
        assert_eq!(j.get("runs_total"), Some(&Json::Int(4)));

        let table = s.table();
        assert!(table.contains("MINIMAL DECISION WINDOW"), "{table}");
        assert!(table.contains("minimal start → minimal modules"), "{table}");
        assert!(
            table.contains("(median of 2 rounds), 0.95x (of the medians)"),
            "{table}"
        );
        assert!(table.contains("0.376 s vs 0.651 s, 0.58x"), "{table}");
        let svg = svg::render(&s.chart());
        assert!(svg.contains(">minimal 2</text>"), "{svg}");
        assert!(svg.contains("minimal entry → minimal kexec_loaded"), "{svg}");
    }

    /// A small hand-built result with every part of `summary.json` present: two hopboot rounds
    /// (one more that failed), the minimal reference, a direct boot, sizes, the memory search
    /// and Enter runs.
    fn small_summary() -> Summary {
        const BOOT: &str = "\
1.0 [    0.000000] Linux version 6.1.0
4.0 [    3.000000] Run /init as init process
4.1 [    3.100000] hopboot: started (stage=start t=40ms)
4.5 [    3.500000] hopboot: booting 'x' (stage=chosen t=440ms)
5.25 [    4.250000] hopboot: kernel loaded (stage=kexec_loaded t=1190ms)
5.5 [    4.500000] kexec_core: Starting new kernel
12.0 [    3.000000] Run /init as init process
12.5 HOPBOOT-TARGET-MARKER cmdline=x
";
        const MINIMAL: &str = "\
1.0 [    0.000000] Linux version 6.1.0
4.0 [    3.000000] Run /init as init process
4.2 [    3.200000] minimal-kexec: started as PID 1 (stage=start t=5ms)
4.8 [    3.800000] minimal-kexec: entry read (stage=entry t=605ms)
7.0 [    6.000000] minimal-kexec: kernel loaded (stage=kexec_loaded t=2805ms)
7.125 [    6.125000] kexec_core: Starting new kernel
14.0 HOPBOOT-TARGET-MARKER cmdline=x
";
        const DIRECT: &str = "1.0 [    0.000000] Linux version\n4.0 [    3.000000] Run /init as init process\n6.0 HOPBOOT-TARGET-MARKER x\n";
        let shifted = |text: &str, shift: f64| -> Vec<Line> {
            lines(text)
                .into_iter()
                .map(|l| Line {
                    t: l.t + Duration::from_secs_f64(shift),
                    text: l.text,
                })
                .collect()
        };
        let run = |index, kind, error: Option<&str>, lines: Vec<Line>| Run {
            index,
            kind,
            memory_mib: 512,
            error: error.map(str::to_owned),
            timeline: Timeline::from_lines_of(&lines, kind),
        };
        let runs = vec![
            run(1, Kind::Bootloader, None, shifted(BOOT, 0.0)),
            run(1, Kind::Minimal, None, shifted(MINIMAL, 0.0)),
            run(1, Kind::Direct, None, shifted(DIRECT, 0.0)),
            run(2, Kind::Bootloader, None, shifted(BOOT, 0.5)),
            run(2, Kind::Minimal, None, shifted(MINIMAL, 0.25)),
            run(
                3,
                Kind::Bootloader,
                Some("at 2.0s: Kernel panic - not syncing: \u{1b}[0m\"x\"\\y"),
                shifted(BOOT, 0.0)[..2].to_vec(),
            ),
        ];
        Summary {
            label: "hop\"boot \u{e9}\u{1}".into(),
            date: iso8601(Duration::from_secs(1_700_000_000)),
            accel: "tcg".into(),
            cpus: 2,
            memory_mib: 512,
            append: DEFAULT_APPEND.into(),
            standard_build: true,
            runs,
            sizes: Some(Sizes {
                binary_bytes: 1_127_168,
                images: vec![
                    ImageSize {
                        compression: Compression::Gzip,
                        with_modules: 627_747,
                        without_modules: 554_570,
                    },
                    ImageSize {
                        compression: Compression::Xz,
                        with_modules: 505_920,
                        without_modules: 455_848,
                    },
                ],
            }),
            memory: Some(MemorySearch {
                min_ok_mib: Some(96),
                max_fail_mib: 88,
                probes: vec![
                    Probe {
                        mib: 280,
                        ok: true,
                        reason: None,
                    },
                    Probe {
                        mib: 88,
                        ok: false,
                        reason: Some("Kernel panic".into()),
                    },
                ],
            }),
            minimal: Some(minimal::Image {
                initramfs: "minimal-initramfs.cpio.gz".into(),
                initramfs_bytes: 976_068,
                binary_bytes: 686_984,
                modules: vec!["virtio".into(), "ext4".into()],
            }),
            enter: vec![Ok(0.024), Err("timed out".into()), Ok(0.0215)],
        }
    }

    /// The whole `summary.json` of [`small_summary`], byte for byte: its keys, their order and
    /// nesting are what a consumer reads.
    #[test]
    fn summary_json_is_pinned() {
        let text = small_summary().json().render();
        assert_eq!(text, include_str!("testdata/summary.json"));
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(Duration::from_secs(1_735_689_599)), "2024-12-31T23:59:59Z");
    }
}
