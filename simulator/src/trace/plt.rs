//! GeoLife PLT: 6 header lines, then `lat,lon,0,alt_ft,days_since_1899,date,time`
//! per line, WGS-84 and UTC.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::builder::{Origin, TraceBuilder};
use super::{time, ProblemKind, ReadError, ReadOptions, Trace, TraceFormat, TracePoint};

/// GeoLife writes this altitude when it has none.
const NO_ALTITUDE_FT: f64 = -777.0;
const FEET_TO_M: f64 = 0.3048;
const HEADER_LINES: usize = 6;

/// Whether a line has the shape of a PLT point record (used for detection, and to
/// read records that appear where the header should be).
pub(crate) fn looks_like_record(line: &str) -> bool {
    let f: Vec<&str> = line.trim().split(',').collect();
    f.len() >= 7
        && f[0].trim().parse::<f64>().is_ok()
        && f[1].trim().parse::<f64>().is_ok()
        && NaiveDate::parse_from_str(f[5].trim(), "%Y-%m-%d").is_ok()
}

pub fn read(text: &str, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let mut b = TraceBuilder::new(TraceFormat::Plt, opts);
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line_no <= HEADER_LINES && !looks_like_record(line) {
            continue;
        }
        read_record(&mut b, line, line_no)?;
    }
    b.finish()
}

fn read_record(b: &mut TraceBuilder<'_>, line: &str, line_no: usize) -> Result<(), ReadError> {
    let n = b.next_ordinal();
    let at = (Some(line_no), Some(n));
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 7 {
        return b.problem(
            ProblemKind::Malformed,
            at.0,
            at.1,
            format!("expected 7 comma-separated fields, found {}; line skipped", f.len()),
        );
    }
    let (Ok(lat), Ok(lon)) = (f[0].parse::<f64>(), f[1].parse::<f64>()) else {
        return b.problem(
            ProblemKind::BadCoordinate,
            at.0,
            at.1,
            format!("latitude/longitude {:?},{:?} are not numbers; line skipped", f[0], f[1]),
        );
    };
    let mut p = TracePoint::new(lat, lon);
    match f[3].parse::<f64>() {
        Ok(ft) if ft == NO_ALTITUDE_FT => {}
        Ok(ft) => p.elevation_m = Some(ft * FEET_TO_M),
        Err(_) if f[3].is_empty() => {}
        Err(_) => {
            b.problem(ProblemKind::BadValue, at.0, at.1, format!("altitude {:?} is not a number; ignored", f[3]))?
        }
    }
    let date_time = NaiveDate::parse_from_str(f[5], "%Y-%m-%d")
        .ok()
        .zip(NaiveTime::parse_from_str(f[6], "%H:%M:%S%.f").ok())
        .map(|(d, t)| Utc.from_utc_datetime(&NaiveDateTime::new(d, t)));
    let mut time_reported = false;
    p.time = match date_time {
        Some(t) => Some(t),
        None => {
            time_reported = true;
            // The day number carries the same instant, so fall back to it.
            let from_days = f[4].parse::<f64>().ok().and_then(time::from_day_number);
            let what = if from_days.is_some() {
                "used the day-number field instead"
            } else {
                "nor is the day number; point kept without time"
            };
            b.problem(
                ProblemKind::BadTime,
                at.0,
                at.1,
                format!("date/time {:?} {:?} is not readable; {what}", f[5], f[6]),
            )?;
            from_days
        }
    };
    b.push(p, Origin::new(at.0, n).time_reported(time_reported))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n";

    #[test]
    fn reads_records_and_converts_feet() {
        let text = format!(
            "{HEADER}39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\n\
             39.984683,116.31845,0,-777,39744.1202546296,2008-10-23,02:53:10\n"
        );
        let t = read(&text, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert!((t.points[0].elevation_m.unwrap() - 149.9616).abs() < 1e-9);
        assert_eq!(t.points[1].elevation_m, None);
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2008-10-23T02:53:10+00:00");
        assert!(t.problems.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_with_line_numbers() {
        let text = format!(
            "{HEADER}39.98,116.31,0,492,39744.1201851852,2008-10-23,02:53:04\n\
             garbage\n\
             39.98,abc,0,492,39744.12,2008-10-23,02:53:05\n\
             39.98,116.32,0,492,39744.1202546296,2008-13-40,xx\n\
             39.98,116.33,0,492,x,2008-13-40,xx\n"
        );
        let t = read(&text, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 3);
        let lines: Vec<_> = t.problems.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(
            lines,
            vec![
                (Some(8), ProblemKind::Malformed),
                (Some(9), ProblemKind::BadCoordinate),
                (Some(10), ProblemKind::BadTime),
                (Some(11), ProblemKind::BadTime),
            ]
        );
        // The day number stood in for the unreadable date.
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2008-10-23T02:53:10+00:00");
        let strict = ReadOptions { strict: true, ..ReadOptions::default() };
        assert!(matches!(read(&text, &strict), Err(ReadError::Strict(p)) if p.line == Some(8)));
    }

    #[test]
    fn header_only_has_no_points() {
        let t = read(HEADER, &ReadOptions::default()).unwrap();
        assert!(t.points.is_empty());
        assert_eq!(t.problems[0].kind, ProblemKind::NoPoints);
    }
}
