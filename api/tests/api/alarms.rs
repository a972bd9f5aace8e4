//! Alarms as cases through the real ingest path: one history per alarm, written by the fixes
//! that change it (opened on its fix, returned inside, outside again, confirmation asked and
//! given) and by the staff who handle it; evidence counted on the alarm, not flooding the history.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracker::alarm::feed::{self, FeedEvent};
use tracker::alarm::handling;
use tracker::alarm::{Action, Handling, Note, Outcome};
use tracker::device::Protocol;
use tracker::staff::Role;

use crate::helpers::{account, orgs, person, phone, raw_http, spawn_app, TestApp};

const HOME: (f64, f64) = (122.235, 40.667);

async fn send(app: &TestApp, id: &str, at: DateTime<Utc>, lat: f64, accuracy: f64) {
    let target = format!("/?id={id}&timestamp={}&lat={lat}&lon={}&accuracy={accuracy}", at.timestamp(), HOME.0);
    let (status, _, body) = raw_http(&app.osmand, "GET", &target, &[], b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// A circle of `radius_m` around HOME as `person`'s inclusion fence.
async fn home_fence(app: &TestApp, person: i64, radius_m: f64) {
    let f = tracker::fence::NewFence {
        person_id: Some(person),
        organisation_id: None,
        name: "居住地".into(),
        kind: geofence::FenceKind::Inclusion,
        geojson: json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [HOME.0, HOME.1]},
                        "properties": {"radius_m": radius_m}}),
        crs: geofence::crs::Crs::Wgs84,
        schedule: None,
        valid_from: None,
        valid_to: None,
    };
    tracker::fence::add(&app.db.pool, &f, &tracker::audit::Actor::default()).await.unwrap();
}

fn kinds(events: &[FeedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarms_life_is_one_history_written_by_fixes_and_staff() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "张三").await;
    home_fence(&app, someone, 500.0).await;
    let p = phone(&app.db, someone, Protocol::Osmand).await;
    let t0 = Utc::now() - Duration::minutes(60);
    let at = |i: i64| t0 + Duration::minutes(5 * i);
    let (inside, outside) = (HOME.1, HOME.1 + 0.027); // home, and 3 km north
    send(&app, &p.enrolment_id, at(0), inside, 10.0).await;
    send(&app, &p.enrolment_id, at(1), outside, 10.0).await; // opens
    send(&app, &p.enrolment_id, at(2), outside, 10.0).await; // evidence only
    send(&app, &p.enrolment_id, at(3), inside, 10.0).await; // back inside: recorded, still open
    send(&app, &p.enrolment_id, at(4), outside, 10.0).await; // out again
    let alarm: i64 = sqlx::query_scalar("SELECT id FROM alarms").fetch_one(&app.db.pool).await.unwrap();
    let li = handling::principal(&app.db.pool, "li.office").await.unwrap().unwrap();
    handling::act(&app.db.pool, alarm, &li, None, Action::Acknowledge).await.unwrap();
    let record = Handling {
        outcome: Outcome::PhoneVerified,
        note: Note::parse("电话核实：本人外出买药，已返回").unwrap(),
    };
    handling::act(&app.db.pool, alarm, &li, None, Action::Resolve(record)).await.unwrap();

    let (case, history) = handling::show(&app.db.pool, alarm, None).await.unwrap().unwrap();
    assert_eq!(kinds(&history), ["opened", "returned_inside", "left_again", "acknowledged", "resolved"]);
    assert_eq!(history[0].fixed_at.map(|t| t.timestamp()), Some(at(1).timestamp()), "opened on the fix that caused it");
    assert_eq!(history[1].fixed_at.map(|t| t.timestamp()), Some(at(3).timestamp()));
    assert_eq!((case.evidence_count, case.last_evidence_at.map(|t| t.timestamp())), (3, Some(at(4).timestamp())));
    assert_eq!((case.state.as_str(), case.outcome_label.as_deref()), ("resolved", Some("电话核实")));
    assert!(history.iter().take(3).all(|e| e.by.is_none()) && history[3].by.as_deref() == Some("li.office"));

    // A doubtful fix (near the border, poor accuracy) asks for confirmation; the second one
    // confirms, and the new alarm's history says so.
    let border = HOME.1 + 0.0045;
    send(&app, &p.enrolment_id, at(5), border, 300.0).await;
    let asked: Vec<FeedEvent> = feed::read_after(&app.db.pool, history.last().unwrap().position, 100).await.unwrap();
    assert_eq!(kinds(&asked), ["confirmation_requested"]);
    assert_eq!((asked[0].alarm_id, asked[0].person_id), (None, someone), "no alarm yet: an event of the person");
    send(&app, &p.enrolment_id, at(6), border, 300.0).await;
    let second: i64 =
        sqlx::query_scalar("SELECT id FROM alarms WHERE state = 'open'").fetch_one(&app.db.pool).await.unwrap();
    let (_, history) = handling::show(&app.db.pool, second, None).await.unwrap().unwrap();
    assert_eq!(kinds(&history), ["opened", "confirmed"], "a history starts with the opening");
    assert_eq!(history[1].details["request"], asked[0].details["request"]);
    assert_eq!(history[0].details["confirmed"], true);
    // A compliant fix withdraws nothing here (no request pending) and records the return.
    send(&app, &p.enrolment_id, at(7), inside, 10.0).await;
    let (_, history) = handling::show(&app.db.pool, second, None).await.unwrap().unwrap();
    assert_eq!(kinds(&history), ["opened", "confirmed", "returned_inside"]);
    // Every event of the test is in the feed once, in order.
    let all = feed::read_after(&app.db.pool, 0, 1000).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=all.len() as i64).collect::<Vec<_>>());
    app.stop().await;
}

