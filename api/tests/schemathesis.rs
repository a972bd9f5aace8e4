//! Schemathesis (PyPI, installed by `scripts/setup`) against a live `cctrack serve` with a
//! signed-in city account: it reads `/api/v1/openapi.json`, generates valid and invalid requests
//! for every operation, and checks that nothing answers 5xx and every answer (status, content
//! type, headers, body) is one the document declares. The live event stream is left out (it does
//! not end; `staff_routes` tests it); so are logout and password change, which would end the
//! session the run signs in with.

mod common;

use std::process::Command;

use common::{http, Server};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_openapi_document() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let city: i64 = sqlx::query_scalar(
        "SELECT c.parent_id FROM organisations o JOIN organisations c ON c.id = o.parent_id WHERE o.id = $1",
    )
    .bind(office)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let password = "schema-pass-1";
    let admin = tracker::staff::NewStaff {
        organisation_id: city,
        username: "city.admin",
        display_name: "市局管理员",
        role: tracker::staff::Role::CityAdmin,
        password,
        email: None,
    };
    tracker::staff::upsert(&db.pool, &admin).await.unwrap();
    // Records for the generated ids to land on.
    for name in ["张三", "李四"] {
        common::add_person(&db, office, name);
    }
    let server = Server::start(&db.url);
    let login = json!({"username": "city.admin", "password": password}).to_string();
    let (status, _, body) =
        http(&server.main, "POST", "/api/v1/auth/login", &[("Content-Type", "application/json")], login.as_bytes());
    assert_eq!(status, 200);
    let token = serde_json::from_slice::<Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let out = Command::new("schemathesis")
        .args(["run", &format!("http://{}/api/v1/openapi.json", server.main)])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,fuzzing", "--max-examples", "25", "--workers", "2", "--seed", "20261207"])
        .args(["--request-timeout", "10", "--no-color"])
        .args(["--exclude-path", "/api/v1/events", "--exclude-path", "/api/v1/auth/logout"])
        .args(["--exclude-path", "/api/v1/auth/password"])
        .output()
        .expect("schemathesis runs (scripts/setup installs it from PyPI)");
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: String =
        report.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(out.status.success(), "schemathesis found answers the document does not allow:\n{summary}");
    assert!(report.contains("Tested:"), "{summary}");
    server.stop();
}
