//! Replay: sending a trace's points to a running cctrack through its real ingest protocols,
//! as the phone apps would, and reporting what the server made of them.
//!
//! - [`plan`](plan::plan) decides what is sent: timed points only, times shifted so the trace
//!   ends as the replay does (or kept), positions re-anchored and converted to the output datum,
//!   the wall-clock moment each is due (trace gap ÷ speed), and the requests they go in;
//! - [`native`], [`osmand`], [`owntracks`] encode requests and read replies;
//! - [`send_plan`] sends on schedule, resends on 503 or a transport failure (bounded), records
//!   refusals and carries on, and stops when no later request could succeed (401, 403, 404).

pub mod conditions;
pub mod frame;
pub mod native;
pub mod osmand;
pub mod owntracks;
pub mod plan;
pub mod send;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use serde::Serialize;

pub use conditions::{PhoneConditions, Window};
pub use frame::LatLon;
pub use plan::{plan, Plan, PlannedFix};
use send::{backoff, common_answer, send_once, Answer, Request};

/// The ingest protocols a replay can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// cctrack's own: batches, sequence numbers, a per-fix report.
    Native,
    /// Traccar Client (OsmAnd query form), on its own listener.
    Osmand,
    /// OwnTracks HTTP mode.
    Owntracks,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Native => "native",
            Protocol::Osmand => "osmand",
            Protocol::Owntracks => "owntracks",
        }
    }

    /// Decimal places of a second the protocol's time field carries: native RFC 3339 times to
    /// the microsecond (what PostgreSQL keeps), the phone apps' Unix seconds.
    pub fn time_digits(self) -> u16 {
        match self {
            Protocol::Native => 6,
            Protocol::Osmand | Protocol::Owntracks => 0,
        }
    }

    /// Whether the protocol can say which datum a position is in.
    pub fn carries_crs(self) -> bool {
        !matches!(self, Protocol::Owntracks)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Protocol::Native, Protocol::Osmand, Protocol::Owntracks]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown protocol {s:?} (native, osmand, owntracks)"))
    }
}

/// Which times the fixes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeMode {
    /// Shifted by whole seconds so that the trace ends when the replay does (see
    /// [`plan::plan`]): the server refuses fixes from before a device's enrolment or from the
    /// future, so an old trace must be moved to the present.
    #[default]
    ShiftToNow,
    /// The trace's own times.
    Original,
}

/// Resending after a 503 or a transport failure.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Resends of one request before the replay stops.
    pub max_retries: u32,
    /// First wait when the server gives no `Retry-After`; doubled on each resend.
    pub first_wait: Duration,
    /// Longest single wait, whatever the server asks.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 5, first_wait: Duration::from_secs(1), max_wait: Duration::from_secs(30) }
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub protocol: Protocol,
    /// The cctrack main listener (`http://host:8080`) for native and OwnTracks; the OsmAnd
    /// listener (`http://host:5055`) for OsmAnd.
    pub server: String,
    /// The device's enrolment id (`cctrack device enrol … --json` → `enrolment_id`).
    pub device: String,
    /// The device token; needed by native and OwnTracks, not by OsmAnd.
    pub token: Option<String>,
    /// Time warp: 1 = real time, 60 = an hour of trace per minute, up to 10 000; 0 = as fast as
    /// possible.
    pub speed: f64,
    pub time_mode: TimeMode,
    /// Move the first point here (WGS-84), keeping every offset in metres.
    pub anchor: Option<LatLon>,
    /// Datum of the positions sent.
    pub crs: Crs,
    /// Accuracy (metres) sent for points whose trace has none.
    pub default_accuracy_m: Option<f64>,
    /// Fixes per native request (1 to 1000); the other protocols send one per request.
    pub batch: usize,
    /// First native sequence number.
    pub seq_start: i64,
    pub retry: RetryPolicy,
    /// Longest wait for one reply.
    pub request_timeout: Duration,
    /// Noise, lost fixes, phone off, offline buffering.
    pub conditions: PhoneConditions,
}

impl ReplayOptions {
    /// Real time, shifted to now, WGS-84, no anchor, one fix per request, default retries.
    pub fn new(protocol: Protocol, server: impl Into<String>, device: impl Into<String>) -> Self {
        ReplayOptions {
            protocol,
            server: server.into(),
            device: device.into(),
            token: None,
            speed: 1.0,
            time_mode: TimeMode::ShiftToNow,
            anchor: None,
            crs: Crs::Wgs84,
            default_accuracy_m: None,
            batch: 1,
            seq_start: 1,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            conditions: PhoneConditions::default(),
        }
    }

