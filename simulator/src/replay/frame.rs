//! Re-anchoring a trace: moving it so that its first point lands on a chosen place while every
//! other point keeps its offset in metres from the first.
//!
//! Adding the same number of degrees to every point is wrong as soon as the latitude changes:
//! a degree of longitude is 77 km at Ljubljana and 84 km at Yingkou, so a trace moved that way
//! is stretched east–west by 9 %. Instead each point is expressed in the first point's local
//! east–north–up frame (earth-centred Cartesian coordinates, so no map projection is involved)
//! and re-expressed in the same frame at the anchor. That is a rigid motion of 3-D space:
//! straight-line distances are kept exactly, and distances along the ellipsoid to well under a
//! millimetre over a city-sized trace (the points end up a few millimetres above or below the
//! ellipsoid, which is then dropped).

/// WGS-84 semi-major axis (metres) and flattening.
const A: f64 = 6_378_137.0;
const F: f64 = 1.0 / 298.257_223_563;
/// First eccentricity squared.
const E2: f64 = F * (2.0 - F);

/// A position in WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Self {
        LatLon { lat, lon }
    }

    /// Whether this is a real position (finite, latitude ±90, longitude ±180).
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite() && self.lon.is_finite() && self.lat.abs() <= 90.0 && self.lon.abs() <= 180.0
    }
}

impl std::str::FromStr for LatLon {
    type Err = String;

    /// `LAT,LON` in degrees, e.g. `40.667,122.235`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once(',').ok_or_else(|| format!("{s:?} is not LAT,LON"))?;
        let num = |t: &str| t.trim().parse::<f64>().map_err(|_| format!("{s:?} is not LAT,LON (degrees)"));
        let p = LatLon::new(num(a)?, num(b)?);
        if !p.is_valid() {
            return Err(format!("{s:?}: latitude must be within ±90 and longitude within ±180"));
        }
        Ok(p)
    }
}

type Vec3 = [f64; 3];

/// Earth-centred, earth-fixed coordinates (metres) of a point on the ellipsoid.
fn to_ecef(p: LatLon) -> Vec3 {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    let n = A / (1.0 - E2 * lat.sin().powi(2)).sqrt();
    [n * lat.cos() * lon.cos(), n * lat.cos() * lon.sin(), n * (1.0 - E2) * lat.sin()]
}

/// Latitude and longitude of an earth-centred point (its height is dropped).
fn from_ecef(v: Vec3) -> LatLon {
    let [x, y, z] = v;
    let p = x.hypot(y);
    // Fixed-point iteration on tan φ = (z + e² N sin φ) / p; for points near the surface it
    // gains about three digits per round, so six rounds reach the limit of f64.
    let mut lat = z.atan2(p * (1.0 - E2));
    for _ in 0..6 {
        let n = A / (1.0 - E2 * lat.sin().powi(2)).sqrt();
        lat = (z + E2 * n * lat.sin()).atan2(p);
    }
    LatLon { lat: lat.to_degrees(), lon: y.atan2(x).to_degrees() }
}

/// Unit vectors east, north, up at `p`, in earth-centred coordinates.
fn enu_axes(p: LatLon) -> [Vec3; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    let (sl, cl, so, co) = (lat.sin(), lat.cos(), lon.sin(), lon.cos());
    [[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]]
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Moves positions from around `from` to around `to`, keeping east/north/up offsets.
#[derive(Debug, Clone)]
pub struct Reanchor {
    from: Vec3,
    from_axes: [Vec3; 3],
    to: Vec3,
    to_axes: [Vec3; 3],
}

impl Reanchor {
    pub fn new(from: LatLon, to: LatLon) -> Self {
        Reanchor { from: to_ecef(from), from_axes: enu_axes(from), to: to_ecef(to), to_axes: enu_axes(to) }
    }

    /// The east, north, up offset of `p` from the original first point, metres.
    pub fn offset_m(&self, p: LatLon) -> Vec3 {
        let v = to_ecef(p);
        let d = [v[0] - self.from[0], v[1] - self.from[1], v[2] - self.from[2]];
        [dot(d, self.from_axes[0]), dot(d, self.from_axes[1]), dot(d, self.from_axes[2])]
    }

    /// Where `p` lands.
    pub fn apply(&self, p: LatLon) -> LatLon {
        let o = self.offset_m(p);
        let [e, n, u] = self.to_axes;
        let v = std::array::from_fn(|i| self.to[i] + o[0] * e[i] + o[1] * n[i] + o[2] * u[i]);
        from_ecef(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: LatLon, b: LatLon) -> f64 {
        geofence::distance_m((a.lon, a.lat), (b.lon, b.lat))
    }

    #[test]
    fn ecef_round_trip_is_exact_to_a_micrometre() {
        for p in [
            LatLon::new(40.667, 122.235),
            LatLon::new(-33.9, 151.2),
            LatLon::new(89.9999, -10.0),
            LatLon::new(0.0, 179.9999),
            LatLon::new(-90.0, 0.0),
        ] {
            let q = from_ecef(to_ecef(p));
            assert!(dist(p, q) < 1e-6, "{p:?} -> {q:?}");
        }
    }

    #[test]
    fn the_first_point_lands_on_the_anchor_and_offsets_keep_direction() {
        let from = LatLon::new(46.0569, 14.5058);
        let to = LatLon::new(40.667, 122.235);
        let r = Reanchor::new(from, to);
        assert!(dist(r.apply(from), to) < 1e-6);
        // 1 km north and 1 km east of the first point stay 1 km north/east of the anchor.
        let north = LatLon::new(from.lat + 1000.0 / 111_132.0, from.lon);
        let moved = r.apply(north);
        assert!((moved.lat - to.lat - 1000.0 / 111_050.0).abs() < 2e-5, "{moved:?}");
        assert!((moved.lon - to.lon).abs() < 1e-9, "{moved:?}");
        assert!((dist(moved, to) - dist(north, from)).abs() < 1e-3);
    }

    #[test]
    fn parses_lat_lon() {
        assert_eq!("40.667, 122.235".parse::<LatLon>().unwrap(), LatLon::new(40.667, 122.235));
        for bad in ["40.667", "a,b", "91,0", "0,181", "NaN,1", ""] {
            assert!(bad.parse::<LatLon>().is_err(), "{bad}");
        }
    }
}
