//! Property-based fuzzing of every ingest endpoint through the real server: arbitrary bodies,
//! query strings, headers and credentials. Whatever arrives: no 5xx, no panic (the server keeps
//! answering), and what is stored is exactly what was acknowledged — a refused request stores
//! nothing, a native reply's `accepted` is the number of new rows, an OsmAnd or OwnTracks 200
//! stores at most its one fix.

use cctrack_tests::inputs::{self, arb_json, arb_query};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use tracker::device::Protocol;

use crate::helpers::{basic, encode, orgs, person, phone, raw_http, spawn_app, Phone, TestApp};

const CASES: u32 = 500;

/// Extra headers: content types that lie, bytes no header may hold, long values.
fn arb_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(vec!["Content-Type", "X-Forwarded-For", "Accept", "Content-Encoding", "X-Junk"]);
    let value = prop_oneof![
        prop::sample::select(vec![
            b"application/json".to_vec(),
            b"application/x-www-form-urlencoded".to_vec(),
            b"text/plain; charset=gbk".to_vec(),
            b"gzip".to_vec(),
            vec![0u8],
            "\u{8dc3}".as_bytes().to_vec(),
        ]),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec((name.prop_map(str::to_string), value), 0..3)
}

/// A body: random bytes, arbitrary JSON, or a native batch of fixes with edge values.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    let fix = (
        (inputs::lat(), inputs::lon(), prop::option::of(inputs::accuracy()), prop::option::of(inputs::seq())),
        (prop::option::of(inputs::speed()), prop::option::of(inputs::course()), prop::option::of(inputs::altitude())),
        (prop::option::of(inputs::battery()), prop::option::of(inputs::crs()), 0i64..7200, any::<bool>()),
    )
        .prop_map(|((lat, lon, acc, seq), (speed, course, alt), (batt, crs, ago, zone_less))| {
            let t = chrono::Utc::now() - chrono::Duration::seconds(ago);
            let time = if zone_less {
                json!(t.with_timezone(&tracker::time::shanghai()).format("%Y-%m-%d %H:%M:%S").to_string())
            } else {
                json!(t)
            };
            json!({"seq": seq, "time": time, "lat": lat, "lon": lon, "accuracy_m": acc, "speed_mps": speed,
                   "course_deg": course, "altitude_m": alt, "battery_pct": batt, "crs": crs})
        });
    let batch = (prop::collection::vec(fix, 1..6), inputs::crs())
        .prop_map(|(fixes, crs)| json!({"crs": crs, "fixes": fixes}).to_string().into_bytes());
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        2 => batch,
    ]
}

/// An OwnTracks message: a location with edge values, or anything.
fn arb_owntracks() -> impl Strategy<Value = Vec<u8>> {
    let location = (
        (inputs::lat(), inputs::lon(), prop::option::of(inputs::accuracy()), 0i64..7200),
        (prop::option::of(inputs::speed()), prop::option::of(inputs::course()), prop::option::of(inputs::battery())),
    )
        .prop_map(|((lat, lon, acc, ago), (vel, cog, batt))| {
            let tst = chrono::Utc::now().timestamp() - ago;
            // OwnTracks sends km/h.
            let vel = vel.map(|v| v * 3.6);
            json!({"_type": "location", "tst": tst, "lat": lat, "lon": lon, "acc": acc, "vel": vel, "cog": cog, "batt": batt})
                .to_string()
                .into_bytes()
        });
    prop_oneof![
        2 => location,
        1 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..80),
    ]
}

/// Credentials: the device's own (most of the time), or anything.
fn arb_credential() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        4 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        1 => ".{0,30}".prop_map(|s: String| Some(s.into_bytes())),
    ]
}

struct Outcome {
    status: u16,
    body: Vec<u8>,
    added: i64,
}

async fn send(
    app: &TestApp,
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Outcome {
    let before = app.fixes().await;
    let (status, _, body) = raw_http(addr, method, target, headers, body).await;
    Outcome { status, body, added: app.fixes().await - before }
}

fn no_5xx(o: &Outcome, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(o.status < 500, "{what} → {} {}", o.status, String::from_utf8_lossy(&o.body));
    Ok(())
}

/// A single-fix protocol's answer: a 200 stored at most its one fix (none for a duplicate),
/// anything else stored nothing.
fn stored_as_acknowledged(o: &Outcome, what: &str) -> Result<(), TestCaseError> {
    no_5xx(o, what)?;
    if o.status == 200 {
        prop_assert!(o.added <= 1, "one request, one fix at most: {}", what);
    } else {
        prop_assert_eq!(o.added, 0, "a refused request stores nothing: {}", what);
    }
    Ok(())
}

async fn stop_shared(app: std::sync::Arc<TestApp>) {
    std::sync::Arc::try_unwrap(app).ok().expect("the fuzzer let go of the app").stop().await;
}

async fn fixture() -> (TestApp, Phone, Phone, Phone) {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "孙八").await;
    let native = phone(&app.db, someone, Protocol::Native).await;
    let osmand = phone(&app.db, someone, Protocol::Osmand).await;
    let owntracks = phone(&app.db, someone, Protocol::Owntracks).await;
    (app, native, osmand, owntracks)
}

