//! Ingest end to end: a real `cctrack serve` on a test database, phones simulated with the
//! requests Traccar Client, OwnTracks and the native API really send, and the results read back
//! with `cctrack track` / `cctrack alarms` as staff would.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use common::{cctrack, http, run_json, Server};

/// 营口 city centre (WGS-84) and a point 5 km east of it.
const HOME: (f64, f64) = (122.235, 40.667);
const FAR_EAST_LON: f64 = 122.294;

struct World {
    db: cctrack_tests::TestDb,
    person: i64,
}

/// A county, an office and one person with consent.
async fn world() -> World {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let person = common::add_person(&db, office, "张三");
    World { db, person }
}

async fn enrol(w: &World, protocol: &str) -> (String, String) {
    common::enrol_phone(&w.db, w.person, protocol).await
}

fn add_fence(w: &World, kind: &str, geojson: &Value, extra: &[&str]) -> i64 {
    let path = std::env::temp_dir().join(format!("cctrack-fence-{}-{}.geojson", std::process::id(), rand_suffix()));
    std::fs::write(&path, geojson.to_string()).unwrap();
    let mut cmd = cctrack(&w.db.url);
    cmd.args(["fence", "add", "--person", &w.person.to_string(), "--kind", kind, "--geojson"])
        .arg(&path)
        .args(extra)
        .arg("--json");
    let out = run_json(&mut cmd);
    std::fs::remove_file(&path).unwrap();
    out["id"].as_i64().unwrap()
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}

fn circle(lon: f64, lat: f64, radius_m: f64) -> Value {
    json!({"type": "Feature", "properties": {"radius_m": radius_m}, "geometry": {"type": "Point", "coordinates": [lon, lat]}})
}

