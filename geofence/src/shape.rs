//! Fence shapes: prepared areas, exact circles and corridors, each able to give a signed
//! distance (metres, positive inside) and a cheaper "inside, and is the boundary within a?".

use geo::{Coord, LineString};

use crate::area::{check_positions, dedup, PreparedArea};
use crate::error::GeometryError;
use crate::grid::{EdgeGrid, GridError};
use crate::metric::{LocalFrame, MetresPerDegree};
use crate::planar::{span, Rect, Xy};
use crate::verdict::Position;

/// A circle: every point within `radius_m` metres of `center`, evaluated exactly as a circle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    /// Centre `(lon, lat)`, degrees WGS-84.
    pub center: (f64, f64),
    /// Radius in metres.
    pub radius_m: f64,
    /// Metres per degree at the centre's latitude.
    k: MetresPerDegree,
}

/// A corridor: every point within `half_width_m` metres of a polyline (a leave's route).
#[derive(Debug, Clone)]
pub struct Corridor {
    frame: LocalFrame,
    bbox: Rect,
    grid: EdgeGrid,
    xy: Box<[Xy]>,
    /// Half of the corridor's width, metres.
    pub half_width_m: f64,
}

/// What a fence covers.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Polygon or multipolygon with holes.
    Area(PreparedArea),
    /// Centre and radius.
    Circle(Circle),
    /// Line and half-width.
    Corridor(Corridor),
}

fn positive(at: &str, what: &'static str, value: f64) -> Result<f64, GeometryError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(GeometryError::BadMeasure { at: at.into(), what, value })
    }
}

impl Circle {
    /// A validated circle.
    ///
    /// # Units
    /// Degrees and metres.
    pub fn new(lon: f64, lat: f64, radius_m: f64) -> Result<Self, GeometryError> {
        check_positions(&[Coord { x: lon, y: lat }], |_| "center".into())?;
        Ok(Circle {
            center: (lon, lat),
            radius_m: positive("radius_m", "radius", radius_m)?,
            k: MetresPerDegree::at(lat),
        })
    }

    /// Signed distance to the circle's edge: `radius − distance to centre`, the distance
    /// measured with WGS-84 metres per degree averaged between the centre's and the point's
    /// latitude (`k` = [`MetresPerDegree::at`] the point's latitude): within 1 mm of the
    /// geodesic distance up to 5 km, 1 cm at 15 km, and no trigonometry per evaluation.
    ///
    /// # Units
    /// Degrees in, metres out.
    #[inline]
    pub fn signed_distance_m(&self, lon: f64, lat: f64, k: &MetresPerDegree) -> f64 {
        let dx = (lon - self.center.0) * 0.5 * (self.k.kx + k.kx);
        let dy = (lat - self.center.1) * 0.5 * (self.k.ky + k.ky);
        self.radius_m - (dx * dx + dy * dy).sqrt()
    }

    fn bbox_lonlat(&self) -> [f64; 4] {
        let k = MetresPerDegree::at(self.center.1);
        let dlat = self.radius_m / k.ky * 1.001;
        // Longitude span is widest at the latitude farthest from the equator.
        let far = MetresPerDegree::at((self.center.1.abs() + dlat).min(89.9));
        let dlon = self.radius_m / far.kx * 1.001;
        [self.center.0 - dlon, self.center.1 - dlat, self.center.0 + dlon, self.center.1 + dlat]
    }
}

