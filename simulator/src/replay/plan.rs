//! Turning a [`Trace`] into the fixes a replay sends: which points, with which time, where, in
//! which coordinate system, when (wall clock, relative to the start) and in which request.
//!
//! Planning is pure (the caller passes "now"), so everything about times and positions is tested
//! without a server or a clock.

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use geofence::crs::{self, Crs};

use super::conditions::Fate;
use super::frame::{LatLon, Reanchor};
use super::{Protocol, ReplayError, ReplayOptions, TimeMode};
use crate::trace::Trace;

/// One fix as it will be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFix {
    /// Index of the point in [`Trace::points`].
    pub point: usize,
    /// Sequence number (native protocol only; 1, 2, 3… from `seq_start`).
    pub seq: i64,
    /// The fix time sent (shifted, and cut to what the protocol carries).
    pub time: DateTime<Utc>,
    /// When to send it, counted from the start of the replay.
    pub due: Duration,
    /// The position in WGS-84 after re-anchoring: what the server should store.
    pub wgs84: LatLon,
    /// The position as sent, in [`Plan::crs`].
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub course_deg: Option<f64>,
    pub altitude_m: Option<f64>,
}

/// Everything a replay will send.
#[derive(Debug, Clone)]
pub struct Plan {
    pub protocol: Protocol,
    pub crs: Crs,
    pub fixes: Vec<PlannedFix>,
    /// Fixes of each request, in order; a request is due when its last fix is.
    pub requests: Vec<Range<usize>>,
    /// Added to every trace time; `None` with original times.
    pub time_shift: Option<TimeDelta>,
    /// Points without a time: they cannot be placed in time, so they are not sent.
    pub skipped_untimed: usize,
    /// Points whose time, as the protocol carries it, equals the previous point's: the server
    /// keys fixes on (device, time), so they could only be duplicates.
    pub skipped_same_time: usize,
    /// Points lost to the conditions' dropout, and to phone-off windows.
    pub dropped: usize,
    pub phone_off: usize,
    /// Fixes held back by an offline window and sent in a burst at its end.
    pub buffered: usize,
}

/// Rounds towards the past to a whole second, so a shifted trace never ends after "now".
fn floor_to_second(d: TimeDelta) -> TimeDelta {
    let whole = TimeDelta::seconds(d.num_seconds());
    if whole > d {
        whole - TimeDelta::seconds(1)
    } else {
        whole
    }
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_seconds() as f64 + f64::from(d.subsec_nanos()) * 1e-9
}

/// Wall-clock offset from the start at which a point `trace_offset` into the trace is due.
pub fn wall_offset(trace_offset: TimeDelta, speed: f64) -> Duration {
    if speed == 0.0 {
        return Duration::ZERO;
    }
    // Bounded so that an absurd trace (centuries long at ×1) cannot overflow a Duration.
    Duration::from_secs_f64((seconds(trace_offset) / speed).clamp(0.0, 1e12))
}

