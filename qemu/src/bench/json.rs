//! `summary.json`: every figure of a [`Summary`] and every run's raw timeline, in the shape
//! docs/bench.md documents: keys in the order below, `null` for what was not measured.

use hopboot_image_build::Compression;
use serde::{Serialize, Serializer};

use super::memory::{MemorySearch, Probe};
use super::menu::{self, MenuKind, MenuRatio, MenuRun, PayloadBench};
use super::stats::{Stats, WindowRatio};
use super::summary::{Run, Summary};
use super::timeline::{Kind, Milestone, Timeline};
use super::MEMORY_FLOOR_MIB;
use crate::minimal;

/// Seconds (and ratios), written to the thousandth: host timestamps are no finer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Milli(pub f64);

/// Kernel timestamps, written to the microsecond they have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Micro(pub f64);

impl Serialize for Milli {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((self.0 * 1e3).round() / 1e3)
    }
}

impl Serialize for Micro {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((self.0 * 1e6).round() / 1e6)
    }
}

/// `#[serde(serialize_with)]` for seconds in an `f64` field: [`Milli`].
pub(super) fn milli<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    Milli(*x).serialize(s)
}

/// `#[serde(serialize_with)]` for a kernel timestamp in an `Option<f64>` field: [`Micro`].
pub(super) fn opt_micro<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    x.map(Micro).serialize(s)
}

/// An object whose keys stay in the order given (a `serde_json::Map` would sort them).
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// `value` pretty-printed (two spaces per level), with a final newline.
pub fn render(value: &impl Serialize) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct SummaryJson<'a> {
    label: &'a str,
    date: &'a str,
    accel: &'a str,
    cpus: usize,
    memory_mib: u32,
    append: &'a str,
    standard_build: bool,
    #[serde(flatten)]
    bootloader: KindFigures,
    /// Median seconds from QEMU start of each milestone, by that median.
    stages: Ordered<Milli>,
    hopboot_stage_ms: Ordered<f64>,
    intervals: Vec<Interval>,
    binary_bytes: Option<u64>,
    initramfs_bytes: Option<u64>,
    initramfs_bytes_without_modules: Option<u64>,
    initramfs_sizes: Option<Ordered<ImageBytes>>,
    min_memory_mib: Option<u32>,
    memory_search: Option<MemoryJson<'a>>,
    min_memory_mib_direct: Option<u32>,
    memory_search_direct: Option<MemoryJson<'a>>,
    /// `min_memory_mib - min_memory_mib_direct`.
    memory_overhead_mib: Option<i64>,
    baseline_direct: Option<Baseline>,
    reference_minimal: Option<Reference<'a>>,
    enter_to_kexec: Option<Stats>,
    enter_to_kexec_errors: Vec<&'a str>,
    payload_bytes: Option<u64>,
    payload: Option<PayloadJson<'a>>,
    runs: Vec<RunJson<'a>>,
}

/// `payload`: the payload's sizes and the menu runs.
#[derive(Debug, Serialize)]
struct PayloadJson<'a> {
    file: String,
    #[serde(flatten)]
    info: &'a menu::PayloadInfo,
    append: &'a str,
    debian_append: &'a str,
    runs_total: ByKind<usize>,
    runs_ok: ByKind<usize>,
    /// Median QEMU start → menu shown.
    menu_s: ByKind<Option<Milli>>,
    menu: ByKind<Option<Stats>>,
    /// Payload / Debian.
    ratio: Option<Ratios>,
    goal: Goal,
    phases: ByKind<Ordered<Option<Stats>>>,
    /// The line that ends each phase.
    phase_ends: ByKind<Ordered<&'static str>>,
    early_console: ByKind<Option<bool>>,
    runs: Vec<MenuRunJson<'a>>,
}

/// A value for each kind of menu run.
#[derive(Debug, Serialize)]
struct ByKind<T> {
    payload: T,
    debian: T,
}

impl<T> ByKind<T> {
    fn of(f: impl Fn(MenuKind) -> T) -> ByKind<T> {
        ByKind {
            payload: f(MenuKind::Payload),
            debian: f(MenuKind::Debian),
        }
    }
}