    /// Checks every option that does not need the trace or the server.
    pub fn validate(&self) -> Result<(), ReplayError> {
        if !(self.speed == 0.0 || (1.0..=10_000.0).contains(&self.speed)) {
            return Err(ReplayError::Speed(self.speed));
        }
        if !(1..=native::MAX_BATCH).contains(&self.batch) {
            return Err(ReplayError::Batch(self.batch));
        }
        if self.crs != Crs::Wgs84 && !self.protocol.carries_crs() {
            return Err(ReplayError::CrsNotCarried { protocol: self.protocol, crs: self.crs });
        }
        if self.protocol != Protocol::Osmand && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(ReplayError::TokenRequired(self.protocol));
        }
        if self.device.trim().is_empty() {
            return Err(ReplayError::Device);
        }
        if let Some(a) = self.default_accuracy_m {
            if !(a.is_finite() && (0.0..100_000.0).contains(&a)) {
                return Err(ReplayError::Accuracy(a));
            }
        }
        if let Some(a) = self.anchor {
            if !a.is_valid() {
                return Err(ReplayError::Anchor(a));
            }
        }
        if self.seq_start < 0 {
            return Err(ReplayError::SeqStart(self.seq_start));
        }
        self.conditions.validate().map_err(ReplayError::Conditions)?;
        self.endpoint().map(|_| ())
    }

    /// The URL requests go to: `{server}/ingest/v1/fixes`, `{server}/ingest/owntracks`, or the
    /// OsmAnd listener itself (a server URL that already ends in the path is taken as it is).
    pub fn endpoint(&self) -> Result<reqwest::Url, ReplayError> {
        let bad = |reason: &str| ReplayError::BadServer { url: self.server.clone(), reason: reason.into() };
        let mut url: reqwest::Url = self.server.trim().parse().map_err(|e| bad(&format!("{e}")))?;
        if url.scheme() != "http" {
            return Err(bad("only http:// is supported (this build has no TLS; cctrack listens on plain HTTP)"));
        }
        if url.host().is_none() {
            return Err(bad("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("give the server's base URL, without ?query or #fragment"));
        }
        let path = match self.protocol {
            Protocol::Native => "/ingest/v1/fixes",
            Protocol::Owntracks => "/ingest/owntracks",
            Protocol::Osmand => return Ok(url),
        };
        let base = url.path().trim_end_matches('/').to_string();
        if !base.ends_with(path) {
            url.set_path(&format!("{base}{path}"));
        }
        Ok(url)
    }
}

/// A replay that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("speed {0} is not 0 (as fast as possible) or a factor from 1 to 10000")]
    Speed(f64),
    #[error("batch of {0}: a native request carries 1 to 1000 fixes")]
    Batch(usize),
    #[error("{protocol} cannot say which datum a position is in, so it always sends WGS-84; --crs {crs} needs native or osmand")]
    CrsNotCarried { protocol: Protocol, crs: Crs },
    #[error("{0} needs the device token (from `cctrack device enrol --json`)")]
    TokenRequired(Protocol),
    #[error("the device enrolment id is empty")]
    Device,
    #[error("default accuracy {0} is not a number of metres from 0 to 100000")]
    Accuracy(f64),
    #[error("anchor {0:?} is not a position (latitude ±90, longitude ±180)")]
    Anchor(LatLon),
    #[error("sequence numbers cannot start below 0 ({0})")]
    SeqStart(i64),
    /// The message starts with the option's name (`noise_m: …`).
    #[error("{0}")]
    Conditions(String),
    #[error("server URL {url:?}: {reason}")]
    BadServer { url: String, reason: String },
    #[error("the trace has no point with a time ({points} points): a replay needs times to pace and stamp the fixes")]
    NoTimedPoints { points: usize },
    #[error("time {time} cannot be shifted to the present")]
    TimeOutOfRange { time: DateTime<Utc> },
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One refused fix, as listed in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixError {
    /// Native sequence number (`None` for the other protocols).
    pub seq: Option<i64>,
    pub time: DateTime<Utc>,
    pub field: String,
    pub message: String,
}

/// Refused fixes listed one by one in the summary; all are counted in `errors_by_field`.
pub const LISTED_ERRORS: usize = 20;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplaySummary {
    pub protocol: Protocol,
    /// Datum of the positions sent.
    pub crs: String,
    /// Fixes the plan holds.
    pub planned: usize,
    /// Fixes the server answered for (accepted, duplicate or rejected).
    pub sent: usize,
    /// Stored. OsmAnd and OwnTracks cannot tell a duplicate from a new fix, so theirs count here.
    pub accepted: usize,
    /// Already stored (native only).
    pub duplicates: usize,
    /// Refused by the server.
    pub rejected: usize,
    /// Refused fixes per field the server named (`time`, `lat`, …).
    pub errors_by_field: BTreeMap<String, usize>,
    /// The first refusals with the server's message.
    pub errors: Vec<FixError>,
    /// Requests answered.
    pub requests: usize,
    /// Resends after a 503 or a transport failure.
    pub retries: usize,
    /// Replies that asked the phone for a location (native only).
    pub location_requests: usize,
    /// Planned fixes never answered because the replay stopped.
    pub unsent: usize,
    /// Points without a time (not sent).
    pub skipped_untimed: usize,
    /// Points with the same time as the previous one at the protocol's resolution (not sent).
    pub skipped_same_time: usize,
    /// Points lost to `--dropout` and to `--phone-off` windows (not sent).
    pub dropped: usize,
    pub phone_off: usize,
    /// Fixes held back by `--offline` windows and sent late, in a burst.
    pub buffered: usize,
    /// Time of the first and last fix sent.
    pub first_time: Option<DateTime<Utc>>,
    pub last_time: Option<DateTime<Utc>>,
    /// Seconds added to the trace's times (absent with original times).
    pub time_shift_s: Option<i64>,
    pub elapsed_s: f64,
    /// Why the replay stopped before the end.
    pub stopped: Option<String>,
}

/// How a replay ended, for exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Every fix was sent and accepted (or was a duplicate).
    AllTaken,
    /// Every fix was sent; the server refused some.
    SomeRejected,
    /// The replay stopped before the end (server unreachable, credentials refused, …).
    Incomplete,
}

