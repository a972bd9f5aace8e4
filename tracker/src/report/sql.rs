//! What every figure's SQL shares: the parameters ($1 scope, $2 start, $3 end, $4 as_of), the
//! offices in scope, a person's level at a time, and the breakdown by grouping sets.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{FromRow, Postgres};

use super::Group;

/// The parameters of every figure's query.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// $1: the scope organisation.
    pub scope: i64,
    /// $2, $3: the period, [start, end).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// $4: facts are counted as they stood at this time.
    pub as_of: DateTime<Utc>,
}

impl Window {
    pub fn bind<'q, O>(&self, q: QueryAs<'q, Postgres, O, PgArguments>) -> QueryAs<'q, Postgres, O, PgArguments> {
        q.bind(self.scope).bind(self.start).bind(self.end).bind(self.as_of)
    }
}

/// The offices in the scope's subtree with their county (a CTE named `scope`).
pub(super) const SCOPE: &str = "scope AS (
    SELECT o.id AS office_id, o.parent_id AS county_id
    FROM organisations o WHERE o.kind = 'office' AND org_within(o.id, $1))";

/// `fixes` of the person `person` (an SQL expression) as `alias`, with a WHERE to extend with AND:
/// read through the person's phones and the primary key (device, time), as tracks are, for fixes
/// have no index by person (migration 20261129000006).
pub(super) fn fixes_of(alias: &str, person: &str) -> String {
    format!(
        "fixes {alias} WHERE {alias}.device_id IN (SELECT dv.id FROM devices dv WHERE dv.person_id = {person})
                         AND {alias}.person_id = {person}"
    )
}

/// Joins `lv` with the level and 重点 flag person `p` had at `at` (from `person_levels`);
/// select them with [`LEVEL`].
pub(super) fn level_at(at: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT pl.level, pl.is_key FROM person_levels pl
                            WHERE pl.person_id = p.id AND pl.since <= {at}
                            ORDER BY pl.since DESC LIMIT 1) lv ON true"
    )
}

/// The level and 重点 flag from [`level_at`] (the person's present ones when no history reaches back).
pub(super) const LEVEL: &str = "coalesce(lv.level, p.level) AS level, coalesce(lv.is_key, p.is_key) AS is_key";

/// Selects the group of each row; the facts must have `county_id`, `office_id`, `level`, `is_key`.
pub(super) const GROUP: &str =
    "CASE WHEN GROUPING(office_id) = 0 THEN 'office' WHEN GROUPING(county_id) = 0 THEN 'county'
         WHEN GROUPING(level) = 0 THEN 'level' WHEN GROUPING(is_key) = 0 THEN 'key' ELSE 'total' END AS grp,
    county_id, office_id, level, is_key";

/// The breakdown: the whole scope, each county, each office, each level, 重点 or not.
pub(super) const SETS: &str = "GROUP BY GROUPING SETS ((), (county_id), (office_id), (level), (is_key))";

/// The group columns of a breakdown row.
#[derive(Debug, FromRow)]
pub(super) struct Dims {
    grp: String,
    county_id: Option<i64>,
    office_id: Option<i64>,
    level: Option<String>,
    is_key: Option<bool>,
}

impl Dims {
    /// The row's group; `None` for the rows of persons who are not 重点.
    pub fn group(&self) -> Option<Group> {
        match self.grp.as_str() {
            "total" => Some(Group::Total),
            "county" => self.county_id.map(Group::County),
            "office" => self.office_id.map(Group::Office),
            "level" => self.level.as_deref().and_then(|l| l.parse().ok()).map(Group::Level),
            "key" => (self.is_key == Some(true)).then_some(Group::Key),
            _ => None,
        }
    }
}

/// A breakdown row: its group and its figures.
#[derive(Debug, FromRow)]
pub(super) struct Grouped<T> {
    #[sqlx(flatten)]
    pub dims: Dims,
    #[sqlx(flatten)]
    pub figures: T,
}

/// Runs a breakdown query and keeps the rows with a group.
pub(super) async fn grouped<T>(pool: &sqlx::PgPool, w: &Window, sql: &str) -> Result<Vec<(Group, T)>, sqlx::Error>
where
    T: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let rows: Vec<Grouped<T>> = w.bind(sqlx::query_as(sql)).fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(|r| r.dims.group().map(|g| (g, r.figures))).collect())
}

/// Minutes between two timestamps, as a double.
pub(super) fn minutes(from: &str, to: &str) -> String {
    format!("(extract(epoch FROM ({to}) - ({from})) / 60.0)::float8")
}
