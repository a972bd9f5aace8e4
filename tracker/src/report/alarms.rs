//! Alarms raised in the period: by kind and by day, times to acknowledge and to resolve, 处置率,
//! 处置及时率, escalations, 过夜 and 误报率.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;

use super::sql::{self, Window};
use super::{Definition, Group};

pub const RAISED: Definition = Definition {
    term: "报警数",
    text: "报警时间在统计期内的报警数（电量低只是提示，不计入报警）；按报警时对象所在司法所和当时的监管等级计。本节各项均针对这些报警，处置情况计至报表生成时。",
};
pub const ACK_TIME: Definition = Definition {
    term: "签收用时",
    text: "从报警到签收（未签收而直接处置的，到处置）的分钟数；列出中位数和第90百分位数（连续插值）。",
};
pub const RESOLVE_TIME: Definition = Definition {
    term: "处置用时",
    text: "从报警到办结（处置或认定误报，均附处置记录）的分钟数；列出中位数和第90百分位数。",
};
pub const HANDLED_RATE: Definition = Definition {
    term: "处置率",
    text: "已附处置记录办结（含认定误报）的报警数 ÷ 报警数；报警数为零时记为“—”。",
};
pub const TIMELY_RATE: Definition = Definition {
    term: "处置及时率",
    text: "在升级阶梯第一步（未签收即通知县区司法局：重点、严管30分钟，其他2小时，以报警时所定阶梯为准）到期之前或到期时办结的报警数 ÷ 报警数。",
};
pub const ESCALATED: Definition = Definition {
    term: "升级至县区、升级至市局",
    text: "已实际升级通知县区司法局（超时未签收）、市司法局（22时仍未办结）的报警数。",
};
pub const OVERNIGHT: Definition = Definition {
    term: "过夜",
    text: "到报警当日24时（22时以后报警的，报警后2小时）仍未办结的报警数，即“问题不过夜”未做到的报警。",
};
pub const FALSE_RATE: Definition = Definition {
    term: "误报率",
    text: "认定为误报（撤销）的报警数 ÷ 报警数；报警数为零时记为“—”。",
};

pub const DEFINITIONS: &[Definition] =
    &[RAISED, ACK_TIME, RESOLVE_TIME, HANDLED_RATE, TIMELY_RATE, ESCALATED, OVERNIGHT, FALSE_RATE];

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct AlarmFigures {
    pub raised: i64,
    pub acknowledged: i64,
    /// Closed with a handling record (resolved or dismissed).
    pub handled: i64,
    pub dismissed: i64,
    /// Closed when the ladder's first step fell due, or before.
    pub timely: i64,
    pub to_county: i64,
    pub to_city: i64,
    pub overnight: i64,
    /// Minutes.
    pub ack_median: Option<f64>,
    pub ack_p90: Option<f64>,
    pub resolve_median: Option<f64>,
    pub resolve_p90: Option<f64>,
    /// 处置率, 处置及时率, 误报率.
    pub handled_rate: Option<f64>,
    pub timely_rate: Option<f64>,
    pub false_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct KindFigures {
    pub kind: String,
    pub raised: i64,
    pub handled: i64,
    pub dismissed: i64,
    pub overnight: i64,
    pub open: i64,
}

/// The bounds (minutes, upper bound excluded) of the time-to-resolve distribution's buckets; the
/// last bucket is open.
pub const RESOLVE_BUCKETS: [(i32, &str); 7] = [
    (30, "30分钟内"),
    (60, "30-60分钟"),
    (120, "1-2小时"),
    (240, "2-4小时"),
    (480, "4-8小时"),
    (1440, "8-24小时"),
    (i32::MAX, "24小时以上"),
];

/// Alarms of the period closed by `as_of`, by how long they took, in [`RESOLVE_BUCKETS`] order.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ResolveBucket {
    pub bucket: i32,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DayCount {
    /// The local (Asia/Shanghai) day the alarms opened on.
    pub day: NaiveDate,
    pub kind: String,
    pub count: i64,
}

/// One row per alarm raised in the period, with what happened to it by `as_of`. The ladder is the
/// one copied into the alarm when it opened; its first step (and its overnight time) are the ones
/// the scheduler planned, or computed from that ladder where none was planned.
fn facts() -> String {
    let ack = "least(CASE WHEN a.acknowledged_at <= $4 THEN a.acknowledged_at END,
                      CASE WHEN a.closed_at <= $4 THEN a.closed_at END)";
    format!(
        "{scope},
         raw AS (
            SELECT s.county_id, s.office_id, {level}, a.id, a.kind, a.opened_at,
                   CASE WHEN a.closed_at <= $4 THEN a.closed_at END AS closed_at,
                   CASE WHEN a.closed_at <= $4 THEN a.state END AS closed_state,
                   {ack} AS acked_at,
                   coalesce(a.ladder, (SELECT ladder FROM escalation_ladder)) AS ladder,
                   (a.opened_at AT TIME ZONE 'Asia/Shanghai') AS local_opened
            FROM alarms a JOIN persons p ON p.id = a.person_id JOIN scope s ON s.office_id = a.office_id
            {level_at}
            WHERE a.kind <> 'low_battery' AND a.opened_at >= $2 AND a.opened_at < $3 AND a.opened_at <= $4),
         facts AS (
            SELECT r.*,
                   coalesce((SELECT e.due_at FROM escalation_steps e WHERE e.alarm_id = r.id AND e.step = 'county'),
                            r.opened_at + make_interval(secs => (r.ladder ->> CASE WHEN r.is_key OR r.level = 'strict'
                                                                 THEN 'urgent_ack_s' ELSE 'ack_s' END)::float8)) AS first_step_at,
                   coalesce((SELECT e.due_at FROM escalation_steps e WHERE e.alarm_id = r.id AND e.step = 'overnight'),
                            CASE WHEN r.ladder ? 'overnight_after_s'
                                   THEN r.opened_at + make_interval(secs => (r.ladder ->> 'overnight_after_s')::float8)
                                 WHEN r.local_opened::time >= (r.ladder ->> 'city_at')::time
                                   THEN r.opened_at + make_interval(secs => (r.ladder ->> 'late_overnight_s')::float8)
                                 ELSE ((r.local_opened::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') END) AS overnight_at,
                   EXISTS (SELECT 1 FROM escalation_steps e WHERE e.alarm_id = r.id AND e.step = 'county' AND e.taken_at <= $4) AS to_county,
                   EXISTS (SELECT 1 FROM escalation_steps e WHERE e.alarm_id = r.id AND e.step = 'city' AND e.taken_at <= $4) AS to_city
            FROM raw r),
         judged AS (
            SELECT f.*, f.closed_at IS NOT NULL AND f.closed_at <= f.first_step_at AS timely,
                   f.overnight_at <= $4 AND (f.closed_at IS NULL OR f.closed_at > f.overnight_at) AS overnight
            FROM facts f)",
        scope = sql::SCOPE,
        level = sql::LEVEL,
        level_at = sql::level_at("a.opened_at"),
    )
}

pub(super) async fn figures(pool: &PgPool, w: &Window) -> Result<Vec<(Group, AlarmFigures)>, sqlx::Error> {
    let ack = sql::minutes("opened_at", "acked_at");
    let resolve = sql::minutes("opened_at", "closed_at");
    let sql = format!(
        "WITH {facts}
         SELECT {group},
                count(*) AS raised,
                count(acked_at) AS acknowledged,
                count(closed_at) AS handled,
                count(*) FILTER (WHERE closed_state = 'dismissed') AS dismissed,
                count(*) FILTER (WHERE timely) AS timely,
                count(*) FILTER (WHERE to_county) AS to_county,
                count(*) FILTER (WHERE to_city) AS to_city,
                count(*) FILTER (WHERE overnight) AS overnight,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY {ack}) FILTER (WHERE acked_at IS NOT NULL) AS ack_median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY {ack}) FILTER (WHERE acked_at IS NOT NULL) AS ack_p90,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY {resolve}) FILTER (WHERE closed_at IS NOT NULL) AS resolve_median,
                percentile_cont(0.9) WITHIN GROUP (ORDER BY {resolve}) FILTER (WHERE closed_at IS NOT NULL) AS resolve_p90,
                count(closed_at)::float8 / nullif(count(*), 0) AS handled_rate,
                (count(*) FILTER (WHERE timely))::float8 / nullif(count(*), 0) AS timely_rate,
                (count(*) FILTER (WHERE closed_state = 'dismissed'))::float8 / nullif(count(*), 0) AS false_rate
         FROM judged {sets}",
        facts = facts(),
        group = sql::GROUP,
        sets = sql::SETS,
    );
    sql::grouped(pool, w, &sql).await
}

