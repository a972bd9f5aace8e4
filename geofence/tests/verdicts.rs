//! Behaviour of fences and the fence set: the verdict rule, holes, multipolygon parts,
//! boundary points, exclusion mirroring, schedules, validity, shared fences and the R-tree.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use geo::{polygon, LineString, MultiPolygon, Polygon};
use geofence::oracle::{self, OracleShape};
use geofence::{
    check_jump, AppliesTo, BatchFix, Compliance, Fence, FenceKind, FenceSet, FixPoint, MetresPerDegree, PersonScope,
    Position, Shape, TimedPosition, WeeklySchedule,
};

const LON: f64 = 122.235;
const LAT: f64 = 40.667;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 11, 4, 0, 0).unwrap() // 12:00 Asia/Shanghai, a Tuesday
}

/// Offsets in metres east/north of (LON, LAT) → lon/lat.
fn at_m(e: f64, n: f64) -> (f64, f64) {
    let k = MetresPerDegree::at(LAT);
    (LON + e / k.kx, LAT + n / k.ky)
}

fn fix_m(e: f64, n: f64, acc: f64) -> FixPoint {
    let (lon, lat) = at_m(e, n);
    FixPoint { lon, lat, accuracy_m: acc, at: t0() }
}

/// A square of side 2h metres centred on (cx, cy) metres, as lon/lat.
fn square_m(cx: f64, cy: f64, h: f64) -> Polygon<f64> {
    let p = |e, n| {
        let (x, y) = at_m(e, n);
        geo::coord! { x: x, y: y }
    };
    Polygon::new(
        LineString(vec![p(cx - h, cy - h), p(cx + h, cy - h), p(cx + h, cy + h), p(cx - h, cy + h), p(cx - h, cy - h)]),
        vec![],
    )
}

fn area(mp: MultiPolygon<f64>) -> Shape {
    Shape::area(&mp).unwrap()
}

#[test]
fn rule_inside_outside_uncertain_with_distances() {
    let f = Fence::new(1, FenceKind::Inclusion, area(MultiPolygon(vec![square_m(0.0, 0.0, 500.0)])));
    let v = f.verdict(&fix_m(0.0, 0.0, 20.0));
    assert_eq!(v.position, Position::Inside);
    assert!((v.distance_m.unwrap() - 500.0).abs() < 0.01, "{v:?}");
    let v = f.verdict(&fix_m(490.0, 0.0, 20.0));
    assert_eq!(v.position, Position::Uncertain);
    assert!((v.distance_m.unwrap() - 10.0).abs() < 0.01, "{v:?}");
    assert_eq!(v.compliance(), Compliance::Unknown);
    let v = f.verdict(&fix_m(530.0, 0.0, 20.0));
    assert_eq!(v.position, Position::Outside);
    assert!((v.distance_m.unwrap() + 30.0).abs() < 0.01, "{v:?}");
    assert!(v.breach());
    // Outside beyond a corner: distance to the corner.
    let v = f.verdict(&fix_m(530.0, 540.0, 5.0));
    assert!((v.distance_m.unwrap() + 50.0).abs() < 0.01, "{v:?}");
    // The fast path agrees and computes no distance.
    for (e, n, a) in [(0.0, 0.0, 20.0), (490.0, 0.0, 20.0), (530.0, 0.0, 20.0), (480.0, 0.0, 20.0), (520.0, 0.0, 20.0)]
    {
        let fx = fix_m(e, n, a);
        let (fast, exact) = (f.verdict_fast(&fx), f.verdict(&fx));
        assert_eq!(fast.position, exact.position, "at ({e},{n})");
        assert_eq!(fast.distance_m, None);
    }
}

