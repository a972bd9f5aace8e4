//! `GET /api/v1/events`: server-sent events of alarm changes in the caller's organisation subtree,
//! from the alarm feed (`tracker::alarm::feed`). Each event's id is its feed position; a client
//! that reconnects with `Last-Event-ID` (or `?after=`) gets exactly what it missed, in order.
//! Without either it starts from now. Comments keep idle connections alive.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures_util::stream::Stream;
use serde::Deserialize;
use tracker::alarm::feed::AlarmFeed;
use tracker::staff::Principal;

use super::StaffUser;
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

/// How often the set of offices in scope is read again (an office added meanwhile).
const SCOPE_REFRESH: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct After {
    after: Option<i64>,
}

struct Follow {
    pool: sqlx::PgPool,
    who: Principal,
    feed: AlarmFeed,
    offices: HashSet<i64>,
    read_at: Instant,
}

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
        offices,
        read_at: Instant::now(),
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            let e = match f.feed.next().await {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(error = %err, "event stream: the feed is unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if f.read_at.elapsed() > SCOPE_REFRESH {
                if let Ok(o) = tracker::staff::offices_in_scope(&f.pool, &f.who).await {
                    f.offices = o;
                    f.read_at = Instant::now();
                }
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
