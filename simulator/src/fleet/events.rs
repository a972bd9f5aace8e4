//! Scripted events: what a scenario makes a person do besides their generated routine.
//!
//! Every event starts at home (the day of an event is spent at home, see
//! [`movement::generate`]), does what it says within its `duration`, and ends back where the
//! routine has the person then. Excursions are trips as the routine makes them (driving with
//! stops), so implied speeds stay plausible; an event too short for its trips is refused.

use chrono::{DateTime, Duration, Utc};

use super::movement::{self, FixRule, MovementOptions, Track};
use super::space::{dist, offset, signed, Rng, Space};
use crate::replay::LatLon;

/// What happens.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Travels to `to` (outside the allowed area), stays, and comes back by the end.
    LeaveArea { to: LatLon },
    /// Travels to `point` (inside a zone to avoid), stays, and comes back by the end.
    EnterZone { point: LatLon },
    /// No fixes at all.
    PhoneOff,
    /// Goes to a spot close inside the allowed area's border (towards `toward` when given) and
    /// stays; the fixes there drift across the border with a large accuracy (see
    /// [`FixRule::Drift`]).
    Drift { toward: Option<LatLon>, confirm: bool },
    /// A leave (请假外出) to `to`, outside the allowed area: travels there when the leave
    /// begins, stays, and is home `late` after it ends (zero: on time). The server must know
    /// the leave (see [`Event::leave`]); a late return is `leave_overdue`.
    Leave { to: LatLon, late: Duration },
}

/// A leave the server must have granted for a scripted [`EventKind::Leave`] to mean what it
/// says: the window, and the way from home to the destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaveToGrant {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub home: LatLon,
    pub destination: LatLon,
}

/// One scripted event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub duration: Duration,
    pub kind: EventKind,
}

/// How far inside the border a drifting person stands (metres): far enough that clean fixes
/// are definitely inside, close enough that a drifted fix's accuracy circle crosses it.
pub const DRIFT_INSIDE_M: f64 = 150.0;
/// Accuracy reported by drifted fixes (metres).
pub const DRIFT_ACCURACY_M: (f64, f64) = (200.0, 500.0);

impl Event {
    /// When the person is back in their routine (for a leave: home, possibly late).
    pub fn end(&self) -> DateTime<Utc> {
        match self.kind {
            EventKind::Leave { late, .. } => self.at + self.duration + late,
            _ => self.at + self.duration,
        }
    }

    /// The leave to grant for this event, if it is one; `home` is where the person starts.
    pub fn leave(&self, home: LatLon) -> Option<LeaveToGrant> {
        match self.kind {
            EventKind::Leave { to, .. } => {
                Some(LeaveToGrant { from: self.at, until: self.at + self.duration, home, destination: to })
            }
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::LeaveArea { .. } => "leave_area",
            EventKind::EnterZone { .. } => "enter_zone",
            EventKind::PhoneOff => "phone_off",
            EventKind::Drift { .. } => "drift",
            EventKind::Leave { .. } => "leave",
        }
    }

    /// The alarm kind the server should raise for this event, if any (a phone switched off is
    /// for the scheduler to notice, not ingest; an unconfirmed drift only asks for a fix).
    pub fn expected_alarm(&self) -> Option<&'static str> {
        match self.kind {
            EventKind::LeaveArea { .. } => Some("fence_exit"),
            EventKind::EnterZone { .. } => Some("exclusion_entry"),
            EventKind::Drift { confirm: true, .. } => Some("fence_exit"),
            EventKind::Leave { late, .. } if late > Duration::zero() => Some("leave_overdue"),
            EventKind::Leave { .. } => None,
            EventKind::PhoneOff | EventKind::Drift { confirm: false, .. } => None,
        }
    }
}

