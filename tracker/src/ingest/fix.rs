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

/// Applies every rule to `raw`: position finite and in range, time present, not more than
/// [`MAX_FUTURE`] ahead of `now` and not before the device's enrolment, non-negative accuracy,
/// battery 0–100, speed ≥ 0, course 0–360; converts the position to WGS-84.
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
        if seq < 0 {
            return Err(FieldError::new(names.seq, "must not be negative"));
        }
    }
    let accuracy_m = match raw.accuracy_m {
        Some(a) if !a.is_finite() || a < 0.0 => {
            return Err(FieldError::new(names.accuracy, format!("{a} is not a non-negative number of metres")))
        }
        Some(a) if a >= 100_000.0 => {
            return Err(FieldError::new(names.accuracy, format!("{a} m is not a usable accuracy")))
        }
        other => other,
    };
    let battery_pct = match raw.battery_pct {
        Some(b) if !(0.0..=100.0).contains(&b) => {
            return Err(FieldError::new(names.battery, format!("{b} is not a percentage (0–100)")))
        }
        other => other,
    };
    let speed_mps = match raw.speed_mps {
        Some(s) if !s.is_finite() || s < 0.0 => {
            return Err(FieldError::new(names.speed, format!("{s} is not a non-negative speed")))
        }
        other => other,
    };
    let course_deg = match raw.course_deg {
        Some(c) if !c.is_finite() || !(0.0..=360.0).contains(&c) => {
            return Err(FieldError::new(names.course, format!("{c} is not a course in degrees (0–360)")))
        }
        Some(c) => Some(c % 360.0),
        None => None,
    };
    let altitude_m = match raw.altitude_m {
        Some(a) if !a.is_finite() || a.abs() > 20_000.0 => {
            return Err(FieldError::new(names.altitude, format!("{a} is not a plausible altitude in metres")))
        }
        other => other,
    };
    let input_crs = raw.crs.unwrap_or(default_crs);
    let (lon, lat) = geofence::crs::to_wgs84(input_crs, lon, lat);
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
        ];
        for (raw, field) in cases {
            let err = check(raw.clone()).expect_err(&format!("{raw:?} should be refused"));
            assert_eq!(err.field, field, "{err}");
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
