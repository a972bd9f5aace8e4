//! The console in a real headless Chromium against a real `cctrack serve`: `console/tests/
//! browser.mjs` (Playwright) logs in as office staff, sees an alarm caused by an OsmAnd fix arrive
//! without a reload, resolves it with a handling record, draws a fence that the next fix is judged
//! against, plays back the trajectory, is refused an out-of-scope person, opens a stored report
//! (its page in a frame, its workbook), and fails on any request to another host or any page
//! error. Screenshots of the main pages are kept in `target/console-screenshots/`.

mod common;

use std::process::Command;

use common::{enrol_phone, Server};
use serde_json::json;
use tracker::staff::Role;

async fn account(db: &cctrack_tests::TestDb, org: i64, username: &str, role: Role, password: &str) {
    let s = tracker::staff::NewStaff {
        organisation_id: org,
        username,
        display_name: "李所长",
        role,
        password,
        email: None,
    };
    tracker::staff::upsert(&db.pool, &s).await.unwrap();
}

/// The office's morning lists, stored as the calendar job stores them (no mails); returns the
/// report's id. They are tomorrow's (Beijing time), whose window holds now: a list counts the
/// persons in supervision when it ends, or now, and leaves out an office with none.
async fn store_daily_report(db: &cctrack_tests::TestDb, office: i64) -> i64 {
    use tracker::report::{daily, store};
    let now = chrono::Utc::now();
    let day = tracker::time::local(now).date_naive() + chrono::Duration::days(1);
    let period = day.format("%Y-%m-%d").to_string();
    let lists = daily::build(&db.pool, office, day, now, "http://127.0.0.1:8080").await.unwrap();
    let l = lists.iter().find(|l| l.office.id == office).expect("the office's lists (it has persons)");
    let new = store::NewReport::of_lists(l, &period).unwrap();
    store::store(&db.pool, &new, &[], now).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_staff_work_an_alarm_through_the_console_in_chromium() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let other_office: i64 = sqlx::query_scalar(
        "WITH k AS (INSERT INTO organisations (kind, parent_id, name, adcode)
                    SELECT 'county', o.parent_id, '西市区', '210803' FROM organisations c JOIN organisations o ON o.id = c.parent_id
                    WHERE c.id = $1 RETURNING id)
         INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '渔市司法所' FROM k RETURNING id",
    )
    .bind(office)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let password = "console-pass-1";
    account(&db, office, "li.office", Role::OfficeStaff, password).await;
    let person = common::add_person(&db, office, "张三");
    let outsider = common::add_person(&db, other_office, "王五");
    // Home area: a 2 km circle in 站前区; the phone speaks the OsmAnd protocol (Traccar Client).
    let home = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [122.235, 40.667]}, "properties": {"radius_m": 2000}});
    tracker::fence::add(
        &db.pool,
        &tracker::fence::NewFence {
            person_id: Some(person),
            organisation_id: None,
            name: "居住地活动区域".into(),
            kind: geofence::FenceKind::Inclusion,
            geojson: home,
            crs: geofence::crs::Crs::Wgs84,
            schedule: None,
            valid_from: None,
            valid_to: None,
        },
        &tracker::audit::Actor::default(),
    )
    .await
    .unwrap();
    let (enrolment, _) = enrol_phone(&db, person, "osmand").await;
    let report = store_daily_report(&db, office).await;
    let server = Server::start(&db.url);
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let fixture = json!({
        "base_url": format!("http://{}", server.main),
        "osmand_url": format!("http://{}", server.osmand),
        "office": {"username": "li.office", "password": password},
        "person": {"id": person, "device_id": enrolment, "outside": [122.30, 40.667], "inside": [122.236, 40.668]},
        "out_of_scope_person": outsider,
        "report": report,
        "screenshots": shots,
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/tests/browser.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("CCTRACK_BROWSER_FIXTURE", fixture.to_string())
        .output()
        .expect("node runs (scripts/setup installs it)");
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed:\n{log}");
    // What the page did is what the server recorded.
    let handled: (String, Option<String>) =
        sqlx::query_as("SELECT state, handling_note FROM alarms WHERE person_id = $1 ORDER BY id LIMIT 1")
            .bind(person)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(handled.0, "resolved", "{log}");
    let drawn: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'fence.create' AND staff_id IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(drawn >= 1, "a fence was drawn through the console: {log}");
    let formats: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT details->>'format' FROM audit_log
         WHERE action = 'report.download' AND staff_id IS NOT NULL AND (details->>'report')::bigint = $1 ORDER BY 1",
    )
    .bind(report)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(formats, ["html", "xlsx"], "the report was viewed and downloaded through the console, audited: {log}");
    for page in ["login", "alarm-queue", "track-playback", "reports", "report-view"] {
        let found =
            std::fs::read_dir(&shots).unwrap().flatten().any(|f| f.file_name().to_string_lossy().contains(page));
        assert!(found, "a screenshot of the {page} page");
    }
    server.stop();
}
