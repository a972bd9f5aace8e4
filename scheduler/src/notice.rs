//! What an escalation notice says, in Chinese: the person, the alarm kind, when it opened, the
//! last known position, and a link to the case in the console.

use tracker::alarm::Kind;
use tracker::schedule::escalation::{DueStep, NewNotice};

use crate::ladder::Step;
use crate::mail::{SIGNATURE, SUBJECT_PREFIX};

/// The notices of a step, one per recipient.
pub fn compose(due: &DueStep, step: Step, recipients: &[String], console_url: &str) -> Vec<NewNotice> {
    let kind = due.alarm_kind.parse::<Kind>().map(Kind::label_zh).unwrap_or("报警");
    let local = |t: chrono::DateTime<chrono::Utc>| tracker::time::local(t).format("%Y-%m-%d %H:%M").to_string();
    let level = match due.level.as_str() {
        "lenient" => "宽管",
        "ordinary" => "普管",
        _ => "严管",
    };
    let subject = format!("{SUBJECT_PREFIX}{}：{}（{}，{}）", step.label_zh(), kind, due.person_name, due.office_name);
    let position = match (due.last_lat, due.last_lon, due.last_fix_at) {
        (Some(lat), Some(lon), Some(at)) => format!("北纬 {lat:.5}，东经 {lon:.5}（WGS-84，{}）", local(at)),
        _ => "暂无定位".to_string(),
    };
    let why = match step {
        Step::County => "报警发生后在规定时限内无人签收，现升级至县区司法局。",
        Step::City => "报警至当日 22:00 仍未处置完毕（问题不过夜），现报市司法局。",
        Step::Overnight => "报警已过夜。",
    };
    let body = format!(
        "{why}\n\n社区矫正对象：{}（{}{}）\n所属司法所：{}（{}）\n报警类型：{}\n报警时间：{}\n{}最后位置：{}\n\n请及时核实处置：{}/alarms/{}\n\n{SIGNATURE}\n",
        due.person_name,
        level,
        if due.is_key { "，重点" } else { "" },
        due.office_name,
        due.county_name,
        kind,
        local(due.opened_at),
        due.fence_name.as_ref().map(|f| format!("电子围栏：{f}\n")).unwrap_or_default(),
        position,
        console_url.trim_end_matches('/'),
        due.alarm_id,
    );
    recipients
        .iter()
        .map(|r| NewNotice { recipient: r.clone(), subject: subject.clone(), body: body.clone() })
        .collect()
}
