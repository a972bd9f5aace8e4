//! A device credential works only for its own protocol and only while the device is active:
//! every protocol × every other protocol's credential × retired, each answered exactly as an
//! unknown device, with nothing stored. Inputs no identifier can hold (NUL) are refused as
//! client errors, never as an outage.

use serde_json::json;
use tracker::device::Protocol;

use crate::helpers::{basic, encode, orgs, person, phone, raw_http, spawn_app, Phone, TestApp};

type Headers = Vec<(String, Vec<u8>)>;

/// Posts one good fix for `p` through `protocol`'s endpoint, using `p`'s credentials in the
/// form that endpoint takes; returns the status.
async fn post_as(app: &TestApp, protocol: Protocol, p: &Phone, minute: i64) -> u16 {
    let t = chrono::Utc::now() - chrono::Duration::minutes(60 - minute);
    match protocol {
        Protocol::Osmand => {
            let target = format!(
                "/?id={}&timestamp={}&lat=40.667&lon=122.235&accuracy=10",
                encode(&p.enrolment_id),
                t.timestamp()
            );
            raw_http(&app.osmand, "GET", &target, &[], b"").await.0
        }
        Protocol::Native => {
            let body = json!({"fixes": [{"time": t, "lat": 40.667, "lon": 122.235, "accuracy_m": 10}]});
            app.client
                .post(app.url("/ingest/v1/fixes"))
                .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
        Protocol::Owntracks => {
            let body = json!({"_type": "location", "tst": t.timestamp(), "lat": 40.667, "lon": 122.235, "acc": 10});
            app.client
                .post(app.url("/ingest/owntracks"))
                .basic_auth(&p.enrolment_id, Some(&p.token))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    }
}

/// What each endpoint answers an unknown device.
fn unknown_answer(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Osmand => 403,
        Protocol::Native | Protocol::Owntracks => 401,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_works_only_for_its_own_protocol_and_only_while_active() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "张三").await;
    let mut active = Vec::new();
    let mut retired = Vec::new();
    for protocol in Protocol::ALL {
        active.push((protocol, phone(&app.db, someone, protocol).await));
        let gone = phone(&app.db, someone, protocol).await;
        tracker::device::retire(&app.db.pool, gone.device_id, &tracker::audit::Actor::default())
            .await
            .unwrap()
            .expect("retired");
        retired.push((protocol, gone));
    }
    let mut minute = 0;
    let mut accepted = 0;
    for endpoint in Protocol::ALL {
        for (owner, p) in &active {
            minute += 1;
            let status = post_as(&app, endpoint, p, minute).await;
            if *owner == endpoint {
                assert_eq!(status, 200, "{endpoint:?} with its own credential");
                accepted += 1;
            } else {
                assert_eq!(status, unknown_answer(endpoint), "{endpoint:?} with a {owner:?} credential");
            }
        }
        for (owner, p) in &retired {
            minute += 1;
            let status = post_as(&app, endpoint, p, minute).await;
            assert_eq!(status, unknown_answer(endpoint), "{endpoint:?} with a retired {owner:?} credential");
        }
    }
    assert_eq!(app.fixes().await, accepted, "only the fixes of a device's own protocol were stored");
    let by_device: Vec<(i64, i64)> =
        sqlx::query_as("SELECT device_id, count(*) FROM fixes GROUP BY device_id ORDER BY device_id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let mut want: Vec<(i64, i64)> = active.iter().map(|(_, p)| (p.device_id, 1)).collect();
    want.sort();
    assert_eq!(by_device, want);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traccar_json_form_is_bound_to_osmand_enrolments_too() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "李四").await;
    let native = phone(&app.db, someone, Protocol::Native).await;
    let osmand = phone(&app.db, someone, Protocol::Osmand).await;
    let body = |id: &str| {
        json!({"device_id": id, "location": {"timestamp": chrono::Utc::now() - chrono::Duration::minutes(5),
               "coords": {"latitude": 40.66, "longitude": 122.23, "accuracy": 8}}})
    };
    let send = |id: String| {
        let url = app.osmand_url("/");
        let client = app.client.clone();
        async move { client.post(url).json(&body(&id)).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(native.enrolment_id.clone()).await, 403);
    assert_eq!(send(osmand.enrolment_id.clone()).await, 200);
    assert_eq!(app.fixes().await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_postgres_cannot_store_are_client_errors() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    crate::helpers::account(&app.db, o.office, "li.office", tracker::staff::Role::OfficeStaff).await;
    let t = chrono::Utc::now().timestamp() - 60;
    let location = format!(r#"{{"_type":"location","tst":{t},"lat":40.6,"lon":122.2}}"#);
    // (listener, target, headers, body, the status it must get)
    let cases: Vec<(&str, &str, Headers, Vec<u8>, u16)> = vec![
        ("osmand", "/?id=%00&lat=40.66&lon=122.23", vec![], vec![], 403),
        ("osmand", "/?id=abc%00defgh&lat=40.66&lon=122.23", vec![], vec![], 403),
        (
            "main",
            "/api/v1/devices/%00",
            vec![("Authorization".into(), basic(b"li.office", b"pass-word-1"))],
            vec![],
            400,
        ),
        (
            "main",
            "/api/v1/devices/%00",
            vec![("Authorization".into(), basic(b"li\0office", b"pass-word-1"))],
            vec![],
            401,
        ),
        (
            "main",
            "/ingest/owntracks",
            vec![
                ("Authorization".into(), basic(b"abc\0defgh", b"token")),
                ("Content-Type".into(), b"application/json".to_vec()),
            ],
            location.clone().into_bytes(),
            401,
        ),
        (
            "main",
            "/ingest/v1/fixes",
            vec![("Authorization".into(), b"Bearer abc\0def.token".to_vec())],
            br#"{"fixes":[]}"#.to_vec(),
            400,
        ),
    ];
    for (listener, target, headers, body, want) in cases {
        let addr = if listener == "osmand" { &app.osmand } else { &app.main };
        let method = if target.starts_with("/api/v1/devices") {
            "DELETE"
        } else if body.is_empty() {
            "GET"
        } else {
            "POST"
        };
        let (status, head, reply) = raw_http(addr, method, target, &headers, &body).await;
        assert_eq!(status, want, "{method} {target}: {head} {}", String::from_utf8_lossy(&reply));
        assert!(!head.to_ascii_lowercase().contains("retry-after"), "not an outage: {head}");
    }
    assert_eq!(app.fixes().await, 0);
    app.stop().await;
}
