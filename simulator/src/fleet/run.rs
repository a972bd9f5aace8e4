//! Running a fleet: every person's fixes planned on one simulated clock and sent concurrently
//! through the OsmAnd protocol (the replay's encoder and sender), with a time warp.
//!
//! cctrack refuses fixes more than 10 minutes in the future, so a fast run cannot simulate
//! ahead of now: it simulates the recent past catching up with the present. The simulated clock
//! starts at `now − catch_up` and runs at `speed` until it meets the real clock (six hours at
//! ×360 take one minute), then runs at ×1. Every fix is stamped with its simulated time, which
//! is never later than the moment it is sent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use geofence::crs::Crs;
use serde::Serialize;

use super::events::{self, Event, EventError, LeaveToGrant};
use super::movement::{self, secs, Fix, MovementOptions, Places};
use super::space::{Rng, Space};
use crate::replay::{self, LatLon, Plan, PlannedFix, Protocol, ReplayError, ReplayOptions, ReplaySummary, RetryPolicy};

/// The simulated clock: `sim_start` at `wall_start`, ×`speed` until it reaches the real clock,
/// then ×1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warp {
    pub sim_start: DateTime<Utc>,
    pub wall_start: DateTime<Utc>,
    pub speed: f64,
}

impl Warp {
    /// Wall time until the simulated clock meets the real one (zero if it starts there or the
    /// speed is not above 1: then it runs at ×1 from the start, behind by the difference).
    pub fn catch_up(&self) -> StdDuration {
        let behind = secs(self.wall_start - self.sim_start);
        if behind <= 0.0 || self.speed <= 1.0 {
            return StdDuration::ZERO;
        }
        StdDuration::from_secs_f64(behind / (self.speed - 1.0))
    }

    /// Wall time from the start at which the simulated clock shows `t`.
    pub fn due(&self, t: DateTime<Utc>) -> StdDuration {
        let into = secs(t - self.sim_start).max(0.0);
        let c = self.catch_up();
        if self.speed <= 1.0 {
            return StdDuration::from_secs_f64(into);
        }
        let at_catch_up = c.as_secs_f64() * self.speed;
        if into <= at_catch_up {
            StdDuration::from_secs_f64(into / self.speed)
        } else {
            c + StdDuration::from_secs_f64(into - at_catch_up)
        }
    }

    /// The simulated time `elapsed` after the start.
    pub fn sim_at(&self, elapsed: StdDuration) -> DateTime<Utc> {
        let c = self.catch_up();
        let ms = |d: f64| Duration::milliseconds((d * 1000.0) as i64);
        if elapsed <= c && self.speed > 1.0 {
            self.sim_start + ms(elapsed.as_secs_f64() * self.speed)
        } else {
            self.sim_start + ms(c.as_secs_f64() * self.speed.max(1.0) + (elapsed - c.min(elapsed)).as_secs_f64())
        }
    }
}

/// Everything one person of the fleet does.
#[derive(Debug, Clone)]
pub struct FleetPerson {
    pub name: String,
    /// Enrolment id of their Traccar Client phone.
    pub device: String,
    /// The phone's name at the carrier gateway.
    pub carrier_id: String,
    pub level: Option<String>,
    /// Where they live: scripted events start and end there.
    pub home: LatLon,
    pub fixes: Vec<Fix>,
    pub events: Vec<Event>,
}

impl FleetPerson {
    /// The leaves the server must grant for this person's scripted leaves.
    pub fn leaves_to_grant(&self) -> Vec<LeaveToGrant> {
        self.events.iter().filter_map(|e| e.leave(self.home)).collect()
    }
}

/// Generates a person's movement over `[from, to]`, applies their events, and returns the fixes
/// their phone reports.
pub fn simulate(
    space: &Space,
    places: Places,
    events: &[Event],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    opts: &MovementOptions,
    rng: &Rng,
) -> Result<Vec<Fix>, EventError> {
    let busy: Vec<_> = events.iter().map(|e| (e.at, e.end())).collect();
    let mut track = movement::generate(space, places, from, to, &busy, opts, rng);
    let rules = events::apply(space, &mut track, events, opts, rng)?;
    Ok(movement::fixes(&track, from, to, &rules, opts, rng))
}

/// How to send.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The OsmAnd listener (`http://127.0.0.1:5055`).
    pub osmand_url: String,
    pub warp: Warp,
    pub retry: RetryPolicy,
    /// Totals kept up to date while the phones send (for a progress bar).
    pub counters: Option<Arc<crate::progress::FleetCounters>>,
}

/// Something worth telling while the fleet runs.
#[derive(Debug, Clone)]
pub enum Note {
    /// A scripted event begins (on the simulated clock).
    Event { person: String, event: &'static str, at: DateTime<Utc>, until: DateTime<Utc>, expect: Option<&'static str> },
    /// The simulated clock has caught up with the real one.
    CaughtUp,
    /// A person's phone has sent everything (or stopped).
    Done(PersonSummary),
}

/// What one person's phone achieved.
#[derive(Debug, Clone, Serialize)]
pub struct PersonSummary {
    pub name: String,
    pub device: String,
    pub level: Option<String>,
    pub planned: usize,
    pub sent: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub errors_by_field: BTreeMap<String, usize>,
    pub stopped: Option<String>,
}

impl PersonSummary {
    fn new(p: &FleetPerson, s: Option<&ReplaySummary>) -> Self {
        PersonSummary {
            name: p.name.clone(),
            device: p.device.clone(),
            level: p.level.clone(),
            planned: p.fixes.len(),
            sent: s.map_or(0, |s| s.sent),
            accepted: s.map_or(0, |s| s.accepted + s.duplicates),
            rejected: s.map_or(0, |s| s.rejected),
            errors_by_field: s.map(|s| s.errors_by_field.clone()).unwrap_or_default(),
            stopped: s.and_then(|s| s.stopped.clone()),
        }
    }
}

