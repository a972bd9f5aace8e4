//! Who is calling: [`StaffUser`] as an extractor, so that a handler's signature says a staff
//! account must be signed in.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tracker::login::LoginOutcome;
use tracker::staff::Principal;

use crate::basic_auth::basic_credentials;
use crate::error::ApiError;
use crate::server::AppState;

/// A signed-in staff member (HTTP basic authentication, checked by `tracker::login` with its
/// limits on failed attempts): 401 without valid credentials, 429 while locked.
#[derive(Debug, Clone)]
pub struct StaffUser(pub Principal);

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (username, password) =
            basic_credentials(&parts.headers).ok_or(ApiError::Unauthorized { basic_realm: true })?;
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        match state.logins.login(&username, &password, address).await? {
            LoginOutcome::Accepted(p) => Ok(StaffUser(p)),
            LoginOutcome::Refused => Err(ApiError::Unauthorized { basic_realm: true }),
            LoginOutcome::Locked { retry_after } => {
                Err(ApiError::TooManyAttempts { retry_after_s: retry_after.as_secs().max(1) })
            }
        }
    }
}