impl Corridor {
    /// A validated corridor along `line` (≥ 2 distinct positions, lon/lat degrees).
    ///
    /// # Units
    /// Degrees and metres.
    pub fn new(line: &LineString<f64>, half_width_m: f64) -> Result<Self, GeometryError> {
        let half_width_m = positive("half_width_m", "half-width", half_width_m)?;
        check_positions(&line.0, |v| format!("coordinates[{v}]"))?;
        let cs = dedup(&line.0);
        if cs.len() < 2 {
            return Err(GeometryError::TooFewPoints { at: "coordinates".into(), found: cs.len(), needed: 2 });
        }
        let mut bb = Rect::empty();
        for c in &cs {
            bb.add([c.x, c.y]);
        }
        if bb.max[0] - bb.min[0] > 180.0 {
            return Err(GeometryError::TooLarge {
                at: "coordinates".into(),
                reason: "spans more than 180° of longitude",
            });
        }
        let frame = LocalFrame::new(0.5 * (bb.min[0] + bb.max[0]), 0.5 * (bb.min[1] + bb.max[1]));
        let xy: Vec<Xy> = cs.iter().map(|c| frame.to_local(c.x, c.y)).collect();
        let mut bbox = Rect::empty();
        xy.iter().for_each(|p| bbox.add(*p));
        let edges: Vec<u32> = (0..xy.len() as u32 - 1).collect();
        let grid = EdgeGrid::build(&xy, &edges, false).map_err(|GridError::TooLarge| GeometryError::TooLarge {
            at: "coordinates".into(),
            reason: "too many edges",
        })?;
        Ok(Corridor { frame, bbox, grid, xy: xy.into_boxed_slice(), half_width_m })
    }

    /// The centre line, lon/lat degrees.
    pub fn line(&self) -> LineString<f64> {
        LineString(
            self.xy
                .iter()
                .map(|p| {
                    let l = self.frame.to_lonlat(*p);
                    Coord { x: l[0], y: l[1] }
                })
                .collect(),
        )
    }

    /// Distance from the point to the centre line; only exact below `bound` (else `bound`).
    fn line_distance(&self, lon: f64, lat: f64, k: &MetresPerDegree, bound: f64, stop_below: f64) -> f64 {
        let p = self.frame.to_local(lon, lat);
        let s = self.frame.scale_at(k);
        if self.bbox.dist(p, s) >= bound {
            return bound;
        }
        self.grid.nearest(&self.xy, p, self.grid.cell_of(p), s, bound, stop_below)
    }

    /// Signed distance to the corridor's edge: `half_width − distance to the line`.
    ///
    /// # Units
    /// Degrees in, metres out.
    pub fn signed_distance_m(&self, lon: f64, lat: f64, k: &MetresPerDegree) -> f64 {
        self.half_width_m - self.line_distance(lon, lat, k, f64::INFINITY, -1.0)
    }

    fn bbox_lonlat(&self) -> [f64; 4] {
        let a = self.frame.to_lonlat(self.bbox.min);
        let b = self.frame.to_lonlat(self.bbox.max);
        let k = MetresPerDegree::at(a[1].abs().max(b[1].abs()).min(89.0));
        let dlon = self.half_width_m / k.kx * 1.001;
        let dlat = self.half_width_m / k.ky * 1.001;
        [a[0] - dlon, a[1] - dlat, b[0] + dlon, b[1] + dlat]
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.xy.len() * 16 + self.grid.heap_bytes()
    }
}

impl Shape {
    /// A prepared area (validates; see [`PreparedArea::new`]).
    pub fn area(area: &geo::MultiPolygon<f64>) -> Result<Self, GeometryError> {
        PreparedArea::new(area).map(Shape::Area)
    }

    /// A circle (validates).
    ///
    /// # Units
    /// Degrees and metres.
    pub fn circle(lon: f64, lat: f64, radius_m: f64) -> Result<Self, GeometryError> {
        Circle::new(lon, lat, radius_m).map(Shape::Circle)
    }

    /// A corridor (validates).
    ///
    /// # Units
    /// Degrees and metres.
    pub fn corridor(line: &LineString<f64>, half_width_m: f64) -> Result<Self, GeometryError> {
        Corridor::new(line, half_width_m).map(Shape::Corridor)
    }

    /// Bounding box `[min_lon, min_lat, max_lon, max_lat]` (degrees) of the covered area.
    pub fn bbox_lonlat(&self) -> [f64; 4] {
        match self {
            Shape::Area(a) => a.bbox_lonlat(),
            Shape::Circle(c) => c.bbox_lonlat(),
            Shape::Corridor(c) => c.bbox_lonlat(),
        }
    }

