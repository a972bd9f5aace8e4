//! The access matrix: every operation of the OpenAPI document (which comes from the router's own
//! route list, so a new route joins this test by existing) × every role, on records in scope, on
//! records of another county, and on missing ones. Out of scope answers exactly as missing (404
//! with the same body shape, no name in any list); auditors never write; nothing answers 5xx.

use serde_json::{json, Value};
use tracker::device::Protocol;
use tracker::staff::Role;

use std::collections::HashMap;

use crate::helpers::{account, alarm, login, orgs, person, phone, spawn_app, Orgs, TestApp};

/// Operations about the caller's own session, not about records: tested in `staff_routes`.
const ACCOUNT_ROUTES: [&str; 6] = [
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/password",
    "/api/v1/auth/me",
    "/api/v1/openapi.json",
    "/console/config.json",
];

const MISSING: i64 = 9_000_000_000;

/// The records one call acts on, all of one person of the office `li.office` works in.
struct World {
    name: String,
    person: i64,
    device: i64,
    alarm: i64,
    fence: i64,
    leave: i64,
    assessment: i64,
    basis: i64,
    report: i64,
}

/// Signed-in sessions by username (a password check per call would dominate the run).
type Tokens = HashMap<&'static str, String>;

/// `template`'s records: a phone only when the route names one (enrolling hashes a token, which
/// is slow by design).
async fn world(app: &TestApp, t: &Tokens, o: &Orgs, n: usize, template: &str) -> World {
    let name = format!("范围内{n}号");
    let p = person(&app.db, o.office, &name).await;
    let device = if template.contains("{device}") { phone(&app.db, p, Protocol::Native).await.device_id } else { 0 };
    let alarm = alarm(&app.db, p, o.office, tracker::alarm::Kind::MockLocation).await;
    let circle = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [122.235, 40.667]}, "properties": {"radius_m": 300}});
    let created = |(status, body): (u16, Value)| {
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    };
    let fence = created(
        app.staff(
            "POST",
            &format!("/api/v1/persons/{p}/fences"),
            "li.office",
            Some(json!({"kind": "exclusion", "geojson": circle})),
        )
        .await,
    );
    let leave =
        created(call(app, t, "POST", &format!("/api/v1/persons/{p}/leaves"), "li.office", Some(leave_body())).await);
    let proposal = json!({"scores": {"认罪悔罪": 3}, "proposed_level": "lenient"});
    let assessment =
        created(call(app, t, "POST", &format!("/api/v1/persons/{p}/assessments"), "li.office", Some(proposal)).await);
    let basis: i64 = sqlx::query_scalar("SELECT min(id) FROM legal_bases WHERE person_id = $1")
        .bind(p)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let report = if template.contains("/reports/") { report(app, o.office, n).await } else { 0 };
    World { name, person: p, device, alarm, fence, leave, assessment, basis, report }
}

/// A stored report of the office (its content is not what this test is about).
async fn report(app: &TestApp, office: i64, n: usize) -> i64 {
    use tracker::report::store::{store, NewReport, StoredKind};
    let start = chrono::Utc::now() - chrono::Duration::days(n as i64);
    let new = NewReport {
        kind: StoredKind::Daily,
        organisation_id: office,
        period: &start.format("%Y-%m-%d").to_string(),
        start,
        end: start + chrono::Duration::days(1),
        title: format!("每日监管名单{n}"),
        summary: json!({}),
        html: "<h1>每日监管名单</h1>".into(),
        xlsx: b"PK".to_vec(),
        ranked: None,
    };
    store(&app.db.pool, &new, &[], chrono::Utc::now()).await.unwrap()
}

fn leave_body() -> Value {
    let from = chrono::Utc::now() + chrono::Duration::days(1);
    json!({"reason": "探亲", "starts_at": from, "ends_at": from + chrono::Duration::days(3),
           "destination": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [123.43, 41.80]}, "properties": {"radius_m": 1000}}})
}

