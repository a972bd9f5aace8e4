//! NMEA 0183 logs: fixes from RMC and GGA sentences (merged when they share a
//! time), accuracy from Garmin's PGRME or the standard GST when present.
//!
//! Sentences carry only the time of day; the date comes from RMC, or from
//! [`ReadOptions::start_date`] for GGA-only logs, and rolls over when the time of day
//! wraps past midnight.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::builder::{Origin, TraceBuilder};
use super::{Problem, ProblemKind, ReadError, ReadOptions, Trace, TraceFormat, TracePoint};

const KNOTS_TO_MPS: f64 = 1852.0 / 3600.0;
/// A backwards step of the time of day larger than this is a new day, not disorder.
const ROLLOVER_S: i64 = 12 * 3600;

/// Whether a line is an NMEA sentence (for format detection).
pub(crate) fn looks_like_sentence(line: &str) -> bool {
    let Some(body) = line.trim().strip_prefix('$') else {
        return false;
    };
    let id: &str = body.split(',').next().unwrap_or("");
    body.contains(',')
        && (5..=6).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// One receiver epoch being assembled from its sentences.
#[derive(Debug, Clone)]
struct Fix {
    line: usize,
    /// The time field as written; sentences of one epoch repeat it exactly.
    tod_text: String,
    tod: NaiveTime,
    date: Option<NaiveDate>,
    lat: Option<f64>,
    lon: Option<f64>,
    /// Some sentence of the epoch said there is a fix / there is none.
    valid: bool,
    invalid: bool,
    elevation_m: Option<f64>,
    speed_mps: Option<f64>,
    course_deg: Option<f64>,
    accuracy_m: Option<f64>,
}

impl Fix {
    fn new(line: usize, tod_text: &str, tod: NaiveTime) -> Self {
        Fix {
            line,
            tod_text: tod_text.to_string(),
            tod,
            date: None,
            lat: None,
            lon: None,
            valid: false,
            invalid: false,
            elevation_m: None,
            speed_mps: None,
            course_deg: None,
            accuracy_m: None,
        }
    }
}

pub fn read(text: &str, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let mut b = TraceBuilder::new(TraceFormat::Nmea, opts);
    let mut fixes: Vec<Fix> = Vec::new();
    let mut current: Option<Fix> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        // Loggers often prefix sentences (timestamps, ports); the sentence starts at
        // `$`. A `$` elsewhere in a non-NMEA line is only taken when what follows
        // looks like a sentence, so stray text is not reported as broken NMEA.
        let Some(start) = raw.find('$') else { continue };
        let sentence = raw[start..].trim_end();
        if !raw[..start].trim().is_empty() && !looks_like_sentence(sentence) {
            continue;
        }
        let Some(fields) = checked_fields(&mut b, sentence, line_no)? else {
            continue;
        };
        let id = fields[0];
        // Talker ids vary (GP, GN, GL, BD...); the sentence type is what matters.
        let kind = if id.starts_with('P') { id } else { id.get(2..).unwrap_or("") };
        match kind {
            "RMC" | "GGA" | "GST" => {
                let Some(tod_text) = fields.get(1).copied().filter(|s| !s.is_empty()) else {
                    // No time, no fix (receivers send this before acquiring).
                    continue;
                };
                let Some(tod) = parse_tod(tod_text) else {
                    b.problem(
                        ProblemKind::BadTime,
                        Some(line_no),
                        None,
                        format!("{kind}: time of day {tod_text:?} is not hhmmss; sentence skipped"),
                    )?;
                    continue;
                };
                if current.as_ref().is_none_or(|c| c.tod_text != tod_text) {
                    if kind == "GST" {
                        // Accuracy for an epoch we have no position for.
                        continue;
                    }
                    fixes.extend(current.take());
                    current = Some(Fix::new(line_no, tod_text, tod));
                }
                let Some(fix) = current.as_mut() else {
                    continue;
                };
                let result = match kind {
                    "RMC" => apply_rmc(fix, &fields),
                    "GGA" => apply_gga(fix, &fields),
                    _ => {
                        apply_gst(fix, &fields);
                        Ok(())
                    }
                };
                if let Err(msg) = result {
                    b.problem(ProblemKind::Malformed, Some(line_no), None, format!("{kind}: {msg}; sentence skipped"))?;
                }
            }
            "PGRME" => {
                // Garmin's estimated horizontal position error, metres, for the epoch
                // whose sentences came just before.
                if let Some(fix) = current.as_mut() {
                    if let Some(hpe) = fields.get(1).and_then(|s| s.parse::<f64>().ok()) {
                        fix.accuracy_m = Some(hpe);
                    }
                }
            }
            _ => {}
        }
    }
    fixes.extend(current.take());
    let dates = resolve_dates(&fixes, opts.start_date);
    if dates.iter().all(Option::is_none) && fixes.iter().any(|f| f.valid) {
        b.report(Problem::new(
            ProblemKind::MissingDate,
            "no sentence carries a date (no RMC) and no start date was given; \
             fixes are kept without time (give the start date to time them)",
        ))?;
    }
    for (fix, date) in fixes.iter().zip(dates) {
        if !fix.valid {
            // The receiver said it has no fix (not a problem of the file), or every
            // sentence of the epoch was broken (already reported).
            continue;
        }
        let n = b.next_ordinal();
        let (Some(lat), Some(lon)) = (fix.lat, fix.lon) else {
            b.problem(ProblemKind::BadCoordinate, Some(fix.line), Some(n), "fix without a position; skipped")?;
            continue;
        };
        let mut p = TracePoint::new(lat, lon);
        p.time = date.map(|d| Utc.from_utc_datetime(&NaiveDateTime::new(d, fix.tod)));
        p.elevation_m = fix.elevation_m;
        p.speed_mps = fix.speed_mps;
        p.course_deg = fix.course_deg;
        p.accuracy_m = fix.accuracy_m;
        b.push(p, Origin::new(Some(fix.line), n))?;
    }
    b.finish()
}

