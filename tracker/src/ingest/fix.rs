//! A fix as decoded from any protocol ([`RawFix`]) and as accepted ([`ValidFix`]).
//!
//! Decoders only translate wire formats and units; every rule about what a fix may be lives in
//! [`validate`], so all protocols refuse the same things with the same field names.

use chrono::{DateTime, Duration, Utc};
use geofence::crs::Crs;
use serde::Serialize;

/// How far in the future a fix time may lie (phone clocks drift).
pub const MAX_FUTURE: Duration = Duration::minutes(10);

/// Where the position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Gps,
    Network,
    Cell,
    Unknown,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Gps => "gps",
            Source::Network => "network",
            Source::Cell => "cell",
            Source::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        match s {
            "gps" | "fused" => Some(Source::Gps),
            "network" | "wifi" => Some(Source::Network),
            "cell" => Some(Source::Cell),
            "unknown" => Some(Source::Unknown),
            _ => None,
        }
    }
}

/// A fix in SI units, not yet validated. `None` means the protocol did not carry the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawFix {
    /// Per-device sequence number (native protocol).
    pub seq: Option<i64>,
    pub time: Option<DateTime<Utc>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Horizontal accuracy radius, metres.
    pub accuracy_m: Option<f64>,
    pub source: Option<Source>,
    /// Coordinate system of lat/lon; `None`: the device's default.
    pub crs: Option<Crs>,
    /// Percent, 0–100.
    pub battery_pct: Option<f64>,
    pub speed_mps: Option<f64>,
    /// Degrees clockwise from north.
    pub course_deg: Option<f64>,
    pub altitude_m: Option<f64>,
    /// The phone reports a mock location provider.
    pub mock: bool,
}

/// Why one fix was refused: the field (in the protocol's own naming) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A fix that passed every rule, in WGS-84.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFix {
    pub seq: Option<i64>,
    pub time: DateTime<Utc>,
    /// WGS-84 degrees.
    pub lon: f64,
    pub lat: f64,
    pub accuracy_m: Option<f64>,
    pub source: Source,
    /// The system the phone reported in (kept for audit; lon/lat are already WGS-84).
    pub input_crs: Crs,
    pub battery_pct: Option<f64>,
    pub speed_mps: Option<f64>,
    pub course_deg: Option<f64>,
    pub altitude_m: Option<f64>,
    pub mock: bool,
}

/// Names of the fields as the protocol calls them, so that errors speak the sender's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldNames {
    pub seq: &'static str,
    pub time: &'static str,
    pub lat: &'static str,
    pub lon: &'static str,
    pub accuracy: &'static str,
    pub battery: &'static str,
    pub speed: &'static str,
    pub course: &'static str,
    pub altitude: &'static str,
}

pub const NATIVE_FIELDS: FieldNames = FieldNames {
    seq: "seq",
    time: "time",
    lat: "lat",
    lon: "lon",
    accuracy: "accuracy_m",
    battery: "battery_pct",
    speed: "speed_mps",
    course: "course_deg",
    altitude: "altitude_m",
};

/// Highest sequence number a phone may send: whole numbers a JSON parser anywhere keeps exact
/// (2^53 − 1), and far from the end of the `bigint` runs that extend by one.
pub const MAX_SEQ: i64 = (1 << 53) - 1;
/// Accuracy radii at or beyond this say nothing about where the phone is (the column's bound).
pub const MAX_ACCURACY_M: f64 = 100_000.0;
/// Faster than any vehicle a supervised person could be on (an airliner cruises at ~250 m/s).
pub const MAX_SPEED_MPS: f64 = 1_000.0;
/// Higher or deeper than any place a phone reports from.
pub const MAX_ALTITUDE_M: f64 = 20_000.0;

/// `v` as the `real` column will hold it. Validation judges the stored value, not the sent one:
/// 359.99999 is 360 once rounded to 32 bits, and 1e300 is infinity.
fn as_stored(v: f64) -> f64 {
    f64::from(v as f32)
}

