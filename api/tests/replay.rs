//! `cctrack-sim replay` against a real `cctrack serve`: traces re-anchored into 营口 and sent
//! through each ingest protocol, then read back with `cctrack track` as staff would, checking
//! that the server stored exactly what was sent — how many fixes, their times, and their
//! positions (to well under a metre, also when sent in GCJ-02 or BD-09).

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use serde_json::Value;
use simulator::replay::{self, LatLon, Plan, Protocol, ReplayOptions, ReplayOutcome, ReplaySummary, TimeMode};
use simulator::trace::{self, ReadOptions, Trace};

use common::{cctrack, run_json, Server};

/// 营口 city centre (WGS-84).
const YINGKOU: LatLon = LatLon { lat: 40.667, lon: 122.235 };

struct World {
    db: cctrack_tests::TestDb,
    office: i64,
}

/// A county and a judicial office.
async fn world() -> World {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    World { db, office }
}

/// A person with consent and a phone enrolled for `protocol` (backdated a day so that the
/// replayed hours are after its enrolment). Returns (person, enrolment id, token).
async fn phone(w: &World, name: &str, protocol: Protocol) -> (i64, String, String) {
    let person = common::add_person(&w.db, w.office, name);
    let (enrolment, token) = common::enrol_phone(&w.db, person, protocol.name()).await;
    (person, enrolment, token)
}

fn track(w: &World, person: i64) -> Vec<Value> {
    run_json(cctrack(&w.db.url).args(["track", "--person", &person.to_string(), "--json"])).as_array().unwrap().clone()
}

fn options(server: &Server, protocol: Protocol, device: &str, token: &str) -> ReplayOptions {
    let url = match protocol {
        Protocol::Osmand => format!("http://{}", server.osmand),
        Protocol::Native | Protocol::Owntracks => format!("http://{}", server.main),
    };
    let mut o = ReplayOptions::new(protocol, url, device);
    o.token = Some(token.to_string());
    o.speed = 10_000.0;
    o.anchor = Some(YINGKOU);
    o.default_accuracy_m = Some(10.0);
    o
}