/// Issue 17's goal and whether the medians met it.
#[derive(Debug, Serialize)]
struct Goal {
    menu_s: f64,
    ratio: f64,
    menu_met: Option<bool>,
    ratio_met: Option<bool>,
}

/// One menu run.
#[derive(Debug, Serialize)]
struct MenuRunJson<'a> {
    run: u32,
    kind: MenuKind,
    ok: bool,
    error: Option<&'a str>,
    menu_s: Option<Milli>,
    phases: Ordered<Option<Milli>>,
    early_console: bool,
    milestones: &'a [Milestone],
}

/// The runs of one kind, their decision window and total: the same keys at the top level
/// (the bootloader) and in `reference_minimal`.
#[derive(Debug, Serialize)]
struct KindFigures {
    runs_total: usize,
    runs_ok: usize,
    decision_window_s: Option<Milli>,
    decision_window: Option<Stats>,
    kernel_decision_window: Option<Stats>,
    total_s: Option<Milli>,
    total: Option<Stats>,
}

/// `{from, to, min, median, max, n}`.
#[derive(Debug, Serialize)]
struct Interval {
    from: String,
    to: String,
    #[serde(flatten)]
    stats: Stats,
}

/// One compression of `initramfs_sizes`.
#[derive(Debug, Serialize)]
struct ImageBytes {
    with_modules: u64,
    without_modules: u64,
}

/// `memory_search`.
#[derive(Debug, Serialize)]
struct MemoryJson<'a> {
    floor_mib: u32,
    max_fail_mib: u32,
    probes: &'a [Probe],
}

/// `baseline_direct`.
#[derive(Debug, Serialize)]
struct Baseline {
    total_s: Milli,
    total: Stats,
    ratio_total: Option<Milli>,
    overhead_s: Option<Milli>,
    intervals: Vec<Interval>,
}

/// `reference_minimal`.
#[derive(Debug, Serialize)]
struct Reference<'a> {
    tool: &'static str,
    #[serde(flatten)]
    figures: KindFigures,
    ratio_decision_window: Option<Ratios>,
    ratio_total: Option<Milli>,
    until_entry: Option<Stats>,
    bootloader_until_entry: Option<Stats>,
    ratio_until_entry: Option<Ratios>,
    stage_ms: Ordered<f64>,
    intervals: Vec<Interval>,
    binary_bytes: Option<u64>,
    initramfs_bytes: Option<u64>,
    modules: &'a [String],
}

/// A [`WindowRatio`].
#[derive(Debug, Serialize)]
struct Ratios {
    median_of_rounds: Option<Milli>,
    of_medians: Option<Milli>,
    rounds: Vec<Round>,
}

/// One round of [`Ratios`].
#[derive(Debug, Serialize)]
struct Round {
    round: u32,
    ratio: Milli,
}

/// One entry of `runs`.
#[derive(Debug, Serialize)]
struct RunJson<'a> {
    run: u32,
    kind: Kind,
    ok: bool,
    error: Option<&'a str>,
    memory_mib: u32,
    decision_window_s: Option<Milli>,
    kernel_decision_window_s: Option<Micro>,
    total_s: Option<Milli>,
    milestones: &'a [Milestone],
}

impl From<WindowRatio> for Ratios {
    fn from(r: WindowRatio) -> Ratios {
        Ratios {
            median_of_rounds: r.median_of_rounds.map(Milli),
            of_medians: r.of_medians.map(Milli),
            rounds: r
                .rounds
                .into_iter()
                .map(|(round, x)| Round { round, ratio: Milli(x) })
                .collect(),
        }
    }
}

impl From<MenuRatio> for Ratios {
    fn from(r: MenuRatio) -> Ratios {
        Ratios::from(WindowRatio {
            rounds: r.rounds,
            median_of_rounds: r.median_of_rounds,
            of_medians: r.of_medians,
        })
    }
}

impl<'a> From<&'a MenuRun> for MenuRunJson<'a> {
    fn from(r: &'a MenuRun) -> MenuRunJson<'a> {
        let t = &r.timeline;
        MenuRunJson {
            run: r.index,
            kind: r.kind,
            ok: r.ok(),
            error: r.error.as_deref(),
            menu_s: t.menu().map(Milli),
            phases: Ordered(
                menu::PHASES
                    .iter()
                    .zip(t.phases())
                    .map(|(n, x)| ((*n).to_owned(), x.map(Milli)))
                    .collect(),
            ),
            early_console: t.early_console,
            milestones: &t.milestones,
        }
    }
}