/// Applies every rule to `raw`, on the values as they will be stored: position finite and, once
/// converted to WGS-84, in range; time present, not more than [`MAX_FUTURE`] ahead of `now` and
/// not before the device's enrolment; sequence number 0–[`MAX_SEQ`]; accuracy 0 to under
/// [`MAX_ACCURACY_M`]; battery 0–100; speed 0–[`MAX_SPEED_MPS`]; course 0–360 (360 is north,
/// stored as 0); altitude within ±[`MAX_ALTITUDE_M`].
pub fn validate(
    raw: &RawFix,
    names: &FieldNames,
    default_crs: Crs,
    enrolled_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ValidFix, FieldError> {
    let lat = raw.lat.ok_or_else(|| FieldError::new(names.lat, "is missing"))?;
    let lon = raw.lon.ok_or_else(|| FieldError::new(names.lon, "is missing"))?;
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(FieldError::new(names.lat, format!("{lat} is not a latitude (−90 to 90)")));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(FieldError::new(names.lon, format!("{lon} is not a longitude (−180 to 180)")));
    }
    let input_crs = raw.crs.unwrap_or(default_crs);
    let (lon, lat) = to_stored_wgs84(input_crs, lon, lat, names)?;
    let time = raw.time.ok_or_else(|| FieldError::new(names.time, "is missing"))?;
    if time > now + MAX_FUTURE {
        return Err(FieldError::new(
            names.time,
            format!("{} is more than 10 minutes in the future", time.to_rfc3339()),
        ));
    }
    if time < enrolled_at {
        return Err(FieldError::new(
            names.time,
            format!("{} is before the device was enrolled ({})", time.to_rfc3339(), enrolled_at.to_rfc3339()),
        ));
    }
    if let Some(seq) = raw.seq {
        if !(0..=MAX_SEQ).contains(&seq) {
            return Err(FieldError::new(names.seq, format!("{seq} is not a sequence number (0 to {MAX_SEQ})")));
        }
    }
    let accuracy_m = match raw.accuracy_m.map(|a| (a, as_stored(a))) {
        Some((a, stored)) if !stored.is_finite() || stored < 0.0 => {
            return Err(FieldError::new(names.accuracy, format!("{a} is not a non-negative number of metres")))
        }
        Some((a, stored)) if stored >= MAX_ACCURACY_M => {
            return Err(FieldError::new(
                names.accuracy,
                format!("{a} m is not a usable accuracy (less than {MAX_ACCURACY_M} m)"),
            ))
        }
        other => other.map(|(_, stored)| stored),
    };
    let battery_pct = match raw.battery_pct {
        Some(b) if !(0.0..=100.0).contains(&b) => {
            return Err(FieldError::new(names.battery, format!("{b} is not a percentage (0–100)")))
        }
        other => other,
    };
    let speed_mps = match raw.speed_mps.map(|s| (s, as_stored(s))) {
        Some((s, stored)) if !(0.0..=MAX_SPEED_MPS).contains(&stored) => {
            return Err(FieldError::new(
                names.speed,
                format!("{s} is not a plausible speed (0 to {MAX_SPEED_MPS} m/s)"),
            ))
        }
        other => other.map(|(_, stored)| stored),
    };
    let course_deg = match raw.course_deg {
        Some(c) if !(0.0..=360.0).contains(&c) => {
            return Err(FieldError::new(names.course, format!("{c} is not a course in degrees (0–360)")))
        }
        // A course that rounds to 360 is north.
        Some(c) => Some(as_stored(c) % 360.0),
        None => None,
    };
    let altitude_m = match raw.altitude_m.map(|a| (a, as_stored(a))) {
        Some((a, stored)) if !(-MAX_ALTITUDE_M..=MAX_ALTITUDE_M).contains(&stored) => {
            return Err(FieldError::new(names.altitude, format!("{a} is not a plausible altitude in metres")))
        }
        other => other.map(|(_, stored)| stored),
    };
    Ok(ValidFix {
        seq: raw.seq,
        time,
        lon,
        lat,
        accuracy_m,
        source: raw.source.unwrap_or(Source::Unknown),
        input_crs,
        battery_pct,
        speed_mps,
        course_deg,
        altitude_m,
        mock: raw.mock,
    })
}