/// Plans and sends; the plan is kept to compare with what the server stored.
async fn send(trace: &Trace, o: &ReplayOptions) -> (Plan, ReplaySummary) {
    let plan = replay::plan(trace, o, Utc::now()).unwrap();
    let summary = replay::send_plan(&plan, o, |_| {}).await.unwrap();
    (plan, summary)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The person's stored track is exactly the plan: same count, same times, positions within
/// `max_m` of the sent WGS-84 positions, the datum recorded, speeds and accuracies in their
/// protocol's units converted back within `speed_tol` / `acc_tol`.
fn assert_stored_exactly(w: &World, person: i64, plan: &Plan, s: &ReplaySummary, speed_tol: f64, acc_tol: f64) {
    let label = format!("{} in {}", plan.protocol, plan.crs);
    assert_eq!(s.outcome(), ReplayOutcome::AllTaken, "{label}: {s:#?}");
    assert_eq!((s.sent, s.accepted, s.rejected, s.unsent), (plan.fixes.len(), plan.fixes.len(), 0, 0), "{label}");
    let stored = track(w, person);
    assert_eq!(stored.len(), plan.fixes.len(), "{label}: stored count");
    let (first, last) = (time(&stored[0]["time"]), time(&stored[stored.len() - 1]["time"]));
    assert_eq!(first.timestamp(), s.first_time.unwrap().timestamp(), "{label}: first time");
    assert_eq!(last.timestamp(), s.last_time.unwrap().timestamp(), "{label}: last time");
    // The shift makes the trace end as the replay ended: recent, never in the future.
    assert!(last <= Utc::now() && Utc::now() - last < chrono::Duration::minutes(5), "{label}: last fix at {last}");

    let mut worst_m: f64 = 0.0;
    for (sent, got) in plan.fixes.iter().zip(&stored) {
        assert_eq!(time(&got["time"]), sent.time, "{label}: times match one for one");
        let at = (got["lon"].as_f64().unwrap(), got["lat"].as_f64().unwrap());
        worst_m = worst_m.max(geofence::distance_m(at, (sent.wgs84.lon, sent.wgs84.lat)));
        assert_eq!(got["input_crs"], plan.crs.to_string(), "{label}");
        if let Some(v) = sent.speed_mps {
            let g = got["speed_mps"].as_f64().unwrap();
            assert!((g - v).abs() <= speed_tol, "{label}: speed {v} m/s stored as {g}");
        }
        if let Some(a) = sent.accuracy_m {
            let g = got["accuracy_m"].as_f64().unwrap();
            assert!((g - a).abs() <= acc_tol, "{label}: accuracy {a} m stored as {g}");
        }
        if plan.protocol == Protocol::Native {
            assert_eq!(got["device_seq"].as_i64(), Some(sent.seq), "{label}");
        }
    }
    assert!(worst_m < 1.0, "{label}: a stored position is {worst_m} m from the one sent");
    eprintln!("{label}: {} fixes stored exactly, positions within {worst_m:.2e} m", stored.len());
}

/// Replays `trace` through every protocol, each to its own person, with the given datums.
async fn replay_through_every_protocol(trace: &Trace, batch: usize, crs: [Crs; 3]) {
    let w = world().await;
    let phones = [
        (Protocol::Native, phone(&w, "甲", Protocol::Native).await),
        (Protocol::Osmand, phone(&w, "乙", Protocol::Osmand).await),
        (Protocol::Owntracks, phone(&w, "丙", Protocol::Owntracks).await),
    ];
    let server = Server::start(&w.db.url);
    for ((protocol, (person, device, token)), crs) in phones.iter().zip(crs) {
        let mut o = options(&server, *protocol, device, token);
        o.crs = crs;
        o.batch = if *protocol == Protocol::Native { batch } else { 1 };
        let started = std::time::Instant::now();
        let (plan, s) = send(trace, &o).await;
        eprintln!("{protocol}: {} fixes in {} requests, {:.1} s", s.sent, s.requests, started.elapsed().as_secs_f64());
        // Tolerances are the protocols' units: knots to 3 decimals and accuracy to 0.1 m in
        // the OsmAnd query; whole km/h and whole metres in OwnTracks; f32 columns for all.
        let (speed_tol, acc_tol) = match protocol {
            Protocol::Native => (1e-4, 1e-4),
            Protocol::Osmand => (1e-3, 0.05),
            Protocol::Owntracks => (0.5 / 3.6 + 1e-4, 0.5),
        };
        assert_stored_exactly(&w, *person, &plan, &s, speed_tol, acc_tol);
    }
    server.stop();
}

/// A 10-minute walk of 121 points in Ljubljana, 5 s apart, with speed, course and elevation;
/// accuracy on every other point (the default applies to the rest).
fn small_trace_file() -> PathBuf {
    let mut csv = String::from("time,lat,lon,accuracy,speed,course,ele\n");
    let t0: DateTime<Utc> = "2024-05-01T08:00:00Z".parse().unwrap();
    for i in 0..=120i64 {
        let a = i as f64 / 120.0 * std::f64::consts::PI;
        let (lat, lon) = (46.0500 + 0.004 * a.sin(), 14.5000 + 0.006 * (1.0 - a.cos()));
        let t = (t0 + chrono::Duration::seconds(5 * i)).to_rfc3339();
        let acc = if i % 2 == 0 { format!("{}", 3 + i % 7) } else { String::new() };
        csv.push_str(&format!(
            "{t},{lat:.7},{lon:.7},{acc},{:.2},{:.1},{:.1}\n",
            1.2 + (i % 5) as f64 * 0.3,
            (i * 3) % 360,
            295.0 + i as f64 * 0.1
        ));
    }
    let path = std::env::temp_dir().join(format!("cctrack-replay-walk-{}.csv", std::process::id()));
    std::fs::write(&path, csv).unwrap();
    path
}

fn read(path: &Path) -> Trace {
    let t = trace::read_path(path, &ReadOptions::default()).unwrap();
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    t
}

#[tokio::test]
async fn a_small_trace_is_stored_exactly_through_every_protocol() {
    let path = small_trace_file();
    let t = read(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(t.points.len(), 121);
    replay_through_every_protocol(&t, 7, [Crs::Gcj02, Crs::Bd09, Crs::Wgs84]).await;
}

#[tokio::test]
async fn a_real_trace_is_stored_exactly_through_every_protocol() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/traces/gpx/garmin-activity.gpx");
    if !path.is_file() {
        eprintln!("SKIPPED: real trace {} is absent (shared/data is not beside the repository)", path.display());
        return;
    }
    let t = read(&path);
    assert!(t.points.len() > 900);
    replay_through_every_protocol(&t, 100, [Crs::Wgs84, Crs::Gcj02, Crs::Wgs84]).await;
}

#[tokio::test]
async fn replaying_again_is_all_duplicates_and_old_times_are_refused() {
    let path = small_trace_file();
    let t = read(&path);
    std::fs::remove_file(&path).unwrap();
    let w = world().await;
    let (person, device, token) = phone(&w, "丁", Protocol::Native).await;
    let server = Server::start(&w.db.url);
    let mut o = options(&server, Protocol::Native, &device, &token);
    o.batch = 50;
    o.speed = 0.0;
    let (plan, first) = send(&t, &o).await;
    assert_eq!(first.accepted, 121);
    // The same plan again, as a phone resending after lost replies: nothing stored twice.
    let again = replay::send_plan(&plan, &o, |_| {}).await.unwrap();
    assert_eq!((again.sent, again.accepted, again.duplicates, again.rejected), (121, 0, 121, 0));
    assert_eq!(again.outcome(), ReplayOutcome::AllTaken);
    // The trace's own times (2024) are before the device was enrolled: each refused, by field.
    o.time_mode = TimeMode::Original;
    o.seq_start = 1000;
    let (_, old) = send(&t, &o).await;
    assert_eq!((old.sent, old.accepted, old.rejected), (121, 0, 121));
    assert_eq!(old.errors_by_field.get("time"), Some(&121), "{:?}", old.errors_by_field);
    assert!(old.errors[0].message.contains("before the device was enrolled"), "{}", old.errors[0].message);
    assert_eq!(old.outcome(), ReplayOutcome::SomeRejected);
    assert_eq!(track(&w, person).len(), 121);
    server.stop();
}

#[tokio::test]
async fn a_phone_with_noise_losses_and_an_offline_buffer_is_stored_as_it_sent() {
    let path = small_trace_file();
    let t = read(&path);
    std::fs::remove_file(&path).unwrap();
    let w = world().await;
    let server = Server::start(&w.db.url);
    let window = |s: &str| replay::Window::parse(s).unwrap();
    for protocol in [Protocol::Native, Protocol::Osmand] {
        let (person, device, token) = phone(&w, protocol.name(), protocol).await;
        let mut o = options(&server, protocol, &device, &token);
        o.speed = 120.0;
        o.batch = 5;
        o.conditions = replay::PhoneConditions {
            noise_m: 8.0,
            dropout: 0.1,
            off: vec![window("1m+1m")],
            offline: vec![window("4m+3m")],
            seed: 3,
        };
        let (plan, s) = send(&t, &o).await;
        // Minute 1-2 off (12 points), minutes 4-7 buffered (36 points, fewer the lost ones).
        assert_eq!(s.phone_off, 12, "{protocol}");
        assert!(s.dropped > 0 && s.buffered > 20, "{protocol}: {s:#?}");
        assert_eq!(s.planned + s.dropped + s.phone_off, 121);
        // The late burst is stored like the rest: every fix sent is there once, in time order,
        // where the noise put it.
        assert_stored_exactly(&w, person, &plan, &s, 1e-3, 0.05);
    }
    server.stop();
}
