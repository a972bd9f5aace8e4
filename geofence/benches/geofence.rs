//! Micro-benchmarks: point-in-polygon and distance on a prepared 2,000-vertex polygon versus
//! the unprepared brute force, circles, corridors, and fence-set lookups.
//! `cargo bench -p geofence`

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use geo::{LineString, MultiPolygon, Polygon};
use geofence::oracle::{self, OracleShape};
use geofence::{AppliesTo, Fence, FenceKind, FenceSet, FixPoint, MetresPerDegree, Shape};

const LON: f64 = 122.235;
const LAT: f64 = 40.667;

fn at_m(e: f64, n: f64) -> (f64, f64) {
    let k = MetresPerDegree::at(LAT);
    (LON + e / k.kx, LAT + n / k.ky)
}

/// A wiggly 2,000-vertex ring ~20 km across (a district boundary).
fn district() -> MultiPolygon<f64> {
    let n = 2000;
    let ring: Vec<(f64, f64)> = (0..=n)
        .map(|i| {
            let t = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
            let r = 10_000.0 + 1500.0 * (7.0 * t).sin() + 400.0 * (53.0 * t).cos();
            at_m(r * t.cos(), r * t.sin())
        })
        .collect();
    MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])])
}

/// Deterministic points over the district's box (+10 %).
fn points(n: usize) -> Vec<(f64, f64)> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut r = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| at_m(-13_000.0 + 26_000.0 * r(), -13_000.0 + 26_000.0 * r())).collect()
}

fn bench(c: &mut Criterion) {
    let mp = district();
    let prepared = Shape::area(&mp).unwrap();
    let prepared_area = geofence::PreparedArea::new(&mp).unwrap();
    let raw_poly = mp.0[0].clone();
    let raw = OracleShape::Area(mp);
    let pts = points(1024);
    let k = MetresPerDegree::at(LAT);
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) & 1023;
        pts[i]
    };

    let mut g = c.benchmark_group("polygon_2000_vertices");
    g.bench_function("prepared_contains", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(prepared_area.contains(x, y))
        })
    });
    g.bench_function("unprepared_contains_geo", |b| {
        b.iter(|| {
            use geo::Contains;
            let (x, y) = next();
            black_box(raw_poly.contains(&geo::Point::new(x, y)))
        })
    });
    g.bench_function("prepared_verdict_a20m", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(prepared.position_fast(x, y, &k, 20.0))
        })
    });
    g.bench_function("prepared_signed_distance", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(prepared.signed_distance_m(x, y, &k))
        })
    });
    g.bench_function("unprepared_pip_and_distance", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(oracle::signed_distance_m(&raw, x, y))
        })
    });
    g.finish();

    let circle = Shape::circle(LON, LAT, 2000.0).unwrap();
    let line = LineString::from(
        (0..50).map(|i| at_m(i as f64 * 400.0 - 10_000.0, 3000.0 * ((i as f64) * 0.3).sin())).collect::<Vec<_>>(),
    );
    let corridor = Shape::corridor(&line, 150.0).unwrap();
    let mut g = c.benchmark_group("shapes");
    g.bench_function("circle_verdict", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(circle.position_fast(x, y, &k, 20.0))
        })
    });
    g.bench_function("circle_signed_distance", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(circle.signed_distance_m(x, y, &k))
        })
    });
    g.bench_function("corridor_50_vertices_verdict", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(corridor.position_fast(x, y, &k, 20.0))
        })
    });
    g.bench_function("corridor_50_vertices_signed_distance", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(corridor.signed_distance_m(x, y, &k))
        })
    });
    g.finish();

    // Index lookups: 10,000 persons with two circles each, 2,000 shared exclusion zones.
    let mut zones = Vec::new();
    for z in 0..2000 {
        let (x, y) = at_m(((z * 7919) % 26_000) as f64 - 13_000.0, ((z * 104_729) % 26_000) as f64 - 13_000.0);
        zones.push((
            Fence::new(1_000_000 + z, FenceKind::Exclusion, Shape::circle(x, y, 150.0).unwrap()),
            AppliesTo::All,
        ));
    }
    let mut set = FenceSet::with_shared(zones).unwrap();
    for p in 0..10_000i64 {
        let (x, y) = pts[(p as usize) & 1023];
        set.put_personal(p, Fence::new(2 * p, FenceKind::Inclusion, Shape::circle(x, y, 1000.0).unwrap())).unwrap();
        set.put_personal(p, Fence::new(2 * p + 1, FenceKind::Inclusion, Shape::circle(x, y, 3000.0).unwrap())).unwrap();
    }
    let at = Utc.with_ymd_and_hms(2024, 6, 11, 4, 0, 0).unwrap();
    let mut out = Vec::new();
    let mut p = 0i64;
    let mut g = c.benchmark_group("index");
    g.bench_function("evaluate_person_fast", |b| {
        b.iter(|| {
            p = (p + 7919) % 10_000;
            let (x, y) = next();
            let fix = FixPoint { lon: x, lat: y, accuracy_m: 20.0, at };
            set.evaluate_into(set.person_key(p), p, &geofence::Probe::new(&fix), true, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("shared_fences_containing", |b| {
        b.iter(|| {
            let (x, y) = next();
            black_box(set.shared_fences_containing(x, y).len())
        })
    });
    g.bench_function("person_key_lookup", |b| {
        b.iter(|| {
            p = (p + 7919) % 10_000;
            black_box(set.person_key(p))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