/// Verifies the checksum and splits the sentence into fields (without `$` and
/// `*hh`); `None` when the sentence is to be skipped (after reporting why).
fn checked_fields<'s>(
    b: &mut TraceBuilder<'_>,
    sentence: &'s str,
    line_no: usize,
) -> Result<Option<Vec<&'s str>>, ReadError> {
    let body = &sentence[1..];
    let (data, checksum) = match body.rsplit_once('*') {
        Some((d, c)) => (d, Some(c)),
        None => (body, None),
    };
    match checksum {
        Some(c) => {
            let computed = data.bytes().fold(0u8, |acc, x| acc ^ x);
            let given = (c.len() == 2).then(|| u8::from_str_radix(c, 16).ok()).flatten();
            if given != Some(computed) {
                b.problem(
                    ProblemKind::BadChecksum,
                    Some(line_no),
                    None,
                    format!("checksum {c:?} does not match the sentence (computed {computed:02X}); sentence skipped"),
                )?;
                return Ok(None);
            }
        }
        None if b.opts().nmea.require_checksum => {
            b.problem(
                ProblemKind::MissingChecksum,
                Some(line_no),
                None,
                "sentence has no checksum (truncated?); sentence skipped",
            )?;
            return Ok(None);
        }
        None => {}
    }
    Ok(Some(data.split(',').collect()))
}

fn parse_tod(s: &str) -> Option<NaiveTime> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, f)) => (a, f),
        None => (s, ""),
    };
    if hms.len() != 6 || !hms.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u32 = hms[0..2].parse().ok()?;
    let m: u32 = hms[2..4].parse().ok()?;
    let sec: u32 = hms[4..6].parse().ok()?;
    let digits = frac.get(..9.min(frac.len()))?;
    let nanos: u32 =
        if digits.is_empty() { 0 } else { digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32) };
    if sec == 60 {
        // chrono represents a leap second as second 59 with over a billion nanos.
        return NaiveTime::from_hms_nano_opt(h, m, 59, 1_000_000_000 + nanos);
    }
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// `ddmm.mmmm` / `dddmm.mmmm` plus hemisphere to signed degrees.
fn parse_coord(value: &str, hemi: &str, deg_digits: usize) -> Result<f64, String> {
    let dot = value.find('.').unwrap_or(value.len());
    if dot < deg_digits + 2 || !value.is_char_boundary(dot - 2) {
        return Err(format!("coordinate {value:?} is not (d)ddmm.mmmm"));
    }
    let deg: f64 = value[..dot - 2].parse().map_err(|_| format!("coordinate {value:?} is not a number"))?;
    let min: f64 = value[dot - 2..].parse().map_err(|_| format!("coordinate {value:?} is not a number"))?;
    if !(0.0..60.0).contains(&min) || deg < 0.0 {
        return Err(format!("coordinate {value:?} has minutes out of range"));
    }
    let v = deg + min / 60.0;
    match hemi {
        "N" | "E" => Ok(v),
        "S" | "W" => Ok(-v),
        _ => Err(format!("hemisphere {hemi:?} is not N/S/E/W")),
    }
}

fn field<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields.get(i).copied().unwrap_or("")
}

fn opt_f64(s: &str) -> Result<Option<f64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<f64>().map(Some).map_err(|_| format!("{s:?} is not a number"))
}

