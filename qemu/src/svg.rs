//! A hand-written SVG chart of boot timelines: one row per run, one stacked horizontal bar per
//! interval, a time axis in seconds and a legend. No dependency; any browser or `rsvg-convert`
//! renders it.

use std::fmt::Write as _;

/// One interval of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Legend key: bars with the same key share a colour.
    pub key: String,
    /// Seconds.
    pub start: f64,
    /// Seconds.
    pub end: f64,
}

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Left of the row, e.g. `bootloader 1`.
    pub label: String,
    /// The intervals, in time order.
    pub bars: Vec<Bar>,
    /// Outlined on top of the bars: (start, end) seconds.
    pub window: Option<(f64, f64)>,
    /// Right of the row, e.g. `23.2 s (window 2.64 s)`.
    pub note: String,
}

/// The whole chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// First line.
    pub title: String,
    /// Second line, smaller.
    pub subtitle: String,
    /// One per run, top to bottom.
    pub rows: Vec<Row>,
    /// (key, text) in the order the legend lists them; colours follow this order.
    pub legend: Vec<(String, String)>,
    /// Legend text of the outlined window.
    pub window_legend: String,
}

/// Distinct colours, in legend order (cycled when there are more keys). A run of hopboot, the
/// minimal reference and a direct boot together have about 17 intervals.
const PALETTE: [&str; 20] = [
    "#9e9e9e", "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63", "#e15759",
    "#d37295", "#79706e", "#499894", "#86bcb6", "#ff9d9a", "#bab0ac", "#fabfd2", "#b07aa1", "#d4a6c8", "#9d7660",
];

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 190.0;
const ROW_H: f64 = 20.0;
const ROW_GAP: f64 = 8.0;
const LEGEND_ROW: f64 = 20.0;

/// A round axis step giving about 10 ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 10.0).max(1e-3);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A panel: rows of bars over one time axis.
struct Panel<'a> {
    /// Heading above the rows.
    heading: &'a str,
    /// Axis caption.
    axis: &'a str,
    /// `class` of each row's `<g>`.
    class: &'a str,
    rows: Vec<Row>,
}

/// The rows' decision windows alone, each shifted to start at 0, so hopboot's short stages
/// are wide enough to see.
fn zoomed(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .filter_map(|r| {
            let (a, b) = r.window?;
            let bars = r
                .bars
                .iter()
                .filter(|bar| bar.end > a && bar.start < b)
                .map(|bar| Bar {
                    key: bar.key.clone(),
                    start: bar.start.max(a) - a,
                    end: bar.end.min(b) - a,
                })
                .collect();
            Some(Row {
                label: r.label.clone(),
                bars,
                window: None,
                note: format!("{:.2} s", b - a),
            })
        })
        .collect()
}

/// Draws `panel` from `top` and returns the y below it.
fn draw_panel(
    s: &mut String,
    panel: &Panel<'_>,
    top: f64,
    colour: &dyn Fn(&str) -> &'static str,
    tip: &dyn Fn(&str) -> String,
) -> f64 {
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"#,
        top + 12.0,
        esc(panel.heading)
    );
    let top = top + 22.0;
    let max_t = panel
        .rows
        .iter()
        .flat_map(|r| r.bars.iter().map(|b| b.end))
        .fold(0.0_f64, f64::max)
        .max(1e-3);
    let step = tick_step(max_t);
    let axis_max = (max_t / step).ceil() * step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + t.max(0.0) / axis_max * plot_w;
    let axis_y = top + panel.rows.len() as f64 * (ROW_H + ROW_GAP) + 4.0;

    // Grid and axis first, so the bars are drawn over the grid lines.
    let ticks = (axis_max / step).round() as usize;
    let _ = writeln!(s, r#"<g class="axis">"#);
    for i in 0..=ticks {
        let t = i as f64 * step;
        let xt = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xt:.1}" y1="{:.1}" x2="{xt:.1}" y2="{axis_y:.1}" stroke="#e4e4e4"/>"##,
            top - 4.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{xt:.1}" y1="{axis_y:.1}" x2="{xt:.1}" y2="{:.1}" stroke="#333"/>"##,
            axis_y + 5.0
        );
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10().floor()) as usize
        };
        let _ = writeln!(
            s,
            r#"<text x="{xt:.1}" y="{:.1}" text-anchor="middle">{t:.decimals$}</text>"#,
            axis_y + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        x(axis_max)
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
        x(axis_max / 2.0),
        axis_y + 34.0,
        esc(panel.axis)
    );
    let _ = writeln!(s, "</g>");

    for (i, row) in panel.rows.iter().enumerate() {
        let y = top + i as f64 * (ROW_H + ROW_GAP);
        let _ = writeln!(s, r#"<g class="{}">"#, panel.class);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + ROW_H - 6.0,
            esc(&row.label)
        );
        for b in &row.bars {
            let (x0, x1) = (x(b.start), x(b.end));
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.2}" y="{y:.1}" width="{:.2}" height="{ROW_H}" fill="{}"><title>{}: {:.3} s</title></rect>"#,
                (x1 - x0).max(0.0),
                colour(&b.key),
                esc(&tip(&b.key)),
                b.end - b.start
            );
        }
        if let Some((a, b)) = row.window {
            let _ = writeln!(
                s,
                r#"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="none" stroke="black" stroke-width="2"/>"#,
                x(a),
                y - 2.0,
                (x(b) - x(a)).max(0.0),
                ROW_H + 4.0
            );
        }
        let end = row.bars.iter().map(|b| b.end).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x(end) + 6.0,
            y + ROW_H - 6.0,
            esc(&row.note)
        );
        let _ = writeln!(s, "</g>");
    }
    axis_y + 44.0
}

