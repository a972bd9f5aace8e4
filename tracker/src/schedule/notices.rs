//! The outbox of e-mail notices: one row per (alarm, step, recipient), written with the step
//! (see [`super::escalation`]). A notice is claimed — marked `sending`, committed — before the
//! mail server is spoken to, then recorded sent or failed; every outcome is also an event of the
//! alarm. A notice left `sending` by a crash is tried again after [`RECLAIM`] with the same
//! Message-ID, so that a mail the server had accepted just before the crash reaches a mailbox
//! that shows it once; a notice recorded sent is never sent again.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::alarm::events::{EventKind, EventLog, NewEvent};
use crate::alarm::{Kind, State};

/// How long a claimed notice may take before another claim may try it again.
pub const RECLAIM: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notice {
    pub id: i64,
    pub alarm_id: i64,
    pub step: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

/// Claims up to `limit` notices due by `now`.
pub async fn claim_due(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<Vec<Notice>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM notices WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
         UPDATE notices n SET state = 'sending', attempts = attempts + 1, next_attempt_at = $1 + make_interval(secs => $3)
         FROM due WHERE n.id = due.id
         RETURNING n.id, n.alarm_id, n.step, n.recipient, n.subject, n.body, n.attempts",
    )
    .bind(now)
    .bind(limit)
    .bind(RECLAIM.num_seconds() as f64)
    .fetch_all(pool)
    .await
}

/// How a sending attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again at this time.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    /// Given up.
    Failed {
        error: String,
    },
    /// No mail server is configured: recorded, not an error.
    Unsent,
}

/// An outbox row's columns after an attempt: its state, next attempt, error and time sent.
pub struct Recording<'a> {
    pub state: &'static str,
    pub next_attempt_at: DateTime<Utc>,
    pub error: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Outcome {
    /// What an outbox row (a notice, a report mail) records of this outcome at `now`.
    pub fn recording(&self, now: DateTime<Utc>) -> Recording<'_> {
        let (state, next_attempt_at, error, sent_at) = match self {
            Outcome::Sent => ("sent", now, None, Some(now)),
            Outcome::Retry { error, at } => ("pending", *at, Some(error.as_str()), None),
            Outcome::Failed { error } => ("failed", now, Some(error.as_str()), None),
            Outcome::Unsent => ("unsent", now, Some("no mail server is configured"), None),
        };
        Recording { state, next_attempt_at, error, sent_at }
    }
}

#[derive(sqlx::FromRow)]
struct Recorded {
    alarm_id: i64,
    kind: String,
    alarm_state: String,
    person_id: i64,
    office_id: i64,
    step: String,
    recipient: String,
    attempts: i32,
}

/// Records the outcome of notice `id` and its event, in one transaction.
pub async fn record(pool: &PgPool, id: i64, outcome: &Outcome, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let r = outcome.recording(now);
    let row: Option<Recorded> = sqlx::query_as(
        "UPDATE notices n SET state = $2, next_attempt_at = $3, last_error = coalesce($4, last_error), sent_at = $5
         FROM alarms a, persons p
         WHERE n.id = $1 AND n.state = 'sending' AND a.id = n.alarm_id AND p.id = n.person_id
         RETURNING n.alarm_id, a.kind, a.state AS alarm_state, p.id AS person_id, p.office_id, n.step, n.recipient, n.attempts",
    )
    .bind(id)
    .bind(r.state)
    .bind(r.next_attempt_at)
    .bind(r.error)
    .bind(r.sent_at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Recorded {
        alarm_id: alarm,
        kind,
        alarm_state,
        person_id: person,
        office_id: office,
        step,
        recipient,
        attempts,
    }) = row
    else {
        return Ok(()); // recorded already (a reclaim raced a slow send)
    };
    let kind: Kind = kind.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
    let alarm_state: State = alarm_state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let event = if *outcome == Outcome::Sent { EventKind::NoticeSent } else { EventKind::NoticeFailed };
    let mut log = EventLog::default();
    log.push(NewEvent {
        alarm_id: Some(alarm),
        from_state: Some(alarm_state),
        to_state: Some(alarm_state),
        details: json!({"notice": id, "step": step, "recipient": recipient, "attempt": attempts,
                        "error": r.error, "will_retry": matches!(outcome, Outcome::Retry { .. })}),
        ..NewEvent::new(event, person, office, kind)
    });
    log.append(&mut tx).await?;
    tx.commit().await
}
