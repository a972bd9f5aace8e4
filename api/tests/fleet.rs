//! A fleet scenario against a real `cctrack serve`: five persons in a square county, two hours
//! simulated at ×720 through the OsmAnd protocol. Their scripted breaches must raise exactly the
//! expected alarms (kind, person, fence) and nothing else: generated movement never trips a
//! fence, an unconfirmed drift only asks for confirmations, a phone switched off raises nothing
//! at ingest.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use simulator::fleet::{run_fleet, RunOptions, Scenario};

use common::{cctrack, run_json, Server};

struct World {
    db: cctrack_tests::TestDb,
    office: i64,
    dir: std::path::PathBuf,
}

async fn world() -> World {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let dir = std::env::temp_dir().join(format!("cctrack-fleet-test-{}-{}", std::process::id(), office));
    std::fs::create_dir_all(&dir).unwrap();
    World { db, office, dir }
}

/// A person with a Traccar Client phone (backdated a day), returning (person, enrolment id).
async fn person(w: &World, name: &str) -> (i64, String) {
    let id = common::add_person(&w.db, w.office, name);
    (id, common::enrol_phone(&w.db, id, "osmand").await.0)
}

/// Grants `leave` with `cctrack leave grant` (approved by an office account): a 2 km circle at the
/// destination and a 1 km corridor from home.
async fn grant_leave(w: &World, person: i64, leave: &simulator::fleet::LeaveToGrant) -> i64 {
    tracker::staff::upsert(
        &w.db.pool,
        &tracker::staff::NewStaff {
            organisation_id: w.office,
            username: "li.office",
            display_name: "李",
            role: tracker::staff::Role::OfficeStaff,
            password: "correct horse battery",
            email: None,
        },
    )
    .await
    .unwrap();
    let (d, h) = (leave.destination, leave.home);
    let destination = w.dir.join("leave-destination.geojson");
    let route = w.dir.join("leave-route.geojson");
    let point = json!({"type": "Feature", "properties": {"radius_m": 2000.0}, "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]}});
    std::fs::write(&destination, point.to_string()).unwrap();
    std::fs::write(&route, json!({"type": "LineString", "coordinates": [[h.lon, h.lat], [d.lon, d.lat]]}).to_string())
        .unwrap();
    let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    run_json(
        cctrack(&w.db.url)
            .args([
                "leave",
                "grant",
                "--person",
                &person.to_string(),
                "--from",
                &iso(leave.from),
                "--to",
                &iso(leave.until),
            ])
            .arg("--destination")
            .arg(&destination)
            .arg("--route")
            .arg(&route)
            .args(["--route-half-width-m", "1000", "--reason", "就医", "--approved-by", "li.office", "--json"]),
    )["destination_fence"]
        .as_i64()
        .unwrap()
}

fn fence(w: &World, person: i64, kind: &str, geojson: &Value) -> i64 {
    let path = w.dir.join(format!("fence-{person}-{kind}.geojson"));
    std::fs::write(&path, geojson.to_string()).unwrap();
    run_json(
        cctrack(&w.db.url)
            .args(["fence", "add", "--person", &person.to_string(), "--kind", kind, "--geojson"])
            .arg(&path)
            .arg("--json"),
    )["id"]
        .as_i64()
        .unwrap()
}

/// The county: a square of about 8.4 × 8.9 km.
fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[122.20, 40.62], [122.30, 40.62], [122.30, 40.70], [122.20, 40.70], [122.20, 40.62]]]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_breaches_raise_exactly_the_expected_alarms() {
    let w = world().await;
    let server = Server::start(&w.db.url);
    std::fs::write(w.dir.join("county.geojson"), square().to_string()).unwrap();

    let names =
        ["leaves", "enters_zone", "drifts_and_goes_silent", "compliant", "drifts_confirmed", "back_late_from_leave"];
    let mut ids = Vec::new();
    let mut inclusion = Vec::new();
    let mut devices = Vec::new();
    for n in names {
        let (id, device) = person(&w, n).await;
        inclusion.push(fence(&w, id, "inclusion", &square()));
        ids.push(id);
        devices.push(device);
    }
    let zone = json!({"type": "Feature", "properties": {"radius_m": 300.0}, "geometry": {"type": "Point", "coordinates": [122.25, 40.66]}});
    let zone_fence = fence(&w, ids[1], "exclusion", &zone);

    let scenario = format!(
        r#"
osmand_url = "http://{osmand}"
speed = 720
catch_up = "2h"
seed = 42

[[person]]
name = "leaves"
device = "{d0}"
area = "county.geojson"
home = [40.64, 122.25]
work = "none"
[[person.event]]
kind = "leave_area"
at = "+20m"
duration = "80m"
to = [40.58, 122.25]

[[person]]
name = "enters_zone"
device = "{d1}"
area = {{ file = "county.geojson" }}
avoid = [{{ circle = [40.66, 122.25, 300] }}]
home = [40.68, 122.22]
[[person.event]]
kind = "enter_zone"
at = "+30m"
duration = "60m"
point = [40.66, 122.25]

[[person]]
name = "drifts_and_goes_silent"
device = "{d2}"
area = "county.geojson"
home = [40.66, 122.28]
[[person.event]]
kind = "drift"
at = "+10m"
duration = "60m"
near_border = [40.66, 122.35]
[[person.event]]
kind = "phone_off"
at = "+80m"
duration = "5h"

[[person]]
name = "compliant"
device = "{d3}"
area = "county.geojson"

[[person]]
name = "drifts_confirmed"
device = "{d4}"
area = "county.geojson"
home = [40.64, 122.27]
[[person.event]]
kind = "drift"
at = "+30m"
duration = "45m"
near_border = [40.64, 122.40]
confirm = true

[[person]]
name = "back_late_from_leave"
device = "{d5}"
area = "county.geojson"
home = [40.64, 122.23]
work = "none"
[[person.event]]
kind = "leave"
at = "+10m"
duration = "50m"
to = [40.56, 122.23]
late = "30m"
"#,
        osmand = server.osmand,
        d0 = devices[0],
        d1 = devices[1],
        d2 = devices[2],
        d3 = devices[3],
        d4 = devices[4],
        d5 = devices[5],
    );
    let path = w.dir.join("scenario.toml");
    std::fs::write(&path, scenario).unwrap();
    let sc = Scenario::load(&path).unwrap();
    let now = chrono::Utc::now();
    let warp = sc.warp(now);
    let fleet = sc.build(&warp, now).unwrap();
    let planned: usize = fleet.iter().map(|p| p.fixes.len()).sum();
    // The leave is granted as staff would before the person sets off: destination and route.
    let leaves: Vec<_> = fleet.iter().flat_map(|p| p.leaves_to_grant()).collect();
    assert_eq!(leaves.len(), 1);
    let leave_destination = grant_leave(&w, ids[5], &leaves[0]).await;
    let notes = Arc::new(|n| eprintln!("{n:?}"));
    let started = std::time::Instant::now();
    let summary = run_fleet(
        fleet,
        RunOptions { osmand_url: sc.osmand_url.clone(), warp, retry: Default::default(), counters: None },
        notes,
        std::future::pending(),
    )
    .await
    .unwrap();
    eprintln!("{planned} fixes in {:.1} s", started.elapsed().as_secs_f64());
    assert!(summary.all_accepted(), "{summary:#?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "2 h at ×720 should take about 10 s");

    let alarms = run_json(cctrack(&w.db.url).args(["alarms", "--json"]));
    let got: BTreeSet<(i64, String, Option<i64>)> = alarms
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["person"].as_i64().unwrap(), a["kind"].as_str().unwrap().to_string(), a["fence"].as_i64()))
        .collect();
    let want: BTreeSet<(i64, String, Option<i64>)> = [
        (ids[0], "fence_exit".to_string(), Some(inclusion[0])),
        (ids[1], "exclusion_entry".to_string(), Some(zone_fence)),
        (ids[4], "fence_exit".to_string(), Some(inclusion[4])),
        (ids[5], "leave_overdue".to_string(), Some(leave_destination)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "alarms: {alarms:#}");
    assert_eq!(alarms.as_array().unwrap().len(), 4, "one alarm per breach: {alarms:#}");
    let leave = &run_json(cctrack(&w.db.url).args(["leave", "list", "--json"]))[0];
    assert_eq!(leave["state"], "returned", "home at last: {leave}");

    // The unconfirmed drift asked for confirmations, and each was answered by a compliant fix.
    let confirms: Vec<(String,)> =
        sqlx::query_as("SELECT state FROM location_requests WHERE person_id = $1 AND reason = 'confirm'")
            .bind(ids[2])
            .fetch_all(&w.db.pool)
            .await
            .unwrap();
    assert!(confirms.len() >= 3, "{confirms:?}");
    assert!(confirms.iter().all(|(s,)| s == "answered"), "{confirms:?}");
    // The phone switched off at +80 min reported nothing since.
    let track = run_json(cctrack(&w.db.url).args(["track", "--person", &ids[2].to_string(), "--json"]));
    let last: chrono::DateTime<chrono::Utc> =
        track.as_array().unwrap().last().unwrap()["time"].as_str().unwrap().parse().unwrap();
    assert!(last < warp.sim_start + chrono::Duration::minutes(80), "last fix at {last}");

    server.stop();
    let _ = std::fs::remove_dir_all(&w.dir);
}
