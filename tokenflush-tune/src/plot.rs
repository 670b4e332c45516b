//! The SVG plot of an evaluation: p99 added delay against chunks per second, one mark per
//! policy.
//!
//! Read at a glance: the Pareto front in red, drawn over the dominated policies in grey, each
//! mark numbered and listed with its figures beside the plot (front marks also named where
//! there is room); no line joins the marks, since no policy lies between them; the target is a
//! dashed line and the recommendation a green ring. Labels are placed so that no two text boxes
//! overlap and none leaves the plot area (text widths are estimated from the font size,
//! generously).

use std::fmt::Write as _;
use std::time::Duration;

use crate::recommend::human;
use crate::report::PolicyReport;

/// Font size of most text, in pixels.
const FONT: f64 = 12.0;
/// Font size of the list beside the plot.
const LIST_FONT: f64 = 11.0;
/// Estimated advance of a character, in ems: wider than DejaVu Sans's digits (0.64 em) and
/// its average letter, so estimated boxes contain the drawn text.
pub(crate) const CHAR_EM: f64 = 0.66;
/// The plot frame.
const FRAME_X: f64 = 78.0;
const FRAME_Y: f64 = 78.0;
const FRAME_W: f64 = 680.0;
const FRAME_H: f64 = 440.0;
/// Space between the frame and the outermost marks, so no mark sits on an axis.
const INSET: f64 = 18.0;
/// Where the list beside the plot starts.
const PANEL_X: f64 = FRAME_X + FRAME_W + 32.0;
const ROW: f64 = 15.0;

const RED: &str = "#c62828";
const GREY: &str = "#9e9e9e";
const GREEN: &str = "#2e7d32";

/// A text box: left, top, right, bottom.
pub(crate) type TextBox = (f64, f64, f64, f64);

/// The box of `text` drawn at (`x`, `y`) (the baseline) with `anchor` and font `size`, as
/// this module estimates it.
pub(crate) fn text_box(x: f64, y: f64, anchor: &str, size: f64, text: &str) -> TextBox {
    let width = text.chars().count() as f64 * size * CHAR_EM;
    let left = match anchor {
        "end" => x - width,
        "middle" => x - width / 2.0,
        _ => x,
    };
    (left, y - size * 0.8, left + width, y + size * 0.25)
}

/// Whether two boxes come closer than a pixel: the SVG rounds coordinates to hundredths, so
/// boxes placed edge to edge could overlap once written.
fn overlaps(a: &TextBox, b: &TextBox) -> bool {
    const GAP: f64 = 1.0;
    a.0 < b.2 + GAP && b.0 < a.2 + GAP && a.1 < b.3 + GAP && b.1 < a.3 + GAP
}