#[test]
fn holes_and_multipolygon_parts() {
    let outer = square_m(0.0, 0.0, 1000.0);
    let hole = square_m(0.0, 0.0, 300.0);
    let part2 = square_m(3000.0, 0.0, 200.0);
    let mp = MultiPolygon(vec![Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]), part2]);
    let f = Fence::new(1, FenceKind::Inclusion, area(mp));
    // In the hole: outside, 300 m from the hole's boundary... from the centre.
    let v = f.verdict(&fix_m(0.0, 0.0, 10.0));
    assert_eq!(v.position, Position::Outside);
    assert!((v.distance_m.unwrap() + 300.0).abs() < 0.01);
    // Between hole and exterior: inside.
    let v = f.verdict(&fix_m(650.0, 0.0, 10.0));
    assert_eq!(v.position, Position::Inside);
    assert!((v.distance_m.unwrap() - 350.0).abs() < 0.01);
    // In the second part.
    let v = f.verdict(&fix_m(3000.0, 50.0, 10.0));
    assert_eq!(v.position, Position::Inside);
    assert!((v.distance_m.unwrap() - 150.0).abs() < 0.01);
    // Between the parts: outside, nearest is part 2 (1800 m from part 1, 1800 from part 2... pick asymmetric).
    let v = f.verdict(&fix_m(2500.0, 0.0, 10.0));
    assert_eq!(v.position, Position::Outside);
    assert!((v.distance_m.unwrap() + 300.0).abs() < 0.01);
}

#[test]
fn points_on_the_boundary() {
    // Axis-aligned square in lon/lat so that boundary points are exactly representable.
    let sq = polygon![(x: 122.0, y: 40.0), (x: 122.01, y: 40.0), (x: 122.01, y: 40.01), (x: 122.0, y: 40.01)];
    let shape = area(MultiPolygon(vec![sq.clone()]));
    let f = Fence::new(1, FenceKind::Inclusion, shape);
    let os = OracleShape::Area(MultiPolygon(vec![sq]));
    for (lon, lat) in
        [(122.0, 40.0), (122.005, 40.0), (122.01, 40.005), (122.005, 40.01), (122.0, 40.003), (122.01, 40.01)]
    {
        let fx = FixPoint { lon, lat, accuracy_m: 5.0, at: t0() };
        let v = f.verdict(&fx);
        assert_eq!(v.distance_m.unwrap().abs(), 0.0, "({lon},{lat}) {v:?}");
        assert_eq!(v.position, Position::Uncertain);
        assert_eq!(f.verdict_fast(&fx).position, Position::Uncertain);
        // Zero accuracy: d = 0 ≥ 0 → inside (the boundary belongs to the area, as ST_Covers).
        let v0 = f.verdict(&FixPoint { accuracy_m: 0.0, ..fx });
        assert_eq!(v0.position, Position::Inside, "({lon},{lat})");
        assert_eq!(f.verdict_fast(&FixPoint { accuracy_m: 0.0, ..fx }).position, Position::Inside);
        // The ray-crossing flag matches the brute-force oracle exactly, even here.
        assert_eq!(v.point_inside, oracle::signed_distance_m(&os, lon, lat).1, "({lon},{lat})");
    }
}

#[test]
fn circles_are_exact_circles() {
    let c = Shape::circle(LON, LAT, 1000.0).unwrap();
    let f = Fence::new(1, FenceKind::Inclusion, c);
    for deg in (0..360).step_by(15) {
        let t = (deg as f64).to_radians();
        let fx = fix_m(999.0 * t.cos(), 999.0 * t.sin(), 0.5);
        let v = f.verdict(&fx);
        // A 64-gon would put some of these points outside (its apothem is 995.2 m).
        assert_eq!(v.position, Position::Inside, "bearing {deg}");
        let geodesic = 1000.0 - geofence::distance_m((LON, LAT), (fx.lon, fx.lat));
        assert!((v.distance_m.unwrap() - geodesic).abs() < 1e-3, "bearing {deg}: {v:?} vs {geodesic}");
    }
    assert!(Shape::circle(LON, LAT, -1.0).is_err());
    assert!(Shape::circle(LON, LAT, f64::NAN).is_err());
    assert!(Shape::circle(f64::INFINITY, LAT, 10.0).is_err());
}

