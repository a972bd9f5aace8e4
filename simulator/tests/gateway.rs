//! The mock carrier location gateway over HTTP: answers from where the simulation has the
//! person, with cell-level accuracy; no answer while the phone is off; failures at the
//! configured rate; clear errors for bad requests.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use simulator::fleet::space::dist;
use simulator::fleet::{FleetPerson, Scenario};
use simulator::gateway::{Gateway, GatewayError, GatewayOptions, Subscriber};

const SCENARIO: &str = r#"
speed = 1
catch_up = "3h"
seed = 7

[[person]]
name = "reachable"
device = "PHONE-ON"
area = { circle = [40.66, 122.25, 5000] }

[[person]]
name = "switched_off"
device = "PHONE-OFF"
area = { circle = [40.66, 122.25, 5000] }
[[person.event]]
kind = "phone_off"
at = "+1h"
duration = "5h"
"#;

fn fleet(now: DateTime<Utc>) -> (Scenario, Vec<FleetPerson>) {
    let sc = Scenario::parse(SCENARIO, std::path::Path::new(".")).unwrap();
    let warp = sc.warp(now);
    let persons = sc.build(&warp, now).unwrap();
    (sc, persons)
}

fn gateway(persons: &[FleetPerson], at: DateTime<Utc>, failure_rate: f64) -> Gateway {
    let subscribers: HashMap<String, Subscriber> =
        persons.iter().map(|p| (p.device.clone(), Subscriber::from_fleet(p))).collect();
    let options = GatewayOptions { failure_rate, ..GatewayOptions::default() };
    Gateway::new(subscribers, Box::new(move || at), options).unwrap()
}

async fn post(base: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/locate"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn answers_where_the_person_is_with_cell_accuracy_and_refuses_bad_requests() {
    let now = Utc::now();
    let (_, persons) = fleet(now);
    let on = persons.iter().find(|p| p.device == "PHONE-ON").unwrap();
    // At the time of one of the phone's own fixes the person was exactly at its `truth`.
    let fix = &on.fixes[on.fixes.len() / 2];
    let gw = Arc::new(gateway(&persons, fix.time, 0.0));
    let (addr, _task) = simulator::gateway::start("127.0.0.1:0".parse().unwrap(), gw).await.unwrap();
    let base = format!("http://{addr}");

    for _ in 0..20 {
        let (status, a) = post(&base, &json!({"request_id": "r-17", "device": "PHONE-ON"}).to_string()).await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(
            (a["status"].as_str(), a["source"].as_str(), a["crs"].as_str()),
            (Some("located"), Some("cell"), Some("wgs84"))
        );
        assert_eq!((a["request_id"].as_str(), a["device"].as_str()), (Some("r-17"), Some("PHONE-ON")));
        let accuracy = a["accuracy_m"].as_f64().unwrap();
        assert!((300.0..=1500.0).contains(&accuracy), "{a}");
        let got = simulator::replay::LatLon::new(a["lat"].as_f64().unwrap(), a["lon"].as_f64().unwrap());
        let off_by = dist(got, fix.truth);
        assert!(off_by <= accuracy, "reported {off_by:.0} m from the person with accuracy {accuracy}");
        assert_eq!(
            a["located_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
            fix.time,
            "fixes carry whole seconds"
        );
    }
    // The other phone is switched off from +1 h for 5 h: the carrier cannot find it.
    let (status, a) = post(&base, &json!({"request_id": 18, "device": "PHONE-OFF"}).to_string()).await;
    assert_eq!((status, a["status"].as_str(), a["reason"].as_str()), (200, Some("failed"), Some("phone_off")), "{a}");
    assert_eq!(a["request_id"], 18);

    let (status, a) = post(&base, &json!({"device": "NO-SUCH-PHONE"}).to_string()).await;
    assert_eq!(status, 404);
    assert!(a["error"].as_str().unwrap().starts_with("device:"), "{a}");
    for (body, field) in [
        ("{}", "device: missing"),
        ("{\"device\": 5}", "device:"),
        ("{\"device\": \"PHONE-ON\", \"request_id\": [1]}", "request_id:"),
        ("[1, 2]", "body:"),
        ("not json", "body:"),
    ] {
        let (status, a) = post(&base, body).await;
        assert_eq!(status, 400, "{body}: {a}");
        assert!(a["error"].as_str().unwrap().starts_with(field), "{body}: {a}");
    }
}

#[test]
fn failures_come_at_the_configured_rate_and_bad_options_are_named() {
    let now = Utc::now();
    let (_, persons) = fleet(now);
    let gw = gateway(&persons, now - Duration::hours(2) - Duration::minutes(30), 0.3);
    let answers: Vec<Value> = (0..2000).map(|_| gw.locate("PHONE-ON").unwrap()).collect();
    let failed = answers.iter().filter(|a| a["reason"] == "no_coverage").count();
    assert!((500..700).contains(&failed), "{failed} of 2000 failed at a rate of 0.3");
    assert!(answers.iter().all(|a| a["status"] == "located" || a["reason"] == "no_coverage"));
    assert!(gw.locate("nobody").is_none());

    let bad = |o: GatewayOptions| Gateway::new(HashMap::new(), Box::new(Utc::now), o).err().unwrap();
    let d = GatewayOptions::default();
    assert_eq!(bad(GatewayOptions { failure_rate: 1.5, ..d.clone() }), GatewayError::FailureRate(1.5));
    assert!(bad(GatewayOptions { accuracy_m: (800.0, 200.0), ..d }).to_string().starts_with("accuracy_m"));
}

#[tokio::test]
async fn a_fleet_gateway_runs_on_the_fleets_warped_clock() {
    let now = Utc::now();
    let (sc, persons) = fleet(now);
    let warp = sc.warp(now);
    let gw = Gateway::for_fleet(&persons, warp, GatewayOptions::default()).unwrap();
    let (addr, _task) = simulator::gateway::start("127.0.0.1:0".parse().unwrap(), Arc::new(gw)).await.unwrap();
    let health: Value = reqwest::get(format!("http://{addr}/v1/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["subscribers"], 2);
    // At ×1 three hours behind: the simulated clock shows about now − 3 h.
    let sim: DateTime<Utc> = health["sim_time"].as_str().unwrap().parse().unwrap();
    let behind = now - sim;
    assert!(behind > Duration::minutes(179) && behind <= Duration::hours(3), "{behind}");
}
