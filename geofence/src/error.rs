//! Typed errors. Every geometry error names the problem and where it is, as a path in the
//! input (`coordinates[0][1][5]` = polygon 0, ring 1 (the first hole), position 5; GeoJSON input
//! prefixes the feature, e.g. `features[2].geometry.coordinates[0][0][7]`).

/// Why a geometry cannot be a fence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    /// A coordinate is NaN or infinite.
    #[error("{at}: coordinate is not a finite number")]
    NonFinite { at: String },
    /// Longitude outside [-180, 180] or latitude outside [-90, 90].
    #[error("{at}: position ({lon}, {lat}) is out of range (longitude -180..180, latitude -90..90)")]
    OutOfRange { at: String, lon: f64, lat: f64 },
    /// A ring whose last position differs from its first.
    #[error("{at}: ring is not closed (first position {first:?}, last {last:?})")]
    UnclosedRing { at: String, first: [f64; 2], last: [f64; 2] },
    /// A ring with fewer than 3 distinct positions (4 with the closing one), or a line with
    /// fewer than 2.
    #[error("{at}: too few points ({found} distinct, at least {needed} needed)")]
    TooFewPoints { at: String, found: usize, needed: usize },
    /// Edges that cross, overlap, or touch where they may not.
    #[error("self-intersection: edge {a} meets edge {b} near ({lon:.7}, {lat:.7})")]
    SelfIntersection { a: String, b: String, lon: f64, lat: f64 },
    /// A hole that is not inside its polygon's exterior ring, or that lies inside another hole.
    #[error("{at}: hole is not inside its exterior ring or lies inside another hole")]
    HoleOutside { at: String },
    /// Two polygons of a multipolygon overlap (one lies inside the other's area).
    #[error("{a} lies inside {b}: polygons of a multipolygon must not overlap")]
    OverlappingPolygons { a: String, b: String },
    /// No polygon at all.
    #[error("{at}: empty geometry")]
    Empty { at: String },
    /// A radius, width or other measure that is not a positive finite number of metres.
    #[error("{at}: {what} must be a positive finite number of metres, got {value}")]
    BadMeasure { at: String, what: &'static str, value: f64 },
    /// Too large to index (more than ~33 M edges in one fence) or wider than 180° of longitude.
    #[error("{at}: geometry too large ({reason})")]
    TooLarge { at: String, reason: &'static str },
    /// A GeoJSON type this reader does not take where it was found.
    #[error("{at}: unsupported GeoJSON type {found:?} (expected {expected})")]
    UnsupportedType { at: String, found: String, expected: &'static str },
    /// JSON that is not valid GeoJSON (missing member, wrong JSON type, …).
    #[error("{at}: malformed GeoJSON: {reason}")]
    Malformed { at: String, reason: String },
}

impl GeometryError {
    /// The same error with `prefix.` prepended to its location (used by the GeoJSON reader to
    /// say which feature it came from).
    pub(crate) fn within(self, prefix: &str) -> Self {
        let p = |s: String| if s.is_empty() { prefix.to_owned() } else { format!("{prefix}.{s}") };
        use GeometryError::*;
        match self {
            NonFinite { at } => NonFinite { at: p(at) },
            OutOfRange { at, lon, lat } => OutOfRange { at: p(at), lon, lat },
            UnclosedRing { at, first, last } => UnclosedRing { at: p(at), first, last },
            TooFewPoints { at, found, needed } => TooFewPoints { at: p(at), found, needed },
            SelfIntersection { a, b, lon, lat } => SelfIntersection { a: p(a), b: p(b), lon, lat },
            HoleOutside { at } => HoleOutside { at: p(at) },
            OverlappingPolygons { a, b } => OverlappingPolygons { a: p(a), b: p(b) },
            Empty { at } => Empty { at: p(at) },
            BadMeasure { at, what, value } => BadMeasure { at: p(at), what, value },
            TooLarge { at, reason } => TooLarge { at: p(at), reason },
            UnsupportedType { at, found, expected } => UnsupportedType { at: p(at), found, expected },
            Malformed { at, reason } => Malformed { at: p(at), reason },
        }
    }
}

/// Why a fence (beyond its geometry) is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FenceError {
    /// The geometry is invalid.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// A validity period that ends before (or when) it starts.
    #[error("validity period ends ({until}) before it starts ({from})")]
    EmptyValidity { from: chrono::DateTime<chrono::Utc>, until: chrono::DateTime<chrono::Utc> },
    /// A schedule window that starts and ends at the same time of day, or has no day.
    #[error("schedule window {index} is empty ({reason})")]
    EmptyWindow { index: usize, reason: &'static str },
    /// A fence id used twice in one set.
    #[error("fence id {0} is already in use")]
    DuplicateId(i64),
    /// No fence with this id.
    #[error("no fence with id {0}")]
    UnknownFence(i64),
}
