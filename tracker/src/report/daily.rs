//! The morning lists each office starts its day from (08:00, for the 24 hours before it):
//! 异常定位名单 (doubtful fixes: uncertain verdicts, implausible jumps, mock locations),
//! 越界人员名单 (breach alarms and their state) and 定位缺失名单 (failed location requests,
//! lost contact). Computed by SQL from the stored fixes, alarms and requests, for every office of
//! a scope at once.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::scope::{Org, Scope};
use super::sql::Window;
use super::ReportError;

/// When the lists are drawn up (local time); they cover the 24 hours before.
pub const LIST_TIME: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).expect("valid time");

/// The 24 hours a day's lists cover: 08:00 the day before to 08:00 of `day` (Asia/Shanghai).
pub fn window(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = crate::time::at_local(day, LIST_TIME);
    (end - Duration::days(1), end)
}

/// A person with doubtful fixes in the window.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DoubtfulFixes {
    pub person_id: i64,
    pub person_name: String,
    pub office_id: i64,
    pub uncertain: i64,
    pub implausible: i64,
    pub mock: i64,
    pub last_at: DateTime<Utc>,
}

/// A breach alarm (left the area, entered a forbidden place, curfew) opened in the window.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Breach {
    pub alarm_id: i64,
    pub person_id: i64,
    pub person_name: String,
    pub office_id: i64,
    pub kind: String,
    pub fence_name: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub state: String,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A person who could not be located in the window: failed requests, or contact lost.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Missing {
    pub person_id: i64,
    pub person_name: String,
    pub office_id: i64,
    pub failed: i64,
    pub last_reason: Option<String>,
    pub last_failed_at: Option<DateTime<Utc>>,
    /// A lost-contact (失联) alarm still open at the window's end.
    pub silent: bool,
    pub last_fix_at: Option<DateTime<Utc>>,
}

/// One office's three lists for one day.
#[derive(Debug, Clone, Serialize)]
pub struct DailyLists {
    pub office: Org,
    pub county: Option<Org>,
    pub day: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub doubtful: Vec<DoubtfulFixes>,
    pub breaches: Vec<Breach>,
    pub missing: Vec<Missing>,
    /// Persons in supervision at the window's end.
    pub in_supervision: i64,
    /// Where the console is, for the links to each person.
    pub console_url: String,
}

impl DailyLists {
    /// 《站前区跃进司法所社区矫正每日监管名单（2026年12月7日）》
    pub fn title(&self) -> String {
        let county = self.county.as_ref().map(|c| c.name.as_str()).unwrap_or("");
        let office = if self.office.name.starts_with(county) {
            self.office.name.clone()
        } else {
            format!("{county}{}", self.office.name)
        };
        format!("《{office}社区矫正每日监管名单（{}）》", super::period::day_zh(self.day))
    }

    /// The headline figures stored with the lists (the console's list and the mail show them).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({"in_supervision": self.in_supervision, "doubtful": self.doubtful.len(),
                           "breaches": self.breaches.len(), "missing": self.missing.len()})
    }

    /// The console page of a person.
    pub fn person_url(&self, person: i64) -> String {
        format!("{}/persons/{person}", self.console_url.trim_end_matches('/'))
    }
}

/// Why a location request failed, as the list says it.
pub fn failure_zh(reason: &str) -> &'static str {
    match reason {
        "no_fix" => "手机在线但未上报定位",
        "no_contact" => "手机未联系",
        "phone_off" => "关机",
        "no_coverage" => "无信号",
        "gateway_error" => "运营商定位出错",
        "no_gateway" => "无运营商定位",
        "expired" => "超时未应答",
        _ => "其他",
    }
}

