//! Fences over HTTP, within the account's organisation subtree; every change is audited and
//! applies from the next fix:
//! - `POST /api/v1/persons/{id}/fences` `{"name", "kind": "inclusion"|"exclusion", "crs":
//!   "wgs84"|"gcj02"|"bd09", "geojson", "schedule"?, "valid_from"?, "valid_to"?}` → 201 `{"id"}`:
//!   a polygon, a circle (Point Feature with `properties.radius_m`) or a corridor (LineString
//!   Feature with `properties.half_width_m`), drawn in the map's coordinate system;
//! - `PATCH /api/v1/fences/{id}` with any of those keys → `{"id", "replaces"}`: the fence is
//!   replaced by its edited form (alarms keep naming the shape they were judged against);
//! - `DELETE /api/v1/fences/{id}` retires a personal fence, or (county and city accounts) a
//!   shared one;
//! - `GET /api/v1/organisations/{id}/fences` → the shared fences bearing on an organisation's
//!   persons (its own, its parents', its offices');
//!   `POST` `{"name", "kind", "boundary": true}` or `{"name", "kind", "crs", "geojson"}` → 201
//!   `{"id"}` (county and city accounts): a fence for everybody below the organisation — its own
//!   imported district boundary, or a drawn zone.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use geofence::FenceKind;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracker::fence::{FenceEdit, FenceStoreError, SharedShape};
use tracker::staff::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::body;
use super::{may_write, visible_person, StaffUser};
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add)).routes(routes!(edit, retire)).routes(routes!(shared, add_shared))
}

/// An edit of a fence: any of the keys of a new fence; `null` clears `schedule`, `valid_from`,
/// `valid_to`. A new `geojson` may come with the `crs` it was drawn in.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by hand from the body (absent and null differ): this type documents it
struct FenceChanges {
    name: Option<String>,
    kind: Option<String>,
    crs: Option<String>,
    #[schema(value_type = Option<Object>)]
    geojson: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    schedule: Option<Value>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
}

fn refused(e: FenceStoreError) -> ApiError {
    match e {
        FenceStoreError::Geometry(g) => ApiError::bad("geojson", g.to_string()),
        FenceStoreError::Schedule(s) => ApiError::bad("schedule", s),
        FenceStoreError::Invalid { field, message } => ApiError::bad(field, message),
        FenceStoreError::NoPerson(p) => ApiError::NotFound(format!("person {p}")),
        FenceStoreError::Db(e) => e.into(),
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}

fn kind(s: &str) -> Result<FenceKind, ApiError> {
    s.parse().map_err(|e: geofence::UnknownFenceKind| ApiError::bad("kind", e.to_string()))
}

fn crs(s: Option<&str>) -> Result<Crs, ApiError> {
    s.unwrap_or("wgs84").parse().map_err(|e: geofence::crs::UnknownCrs| ApiError::bad("crs", e.to_string()))
}

fn name(s: &str) -> Result<String, ApiError> {
    let n = s.trim();
    if n.is_empty() || n.chars().count() > 100 || !tracker::db::storable_text(n) {
        return Err(ApiError::bad("name", "1 to 100 characters"));
    }
    Ok(n.to_string())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewFence {
    name: Option<String>,
    kind: String,
    crs: Option<String>,
    #[schema(value_type = Object)]
    geojson: Value,
    #[schema(value_type = Option<Vec<Object>>)]
    schedule: Option<Value>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/fences", tag = "fences", params(("person" = i64, Path, description = "person")), request_body = NewFence,
    responses((status = 201, description = "`id` of the fence; it applies from the next fix", body = Object)))]
async fn add(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f: NewFence = body(&bytes)?;
    let kind = kind(&f.kind)?;
    let crs = crs(f.crs.as_deref())?;
    let name =
        name(&f.name.unwrap_or_else(|| if kind == FenceKind::Inclusion { "活动区域" } else { "禁止区域" }.into()))?;
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
        name,
        kind,
        geojson: f.geojson,
        crs,
        schedule: f.schedule,
        valid_from: f.valid_from,
        valid_to: f.valid_to,
    };
    let id = tracker::fence::add(&state.pool, &new, &who.acting().actor()).await.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

/// A JSON value or null, for a key that may clear what is stored.
fn nullable<T: serde::de::DeserializeOwned>(field: &'static str, v: &Value) -> Result<Option<T>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    serde_json::from_value(v.clone()).map(Some).map_err(|e| ApiError::bad(field, e.to_string()))
}

/// Reads an edit: only the keys given change.
fn fence_edit(body: &Map<String, Value>) -> Result<FenceEdit, ApiError> {
    const KEYS: [&str; 7] = ["name", "kind", "crs", "geojson", "schedule", "valid_from", "valid_to"];
    if let Some(k) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad(k.clone(), format!("unknown field, expected one of {}", KEYS.join(", "))));
    }
    let text = |k: &'static str| match body.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::bad(k, "must be a string")),
    };
    let geojson = match (body.get("geojson"), text("crs")?) {
        (Some(g), c) => Some((g.clone(), crs(c)?)),
        (None, Some(_)) => return Err(ApiError::bad("crs", "names the system of a new geojson; send both")),
        (None, None) => None,
    };
    let edit = FenceEdit {
        name: text("name")?.map(name).transpose()?,
        kind: text("kind")?.map(kind).transpose()?,
        geojson,
        schedule: body.get("schedule").map(|v| nullable("schedule", v)).transpose()?,
        valid_from: body.get("valid_from").map(|v| nullable("valid_from", v)).transpose()?,
        valid_to: body.get("valid_to").map(|v| nullable("valid_to", v)).transpose()?,
    };
    Ok(edit)
}

