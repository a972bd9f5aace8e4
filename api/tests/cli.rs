//! The `cctrack` binary as a user runs it: boundary import, `orgs --json`, `serve` with
//! `/healthz` and a clean stop on SIGTERM, and the whole `demo` on its own embedded cluster.

mod common;

use std::process::Stdio;

use cctrack_tests::TestDb;
use common::{address_after, cctrack_bin as cctrack, http, run_json, terminate, wait_listening, Server};
use serde_json::Value;
use sqlx::Connection;

#[tokio::test]
async fn import_list_and_serve_against_an_external_database() {
    let db = TestDb::new().await.unwrap();
    let imported = run_json(
        cctrack().args(["boundaries", "import", "--adcode", "210800", "--json"]).env("CCTRACK_DATABASE_URL", &db.url),
    );
    assert_eq!(imported.as_array().unwrap().len(), 7);

    let orgs = run_json(cctrack().args(["orgs", "--json"]).env("CCTRACK_DATABASE_URL", &db.url));
    let orgs = orgs.as_array().unwrap();
    assert_eq!(orgs.len(), 7);
    assert_eq!(orgs[0]["kind"], "city");
    assert_eq!(orgs[0]["parent"], Value::Null);
    let city_id = orgs[0]["id"].clone();
    let counties: Vec<&Value> = orgs.iter().filter(|o| o["kind"] == "county").collect();
    assert_eq!(counties.len(), 6);
    let sum: f64 = counties.iter().map(|c| c["area_km2"].as_f64().unwrap()).sum();
    let city = orgs[0]["area_km2"].as_f64().unwrap();
    assert!((sum - city).abs() / city < 0.005, "districts {sum} km² vs city {city} km²");
    assert!(counties.iter().all(|c| c["parent"] == city_id && c["adcode"].as_str().unwrap().starts_with("2108")));

    let server = Server::start(&db.url);
    let (status, _, body) = http(&server.main, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(http(&server.main, "GET", "/no-such-page", &[], b"").0, 404);
    let status = server.stop();
    assert!(status.success(), "serve exited with {status}");
}

/// `scheduler tick` runs only when no running cctrack leads, and never ahead of time (it would
/// fail requests before their deadline).
#[tokio::test]
async fn a_manual_tick_never_runs_ahead_of_time_nor_beside_a_leader() {
    let db = TestDb::new().await.unwrap();
    let tick = |at: chrono::DateTime<chrono::Utc>| {
        common::cctrack(&db.url).args(["scheduler", "tick", "--json", "--at", &at.to_rfc3339()]).output().unwrap()
    };
    let ahead = tick(chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(!ahead.status.success());
    assert!(String::from_utf8_lossy(&ahead.stderr).contains("--at"), "{}", String::from_utf8_lossy(&ahead.stderr));
    let now = tick(chrono::Utc::now());
    assert!(now.status.success(), "{}", String::from_utf8_lossy(&now.stderr));
    let mut leader = sqlx::postgres::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(tracker::schedule::leader::LOCK_KEY)
        .execute(&mut leader)
        .await
        .unwrap();
    let beside = tick(chrono::Utc::now());
    assert!(!beside.status.success());
    assert!(String::from_utf8_lossy(&beside.stderr).contains("leader"), "{}", String::from_utf8_lossy(&beside.stderr));
}

#[test]
fn bad_configuration_is_reported_with_the_field() {
    let out = cctrack().args(["orgs", "--json"]).env("CCTRACK_DATABASE_URL", "mysql://nope").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_url"));
    let out = cctrack()
        .args(["boundaries", "import", "--adcode", "210801", "--from", "/nonexistent"])
        .env("CCTRACK_DATABASE_URL", "postgres://127.0.0.1:1/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connecting to the database"),
        "an unreachable database is named"
    );
}

#[test]
fn demo_runs_on_its_own_embedded_cluster_and_stops_it() {
    let dir = std::env::temp_dir().join(format!("cctrack-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The fleet replays its six hours in about ten seconds instead of a minute.
    let mut child = cctrack()
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--osmand-listen",
            "127.0.0.1:0",
            "--fleet-speed",
            "2160",
            "--persons-per-county",
            "3",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = wait_listening(&mut child);
    let addr = address_after(&printed, "cctrack listening on http://");
    for role in ["city_admin", "county_admin", "office_staff", "auditor"] {
        assert!(printed.iter().any(|l| l.contains(role)), "no {role} account printed: {printed:?}");
    }
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);

    // The fleet's scripted breaches raise alarms within a minute: the first person (the first
    // county's 宽管) leaves the county, the sixth (the second county's 严管) enters the 禁止令
    // zone, the fourteenth (the fifth county's 普管) comes back late from a granted leave; the
    // others (a drift near a border, a phone switched off, and the compliant ones) raise none.
    let phones: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("demo-phones.json")).unwrap()).unwrap();
    assert_eq!(phones.as_array().unwrap().len(), 18, "three persons in each of six counties");
    let person_of = |i: usize| phones[i]["person_id"].as_i64().unwrap();
    let expected = [(person_of(0), "fence_exit"), (person_of(5), "exclusion_entry"), (person_of(13), "leave_overdue")];
    // At ×2160 the six hours take 10 s: only then has every phone sent what ingest judges.
    let caught_up = std::time::Instant::now() + std::time::Duration::from_secs(12);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let alarms = loop {
        let alarms = run_json(cctrack().args(["alarms", "--json", "--data-dir"]).arg(&dir));
        let got: Vec<(i64, String)> = alarms
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["person"].as_i64().unwrap(), a["kind"].as_str().unwrap().to_string()))
            .collect();
        if expected.iter().all(|(p, k)| got.iter().any(|(q, j)| q == p && j == k))
            && std::time::Instant::now() > caught_up
        {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "no scripted alarms within a minute: {got:?}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    for a in &alarms {
        assert!(expected.iter().any(|(p, k)| *p == a.0 && *k == a.1), "unscripted alarm {a:?}: {alarms:?}");
    }

    // The demo's phones accept fixes as Traccar Client sends them (device identifier printed).
    let phone = &phones[0];
    let enrolment = phone["enrolment_id"].as_str().unwrap();
    assert!(printed.iter().any(|l| l.contains(enrolment)), "phone {enrolment} not printed");
    let osmand = address_after(&printed, "cctrack osmand listening on http://");
    let now = chrono::Utc::now().timestamp();
    let (status, _, _) = http(
        &osmand,
        "POST",
        &format!("/?id={enrolment}&timestamp={now}&lat=40.667&lon=122.235&accuracy=12&batt=80"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let person = phone["person_id"].as_i64().unwrap().to_string();
    let track = run_json(cctrack().args(["track", "--person", &person, "--json", "--data-dir"]).arg(&dir));
    // Beside the fleet's fixes, the one just sent, with its verdicts.
    let sent = track
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["time"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp() == now);
    assert!(
        !sent.expect("the fix sent is stored")["verdicts"].as_array().unwrap().is_empty(),
        "the demo person has fences"
    );

    // A CLI command beside the running demo adopts its database and leaves it running.
    let orgs = run_json(cctrack().args(["orgs", "--json", "--data-dir"]).arg(&dir));
    let orgs = orgs.as_array().unwrap();
    assert_eq!(orgs.iter().filter(|o| o["kind"] == "county").count(), 6);
    assert!(orgs.iter().filter(|o| o["kind"] == "office").count() >= 6);
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);

    assert!(terminate(&mut child).success());
    let pid_file = dir.join("pg/postmaster.pid");
    assert!(!pid_file.exists(), "embedded PostgreSQL still running after the demo stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
