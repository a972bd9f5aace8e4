//! Wire formats → [`RawFix`](super::fix::RawFix). Decoders translate names and units only; the
//! rules live in [`super::fix::validate`]. See `docs/protocols.md` for the formats' sources.

pub mod native;
pub mod osmand;
pub mod owntracks;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::fix::FieldError;

/// A JSON number (or a numeric string: old OwnTracks apps sent numbers as strings).
fn number(v: &Value, field: &str) -> Result<Option<f64>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => {
            s.trim().parse().map(Some).map_err(|_| FieldError::new(field, format!("{s:?} is not a number")))
        }
        other => Err(FieldError::new(field, format!("expected a number, got {other}"))),
    }
}

/// A time as phones send it: Unix seconds or milliseconds (numbers above 2^31 are taken as
/// milliseconds, as Traccar does), RFC 3339, or a local time without a zone
/// (`YYYY-MM-DD HH:MM:SS`, also with `T` or `+` between date and time, as Traccar Client sends
/// it), which is read in Asia/Shanghai: Traccar reads such a time in its server's zone, and
/// every phone here is in China.
pub fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>, FieldError> {
    let t = text.trim();
    let bad = || FieldError::new(field, format!("{t:?} is not a time (Unix seconds or milliseconds, or ISO-8601)"));
    if let Ok(n) = t.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return Err(bad());
        }
        let ms = if n < 2_147_483_647.0 { n * 1000.0 } else { n };
        return Utc.timestamp_millis_opt(ms.round() as i64).single().ok_or_else(bad);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d+%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return crate::time::shanghai()
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(bad);
        }
    }
    Err(bad())
}

/// A JSON time value: a number (Unix seconds/ms) or a string.
fn time_value(v: &Value, field: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => parse_time(&n.to_string(), field).map(Some),
        Value::String(s) => parse_time(s, field).map(Some),
        other => Err(FieldError::new(field, format!("expected a time, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form_phones_use() {
        let want: DateTime<Utc> = "2025-06-15T13:45:12Z".parse().unwrap();
        for t in [
            "1749995112",
            "1749995112000",
            "2025-06-15T13:45:12Z",
            "2025-06-15T21:45:12+08:00",
            // Without a zone: Asia/Shanghai.
            "2025-06-15 21:45:12",
            "2025-06-15T21:45:12",
            "2025-06-15+21:45:12",
        ] {
            assert_eq!(parse_time(t, "timestamp").unwrap(), want, "{t}");
        }
        assert_eq!(parse_time("2025-06-15T13:45:12.862Z", "t").unwrap().timestamp_subsec_millis(), 862);
        for bad in ["", "yesterday", "-5", "NaN", "2025-13-45T00:00:00Z"] {
            assert_eq!(parse_time(bad, "timestamp").unwrap_err().field, "timestamp", "{bad}");
        }
    }
}
