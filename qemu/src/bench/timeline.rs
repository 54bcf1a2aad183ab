//! The milestones of one boot, found in its recorded serial console: the kernel's "Run /init"
//! and "Starting new kernel" lines, the bootloader's `(stage=NAME t=Nms)` lines and the target
//! marker, with the intervals between them.

use hopboot_qemu::target::MARKER;
use hopboot_qemu::vm::{self, Line};
use serde::Serialize;

use super::json;

use crate::minimal;

/// The kernel's `Run %s as init process` (init/main.c), split around the path.
const RUN_INIT: (&str, &str) = ("Run ", " as init process");
/// `pr_notice("Starting new kernel\n")` in kernel/kexec_core.c.
const KEXEC: &str = "kexec_core: Starting new kernel";
/// Prefix of hopboot's kmsg lines.
const HOPBOOT: &str = "hopboot:";

/// One milestone line of a boot. Serialized as in `summary.json`, keys in field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Milestone {
    /// `first_kernel_line`, `run_init`, `hopboot_first_line`, `hopboot.<stage>`,
    /// `starting_new_kernel` or `target_marker` (for the minimal tool, `minimal_first_line` and
    /// `minimal.<stage>` instead of hopboot's).
    pub name: String,
    /// Host seconds since QEMU was spawned.
    #[serde(serialize_with = "json::milli")]
    pub t_s: f64,
    /// The kernel's own `[   1.234567]` timestamp, when the line has one.
    #[serde(serialize_with = "json::opt_micro")]
    pub kernel_s: Option<f64>,
    /// hopboot's own `t=Nms` on a stage line.
    pub hopboot_ms: Option<u64>,
    /// Index of the serial line.
    pub line: usize,
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

/// The kernel's `[    1.234567]` at the start of `text`, and what follows it.
fn split_kernel_timestamp(text: &str) -> Option<(f64, &str)> {
    let (ts, rest) = text.trim_start().strip_prefix('[')?.split_once(']')?;
    Some((ts.trim().parse().ok()?, rest))
}

/// `text` without a leading `[    1.234567] `.
fn strip_kernel_timestamp(text: &str) -> &str {
    let t = text.trim();
    split_kernel_timestamp(t).map_or(t, |(_, rest)| rest.trim_start())
}

/// The kernel's `[    1.234567]` at the start of `text`.
pub(super) fn kernel_timestamp(text: &str) -> Option<f64> {
    split_kernel_timestamp(text).map(|(ts, _)| ts)
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
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Bootloader => "bootloader",
            Kind::Minimal => "minimal",
            Kind::Direct => "direct",
        }
    }

    /// The prefix of the bootloader's log lines and the milestone name its stages get
    /// (`<tag>.<stage>`, `<tag>_first_line`).
    pub(super) fn log(self) -> (&'static str, &'static str) {
        match self {
            Kind::Minimal => (minimal::LOG_PREFIX, "minimal"),
            Kind::Bootloader | Kind::Direct => (HOPBOOT, "hopboot"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fixtures::*;

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
}
