//! Leaves end to end: granted with `cctrack leave grant`, then fixes sent through the native API
//! as a phone on a trip would. While the leave lasts, its destination and route are allowed; a
//! person still away after it ends raises `leave_overdue` (not a plain fence exit), and the return
//! is recorded on the alarm and closes the leave.

mod common;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound as _, Utc};
use serde_json::{json, Value};

use common::{cctrack, http, run_json, Server};

/// Home, inside a square county of about 8.4 × 8.9 km; the destination 25 km south.
const HOME: (f64, f64) = (122.25, 40.66);
const DESTINATION: (f64, f64) = (122.25, 40.435);
const ON_ROUTE: (f64, f64) = (122.252, 40.55);

fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[122.20, 40.62], [122.30, 40.62], [122.30, 40.70], [122.20, 40.70], [122.20, 40.62]]]})
}

struct World {
    db: cctrack_tests::TestDb,
    office: i64,
    dir: std::path::PathBuf,
}

async fn world(test: &str) -> World {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let county: i64 = sqlx::query_scalar("SELECT parent_id FROM organisations WHERE id = $1")
        .bind(office)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for (org, username, role) in [
        (office, "li.office", tracker::staff::Role::OfficeStaff),
        (county, "wang.county", tracker::staff::Role::CountyAdmin),
    ] {
        tracker::staff::upsert(
            &db.pool,
            &tracker::staff::NewStaff {
                organisation_id: org,
                username,
                display_name: username,
                role,
                password: "correct horse battery",
                email: None,
            },
        )
        .await
        .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("cctrack-leave-test-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("county.geojson"), square().to_string()).unwrap();
    std::fs::write(
        dir.join("destination.geojson"),
        json!({"type": "Feature", "properties": {"radius_m": 3000.0}, "geometry": {"type": "Point", "coordinates": [DESTINATION.0, DESTINATION.1]}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("route.geojson"),
        json!({"type": "LineString", "coordinates": [[HOME.0, HOME.1], [DESTINATION.0, DESTINATION.1]]}).to_string(),
    )
    .unwrap();
    World { db, office, dir }
}

/// A person with the county as inclusion fence and a native phone; (person, inclusion fence, auth).
async fn person(w: &World, name: &str) -> (i64, i64, String) {
    let id = common::add_person(&w.db, w.office, name);
    let fence = run_json(
        cctrack(&w.db.url)
            .args(["fence", "add", "--person", &id.to_string(), "--kind", "inclusion", "--geojson"])
            .arg(w.dir.join("county.geojson"))
            .arg("--json"),
    )["id"]
        .as_i64()
        .unwrap();
    let (enrolment, token) = common::enrol_phone(&w.db, id, "native").await;
    (id, fence, format!("Bearer {enrolment}.{token}"))
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn grant(w: &World, person: i64, from: DateTime<Utc>, to: DateTime<Utc>, by: &str) -> std::process::Output {
    cctrack(&w.db.url)
        .args(["leave", "grant", "--person", &person.to_string(), "--from", &iso(from), "--to", &iso(to)])
        .arg("--destination")
        .arg(w.dir.join("destination.geojson"))
        .arg("--route")
        .arg(w.dir.join("route.geojson"))
        .args(["--route-half-width-m", "1500", "--reason", "探亲", "--approved-by", by, "--json"])
        .output()
        .unwrap()
}

fn send(server: &Server, auth: &str, at: DateTime<Utc>, (lon, lat): (f64, f64)) {
    let body = json!({"fixes": [{"time": iso(at), "lat": lat, "lon": lon, "accuracy_m": 15.0}]});
    let (status, _, reply) = http(
        &server.main,
        "POST",
        "/ingest/v1/fixes",
        &[("Authorization", auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");
}

fn alarms(w: &World, person: i64) -> Vec<Value> {
    run_json(cctrack(&w.db.url).args(["alarms", "--person", &person.to_string(), "--json"])).as_array().unwrap().clone()
}

fn leave_of(w: &World, person: i64) -> Value {
    let list = run_json(cctrack(&w.db.url).args(["leave", "list", "--person", &person.to_string(), "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    list[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_return_from_leave_is_overdue_and_the_return_is_recorded() {
    let w = world("late").await;
    let (late, late_home, late_auth) = person(&w, "逾期未归").await;
    let (punctual, _, punctual_auth) = person(&w, "按时返回").await;
    let (stayed, _, stayed_auth) = person(&w, "未外出").await;
    let t0 = Utc::now().trunc_subsecs(0) - Duration::hours(14);
    let (from, to) = (t0, t0 + Duration::hours(8));
    let mut destination_fence = 0;
    for p in [late, punctual, stayed] {
        let out = grant(&w, p, from, to, "li.office");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let granted: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(granted["route_fence"].is_i64(), "{granted}");
        if p == late {
            destination_fence = granted["destination_fence"].as_i64().unwrap();
        }
    }
    let server = Server::start(&w.db.url);

    // Before the leave at home; on the way and at the destination within the window: allowed.
    for (auth, back) in [(&late_auth, 10), (&punctual_auth, 7)] {
        send(&server, auth, t0 - Duration::hours(1), HOME);
        send(&server, auth, t0 + Duration::hours(1), ON_ROUTE);
        send(&server, auth, t0 + Duration::hours(3), DESTINATION);
        send(&server, auth, t0 + Duration::hours(back) - Duration::minutes(30), ON_ROUTE);
        send(&server, auth, t0 + Duration::hours(back), if back < 8 { HOME } else { DESTINATION });
    }
    // The overdue person is still on the way back, then home at last.
    send(&server, &late_auth, t0 + Duration::hours(11), ON_ROUTE);
    send(&server, &late_auth, t0 + Duration::hours(12), HOME);
    // Stayed at home all along.
    for h in [0, 4, 9] {
        send(&server, &stayed_auth, t0 + Duration::hours(h), HOME);
    }

    let got = alarms(&w, late);
    assert_eq!(got.len(), 1, "exactly one alarm for the late return, no fence exit: {got:#?}");
    assert_eq!(got[0]["kind"], "leave_overdue");
    assert_eq!(got[0]["fence"].as_i64(), Some(destination_fence));
    assert_ne!(got[0]["fence"].as_i64(), Some(late_home));
    assert_eq!(got[0]["state"], "open", "staff close it with a note");
    assert_eq!(got[0]["evidence"], 3, "the three fixes away after the end");
    let returned: DateTime<Utc> = got[0]["returned_inside_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(returned, t0 + Duration::hours(12));
    let leave = leave_of(&w, late);
    assert_eq!(leave["state"], "returned");
    assert_eq!(leave["departed_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), t0 + Duration::hours(1));
    assert_eq!(leave["returned_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), t0 + Duration::hours(12));

    assert!(alarms(&w, punctual).is_empty(), "{:#?}", alarms(&w, punctual));
    let leave = leave_of(&w, punctual);
    assert_eq!(leave["state"], "returned");
    assert_eq!(leave["returned_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), t0 + Duration::hours(7));

    assert!(alarms(&w, stayed).is_empty());
    let leave = leave_of(&w, stayed);
    assert_eq!((leave["state"].as_str(), leave["departed_at"].as_str()), (Some("approved"), None));

    // After the return the leave is closed: leaving again is a plain fence exit.
    send(&server, &late_auth, t0 + Duration::hours(13), DESTINATION);
    let kinds: Vec<String> = alarms(&w, late).iter().map(|a| a["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "fence_exit").count(), 1, "{kinds:?}");
    server.stop();
    let _ = std::fs::remove_dir_all(&w.dir);
}

#[tokio::test]
async fn leave_grants_are_checked() {
    let w = world("checks").await;
    let (p, _, _) = person(&w, "请假人").await;
    let now = Utc::now();
    let refused = |out: std::process::Output, needle: &str| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    };
    refused(grant(&w, p, now, now - Duration::hours(1), "li.office"), "--to");
    refused(grant(&w, p, now, now + Duration::days(10), "li.office"), "--approved-by: a leave over 7 days");
    refused(grant(&w, p, now, now + Duration::days(31), "wang.county"), "at most 30 days");
    refused(grant(&w, p, now, now + Duration::days(1), "nobody.here"), "--approved-by");
    refused(grant(&w, p + 1000, now, now + Duration::days(1), "li.office"), "--person");
    std::fs::write(w.dir.join("destination.geojson"), "{\"type\": \"Polygon\", \"coordinates\": [[[1, 2], [3, 4]]]}")
        .unwrap();
    refused(grant(&w, p, now, now + Duration::days(1), "li.office"), "--destination");
    // Nothing was stored by the refusals; a county approves a 10-day leave.
    let none = run_json(cctrack(&w.db.url).args(["leave", "list", "--json"]));
    assert_eq!(none.as_array().unwrap().len(), 0, "{none:#}");
    std::fs::write(
        w.dir.join("destination.geojson"),
        json!({"type": "Feature", "properties": {"radius_m": 3000.0}, "geometry": {"type": "Point", "coordinates": [DESTINATION.0, DESTINATION.1]}}).to_string(),
    )
    .unwrap();
    let out = grant(&w, p, now, now + Duration::days(10), "wang.county");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(leave_of(&w, p)["state"], "approved");
    let _ = std::fs::remove_dir_all(&w.dir);
}
