//! The supervision record over HTTP, within the account's organisation subtree (outside it, as
//! absent); auditors read only. Every change is audited.
//! - `POST /api/v1/persons` `{"office_id", "name", "correction_type", "term_start", "term_end",
//!   "level", "key_interval_min"?, "consent_ref"}` → 201 `{"id"}` (with their positioning consent);
//! - `PATCH /api/v1/persons/{id}` `{"name"?, "correction_type"?, "term_start"?, "term_end"?}`
//!   corrects the record (the level changes only through an assessment);
//! - `POST /api/v1/persons/{id}/release` (解矫): no longer polled, phones retired;
//! - `POST /api/v1/persons/{id}/bases` `{"kind": "consent"|"order", "starts_at", "ends_at"?,
//!   "document_ref"}` → 201 `{"id"}`: an order (社区矫正法第二十九条) needs an end at most three
//!   months on, and a county (or city) account, which is its approver; `DELETE /api/v1/bases/{id}`
//!   revokes one;
//! - `GET`/`POST /api/v1/persons/{id}/assessments` `{"scores": {item: score}, "proposed_level",
//!   "proposed_key"}`: the office proposes; `POST /api/v1/assessments/{id}/approve` or `/reject`
//!   `{"note"?}`: the county decides, and the level changes on approval;
//! - `GET /api/v1/dashboard`: persons by level, open alarms by county, office and kind, alarms of
//!   the last 7 days, today's location requests.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracker::supervision::{self, RecordError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::{body, decision, Decision};
use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_person))
        .routes(routes!(edit_person))
        .routes(routes!(release))
        .routes(routes!(add_basis))
        .routes(routes!(revoke_basis))
        .routes(routes!(assessments, propose))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(dashboard))
}

fn refused(e: RecordError) -> ApiError {
    match e {
        RecordError::NotFound(what) => ApiError::NotFound(what.trim_start_matches("not found: ").to_string()),
        RecordError::NotAllowed(why) => ApiError::Forbidden(why),
        RecordError::Invalid { field, message } => ApiError::bad(field, message),
        RecordError::Conflict(why) => ApiError::Conflict(why),
        RecordError::Db(e) => e.into(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPerson {
    office_id: i64,
    name: String,
    correction_type: String,
    term_start: NaiveDate,
    term_end: NaiveDate,
    level: String,
    key_interval_min: Option<i16>,
    consent_ref: String,
}

#[utoipa::path(post, path = "/api/v1/persons", tag = "persons", request_body = NewPerson,
    responses((status = 201, description = "`id` of the person taken under supervision", body = Object)))]
async fn create_person(
    State(state): State<AppState>,
    who: StaffUser,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p: NewPerson = body(&bytes)?;
    let name = person_name(&p.name)?;
    let correction_type = p.correction_type.parse().map_err(|e| ApiError::bad("correction_type", e))?;
    let level = p.level.parse().map_err(|e| ApiError::bad("level", e))?;
    if p.term_end < p.term_start {
        return Err(ApiError::bad("term_end", "is before term_start"));
    }
    if let Some(k) = p.key_interval_min {
        if k != 30 && k != 60 {
            return Err(ApiError::bad("key_interval_min", "重点 persons are located every 30 or 60 minutes"));
        }
    }
    let consent = p.consent_ref.trim();
    if consent.is_empty() || consent.chars().count() > 200 || !tracker::db::storable_text(consent) {
        return Err(ApiError::bad(
            "consent_ref",
            "the signed consent's reference (手机定位承诺书): 1 to 200 characters",
        ));
    }
    let id = supervision::admit(
        &state.pool,
        &who.acting(),
        &tracker::person::NewPerson {
            office_id: p.office_id,
            name,
            correction_type,
            term_start: p.term_start,
            term_end: p.term_end,
            level,
            key_interval_min: p.key_interval_min,
            consent_from: Utc::now(),
            consent_ref: consent.to_string(),
        },
    )
    .await
    .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PersonEdit {
    name: Option<String>,
    correction_type: Option<String>,
    term_start: Option<NaiveDate>,
    term_end: Option<NaiveDate>,
}

fn person_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 50 || !tracker::db::storable_text(name) {
        return Err(ApiError::bad("name", "1 to 50 characters"));
    }
    Ok(name.to_string())
}

#[utoipa::path(patch, path = "/api/v1/persons/{person}", tag = "persons", params(("person" = i64, Path, description = "person")), request_body = PersonEdit,
    responses((status = 204, description = "corrected")))]