#[test]
fn corridors() {
    let (a, b, c) = (at_m(0.0, 0.0), at_m(2000.0, 0.0), at_m(2000.0, 2000.0));
    let line = LineString::from(vec![a, b, c]);
    let f = Fence::new(1, FenceKind::Inclusion, Shape::corridor(&line, 100.0).unwrap());
    let v = f.verdict(&fix_m(1000.0, 30.0, 10.0));
    assert_eq!(v.position, Position::Inside);
    assert!((v.distance_m.unwrap() - 70.0).abs() < 0.01, "{v:?}");
    let v = f.verdict(&fix_m(1000.0, 150.0, 10.0));
    assert_eq!(v.position, Position::Outside);
    assert!((v.distance_m.unwrap() + 50.0).abs() < 0.01);
    let v = f.verdict(&fix_m(1950.0, 1000.0, 10.0));
    assert!((v.distance_m.unwrap() - 50.0).abs() < 0.01);
    assert_eq!(f.verdict_fast(&fix_m(1000.0, 95.0, 10.0)).position, Position::Uncertain);
    assert!(Shape::corridor(&LineString::from(vec![a, a]), 10.0).is_err());
}

#[test]
fn exclusion_mirrors_the_meaning_not_the_geometry() {
    let shape = Shape::circle(LON, LAT, 200.0).unwrap();
    let f = Fence::new(9, FenceKind::Exclusion, shape);
    let inside = f.verdict(&fix_m(0.0, 0.0, 10.0));
    assert_eq!(inside.position, Position::Inside);
    assert!(inside.breach());
    let outside = f.verdict(&fix_m(500.0, 0.0, 10.0));
    assert_eq!(outside.position, Position::Outside);
    assert_eq!(outside.compliance(), Compliance::Compliant);
    assert!(!f.verdict(&fix_m(195.0, 0.0, 10.0)).breach());
}

#[test]
fn schedule_and_validity_decide_which_fences_are_evaluated() {
    let mut set = FenceSet::new();
    let curfew =
        WeeklySchedule::daily(NaiveTime::from_hms_opt(22, 0, 0).unwrap(), NaiveTime::from_hms_opt(6, 0, 0).unwrap())
            .unwrap();
    set.put_personal(
        1,
        Fence::new(10, FenceKind::Inclusion, Shape::circle(LON, LAT, 100.0).unwrap()).with_schedule(curfew),
    )
    .unwrap();
    let noon = fix_m(5000.0, 0.0, 10.0);
    assert!(set.evaluate(1, &noon).is_empty(), "curfew fence not in force at noon");
    let night = FixPoint { at: Utc.with_ymd_and_hms(2024, 6, 11, 15, 30, 0).unwrap(), ..noon }; // 23:30 local
    let v = set.evaluate(1, &night);
    assert_eq!(v.len(), 1);
    assert!(v[0].breach());
    // A leave: temporary inclusion fence for its window only.
    let dest = Shape::circle(LON + 1.0, LAT, 2000.0).unwrap();
    set.add_temporary_inclusion(
        1,
        Fence::new(11, FenceKind::Inclusion, dest),
        t0() - Duration::hours(1),
        t0() + Duration::hours(1),
    )
    .unwrap();
    assert_eq!(set.evaluate(1, &noon).len(), 1);
    let later = FixPoint { at: t0() + Duration::hours(2), ..noon };
    assert!(set.evaluate(1, &later).is_empty());
    assert!(Fence::new(12, FenceKind::Inclusion, Shape::circle(LON, LAT, 1.0).unwrap())
        .with_validity(t0(), t0())
        .is_err());
}

