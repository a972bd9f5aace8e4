//! OwnTracks in HTTP mode: one JSON message per POST, HTTP basic auth (username = enrolment id,
//! password = device token), reply `[]`. Only `_type: location` carries a fix; every other type
//! (transition, waypoint, card, status, …) is accepted and ignored.
//!
//! Units: `tst` Unix seconds, `acc`/`alt` metres, `vel` **km/h**, `cog` degrees, `batt` percent.

use serde_json::Value;

use super::{number, time_value};
use crate::ingest::fix::{FieldError, FieldNames, RawFix, Source};

pub const FIELDS: FieldNames = FieldNames {
    seq: "seq",
    time: "tst",
    lat: "lat",
    lon: "lon",
    accuracy: "acc",
    battery: "batt",
    speed: "vel",
    course: "cog",
    altitude: "alt",
};

/// `Ok(None)` for messages that carry no fix.
pub fn decode(body: &Value) -> Result<Option<RawFix>, FieldError> {
    let kind = body.get("_type").and_then(Value::as_str).ok_or_else(|| FieldError::new("_type", "is missing"))?;
    if kind != "location" {
        return Ok(None);
    }
    let get = |k: &str| body.get(k).unwrap_or(&Value::Null);
    // OwnTracks omits acc/alt/cog/vel when they are 0; an omitted accuracy is "not reported".
    Ok(Some(RawFix {
        seq: None,
        time: time_value(get("tst"), "tst")?,
        lat: number(get("lat"), "lat")?,
        lon: number(get("lon"), "lon")?,
        accuracy_m: number(get("acc"), "acc")?,
        source: Some(match get("conn").as_str() {
            Some("o") => Source::Gps,
            _ => Source::Unknown,
        }),
        crs: None,
        battery_pct: number(get("batt"), "batt")?,
        speed_mps: number(get("vel"), "vel")?.map(|kmh| kmh / 3.6),
        course_deg: number(get("cog"), "cog")?,
        altitude_m: number(get("alt"), "alt")?,
        mock: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn android_location_as_sent() {
        let body: Value = serde_json::from_str(r#"{"_type":"location","BSSID":"12:34:56:78","SSID":"Wifi SSID","_id":"8f3a1c2e","acc":10,"alt":20,"batt":30,"bs":2,"cog":56,"conn":"w","created_at":1718459115,"inregions":["Home"],"lat":50.1,"lon":60.2,"m":1,"t":"u","tid":"ph","topic":"owntracks/jane/phone","tst":1718459112,"vac":1,"vel":36}"#).unwrap();
        let f = decode(&body).unwrap().unwrap();
        assert_eq!(f.time.unwrap().timestamp(), 1718459112, "tst, not created_at");
        assert_eq!(
            (f.lat, f.lon, f.accuracy_m, f.altitude_m, f.battery_pct, f.course_deg),
            (Some(50.1), Some(60.2), Some(10.0), Some(20.0), Some(30.0), Some(56.0))
        );
        assert!((f.speed_mps.unwrap() - 10.0).abs() < 1e-9, "36 km/h = 10 m/s");
    }

    #[test]
    fn other_types_carry_no_fix_and_bad_fields_are_named() {
        for kind in ["transition", "waypoint", "card", "status", "lwt", "encrypted"] {
            let body = serde_json::json!({"_type": kind, "lat": 1});
            assert_eq!(decode(&body).unwrap(), None, "{kind}");
        }
        assert_eq!(decode(&serde_json::json!({"lat": 1})).unwrap_err().field, "_type");
        assert_eq!(
            decode(&serde_json::json!({"_type": "location", "lat": "n", "lon": 1, "tst": 1})).unwrap_err().field,
            "lat"
        );
        assert_eq!(
            decode(&serde_json::json!({"_type": "location", "lat": 1, "lon": 1, "tst": true})).unwrap_err().field,
            "tst"
        );
        // Old apps sent numbers as strings.
        let f = decode(&serde_json::json!({"_type": "location", "lat": "40.5", "lon": "122.1", "tst": "1718459112"}))
            .unwrap()
            .unwrap();
        assert_eq!(f.lat, Some(40.5));
    }
}
