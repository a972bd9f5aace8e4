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
pub mod doc;
mod events;
mod fences;
mod leaves;
mod persons;
mod records;
mod reports;
mod sessions;
mod tracks;

use axum::Router;

pub use auth::StaffUser;

use crate::error::ApiError;
use crate::server::AppState;

/// The staff API's routes and their OpenAPI document, from one list.
pub fn router() -> Router<AppState> {
    let (router, openapi) = utoipa_axum::router::OpenApiRouter::with_openapi(<doc::Base as utoipa::OpenApi>::openapi())
        .routes(utoipa_axum::routes!(doc::openapi))
        .merge(crate::console::router())
        .merge(sessions::router())
        .merge(alarms::router())
        .merge(events::router())
        .merge(persons::router())
        .merge(records::router())
        .merge(tracks::router())
        .merge(audit::router())
        .merge(devices::router())
        .merge(leaves::router())
        .merge(fences::router())
        .merge(reports::router())
        .split_for_parts();
    doc::publish(&doc::finish(openapi));
    router.layer(axum::middleware::map_response(json_rejections))
}

/// The framework's own refusals (an id in the path that is not a number, a malformed query, a
/// method a route does not have) come as plain text; the API answers every error as
/// `{"code", "message", "field"}`.
async fn json_rejections(r: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let plain = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(r.status().is_client_error() && plain) {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let (code, field) = match parts.status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Content-Type"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "body"),
        _ if message.starts_with("Invalid URL") => ("bad_request", "path"),
        _ if message.starts_with("Failed to deserialize query string") => ("bad_request", "query"),
        _ => ("bad_request", "request"),
    };
    let mut reply = (
        parts.status,
        axum::Json(serde_json::json!({"code": code, "error": message, "message": message, "field": field})),
    )
        .into_response();
    for (name, value) in parts.headers.iter().filter(|(n, _)| *n == header::ALLOW) {
        reply.headers_mut().insert(name, value.clone());
    }
    reply
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
