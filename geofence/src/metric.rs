//! Metres on the WGS-84 ellipsoid: local metric frames, geodesic distance and area.
//!
//! Nothing in this crate measures a Euclidean distance on longitude/latitude degrees.
//! Fence geometry is stored in a *local frame*: an equirectangular projection
//! `x = (lon − lon₀)·kx(φ₀)`, `y = (lat − lat₀)·ky(φ₀)` where `kx`, `ky` are the WGS-84 metres per
//! degree of longitude and latitude at the frame's reference latitude φ₀. The map is affine in
//! (lon, lat), so point-in-polygon answers in the frame are exactly those of a planar test on
//! lon/lat (what PostGIS `ST_Covers` on `geometry` does). Distances are then re-scaled to the
//! metres-per-degree *at the fix's latitude* (see [`MetresPerDegree`]), which keeps them correct
//! to a few centimetres per kilometre squared at China's latitudes.

use geo::{Distance, Geodesic, GeodesicArea, MultiPolygon, Point};

/// WGS-84 semi-major axis (m).
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS-84 first eccentricity squared.
pub const WGS84_E2: f64 = 6.694_379_990_141_316e-3;

/// Metres per degree of longitude (`kx`) and latitude (`ky`) at one latitude on WGS-84.
///
/// # Units
/// Both fields are metres per degree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetresPerDegree {
    /// East–west metres per degree of longitude: `N(φ)·cos φ·π/180`.
    pub kx: f64,
    /// North–south metres per degree of latitude: `M(φ)·π/180`.
    pub ky: f64,
}

impl MetresPerDegree {
    /// Metres per degree at latitude `lat_deg` (degrees), from the ellipsoid's prime-vertical
    /// radius `N` and meridional radius `M`. Exact for infinitesimal displacements.
    ///
    /// # Units
    /// `lat_deg` in degrees; result in metres per degree.
    #[inline]
    pub fn at(lat_deg: f64) -> Self {
        let (s, c) = lat_deg.to_radians().sin_cos();
        let w2 = 1.0 - WGS84_E2 * s * s;
        let w = w2.sqrt();
        let deg = std::f64::consts::PI / 180.0;
        MetresPerDegree {
            // Clamp at the poles so a frame never has a zero scale (division by kx elsewhere).
            kx: (WGS84_A / w * c * deg).max(1e-3),
            ky: WGS84_A * (1.0 - WGS84_E2) / (w2 * w) * deg,
        }
    }
}

/// A local metric frame: an equirectangular projection around `(lon0, lat0)`.
///
/// `to_local` is affine in (lon, lat), so straight edges stay straight and point-in-polygon is
/// preserved exactly (up to one rounding of the subtraction and multiplication, ≈1e-9 m).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    /// Reference longitude (degrees).
    pub lon0: f64,
    /// Reference latitude (degrees).
    pub lat0: f64,
    /// Metres per degree at `lat0`.
    pub k: MetresPerDegree,
    inv_kx: f64,
    inv_ky: f64,
}

impl LocalFrame {
    /// The frame whose origin is `(lon0, lat0)` (degrees).
    pub fn new(lon0: f64, lat0: f64) -> Self {
        let k = MetresPerDegree::at(lat0);
        LocalFrame { lon0, lat0, k, inv_kx: 1.0 / k.kx, inv_ky: 1.0 / k.ky }
    }

    /// Local coordinates of a lon/lat position.
    ///
    /// # Units
    /// Degrees in, metres out (east, north of the origin at the frame's scale).
    #[inline]
    pub fn to_local(&self, lon: f64, lat: f64) -> [f64; 2] {
        [(lon - self.lon0) * self.k.kx, (lat - self.lat0) * self.k.ky]
    }

    /// Inverse of [`to_local`](Self::to_local).
    ///
    /// # Units
    /// Metres in, degrees out.
    #[inline]
    pub fn to_lonlat(&self, xy: [f64; 2]) -> [f64; 2] {
        [self.lon0 + xy[0] * self.inv_kx, self.lat0 + xy[1] * self.inv_ky]
    }

