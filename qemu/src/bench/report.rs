//! The human-readable results: the table printed at the end and the timeline chart
//! (`timeline.svg`).

use std::fmt::Write as _;

use super::stats::Stats;
use super::summary::Summary;
use super::timeline::Kind;
use crate::minimal;
use crate::svg;

impl Summary {
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
        let count = |kind| self.runs_of(kind).count();
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
        let row = |s: &mut String, name: &str, st: &Stats| {
            let _ = writeln!(s, "{name:<52} {:>8.3} {:>8.3} {:>8.3}", st.min, st.median, st.max);
        };
        let own_ms = |s: &mut String, who: &str, kind: Kind| {
            let stages = self.stage_ms(kind);
            if !stages.is_empty() {
                let list: Vec<String> = stages.iter().map(|(n, ms)| format!("{n} {ms:.0}")).collect();
                let _ = writeln!(s, "{who}'s own t= (median ms): {}", list.join(", "));
            }
        };
        let _ = writeln!(
            s,
            "{} ({}, {} host CPUs, {} MiB): {} of {} runs reached the marker",
            self.label,
            self.accel,
            self.cpus,
            self.memory_mib,
            self.ok_runs(Kind::Bootloader).count(),
            self.runs_of(Kind::Bootloader).count()
        );
        let _ = writeln!(s, "{:<52} {:>8} {:>8} {:>8}", "interval (s)", "min", "median", "max");
        for (from, to, st) in self.intervals(Kind::Bootloader) {
            row(&mut s, &format!("{} → {}", display(&from), display(&to)), &st);
        }
        let total = self.total(Kind::Bootloader);
        if let Some(w) = self.decision_window(Kind::Bootloader) {
            row(&mut s, "DECISION WINDOW (Run /init → Starting new kernel)", &w);
        }
        if let Some(t) = total {
            row(&mut s, "TOTAL (QEMU start → target marker)", &t);
        }
        if let Some(d) = self.total(Kind::Direct) {
            row(&mut s, "direct boot, no bootloader (QEMU start → marker)", &d);
            if let Some(t) = total {
                let _ = writeln!(
                    s,
                    "  bootloader total / direct: {:.2}x ({:+.2} s)",
                    t.median / d.median,
                    t.median - d.median
                );
            }
        }
        if let Some(e) = self.enter_stats() {
            row(&mut s, "Enter at the menu (preloaded) → Starting new kernel", &e);
        }
        own_ms(&mut s, "hopboot", Kind::Bootloader);
        let minimal_runs = self.runs_of(Kind::Minimal).count();
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
                row(&mut s, &format!("  {} → {}", display(&from), display(&to)), &st);
            }
            if let Some(w) = self.decision_window(Kind::Minimal) {
                row(&mut s, "MINIMAL DECISION WINDOW", &w);
            }
            if let Some(t) = self.total(Kind::Minimal) {
                row(&mut s, "MINIMAL TOTAL", &t);
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
            own_ms(&mut s, "minimal", Kind::Minimal);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fixtures::*;

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

    #[test]
    fn minimal_reference_table_and_chart() {
        let mut s = summary();
        add_minimal_runs(&mut s);
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
}
