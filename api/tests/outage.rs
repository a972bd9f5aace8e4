//! The database goes away under a running server: ingest answers 503 with Retry-After (never a
//! 500, never a 2xx it cannot keep), and after the database is back every acknowledged fix is
//! stored exactly once.

mod common;

use std::process::Stdio;

use chrono::{SecondsFormat, Utc};
use common::{address_after, cctrack_bin, http, run_json, terminate, wait_listening};
use serde_json::{json, Value};
use tracker::db::{Database, EmbeddedCluster};

/// Sends one native fix; returns the status and the Retry-After header, if any.
fn send(addr: &str, auth: &str, seq: i64, time: &str) -> (u16, Option<String>) {
    let body = json!({"fixes": [{"seq": seq, "time": time, "lat": 40.667, "lon": 122.235, "accuracy_m": 10}]});
    let (status, head, _) =
        http(addr, "POST", "/ingest/v1/fixes", &[("Authorization", auth)], body.to_string().as_bytes());
    let retry_after =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after:").map(|v| v.trim().to_string()));
    (status, retry_after)
}

#[tokio::test]
async fn database_outage_answers_503_and_loses_nothing_acknowledged() {
    let dir = std::env::temp_dir().join(format!("cctrack-outage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // A cluster with one person who consented.
    let db = Database::open(None, &dir).await.unwrap();
    let pool = db.connect_and_migrate().await.unwrap();
    let person: i64 = sqlx::query_scalar(
        "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id),
              k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '站前区', '210802' FROM c RETURNING id),
              o AS (INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '跃进司法所' FROM k RETURNING id),
              p AS (INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level)
                    SELECT id, '李四', 'parole', '2026-01-01', '2030-01-01', 'strict' FROM o RETURNING id),
              b AS (INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) SELECT id, 'consent', now() - interval '1 day', '承诺书' FROM p)
         SELECT id FROM p",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;

    // The server adopts the running cluster; enrolment runs beside it.
    let mut server = cctrack_bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--osmand-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = address_after(&wait_listening(&mut server), "cctrack listening on http://");
    let enrolled: Value = run_json(
        cctrack_bin()
            .args(["device", "enrol", "--protocol", "native", "--json", "--person", &person.to_string(), "--data-dir"])
            .arg(&dir),
    );
    let auth = format!("Bearer {}.{}", enrolled["enrolment_id"].as_str().unwrap(), enrolled["token"].as_str().unwrap());

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let mut seq = 0;
    let next = |seq: &mut i64| {
        *seq += 1;
        (*seq, Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
    };
    for _ in 0..10 {
        let (s, t) = next(&mut seq);
        assert_eq!(send(&addr, &auth, s, &t).0, 200);
        acknowledged.push(s);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }

    // The database stops (a restart, a failover).
    let cluster = EmbeddedCluster::start(&dir).unwrap();
    assert!(!cluster.launched());
    cluster.stop().unwrap();
    // Each refusal takes the pool's acquire timeout (3 s): three are enough.
    for _ in 0..3 {
        let (s, t) = next(&mut seq);
        let (status, retry_after) = send(&addr, &auth, s, &t);
        assert_eq!(status, 503, "no database: 503, not {status}");
        assert!(retry_after.is_some_and(|v| v.parse::<u32>().is_ok()), "503 carries Retry-After");
        refused.push((s, t));
    }
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 503);

    // Back on the same address: the phone re-sends what was refused, and goes on.
    let cluster = EmbeddedCluster::start(&dir).unwrap();
    assert!(cluster.launched());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for (s, t) in refused {
        loop {
            let (status, _) = send(&addr, &auth, s, &t);
            if status == 200 {
                acknowledged.push(s);
                break;
            }
            assert_eq!(status, 503, "while reconnecting only 503 is acceptable");
            assert!(std::time::Instant::now() < deadline, "server did not recover");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    for _ in 0..5 {
        let (s, t) = next(&mut seq);
        assert_eq!(send(&addr, &auth, s, &t).0, 200);
        acknowledged.push(s);
    }
    // A re-send of an acknowledged fix after the outage is a duplicate, not a second row.
    let stored: Vec<i64> = {
        let pool = tracker::db::connect(&cluster.url("cctrack")).await.unwrap();
        let rows = sqlx::query_scalar("SELECT device_seq FROM fixes WHERE person_id = $1 ORDER BY device_seq")
            .bind(person)
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    };
    acknowledged.sort();
    assert_eq!(stored, acknowledged, "every acknowledged fix stored exactly once");

    assert!(terminate(&mut server).success());
    let _ = std::fs::remove_dir_all(&dir);
}