/// The path of `template` on `w`'s records (or on missing ones).
fn fill(template: &str, w: &World, o: &Orgs, missing: bool) -> String {
    let mut out = String::new();
    for (i, part) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let Some(param) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            out.push_str(part);
            continue;
        };
        let id = match param {
            _ if missing => MISSING,
            "person" => w.person,
            "device" => w.device,
            "fence" => w.fence,
            "leave" => w.leave,
            "basis" => w.basis,
            "organisation" => o.office,
            "id" if template.starts_with("/api/v1/alarms/") => w.alarm,
            "id" if template.starts_with("/api/v1/assessments/") => w.assessment,
            "id" if template.starts_with("/api/v1/reports/") => w.report,
            other => {
                panic!("{template}: the access matrix does not know the path parameter {other:?}; add it to `fill`")
            }
        };
        out.push_str(&id.to_string());
    }
    out
}

/// A body the route accepts from a role allowed to call it.
fn body_for(method: &str, template: &str, w: &World, o: &Orgs) -> Option<Value> {
    let circle = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [122.24, 40.66]}, "properties": {"radius_m": 200}});
    Some(match (method, template) {
        ("POST", "/api/v1/alarms/acknowledge") => json!({"ids": [w.alarm]}),
        ("POST", t) if t.ends_with("/resolve") || t.ends_with("/dismiss") => {
            json!({"outcome": tracker::alarm::Outcome::ALL[0].code(), "note": "已电话核实，本人在家"})
        }
        ("POST", "/api/v1/persons") => {
            json!({"office_id": o.office, "name": "新入矫人员", "correction_type": "probation",
            "term_start": "2026-12-01", "term_end": "2027-12-01", "level": "ordinary", "consent_ref": "承诺书"})
        }
        ("PATCH", "/api/v1/persons/{person}") => json!({"name": "更名后"}),
        ("POST", "/api/v1/persons/{person}/bases") => {
            let start = chrono::Utc::now();
            json!({"kind": "order", "starts_at": start, "ends_at": start + chrono::Duration::days(30), "document_ref": "决定书"})
        }
        ("POST", "/api/v1/persons/{person}/assessments") => {
            json!({"scores": {"认罪悔罪": 2}, "proposed_level": "strict"})
        }
        ("POST", "/api/v1/persons/{person}/leaves") => leave_body(),
        ("POST", "/api/v1/persons/{person}/fences") => json!({"kind": "exclusion", "geojson": circle}),
        ("PATCH", "/api/v1/fences/{fence}") => json!({"name": "改名"}),
        ("POST", "/api/v1/organisations/{organisation}/fences") => {
            json!({"name": "禁入区", "kind": "exclusion", "geojson": circle})
        }
        ("POST", "/api/v1/persons/{person}/devices") => json!({"protocol": "native"}),
        _ => return None,
    })
}

