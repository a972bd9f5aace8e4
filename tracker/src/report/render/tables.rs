//! The report's tables, with Chinese headers: what both the XLSX sheets and the HTML sections
//! show, built once.

use chrono::{DateTime, Utc};

use crate::alarm::Kind;
use crate::report::ranking::{Ranked, Unit, TALK_AFTER};
use crate::report::requests::coverage_target;
use crate::report::{Breakdown, Group, Report};

/// One cell. Numbers stay numbers; a ratio is a fraction (0.95) shown as a percentage; `None` is
/// shown as "—".
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A fraction shown as a percentage (one decimal).
    Pct(Option<f64>),
    /// Minutes (one decimal).
    Minutes(Option<f64>),
    /// A score (one decimal).
    Score(f64),
    /// Text linking to a page (a person in the console).
    Link {
        text: String,
        url: String,
    },
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// The cell as the HTML page prints it.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Link { text: s, .. } => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Pct(Some(r)) => format!("{:.1}%", r * 100.0),
            Cell::Minutes(Some(m)) => format!("{m:.1}"),
            Cell::Score(s) => format!("{s:.1}"),
            Cell::Pct(None) | Cell::Minutes(None) => super::NONE.to_string(),
        }
    }

    pub fn is_number(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::Link { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    /// The sheet's name (at most 31 characters).
    pub sheet: &'static str,
    /// The section's heading.
    pub title: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Said under the table (e.g. that nothing is listed).
    pub note: Option<String>,
}

/// A UTC time as local (Asia/Shanghai) minutes: 2026-12-05 14:30.
pub fn local_minute(t: DateTime<Utc>) -> String {
    crate::time::local(t).format("%Y-%m-%d %H:%M").to_string()
}

fn level_zh(level: &str) -> String {
    level.parse::<crate::person::Level>().map(|l| l.label_zh().to_string()).unwrap_or_else(|_| level.to_string())
}

fn kind_zh(kind: &str) -> String {
    kind.parse::<Kind>().map(|k| k.label_zh().to_string()).unwrap_or_else(|_| kind.to_string())
}

fn yes(b: bool) -> Cell {
    Cell::text(if b { "是" } else { "否" })
}

/// The three columns naming a breakdown row, then its figures.
fn breakdown<T>(r: &Report, b: &Breakdown<T>, figures: impl Fn(Group, &T) -> Vec<Cell>) -> Vec<Vec<Cell>> {
    b.rows
        .iter()
        .map(|(g, t)| {
            let county = match g {
                Group::Office(id) => r.scope.county_of(*id),
                _ => String::new(),
            };
            let mut row = vec![Cell::text(g.kind_zh()), Cell::text(r.scope.group_name(*g)), Cell::text(county)];
            row.extend(figures(*g, t));
            row
        })
        .collect()
}

const NAMES: [&str; 3] = ["类别", "名称", "所属区县"];

fn with_names(figures: &[&'static str]) -> Vec<&'static str> {
    NAMES.iter().chain(figures).copied().collect()
}

/// Every table of the report, in order: the summary first, the definitions last.
pub fn tables(r: &Report) -> Vec<Table> {
    let total_p = r.persons.total();
    let total_r = r.requests.total();
    let total_c = r.coverage.total();
    let total_a = r.alarms.total();
    let summary = vec![
        ("报表", Cell::text(r.title())),
        ("统计范围", Cell::text(r.scope.title_name())),
        (
            "统计期间",
            Cell::text(format!(
                "{}（北京时间，{} 至 {}）",
                r.period.range_zh(),
                local_minute(r.start),
                local_minute(r.end)
            )),
        ),
        ("数据截至", Cell::text(local_minute(r.as_of))),
        ("期末在册人数", Cell::Int(total_p.in_supervision)),
        ("其中重点", Cell::Int(total_p.key)),
        ("本期新增", Cell::Int(total_p.admitted)),
        ("本期解矫", Cell::Int(total_p.released)),
        ("定位请求发出数", Cell::Int(total_r.issued)),
        ("定位请求应答数", Cell::Int(total_r.answered)),
        ("定位成功率", Cell::Pct(total_r.success_rate)),
        ("应定位人数", Cell::Int(total_c.due)),
        ("已定位人数", Cell::Int(total_c.located)),
        ("定位率", Cell::Pct(total_c.coverage)),
        ("报警数", Cell::Int(total_a.raised)),
        ("处置率", Cell::Pct(total_a.handled_rate)),
        ("处置及时率", Cell::Pct(total_a.timely_rate)),
        ("签收用时中位数（分钟）", Cell::Minutes(total_a.ack_median)),
        ("处置用时中位数（分钟）", Cell::Minutes(total_a.resolve_median)),
        ("升级至县区", Cell::Int(total_a.to_county)),
        ("升级至市局", Cell::Int(total_a.to_city)),
        ("过夜", Cell::Int(total_a.overnight)),
        ("误报率", Cell::Pct(total_a.false_rate)),
        ("定位依据到期（含期末后7日）", Cell::Int(r.bases_expiring.len() as i64)),
        ("准假", Cell::Int(r.leaves.total().granted)),
        ("请假逾期未归", Cell::Int(r.leaves.total().overdue)),
    ];
    let mut out = vec![Table {
        sheet: "概要",
        title: "概要".into(),
        headers: vec!["项目", "数值"],
        rows: summary.into_iter().map(|(k, v)| vec![Cell::text(k), v]).collect(),
        note: None,
    }];

    out.push(Table {
        sheet: "在册人员",
        title: "在册人员（按监管等级）".into(),
        headers: with_names(&["期末在册", "宽管", "普管", "严管", "其中重点", "本期新增", "本期解矫"]),
        rows: breakdown(r, &r.persons, |_, p| {
            [p.in_supervision, p.lenient, p.ordinary, p.strict, p.key, p.admitted, p.released].map(Cell::Int).to_vec()
        }),
        note: None,
    });

    out.push(Table {
        sheet: "定位成功率",
        title: "定位请求与定位成功率".into(),
        headers: with_names(&["发出", "应答", "失败", "未决", "定位成功率"]),
        rows: breakdown(r, &r.requests, |_, q| {
            vec![
                Cell::Int(q.issued),
                Cell::Int(q.answered),
                Cell::Int(q.failed),
                Cell::Int(q.pending),
                Cell::Pct(q.success_rate),
            ]
        }),
        note: None,
    });

    out.push(Table {
        sheet: "定位率",
        title: "定位率（目标95%，重点100%）".into(),
        headers: with_names(&["应定位人数", "已定位人数", "定位率", "目标", "是否达标"]),
        rows: breakdown(r, &r.coverage, |g, c| {
            let target = coverage_target(g);
            let met = match c.coverage {
                Some(x) => Cell::text(if x + 1e-9 >= target { "达标" } else { "未达标" }),
                None => Cell::text(super::NONE),
            };
            vec![Cell::Int(c.due), Cell::Int(c.located), Cell::Pct(c.coverage), Cell::Pct(Some(target)), met]
        }),
        note: None,
    });

    out.push(Table {
        sheet: "定位缺失名单",
        title: "定位缺失名单（应定位而期内无定位的对象）".into(),
        headers: vec!["区县", "司法所", "对象编号", "姓名", "监管等级", "重点", "定位请求", "失败", "最后定位时间"],
        rows: r
            .shortfalls
            .iter()
            .map(|s| {
                vec![
                    Cell::text(r.scope.county_of(s.office_id)),
                    Cell::text(r.scope.group_name(Group::Office(s.office_id))),
                    Cell::Int(s.person_id),
                    Cell::text(&s.name),
                    Cell::text(level_zh(&s.level)),
                    yes(s.is_key),
                    Cell::Int(s.requests),
                    Cell::Int(s.failed),
                    Cell::text(s.last_fix_at.map(local_minute).unwrap_or_else(|| "从未定位".into())),
                ]
            })
            .collect(),
        note: r.shortfalls.is_empty().then(|| "无。".to_string()),
    });

    out.push(Table {
        sheet: "报警分类",
        title: "报警（按类型）".into(),
        headers: vec!["报警类型", "报警数", "已办结", "其中误报", "过夜", "未办结"],
        rows: r
            .alarm_kinds
            .iter()
            .map(|k| {
                vec![
                    Cell::text(kind_zh(&k.kind)),
                    Cell::Int(k.raised),
                    Cell::Int(k.handled),
                    Cell::Int(k.dismissed),
                    Cell::Int(k.overnight),
                    Cell::Int(k.open),
                ]
            })
            .collect(),
        note: None,
    });

    out.push(Table {
        sheet: "报警处置",
        title: "报警处置、用时与升级".into(),
        headers: with_names(&[
            "报警数",
            "已签收",
            "已办结",
            "处置率",
            "及时办结",
            "处置及时率",
            "签收用时中位数（分钟）",
            "签收用时P90（分钟）",
            "处置用时中位数（分钟）",
            "处置用时P90（分钟）",
            "升级至县区",
            "升级至市局",
            "过夜",
            "误报",
            "误报率",
        ]),
        rows: breakdown(r, &r.alarms, |_, a| {
            vec![
                Cell::Int(a.raised),
                Cell::Int(a.acknowledged),
                Cell::Int(a.handled),
                Cell::Pct(a.handled_rate),
                Cell::Int(a.timely),
                Cell::Pct(a.timely_rate),
                Cell::Minutes(a.ack_median),
                Cell::Minutes(a.ack_p90),
                Cell::Minutes(a.resolve_median),
                Cell::Minutes(a.resolve_p90),
                Cell::Int(a.to_county),
                Cell::Int(a.to_city),
                Cell::Int(a.overnight),
                Cell::Int(a.dismissed),
                Cell::Pct(a.false_rate),
            ]
        }),
        note: None,
    });

    out.push(Table {
        sheet: "处置记录",
        title: "处置记录（按处置结果）".into(),
        headers: vec!["处置结果", "代码", "记录数", "其中认定误报"],
        rows: r
            .outcomes
            .iter()
            .map(|o| {
                vec![
                    Cell::text(o.label.clone().unwrap_or_else(|| "（未记录）".into())),
                    Cell::text(o.outcome.clone().unwrap_or_default()),
                    Cell::Int(o.records),
                    Cell::Int(o.dismissed),
                ]
            })
            .collect(),
        note: r.outcomes.is_empty().then(|| "本期无处置记录。".to_string()),
    });

    out.push(Table {
        sheet: "定位依据到期",
        title: "定位依据到期（统计期内及期末后7日）".into(),
        headers: vec!["区县", "司法所", "对象编号", "姓名", "依据类型", "截止时间", "已接续"],
        rows: r
            .bases_expiring
            .iter()
            .map(|b| {
                vec![
                    Cell::text(r.scope.county_of(b.office_id)),
                    Cell::text(r.scope.group_name(Group::Office(b.office_id))),
                    Cell::Int(b.person_id),
                    Cell::text(&b.name),
                    Cell::text(if b.kind == "order" { "电子定位决定" } else { "手机定位承诺书" }),
                    Cell::text(local_minute(b.ends_at)),
                    yes(b.renewed),
                ]
            })
            .collect(),
        note: r.bases_expiring.is_empty().then(|| "无。".to_string()),
    });

    out.push(Table {
        sheet: "请假",
        title: "请假外出".into(),
        headers: with_names(&["准假", "期内到期", "逾期未归"]),
        rows: breakdown(r, &r.leaves, |_, l| vec![Cell::Int(l.granted), Cell::Int(l.ended), Cell::Int(l.overdue)]),
        note: None,
    });

    out.push(ranking_table(r, Unit::Office, &r.ranking));
    if r.scope.org.kind == "city" {
        out.push(ranking_table(r, Unit::County, &r.county_ranking));
    }

    out.push(Table {
        sheet: "指标说明",
        title: "附录：指标说明".into(),
        headers: vec!["指标", "定义"],
        rows: crate::report::definitions().iter().map(|d| vec![Cell::text(d.term), Cell::text(d.text)]).collect(),
        note: Some(format!("比率的分母为零时记为“{}”。时间均为北京时间。", super::NONE)),
    });
    out
}

/// A ranking: offices (with their county) or counties; the streak and 约谈 columns where the
/// city's rankings are kept.
fn ranking_table(r: &Report, unit: Unit, ranked: &[Ranked]) -> Table {
    let kept = ranked.iter().any(|x| x.criticised_streak.is_some());
    let mut headers = vec!["名次"];
    if unit == Unit::Office {
        headers.push("区县");
    }
    headers.extend([
        if unit == Unit::Office { "司法所" } else { "区县" },
        "综合得分",
        "定位成功率",
        "定位率",
        "处置及时率",
        "过夜",
        "处置用时中位数（分钟）",
        "通报",
    ]);
    if kept {
        headers.extend(["连续通报批评期数", "约谈"]);
    }
    let rows = ranked
        .iter()
        .map(|x| {
            let mut row = vec![Cell::Int(x.rank as i64)];
            if unit == Unit::Office {
                row.push(Cell::text(r.scope.county_of(x.organisation_id)));
            }
            row.push(Cell::text(r.scope.group_name(unit.group(x.organisation_id))));
            row.extend([
                Cell::Score(x.score),
                Cell::Pct(x.success_rate),
                Cell::Pct(x.coverage),
                Cell::Pct(x.timely_rate),
                Cell::Int(x.overnight),
                Cell::Minutes(x.resolve_median),
                Cell::text(x.verdict.label_zh()),
            ]);
            if kept {
                row.push(Cell::Int(i64::from(x.criticised_streak.unwrap_or(0))));
                row.push(Cell::text(if x.talk() { "约谈" } else { "" }));
            }
            row
        })
        .collect();
    let (sheet, title, none) = match unit {
        Unit::Office => ("司法所排名", "司法所综合排名", "无参与排名的司法所。"),
        Unit::County => ("区县排名", "区县综合排名", "无参与排名的区县。"),
    };
    let talks: Vec<String> =
        ranked.iter().filter(|x| x.talk()).map(|x| r.scope.group_name(unit.group(x.organisation_id))).collect();
    let note = if ranked.is_empty() {
        Some(none.to_string())
    } else if !talks.is_empty() {
        Some(format!("连续{}期及以上通报批评，约谈负责人：{}。", TALK_AFTER, talks.join("、")))
    } else {
        None
    };
    Table { sheet, title: title.into(), headers, rows, note }
}