/// Plans the replay of `trace` with `opts`, as if it started at `now`.
///
/// With [`TimeMode::ShiftToNow`] the trace is shifted by whole seconds so that its last point's
/// time is the moment it is due to be sent (at most): at ×1 the fixes go out live, at ×60 an
/// hour of trace is sent in a minute and the server holds an hour of fixes ending when the
/// replay ends. No fix is ever in the future when it is sent. Whole seconds keep the trace's own
/// sub-second times and let the second-resolution protocols carry every time exactly.
pub fn plan(trace: &Trace, opts: &ReplayOptions, now: DateTime<Utc>) -> Result<Plan, ReplayError> {
    opts.validate()?;
    let timed: Vec<(usize, DateTime<Utc>)> =
        trace.points.iter().enumerate().filter_map(|(i, p)| p.time.map(|t| (i, t))).collect();
    let skipped_untimed = trace.points.len() - timed.len();
    let (Some(&(first_index, first)), Some(&(_, last))) = (timed.first(), timed.last()) else {
        return Err(ReplayError::NoTimedPoints { points: trace.points.len() });
    };
    let time_shift = match opts.time_mode {
        TimeMode::Original => None,
        TimeMode::ShiftToNow => {
            let wall_span = wall_offset(last - first, opts.speed);
            let end = now + TimeDelta::from_std(wall_span).unwrap_or(TimeDelta::zero());
            Some(floor_to_second(end - last))
        }
    };
    let first_pos = LatLon::new(trace.points[first_index].lat, trace.points[first_index].lon);
    let reanchor = opts.anchor.map(|a| Reanchor::new(first_pos, a));

    let mut fixes: Vec<PlannedFix> = Vec::with_capacity(timed.len());
    let mut released: Vec<bool> = Vec::with_capacity(timed.len());
    let (mut skipped_same_time, mut dropped, mut phone_off, mut buffered) = (0, 0, 0, 0);
    let mut rng = opts.conditions.rng();
    for (i, t) in timed {
        let shifted = match time_shift {
            Some(s) => t.checked_add_signed(s).ok_or(ReplayError::TimeOutOfRange { time: t })?,
            None => t,
        };
        let time = shifted.trunc_subsecs(opts.protocol.time_digits());
        if fixes.last().is_some_and(|f| f.time == time) {
            skipped_same_time += 1;
            continue;
        }
        let p = &trace.points[i];
        let wgs84 = match &reanchor {
            Some(r) => r.apply(LatLon::new(p.lat, p.lon)),
            None => LatLon::new(p.lat, p.lon),
        };
        let (wgs84, accuracy_m, release) =
            match opts.conditions.apply(&mut rng, t - first, wgs84, p.accuracy_m.or(opts.default_accuracy_m)) {
                Fate::Sent { pos, accuracy_m, release } => (pos, accuracy_m, release),
                Fate::Dropped => {
                    dropped += 1;
                    continue;
                }
                Fate::PhoneOff => {
                    phone_off += 1;
                    continue;
                }
            };
        buffered += usize::from(release.is_some());
        released.push(release.is_some());
        let (lon, lat) = crs::from_wgs84(opts.crs, wgs84.lon, wgs84.lat);
        fixes.push(PlannedFix {
            point: i,
            seq: opts.seq_start.saturating_add(fixes.len() as i64),
            time,
            due: wall_offset(release.unwrap_or(t - first), opts.speed),
            wgs84,
            lat,
            lon,
            accuracy_m,
            speed_mps: p.speed_mps,
            course_deg: p.course_deg,
            altitude_m: p.elevation_m,
        });
    }
    let per_request = match opts.protocol {
        Protocol::Native => opts.batch,
        // OsmAnd and OwnTracks carry one fix per request.
        Protocol::Osmand | Protocol::Owntracks => 1,
    };
    // A phone back online uploads its buffer at once: in requests as full as the protocol allows.
    let mut requests: Vec<Range<usize>> = Vec::new();
    for (i, f) in fixes.iter().enumerate() {
        let limit =
            if released[i] && opts.protocol == Protocol::Native { super::native::MAX_BATCH } else { per_request };
        match requests.last_mut() {
            Some(r) if r.len() < limit && released[r.start] == released[i] && fixes[r.start].due == f.due => {
                r.end = i + 1
            }
            Some(r) if r.len() < limit && !released[i] && !released[r.start] => r.end = i + 1,
            _ => requests.push(i..i + 1),
        }
    }
    Ok(Plan {
        protocol: opts.protocol,
        crs: opts.crs,
        fixes,
        requests,
        time_shift,
        skipped_untimed,
        skipped_same_time,
        dropped,
        phone_off,
        buffered,
    })
}