/// An event that cannot happen as scripted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("{event} at {at}: {needed_min} minutes of travel do not fit in its duration of {duration_min} minutes")]
    TooShort { event: &'static str, at: DateTime<Utc>, needed_min: i64, duration_min: i64 },
    #[error("{event} at {at}: the destination is not outside the allowed area (it is {inside_m:.0} m inside; needs {needed_m:.0} m outside)")]
    NotOutside { event: &'static str, at: DateTime<Utc>, inside_m: f64, needed_m: f64 },
    #[error("enter_zone at {at}: the point is in no zone the person must avoid")]
    NotInZone { at: DateTime<Utc> },
    #[error("{event} at {at}: the straight way there passes {what}")]
    PathBlocked { event: &'static str, at: DateTime<Utc>, what: &'static str },
    #[error("drift at {at}: no spot near the border reachable from home without passing a zone to avoid")]
    NoBorderSpot { at: DateTime<Utc> },
    #[error("{first} at {a} and {second} at {b} overlap")]
    Overlap { first: &'static str, a: DateTime<Utc>, second: &'static str, b: DateTime<Utc> },
}

/// Applies `events` to `track` (changing where the person goes) and returns the fix rules
/// (phone off, drift) they add.
pub fn apply(
    space: &Space,
    track: &mut Track,
    events: &[Event],
    opts: &MovementOptions,
    rng: &Rng,
) -> Result<Vec<FixRule>, EventError> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| e.at);
    for w in sorted.windows(2) {
        if w[1].at < w[0].end() {
            return Err(EventError::Overlap { first: w[0].name(), a: w[0].at, second: w[1].name(), b: w[1].at });
        }
    }
    let worst_fix = 2.0 * opts.accuracy_m.1;
    let mut rules = Vec::new();
    for (i, e) in sorted.into_iter().enumerate() {
        let mut r = rng.fork(0xE0 + i as u64);
        let home = track.at(e.at);
        match &e.kind {
            EventKind::PhoneOff => rules.push(FixRule::Off { from: e.at, to: e.end() }),
            EventKind::LeaveArea { to } | EventKind::Leave { to, .. } => {
                let inside = signed(&space.allowed, *to);
                if inside > -opts.margin_m {
                    return Err(EventError::NotOutside {
                        event: e.name(),
                        at: e.at,
                        inside_m: inside,
                        needed_m: opts.margin_m,
                    });
                }
                if space.segment_min(home, *to, |p| space.avoid_clearance(p)) < worst_fix {
                    return Err(EventError::PathBlocked { event: e.name(), at: e.at, what: "through a zone to avoid" });
                }
                excursion(track, e, home, *to, opts, &mut r)?;
            }
            EventKind::EnterZone { point } => {
                if !space.avoid.iter().any(|z| signed(z, *point) > 0.0) {
                    return Err(EventError::NotInZone { at: e.at });
                }
                if space.segment_min(home, *point, |p| signed(&space.allowed, p)) < worst_fix {
                    return Err(EventError::PathBlocked {
                        event: e.name(),
                        at: e.at,
                        what: "outside (or too close to the border of) the allowed area",
                    });
                }
                excursion(track, e, home, *point, opts, &mut r)?;
            }
            EventKind::Drift { toward, confirm } => {
                let spot =
                    border_spot(space, home, *toward, opts, &mut r).ok_or(EventError::NoBorderSpot { at: e.at })?;
                let (arrive, leave) = excursion(track, e, home, spot, opts, &mut r)?;
                rules.push(FixRule::Drift {
                    from: arrive,
                    to: leave,
                    outward: space.outward(spot),
                    accuracy_m: DRIFT_ACCURACY_M,
                    confirm: *confirm,
                });
            }
        }
    }
    Ok(rules)
}

/// `home` → `target`, a stay, `target` → `home`, all within the event; returns the stay.
fn excursion(
    track: &mut Track,
    e: &Event,
    home: LatLon,
    target: LatLon,
    opts: &MovementOptions,
    rng: &mut Rng,
) -> Result<(DateTime<Utc>, DateTime<Utc>), EventError> {
    let out = movement::trip(home, target, e.at, opts, rng);
    let back = movement::trip(target, home, e.at, opts, rng);
    let arrive = out.last().map(|p| p.0).unwrap_or(e.at);
    let back_len = back.last().map(|p| p.0 - e.at).unwrap_or_default();
    let leave = e.end() - back_len;
    let needed = (arrive - e.at) + back_len + Duration::minutes(2);
    let span = e.end() - e.at;
    if needed > span {
        return Err(EventError::TooShort {
            event: e.name(),
            at: e.at,
            needed_min: needed.num_minutes() + 1,
            duration_min: span.num_minutes(),
        });
    }
    let shift = leave - e.at;
    let points = out.into_iter().chain(back.into_iter().map(|(t, p)| (t + shift, p))).collect();
    track.splice(e.at, e.end(), points);
    Ok((arrive, leave))
}

/// A spot `DRIFT_INSIDE_M` inside the border, reached from `home` in a straight line that
/// stays farther inside than that and keeps clear of the zones to avoid.
fn border_spot(
    space: &Space,
    home: LatLon,
    toward: Option<LatLon>,
    opts: &MovementOptions,
    rng: &mut Rng,
) -> Option<LatLon> {
    let start = match toward {
        Some(t) => {
            let k = geofence::MetresPerDegree::at(home.lat);
            ((t.lon - home.lon) * k.kx).atan2((t.lat - home.lat) * k.ky)
        }
        None => rng.range(0.0, std::f64::consts::TAU),
    };
    let along = |bearing: f64| -> Option<LatLon> {
        let mut s = 0.0;
        while s < 200_000.0 {
            s += 25.0;
            let p = offset(home, s * bearing.sin(), s * bearing.cos());
            if space.avoid_clearance(p) < opts.margin_m {
                return None;
            }
            if signed(&space.allowed, p) <= DRIFT_INSIDE_M {
                return (dist(home, p) > 100.0).then_some(p);
            }
        }
        None
    };
    match toward {
        // Alternate sides of the preferred bearing: 0, +10°, −10°, +20°, …
        Some(_) => (0..36).find_map(|k| {
            let turn = ((k + 1) / 2) as f64 * if k % 2 == 1 { 1.0 } else { -1.0 };
            along(start + (turn * 10.0).to_radians())
        }),
        // The nearest border spot over 36 bearings: the shortest trip.
        None => (0..36)
            .filter_map(|k| along(start + (f64::from(k) * 10.0).to_radians()))
            .min_by(|a, b| dist(home, *a).total_cmp(&dist(home, *b))),
    }
}
