//! Where a simulated person may be, measured in metres, and the seeded random generator.

use geofence::{MetresPerDegree, Shape};

use crate::replay::LatLon;

/// A person's allowed area and the zones they must keep out of (their fences, as the scenario
/// knows them). Generated movement keeps a margin from every boundary so that GPS noise never
/// turns a compliant person into an uncertain verdict.
#[derive(Debug, Clone)]
pub struct Space {
    pub allowed: Shape,
    pub avoid: Vec<Shape>,
}

/// Metres between two positions (geodesic).
pub fn dist(a: LatLon, b: LatLon) -> f64 {
    geofence::distance_m((a.lon, a.lat), (b.lon, b.lat))
}

/// `p` moved `east` and `north` metres (local tangent plane; exact enough within a county).
pub fn offset(p: LatLon, east: f64, north: f64) -> LatLon {
    let k = MetresPerDegree::at(p.lat);
    LatLon::new(p.lat + north / k.ky, p.lon + east / k.kx)
}

/// The point a fraction `f` of the way from `a` to `b`.
pub fn lerp(a: LatLon, b: LatLon, f: f64) -> LatLon {
    LatLon::new(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f)
}

/// Signed distance (metres, positive inside) from `p` to the shape's boundary.
pub fn signed(shape: &Shape, p: LatLon) -> f64 {
    shape.signed_distance_m(p.lon, p.lat, &MetresPerDegree::at(p.lat)).0
}

impl Space {
    pub fn new(allowed: Shape, avoid: Vec<Shape>) -> Self {
        Space { allowed, avoid }
    }

    /// Metres from `p` to the nearest boundary that matters, positive when `p` is compliant
    /// (inside the allowed area and outside every zone to avoid).
    pub fn clearance(&self, p: LatLon) -> f64 {
        self.avoid.iter().fold(signed(&self.allowed, p), |c, z| c.min(-signed(z, p)))
    }

    /// Clearance to the zones to avoid only (positive outside all of them).
    pub fn avoid_clearance(&self, p: LatLon) -> f64 {
        self.avoid.iter().fold(f64::INFINITY, |c, z| c.min(-signed(z, p)))
    }

    /// Whether every point of the straight segment `a`–`b` (checked every 25 m) keeps
    /// `margin` metres of clearance.
    pub fn segment_clear(&self, a: LatLon, b: LatLon, margin: f64) -> bool {
        self.segment_min(a, b, |p| self.clearance(p)) >= margin
    }

    /// The smallest `f(p)` along the segment `a`–`b`, sampled every 25 m.
    pub fn segment_min(&self, a: LatLon, b: LatLon, f: impl Fn(LatLon) -> f64) -> f64 {
        let steps = (dist(a, b) / 25.0).ceil().clamp(1.0, 100_000.0) as usize;
        (0..=steps).map(|i| f(lerp(a, b, i as f64 / steps as f64))).fold(f64::INFINITY, f64::min)
    }

    /// A random point with at least `margin` metres of clearance, or `None` after many tries
    /// (an area too small or too thin for the margin).
    pub fn random_point(&self, rng: &mut Rng, margin: f64) -> Option<LatLon> {
        let [x0, y0, x1, y1] = self.allowed.bbox_lonlat();
        (0..20_000).map(|_| LatLon::new(rng.range(y0, y1), rng.range(x0, x1))).find(|&p| self.clearance(p) >= margin)
    }

    /// A random point within `radius` metres of `from` reachable in a straight line with
    /// `margin` metres of clearance all the way.
    pub fn random_reachable(&self, rng: &mut Rng, from: LatLon, radius: f64, margin: f64) -> Option<LatLon> {
        (0..400)
            .map(|_| {
                let (r, a) = (radius * rng.f64().sqrt(), rng.range(0.0, std::f64::consts::TAU));
                offset(from, r * a.cos(), r * a.sin())
            })
            .find(|&p| dist(from, p) > 200.0 && self.clearance(p) >= margin && self.segment_clear(from, p, margin))
    }

    /// The nearest point (over 48 bearings, 100 m steps, up to 80 km) at least `beyond` metres
    /// outside the allowed area, reached from `from` in a straight line that keeps `margin`
    /// metres from every zone to avoid: a destination for leaving the area.
    pub fn nearest_outside(&self, from: LatLon, beyond: f64, margin: f64) -> Option<LatLon> {
        let mut best: Option<(f64, LatLon)> = None;
        for k in 0..48 {
            let bearing = f64::from(k) * std::f64::consts::TAU / 48.0;
            let mut s = 0.0;
            while s < 80_000.0 && best.is_none_or(|(b, _)| s < b) {
                s += 100.0;
                let p = offset(from, s * bearing.sin(), s * bearing.cos());
                if self.avoid_clearance(p) < margin {
                    break;
                }
                if signed(&self.allowed, p) <= -beyond {
                    best = Some((s, p));
                    break;
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// Unit vector (east, north) in which the allowed area's boundary is nearest from `p`
    /// (minus the gradient of the signed distance, by central differences over 10 m).
    pub fn outward(&self, p: LatLon) -> (f64, f64) {
        let h = 10.0;
        let d = |e: f64, n: f64| signed(&self.allowed, offset(p, e, n));
        let (gx, gy) = ((d(h, 0.0) - d(-h, 0.0)) / (2.0 * h), (d(0.0, h) - d(0.0, -h)) / (2.0 * h));
        let n = gx.hypot(gy);
        if n > 1e-9 {
            (-gx / n, -gy / n)
        } else {
            (1.0, 0.0)
        }
    }
}

/// SplitMix64: a tiny, fast, well-mixed generator whose sequence never changes with a library
/// upgrade, so a scenario seed means the same movement forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1A4_F87B)
    }

    /// An independent generator for `stream` (a person, a day) derived from this seed.
    pub fn fork(&self, stream: u64) -> Rng {
        let mut r = Rng(self.0 ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.f64();
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
