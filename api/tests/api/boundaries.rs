//! Every numeric field of a fix at its column's limits, through the real endpoints: accepted and
//! stored as the column holds it, or refused with the field named (400/422) and nothing stored;
//! never a 5xx.

use serde_json::{json, Value};
use tracker::device::Protocol;

use crate::helpers::{orgs, person, phone, raw_http, spawn_app};

/// (field, value, accepted?, column to read back, the value it must hold when accepted)
type Case = (&'static str, Value, bool, &'static str, Option<f64>);

fn cases() -> Vec<Case> {
    vec![
        ("lat", json!(90.0), true, "ST_Y(position)", Some(90.0)),
        ("lat", json!(-90.0), true, "ST_Y(position)", Some(-90.0)),
        ("lat", json!(90.000_000_1), false, "", None),
        ("lon", json!(180.0), true, "ST_X(position)", Some(180.0)),
        ("lon", json!(-180.0), true, "ST_X(position)", Some(-180.0)),
        ("lon", json!(-180.000_001), false, "", None),
        ("accuracy_m", json!(0.0), true, "accuracy_m", Some(0.0)),
        ("accuracy_m", json!(99_990.0), true, "accuracy_m", Some(99_990.0)),
        // 32-bit storage would round these to the column's bound.
        ("accuracy_m", json!(99_999.999), false, "", None),
        ("accuracy_m", json!(100_000.0), false, "", None),
        ("accuracy_m", json!(-0.5), false, "", None),
        ("battery_pct", json!(0), true, "battery_pct", Some(0.0)),
        ("battery_pct", json!(100), true, "battery_pct", Some(100.0)),
        ("battery_pct", json!(99.6), true, "battery_pct", Some(100.0)),
        ("battery_pct", json!(100.01), false, "", None),
        ("speed_mps", json!(0.0), true, "speed_mps", Some(0.0)),
        ("speed_mps", json!(1000.0), true, "speed_mps", Some(1000.0)),
        ("speed_mps", json!(1e300), false, "", None),
        ("speed_mps", json!(1000.001), false, "", None),
        ("course_deg", json!(0.0), true, "course_deg", Some(0.0)),
        ("course_deg", json!(359.99), true, "course_deg", Some(f64::from(359.99f32))),
        ("course_deg", json!(359.999_99), true, "course_deg", Some(0.0)),
        ("course_deg", json!(360.0), true, "course_deg", Some(0.0)),
        ("course_deg", json!(360.000_1), false, "", None),
        ("altitude_m", json!(-20_000.0), true, "altitude_m", Some(-20_000.0)),
        ("altitude_m", json!(20_000.5), false, "", None),
        ("altitude_m", json!(-1e300), false, "", None),
        ("seq", json!(9_007_199_254_740_991i64), true, "device_seq", Some(9_007_199_254_740_991.0)),
        ("seq", json!(i64::MAX), false, "", None),
        ("seq", json!(-1), false, "", None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_numeric_field_at_its_columns_limits() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "王五").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let base = chrono::Utc::now() - chrono::Duration::hours(2);
    for (i, (field, value, accepted, column, stored)) in cases().into_iter().enumerate() {
        let t = base + chrono::Duration::seconds(i as i64);
        let mut fix = json!({"time": t, "lat": 40.667, "lon": 122.235, "accuracy_m": 10});
        fix[field] = value.clone();
        let before = app.fixes().await;
        let reply = app
            .client
            .post(app.url("/ingest/v1/fixes"))
            .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
            .json(&json!({"fixes": [fix]}))
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.unwrap();
        let added = app.fixes().await - before;
        if accepted {
            assert_eq!((status, added), (200, 1), "{field} = {value}: {body}");
            let got: f64 = sqlx::query_scalar(&format!(
                "SELECT ({column})::float8 FROM fixes WHERE device_id = $1 AND fixed_at = $2"
            ))
            .bind(p.device_id)
            .bind(t)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
            assert_eq!(Some(got), stored, "{field} = {value} is stored as its column holds it");
        } else {
            assert_eq!((status, added), (422, 0), "{field} = {value}: {body}");
            assert_eq!(body["errors"][0]["field"], format!("fixes[0].{field}"), "{body}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_checked_after_conversion_on_every_protocol() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "赵六").await;
    let native = phone(&app.db, someone, Protocol::Native).await;
    let osmand = phone(&app.db, someone, Protocol::Osmand).await;
    let t = chrono::Utc::now() - chrono::Duration::minutes(30);
    for (crs, lat, lon, field) in
        [("bd09", 40.6, -180.0, "lon"), ("bd09", -90.0, 122.2, "lat"), ("gcj02", 40.6, -179.99999, "")]
    {
        let reply = app
            .client
            .post(app.url("/ingest/v1/fixes"))
            .bearer_auth(format!("{}.{}", native.enrolment_id, native.token))
            .json(&json!({"crs": crs, "fixes": [{"time": t, "lat": lat, "lon": lon}]}))
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let body: Value = reply.json().await.unwrap();
        if field.is_empty() {
            // Outside China GCJ-02 applies no offset: stored as sent.
            assert_eq!(status, 200, "{body}");
        } else {
            assert_eq!(status, 422, "{crs} {lat},{lon}: {body}");
            assert_eq!(body["errors"][0]["field"], format!("fixes[0].{field}"));
        }
        let target = format!("/?id={}&timestamp={}&lat={lat}&lon={lon}&crs={crs}", osmand.enrolment_id, t.timestamp());
        let (status, _, reply) = raw_http(&app.osmand, "GET", &target, &[], b"").await;
        if field.is_empty() {
            assert_eq!(status, 200);
        } else {
            let reply: Value = serde_json::from_slice(&reply).unwrap();
            assert_eq!((status, reply["field"].as_str()), (400, Some(field)), "{reply}");
        }
    }
    assert_eq!(app.fixes().await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_less_traccar_timestamp_is_shanghai_time() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let someone = person(&app.db, o.office, "钱七").await;
    let osmand = phone(&app.db, someone, Protocol::Osmand).await;
    let t = (chrono::Utc::now() - chrono::Duration::minutes(20)).with_timezone(&tracker::time::shanghai());
    // As Traccar's decoder tests send it: date and time joined by '+', which a query decodes to a space.
    let local = t.format("%Y-%m-%d+%H:%M:%S").to_string();
    let target = format!("/?id={}&timestamp={local}&lat=40.66&lon=122.23", osmand.enrolment_id);
    let (status, _, reply) = raw_http(&app.osmand, "GET", &target, &[], b"").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let stored: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT fixed_at FROM fixes").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(stored.timestamp(), t.timestamp());
    app.stop().await;
}
