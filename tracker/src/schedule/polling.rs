//! The polling plan: each active person has a `next_due_at`; when it comes, a location request
//! is issued (on the phone's next contact, or through the carrier gateway for Traccar Client,
//! which cannot receive commands over HTTP) and the next due time set from the person's level
//! as it is then (a level change takes effect from the next due time; the current one stands).
//! No legal basis in force at a due time stops polling (next_due_at NULL) until a new basis is
//! recorded (a trigger starts it again).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// How often each level is located (seconds). A 重点 person is located on the 1 h or the
/// 30 min interval their record chooses (`key_interval_min` 60 or 30), whatever their level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Intervals {
    pub lenient_s: i64,
    pub ordinary_s: i64,
    pub strict_s: i64,
    pub key_60_s: i64,
    pub key_30_s: i64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals { lenient_s: 12 * 3600, ordinary_s: 6 * 3600, strict_s: 3 * 3600, key_60_s: 3600, key_30_s: 1800 }
    }
}

impl Intervals {
    /// The interval of a person of `level` (`key_interval_min` for 重点 persons).
    pub fn of(&self, level: &str, key_interval_min: Option<i16>) -> Duration {
        Duration::seconds(match (key_interval_min, level) {
            (Some(30), _) => self.key_30_s,
            (Some(_), _) => self.key_60_s,
            (None, "lenient") => self.lenient_s,
            (None, "ordinary") => self.ordinary_s,
            (None, _) => self.strict_s,
        })
    }
}

/// A request just issued.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Issued {
    pub id: i64,
    pub person_id: i64,
    pub office_id: i64,
    pub device_id: Option<i64>,
    /// `next_contact` (delivered in the reply to the phone's next post, or its long poll) or
    /// `carrier` (the carrier gateway locates the phone).
    pub channel: String,
    pub due_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
}

/// Issues the requests of up to `limit` persons due by `now` (persons being ingested are skipped
/// and come next time); a request is answered by any accepted fix within `grace` of its due
/// time. With a carrier gateway (`carrier`), Traccar Client phones are located through it;
/// without, their own periodic reports answer. O(due): persons are found by `next_due_at`.
pub async fn issue_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    intervals: &Intervals,
    grace: Duration,
    carrier: bool,
    limit: i64,
) -> Result<Vec<Issued>, sqlx::Error> {
    // A due time missed by more than the grace (cctrack was down) is not made up for: one request
    // due now (a full grace to answer it), and the next an interval later. With no basis in force
    // polling pauses until the next basis starts (NULL when none is recorded: recording one
    // restarts it).
    sqlx::query_as(
        "WITH due AS (
             SELECT p.id, p.office_id, p.level, p.is_key, p.next_due_at,
                    CASE WHEN p.is_key THEN CASE WHEN p.key_interval_min = 30 THEN $8 ELSE $7 END
                         ELSE CASE p.level WHEN 'lenient' THEN $3 WHEN 'ordinary' THEN $4 ELSE $5 END END AS every_s,
                    EXISTS (SELECT 1 FROM legal_bases b WHERE b.person_id = p.id AND b.revoked_at IS NULL
                            AND b.starts_at <= $1 AND (b.ends_at IS NULL OR b.ends_at > $1)) AS lawful,
                    (SELECT min(b.starts_at) FROM legal_bases b WHERE b.person_id = p.id AND b.revoked_at IS NULL
                     AND b.starts_at > $1) AS next_basis_at,
                    (SELECT d.id FROM devices d WHERE d.person_id = p.id AND d.retired_at IS NULL
                     ORDER BY d.enrolled_at DESC, d.id DESC LIMIT 1) AS device_id
             FROM persons p
             WHERE p.status = 'active' AND p.next_due_at <= $1
             ORDER BY p.next_due_at LIMIT $2
             FOR NO KEY UPDATE OF p SKIP LOCKED),
              moved AS (
             UPDATE persons p SET next_due_at =
                    CASE WHEN NOT due.lawful THEN due.next_basis_at
                         WHEN due.next_due_at + make_interval(secs => due.every_s) > $1
                              THEN due.next_due_at + make_interval(secs => due.every_s)
                         ELSE $1 + make_interval(secs => due.every_s) END
             FROM due WHERE p.id = due.id),
              issued AS (
             INSERT INTO location_requests (person_id, device_id, reason, channel, issued_at, due_at, deadline_at,
                                            level, is_key, office_id)
             SELECT due.id, due.device_id, 'schedule',
                    CASE WHEN d.protocol = 'osmand' AND $9 THEN 'carrier' ELSE 'next_contact' END, $1,
                    CASE WHEN due.next_due_at < $1 - make_interval(secs => $6) THEN $1 ELSE due.next_due_at END,
                    CASE WHEN due.next_due_at < $1 - make_interval(secs => $6) THEN $1 ELSE due.next_due_at END
                        + make_interval(secs => $6),
                    due.level, due.is_key, due.office_id
             FROM due LEFT JOIN devices d ON d.id = due.device_id
             WHERE due.lawful
             RETURNING id, person_id, office_id, device_id, channel, due_at, deadline_at)
         -- Phones holding a long poll wake on this (delivered at commit).
         SELECT i.id, i.person_id, i.office_id, i.device_id, i.channel, i.due_at, i.deadline_at
         FROM issued i CROSS JOIN LATERAL (SELECT pg_notify('cctrack_requests', i.person_id::text)) n
         ORDER BY i.id",
    )
    .bind(now)
    .bind(limit)
    .bind(intervals.lenient_s as f64)
    .bind(intervals.ordinary_s as f64)
    .bind(intervals.strict_s as f64)
    .bind(grace.num_seconds() as f64)
    .bind(intervals.key_60_s as f64)
    .bind(intervals.key_30_s as f64)
    .bind(carrier)
    .fetch_all(pool)
    .await
}

/// A request for the carrier gateway.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForGateway {
    pub id: i64,
    pub person_id: i64,
    pub device_id: i64,
}

/// The carrier requests due and not yet asked, marked asked (so that no two ticks ask twice).
pub async fn take_for_gateway(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<Vec<ForGateway>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT l.id FROM location_requests l
             WHERE l.state = 'pending' AND l.channel = 'carrier' AND l.gateway_asked_at IS NULL AND l.due_at <= $1
             ORDER BY l.due_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
         UPDATE location_requests l SET gateway_asked_at = $1
         FROM due
         WHERE l.id = due.id
         RETURNING l.id, l.person_id, l.device_id",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records that the carrier gateway's fix at `fixed_at` answered request `id` (a gateway's clock
/// need not agree with ours to the second: the fix was taken for this request).
pub async fn answered_by_gateway(
    pool: &PgPool,
    id: i64,
    fixed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE location_requests SET state = 'answered', answered_at = $3, answer_fixed_at = $2
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(fixed_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The pending location request of `person` with the nearest deadline, if any.
pub async fn pending_for(
    pool: &PgPool,
    person: i64,
    now: DateTime<Utc>,
) -> Result<Option<(i64, String, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, reason, deadline_at FROM location_requests
         WHERE person_id = $1 AND state = 'pending' AND deadline_at > $2 ORDER BY deadline_at LIMIT 1",
    )
    .bind(person)
    .bind(now)
    .fetch_optional(pool)
    .await
}