impl Plan {
    /// When request `r` is due: when its last fix is.
    pub fn request_due(&self, r: &Range<usize>) -> Duration {
        r.end.checked_sub(1).and_then(|i| self.fixes.get(i)).map(|f| f.due).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Segment, TraceFormat, TracePoint};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn trace(points: Vec<TracePoint>) -> Trace {
        let n = points.len();
        Trace {
            format: TraceFormat::Csv,
            points,
            segments: vec![Segment { start: 0, end: n, name: None }],
            problems: vec![],
        }
    }

    /// One point a minute for an hour, walking north-east from Ljubljana.
    fn hour_walk() -> Trace {
        let t0 = at("2017-07-29T14:00:00Z");
        trace(
            (0..=60)
                .map(|i| {
                    TracePoint::new(46.05 + i as f64 * 1e-3, 14.50 + i as f64 * 1e-3)
                        .with_time(t0 + TimeDelta::minutes(i))
                })
                .collect(),
        )
    }

    fn opts(protocol: Protocol) -> ReplayOptions {
        let mut o = ReplayOptions::new(protocol, "http://127.0.0.1:1", "dev");
        o.token = Some("tok".into());
        o
    }

    #[test]
    fn shifted_trace_ends_when_its_last_fix_is_sent() {
        let now = at("2026-11-23T08:00:00.250Z");
        let mut o = opts(Protocol::Native);
        o.speed = 60.0;
        let p = plan(&hour_walk(), &o, now).unwrap();
        assert_eq!(p.fixes.len(), 61);
        // An hour at ×60 takes a minute; the last fix is stamped (at most) when it is sent.
        let last = p.fixes.last().unwrap();
        assert_eq!(last.due, Duration::from_secs(60));
        assert_eq!(last.time, at("2026-11-23T08:01:00Z"), "whole-second shift, rounded down");
        assert_eq!(p.fixes[0].time, at("2026-11-23T07:01:00Z"), "the fixes span the trace's hour");
        // Pacing: trace gap / speed. One minute apart in the trace → one second apart.
        for w in p.fixes.windows(2) {
            assert_eq!(w[1].due - w[0].due, Duration::from_secs(1));
            assert_eq!(w[1].time - w[0].time, TimeDelta::minutes(1));
        }
        // At no speed is a fix stamped later than it is sent.
        for speed in [0.0, 1.0, 7.5, 60.0, 10_000.0] {
            o.speed = speed;
            let p = plan(&hour_walk(), &o, now).unwrap();
            for f in &p.fixes {
                let sent_at = now + TimeDelta::from_std(f.due).unwrap();
                assert!(f.time <= sent_at, "×{speed}: {} sent at {sent_at}", f.time);
            }
        }
        // As fast as possible: everything due at once, the trace ending now.
        o.speed = 0.0;
        let p = plan(&hour_walk(), &o, now).unwrap();
        assert!(p.fixes.iter().all(|f| f.due == Duration::ZERO));
        assert_eq!(p.fixes.last().unwrap().time, at("2026-11-23T08:00:00Z"));
        assert_eq!(p.time_shift.unwrap().num_seconds(), (now - at("2017-07-29T15:00:00Z")).num_seconds());
    }

