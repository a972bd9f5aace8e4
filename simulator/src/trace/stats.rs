//! Summary figures of a trace: extent in time, distance, top speed and gaps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Problem, Trace, TraceFormat, TracePoint};

/// Mean Earth radius (IUGG), metres. Haversine on a sphere is within 0.5 % of the
/// ellipsoidal distance, plenty for describing a trace.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// Time between consecutive timed points above which a gap is listed.
    pub gap_threshold_s: f64,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions { gap_threshold_s: 300.0 }
    }
}

/// A stretch without fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seconds: f64,
}

/// What `inspect --json` prints, field for field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStats {
    pub format: TraceFormat,
    pub points: usize,
    pub timed_points: usize,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub duration_s: Option<f64>,
    /// Along all points in order, across segment boundaries (that is the path a
    /// replay sends), on the sphere.
    pub distance_m: f64,
    /// Highest speed between consecutive timed points (along the path through any
    /// untimed points between them); pairs with zero or negative time apart are
    /// skipped since they give no speed.
    pub max_speed_mps: Option<f64>,
    pub gaps: Vec<Gap>,
    pub problems: Vec<Problem>,
}

/// Great-circle distance in metres.
pub fn haversine_m(a: &TracePoint, b: &TracePoint) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let dphi = phi2 - phi1;
    let dlambda = (b.lon - a.lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    // Rounding can push h a hair above 1 for antipodal points; asin would give NaN.
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

pub fn stats(trace: &Trace, opts: &StatsOptions) -> TraceStats {
    let mut distance_m = 0.0;
    let mut max_speed: Option<f64> = None;
    let mut gaps = Vec::new();
    let mut start = None;
    let mut end: Option<DateTime<Utc>> = None;
    let mut timed_points = 0;
    // Distance walked since the last timed point, for speeds across untimed points.
    let mut since_last_timed = 0.0;
    let mut prev: Option<&TracePoint> = None;
    for p in &trace.points {
        if let Some(q) = prev {
            let d = haversine_m(q, p);
            distance_m += d;
            since_last_timed += d;
        }
        prev = Some(p);
        let Some(t) = p.time else { continue };
        timed_points += 1;
        if start.is_none() {
            start = Some(t);
        }
        if let Some(last) = end {
            let dt = (t - last).num_milliseconds() as f64 / 1000.0;
            if dt > 0.0 {
                let v = since_last_timed / dt;
                max_speed = Some(max_speed.map_or(v, |m: f64| m.max(v)));
            }
            if dt > opts.gap_threshold_s {
                gaps.push(Gap { start: last, end: t, seconds: dt });
            }
        }
        // Readers keep times non-decreasing, but stay correct if handed a trace
        // built by other code.
        end = Some(end.map_or(t, |e: DateTime<Utc>| e.max(t)));
        since_last_timed = 0.0;
    }
    let start_min = trace.points.iter().filter_map(|p| p.time).min();
    let start = start_min.or(start);
    TraceStats {
        format: trace.format,
        points: trace.points.len(),
        timed_points,
        start,
        end,
        duration_s: match (start, end) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        distance_m,
        max_speed_mps: max_speed,
        gaps,
        problems: trace.problems.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn p(lat: f64, lon: f64, s: Option<i64>) -> TracePoint {
        let mut p = TracePoint::new(lat, lon);
        p.time = s.map(|s| Utc.timestamp_opt(1_000_000_000 + s, 0).unwrap());
        p
    }

    fn trace(points: Vec<TracePoint>) -> Trace {
        Trace { format: TraceFormat::Csv, segments: vec![], points, problems: vec![] }
    }

    #[test]
    fn one_degree_of_latitude() {
        let d = haversine_m(&p(0.0, 0.0, None), &p(1.0, 0.0, None));
        assert!((d - 111_195.08).abs() < 0.1, "{d}");
        let d = haversine_m(&p(0.0, 0.0, None), &p(0.0, 180.0, None));
        assert!((d - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1e-6);
    }

    #[test]
    fn speeds_gaps_and_duration() {
        // 0.001 deg of latitude is 111.195 m.
        let t = trace(vec![
            p(0.0, 0.0, Some(0)),
            p(0.001, 0.0, Some(10)),
            p(0.002, 0.0, Some(10)), // zero dt: no speed from this pair
            p(0.003, 0.0, None),     // untimed: path continues through it
            p(0.004, 0.0, Some(1000)),
        ]);
        let s = stats(&t, &StatsOptions::default());
        assert_eq!(s.points, 5);
        assert_eq!(s.timed_points, 4);
        assert_eq!(s.duration_s, Some(1000.0));
        assert!((s.distance_m - 4.0 * 111.195).abs() < 0.01);
        // First pair: 111.195 m in 10 s; the 0-s pair is skipped; the last pair
        // covers 2 * 111.195 m (through the untimed point) in 990 s.
        assert!((s.max_speed_mps.unwrap() - 11.1195).abs() < 1e-3);
        assert_eq!(s.gaps.len(), 1);
        assert_eq!(s.gaps[0].seconds, 990.0);
    }

    #[test]
    fn empty_and_untimed() {
        let s = stats(&trace(vec![]), &StatsOptions::default());
        assert_eq!((s.points, s.distance_m, s.start, s.max_speed_mps), (0, 0.0, None, None));
        let s = stats(&trace(vec![p(1.0, 1.0, None), p(1.0, 1.001, None)]), &StatsOptions::default());
        assert_eq!(s.duration_s, None);
        assert!(s.distance_m > 100.0);
    }
}
