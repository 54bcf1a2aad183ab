//! `summary.json`: every figure of a [`Summary`] and every run's raw timeline.

use std::fmt::Write as _;

use hopboot_image_build::Compression;

use super::stats::{Stats, WindowRatio};
use super::summary::{Run, Summary};
use super::timeline::{Kind, Timeline};
use super::MEMORY_FLOOR_MIB;
use crate::minimal;

impl Summary {
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
}

impl Stats {
    fn json(self) -> Json {
        Json::obj([
            ("min", Json::secs(self.min)),
            ("median", Json::secs(self.median)),
            ("max", Json::secs(self.max)),
            ("n", Json::Int(self.n as u64)),
        ])
    }
}

impl Run {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fixtures::*;

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
    fn minimal_reference_json() {
        let mut s = summary();
        assert_eq!(s.json().get("reference_minimal"), Some(&Json::Null));
        add_minimal_runs(&mut s);
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
    }

    /// The whole `summary.json` of [`small_summary`], byte for byte: its keys, their order and
    /// nesting are what a consumer reads.
    #[test]
    fn summary_json_is_pinned() {
        let text = small_summary().json().render();
        assert_eq!(text, include_str!("testdata/summary.json"));
    }
}