    /// Signed distance from the point to the shape's boundary, positive inside, and whether the
    /// point itself is inside (for areas by the ray-crossing rule; otherwise `d ≥ 0`). `k` is
    /// [`MetresPerDegree::at`] the point's latitude (computed once per fix by the caller).
    ///
    /// # Units
    /// Degrees in; metres out.
    #[inline]
    pub fn signed_distance_m(&self, lon: f64, lat: f64, k: &MetresPerDegree) -> (f64, bool) {
        match self {
            Shape::Area(a) => a.signed_distance_m(lon, lat, k),
            Shape::Circle(c) => {
                let d = c.signed_distance_m(lon, lat, k);
                (d, d >= 0.0)
            }
            Shape::Corridor(c) => {
                let d = c.signed_distance_m(lon, lat, k);
                (d, d >= 0.0)
            }
        }
    }

    /// [`signed_distance_m`](Self::signed_distance_m) when the inside flag is already known
    /// (from [`position_fast`](Self::position_fast) at the same point, which decides it by the
    /// same rule): areas skip the ray-crossing test.
    #[inline]
    pub(crate) fn signed_distance_m_knowing_inside(
        &self,
        lon: f64,
        lat: f64,
        k: &MetresPerDegree,
        inside: bool,
    ) -> (f64, bool) {
        match self {
            Shape::Area(a) => a.signed_distance_m_knowing_inside(lon, lat, k, inside),
            _ => self.signed_distance_m(lon, lat, k),
        }
    }

    /// The position of a fix with accuracy radius `a` metres relative to the shape, without
    /// computing the exact distance when it is not needed; equal to
    /// `Position::classify(self.signed_distance_m(..).0, a)` (up to the last bit of rounding
    /// when `|d| = a` exactly), plus the same inside flag.
    ///
    /// # Units
    /// Degrees and metres.
    #[inline]
    pub fn position_fast(&self, lon: f64, lat: f64, k: &MetresPerDegree, a: f64) -> (Position, bool) {
        // a = 0 (or NaN) needs the exact distance to put boundary points inside.
        if a.is_nan() || a <= 0.0 {
            let (d, inside) = self.signed_distance_m(lon, lat, k);
            return (Position::classify(d, a), inside);
        }
        match self {
            Shape::Area(area) => {
                let (inside, near) = area.inside_and_near(lon, lat, k, a);
                let pos = if near {
                    Position::Uncertain
                } else if inside {
                    Position::Inside
                } else {
                    Position::Outside
                };
                (pos, inside)
            }
            Shape::Circle(c) => {
                let d = c.signed_distance_m(lon, lat, k);
                (Position::classify(d, a), d >= 0.0)
            }
            Shape::Corridor(c) => {
                let w = c.half_width_m;
                let bound = w + a;
                let m = c.line_distance(lon, lat, k, bound, w - a);
                if m >= bound {
                    // Nothing within w + a: definitely outside (w − m would round near −a).
                    return (Position::Outside, false);
                }
                let d = w - m;
                (Position::classify(d, a), d >= 0.0)
            }
        }
    }

    /// Starts loading what evaluating this shape at the point will read first.
    #[inline]
    pub(crate) fn prefetch(&self, lon: f64, lat: f64, exact: bool) {
        if let Shape::Area(a) = self {
            a.prefetch(lon, lat, exact);
        }
    }

    /// The shape's heap data as (start, bytes) spans, for streaming prefetches.
    pub(crate) fn heap_spans(&self) -> [(*const u8, usize); 2] {
        match self {
            Shape::Area(a) => a.heap_spans(),
            Shape::Circle(_) => [(std::ptr::null(), 0); 2],
            Shape::Corridor(c) => [span(&c.xy), c.grid.span()],
        }
    }

    /// Heap bytes held by the shape (not counting the enum itself).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Shape::Area(a) => a.heap_bytes(),
            Shape::Circle(_) => 0,
            Shape::Corridor(c) => c.heap_bytes(),
        }
    }
}