/// The position converted to WGS-84 and checked again: the Chinese systems' offsets can push a
/// position near the antimeridian or a pole out of range.
fn to_stored_wgs84(crs: Crs, lon: f64, lat: f64, names: &FieldNames) -> Result<(f64, f64), FieldError> {
    let (wlon, wlat) = geofence::crs::to_wgs84(crs, lon, lat);
    if !wlat.is_finite() || !(-90.0..=90.0).contains(&wlat) {
        return Err(FieldError::new(
            names.lat,
            format!("{lat} ({crs}) is {wlat} in WGS-84, not a latitude (−90 to 90)"),
        ));
    }
    if !wlon.is_finite() || !(-180.0..=180.0).contains(&wlon) {
        return Err(FieldError::new(
            names.lon,
            format!("{lon} ({crs}) is {wlon} in WGS-84, not a longitude (−180 to 180)"),
        ));
    }
    Ok((wlon, wlat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T08:00:00Z".parse().unwrap()
    }

    fn ok_raw() -> RawFix {
        RawFix { time: Some(now()), lat: Some(40.66), lon: Some(122.23), accuracy_m: Some(12.0), ..RawFix::default() }
    }

    fn check(raw: RawFix) -> Result<ValidFix, FieldError> {
        validate(&raw, &NATIVE_FIELDS, Crs::Wgs84, "2026-01-01T00:00:00Z".parse().unwrap(), now())
    }

    #[test]
    fn a_plausible_fix_passes_unchanged_in_wgs84() {
        let v = check(ok_raw()).unwrap();
        assert_eq!((v.lon, v.lat, v.accuracy_m), (122.23, 40.66, Some(12.0)));
        assert_eq!(v.source, Source::Unknown);
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(RawFix, &str)> = vec![
            (RawFix { lat: Some(91.0), ..ok_raw() }, "lat"),
            (RawFix { lat: Some(f64::NAN), ..ok_raw() }, "lat"),
            (RawFix { lon: Some(-180.5), ..ok_raw() }, "lon"),
            (RawFix { lon: None, ..ok_raw() }, "lon"),
            (RawFix { time: None, ..ok_raw() }, "time"),
            (RawFix { time: Some(now() + Duration::minutes(11)), ..ok_raw() }, "time"),
            (RawFix { time: Some("2025-12-31T23:59:59Z".parse().unwrap()), ..ok_raw() }, "time"),
            (RawFix { accuracy_m: Some(-1.0), ..ok_raw() }, "accuracy_m"),
            (RawFix { accuracy_m: Some(f64::INFINITY), ..ok_raw() }, "accuracy_m"),
            (RawFix { battery_pct: Some(101.0), ..ok_raw() }, "battery_pct"),
            (RawFix { speed_mps: Some(-3.0), ..ok_raw() }, "speed_mps"),
            (RawFix { course_deg: Some(400.0), ..ok_raw() }, "course_deg"),
            (RawFix { seq: Some(-1), ..ok_raw() }, "seq"),
            (RawFix { seq: Some(i64::MAX), ..ok_raw() }, "seq"),
            (RawFix { accuracy_m: Some(99_999.999), ..ok_raw() }, "accuracy_m"),
            (RawFix { speed_mps: Some(1e300), ..ok_raw() }, "speed_mps"),
            (RawFix { speed_mps: Some(f64::NAN), ..ok_raw() }, "speed_mps"),
            (RawFix { altitude_m: Some(f64::NEG_INFINITY), ..ok_raw() }, "altitude_m"),
            (RawFix { lon: Some(-180.0), crs: Some(Crs::Bd09), ..ok_raw() }, "lon"),
            (RawFix { lat: Some(-90.0), crs: Some(Crs::Bd09), ..ok_raw() }, "lat"),
        ];
        for (raw, field) in cases {
            let err = check(raw.clone()).expect_err(&format!("{raw:?} should be refused"));
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn values_are_judged_as_their_columns_store_them() {
        // 359.99999 rounds to 360 in a 32-bit column: that is north.
        let v = check(RawFix { course_deg: Some(359.999_99), ..ok_raw() }).unwrap();
        assert_eq!(v.course_deg, Some(0.0));
        let v = check(RawFix { course_deg: Some(360.0), ..ok_raw() }).unwrap();
        assert_eq!(v.course_deg, Some(0.0));
        let v = check(RawFix { accuracy_m: Some(99_990.0), seq: Some(MAX_SEQ), ..ok_raw() }).unwrap();
        assert_eq!((v.accuracy_m, v.seq), (Some(99_990.0), Some(MAX_SEQ)));
        let v =
            check(RawFix { speed_mps: Some(MAX_SPEED_MPS), altitude_m: Some(-MAX_ALTITUDE_M), ..ok_raw() }).unwrap();
        assert_eq!((v.speed_mps, v.altitude_m), (Some(MAX_SPEED_MPS), Some(-MAX_ALTITUDE_M)));
        // Every stored value fits its column.
        for c in [0.0, 1e-9, 179.999_999_9, 359.999_999, 359.99] {
            let v = check(RawFix { course_deg: Some(c), ..ok_raw() }).unwrap().course_deg.unwrap();
            assert!((0.0..360.0).contains(&(v as f32)), "{c} -> {v}");
        }
    }

    #[test]
    fn converted_positions_are_checked_where_they_land() {
        // Inside the range in BD-09, outside it once in WGS-84.
        let err = check(RawFix { lon: Some(-179.999), crs: Some(Crs::Bd09), ..ok_raw() }).unwrap_err();
        assert_eq!(err.field, "lon");
        assert!(err.message.contains("WGS-84"), "{err}");
        // WGS-84 input at the very limits is stored as is.
        for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0)] {
            let v = check(RawFix { lat: Some(lat), lon: Some(lon), ..ok_raw() }).unwrap();
            assert_eq!((v.lat, v.lon), (lat, lon));
        }
    }

    #[test]
    fn nine_minutes_ahead_is_tolerated_as_clock_drift() {
        assert!(check(RawFix { time: Some(now() + Duration::minutes(9)), ..ok_raw() }).is_ok());
    }

    #[test]
    fn gcj02_input_is_converted_to_wgs84() {
        let (glon, glat) = geofence::crs::wgs84_to_gcj02(122.23, 40.66);
        let v = check(RawFix { lat: Some(glat), lon: Some(glon), crs: Some(Crs::Gcj02), ..ok_raw() }).unwrap();
        assert!((v.lon - 122.23).abs() < 1e-7 && (v.lat - 40.66).abs() < 1e-7, "{v:?}");
        assert_eq!(v.input_crs, Crs::Gcj02);
        // The device default applies when the fix carries no tag.
        let v = validate(
            &RawFix { lat: Some(glat), lon: Some(glon), ..ok_raw() },
            &NATIVE_FIELDS,
            Crs::Gcj02,
            now() - Duration::days(1),
            now(),
        )
        .unwrap();
        assert!((v.lon - 122.23).abs() < 1e-7);
    }
}
