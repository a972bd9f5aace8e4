//! Legal bases expiring, and leaves granted and overdue.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::sql::{self, Window};
use super::{Definition, Group};

/// Bases ending this long after the period are listed too (the scheduler warns 7 days ahead).
pub const EXPIRY_NOTICE_DAYS: i32 = 7;

pub const BASES_EXPIRING: Definition = Definition {
    term: "定位依据到期",
    text: "未撤销的定位依据（手机定位承诺书或电子定位决定），其截止时间在统计期内或期末后7日内，逐人列出；已有接续依据的注明“已接续”。",
};
pub const LEAVES_GRANTED: Definition = Definition {
    term: "准假",
    text: "批准时间在统计期内的请假外出数（含批准后又取消的）。",
};
pub const LEAVES_OVERDUE: Definition = Definition {
    term: "逾期未归",
    text: "截止时间在统计期内、对象已离开的请假中，截止时仍未返回（迟归或至报表生成时未归）的数量。",
};

pub const DEFINITIONS: &[Definition] = &[BASES_EXPIRING, LEAVES_GRANTED, LEAVES_OVERDUE];

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ExpiringBasis {
    pub basis_id: i64,
    pub person_id: i64,
    pub name: String,
    pub office_id: i64,
    /// `consent` or `order`.
    pub kind: String,
    pub ends_at: DateTime<Utc>,
    /// Another basis of the person takes over when this one ends.
    pub renewed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct LeaveFigures {
    pub granted: i64,
    /// Leaves whose end fell in the period.
    pub ended: i64,
    pub overdue: i64,
}

pub(super) async fn bases_expiring(pool: &PgPool, w: &Window) -> Result<Vec<ExpiringBasis>, sqlx::Error> {
    let sql = format!(
        "WITH {scope}
         SELECT b.id AS basis_id, p.id AS person_id, p.name, p.office_id, b.kind, b.ends_at,
                EXISTS (SELECT 1 FROM legal_bases n
                        WHERE n.person_id = b.person_id AND n.id <> b.id AND n.revoked_at IS NULL AND n.created_at <= $4
                          AND n.starts_at <= b.ends_at AND (n.ends_at IS NULL OR n.ends_at > b.ends_at)) AS renewed
         FROM legal_bases b JOIN persons p ON p.id = b.person_id JOIN scope s ON s.office_id = p.office_id
         WHERE (b.revoked_at IS NULL OR b.revoked_at > $4) AND b.created_at <= $4
           AND b.ends_at >= $2 AND b.ends_at < $3 + make_interval(days => {EXPIRY_NOTICE_DAYS})
           AND (p.released_at IS NULL OR p.released_at > b.ends_at OR p.released_at > $4)
         ORDER BY b.ends_at, s.county_id, p.office_id, p.name, b.id",
        scope = sql::SCOPE,
    );
    w.bind(sqlx::query_as(&sql)).fetch_all(pool).await
}

pub(super) async fn leaves(pool: &PgPool, w: &Window) -> Result<Vec<(Group, LeaveFigures)>, sqlx::Error> {
    let sql = format!(
        "WITH {scope},
         facts AS (
            SELECT s.county_id, s.office_id, {level},
                   l.decided_by IS NOT NULL AND l.state IN ('approved', 'returned', 'cancelled')
                       AND l.decided_at >= $2 AND l.decided_at < $3 AND l.decided_at <= $4 AS granted,
                   l.decided_by IS NOT NULL AND l.state IN ('approved', 'returned')
                       AND l.ends_at >= $2 AND l.ends_at < $3 AND l.ends_at <= $4 AS ended,
                   l.decided_by IS NOT NULL AND l.state IN ('approved', 'returned')
                       AND l.ends_at >= $2 AND l.ends_at < $3 AND l.ends_at <= $4
                       AND l.departed_at IS NOT NULL AND l.departed_at <= $4
                       AND (l.returned_at IS NULL OR l.returned_at > l.ends_at) AS overdue
            FROM leaves l JOIN persons p ON p.id = l.person_id JOIN scope s ON s.office_id = p.office_id
            {level_at}
            WHERE (l.decided_at >= $2 AND l.decided_at < $3) OR (l.ends_at >= $2 AND l.ends_at < $3))
         SELECT {group},
                count(*) FILTER (WHERE granted) AS granted,
                count(*) FILTER (WHERE ended) AS ended,
                count(*) FILTER (WHERE overdue) AS overdue
         FROM facts {sets}",
        scope = sql::SCOPE,
        level = sql::LEVEL,
        level_at = sql::level_at("l.starts_at"),
        group = sql::GROUP,
        sets = sql::SETS,
    );
    sql::grouped(pool, w, &sql).await
}