async fn call(app: &TestApp, t: &Tokens, method: &str, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(&t[user]);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let reply = r.send().await.expect("request sent");
    let status = reply.status().as_u16();
    let streaming = reply.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        return (status, Value::Null); // the live stream does not end: its status is the answer
    }
    let text = reply.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn every_route_every_role_in_and_out_of_scope() {
    let app = spawn_app().await;
    let o = orgs(&app.db).await;
    let roles = [
        ("li.office", o.office, Role::OfficeStaff),
        ("wang.county", o.county, Role::CountyAdmin),
        ("chen.city", o.city, Role::CityAdmin),
        ("audit.city", o.city, Role::Auditor),
    ];
    for (user, org, role) in roles {
        account(&app.db, org, user, role).await;
    }
    // Outsiders: an office and a bureau of the other county.
    account(&app.db, o.other_office, "zhou.office", Role::OfficeStaff).await;
    account(&app.db, o.other_county, "zhao.county", Role::CountyAdmin).await;
    let mut t = Tokens::new();
    for user in ["li.office", "wang.county", "chen.city", "audit.city", "zhou.office", "zhao.county"] {
        t.insert(user, login(&app, user).await);
    }

    let (_, doc) = call(&app, &t, "GET", "/api/v1/openapi.json", "li.office", None).await;
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document lists paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() >= 40, "{} operations documented", operations.len());
    let mut n = 0;
    let mut checked = 0;
    for (method, template) in &operations {
        if ACCOUNT_ROUTES.contains(&template.as_str()) {
            continue;
        }
        let writes = method != "GET";
        // In scope: no role gets 404 or a 5xx; auditors get 403 for every write.
        for (user, _, role) in roles {
            n += 1;
            let w = world(&app, &t, &o, n, template).await;
            let path = fill(template, &w, &o, false);
            let (status, body) = call(&app, &t, method, &path, user, body_for(method, template, &w, &o)).await;
            let at = format!("{method} {path} as {user}: {status} {body}");
            assert!(status < 500, "{at}");
            if role == Role::Auditor && writes {
                assert_eq!(status, 403, "auditors never write: {at}");
            } else {
                assert_ne!(status, 404, "in scope: {at}");
                assert!(matches!(status, 200..=299 | 403 | 409), "{at}");
            }
            if *template == "/api/v1/audit" {
                assert_eq!(status == 200, matches!(role, Role::Auditor | Role::CityAdmin), "{at}");
            }
            checked += 1;
        }
        // Out of scope, and missing: the same answer.
        n += 1;
        let w = world(&app, &t, &o, n, template).await;
        let has_ids = template.contains('{');
        for user in ["zhou.office", "zhao.county"] {
            let path = fill(template, &w, &o, false);
            let (status, body) = call(&app, &t, method, &path, user, body_for(method, template, &w, &o)).await;
            let at = format!("{method} {path} as {user}: {status} {body}");
            assert!(status < 500, "{at}");
            assert!(!body.to_string().contains(&w.name), "the person's name leaked: {at}");
            if has_ids || *template == "/api/v1/persons" && writes {
                assert_eq!(status, 404, "out of scope is missing: {at}");
                let missing = fill(template, &w, &o, true);
                let (m_status, m_body) =
                    call(&app, &t, method, &missing, user, body_for(method, template, &w, &o)).await;
                assert_eq!(m_status, 404, "{method} {missing} as {user}: {m_body}");
                assert_eq!(body["code"], m_body["code"], "{at} / {m_body}");
                let shape = |b: &Value| b.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
                assert_eq!(shape(&body), shape(&m_body), "{at} / {m_body}");
            } else if template == "/api/v1/alarms/acknowledge" {
                assert_eq!(status, 200, "{at}");
                assert_eq!(body["acknowledged"], json!([]), "{at}");
                assert!(body["refused"][0]["error"].as_str().unwrap().contains("not found"), "{at}");
            }
            checked += 1;
        }
        // Nothing an outsider did changed the record.
        let untouched: bool = sqlx::query_scalar(
            "SELECT (SELECT state FROM alarms WHERE id = $1) = 'open'
                AND (SELECT retired_at IS NULL FROM fences WHERE id = $2)
                AND (SELECT state FROM leaves WHERE id = $3) = 'requested'
                AND coalesce((SELECT retired_at IS NULL FROM devices WHERE id = $4), true)
                AND (SELECT name FROM persons WHERE id = $5) = $6",
        )
        .bind(w.alarm)
        .bind(w.fence)
        .bind(w.leave)
        .bind(w.device)
        .bind(w.person)
        .bind(&w.name)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        assert!(untouched, "{method} {template}: an outsider changed a record");
    }
    assert!(checked > 200, "{checked} calls");
    app.stop().await;
}

#[tokio::test]
async fn the_document_covers_the_interfaces_the_console_and_checks_rely_on() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in [
        ("post", "/api/v1/auth/login"),
        ("get", "/api/v1/alarms"),
        ("get", "/api/v1/alarms/{id}"),
        ("post", "/api/v1/alarms/{id}/acknowledge"),
        ("post", "/api/v1/alarms/{id}/resolve"),
        ("get", "/api/v1/persons/{person}/track"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/openapi.json"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(op["responses"]["404"].is_object() && op["responses"]["400"].is_object(), "{method} {path}: refusals");
    }
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["security"].is_null(), "login needs no session");
    assert!(doc["paths"]["/api/v1/alarms"]["get"]["security"].is_array());
    let resolve = &doc["paths"]["/api/v1/alarms/{id}/resolve"]["post"]["requestBody"];
    assert!(resolve.to_string().contains("Record"), "{resolve}");
    assert!(doc["components"]["schemas"]["Record"]["required"].to_string().contains("outcome"));
    app.stop().await;
}
