//! Location requests to phones that can receive them:
//! - native phones hold `GET /ingest/v1/location-request?wait=S` open (at most 60 s): 200 with the
//!   pending request as soon as there is one, 204 when the wait ran out;
//! - OwnTracks apps get `[{"_type": "cmd", "action": "reportLocation"}]` in the reply to any of
//!   their posts while a request is pending (see `owntracks`).
//!
//! The scheduler notifies `cctrack_requests` with the person's id when it issues one;
//! [`RequestWatch`] turns that into a wake-up for the phones waiting here (the table stays the
//! truth: a woken phone reads it, and a waiting one reads it again when its wait runs out).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracker::device::Protocol;

use crate::error::ApiError;
use crate::server::AppState;

/// The longest a phone may hold the request open.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Wakes waiting phones when a request is issued for their person.
pub struct RequestWatch {
    tx: broadcast::Sender<i64>,
}

impl Default for RequestWatch {
    fn default() -> Self {
        RequestWatch { tx: broadcast::channel(1024).0 }
    }
}

impl RequestWatch {
    /// Listens to `cctrack_requests` until `stop` is cancelled, reconnecting with back-off.
    pub async fn listen(self: std::sync::Arc<Self>, pool: sqlx::PgPool, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Err(e) = self.listen_once(&pool) => tracing::warn!(error = %e, "location request listener: reconnecting"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn listen_once(&self, pool: &sqlx::PgPool) -> Result<std::convert::Infallible, sqlx::Error> {
        let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
        l.listen("cctrack_requests").await?;
        loop {
            let n = l.recv().await?;
            if let Ok(person) = n.payload().parse::<i64>() {
                let _ = self.tx.send(person);
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Wait {
    wait: Option<String>,
}

pub async fn long_poll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Wait>,
) -> Result<Response, ApiError> {
    let device = super::native::bearer_device(&state, &headers, Protocol::Native).await?;
    let wait = match q.wait.as_deref() {
        None => Duration::from_secs(30),
        Some(w) => match w.parse::<u64>() {
            Ok(s) => Duration::from_secs(s).min(MAX_WAIT),
            Err(_) => return Err(ApiError::bad("wait", format!("{w:?} is not a whole number of seconds (0–60)"))),
        },
    };
    let mut woken = state.requests.tx.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some((id, reason, deadline_at)) =
            tracker::schedule::polling::pending_for(&state.pool, device.person_id, chrono::Utc::now()).await?
        {
            return Ok(Json(json!({"location_request": {"id": id, "reason": reason, "deadline_at": deadline_at}}))
                .into_response());
        }
        // Until a request is issued for this person, or the wait runs out.
        loop {
            match tokio::time::timeout_at(deadline, woken.recv()).await {
                Err(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
                Ok(Ok(person)) if person == device.person_id => break,
                Ok(Ok(_)) => continue,
                // Missed some wake-ups: read the table again.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
    }
}
