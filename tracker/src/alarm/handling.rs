//! Staff acting on alarms: acknowledge (签收), resolve (处置) or dismiss (误报) with a handling
//! record, and reading a case with its history. Each action is one transaction: the alarm is
//! found within the account's organisation subtree (in SQL; outside it, as absent), the person's
//! row and then the alarm's are locked (the order ingest locks them in, so that ingest never
//! judges a fix against an alarm state that staff are changing), the lifecycle decides, the
//! alarm is updated and the event appended last.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use super::events::{EventKind, EventLog, NewEvent};
use super::feed::{self, FeedEvent};
use super::lifecycle::{self, Action, State, TransitionError};
use super::Kind;
use crate::staff::{Principal, Role};

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// No such alarm, or none in the account's organisation subtree (never says which).
    #[error("no alarm {0}")]
    NotFound(i64),
    #[error("the {} role only reads: it cannot {action} alarms", role.as_str())]
    ReadOnly { role: Role, action: &'static str },
    /// Somebody else got there first (or this action was already done).
    #[error("alarm {alarm} was already {} by {} at {}", state.as_str(), by.as_deref().unwrap_or("cctrack"), at.map(|t| crate::time::local(t).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default())]
    AlreadyHandled { alarm: i64, state: State, by: Option<String>, at: Option<DateTime<Utc>> },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An alarm as staff see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlarmCase {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub person_id: i64,
    pub person_name: String,
    pub level: String,
    pub is_key: bool,
    pub office_id: i64,
    pub office_name: String,
    pub fence_id: Option<i64>,
    pub fence_name: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub cause_fixed_at: Option<DateTime<Utc>>,
    pub returned_inside_at: Option<DateTime<Utc>>,
    pub evidence_count: i32,
    pub last_evidence_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub outcome: Option<String>,
    pub outcome_label: Option<String>,
    pub handling_note: Option<String>,
    pub overnight: bool,
    /// The last step of the escalation ladder taken: `county`, `city` or `overnight` (none yet:
    /// still with the office).
    pub escalation_step: Option<String>,
}

const CASE: &str = "SELECT a.id, a.kind, a.state, a.person_id, p.name AS person_name, p.level, p.is_key,
                           p.office_id, o.name AS office_name, a.fence_id, f.name AS fence_name, a.opened_at,
                           a.cause_fixed_at, a.returned_inside_at, a.evidence_count, a.last_evidence_at,
                           a.acknowledged_at, ack.username AS acknowledged_by, a.closed_at,
                           cl.username AS closed_by, a.outcome, a.outcome_label, a.handling_note, a.overnight,
                           (SELECT s.step FROM escalation_steps s WHERE s.alarm_id = a.id AND s.taken_at IS NOT NULL
                            ORDER BY s.taken_at DESC, s.id DESC LIMIT 1) AS escalation_step
                    FROM alarms a JOIN persons p ON p.id = a.person_id JOIN organisations o ON o.id = p.office_id
                    LEFT JOIN fences f ON f.id = a.fence_id
                    LEFT JOIN staff ack ON ack.id = a.acknowledged_by LEFT JOIN staff cl ON cl.id = a.closed_by";

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// States to include (none: open and acknowledged, the queue).
    pub states: Vec<State>,
    pub kinds: Vec<Kind>,
    /// Within this organisation (an office or a county), inside the account's own scope.
    pub organisation: Option<i64>,
    pub person: Option<i64>,
    pub opened_from: Option<DateTime<Utc>>,
    pub opened_to: Option<DateTime<Utc>>,
    /// Alarms with a smaller id than this (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// The alarms in `scope`'s organisation subtree that match, newest first.
pub async fn list(pool: &PgPool, scope: &Principal, f: &Filter) -> Result<Vec<AlarmCase>, sqlx::Error> {
    let states: Vec<&str> =
        if f.states.is_empty() { vec!["open", "acknowledged"] } else { f.states.iter().map(|s| s.as_str()).collect() };
    let kinds: Vec<&str> = f.kinds.iter().map(|k| k.as_str()).collect();
    sqlx::query_as(&format!(
        "{CASE} WHERE org_within(p.office_id, $1) AND a.state = ANY($2)
                  AND (cardinality($3::text[]) = 0 OR a.kind = ANY($3))
                  AND ($4::int8 IS NULL OR org_within(p.office_id, $4)) AND ($5::int8 IS NULL OR a.person_id = $5)
                  AND ($6::timestamptz IS NULL OR a.opened_at >= $6) AND ($7::timestamptz IS NULL OR a.opened_at < $7)
                  AND ($8::int8 IS NULL OR a.id < $8)
                ORDER BY a.id DESC LIMIT $9"
    ))
    .bind(scope.organisation_id)
    .bind(states)
    .bind(kinds)
    .bind(f.organisation)
    .bind(f.person)
    .bind(f.opened_from)
    .bind(f.opened_to)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}

/// The alarm and its whole history; `None` if there is no such alarm, or (with `scope`) none in
/// that account's organisation subtree.
pub async fn show(
    pool: &PgPool,
    alarm: i64,
    scope: Option<&Principal>,
) -> Result<Option<(AlarmCase, Vec<FeedEvent>)>, sqlx::Error> {
    let case: Option<AlarmCase> =
        sqlx::query_as(&format!("{CASE} WHERE a.id = $1 AND ($2::bigint IS NULL OR org_within(p.office_id, $2))"))
            .bind(alarm)
            .bind(scope.map(|s| s.organisation_id))
            .fetch_optional(pool)
            .await?;
    match case {
        Some(case) => Ok(Some((case, feed::history(pool, alarm).await?))),
        None => Ok(None),
    }
}

/// Does `action` to `alarm` as `who` (from `address`; audited in the same transaction); the case
/// as it is afterwards.
pub async fn act(
    pool: &PgPool,
    alarm: i64,
    who: &Principal,
    address: Option<std::net::IpAddr>,
    action: Action,
) -> Result<AlarmCase, HandleError> {
    let mut tx = pool.begin().await?;
    // In scope, or absent: the same answer.
    let person: Option<i64> = sqlx::query_scalar(
        "SELECT p.id FROM alarms a JOIN persons p ON p.id = a.person_id
         WHERE a.id = $1 AND org_within(p.office_id, $2) FOR NO KEY UPDATE OF p",
    )
    .bind(alarm)
    .bind(who.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    if person.is_none() {
        return Err(HandleError::NotFound(alarm));
    }
    if !who.role.may_change_records() {
        return Err(HandleError::ReadOnly { role: who.role, action: action.name() });
    }
    let row: Locked = sqlx::query_as(
        "SELECT a.state, a.kind, a.person_id, p.office_id, a.fence_id, a.acknowledged_at, ack.username AS acknowledged_by,
                a.closed_at, cl.username AS closed_by
         FROM alarms a JOIN persons p ON p.id = a.person_id
         LEFT JOIN staff ack ON ack.id = a.acknowledged_by LEFT JOIN staff cl ON cl.id = a.closed_by
         WHERE a.id = $1 FOR NO KEY UPDATE OF a",
    )
    .bind(alarm)
    .fetch_one(&mut *tx)
    .await?;
    let from: State = row.state.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let to = lifecycle::transition(from, &action).map_err(|e| match e {
        TransitionError::Closed(state) => {
            HandleError::AlreadyHandled { alarm, state, by: row.closed_by.clone(), at: row.closed_at }
        }
        TransitionError::AlreadyAcknowledged => HandleError::AlreadyHandled {
            alarm,
            state: State::Acknowledged,
            by: row.acknowledged_by.clone(),
            at: row.acknowledged_at,
        },
    })?;
    let (event, note, details) = match &action {
        Action::Acknowledge => {
            sqlx::query(
                "UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1",
            )
            .bind(alarm)
            .bind(who.id)
            .execute(&mut *tx)
            .await?;
            (EventKind::Acknowledged, None, json!({}))
        }
        Action::Resolve(h) | Action::Dismiss(h) => {
            sqlx::query(
                "UPDATE alarms SET state = $2, closed_at = now(), closed_by = $3, handling_note = $4, outcome = $5,
                                   outcome_label = $6
                 WHERE id = $1",
            )
            .bind(alarm)
            .bind(to.as_str())
            .bind(who.id)
            .bind(h.note.as_str())
            .bind(h.outcome.code())
            .bind(h.outcome.label_zh())
            .execute(&mut *tx)
            .await?;
            let kind = if to == State::Resolved { EventKind::Resolved } else { EventKind::Dismissed };
            (
                kind,
                Some(h.note.as_str().to_string()),
                json!({"outcome": h.outcome.code(), "outcome_label": h.outcome.label_zh()}),
            )
        }
    };
    let mut log = EventLog::default();
    let alarm_kind = row.kind.parse::<Kind>().map_err(|e| sqlx::Error::Decode(e.into()))?;
    log.push(NewEvent {
        alarm_id: Some(alarm),
        fence_id: row.fence_id,
        actor_id: Some(who.id),
        from_state: Some(from),
        to_state: Some(to),
        note,
        details,
        ..NewEvent::new(event, row.person_id, row.office_id, alarm_kind)
    });
    log.append(&mut tx).await?;
    let audited = match &action {
        Action::Resolve(h) | Action::Dismiss(h) => json!({"outcome": h.outcome.code(), "note": h.note.as_str()}),
        Action::Acknowledge => json!({}),
    };
    crate::audit::Actor::staff(who.id, address)
        .record(&mut tx, &format!("alarm.{}", action.name()), format!("alarm {alarm}"), Some(row.person_id), audited)
        .await?;
    tx.commit().await?;
    tracing::info!(alarm, staff = %who.username, action = action.name(), state = to.as_str(), "alarm handled");
    let (case, _) = show(pool, alarm, None).await?.ok_or(HandleError::NotFound(alarm))?;
    Ok(case)
}

#[derive(sqlx::FromRow)]
struct Locked {
    state: String,
    kind: String,
    person_id: i64,
    office_id: i64,
    fence_id: Option<i64>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<String>,
}

/// The account called `username`, for the command line's `--as` (the operator of the server
/// acts for a named account; every action is recorded under it).
pub async fn principal(pool: &PgPool, username: &str) -> Result<Option<Principal>, sqlx::Error> {
    if !crate::login::is_username(username) {
        return Ok(None);
    }
    let row: Option<(i64, i64, String)> =
        sqlx::query_as("SELECT id, organisation_id, role FROM staff WHERE username = $1 AND active")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(id, organisation_id, role)| {
        Some(Principal { id, username: username.to_string(), organisation_id, role: Role::parse(&role)? })
    }))
}
