//! cctrack's native protocol: `POST {server}/ingest/v1/fixes` with `Authorization: Bearer
//! <enrolment id>.<token>` and a batch `{"crs", "fixes": [...]}` of up to 1000 fixes; the reply
//! reports each fix as accepted, duplicate or refused by index and field.

use chrono::SecondsFormat;
use geofence::crs::Crs;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::plan::PlannedFix;
use super::send::{error_body, Answer, Rejection, Request};

/// Most fixes one request may carry (the server's limit).
pub const MAX_BATCH: usize = 1000;

/// The JSON body for `fixes`.
pub fn body(crs: Crs, fixes: &[PlannedFix]) -> Value {
    let items: Vec<Value> = fixes
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("seq".into(), json!(f.seq));
            o.insert("time".into(), json!(f.time.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
            o.insert("lat".into(), json!(f.lat));
            o.insert("lon".into(), json!(f.lon));
            // Traces are GNSS recordings.
            o.insert("source".into(), json!("gps"));
            o.insert("mock".into(), json!(false));
            for (k, v) in [
                ("accuracy_m", f.accuracy_m),
                ("speed_mps", f.speed_mps),
                ("course_deg", f.course_deg),
                ("altitude_m", f.altitude_m),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), json!(v));
                }
            }
            Value::Object(o)
        })
        .collect();
    json!({"crs": crs.to_string(), "fixes": items})
}

/// The request for one batch to `endpoint` (`…/ingest/v1/fixes`).
pub fn request(endpoint: &reqwest::Url, device: &str, token: &str, crs: Crs, fixes: &[PlannedFix]) -> Request {
    Request {
        url: endpoint.clone(),
        headers: vec![
            ("Authorization", format!("Bearer {device}.{token}")),
            ("Content-Type", "application/json".into()),
        ],
        body: Some(body(crs, fixes).to_string().into_bytes()),
    }
}

#[derive(Deserialize)]
struct Report {
    accepted: usize,
    duplicates: usize,
    #[serde(default)]
    errors: Vec<ItemError>,
    #[serde(default)]
    location_request: Option<Value>,
}

#[derive(Deserialize)]
struct ItemError {
    index: usize,
    field: String,
    message: String,
}

/// `fixes[3].time` → `time`, so refusals add up by field across batches.
fn bare_field(field: &str) -> &str {
    match field.strip_prefix("fixes[").and_then(|r| r.split_once("].")) {
        Some((i, rest)) if i.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => field,
    }
}

/// What the reply to an `n`-fix batch means (after the statuses common to every protocol).
pub fn answer(status: u16, body: &[u8], n: usize) -> Answer {
    match status {
        // 200: at least one taken or all duplicates; 422: every fix refused. Same report.
        200..=299 | 422 => match serde_json::from_slice::<Report>(body) {
            Ok(r) => Answer::Judged {
                accepted: r.accepted,
                duplicates: r.duplicates,
                rejected: r
                    .errors
                    .into_iter()
                    .map(|e| Rejection { index: e.index, field: bare_field(&e.field).to_string(), message: e.message })
                    .collect(),
                location_request: r.location_request.is_some_and(|v| !v.is_null()),
            },
            Err(e) => Answer::all_rejected(n, "reply", &format!("unreadable reply ({status}): {e}")),
        },
        // 400 (the batch as a whole is malformed), 413, 500…: nothing of it was taken.
        _ => {
            let (field, message) = error_body(status, body);
            Answer::all_rejected(n, bare_field(&field), &message)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::replay::frame::LatLon;

    pub(crate) fn fix(seq: i64, time: &str) -> PlannedFix {
        PlannedFix {
            point: 0,
            seq,
            time: time.parse().unwrap(),
            due: Duration::ZERO,
            wgs84: LatLon::new(40.667, 122.235),
            lat: 40.667,
            lon: 122.235,
            accuracy_m: Some(10.0),
            speed_mps: Some(1.5),
            course_deg: None,
            altitude_m: Some(4.25),
        }
    }

    #[test]
    fn batch_body_exactly() {
        let fixes = [fix(1, "2026-11-23T08:00:00Z"), fix(2, "2026-11-23T08:00:01.250Z")];
        let url: reqwest::Url = "http://127.0.0.1:8080/ingest/v1/fixes".parse().unwrap();
        let r = request(&url, "AB12CD", "s3cret", Crs::Gcj02, &fixes);
        assert_eq!(r.headers[0], ("Authorization", "Bearer AB12CD.s3cret".to_string()));
        let got: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        let want = json!({"crs": "gcj02", "fixes": [
            {"seq": 1, "time": "2026-11-23T08:00:00Z", "lat": 40.667, "lon": 122.235, "source": "gps", "mock": false,
             "accuracy_m": 10.0, "speed_mps": 1.5, "altitude_m": 4.25},
            {"seq": 2, "time": "2026-11-23T08:00:01.250Z", "lat": 40.667, "lon": 122.235, "source": "gps", "mock": false,
             "accuracy_m": 10.0, "speed_mps": 1.5, "altitude_m": 4.25},
        ]});
        assert_eq!(got, want);
    }

    #[test]
    fn replies() {
        let ok = br#"{"accepted":2,"duplicates":1,"errors":[{"index":1,"field":"fixes[1].time","message":"is before the device was enrolled"}],"location_request":null}"#;
        assert_eq!(
            answer(200, ok, 4),
            Answer::Judged {
                accepted: 2,
                duplicates: 1,
                rejected: vec![Rejection {
                    index: 1,
                    field: "time".into(),
                    message: "is before the device was enrolled".into()
                }],
                location_request: false
            }
        );
        let asked = br#"{"accepted":1,"duplicates":0,"errors":[],"location_request":{"id":3,"reason":"confirm","deadline_at":"2026-11-23T08:00:00Z"}}"#;
        assert!(matches!(answer(200, asked, 1), Answer::Judged { location_request: true, .. }));
        let bad = br#"{"error":"fixes: 1001 fixes in one request; at most 1000","field":"fixes"}"#;
        match answer(400, bad, 3) {
            Answer::Judged { accepted: 0, rejected, .. } => {
                assert_eq!(rejected.len(), 3);
                assert_eq!(rejected[2].field, "fixes");
                assert_eq!(rejected[2].message, "1001 fixes in one request; at most 1000");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(answer(200, b"<html>", 2), Answer::Judged { accepted: 0, ref rejected, .. } if rejected.len() == 2)
        );
        assert_eq!(bare_field("fixes[12].lat"), "lat");
        assert_eq!(bare_field("fixes"), "fixes");
    }
}