    #[test]
    fn original_times_are_kept() {
        let mut o = opts(Protocol::Native);
        o.time_mode = TimeMode::Original;
        let p = plan(&hour_walk(), &o, at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(p.time_shift, None);
        assert_eq!(p.fixes[0].time, at("2017-07-29T14:00:00Z"));
        assert_eq!(p.fixes[60].time, at("2017-07-29T15:00:00Z"));
    }

    #[test]
    fn sub_second_times_per_protocol_and_untimed_points() {
        let t0 = at("2024-05-01T00:00:00.200Z");
        let pts = vec![
            TracePoint::new(40.0, 122.0).with_time(t0),
            TracePoint::new(40.0001, 122.0),
            TracePoint::new(40.0002, 122.0).with_time(t0 + TimeDelta::milliseconds(500)),
            TracePoint::new(40.0003, 122.0).with_time(t0 + TimeDelta::milliseconds(1000)),
            TracePoint::new(40.0004, 122.0).with_time(t0 + TimeDelta::milliseconds(1000)),
        ];
        let now = at("2026-11-23T08:00:00Z");
        let native = plan(&trace(pts.clone()), &opts(Protocol::Native), now).unwrap();
        assert_eq!((native.skipped_untimed, native.skipped_same_time), (1, 1));
        let ms: Vec<u32> = native.fixes.iter().map(|f| f.time.timestamp_subsec_millis()).collect();
        assert_eq!(ms, [200, 700, 200], "native keeps sub-second times");
        assert_eq!(native.fixes.iter().map(|f| f.point).collect::<Vec<_>>(), [0, 2, 3]);
        assert_eq!(native.fixes.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3]);
        // OsmAnd sends Unix seconds: .200 and .700 fall in the same second.
        let osmand = plan(&trace(pts), &opts(Protocol::Osmand), now).unwrap();
        assert_eq!((osmand.skipped_untimed, osmand.skipped_same_time), (1, 2));
        assert!(osmand.fixes.iter().all(|f| f.time.timestamp_subsec_nanos() == 0));
        assert_eq!(osmand.fixes.iter().map(|f| f.point).collect::<Vec<_>>(), [0, 3]);

        let untimed = trace(vec![TracePoint::new(1.0, 2.0)]);
        assert!(matches!(plan(&untimed, &opts(Protocol::Native), now), Err(ReplayError::NoTimedPoints { points: 1 })));
    }

    #[test]
    fn batches_and_sequence_numbers() {
        let mut o = opts(Protocol::Native);
        o.batch = 25;
        o.seq_start = 100;
        o.speed = 60.0;
        let p = plan(&hour_walk(), &o, at("2026-11-23T08:00:00Z")).unwrap();
        assert_eq!(p.requests, vec![0..25, 25..50, 50..61]);
        assert_eq!(p.request_due(&p.requests[0]), Duration::from_secs(24), "sent when its last fix is due");
        assert_eq!((p.fixes[0].seq, p.fixes[60].seq), (100, 160));
        // One fix per request for the phone-app protocols, whatever --batch says.
        let mut o = opts(Protocol::Osmand);
        o.batch = 25;
        assert_eq!(plan(&hour_walk(), &o, at("2026-11-23T08:00:00Z")).unwrap().requests.len(), 61);
    }

