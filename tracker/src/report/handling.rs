//! Handling records (处置记录) written in the period, by outcome.

use serde::Serialize;
use sqlx::PgPool;

use super::sql::{self, Window};
use super::Definition;

pub const OUTCOMES: Definition = Definition {
    term: "处置记录",
    text: "办结时间在统计期内的报警的处置记录，按处置结果分类计数；其中“认定误报”为以误报撤销的记录。",
};

pub const DEFINITIONS: &[Definition] = &[OUTCOMES];

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OutcomeFigures {
    /// The outcome's code and the label it had when chosen (`None` for records from before outcomes).
    pub outcome: Option<String>,
    pub label: Option<String>,
    pub records: i64,
    pub dismissed: i64,
}

pub(super) async fn by_outcome(pool: &PgPool, w: &Window) -> Result<Vec<OutcomeFigures>, sqlx::Error> {
    let sql = format!(
        "WITH {scope}
         SELECT a.outcome, max(a.outcome_label) AS label, count(*) AS records,
                count(*) FILTER (WHERE a.state = 'dismissed') AS dismissed
         FROM alarms a JOIN scope s ON s.office_id = a.office_id
         WHERE a.kind <> 'low_battery' AND a.closed_at >= $2 AND a.closed_at < $3 AND a.closed_at <= $4
         GROUP BY a.outcome ORDER BY count(*) DESC, a.outcome",
        scope = sql::SCOPE,
    );
    w.bind(sqlx::query_as(&sql)).fetch_all(pool).await
}
