//! Escalation steps. The scheduler reads the alarm feed for alarms that opened and plans each
//! one's steps from the ladder copied into it ([`opened_after`], [`plan`]: the steps and the
//! feed cursor in one transaction, so a crash neither loses nor repeats a plan). When a step
//! falls due, [`take_due`] locks the alarm and the step, and either takes it — the
//! step marked, its event and its notices written in the same transaction, before anyone is
//! told — or cancels it when the alarm no longer needs it. Each (alarm, step) row is unique: a
//! second scheduler, or a restart, can neither lose nor repeat a step.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::alarm::events::{EventKind, EventLog, NewEvent};
use crate::alarm::{Kind, State};

/// The feed consumer that plans escalations.
pub const CONSUMER: &str = "escalation";

/// An alarm that opened, as the ladder needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Opened {
    pub position: i64,
    pub alarm_id: i64,
    pub person_id: i64,
    pub kind: String,
    pub opened_at: DateTime<Utc>,
    /// The ladder copied into the alarm when it opened.
    pub ladder: Option<Value>,
    pub level: String,
    pub is_key: bool,
}

/// The alarms that opened after the cursor, and the feed position read up to (the last event
/// looked at, opened or not).
pub async fn opened_after(pool: &PgPool, limit: i64) -> Result<(Vec<Opened>, i64), sqlx::Error> {
    let cursor = super::calendar::cursor(pool, CONSUMER).await?;
    let upto: Option<i64> = sqlx::query_scalar(
        "SELECT max(position) FROM (SELECT position FROM alarm_events WHERE position > $1 ORDER BY position LIMIT $2) e",
    )
    .bind(cursor)
    .bind(limit)
    .fetch_one(pool)
    .await?;
    let Some(upto) = upto else { return Ok((Vec::new(), cursor)) };
    let opened = sqlx::query_as(
        "SELECT e.position, a.id AS alarm_id, a.person_id, a.kind, a.opened_at, a.ladder, p.level, p.is_key
         FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id JOIN persons p ON p.id = a.person_id
         WHERE e.position > $1 AND e.position <= $2 AND e.kind = 'opened'
         ORDER BY e.position",
    )
    .bind(cursor)
    .bind(upto)
    .fetch_all(pool)
    .await?;
    Ok((opened, upto))
}

/// One planned step.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub alarm_id: i64,
    pub person_id: i64,
    pub step: &'static str,
    pub due_at: DateTime<Utc>,
}

/// Records planned steps (a step planned before is kept as it was) and moves the cursor to
/// `upto`, in one transaction.
pub async fn plan(pool: &PgPool, steps: &[PlannedStep], upto: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO escalation_steps (alarm_id, person_id, step, due_at)
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::timestamptz[])
         ON CONFLICT (alarm_id, step) DO NOTHING",
    )
    .bind(steps.iter().map(|s| s.alarm_id).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.person_id).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.step).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.due_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    super::calendar::set_cursor(&mut tx, CONSUMER, upto).await?;
    tx.commit().await
}

/// A step that fell due, with what its notice needs.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DueStep {
    pub step_id: i64,
    pub step: String,
    pub due_at: DateTime<Utc>,
    pub alarm_id: i64,
    pub alarm_kind: String,
    pub alarm_state: String,
    pub opened_at: DateTime<Utc>,
    pub fence_name: Option<String>,
    pub person_id: i64,
    pub person_name: String,
    pub level: String,
    pub is_key: bool,
    pub office_id: i64,
    pub office_name: String,
    pub county_name: String,
    pub county_adcode: Option<String>,
    pub city_adcode: Option<String>,
    /// The person's last known position (WGS-84) and when.
    pub last_lon: Option<f64>,
    pub last_lat: Option<f64>,
    pub last_fix_at: Option<DateTime<Utc>>,
    /// The e-mail addresses of the county bureau's designated staff (county_admin) and of the
    /// city bureau's monitoring centre (city_admin).
    pub county_emails: Vec<String>,
    pub city_emails: Vec<String>,
}

/// A notice to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

/// What the scheduler decides for a due step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The alarm no longer needs it (acknowledged, resolved, dismissed).
    Cancel,
    /// Take it, telling these.
    Take(Vec<NewNotice>),
}

