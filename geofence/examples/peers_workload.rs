//! The ../shared/peers workload evaluated with this crate on one thread.
//!
//! Reads the binary files written by `/work/shared/peers/gen_data.py` (default
//! `/tmp/peers-data`), builds a [`FenceSet`] (personal fences by person: circles exact from
//! `pf_center`/`pf_radius_m`, polygons from their rings; exclusion zones shared, in the
//! R-tree), and for each fix evaluates the person's fences plus the zones near it with the
//! fix's accuracy. Prints load/prepare time and memory, the verdict breakdown, fixes/s with
//! verdicts only and with signed distances (median of 3 passes), and cross-checks a sample
//! against the brute-force oracle (exit code 1 on any disagreement).
//!
//! `cargo run --release -p geofence --example peers_workload -- [DIR]`
//! Last line: `fixes_per_s=<N> with_distance_per_s=<N>` (the batch figures, wall clock).
//! Env: `PEERS_QUICK=1` one pass per mode; `PEERS_PROFILE=1f|1d|…` one mode five times (for
//! profilers: mode 0 per-fix calls, 1 batch, 2 batch with cached keys, 3 stream; f = verdicts
//! only, d = with distances), `PEERS_PROFILE_PASSES=<n>` times instead of five.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use geofence::oracle::{self, OracleShape};
use geofence::{AppliesTo, BatchFix, Fence, FenceKind, FenceSet, FixPoint, PersonKey, Position, Probe, Shape, Verdict};

fn read(dir: &str, name: &str) -> Vec<u8> {
    let path = format!("{dir}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e} (generate with: python3 /work/shared/peers/gen_data.py --out {dir})");
        std::process::exit(2)
    })
}
fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}
fn i64s(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}
fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
}

struct Data {
    pf_person: Vec<i32>,
    pf_kind: Vec<u8>,
    pf_center: Vec<f64>,
    pf_radius: Vec<f64>,
    pf_off: Vec<i64>,
    pf_coords: Vec<f64>,
    ex_off: Vec<i64>,
    ex_coords: Vec<f64>,
    fx_person: Vec<i32>,
    fx_xy: Vec<f64>,
    fx_acc: Vec<f64>,
}

fn ring(coords: &[f64], off: &[i64], i: usize) -> MultiPolygon<f64> {
    let (s, e) = (off[i] as usize, off[i + 1] as usize);
    let cs: Vec<Coord<f64>> = (s..e).map(|k| Coord { x: coords[2 * k], y: coords[2 * k + 1] }).collect();
    MultiPolygon(vec![Polygon::new(LineString(cs), vec![])])
}

/// CPU time of this thread, seconds (wall time counts waiting for a core on a busy machine).
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[derive(Default, Debug, Clone)]
struct Tally {
    /// CPU seconds of the pass (not part of the comparison between passes).
    cpu_s: f64,
    own: [u64; 3],
    zone: [u64; 3],
    own_point_inside: u64,
    zone_hits: u64,
    ck_zone: u64,
}

impl PartialEq for Tally {
    fn eq(&self, o: &Self) -> bool {
        (self.own, self.zone, self.own_point_inside, self.zone_hits, self.ck_zone)
            == (o.own, o.zone, o.own_point_inside, o.zone_hits, o.ck_zone)
    }
}