async fn edit_person(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let e: PersonEdit = body(&bytes)?;
    let edit = supervision::PersonEdit {
        name: e.name.as_deref().map(person_name).transpose()?,
        correction_type: e
            .correction_type
            .map(|c| c.parse().map_err(|m| ApiError::bad("correction_type", m)))
            .transpose()?,
        term_start: e.term_start,
        term_end: e.term_end,
    };
    supervision::edit(&state.pool, &who.acting(), person, &edit).await.map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/release", tag = "persons", params(("person" = i64, Path, description = "person")),
    responses((status = 204, description = "released (解矫): no longer polled, phones retired")))]
async fn release(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
) -> Result<StatusCode, ApiError> {
    supervision::release(&state.pool, &who.acting(), person).await.map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewBasis {
    kind: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    document_ref: String,
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/bases", tag = "persons", params(("person" = i64, Path, description = "person")), request_body = NewBasis,
    responses((status = 201, description = "`id` of the legal basis", body = Object)))]
async fn add_basis(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: NewBasis = body(&bytes)?;
    let new = supervision::NewBasis {
        kind: b.kind,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        document_ref: b.document_ref,
    };
    let id = supervision::add_basis(&state.pool, &who.acting(), person, &new).await.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

#[utoipa::path(delete, path = "/api/v1/bases/{basis}", tag = "persons", params(("basis" = i64, Path, description = "legal basis")),
    responses((status = 204, description = "revoked")))]
async fn revoke_basis(
    State(state): State<AppState>,
    who: StaffUser,
    Path(basis): Path<i64>,
) -> Result<StatusCode, ApiError> {
    supervision::revoke_basis(&state.pool, &who.acting(), basis).await.map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/persons/{person}/assessments", tag = "levels", params(("person" = i64, Path, description = "person")),
    responses((status = 200, description = "the person's level assessments", body = Object)))]
async fn assessments(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let rows = supervision::assessments(&state.pool, &who.principal, person)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("person {person}")))?;
    Ok(Json(json!({"items": rows})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Proposal {
    /// Item → score, as the assessment form has them.
    #[schema(value_type = Object)]
    scores: Value,
    proposed_level: String,
    #[serde(default)]
    proposed_key: bool,
}

#[utoipa::path(post, path = "/api/v1/persons/{person}/assessments", tag = "levels", params(("person" = i64, Path, description = "person")), request_body = Proposal,
    responses((status = 201, description = "`id` of the proposal", body = Object)))]
async fn propose(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p: Proposal = body(&bytes)?;
    let id = supervision::propose(&state.pool, &who.acting(), person, &p.scores, &p.proposed_level, p.proposed_key)
        .await
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn decide(
    state: AppState,
    who: StaffUser,
    id: i64,
    approve: bool,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let d = decision(&bytes)?;
    let a = supervision::decide(&state.pool, &who.acting(), id, approve, d.note.as_deref()).await.map_err(refused)?;
    Ok(Json(json!(a)))
}

#[utoipa::path(post, path = "/api/v1/assessments/{id}/approve", tag = "levels", params(("id" = i64, Path, description = "assessment")), request_body(content = Option<Decision>),
    responses((status = 200, description = "decided; the level has changed", body = Object)))]
async fn approve(
    State(state): State<AppState>,
    who: StaffUser,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, who, id, true, bytes).await
}

#[utoipa::path(post, path = "/api/v1/assessments/{id}/reject", tag = "levels", params(("id" = i64, Path, description = "assessment")), request_body(content = Option<Decision>),
    responses((status = 200, description = "decided", body = Object)))]
async fn reject(
    State(state): State<AppState>,
    who: StaffUser,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    decide(state, who, id, false, bytes).await
}

#[utoipa::path(get, path = "/api/v1/dashboard", tag = "dashboard",
    responses((status = 200, description = "persons by level, open alarms by county, office and kind, the last 7 days, today's requests", body = Object)))]
async fn dashboard(State(state): State<AppState>, who: StaffUser) -> Result<Json<Value>, ApiError> {
    Ok(Json(supervision::dashboard(&state.pool, &who.principal).await?))
}
