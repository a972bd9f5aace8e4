//! What an attacker would try against the staff half: another site's page using credentials the
//! browser holds, a proxy's address standing for every client, a stream outliving its session,
//! guesses at a phone's token, a reset account keeping its old sessions; and every change
//! leaving its audit row.

use std::time::Duration;

use serde_json::{json, Value};
use tracker::device::Protocol;
use tracker::staff::Role;

use crate::helpers::{account, alarm, login, orgs, person, phone, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_never_serve_another_sites_page_and_are_never_asked_for() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "张三").await;
    // A 401 never makes a browser prompt for (and then remember) basic credentials.
    let r = app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let enrol = |headers: Vec<(&'static str, String)>| {
        let mut r = app
            .client
            .post(app.url(&format!("/api/v1/persons/{someone}/devices")))
            .basic_auth("li.office", Some(PASSWORD))
            .header("Content-Type", "text/plain")
            .body(r#"{"protocol":"osmand"}"#);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move {
            let reply = r.send().await.unwrap();
            (reply.status().as_u16(), reply.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(enrol(vec![("Origin", "http://evil.example".into())]).await.0, 403, "a form on another site");
    assert_eq!(enrol(vec![("Sec-Fetch-Site", "cross-site".into())]).await.0, 403);
    assert_eq!(app.count("SELECT count(*) FROM devices").await, 0, "nothing was enrolled");
    let (status, e) = enrol(vec![("Origin", format!("http://{}", app.main))]).await;
    assert_eq!(status, 201, "this site's own page: {e}");
    assert_eq!(enrol(vec![]).await.0, 201, "a client that is not a browser");
    // Devices are named by id in paths; enrolment and retirement are audited with the change.
    let (status, _) = app.staff("DELETE", &format!("/api/v1/devices/{}", e["device_id"]), "li.office", None).await;
    assert_eq!(status, 200);
    let audited: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.action, s.username FROM audit_log a LEFT JOIN staff s ON s.id = a.staff_id
         WHERE a.action LIKE 'device.%' ORDER BY a.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let li = Some("li.office".to_string());
    assert_eq!(
        audited,
        [("device.enrol".into(), li.clone()), ("device.enrol".into(), li.clone()), ("device.retire".into(), li)]
    );
    // A path id that is not a number is a client error naming the path, as JSON.
    let (status, body) = app.staff("DELETE", "/api/v1/devices/abc", "li.office", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("path")), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_is_limited_by_its_own_address() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.login.max_failures_per_address = 3;
    })
    .await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let log_in = |forwarded_for: &'static str, user: &'static str, password: &'static str| {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", forwarded_for)
            .header("X-Forwarded-Proto", "https")
            .json(&json!({"username": user, "password": password}));
        async move { r.send().await.unwrap() }
    };
    // Whatever a client puts in front, the address the proxy saw is the rightmost.
    for i in 0..3 {
        let guess: &'static str = ["a.office", "b.office", "c.office"][i];
        assert_eq!(log_in("10.9.9.9, 203.0.113.7", guess, "x").await.status(), 401);
    }
    assert_eq!(log_in("203.0.113.7", "li.office", PASSWORD).await.status(), 429, "that client is locked");
    let r = log_in("203.0.113.8", "li.office", PASSWORD).await;
    assert_eq!(r.status(), 200, "another client behind the same proxy is not");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "the client came over TLS: {cookie}");
    let addresses: Vec<Option<String>> =
        sqlx::query_scalar("SELECT DISTINCT address FROM audit_log ORDER BY 1").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(addresses, [Some("203.0.113.7".to_string()), Some("203.0.113.8".to_string())]);
    app.stop().await;

    // Without a trusted proxy the header is the client's own claim, and ignored.
    let app = spawn_app_with(|c| c.login.max_failures_per_address = 2).await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    for (n, forwarded) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({"username": format!("guess{n}.office"), "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "198.51.100.3")
        .json(&json!({"username": "li.office", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "a forged header does not escape the limit");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_ends_with_its_session() {
    let app = spawn_app_with(|c| c.sessions.recheck = Duration::from_millis(500)).await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let token = login(&app, "li.office").await;
    let mut stream = app.client.get(app.url("/api/v1/events")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let r = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue, // keep-alive comments
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived the logout");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_at_a_phones_token_are_bounded_and_do_not_lock_out_a_phone_in_use() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "王五").await;
    let used = phone(&app.db, someone, Protocol::Native).await;
    let idle = phone(&app.db, someone, Protocol::Native).await;
    let send = |enrolment: String, token: String, minute: i64| {
        let fix = json!({"time": chrono::Utc::now() - chrono::Duration::minutes(60 - minute), "lat": 40.66, "lon": 122.23, "accuracy_m": 10});
        let r = app
            .client
            .post(app.url("/ingest/v1/fixes"))
            .bearer_auth(format!("{enrolment}.{token}"))
            .json(&json!({"fixes": [fix]}));
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(used.enrolment_id.clone(), used.token.clone(), 0).await, 200);
    for i in 0..8 {
        assert_eq!(send(used.enrolment_id.clone(), format!("guess{i}"), 1).await, 401);
        assert_eq!(send(idle.enrolment_id.clone(), format!("guess{i}"), 1).await, 401);
    }
    assert_eq!(send(used.enrolment_id.clone(), used.token.clone(), 2).await, 200, "the phone in use goes on");
    // A phone not verified in this process waits out the window after a run of wrong tokens:
    // the guesses cost no more verifications.
    assert_eq!(send(idle.enrolment_id.clone(), idle.token.clone(), 2).await, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resetting_an_account_ends_its_sessions_and_command_line_handling_is_audited() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let token = login(&app, "li.office").await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await; // `cctrack staff add` again
    let r = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401, "the reset account's old session is dead");
    let someone = person(&app.db, o.office, "赵六").await;
    let a = alarm(&app.db, someone, o.office, tracker::alarm::Kind::MockLocation).await;
    let li = tracker::alarm::handling::principal(&app.db.pool, "li.office").await.unwrap().unwrap();
    tracker::alarm::handling::act(&app.db.pool, a, &li, None, tracker::alarm::Action::Acknowledge).await.unwrap();
    let audited =
        app.count("SELECT count(*) FROM audit_log WHERE action = 'alarm.acknowledge' AND address IS NULL").await;
    assert_eq!(audited, 1);
    app.stop().await;
}
