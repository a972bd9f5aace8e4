//! An office's morning lists as tables (each person linking to the console), written as one
//! printable HTML page or an XLSX workbook, like the reports.

use std::fmt::Write;

use super::html::{numeral, open_page, table};
use super::svg::escape;
use super::tables::{local_minute, Cell, Table};
use super::RenderError;
use crate::alarm::{Kind, State};
use crate::report::daily::{failure_zh, DailyLists};

pub fn tables(l: &DailyLists) -> Vec<Table> {
    let person = |id: i64, name: &str| Cell::Link { text: name.to_string(), url: l.person_url(id) };
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| Cell::text(t.map(local_minute).unwrap_or_default());
    let doubtful = Table {
        sheet: "异常定位名单",
        title: "异常定位名单".into(),
        headers: vec!["社区矫正对象", "位置存疑次数", "速度异常次数", "模拟定位次数", "最后一次异常时间"],
        rows: l
            .doubtful
            .iter()
            .map(|d| {
                vec![
                    person(d.person_id, &d.person_name),
                    Cell::Int(d.uncertain),
                    Cell::Int(d.implausible),
                    Cell::Int(d.mock),
                    time(Some(d.last_at)),
                ]
            })
            .collect(),
        note: Some(if l.doubtful.is_empty() {
            "无异常定位。".into()
        } else {
            "位置存疑：定位精度范围跨越围栏边界，无法判定是否越界；速度异常：与上一定位相比移动速度不合常理；模拟定位：手机报告为模拟位置。".into()
        }),
    };
    let breaches = Table {
        sheet: "越界人员名单",
        title: "越界人员名单".into(),
        headers: vec!["社区矫正对象", "报警类型", "电子围栏", "报警时间", "处置状态", "办结时间"],
        rows: l
            .breaches
            .iter()
            .map(|b| {
                let kind = b.kind.parse::<Kind>().map(Kind::label_zh).unwrap_or("报警");
                let state = b.state.parse::<State>().map(State::label_zh).unwrap_or("");
                vec![
                    person(b.person_id, &b.person_name),
                    Cell::text(kind),
                    Cell::text(b.fence_name.clone().unwrap_or_default()),
                    time(Some(b.opened_at)),
                    Cell::text(state),
                    time(b.closed_at),
                ]
            })
            .collect(),
        note: l.breaches.is_empty().then(|| "无越界报警。".to_string()),
    };
    let missing = Table {
        sheet: "定位缺失名单",
        title: "定位缺失名单".into(),
        headers: vec!["社区矫正对象", "定位失败次数", "最近失败原因", "最近失败时间", "失联", "最后定位时间"],
        rows: l
            .missing
            .iter()
            .map(|m| {
                vec![
                    person(m.person_id, &m.person_name),
                    Cell::Int(m.failed),
                    Cell::text(m.last_reason.as_deref().map(failure_zh).unwrap_or("")),
                    time(m.last_failed_at),
                    Cell::text(if m.silent { "是" } else { "否" }),
                    time(m.last_fix_at),
                ]
            })
            .collect(),
        note: l.missing.is_empty().then(|| "无定位缺失。".to_string()),
    };
    vec![doubtful, breaches, missing]
}

pub fn html(l: &DailyLists) -> String {
    let title = l.title();
    let mut s = open_page(&title);
    let _ = writeln!(
        s,
        "<h1>{}</h1><p class=\"meta\">在册社区矫正对象 {} 人　统计时段：北京时间 {} 至 {}　点击姓名打开监管平台</p>",
        escape(&title),
        l.in_supervision,
        local_minute(l.start),
        local_minute(l.end)
    );
    // The lists count persons, breaches (alarms), persons: in the order of `tables`.
    for (i, (t, unit)) in tables(l).iter().zip(["人", "起", "人"]).enumerate() {
        let _ = write!(s, "<h2>{}、{}（{}{unit}）</h2>", numeral(i + 1), escape(&t.title), t.rows.len());
        table(&mut s, t);
    }
    s.push_str("</body></html>\n");
    s
}

pub fn xlsx(l: &DailyLists) -> Result<Vec<u8>, RenderError> {
    super::xlsx::workbook(&l.title(), tables(l))
}
