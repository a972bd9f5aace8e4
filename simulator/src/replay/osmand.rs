//! Traccar Client's OsmAnd protocol, the query form the legacy Android app sends: `POST
//! /?id=…&timestamp=…&lat=…&lon=…&speed=…&bearing=…&altitude=…&accuracy=…` with an empty body,
//! one fix per request, to the OsmAnd listener. Units as the app's: `timestamp` Unix seconds,
//! `speed` knots. cctrack's extension `crs=gcj02|bd09` tags the position's datum.

use geofence::crs::Crs;

use super::plan::PlannedFix;
use super::send::Request;

/// Metres per second in a knot.
pub const KNOT_MPS: f64 = 1852.0 / 3600.0;

/// `x` rounded to `decimals` places, written without trailing noise (`9.719`, `10`).
pub fn num(x: f64, decimals: i32) -> String {
    let scale = 10f64.powi(decimals);
    format!("{}", (x * scale).round() / scale)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string for one fix. Latitude and longitude are written in full (Rust prints the
/// shortest text that reads back as the same number), so the server gets the exact position.
pub fn query(device: &str, crs: Crs, f: &PlannedFix) -> String {
    let mut q = format!("id={}&timestamp={}&lat={}&lon={}", encode(device), f.time.timestamp(), f.lat, f.lon);
    let optional = [
        ("speed", f.speed_mps.map(|v| num(v / KNOT_MPS, 3))),
        ("bearing", f.course_deg.map(|v| num(v, 1))),
        ("altitude", f.altitude_m.map(|v| num(v, 1))),
        ("accuracy", f.accuracy_m.map(|v| num(v, 1))),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={v}"));
        }
    }
    if crs != Crs::Wgs84 {
        q.push_str(&format!("&crs={crs}"));
    }
    q
}

/// The request for one fix to the OsmAnd listener at `endpoint`.
pub fn request(endpoint: &reqwest::Url, device: &str, crs: Crs, f: &PlannedFix) -> Request {
    let mut url = endpoint.clone();
    url.set_query(Some(&query(device, crs, f)));
    Request { url, headers: vec![], body: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::native::tests::fix;
    use crate::replay::send::{single_fix_answer as answer, Answer};

    #[test]
    fn query_exactly_as_the_android_app_orders_it() {
        let mut f = fix(1, "2026-11-23T08:00:00Z");
        f.speed_mps = Some(5.0);
        f.course_deg = Some(90.0);
        f.lat = 40.66712345678901;
        assert_eq!(
            query("AB 12/é", Crs::Wgs84, &f),
            "id=AB%2012%2F%C3%A9&timestamp=1795420800&lat=40.66712345678901&lon=122.235\
             &speed=9.719&bearing=90&altitude=4.3&accuracy=10"
        );
        f.speed_mps = None;
        f.course_deg = None;
        f.altitude_m = None;
        f.accuracy_m = None;
        assert_eq!(query("7", Crs::Gcj02, &f), "id=7&timestamp=1795420800&lat=40.66712345678901&lon=122.235&crs=gcj02");
        let r = request(&"http://127.0.0.1:5055".parse().unwrap(), "7", Crs::Bd09, &f);
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:5055/?id=7&timestamp=1795420800&lat=40.66712345678901&lon=122.235&crs=bd09"
        );
        assert_eq!(r.body, None);
    }

    #[test]
    fn knots() {
        // 10 knots is 5.1444 m/s; the server converts back with the same factor.
        assert_eq!(num(5.144_444_444 / KNOT_MPS, 3), "10");
        assert_eq!(num(1.0 / KNOT_MPS, 3), "1.944");
        let lat: f64 = "40.66712345678901".parse().unwrap();
        assert_eq!(format!("{lat}").parse::<f64>().unwrap(), lat);
    }

    #[test]
    fn replies() {
        assert!(matches!(answer(200, b""), Answer::Judged { accepted: 1, .. }));
        match answer(400, br#"{"error":"timestamp: is before the device was enrolled","field":"timestamp"}"#) {
            Answer::Judged { rejected, .. } => {
                assert_eq!(
                    (rejected[0].field.as_str(), rejected[0].message.as_str()),
                    ("timestamp", "is before the device was enrolled")
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