fn set_position(fix: &mut Fix, fields: &[&str], lat_i: usize) -> Result<(), String> {
    let (lat, ns, lon, ew) =
        (field(fields, lat_i), field(fields, lat_i + 1), field(fields, lat_i + 2), field(fields, lat_i + 3));
    if lat.is_empty() || lon.is_empty() {
        return Ok(());
    }
    let lat = parse_coord(lat, ns, 2)?;
    let lon = parse_coord(lon, ew, 3)?;
    if fix.lat.is_none() {
        fix.lat = Some(lat);
        fix.lon = Some(lon);
    }
    Ok(())
}

/// `$--RMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,x.x,x.x,ddmmyy,x.x,a[,m]`
fn apply_rmc(fix: &mut Fix, f: &[&str]) -> Result<(), String> {
    let status = field(f, 2);
    let mode = field(f, 12);
    // Mode 'N' (NMEA 2.3+) also means no fix even when status says A.
    if status != "A" || mode == "N" {
        fix.invalid = true;
        return Ok(());
    }
    let date_s = field(f, 9);
    let date = parse_date(date_s).ok_or_else(|| format!("date {date_s:?} is not ddmmyy"))?;
    set_position(fix, f, 3)?;
    fix.speed_mps = opt_f64(field(f, 7))?.map(|k| k * KNOTS_TO_MPS);
    fix.course_deg = opt_f64(field(f, 8))?;
    fix.date = Some(date);
    fix.valid = true;
    Ok(())
}

/// `$--GGA,hhmmss.ss,llll.ll,a,yyyyy.yy,a,q,nn,h.h,alt,M,sep,M,...`
fn apply_gga(fix: &mut Fix, f: &[&str]) -> Result<(), String> {
    let quality = field(f, 6);
    if quality.is_empty() || quality == "0" {
        fix.invalid = true;
        return Ok(());
    }
    set_position(fix, f, 2)?;
    if let Some(alt) = opt_f64(field(f, 9))? {
        fix.elevation_m = Some(alt);
    }
    fix.valid = true;
    Ok(())
}

