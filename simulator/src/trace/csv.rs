//! Delimited text (CSV, TSV, semicolon...) with configurable or detected columns.
//!
//! Quoting follows RFC 4180 (quoted fields may hold delimiters, doubled quotes and
//! newlines). Without configuration the delimiter is the most frequent of
//! `, ; TAB |` on the first line, a header is recognised by known column names,
//! and columns are found by name (`lat`/`latitude`, `lon`/`lng`/`longitude`,
//! `time`/`timestamp`, ...). Without a header, column 1 is latitude, column 2
//! longitude, and the first column holding an ISO-8601 date-time is the time.

use chrono::FixedOffset;

use super::builder::{Origin, TraceBuilder};
use super::time::{parse_time, TimeFormat};
use super::{Problem, ProblemKind, ReadError, ReadOptions, Trace, TraceFormat, TracePoint};

/// A column, by 0-based position or by header name (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// Field delimiter; `None` detects it.
    pub delimiter: Option<char>,
    /// Whether the first record names the columns; `None` detects it.
    pub has_header: Option<bool>,
    pub lat: Option<ColumnRef>,
    pub lon: Option<ColumnRef>,
    /// Date-time, or only the time of day when `date` is also given.
    pub time: Option<ColumnRef>,
    pub date: Option<ColumnRef>,
    /// Horizontal accuracy in metres.
    pub accuracy: Option<ColumnRef>,
    /// Metres.
    pub elevation: Option<ColumnRef>,
    /// Metres per second.
    pub speed: Option<ColumnRef>,
    pub course: Option<ColumnRef>,
    pub time_format: TimeFormat,
    /// Offset of times written without one; unset, they are read as UTC and that
    /// is reported, since local times read as UTC shift a whole trace.
    pub utc_offset: Option<FixedOffset>,
}

/// Header names per role, compared after lower-casing and dropping everything but
/// letters and digits; the number is the factor to SI units.
const LAT: &[(&str, f64)] = &[
    ("lat", 1.0),
    ("latitude", 1.0),
    ("latdeg", 1.0),
    ("latitudedeg", 1.0),
    ("gpslat", 1.0),
    ("gpslatitude", 1.0),
    ("locationlat", 1.0),
];
const LON: &[(&str, f64)] = &[
    ("lon", 1.0),
    ("lng", 1.0),
    ("long", 1.0),
    ("longitude", 1.0),
    ("londeg", 1.0),
    ("longitudedeg", 1.0),
    ("gpslon", 1.0),
    ("gpslng", 1.0),
    ("gpslong", 1.0),
    ("gpslongitude", 1.0),
    ("locationlng", 1.0),
    ("locationlon", 1.0),
];
const TIME: &[(&str, f64)] = &[
    ("timestamp", 1.0),
    ("datetime", 1.0),
    ("time", 1.0),
    ("timeutc", 1.0),
    ("utctime", 1.0),
    ("utc", 1.0),
    ("timestamputc", 1.0),
    ("timestampms", 1.0),
    ("timems", 1.0),
    ("gpstime", 1.0),
    ("fixtime", 1.0),
    ("recordedat", 1.0),
    ("isotime", 1.0),
    ("epoch", 1.0),
    ("epochms", 1.0),
    ("unixtime", 1.0),
    ("unixtimestamp", 1.0),
    ("ts", 1.0),
];
const DATE: &[(&str, f64)] = &[("date", 1.0), ("utcdate", 1.0), ("gpsdate", 1.0)];
const ACCURACY: &[(&str, f64)] = &[
    ("accuracy", 1.0),
    ("accuracym", 1.0),
    ("horizontalaccuracy", 1.0),
    ("horizontalaccuracym", 1.0),
    ("hacc", 1.0),
    ("acc", 1.0),
    ("hpe", 1.0),
    ("eph", 1.0),
];
const ELEVATION: &[(&str, f64)] = &[
    ("ele", 1.0),
    ("elevation", 1.0),
    ("elevationm", 1.0),
    ("alt", 1.0),
    ("altitude", 1.0),
    ("altitudem", 1.0),
    ("altm", 1.0),
    ("height", 1.0),
    ("altft", 0.3048),
    ("altitudeft", 0.3048),
    ("elevationft", 0.3048),
    ("eleft", 0.3048),
];
const SPEED: &[(&str, f64)] = &[
    ("speed", 1.0),
    ("speedmps", 1.0),
    ("speedms", 1.0),
    ("velocity", 1.0),
    ("speedkmh", 1.0 / 3.6),
    ("speedkph", 1.0 / 3.6),
    ("kmh", 1.0 / 3.6),
    ("kph", 1.0 / 3.6),
    ("speedknots", 1852.0 / 3600.0),
    ("knots", 1852.0 / 3600.0),
];
const COURSE: &[(&str, f64)] = &[("course", 1.0), ("bearing", 1.0), ("heading", 1.0), ("cog", 1.0), ("direction", 1.0)];