#[test]
fn shared_fences_rtree_and_applicability() {
    let zone = |id, e| Fence::new(id, FenceKind::Exclusion, Shape::circle(at_m(e, 0.0).0, LAT, 100.0).unwrap());
    let mut set = FenceSet::with_shared(vec![
        (zone(100, 0.0), AppliesTo::All),
        (zone(101, 1000.0), AppliesTo::Persons(vec![2, 1])),
        (
            Fence::new(102, FenceKind::Inclusion, area(MultiPolygon(vec![square_m(0.0, 0.0, 5000.0)]))),
            AppliesTo::Persons(vec![1]),
        ),
    ])
    .unwrap();
    set.put_personal(1, Fence::new(1, FenceKind::Inclusion, Shape::circle(LON, LAT, 3000.0).unwrap())).unwrap();
    let ids = |v: Vec<geofence::Verdict>| {
        let mut i: Vec<i64> = v.iter().map(|v| v.fence_id).collect();
        i.sort();
        i
    };
    // Person 1 near zone 100: own fence, district (shared inclusion), zone 100.
    assert_eq!(ids(set.evaluate(1, &fix_m(0.0, 50.0, 10.0))), vec![1, 100, 102]);
    // Person 3 (no own fences) near zone 101, which does not apply to them.
    assert!(ids(set.evaluate(3, &fix_m(1000.0, 0.0, 10.0))).is_empty());
    assert_eq!(ids(set.evaluate(2, &fix_m(1000.0, 0.0, 10.0))), vec![101]);
    // Far from zones: exclusion zones are definitely outside and omitted.
    assert_eq!(ids(set.evaluate(1, &fix_m(-2000.0, 0.0, 10.0))), vec![1, 102]);
    // Who may be inside.
    assert_eq!(set.persons_possibly_inside(100), Some(PersonScope::All));
    assert_eq!(set.persons_possibly_inside(101), Some(PersonScope::Persons(vec![1, 2])));
    assert_eq!(set.persons_possibly_inside(1), Some(PersonScope::Persons(vec![1])));
    assert_eq!(set.persons_possibly_inside(999), None);
    let (lon, lat) = at_m(1000.0, 0.0);
    let mut c = set.shared_fences_containing(lon, lat);
    c.sort();
    assert_eq!(c, vec![101, 102]);
    // Incremental update: move zone 101, retire zone 100, add zone 103.
    set.put_shared(zone(101, 3000.0), AppliesTo::All).unwrap();
    assert!(set.remove_shared(100).is_some());
    set.put_shared(zone(103, -1000.0), AppliesTo::All).unwrap();
    assert_eq!(ids(set.evaluate(1, &fix_m(0.0, 50.0, 10.0))), vec![1, 102]);
    assert_eq!(ids(set.evaluate(1, &fix_m(3000.0, 0.0, 10.0))), vec![1, 101, 102]);
    assert_eq!(ids(set.evaluate(1, &fix_m(-1000.0, 0.0, 10.0))), vec![1, 102, 103]);
    // A zone far outside the area covered at load time (switches the occupancy filter off).
    let far = Fence::new(104, FenceKind::Exclusion, Shape::circle(LON + 5.0, LAT, 100.0).unwrap());
    set.put_shared(far, AppliesTo::All).unwrap();
    let fx = FixPoint { lon: LON + 5.0, lat: LAT, accuracy_m: 5.0, at: t0() };
    assert!(ids(set.evaluate(1, &fx)).contains(&104));
    // Ids are unique across personal and shared fences.
    assert!(set.put_personal(1, zone(103, 0.0)).is_err());
    assert!(set
        .put_shared(Fence::new(1, FenceKind::Exclusion, Shape::circle(LON, LAT, 1.0).unwrap()), AppliesTo::All)
        .is_err());
    // Replacing and removing a personal fence.
    set.put_personal(1, Fence::new(1, FenceKind::Inclusion, Shape::circle(LON, LAT, 10.0).unwrap())).unwrap();
    let v = set.evaluate(1, &fix_m(-2000.0, 0.0, 10.0));
    assert!(v.iter().any(|v| v.fence_id == 1 && v.position == Position::Outside));
    assert!(set.remove_personal(1).is_some());
    assert_eq!(ids(set.evaluate(1, &fix_m(-2000.0, 0.0, 10.0))), vec![102]);
}

#[test]
fn effective_inclusion_is_the_union() {
    let mut set = FenceSet::new();
    set.put_personal(1, Fence::new(1, FenceKind::Inclusion, area(MultiPolygon(vec![square_m(0.0, 0.0, 500.0)]))))
        .unwrap();
    set.put_personal(1, Fence::new(2, FenceKind::Inclusion, area(MultiPolygon(vec![square_m(1000.0, 0.0, 500.0)]))))
        .unwrap();
    set.put_personal(1, Fence::new(3, FenceKind::Exclusion, Shape::circle(LON, LAT, 10.0).unwrap())).unwrap();
    let s = set.effective_inclusion(1, &fix_m(1200.0, 0.0, 20.0)).unwrap();
    assert_eq!((s.position, s.fences), (Position::Inside, 2));
    assert!((s.best_distance_m - 300.0).abs() < 0.01);
    assert_eq!(set.effective_inclusion(1, &fix_m(3000.0, 0.0, 20.0)).unwrap().position, Position::Outside);
    // On the shared border of the two squares: inside the union, but each fence is uncertain.
    assert_eq!(set.effective_inclusion(1, &fix_m(500.0, 0.0, 20.0)).unwrap().position, Position::Uncertain);
    assert!(set.effective_inclusion(2, &fix_m(0.0, 0.0, 20.0)).is_none());
}