/// Runs `cases` of the strategy `make` builds on a blocking thread (proptest is synchronous;
/// its recursive strategies cannot cross threads), each checked by `check` on the runtime.
async fn fuzz<S, M, F, Fut>(cases: u32, make: M, check: F)
where
    S: Strategy,
    M: FnOnce() -> S + Send + 'static,
    F: Fn(S::Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), TestCaseError>>,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let strategy = make();
        let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        let result = runner.run(&strategy, |input| handle.block_on(check(input)));
        if let Err(e) = result {
            panic!("{e}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_ingest_survives_anything_and_stores_what_it_acknowledges() {
    let (app, native, _, _) = fixture().await;
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    let good = format!("Bearer {}.{}", native.enrolment_id, native.token).into_bytes();
    fuzz(
        CASES,
        || (arb_body(), arb_headers(), arb_credential()),
        move |(body, mut headers, credential)| {
            let app = a.clone();
            let auth = credential.map(|c| [b"Bearer ".to_vec(), c].concat()).unwrap_or_else(|| good.clone());
            headers.push(("Authorization".into(), auth));
            async move {
                let o = send(&app, &app.main, "POST", "/ingest/v1/fixes", &headers, &body).await;
                no_5xx(&o, &String::from_utf8_lossy(&body))?;
                if o.status == 200 {
                    let reply: Value = serde_json::from_slice(&o.body).expect("a 200 carries a report");
                    prop_assert_eq!(o.added, reply["accepted"].as_i64().unwrap(), "stored = acknowledged: {}", reply);
                } else {
                    prop_assert_eq!(o.added, 0, "a refused request stores nothing");
                }
                Ok(())
            }
        },
    )
    .await;
    stop_shared(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osmand_ingest_survives_anything_and_stores_what_it_acknowledges() {
    let (app, _, osmand, _) = fixture().await;
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    let id = osmand.enrolment_id.clone();
    let strategy = || {
        let query = prop_oneof![3 => inputs::osmand_query().boxed(), 1 => arb_query().boxed()];
        (query, arb_credential(), any::<bool>(), arb_headers(), prop::option::of(arb_json()))
    };
    fuzz(CASES, strategy, move |(mut params, credential, post, headers, json_body)| {
        let app = a.clone();
        let device = match credential {
            None => id.clone(),
            Some(c) => String::from_utf8_lossy(&c).into_owned(),
        };
        params.insert("id".into(), device.clone());
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        let target = format!("/?{}", query.join("&"));
        async move {
            let (method, mut headers, body) = match json_body {
                Some(mut v) => {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("device_id".into(), json!(device));
                    }
                    let mut h = headers;
                    h.push(("Content-Type".into(), b"application/json".to_vec()));
                    ("POST", h, v.to_string().into_bytes())
                }
                None => (if post { "POST" } else { "GET" }, headers, Vec::new()),
            };
            headers.retain(|(k, _)| k != "Content-Encoding");
            let o = send(&app, &app.osmand, method, &target, &headers, &body).await;
            stored_as_acknowledged(&o, &target)
        }
    })
    .await;
    stop_shared(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owntracks_ingest_survives_anything_and_stores_what_it_acknowledges() {
    let (app, _, _, owntracks) = fixture().await;
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    let good = basic(owntracks.enrolment_id.as_bytes(), owntracks.token.as_bytes());
    let strategy = || (arb_owntracks(), arb_headers(), arb_credential(), any::<bool>());
    fuzz(CASES, strategy, move |(body, mut headers, credential, user_only)| {
        let app = a.clone();
        let auth = match credential {
            None => good.clone(),
            Some(c) if user_only => basic(&c, b"token"),
            Some(c) => [b"Basic ".to_vec(), c].concat(),
        };
        headers.push(("Authorization".into(), auth));
        async move {
            let o = send(&app, &app.main, "POST", "/ingest/owntracks", &headers, &body).await;
            stored_as_acknowledged(&o, &String::from_utf8_lossy(&body))
        }
    })
    .await;
    stop_shared(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_routes_survive_anything() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    crate::helpers::account(&app.db, o.office, "li.office", tracker::staff::Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "周九").await;
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    let paths = prop::sample::select(vec![
        format!("/api/v1/persons/{someone}/devices"),
        "/api/v1/persons/-1/devices".to_string(),
        "/api/v1/persons/99999999999999999999/devices".to_string(),
        "/api/v1/devices/%00".to_string(),
        "/api/v1/devices/abcdefgh".to_string(),
        "/api/v1/devices/abcdefgh/reenrol".to_string(),
        "/api/v1/devices/99999999".to_string(),
        "/api/v1/devices/99999999/reenrol".to_string(),
    ]);
    let methods = prop::sample::select(vec!["POST", "DELETE", "GET", "PUT"]);
    let strategy = move || (paths, methods, arb_json(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..20));
    // Few cases: each runs argon2 once or twice.
    fuzz(60, strategy, move |(path, method, body, good, user)| {
        let app = a.clone();
        async move {
            let auth = if good { basic(b"li.office", b"pass-word-1") } else { basic(&user, b"pass-word-1") };
            let o =
                send(&app, &app.main, method, &path, &[("Authorization".into(), auth)], body.to_string().as_bytes())
                    .await;
            no_5xx(&o, &format!("{method} {path}"))
        }
    })
    .await;
    stop_shared(app).await;
}
