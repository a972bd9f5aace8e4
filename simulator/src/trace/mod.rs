//! Reading real GPS traces (GPX, GeoLife PLT, CSV, GeoJSON, NMEA 0183) into one
//! model, [`Trace`], that the inspector describes and the replayer will send.
//!
//! Every reader follows the same contract: it never panics, whatever the input;
//! problems with single points are reported as [`Problem`]s with a line number or
//! point ordinal; with [`ReadOptions::strict`] the first problem is an error, otherwise
//! reading goes on, and in lenient mode:
//!
//! - a point without a usable position is skipped;
//! - a point whose time is unreadable or implausible keeps its position and loses
//!   its time (so a trace like one stamped 1901 throughout still has its path);
//! - a point whose time goes backwards is skipped, so the times of a [`Trace`] never
//!   decrease (a replay can send points in order);
//! - an unusable optional value (elevation, accuracy, speed, course) is dropped.
//!
//! Checks that do not depend on the format (coordinate ranges, plausible times,
//! time order) live in one place, the private `builder` module, so all formats report
//! them alike.

mod builder;
pub mod csv;
pub mod geojson;
pub mod gpx;
pub mod nmea;
pub mod plt;
mod problem;
pub mod stats;
mod text;
pub mod time;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use problem::{Problem, ProblemKind, ReadError};
pub use stats::{stats, Gap, StatsOptions, TraceStats};

/// The file formats a trace can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    Gpx,
    Plt,
    Csv,
    Geojson,
    Nmea,
}

impl TraceFormat {
    pub const ALL: [TraceFormat; 5] =
        [TraceFormat::Gpx, TraceFormat::Plt, TraceFormat::Csv, TraceFormat::Geojson, TraceFormat::Nmea];

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Gpx => "gpx",
            TraceFormat::Plt => "plt",
            TraceFormat::Csv => "csv",
            TraceFormat::Geojson => "geojson",
            TraceFormat::Nmea => "nmea",
        }
    }

    /// The format a file extension usually means; only a fallback for content
    /// detection, since extensions lie (`.txt` NMEA logs, `.json` GeoJSON).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "gpx" => Some(TraceFormat::Gpx),
            "plt" => Some(TraceFormat::Plt),
            "csv" | "tsv" => Some(TraceFormat::Csv),
            "geojson" | "json" => Some(TraceFormat::Geojson),
            "nmea" | "nma" | "log" => Some(TraceFormat::Nmea),
            _ => None,
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TraceFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown trace format {s:?} (gpx, plt, csv, geojson, nmea)"))
    }
}

/// One position of a trace, always WGS-84 degrees and SI units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    pub lat: f64,
    pub lon: f64,
    pub time: Option<DateTime<Utc>>,
    pub elevation_m: Option<f64>,
    /// Horizontal accuracy (radius, metres) when the source states one in metres;
    /// dilution-of-precision values are not metres and are not put here.
    pub accuracy_m: Option<f64>,
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees clockwise from true north, in [0, 360).
    pub course_deg: Option<f64>,
}

impl TracePoint {
    pub fn new(lat: f64, lon: f64) -> Self {
        TracePoint { lat, lon, time: None, elevation_m: None, accuracy_m: None, speed_mps: None, course_deg: None }
    }

    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }
}

/// A run of consecutive points the source recorded as one piece (a GPX track
/// segment, a GeoJSON line); the jump between two segments is usually a pause
/// or a loss of fix rather than movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Index of the first point in [`Trace::points`].
    pub start: usize,
    /// One past the last point.
    pub end: usize,
    /// Name given by the source (GPX `<trk><name>`), if any.
    pub name: Option<String>,
}

/// A trace as read: points in source order (bad ones already skipped), segment
/// boundaries, and the problems found on the way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub format: TraceFormat,
    pub points: Vec<TracePoint>,
    /// Non-empty, contiguous, in order, together covering all points.
    pub segments: Vec<Segment>,
    pub problems: Vec<Problem>,
}

impl Trace {
    /// Points grouped by segment.
    pub fn segment_points(&self) -> impl Iterator<Item = (&Segment, &[TracePoint])> {
        self.segments.iter().map(move |s| (s, &self.points[s.start..s.end]))
    }

    pub fn timed_points(&self) -> usize {
        self.points.iter().filter(|p| p.time.is_some()).count()
    }
}

