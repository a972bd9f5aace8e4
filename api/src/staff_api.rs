//! The staff API (`/api/v1`), for machine clients until the console brings sessions: HTTP basic
//! authentication with a staff account; every record is checked against the account's
//! organisation subtree (in SQL) and role.
//!
//! - `POST /api/v1/persons/{person}/devices` `{"protocol": "osmand", "crs": "wgs84"}` enrols a phone:
//!   201 with the enrolment id, the token (shown once) and what to type into the app;
//! - `DELETE /api/v1/devices/{enrolment_id}` retires one: its token stops working, its fixes stay.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tracker::staff::Principal;

use crate::basic_auth::basic_credentials;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/persons/{person}/devices", post(enrol))
        .route("/api/v1/devices/{enrolment_id}", delete(retire))
}

/// The signed-in staff member; 401 without valid credentials.
async fn staff(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let (username, password) = basic_credentials(headers).ok_or(ApiError::Unauthorized { basic_realm: true })?;
    tracker::staff::authenticate(&state.pool, &username, &password)
        .await?
        .ok_or(ApiError::Unauthorized { basic_realm: true })
}

/// The staff member may change this person's records: 404 if there is no such person, 403 if
/// it is outside their organisation or their role only reads.
async fn may_change(state: &AppState, who: &Principal, person: i64) -> Result<(), ApiError> {
    match tracker::staff::supervises_person(&state.pool, who, person).await? {
        None => Err(ApiError::NotFound(format!("person {person}"))),
        Some(false) => Err(ApiError::Forbidden(format!("person {person} is not supervised by your organisation"))),
        Some(true) if !who.role.may_change_records() => {
            Err(ApiError::Forbidden(format!("the {} role cannot change records", who.role.as_str())))
        }
        Some(true) => Ok(()),
    }
}

async fn enrol(
    State(state): State<AppState>,
    Path(person): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = staff(&state, &headers).await?;
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("body", format!("not JSON ({e})")))?
    };
    if !request.is_object() {
        return Err(ApiError::bad("body", "expected a JSON object"));
    }
    let text = |key: &'static str, default: &'static str| match request.get(key) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::bad(key, "expected a string")),
    };
    let protocol: tracker::device::Protocol =
        text("protocol", "osmand")?.parse().map_err(|e| ApiError::bad("protocol", e))?;
    let crs: geofence::crs::Crs =
        text("crs", "wgs84")?.parse().map_err(|e: geofence::crs::UnknownCrs| ApiError::bad("crs", e.to_string()))?;
    may_change(&state, &who, person).await?;
    let e = tracker::device::enrol(&state.pool, person, protocol, crs, Some(who.id)).await?;
    tracing::info!(person, device = e.device_id, staff = %who.username, "device enrolled");
    let setup = match protocol {
        tracker::device::Protocol::Osmand => json!({
            "app": "Traccar Client",
            "server_url": state.osmand_addr.map(|a| format!("http://{a}")),
            "device_identifier": e.enrolment_id,
        }),
        tracker::device::Protocol::Owntracks => json!({
            "app": "OwnTracks (HTTP mode)",
            "url_path": "/ingest/owntracks",
            "username": e.enrolment_id,
            "password": e.token,
        }),
        tracker::device::Protocol::Native => json!({
            "endpoint": "/ingest/v1/fixes",
            "authorization": format!("Bearer {}.{}", e.enrolment_id, e.token),
        }),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "device_id": e.device_id,
            "person": e.person_id,
            "protocol": protocol.as_str(),
            "enrolment_id": e.enrolment_id,
            "token": e.token,
            "setup": setup,
        })),
    ))
}

async fn retire(
    State(state): State<AppState>,
    Path(enrolment_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let who = staff(&state, &headers).await?;
    let person = tracker::device::person_of(&state.pool, &enrolment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("device {enrolment_id}")))?;
    may_change(&state, &who, person).await?;
    let retired = tracker::device::retire(&state.pool, &enrolment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("active device {enrolment_id}")))?;
    state.devices.forget(&enrolment_id);
    tracing::info!(device = retired.device_id, staff = %who.username, "device retired");
    Ok(Json(json!(retired)))
}
