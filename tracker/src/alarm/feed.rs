//! The live feed of alarm events: every event after a position, in order, with no gap and no
//! repeat, across missed notifications, reconnects and restarts. The table is the truth
//! (positions are dense and in commit order, see [`super::events`]); `LISTEN
//! cctrack_alarm_events` only wakes the reader early, and a reader that hears nothing still looks
//! every [`POLL`].

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

/// How often a reader looks without a notification (a lost connection, a missed wake-up).
pub const POLL: Duration = Duration::from_secs(5);
/// Events read per query.
const PAGE: i64 = 500;

/// One event as readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FeedEvent {
    pub position: i64,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub alarm_id: Option<i64>,
    pub alarm_kind: String,
    pub person_id: i64,
    pub office_id: i64,
    pub fence_id: Option<i64>,
    /// The staff account's username, `None` for cctrack itself.
    pub by: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub fixed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub details: Value,
}

const SELECT: &str = "SELECT e.position, e.kind, e.at, e.alarm_id, e.alarm_kind, e.person_id, e.office_id, e.fence_id,
                             s.username AS by, e.from_state, e.to_state, e.fixed_at, e.note, e.details
                      FROM alarm_events e LEFT JOIN staff s ON s.id = e.actor_id";

/// Up to `limit` events after `after`, in order.
pub async fn read_after(pool: &PgPool, after: i64, limit: i64) -> Result<Vec<FeedEvent>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE e.position > $1 ORDER BY e.position LIMIT $2"))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// An alarm's whole history, in order.
pub async fn history(pool: &PgPool, alarm: i64) -> Result<Vec<FeedEvent>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE e.alarm_id = $1 ORDER BY e.position")).bind(alarm).fetch_all(pool).await
}

/// The position of the newest event (0 before the first).
pub async fn head(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT position FROM alarm_feed").fetch_one(pool).await
}

/// A reader of the feed from a position on. [`AlarmFeed::next`] hands out each event once, in
/// order; after an error (the database went away) calling it again reconnects and goes on from
/// the last event handed out.
pub struct AlarmFeed {
    pool: PgPool,
    last: i64,
    buffer: VecDeque<FeedEvent>,
    listener: Option<PgListener>,
}

impl AlarmFeed {
    /// A reader of the events after `after` (0: from the beginning; [`head`]: only new ones).
    pub fn new(pool: PgPool, after: i64) -> Self {
        AlarmFeed { pool, last: after, buffer: VecDeque::new(), listener: None }
    }

    /// The position of the last event handed out.
    pub fn position(&self) -> i64 {
        self.last
    }

    /// The next event, waiting for it if need be.
    pub async fn next(&mut self) -> Result<FeedEvent, sqlx::Error> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.last = e.position;
                return Ok(e);
            }
            if self.listener.is_none() {
                let mut listener = PgListener::connect_with(&self.pool).await?;
                listener.listen("cctrack_alarm_events").await?;
                self.listener = Some(listener);
            }
            // Listening before reading: an event committed after this read wakes the wait below.
            let page = read_after(&self.pool, self.last, PAGE).await?;
            if !page.is_empty() {
                self.buffer.extend(page);
                continue;
            }
            let listener = self.listener.as_mut().expect("connected above");
            match tokio::time::timeout(POLL, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    self.listener = None;
                    return Err(e);
                }
            }
        }
    }
}