    /// Factors `(sx, sy)` that turn frame metres into true metres at latitude `at`: a frame
    /// displacement `(dx, dy)` near a fix at `at` measures `hypot(dx·sx, dy·sy)` metres.
    #[inline]
    pub fn scale_at(&self, at: &MetresPerDegree) -> [f64; 2] {
        [at.kx * self.inv_kx, at.ky * self.inv_ky]
    }
}

/// Distance between two positions on the WGS-84 ellipsoid, along the geodesic (Karney's
/// algorithm, accurate to nanometres).
///
/// # Units
/// `a`, `b` are `(lon, lat)` in degrees; the result is metres.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    Geodesic.distance(Point::new(a.0, a.1), Point::new(b.0, b.1))
}

/// Distance between two nearby positions with the WGS-84 metres-per-degree taken at their mean
/// latitude (an ellipsoidal equirectangular approximation). Much cheaper than [`distance_m`];
/// relative error ≲ (L/6,400 km)² — under 1 mm at 5 km. Used for circle fences.
///
/// # Units
/// Degrees in, metres out.
#[inline]
pub fn local_distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let k = MetresPerDegree::at(0.5 * (a.1 + b.1));
    let dx = (b.0 - a.0) * k.kx;
    let dy = (b.1 - a.1) * k.ky;
    (dx * dx + dy * dy).sqrt()
}

/// Area of a multipolygon on the WGS-84 ellipsoid (geodesic polygon area, Karney), holes
/// subtracted.
///
/// # Units
/// Input in degrees (lon, lat); result in square metres.
pub fn area_m2(area: &MultiPolygon<f64>) -> f64 {
    area.0.iter().map(|p| p.geodesic_area_unsigned()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metres_per_degree_matches_known_values() {
        // Equator: 111,319.49 m/° of longitude, 110,574.28 m/° of latitude.
        let k = MetresPerDegree::at(0.0);
        assert!((k.kx - 111_319.49).abs() < 0.01, "{k:?}");
        assert!((k.ky - 110_574.28).abs() < 0.01, "{k:?}");
        // 40°N (Yingkou): 85,394.6 m/° lon, 111,034.6 m/° lat.
        let k = MetresPerDegree::at(40.0);
        assert!((k.kx - 85_393.86).abs() < 0.05, "{k:?}");
        assert!((k.ky - 111_034.6).abs() < 0.5, "{k:?}");
    }

    #[test]
    fn local_distance_agrees_with_geodesic_within_a_millimetre_at_5_km() {
        let c = (122.25, 40.67);
        for i in 0..36 {
            let t = (i as f64 * 10.0).to_radians();
            let k = MetresPerDegree::at(c.1);
            let p = (c.0 + 5000.0 * t.cos() / k.kx, c.1 + 5000.0 * t.sin() / k.ky);
            let g = distance_m(c, p);
            let l = local_distance_m(c, p);
            assert!((g - l).abs() < 1e-3, "bearing {i}: geodesic {g} local {l}");
        }
    }

    #[test]
    fn frame_round_trips() {
        let f = LocalFrame::new(122.3, 40.5);
        let xy = f.to_local(122.41, 40.47);
        let ll = f.to_lonlat(xy);
        assert!((ll[0] - 122.41).abs() < 1e-12 && (ll[1] - 40.47).abs() < 1e-12);
    }

    #[test]
    fn area_of_a_one_km_square_is_a_square_km() {
        let k = MetresPerDegree::at(40.0);
        let (w, h) = (1000.0 / k.kx, 1000.0 / k.ky);
        use geo::polygon;
        let sq = polygon![
            (x: 122.0, y: 40.0 - h / 2.0),
            (x: 122.0 + w, y: 40.0 - h / 2.0),
            (x: 122.0 + w, y: 40.0 + h / 2.0),
            (x: 122.0, y: 40.0 + h / 2.0),
        ];
        let a = area_m2(&MultiPolygon(vec![sq]));
        assert!((a - 1e6).abs() < 1e6 * 1e-4, "{a}");
    }
}
