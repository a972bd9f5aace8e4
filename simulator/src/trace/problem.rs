//! What went wrong while reading a trace: per-point problems (collected in lenient
//! mode) and the errors that stop a read.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::TraceFormat;

/// The kind of a [`Problem`], so callers (and tests) can match on it without parsing
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A timestamp that cannot be parsed.
    BadTime,
    /// A timestamp that parses but cannot be a GPS fix time (before the GPS epoch,
    /// or in the future), e.g. the 1901-12-13 sentinel some exporters write.
    ImplausibleTime,
    /// A point without a time in a trace (or segment) that otherwise has times.
    MissingTime,
    /// A time earlier than the previous point's (or an isolated jump ahead).
    TimeOutOfOrder,
    /// Timestamps without a UTC offset that were read as UTC.
    AssumedUtc,
    /// NMEA fixes that carry only a time of day, and no date could be found.
    MissingDate,
    /// Latitude/longitude missing, unparsable, out of range, or 0,0.
    BadCoordinate,
    /// An optional value (elevation, accuracy, speed, course) that is unusable;
    /// the point is kept without it.
    BadValue,
    /// An NMEA sentence whose checksum does not match.
    BadChecksum,
    /// An NMEA sentence without a checksum.
    MissingChecksum,
    /// A record (line, element, feature) that cannot be understood at all.
    Malformed,
    /// Something valid but not supported (e.g. a GeoJSON Polygon in a trace).
    Unsupported,
    /// The file ends in the middle of its structure; what came before was kept.
    Truncated,
    /// The file is not valid UTF-8; bad bytes were replaced.
    Encoding,
    /// The file holds no usable point.
    NoPoints,
}

/// One problem found in the input, with where it was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// 1-based line in the file, where the format has meaningful lines.
    pub line: Option<usize>,
    /// 1-based ordinal of the point record in the file (counting skipped ones), so
    /// it still means something for points that were dropped.
    pub point: Option<usize>,
    /// Human-readable explanation, without the location (see `Display`).
    pub message: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Self {
        Problem { kind, line: None, point: None, message: message.into() }
    }

    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn at_point(mut self, point: Option<usize>) -> Self {
        self.point = point;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.point) {
            (Some(l), Some(p)) => write!(f, "line {l} (point {p}): {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(p)) => write!(f, "point {p}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Why a trace could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot tell the trace format from the content; give it explicitly (gpx, plt, csv, geojson, nmea)")]
    UnknownFormat,
    #[error("not a readable {format} file{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Malformed { format: TraceFormat, line: Option<usize>, message: String },
    #[error("strict mode stops at the first problem: {0}")]
    Strict(Problem),
}

/// Collects problems; in strict mode the first one becomes the error, so readers
/// simply `?` every report and need no strict/lenient branches of their own.
#[derive(Debug)]
pub(crate) struct Problems {
    strict: bool,
    list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(strict: bool) -> Self {
        Problems { strict, list: Vec::new() }
    }

    pub(crate) fn report(&mut self, problem: Problem) -> Result<(), ReadError> {
        if self.strict {
            return Err(ReadError::Strict(problem));
        }
        self.list.push(problem);
        Ok(())
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}