impl ReplaySummary {
    fn new(plan: &Plan) -> Self {
        ReplaySummary {
            protocol: plan.protocol,
            crs: plan.crs.to_string(),
            planned: plan.fixes.len(),
            sent: 0,
            accepted: 0,
            duplicates: 0,
            rejected: 0,
            errors_by_field: BTreeMap::new(),
            errors: Vec::new(),
            requests: 0,
            retries: 0,
            location_requests: 0,
            unsent: 0,
            skipped_untimed: plan.skipped_untimed,
            skipped_same_time: plan.skipped_same_time,
            dropped: plan.dropped,
            phone_off: plan.phone_off,
            buffered: plan.buffered,
            first_time: None,
            last_time: None,
            time_shift_s: plan.time_shift.map(|d| d.num_seconds()),
            elapsed_s: 0.0,
            stopped: None,
        }
    }

    pub fn outcome(&self) -> ReplayOutcome {
        if self.stopped.is_some() || self.sent < self.planned {
            ReplayOutcome::Incomplete
        } else if self.rejected > 0 {
            ReplayOutcome::SomeRejected
        } else {
            ReplayOutcome::AllTaken
        }
    }

    fn record(&mut self, fixes: &[PlannedFix], answer: Answer) {
        let Answer::Judged { accepted, duplicates, rejected, location_request } = answer else { return };
        self.requests += 1;
        self.sent += fixes.len();
        self.accepted += accepted;
        self.duplicates += duplicates;
        self.rejected += rejected.len();
        self.location_requests += usize::from(location_request);
        for r in rejected {
            *self.errors_by_field.entry(r.field.clone()).or_default() += 1;
            if self.errors.len() < LISTED_ERRORS {
                let f = fixes.get(r.index);
                self.errors.push(FixError {
                    seq: f.filter(|_| self.protocol == Protocol::Native).map(|f| f.seq),
                    time: f.or(fixes.first()).map(|f| f.time).unwrap_or_default(),
                    field: r.field,
                    message: r.message,
                });
            }
        }
        if let (Some(first), Some(last)) = (fixes.first(), fixes.last()) {
            self.first_time.get_or_insert(first.time);
            self.last_time = Some(last.time);
        }
    }
}

/// The request carrying `fixes`.
fn encode(opts: &ReplayOptions, endpoint: &reqwest::Url, crs: Crs, fixes: &[PlannedFix]) -> Request {
    let token = opts.token.as_deref().unwrap_or("");
    match (opts.protocol, fixes.first()) {
        (Protocol::Osmand, Some(f)) => osmand::request(endpoint, &opts.device, crs, f),
        (Protocol::Owntracks, Some(f)) => owntracks::request(endpoint, &opts.device, token, f),
        _ => native::request(endpoint, &opts.device, token, crs, fixes),
    }
}

fn interpret(protocol: Protocol, status: u16, body: &[u8], n: usize) -> Answer {
    match protocol {
        Protocol::Native => native::answer(status, body, n),
        Protocol::Osmand | Protocol::Owntracks => send::single_fix_answer(status, body),
    }
}