#[test]
fn unusable_fixes_are_uncertain_everywhere() {
    let mut set = FenceSet::new();
    set.put_personal(1, Fence::new(1, FenceKind::Inclusion, Shape::circle(LON, LAT, 500.0).unwrap())).unwrap();
    for fx in [
        FixPoint { lon: f64::NAN, ..fix_m(0.0, 0.0, 10.0) },
        FixPoint { accuracy_m: f64::NAN, ..fix_m(0.0, 0.0, 10.0) },
        FixPoint { lat: 95.0, ..fix_m(0.0, 0.0, 10.0) },
    ] {
        for v in set.evaluate(1, &fx).into_iter().chain(set.evaluate_fast(1, &fx)) {
            assert_eq!(v.position, Position::Uncertain, "{fx:?}");
            assert!(!v.breach());
        }
    }
}

#[test]
fn batch_and_stream_equal_single_evaluation() {
    let mut shared = Vec::new();
    for z in 0..50 {
        let (lon, lat) = at_m((z % 10) as f64 * 700.0, (z / 10) as f64 * 700.0);
        shared.push((
            Fence::new(1000 + z, FenceKind::Exclusion, Shape::circle(lon, lat, 150.0).unwrap()),
            AppliesTo::All,
        ));
    }
    let mut set = FenceSet::with_shared(shared).unwrap();
    for p in 0..20 {
        let sq = square_m(p as f64 * 300.0, 0.0, 800.0);
        set.put_personal(p, Fence::new(p, FenceKind::Inclusion, area(MultiPolygon(vec![sq])))).unwrap();
    }
    let fixes: Vec<BatchFix> = (0..500)
        .map(|i| {
            let (e, n) = ((i * 37 % 7000) as f64, (i * 53 % 3000) as f64 - 500.0);
            BatchFix { key: None, person: (i * 7 % 23) as i64, fix: fix_m(e, n, 5.0 + (i % 9) as f64 * 20.0) }
        })
        .collect();
    for fast in [true, false] {
        let mut got = vec![Vec::new(); fixes.len()];
        set.evaluate_batch(&fixes, fast, |i, v| got[i] = v.to_vec());
        let mut got_stream = vec![Vec::new(); fixes.len()];
        set.evaluate_stream(&fixes, fast, |i, v| got_stream[i] = v.to_vec());
        for (i, f) in fixes.iter().enumerate() {
            let want = if fast { set.evaluate_fast(f.person, &f.fix) } else { set.evaluate(f.person, &f.fix) };
            assert_eq!(got[i], want, "fix {i}");
            assert_eq!(got_stream[i], want, "fix {i}");
        }
    }
}

#[test]
fn district_scale_polygon_matches_oracle() {
    // A 2,000-vertex wiggly ring ~20 km across, like a district boundary.
    let n = 2000;
    let ring: Vec<(f64, f64)> = (0..=n)
        .map(|i| {
            let t = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
            let r = 10_000.0 + 1500.0 * (7.0 * t).sin() + 400.0 * (53.0 * t).cos();
            at_m(r * t.cos(), r * t.sin())
        })
        .collect();
    let mp = MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])]);
    let f = Fence::new(1, FenceKind::Inclusion, area(mp.clone()));
    let os = OracleShape::Area(mp);
    for i in 0..400 {
        let e = ((i * 7919) % 26_000) as f64 - 13_000.0;
        let nn = ((i * 104_729) % 26_000) as f64 - 13_000.0;
        let fx = fix_m(e, nn, 30.0);
        let v = f.verdict(&fx);
        let (d, inside) = oracle::signed_distance_m(&os, fx.lon, fx.lat);
        assert_eq!(v.point_inside, inside, "point {i}");
        assert!((v.distance_m.unwrap() - d).abs() < 1e-6, "point {i}: {v:?} vs {d}");
        assert_eq!(f.verdict_fast(&fx).position, Position::classify(d, 30.0));
    }
}

