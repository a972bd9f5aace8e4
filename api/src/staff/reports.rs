//! Stored reports (the morning lists, weekly and monthly reports the calendar jobs make), for
//! staff within their organisation's subtree: `GET /api/v1/reports?kind=&before=&limit=`, newest
//! first, `GET /api/v1/reports/{id}`, and each one's documents, `GET /api/v1/reports/{id}/html` (the printable page) and
//! `GET /api/v1/reports/{id}/xlsx` (the workbook). A report outside the account's subtree answers
//! 404, as a missing one. Every download is audited: the lists name persons.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracker::report::store::{self, StoredKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(one)).routes(routes!(html)).routes(routes!(xlsx))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Q {
    /// `daily`, `weekly` or `monthly`.
    kind: Option<String>,
    /// The `next` of the previous page.
    before: Option<i64>,
    limit: Option<i64>,
}

/// A stored report.
#[derive(Serialize, utoipa::ToSchema)]
struct Item {
    id: i64,
    /// `daily`, `weekly` or `monthly`.
    kind: String,
    organisation_id: i64,
    organisation_name: String,
    /// 2026-W49, 2026-12, 2026-12-07.
    period: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    title: String,
    generated_at: DateTime<Utc>,
    /// Headline figures: persons, requests, alarms (weekly, monthly); the lists' lengths (daily).
    #[schema(value_type = Object)]
    summary: serde_json::Value,
    mails: i64,
    mails_sent: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Page {
    items: Vec<Item>,
    /// `before` for the next page; absent on the last.
    next: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(Q),
    responses((status = 200, description = "reports in the account's scope, newest first", body = Page)))]
async fn list(State(state): State<AppState>, who: StaffUser, Query(q): Query<Q>) -> Result<Json<Page>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(k.parse::<StoredKind>().map_err(|e| ApiError::bad("kind", e))?),
    };
    let rows = store::list(&state.pool, who.principal.organisation_id, kind, q.before, limit).await?;
    let next = super::next_cursor(rows.iter().map(|r| r.id), limit);
    Ok(Json(Page { items: rows.into_iter().map(Item::from).collect(), next }))
}

/// One report as the list shows it (its documents are `…/html` and `…/xlsx`).
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports",
    params(("id" = i64, Path, description = "the report")),
    responses((status = 200, description = "the report, as listed", body = Item)))]
async fn one(State(state): State<AppState>, who: StaffUser, Path(id): Path<i64>) -> Result<Json<Item>, ApiError> {
    let r = store::one(&state.pool, who.principal.organisation_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("report {id}")))?;
    Ok(Json(Item::from(r)))
}

impl From<store::Listed> for Item {
    fn from(r: store::Listed) -> Item {
        Item {
            id: r.id,
            kind: r.kind,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            period: r.period,
            period_start: r.period_start,
            period_end: r.period_end,
            title: r.title,
            generated_at: r.generated_at,
            summary: r.summary,
            mails: r.mails,
            mails_sent: r.mails_sent,
        }
    }
}

/// Report `id` in `who`'s scope, its download audited.
async fn fetch(state: &AppState, who: &StaffUser, id: i64, format: &str) -> Result<store::Documents, ApiError> {
    let docs = store::documents(&state.pool, id, who.principal.organisation_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("report {id}")))?;
    let details = json!({"report": id, "kind": docs.kind, "period": docs.period, "organisation": docs.organisation_id,
                         "format": format});
    super::audit(state, who, "report.download", format!("report {id}"), None, details).await?;
    Ok(docs)
}

/// `attachment; filename="report-7.xlsx"; filename*=UTF-8''<the title>.xlsx`
fn disposition(kind: &str, id: i64, title: &str, ext: &str) -> String {
    let name = format!("{}.{ext}", title.trim_start_matches('《').trim_end_matches('》'));
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"report-{id}.{ext}\"; filename*=UTF-8''{encoded}")
}

#[utoipa::path(get, path = "/api/v1/reports/{id}/html", tag = "reports",
    params(("id" = i64, Path, description = "the report")),
    responses((status = 200, description = "the report as one self-contained printable page", content_type = "text/html")))]
async fn html(State(state): State<AppState>, who: StaffUser, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let docs = fetch(&state, &who, id, "html").await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition("inline", id, &docs.title, "html")),
            // The page is self-contained: inline styles and SVG, nothing fetched, no script.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'".to_string(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            // Personal data (the lists name persons): not kept in a shared cache or on disk.
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        docs.html,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/reports/{id}/xlsx", tag = "reports",
    params(("id" = i64, Path, description = "the report")),
    responses((status = 200, description = "the report's workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
async fn xlsx(State(state): State<AppState>, who: StaffUser, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let docs = fetch(&state, &who, id, "xlsx").await?;
    let bytes = docs.xlsx.ok_or_else(|| ApiError::NotFound(format!("report {id} has no workbook")))?;
    Ok((
        [
            (header::CONTENT_TYPE, tracker::report::render::xlsx::CONTENT_TYPE.to_string()),
            (header::CONTENT_DISPOSITION, disposition("attachment", id, &docs.title, "xlsx")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}
