//! Properties of generated movement and scripted events, checked with the same geometry the
//! server uses (signed distance against accuracy), without a server.

use chrono::{DateTime, Duration, SubsecRound, Timelike, Utc};

use super::events::{apply, Event, EventError, EventKind};
use super::movement::{fixes, generate, shanghai, Fix, MovementOptions, Places};
use super::run::{simulate, Warp};
use super::scenario::{places, Scenario, ScenarioError, Work};
use super::space::{dist, offset, signed, Rng, Space};
use crate::replay::LatLon;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// An L-shaped "county" near 营口 (about 12 × 11 km, the north-east quarter cut away), so that
/// straight trips could leave it if movement did not check them, and a 300 m zone to avoid.
fn space() -> Space {
    let l = serde_json::json!({"type": "Polygon", "coordinates": [[
        [122.20, 40.60], [122.34, 40.60], [122.34, 40.65], [122.27, 40.65], [122.27, 40.70], [122.20, 40.70], [122.20, 40.60]
    ]]});
    let allowed = geofence::geojson::parse_shape(&l).unwrap();
    let zone = geofence::Shape::circle(122.23, 40.63, 300.0).unwrap();
    Space::new(allowed, vec![zone])
}

/// -1 definitely outside, 0 uncertain, 1 definitely inside (as the server's verdict).
fn verdict(shape: &geofence::Shape, f: &Fix) -> i8 {
    let d = signed(shape, f.pos);
    if d >= f.accuracy_m {
        1
    } else if d <= -f.accuracy_m {
        -1
    } else {
        0
    }
}

fn compliant(space: &Space, f: &Fix) -> bool {
    verdict(&space.allowed, f) == 1 && space.avoid.iter().all(|z| verdict(z, f) == -1)
}

fn max_speed(fs: &[Fix]) -> f64 {
    fs.windows(2).map(|w| dist(w[0].pos, w[1].pos) / (w[1].time - w[0].time).num_seconds() as f64).fold(0.0, f64::max)
}

fn person(seed: u64) -> (Space, Places, Rng, MovementOptions) {
    let (s, o) = (space(), MovementOptions::default());
    let rng = Rng::new(seed);
    let p = places(&s, None, Work::Random, &o, &rng).unwrap();
    (s, p, rng, o)
}

#[test]
fn generated_movement_stays_inside_with_plausible_speeds_and_nights_at_home() {
    let (from, to) = (at("2026-11-20T00:00:00Z"), at("2026-11-23T00:00:00Z"));
    let mut trips = 0;
    for seed in 0..24 {
        let (s, p, rng, o) = person(seed);
        let track = generate(&s, p, from, to, &[], &o, &rng);
        let fs = fixes(&track, from, to, &[], &o, &rng);
        assert!(fs.len() > 3 * 24 * 3600 / 310, "seed {seed}: {} fixes", fs.len());
        for f in &fs {
            assert!(compliant(&s, f), "seed {seed}: fix at {} not definitely compliant: {f:?}", f.time);
            assert!(f.accuracy_m >= 5.0 && f.accuracy_m <= 30.0 && dist(f.pos, f.truth) <= f.accuracy_m);
            let hour = f.time.with_timezone(&shanghai()).hour();
            if !(7..22).contains(&hour) {
                assert!(dist(f.truth, p.home) < 1.0, "seed {seed}: away from home at night ({})", f.time);
            }
        }
        for w in fs.windows(2) {
            assert!(w[1].time > w[0].time && w[1].time.timestamp_subsec_nanos() == 0);
        }
        let v = max_speed(&fs);
        assert!(v < 25.0, "seed {seed}: implied speed {v} m/s");
        trips += fs.iter().filter(|f| f.speed_mps > 0.0).count();
    }
    assert!(trips > 24 * 10, "people hardly move: {trips} moving fixes");
}