/// An error with its causes (reqwest's own text hides whether it was a refused connection or
/// a timeout).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Plans `trace` as of now and sends it. See [`replay_with_progress`].
pub async fn replay(trace: &crate::trace::Trace, opts: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    replay_with_progress(trace, opts, |_| {}).await
}

/// Plans `trace` as of now and sends it; `progress` sees the summary after every request.
pub async fn replay_with_progress(
    trace: &crate::trace::Trace,
    opts: &ReplayOptions,
    progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, ReplayError> {
    let plan = plan::plan(trace, opts, Utc::now())?;
    send_plan(&plan, opts, progress).await
}

/// Sends `plan` (made with `opts`), each request when it is due counted from now.
///
/// A request answered 503, or not answered at all, is resent after the server's `Retry-After`
/// or a doubling wait, up to `opts.retry.max_retries` times; then the replay stops. Refused
/// fixes are recorded and the replay goes on; 401, 403 and 404 stop it at once, since every
/// later request would get the same answer. Either way the summary so far is returned.
pub async fn send_plan(
    plan: &Plan,
    opts: &ReplayOptions,
    progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, ReplayError> {
    let client = http_client(opts)?;
    send_plan_with(plan, opts, &client, tokio::time::Instant::now(), progress).await
}

/// The HTTP client a replay sends with (its timeouts from `opts`); one client can serve many
/// concurrent replays (a fleet) and reuses their connections.
pub fn http_client(opts: &ReplayOptions) -> Result<reqwest::Client, ReplayError> {
    reqwest::Client::builder()
        .timeout(opts.request_timeout)
        .connect_timeout(opts.request_timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(ReplayError::Client)
}

/// [`send_plan`] with a given client, each request due counted from `start` (so that many
/// plans sent concurrently share one clock).
pub async fn send_plan_with(
    plan: &Plan,
    opts: &ReplayOptions,
    client: &reqwest::Client,
    start: tokio::time::Instant,
    mut progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, ReplayError> {
    opts.validate()?;
    let endpoint = opts.endpoint()?;
    let mut summary = ReplaySummary::new(plan);
    for r in &plan.requests {
        tokio::time::sleep_until(start + plan.request_due(r)).await;
        let fixes = &plan.fixes[r.clone()];
        let request = encode(opts, &endpoint, plan.crs, fixes);
        let mut attempt = 0;
        let answer = loop {
            let answer = match send_once(client, &request).await {
                Ok(reply) => common_answer(reply.status, reply.retry_after, &reply.body)
                    .unwrap_or_else(|| interpret(plan.protocol, reply.status, &reply.body, fixes.len())),
                Err(e) => Answer::Retry { after: None, reason: format!("no answer from {endpoint}: {}", chain(&e)) },
            };
            match answer {
                Answer::Retry { after, .. } if attempt < opts.retry.max_retries => {
                    attempt += 1;
                    summary.retries += 1;
                    tokio::time::sleep(backoff(attempt, after, opts.retry.first_wait, opts.retry.max_wait)).await;
                }
                Answer::Retry { reason, .. } => {
                    break Answer::Stop(format!("{reason}; gave up after {attempt} retries"));
                }
                other => break other,
            }
        };
        if let Answer::Stop(reason) = answer {
            summary.stopped = Some(reason);
            summary.unsent = plan.fixes.len() - r.start;
            break;
        }
        summary.record(fixes, answer);
        progress(&summary);
    }
    summary.elapsed_s = start.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let url = |p: Protocol, s: &str| ReplayOptions::new(p, s, "d").endpoint().map(|u| u.to_string());
        assert_eq!(url(Protocol::Native, "http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/ingest/v1/fixes");
        assert_eq!(url(Protocol::Native, "http://h/cc/").unwrap(), "http://h/cc/ingest/v1/fixes");
        assert_eq!(
            url(Protocol::Native, "http://h:1/ingest/v1/fixes").unwrap(),
            "http://h:1/ingest/v1/fixes",
            "a full endpoint is kept"
        );
        assert_eq!(url(Protocol::Owntracks, "http://h:8080/").unwrap(), "http://h:8080/ingest/owntracks");
        assert_eq!(url(Protocol::Osmand, "http://127.0.0.1:5055").unwrap(), "http://127.0.0.1:5055/");
        for bad in ["https://h", "h:8080", "http://h/?x=1", "", "file:///tmp"] {
            assert!(url(Protocol::Native, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocol_names() {
        assert_eq!("OsmAnd".parse::<Protocol>().unwrap(), Protocol::Osmand);
        assert!("mqtt".parse::<Protocol>().is_err());
        assert_eq!(serde_json::to_value(Protocol::Owntracks).unwrap(), "owntracks");
    }
}
