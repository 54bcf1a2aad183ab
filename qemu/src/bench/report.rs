//! The human-readable results: the table printed at the end and the timeline chart
//! (`timeline.svg`).

use std::fmt::Write as _;

use super::menu::{self, MenuKind, PayloadBench};
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
        // The menu runs (`--payload`): one bar per phase.
        for r in self.payload.iter().flat_map(|p| &p.runs) {
            let mut bars = Vec::new();
            let mut start = 0.0;
            for (name, d) in menu::PHASES.iter().zip(r.timeline.phases()) {
                let Some(d) = d else { break };
                let key = format!("menu>{name}");
                if !legend.iter().any(|(k, _)| *k == key) {
                    legend.push((key.clone(), format!("menu run: {}", name.replace('_', " "))));
                }
                bars.push(svg::Bar {
                    key,
                    start,
                    end: start + d,
                });
                start += d;
            }
            let mut note = r
                .timeline
                .menu()
                .map_or("no menu".to_owned(), |m| format!("menu at {m:.2} s"));
            if r.error.is_some() {
                note = format!("FAILED: {note}");
            }
            rows.push(svg::Row {
                label: format!("{} menu {}", r.kind.name(), r.index),
                bars,
                window: None,
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
        let menus = match self.payload.as_ref().map_or(0, |p| p.runs.len()) {
            0 => String::new(),
            n => format!(" + {n} to the menu (payload, Debian kernel)"),
        };
        let subtitle = format!(
            "{} bootloader runs{reference}{direct}{menus}, {}, {} host CPUs, {} MiB guest, {}",
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
        if let Some(m) = &self.memory_direct {
            let probes: Vec<String> = m
                .probes
                .iter()
                .map(|p| format!("{}{}", p.mib, if p.ok { "✓" } else { "✗" }))
                .collect();
            let floor = m
                .min_ok_mib
                .map_or("unknown".to_owned(), |ok| format!("{ok} MiB boots"));
            let _ = writeln!(
                s,
                "min memory, direct boot: {floor}, {} MiB does not (probes: {})",
                m.max_fail_mib,
                probes.join(" ")
            );
            if let Some(d) = self.memory_overhead_mib() {
                let _ = writeln!(s, "  through {} − direct: {d:+} MiB", self.label);
            }
        }
        if let Some(p) = &self.payload {
            self.payload_table(&mut s, p);
        }
        s
    }

    /// The payload's sizes, menu times, ratio and phases.
    fn payload_table(&self, s: &mut String, p: &PayloadBench) {
        let i = &p.info;
        let opt = |x: Option<u64>| x.map_or("-".to_owned(), |x| x.to_string());
        let budget = match i.budget_bytes {
            Some(b) => format!(
                ", budget {b} bytes, {:.0}% used",
                i.payload_bytes as f64 * 100.0 / b.max(1) as f64
            ),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "firmware payload {}: {} bytes (kernel {}, initramfs {} compressed from {}; {}{budget})",
            p.file.display(),
            i.payload_bytes,
            opt(i.kernel_share_bytes),
            opt(i.initramfs_share_bytes),
            opt(i.initramfs_bytes),
            i.compression.as_deref().unwrap_or("compression unknown"),
        );
        let count = |k| p.runs.iter().filter(|r| r.kind == k).count();
        let _ = writeln!(
            s,
            "{:<52} {:>8} {:>8} {:>8}",
            format!(
                "QEMU start → menu shown (s), {}+{} runs",
                count(MenuKind::Payload),
                count(MenuKind::Debian)
            ),
            "min",
            "median",
            "max"
        );
        let row = |s: &mut String, name: &str, st: Option<Stats>| match st {
            Some(st) => {
                let _ = writeln!(s, "{name:<52} {:>8.3} {:>8.3} {:>8.3}", st.min, st.median, st.max);
            }
            None => {
                let _ = writeln!(s, "{name:<52} {:>8} {:>8} {:>8}", "-", "-", "-");
            }
        };
        let label = |k| match k {
            MenuKind::Payload => "payload (SeaBIOS, -kernel)",
            MenuKind::Debian => "Debian kernel + hopboot initramfs",
        };
        for k in [MenuKind::Payload, MenuKind::Debian] {
            let ok = p.ok_runs(k).count();
            let name = format!("{} ({ok} ok)", label(k));
            row(s, &format!("  {name}"), p.menu(k));
        }
        if let Some(r) = p.ratio() {
            let x = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}x"));
            let met = |ok: bool| if ok { "met" } else { "NOT met" };
            let menu_goal = p
                .menu(MenuKind::Payload)
                .map_or("-", |m| met(m.median <= menu::GOAL_MENU_S));
            let ratio_goal = r.of_medians.map_or("-", |x| met(x <= menu::GOAL_RATIO));
            let _ = writeln!(
                s,
                "  payload / Debian: {} (median of {} rounds), {} (of the medians); goal ≤ {:.0} s: {menu_goal}, ≤ {:.2}x: {ratio_goal}",
                x(r.median_of_rounds),
                r.rounds.len(),
                x(r.of_medians),
                menu::GOAL_MENU_S,
                menu::GOAL_RATIO,
            );
        }
        let phase_name = |n: &str| n.replace('_', " ");
        for k in [MenuKind::Payload, MenuKind::Debian] {
            let ends = menu::phase_ends(p.markers(k).map_or("Linux version", |(_, d)| d));
            for ((name, st), end) in p.phases(k).into_iter().zip(ends) {
                let end: String = end.chars().take(22).collect();
                row(s, &format!("  {} {} (→ {end})", k.name(), phase_name(name)), st);
            }
            if p.early_console(k) == Some(false) {
                let _ = writeln!(
                    s,
                    "  ({} has no early console: its decompression phase runs to its console's start)",
                    k.name()
                );
            }
        }
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
    fn payload_menu_runs_and_direct_memory_in_table_and_chart() {
        let s = small_summary();
        let table = s.table();
        for want in [
            "min memory, direct boot: 88 MiB boots, 80 MiB does not (probes: 80✗)",
            "through hop\"boot é\u{1} − direct: +8 MiB",
            "firmware payload target/payload/hopboot-payload.bzImage: 2500000 bytes (kernel 2000000, \
             initramfs 500000 compressed from 1100000; xz, budget 3145728 bytes, 79% used)",
            "payload (SeaBIOS, -kernel) (2 ok)",
            "Debian kernel + hopboot initramfs (1 ok)",
            "payload / Debian: 0.19x (median of 1 rounds), 0.19x (of the medians); goal ≤ 3 s: met, ≤ 0.30x: met",
            "payload firmware (→ early console in setup)",
            "payload decompression (→ Booting the kernel)",
            "debian decompression (→ Linux version)",
        ] {
            assert!(table.contains(want), "{want}\n{table}");
        }
        let row = table.lines().find(|l| l.contains("debian kernel init")).unwrap();
        assert!(row.ends_with("   4.000    4.000    4.000"), "{row}");
        let chart = s.chart();
        let menu_rows: Vec<&svg::Row> = chart.rows.iter().filter(|r| r.label.contains(" menu ")).collect();
        assert_eq!(menu_rows.len(), 4);
        assert_eq!(menu_rows[0].label, "payload menu 1");
        assert_eq!(menu_rows[0].bars.len(), 4);
        assert!(close(menu_rows[0].bars[3].end, 2.5));
        assert!(menu_rows[3].note.starts_with("FAILED"));
        assert!(
            chart.subtitle.contains(" + 4 to the menu (payload, Debian kernel)"),
            "{}",
            chart.subtitle
        );
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