const DELIMITERS: [char; 4] = [',', ';', '\t', '|'];

fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

fn is_known_name(name: &str) -> bool {
    let n = normalize(name);
    [LAT, LON, TIME, DATE, ACCURACY, ELEVATION, SPEED, COURSE].iter().any(|set| set.iter().any(|(a, _)| *a == n))
}

/// Whether a first line looks like delimited fields (the last-resort detection).
pub(crate) fn looks_like_csv(line: &str) -> bool {
    let d = detect_delimiter(line);
    split_line(line, d).len() >= 2
}

fn detect_delimiter(first_line: &str) -> char {
    let mut best = (',', 0);
    for d in DELIMITERS {
        let n = split_line(first_line, d).len().saturating_sub(1);
        if n > best.1 {
            best = (d, n);
        }
    }
    best.0
}

fn split_line(line: &str, delimiter: char) -> Vec<String> {
    Records::new(line, delimiter).next().map(|r| r.fields).unwrap_or_default()
}

/// One record, with the line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
    /// The file ended inside a quoted field.
    unterminated: bool,
}

/// RFC 4180 record splitter that keeps line numbers.
struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    delimiter: char,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, delimiter: char) -> Self {
        Records { chars: text.chars().peekable(), line: 1, delimiter }
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        self.chars.peek()?;
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut in_quotes = false;
        let mut unterminated = false;
        loop {
            let Some(c) = self.chars.next() else {
                unterminated = in_quotes;
                break;
            };
            if in_quotes {
                match c {
                    '"' if self.chars.peek() == Some(&'"') => {
                        self.chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        self.line += 1;
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.trim().is_empty() && !quoted => {
                    field.clear();
                    quoted = true;
                    in_quotes = true;
                }
                '\n' => {
                    self.line += 1;
                    break;
                }
                '\r' if self.chars.peek() == Some(&'\n') => {}
                c if c == self.delimiter => {
                    fields.push(finish_field(std::mem::take(&mut field), quoted));
                    quoted = false;
                }
                _ => field.push(c),
            }
        }
        fields.push(finish_field(field, quoted));
        Some(Record { line: start_line, fields, unterminated })
    }
}

fn finish_field(field: String, quoted: bool) -> String {
    if quoted {
        field
    } else {
        field.trim().to_string()
    }
}

/// A column chosen for a role, with its unit factor.
#[derive(Debug, Clone, Copy)]
struct Col {
    index: usize,
    factor: f64,
}

#[derive(Debug, Default)]
struct Columns {
    lat: Option<Col>,
    lon: Option<Col>,
    time: Option<Col>,
    date: Option<Col>,
    accuracy: Option<Col>,
    elevation: Option<Col>,
    speed: Option<Col>,
    course: Option<Col>,
}

/// A header for messages, shortened: some exports have thousands of columns.
fn describe(header: &[String]) -> String {
    const SHOWN: usize = 20;
    let names: Vec<String> = header.iter().take(SHOWN).map(|h| format!("{h:?}")).collect();
    let more = header.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("[{}, ... {more} more]", names.join(", "))
    } else {
        format!("[{}]", names.join(", "))
    }
}

