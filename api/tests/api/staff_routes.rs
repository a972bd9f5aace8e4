//! The staff API's sessions, alarm handling, live events, trajectories and audit log.

use std::time::Duration;

use serde_json::{json, Value};
use tracker::alarm::Kind;
use tracker::device::Protocol;
use tracker::staff::Role;

use crate::helpers::{account, alarm, login, orgs, person, phone, spawn_app, TestApp, PASSWORD};

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let reply = r.send().await.unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_log_in_expire_log_out_and_guard_against_other_sites() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "li.office", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("cctrack_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["user"]["username"], "li.office");
    // The bearer token and the cookie both work.
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", &token, None).await.0, 200);
    let me = app.client.get(app.url("/api/v1/auth/me")).header("Cookie", &session).send().await.unwrap();
    assert_eq!(me.status(), 200);
    // A change carried by the cookie must come from this site.
    let from = |origin: Option<&str>, marker: bool| {
        let mut r = app
            .client
            .post(app.url("/api/v1/alarms/acknowledge"))
            .header("Cookie", &session)
            .json(&json!({"ids": [1]}));
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        if marker {
            r = r.header("X-Requested-With", "cctrack");
        }
        r.send()
    };
    assert_eq!(from(Some("http://evil.example"), false).await.unwrap().status(), 403);
    assert_eq!(from(None, false).await.unwrap().status(), 403);
    assert_eq!(from(Some(&format!("http://{}", app.main)), false).await.unwrap().status(), 200);
    assert_eq!(from(None, true).await.unwrap().status(), 200);
    // Idle too long: the session is dead.
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '31 minutes'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", &token, None).await.0, 401);
    // Logout kills the session on the server; a password change kills the others.
    let a = login(&app, "li.office").await;
    let b = login(&app, "li.office").await;
    assert_eq!(call(&app, "POST", "/api/v1/auth/logout", &a, None).await.0, 204);
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", &a, None).await.0, 401);
    let c = login(&app, "li.office").await;
    let (status, body) =
        call(&app, "POST", "/api/v1/auth/password", &b, Some(json!({"current": PASSWORD, "new": "short"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("new")));
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/auth/password",
        &b,
        Some(json!({"current": "wrong-one", "new": "a-much-longer-one"})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("current")));
    assert_eq!(
        call(&app, "POST", "/api/v1/auth/password", &b, Some(json!({"current": PASSWORD, "new": "a-much-longer-one"})))
            .await
            .0,
        204
    );
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", &b, None).await.0, 200, "the session that changed it lives");
    assert_eq!(call(&app, "GET", "/api/v1/auth/me", &c, None).await.0, 401, "the others die");
    let old = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "li.office", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let audited: i64 = app.count("SELECT count(*) FROM audit_log WHERE action IN ('login', 'password.change')").await;
    assert!(audited >= 5, "{audited}");
    // A bad body names its field.
    let r =
        app.client.post(app.url("/api/v1/auth/login")).json(&json!({"username": "li.office"})).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["field"], "password", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_handle_alarms_over_http_within_their_scope() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    for (u, org, role) in [
        ("li.office", o.office, Role::OfficeStaff),
        ("chen.office", o.office, Role::OfficeStaff),
        ("zhao.other", o.other_office, Role::OfficeStaff),
        ("audit.city", o.city, Role::Auditor),
    ] {
        account(&app.db, org, u, role).await;
    }
    let ours = person(&app.db, o.office, "张三").await;
    let theirs = person(&app.db, o.other_office, "李四").await;
    let a = alarm(&app.db, ours, o.office, Kind::MockLocation).await;
    let b = alarm(&app.db, ours, o.office, Kind::LowBattery).await;
    let c = alarm(&app.db, theirs, o.other_office, Kind::MockLocation).await;
    let (li, chen, zhao, auditor) = (
        login(&app, "li.office").await,
        login(&app, "chen.office").await,
        login(&app, "zhao.other").await,
        login(&app, "audit.city").await,
    );
    // The queue: in scope only, newest first.
    let (status, q) = call(&app, "GET", "/api/v1/alarms", &li, None).await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = q["items"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![b, a]);
    let (_, q) = call(&app, "GET", "/api/v1/alarms?kind=mock_location&limit=1", &auditor, None).await;
    assert_eq!(
        (q["items"][0]["id"].as_i64(), q["next"].as_i64()),
        (Some(c), Some(c)),
        "the city auditor sees both offices"
    );
    assert_eq!(call(&app, "GET", "/api/v1/alarms?state=closed", &li, None).await.0, 400);
    // Another office's alarm is as absent as a missing one.
    let (s1, b1) = call(&app, "GET", &format!("/api/v1/alarms/{c}"), &li, None).await;
    assert_eq!((s1, b1["error"].as_str()), (404, Some(format!("not found: alarm {c}").as_str())));
    assert_eq!(call(&app, "POST", &format!("/api/v1/alarms/{c}/acknowledge"), &li, None).await.0, 404);
    // Handling: acknowledge, resolve with a record; a second resolver is told who was first.
    let (status, case) = call(&app, "POST", &format!("/api/v1/alarms/{a}/acknowledge"), &li, None).await;
    assert_eq!((status, case["alarm"]["state"].as_str()), (200, Some("acknowledged")));
    let record = json!({"outcome": "phone_verified", "note": "电话核实：本人在家"});
    let (status, case) = call(&app, "POST", &format!("/api/v1/alarms/{a}/resolve"), &li, Some(record.clone())).await;
    assert_eq!((status, case["alarm"]["outcome_label"].as_str()), (200, Some("电话核实")));
    let kinds: Vec<&str> = case["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["opened", "acknowledged", "resolved"]);
    let (status, body) = call(&app, "POST", &format!("/api/v1/alarms/{a}/dismiss"), &chen, Some(record.clone())).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));
    assert!(body["message"].as_str().unwrap().contains("li.office"), "{body}");
    // Bad records name the field; auditors only read.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/alarms/{b}/resolve"),
        &li,
        Some(json!({"outcome": "fixed", "note": "已处置完毕了"})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("outcome")));
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/alarms/{b}/resolve"),
        &li,
        Some(json!({"outcome": "other", "note": "好"})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("note")));
    assert_eq!(call(&app, "POST", &format!("/api/v1/alarms/{b}/acknowledge"), &auditor, None).await.0, 403);
    // Bulk acknowledgement: what is in scope and open, the rest refused with the reason.
    let (status, r) = call(&app, "POST", "/api/v1/alarms/acknowledge", &zhao, Some(json!({"ids": [b, c]}))).await;
    assert_eq!(status, 200);
    assert_eq!(r["acknowledged"], json!([c]));
    assert_eq!(r["refused"][0]["id"], b);
    // Every action is in the audit log, which the auditor reads and office staff do not.
    let (status, log) = call(&app, "GET", "/api/v1/audit?action=alarm.", &auditor, None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["alarm.acknowledge", "alarm.resolve", "alarm.acknowledge"]);
    assert_eq!(call(&app, "GET", "/api/v1/audit", &li, None).await.0, 403);
    let outcomes = call(&app, "GET", "/api/v1/alarm-outcomes", &li, None).await.1;
    assert_eq!(outcomes.as_array().unwrap().len(), 9);
    app.stop().await;
}

