//! The history of alarms, one append-only table (`alarm_events`): every change of an alarm is an
//! event written in the transaction that makes the change. Events about a subject (person,
//! alarm kind, fence) can come before its alarm exists: a doubtful fix asks for confirmation.
//!
//! Evidence does not flood the history: every non-compliant fix while an alarm is open is a row
//! of `alarm_evidence` and raises the alarm's `evidence_count`; the history records the opening
//! (with its fix), each return inside, each time the person is outside again after a return,
//! and what staff (and, later, escalation and notices) did.
//!
//! Positions: the database numbers events 1, 2, 3, ... in commit order, from a one-row counter
//! whose lock is held until the transaction ends (see migration 0008). Appending is therefore
//! the last statement of every transaction that writes events, so that others wait for that
//! lock as briefly as possible: [`EventLog`] gathers a transaction's events and
//! [`EventLog::append`] writes them in one statement that takes their positions as one block (a
//! counter update per row made a group commit of thousands of events quadratic: every update
//! of the one row walks the chain of its versions).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::{Kind, State};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The alarm opened, on the fix that caused it.
    Opened,
    /// Outside (or inside a forbidden place) again after a recorded return.
    LeftAgain,
    /// Back inside: recorded; the alarm stays open until staff close it.
    ReturnedInside,
    /// A doubtful fix asked the phone for another fix.
    ConfirmationRequested,
    /// A second non-compliant fix confirmed the doubt.
    Confirmed,
    /// A compliant fix settled the doubt: no alarm.
    ConfirmationWithdrawn,
    Acknowledged,
    Resolved,
    Dismissed,
    /// A step of the escalation ladder was taken (to the county, to the city).
    Escalated,
    /// Still open past midnight of its day (过夜).
    Overnight,
    NoticeSent,
    NoticeFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::Opened,
        EventKind::LeftAgain,
        EventKind::ReturnedInside,
        EventKind::ConfirmationRequested,
        EventKind::Confirmed,
        EventKind::ConfirmationWithdrawn,
        EventKind::Acknowledged,
        EventKind::Resolved,
        EventKind::Dismissed,
        EventKind::Escalated,
        EventKind::Overnight,
        EventKind::NoticeSent,
        EventKind::NoticeFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::LeftAgain => "left_again",
            EventKind::ReturnedInside => "returned_inside",
            EventKind::ConfirmationRequested => "confirmation_requested",
            EventKind::Confirmed => "confirmed",
            EventKind::ConfirmationWithdrawn => "confirmation_withdrawn",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Resolved => "resolved",
            EventKind::Dismissed => "dismissed",
            EventKind::Escalated => "escalated",
            EventKind::Overnight => "overnight",
            EventKind::NoticeSent => "notice_sent",
            EventKind::NoticeFailed => "notice_failed",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            EventKind::Opened => "报警",
            EventKind::LeftAgain => "再次越界",
            EventKind::ReturnedInside => "已返回",
            EventKind::ConfirmationRequested => "请求复核定位",
            EventKind::Confirmed => "复核确认",
            EventKind::ConfirmationWithdrawn => "复核排除",
            EventKind::Acknowledged => "签收",
            EventKind::Resolved => "处置完毕",
            EventKind::Dismissed => "误报",
            EventKind::Escalated => "升级",
            EventKind::Overnight => "过夜",
            EventKind::NoticeSent => "通知已发送",
            EventKind::NoticeFailed => "通知发送失败",
        }
    }
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub alarm_id: Option<i64>,
    pub person_id: i64,
    pub office_id: i64,
    pub alarm_kind: Kind,
    pub fence_id: Option<i64>,
    pub kind: EventKind,
    /// The staff account, `None` for cctrack itself.
    pub actor_id: Option<i64>,
    pub from_state: Option<State>,
    /// The alarm's state after the event (`None` without an alarm).
    pub to_state: Option<State>,
    /// The fix the event is about.
    pub fixed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub details: Value,
}

impl NewEvent {
    /// An event of cctrack itself about `person`'s subject of `alarm_kind`, with nothing else
    /// set: fill in what applies with struct update syntax.
    pub fn new(kind: EventKind, person_id: i64, office_id: i64, alarm_kind: Kind) -> Self {
        NewEvent {
            alarm_id: None,
            person_id,
            office_id,
            alarm_kind,
            fence_id: None,
            kind,
            actor_id: None,
            from_state: None,
            to_state: None,
            fixed_at: None,
            note: None,
            details: Value::Object(Default::default()),
        }
    }
}

impl Extend<NewEvent> for EventLog {
    fn extend<I: IntoIterator<Item = NewEvent>>(&mut self, iter: I) {
        self.events.extend(iter);
    }
}

/// The events of one transaction, appended together at its end.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Vec<NewEvent>,
}

impl EventLog {
    pub fn push(&mut self, e: NewEvent) {
        self.events.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// Appends the events in order, in one statement; returns their feed positions. Call it
    /// last in the transaction: from here to COMMIT every other writer of events waits.
    pub async fn append(self, tx: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
        if self.events.is_empty() {
            return Ok(Vec::new());
        }
        let e = &self.events;
        let col = |f: fn(&NewEvent) -> Option<String>| e.iter().map(f).collect::<Vec<_>>();
        // The block is taken (and named for the position trigger) before the first row is
        // inserted: `block` and `named` are scanned once, ahead of the rows.
        sqlx::query_scalar(
            "WITH block AS (UPDATE alarm_feed SET position = position + $13 RETURNING position - $13 AS base),
                  named AS (SELECT base, set_config('cctrack.feed_block', (base + 1) || ':' || (base + $13), true) FROM block)
             INSERT INTO alarm_events (alarm_id, person_id, office_id, alarm_kind, fence_id, kind, actor_id,
                                       from_state, to_state, fixed_at, note, details, position)
             SELECT a, p, o, ak, f, k, actor, fs, ts, t, n, d, named.base + ord
             FROM named, UNNEST($1::int8[], $2::int8[], $3::int8[], $4::text[], $5::int8[], $6::text[], $7::int8[],
                                $8::text[], $9::text[], $10::timestamptz[], $11::text[], $12::jsonb[])
                  WITH ORDINALITY AS u(a, p, o, ak, f, k, actor, fs, ts, t, n, d, ord)
             ORDER BY ord
             RETURNING position",
        )
        .bind(e.iter().map(|e| e.alarm_id).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.person_id).collect::<Vec<_>>())
        .bind(e.iter().map(|e| e.office_id).collect::<Vec<_>>())
        .bind(col(|e| Some(e.alarm_kind.as_str().to_string())))
        .bind(e.iter().map(|e| e.fence_id).collect::<Vec<_>>())
        .bind(col(|e| Some(e.kind.as_str().to_string())))
        .bind(e.iter().map(|e| e.actor_id).collect::<Vec<_>>())
        .bind(col(|e| e.from_state.map(|s| s.as_str().to_string())))
        .bind(col(|e| e.to_state.map(|s| s.as_str().to_string())))
        .bind(e.iter().map(|e| e.fixed_at).collect::<Vec<_>>())
        .bind(col(|e| e.note.clone()))
        .bind(e.iter().map(|e| e.details.clone()).collect::<Vec<_>>())
        .bind(e.len() as i64)
        .fetch_all(&mut *tx)
        .await
    }
}
