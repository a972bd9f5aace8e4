//! Alarms for staff, within their organisation subtree (in SQL; outside it, as absent):
//! - `GET /api/v1/alarms?state=open,acknowledged&kind=&organisation=&person=&from=&to=&before=&limit=`
//!   → `{"items": [...], "next": <cursor or null>}`, newest first (default: the queue, open and
//!   acknowledged);
//! - `GET /api/v1/alarms/{id}` → `{"alarm", "events"}`, the case with its whole history;
//! - `POST /api/v1/alarms/{id}/acknowledge`; `POST /api/v1/alarms/{id}/resolve` and
//!   `/dismiss` with `{"outcome", "note"}` → the case; 409 when somebody handled it first
//!   (saying who); 403 for auditors;
//! - `POST /api/v1/alarms/acknowledge` `{"ids": [...]}` → `{"acknowledged": [...], "refused": [{"id", "error"}]}`;
//! - `GET /api/v1/alarm-outcomes` → the handling outcomes with their labels.
//!
//! Every action is written to the audit log.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracker::alarm::handling::{self, Filter, HandleError};
use tracker::alarm::{Action, Handling, Kind, Note, Outcome, State as AlarmState};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::body;
use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(acknowledge_many))
        .routes(routes!(show))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
        .routes(routes!(dismiss))
        .routes(routes!(outcomes))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    organisation: Option<i64>,
    person: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: Option<i64>,
}

fn listed<T: std::str::FromStr>(field: &str, text: &Option<String>) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    text.iter()
        .flat_map(|t| t.split(','))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(|e| ApiError::bad(field, e.to_string())))
        .collect()
}

#[utoipa::path(get, path = "/api/v1/alarms", tag = "alarms", params(ListQuery),
    responses((status = 200, description = "alarms in scope, newest first; `next` is the cursor for `before`", body = Object)))]
async fn list(
    State(state): State<AppState>,
    who: StaffUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let filter = Filter {
        states: listed::<AlarmState>("state", &q.state)?,
        kinds: listed::<Kind>("kind", &q.kind)?,
        organisation: q.organisation,
        person: q.person,
        opened_from: q.from,
        opened_to: q.to,
        before: q.before,
        limit,
    };
    let items = handling::list(&state.pool, &who.principal, &filter).await?;
    let next = super::next_cursor(items.iter().map(|x| x.id), limit);
    Ok(Json(json!({"items": items, "next": next})))
}

#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "alarms", params(("id" = i64, Path, description = "alarm")),
    responses((status = 200, description = "the case and its whole history", body = Object)))]
async fn show(State(state): State<AppState>, who: StaffUser, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let (case, events) = handling::show(&state.pool, id, Some(&who.principal))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("alarm {id}")))?;
    Ok(Json(json!({"alarm": case, "events": events})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Record {
    outcome: String,
    note: String,
}

fn record(bytes: &[u8]) -> Result<Handling, ApiError> {
    let r: Record = body(bytes)?;
    let outcome: Outcome = r
        .outcome
        .parse()
        .map_err(|e: tracker::alarm::lifecycle::UnknownName| ApiError::bad("outcome", e.to_string()))?;
    let note = Note::parse(&r.note).map_err(|e| ApiError::bad("note", e.to_string()))?;
    Ok(Handling { outcome, note })
}

async fn act(state: &AppState, who: &StaffUser, id: i64, action: Action) -> Result<Json<Value>, ApiError> {
    let case = handling::act(&state.pool, id, &who.principal, who.address, action).await.map_err(handle_error)?;
    let events = tracker::alarm::feed::history(&state.pool, id).await?;
    Ok(Json(json!({"alarm": case, "events": events})))
}

fn handle_error(e: HandleError) -> ApiError {
    match e {
        HandleError::NotFound(id) => ApiError::NotFound(format!("alarm {id}")),
        HandleError::ReadOnly { .. } => ApiError::Forbidden(e.to_string()),
        HandleError::AlreadyHandled { .. } => ApiError::Conflict(e.to_string()),
        HandleError::Db(e) => e.into(),
    }
}

#[utoipa::path(post, path = "/api/v1/alarms/{id}/acknowledge", tag = "alarms", params(("id" = i64, Path, description = "alarm")),
    responses((status = 200, description = "the case and its history", body = Object)))]
async fn acknowledge(
    State(state): State<AppState>,
    who: StaffUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &who, id, Action::Acknowledge).await
}

#[utoipa::path(post, path = "/api/v1/alarms/{id}/resolve", tag = "alarms", params(("id" = i64, Path, description = "alarm")), request_body = Record,
    responses((status = 200, description = "the case and its history", body = Object)))]
async fn resolve(
    State(state): State<AppState>,
    who: StaffUser,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let h = record(&bytes)?;
    act(&state, &who, id, Action::Resolve(h)).await
}

#[utoipa::path(post, path = "/api/v1/alarms/{id}/dismiss", tag = "alarms", params(("id" = i64, Path, description = "alarm")), request_body = Record,
    responses((status = 200, description = "the case and its history", body = Object)))]
async fn dismiss(
    State(state): State<AppState>,
    who: StaffUser,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let h = record(&bytes)?;
    act(&state, &who, id, Action::Dismiss(h)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Ids {
    ids: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/alarms/acknowledge", tag = "alarms", request_body = Ids,
    responses((status = 200, description = "`acknowledged` ids and `refused` ones with the reason", body = Object)))]
async fn acknowledge_many(
    State(state): State<AppState>,
    who: StaffUser,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Ids { ids } = body(&bytes)?;
    if !who.principal.role.may_change_records() {
        return Err(ApiError::Forbidden(format!("the {} role cannot handle alarms", who.principal.role.as_str())));
    }
    if ids.is_empty() || ids.len() > 500 {
        return Err(ApiError::bad("ids", format!("1 to 500 alarms at a time, got {}", ids.len())));
    }
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    for id in ids {
        match act(&state, &who, id, Action::Acknowledge).await {
            Ok(_) => acknowledged.push(id),
            Err(ApiError::Unavailable) => return Err(ApiError::Unavailable),
            Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
            Err(e) => refused.push(json!({"id": id, "error": e.to_string()})),
        }
    }
    Ok(Json(json!({"acknowledged": acknowledged, "refused": refused})))
}

#[utoipa::path(get, path = "/api/v1/alarm-outcomes", tag = "alarms",
    responses((status = 200, description = "the outcomes a handling record chooses from: code and label", body = Vec<Object>)))]
async fn outcomes(_: StaffUser) -> Json<Value> {
    Json(json!(Outcome::ALL.iter().map(|o| json!({"code": o.code(), "label": o.label_zh()})).collect::<Vec<_>>()))
}
