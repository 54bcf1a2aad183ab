//! Minimum, median and maximum, and the figures of a [`Summary`] computed from its runs:
//! windows, totals, stage medians, intervals and the ratios to the minimal reference.

use serde::Serialize;

use super::json;
use super::summary::{Run, Summary};
use super::timeline::{Kind, Timeline};

/// Minimum, median and maximum of some measurements. Serialized as seconds
/// (`{min, median, max, n}` in `summary.json`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Smallest.
    #[serde(serialize_with = "json::milli")]
    pub min: f64,
    /// Middle value (mean of the two middle ones for an even count).
    #[serde(serialize_with = "json::milli")]
    pub median: f64,
    /// Largest.
    #[serde(serialize_with = "json::milli")]
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
    /// The runs of `kind`, in the order they ran.
    pub(super) fn runs_of(&self, kind: Kind) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.kind == kind)
    }

    /// The runs of `kind` that reached the marker.
    pub(super) fn ok_runs(&self, kind: Kind) -> impl Iterator<Item = &Run> {
        self.runs_of(kind).filter(|r| r.ok())
    }

    pub(super) fn stat(&self, kind: Kind, f: impl Fn(&Timeline) -> Option<f64>) -> Option<Stats> {
        let v: Vec<f64> = self.ok_runs(kind).filter_map(|r| f(&r.timeline)).collect();
        Stats::of(&v)
    }

    /// Enter → "Starting new kernel" over the `--enter-runs` boots that got there.
    pub fn enter_stats(&self) -> Option<Stats> {
        let v: Vec<f64> = self.enter.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
        Stats::of(&v)
    }

    /// The bootloader's memory floor less the direct boot's, in MiB; `None` unless both were
    /// searched and found.
    pub fn memory_overhead_mib(&self) -> Option<i64> {
        let floor = |m: &Option<super::memory::MemorySearch>| m.as_ref().and_then(|m| m.min_ok_mib);
        Some(i64::from(floor(&self.memory)?) - i64::from(floor(&self.memory_direct)?))
    }

    /// Decision window over the successful runs of `kind`.
    pub fn decision_window(&self, kind: Kind) -> Option<Stats> {
        self.stat(kind, Timeline::decision_window)
    }

    /// QEMU start → marker over the successful runs of `kind`.
    pub fn total(&self, kind: Kind) -> Option<Stats> {
        self.stat(kind, Timeline::total)
    }

    /// Median host seconds from QEMU start of every milestone of the bootloader runs, sorted by
    /// that median.
    pub fn stage_medians(&self) -> Vec<(String, f64)> {
        let times = self
            .ok_runs(Kind::Bootloader)
            .flat_map(|r| &r.timeline.milestones)
            .map(|m| (m.name.as_str(), m.t_s));
        let mut v: Vec<(String, f64)> = by_key(times)
            .into_iter()
            .map(|(name, s)| (name.to_owned(), s.median))
            .collect();
        // Stable on a first-seen order, so that a tie on the median keeps boot order.
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        v
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
    pub fn stage_ms(&self, kind: Kind) -> Vec<(String, f64)> {
        let tag = format!("{}.", kind.log().1);
        let ms = self
            .ok_runs(kind)
            .flat_map(|r| &r.timeline.milestones)
            .filter_map(|m| Some((m.name.strip_prefix(&tag)?, m.hopboot_ms? as f64)));
        by_key(ms)
            .into_iter()
            .map(|(stage, s)| (stage.to_owned(), s.median))
            .collect()
    }

    /// Statistics of each interval between consecutive milestones, for runs of `kind`.
    pub fn intervals(&self, kind: Kind) -> Intervals {
        let durations = self
            .ok_runs(kind)
            .flat_map(|r| r.timeline.segments())
            .map(|s| ((s.from, s.to), s.end - s.start));
        by_key(durations)
            .into_iter()
            .map(|((from, to), s)| (from, to, s))
            .collect()
    }
}

/// [`Stats`] of the values of each key, keys in the order they first come.
fn by_key<K: PartialEq>(pairs: impl IntoIterator<Item = (K, f64)>) -> Vec<(K, Stats)> {
    let mut groups: Vec<(K, Vec<f64>)> = Vec::new();
    for (key, x) in pairs {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(x),
            None => groups.push((key, vec![x])),
        }
    }
    groups
        .into_iter()
        .filter_map(|(key, v)| Some((key, Stats::of(&v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fixtures::*;

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
    fn minimal_reference_ratios() {
        let mut s = summary();
        assert_eq!(s.minimal_ratio(), None);
        add_minimal_runs(&mut s);
        let r = s.minimal_ratio().unwrap();
        // hopboot's window is 2.631 s in every round.
        let (r1, r2) = (2.631 / 2.52, 2.631 / 3.02);
        assert_eq!(r.rounds.len(), 2);
        assert!(close(r.rounds[0].1, r1) && close(r.rounds[1].1, r2), "{r:?}");
        assert!(close(r.median_of_rounds.unwrap(), (r1 + r2) / 2.0));
        assert!(close(r.of_medians.unwrap(), 2.631 / 2.77));
    }
}