    #[test]
    fn accuracy_default_applies_only_where_the_trace_has_none() {
        let t0 = at("2024-05-01T00:00:00Z");
        let mut a = TracePoint::new(40.0, 122.0).with_time(t0);
        a.accuracy_m = Some(4.0);
        let b = TracePoint::new(40.0, 122.0).with_time(t0 + TimeDelta::seconds(1));
        let mut o = opts(Protocol::Native);
        o.default_accuracy_m = Some(10.0);
        let p = plan(&trace(vec![a, b]), &o, at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!((p.fixes[0].accuracy_m, p.fixes[1].accuracy_m), (Some(4.0), Some(10.0)));
    }

    /// A city-sized trace: a 12 km × 9 km loop of 400 points around Ljubljana (46° N).
    fn city_loop() -> Trace {
        let t0 = at("2024-05-01T00:00:00Z");
        trace(
            (0..400)
                .map(|i| {
                    let a = i as f64 / 400.0 * std::f64::consts::TAU;
                    let (lat, lon) = (46.05 + 0.04 * a.sin() + 0.002 * (7.0 * a).cos(), 14.50 + 0.08 * a.cos());
                    TracePoint::new(lat, lon).with_time(t0 + TimeDelta::seconds(i * 5))
                })
                .collect(),
        )
    }

    fn max_pairwise_error(a: &[LatLon], b: &[LatLon]) -> f64 {
        let d = |p: LatLon, q: LatLon| geofence::distance_m((p.lon, p.lat), (q.lon, q.lat));
        let mut worst: f64 = 0.0;
        for i in 0..a.len() {
            for j in (i + 1..a.len()).step_by(3) {
                worst = worst.max((d(a[i], a[j]) - d(b[i], b[j])).abs());
            }
        }
        worst
    }

    #[test]
    fn anchoring_moves_the_first_point_and_keeps_every_distance() {
        let t = city_loop();
        let mut o = opts(Protocol::Native);
        let yingkou = LatLon::new(40.667, 122.235);
        o.anchor = Some(yingkou);
        let p = plan(&t, &o, at("2026-01-01T00:00:00Z")).unwrap();
        let first = p.fixes[0].wgs84;
        assert!(geofence::distance_m((first.lon, first.lat), (yingkou.lon, yingkou.lat)) < 1e-6);
        let original: Vec<LatLon> = t.points.iter().map(|q| LatLon::new(q.lat, q.lon)).collect();
        let moved: Vec<LatLon> = p.fixes.iter().map(|f| f.wgs84).collect();
        let worst = max_pairwise_error(&original, &moved);
        assert!(worst < 0.01, "pairwise distances change by up to {worst} m");
        // The naive way (same degrees added to all) is off by hundreds of metres here, so the
        // check above has teeth.
        let (dlat, dlon) = (yingkou.lat - original[0].lat, yingkou.lon - original[0].lon);
        let naive: Vec<LatLon> = original.iter().map(|q| LatLon::new(q.lat + dlat, q.lon + dlon)).collect();
        assert!(max_pairwise_error(&original, &naive) > 100.0);
    }

    #[test]
    fn output_crs_converts_and_round_trips() {
        let mut o = opts(Protocol::Native);
        o.anchor = Some(LatLon::new(40.667, 122.235));
        for c in [Crs::Gcj02, Crs::Bd09] {
            o.crs = c;
            let p = plan(&city_loop(), &o, at("2026-01-01T00:00:00Z")).unwrap();
            assert_eq!(p.crs, c);
            for f in &p.fixes {
                let offset = geofence::distance_m((f.lon, f.lat), (f.wgs84.lon, f.wgs84.lat));
                assert!(offset > 100.0, "{c} differs from WGS-84 in China: {offset} m");
                let (lon, lat) = crs::to_wgs84(c, f.lon, f.lat);
                let back = geofence::distance_m((lon, lat), (f.wgs84.lon, f.wgs84.lat));
                assert!(back < 0.01, "{c} round trip off by {back} m");
            }
        }
        o.crs = Crs::Wgs84;
        let p = plan(&city_loop(), &o, at("2026-01-01T00:00:00Z")).unwrap();
        assert!(p.fixes.iter().all(|f| (f.lat, f.lon) == (f.wgs84.lat, f.wgs84.lon)));
    }

    #[test]
    fn phone_conditions_lose_move_and_hold_back_fixes() {
        use super::super::conditions::{PhoneConditions, Window};
        let now = at("2026-11-23T08:00:00Z");
        let w = |from: i64, length: i64| Window { from: TimeDelta::minutes(from), length: TimeDelta::minutes(length) };
        let mut o = opts(Protocol::Native);
        o.speed = 60.0;
        o.batch = 5;
        o.conditions = PhoneConditions { off: vec![w(10, 10)], offline: vec![w(30, 15)], ..PhoneConditions::default() };
        let p = plan(&hour_walk(), &o, now).unwrap();
        o.conditions = PhoneConditions::default();
        let clean = plan(&hour_walk(), &o, now).unwrap();
        // Minutes 10..19 off: ten points never sent.
        assert_eq!((p.phone_off, p.dropped), (10, 0));
        assert_eq!(p.fixes.len(), 51);
        let minute = |f: &PlannedFix| (f.time - p.fixes[0].time).num_minutes();
        assert!(p.fixes.iter().all(|f| !(10..20).contains(&minute(f))));
        // Minutes 30..44 offline: kept with their own times, all sent when minute 45 is due,
        // in one request however small --batch is; the fixes around keep the batches of 5.
        let held: Vec<&PlannedFix> = p.fixes.iter().filter(|f| (30..45).contains(&minute(f))).collect();
        assert_eq!((held.len(), p.buffered), (15, 15));
        assert!(held.iter().all(|f| f.due == Duration::from_secs(45)));
        let burst = p.requests.iter().find(|r| p.fixes[r.start].due == Duration::from_secs(45) && r.len() > 1).unwrap();
        assert_eq!(burst.len(), 15);
        assert!(p.requests.iter().filter(|r| *r != burst).all(|r| r.len() <= 5));
        let dues: Vec<Duration> = p.requests.iter().map(|r| p.request_due(r)).collect();
        assert!(dues.windows(2).all(|d| d[0] <= d[1]), "requests go out in order: {dues:?}");
        // Nothing moved without noise.
        for f in &p.fixes {
            let c = clean.fixes.iter().find(|c| c.point == f.point).unwrap();
            assert_eq!((f.wgs84, f.time), (c.wgs84, c.time));
        }

        // Noise of σ = 20 m: the mean displacement of a 2-D Gaussian is σ·√(π/2) ≈ 25 m; the
        // accuracy sent covers its 95 % radius; a third of the fixes lost; same seed, same plan.
        o.conditions = PhoneConditions { noise_m: 20.0, dropout: 0.33, seed: 9, ..PhoneConditions::default() };
        o.default_accuracy_m = Some(10.0);
        let city = city_loop();
        let p = plan(&city, &o, now).unwrap();
        assert!((90..180).contains(&p.dropped), "{} of 400 lost at 0.33", p.dropped);
        assert_eq!(p.fixes.len() + p.dropped, 400);
        let moved: Vec<f64> = p
            .fixes
            .iter()
            .map(|f| {
                let q = &city.points[f.point];
                geofence::distance_m((q.lon, q.lat), (f.wgs84.lon, f.wgs84.lat))
            })
            .collect();
        let mean = moved.iter().sum::<f64>() / moved.len() as f64;
        assert!((20.0..30.0).contains(&mean), "mean displacement {mean} m");
        assert!(moved.iter().all(|d| *d < 120.0));
        assert!(p.fixes.iter().all(|f| f.accuracy_m == Some(49.0)), "2.448 σ, above the default 10 m");
        assert_eq!(plan(&city, &o, now).unwrap().fixes, p.fixes);

        o.conditions.dropout = 1.0;
        assert!(matches!(plan(&city, &o, now), Err(ReplayError::Conditions(m)) if m.starts_with("dropout")));
        assert_eq!(Window::parse("30m+2h"), Some(w(30, 120)));
        assert_eq!(Window::parse("2h"), None);
        assert_eq!(Window::parse("1h+0s"), None);
    }

    #[test]
    fn options_are_checked() {
        let t = hour_walk();
        let now = at("2026-01-01T00:00:00Z");
        let mut o = opts(Protocol::Owntracks);
        o.crs = Crs::Gcj02;
        assert!(matches!(plan(&t, &o, now), Err(ReplayError::CrsNotCarried { .. })));
        let mut o = opts(Protocol::Native);
        o.token = None;
        assert!(matches!(plan(&t, &o, now), Err(ReplayError::TokenRequired(Protocol::Native))));
        for (speed, batch) in [(0.5, 1), (10_001.0, 1), (f64::NAN, 1), (-1.0, 1), (1.0, 0), (1.0, 1001)] {
            let mut o = opts(Protocol::Native);
            (o.speed, o.batch) = (speed, batch);
            assert!(plan(&t, &o, now).is_err(), "speed {speed} batch {batch}");
        }
        let mut o = opts(Protocol::Osmand);
        o.token = None;
        o.server = "ftp://example".into();
        assert!(matches!(plan(&t, &o, now), Err(ReplayError::BadServer { .. })));
    }
}
