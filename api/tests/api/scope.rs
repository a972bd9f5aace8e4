//! The scope matrix of the staff routes: every route × every role × a record in scope, records
//! out of scope (another county, another city), and a missing one. Out of scope is
//! indistinguishable from missing (same status, same body); auditors never write.

use serde_json::{json, Value};
use tracker::device::Protocol;
use tracker::staff::Role;

use crate::helpers::{account, orgs, person, phone, spawn_app, TestApp};

#[derive(Clone, Copy, Debug)]
enum Route {
    Enrol,
    Retire,
    Reenrol,
}

/// (method, path) of `route` on `person`'s record: the person itself, or a fresh phone of theirs
/// (each call consumes one); `None` for a missing record.
async fn request(app: &TestApp, route: Route, person: Option<i64>, n: usize) -> (&'static str, String) {
    match route {
        Route::Enrol => ("POST", format!("/api/v1/persons/{}/devices", person.unwrap_or(9_000_000 + n as i64))),
        Route::Retire | Route::Reenrol => {
            let id = match person {
                Some(p) => phone(&app.db, p, Protocol::Osmand).await.device_id.to_string(),
                None => format!("{}", 9_000_000 + n),
            };
            match route {
                Route::Retire => ("DELETE", format!("/api/v1/devices/{id}")),
                _ => ("POST", format!("/api/v1/devices/{id}/reenrol")),
            }
        }
    }
}

/// The body of a 404 for what `path` asked about.
fn not_found(path: &str) -> Value {
    let what = match path.strip_prefix("/api/v1/devices/") {
        Some(rest) => format!("device {}", rest.trim_end_matches("/reenrol")),
        None => format!("person {}", path.trim_start_matches("/api/v1/persons/").trim_end_matches("/devices")),
    };
    let m = format!("not found: {what}");
    json!({"code": "not_found", "error": m, "message": m})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_looks_exactly_like_absent_on_every_staff_route() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    // A second city with its own county and office: out of every account's scope.
    let far_office: i64 = sqlx::query_scalar(
        "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '大连市', '210200') RETURNING id),
              k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '中山区', '210202' FROM c RETURNING id)
         INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '青泥洼桥司法所' FROM k RETURNING id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let here = person(&app.db, o.office, "站前对象").await;
    let there = person(&app.db, o.other_office, "西市对象").await;
    let far = person(&app.db, far_office, "大连对象").await;
    // (username, organisation, role, the person it sees, persons it must not see)
    let accounts = [
        ("office.staff", o.office, Role::OfficeStaff, here, vec![there, far]),
        ("other.office", o.other_office, Role::OfficeStaff, there, vec![here, far]),
        ("county.admin", o.county, Role::CountyAdmin, here, vec![there, far]),
        ("other.county", o.other_county, Role::CountyAdmin, there, vec![here, far]),
        ("city.admin", o.city, Role::CityAdmin, there, vec![far]),
        ("city.auditor", o.city, Role::Auditor, here, vec![far]),
        ("county.auditor", o.other_county, Role::Auditor, there, vec![here, far]),
    ];
    for (user, org, role, _, _) in &accounts {
        account(&app.db, *org, user, *role).await;
    }
    let mut n = 0;
    for route in [Route::Enrol, Route::Retire, Route::Reenrol] {
        for (user, _, role, sees, hidden) in &accounts {
            n += 1;
            let (method, path) = request(&app, route, Some(*sees), n).await;
            let (status, body) = app.staff(method, &path, user, Some(json!({}))).await;
            let what = format!("{route:?} as {user} in scope: {status} {body}");
            if *role == Role::Auditor {
                assert_eq!(status, 403, "{what}");
            } else {
                assert!(status == 200 || status == 201, "{what}");
            }
            for target in hidden.iter().map(|p| Some(*p)).chain([None]) {
                n += 1;
                let (method, path) = request(&app, route, target, n).await;
                let (status, body) = app.staff(method, &path, user, Some(json!({}))).await;
                let what = format!("{route:?} as {user} on {target:?}: {status} {body}");
                assert_eq!(status, 404, "{what}");
                assert_eq!(body, not_found(&path), "{what}: the same body as for a missing record");
            }
        }
    }
    // Auditors changed nothing.
    let by_auditors =
        app.count("SELECT count(*) FROM devices d JOIN staff s ON s.id = d.enrolled_by WHERE s.role = 'auditor'").await;
    assert_eq!(by_auditors, 0);
    app.stop().await;
}
