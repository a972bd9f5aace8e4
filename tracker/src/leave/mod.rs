//! Leaves (请假外出). An approved leave lets the person be at its destination, and on its route,
//! during its window: approving one stores those places as fences of the person in the same
//! transaction, so the fence cache and the verdicts treat them like any inclusion fence (see
//! `decide` for requests, approval and cancellation).
//! Ingest then records when the person was first seen away and when they came back; a person
//! still away after the window is overdue (`leave_overdue`, see `ingest::leaves`).

mod decide;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

pub use decide::{cancel, decide, grant, request, Granted, LeaveRequest};

use crate::fence::FenceStoreError;
use crate::staff::Principal;

/// A judicial office may approve a leave of up to 7 days; longer ones need the county bureau
/// (社区矫正法实施办法 第二十七条).
pub const OFFICE_APPROVES_UP_TO_DAYS: i64 = 7;
/// No single leave is longer than 30 days.
pub const MAX_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum LeaveError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("person: {0} does not exist")]
    NoPerson(i64),
    #[error("not found: leave {0}")]
    NoLeave(i64),
    #[error("approved_by: no active staff account is named {0:?}")]
    NoApprover(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {source}")]
    Place { field: &'static str, source: FenceStoreError },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A leave as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LeaveSummary {
    pub id: i64,
    pub person: i64,
    pub person_name: String,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `requested`, `approved`, `rejected`, `returned` or `cancelled`.
    pub state: String,
    pub requested_by: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    pub departed_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The destination's fence, then the route's.
    pub fences: Vec<i64>,
}

const LEAVES: &str = "SELECT l.id, l.person_id AS person, p.name AS person_name, l.reason, l.starts_at, l.ends_at,
                             l.state, rq.username AS requested_by, dc.username AS decided_by, l.decided_at,
                             l.decision_note, l.departed_at, l.returned_at, l.cancelled_at,
                             ARRAY(SELECT f.id FROM fences f WHERE f.leave_id = l.id ORDER BY f.id) AS fences
                      FROM leaves l JOIN persons p ON p.id = l.person_id
                      LEFT JOIN staff rq ON rq.id = l.requested_by LEFT JOIN staff dc ON dc.id = l.decided_by";

/// Leaves, newest first, of one person or of everybody.
pub async fn list(pool: &PgPool, person: Option<i64>) -> Result<Vec<LeaveSummary>, sqlx::Error> {
    sqlx::query_as(&format!("{LEAVES} WHERE $1::int8 IS NULL OR l.person_id = $1 ORDER BY l.starts_at DESC, l.id DESC"))
        .bind(person)
        .fetch_all(pool)
        .await
}

/// What to list over the API.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub person: Option<i64>,
    pub state: Option<String>,
    /// Leaves with a smaller id than this (the previous page's cursor).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Leaves of persons in `scope`'s subtree, newest request first.
pub async fn list_in_scope(pool: &PgPool, scope: &Principal, f: &Filter) -> Result<Vec<LeaveSummary>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{LEAVES} WHERE org_within(p.office_id, $1) AND ($2::int8 IS NULL OR l.person_id = $2)
                    AND ($3::text IS NULL OR l.state = $3) AND ($4::int8 IS NULL OR l.id < $4)
         ORDER BY l.id DESC LIMIT $5"
    ))
    .bind(scope.organisation_id)
    .bind(f.person)
    .bind(&f.state)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}

/// An approved leave that has not been closed by the person's return.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenLeave {
    pub id: i64,
    pub person_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub departed_at: Option<DateTime<Utc>>,
}

/// The open leaves of `persons` (read under their row locks).
pub async fn open_for(conn: &mut PgConnection, persons: &[i64]) -> Result<Vec<OpenLeave>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, person_id, starts_at, ends_at, departed_at FROM leaves
         WHERE person_id = ANY($1) AND state = 'approved' ORDER BY person_id, starts_at",
    )
    .bind(persons)
    .fetch_all(conn)
    .await
}

/// The person was first seen away, at `at`.
pub async fn mark_departed(conn: &mut PgConnection, leave: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE leaves SET departed_at = $2 WHERE id = $1 AND departed_at IS NULL")
        .bind(leave)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The person is back in their usual area, at `at`: the leave is over (销假).
pub async fn mark_returned(conn: &mut PgConnection, leave: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE leaves SET state = 'returned', returned_at = $2 WHERE id = $1 AND state = 'approved'")
        .bind(leave)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
