//! Editing over the staff API: a fence replaced by its edited form (applied to the next fix, the
//! old alarm still naming the old shape), shared fences of a district drawn from its imported
//! boundary, corrections to a person's record, and a long trajectory thinned for a zoom level.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tracker::device::Protocol;
use tracker::staff::Role;

use crate::helpers::{account, orgs, person, phone, spawn_app, Phone, TestApp};

async fn send(app: &TestApp, p: &Phone, fixes: Vec<Value>) {
    let r = app
        .client
        .post(app.url("/ingest/v1/fixes"))
        .bearer_auth(format!("{}.{}", p.enrolment_id, p.token))
        .json(&json!({ "fixes": fixes }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{}", &body[..body.len().min(400)]);
}

fn fix(minutes_ago: i64, lon: f64, lat: f64) -> Value {
    fix_at(Utc::now() - Duration::minutes(minutes_ago), lon, lat)
}

fn fix_at(time: chrono::DateTime<Utc>, lon: f64, lat: f64) -> Value {
    json!({"time": time, "lon": lon, "lat": lat, "accuracy_m": 10})
}

async fn alarms(app: &TestApp) -> Vec<(String, Option<i64>)> {
    sqlx::query_as("SELECT kind, fence_id FROM alarms ORDER BY id").fetch_all(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn a_fence_is_edited_by_replacing_it_and_applies_to_the_next_fix() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.other_office, "zhou.office", Role::OfficeStaff).await;
    account(&app.db, o.city, "audit.city", Role::Auditor).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let circle = |lon: f64, r: f64| json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, 40.667]}, "properties": {"radius_m": r}});
    let (status, body) = app
        .staff(
            "POST",
            &format!("/api/v1/persons/{someone}/fences"),
            "li.office",
            Some(json!({"kind": "exclusion", "geojson": circle(122.235, 300.0), "name": "网吧"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let old = body["id"].as_i64().unwrap();
    send(&app, &p, vec![fix(30, 122.235, 40.667)]).await;
    assert_eq!(alarms(&app).await, [("exclusion_entry".to_string(), Some(old))]);

    // Moved 2 km east: the next fix at the old place is clear, one at the new place is not.
    let path = format!("/api/v1/fences/{old}");
    assert_eq!(app.staff("PATCH", &path, "zhou.office", Some(json!({"name": "x"}))).await.0, 404);
    assert_eq!(app.staff("PATCH", &path, "audit.city", Some(json!({"name": "x"}))).await.0, 403);
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(json!({"colour": "red"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("colour")));
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(json!({"crs": "gcj02"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("crs")), "a crs without a shape");
    let (status, body) = app
        .staff(
            "PATCH",
            &path,
            "li.office",
            Some(json!({"valid_from": Utc::now(), "valid_to": Utc::now() - Duration::days(1)})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("valid_to")), "{body}");
    let moved = json!({"geojson": circle(122.259, 300.0), "name": "网吧（新址）"});
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(moved)).await;
    assert_eq!(status, 200, "{body}");
    let new = body["id"].as_i64().unwrap();
    assert_eq!(body["replaces"], old);
    assert_eq!(
        app.staff("PATCH", &path, "li.office", Some(json!({"name": "x"}))).await.0,
        404,
        "the old one is retired"
    );
    send(&app, &p, vec![fix(20, 122.235, 40.667), fix(10, 122.259, 40.667)]).await;
    let kinds = alarms(&app).await;
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0], ("exclusion_entry".to_string(), Some(old)), "the first alarm keeps naming the old shape");
    assert_eq!(kinds[1], ("exclusion_entry".to_string(), Some(new)));
    // A name-only edit keeps the circle as it was.
    let (_, body) =
        app.staff("PATCH", &format!("/api/v1/fences/{new}"), "li.office", Some(json!({"name": "网吧二"}))).await;
    let renamed = body["id"].as_i64().unwrap();
    let (shape, radius): (String, f64) = sqlx::query_as("SELECT shape, radius_m FROM fences WHERE id = $1")
        .bind(renamed)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((shape.as_str(), radius), ("circle", 300.0));
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'fence.%' ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["fence.create", "fence.edit", "fence.edit"]);
    app.stop().await;
}

#[tokio::test]
async fn a_district_boundary_becomes_a_shared_fence_of_everybody_below_it() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    sqlx::query(
        "UPDATE organisations SET boundary = ST_Multi(ST_MakeEnvelope(122.2, 40.6, 122.3, 40.7, 4326)) WHERE id = $1",
    )
    .bind(o.county)
    .execute(&app.db.pool)
    .await
    .unwrap();
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.county, "wang.county", Role::CountyAdmin).await;
    account(&app.db, o.other_county, "zhao.county", Role::CountyAdmin).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let path = format!("/api/v1/organisations/{}/fences", o.county);
    let district = json!({"name": "站前区", "kind": "inclusion", "boundary": true});
    assert_eq!(app.staff("POST", &path, "zhao.county", Some(district.clone())).await.0, 404);
    assert_eq!(app.staff("POST", &path, "li.office", Some(district.clone())).await.0, 404, "above the office");
    let (status, body) = app
        .staff("POST", &format!("/api/v1/organisations/{}/fences", o.office), "li.office", Some(district.clone()))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .staff(
            "POST",
            &format!("/api/v1/organisations/{}/fences", o.other_county),
            "zhao.county",
            Some(district.clone()),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("boundary")), "no imported boundary: {body}");
    let (status, body) = app.staff("POST", &path, "wang.county", Some(district)).await;
    assert_eq!(status, 201, "{body}");
    let shared = body["id"].as_i64().unwrap();
    let (_, list) = app.staff("GET", &format!("/api/v1/organisations/{}/fences", o.office), "li.office", None).await;
    assert_eq!(list["items"][0]["id"], shared, "the office sees the fence that applies to its persons");
    let (_, list) = app.staff("GET", &path, "wang.county", None).await;
    assert_eq!(list["items"][0]["id"], shared);
    assert_eq!(app.staff("GET", &path, "zhao.county", None).await.0, 404);

    send(&app, &p, vec![fix(20, 122.25, 40.65), fix(10, 122.35, 40.65)]).await;
    assert_eq!(alarms(&app).await, [("fence_exit".to_string(), Some(shared))], "left the district");
    assert_eq!(app.staff("DELETE", &format!("/api/v1/fences/{shared}"), "li.office", None).await.0, 404);
    assert_eq!(app.staff("DELETE", &format!("/api/v1/fences/{shared}"), "wang.county", None).await.0, 204);
    assert!(app.staff("GET", &path, "wang.county", None).await.1["items"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_persons_record_is_corrected_within_scope() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    account(&app.db, o.other_office, "zhou.office", Role::OfficeStaff).await;
    account(&app.db, o.city, "audit.city", Role::Auditor).await;
    let someone = person(&app.db, o.office, "张三").await;
    let path = format!("/api/v1/persons/{someone}");
    let edit = json!({"name": "张叁", "correction_type": "parole", "term_end": "2028-06-30"});
    assert_eq!(app.staff("PATCH", &path, "zhou.office", Some(edit.clone())).await.0, 404);
    assert_eq!(app.staff("PATCH", &path, "audit.city", Some(edit.clone())).await.0, 403);
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(json!({"level": "lenient"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("level")), "levels change by assessment: {body}");
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(json!({"term_end": "2000-01-01"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("term_end")));
    let (status, body) = app.staff("PATCH", &path, "li.office", Some(json!({"correction_type": "exile"}))).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("correction_type")));
    assert_eq!(app.staff("PATCH", &path, "li.office", Some(edit)).await.0, 204);
    let (_, view) = app.staff("GET", &path, "li.office", None).await;
    assert_eq!(view["person"]["name"], "张叁");
    assert_eq!(view["person"]["correction_type"], "parole");
    let details: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'person.edit'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((details["before"]["name"].as_str(), details["after"]["name"].as_str()), (Some("张三"), Some("张叁")));
    app.stop().await;
}

#[tokio::test]
async fn a_long_track_is_thinned_for_a_zoom_level_keeping_every_breach() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    account(&app.db, o.office, "li.office", Role::OfficeStaff).await;
    let someone = person(&app.db, o.office, "张三").await;
    let p = phone(&app.db, someone, Protocol::Native).await;
    let home = json!({"type": "Polygon", "coordinates": [[[122.0, 40.5], [122.5, 40.5], [122.5, 40.601], [122.0, 40.601], [122.0, 40.5]]]});
    let (status, _) = app
        .staff(
            "POST",
            &format!("/api/v1/persons/{someone}/fences"),
            "li.office",
            Some(json!({"kind": "inclusion", "geojson": home})),
        )
        .await;
    assert_eq!(status, 201);
    // 2,000 fixes 30 s apart walking east along a street 110 m inside the area's edge; three of
    // them across the edge, 110 m outside.
    let start = Utc::now() - Duration::hours(17);
    let fixes: Vec<Value> = (0..2000)
        .map(|i| {
            let lat = if (1000..1003).contains(&i) { 40.602 } else { 40.6 };
            fix_at(start + Duration::seconds(30 * i64::from(i)), 122.1 + f64::from(i) * 0.0001, lat)
        })
        .collect();
    for chunk in fixes.chunks(500) {
        send(&app, &p, chunk.to_vec()).await;
    }
    let track =
        format!("/api/v1/persons/{someone}/track?from={}", (start - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"));
    let (_, all) = app.staff("GET", &track, "li.office", None).await;
    assert_eq!(all["points"].as_array().unwrap().len(), 2000);
    let (status, thin) = app.staff("GET", &format!("{track}&zoom=11"), "li.office", None).await;
    assert_eq!(status, 200, "{thin}");
    let points = thin["points"].as_array().unwrap();
    assert_eq!(thin["fixes"], 2000);
    assert!(points.len() < 30, "{} points at zoom 11", points.len());
    let outside =
        points.iter().filter(|p| p["verdicts"].as_array().unwrap().iter().any(|v| v["position"] == "outside")).count();
    assert_eq!(outside, 3, "every breach is kept");
    let (status, body) = app.staff("GET", &format!("{track}&zoom=30"), "li.office", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("zoom")));
    app.stop().await;
}
