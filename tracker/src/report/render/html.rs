//! The report as one self-contained, printable HTML page: inline CSS, charts as inline SVG, no
//! script, no font, image or style sheet fetched from anywhere.

use std::fmt::Write;

use super::svg::{self, escape};
use super::tables::{local_minute, tables, Cell, Table};
use crate::report::Report;

const STYLE: &str = r#"
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif;
       color: #222; margin: 24px auto; max-width: 1100px; padding: 0 16px; font-size: 13px; line-height: 1.5; }
h1 { font-size: 22px; text-align: center; margin: 8px 0 4px; }
.meta { text-align: center; color: #555; margin: 0 0 18px; }
h2 { font-size: 16px; border-left: 4px solid #2c7fb8; padding-left: 8px; margin: 26px 0 8px; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { border: 1px solid #bbb; padding: 3px 6px; }
th { background: #dde5f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.county td { background: #f3f6fa; font-weight: 600; }
tr.total td { background: #e8eef6; font-weight: 700; }
tr { break-inside: avoid; }
.note, .muted { color: #777; fill: #777; }
.chart { max-width: 100%; height: auto; display: block; margin: 6px 0; }
.chart .axis { font-size: 11px; fill: #444; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
dl dt { font-weight: 600; margin-top: 6px; }
dl dd { margin: 0 0 0 2em; }
.bad { color: #c0392b; font-weight: 600; }
@media print { body { margin: 0; max-width: none; } h2 { margin-top: 14px; } }
"#;

/// The section numbers of a Chinese document: 一、二、…
pub(super) fn numeral(n: usize) -> String {
    const D: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        1..=9 => D[n].to_string(),
        10 => "十".to_string(),
        11..=19 => format!("十{}", D[n - 10]),
        _ => n.to_string(),
    }
}

/// The page's head and title, up to the opening of the body's content.
pub(super) fn open_page(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title.trim_start_matches('《').trim_end_matches('》'))
    )
}

/// A table as HTML: total and county rows marked, numbers right-aligned, bad verdicts in red,
/// links as links.
pub(super) fn table(s: &mut String, t: &Table) {
    if !t.rows.is_empty() {
        s.push_str("<table><thead><tr>");
        for h in &t.headers {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr></thead><tbody>");
        for row in &t.rows {
            let class = match row.first().map(|c| c.display()).as_deref() {
                Some("合计") => " class=\"total\"",
                Some("区县") => " class=\"county\"",
                _ => "",
            };
            let _ = write!(s, "<tr{class}>");
            for cell in row {
                let text = cell.display();
                if let Cell::Link { url, .. } = cell {
                    let _ = write!(s, "<td><a href=\"{}\">{}</a></td>", escape(url), escape(&text));
                    continue;
                }
                let bad = text == "未达标" || text == "通报批评" || text == "约谈";
                let class = match (cell.is_number(), bad) {
                    (true, _) => " class=\"n\"",
                    (false, true) => " class=\"bad\"",
                    _ => "",
                };
                let _ = write!(s, "<td{class}>{}</td>", escape(&text));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
    }
    if let Some(note) = &t.note {
        let _ = write!(s, "<p class=\"note\">{}</p>", escape(note));
    }
    s.push('\n');
}

pub fn html(report: &Report) -> String {
    let title = report.title();
    let mut s = open_page(&title);
    let _ = writeln!(
        s,
        "<h1>{}</h1><p class=\"meta\">统计范围：{}　统计期间：{}（北京时间 {} 至 {}）　数据截至：{}</p>",
        escape(&title),
        escape(&report.scope.title_name()),
        escape(&report.period.range_zh()),
        local_minute(report.start),
        local_minute(report.end),
        local_minute(report.as_of)
    );
    let _ = writeln!(
        s,
        "<h2>图表</h2><div class=\"charts\"><figure><figcaption>每日报警数（按类型）</figcaption>{}</figure><figure><figcaption>各区县定位成功率</figcaption>{}</figure><figure><figcaption>处置用时分布（本期报警中已办结的）</figcaption>{}</figure></div>",
        svg::alarms_per_day(report),
        svg::success_per_county(report),
        svg::resolve_distribution(report)
    );
    let all = tables(report);
    let count = all.len();
    for (i, t) in all.into_iter().enumerate() {
        let _ = write!(s, "<h2>{}、{}</h2>", numeral(i + 1), escape(&t.title));
        if i + 1 == count {
            // The appendix: the definitions as a list.
            s.push_str("<dl>");
            for row in &t.rows {
                let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", escape(&row[0].display()), escape(&row[1].display()));
            }
            s.push_str("</dl>");
            if let Some(note) = &t.note {
                let _ = write!(s, "<p class=\"note\">{}</p>", escape(note));
            }
            s.push('\n');
        } else {
            table(&mut s, &t);
        }
    }
    s.push_str("</body></html>\n");
    s
}
