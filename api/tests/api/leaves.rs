//! Leaves over the staff API: the office requests, the office (≤ 7 days) or the county decides,
//! approval puts the places in force as fences, cancellation retires them; scope and roles as
//! everywhere, each step audited.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tracker::staff::Role;

use crate::helpers::{account, orgs, person, spawn_app, TestApp};

/// A leave of `days` from tomorrow to a 2 km circle drawn on a GCJ-02 map, with a route.
fn leave(days: i64) -> Value {
    let from = Utc::now() + Duration::days(1);
    json!({
        "reason": "探望住院的母亲",
        "starts_at": from,
        "ends_at": from + Duration::days(days),
        "crs": "gcj02",
        "destination": {"type": "Feature", "properties": {"radius_m": 2000.0},
                        "geometry": {"type": "Point", "coordinates": [123.4328, 41.8086]}},
        "route": {"type": "LineString", "coordinates": [[122.2352, 40.6674], [123.4328, 41.8086]]},
        "route_half_width_m": 1500.0
    })
}

async fn fences_in_force(app: &TestApp, leave: i64) -> i64 {
    app.count(&format!("SELECT count(*) FROM fences WHERE leave_id = {leave} AND retired_at IS NULL")).await
}

#[tokio::test]
async fn leaves_are_requested_decided_by_length_and_cancelled() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.county, "wang.county", Role::CountyAdmin).await;
    account(&app.db, o.other_office, "zhou.office", Role::OfficeStaff).await;
    account(&app.db, o.city, "audit.city", Role::Auditor).await;
    let someone = person(&app.db, o.office, "张三").await;
    let path = format!("/api/v1/persons/{someone}/leaves");

    // Validation names the field.
    let (status, body) = app.staff("POST", &path, "li.office", Some(leave(31))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("ends_at")), "{body}");
    let mut no_width = leave(3);
    no_width.as_object_mut().unwrap().remove("route_half_width_m");
    assert_eq!(app.staff("POST", &path, "li.office", Some(no_width)).await.1["field"], "route_half_width_m");
    let mut corridor = leave(3);
    corridor["destination"] = json!({"type": "LineString", "coordinates": [[122.2, 40.6], [122.3, 40.7]]});
    assert_eq!(app.staff("POST", &path, "li.office", Some(corridor)).await.1["field"], "destination");
    let mut crs = leave(3);
    crs["crs"] = json!("mars");
    assert_eq!(app.staff("POST", &path, "li.office", Some(crs)).await.1["field"], "crs");
    // Scope and role: another county's office sees no such person; the auditor reads only.
    assert_eq!(app.staff("POST", &path, "zhou.office", Some(leave(3))).await.0, 404);
    assert_eq!(app.staff("POST", &path, "audit.city", Some(leave(3))).await.0, 403);

    // Three days: the office requests and approves; the places are fences from then on.
    let (status, body) = app.staff("POST", &path, "li.office", Some(leave(3))).await;
    assert_eq!(status, 201, "{body}");
    let short = body["id"].as_i64().unwrap();
    assert_eq!(fences_in_force(&app, short).await, 0, "no fences before approval");
    let approve = |id: i64| format!("/api/v1/leaves/{id}/approve");
    assert_eq!(app.staff("POST", &approve(short), "zhou.office", None).await.0, 404);
    assert_eq!(app.staff("POST", &approve(short), "audit.city", None).await.0, 403);
    let (status, body) = app.staff("POST", &approve(short), "li.office", Some(json!({"note": "材料齐全"}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["destination_fence"].is_i64() && body["route_fence"].is_i64(), "{body}");
    assert_eq!(fences_in_force(&app, short).await, 2);
    // The circle was drawn on a GCJ-02 map: stored in WGS-84, a few hundred metres south-west.
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(ST_Centroid(destination)), ST_Y(ST_Centroid(destination)) FROM leaves WHERE id = $1",
    )
    .bind(short)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!((123.42..123.4328).contains(&lon) && (41.80..41.8086).contains(&lat), "{lon} {lat}");
    assert_eq!(app.staff("POST", &approve(short), "li.office", None).await.0, 409, "decided once");

    // Ten days: beyond the office; the county decides.
    let (_, body) = app.staff("POST", &path, "li.office", Some(leave(10))).await;
    let long = body["id"].as_i64().unwrap();
    let (status, body) = app.staff("POST", &approve(long), "li.office", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("county"), "{body}");
    assert_eq!(app.staff("POST", &approve(long), "wang.county", None).await.0, 200);

    // A rejected request cannot be approved after.
    let (_, body) = app.staff("POST", &path, "li.office", Some(leave(2))).await;
    let refused = body["id"].as_i64().unwrap();
    assert_eq!(app.staff("POST", &format!("/api/v1/leaves/{refused}/reject"), "li.office", None).await.0, 200);
    assert_eq!(app.staff("POST", &approve(refused), "li.office", None).await.0, 409);
    assert_eq!(fences_in_force(&app, refused).await, 0);

    // Cancelling a granted leave retires its fences at once.
    let cancel = format!("/api/v1/leaves/{short}/cancel");
    assert_eq!(app.staff("POST", &cancel, "audit.city", None).await.0, 403);
    assert_eq!(app.staff("POST", &cancel, "li.office", Some(json!({"note": "行程取消"}))).await.0, 204);
    assert_eq!(fences_in_force(&app, short).await, 0);
    assert_eq!(app.staff("POST", &cancel, "li.office", None).await.0, 409);

    // Lists: in scope only, filtered by state, paged.
    let (status, body) = app.staff("GET", "/api/v1/leaves", "audit.city", None).await;
    assert_eq!(status, 200);
    let states: Vec<&str> = body["items"].as_array().unwrap().iter().map(|l| l["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["rejected", "approved", "cancelled"], "newest first");
    assert_eq!(body["items"][0]["requested_by"], "li.office");
    assert_eq!(body["items"][1]["decided_by"], "wang.county");
    assert_eq!(app.staff("GET", "/api/v1/leaves", "zhou.office", None).await.1["items"], json!([]));
    let (_, page) = app.staff("GET", "/api/v1/leaves?state=approved&limit=1", "li.office", None).await;
    assert_eq!(page["items"][0]["id"], long);
    assert_eq!(page["next"], long);
    let (status, body) = app.staff("GET", "/api/v1/leaves?state=gone", "li.office", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("state")));

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'leave.%' ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "leave.request",
            "leave.approve",
            "leave.request",
            "leave.approve",
            "leave.request",
            "leave.reject",
            "leave.cancel"
        ]
    );
}
