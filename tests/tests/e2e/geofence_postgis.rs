//! Conformance of `geofence` with PostGIS on the real Yingkou district boundaries.
//!
//! The six districts (../shared/data, GCJ-02, converted to WGS-84 with `geofence::crs`) are
//! stored in PostGIS; ≥ 110 k points (100 k uniform over the city's box, 12 k within 1 m of a
//! border) are compared per point and district, set-based (arrays through `UNNEST`):
//! * inside/outside against `ST_Covers(geom, pt)`: no disagreement is allowed except for
//!   points whose |signed distance| is below [`ON_BOUNDARY_M`] = 1e-6 m. Our test is exact in
//!   a local frame that is an affine image of lon/lat; the only difference from PostGIS's exact
//!   test on raw lon/lat is one rounding of that map (~1e-9 m at 100 km), so only points within
//!   nanometres of an edge may differ — 1e-6 m leaves three orders of magnitude of margin and is
//!   far below GNSS resolution.
//! * |signed distance| against `ST_Distance(boundary::geography, pt::geography)` (spheroid)
//!   for every pair within 3 km of the boundary, within [`DIST_ABS_M`] + [`DIST_REL`]·d. The
//!   boundary is first densified in lon/lat (`ST_Segmentize(…, 0.0002°)`, ≈ 20 m): PostGIS
//!   geography takes an edge for a great-circle arc, we (and `ST_Covers` on geometry) for a
//!   straight line in lon/lat, and on this data's longest edges the two lie up to 2.2 m apart.
//!
//! Measured on this data (2026-11-23, 112 k points, 73.8 k distance pairs):
//! * inside/outside: 0 disagreements, including the 18,670 pairs within 1 m of a border;
//! * distance within 10 m of a border: max |Δ| = 7.6e-5 m (1.4e-5 m within 1.5 m);
//! * distance up to 3 km: max |Δ| = 7.2 m at d = 2.8 km (0.31 %). That is PostGIS's own error
//!   (geography point-to-line distance is computed on the sphere, then corrected): the spheroidal
//!   (Karney) point-to-point distance from each point to PostGIS's own closest boundary point is
//!   never below ours by more than 0.23 m (7.6e-5·d), which is our documented error bound
//!   d²·tanφ/(4R) for the equirectangular metric at the fix's latitude.
//!
//! Without densifying, near-border differences reach 2.2 m (the arc-vs-line edge model).

use cctrack_tests::{shared_data, TestDb};
use geofence::geo::{Coord, MapCoords, MultiPolygon};
use geofence::{crs, geojson, MetresPerDegree, Shape};