/// Which parts of a GPX file become the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpxPart {
    /// Tracks if there are any track points, else routes, else waypoints: a file
    /// with a recorded track usually also carries waypoints that are places, not
    /// positions along the way.
    #[default]
    Auto,
    Tracks,
    Routes,
    Waypoints,
}

#[derive(Debug, Clone, Default)]
pub struct GpxOptions {
    pub part: GpxPart,
}

#[derive(Debug, Clone)]
pub struct NmeaOptions {
    /// Sentences without `*hh` are problems (and skipped) unless this is false;
    /// a truncated line loses its checksum, so accepting them risks garbage fixes.
    pub require_checksum: bool,
}

impl Default for NmeaOptions {
    fn default() -> Self {
        NmeaOptions { require_checksum: true }
    }
}

pub use csv::{ColumnRef, CsvOptions};
pub use time::TimeFormat;

/// How to read a trace.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// First problem is an error instead of a skipped point.
    pub strict: bool,
    /// The format, or `None` to detect it from the content.
    pub format: Option<TraceFormat>,
    /// Date of the first fix of an NMEA log whose sentences carry no date (GGA only).
    pub start_date: Option<NaiveDate>,
    /// Times before this are implausible (default: the GPS epoch, 1980-01-06).
    pub earliest_time: DateTime<Utc>,
    /// Times after this are implausible (default: no limit; the CLI uses now + 1 day).
    pub latest_time: Option<DateTime<Utc>>,
    pub csv: CsvOptions,
    pub gpx: GpxOptions,
    pub nmea: NmeaOptions,
}

/// Start of GPS time; no receiver produced a fix before it, so an earlier time is a
/// placeholder (e.g. 1901-12-13T20:45:52Z, the most negative 32-bit Unix time).
pub fn gps_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1980, 1, 6, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            strict: false,
            format: None,
            start_date: None,
            earliest_time: gps_epoch(),
            latest_time: None,
            csv: CsvOptions::default(),
            gpx: GpxOptions::default(),
            nmea: NmeaOptions::default(),
        }
    }
}

/// Guesses the format from the content; `None` when nothing fits.
pub fn detect_format(text: &str) -> Option<TraceFormat> {
    let head: &str = match text.char_indices().nth(64 * 1024) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let trimmed = head.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        return head.contains("<gpx").then_some(TraceFormat::Gpx);
    }
    if trimmed.starts_with('{') {
        return Some(TraceFormat::Geojson);
    }
    let lines: Vec<&str> = trimmed.lines().map(str::trim).filter(|l| !l.is_empty()).take(50).collect();
    if lines.first().is_some_and(|l| l.to_ascii_lowercase().starts_with("geolife trajectory"))
        || trimmed.lines().nth(6).is_some_and(plt::looks_like_record)
    {
        return Some(TraceFormat::Plt);
    }
    if lines.iter().any(|l| nmea::looks_like_sentence(l)) {
        return Some(TraceFormat::Nmea);
    }
    if lines.first().is_some_and(|l| csv::looks_like_csv(l)) {
        return Some(TraceFormat::Csv);
    }
    None
}

/// Reads `text` as `format`.
pub fn read_str(text: &str, format: TraceFormat, opts: &ReadOptions) -> Result<Trace, ReadError> {
    match format {
        TraceFormat::Gpx => gpx::read(text, opts),
        TraceFormat::Plt => plt::read(text, opts),
        TraceFormat::Csv => csv::read(text, opts),
        TraceFormat::Geojson => geojson::read(text, opts),
        TraceFormat::Nmea => nmea::read(text, opts),
    }
}

/// Reads raw file content: decodes it (UTF-8, or UTF-16 with a byte-order mark),
/// picks the format (`opts.format`, else content, else `name_hint`'s extension)
/// and reads it.
pub fn read_bytes(bytes: &[u8], name_hint: Option<&Path>, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let (text, encoding_problem) = text::decode(bytes);
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(&text)
            .or_else(|| {
                name_hint.and_then(|p| p.extension()).and_then(|e| e.to_str()).and_then(TraceFormat::from_extension)
            })
            .ok_or(ReadError::UnknownFormat)?,
    };
    if let Some(p) = &encoding_problem {
        if opts.strict {
            return Err(ReadError::Strict(p.clone()));
        }
    }
    let mut trace = read_str(&text, format, opts)?;
    if let Some(p) = encoding_problem {
        trace.problems.insert(0, p);
    }
    Ok(trace)
}

/// Reads a trace file.
pub fn read_path(path: &Path, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })?;
    read_bytes(&bytes, Some(path), opts)
}

#[cfg(test)]
mod tests;