/// The chart as an SVG document: every run on a common time axis, then the decision windows
/// zoomed (for the runs that have one), then the legend.
pub fn render(chart: &Chart) -> String {
    let colour = |key: &str| {
        let i = chart.legend.iter().position(|(k, _)| k == key).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let tip = |key: &str| {
        chart
            .legend
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| key.to_owned(), |(_, t)| t.clone())
    };
    let all = Panel {
        heading: "whole boot, one row per run",
        axis: "seconds since QEMU start",
        class: "row",
        rows: chart.rows.clone(),
    };
    let zoom = Panel {
        heading: "decision window only (Run /init → Starting new kernel), zoomed",
        axis: "seconds since Run /init",
        class: "zoom-row",
        rows: zoomed(&chart.rows),
    };
    let mut body = String::new();
    let mut y = draw_panel(&mut body, &all, 56.0, &colour, &tip);
    if !zoom.rows.is_empty() {
        y = draw_panel(&mut body, &zoom, y + 6.0, &colour, &tip);
    }

    let legend_cols = 2usize;
    let legend_y = y + 18.0;
    let col_w = (WIDTH - LEFT) / legend_cols as f64;
    let _ = writeln!(body, r#"<g class="legend">"#);
    let items = chart
        .legend
        .iter()
        .map(|(k, text)| (Some(colour(k)), text.as_str()))
        .chain(std::iter::once((None, chart.window_legend.as_str())));
    let mut rows_used = 0;
    for (i, (fill, text)) in items.enumerate() {
        let lx = LEFT + (i % legend_cols) as f64 * col_w;
        let ly = legend_y + (i / legend_cols) as f64 * LEGEND_ROW;
        rows_used = i / legend_cols + 1;
        let swatch = match fill {
            Some(c) => format!(r#"fill="{c}""#),
            None => r#"fill="none" stroke="black" stroke-width="2""#.to_owned(),
        };
        let _ = writeln!(
            body,
            r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="14" {swatch}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly - 11.0,
            lx + 20.0,
            ly,
            esc(text)
        );
    }
    let _ = writeln!(body, "</g>");
    let height = (legend_y + rows_used as f64 * LEGEND_ROW + 8.0).ceil();

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(&chart.title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="42" fill="#555">{}</text>"##,
        esc(&chart.subtitle)
    );
    s.push_str(&body);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(23.0), 5.0);
        assert_eq!(tick_step(9.0), 1.0);
        assert_eq!(tick_step(120.0), 20.0);
        assert!((tick_step(0.4) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn one_row_group_per_row_and_text_is_escaped() {
        let row = |n: u32| Row {
            label: format!("run {n}"),
            bars: vec![
                Bar {
                    key: "a".into(),
                    start: 0.0,
                    end: 5.0,
                },
                Bar {
                    key: "b".into(),
                    start: 5.0,
                    end: 7.5,
                },
            ],
            window: Some((5.0, 7.5)),
            note: "7.5 s".into(),
        };
        let chart = Chart {
            title: "a <b> & c".into(),
            subtitle: String::new(),
            rows: vec![row(1), row(2), row(3)],
            legend: vec![("a".into(), "QEMU → x".into()), ("b".into(), "x → y".into())],
            window_legend: "window".into(),
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg xmlns="));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<g class=\"row\"").count(), 3);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert_eq!(svg.matches("<g class=\"zoom-row\"").count(), 3);
        // Three rows, three zoomed rows, one legend swatch.
        assert_eq!(svg.matches(&format!("fill=\"{}\"", PALETTE[1])).count(), 3 + 3 + 1);
        // 0..=8 s in steps of 1: nine tick labels.
        assert!(svg.contains(">8</text>") && !svg.contains(">9</text>"));
    }
}