#[test]
fn implausible_jump_is_reported() {
    let p = TimedPosition { at: t0(), lon: LON, lat: LAT };
    let q = TimedPosition { at: t0() + Duration::seconds(10), lon: LON + 0.1, lat: LAT };
    assert!(check_jump(&p, &q, 70.0).is_implausible()); // 8.5 km in 10 s
    assert!(!check_jump(&p, &q, 1000.0).is_implausible());
}

/// A set whose zones arrive one at a time (as the tracker loads them), with replacements and
/// removals, answers like a brute-force pass over the zones, whatever way it is called.
#[test]
fn zones_added_one_by_one_answer_like_brute_force() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut r = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut zones: Vec<(Fence, AppliesTo)> = Vec::new();
    for id in 0..400i64 {
        let (e, n, size) = (20_000.0 * r() - 10_000.0, 20_000.0 * r() - 10_000.0, 50.0 + 450.0 * r());
        let shape = if id % 3 == 0 {
            Shape::circle(at_m(e, n).0, at_m(e, n).1, size).unwrap()
        } else {
            area(MultiPolygon(vec![square_m(e, n, size)]))
        };
        let applies = if id % 7 == 0 { AppliesTo::Persons(vec![1, 5]) } else { AppliesTo::All };
        let mut fence = Fence::new(1000 + id, FenceKind::Exclusion, shape);
        if id % 11 == 0 {
            fence = fence.with_validity(t0() - Duration::hours(1), t0() + Duration::hours(1)).unwrap();
        }
        if id % 13 == 0 {
            fence = fence.with_validity(t0() + Duration::hours(1), t0() + Duration::hours(2)).unwrap();
        }
        zones.push((fence, applies));
    }
    // One at a time, far zones first (the grid's extent grows), some replaced or removed.
    let mut set = FenceSet::new();
    let mut live: Vec<(Fence, AppliesTo)> = Vec::new();
    for (k, (f, a)) in zones.iter().enumerate().rev() {
        set.put_shared(f.clone(), a.clone()).unwrap();
        live.push((f.clone(), a.clone()));
        if k % 5 == 0 {
            let (e, n) = (20_000.0 * r() - 10_000.0, 20_000.0 * r() - 10_000.0);
            let moved =
                Fence::new(f.id, FenceKind::Exclusion, Shape::circle(at_m(e, n).0, at_m(e, n).1, 200.0).unwrap());
            set.put_shared(moved.clone(), a.clone()).unwrap();
            live.last_mut().unwrap().0 = moved;
        }
        if k % 9 == 0 {
            assert!(set.remove_shared(f.id).is_some());
            live.pop();
        }
    }
    set.put_personal(1, Fence::new(1, FenceKind::Inclusion, Shape::circle(LON, LAT, 5000.0).unwrap())).unwrap();
    let fixes: Vec<BatchFix> = (0..3000)
        .map(|i| {
            let (e, n) = (22_000.0 * r() - 11_000.0, 22_000.0 * r() - 11_000.0);
            BatchFix { key: None, person: i % 3, fix: fix_m(e, n, [0.0, 5.0, 30.0, 150.0][i as usize % 4]) }
        })
        .collect();
    let sorted_ids = |v: &[geofence::Verdict]| {
        let mut ids: Vec<i64> = v.iter().filter(|v| v.fence_id >= 1000).map(|v| v.fence_id).collect();
        ids.sort();
        ids
    };
    let mut batch = vec![Vec::new(); fixes.len()];
    set.evaluate_batch(&fixes, false, |i, v| batch[i] = v.to_vec());
    for (i, f) in fixes.iter().enumerate() {
        let single = set.evaluate(f.person, &f.fix);
        assert_eq!(batch[i], single, "fix {i}");
        let mut want: Vec<i64> = live
            .iter()
            .filter(|(z, a)| a.includes(f.person) && z.is_active(f.fix.at))
            .filter(|(z, _)| z.verdict(&f.fix).position != Position::Outside)
            .map(|(z, _)| z.id)
            .collect();
        want.sort();
        assert_eq!(sorted_ids(&single), want, "fix {i}");
    }
}
