//! Timestamp parsing shared by the readers.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How a numeric or textual time value is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeFormat {
    /// ISO-8601 text, or a Unix epoch number whose unit is guessed from its size.
    #[default]
    Auto,
    Iso8601,
    EpochSeconds,
    EpochMillis,
}

/// A parsed time, and whether the text said which offset it was in: a time without
/// one is read as UTC, which callers may want to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedTime {
    pub utc: DateTime<Utc>,
    pub had_offset: bool,
}

/// Below this an epoch number is seconds, above it milliseconds: 1e11 s is the year
/// 5138 while 1e11 ms is 1973, so real GPS times cannot fall on the wrong side.
const EPOCH_MS_THRESHOLD: f64 = 1e11;

/// Parses `s` according to `format`; `naive_offset` is the offset assumed for ISO
/// text without one (UTC when `None`).
pub(crate) fn parse_time(s: &str, format: TimeFormat, naive_offset: Option<FixedOffset>) -> Result<ParsedTime, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty time".into());
    }
    match format {
        TimeFormat::Iso8601 => parse_iso8601(s, naive_offset),
        TimeFormat::EpochSeconds => parse_epoch(s, false),
        TimeFormat::EpochMillis => parse_epoch(s, true),
        TimeFormat::Auto => {
            if looks_numeric(s) {
                let v: f64 = s.parse().map_err(|_| format!("bad number {s:?}"))?;
                epoch_to_time(v, v.abs() >= EPOCH_MS_THRESHOLD)
            } else {
                parse_iso8601(s, naive_offset)
            }
        }
    }
}

/// A JSON number as a time (GeoJSON `times` arrays are often epoch milliseconds).
pub(crate) fn epoch_number_auto(v: f64) -> Result<ParsedTime, String> {
    epoch_to_time(v, v.abs() >= EPOCH_MS_THRESHOLD)
}

fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && body.bytes().any(|b| b.is_ascii_digit())
}

fn parse_epoch(s: &str, millis: bool) -> Result<ParsedTime, String> {
    if !looks_numeric(s) {
        return Err(format!("{s:?} is not an epoch number"));
    }
    let v: f64 = s.parse().map_err(|_| format!("bad number {s:?}"))?;
    epoch_to_time(v, millis)
}

fn epoch_to_time(v: f64, millis: bool) -> Result<ParsedTime, String> {
    let ms = if millis { v } else { v * 1000.0 };
    // Out-of-range (or NaN) values must not reach the integer cast unchecked.
    if !ms.is_finite() || ms.abs() > 8.0e15 {
        return Err(format!("epoch value {v} is out of range"));
    }
    let whole_ms = ms.floor();
    let nanos = ((ms - whole_ms) * 1e6).round() as i64;
    let utc = Utc
        .timestamp_millis_opt(whole_ms as i64)
        .single()
        .and_then(|t| t.checked_add_signed(chrono::Duration::nanoseconds(nanos)))
        .ok_or_else(|| format!("epoch value {v} is out of range"))?;
    Ok(ParsedTime { utc, had_offset: true })
}

/// ISO-8601 / RFC 3339 date-time, with `T` or a space, optional fraction, and `Z`,
/// `+hh:mm`, `+hhmm` or no offset.
pub(crate) fn parse_iso8601(s: &str, naive_offset: Option<FixedOffset>) -> Result<ParsedTime, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(ParsedTime { utc: t.with_timezone(&Utc), had_offset: true });
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(ParsedTime { utc: t.with_timezone(&Utc), had_offset: true });
        }
    }
    for fmt in
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S%.f"]
    {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            let utc = match naive_offset {
                Some(off) => off
                    .from_local_datetime(&n)
                    .single()
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| format!("{s:?} is out of range"))?,
                None => Utc.from_utc_datetime(&n),
            };
            return Ok(ParsedTime { utc, had_offset: naive_offset.is_some() });
        }
    }
    Err(format!("{s:?} is not an ISO-8601 date-time"))
}