fn track(w: &World) -> Vec<Value> {
    run_json(cctrack(&w.db.url).args(["track", "--person", &w.person.to_string(), "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

fn alarms(w: &World) -> Vec<Value> {
    run_json(cctrack(&w.db.url).args(["alarms", "--person", &w.person.to_string(), "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn native(server: &Server, auth: &str, body: &Value) -> (u16, Value) {
    let (status, _, body) = http(
        &server.main,
        "POST",
        "/ingest/v1/fixes",
        &[("Authorization", auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn native_batches_are_validated_deduplicated_and_stored() {
    let w = world().await;
    let (enrolment, token) = enrol(&w, "native").await;
    let server = Server::start(&w.db.url);
    let auth = format!("Bearer {enrolment}.{token}");
    let t0 = Utc::now() - Duration::minutes(30);
    let batch = json!({"fixes": [
        {"seq": 1, "time": iso(t0), "lat": HOME.1, "lon": HOME.0, "accuracy_m": 10, "source": "gps", "battery_pct": 80},
        {"seq": 2, "time": iso(t0 + Duration::minutes(1)), "lat": 91.0, "lon": HOME.0},
        {"seq": 3, "time": iso(t0 + Duration::minutes(2)), "lat": HOME.1, "lon": HOME.0 + 0.001, "accuracy_m": 12},
        {"seq": 4, "time": iso(Utc::now() + Duration::hours(1)), "lat": HOME.1, "lon": HOME.0},
    ]});
    let (status, reply) = native(&server, &auth, &batch);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["duplicates"], 0);
    let fields: Vec<&str> = reply["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["fixes[1].lat", "fixes[3].time"]);

    // A phone re-sends after a timeout: nothing is stored twice.
    let (status, reply) = native(&server, &auth, &batch);
    assert_eq!(status, 200);
    assert_eq!((reply["accepted"].as_u64(), reply["duplicates"].as_u64()), (Some(0), Some(2)));
    // Same time under a new sequence number is a duplicate too.
    let again = json!({"fixes": [{"seq": 99, "time": iso(t0), "lat": HOME.1, "lon": HOME.0}]});
    assert_eq!(native(&server, &auth, &again).1["duplicates"], 1);

    // Out of order: an older fix arriving late is stored and the track stays in time order.
    let late = json!({"fixes": [{"seq": 5, "time": iso(t0 - Duration::minutes(5)), "lat": HOME.1, "lon": HOME.0, "accuracy_m": 8}]});
    assert_eq!(native(&server, &auth, &late).1["accepted"], 1);
    let points = track(&w);
    assert_eq!(points.len(), 3);
    let times: Vec<&str> = points.iter().map(|p| p["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);

    // GCJ-02 input is stored in WGS-84.
    let (glon, glat) = geofence::crs::wgs84_to_gcj02(HOME.0, HOME.1);
    let gcj = json!({"crs": "gcj02", "fixes": [{"seq": 6, "time": iso(t0 + Duration::minutes(3)), "lat": glat, "lon": glon, "accuracy_m": 5}]});
    assert_eq!(native(&server, &auth, &gcj).1["accepted"], 1);
    let stored = track(&w).into_iter().find(|p| p["input_crs"] == "gcj02").unwrap();
    let err_m = geofence::distance_m((stored["lon"].as_f64().unwrap(), stored["lat"].as_f64().unwrap()), HOME);
    assert!(err_m < 0.5, "GCJ-02 round trip off by {err_m} m");

    // Refusals: no token, wrong token, bad JSON, all items bad.
    assert_eq!(native(&server, "", &batch).0, 401);
    assert_eq!(native(&server, &format!("Bearer {enrolment}.wrong"), &batch).0, 401);
    let (status, _, body) = http(&server.main, "POST", "/ingest/v1/fixes", &[("Authorization", &auth)], b"{not json");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, reply) = native(&server, &auth, &json!({"fixes": [{"time": iso(t0), "lat": 1, "lon": 400}]}));
    assert_eq!((status, reply["errors"][0]["field"].as_str()), (422, Some("fixes[0].lon")));
    let (status, reply) = native(&server, &auth, &json!({"fixes": "nope"}));
    assert_eq!((status, reply["field"].as_str()), (400, Some("fixes")));

    // One sequence number twice in one batch, with different times: the second is a duplicate.
    let before = track(&w).len();
    let twice = json!({"fixes": [
        {"seq": 7, "time": iso(t0 + Duration::minutes(4)), "lat": HOME.1, "lon": HOME.0},
        {"seq": 7, "time": iso(t0 + Duration::minutes(5)), "lat": HOME.1, "lon": HOME.0},
    ]});
    let (status, reply) = native(&server, &auth, &twice);
    assert_eq!((status, reply["accepted"].as_u64(), reply["duplicates"].as_u64()), (200, Some(1), Some(1)), "{reply}");
    assert_eq!(track(&w).len(), before + 1);

    // A known number under a new time is a duplicate; numbers continuing the device's run are
    // stored (seqs 1, 3 and 5-7 are known here), and then known.
    let fix = |seq: u64, minutes: i64| json!({"seq": seq, "time": iso(t0 + Duration::minutes(minutes)), "lat": HOME.1, "lon": HOME.0});
    let counts = |reply: &Value| (reply["accepted"].as_u64(), reply["duplicates"].as_u64());
    assert_eq!(counts(&native(&server, &auth, &json!({"fixes": [fix(3, 20)]})).1), (Some(0), Some(1)));
    assert_eq!(counts(&native(&server, &auth, &json!({"fixes": [fix(8, 21), fix(9, 22)]})).1), (Some(2), Some(0)));
    assert_eq!(counts(&native(&server, &auth, &json!({"fixes": [fix(9, 23), fix(10, 24)]})).1), (Some(1), Some(1)));
    assert_eq!(
        counts(&native(&server, &auth, &json!({"fixes": [fix(2, 25), fix(4, 26), fix(6, 27)]})).1),
        (Some(2), Some(1))
    );
    let runs: Vec<(i64, i64)> = sqlx::query_as("SELECT first_seq, last_seq FROM fix_sequence_runs ORDER BY first_seq")
        .fetch_all(&w.db.pool)
        .await
        .unwrap();
    let recorded: Vec<i64> = runs.iter().flat_map(|&(first, last)| first..=last).collect();
    assert_eq!(recorded, (1..=10).collect::<Vec<_>>(), "runs {runs:?} record each stored number once");
    assert!(runs.contains(&(5, 10)), "numbers continuing a run extend it: {runs:?}");
}

#[tokio::test]
async fn traccar_client_and_owntracks_requests_as_the_apps_send_them() {
    let w = world().await;
    let (osmand_id, _) = enrol(&w, "osmand").await;
    let (ot_user, ot_pass) = enrol(&w, "owntracks").await;
    let server = Server::start(&w.db.url);
    let t = Utc::now() - Duration::minutes(10);

    // Legacy Android Traccar Client: POST, empty body, everything in the query, speed in knots.
    let q = format!("/?id={osmand_id}&timestamp={}&lat={}&lon={}&speed=10.0&bearing=90.0&altitude=5.0&accuracy=0.0&batt=87.0&charge=true", t.timestamp(), HOME.1, HOME.0);
    let (status, _, body) = http(&server.osmand, "POST", &q, &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The same by GET is a duplicate, still 200 so the app moves on.
    assert_eq!(http(&server.osmand, "GET", &q, &[], b"").0, 200);
    // Flutter Traccar Client JSON form.
    let flutter = json!({"location": {"timestamp": iso(t + Duration::seconds(30)), "coords": {"latitude": HOME.1, "longitude": HOME.0, "accuracy": 5, "speed": 1.5, "heading": -1, "altitude": 5}, "is_moving": true, "battery": {"level": 0.5, "is_charging": false}, "extras": {}}, "device_id": osmand_id});
    let (status, _, _) =
        http(&server.osmand, "POST", "/", &[("Content-Type", "application/json")], flutter.to_string().as_bytes());
    assert_eq!(status, 200);
    // Unknown device: refused, with the same answer whatever the id.
    let (status, _, body) =
        http(&server.osmand, "POST", &format!("/?id=nosuchdevice&lat=1&lon=2&timestamp={}", t.timestamp()), &[], b"");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    // A bad fix is a 400 naming the field.
    let (status, _, body) =
        http(&server.osmand, "POST", &format!("/?id={osmand_id}&lat=95&lon=2&timestamp={}", t.timestamp()), &[], b"");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("lat"));

    // OwnTracks HTTP mode with basic auth.
    let basic = format!("Basic {}", base64(&format!("{ot_user}:{ot_pass}")));
    let loc = json!({"_type": "location", "acc": 10, "alt": 20, "batt": 30, "cog": 56, "conn": "w", "lat": HOME.1, "lon": HOME.0, "tid": "ph", "tst": (t + Duration::minutes(1)).timestamp(), "vel": 36});
    let (status, _, body) = http(
        &server.main,
        "POST",
        "/ingest/owntracks",
        &[("Authorization", &basic), ("Content-Type", "application/json; charset=utf-8")],
        loc.to_string().as_bytes(),
    );
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (200, "[]"));
    let other = json!({"_type": "transition", "event": "leave", "tst": t.timestamp()});
    let (status, _, body) =
        http(&server.main, "POST", "/ingest/owntracks", &[("Authorization", &basic)], other.to_string().as_bytes());
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (200, "[]"));
    let wrong = format!("Basic {}", base64(&format!("{ot_user}:nope")));
    assert_eq!(
        http(&server.main, "POST", "/ingest/owntracks", &[("Authorization", &wrong)], loc.to_string().as_bytes()).0,
        401
    );

    let points = track(&w);
    assert_eq!(points.len(), 3, "{points:#?}");
    assert!((points[0]["speed_mps"].as_f64().unwrap() - 5.144).abs() < 0.01, "knots → m/s");
    assert_eq!(points[0]["accuracy_m"], Value::Null, "accuracy=0 from the legacy app is not exact");
    assert_eq!(points[1]["battery_pct"], 50);
    assert!((points[2]["speed_mps"].as_f64().unwrap() - 10.0).abs() < 0.01, "km/h → m/s");
}

#[tokio::test]
async fn breaches_open_alarms_and_doubtful_fixes_ask_for_confirmation() {
    let w = world().await;
    let (enrolment, token) = enrol(&w, "native").await;
    let auth = format!("Bearer {enrolment}.{token}");
    let home = add_fence(&w, "inclusion", &circle(HOME.0, HOME.1, 1000.0), &[]);
    // A 禁止令 place 300 m north of home: a circle of 100 m.
    let school_lat = HOME.1 + 300.0 / 111_000.0;
    let school = add_fence(&w, "exclusion", &circle(HOME.0, school_lat, 100.0), &["--name", "学校"]);
    let server = Server::start(&w.db.url);
    let t0 = Utc::now() - Duration::hours(2);
    let send = |seq: i64, minutes: i64, lon: f64, lat: f64, acc: f64| {
        native(&server, &auth, &json!({"fixes": [{"seq": seq, "time": iso(t0 + Duration::minutes(minutes)), "lat": lat, "lon": lon, "accuracy_m": acc}]})).1
    };

    // At home: compliant, no alarm.
    let r = send(1, 0, HOME.0, HOME.1, 10.0);
    assert_eq!(r["accepted"], 1);
    assert!(alarms(&w).is_empty());
    // 20 m inside the border with a 200 m accuracy: doubtful → no alarm, a confirmation request.
    let border_lon = HOME.0 + 980.0 / (111_320.0 * HOME.1.to_radians().cos());
    let r = send(2, 10, border_lon, HOME.1, 200.0);
    assert_eq!(r["location_request"]["reason"], "confirm", "{r}");
    assert!(alarms(&w).is_empty(), "an uncertain fix never opens an alarm by itself");
    // A second doubtful result confirms: fence_exit opens.
    send(3, 12, border_lon, HOME.1, 200.0);
    let open = alarms(&w);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(
        (open[0]["kind"].as_str(), open[0]["state"].as_str(), open[0]["fence"].as_i64()),
        (Some("fence_exit"), Some("open"), Some(home))
    );
    // Definitely outside, 5 km away: evidence on the same alarm, not a second alarm.
    send(4, 30, FAR_EAST_LON, HOME.1, 15.0);
    let open = alarms(&w);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["evidence"], 2);
    // Back home: the return is recorded, the alarm stays open for staff to clear.
    send(5, 50, HOME.0, HOME.1, 10.0);
    let open = alarms(&w);
    assert_eq!(open[0]["state"], "open");
    assert!(open[0]["returned_inside_at"].is_string());
    // A late fix from the trip (taken before the return) is stored, attached, reopens nothing.
    send(6, 40, FAR_EAST_LON, HOME.1, 15.0);
    let after_late = alarms(&w);
    assert_eq!(after_late.len(), 1);
    assert_eq!(after_late[0]["evidence"], 3);
    assert!(after_late[0]["returned_inside_at"].is_string(), "a late fix does not undo the return");

    // Walks into the school zone with a precise fix: exclusion_entry at once.
    send(7, 60, HOME.0, school_lat, 10.0);
    let entry: Vec<Value> = alarms(&w).into_iter().filter(|a| a["kind"] == "exclusion_entry").collect();
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0]["fence"].as_i64(), Some(school));

    // An implausible jump (100 km in a minute) is doubtful, not a breach by itself.
    let far_lon = HOME.0 + 1.2;
    let r = send(8, 61, far_lon, HOME.1, 10.0);
    assert_eq!(r["location_request"]["reason"], "confirm");
    let stored = track(&w);
    assert!(stored.iter().any(|p| p["implausible"] == true));

    // Verdicts are kept with each fix, in metres.
    let at_home = &stored[0];
    let v = at_home["verdicts"].as_array().unwrap().iter().find(|v| v["fence"] == home).unwrap();
    assert_eq!(v["position"], "inside");
    assert!((v["distance_m"].as_f64().unwrap() - 1000.0).abs() < 1.0, "{v}");
}

#[tokio::test]
async fn a_person_without_legal_basis_is_not_located() {
    let w = world().await;
    let (enrolment, token) = enrol(&w, "native").await;
    sqlx::query("UPDATE legal_bases SET revoked_at = now() WHERE person_id = $1")
        .bind(w.person)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let server = Server::start(&w.db.url);
    let (status, reply) = native(
        &server,
        &format!("Bearer {enrolment}.{token}"),
        &json!({"fixes": [{"time": iso(Utc::now()), "lat": HOME.1, "lon": HOME.0}]}),
    );
    assert_eq!(status, 422);
    assert!(reply["errors"][0]["message"].as_str().unwrap().contains("legal basis"), "{reply}");
    assert!(track(&w).is_empty());
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| acc | (c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn a_fence_added_while_serving_applies_to_the_next_fix() {
    let w = world().await;
    let (enrolment, token) = enrol(&w, "native").await;
    let auth = format!("Bearer {enrolment}.{token}");
    let server = Server::start(&w.db.url);
    let t0 = Utc::now() - Duration::minutes(20);
    let fix = |seq: i64, minutes: i64| json!({"fixes": [{"seq": seq, "time": iso(t0 + Duration::minutes(minutes)), "lat": HOME.1, "lon": HOME.0, "accuracy_m": 10}]});
    assert_eq!(native(&server, &auth, &fix(1, 0)).1["accepted"], 1);
    assert!(alarms(&w).is_empty());
    // Staff draw an exclusion zone around the person's current position.
    let zone = add_fence(&w, "exclusion", &circle(HOME.0, HOME.1, 200.0), &["--name", "被害人住所"]);
    assert_eq!(native(&server, &auth, &fix(2, 1)).1["accepted"], 1);
    let open = alarms(&w);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!((open[0]["kind"].as_str(), open[0]["fence"].as_i64()), (Some("exclusion_entry"), Some(zone)));
}

#[tokio::test]
async fn concurrent_requests_are_committed_together_with_correct_replies() {
    let w = world().await;
    let office: i64 = sqlx::query_scalar("SELECT office_id FROM persons WHERE id = $1")
        .bind(w.person)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    // Three more persons, each with a phone.
    let mut auths = vec![];
    for i in 0..4 {
        let person = if i == 0 {
            w.person
        } else {
            run_json(cctrack(&w.db.url).args([
                "persons",
                "add",
                "--office",
                &office.to_string(),
                "--name",
                &format!("并发{i}"),
                "--json",
            ]))["id"]
                .as_i64()
                .unwrap()
        };
        let who = World {
            db: cctrack_tests::TestDb { pool: w.db.pool.clone(), name: w.db.name.clone(), url: w.db.url.clone() },
            person,
        };
        let (e, t) = enrol(&who, "native").await;
        auths.push(format!("Bearer {e}.{t}"));
    }
    let server = Server::start(&w.db.url);
    let t0 = Utc::now() - Duration::minutes(50);
    // 4 phones × 25 fixes, each request sent twice at once; one request per phone is invalid.
    let mut handles = vec![];
    for (p, auth) in auths.iter().enumerate() {
        for k in 0..25i64 {
            for copy in 0..2 {
                let (auth, main) = (auth.clone(), server.main.clone());
                let lat = if k == 13 { 95.0 } else { HOME.1 };
                let body = json!({"fixes": [{"seq": k, "time": iso(t0 + Duration::seconds(k * 10 + p as i64)), "lat": lat, "lon": HOME.0, "accuracy_m": 10}]});
                handles.push(std::thread::spawn(move || {
                    let (status, _, reply) = http(
                        &main,
                        "POST",
                        "/ingest/v1/fixes",
                        &[("Authorization", &auth)],
                        body.to_string().as_bytes(),
                    );
                    (p, k, copy, status, serde_json::from_slice::<Value>(&reply).unwrap())
                }));
            }
        }
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for h in handles {
        let (_, k, _, status, reply) = h.join().unwrap();
        if k == 13 {
            assert_eq!(status, 422, "{reply}");
            assert_eq!(reply["errors"][0]["field"], "fixes[0].lat");
            continue;
        }
        assert_eq!(status, 200, "{reply}");
        accepted += reply["accepted"].as_u64().unwrap();
        duplicates += reply["duplicates"].as_u64().unwrap();
    }
    assert_eq!((accepted, duplicates), (4 * 24, 4 * 24), "each fix stored once, its copy reported duplicate");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM fixes").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(stored, 4 * 24);
}

#[tokio::test]
async fn garbage_gets_a_4xx_naming_the_problem_never_a_5xx() {
    let w = world().await;
    let (native_id, native_token) = enrol(&w, "native").await;
    let (osmand_id, _) = enrol(&w, "osmand").await;
    let (ot_user, ot_pass) = enrol(&w, "owntracks").await;
    let server = Server::start(&w.db.url);
    let auth = format!("Bearer {native_id}.{native_token}");
    let basic = format!("Basic {}", base64(&format!("{ot_user}:{ot_pass}")));
    let t = Utc::now().timestamp();
    let huge = vec![b'x'; 2 * 1024 * 1024];
    // (listener, method, path, headers, body, expected status)
    type Case<'a> = (&'a str, &'a str, String, Vec<(&'a str, String)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("main", "POST", "/ingest/v1/fixes".into(), vec![("Authorization", auth.clone())], huge.clone(), 413),
        ("main", "POST", "/ingest/v1/fixes".into(), vec![("Authorization", auth.clone())], b"\xff\xfe".to_vec(), 400),
        (
            "main",
            "POST",
            "/ingest/v1/fixes".into(),
            vec![("Authorization", auth.clone())],
            br#"{"fixes":[null, 5, "x"]}"#.to_vec(),
            422,
        ),
        (
            "main",
            "POST",
            "/ingest/v1/fixes".into(),
            vec![("Authorization", "Bearer nodot".into())],
            b"{}".to_vec(),
            401,
        ),
        ("main", "GET", "/ingest/v1/fixes".into(), vec![], vec![], 405),
        ("main", "POST", "/ingest/owntracks".into(), vec![("Authorization", basic.clone())], b"[1,2]".to_vec(), 400),
        (
            "main",
            "POST",
            "/ingest/owntracks".into(),
            vec![("Authorization", basic.clone())],
            br#"{"_type":"location","lat":1e999,"lon":1,"tst":1}"#.to_vec(),
            400,
        ),
        ("main", "POST", "/ingest/owntracks".into(), vec![("Authorization", "Basic %%%".into())], b"{}".to_vec(), 401),
        ("main", "POST", "/ingest/owntracks".into(), vec![("Authorization", basic.clone())], huge.clone(), 413),
        ("osmand", "POST", format!("/?id={osmand_id}&lat=NaN&lon=1&timestamp={t}"), vec![], vec![], 400),
        ("osmand", "POST", format!("/?id={osmand_id}&lat=1&lon=1&timestamp=99999999999999999999"), vec![], vec![], 400),
        ("osmand", "POST", format!("/?id={osmand_id}&lat=1&lon=1&timestamp={t}&batt=250"), vec![], vec![], 400),
        ("osmand", "POST", format!("/?id={osmand_id}&lat=1&lon=1&timestamp={t}&speed=-5"), vec![], vec![], 400),
        ("osmand", "POST", "/?%zz=1".into(), vec![], vec![], 400),
        ("osmand", "POST", "/".into(), vec![("Content-Type", "application/json".into())], b"{".to_vec(), 400),
        (
            "osmand",
            "POST",
            "/".into(),
            vec![("Content-Type", "application/json".into())],
            br#"{"device_id":{},"location":1}"#.to_vec(),
            400,
        ),
        ("osmand", "POST", "/".into(), vec![], b"id=&lat=".to_vec(), 400),
        ("osmand", "POST", "/".into(), vec![], huge, 413),
    ];
    for (port, method, path, headers, body, want) in cases {
        let addr = if port == "main" { &server.main } else { &server.osmand };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, reply) = http(addr, method, &path, &headers, &body);
        let text = String::from_utf8_lossy(&reply);
        assert_eq!(status, want, "{method} {path}: {text}");
        if status == 400 {
            assert!(text.contains("\"field\""), "400 names the field: {text}");
        }
    }
    assert!(track(&w).is_empty(), "nothing stored from garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_zone_applies_to_its_subtree_and_leaving_it_is_recorded() {
    let w = world().await;
    let county: i64 = sqlx::query_scalar(
        "SELECT o.parent_id FROM organisations o JOIN persons p ON p.office_id = o.id WHERE p.id = $1",
    )
    .bind(w.person)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    // A 禁止令 zone for the whole county (a school, 200 m), stored once.
    let school_lat = HOME.1 + 0.01;
    let zone: i64 = sqlx::query_scalar(
        "INSERT INTO fences (organisation_id, name, kind, shape, geom, radius_m, applies_to_all)
         VALUES ($1, '学校', 'exclusion', 'circle', ST_SetSRID(ST_MakePoint($2, $3), 4326), 200, true) RETURNING id",
    )
    .bind(county)
    .bind(HOME.0)
    .bind(school_lat)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    // A person of another county, added after the zone: it does not apply to them.
    let other_office: i64 = sqlx::query_scalar(
        "WITH k AS (INSERT INTO organisations (kind, parent_id, name, adcode)
                    SELECT 'county', parent_id, '西市区', '210803' FROM organisations WHERE id = $1 RETURNING id)
         INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '渔市司法所' FROM k RETURNING id",
    )
    .bind(county)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    let other = common::add_person(&w.db, other_office, "李四");
    let (enrolment, token) = enrol(&w, "native").await;
    let (other_enrolment, other_token) = common::enrol_phone(&w.db, other, "native").await;
    let server = Server::start(&w.db.url);
    let t0 = Utc::now() - Duration::hours(1);
    let send = |auth: &str, minutes: i64, lat: f64, acc: f64| {
        native(&server, auth, &json!({"fixes": [{"time": iso(t0 + Duration::minutes(minutes)), "lat": lat, "lon": HOME.0, "accuracy_m": acc}]})).1
    };
    let me = format!("Bearer {enrolment}.{token}");
    let them = format!("Bearer {other_enrolment}.{other_token}");

    send(&me, 0, HOME.1, 10.0);
    assert!(alarms(&w).is_empty());
    send(&me, 10, school_lat, 10.0);
    let got = alarms(&w);
    assert_eq!(
        (got.len(), got[0]["kind"].as_str(), got[0]["fence"].as_i64()),
        (1, Some("exclusion_entry"), Some(zone))
    );
    // Leaving the zone: no verdict is reported that far from it, and the return is recorded.
    send(&me, 20, HOME.1, 10.0);
    assert!(alarms(&w)[0]["returned_inside_at"].is_string(), "{:#?}", alarms(&w));
    // A doubtful fix at the zone's edge asks for a confirmation; the next fix, far away, answers it.
    let edge = school_lat - 210.0 / 111_000.0;
    let r = send(&me, 30, edge, 100.0);
    assert_eq!(r["location_request"]["reason"], "confirm", "{r}");
    let r = send(&me, 31, HOME.1, 10.0);
    assert!(r["location_request"].is_null(), "the confirmation was answered: {r}");
    let states: Vec<String> = sqlx::query_scalar("SELECT state FROM location_requests WHERE person_id = $1")
        .bind(w.person)
        .fetch_all(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(states, ["answered"]);

    // The other county's person walks through the school: not their zone.
    send(&them, 10, school_lat, 10.0);
    let theirs = run_json(cctrack(&w.db.url).args(["alarms", "--person", &other.to_string(), "--json"]));
    assert_eq!(theirs.as_array().unwrap().len(), 0, "{theirs:#}");
    server.stop();
}
