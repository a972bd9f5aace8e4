//! Property tests: the prepared engine (local frame, edge grid, fast path) against the
//! brute-force oracle (every edge, straight from lon/lat) on random fences and points.
//!
//! Case counts are kept small enough for the whole suite to stay well under a minute in a
//! debug build on two cores.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use geofence::oracle::{self, OracleShape};
use geofence::{crs, MetresPerDegree, Position, Shape};
use proptest::prelude::*;

/// A star-shaped ring around `c` (lon/lat) with `n` vertices at radii `rs` (metres) and
/// strictly increasing angles: always simple.
fn star(c: (f64, f64), phase: f64, rs: &[f64], jit: &[f64]) -> LineString<f64> {
    let k = MetresPerDegree::at(c.1);
    let n = rs.len();
    let mut pts: Vec<Coord<f64>> = (0..n)
        .map(|i| {
            let t = phase + std::f64::consts::TAU * (i as f64 + 0.35 * jit[i]) / n as f64;
            Coord { x: c.0 + rs[i] * t.cos() / k.kx, y: c.1 + rs[i] * t.sin() / k.ky }
        })
        .collect();
    pts.push(pts[0]);
    LineString(pts)
}

prop_compose! {
    fn arb_area()(
        lon in 121.0f64..123.0, lat in 39.0f64..41.5, phase in 0.0f64..6.3,
        n in 3usize..40, r_lo in 50.0f64..2000.0, spread in 0.0f64..0.8,
        u in prop::collection::vec(0.0f64..1.0, 40), jit in prop::collection::vec(-1.0f64..1.0, 40),
        with_hole in any::<bool>(), with_part in any::<bool>(),
    ) -> MultiPolygon<f64> {
        let rs: Vec<f64> = (0..n).map(|i| r_lo * (1.0 + spread * u[i])).collect();
        let outer = star((lon, lat), phase, &rs, &jit);
        let holes = if with_hole && n >= 4 {
            let hr: Vec<f64> = (0..n).map(|i| 0.4 * r_lo * (0.5 + 0.5 * u[(i + 7) % 40])).collect();
            vec![star((lon, lat), phase + 0.1, &hr, &jit)]
        } else { vec![] };
        let mut polys = vec![Polygon::new(outer, holes)];
        if with_part {
            let k = MetresPerDegree::at(lat);
            let off = 2.0 * r_lo * (1.0 + spread) + 100.0;
            let rs2: Vec<f64> = (0..n).map(|i| 0.5 * r_lo * (1.0 + 0.3 * u[(i + 3) % 40])).collect();
            polys.push(Polygon::new(star((lon + off / k.kx, lat), phase, &rs2, &jit), vec![]));
        }
        MultiPolygon(polys)
    }
}

/// Points around a shape: uniform over its box (+30 %), its vertices, points on its edges and
/// points a hair off its edges.
fn probe_points(mp: &MultiPolygon<f64>, seeds: &[(f64, f64, f64)]) -> Vec<(f64, f64)> {
    let coords: Vec<Coord<f64>> =
        mp.0.iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|r| r.0.clone())
            .collect();
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for c in &coords {
        (x0, y0, x1, y1) = (x0.min(c.x), y0.min(c.y), x1.max(c.x), y1.max(c.y));
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let mut out = Vec::new();
    for (i, &(a, b, c)) in seeds.iter().enumerate() {
        match i % 4 {
            0 => out.push((x0 - 0.3 * w + 1.6 * w * a, y0 - 0.3 * h + 1.6 * h * b)),
            1 => {
                let v = coords[(a * coords.len() as f64) as usize % coords.len()];
                out.push((v.x, v.y));
            }
            _ => {
                let k = (a * (coords.len() - 1) as f64) as usize % (coords.len() - 1);
                let (p, q) = (coords[k], coords[k + 1]);
                if p == q {
                    continue;
                }
                let m = MetresPerDegree::at(p.y);
                // On the edge (up to rounding), or off it by up to ±1 m along the normal.
                let off = if i % 4 == 2 { 0.0 } else { (c - 0.5) * 2.0 };
                let (dx, dy) = ((q.x - p.x) * m.kx, (q.y - p.y) * m.ky);
                let len = (dx * dx + dy * dy).sqrt();
                out.push((
                    p.x + b * (q.x - p.x) - off * dy / len / m.kx,
                    p.y + b * (q.y - p.y) + off * dx / len / m.ky,
                ));
            }
        }
    }
    out
}

