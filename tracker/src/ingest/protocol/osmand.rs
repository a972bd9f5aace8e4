//! Traccar Client's OsmAnd protocol (default port 5055), both forms it sends:
//!
//! - query string (legacy Android/iOS apps, GET or POST with an empty body, or the parameters
//!   form-encoded in the body): `id`, `timestamp` (seconds, milliseconds or ISO-8601), `lat`,
//!   `lon` (or `location=lat,lon`), `speed` in **knots**, `bearing`/`heading`, `altitude`,
//!   `accuracy`, `hdop`, `batt` (percent), `mock`, and cctrack's own `crs`;
//! - JSON (the Flutter client): `{"device_id": "...", "location": {"timestamp": ISO,
//!   "coords": {"latitude", "longitude", "accuracy", "speed" (m/s, −1 unknown), "heading" (−1
//!   unknown), "altitude"}, "battery": {"level": 0..1, −1 unknown}, "mock": bool}}`.
//!
//! The device is identified by its enrolment id alone (the app has no other credential).

use std::collections::HashMap;

use serde_json::Value;

use super::{number, parse_time, time_value};
use crate::ingest::fix::{FieldError, FieldNames, RawFix, Source};

const KNOT_MPS: f64 = 1852.0 / 3600.0;
/// Rough horizontal accuracy per unit of HDOP for a phone GPS (metres), used only when the app
/// sends HDOP and no accuracy.
const METRES_PER_HDOP: f64 = 5.0;

pub const QUERY_FIELDS: FieldNames = FieldNames {
    seq: "seq",
    time: "timestamp",
    lat: "lat",
    lon: "lon",
    accuracy: "accuracy",
    battery: "batt",
    speed: "speed",
    course: "bearing",
    altitude: "altitude",
};

pub const JSON_FIELDS: FieldNames = FieldNames {
    seq: "seq",
    time: "location.timestamp",
    lat: "location.coords.latitude",
    lon: "location.coords.longitude",
    accuracy: "location.coords.accuracy",
    battery: "location.battery.level",
    speed: "location.coords.speed",
    course: "location.coords.heading",
    altitude: "location.coords.altitude",
};

/// One decoded OsmAnd request: who sent it and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmandFix {
    pub device: String,
    pub fix: RawFix,
    pub names: FieldNames,
}

fn num(params: &HashMap<String, String>, key: &str) -> Result<Option<f64>, FieldError> {
    match params.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<f64>().map(Some).map_err(|_| FieldError::new(key, format!("{s:?} is not a number"))),
    }
}