/// The whole fleet's result.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    pub persons: Vec<PersonSummary>,
    pub sim_start: DateTime<Utc>,
    pub speed: f64,
    pub elapsed_s: f64,
    /// Stopped by the caller (a signal) before every fix was sent.
    pub interrupted: bool,
}

impl FleetSummary {
    pub fn all_accepted(&self) -> bool {
        !self.interrupted && self.persons.iter().all(|p| p.accepted == p.planned && p.stopped.is_none())
    }
}

/// The fixes as the replay sends them: one per OsmAnd request, due on the warped clock.
fn plan(p: &FleetPerson, warp: &Warp) -> Plan {
    let fixes: Vec<PlannedFix> = p
        .fixes
        .iter()
        .enumerate()
        .map(|(i, f)| PlannedFix {
            point: i,
            seq: i as i64 + 1,
            time: f.time,
            due: warp.due(f.time),
            wgs84: f.pos,
            lat: f.pos.lat,
            lon: f.pos.lon,
            accuracy_m: Some((f.accuracy_m * 10.0).round() / 10.0),
            speed_mps: Some(f.speed_mps),
            course_deg: (f.speed_mps > 0.0).then_some(f.course_deg),
            altitude_m: None,
        })
        .collect();
    let requests = (0..fixes.len()).map(|i| i..i + 1).collect();
    Plan {
        protocol: Protocol::Osmand,
        crs: Crs::Wgs84,
        fixes,
        requests,
        time_shift: None,
        skipped_untimed: 0,
        skipped_same_time: 0,
        dropped: 0,
        phone_off: 0,
        buffered: 0,
    }
}

/// Sends every person's fixes concurrently on the warped clock (counted from now, which should
/// be `opts.warp.wall_start`), telling `notes` about events as the simulated clock reaches them,
/// until everything is sent or `shutdown` completes.
pub async fn run_fleet(
    persons: Vec<FleetPerson>,
    opts: RunOptions,
    notes: Arc<dyn Fn(Note) + Send + Sync>,
    shutdown: impl Future<Output = ()>,
) -> Result<FleetSummary, ReplayError> {
    let warp = opts.warp;
    let mut per_person = Vec::with_capacity(persons.len());
    for p in &persons {
        let mut o = ReplayOptions::new(Protocol::Osmand, opts.osmand_url.clone(), p.device.clone());
        o.retry = opts.retry.clone();
        o.validate()?;
        per_person.push(o);
    }
    let client = replay::http_client(per_person.first().unwrap_or(&ReplayOptions::new(
        Protocol::Osmand,
        opts.osmand_url.clone(),
        "-",
    )))?;
    let start = tokio::time::Instant::now();
    let latest: Vec<Arc<Mutex<Option<ReplaySummary>>>> = persons.iter().map(|_| Arc::default()).collect();
    let mut senders = tokio::task::JoinSet::new();
    let mut timers = tokio::task::JoinSet::new();
    for (i, (p, o)) in persons.iter().zip(per_person).enumerate() {
        let plan = plan(p, &warp);
        let (client, slot, done_notes) = (client.clone(), latest[i].clone(), notes.clone());
        let counters = opts.counters.clone();
        let person = p.clone();
        senders.spawn(async move {
            let progress_slot = slot.clone();
            let counters = counters.clone();
            let result = replay::send_plan_with(&plan, &o, &client, start, move |s| {
                if let Ok(mut g) = progress_slot.lock() {
                    if let Some(c) = &counters {
                        c.add(g.as_ref(), s);
                    }
                    *g = Some(s.clone());
                }
            })
            .await;
            let summary = match result {
                Ok(s) => Some(s),
                Err(e) => {
                    let mut s = slot.lock().ok().and_then(|g| g.clone());
                    if let Some(s) = s.as_mut() {
                        s.stopped = Some(e.to_string());
                    }
                    s
                }
            };
            if let (Ok(mut g), Some(s)) = (slot.lock(), summary.as_ref()) {
                *g = Some(s.clone());
            }
            done_notes(Note::Done(PersonSummary::new(&person, summary.as_ref())));
        });
        for e in &p.events {
            let (notes, name, e) = (notes.clone(), p.name.clone(), e.clone());
            timers.spawn(async move {
                tokio::time::sleep_until(start + warp.due(e.at)).await;
                notes(Note::Event {
                    person: name,
                    event: e.name(),
                    at: e.at,
                    until: e.end(),
                    expect: e.expected_alarm(),
                });
            });
        }
    }
    if warp.catch_up() > StdDuration::ZERO {
        let notes = notes.clone();
        timers.spawn(async move {
            tokio::time::sleep_until(start + warp.catch_up()).await;
            notes(Note::CaughtUp);
        });
    }
    let interrupted = tokio::select! {
        _ = async { while senders.join_next().await.is_some() {} } => false,
        _ = shutdown => true,
    };
    senders.abort_all();
    timers.abort_all();
    let persons = persons
        .iter()
        .zip(&latest)
        .map(|(p, slot)| PersonSummary::new(p, slot.lock().ok().and_then(|g| g.clone()).as_ref()))
        .collect();
    Ok(FleetSummary {
        persons,
        sim_start: warp.sim_start,
        speed: warp.speed,
        elapsed_s: start.elapsed().as_secs_f64(),
        interrupted,
    })
}