fn resolve(
    role: &str,
    explicit: &Option<ColumnRef>,
    aliases: &[(&str, f64)],
    header: Option<&[String]>,
) -> Result<Option<Col>, String> {
    match explicit {
        Some(ColumnRef::Index(i)) => Ok(Some(Col { index: *i, factor: 1.0 })),
        Some(ColumnRef::Name(name)) => {
            let Some(h) = header else {
                return Err(format!("{role} column {name:?} is given by name but the file has no header"));
            };
            h.iter()
                .position(|c| c.trim().eq_ignore_ascii_case(name.trim()))
                .or_else(|| h.iter().position(|c| normalize(c) == normalize(name)))
                .map(|index| Some(Col { index, factor: 1.0 }))
                .ok_or_else(|| format!("no {role} column named {name:?} in header {}", describe(h)))
        }
        None => Ok(header.and_then(|h| {
            let names: Vec<String> = h.iter().map(|c| normalize(c)).collect();
            aliases.iter().find_map(|(alias, factor)| {
                names.iter().position(|n| n == alias).map(|index| Col { index, factor: *factor })
            })
        })),
    }
}

fn resolve_columns(o: &CsvOptions, header: Option<&[String]>, first_row: Option<&[String]>) -> Result<Columns, String> {
    let mut c = Columns {
        lat: resolve("latitude", &o.lat, LAT, header)?,
        lon: resolve("longitude", &o.lon, LON, header)?,
        time: resolve("time", &o.time, TIME, header)?,
        date: resolve("date", &o.date, DATE, header)?,
        accuracy: resolve("accuracy", &o.accuracy, ACCURACY, header)?,
        elevation: resolve("elevation", &o.elevation, ELEVATION, header)?,
        speed: resolve("speed", &o.speed, SPEED, header)?,
        course: resolve("course", &o.course, COURSE, header)?,
    };
    if header.is_none() {
        let col = |index| Some(Col { index, factor: 1.0 });
        c.lat = c.lat.or(col(0));
        c.lon = c.lon.or(col(1));
        if c.time.is_none() {
            c.time = first_row.and_then(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != c.lat.map(|l| l.index))
                    .filter(|(i, _)| Some(*i) != c.lon.map(|l| l.index))
                    .find(|(_, v)| parse_time(v, TimeFormat::Iso8601, None).is_ok())
                    .map(|(i, _)| Col { index: i, factor: 1.0 })
            });
        }
    }
    let header_desc = || header.map(|h| format!("; header is {}", describe(h))).unwrap_or_default();
    if c.lat.is_none() {
        return Err(format!("no latitude column found (give it explicitly){}", header_desc()));
    }
    if c.lon.is_none() {
        return Err(format!("no longitude column found (give it explicitly){}", header_desc()));
    }
    Ok(c)
}

fn parse_number(s: &str, delimiter: char) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    // Semicolon files from European locales write decimal commas.
    if delimiter != ',' && s.matches(',').count() == 1 && !s.contains('.') {
        return s.replace(',', ".").parse().ok();
    }
    None
}