/// Reads server-sent events from `path` until `count` have arrived; (id, data) of each.
async fn sse(app: &TestApp, path: &str, token: &str, last_id: Option<&str>, count: usize) -> Vec<(String, Value)> {
    let mut r = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(id) = last_id {
        r = r.header("Last-Event-ID", id);
    }
    let mut reply = r.send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let (mut buf, mut out) = (String::new(), Vec::new());
    while out.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(20), reply.chunk())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let id = block.lines().find_map(|l| l.strip_prefix("id:")).map(|s| s.trim().to_string());
            let data = block.lines().find_map(|l| l.strip_prefix("data:")).map(|s| s.trim().to_string());
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_arrive_in_scope_and_a_reconnect_replays_what_was_missed() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let ours = person(&app.db, o.office, "张三").await;
    let theirs = person(&app.db, o.other_office, "李四").await;
    let li = login(&app, "li.office").await;
    let app = std::sync::Arc::new(app);
    let reader = {
        let (app, li) = (app.clone(), li.clone());
        tokio::spawn(async move { sse(&app, "/api/v1/events", &li, None, 2).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = alarm(&app.db, ours, o.office, Kind::MockLocation).await;
    alarm(&app.db, theirs, o.other_office, Kind::MockLocation).await; // not in scope
    let b = alarm(&app.db, ours, o.office, Kind::LowBattery).await;
    let got = tokio::time::timeout(Duration::from_secs(20), reader).await.expect("live").unwrap();
    let alarms: Vec<i64> = got.iter().map(|(_, e)| e["alarm_id"].as_i64().unwrap()).collect();
    assert_eq!(alarms, vec![a, b], "only the office's alarms");
    // Reconnecting after the first: exactly what followed.
    let replay = sse(&app, "/api/v1/events", &li, Some(&got[0].0), 1).await;
    assert_eq!(replay[0].1["alarm_id"], b);
    assert_eq!(replay[0].0, got[1].0);
    std::sync::Arc::try_unwrap(app).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trajectories_in_three_formats_every_read_audited() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.other_office, "zhao.other", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(30);
    let fixes: Vec<Value> = (0..3)
        .map(|i| json!({"time": t0 + chrono::Duration::minutes(i), "lat": 40.66 + 0.001 * i as f64, "lon": 122.23}))
        .collect();
    let r = app
        .client
        .post(app.url("/ingest/v1/fixes"))
        .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
        .json(&json!({"fixes": fixes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let li = login(&app, "li.office").await;
    let path = format!("/api/v1/persons/{someone}/track");
    let (status, track) = call(&app, "GET", &path, &li, None).await;
    assert_eq!((status, track["points"].as_array().unwrap().len()), (200, 3));
    let (_, gj) = call(&app, "GET", &format!("{path}?format=geojson"), &li, None).await;
    assert_eq!(gj["features"][0]["geometry"]["type"], "LineString");
    assert_eq!(gj["features"].as_array().unwrap().len(), 4);
    let gpx = app.client.get(app.url(&format!("{path}?format=gpx"))).bearer_auth(&li).send().await.unwrap();
    assert_eq!(gpx.headers()["content-type"], "application/gpx+xml; charset=utf-8");
    assert_eq!(gpx.text().await.unwrap().matches("<trkpt").count(), 3);
    assert_eq!(call(&app, "GET", &format!("{path}?format=kml"), &li, None).await.0, 400);
    let zhao = login(&app, "zhao.other").await;
    assert_eq!(call(&app, "GET", &path, &zhao, None).await.0, 404);
    let reads: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.action, s.username FROM audit_log a LEFT JOIN staff s ON s.id = a.staff_id WHERE a.action LIKE 'track.%' ORDER BY a.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let li_name = Some("li.office".to_string());
    assert_eq!(
        reads,
        vec![
            ("track.read".into(), li_name.clone()),
            ("track.export".into(), li_name.clone()),
            ("track.export".into(), li_name)
        ]
    );
    // Readiness: the database answers and is fully migrated.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_view_and_fences_drawn_on_a_chinese_map() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.other_office, "zhao.other", Role::OfficeStaff).await;
    account(&app.db, o.city, "audit.city", Role::Auditor).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let li = login(&app, "li.office").await;
    // The list and the profile, in scope only.
    let (_, list) = call(&app, "GET", "/api/v1/persons?name=张", &li, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let zhao = login(&app, "zhao.other").await;
    let (_, other) = call(&app, "GET", "/api/v1/persons", &zhao, None).await;
    assert!(other["items"].as_array().unwrap().is_empty());
    assert_eq!(call(&app, "GET", &format!("/api/v1/persons/{someone}"), &zhao, None).await.0, 404);
    // A circle drawn on a GCJ-02 map is stored in WGS-84 and applies to the next fix.
    let (gx, gy) = geofence::crs::wgs84_to_gcj02(122.235, 40.667);
    let circle = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [gx, gy]}, "properties": {"radius_m": 300}});
    let path = format!("/api/v1/persons/{someone}/fences");
    let (status, body) = call(
        &app,
        "POST",
        &path,
        &li,
        Some(json!({"kind": "exclusion", "crs": "gcj02", "geojson": circle, "name": "被害人住所"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let fence = body["id"].as_i64().unwrap();
    let (status, body) = call(&app, "POST", &path, &li, Some(json!({"kind": "fortress", "geojson": circle}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("kind")));
    let (status, body) =
        call(&app, "POST", &path, &li, Some(json!({"kind": "exclusion", "geojson": {"type": "Point"}}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("geojson")), "{body}");
    let auditor = login(&app, "audit.city").await;
    assert_eq!(call(&app, "POST", &path, &auditor, Some(json!({"kind": "exclusion", "geojson": circle}))).await.0, 403);
    let t = chrono::Utc::now() - chrono::Duration::minutes(5);
    let fix = json!({"fixes": [{"time": t, "lat": 40.667, "lon": 122.235, "accuracy_m": 10, "battery_pct": 55}]});
    let r = app
        .client
        .post(app.url("/ingest/v1/fixes"))
        .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
        .json(&fix)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM alarms").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(kinds, ["exclusion_entry"], "the new fence applied to the next fix");
    let (status, view) = call(&app, "GET", &format!("/api/v1/persons/{someone}"), &li, None).await;
    assert_eq!(status, 200);
    assert_eq!(view["person"]["open_alarms"], 1);
    assert_eq!(view["phones"][0]["battery_pct"], 55);
    assert!(view["phones"][0]["enrolment_id"].as_str().unwrap().ends_with('…'), "identifiers are not shown whole");
    let centre = &view["fences"][0]["geometry"]["coordinates"];
    assert!(
        (centre[0].as_f64().unwrap() - 122.235).abs() < 1e-5 && (centre[1].as_f64().unwrap() - 40.667).abs() < 1e-5,
        "{centre}"
    );
    assert_eq!(view["last_position"]["lat"], 40.667);
    assert_eq!(view["bases"][0]["in_force"], true);
    let reads: i64 = app.count("SELECT count(*) FROM audit_log WHERE action = 'person.read'").await;
    assert_eq!(reads, 1);
    // Retiring: not by another office, then by the person's.
    assert_eq!(call(&app, "DELETE", &format!("/api/v1/fences/{fence}"), &zhao, None).await.0, 404);
    assert_eq!(call(&app, "DELETE", &format!("/api/v1/fences/{fence}"), &li, None).await.0, 204);
    let (_, view) = call(&app, "GET", &format!("/api/v1/persons/{someone}"), &li, None).await;
    assert!(view["fences"].as_array().unwrap().is_empty());
    // The organisations for the base map.
    let (_, orgs_list) = call(&app, "GET", "/api/v1/organisations", &li, None).await;
    let listed: Vec<(&str, bool)> = orgs_list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["in_scope"].as_bool().unwrap()))
        .collect();
    assert_eq!(listed, [("city", false), ("county", false), ("office", true)], "its office, under its county and city");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_fixes_commits_and_open_alarms() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    alarm(&app.db, someone, o.office, Kind::MockLocation).await;
    let t = chrono::Utc::now() - chrono::Duration::minutes(5);
    let fixes = json!({"fixes": [{"time": t, "lat": 40.66, "lon": 122.23}, {"time": t, "lat": 91.0, "lon": 122.23}]});
    let r = app
        .client
        .post(app.url("/ingest/v1/fixes"))
        .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
        .json(&fixes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"), "every reply names its request");
    let kept = app.client.get(app.url("/healthz")).header("x-request-id", "from-the-proxy-1").send().await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "from-the-proxy-1");
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "cctrack_fixes_accepted_total{protocol=\"native\"} 1",
        "cctrack_fixes_refused_total{protocol=\"native\"} 1",
        "cctrack_ingest_commit_seconds_count 1",
        "cctrack_alarms_open{kind=\"mock_location\"} 1",
        "cctrack_feed_position 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervision_record_persons_bases_levels_and_the_dashboard() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.county, "wang.county", Role::CountyAdmin).await;
    account(&app.db, o.other_county, "zhao.county", Role::CountyAdmin).await;
    account(&app.db, o.city, "audit.city", Role::Auditor).await;
    let (li, wang, zhao, auditor) = (
        login(&app, "li.office").await,
        login(&app, "wang.county").await,
        login(&app, "zhao.county").await,
        login(&app, "audit.city").await,
    );
    // The office adds a person, with their consent.
    let new = json!({"office_id": o.office, "name": "王五", "correction_type": "probation", "term_start": "2026-12-01",
                     "term_end": "2027-12-01", "level": "ordinary", "consent_ref": "承诺书2026-118"});
    let (status, body) = call(&app, "POST", "/api/v1/persons", &li, Some(new.clone())).await;
    assert_eq!(status, 201, "{body}");
    let someone = body["id"].as_i64().unwrap();
    let mut bad = new.clone();
    bad["level"] = json!("medium");
    assert_eq!(call(&app, "POST", "/api/v1/persons", &li, Some(bad)).await.1["field"], "level");
    let mut elsewhere = new.clone();
    elsewhere["office_id"] = json!(o.other_office);
    assert_eq!(call(&app, "POST", "/api/v1/persons", &li, Some(elsewhere)).await.0, 404, "another county's office");
    assert_eq!(call(&app, "POST", "/api/v1/persons", &auditor, Some(new.clone())).await.0, 403);
    let next: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT next_due_at FROM persons WHERE id = $1")
            .bind(someone)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(next.is_some(), "polled from the consent on");
    // Art. 29 orders: at most three months, approved by the county.
    let start = chrono::Utc::now();
    let order = |days: i64| json!({"kind": "order", "starts_at": start, "ends_at": start + chrono::Duration::days(days), "document_ref": "站前矫定〔2026〕12号"});
    let path = format!("/api/v1/persons/{someone}/bases");
    let (status, body) = call(&app, "POST", &path, &li, Some(order(90))).await;
    assert_eq!(status, 403, "an office cannot approve an order: {body}");
    assert!(body["message"].as_str().unwrap().contains("第二十九条"));
    let (status, body) = call(&app, "POST", &path, &wang, Some(order(93))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("ends_at")));
    assert!(body["message"].as_str().unwrap().contains("three months"), "{body}");
    let (status, body) =
        call(&app, "POST", &path, &wang, Some(json!({"kind": "order", "starts_at": start, "document_ref": "x"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("ends_at")));
    assert_eq!(call(&app, "POST", &path, &zhao, Some(order(90))).await.0, 404, "another county");
    let (status, body) = call(&app, "POST", &path, &wang, Some(order(90))).await;
    assert_eq!(status, 201, "{body}");
    let basis = body["id"].as_i64().unwrap();
    assert_eq!(call(&app, "DELETE", &format!("/api/v1/bases/{basis}"), &wang, None).await.0, 204);
    assert_eq!(call(&app, "DELETE", &format!("/api/v1/bases/{basis}"), &wang, None).await.0, 409);
    // Level assessment: the office proposes with item scores, the county approves, the level changes.
    let apath = format!("/api/v1/persons/{someone}/assessments");
    let proposal = json!({"scores": {"犯罪类型": 8, "悔罪表现": 5, "社会关系": 12}, "proposed_level": "strict", "proposed_key": true});
    let (status, body) = call(&app, "POST", &apath, &li, Some(proposal)).await;
    assert_eq!(status, 201, "{body}");
    let assessment = body["id"].as_i64().unwrap();
    let (status, body) =
        call(&app, "POST", &apath, &li, Some(json!({"scores": {"犯罪类型": 101}, "proposed_level": "strict"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("scores")));
    assert_eq!(
        call(&app, "POST", &format!("/api/v1/assessments/{assessment}/approve"), &li, None).await.0,
        403,
        "the county approves"
    );
    assert_eq!(call(&app, "POST", &format!("/api/v1/assessments/{assessment}/approve"), &zhao, None).await.0, 404);
    let (status, a) = call(
        &app,
        "POST",
        &format!("/api/v1/assessments/{assessment}/approve"),
        &wang,
        Some(json!({"note": "同意调整为严管"})),
    )
    .await;
    assert_eq!((status, a["state"].as_str(), a["total"].as_i64()), (200, Some("approved"), Some(25)));
    assert_eq!(call(&app, "POST", &format!("/api/v1/assessments/{assessment}/reject"), &wang, None).await.0, 409);
    let (level, key, interval): (String, bool, Option<i16>) =
        sqlx::query_as("SELECT level, is_key, key_interval_min FROM persons WHERE id = $1")
            .bind(someone)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((level.as_str(), key, interval), ("strict", true, Some(60)));
    let (_, filed) = call(&app, "GET", &apath, &auditor, None).await;
    assert_eq!(filed["items"][0]["decided_by"], "wang.county", "the city sees it filed");
    // The dashboard, in scope.
    alarm(&app.db, someone, o.office, Kind::MockLocation).await;
    let (_, d) = call(&app, "GET", "/api/v1/dashboard", &wang, None).await;
    assert_eq!((d["persons"]["strict"].as_i64(), d["persons"]["key"].as_i64()), (Some(1), Some(1)));
    assert_eq!(d["open_alarms"][0]["kind"], "mock_location");
    assert_eq!(d["alarms_last_7_days"][0]["count"], 1);
    let (_, other) = call(&app, "GET", "/api/v1/dashboard", &zhao, None).await;
    assert_eq!(other["persons"]["total"], 0, "another county sees none of it");
    // Release: no longer polled, phones retired; twice is a conflict.
    let p = phone(&app.db, someone, Protocol::Osmand).await;
    assert_eq!(call(&app, "POST", &format!("/api/v1/persons/{someone}/release"), &li, None).await.0, 204);
    assert_eq!(call(&app, "POST", &format!("/api/v1/persons/{someone}/release"), &li, None).await.0, 409);
    let retired: bool = sqlx::query_scalar("SELECT retired_at IS NOT NULL FROM devices WHERE id = $1")
        .bind(p.device_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(retired);
    let audited: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE person_id = $1 ORDER BY id")
        .bind(someone)
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        audited,
        [
            "person.create",
            "basis.create",
            "basis.revoke",
            "assessment.propose",
            "assessment.approve",
            "device.enrol",
            "person.release"
        ]
    );
    app.stop().await;
}
