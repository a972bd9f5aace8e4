//! Requests that were not answered, and the alarms that follows from that, in one transaction
//! with the request's outcome:
//! - `location_failure` 定位失败: the phone was in contact but no valid fix answered by the
//!   deadline (`no_fix`), or the carrier gateway could not locate it (`phone_off`,
//!   `no_coverage`);
//! - `device_silent` 失联: no contact from any of the person's phones for two intervals of their
//!   level (社区矫正法 Art. 30: a lost contact is searched for at once), checked whenever one of
//!   their requests fails;
//! - `leave_overdue` when a leave a person departed on has ended, its grace passed, and no fix
//!   at all came since (fixes raise it themselves, `ingest::leaves`);
//! - `basis_expiring` 7 days before a positioning order ends without a basis that follows it.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::polling::Intervals;
use crate::alarm::events::EventLog;
use crate::alarm::raise::{raise, Raise};
use crate::alarm::Kind;

/// A request that failed, as the alarm rules need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Failed {
    pub id: i64,
    pub person_id: i64,
    pub office_id: i64,
    pub reason: String,
    pub failure_reason: String,
    pub due_at: DateTime<Utc>,
    pub level: String,
    pub key_interval_min: Option<i16>,
    /// The newest contact of any of the person's active phones (their enrolment if none).
    pub last_contact_at: Option<DateTime<Utc>>,
}

/// What came of a tick's failures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub failed: usize,
    pub alarms: usize,
}

/// Fails the pending requests whose deadline passed before `now` (a fix at the deadline still
/// answers; up to `limit`): `no_fix` when a
/// phone of the person was in contact after the request was issued, `no_contact` when none was,
/// `expired` for confirmations (a later doubtful fix asks again); and raises what follows.
pub async fn expire(
    pool: &PgPool,
    now: DateTime<Utc>,
    intervals: &Intervals,
    limit: i64,
) -> Result<Raised, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT person_id FROM (
             SELECT person_id FROM location_requests WHERE state = 'pending' AND deadline_at < $1
             ORDER BY deadline_at LIMIT $2) due",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let persons = crate::person::lock_free(&mut tx, &candidates).await?;
    let failed: Vec<Failed> = sqlx::query_as(
        "WITH due AS (
             SELECT l.id FROM location_requests l
             WHERE l.person_id = ANY($2) AND l.state = 'pending' AND l.deadline_at < $1
             FOR NO KEY UPDATE),
              contact AS (
             SELECT l.id, (SELECT max(coalesce(d.last_contact_at, d.enrolled_at)) FROM devices d
                           WHERE d.person_id = l.person_id AND d.retired_at IS NULL) AS last_contact_at
             FROM location_requests l JOIN due ON due.id = l.id)
         UPDATE location_requests l
         SET state = 'failed', failed_at = $1,
             failure_reason = CASE WHEN l.reason = 'confirm' THEN 'expired'
                                   WHEN c.last_contact_at >= l.issued_at THEN 'no_fix' ELSE 'no_contact' END
         FROM contact c, persons p
         WHERE l.id = c.id AND p.id = l.person_id
         RETURNING l.id, l.person_id, p.office_id, l.reason, l.failure_reason, l.due_at, p.level, p.key_interval_min,
                   c.last_contact_at",
    )
    .bind(now)
    .bind(&persons)
    .fetch_all(&mut *tx)
    .await?;
    let mut log = EventLog::default();
    let mut alarms = 0;
    for f in failed.iter().filter(|f| f.reason != "confirm") {
        alarms += follow_up(&mut tx, &mut log, f, now, intervals).await?;
    }
    log.append(&mut tx).await?;
    tx.commit().await?;
    Ok(Raised { failed: failed.len(), alarms })
}

/// Records the carrier gateway's failure to locate the phone of request `id`; raises what
/// follows. `reason`: `phone_off`, `no_coverage`, `gateway_error` or `no_gateway`.
pub async fn gateway_failed(
    pool: &PgPool,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
    intervals: &Intervals,
) -> Result<Raised, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT 1 FROM persons p JOIN location_requests l ON l.person_id = p.id WHERE l.id = $1
         FOR NO KEY UPDATE OF p",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let failed: Option<Failed> = sqlx::query_as(
        "UPDATE location_requests l SET state = 'failed', failed_at = $3, failure_reason = $2
         FROM persons p
         WHERE l.id = $1 AND l.state = 'pending' AND p.id = l.person_id
         RETURNING l.id, l.person_id, p.office_id, l.reason, l.failure_reason, l.due_at, p.level, p.key_interval_min,
                   (SELECT max(coalesce(d.last_contact_at, d.enrolled_at)) FROM devices d
                    WHERE d.person_id = l.person_id AND d.retired_at IS NULL) AS last_contact_at",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let mut log = EventLog::default();
    let mut alarms = 0;
    if let Some(f) = &failed {
        alarms = follow_up(&mut tx, &mut log, f, now, intervals).await?;
    }
    log.append(&mut tx).await?;
    tx.commit().await?;
    Ok(Raised { failed: usize::from(failed.is_some()), alarms })
}

