//! Persons and organisations, within the account's organisation subtree:
//! - `GET /api/v1/persons?organisation=&level=&name=&released=true&before=&limit=` → `{"items", "next"}`;
//! - `GET /api/v1/persons/{id}` → the profile: level, legal bases, phones (last contact,
//!   battery), fences as GeoJSON geometries, recent alarms, last position (the read is audited);
//! - `GET /api/v1/organisations?tolerance_m=50` → the organisations in scope (and the bureaus
//!   above, `in_scope: false`) with their
//!   boundaries simplified for the console's base map.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(profile)).routes(routes!(organisations))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    organisation: Option<i64>,
    level: Option<String>,
    name: Option<String>,
    released: Option<bool>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/persons", tag = "persons", params(ListQuery),
    responses((status = 200, description = "persons in scope; `next` is the cursor for `before`", body = Object)))]
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

#[utoipa::path(get, path = "/api/v1/persons/{person}", tag = "persons", params(("person" = i64, Path, description = "person")),
    responses((status = 200, description = "the profile (the read is audited)", body = Object)))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Tolerance {
    tolerance_m: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", params(Tolerance),
    responses((status = 200, description = "organisations in scope with simplified boundaries", body = Vec<Object>)))]
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
