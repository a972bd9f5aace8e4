//! Persons and their fences, within the account's organisation subtree:
//! - `GET /api/v1/persons?organisation=&level=&name=&released=true&before=&limit=` → `{"items", "next"}`;
//! - `GET /api/v1/persons/{id}` → the profile: level, legal bases, phones (last contact,
//!   battery), fences as GeoJSON geometries, recent alarms, last position (the read is audited);
//! - `POST /api/v1/persons/{id}/fences` `{"name", "kind": "inclusion"|"exclusion", "crs":
//!   "wgs84"|"gcj02"|"bd09", "geojson", "schedule"?, "valid_from"?, "valid_to"?}` → 201 `{"id"}`:
//!   a polygon, a circle (Point Feature with `properties.radius_m`) or a corridor (LineString
//!   Feature with `properties.half_width_m`), drawn in the map's coordinate system; applied from
//!   the person's next fix;
//! - `DELETE /api/v1/fences/{id}` retires a personal fence;
//! - `GET /api/v1/organisations?tolerance_m=50` → the organisations in scope with their
//!   boundaries simplified for the console's base map.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::sessions::body;
use super::{may_write, visible_person, StaffUser};
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/persons", get(list))
        .route("/api/v1/persons/{person}", get(profile))
        .route("/api/v1/persons/{person}/fences", post(add_fence))
        .route("/api/v1/fences/{fence}", delete(retire_fence))
        .route("/api/v1/organisations", get(organisations))
}

#[derive(Deserialize)]
struct ListQuery {
    organisation: Option<i64>,
    level: Option<String>,
    name: Option<String>,
    released: Option<bool>,
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    who: StaffUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    if let Some(l) = &q.level {
        l.parse::<tracker::person::Level>().map_err(|e| ApiError::bad("level", e))?;
    }
    if q.name.as_ref().is_some_and(|n| n.chars().count() > 64 || !tracker::db::storable_text(n)) {
        return Err(ApiError::bad("name", "is not a part of a name"));
    }
    let filter = tracker::profile::Filter {
        organisation: q.organisation,
        level: q.level,
        name: q.name,
        include_released: q.released.unwrap_or(false),
        before: q.before,
        limit,
    };
    let items = tracker::profile::list(&state.pool, &who.principal, &filter).await?;
    let next = super::next_cursor(items.iter().map(|x| x.id), limit);
    Ok(Json(json!({"items": items, "next": next})))
}

async fn profile(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let p = tracker::profile::profile(&state.pool, &who.principal, person)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("person {person}")))?;
    // The profile shows where the person was last: a read of their positions.
    super::audit(&state, &who, "person.read", format!("person {person}"), Some(person), json!({})).await?;
    Ok(Json(json!(p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFence {
    name: Option<String>,
    kind: String,
    crs: Option<String>,
    geojson: Value,
    schedule: Option<Value>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
}

async fn add_fence(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f: NewFence = body(&bytes)?;
    let kind: geofence::FenceKind =
        f.kind.parse().map_err(|e: geofence::UnknownFenceKind| ApiError::bad("kind", e.to_string()))?;
    let crs: geofence::crs::Crs = f
        .crs
        .as_deref()
        .unwrap_or("wgs84")
        .parse()
        .map_err(|e: geofence::crs::UnknownCrs| ApiError::bad("crs", e.to_string()))?;
    let name =
        f.name.unwrap_or_else(|| if kind == geofence::FenceKind::Inclusion { "活动区域" } else { "禁止区域" }.into());
    if name.trim().is_empty() || name.chars().count() > 100 || !tracker::db::storable_text(&name) {
        return Err(ApiError::bad("name", "1 to 100 characters"));
    }
    if let (Some(a), Some(b)) = (f.valid_from, f.valid_to) {
        if b <= a {
            return Err(ApiError::bad("valid_to", "must be after valid_from"));
        }
    }
    visible_person(&state, &who, person).await?;
    may_write(&who)?;
    let new = tracker::fence::NewFence {
        person_id: Some(person),
        organisation_id: None,
        name: name.trim().to_string(),
        kind,
        geojson: f.geojson,
        crs,
        schedule: f.schedule,
        valid_from: f.valid_from,
        valid_to: f.valid_to,
    };
    let id = tracker::fence::add(&state.pool, &new, &who.acting().actor()).await.map_err(|e| match e {
        tracker::fence::FenceStoreError::Geometry(g) => ApiError::bad("geojson", g.to_string()),
        tracker::fence::FenceStoreError::Schedule(s) => ApiError::bad("schedule", s),
        tracker::fence::FenceStoreError::NoPerson(p) => ApiError::NotFound(format!("person {p}")),
        tracker::fence::FenceStoreError::Db(e) => e.into(),
        other => ApiError::Internal(anyhow::Error::new(other)),
    })?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn retire_fence(
    State(state): State<AppState>,
    who: StaffUser,
    Path(fence): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !who.principal.role.may_change_records() {
        // Auditors see fences but never change them; whether this one exists is not theirs to learn here.
        return Err(ApiError::Forbidden(format!("the {} role cannot change records", who.principal.role.as_str())));
    }
    tracker::fence::retire_personal(&state.pool, &who.acting(), fence)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("fence {fence}")))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Tolerance {
    tolerance_m: Option<f64>,
}

async fn organisations(
    State(state): State<AppState>,
    who: StaffUser,
    Query(q): Query<Tolerance>,
) -> Result<Json<Value>, ApiError> {
    let t = q.tolerance_m.unwrap_or(50.0);
    if !(t.is_finite() && (1.0..=5000.0).contains(&t)) {
        return Err(ApiError::bad("tolerance_m", format!("{t} is not 1 to 5000 metres")));
    }
    Ok(Json(json!(tracker::profile::organisations(&state.pool, &who.principal, t).await?)))
}
