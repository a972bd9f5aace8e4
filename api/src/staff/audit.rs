//! `GET /api/v1/audit?from=&to=&action=&staff=&person=&before=&limit=`: the audit log, newest
//! first, for auditors and the city bureau (others: 403), within their organisation subtree.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracker::staff::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Q {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    action: Option<String>,
    staff: Option<String>,
    person: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(Q),
    responses((status = 200, description = "audit rows, newest first", body = Object)))]
async fn list(State(state): State<AppState>, who: StaffUser, Query(q): Query<Q>) -> Result<Json<Value>, ApiError> {
    if !matches!(who.principal.role, Role::Auditor | Role::CityAdmin) {
        return Err(ApiError::Forbidden("the audit log is for auditors and the city bureau".into()));
    }
    let limit = super::page_limit(q.limit)?;
    for (field, text) in [("action", &q.action), ("staff", &q.staff)] {
        if text.as_ref().is_some_and(|t| t.len() > 64 || !tracker::db::storable_text(t)) {
            return Err(ApiError::bad(field, "is not a name cctrack uses"));
        }
    }
    let filter = tracker::audit::Filter {
        from: q.from,
        to: q.to,
        action: q.action,
        staff: q.staff,
        person: q.person,
        before: q.before,
        limit,
    };
    let rows = tracker::audit::list(&state.pool, &who.principal, &filter).await?;
    let next = super::next_cursor(rows.iter().map(|x| x.id), limit);
    Ok(Json(json!({"items": rows, "next": next})))
}
