//! Alarms the scheduler raises (a location failure, lost contact, an overdue leave without
//! fixes, an expiring order): opened unless one is already open for the subject, with its
//! opening event.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

use super::events::{EventKind, EventLog, NewEvent};
use super::{Kind, State};

/// What to raise.
#[derive(Debug, Clone)]
pub struct Raise {
    pub person_id: i64,
    pub office_id: i64,
    pub kind: Kind,
    pub fence_id: Option<i64>,
    /// The fix or moment that caused it.
    pub cause_at: Option<DateTime<Utc>>,
    pub details: Value,
}

/// Opens the alarm unless one is open for (person, kind, fence); its id if opened. The opening
/// event goes to `log` (append it last in the transaction).
pub async fn raise(tx: &mut PgConnection, log: &mut EventLog, r: Raise) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO alarms (person_id, office_id, kind, fence_id, opened_at, cause_fixed_at)
         VALUES ($1, $2, $3, $4, now(), $5)
         ON CONFLICT (person_id, kind, coalesce(fence_id, 0)) WHERE state IN ('open', 'acknowledged') DO NOTHING
         RETURNING id",
    )
    .bind(r.person_id)
    .bind(r.office_id)
    .bind(r.kind.as_str())
    .bind(r.fence_id)
    .bind(r.cause_at)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        log.push(NewEvent {
            alarm_id: Some(id),
            fence_id: r.fence_id,
            to_state: Some(State::Open),
            fixed_at: r.cause_at,
            details: r.details,
            ..NewEvent::new(EventKind::Opened, r.person_id, r.office_id, r.kind)
        });
        tracing::info!(alarm = id, person = r.person_id, kind = r.kind.as_str(), "alarm raised");
    }
    Ok(id)
}
