//! A brute-force reference: no index, no preparation, no local frame — every edge, every
//! time, straight from lon/lat. Slow on purpose; property tests and the workload benchmark
//! check the prepared engine against it.

use geo::{Coord, LineString, MultiPolygon};

use crate::metric::MetresPerDegree;
use crate::planar::{orient, seg_dist2};

/// A shape as given (unprepared).
#[derive(Debug, Clone)]
pub enum OracleShape {
    /// Rings in lon/lat.
    Area(MultiPolygon<f64>),
    /// Centre (lon, lat) and radius (m).
    Circle((f64, f64), f64),
    /// Line and half-width (m).
    Corridor(LineString<f64>, f64),
}

fn rel(c: Coord<f64>, lon: f64, lat: f64, k: &MetresPerDegree) -> [f64; 2] {
    [(c.x - lon) * k.kx, (c.y - lat) * k.ky]
}

/// Signed distance (metres, positive inside) and the ray-crossing inside flag, by brute
/// force. Parity: half-open crossing rule with exact orientation on lon/lat. Distance: WGS-84
/// metres per degree at the point's latitude (the engine's definition).
///
/// # Units
/// Degrees in; metres out.
pub fn signed_distance_m(shape: &OracleShape, lon: f64, lat: f64) -> (f64, bool) {
    let k = MetresPerDegree::at(lat);
    let one = [1.0, 1.0];
    match shape {
        OracleShape::Circle(c, r) => {
            // Geodesic (Karney): the circle's true definition.
            let d = r - crate::metric::distance_m(*c, (lon, lat));
            (d, d >= 0.0)
        }
        OracleShape::Corridor(line, w) => {
            let m = line
                .0
                .windows(2)
                .map(|s| seg_dist2([0.0, 0.0], rel(s[0], lon, lat, &k), rel(s[1], lon, lat, &k), one))
                .fold(f64::INFINITY, f64::min)
                .sqrt();
            (w - m, w - m >= 0.0)
        }
        OracleShape::Area(mp) => {
            let p = [lon, lat];
            let mut inside = false;
            let mut best = f64::INFINITY;
            for poly in &mp.0 {
                for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                    for s in ring.0.windows(2) {
                        let (a, b) = ([s[0].x, s[0].y], [s[1].x, s[1].y]);
                        if (a[1] > lat) != (b[1] > lat) {
                            let (lo, hi) = if a[1] <= lat { (a, b) } else { (b, a) };
                            if orient(lo, hi, p) > 0 {
                                inside = !inside;
                            }
                        }
                        best = best.min(seg_dist2([0.0, 0.0], rel(s[0], lon, lat, &k), rel(s[1], lon, lat, &k), one));
                    }
                }
            }
            let d = best.sqrt();
            (if inside { d } else { -d }, inside)
        }
    }
}