impl<'a> From<&'a PayloadBench> for PayloadJson<'a> {
    fn from(b: &'a PayloadBench) -> PayloadJson<'a> {
        let menu = ByKind::of(|k| b.menu(k));
        let ratio = b.ratio();
        PayloadJson {
            file: b.file.display().to_string(),
            info: &b.info,
            append: &b.append,
            debian_append: &b.debian_append,
            runs_total: ByKind::of(|k| b.runs.iter().filter(|r| r.kind == k).count()),
            runs_ok: ByKind::of(|k| b.ok_runs(k).count()),
            menu_s: ByKind::of(|k| b.menu(k).map(|s| Milli(s.median))),
            goal: Goal {
                menu_s: menu::GOAL_MENU_S,
                ratio: menu::GOAL_RATIO,
                menu_met: menu.payload.map(|s| s.median <= menu::GOAL_MENU_S),
                ratio_met: ratio.as_ref().and_then(|r| r.of_medians).map(|x| x <= menu::GOAL_RATIO),
            },
            menu,
            ratio: ratio.map(Ratios::from),
            phases: ByKind::of(|k| Ordered(b.phases(k).into_iter().map(|(n, s)| (n.to_owned(), s)).collect())),
            phase_ends: ByKind::of(|k| {
                let ends = menu::phase_ends(b.markers(k).map_or("Linux version", |(_, d)| d));
                Ordered(
                    menu::PHASES
                        .iter()
                        .zip(ends)
                        .map(|(n, e)| ((*n).to_owned(), e))
                        .collect(),
                )
            }),
            early_console: ByKind::of(|k| b.early_console(k)),
            runs: b.runs.iter().map(MenuRunJson::from).collect(),
        }
    }
}

impl<'a> From<&'a MemorySearch> for MemoryJson<'a> {
    fn from(m: &'a MemorySearch) -> MemoryJson<'a> {
        MemoryJson {
            floor_mib: MEMORY_FLOOR_MIB,
            max_fail_mib: m.max_fail_mib,
            probes: &m.probes,
        }
    }
}

impl<'a> From<&'a Run> for RunJson<'a> {
    fn from(r: &'a Run) -> RunJson<'a> {
        let t = &r.timeline;
        RunJson {
            run: r.index,
            kind: r.kind,
            ok: r.ok(),
            error: r.error.as_deref(),
            memory_mib: r.memory_mib,
            decision_window_s: t.decision_window().map(Milli),
            kernel_decision_window_s: t.kernel_decision_window().map(Micro),
            total_s: t.total().map(Milli),
            milestones: &t.milestones,
        }
    }
}