/// `+08:00`, `-0500`, `Z` or `UTC` as a fixed offset (for the CSV option).
pub fn parse_utc_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None if rest.len() <= 2 => (rest, "0"),
        None => return None,
    };
    if !h.bytes().all(|b| b.is_ascii_digit()) || !m.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Days since 1899-12-30 (the spreadsheet epoch GeoLife's PLT uses) as UTC.
pub(crate) fn from_day_number(days: f64) -> Option<DateTime<Utc>> {
    if !days.is_finite() || !(0.0..1.0e6).contains(&days) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let ms = (days * 86_400_000.0).round() as i64;
    let t = base.checked_add_signed(chrono::Duration::milliseconds(ms))?;
    Some(Utc.from_utc_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn iso_variants() {
        let z = t("2008-10-23T02:53:04Z");
        for s in [
            "2008-10-23T02:53:04Z",
            "2008-10-23 02:53:04Z",
            "2008-10-23T10:53:04+08:00",
            "2008-10-23T10:53:04+0800",
            "2008-10-23 10:53:04+08:00",
        ] {
            let p = parse_time(s, TimeFormat::Auto, None).unwrap();
            assert_eq!(p.utc, z, "{s}");
            assert!(p.had_offset);
        }
        let p = parse_time("2008-10-23 02:53:04", TimeFormat::Auto, None).unwrap();
        assert_eq!(p.utc, z);
        assert!(!p.had_offset);
        let p = parse_time("2008-10-23 10:53:04", TimeFormat::Auto, parse_utc_offset("+08:00")).unwrap();
        assert_eq!(p.utc, z);
        assert!(p.had_offset);
        let frac = parse_time("1901-12-13T20:45:52.2073437Z", TimeFormat::Iso8601, None).unwrap();
        assert_eq!(frac.utc.timestamp_subsec_nanos(), 207_343_700);
    }

    #[test]
    fn epochs() {
        let z = t("2008-10-23T02:53:04Z");
        assert_eq!(parse_time("1224730384", TimeFormat::Auto, None).unwrap().utc, z);
        assert_eq!(parse_time("1224730384000", TimeFormat::Auto, None).unwrap().utc, z);
        assert_eq!(
            parse_time("1224730384.5", TimeFormat::EpochSeconds, None).unwrap().utc,
            z + chrono::Duration::milliseconds(500)
        );
        assert_eq!(parse_time("1224730384000", TimeFormat::EpochMillis, None).unwrap().utc, z);
        assert!(parse_time("2008-10-23", TimeFormat::EpochSeconds, None).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            " ",
            "-",
            ".",
            "+.",
            "1e400",
            "NaN",
            "inf",
            "99999999999999999999999",
            "-99999999999999999999",
            "2008-13-45T99:99:99Z",
            "T",
            "\u{0}",
            "９",
            "1.2.3",
        ] {
            for f in [TimeFormat::Auto, TimeFormat::Iso8601, TimeFormat::EpochSeconds, TimeFormat::EpochMillis] {
                let _ = parse_time(s, f, None);
            }
            let _ = parse_utc_offset(s);
        }
        assert!(epoch_number_auto(f64::NAN).is_err());
        assert!(epoch_number_auto(f64::INFINITY).is_err());
        assert!(epoch_number_auto(1e300).is_err());
        assert!(from_day_number(f64::NAN).is_none());
        assert!(from_day_number(-1.0).is_none());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_utc_offset("+08:00").unwrap().local_minus_utc(), 8 * 3600);
        assert_eq!(parse_utc_offset("-0530").unwrap().local_minus_utc(), -19800);
        assert_eq!(parse_utc_offset("+8").unwrap().local_minus_utc(), 8 * 3600);
        assert_eq!(parse_utc_offset("Z").unwrap().local_minus_utc(), 0);
        assert!(parse_utc_offset("8").is_none());
        assert!(parse_utc_offset("+25:00").is_none());
    }

    #[test]
    fn day_number() {
        // First GeoLife point of 20081023025304.plt.
        let d = from_day_number(39744.1201851852).unwrap();
        assert_eq!(d, t("2008-10-23T02:53:04Z"));
    }
}
