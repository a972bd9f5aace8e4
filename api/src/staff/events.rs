//! `GET /api/v1/events`: server-sent events of alarm changes in the caller's organisation subtree,
//! from the alarm feed (`tracker::alarm::feed`). Each event's id is its feed position; a client
//! that reconnects with `Last-Event-ID` (or `?after=`) gets exactly what it missed, in order.
//! Without either it starts from now. Comments keep idle connections alive. The stream ends
//! within a minute (`SessionPolicy::recheck`) of its session ending (logout, password change, expiry) or its account being
//! deactivated or moved.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use serde::Deserialize;
use tracker::alarm::feed::AlarmFeed;
use tracker::staff::Principal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct After {
    after: Option<i64>,
}

struct Follow {
    pool: sqlx::PgPool,
    who: Principal,
    session: Option<i64>,
    feed: AlarmFeed,
    offices: HashSet<i64>,
    read_at: Instant,
    /// How often the caller's session and the set of offices in scope are checked again.
    recheck_every: Duration,
}

impl Follow {
    /// Checks the caller again: false when the stream must end. A database that cannot be
    /// reached keeps the stream as it was until the next check.
    async fn recheck(&mut self) -> bool {
        let now = chrono::Utc::now();
        match tracker::session::still_valid(&self.pool, &self.who, self.session, now).await {
            Ok(false) => return false,
            Ok(true) => {}
            Err(e) => tracing::warn!(error = %e, "event stream: cannot check the session"),
        }
        if let Ok(o) = tracker::staff::offices_in_scope(&self.pool, &self.who).await {
            self.offices = o;
        }
        self.read_at = Instant::now();
        true
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "alarms", params(After,
        ("Last-Event-ID" = Option<String>, Header, description = "the last event received: the stream replays what followed")),
    responses((status = 200, description = "server-sent events of alarm changes in scope", content_type = "text/event-stream", body = String)))]
async fn events(
    State(state): State<AppState>,
    who: StaffUser,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim);
    let after = match (last, q.after) {
        (Some(id), _) => {
            id.parse::<i64>().map_err(|_| ApiError::bad("Last-Event-ID", format!("{id:?} is not a feed position")))?
        }
        (None, Some(a)) => a,
        (None, None) => tracker::alarm::feed::head(&state.pool).await?,
    };
    if after < 0 {
        return Err(ApiError::bad("after", "a feed position is 0 or more"));
    }
    let offices = tracker::staff::offices_in_scope(&state.pool, &who.principal).await?;
    let follow = Follow {
        feed: AlarmFeed::new(state.pool.clone(), after),
        pool: state.pool.clone(),
        who: who.principal,
        session: who.session,
        offices,
        read_at: Instant::now(),
        recheck_every: state.sessions.recheck,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            let recheck_in = f.recheck_every.saturating_sub(f.read_at.elapsed());
            // The feed's `next` loses nothing when dropped (its position moves only on return).
            let next = tokio::select! {
                next = f.feed.next() => next,
                _ = tokio::time::sleep(recheck_in) => {
                    if !f.recheck().await {
                        return None;
                    }
                    continue;
                }
            };
            let e = match next {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(error = %err, "event stream: the feed is unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if f.read_at.elapsed() > f.recheck_every && !f.recheck().await {
                return None;
            }
            if f.offices.contains(&e.office_id) {
                let event =
                    Event::default().id(e.position.to_string()).event("alarm").json_data(&e).unwrap_or_default();
                return Some((Ok(event), f));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
