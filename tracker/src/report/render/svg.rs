//! Charts drawn as inline SVG (no script, no external resource): alarms per day by kind (stacked
//! bars), 定位成功率 per county (horizontal bars against the 95 % line) and the time-to-resolve
//! distribution (bars per bucket).

use std::fmt::Write;

use crate::alarm::Kind;
use crate::report::requests::COVERAGE_TARGET;
use crate::report::{Group, Report};

/// One colour per alarm kind, in [`Kind::ALL`] order.
const COLOURS: [&str; 9] =
    ["#d62728", "#9467bd", "#8c564b", "#ff7f0e", "#7f7f7f", "#17becf", "#bcbd22", "#e377c2", "#aaaaaa"];

/// Text safe inside XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A round upper bound for an axis whose half is round too (the grid is drawn at 0, half and
/// the bound): 2, 4, 6, 8, 10, 20, 40, …
fn nice_max(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [2, 4, 6, 8, 10] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// Alarms opened per local day, stacked by kind.
pub fn alarms_per_day(r: &Report) -> String {
    let days: Vec<_> = r.period.days().collect();
    let kinds: Vec<(usize, Kind)> = Kind::ALL
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, k)| r.alarms_per_day.iter().any(|d| d.kind == k.as_str()))
        .collect();
    let count = |day, kind: Kind| {
        r.alarms_per_day.iter().find(|d| d.day == day && d.kind == kind.as_str()).map_or(0, |d| d.count)
    };
    let totals: Vec<i64> = days.iter().map(|d| kinds.iter().map(|(_, k)| count(*d, *k)).sum()).collect();
    let (w, h, left, top, bottom) = (720.0, 280.0, 44.0, 16.0, 64.0);
    let plot_w = w - left - 12.0;
    let plot_h = h - top - bottom;
    let mut s = open(w, h, "每日报警数（按类型）");
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    if totals.iter().all(|t| *t == 0) {
        return nothing(s, w, h, "本期无报警");
    }
    y_axis(&mut s, max, left, top, plot_w, plot_h);
    let slot = plot_w / days.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    let label_every = (days.len() / 16).max(1);
    for (i, day) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for (n, kind) in &kinds {
            let c = count(*day, *kind);
            if c == 0 {
                continue;
            }
            let bh = plot_h * c as f64 / max as f64;
            y -= bh;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="{}"><title>{} {} {c}</title></rect>"#,
                COLOURS[*n],
                day.format("%m-%d"),
                escape(kind.label_zh())
            );
        }
        if totals[i] > 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
                x + bar / 2.0,
                y - 3.0,
                totals[i]
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
                x + bar / 2.0,
                top + plot_h + 14.0,
                day.format("%-m/%-d")
            );
        }
    }
    // Legend.
    let mut lx = left;
    for (n, kind) in &kinds {
        let ly = h - 18.0;
        let label = escape(kind.label_zh());
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{ly:.1}" class="axis">{label}</text>"#,
            ly - 9.0,
            COLOURS[*n],
            lx + 14.0
        );
        lx += 24.0 + 12.0 * kind.label_zh().chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

/// 定位成功率 per county, against the 95 % line.
pub fn success_per_county(r: &Report) -> String {
    let rows: Vec<(String, Option<f64>, i64)> = r
        .scope
        .counties
        .iter()
        .map(|c| {
            let f = r.requests.get(Group::County(c.id));
            (c.name.clone(), f.and_then(|f| f.success_rate), f.map_or(0, |f| f.issued))
        })
        .collect();
    let (w, left, right, row_h, top) = (720.0, 110.0, 70.0, 26.0, 10.0);
    let plot_w = w - left - right;
    let h = top * 2.0 + row_h * rows.len().max(1) as f64 + 18.0;
    let mut s = open(w, h, "各区县定位成功率");
    for (i, (name, rate, issued)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{}</text>"#,
            left - 6.0,
            y + 16.0,
            escape(name)
        );
        match rate {
            Some(x) => {
                let fill = if *x + 1e-9 >= COVERAGE_TARGET { "#2c7fb8" } else { "#e6550d" };
                let _ = write!(
                    s,
                    r#"<rect x="{left}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{} 定位成功率 {:.1}%（{issued} 次请求）</title></rect><text x="{:.1}" y="{:.1}" class="axis">{:.1}%</text>"#,
                    y + 4.0,
                    plot_w * x,
                    row_h - 8.0,
                    escape(name),
                    x * 100.0,
                    left + plot_w * x + 4.0,
                    y + 16.0,
                    x * 100.0
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" class="axis">{}（无请求）</text>"#,
                    left + 4.0,
                    y + 16.0,
                    super::NONE
                );
            }
        }
    }
    let bottom = top + row_h * rows.len().max(1) as f64;
    let tx = left + plot_w * COVERAGE_TARGET;
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom:.1}" stroke="#999"/><line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{bottom:.1}" stroke="#333" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" class="axis">95%</text></svg>"##,
        bottom + 14.0
    );
    s
}

/// Alarms closed, by how long they took to resolve (vertical bars, one per bucket).
pub fn resolve_distribution(r: &Report) -> String {
    use crate::report::alarms::RESOLVE_BUCKETS;
    let counts: Vec<i64> = (0..RESOLVE_BUCKETS.len())
        .map(|i| r.resolve_times.iter().find(|b| b.bucket as usize == i).map_or(0, |b| b.count))
        .collect();
    let (w, h, left, top, bottom) = (720.0, 240.0, 44.0, 16.0, 36.0);
    let plot_w = w - left - 12.0;
    let plot_h = h - top - bottom;
    let mut s = open(w, h, "处置用时分布");
    if counts.iter().all(|c| *c == 0) {
        return nothing(s, w, h, "本期无办结的报警");
    }
    let max = nice_max(counts.iter().copied().max().unwrap_or(0));
    y_axis(&mut s, max, left, top, plot_w, plot_h);
    let slot = plot_w / counts.len() as f64;
    let bar = slot * 0.6;
    for (i, (c, (_, label))) in counts.iter().zip(RESOLVE_BUCKETS.iter()).enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let bh = plot_h * *c as f64 / max as f64;
        let y = top + plot_h - bh;
        let _ = write!(
            s,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="#2c7fb8"><title>{label} {c}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{c}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{label}</text>"##,
            x + bar / 2.0,
            y - 3.0,
            x + bar / 2.0,
            top + plot_h + 14.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A chart's opening tag, named for screen readers.
fn open(w: f64, h: f64, label: &str) -> String {
    format!(r#"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}">"#)
}

/// Closes a chart that has nothing to draw with `message` in its middle.
fn nothing(mut s: String, w: f64, h: f64, message: &str) -> String {
    let _ =
        write!(s, r#"<text x="{}" y="{}" text-anchor="middle" class="muted">{message}</text></svg>"#, w / 2.0, h / 2.0);
    s
}

/// Grid lines and labels of a count axis: 0, max/2, max.
fn y_axis(s: &mut String, max: i64, left: f64, top: f64, plot_w: f64, plot_h: f64) {
    for i in 0..=2 {
        let v = max * i / 2;
        let y = top + plot_h - plot_h * v as f64 / max as f64;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="axis">{v}</text>"##,
            left + plot_w,
            left - 4.0,
            y + 4.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::nice_max;

    #[test]
    fn an_axis_ends_at_a_round_count_whose_half_is_round() {
        let bounds: Vec<i64> = [0, 1, 5, 9, 11, 578, 862, 4200].into_iter().map(nice_max).collect();
        assert_eq!(bounds, [2, 2, 6, 10, 20, 600, 1000, 6000]);
    }
}
