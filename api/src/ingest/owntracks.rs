//! OwnTracks HTTP mode: `POST /ingest/owntracks`, basic auth (username = enrolment id, password
//! = device token). Every message type is answered `[]`, or with a `reportLocation` command while a
//! location request is pending; only `location` carries a fix.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use tracker::device::Protocol;
use tracker::ingest::{protocol::owntracks, IngestError, Job};

use crate::basic_auth::basic_credentials;
use crate::error::ApiError;
use crate::server::AppState;

pub async fn post_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let unauthorized = ApiError::Unauthorized { basic_realm: true };
    let (user, password) = basic_credentials(&headers).ok_or(ApiError::Unauthorized { basic_realm: true })?;
    let device = state.devices.authenticate(Protocol::Owntracks, &user, &password).await?.ok_or(unauthorized)?;
    let value = super::parse_json(&body)?;
    let Some(fix) = owntracks::decode(&value).map_err(|e| ApiError::bad(e.field, e.message))? else {
        // Not a location (a waypoint, a transition): still the moment to pass on a request.
        let pending =
            tracker::schedule::polling::pending_for(&state.pool, device.person_id, chrono::Utc::now()).await?;
        return Ok(Json(reply(pending.is_some())));
    };
    let report = state
        .ingestor
        .ingest(Job { device, decoded: vec![Ok(fix)], names: owntracks::FIELDS, indexed: false })
        .await
        .map_err(|e| match e {
            IngestError::DeviceRetired => ApiError::Unauthorized { basic_realm: true },
            other => other.into(),
        })?;
    state.ingest_counters.count(Protocol::Owntracks, report.accepted, report.errors.len());
    match report.errors.into_iter().next() {
        Some(e) => Err(ApiError::bad(e.field, e.message)),
        None => Ok(Json(reply(report.location_request.is_some()))),
    }
}

/// `[]`, or the command that makes the app report its location now (OwnTracks' remote command
/// `reportLocation`, honoured in HTTP mode in the reply to a post).
fn reply(location_requested: bool) -> Value {
    if location_requested {
        json!([{"_type": "cmd", "action": "reportLocation"}])
    } else {
        json!([])
    }
}