/// The query-string form. A missing `timestamp` means "now", as Traccar reads it.
pub fn decode_query(params: &HashMap<String, String>) -> Result<OsmandFix, FieldError> {
    let device = params
        .get("id")
        .or_else(|| params.get("deviceid"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FieldError::new("id", "is missing"))?;
    let (lat, lon) = match params.get("location") {
        Some(loc) if !params.contains_key("lat") => {
            let (a, b) = loc.split_once(',').ok_or_else(|| FieldError::new("location", "expected lat,lon"))?;
            let p = |s: &str| {
                s.trim().parse::<f64>().map_err(|_| FieldError::new("location", format!("{loc:?} is not lat,lon")))
            };
            (Some(p(a)?), Some(p(b)?))
        }
        _ => (num(params, "lat")?, num(params, "lon")?),
    };
    let time = match params.get("timestamp").filter(|s| !s.trim().is_empty()) {
        Some(t) => Some(parse_time(t, "timestamp")?),
        None => Some(chrono::Utc::now()),
    };
    let accuracy = num(params, "accuracy")?.filter(|a| *a > 0.0);
    let hdop = num(params, "hdop")?;
    let crs = match params.get("crs") {
        Some(c) => Some(c.parse().map_err(|e: geofence::crs::UnknownCrs| FieldError::new("crs", e.to_string()))?),
        None => None,
    };
    let flag = |k: &str| params.get(k).is_some_and(|v| v == "true" || v == "1");
    Ok(OsmandFix {
        device,
        names: QUERY_FIELDS,
        fix: RawFix {
            seq: None,
            time,
            lat,
            lon,
            // The legacy Android app sends accuracy=0 for every GPS fix: that means "not
            // reported", not "exact".
            accuracy_m: accuracy.or(hdop.map(|h| h * METRES_PER_HDOP)),
            source: Some(Source::Gps),
            crs,
            battery_pct: num(params, "batt")?,
            speed_mps: num(params, "speed")?.map(|knots| knots * KNOT_MPS),
            course_deg: num(params, "bearing")?.or(num(params, "heading")?),
            altitude_m: num(params, "altitude")?,
            mock: flag("mock"),
        },
    })
}

/// The JSON form of the Flutter Traccar Client.
pub fn decode_json(body: &Value) -> Result<OsmandFix, FieldError> {
    let device = body
        .get("device_id")
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FieldError::new("device_id", "is missing"))?;
    let location = body.get("location").ok_or_else(|| FieldError::new("location", "is missing"))?;
    let coords = location.get("coords").unwrap_or(&Value::Null);
    let c = |k: &str| coords.get(k).unwrap_or(&Value::Null);
    // −1 is the app's "unknown" for speed, heading and battery level.
    let known = |v: Option<f64>| v.filter(|x| *x >= 0.0);
    let level = known(number(location.pointer("/battery/level").unwrap_or(&Value::Null), JSON_FIELDS.battery)?);
    Ok(OsmandFix {
        device,
        names: JSON_FIELDS,
        fix: RawFix {
            seq: None,
            time: time_value(location.get("timestamp").unwrap_or(&Value::Null), JSON_FIELDS.time)?,
            lat: number(c("latitude"), JSON_FIELDS.lat)?,
            lon: number(c("longitude"), JSON_FIELDS.lon)?,
            accuracy_m: number(c("accuracy"), JSON_FIELDS.accuracy)?.filter(|a| *a > 0.0),
            source: Some(Source::Gps),
            crs: None,
            battery_pct: level.map(|l| if l <= 1.0 { l * 100.0 } else { l }),
            speed_mps: known(number(c("speed"), JSON_FIELDS.speed)?),
            course_deg: known(number(c("heading"), JSON_FIELDS.course)?),
            altitude_m: number(c("altitude"), JSON_FIELDS.altitude)?,
            mock: location.get("mock").and_then(Value::as_bool).unwrap_or(false),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> HashMap<String, String> {
        q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn legacy_android_query_as_sent() {
        let d = decode_query(&query("id=123456&timestamp=1718459112&lat=37.4219983&lon=-122.084&speed=10.0&bearing=90.0&altitude=5.0&accuracy=0.0&batt=87.0&charge=true&mock=true")).unwrap();
        assert_eq!(d.device, "123456");
        assert_eq!(d.fix.time.unwrap().timestamp(), 1718459112);
        assert_eq!((d.fix.lat, d.fix.lon), (Some(37.4219983), Some(-122.084)));
        assert!((d.fix.speed_mps.unwrap() - 5.1444).abs() < 1e-3, "knots converted");
        assert_eq!(d.fix.accuracy_m, None, "accuracy=0 means not reported");
        assert_eq!((d.fix.battery_pct, d.fix.course_deg, d.fix.mock), (Some(87.0), Some(90.0), true));
    }

    #[test]
    fn query_variants() {
        let d = decode_query(&query(
            "deviceid=abc&location=40.1,122.2&hdop=2&timestamp=2025-06-15T13:45:12.862Z&crs=gcj02",
        ))
        .unwrap();
        assert_eq!(
            (d.device.as_str(), d.fix.lat, d.fix.lon, d.fix.accuracy_m),
            ("abc", Some(40.1), Some(122.2), Some(10.0))
        );
        assert_eq!(d.fix.crs, Some(geofence::crs::Crs::Gcj02));
        assert_eq!(decode_query(&query("lat=1&lon=2")).unwrap_err().field, "id");
        assert_eq!(decode_query(&query("id=a&lat=north&lon=2")).unwrap_err().field, "lat");
        assert_eq!(decode_query(&query("id=a&lat=1&lon=2&timestamp=soon")).unwrap_err().field, "timestamp");
    }

    #[test]
    fn flutter_json_as_sent() {
        let body: Value = serde_json::from_str(r#"{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":0.5,"is_charging":false},"activity":{"type":"still"},"extras":{},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}"#).unwrap();
        let d = decode_json(&body).unwrap();
        assert_eq!(d.device, "48241179");
        assert_eq!(d.fix.time.unwrap().timestamp_millis(), 1749995112862);
        assert_eq!(
            (d.fix.accuracy_m, d.fix.speed_mps, d.fix.course_deg, d.fix.battery_pct),
            (Some(5.0), Some(0.0), None, Some(50.0))
        );
        let missing: Value = serde_json::from_str(
            r#"{"location":{"timestamp":"2025-06-15T13:45:12Z","coords":{"latitude":"x"}},"device_id":"1"}"#,
        )
        .unwrap();
        assert_eq!(decode_json(&missing).unwrap_err().field, "location.coords.latitude");
    }
}
