//! cctrack's own protocol: `POST /ingest/v1/fixes` with a bearer device token and a batch:
//!
//! ```json
//! {"crs": "wgs84", "fixes": [{"seq": 17, "time": "2026-11-23T08:00:00Z", "lat": 40.66, "lon": 122.23,
//!   "accuracy_m": 12, "source": "gps", "battery_pct": 80, "speed_mps": 1.2, "course_deg": 90,
//!   "altitude_m": 5, "mock": false, "crs": "gcj02"}]}
//! ```
//! `crs` at the top applies to every fix without its own. Unknown keys are ignored.

use geofence::crs::Crs;
use serde_json::Value;

use super::{number, time_value};
use crate::ingest::fix::{FieldError, RawFix, Source};

/// Most fixes one request may carry.
pub const MAX_BATCH: usize = 1000;

/// The batch's fixes, each decoded or refused with its field (`fixes[3].lat`).
pub fn decode(body: &Value) -> Result<Vec<Result<RawFix, FieldError>>, FieldError> {
    let obj = body.as_object().ok_or_else(|| FieldError::new("body", "expected a JSON object with a `fixes` array"))?;
    let batch_crs = match obj.get("crs") {
        None | Some(Value::Null) => None,
        Some(v) => Some(crs(v, "crs")?),
    };
    let fixes = obj
        .get("fixes")
        .and_then(Value::as_array)
        .ok_or_else(|| FieldError::new("fixes", "expected an array of fixes"))?;
    if fixes.is_empty() {
        return Err(FieldError::new("fixes", "is empty"));
    }
    if fixes.len() > MAX_BATCH {
        return Err(FieldError::new("fixes", format!("{} fixes in one request; at most {MAX_BATCH}", fixes.len())));
    }
    Ok(fixes.iter().enumerate().map(|(i, f)| item(f, &format!("fixes[{i}]"), batch_crs)).collect())
}

fn crs(v: &Value, field: &str) -> Result<Crs, FieldError> {
    v.as_str()
        .ok_or_else(|| FieldError::new(field, "expected wgs84, gcj02 or bd09"))?
        .parse()
        .map_err(|e: geofence::crs::UnknownCrs| FieldError::new(field, e.to_string()))
}

fn item(v: &Value, at: &str, batch_crs: Option<Crs>) -> Result<RawFix, FieldError> {
    let f = |name: &str| format!("{at}.{name}");
    let obj = v.as_object().ok_or_else(|| FieldError::new(at, "expected an object"))?;
    let get = |k: &str| obj.get(k).unwrap_or(&Value::Null);
    let seq = match get("seq") {
        Value::Null => None,
        v => Some(v.as_i64().ok_or_else(|| FieldError::new(f("seq"), format!("expected a whole number, got {v}")))?),
    };
    let source =
        match get("source") {
            Value::Null => None,
            Value::String(s) => Some(Source::parse(s).ok_or_else(|| {
                FieldError::new(f("source"), format!("{s:?}: expected gps, network, cell or unknown"))
            })?),
            other => return Err(FieldError::new(f("source"), format!("expected a string, got {other}"))),
        };
    let mock = match get("mock") {
        Value::Null => false,
        Value::Bool(b) => *b,
        other => return Err(FieldError::new(f("mock"), format!("expected true or false, got {other}"))),
    };
    Ok(RawFix {
        seq,
        time: time_value(get("time"), &f("time"))?,
        lat: number(get("lat"), &f("lat"))?,
        lon: number(get("lon"), &f("lon"))?,
        accuracy_m: number(get("accuracy_m"), &f("accuracy_m"))?,
        source,
        crs: match get("crs") {
            Value::Null => batch_crs,
            v => Some(crs(v, &f("crs"))?),
        },
        battery_pct: number(get("battery_pct"), &f("battery_pct"))?,
        speed_mps: number(get("speed_mps"), &f("speed_mps"))?,
        course_deg: number(get("course_deg"), &f("course_deg"))?,
        altitude_m: number(get("altitude_m"), &f("altitude_m"))?,
        mock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_a_batch_and_names_bad_items_by_index() {
        let body = json!({"crs": "gcj02", "fixes": [
            {"seq": 1, "time": "2026-11-23T08:00:00Z", "lat": 40.66, "lon": 122.23, "accuracy_m": 12, "source": "gps", "battery_pct": 80},
            {"seq": 2, "time": 1795420800, "lat": "x", "lon": 122.23},
            {"seq": 3, "time": "2026-11-23T08:01:00Z", "lat": 40.66, "lon": 122.23, "crs": "wgs84", "mock": true},
        ]});
        let out = decode(&body).unwrap();
        let first = out[0].as_ref().unwrap();
        assert_eq!(
            (first.seq, first.crs, first.source, first.battery_pct),
            (Some(1), Some(Crs::Gcj02), Some(Source::Gps), Some(80.0))
        );
        assert_eq!(out[1].as_ref().unwrap_err().field, "fixes[1].lat");
        let third = out[2].as_ref().unwrap();
        assert_eq!((third.crs, third.mock), (Some(Crs::Wgs84), true));
    }

    #[test]
    fn refuses_malformed_batches() {
        assert_eq!(decode(&json!([])).unwrap_err().field, "body");
        assert_eq!(decode(&json!({"fixes": []})).unwrap_err().field, "fixes");
        assert_eq!(decode(&json!({"fixes": [{}], "crs": "utm"})).unwrap_err().field, "crs");
        let many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
        assert!(decode(&json!({ "fixes": many })).unwrap_err().message.contains("at most 1000"));
        let out = decode(&json!({"fixes": [{"seq": 1.5}, {"source": "satellite"}, {"mock": "yes"}]})).unwrap();
        let fields: Vec<String> = out.into_iter().map(|r| r.unwrap_err().field).collect();
        assert_eq!(fields, ["fixes[0].seq", "fixes[1].source", "fixes[2].mock"]);
    }
}
