//! Signing in and out:
//! - `POST /api/v1/auth/login` `{"username", "password"}` → 200 `{"token", "expires_at", "user"}`
//!   and the session cookie (HttpOnly, SameSite=Strict, Secure when `[sessions] secure_cookie`);
//!   logins are limited per account and address (429 with Retry-After), every one audited;
//! - `POST /api/v1/auth/logout` ends the session on the server (204);
//! - `POST /api/v1/auth/password` `{"current", "new"}` sets a new password and ends every other
//!   session of the account (204);
//! - `GET /api/v1/auth/me` → the signed-in account.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tracker::login::LoginOutcome;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{client_address, forwarded_https, COOKIE};
use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(password)).routes(routes!(me))
}

/// The client's address and whether it came over TLS (the login handler needs them without an
/// account).
pub struct Client {
    address: Option<std::net::IpAddr>,
    https: bool,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client {
            address: client_address(parts, &state.trusted_proxies),
            https: forwarded_https(parts, &state.trusted_proxies),
        })
    }
}

/// A JSON body, its problems named for the caller.
/// An optional note on a decision (approve, reject, cancel): `{"note"?}`, or no body at all.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub note: Option<String>,
}

/// The decision in `bytes`; an empty (or blank) body is a decision without a note.
pub fn decision(bytes: &[u8]) -> Result<Decision, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decision::default());
    }
    body(bytes)
}

pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let field = e.to_string().split('`').nth(1).unwrap_or("body").to_string();
        ApiError::bad(field, format!("{e}"))
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

fn cookie(state: &AppState, client: &Client, token: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.secure_cookie || client.https { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")
        .parse()
        .expect("a cookie of token characters is a valid header")
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "sessions", request_body = Login,
    responses((status = 200, description = "`token`, `expires_at` and `user`, with the session cookie", body = Object)))]
async fn login(State(state): State<AppState>, client: Client, bytes: axum::body::Bytes) -> Result<Response, ApiError> {
    let address = client.address;
    let l: Login = body(&bytes)?;
    let principal = match state.logins.login(&l.username, &l.password, address).await? {
        LoginOutcome::Accepted(p) => p,
        LoginOutcome::Refused => return Err(ApiError::Unauthorized { basic_realm: false }),
        LoginOutcome::Locked { retry_after } => {
            return Err(ApiError::TooManyAttempts { retry_after_s: retry_after.as_secs().max(1) })
        }
    };
    let now = chrono::Utc::now();
    let (token, expires_at) = tracker::session::open(&state.pool, principal.id, address, state.sessions, now).await?;
    tracker::audit::record(
        &state.pool,
        &tracker::audit::Entry {
            staff_id: Some(principal.id),
            action: "login",
            subject: principal.username.clone(),
            person_id: None,
            details: json!({}),
            address,
        },
    )
    .await?;
    let mut r = Json(json!({"token": token, "expires_at": expires_at, "user": principal})).into_response();
    let max_age = (expires_at - now).num_seconds();
    r.headers_mut().insert(header::SET_COOKIE, cookie(&state, &client, &token, max_age));
    Ok(r)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "sessions",
    responses((status = 204, description = "the session has ended on the server")))]
async fn logout(State(state): State<AppState>, client: Client, who: StaffUser) -> Result<Response, ApiError> {
    if let Some(session) = who.session {
        tracker::session::close(&state.pool, session, chrono::Utc::now()).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie(&state, &client, "", 0));
    Ok(r)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// The shortest password accepted (等保 asks for strong passwords; length is what counts most).
pub const MIN_PASSWORD_CHARS: usize = 10;

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "sessions", request_body = PasswordChange,
    responses((status = 204, description = "changed; the account's other sessions have ended")))]
async fn password(
    State(state): State<AppState>,
    who: StaffUser,
    bytes: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let c: PasswordChange = body(&bytes)?;
    let n = c.new.chars().count();
    if !(MIN_PASSWORD_CHARS..=200).contains(&n) {
        return Err(ApiError::bad("new", format!("a password has {MIN_PASSWORD_CHARS} to 200 characters, got {n}")));
    }
    if c.new == c.current || c.new.contains(&who.principal.username) {
        return Err(ApiError::bad("new", "must differ from the current password and not contain the username"));
    }
    // The current password is checked like a login, with the same limits.
    match state.logins.login(&who.principal.username, &c.current, who.address).await? {
        LoginOutcome::Accepted(_) => {}
        LoginOutcome::Refused => return Err(ApiError::bad("current", "is not the account's password")),
        LoginOutcome::Locked { retry_after } => {
            return Err(ApiError::TooManyAttempts { retry_after_s: retry_after.as_secs().max(1) })
        }
    }
    let now = chrono::Utc::now();
    tracker::session::change_password(&state.pool, who.principal.id, &c.new, who.session, now).await?;
    tracker::audit::record(
        &state.pool,
        &tracker::audit::Entry {
            staff_id: Some(who.principal.id),
            action: "password.change",
            subject: who.principal.username.clone(),
            person_id: None,
            details: json!({}),
            address: who.address,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "sessions",
    responses((status = 200, description = "the signed-in account", body = Object)))]
async fn me(who: StaffUser) -> Json<Value> {
    Json(json!({"user": who.principal}))
}
