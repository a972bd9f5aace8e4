//! What `cctrack scheduler status` shows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Status {
    /// The process holding the leader lock, when it took it and last ticked (none: no leader).
    pub leader: Option<String>,
    pub leader_since: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Whether some session holds the lock right now.
    pub lock_held: bool,
    /// Persons whose location request is due.
    pub due: i64,
    /// How late the oldest due item is (seconds): a person's request, a request's deadline, an
    /// escalation step or a notice.
    pub lag_s: Option<f64>,
    pub pending_requests: i64,
    pub steps_due: i64,
    /// Notices not sent yet, and those given up.
    pub outbox_backlog: i64,
    pub outbox_failed: i64,
}

pub async fn status(pool: &PgPool, now: DateTime<Utc>) -> Result<Status, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.holder AS leader, l.since AS leader_since, l.heartbeat_at,
                EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                        AND (classid::int8 << 32 | objid::int8) = $2) AS lock_held,
                (SELECT count(*) FROM persons WHERE status = 'active' AND next_due_at <= $1) AS due,
                extract(epoch FROM $1 - least(
                    (SELECT min(next_due_at) FROM persons WHERE status = 'active' AND next_due_at <= $1),
                    (SELECT min(deadline_at) FROM location_requests WHERE state = 'pending' AND deadline_at <= $1),
                    (SELECT min(due_at) FROM escalation_steps WHERE taken_at IS NULL AND cancelled_at IS NULL AND due_at <= $1),
                    (SELECT min(next_attempt_at) FROM notices WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1)
                ))::float8 AS lag_s,
                (SELECT count(*) FROM location_requests WHERE state = 'pending') AS pending_requests,
                (SELECT count(*) FROM escalation_steps WHERE taken_at IS NULL AND cancelled_at IS NULL AND due_at <= $1) AS steps_due,
                (SELECT count(*) FROM notices WHERE state IN ('pending', 'sending')) AS outbox_backlog,
                (SELECT count(*) FROM notices WHERE state = 'failed') AS outbox_failed
         FROM (SELECT 1) one LEFT JOIN scheduler_leader l ON true",
    )
    .bind(now)
    .bind(super::leader::LOCK_KEY)
    .fetch_one(pool)
    .await
}