#[test]
fn same_seed_same_movement() {
    let (from, to) = (at("2026-11-20T00:00:00Z"), at("2026-11-21T00:00:00Z"));
    let run = |seed| {
        let (s, p, rng, o) = person(seed);
        fixes(&generate(&s, p, from, to, &[], &o, &rng), from, to, &[], &o, &rng)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

/// Times of the fixes whose verdict against `shape` is `v`.
fn times(fs: &[Fix], shape: &geofence::Shape, v: i8) -> Vec<DateTime<Utc>> {
    fs.iter().filter(|f| verdict(shape, f) == v).map(|f| f.time).collect()
}

#[test]
fn events_produce_exactly_the_scripted_excursions() {
    let (from, to) = (at("2026-11-22T10:00:00Z"), at("2026-11-23T00:00:00Z"));
    let mut ran = 0;
    for seed in 0..8 {
        let (s, p, rng, o) = person(seed);
        let outside = LatLon::new(40.55, 122.25);
        let (zone_lon, zone_lat) = (122.23, 40.63);
        let events = vec![
            Event {
                at: from + Duration::hours(1),
                duration: Duration::hours(2),
                kind: EventKind::LeaveArea { to: outside },
            },
            Event {
                at: from + Duration::hours(4),
                duration: Duration::hours(1),
                kind: EventKind::EnterZone { point: LatLon::new(zone_lat, zone_lon) },
            },
            Event { at: from + Duration::hours(6), duration: Duration::hours(5), kind: EventKind::PhoneOff },
            Event {
                at: from + Duration::minutes(11 * 60 + 10),
                duration: Duration::minutes(90),
                kind: EventKind::Drift { toward: None, confirm: false },
            },
        ];
        let fs = match simulate(&s, p, &events, from, to, &o, &rng) {
            Ok(fs) => fs,
            // A home whose straight way to the zone leaves the L is refused, not run wrongly.
            Err(EventError::PathBlocked { .. }) => continue,
            Err(e) => panic!("seed {seed}: {e}"),
        };
        let within = |ts: &[DateTime<Utc>], e: &Event| ts.iter().all(|t| *t > e.at && *t < e.end());
        let out = times(&fs, &s.allowed, -1);
        assert!(out.len() >= 5, "seed {seed}: {} fixes outside", out.len());
        assert!(within(&out, &events[0]), "seed {seed}: outside only while away");
        let zone = &s.avoid[0];
        let inz = times(&fs, zone, 1);
        assert!(!inz.is_empty() && within(&inz, &events[1]), "seed {seed}: in the zone only when scripted");
        assert!(times(&fs, zone, 0).iter().all(|t| *t > events[1].at && *t < events[1].end()));
        assert!(fs.iter().all(|f| f.time < events[2].at || f.time >= events[2].end()), "seed {seed}: phone off");
        // Drift: every drifted fix is uncertain (a confirmation request), each followed by a
        // clean inside fix; no fix near the border outside the drift.
        // (Crossing the border on the way out may give uncertain fixes too: that is a real exit.)
        let unc: Vec<&Fix> = fs
            .iter()
            .filter(|f| verdict(&s.allowed, f) == 0 && !(f.time > events[0].at && f.time < events[0].end()))
            .collect();
        assert!(unc.len() >= 3, "seed {seed}: {} uncertain fixes", unc.len());
        assert!(unc.iter().all(|f| f.drifted && f.time > events[3].at && f.time < events[3].end()));
        for w in fs.windows(2) {
            assert!(!(w[0].drifted && w[1].drifted), "seed {seed}: two drifted fixes in a row would confirm");
        }
        // Everything outside the scripted windows is compliant, and no speed is implausible.
        for f in &fs {
            if !events.iter().any(|e| f.time >= e.at && f.time <= e.end()) {
                assert!(compliant(&s, f), "seed {seed}: {f:?}");
            }
        }
        let v = max_speed(&fs);
        assert!(v < 40.0, "seed {seed}: implied speed {v} m/s");
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} of 8 homes could script every event");
}

#[test]
fn confirmed_drift_drifts_every_fix_and_bad_events_are_refused() {
    let (s, p, rng, o) = person(3);
    let from = at("2026-11-22T14:00:00Z");
    let e = Event { at: from, duration: Duration::hours(1), kind: EventKind::Drift { toward: None, confirm: true } };
    let fs = simulate(&s, p, std::slice::from_ref(&e), from, from + Duration::hours(2), &o, &rng).unwrap();
    let drifted: Vec<&Fix> = fs.iter().filter(|f| f.drifted).collect();
    assert!(drifted.len() >= 10 && drifted.iter().all(|f| verdict(&s.allowed, f) == 0));

    let mut track = generate(&s, p, from, from + Duration::hours(3), &[(from, from + Duration::hours(3))], &o, &rng);
    let inside = offset(p.home, 10.0, 10.0);
    let refused = |kind, minutes| {
        let e = Event { at: from, duration: Duration::minutes(minutes), kind };
        apply(&s, &mut track.clone(), &[e], &o, &rng).unwrap_err()
    };
    assert!(matches!(refused(EventKind::LeaveArea { to: inside }, 120), EventError::NotOutside { .. }));
    assert!(matches!(refused(EventKind::LeaveArea { to: LatLon::new(39.0, 122.0) }, 30), EventError::TooShort { .. }));
    assert!(matches!(refused(EventKind::EnterZone { point: inside }, 60), EventError::NotInZone { .. }));
    let overlap = [
        Event { at: from, duration: Duration::hours(2), kind: EventKind::PhoneOff },
        Event { at: from + Duration::hours(1), duration: Duration::hours(1), kind: EventKind::PhoneOff },
    ];
    assert!(matches!(apply(&s, &mut track, &overlap, &o, &rng), Err(EventError::Overlap { .. })));
}

#[test]
fn a_late_leave_is_away_past_its_window_and_home_late() {
    let from = at("2026-11-22T01:00:00Z");
    let destination = LatLon::new(40.40, 122.26);
    for (seed, late) in [(5, Duration::hours(2)), (6, Duration::zero())] {
        let (s, p, rng, o) = person(seed);
        let e = Event { at: from, duration: Duration::hours(8), kind: EventKind::Leave { to: destination, late } };
        let fs = simulate(&s, p, std::slice::from_ref(&e), from, from + Duration::hours(14), &o, &rng).unwrap();
        let window_end = from + Duration::hours(8);
        let away = times(&fs, &s.allowed, -1);
        let last_away = *away.last().unwrap();
        assert!(away.iter().all(|t| *t > from), "seed {seed}: away only once the leave began");
        let grant = e.leave(p.home).unwrap();
        assert_eq!((grant.from, grant.until, grant.destination, grant.home), (from, window_end, destination, p.home));
        // Every fix away lies on the straight way from home to the destination, within 2 km of
        // the destination or 500 m of the line: what a granted route corridor covers.
        for f in fs.iter().filter(|f| f.time > from && f.time < e.end()) {
            let t = |q: LatLon| ((q.lat - p.home.lat) * 111_000.0, (q.lon - p.home.lon) * 84_000.0);
            let ((ax, ay), (bx, by)) = (t(destination), t(f.pos));
            let along = ((ax * bx + ay * by) / (ax * ax + ay * ay)).clamp(0.0, 1.0);
            let off = ((bx - along * ax).powi(2) + (by - along * ay).powi(2)).sqrt();
            assert!(off < 500.0 || dist(f.pos, destination) < 2000.0, "seed {seed}: {f:?} is {off:.0} m off the way");
        }
        if late > Duration::zero() {
            assert_eq!(e.expected_alarm(), Some("leave_overdue"));
            assert!(last_away > window_end + Duration::minutes(30), "seed {seed}: still away after the end");
            assert!(last_away < e.end(), "seed {seed}: home by the end of the lateness");
        } else {
            assert_eq!(e.expected_alarm(), None);
            assert!(last_away < window_end, "seed {seed}: back in time");
        }
        assert!(max_speed(&fs) < 40.0);
    }
}

#[test]
fn nearest_outside_is_outside_and_avoids_zones() {
    let (s, p, _, o) = person(4);
    let to = s.nearest_outside(p.home, 1500.0, o.margin_m).unwrap();
    assert!(signed(&s.allowed, to) <= -1500.0);
    assert!(s.segment_min(p.home, to, |q| s.avoid_clearance(q)) >= o.margin_m - 1.0);
    // Not absurdly far: the L is about 12 km across.
    assert!(dist(p.home, to) < 15_000.0, "{} m", dist(p.home, to));
}

#[test]
fn warp_catches_up_and_never_stamps_the_future() {
    let now = at("2026-11-23T08:00:00Z");
    let w = Warp { sim_start: now - Duration::hours(6), wall_start: now, speed: 360.0 };
    let c = w.catch_up().as_secs_f64();
    assert!((c - 21_600.0 / 359.0).abs() < 1e-6, "{c}");
    let mut last = std::time::Duration::ZERO;
    for m in 0..=(8 * 60) {
        let t = w.sim_start + Duration::minutes(m);
        let due = w.due(t);
        assert!(due >= last);
        last = due;
        let sent = now + Duration::milliseconds((due.as_secs_f64() * 1000.0) as i64);
        assert!(t <= sent + Duration::milliseconds(1), "{t} due at {sent}");
        assert!((w.sim_at(due) - t).num_milliseconds().abs() <= 2);
    }
    // After catching up: ×1, in step with the real clock.
    let later = now + Duration::hours(1);
    assert!((w.due(later).as_secs_f64() - 3600.0).abs() < 1e-3);
}

fn parse_err(text: &str) -> String {
    match Scenario::parse(text, std::path::Path::new(".")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted: {text}"),
    }
}

const AREA: &str = r#"area = { circle = [40.667, 122.235, 5000] }"#;

#[test]
fn scenario_errors_name_the_key() {
    let person = |extra: &str| format!("[[person]]\ndevice = \"d\"\n{AREA}\n{extra}");
    assert!(parse_err("speed = 0.5\n[[person]]\ndevice='d'\narea={circle=[40,122,100]}").starts_with("speed:"));
    assert!(parse_err(&format!("catch_up = \"6 hours\"\n{}", person(""))).starts_with("catch_up:"));
    assert!(parse_err("").starts_with("person:"));
    assert!(parse_err(&person("colour = 1")).contains("colour"));
    assert!(parse_err("[[person]]\narea='x.geojson'").contains("device"));
    assert!(parse_err("[[person]]\ndevice='d'\narea='nope.geojson'").starts_with("person[0].area: reading"));
    assert!(parse_err("[[person]]\ndevice='d'\narea={circle=[40,122]}").starts_with("person[0].area.circle"));
    assert!(parse_err(&person("home = [95.0, 122.0]")).starts_with("person[0].home"));
    assert!(parse_err(&person("home = [40.0, 122.0]")).starts_with("person[0].home: "));
    assert!(parse_err(&person("work = \"sometimes\"")).starts_with("person[0].work"));
    assert!(parse_err(&person("home = \"anywhere\"")).starts_with("person[0].home"));
    assert!(parse_err(&format!("live = \"400d\"\n{}", person(""))).starts_with("live:"));
    let ev = |body: &str| person(&format!("[[person.event]]\n{body}"));
    assert!(parse_err(&ev("kind='fly'\nat='+1h'\nduration='1h'")).starts_with("person[0].event[0].kind"));
    assert!(parse_err(&ev("kind='phone_off'\nat='soon'\nduration='1h'")).starts_with("person[0].event[0].at"));
    assert!(parse_err(&ev("kind='phone_off'\nat='+1h'\nduration='0'")).starts_with("person[0].event[0].duration"));
    assert!(parse_err(&ev("kind='leave_area'\nat='02:00'\nduration='1h'")).starts_with("person[0].event[0].to"));
    assert!(parse_err(&ev("kind='enter_zone'\nat='02:00'\nduration='1h'")).starts_with("person[0].event[0].point"));
}

#[test]
fn scenario_builds_a_fleet_and_event_times_resolve() {
    let text = format!(
        "speed = 720\ncatch_up = \"4h\"\nseed = 9\n[[person]]\nname='a'\ndevice='A'\n{AREA}\nwork='none'\n\
         [[person.event]]\nkind='leave_area'\nat='+1h'\nduration='2h'\nto=[40.80, 122.235]\n\
         [[person]]\ndevice='B'\n{AREA}\n[[person.event]]\nkind='phone_off'\nat='02:00'\nduration='5h'\n"
    );
    let sc = Scenario::parse(&text, std::path::Path::new(".")).unwrap();
    let now = at("2026-11-22T20:00:00Z"); // 04:00 in Shanghai
    let warp = sc.warp(now);
    let fleet = sc.build(&warp, now).unwrap();
    assert_eq!(fleet.len(), 2);
    assert_eq!(fleet[0].events[0].at, at("2026-11-22T17:00:00Z"));
    // 02:00 Shanghai = 18:00 UTC, the first after the start (16:00 UTC).
    assert_eq!(fleet[1].events[0].at, at("2026-11-22T18:00:00Z"));
    for p in &fleet {
        assert!(p.fixes.iter().all(|f| f.time >= warp.sim_start && f.time <= now));
    }
    let circle = geofence::Shape::circle(122.235, 40.667, 5000.0).unwrap();
    let outside = fleet[0].fixes.iter().filter(|f| signed(&circle, f.pos) <= -f.accuracy_m).count();
    assert!(outside > 3, "{outside}");
    assert!(fleet[1].fixes.iter().all(|f| f.time < at("2026-11-22T18:00:00Z")));
    let err = Scenario::parse(&text.replace("[40.80, 122.235]", "[40.667, 122.235]"), std::path::Path::new("."))
        .unwrap()
        .build(&warp, now)
        .unwrap_err();
    assert!(matches!(err, ScenarioError::Event { .. }) && err.to_string().starts_with("person[0].event"), "{err}");
}

#[test]
fn a_person_can_follow_a_recorded_trace_moved_to_their_home() {
    let dir = std::env::temp_dir().join(format!("cctrack-sim-basetrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A walk in Ljubljana: 31 points, 20 s apart, heading north-east.
    let mut csv = String::from("time,lat,lon\n");
    for i in 0..=30 {
        let t = at("2024-05-01T08:00:00Z") + Duration::seconds(20 * i);
        csv.push_str(&format!("{},{:.6},{:.6}\n", t.to_rfc3339(), 46.05 + i as f64 * 2e-4, 14.50 + i as f64 * 2e-4));
    }
    std::fs::write(dir.join("walk.csv"), csv).unwrap();
    let text = r#"
catch_up = "1h"
[[person]]
device = "D1"
area = { circle = [40.66, 122.25, 5000] }
home = [40.66, 122.25]
trace = "walk.csv"
"#;
    let sc = Scenario::parse(text, &dir).unwrap();
    let now = at("2026-11-23T10:00:00Z");
    let warp = sc.warp(now);
    // Cut at the end of the window: five minutes of the ten-minute trace.
    let fleet = sc.build(&warp, warp.sim_start + Duration::minutes(5)).unwrap();
    let fs = &fleet[0].fixes;
    assert_eq!(fs.len(), 16, "5 minutes of a 20 s trace");
    assert_eq!(fs[0].time, warp.sim_start.trunc_subsecs(0));
    assert!(dist(fs[0].pos, LatLon::new(40.66, 122.25)) < 0.01, "starts at home");
    // The motion is kept: each step is the trace's step (≈ 27 m) every 20 s.
    let original = dist(LatLon::new(46.05, 14.50), LatLon::new(46.0502, 14.5002));
    for w in fs.windows(2) {
        assert_eq!(w[1].time - w[0].time, Duration::seconds(20));
        assert!((dist(w[0].pos, w[1].pos) - original).abs() < 0.05);
    }
    let with_events = format!("{text}[[person.event]]\nkind = \"phone_off\"\nat = \"+1m\"\nduration = \"1h\"\n");
    let err = Scenario::parse(&with_events, &dir).unwrap_err().to_string();
    assert!(err.starts_with("person[0].event"), "{err}");
    let err = Scenario::parse(&text.replace("walk.csv", "missing.gpx"), &dir).unwrap_err().to_string();
    assert!(err.starts_with("person[0].trace"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
