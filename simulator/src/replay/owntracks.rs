//! OwnTracks in HTTP mode: `POST {server}/ingest/owntracks`, HTTP basic auth (username =
//! enrolment id, password = token), one `_type: location` message per request as the apps send
//! it: `tst` Unix seconds, `acc`/`alt` whole metres, `vel` whole **km/h**, `cog` whole degrees.
//! The protocol has no way to say which datum a position is in, so it is always WGS-84.

use serde_json::{json, Map, Value};

use super::plan::PlannedFix;
use super::send::{base64, Request};

/// OwnTracks' two-character tracker id, required in HTTP mode; shown on maps beside the point.
pub const TID: &str = "cs";

/// The message for one fix.
pub fn body(f: &PlannedFix) -> Value {
    let mut o = Map::new();
    o.insert("_type".into(), json!("location"));
    o.insert("lat".into(), json!(f.lat));
    o.insert("lon".into(), json!(f.lon));
    o.insert("tst".into(), json!(f.time.timestamp()));
    o.insert("tid".into(), json!(TID));
    // The apps send whole numbers; rounding (rather than the Android app's truncation of km/h)
    // keeps what the server stores closest to the trace.
    let whole = |v: f64| json!(v.round() as i64);
    for (k, v) in [
        ("acc", f.accuracy_m),
        ("alt", f.altitude_m),
        ("vel", f.speed_mps.map(|s| s * 3.6)),
        ("cog", f.course_deg.map(|c| c % 360.0)),
    ] {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            o.insert(k.into(), whole(v));
        }
    }
    Value::Object(o)
}

/// The request for one fix to `endpoint` (`…/ingest/owntracks`).
pub fn request(endpoint: &reqwest::Url, device: &str, token: &str, f: &PlannedFix) -> Request {
    Request {
        url: endpoint.clone(),
        headers: vec![
            ("Authorization", format!("Basic {}", base64(format!("{device}:{token}").as_bytes()))),
            ("Content-Type", "application/json; charset=utf-8".into()),
        ],
        body: Some(body(f).to_string().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::native::tests::fix;
    use crate::replay::send::{single_fix_answer as answer, Answer};

    #[test]
    fn location_message_exactly() {
        let mut f = fix(1, "2026-11-23T08:00:00Z");
        f.speed_mps = Some(10.0);
        f.course_deg = Some(359.6);
        let r = request(&"http://127.0.0.1:8080/ingest/owntracks".parse().unwrap(), "AB12CD", "s3:cret", &f);
        assert_eq!(r.headers[0], ("Authorization", format!("Basic {}", base64(b"AB12CD:s3:cret"))));
        let got: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        // 10 m/s = 36 km/h; 359.6° rounds to 360, which is north as the server reads it.
        assert_eq!(
            got,
            json!({"_type": "location", "lat": 40.667, "lon": 122.235, "tst": 1795420800, "tid": "cs",
                   "acc": 10, "alt": 4, "vel": 36, "cog": 360})
        );
        f.speed_mps = Some(1.2);
        f.accuracy_m = None;
        let got = body(&f);
        assert_eq!((got["vel"].as_i64(), got.get("acc")), (Some(4), None), "4.32 km/h → 4");
    }

    #[test]
    fn replies() {
        assert!(matches!(answer(200, b"[]"), Answer::Judged { accepted: 1, .. }));
        assert!(
            matches!(answer(400, br#"{"error":"tst: is missing","field":"tst"}"#), Answer::Judged { ref rejected, .. } if rejected[0].field == "tst")
        );
    }
}
