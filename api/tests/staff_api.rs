//! The staff API for phones: enrolment and retirement over HTTP with a staff account, checked
//! against the account's organisation and role; and `cctrack device retire`.

mod common;

use serde_json::{json, Value};

use common::{cctrack, http, run_json, Server};

fn basic(user: &str, password: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

async fn account(db: &cctrack_tests::TestDb, org: i64, username: &str, role: tracker::staff::Role) {
    let s = tracker::staff::NewStaff {
        organisation_id: org,
        username,
        display_name: username,
        role,
        password: "pass-word-1",
        email: None,
    };
    tracker::staff::upsert(&db.pool, &s).await.unwrap();
}

fn call(server: &Server, method: &str, path: &str, auth: &str, body: &Value) -> (u16, Value) {
    let (status, _, reply) = http(
        &server.main,
        method,
        path,
        &[("Authorization", auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (status, serde_json::from_slice(&reply).unwrap_or(Value::Null))
}

fn osmand_fix(server: &Server, enrolment: &str) -> u16 {
    let now = chrono::Utc::now().timestamp();
    http(
        &server.osmand,
        "POST",
        &format!("/?id={enrolment}&timestamp={now}&lat=40.667&lon=122.235&accuracy=10"),
        &[],
        b"",
    )
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_enrol_and_retire_phones_within_their_organisation() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let county: i64 = sqlx::query_scalar("SELECT parent_id FROM organisations WHERE id = $1")
        .bind(office)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // A second county with its own office, under the same city.
    let other_office: i64 = sqlx::query_scalar(
        "WITH k AS (INSERT INTO organisations (kind, parent_id, name, adcode)
                    SELECT 'county', parent_id, '西市区', '210803' FROM organisations WHERE id = $1 RETURNING id)
         INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '渔市司法所' FROM k RETURNING id",
    )
    .bind(county)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    use tracker::staff::Role;
    account(&db, office, "li.office", Role::OfficeStaff).await;
    account(&db, county, "wang.county", Role::CountyAdmin).await;
    account(&db, other_office, "zhao.other", Role::OfficeStaff).await;
    let city: i64 = sqlx::query_scalar("SELECT parent_id FROM organisations WHERE id = $1")
        .bind(county)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    account(&db, city, "auditor1", Role::Auditor).await;
    let person = common::add_person(&db, office, "张三");
    let server = Server::start(&db.url);
    let path = format!("/api/v1/persons/{person}/devices");

    // The person's office enrols a Traccar Client phone; it works at once.
    let (status, e) = call(&server, "POST", &path, &basic("li.office", "pass-word-1"), &json!({"protocol": "osmand"}));
    assert_eq!(status, 201, "{e}");
    let enrolment = e["enrolment_id"].as_str().unwrap().to_string();
    let device = e["device_id"].as_i64().unwrap();
    assert_eq!(e["setup"]["device_identifier"], enrolment.as_str());
    assert_eq!(e["setup"]["server_url"], format!("http://{}", server.osmand));
    assert!(e["token"].as_str().unwrap().len() >= 20);
    sqlx::query("UPDATE devices SET enrolled_at = now() - interval '1 hour' WHERE enrolment_id = $1")
        .bind(&enrolment)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(osmand_fix(&server, &enrolment), 200);
    let stored: Option<i64> = sqlx::query_scalar("SELECT enrolled_by FROM devices WHERE enrolment_id = $1")
        .bind(&enrolment)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(stored.is_some(), "who enrolled it is recorded");
    // The county above may enrol too (a native phone, GCJ-02 by default).
    let (status, e) = call(
        &server,
        "POST",
        &path,
        &basic("wang.county", "pass-word-1"),
        &json!({"protocol": "native", "crs": "gcj02"}),
    );
    assert_eq!(status, 201, "{e}");
    assert!(e["setup"]["authorization"].as_str().unwrap().starts_with("Bearer "));

    // Refusals: wrong password or none (401), another county's office (404, as for a person
    // that does not exist), the auditor (403), an unknown person (404), bad fields (400 naming them).
    for (auth, want) in [
        (basic("li.office", "wrong"), 401),
        (basic("nobody", "pass-word-1"), 401),
        ("Bearer x.y".to_string(), 401),
        (basic("zhao.other", "pass-word-1"), 404),
        (basic("auditor1", "pass-word-1"), 403),
    ] {
        let (status, body) = call(&server, "POST", &path, &auth, &json!({}));
        assert_eq!(status, want, "{auth}: {body}");
    }
    let ok = basic("li.office", "pass-word-1");
    assert_eq!(call(&server, "POST", "/api/v1/persons/999999/devices", &ok, &json!({})).0, 404);
    let (status, body) = call(&server, "POST", &path, &ok, &json!({"protocol": "carrier-pigeon"}));
    assert_eq!((status, body["field"].as_str()), (400, Some("protocol")), "{body}");
    let (status, body) = call(&server, "POST", &path, &ok, &json!({"crs": 5}));
    assert_eq!((status, body["field"].as_str()), (400, Some("crs")), "{body}");
    let devices: i64 = sqlx::query_scalar("SELECT count(*) FROM devices").fetch_one(&db.pool).await.unwrap();
    assert_eq!(devices, 2, "refused requests enrolled nothing");

    // Retiring: another county may not; the office may; the phone is refused at once.
    let retire = format!("/api/v1/devices/{device}");
    assert_eq!(call(&server, "DELETE", &retire, &basic("zhao.other", "pass-word-1"), &json!({})).0, 404);
    let (status, r) = call(&server, "DELETE", &retire, &ok, &json!({}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["person_id"], person);
    assert_eq!(osmand_fix(&server, &enrolment), 403, "a retired phone is refused");
    assert_eq!(call(&server, "DELETE", &retire, &ok, &json!({})).0, 404, "already retired");
    let fixes: i64 = sqlx::query_scalar("SELECT count(*) FROM fixes").fetch_one(&db.pool).await.unwrap();
    assert_eq!(fixes, 1, "its fixes are kept");

    // The CLI retires too, and says when there is nothing to retire.
    let (_, e) = call(&server, "POST", &path, &ok, &json!({}));
    let second = e["enrolment_id"].as_str().unwrap();
    let r = run_json(cctrack(&db.url).args(["device", "retire", "--enrolment-id", second, "--json"]));
    assert_eq!(r["enrolment_id"], second);
    let out = cctrack(&db.url).args(["device", "retire", "--enrolment-id", second]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--enrolment-id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

/// Retirement takes effect at once in every cctrack process: two servers on one database, each
/// having accepted (and cached) the phone, refuse it the moment a third process retires it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_phone_is_refused_at_once_by_every_process() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let person = common::add_person(&db, office, "李四");
    let (enrolment, _) = common::enrol_phone(&db, person, "osmand").await;
    let (a, b) = (Server::start(&db.url), Server::start(&db.url));
    let send = |server: &Server, minutes_ago: i64| {
        let t = chrono::Utc::now().timestamp() - 60 * minutes_ago;
        http(&server.osmand, "GET", &format!("/?id={enrolment}&timestamp={t}&lat=40.667&lon=122.235"), &[], b"").0
    };
    assert_eq!((send(&a, 10), send(&b, 9)), (200, 200), "both servers know the phone");
    run_json(cctrack(&db.url).args(["device", "retire", "--enrolment-id", &enrolment, "--json"]));
    assert_eq!((send(&a, 8), send(&b, 7)), (403, 403), "refused at once by both");
    let fixes: i64 = sqlx::query_scalar("SELECT count(*) FROM fixes").fetch_one(&db.pool).await.unwrap();
    assert_eq!(fixes, 2);
    let out = cctrack(&db.url).args(["device", "reenrol", "--enrolment-id", &enrolment]).output().unwrap();
    assert!(!out.status.success(), "a retired phone cannot be re-enrolled");
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reenrolment_replaces_the_credential_in_one_step() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let person = common::add_person(&db, office, "王五");
    let (old, _) = common::enrol_phone(&db, person, "osmand").await;
    let server = Server::start(&db.url);
    let t = chrono::Utc::now().timestamp() - 60;
    let post =
        |id: &str| http(&server.osmand, "GET", &format!("/?id={id}&timestamp={t}&lat=40.667&lon=122.235"), &[], b"").0;
    assert_eq!(post(&old), 200);
    let r = run_json(cctrack(&db.url).args(["device", "reenrol", "--enrolment-id", &old, "--json"]));
    let new = r["enrolled"]["enrolment_id"].as_str().unwrap().to_string();
    assert_eq!(
        (r["retired"]["enrolment_id"].as_str(), r["enrolled"]["person_id"].as_i64()),
        (Some(old.as_str()), Some(person))
    );
    assert_eq!(r["enrolled"]["protocol"], "osmand");
    assert_eq!(new.len(), 20, "{new}: ~103 random bits");
    assert_eq!(post(&old), 403, "the old identifier is dead");
    sqlx::query("UPDATE devices SET enrolled_at = now() - interval '1 hour' WHERE enrolment_id = $1")
        .bind(&new)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(post(&new), 200, "the new one works");
    server.stop();
}