fn idx(p: Position) -> usize {
    match p {
        Position::Inside => 0,
        Position::Outside => 1,
        Position::Uncertain => 2,
    }
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp/peers-data".into());
    let t0 = Instant::now();
    let d = Data {
        pf_person: i32s(&read(&dir, "pf_person.i32")),
        pf_kind: read(&dir, "pf_kind.u8"),
        pf_center: f64s(&read(&dir, "pf_center.f64")),
        pf_radius: f64s(&read(&dir, "pf_radius_m.f64")),
        pf_off: i64s(&read(&dir, "pf_off.i64")),
        pf_coords: f64s(&read(&dir, "pf_coords.f64")),
        ex_off: i64s(&read(&dir, "ex_off.i64")),
        ex_coords: f64s(&read(&dir, "ex_coords.f64")),
        fx_person: i32s(&read(&dir, "fx_person.i32")),
        fx_xy: f64s(&read(&dir, "fx_xy.f64")),
        fx_acc: f64s(&read(&dir, "fx_acc_m.f64")),
    };
    let (nf, nz, nfix) = (d.pf_person.len(), d.ex_off.len() - 1, d.fx_person.len());
    let load_s = t0.elapsed().as_secs_f64();
    let rss0 = rss_mb();

    // Prepare: zones bulk-loaded into the R-tree, personal fences by person.
    let t1 = Instant::now();
    let zone_id0 = nf as i64;
    let zones: Vec<(Fence, AppliesTo)> = (0..nz)
        .map(|z| {
            let shape = Shape::area(&ring(&d.ex_coords, &d.ex_off, z)).unwrap_or_else(|e| panic!("zone {z}: {e}"));
            (Fence::new(zone_id0 + z as i64, FenceKind::Exclusion, shape), AppliesTo::All)
        })
        .collect();
    let mut set = FenceSet::with_shared(zones).expect("unique zone ids");
    let (mut poly_vertices, mut poly_heap, mut polys) = (0usize, 0usize, 0usize);
    for f in 0..nf {
        let shape = if d.pf_kind[f] == 1 {
            Shape::circle(d.pf_center[2 * f], d.pf_center[2 * f + 1], d.pf_radius[f])
        } else {
            Shape::area(&ring(&d.pf_coords, &d.pf_off, f))
        }
        .unwrap_or_else(|e| panic!("fence {f}: {e}"));
        if let Shape::Area(a) = &shape {
            poly_vertices += a.vertex_count();
            poly_heap += a.heap_bytes();
            polys += 1;
        }
        set.put_personal(d.pf_person[f] as i64, Fence::new(f as i64, FenceKind::Inclusion, shape)).expect("unique ids");
    }
    let prepare_s = t1.elapsed().as_secs_f64();
    let mem = set.memory_bytes();
    let rss1 = rss_mb();
    println!(
        "data: {nf} personal fences ({polys} polygons, {poly_vertices} polygon vertices), {nz} zones, {nfix} fixes"
    );
    println!("load_s={load_s:.2} prepare_s={prepare_s:.2}");
    println!(
        "memory: fence_set_mb={:.1} (rss growth {:.1} MB); per polygon vertex {:.1} B (coordinates 16 B + edge grid); fence header {} B; circles 0 B heap",
        mem as f64 / 1e6,
        rss1 - rss0,
        poly_heap as f64 / poly_vertices as f64,
        std::mem::size_of::<Fence>()
    );

    let at = Utc.with_ymd_and_hms(2024, 6, 11, 12, 0, 0).unwrap();
    let fix = |i: usize| FixPoint { lon: d.fx_xy[2 * i], lat: d.fx_xy[2 * i + 1], accuracy_m: d.fx_acc[i], at };
    let zone_id0c = zone_id0;
    let tally = |t: &mut Tally, i: usize, out: &[Verdict]| {
        for v in out {
            if v.fence_id >= zone_id0c {
                t.zone[idx(v.position)] += 1;
                if v.point_inside {
                    t.zone_hits += 1;
                    t.ck_zone += i as u64 * 7919 + (v.fence_id - zone_id0c) as u64;
                }
            } else {
                t.own[idx(v.position)] += 1;
                t.own_point_inside += v.point_inside as u64;
            }
        }
    };

    // Three ways to call the engine, same verdicts:
    //  per-fix  `evaluate_into`, person id resolved through the id map on every fix;
    //  batch    `evaluate_batch` (prefetching pipeline), person id resolved inside;
    //  batch+keys  the same with dense person keys cached by the caller.
    let keys: Vec<Option<PersonKey>> = (0..nfix).map(|i| set.person_key(d.fx_person[i] as i64)).collect();
    let batch: Vec<BatchFix> =
        (0..nfix).map(|i| BatchFix { key: None, person: d.fx_person[i] as i64, fix: fix(i) }).collect();
    let batch_keys: Vec<BatchFix> = batch.iter().zip(&keys).map(|(b, k)| BatchFix { key: *k, ..*b }).collect();
    let run = |fast: bool, mode: u8| -> (f64, Tally) {
        let mut out = Vec::with_capacity(16);
        let mut t = Tally::default();
        let cpu0 = thread_cpu_s();
        let start = Instant::now();
        match mode {
            0 => {
                for i in 0..nfix {
                    let person = d.fx_person[i] as i64;
                    set.evaluate_into(set.person_key(person), person, &Probe::new(&fix(i)), fast, &mut out);
                    tally(&mut t, i, &out);
                }
            }
            1 => set.evaluate_batch(&batch, fast, |i, v| tally(&mut t, i, v)),
            2 => set.evaluate_batch(&batch_keys, fast, |i, v| tally(&mut t, i, v)),
            _ => set.evaluate_stream(&batch, fast, |i, v| tally(&mut t, i, v)),
        }
        let wall = start.elapsed().as_secs_f64();
        t.cpu_s = thread_cpu_s() - cpu0;
        (wall, t)
    };
    if let Ok(v) = std::env::var("PEERS_PROFILE") {
        // Profiling aid: PEERS_PROFILE=<mode 0|1|2><f|d>, e.g. 1f = batch, verdicts only.
        let (mode, fast) = (v.as_bytes()[0] - b'0', v.as_bytes().get(1) == Some(&b'f'));
        let passes = std::env::var("PEERS_PROFILE_PASSES").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
        for _ in 0..passes {
            let (t, tally) = run(fast, mode);
            println!(
                "{v}: {} fixes/s wall, {} per CPU-second",
                (nfix as f64 / t).round(),
                (nfix as f64 / tally.cpu_s).round()
            );
        }
        return;
    }
    let passes = if std::env::var_os("PEERS_QUICK").is_some() { 1 } else { 3 };
    let median3 = |fast: bool, mode: u8| -> (f64, Tally) {
        // Three passes for the headline (batch) figures, one for the other ways of calling.
        let n = if mode == 1 { passes } else { 1 };
        let mut runs: Vec<(f64, Tally)> = (0..n).map(|_| run(fast, mode)).collect();
        assert!(runs.windows(2).all(|w| w[0].1 == w[1].1), "passes disagree");
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        runs.swap_remove(runs.len() / 2)
    };
    let (t_fast, tally_fast) = median3(true, 1);
    let (t_dist, tally_dist) = median3(false, 1);
    let (t_fast_keys, tally_fast_keys) = median3(true, 2);
    let (t_dist_keys, _) = median3(false, 2);
    let (t_fast_single, tally_single) = median3(true, 0);
    let (t_dist_single, _) = median3(false, 0);
    let (t_fast_stream, tally_stream) = median3(true, 3);
    let (t_dist_stream, _) = median3(false, 3);
    if tally_fast_keys != tally_fast || tally_single != tally_fast || tally_stream != tally_fast {
        eprintln!(
            "FAIL: batch and per-fix evaluation disagree: {tally_fast:?} / {tally_fast_keys:?} / {tally_single:?}"
        );
        std::process::exit(1);
    }
    if tally_fast != tally_dist {
        eprintln!("FAIL: fast and exact paths disagree: {tally_fast:?} vs {tally_dist:?}");
        std::process::exit(1);
    }
    let t = &tally_fast;
    println!(
        "verdicts: own inside={} outside={} uncertain={} (point inside {}); zones inside={} uncertain={} (zones containing the point: zone_hits={} ck_zone={})",
        t.own[0], t.own[1], t.own[2], t.own_point_inside, t.zone[0], t.zone[2], t.zone_hits, t.ck_zone
    );
    let rate = |s: f64| (nfix as f64 / s).round() as u64;
    println!(
        "headline (batch, median of {passes}): verdicts only {} fixes/s wall ({} per CPU-second), with distances {} fixes/s wall ({} per CPU-second)",
        rate(t_fast),
        rate(tally_fast.cpu_s),
        rate(t_dist),
        rate(tally_dist.cpu_s)
    );
    println!(
        "verdicts only:  batch {} fixes/s (grouped by person id), batch {} fixes/s (cached person keys), stream {} fixes/s (input order, prefetch), per-fix calls {} fixes/s",
        rate(t_fast),
        rate(t_fast_keys),
        rate(t_fast_stream),
        rate(t_fast_single)
    );
    println!(
        "with distances: batch {} fixes/s (grouped by person id), batch {} fixes/s (cached person keys), stream {} fixes/s (input order, prefetch), per-fix calls {} fixes/s",
        rate(t_dist),
        rate(t_dist_keys),
        rate(t_dist_stream),
        rate(t_dist_single)
    );

    // Cross-check a sample against the brute-force oracle (no index, no preparation).
    let t2 = Instant::now();
    let zone_bbox: Vec<[f64; 4]> = (0..nz)
        .map(|z| {
            let (s, e) = (d.ex_off[z] as usize, d.ex_off[z + 1] as usize);
            let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
            for k in s..e {
                b = [
                    b[0].min(d.ex_coords[2 * k]),
                    b[1].min(d.ex_coords[2 * k + 1]),
                    b[2].max(d.ex_coords[2 * k]),
                    b[3].max(d.ex_coords[2 * k + 1]),
                ];
            }
            b
        })
        .collect();
    let (mut checked, mut bad, mut max_dd, mut max_dd_circle) = (0u64, 0u64, 0f64, 0f64);
    let mut out = Vec::new();
    let fence_off = i64s(&read(&dir, "person_fence_off.i64"));
    for i in (0..nfix).step_by(401) {
        let fx = fix(i);
        let person = d.fx_person[i] as i64;
        set.evaluate_into(set.person_key(person), person, &Probe::new(&fx), false, &mut out);
        let exact = out.clone();
        set.evaluate_into(set.person_key(person), person, &Probe::new(&fx), true, &mut out);
        let fast = out.clone();
        // Expected verdicts: own fences, then zones not definitely outside.
        // (fence id, oracle d, tolerance on d): circles are compared with the geodesic, the
        // engine's mean-latitude formula is within ~1 mm·(L/5 km)² of it.
        let mut expected: Vec<(i64, f64, f64)> = Vec::new();
        let p = person as usize;
        for f in fence_off[p] as usize..fence_off[p + 1] as usize {
            let shape = if d.pf_kind[f] == 1 {
                OracleShape::Circle((d.pf_center[2 * f], d.pf_center[2 * f + 1]), d.pf_radius[f])
            } else {
                OracleShape::Area(ring(&d.pf_coords, &d.pf_off, f))
            };
            let dd = oracle::signed_distance_m(&shape, fx.lon, fx.lat).0;
            let tol = if d.pf_kind[f] == 1 {
                let l = (d.pf_radius[f] - dd) / 5000.0;
                2e-3 * (1.0 + l * l)
            } else {
                1e-6 + 1e-9 * dd.abs()
            };
            expected.push((f as i64, dd, tol));
        }
        let k = geofence::MetresPerDegree::at(fx.lat);
        let (rx, ry) = (fx.accuracy_m / k.kx * 1.01, fx.accuracy_m / k.ky * 1.01);
        for (z, b) in zone_bbox.iter().enumerate() {
            if fx.lon + rx < b[0] || fx.lon - rx > b[2] || fx.lat + ry < b[1] || fx.lat - ry > b[3] {
                continue;
            }
            let dz = oracle::signed_distance_m(&OracleShape::Area(ring(&d.ex_coords, &d.ex_off, z)), fx.lon, fx.lat).0;
            if Position::classify(dz, fx.accuracy_m) != Position::Outside {
                expected.push((zone_id0 + z as i64, dz, 1e-6 + 1e-9 * dz.abs()));
            }
        }
        expected.sort_by_key(|e| e.0);
        let mut got: Vec<&Verdict> = exact.iter().collect();
        got.sort_by_key(|v| v.fence_id);
        let mut gotf: Vec<&Verdict> = fast.iter().collect();
        gotf.sort_by_key(|v| v.fence_id);
        let ids = |v: &[&Verdict]| v.iter().map(|v| v.fence_id).collect::<Vec<_>>();
        let near_threshold = |dd: f64, tol: f64| (dd.abs() - fx.accuracy_m).abs() < tol;
        let same_ids = ids(&got) == expected.iter().map(|e| e.0).collect::<Vec<_>>() && ids(&got) == ids(&gotf);
        let mut ok = same_ids || expected.iter().any(|e| near_threshold(e.1, e.2));
        if same_ids {
            for ((v, vf), (_, dd, tol)) in got.iter().zip(&gotf).zip(&expected) {
                let dist = v.distance_m.unwrap();
                if *tol < 1e-3 {
                    max_dd = max_dd.max((dist - dd).abs());
                } else {
                    max_dd_circle = max_dd_circle.max((dist - dd).abs());
                }
                let pos = Position::classify(*dd, fx.accuracy_m);
                if !near_threshold(*dd, *tol) && (v.position != pos || vf.position != pos) {
                    ok = false;
                }
                if (dist - dd).abs() > *tol {
                    ok = false;
                }
            }
        }
        checked += 1;
        if !ok {
            bad += 1;
            if bad <= 5 {
                eprintln!("DISAGREEMENT at fix {i}: expected {expected:?}\n  exact {exact:?}\n  fast {fast:?}");
            }
        }
    }
    println!(
        "oracle cross-check: {checked} fixes, {bad} disagreements, max |Δd| = {max_dd:.2e} m on polygons, {max_dd_circle:.2e} m on circles vs geodesic ({:.1}s)",
        t2.elapsed().as_secs_f64()
    );
    if bad > 0 {
        eprintln!("FAIL: {bad} of {checked} sampled fixes disagree with the brute-force oracle");
        std::process::exit(1);
    }
    println!("fixes_per_s={} with_distance_per_s={}", rate(t_fast), rate(t_dist));
}