/// Every alarm kind (but 电量低), with zeros for those not raised.
pub(super) async fn by_kind(pool: &PgPool, w: &Window) -> Result<Vec<KindFigures>, sqlx::Error> {
    let kinds: Vec<&str> = crate::alarm::Kind::ALL.iter().map(|k| k.as_str()).filter(|k| *k != "low_battery").collect();
    let sql = format!(
        "WITH {facts}
         SELECT k.kind, count(j.id) AS raised, count(j.closed_at) AS handled,
                count(*) FILTER (WHERE j.closed_state = 'dismissed') AS dismissed,
                count(*) FILTER (WHERE j.overnight) AS overnight,
                count(j.id) FILTER (WHERE j.closed_at IS NULL) AS open
         FROM unnest($5::text[]) WITH ORDINALITY AS k(kind, n) LEFT JOIN judged j ON j.kind = k.kind
         GROUP BY k.kind, k.n ORDER BY k.n",
        facts = facts(),
    );
    w.bind(sqlx::query_as(&sql)).bind(kinds).fetch_all(pool).await
}

pub(super) async fn per_day(pool: &PgPool, w: &Window) -> Result<Vec<DayCount>, sqlx::Error> {
    let sql = format!(
        "WITH {facts}
         SELECT local_opened::date AS day, kind, count(*) AS count FROM judged GROUP BY 1, 2 ORDER BY 1, 2",
        facts = facts(),
    );
    w.bind(sqlx::query_as(&sql)).fetch_all(pool).await
}

pub(super) async fn resolve_distribution(pool: &PgPool, w: &Window) -> Result<Vec<ResolveBucket>, sqlx::Error> {
    let bounds: Vec<i32> = RESOLVE_BUCKETS.iter().map(|b| b.0).collect();
    let sql = format!(
        "WITH {facts}
         SELECT (b.n - 1)::int4 AS bucket, count(j.id) AS count
         FROM unnest($5::int4[]) WITH ORDINALITY AS b(upper, n)
         LEFT JOIN judged j ON j.closed_at IS NOT NULL
              AND {minutes} < b.upper
              AND {minutes} >= coalesce(($5::int4[])[b.n - 1], 0)
         GROUP BY b.n ORDER BY b.n",
        facts = facts(),
        minutes = sql::minutes("j.opened_at", "j.closed_at"),
    );
    w.bind(sqlx::query_as(&sql)).bind(bounds).fetch_all(pool).await
}
