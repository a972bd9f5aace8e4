//! One error type for every HTTP handler; each variant is an HTTP outcome.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; `field` names what is wrong.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    /// 401: no or wrong credentials (never says which). `basic_realm` only for phones
    /// (OwnTracks): staff are never asked for basic credentials (see `staff::auth`).
    #[error("authentication required")]
    Unauthorized { basic_realm: bool },
    /// 403: an identifier that is unknown, retired or not allowed (never says which).
    #[error("unknown device")]
    UnknownDevice,
    /// 403 for a signed-in staff member whose role may not do this to a record they can see.
    /// (A record outside their organisation is [`ApiError::NotFound`], as if it did not exist.)
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such record, or none the caller may see: the two answers are identical.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: the record changed under the caller (an alarm somebody else handled first).
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed logins for this account or from this address; retry after the
    /// given number of seconds, whatever the password.
    #[error("too many failed logins")]
    TooManyAttempts { retry_after_s: u64 },
    /// 503: the database is unavailable; nothing was stored, retry later.
    #[error("temporarily unavailable")]
    Unavailable,
    /// 500: a bug or an unexpected failure; logged, shown bare.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest { field: field.into(), message: message.into() }
    }
}

impl From<tracker::ingest::IngestError> for ApiError {
    fn from(e: tracker::ingest::IngestError) -> Self {
        match e {
            tracker::ingest::IngestError::Unavailable(err) => {
                tracing::warn!(error = %err, "ingest: database unavailable");
                ApiError::Unavailable
            }
            tracker::ingest::IngestError::Stopped => ApiError::Unavailable,
            // Handlers answer this as their protocol answers an unknown device; reaching here
            // would be a bug.
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Only an unreachable database is a 503: a statement the database refused is our bug (inputs
/// are validated before they reach it), a 500 that is logged.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match tracker::db::classify(&e) {
            tracker::db::Failure::Unavailable => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            tracker::db::Failure::Refused => {
                ApiError::Internal(anyhow::Error::new(e).context("database refused a statement"))
            }
        }
    }
}

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_S: &str = "5";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { field, message } => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": "bad_request", "error": format!("{field}: {message}"), "message": message, "field": field})),
            )
                .into_response(),
            ApiError::Unauthorized { basic_realm } => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"code": "unauthorized", "error": "authentication required", "message": "authentication required"})),
                )
                    .into_response();
                let challenge = if basic_realm { "Basic realm=\"cctrack\"" } else { "Bearer realm=\"cctrack\"" };
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(challenge));
                r
            }
            ApiError::UnknownDevice => (
                StatusCode::FORBIDDEN,
                Json(json!({"code": "unknown_device", "error": "unknown device", "message": "unknown device"})),
            )
                .into_response(),
            ApiError::Forbidden(why) => {
                (StatusCode::FORBIDDEN, Json(json!({"code": "forbidden", "error": why, "message": why}))).into_response()
            }
            ApiError::Conflict(why) => {
                (StatusCode::CONFLICT, Json(json!({"code": "conflict", "error": why, "message": why}))).into_response()
            }
            ApiError::NotFound(what) => {
                let m = format!("not found: {what}");
                (StatusCode::NOT_FOUND, Json(json!({"code": "not_found", "error": m, "message": m}))).into_response()
            }
            ApiError::TooManyAttempts { retry_after_s } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"code": "too_many_attempts", "error": "too many failed logins: try again later",
                                "message": "too many failed logins: try again later", "retry_after_s": retry_after_s})),
                )
                    .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, retry_after_s.into());
                r
            }
            ApiError::Unavailable => {
                let mut r =
                    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"code": "unavailable", "error": "temporarily unavailable, retry later", "message": "temporarily unavailable, retry later"})))
                        .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, RETRY_AFTER_S.parse().expect("static header"));
                r
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"code": "internal", "error": "internal error", "message": "internal error"})))
                    .into_response()
            }
        }
    }
}
