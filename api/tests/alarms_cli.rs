//! `cctrack alarms`: acknowledge, resolve, dismiss with a handling record as a named staff
//! account; show a case with its history; watch the feed; list the outcomes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tracker::alarm::events::{EventKind, EventLog, NewEvent};
use tracker::alarm::{Kind, State};

use common::{cctrack, run_json};

async fn open_alarm(db: &cctrack_tests::TestDb, person: i64, office: i64) -> i64 {
    let mut tx = db.pool.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alarms (person_id, office_id, kind, opened_at) VALUES ($1, $2, 'mock_location', now()) RETURNING id",
    )
    .bind(person)
    .bind(office)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let mut log = EventLog::default();
    log.push(NewEvent {
        alarm_id: Some(id),
        to_state: Some(State::Open),
        ..NewEvent::new(EventKind::Opened, person, office, Kind::MockLocation)
    });
    log.append(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn fails(args: &[&str], url: &str) -> String {
    let out = cctrack(url).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_handle_alarms_from_the_command_line() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let person = common::add_person(&db, office, "张三");
    for (name, role) in [("li.office", tracker::staff::Role::OfficeStaff), ("audit.one", tracker::staff::Role::Auditor)]
    {
        let s = tracker::staff::NewStaff {
            organisation_id: office,
            username: name,
            display_name: name,
            role,
            password: "pass-word-1",
            email: None,
        };
        tracker::staff::upsert(&db.pool, &s).await.unwrap();
    }
    let outcomes = run_json(cctrack(&db.url).args(["alarms", "outcomes", "--json"]));
    assert_eq!(outcomes.as_array().unwrap().len(), 9);
    assert_eq!(outcomes[0], json!({"code": "phone_verified", "label": "电话核实"}));

    let alarm = open_alarm(&db, person, office).await;
    // Somebody watching the feed sees what follows, one JSON object a line.
    let mut watch = cctrack(&db.url).args(["alarms", "watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(1500)); // the watcher is listening

    let id = alarm.to_string();
    let acked = run_json(cctrack(&db.url).args(["alarms", "ack", &id, "--as", "li.office", "--json"]));
    assert_eq!(
        (acked["alarm"]["state"].as_str(), acked["alarm"]["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some("li.office"))
    );
    // Refusals name what is wrong.
    let err = fails(
        &["alarms", "resolve", &id, "--outcome", "called", "--note", "电话核实：本人在家", "--as", "li.office"],
        &db.url,
    );
    assert!(err.contains("--outcome") && err.contains("phone_verified"), "{err}");
    let err = fails(
        &["alarms", "resolve", &id, "--outcome", "phone_verified", "--note", "已核实", "--as", "li.office"],
        &db.url,
    );
    assert!(err.contains("--note") && err.contains("at least 5"), "{err}");
    let err = fails(
        &["alarms", "resolve", &id, "--outcome", "phone_verified", "--note", "电话核实：本人在家", "--as", "audit.one"],
        &db.url,
    );
    assert!(err.contains("auditor"), "{err}");
    let err = fails(&["alarms", "ack", &id, "--as", "nobody.here"], &db.url);
    assert!(err.contains("--as"), "{err}");

    let resolved = run_json(cctrack(&db.url).args([
        "alarms",
        "resolve",
        &id,
        "--outcome",
        "phone_verified",
        "--note",
        "电话核实：本人在家",
        "--as",
        "li.office",
        "--json",
    ]));
    assert_eq!(resolved["alarm"]["state"], "resolved");
    let err = fails(
        &["alarms", "dismiss", &id, "--outcome", "device_fault", "--note", "设备信号原因", "--as", "li.office"],
        &db.url,
    );
    assert!(err.contains("already resolved by li.office"), "{err}");

    let shown = run_json(cctrack(&db.url).args(["alarms", "show", &id, "--json"]));
    let a = &shown["alarm"];
    assert_eq!(
        (a["id"].as_i64(), a["kind"].as_str(), a["state"].as_str(), a["person_id"].as_i64()),
        (Some(alarm), Some("mock_location"), Some("resolved"), Some(person))
    );
    assert_eq!(
        (a["level"].as_str(), a["office_id"].as_i64(), a["outcome_label"].as_str()),
        (Some("strict"), Some(office), Some("电话核实"))
    );
    let events: Vec<(&str, Option<&str>)> =
        shown["events"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap(), e["by"].as_str())).collect();
    assert_eq!(events, [("opened", None), ("acknowledged", Some("li.office")), ("resolved", Some("li.office"))]);
    assert!(shown["events"].as_array().unwrap().iter().all(|e| e["position"].is_i64() && e["at"].is_string()));
    let text = cctrack(&db.url).args(["alarms", "show", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("疑似虚拟定位") && text.contains("处置完毕") && text.contains("电话核实"), "{text}");

    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 2 {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("watch prints each event");
        seen.push(serde_json::from_str(&line).unwrap());
    }
    assert_eq!((seen[0]["kind"].as_str(), seen[1]["kind"].as_str()), (Some("acknowledged"), Some("resolved")));
    assert_eq!(seen[1]["alarm_id"], alarm);
    assert!(seen[0]["position"].as_i64() < seen[1]["position"].as_i64());
    common::terminate(&mut watch);
    // From the beginning: the opening too.
    let mut all =
        cctrack(&db.url).args(["alarms", "watch", "--after", "0", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let first = BufReader::new(all.stdout.take().unwrap()).lines().next().unwrap().unwrap();
    common::terminate(&mut all);
    assert_eq!(serde_json::from_str::<Value>(&first).unwrap()["kind"], "opened");
}