/// |d| below which inside/outside may legitimately differ (see the module docs).
const ON_BOUNDARY_M: f64 = 1e-6;
/// Distance tolerance: absolute part, metres (measured max 7.6e-5 m near borders).
const DIST_ABS_M: f64 = 0.01;
/// Distance tolerance: relative part (PostGIS geography line distance: measured 0.31 %).
const DIST_REL: f64 = 3.5e-3;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[tokio::test]
async fn geofence_agrees_with_postgis_on_yingkou_districts() {
    let Some(file) = shared_data("boundaries/yingkou_districts.geojson") else {
        eprintln!("SKIP geofence_postgis: Yingkou district boundaries are absent");
        return;
    };
    let fc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut districts: Vec<(i32, MultiPolygon<f64>, Shape)> = Vec::new();
    for (i, f) in fc["features"].as_array().unwrap().iter().enumerate() {
        let gcj = geojson::parse_area(f).unwrap_or_else(|e| panic!("feature {i}: {e}"));
        let wgs = gcj.map_coords(|c| {
            let (x, y) = crs::gcj02_to_wgs84(c.x, c.y);
            Coord { x, y }
        });
        let shape = Shape::area(&wgs).unwrap_or_else(|e| panic!("feature {i} in WGS-84: {e}"));
        districts.push((i as i32, wgs, shape));
    }
    assert_eq!(districts.len(), 6);

    // Points: uniform over the city's box, then within 1 m of the borders.
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut edges: Vec<(Coord<f64>, Coord<f64>)> = Vec::new();
    for (_, mp, _) in &districts {
        for p in &mp.0 {
            for r in std::iter::once(p.exterior()).chain(p.interiors()) {
                for w in r.0.windows(2) {
                    (x0, y0, x1, y1) = (x0.min(w[0].x), y0.min(w[0].y), x1.max(w[0].x), y1.max(w[0].y));
                    if w[0] != w[1] {
                        edges.push((w[0], w[1]));
                    }
                }
            }
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pts: Vec<(f64, f64)> =
        (0..100_000).map(|_| (x0 + (x1 - x0) * rng.next(), y0 + (y1 - y0) * rng.next())).collect();
    for _ in 0..12_000 {
        let (a, b) = edges[(rng.next() * edges.len() as f64) as usize % edges.len()];
        let t = rng.next();
        let k = MetresPerDegree::at(a.y);
        let (dx, dy) = ((b.x - a.x) * k.kx, (b.y - a.y) * k.ky);
        let len = (dx * dx + dy * dy).sqrt();
        let off = (0.1 + 0.9 * rng.next()) * if rng.next() < 0.5 { -1.0 } else { 1.0 };
        pts.push((a.x + t * (b.x - a.x) - off * dy / len / k.kx, a.y + t * (b.y - a.y) + off * dx / len / k.ky));
    }
    let lons: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let lats: Vec<f64> = pts.iter().map(|p| p.1).collect();

    // Ours.
    let ours: Vec<Vec<(f64, bool)>> = districts
        .iter()
        .map(|(_, _, s)| {
            pts.iter().map(|&(lon, lat)| s.signed_distance_m(lon, lat, &MetresPerDegree::at(lat))).collect()
        })
        .collect();

    // PostGIS.
    let db = TestDb::new().await.unwrap();
    sqlx::query("CREATE TABLE gf_districts (id int PRIMARY KEY, geom geometry(MultiPolygon, 4326), bnd geography)")
        .execute(&db.pool)
        .await
        .unwrap();
    for (id, mp, _) in &districts {
        sqlx::query(
            "INSERT INTO gf_districts (id, geom, bnd)
             SELECT $1, g, ST_Segmentize(ST_Boundary(g), 0.0002)::geography
             FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON($2), 4326) g) s",
        )
        .bind(id)
        .bind(geojson::area_to_geojson(mp).to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let covers: Vec<(i32, Vec<bool>)> = sqlx::query_as(
        "SELECT d.id, array_agg(ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)) ORDER BY p.k)
         FROM gf_districts d, UNNEST($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lon, lat, k)
         GROUP BY d.id ORDER BY d.id",
    )
    .bind(&lons[..])
    .bind(&lats[..])
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(covers.len(), 6);
    let mut disagreements = Vec::new();
    for (id, pg) in &covers {
        for (k, &c) in pg.iter().enumerate() {
            let (d, _) = ours[*id as usize][k];
            let inside = d >= 0.0;
            if inside != c && d.abs() >= ON_BOUNDARY_M {
                disagreements.push((*id, k, pts[k], d, c));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} inside/outside disagreements, first: {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(5)]
    );

    // Distances for every pair within 3 km of a district's boundary.
    let (mut pid, mut plon, mut plat, mut pd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, _, _) in &districts {
        for (k, &(lon, lat)) in pts.iter().enumerate() {
            let d = ours[*id as usize][k].0;
            if d.abs() < 3000.0 {
                pid.push(*id);
                plon.push(lon);
                plat.push(lat);
                pd.push(d.abs());
            }
        }
    }
    assert!(pid.len() > 50_000, "only {} pairs near borders", pid.len());
    let pg_d: Vec<f64> = sqlx::query_scalar(
        "SELECT ST_Distance(d.bnd, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography)
         FROM UNNEST($1::int[], $2::float8[], $3::float8[]) WITH ORDINALITY AS p(id, lon, lat, k)
         JOIN gf_districts d ON d.id = p.id ORDER BY p.k",
    )
    .bind(&pid[..])
    .bind(&plon[..])
    .bind(&plat[..])
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let (mut max_abs, mut max_near, mut worst) = (0f64, 0f64, (0usize, 0f64, 0f64));
    for (k, (&ours_d, &pg)) in pd.iter().zip(&pg_d).enumerate() {
        let diff = (ours_d - pg).abs();
        if diff > max_abs {
            max_abs = diff;
            worst = (k, ours_d, pg);
        }
        if ours_d < 10.0 {
            max_near = max_near.max(diff);
        }
        assert!(
            diff <= DIST_ABS_M + DIST_REL * ours_d,
            "pair {k} (district {}, {}, {}): ours {ours_d} m, PostGIS {pg} m",
            pid[k],
            plon[k],
            plat[k]
        );
    }
    eprintln!(
        "geofence vs PostGIS: {} points × 6 districts, 0 inside/outside disagreements beyond {ON_BOUNDARY_M} m; \
         {} distances: max |Δ| {max_abs:.4} m (at d = {:.1} m, PostGIS {:.4}), {max_near:.4} m within 10 m of a border",
        pts.len(),
        pd.len(),
        worst.1,
        worst.2
    );
}
