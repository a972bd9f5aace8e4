//! Leaves (请假外出) over HTTP, within the account's organisation subtree; the same rules as
//! `cctrack leave grant` (`tracker::leave`):
//! - `GET /api/v1/leaves?state=&person=&before=&limit=` → `{"items", "next"}`, newest first;
//! - `POST /api/v1/persons/{id}/leaves` `{"reason", "starts_at", "ends_at", "destination",
//!   "route"?, "route_half_width_m"?, "crs"?}` → 201 `{"id"}`: the office records the request
//!   (the destination an area or a circle, the route a line, drawn in the map's coordinate
//!   system);
//! - `POST /api/v1/leaves/{id}/approve` or `/reject` `{"note"?}`: an office decides up to 7 days,
//!   the county (or city) beyond; approval puts the destination and route fences in force for
//!   the leave's window;
//! - `POST /api/v1/leaves/{id}/cancel` `{"note"?}`: withdraws a request or revokes a granted
//!   leave, whose fences stop applying at once.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracker::leave::LeaveError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{body, decision, Decision};
use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(request))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(cancel))
}

fn refused(e: LeaveError) -> ApiError {
    match e {
        LeaveError::Invalid { field, message } => ApiError::bad(field, message),
        LeaveError::Place { field, source } => ApiError::bad(field, source.to_string()),
        LeaveError::NoPerson(p) => ApiError::NotFound(format!("person {p}")),
        LeaveError::NoLeave(l) => ApiError::NotFound(format!("leave {l}")),
        LeaveError::NotAllowed(why) => ApiError::Forbidden(why),
        LeaveError::Conflict(why) => ApiError::Conflict(why),
        LeaveError::NoApprover(who) => ApiError::Forbidden(format!("no active staff account is named {who:?}")),
        LeaveError::Db(e) => e.into(),
    }
}

const STATES: [&str; 5] = ["requested", "approved", "rejected", "returned", "cancelled"];

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    state: Option<String>,
    person: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/leaves", tag = "leaves", params(ListQuery),
    responses((status = 200, description = "leaves in scope, newest first; `next` is the cursor for `before`", body = Object)))]
async fn list(
    State(state): State<AppState>,
    who: StaffUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    if let Some(s) = q.state.as_deref().filter(|s| !STATES.contains(s)) {
        return Err(ApiError::bad("state", format!("{s:?} is not one of {}", STATES.join(", "))));
    }
    let filter = tracker::leave::Filter { person: q.person, state: q.state, before: q.before, limit };
    let items = tracker::leave::list_in_scope(&state.pool, &who.principal, &filter).await?;
    let next = super::next_cursor(items.iter().map(|x| x.id), limit);
    Ok(Json(json!({"items": items, "next": next})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLeave {
    reason: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// GeoJSON: an area, or a Point Feature with `properties.radius_m`.
    #[schema(value_type = Object)]
    destination: Value,
    /// GeoJSON LineString (geometry or Feature).
    #[schema(value_type = Option<Object>)]
    route: Option<Value>,
    route_half_width_m: Option<f64>,
    crs: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/leaves", tag = "leaves", params(("person" = i64, Path, description = "person")), request_body = NewLeave,
    responses((status = 201, description = "`id` of the request", body = Object)))]
async fn request(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let l: NewLeave = body(&bytes)?;
    let crs: geofence::crs::Crs = l
        .crs
        .as_deref()
        .unwrap_or("wgs84")
        .parse()
        .map_err(|e: geofence::crs::UnknownCrs| ApiError::bad("crs", e.to_string()))?;
    // `request` checks the person against the account's scope in its own transaction.
    let req = tracker::leave::LeaveRequest {
        person_id: person,
        reason: l.reason,
        destination: l.destination,
        route: l.route,
        route_half_width_m: l.route_half_width_m,
        crs,
        starts_at: l.starts_at,
        ends_at: l.ends_at,
    };
    let id =
        tracker::leave::request(&state.pool, &who.principal, &who.acting().actor(), &req).await.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn decide(state: &AppState, who: &StaffUser, leave: i64, approve: bool, bytes: &[u8]) -> Result<Value, ApiError> {
    let d = decision(bytes)?;
    let granted =
        tracker::leave::decide(&state.pool, &who.principal, &who.acting().actor(), leave, approve, d.note.as_deref())
            .await
            .map_err(refused)?;
    Ok(match granted {
        Some(g) => {
            json!({"id": g.id, "state": "approved", "destination_fence": g.destination_fence, "route_fence": g.route_fence})
        }
        None => json!({"id": leave, "state": "rejected"}),
    })
}

#[utoipa::path(post, path = "/api/v1/leaves/{leave}/approve", tag = "leaves", params(("leave" = i64, Path, description = "leave")), request_body(content = Option<Decision>),
    responses((status = 200, description = "approved, with the fences now in force", body = Object)))]
async fn approve(
    State(state): State<AppState>,
    who: StaffUser,
    Path(leave): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(decide(&state, &who, leave, true, &bytes).await?))
}

#[utoipa::path(post, path = "/api/v1/leaves/{leave}/reject", tag = "leaves", params(("leave" = i64, Path, description = "leave")), request_body(content = Option<Decision>),
    responses((status = 200, description = "rejected", body = Object)))]
async fn reject(
    State(state): State<AppState>,
    who: StaffUser,
    Path(leave): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(decide(&state, &who, leave, false, &bytes).await?))
}

#[utoipa::path(post, path = "/api/v1/leaves/{leave}/cancel", tag = "leaves", params(("leave" = i64, Path, description = "leave")), request_body(content = Option<Decision>),
    responses((status = 204, description = "cancelled; its fences no longer apply")))]
async fn cancel(
    State(state): State<AppState>,
    who: StaffUser,
    Path(leave): Path<i64>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let d = decision(&bytes)?;
    tracker::leave::cancel(&state.pool, &who.principal, &who.acting().actor(), leave, d.note.as_deref())
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}