impl Summary {
    /// `summary.json`, ready for [`render`].
    pub fn json(&self) -> SummaryJson<'_> {
        let figures = |kind: Kind| {
            let window = self.decision_window(kind);
            let total = self.total(kind);
            KindFigures {
                runs_total: self.runs_of(kind).count(),
                runs_ok: self.ok_runs(kind).count(),
                decision_window_s: window.map(|s| Milli(s.median)),
                decision_window: window,
                kernel_decision_window: self.stat(kind, Timeline::kernel_decision_window),
                total_s: total.map(|s| Milli(s.median)),
                total,
            }
        };
        let intervals = |kind| {
            self.intervals(kind)
                .into_iter()
                .map(|(from, to, stats)| Interval { from, to, stats })
                .collect()
        };
        let stage_ms = |kind| Ordered(self.stage_ms(kind).into_iter().map(|(n, ms)| (n, ms.round())).collect());
        let sizes = self.sizes.as_ref();
        let gzip = sizes.and_then(|s| s.image(Compression::Gzip));
        let total = self.total(Kind::Bootloader);
        let baseline = self.total(Kind::Direct).map(|direct| Baseline {
            total_s: Milli(direct.median),
            total: direct,
            ratio_total: total.map(|t| Milli(t.median / direct.median)),
            overhead_s: total.map(|t| Milli(t.median - direct.median)),
            intervals: intervals(Kind::Direct),
        });
        let reference = (self.minimal.is_some() || self.runs_of(Kind::Minimal).next().is_some()).then(|| {
            let m = self.minimal.as_ref();
            let total_ratio = total.zip(self.total(Kind::Minimal)).map(|(t, m)| t.median / m.median);
            Reference {
                tool: minimal::SOURCE,
                figures: figures(Kind::Minimal),
                ratio_decision_window: self.minimal_ratio().map(Ratios::from),
                ratio_total: total_ratio.map(Milli),
                until_entry: self.until_entry(Kind::Minimal),
                bootloader_until_entry: self.until_entry(Kind::Bootloader),
                ratio_until_entry: self.minimal_ratio_until_entry().map(Ratios::from),
                stage_ms: stage_ms(Kind::Minimal),
                intervals: intervals(Kind::Minimal),
                binary_bytes: m.map(|m| m.binary_bytes),
                initramfs_bytes: m.map(|m| m.initramfs_bytes),
                modules: m.map_or(&[], |m| &m.modules),
            }
        });
        SummaryJson {
            label: &self.label,
            date: &self.date,
            accel: &self.accel,
            cpus: self.cpus,
            memory_mib: self.memory_mib,
            append: &self.append,
            standard_build: self.standard_build,
            bootloader: figures(Kind::Bootloader),
            stages: Ordered(self.stage_medians().into_iter().map(|(n, t)| (n, Milli(t))).collect()),
            hopboot_stage_ms: stage_ms(Kind::Bootloader),
            intervals: intervals(Kind::Bootloader),
            binary_bytes: sizes.map(|s| s.binary_bytes),
            initramfs_bytes: gzip.map(|g| g.with_modules),
            initramfs_bytes_without_modules: gzip.map(|g| g.without_modules),
            initramfs_sizes: sizes.map(|s| {
                Ordered(
                    s.images
                        .iter()
                        .map(|i| {
                            let bytes = ImageBytes {
                                with_modules: i.with_modules,
                                without_modules: i.without_modules,
                            };
                            (i.compression.name().to_owned(), bytes)
                        })
                        .collect(),
                )
            }),
            min_memory_mib: self.memory.as_ref().and_then(|m| m.min_ok_mib),
            memory_search: self.memory.as_ref().map(MemoryJson::from),
            min_memory_mib_direct: self.memory_direct.as_ref().and_then(|m| m.min_ok_mib),
            memory_search_direct: self.memory_direct.as_ref().map(MemoryJson::from),
            memory_overhead_mib: self.memory_overhead_mib(),
            baseline_direct: baseline,
            reference_minimal: reference,
            enter_to_kexec: self.enter_stats(),
            enter_to_kexec_errors: self
                .enter
                .iter()
                .filter_map(|r| r.as_ref().err())
                .map(String::as_str)
                .collect(),
            payload_bytes: self.payload.as_ref().map(|p| p.info.payload_bytes),
            payload: self.payload.as_ref().map(PayloadJson::from),
            runs: self.runs.iter().map(RunJson::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::bench::fixtures::*;

    /// The JSON of `s`, to look values up by key.
    fn value(s: &Summary) -> Value {
        serde_json::to_value(s.json()).unwrap()
    }

    #[test]
    fn summary_json_has_the_documented_fields() {
        let s = summary();
        let j = value(&s);
        let num = |k: &str| match j.get(k) {
            Some(Value::Number(x)) => x.as_f64().unwrap(),
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
        assert_eq!(j.get("accel"), Some(&json!("tcg")));
        assert_eq!(j.get("date"), Some(&json!("2023-11-14T22:13:20Z")));
        for key in ["decision_window", "total"] {
            let stats = j.get(key).unwrap();
            for field in ["min", "median", "max", "n"] {
                assert!(stats.get(field).is_some(), "{key}.{field}");
            }
        }
        assert_eq!(j.get("total").unwrap().get("max"), Some(&json!(24.159)));
        // Enter → kexec over the three boots that got there; the failure is listed.
        let enter = j.get("enter_to_kexec").unwrap();
        assert_eq!(enter.get("median"), Some(&json!(0.015)));
        assert_eq!(enter.get("n"), Some(&json!(3)));
        assert_eq!(j.get("enter_to_kexec_errors"), Some(&json!(["timed out"])));
        let stages = j.get("stages").unwrap();
        assert_eq!(stages.get("run_init"), Some(&json!(10.439)));
        assert_eq!(stages.get("hopboot.kexec_loaded"), Some(&json!(13.064)));
        assert_eq!(stages.get("target_marker"), Some(&json!(23.659)));
        // Key order is lost in a `Value`; it is the view's.
        let stage_list = s.json().stages.0;
        let order: Vec<&str> = stage_list.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            order[..4],
            ["first_kernel_line", "run_init", "hopboot_first_line", "hopboot.start"]
        );
        assert_eq!(
            j.get("hopboot_stage_ms").unwrap().get("kexec_loaded"),
            Some(&json!(2561.0))
        );
        let Some(Value::Array(runs)) = j.get("runs") else {
            panic!()
        };
        assert_eq!(runs.len(), 5);
        assert_eq!(runs[4].get("ok"), Some(&json!(false)));
        let Some(Value::Array(ms)) = runs[0].get("milestones") else {
            panic!()
        };
        assert_eq!(ms.len(), 11);
        let baseline = j.get("baseline_direct").unwrap();
        assert_eq!(baseline.get("total_s"), Some(&json!(4.2)));
        assert_eq!(baseline.get("ratio_total"), Some(&json!(5.633)));

        let text = render(&s.json()).unwrap();
        assert!(text.starts_with("{\n  \"label\": \"hop\\\"boot\",\n"), "{text}");
        assert!(text.contains("\"decision_window_s\": 2.631,"), "{text}");
        assert!(text.contains("\"kernel_s\": null,"), "{text}");
        assert_eq!(text.matches('{').count(), text.matches('}').count());
        assert_eq!(text.matches('[').count(), text.matches(']').count());
    }

    #[test]
    fn json_strings_are_escaped() {
        let s = serde_json::to_string("a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(render(&Milli(f64::NAN)).unwrap(), "null\n");
        assert_eq!(render(&Vec::<Milli>::new()).unwrap(), "[]\n");
    }

    #[test]
    fn minimal_reference_json() {
        let mut s = summary();
        assert_eq!(value(&s).get("reference_minimal"), Some(&Value::Null));
        add_minimal_runs(&mut s);
        let j = value(&s);
        let m = j.get("reference_minimal").unwrap();
        assert_eq!(m.get("runs_ok"), Some(&json!(2)));
        assert_eq!(m.get("decision_window_s"), Some(&json!(2.77)));
        assert_eq!(m.get("decision_window").unwrap().get("n"), Some(&json!(2)));
        let ratio = m.get("ratio_decision_window").unwrap();
        assert_eq!(ratio.get("of_medians"), Some(&json!(0.95)));
        assert!(ratio.get("median_of_rounds").is_some());
        assert_eq!(m.get("stage_ms").unwrap().get("kexec_loaded"), Some(&json!(2458.0)));
        // Run /init → entry: 0.651 s for the minimal tool, 0.376 s (→ chosen) for hopboot.
        assert_eq!(m.get("until_entry").unwrap().get("median"), Some(&json!(0.651)));
        assert_eq!(
            m.get("bootloader_until_entry").unwrap().get("median"),
            Some(&json!(0.376))
        );
        let until = m.get("ratio_until_entry").unwrap();
        assert_eq!(until.get("of_medians"), Some(&json!(0.578)));
        assert_eq!(m.get("initramfs_bytes"), Some(&json!(976_068)));
        // The headline figures stay hopboot's.
        assert_eq!(j.get("decision_window_s"), Some(&json!(2.631)));
        assert_eq!(j.get("runs_total"), Some(&json!(4)));
    }

    /// The whole `summary.json` of [`small_summary`], byte for byte: its keys, their order and
    /// nesting are what a consumer reads.
    #[test]
    fn summary_json_is_pinned() {
        let text = render(&small_summary().json()).unwrap();
        assert_eq!(text, include_str!("testdata/summary.json"));
    }
}