pub fn read(text: &str, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let o = &opts.csv;
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = o.delimiter.unwrap_or_else(|| detect_delimiter(first_line));
    let mut records = Records::new(text, delimiter)
        .filter(|r| !(r.fields.len() == 1 && r.fields[0].is_empty() && !r.unterminated))
        .peekable();
    let malformed =
        |line: Option<usize>, message: String| ReadError::Malformed { format: TraceFormat::Csv, line, message };
    let has_header = match o.has_header {
        Some(h) => h,
        None => records.peek().is_some_and(|r| {
            r.fields.iter().any(|f| is_known_name(f)) || r.fields.iter().all(|f| parse_number(f, delimiter).is_none())
        }),
    };
    let header: Option<Record> = if has_header { records.next() } else { None };
    let first_row: Option<Vec<String>> = records.peek().map(|r| r.fields.clone());
    let cols = resolve_columns(o, header.as_ref().map(|h| h.fields.as_slice()), first_row.as_deref())
        .map_err(|m| malformed(header.as_ref().map(|h| h.line), m))?;

    let mut b = TraceBuilder::new(TraceFormat::Csv, opts);
    let mut naive_times = 0usize;
    for rec in records {
        let n = b.next_ordinal();
        let at = (Some(rec.line), Some(n));
        if rec.unterminated {
            b.problem(ProblemKind::Truncated, at.0, at.1, "file ends inside a quoted field; record skipped")?;
            continue;
        }
        let get = |c: Option<Col>| c.and_then(|c| rec.fields.get(c.index)).map(String::as_str);
        let (Some(lat_s), Some(lon_s)) = (get(cols.lat), get(cols.lon)) else {
            b.problem(
                ProblemKind::Malformed,
                at.0,
                at.1,
                format!("only {} fields, latitude/longitude columns missing; record skipped", rec.fields.len()),
            )?;
            continue;
        };
        let (Some(lat), Some(lon)) = (parse_number(lat_s, delimiter), parse_number(lon_s, delimiter)) else {
            b.problem(
                ProblemKind::BadCoordinate,
                at.0,
                at.1,
                format!("latitude/longitude {lat_s:?},{lon_s:?} are not numbers; record skipped"),
            )?;
            continue;
        };
        let mut p = TracePoint::new(lat, lon);
        let mut time_reported = false;
        if let Some(raw) = get(cols.time).filter(|s| !s.trim().is_empty()) {
            match read_time(raw, get(cols.date), o) {
                Ok(t) => {
                    if !t.had_offset {
                        naive_times += 1;
                    }
                    p.time = Some(t.utc);
                }
                Err(e) => {
                    time_reported = true;
                    b.problem(ProblemKind::BadTime, at.0, at.1, format!("{e}; point kept without time"))?;
                }
            }
        }
        for (col, slot, what) in [
            (cols.accuracy, &mut p.accuracy_m, "accuracy"),
            (cols.elevation, &mut p.elevation_m, "elevation"),
            (cols.speed, &mut p.speed_mps, "speed"),
            (cols.course, &mut p.course_deg, "course"),
        ] {
            let Some(raw) = get(col).filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            match parse_number(raw, delimiter) {
                Some(v) => *slot = Some(v * col.map_or(1.0, |c| c.factor)),
                None => {
                    b.problem(ProblemKind::BadValue, at.0, at.1, format!("{what} {raw:?} is not a number; ignored"))?
                }
            }
        }
        b.push(p, Origin::new(at.0, n).time_reported(time_reported))?;
    }
    if naive_times > 0 {
        b.report(Problem::new(
            ProblemKind::AssumedUtc,
            format!(
                "{naive_times} times have no UTC offset and were read as UTC \
                 (give the offset if they are local times)"
            ),
        ))?;
    }
    b.finish()
}