/// The alarms a failed scheduled request raises (see the module docs); how many opened.
async fn follow_up(
    tx: &mut PgConnection,
    log: &mut EventLog,
    f: &Failed,
    now: DateTime<Utc>,
    intervals: &Intervals,
) -> Result<usize, sqlx::Error> {
    let mut opened = 0;
    if matches!(f.failure_reason.as_str(), "no_fix" | "phone_off" | "no_coverage") {
        let r = Raise {
            person_id: f.person_id,
            office_id: f.office_id,
            kind: Kind::LocationFailure,
            fence_id: None,
            cause_at: Some(f.due_at),
            details: json!({"request": f.id, "reason": f.failure_reason}),
        };
        opened += usize::from(raise(tx, log, r).await?.is_some());
    }
    let silence = intervals.of(&f.level, f.key_interval_min) * 2;
    if f.last_contact_at.is_none_or(|t| t <= now - silence) {
        let r = Raise {
            person_id: f.person_id,
            office_id: f.office_id,
            kind: Kind::DeviceSilent,
            fence_id: None,
            cause_at: f.last_contact_at,
            details: json!({"request": f.id, "last_contact_at": f.last_contact_at, "silent_s": silence.num_seconds()}),
        };
        opened += usize::from(raise(tx, log, r).await?.is_some());
    }
    Ok(opened)
}

/// A leave whose end (and grace) passed.
#[derive(sqlx::FromRow)]
struct EndedLeave {
    id: i64,
    person_id: i64,
    office_id: i64,
    ends_at: DateTime<Utc>,
    fence_id: Option<i64>,
    no_fix_since: bool,
}

/// Raises `leave_overdue` for leaves that ended `grace` ago without a fix since their end, of
/// persons who departed on them; each leave is looked at once.
pub async fn overdue_leaves(
    pool: &PgPool,
    now: DateTime<Utc>,
    grace: Duration,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT person_id FROM (
             SELECT person_id FROM leaves
             WHERE state = 'approved' AND departed_at IS NOT NULL AND overdue_checked_at IS NULL
               AND ends_at <= $1 - make_interval(secs => $2)
             ORDER BY ends_at LIMIT $3) due",
    )
    .bind(now)
    .bind(grace.num_seconds() as f64)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let persons = crate::person::lock_free(&mut tx, &candidates).await?;
    let rows: Vec<EndedLeave> = sqlx::query_as(
        "WITH due AS (
             SELECT l.id FROM leaves l
             WHERE l.person_id = ANY($3) AND l.state = 'approved' AND l.departed_at IS NOT NULL
               AND l.overdue_checked_at IS NULL AND l.ends_at <= $1 - make_interval(secs => $2)
             FOR NO KEY UPDATE)
         UPDATE leaves l SET overdue_checked_at = $1
         FROM due, persons p
         WHERE l.id = due.id AND p.id = l.person_id
         RETURNING l.id, l.person_id, p.office_id, l.ends_at,
                   (SELECT min(f.id) FROM fences f WHERE f.leave_id = l.id) AS fence_id,
                   p.last_fix_at IS NULL OR p.last_fix_at < l.ends_at AS no_fix_since",
    )
    .bind(now)
    .bind(grace.num_seconds() as f64)
    .bind(&persons)
    .fetch_all(&mut *tx)
    .await?;
    let mut log = EventLog::default();
    let mut opened = 0;
    for l in rows {
        if !l.no_fix_since {
            continue; // fixes came: they judged it themselves
        }
        let r = Raise {
            person_id: l.person_id,
            office_id: l.office_id,
            kind: Kind::LeaveOverdue,
            fence_id: l.fence_id,
            cause_at: Some(l.ends_at),
            details: json!({"leave": l.id, "no_fix_since_end": true}),
        };
        opened += usize::from(raise(&mut tx, &mut log, r).await?.is_some());
    }
    log.append(&mut tx).await?;
    tx.commit().await?;
    Ok(opened)
}

/// Raises `basis_expiring` for positioning orders ending within `ahead` of `now` that no other
/// basis follows; each order is warned about once.
pub async fn expiring_bases(
    pool: &PgPool,
    now: DateTime<Utc>,
    ahead: Duration,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT person_id FROM (
             SELECT person_id FROM legal_bases
             WHERE kind = 'order' AND revoked_at IS NULL AND expiry_warned_at IS NULL
               AND ends_at <= $1 + make_interval(secs => $2)
             ORDER BY ends_at LIMIT $3) due",
    )
    .bind(now)
    .bind(ahead.num_seconds() as f64)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let persons = crate::person::lock_free(&mut tx, &candidates).await?;
    let rows: Vec<(i64, i64, i64, DateTime<Utc>, bool)> = sqlx::query_as(
        "WITH due AS (
             SELECT b.id FROM legal_bases b
             WHERE b.person_id = ANY($3) AND b.kind = 'order' AND b.revoked_at IS NULL
               AND b.expiry_warned_at IS NULL AND b.ends_at <= $1 + make_interval(secs => $2)
             FOR NO KEY UPDATE)
         UPDATE legal_bases b SET expiry_warned_at = $1
         FROM due, persons p
         WHERE b.id = due.id AND p.id = b.person_id
         RETURNING b.id, b.person_id, p.office_id, b.ends_at,
                   p.status = 'active' AND b.ends_at > $1
                   AND NOT EXISTS (SELECT 1 FROM legal_bases n WHERE n.person_id = b.person_id AND n.id <> b.id
                                   AND n.revoked_at IS NULL AND n.starts_at <= b.ends_at
                                   AND (n.ends_at IS NULL OR n.ends_at > b.ends_at))",
    )
    .bind(now)
    .bind(ahead.num_seconds() as f64)
    .bind(&persons)
    .fetch_all(&mut *tx)
    .await?;
    let mut log = EventLog::default();
    let mut opened = 0;
    for (basis, person_id, office_id, ends_at, unfollowed) in rows {
        if !unfollowed {
            continue;
        }
        let r = Raise {
            person_id,
            office_id,
            kind: Kind::BasisExpiring,
            fence_id: None,
            cause_at: None,
            details: json!({"basis": basis, "ends_at": ends_at}),
        };
        opened += usize::from(raise(&mut tx, &mut log, r).await?.is_some());
    }
    log.append(&mut tx).await?;
    tx.commit().await?;
    Ok(opened)
}