/// A carrier's cell position near a border is uncertain, and two of them in a row are still
/// only uncertainty: they ask for a better fix, and never confirm each other into a breach. A
/// GPS fix that is uncertain too then confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cell_fixes_near_a_border_never_confirm_a_breach() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "李四").await;
    home_fence(&app, someone, 1000.0).await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let t0 = Utc::now() - Duration::minutes(30);
    // 200 m inside the border, located to 800 m by the carrier, three times; then by GPS to 250 m.
    let near = HOME.1 + 0.0072;
    for (i, (source, accuracy)) in [("cell", 800), ("cell", 800), ("cell", 800), ("gps", 250)].into_iter().enumerate() {
        let fix = json!({"time": t0 + Duration::minutes(5 * i as i64), "lat": near, "lon": HOME.0, "accuracy_m": accuracy, "source": source});
        let r = app
            .client
            .post(app.url("/ingest/v1/fixes"))
            .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
            .json(&json!({"fixes": [fix]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let alarms: i64 = app.count("SELECT count(*) FROM alarms").await;
        let want = if i < 3 { 0 } else { 1 };
        assert_eq!(alarms, want, "after fix {i} ({source})");
    }
    let events = feed::read_after(&app.db.pool, 0, 100).await.unwrap();
    assert_eq!(
        kinds(&events),
        ["confirmation_requested", "opened", "confirmed"],
        "one request, kept open by the cell fixes"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_queue_shows_the_last_escalation_step_taken() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "张三").await;
    let a = crate::helpers::alarm(&app.db, someone, o.office, tracker::alarm::Kind::MockLocation).await;
    let step = |(status, body): (u16, serde_json::Value)| {
        assert_eq!(status, 200, "{body}");
        body["items"][0]["escalation_step"].clone()
    };
    assert_eq!(step(app.staff("GET", "/api/v1/alarms", "li.office", None).await), json!(null), "still with the office");
    for (name, minutes_ago, taken) in [("county", 30, true), ("city", 10, true), ("overnight", -60, false)] {
        sqlx::query(
            "INSERT INTO escalation_steps (alarm_id, person_id, step, due_at, taken_at)
             VALUES ($1, $2, $3, now() - make_interval(mins => $4), CASE WHEN $5 THEN now() - make_interval(mins => $4) END)",
        )
        .bind(a)
        .bind(someone)
        .bind(name)
        .bind(minutes_ago)
        .bind(taken)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    assert_eq!(
        step(app.staff("GET", "/api/v1/alarms", "li.office", None).await),
        json!("city"),
        "the step not yet due is not shown"
    );
    let (_, detail) = app.staff("GET", &format!("/api/v1/alarms/{a}"), "li.office", None).await;
    assert_eq!(detail["alarm"]["escalation_step"], "city");
    app.stop().await;
}