/// `$--GST,hhmmss.ss,rms,smaj,smin,orient,lat_sd,lon_sd,alt_sd`: the larger of the
/// latitude/longitude standard deviations as the horizontal accuracy.
fn apply_gst(fix: &mut Fix, f: &[&str]) {
    let sd = |i| field(f, i).parse::<f64>().ok();
    if let (Some(a), Some(b)) = (sd(6), sd(7)) {
        fix.accuracy_m = Some(a.max(b));
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d: u32 = s[0..2].parse().ok()?;
    let m: u32 = s[2..4].parse().ok()?;
    let y: i32 = s[4..6].parse().ok()?;
    // Two-digit years: GPS began in 1980.
    let year = if y >= 80 { 1900 + y } else { 2000 + y };
    NaiveDate::from_ymd_opt(year, m, d)
}

/// Dates for each fix: its own (RMC), else carried from the previous fix (or the
/// start date) with a day added when the time of day wraps; fixes before the first
/// dated one (no start date) are dated backwards from it.
fn resolve_dates(fixes: &[Fix], start_date: Option<NaiveDate>) -> Vec<Option<NaiveDate>> {
    let mut dates = vec![None; fixes.len()];
    let mut cur: Option<(NaiveDate, NaiveTime)> = None;
    for (i, fix) in fixes.iter().enumerate() {
        let date = match (fix.date, cur) {
            (Some(d), _) => Some(d),
            (None, Some((d, prev))) => {
                Some(if wraps(prev, fix.tod) { d.checked_add_days(Days::new(1)).unwrap_or(d) } else { d })
            }
            (None, None) if i == 0 => start_date,
            (None, None) => None,
        };
        if let Some(d) = date {
            cur = Some((d, fix.tod));
        }
        dates[i] = date;
    }
    if let Some(first) = dates.iter().position(Option::is_some) {
        let mut next = dates[first].map(|d| (d, fixes[first].tod));
        for i in (0..first).rev() {
            if let Some((d, next_tod)) = next {
                let d = if wraps(fixes[i].tod, next_tod) { d.checked_sub_days(Days::new(1)).unwrap_or(d) } else { d };
                dates[i] = Some(d);
                next = Some((d, fixes[i].tod));
            }
        }
    }
    dates
}

/// Time of day going from `prev` to `next` crossed midnight.
fn wraps(prev: NaiveTime, next: NaiveTime) -> bool {
    (prev - next).num_seconds() > ROLLOVER_S
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a sentence with a correct checksum.
    pub(crate) fn s(body: &str) -> String {
        let c = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{c:02X}")
    }

    fn read_default(text: &str) -> Trace {
        read(text, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn merges_rmc_and_gga_and_crosses_midnight() {
        let text = [
            s("GPRMC,235959,A,3925.9702,N,11945.9354,W,45.1,153.1,250905,15.2,E,A"),
            s("GPGGA,235959,3925.9702,N,11945.9354,W,1,10,0.8,1378.6,M,-22.1,M,,"),
            "$PGRME,2.3,M,3.3,M,4.0,M*2B".to_string(),
            s("GPRMC,000001,A,3925.9479,N,11945.9211,W,44.7,153.6,260905,15.2,E,A"),
            s("GPGGA,000001,3925.9479,N,11945.9211,W,1,10,0.8,1378.0,M,-22.1,M,,"),
        ]
        .join("\r\n");
        let t = read_default(&text);
        assert_eq!(t.points.len(), 2);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        let p = t.points[0];
        assert!((p.lat - (39.0 + 25.9702 / 60.0)).abs() < 1e-12);
        assert!((p.lon + (119.0 + 45.9354 / 60.0)).abs() < 1e-12);
        assert_eq!(p.elevation_m, Some(1378.6));
        assert_eq!(p.accuracy_m, Some(2.3));
        assert!((p.speed_mps.unwrap() - 45.1 * 1852.0 / 3600.0).abs() < 1e-9);
        assert_eq!(p.course_deg, Some(153.1));
        assert_eq!(p.time.unwrap().to_rfc3339(), "2005-09-25T23:59:59+00:00");
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2005-09-26T00:00:01+00:00");
    }

    #[test]
    fn gga_only_needs_start_date_and_rolls_over() {
        let text = [
            s("GNGGA,235958.50,3000.0000,N,12000.0000,E,1,10,0.8,10.0,M,0,M,,"),
            s("GNGGA,000000.50,3000.0010,N,12000.0000,E,1,10,0.8,10.0,M,0,M,,"),
        ]
        .join("\n");
        let t = read_default(&text);
        assert_eq!(t.points.len(), 2);
        assert!(t.points.iter().all(|p| p.time.is_none()));
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].kind, ProblemKind::MissingDate);

        let opts = ReadOptions { start_date: NaiveDate::from_ymd_opt(2024, 12, 31), ..ReadOptions::default() };
        let t = read(&text, &opts).unwrap();
        assert!(t.problems.is_empty());
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-12-31T23:59:58.500+00:00");
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2025-01-01T00:00:00.500+00:00");
    }

    #[test]
    fn leading_gga_is_dated_backwards_from_first_rmc() {
        let text = [
            s("GPGGA,235959,3000.0000,N,12000.0000,E,1,10,0.8,10.0,M,0,M,,"),
            s("GPRMC,000001,A,3000.0010,N,12000.0000,E,1.0,0.0,010125,,,A"),
        ]
        .join("\n");
        let t = read_default(&text);
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-12-31T23:59:59+00:00");
    }

    #[test]
    fn bad_checksums_and_no_fix() {
        let text = [
            "$GPRMC,000000,A,3000.0000,N,12000.0000,E,0,0,010125,,,A*00".to_string(),
            s("GPRMC,000001,V,,,,,,,010125,,,N"),
            s("GPGGA,000002,,,,,0,00,99.9,,M,,M,,"),
            "$GPRMC,000003,A,3000.0000,N,12000.0000,E,0,0,0101".to_string(),
            s("GPRMC,000004,A,3000.0000,X,12000.0000,E,0,0,010125,,,A"),
            s("GPRMC,000005,A,3000.0000,N,12000.0000,E,0,0,010125,,,A"),
        ]
        .join("\n");
        let t = read_default(&text);
        assert_eq!(t.points.len(), 1);
        let kinds: Vec<_> = t.problems.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (Some(1), ProblemKind::BadChecksum),
                (Some(4), ProblemKind::MissingChecksum),
                (Some(5), ProblemKind::Malformed),
            ]
        );
        let lenient_checksum =
            ReadOptions { nmea: crate::trace::NmeaOptions { require_checksum: false }, ..ReadOptions::default() };
        let t = read(&text, &lenient_checksum).unwrap();
        // The truncated line 4 now fails on its date instead.
        assert_eq!(t.problems[1].line, Some(4));
        assert_eq!(t.problems[1].kind, ProblemKind::Malformed);
    }

    #[test]
    fn parsers_reject_garbage() {
        assert_eq!(parse_tod("123456.789").unwrap().to_string(), "12:34:56.789");
        for bad in ["", "1234", "12345x", "246000", "1234567", "123456.x", "12:34:56"] {
            assert!(parse_tod(bad).is_none(), "{bad}");
        }
        assert!(parse_tod("235960").is_some());
        assert!(parse_coord("3925.9702", "N", 2).is_ok());
        for bad in ["", ".", "5.0", "3960.0", "ab25.0", "39é5.0", "-125.0"] {
            assert!(parse_coord(bad, "N", 2).is_err(), "{bad}");
        }
        assert!(parse_date("320105").is_none());
        assert_eq!(parse_date("290280").unwrap().to_string(), "1980-02-29");
    }
}