#[utoipa::path(patch, path = "/api/v1/fences/{fence}", tag = "fences", params(("fence" = i64, Path, description = "fence")), request_body = FenceChanges,
    responses((status = 200, description = "`id` of the replacement and the fence it `replaces`", body = Object)))]
async fn edit(
    State(state): State<AppState>,
    who: StaffUser,
    Path(fence): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let changes: Map<String, Value> = body(&bytes)?;
    let edit = fence_edit(&changes)?;
    may_write(&who)?;
    let (_, replacement) = tracker::fence::replace_personal(&state.pool, &who.acting(), fence, &edit)
        .await
        .map_err(refused)?
        .ok_or_else(|| ApiError::NotFound(format!("fence {fence}")))?;
    Ok(Json(json!({"id": replacement, "replaces": fence})))
}

fn bureau(who: &StaffUser) -> bool {
    matches!(who.principal.role, Role::CountyAdmin | Role::CityAdmin)
}

#[utoipa::path(delete, path = "/api/v1/fences/{fence}", tag = "fences", params(("fence" = i64, Path, description = "fence")),
    responses((status = 204, description = "retired")))]
async fn retire(State(state): State<AppState>, who: StaffUser, Path(fence): Path<i64>) -> Result<StatusCode, ApiError> {
    // Auditors see fences but never change them; whether this one exists is not theirs to learn here.
    may_write(&who)?;
    let acting = who.acting();
    if tracker::fence::retire_personal(&state.pool, &acting, fence).await?.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    if bureau(&who) && tracker::fence::retire_shared(&state.pool, &acting, fence).await?.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(ApiError::NotFound(format!("fence {fence}")))
}

/// 404 unless `organisation` is in `who`'s subtree.
async fn visible_organisation(state: &AppState, who: &StaffUser, organisation: i64) -> Result<(), ApiError> {
    let visible: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1 AND org_within($1, $2))")
            .bind(organisation)
            .bind(who.principal.organisation_id)
            .fetch_one(&state.pool)
            .await?;
    if visible {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("organisation {organisation}")))
    }
}

#[utoipa::path(get, path = "/api/v1/organisations/{organisation}/fences", tag = "fences", params(("organisation" = i64, Path, description = "organisation")),
    responses((status = 200, description = "shared fences bearing on the organisation's persons", body = Object)))]
async fn shared(
    State(state): State<AppState>,
    who: StaffUser,
    Path(organisation): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    visible_organisation(&state, &who, organisation).await?;
    let items = tracker::fence::shared_for(&state.pool, organisation).await?;
    Ok(Json(json!({"items": items})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewShared {
    name: String,
    kind: String,
    #[serde(default)]
    boundary: bool,
    crs: Option<String>,
    #[schema(value_type = Option<Object>)]
    geojson: Option<Value>,
}

#[utoipa::path(post, path = "/api/v1/organisations/{organisation}/fences", tag = "fences", params(("organisation" = i64, Path, description = "organisation")), request_body = NewShared,
    responses((status = 201, description = "`id` of the shared fence", body = Object)))]
async fn add_shared(
    State(state): State<AppState>,
    who: StaffUser,
    Path(organisation): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f: NewShared = body(&bytes)?;
    let kind = kind(&f.kind)?;
    let name = name(&f.name)?;
    let shape = match (f.boundary, f.geojson) {
        (true, None) => SharedShape::Boundary,
        (false, Some(g)) => SharedShape::Drawn(g, crs(f.crs.as_deref())?),
        (true, Some(_)) => return Err(ApiError::bad("geojson", "give a geojson or boundary: true, not both")),
        (false, None) => return Err(ApiError::bad("geojson", "a shared fence needs a geojson or boundary: true")),
    };
    let acting = who.acting();
    let found = if bureau(&who) {
        tracker::fence::add_shared(&state.pool, &acting, organisation, &name, kind, &shape).await.map_err(refused)?
    } else {
        visible_organisation(&state, &who, organisation).await?;
        return Err(ApiError::Forbidden("shared fences are drawn by a county or city bureau".into()));
    };
    let id = found.ok_or_else(|| ApiError::NotFound(format!("organisation {organisation}")))?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}
