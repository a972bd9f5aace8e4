//! `POST /ingest/v1/fixes`: `Authorization: Bearer <enrolment id>.<token>`, a batch of up to
//! 1000 fixes (see `tracker::ingest::protocol::native`). 200 with the report when at least one
//! fix was taken or all were duplicates; 422 when every fix was refused.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tracker::device::Protocol;
use tracker::ingest::{fix::NATIVE_FIELDS, protocol::native, IngestError, IngestReport, Job};

use crate::error::ApiError;
use crate::server::AppState;

pub async fn post_fixes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let device = bearer_device(&state, &headers, Protocol::Native).await?;
    let value = super::parse_json(&body)?;
    let decoded = native::decode(&value).map_err(|e| ApiError::bad(e.field, e.message))?;
    let total = decoded.len();
    let report = state.ingestor.ingest(Job { device, decoded, names: NATIVE_FIELDS, indexed: true }).await.map_err(
        |e| match e {
            IngestError::DeviceRetired => ApiError::Unauthorized { basic_realm: false },
            other => other.into(),
        },
    )?;
    state.ingest_counters.count(Protocol::Native, report.accepted, report.errors.len());
    let status = if report.errors.len() == total { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, Json(report)))
}

/// The active device of `protocol` named by `Authorization: Bearer <enrolment id>.<token>`;
/// 401 for anything else.
pub(super) async fn bearer_device(
    state: &AppState,
    headers: &HeaderMap,
    protocol: Protocol,
) -> Result<tracker::device::DeviceInfo, ApiError> {
    let credentials = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized { basic_realm: false })?;
    let (enrolment, token) = credentials.trim().split_once('.').ok_or(ApiError::Unauthorized { basic_realm: false })?;
    state.devices.authenticate(protocol, enrolment, token).await?.ok_or(ApiError::Unauthorized { basic_realm: false })
}
