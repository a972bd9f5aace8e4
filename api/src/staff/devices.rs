//! Phones: enrol, retire, re-enrol.
//!
//! - `POST /api/v1/persons/{person}/devices` `{"protocol": "osmand", "crs": "wgs84"}` enrols a
//!   phone: 201 with the enrolment id, the token (shown once) and what to type into the app;
//! - `DELETE /api/v1/devices/{device_id}` retires one: its credential stops working at once in
//!   every cctrack process, its fixes stay;
//! - `POST /api/v1/devices/{device_id}/reenrol` replaces its credentials in one step (same
//!   person, protocol and coordinate system): 201 as for an enrolment, the old one retired.
//!
//! Devices are named by their numeric id, never by their enrolment id: a Traccar Client's
//! enrolment id is its only credential, and paths end up in logs. Every change is audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tracker::device::{Enrolment, Protocol};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{may_write, visible_person, StaffUser};
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(enrol)).routes(routes!(retire)).routes(routes!(reenrol))
}

/// A phone to enrol (both keys optional).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by hand from the body: this type documents it
struct NewDevice {
    /// `osmand` (Traccar Client, the default), `owntracks` or `native`.
    protocol: Option<String>,
    /// The coordinate system the phone reports in: `wgs84` (default), `gcj02` or `bd09`.
    crs: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/devices", tag = "devices", params(("person" = i64, Path, description = "person")), request_body = NewDevice,
    responses((status = 201, description = "the enrolment: its token is shown this once", body = Object)))]
async fn enrol(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    let protocol: Protocol = text("protocol", "osmand")?.parse().map_err(|e| ApiError::bad("protocol", e))?;
    let crs: geofence::crs::Crs =
        text("crs", "wgs84")?.parse().map_err(|e: geofence::crs::UnknownCrs| ApiError::bad("crs", e.to_string()))?;
    visible_person(&state, &who, person).await?;
    may_write(&who)?;
    let e = tracker::device::enrol(&state.pool, person, protocol, crs, &who.acting().actor()).await?;
    tracing::info!(person, device = e.device_id, staff = %who.principal.username, "device enrolled");
    Ok((StatusCode::CREATED, Json(enrolment_reply(&state, &e))))
}

/// Device `device` if `who` may see it: 404 alike for a missing one and one outside their
/// organisation.
async fn visible_device(state: &AppState, who: &StaffUser, device: i64) -> Result<(), ApiError> {
    let missing = || ApiError::NotFound(format!("device {device}"));
    let person = tracker::device::person_of(&state.pool, device).await?.ok_or_else(missing)?;
    visible_person(state, who, person).await.map_err(|_| missing())
}

#[utoipa::path(delete, path = "/api/v1/devices/{device}", tag = "devices", params(("device" = i64, Path, description = "device")),
    responses((status = 200, description = "the retired device", body = Object)))]
async fn retire(
    State(state): State<AppState>,
    who: StaffUser,
    Path(device): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    visible_device(&state, &who, device).await?;
    may_write(&who)?;
    let retired = tracker::device::retire(&state.pool, device, &who.acting().actor())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("active device {device}")))?;
    state.devices.forget(&retired.enrolment_id);
    tracing::info!(device, staff = %who.principal.username, "device retired");
    Ok(Json(json!(retired)))
}

#[utoipa::path(post, path = "/api/v1/devices/{device}/reenrol", tag = "devices", params(("device" = i64, Path, description = "device")),
    responses((status = 201, description = "the new enrolment, and the device it replaces", body = Object)))]
async fn reenrol(
    State(state): State<AppState>,
    who: StaffUser,
    Path(device): Path<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    visible_device(&state, &who, device).await?;
    may_write(&who)?;
    let (retired, e) = tracker::device::reenrol(&state.pool, device, &who.acting().actor())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("active device {device}")))?;
    state.devices.forget(&retired.enrolment_id);
    tracing::info!(retired = device, device = e.device_id, staff = %who.principal.username, "device re-enrolled");
    let mut reply = enrolment_reply(&state, &e);
    reply["replaces"] = json!(retired);
    Ok((StatusCode::CREATED, Json(reply)))
}

fn enrolment_reply(state: &AppState, e: &Enrolment) -> Value {
    let setup = match e.protocol {
        Protocol::Osmand => json!({
            "app": "Traccar Client",
            "server_url": state.osmand_addr.map(|a| format!("http://{a}")),
            "device_identifier": e.enrolment_id,
        }),
        Protocol::Owntracks => json!({
            "app": "OwnTracks (HTTP mode)",
            "url_path": "/ingest/owntracks",
            "username": e.enrolment_id,
            "password": e.token,
        }),
        Protocol::Native => json!({
            "endpoint": "/ingest/v1/fixes",
            "authorization": format!("Bearer {}.{}", e.enrolment_id, e.token),
        }),
    };
    json!({
        "device_id": e.device_id,
        "person": e.person_id,
        "protocol": e.protocol.as_str(),
        "enrolment_id": e.enrolment_id,
        "token": e.token,
        "setup": setup,
    })
}
