//! The SVG plot of an evaluation: added delay against writes, one point per policy.

use std::fmt::Write as _;
use std::time::Duration;

use crate::evaluation::human;
use crate::report::PolicyReport;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 600.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 70.0;

/// Delay axis: milliseconds on a log scale shifted by one, so that 0 ms has a place.
fn delay_scale(ms: f64) -> f64 {
    (1.0 + ms.max(0.0)).log10()
}

pub(super) fn svg(
    title: &str,
    reports: &[PolicyReport],
    max_p99: Option<Duration>,
    recommended: Option<&str>,
) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let max_rate = reports
        .iter()
        .map(PolicyReport::chunks_per_second)
        .fold(1.0_f64, f64::max)
        * 1.08;
    let max_delay = reports
        .iter()
        .map(|r| ms(r.delay_p99()))
        .chain(max_p99.map(ms))
        .fold(10.0_f64, f64::max);
    let top_decade = 10_f64.powf(max_delay.log10().ceil());
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |rate: f64| LEFT + rate / max_rate * plot_w;
    let y = |delay_ms: f64| TOP + plot_h - delay_scale(delay_ms) / delay_scale(top_decade) * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui, sans-serif" font-size="12">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="30" font-size="17" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="48" fill="#555">p99 delay added per token against writes per second; lower left is better</text>"##
    );

    // Axes, grid and ticks.
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    let mut decade = 0.0;
    while decade <= top_decade {
        let ty = y(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 8.0,
            ty + 4.0,
            decade_label(decade),
        );
        decade = if decade == 0.0 { 1.0 } else { decade * 10.0 };
    }
    let step = nice_step(max_rate / 6.0);
    let mut tick = 0.0;
    while tick <= max_rate {
        let tx = x(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{TOP}" y2="{}" stroke="#e5e5e5"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            trim(tick),
        );
        tick += step;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">chunks (writes, SSE events) per second</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 25.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(22 {}) rotate(-90)" text-anchor="middle">p99 added delay per token</text>"#,
        TOP + plot_h / 2.0
    );

    // The target.
    if let Some(max_p99) = max_p99 {
        let ty = y(ms(max_p99));
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#2ca02c" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="#2ca02c" text-anchor="end">target p99 ≤ {}</text>"##,
            LEFT + plot_w,
            LEFT + plot_w - 6.0,
            ty - 6.0,
            human(max_p99)
        );
    }

    // The Pareto front as a line, then every point.
    let mut front: Vec<&PolicyReport> = reports.iter().filter(|r| r.on_front()).collect();
    front.sort_by(|a, b| a.chunks_per_second().total_cmp(&b.chunks_per_second()));
    if front.len() > 1 {
        let points: Vec<String> = front
            .iter()
            .map(|r| {
                format!(
                    "{:.1},{:.1}",
                    x(r.chunks_per_second()),
                    y(ms(r.delay_p99()))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline points="{}" fill="none" stroke="#d62728" stroke-width="2"/>"##,
            points.join(" ")
        );
    }
    for report in reports {
        let (px, py) = (x(report.chunks_per_second()), y(ms(report.delay_p99())));
        let fill = if report.on_front() {
            "#d62728"
        } else {
            "#9a9a9a"
        };
        let _ = writeln!(
            out,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="5" fill="{fill}"><title>{}: p99 {}, {:.1} chunks/s, {:.2} tokens/chunk</title></circle>"#,
            escape(report.name()),
            human(report.delay_p99()),
            report.chunks_per_second(),
            report.tokens_per_chunk(),
        );
        if recommended == Some(report.name()) {
            let _ = writeln!(
                out,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="11" fill="none" stroke="#2ca02c" stroke-width="3"/>"##
            );
        }
    }
    let mut labels = Labels::default();
    for (px, py, text) in front_labels(&front, &x, &|d| y(ms(d))) {
        if let Some((lx, ly, anchor)) = labels.place(px, py, &text) {
            let _ = writeln!(
                out,
                r##"<text x="{lx:.1}" y="{ly:.1}" fill="#a11" text-anchor="{anchor}">{}</text>"##,
                escape(&text)
            );
        }
    }

    // Legend and recommendation.
    let legend_x = LEFT + plot_w + 20.0;
    let _ = writeln!(
        out,
        r##"<circle cx="{legend_x}" cy="{}" r="5" fill="#d62728"/><text x="{}" y="{}">Pareto front</text>"##,
        TOP + 10.0,
        legend_x + 12.0,
        TOP + 14.0
    );
    let _ = writeln!(
        out,
        r##"<circle cx="{legend_x}" cy="{}" r="5" fill="#9a9a9a"/><text x="{}" y="{}">dominated (hover for details)</text>"##,
        TOP + 30.0,
        legend_x + 12.0,
        TOP + 34.0
    );
    if let Some(name) = recommended {
        let _ = writeln!(
            out,
            r##"<circle cx="{legend_x}" cy="{}" r="9" fill="none" stroke="#2ca02c" stroke-width="3"/><text x="{}" y="{}">recommended:</text><text x="{}" y="{}" font-weight="bold">{}</text>"##,
            TOP + 54.0,
            legend_x + 16.0,
            TOP + 58.0,
            legend_x + 16.0,
            TOP + 74.0,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// `0`, `1 ms`, `10 ms`, `100 ms`, `1 s`, `10 s`, ...
fn decade_label(ms: f64) -> String {
    if ms == 0.0 {
        "0".to_owned()
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.0} s", ms / 1000.0)
    }
}

/// A round step (1, 2 or 5 times a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10_f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One label per distinct point of the front: policies that landed on the same point share it.
fn front_labels(
    front: &[&PolicyReport],
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(Duration) -> f64,
) -> Vec<(f64, f64, String)> {
    let mut labels: Vec<(f64, f64, String, usize)> = Vec::new();
    for report in front {
        let (px, py) = (x(report.chunks_per_second()), y(report.delay_p99()));
        match labels
            .iter_mut()
            .find(|(lx, ly, _, _)| (lx - px).abs() < 0.5 && (ly - py).abs() < 0.5)
        {
            Some(label) => label.3 += 1,
            None => labels.push((px, py, report.name().to_owned(), 0)),
        }
    }
    labels
        .into_iter()
        .map(|(px, py, name, same)| match same {
            0 => (px, py, name),
            _ => (px, py, format!("{name} (+{same} same)")),
        })
        .collect()
}

/// Label boxes placed so far, to keep new labels off them.
#[derive(Default)]
struct Labels(Vec<(f64, f64, f64, f64)>);

impl Labels {
    /// A free spot near (`px`, `py`) for `text`: its position and anchor, or `None`.
    fn place(&mut self, px: f64, py: f64, text: &str) -> Option<(f64, f64, &'static str)> {
        let width = 6.6 * text.chars().count() as f64;
        let candidates = [
            (px + 8.0, py - 6.0, "start"),
            (px + 8.0, py + 16.0, "start"),
            (px - 8.0, py - 6.0, "end"),
            (px - 8.0, py + 16.0, "end"),
            (px + 8.0, py - 20.0, "start"),
            (px + 8.0, py + 30.0, "start"),
        ];
        for (lx, ly, anchor) in candidates {
            let left = if anchor == "end" { lx - width } else { lx };
            let rect = (left, ly - 11.0, left + width, ly + 3.0);
            let fits = rect.0 >= LEFT
                && rect.2 <= WIDTH - RIGHT + 100.0
                && rect.1 >= TOP
                && rect.3 <= HEIGHT - BOTTOM;
            let free = self
                .0
                .iter()
                .all(|b| rect.2 <= b.0 || rect.0 >= b.2 || rect.3 <= b.1 || rect.1 >= b.3);
            if fits && free {
                self.0.push(rect);
                return Some((lx, ly, anchor));
            }
        }
        None
    }
}
