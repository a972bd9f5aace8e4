//! Who is calling: [`StaffUser`] as an extractor, so that a handler's signature says a staff
//! account must be signed in. Three ways in: a session token as `Authorization: Bearer` (machine
//! clients), the console's session cookie, or HTTP basic authentication (checked by
//! `tracker::login` with its limits on failed attempts). A state-changing request carried by the
//! cookie must also come from this site: an `Origin` naming this host, or the header
//! `X-Requested-With: cctrack` (which a page of another site cannot send without our consent).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Method};
use tracker::login::LoginOutcome;
use tracker::staff::Principal;

use crate::basic_auth::basic_credentials;
use crate::error::ApiError;
use crate::server::AppState;

/// The console's session cookie.
pub const COOKIE: &str = "cctrack_session";

/// A signed-in staff member: 401 without valid credentials, 429 while locked.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub principal: Principal,
    /// The session the request came with (none with basic authentication).
    pub session: Option<i64>,
    /// The client's address, for the audit log.
    pub address: Option<IpAddr>,
}

/// The client's address as the listener saw it.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a cookie-carried request may change things: safe methods always; others only from
/// this site.
fn same_site(parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let header = |h: &str| parts.headers.get(h).and_then(|v| v.to_str().ok());
    if header("x-requested-with") == Some("cctrack") {
        return true;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, authority)| authority) == Some(host),
        _ => false,
    }
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = client_address(parts);
        let now = chrono::Utc::now();
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let session = match (bearer, cookie(parts, COOKIE)) {
            (Some(token), _) => Some(token),
            (None, Some(_)) if !same_site(parts) => {
                return Err(ApiError::Forbidden(
                    "a change carried by the session cookie must come from this site (Origin or X-Requested-With: cctrack)"
                        .into(),
                ));
            }
            (None, Some(token)) => Some(token),
            (None, None) => None,
        };
        if let Some(token) = session {
            return match tracker::session::principal(&state.pool, token, state.sessions, now).await? {
                Some((principal, session)) => Ok(StaffUser { principal, session: Some(session), address }),
                None => Err(ApiError::Unauthorized { basic_realm: false }),
            };
        }
        let (username, password) =
            basic_credentials(&parts.headers).ok_or(ApiError::Unauthorized { basic_realm: true })?;
        match state.logins.login(&username, &password, address).await? {
            LoginOutcome::Accepted(principal) => Ok(StaffUser { principal, session: None, address }),
            LoginOutcome::Refused => Err(ApiError::Unauthorized { basic_realm: true }),
            LoginOutcome::Locked { retry_after } => {
                Err(ApiError::TooManyAttempts { retry_after_s: retry_after.as_secs().max(1) })
            }
        }
    }
}