/// Takes or cancels up to `limit` steps due by `now`, each in its own transaction; how many
/// were taken. A step that fails is logged and left for the next tick: it does not hold up the
/// steps after it (only a failure to read the due steps is returned).
pub async fn take_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
    decide: impl Fn(&DueStep) -> Decision,
) -> Result<usize, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM escalation_steps WHERE taken_at IS NULL AND cancelled_at IS NULL AND due_at <= $1
         ORDER BY due_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut taken = 0;
    for id in ids {
        match take_one(pool, id, now, &decide).await {
            Ok(t) => taken += usize::from(t),
            Err(e) => tracing::error!(step = id, error = %e, "escalation step failed; it is tried again next tick"),
        }
    }
    Ok(taken)
}

async fn take_one(
    pool: &PgPool,
    id: i64,
    now: DateTime<Utc>,
    decide: &impl Fn(&DueStep) -> Decision,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Alarm, then step. A step does not change the alarm's state, so unlike staff it leaves the
    // person's row to ingest: the references it writes to the person take only a key-share lock,
    // which ingest's and staff's NO KEY UPDATE does not block. SKIP LOCKED: another scheduler
    // holds it, or staff or ingest are acting on the alarm: the next tick looks again.
    let locked: Option<i64> = sqlx::query_scalar(
        "SELECT s.id FROM escalation_steps s JOIN alarms a ON a.id = s.alarm_id
         WHERE s.id = $1 AND s.taken_at IS NULL AND s.cancelled_at IS NULL
         FOR NO KEY UPDATE OF a, s SKIP LOCKED",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Ok(false);
    }
    let due: DueStep = sqlx::query_as(
        "SELECT s.id AS step_id, s.step, s.due_at, a.id AS alarm_id, a.kind AS alarm_kind, a.state AS alarm_state,
                a.opened_at, f.name AS fence_name, p.id AS person_id, p.name AS person_name, p.level, p.is_key,
                o.id AS office_id, o.name AS office_name, c.name AS county_name, c.adcode AS county_adcode,
                ci.adcode AS city_adcode, ST_X(p.last_fix_position) AS last_lon, ST_Y(p.last_fix_position) AS last_lat,
                p.last_fix_at,
                ARRAY(SELECT st.email FROM staff st WHERE st.organisation_id = c.id AND st.role = 'county_admin'
                      AND st.active AND st.email IS NOT NULL ORDER BY st.id) AS county_emails,
                ARRAY(SELECT st.email FROM staff st WHERE st.organisation_id = ci.id AND st.role = 'city_admin'
                      AND st.active AND st.email IS NOT NULL ORDER BY st.id) AS city_emails
         FROM escalation_steps s JOIN alarms a ON a.id = s.alarm_id JOIN persons p ON p.id = s.person_id
         JOIN organisations o ON o.id = p.office_id JOIN organisations c ON c.id = o.parent_id
         JOIN organisations ci ON ci.id = c.parent_id LEFT JOIN fences f ON f.id = a.fence_id
         WHERE s.id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let notices = match decide(&due) {
        Decision::Cancel => {
            sqlx::query("UPDATE escalation_steps SET cancelled_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(false);
        }
        Decision::Take(notices) => notices,
    };
    sqlx::query("UPDATE escalation_steps SET taken_at = $2 WHERE id = $1").bind(id).bind(now).execute(&mut *tx).await?;
    if due.step == "overnight" {
        sqlx::query("UPDATE alarms SET overnight = true WHERE id = $1").bind(due.alarm_id).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO notices (alarm_id, person_id, step, recipient, subject, body, next_attempt_at)
         SELECT $1, $2, $3, r, s, b, $7 FROM UNNEST($4::text[], $5::text[], $6::text[]) AS n(r, s, b)
         ON CONFLICT (alarm_id, step, recipient) DO NOTHING",
    )
    .bind(due.alarm_id)
    .bind(due.person_id)
    .bind(&due.step)
    .bind(notices.iter().map(|n| n.recipient.clone()).collect::<Vec<_>>())
    .bind(notices.iter().map(|n| n.subject.clone()).collect::<Vec<_>>())
    .bind(notices.iter().map(|n| n.body.clone()).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let state: State = due.alarm_state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let kind: Kind = due.alarm_kind.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
    let mut log = EventLog::default();
    log.push(NewEvent {
        alarm_id: Some(due.alarm_id),
        from_state: Some(state),
        to_state: Some(state),
        details: json!({"step": due.step, "due_at": due.due_at,
                        "recipients": notices.iter().map(|n| n.recipient.as_str()).collect::<Vec<_>>()}),
        ..NewEvent::new(
            if due.step == "overnight" { EventKind::Overnight } else { EventKind::Escalated },
            due.person_id,
            due.office_id,
            kind,
        )
    });
    log.append(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(alarm = due.alarm_id, step = %due.step, notices = notices.len(), "escalation step taken");
    Ok(true)
}