fn read_time(raw: &str, date: Option<&str>, o: &CsvOptions) -> Result<super::time::ParsedTime, String> {
    match parse_time(raw, o.time_format, o.utc_offset) {
        Ok(t) => Ok(t),
        Err(e) => match date.filter(|d| !d.trim().is_empty()) {
            // A separate date column with only the time of day in the time column.
            Some(d) => parse_time(&format!("{}T{}", d.trim(), raw.trim()), TimeFormat::Iso8601, o.utc_offset)
                .map_err(|_| format!("date {d:?} with time {raw:?} is not a date-time")),
            None => Err(format!("time {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(text: &str, csv: CsvOptions) -> Result<Trace, ReadError> {
        read(text, &ReadOptions { csv, ..ReadOptions::default() })
    }

    #[test]
    fn splits_quoted_fields_and_keeps_lines() {
        let recs: Vec<_> = Records::new("a,\"b,\"\"c\"\"\n d\",e\r\nf,g\n", ',').collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].fields, vec!["a", "b,\"c\"\n d", "e"]);
        assert_eq!(recs[1].line, 3);
        assert_eq!(recs[1].fields, vec!["f", "g"]);
        let unterminated: Vec<_> = Records::new("a,\"b\nc", ',').collect();
        assert!(unterminated[0].unterminated);
    }

    #[test]
    fn header_names_and_iso_times() {
        let text = "Timestamp,Latitude,Longitude,Accuracy,Speed_kmh\n\
                    2024-05-01T08:00:00+08:00,40.6,122.2,5,36\n\
                    2024-05-01T08:00:10+08:00,40.601,122.2,,\n";
        let t = read_with(text, CsvOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(t.points[0].accuracy_m, Some(5.0));
        assert!((t.points[0].speed_mps.unwrap() - 10.0).abs() < 1e-12);
        assert_eq!(t.points[1].accuracy_m, None);
    }

    #[test]
    fn semicolons_decimal_commas_and_epoch_millis() {
        let text = "lat;lng;time\n40,6;122,2;1714521600000\n40,601;122,2;1714521610000\n";
        let t = read_with(text, CsvOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.points[0].lat, 40.6);
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2024-05-01T00:00:10+00:00");
    }

    #[test]
    fn headerless_defaults_and_naive_times() {
        let text = "40.6,122.2,2024-05-01 00:00:00\n40.7,122.2,2024-05-01 00:01:00\n";
        let t = read_with(text, CsvOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.points[1].lat, 40.7);
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].kind, ProblemKind::AssumedUtc);
        let t = read_with(
            text,
            CsvOptions { utc_offset: super::super::time::parse_utc_offset("+08:00"), ..CsvOptions::default() },
        )
        .unwrap();
        assert!(t.problems.is_empty());
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-04-30T16:00:00+00:00");
    }

    #[test]
    fn explicit_columns_date_plus_time_and_tabs() {
        let text = "id\tdate\tclock\ty\tx\n1\t2024-05-01\t00:00:00Z\t40.6\t122.2\n";
        let t = read_with(
            text,
            CsvOptions {
                lat: Some(ColumnRef::Name("y".into())),
                lon: Some(ColumnRef::Index(4)),
                time: Some(ColumnRef::Name("CLOCK".into())),
                ..CsvOptions::default()
            },
        )
        .unwrap();
        assert_eq!(t.points.len(), 1);
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-05-01T00:00:00+00:00");
        let err = read_with(text, CsvOptions { lat: Some(ColumnRef::Name("nope".into())), ..CsvOptions::default() })
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(matches!(read_with("id,name\n1,x\n", CsvOptions::default()), Err(ReadError::Malformed { .. })));
    }

    #[test]
    fn bad_rows_are_reported_per_line() {
        let text = "lat,lon,time\n\
                    40.6,122.2,2024-05-01T00:00:00Z\n\
                    40.6\n\
                    x,122.2,2024-05-01T00:00:01Z\n\
                    40.6,122.2,yesterday\n\
                    95,122.2,2024-05-01T00:00:03Z\n\
                    40.6,122.2,2024-05-01T00:00:04Z\n\
                    \"40.6,122.2,2024";
        let t = read_with(text, CsvOptions::default()).unwrap();
        assert_eq!(t.points.len(), 3);
        let got: Vec<_> = t.problems.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Some(3), ProblemKind::Malformed),
                (Some(4), ProblemKind::BadCoordinate),
                (Some(5), ProblemKind::BadTime),
                (Some(6), ProblemKind::BadCoordinate),
                (Some(8), ProblemKind::Truncated),
            ]
        );
    }
}
