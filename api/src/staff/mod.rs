//! The staff API (`/api/v1`), for machine clients until the console brings sessions: HTTP basic
//! authentication with a staff account ([`StaffUser`]), logins limited per account and address
//! (`tracker::login`). Every record is checked against the account's organisation subtree in
//! SQL; a record outside it is answered exactly as a missing one (404), and a role that only
//! reads gets 403 for a write on a record it can see.
//!
//! One module per resource, each with its own `router()`.

mod auth;
mod devices;

use axum::Router;

pub use auth::StaffUser;

use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(devices::router())
}

/// Whether `who` may see `person`: 404 (as for a person that does not exist) if not.
async fn visible_person(state: &AppState, who: &StaffUser, person: i64) -> Result<(), ApiError> {
    match tracker::staff::supervises_person(&state.pool, &who.0, person).await? {
        Some(true) => Ok(()),
        _ => Err(ApiError::NotFound(format!("person {person}"))),
    }
}

/// 403 unless `who`'s role may change records (auditors read only).
fn may_write(who: &StaffUser) -> Result<(), ApiError> {
    if who.0.role.may_change_records() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("the {} role cannot change records", who.0.role.as_str())))
    }
}
