//! Location requests and their answers (定位成功率), and persons who had to be located and were
//! (定位率), with the shortfalls by person.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::sql::{self, Window};
use super::{Definition, Group};

pub const ISSUED: Definition = Definition {
    term: "定位请求发出数",
    text: "统计期内调度按监管等级定时发出的定位请求数（不含确认请求和已取消的请求）；按发出时对象所在司法所和等级计。",
};
pub const SUCCESS_RATE: Definition = Definition {
    term: "定位成功率",
    text: "定时定位请求中在时限内获得定位应答的比例：应答数 ÷ 发出数；发出数为零时记为“—”。",
};
pub const COVERAGE: Definition = Definition {
    term: "定位率",
    text: "统计期内应当定位（至少收到一次定时定位请求）的对象中，期内至少有一个有效定位点的比例：已定位人数 ÷ 应定位人数；目标为95%，重点对象为100%；未定位的对象逐人列入“定位缺失名单”。",
};

pub const DEFINITIONS: &[Definition] = &[ISSUED, SUCCESS_RATE, COVERAGE];

/// 95 %: the seed's target for 定位率.
pub const COVERAGE_TARGET: f64 = 0.95;
/// 100 % for 重点 persons.
pub const KEY_COVERAGE_TARGET: f64 = 1.0;

/// The 定位率 target of a group's row.
pub fn coverage_target(g: Group) -> f64 {
    if g == Group::Key {
        KEY_COVERAGE_TARGET
    } else {
        COVERAGE_TARGET
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct RequestFigures {
    pub issued: i64,
    pub answered: i64,
    pub failed: i64,
    /// Neither answered nor failed yet.
    pub pending: i64,
    /// 定位成功率: answered ÷ issued.
    pub success_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct CoverageFigures {
    /// Persons who had to be located (a scheduled request issued to them in the period).
    pub due: i64,
    /// Of those, persons with at least one fix in the period.
    pub located: i64,
    /// 定位率: located ÷ due.
    pub coverage: Option<f64>,
}

/// A person who had to be located and was not.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Shortfall {
    pub person_id: i64,
    pub name: String,
    pub office_id: i64,
    pub level: String,
    pub is_key: bool,
    pub requests: i64,
    pub failed: i64,
    /// The newest fix before the period's end, if any.
    pub last_fix_at: Option<DateTime<Utc>>,
}

pub(super) async fn figures(pool: &PgPool, w: &Window) -> Result<Vec<(Group, RequestFigures)>, sqlx::Error> {
    let sql = format!(
        "WITH {scope},
         facts AS (
            SELECT s.county_id, s.office_id, coalesce(l.level, p.level) AS level, coalesce(l.is_key, p.is_key) AS is_key,
                   l.state = 'answered' AND l.answered_at <= $4 AS answered,
                   l.state = 'failed' AND l.failed_at <= $4 AS failed
            FROM location_requests l JOIN persons p ON p.id = l.person_id
            JOIN scope s ON s.office_id = coalesce(l.office_id, p.office_id)
            WHERE l.reason = 'schedule' AND l.state <> 'cancelled'
              AND l.issued_at >= $2 AND l.issued_at < $3 AND l.issued_at <= $4)
         SELECT {group},
                count(*) AS issued,
                count(*) FILTER (WHERE answered) AS answered,
                count(*) FILTER (WHERE failed) AS failed,
                count(*) FILTER (WHERE NOT answered AND NOT failed) AS pending,
                (count(*) FILTER (WHERE answered))::float8 / nullif(count(*), 0) AS success_rate
         FROM facts {sets}",
        scope = sql::SCOPE,
        group = sql::GROUP,
        sets = sql::SETS,
    );
    sql::grouped(pool, w, &sql).await
}

/// Persons due a fix in the period: each with the office and level of their latest request,
/// how many requests they had and how many failed, and whether a fix of the period is stored.
fn due() -> String {
    format!(
        "due AS (
    SELECT l.person_id,
           (array_agg(coalesce(l.office_id, p.office_id) ORDER BY l.issued_at DESC))[1] AS office_id,
           (array_agg(coalesce(l.level, p.level) ORDER BY l.issued_at DESC))[1] AS level,
           (array_agg(coalesce(l.is_key, p.is_key) ORDER BY l.issued_at DESC))[1] AS is_key,
           count(*) AS requests,
           count(*) FILTER (WHERE l.state = 'failed' AND l.failed_at <= $4) AS failed
    FROM location_requests l JOIN persons p ON p.id = l.person_id
    WHERE l.reason = 'schedule' AND l.state <> 'cancelled'
      AND l.issued_at >= $2 AND l.issued_at < $3 AND l.issued_at <= $4
    GROUP BY l.person_id),
  facts AS (
    SELECT s.county_id, s.office_id, d.level, d.is_key, d.person_id, d.requests, d.failed,
           EXISTS (SELECT 1 FROM {fixes} AND f.fixed_at >= $2 AND f.fixed_at < $3 AND f.received_at <= $4) AS located
    FROM due d JOIN scope s ON s.office_id = d.office_id)",
        fixes = sql::fixes_of("f", "d.person_id")
    )
}

pub(super) async fn coverage(pool: &PgPool, w: &Window) -> Result<Vec<(Group, CoverageFigures)>, sqlx::Error> {
    let sql = format!(
        "WITH {scope}, {due}
         SELECT {group},
                count(*) AS due,
                count(*) FILTER (WHERE located) AS located,
                (count(*) FILTER (WHERE located))::float8 / nullif(count(*), 0) AS coverage
         FROM facts {sets}",
        scope = sql::SCOPE,
        due = due(),
        group = sql::GROUP,
        sets = sql::SETS,
    );
    sql::grouped(pool, w, &sql).await
}

pub(super) async fn shortfalls(pool: &PgPool, w: &Window) -> Result<Vec<Shortfall>, sqlx::Error> {
    let sql = format!(
        "WITH {scope}, {due}
         SELECT f.person_id, p.name, f.office_id, f.level, f.is_key, f.requests, f.failed,
                (SELECT max(x.fixed_at) FROM {fixes} AND x.fixed_at < $3 AND x.received_at <= $4) AS last_fix_at
         FROM facts f JOIN persons p ON p.id = f.person_id
         WHERE NOT f.located
         ORDER BY f.is_key DESC, f.county_id, f.office_id, p.name, f.person_id",
        scope = sql::SCOPE,
        due = due(),
        fixes = sql::fixes_of("x", "f.person_id"),
    );
    w.bind(sqlx::query_as(&sql)).fetch_all(pool).await
}
