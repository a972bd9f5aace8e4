//! Traccar Client (OsmAnd protocol): the query form (GET or POST, or form-encoded body) and the
//! JSON form, on any path. 200 with an empty body when stored; 400 naming the field for a bad
//! fix; 403 for an unknown or retired device, or one enrolled for another protocol (the same
//! answer for all).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use tracker::ingest::{protocol::osmand, IngestError, Job};

use crate::error::ApiError;
use crate::server::AppState;

pub async fn receive(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let decoded = if is_json {
        osmand::decode_json(&super::parse_json(&body)?)
    } else {
        let mut params = query_params(&uri)?;
        if params.is_empty() && !body.is_empty() {
            // Parameters form-encoded in the body instead of the URL.
            let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("body", "not UTF-8"))?;
            params = query_params(
                &format!("/?{text}").parse().map_err(|_| ApiError::bad("body", "not a form-encoded parameter list"))?,
            )?;
        }
        osmand::decode_query(&params)
    }
    .map_err(|e| ApiError::bad(e.field, e.message))?;
    let device = state.devices.by_osmand_id(&decoded.device).await?.ok_or(ApiError::UnknownDevice)?;
    let report = state
        .ingestor
        .ingest(Job { device, decoded: vec![Ok(decoded.fix)], names: decoded.names, indexed: false })
        .await
        .map_err(|e| match e {
            IngestError::DeviceRetired => ApiError::UnknownDevice,
            other => other.into(),
        })?;
    state.ingest_counters.count(tracker::device::Protocol::Osmand, report.accepted, report.errors.len());
    match report.errors.into_iter().next() {
        Some(e) => Err(ApiError::bad(e.field, e.message)),
        None => Ok(StatusCode::OK),
    }
}

fn query_params(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    Query::<HashMap<String, String>>::try_from_uri(uri).map(|q| q.0).map_err(|e| ApiError::bad("query", e.body_text()))
}
