//! Who is calling: [`StaffUser`] as an extractor, so that a handler's signature says a staff
//! account must be signed in. Three ways in: a session token as `Authorization: Bearer` (machine
//! clients), the console's session cookie, or HTTP basic authentication (checked by
//! `tracker::login` with its limits on failed attempts).
//!
//! Cookies and basic credentials are sent by browsers on their own (ambient), so a
//! state-changing request carried by one must not come from another site's page. The cookie needs
//! an `Origin` naming this host or the header `X-Requested-With: cctrack` (which a page of
//! another site cannot send without our consent); basic credentials are refused whenever the
//! browser says the request is cross-site (`Origin`, `Sec-Fetch-Site`), and a 401 never asks a
//! browser for them (the challenge is `Bearer`), so a browser does not remember them at all.
//!
//! Behind a reverse proxy listed in `trusted_proxies`, the client's address is taken from
//! `X-Forwarded-For` (the nearest address not a trusted proxy), and `X-Forwarded-Proto: https`
//! marks the session cookie Secure.

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

impl StaffUser {
    /// This staff member acting, for the checks and the audit row of a change.
    pub fn acting(&self) -> tracker::audit::Acting<'_> {
        tracker::audit::Acting { who: &self.principal, address: self.address }
    }
}

/// The client's address: the peer's, or behind a trusted proxy the nearest address in
/// `X-Forwarded-For` that is not one of `trusted` (a client can prepend anything, so the list is
/// read from the right).
pub fn client_address(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|a| !trusted.contains(a)).unwrap_or(peer))
}

/// Whether the client reached a trusted proxy over TLS.
pub fn forwarded_https(parts: &Parts, trusted: &[IpAddr]) -> bool {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    peer.is_some_and(|p| trusted.contains(&p))
        && parts.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(str::trim) == Some("https")
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

/// Whether a request with basic credentials may change things: unless the browser says it
/// comes from another site. Clients that are not browsers send neither header.
fn not_cross_site(parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let header = |h: &str| parts.headers.get(h).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| !matches!(s, "same-origin" | "none")) {
        return false;
    }
    match header("origin") {
        None => true,
        Some(origin) => origin.split_once("://").map(|(_, authority)| authority) == header("host"),
    }
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = client_address(parts, &state.trusted_proxies);
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
            basic_credentials(&parts.headers).ok_or(ApiError::Unauthorized { basic_realm: false })?;
        if !not_cross_site(parts) {
            return Err(ApiError::Forbidden("a change must not come from another site's page".into()));
        }
        match state.logins.login(&username, &password, address).await? {
            LoginOutcome::Accepted(principal) => Ok(StaffUser { principal, session: None, address }),
            LoginOutcome::Refused => Err(ApiError::Unauthorized { basic_realm: false }),
            LoginOutcome::Locked { retry_after } => {
                Err(ApiError::TooManyAttempts { retry_after_s: retry_after.as_secs().max(1) })
            }
        }
    }
}