/// The lists of every office within `scope_id` (the city, a county or an office) that has persons
/// in supervision, for `day`, as they stood at `as_of` (an alarm closed later shows open).
pub async fn build(
    pool: &PgPool,
    scope_id: i64,
    day: NaiveDate,
    as_of: DateTime<Utc>,
    console_url: &str,
) -> Result<Vec<DailyLists>, ReportError> {
    let (start, end) = window(day);
    let scope = Scope::load(pool, scope_id).await?;
    let w = Window { scope: scope_id, start, end, as_of };
    // Persons in supervision at the window's end (or now, before it ends), by office.
    let in_supervision: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT office_id, count(*) FROM persons
         WHERE org_within(office_id, $1) AND created_at <= $2 AND (released_at IS NULL OR released_at > $2)
         GROUP BY office_id",
    )
    .bind(scope_id)
    .bind(end.min(as_of))
    .fetch_all(pool)
    .await?;
    let doubtful: Vec<DoubtfulFixes> = w
        .bind(sqlx::query_as(
            "SELECT p.id AS person_id, p.name AS person_name, p.office_id,
                count(*) FILTER (WHERE f.verdicts @> '[{\"position\": \"uncertain\"}]') AS uncertain,
                count(*) FILTER (WHERE f.implausible) AS implausible,
                count(*) FILTER (WHERE f.mock) AS mock,
                max(f.fixed_at) AS last_at
         FROM fixes f JOIN persons p ON p.id = f.person_id
         WHERE f.fixed_at >= $2 AND f.fixed_at < $3 AND f.received_at <= $4 AND org_within(p.office_id, $1)
           AND (f.mock OR f.implausible OR f.verdicts @> '[{\"position\": \"uncertain\"}]')
         GROUP BY p.id ORDER BY p.name, p.id",
        ))
        .fetch_all(pool)
        .await?;
    let breaches: Vec<Breach> = w
        .bind(sqlx::query_as(
        "SELECT a.id AS alarm_id, p.id AS person_id, p.name AS person_name, a.office_id, a.kind, f.name AS fence_name,
                a.opened_at,
                CASE WHEN a.closed_at <= $4 THEN a.state
                     WHEN a.acknowledged_at <= $4 THEN 'acknowledged' ELSE 'open' END AS state,
                CASE WHEN a.closed_at <= $4 THEN a.closed_at END AS closed_at
         FROM alarms a JOIN persons p ON p.id = a.person_id LEFT JOIN fences f ON f.id = a.fence_id
         WHERE a.kind IN ('fence_exit', 'exclusion_entry', 'curfew') AND a.opened_at >= $2 AND a.opened_at < $3
           AND a.opened_at <= $4 AND org_within(a.office_id, $1)
         ORDER BY a.opened_at, a.id",
    ))
    .fetch_all(pool)
    .await?;
    let missing = format!(
        "WITH failed AS (
             SELECT r.person_id, count(*) AS failed,
                    (array_agg(r.failure_reason ORDER BY r.failed_at DESC))[1] AS last_reason,
                    max(r.failed_at) AS last_failed_at
             FROM location_requests r
             WHERE r.state = 'failed' AND r.failed_at >= $2 AND r.failed_at < $3 AND r.failed_at <= $4
               AND org_within(r.office_id, $1)
             GROUP BY r.person_id),
         silent AS (
             SELECT DISTINCT a.person_id FROM alarms a
             WHERE a.kind = 'device_silent' AND a.opened_at < least($3, $4)
               AND (a.closed_at IS NULL OR a.closed_at > least($3, $4)) AND org_within(a.office_id, $1))
         SELECT p.id AS person_id, p.name AS person_name, p.office_id, coalesce(f.failed, 0) AS failed,
                f.last_reason, f.last_failed_at, s.person_id IS NOT NULL AS silent,
                (SELECT max(x.fixed_at) FROM {fixes} AND x.fixed_at < $3 AND x.received_at <= $4) AS last_fix_at
         FROM persons p LEFT JOIN failed f ON f.person_id = p.id LEFT JOIN silent s ON s.person_id = p.id
         WHERE (f.person_id IS NOT NULL OR s.person_id IS NOT NULL)
         ORDER BY p.name, p.id",
        fixes = super::sql::fixes_of("x", "p.id")
    );
    let missing: Vec<Missing> = w.bind(sqlx::query_as(&missing)).fetch_all(pool).await?;
    Ok(scope
        .offices
        .iter()
        .filter_map(|office| {
            let in_supervision = in_supervision.iter().find(|(id, _)| *id == office.id).map(|(_, n)| *n)?;
            Some(DailyLists {
                doubtful: doubtful.iter().filter(|d| d.office_id == office.id).cloned().collect(),
                breaches: breaches.iter().filter(|b| b.office_id == office.id).cloned().collect(),
                missing: missing.iter().filter(|m| m.office_id == office.id).cloned().collect(),
                office: office.clone(),
                county: office.parent_id.and_then(|c| scope.county(c)).cloned(),
                day,
                start,
                end,
                in_supervision,
                console_url: console_url.to_string(),
            })
        })
        .collect())
}