fn check(
    shape: &Shape,
    os: &OracleShape,
    pts: &[(f64, f64)],
    accs: &[f64],
    dist_tol: impl Fn(f64) -> f64,
) -> Result<(), TestCaseError> {
    for (i, &(lon, lat)) in pts.iter().enumerate() {
        let k = MetresPerDegree::at(lat);
        let (d, inside) = shape.signed_distance_m(lon, lat, &k);
        let (od, oinside) = oracle::signed_distance_m(os, lon, lat);
        let tol = dist_tol(od);
        prop_assert!((d - od).abs() <= tol, "point {i} ({lon},{lat}): d {d} oracle {od}");
        // Inside/outside: identical except within rounding of the boundary (the engine works
        // in a local frame, the oracle on raw lon/lat).
        if od.abs() > 1e-6 {
            prop_assert_eq!(inside, oinside, "point {} ({},{}) d {}", i, lon, lat, od);
        }
        let a = accs[i % accs.len()];
        let (pos, _) = shape.position_fast(lon, lat, &k, a);
        // Equal, up to the last bit of rounding when |d| = a.
        if (d.abs() - a).abs() > 1e-9 * (1.0 + a) {
            prop_assert_eq!(pos, Position::classify(d, a), "fast vs exact at point {} a {}", i, a);
        }
        if (od.abs() - a).abs() > tol && od.abs() > 1e-6 {
            prop_assert_eq!(pos, Position::classify(od, a), "vs oracle at point {} a {}", i, a);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn areas_match_the_oracle(
        mp in arb_area(),
        seeds in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0), 48),
        accs in prop::collection::vec(0.0f64..300.0, 5),
    ) {
        let shape = Shape::area(&mp).expect("generated areas are valid");
        let pts = probe_points(&mp, &seeds);
        check(&shape, &OracleShape::Area(mp), &pts, &accs, |d| 1e-6 + 1e-9 * d.abs())?;
    }

    #[test]
    fn circles_match_the_geodesic_oracle(
        lon in 121.0f64..123.0, lat in 39.0f64..41.5, r in 5.0f64..5000.0,
        pts in prop::collection::vec((-2.0f64..2.0, -2.0f64..2.0), 32),
        accs in prop::collection::vec(0.0f64..300.0, 5),
    ) {
        let shape = Shape::circle(lon, lat, r).unwrap();
        let k = MetresPerDegree::at(lat);
        let pts: Vec<(f64, f64)> = pts.iter().map(|(a, b)| (lon + a * r / k.kx, lat + b * r / k.ky)).collect();
        // Mean-latitude metres per degree vs Karney's geodesic: ~1 mm at 5 km, growing as L².
        check(&shape, &OracleShape::Circle((lon, lat), r), &pts, &accs, |d| {
            let l = (r - d) / 5000.0;
            2e-3 * (1.0 + l * l)
        })?;
    }

    #[test]
    fn corridors_match_the_oracle(
        lon in 121.0f64..123.0, lat in 39.0f64..41.5, w in 5.0f64..500.0,
        steps in prop::collection::vec((-3000.0f64..3000.0, -3000.0f64..3000.0), 2..20),
        pts in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0), 32),
        accs in prop::collection::vec(0.0f64..300.0, 5),
    ) {
        let k = MetresPerDegree::at(lat);
        let mut line = vec![(lon, lat)];
        for (dx, dy) in &steps {
            let (x, y) = *line.last().unwrap();
            line.push((x + dx / k.kx, y + dy / k.ky));
        }
        let ls = LineString::from(line);
        let shape = Shape::corridor(&ls, w).unwrap();
        let as_area = MultiPolygon(vec![Polygon::new(LineString(ls.0.iter().chain(ls.0.iter().rev()).copied().collect()), vec![])]);
        let probes = probe_points(&as_area, &pts);
        check(&shape, &OracleShape::Corridor(ls, w), &probes, &accs, |d| 1e-6 + 1e-9 * d.abs())?;
    }

    #[test]
    fn crs_round_trips(lon in 73.0f64..135.0, lat in 4.0f64..53.0) {
        for c in [crs::Crs::Gcj02, crs::Crs::Bd09] {
            let (x, y) = crs::from_wgs84(c, lon, lat);
            let (bx, by) = crs::to_wgs84(c, x, y);
            prop_assert!(geofence::distance_m((lon, lat), (bx, by)) < 0.01);
        }
    }
}