/// The plot of `reports` for the trace `title`, with the p99 target and the recommendation.
pub(crate) fn svg(
    title: &str,
    reports: &[PolicyReport],
    max_p99: Duration,
    recommended: Option<&str>,
) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // Keys: the front by writes, then the dominated by writes.
    let mut order: Vec<&PolicyReport> = reports.iter().collect();
    order.sort_by(|a, b| {
        b.on_front()
            .cmp(&a.on_front())
            .then(a.chunks().cmp(&b.chunks()))
            .then(a.delay_p99().cmp(&b.delay_p99()))
    });

    let max_rate = order
        .iter()
        .map(|r| r.chunks_per_second())
        .fold(1.0_f64, f64::max)
        * 1.05;
    let max_delay = order
        .iter()
        .map(|r| ms(r.delay_p99()))
        .fold(ms(max_p99), f64::max)
        .max(10.0);
    let top_decade = 10_f64.powi(max_delay.log10().ceil() as i32);
    let scale = |delay_ms: f64| (1.0 + delay_ms.max(0.0)).log10();
    let (left, right) = (FRAME_X + INSET, FRAME_X + FRAME_W - INSET);
    let (top, bottom) = (FRAME_Y + INSET, FRAME_Y + FRAME_H - INSET);
    let x = |rate: f64| left + rate / max_rate * (right - left);
    let y = |delay_ms: f64| bottom - scale(delay_ms) / scale(top_decade) * (bottom - top);

    // The list beside the plot decides the picture's size.
    let mut rows: Vec<(String, &'static str, bool)> = Vec::new();
    let front_count = order.iter().filter(|r| r.on_front()).count();
    for (index, report) in order.iter().enumerate() {
        if index == 0 && front_count > 0 {
            rows.push(("Pareto front".into(), RED, true));
        }
        if index == front_count {
            rows.push(("dominated".into(), GREY, true));
        }
        rows.push((
            format!(
                "{:>2}  {}  p99 {}, {:.1}/s",
                index + 1,
                report.name(),
                human(report.delay_p99()),
                report.chunks_per_second()
            ),
            if report.on_front() { RED } else { "#424242" },
            recommended == Some(report.name()),
        ));
    }
    let legend_rows = 4.0;
    let list_top = FRAME_Y + legend_rows * ROW + 16.0;
    // The legend's longest line has 57 characters.
    let widest = rows
        .iter()
        .map(|(text, _, _)| text.chars().count())
        .fold(58, usize::max) as f64;
    let width = (PANEL_X + 14.0 + widest * LIST_FONT * CHAR_EM + 16.0).max(1100.0);
    let height = (list_top + rows.len() as f64 * ROW + 20.0).max(FRAME_Y + FRAME_H + 70.0);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="{FONT}">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let title = shorten(
        title,
        ((width - FRAME_X - 20.0) / (18.0 * CHAR_EM)) as usize,
    );
    text(
        &mut out, FRAME_X, 28.0, "start", 18.0, "title", "#111", true, &title,
    );
    text(
        &mut out,
        FRAME_X,
        50.0,
        "start",
        FONT,
        "subtitle",
        "#555",
        false,
        "Lower is faster for readers, left is fewer writes for the server.",
    );
    text(
        &mut out,
        FRAME_X,
        FRAME_Y - 8.0,
        "start",
        FONT,
        "axis",
        "#333",
        false,
        "p99 added delay per token (log scale)",
    );

    // Frame, grid and ticks.
    let _ = writeln!(
        out,
        r##"<rect class="frame" x="{FRAME_X}" y="{FRAME_Y}" width="{FRAME_W}" height="{FRAME_H}" fill="none" stroke="#333"/>"##
    );
    for (exponent, decade) in decades(top_decade) {
        let ty = y(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{FRAME_X}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#eeeeee"/>"##,
            FRAME_X + FRAME_W,
        );
        text(
            &mut out,
            FRAME_X - 8.0,
            ty + 4.0,
            "end",
            FONT,
            "tick",
            "#333",
            false,
            &decade_label(exponent),
        );
    }
    let step = nice_step(max_rate / 6.0);
    let mut tick = 0.0;
    while tick <= max_rate {
        let tx = x(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{FRAME_Y}" y2="{}" stroke="#eeeeee"/>"##,
            FRAME_Y + FRAME_H,
        );
        text(
            &mut out,
            tx,
            FRAME_Y + FRAME_H + 18.0,
            "middle",
            FONT,
            "tick",
            "#333",
            false,
            &trim(tick),
        );
        tick += step;
    }
    text(
        &mut out,
        FRAME_X + FRAME_W / 2.0,
        FRAME_Y + FRAME_H + 44.0,
        "middle",
        FONT,
        "axis",
        "#333",
        false,
        "chunks per second (writes, SSE events)",
    );

    // Marks: one per distinct point; policies on the same point share it and its label.
    let mut points: Vec<(f64, f64, Vec<usize>)> = Vec::new();
    for (index, report) in order.iter().enumerate() {
        let (px, py) = (x(report.chunks_per_second()), y(ms(report.delay_p99())));
        match points.iter_mut().find(|(qx, qy, keys)| {
            (qx - px).abs() < 0.5
                && (qy - py).abs() < 0.5
                && order[keys[0]].on_front() == report.on_front()
        }) {
            Some((_, _, keys)) => keys.push(index),
            None => points.push((px, py, vec![index])),
        }
    }
    let mut placed = Placer {
        boxes: points
            .iter()
            .map(|(px, py, keys)| {
                let ringed = keys.iter().any(|&k| recommended == Some(order[k].name()));
                let r = if ringed { 13.0 } else { 7.0 };
                (px - r, py - r, px + r, py + r)
            })
            .collect(),
        area: (
            FRAME_X + 3.0,
            FRAME_Y + 3.0,
            FRAME_X + FRAME_W - 3.0,
            FRAME_Y + FRAME_H - 3.0,
        ),
    };

    // The target, with its label where it hides nothing.
    let ty = y(ms(max_p99));
    let _ = writeln!(
        out,
        r##"<line class="target" x1="{FRAME_X}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="{GREEN}" stroke-dasharray="6 4"/>"##,
        FRAME_X + FRAME_W,
    );
    let target_label = format!("target p99 {}", human(max_p99));
    // Along the line from the right, above it, then below it.
    let spots = (0..10).flat_map(|step| {
        let lx = FRAME_X + FRAME_W - 8.0 - f64::from(step) * 56.0;
        [(lx, ty - 5.0), (lx, ty + 15.0)]
    });
    for (lx, ly) in spots {
        if placed.take(text_box(lx, ly, "end", FONT, &target_label)) {
            text(
                &mut out,
                lx,
                ly,
                "end",
                FONT,
                "target-label",
                GREEN,
                false,
                &target_label,
            );
            break;
        }
    }

    // Labels keep off the target line too.
    placed
        .boxes
        .push((FRAME_X, ty - 1.5, FRAME_X + FRAME_W, ty + 1.5));

    for front in [false, true] {
        for (px, py, keys) in points
            .iter()
            .filter(|(_, _, keys)| order[keys[0]].on_front() == front)
        {
            let tips: Vec<String> = keys
                .iter()
                .map(|&k| {
                    let r = order[k];
                    format!(
                        "{}: p50 {}, p99 {}, max {}, first token {}, {:.1} chunks/s",
                        r.name(),
                        human(r.delay_p50()),
                        human(r.delay_p99()),
                        human(r.delay_max()),
                        human(r.first_token_delay()),
                        r.chunks_per_second()
                    )
                })
                .collect();
            let (class, radius, fill) = if front {
                ("mark front", 6.0, RED)
            } else {
                ("mark dominated", 4.5, GREY)
            };
            let _ = writeln!(
                out,
                r#"<circle class="{class}" cx="{px:.1}" cy="{py:.1}" r="{radius}" fill="{fill}" stroke="white"><title>{}</title></circle>"#,
                escape(&tips.join("\n"))
            );
        }
    }
    if let Some((px, py, _)) = points
        .iter()
        .find(|(_, _, keys)| keys.iter().any(|&k| recommended == Some(order[k].name())))
    {
        let _ = writeln!(
            out,
            r#"<circle class="ring" cx="{px:.1}" cy="{py:.1}" r="11" fill="none" stroke="{GREEN}" stroke-width="3"/>"#
        );
    }

    // Labels: the front's first (named where there is room), then the dominated.
    for (px, py, keys) in &points {
        let numbers = key_ranges(keys);
        let first = order[keys[0]];
        let (color, texts) = if first.on_front() {
            let named = match keys.len() {
                1 => format!("{numbers} {}", first.name()),
                n => format!("{numbers} {} (+{})", first.name(), n - 1),
            };
            (RED, vec![named, numbers])
        } else {
            ("#616161", vec![numbers])
        };
        // Clear of the mark, and of the ring around the recommendation.
        let ringed = keys.iter().any(|&k| recommended == Some(order[k].name()));
        let d = if ringed { 6.0 } else { 0.0 };
        'texts: for label in &texts {
            for (dx, dy, anchor) in [
                (9.0 + d, 4.0, "start"),
                (-9.0 - d, 4.0, "end"),
                (0.0, -10.0 - d, "middle"),
                (0.0, 18.0 + d, "middle"),
                (7.0 + d, -8.0 - d, "start"),
                (7.0 + d, 16.0 + d, "start"),
                (-7.0 - d, -8.0 - d, "end"),
                (-7.0 - d, 16.0 + d, "end"),
            ] {
                let (lx, ly) = (px + dx, py + dy);
                if placed.take(text_box(lx, ly, anchor, FONT, label)) {
                    text(&mut out, lx, ly, anchor, FONT, "label", color, false, label);
                    break 'texts;
                }
            }
        }
    }

    // Legend and list.
    let target_legend = format!("the p99 target, {}", human(max_p99));
    let legend = [
        (
            "front",
            "Pareto front: no other has a lower p99 and fewer writes",
        ),
        (
            "dominated",
            "dominated on p99 and writes (may win on p50, first token)",
        ),
        ("ring", "the recommendation"),
        ("target", target_legend.as_str()),
    ];
    for (row, (kind, label)) in legend.iter().enumerate() {
        let ly = FRAME_Y + row as f64 * ROW + 4.0;
        let cx = PANEL_X + 5.0;
        let _ = match *kind {
            "front" => writeln!(
                out,
                r#"<circle cx="{cx}" cy="{}" r="5" fill="{RED}"/>"#,
                ly - 4.0
            ),
            "dominated" => writeln!(
                out,
                r#"<circle cx="{cx}" cy="{}" r="4" fill="{GREY}"/>"#,
                ly - 4.0
            ),
            "ring" => writeln!(
                out,
                r#"<circle cx="{cx}" cy="{}" r="5" fill="none" stroke="{GREEN}" stroke-width="2"/>"#,
                ly - 4.0
            ),
            _ => writeln!(
                out,
                r#"<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{GREEN}" stroke-dasharray="4 3"/>"#,
                PANEL_X - 2.0,
                PANEL_X + 12.0,
                ly - 4.0,
                ly - 4.0
            ),
        };
        text(
            &mut out,
            PANEL_X + 16.0,
            ly,
            "start",
            LIST_FONT,
            "legend",
            "#333",
            false,
            label,
        );
    }
    for (row, (label, color, bold)) in rows.iter().enumerate() {
        let ly = list_top + row as f64 * ROW;
        text(
            &mut out, PANEL_X, ly, "start", LIST_FONT, "list", color, *bold, label,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Appends one `<text>` element.
#[allow(clippy::too_many_arguments)]
fn text(
    out: &mut String,
    x: f64,
    y: f64,
    anchor: &str,
    size: f64,
    class: &str,
    fill: &str,
    bold: bool,
    content: &str,
) {
    let _ = writeln!(
        out,
        r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{}>{}</text>"#,
        if bold { r#" font-weight="bold""# } else { "" },
        escape(content)
    );
}

/// Boxes taken so far, and the area labels must stay in.
struct Placer {
    boxes: Vec<TextBox>,
    area: TextBox,
}

impl Placer {
    /// Takes `b` if it is inside the area and free.
    fn take(&mut self, b: TextBox) -> bool {
        let inside =
            b.0 >= self.area.0 && b.1 >= self.area.1 && b.2 <= self.area.2 && b.3 <= self.area.3;
        if inside && !self.boxes.iter().any(|other| overlaps(&b, other)) {
            self.boxes.push(b);
            true
        } else {
            false
        }
    }
}

/// Keys from 0, shown from 1: consecutive ones as ranges (`3–6,9`).
fn key_ranges(keys: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for &key in keys {
        run = match run {
            Some((first, last)) if key == last + 1 => Some((first, key)),
            Some((first, last)) => {
                parts.push(range(first, last));
                Some((key, key))
            }
            None => Some((key, key)),
        };
    }
    if let Some((first, last)) = run {
        parts.push(range(first, last));
    }
    parts.join(",")
}

fn range(first: usize, last: usize) -> String {
    match last - first {
        0 => (first + 1).to_string(),
        1 => format!("{},{}", first + 1, last + 1),
        _ => format!("{}–{}", first + 1, last + 1),
    }
}

/// `text`, cut in the middle to at most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max || max < 5 {
        return text.to_owned();
    }
    let keep = (max - 1) / 2;
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - (max - 1 - keep)..].iter().collect();
    format!("{head}…{tail}")
}

/// The delay grid: 0, then 1 ms, 10 ms, ... up to `top` (a power of ten), each with its
/// exponent (`None` for 0).
fn decades(top: f64) -> Vec<(Option<i32>, f64)> {
    let top_exponent = top.log10().round() as i32;
    std::iter::once((None, 0.0))
        .chain((0..=top_exponent).map(|e| (Some(e), 10_f64.powi(e))))
        .collect()
}

/// `0`, `1 ms`, `10 ms`, `100 ms`, `1 s`, `10 s`, ... for an exponent of milliseconds.
fn decade_label(exponent: Option<i32>) -> String {
    match exponent {
        None => "0".to_owned(),
        Some(e) if e < 3 => format!("{} ms", 10_u64.pow(e.unsigned_abs())),
        Some(e) => format!("{} s", 10_u64.pow((e - 3).unsigned_abs())),
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
