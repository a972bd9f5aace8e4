//! The staff API (`/api/v1`): sessions (a cookie for the console, bearer tokens for machines; HTTP
//! basic authentication too), logins limited per account and address (`tracker::login`). Every record is checked against the account's organisation subtree in
//! SQL; a record outside it is answered exactly as a missing one (404), and a role that only
//! reads gets 403 for a write on a record it can see.
//!
//! One module per resource, each with its own `router()`.

mod alarms;
mod audit;
mod auth;
mod devices;
mod events;
mod persons;
mod records;
mod sessions;
mod tracks;

use axum::Router;

pub use auth::StaffUser;

use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(sessions::router())
        .merge(alarms::router())
        .merge(events::router())
        .merge(persons::router())
        .merge(records::router())
        .merge(tracks::router())
        .merge(audit::router())
        .merge(devices::router())
}

/// Whether `who` may see `person`: 404 (as for a person that does not exist) if not.
async fn visible_person(state: &AppState, who: &StaffUser, person: i64) -> Result<(), ApiError> {
    match tracker::staff::supervises_person(&state.pool, &who.principal, person).await? {
        Some(true) => Ok(()),
        _ => Err(ApiError::NotFound(format!("person {person}"))),
    }
}

/// 403 unless `who`'s role may change records (auditors read only).
fn may_write(who: &StaffUser) -> Result<(), ApiError> {
    if who.principal.role.may_change_records() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("the {} role cannot change records", who.principal.role.as_str())))
    }
}

/// A page size from 1 to 1000 (100 when not given).
fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad("limit", format!("{limit} is not 1 to 1000")))
    }
}

/// The cursor of the next page (the last id of a full page), for `before`.
fn next_cursor(ids: impl DoubleEndedIterator<Item = i64> + ExactSizeIterator, limit: i64) -> Option<i64> {
    let full = ids.len() as i64 == limit;
    ids.last().filter(|_| full)
}

/// Writes what `who` did to the audit log.
async fn audit(
    state: &AppState,
    who: &StaffUser,
    action: &str,
    subject: String,
    person_id: Option<i64>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let entry = tracker::audit::Entry {
        staff_id: Some(who.principal.id),
        action,
        subject,
        person_id,
        details,
        address: who.address,
    };
    Ok(tracker::audit::record(&state.pool, &entry).await?)
}
