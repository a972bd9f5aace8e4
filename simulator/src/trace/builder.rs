//! The checks every reader shares, applied as points are added: coordinates in
//! range, optional values usable, times plausible and in order, segments and
//! missing times accounted for at the end.

use chrono::{DateTime, Utc};

use super::problem::Problems;
use super::{Problem, ProblemKind, ReadError, ReadOptions, Segment, Trace, TraceFormat, TracePoint};

/// Where a point came from, for problem messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub line: Option<usize>,
    /// 1-based ordinal among the source's point records.
    pub point: usize,
    /// The reader already reported a problem with this point's time (and left the
    /// time out), so it is not reported again as missing.
    pub time_reported: bool,
}

impl Origin {
    pub(crate) fn new(line: Option<usize>, point: usize) -> Self {
        Origin { line, point, time_reported: false }
    }

    pub(crate) fn time_reported(mut self, yes: bool) -> Self {
        self.time_reported = yes;
        self
    }
}

struct Entry {
    point: TracePoint,
    origin: Origin,
    alive: bool,
    /// A problem about this point's time was already reported, so a missing time
    /// is not reported twice.
    time_reported: bool,
}

pub(crate) struct TraceBuilder<'o> {
    format: TraceFormat,
    opts: &'o ReadOptions,
    problems: Problems,
    entries: Vec<Entry>,
    /// (index of first entry, name) per segment, in order.
    segments: Vec<(usize, Option<String>)>,
    ordinal: usize,
    /// Latest time of a point known to stay.
    confirmed: Option<DateTime<Utc>>,
    /// Last timed point, not yet confirmed: it may be an isolated jump ahead, which
    /// only the next timed point can tell.
    candidate: Option<(usize, DateTime<Utc>)>,
}

/// Elevations outside this range (metres) are garbage rather than terrain or flight.
const ELEVATION_RANGE: std::ops::RangeInclusive<f64> = -11_000.0..=100_000.0;

impl<'o> TraceBuilder<'o> {
    pub(crate) fn new(format: TraceFormat, opts: &'o ReadOptions) -> Self {
        TraceBuilder {
            format,
            opts,
            problems: Problems::new(opts.strict),
            entries: Vec::new(),
            segments: Vec::new(),
            ordinal: 0,
            confirmed: None,
            candidate: None,
        }
    }

    pub(crate) fn opts(&self) -> &'o ReadOptions {
        self.opts
    }

    /// Counts one point record of the source (good or bad) and returns its ordinal.
    pub(crate) fn next_ordinal(&mut self) -> usize {
        self.ordinal += 1;
        self.ordinal
    }

    /// The next point pushed starts a new segment.
    pub(crate) fn begin_segment(&mut self, name: Option<String>) {
        let start = self.entries.len();
        match self.segments.last_mut() {
            // An empty segment is replaced rather than kept.
            Some(last) if last.0 == start => last.1 = name,
            _ => self.segments.push((start, name)),
        }
    }

    pub(crate) fn report(&mut self, problem: Problem) -> Result<(), ReadError> {
        self.problems.report(problem)
    }

    pub(crate) fn problem(
        &mut self,
        kind: ProblemKind,
        line: Option<usize>,
        point: Option<usize>,
        message: impl Into<String>,
    ) -> Result<(), ReadError> {
        self.report(Problem::new(kind, message).at_line(line).at_point(point))
    }

    /// Validates and adds a point; bad coordinates skip it, bad optional values and
    /// implausible times are dropped from it.
    pub(crate) fn push(&mut self, mut p: TracePoint, origin: Origin) -> Result<(), ReadError> {
        let (line, point) = (origin.line, Some(origin.point));
        if !p.lat.is_finite() || !(-90.0..=90.0).contains(&p.lat) {
            return self.problem(
                ProblemKind::BadCoordinate,
                line,
                point,
                format!("latitude {} is out of range; point skipped", p.lat),
            );
        }
        if !p.lon.is_finite() || !(-180.0..=180.0).contains(&p.lon) {
            return self.problem(
                ProblemKind::BadCoordinate,
                line,
                point,
                format!("longitude {} is out of range; point skipped", p.lon),
            );
        }
        if p.lat == 0.0 && p.lon == 0.0 {
            return self.problem(
                ProblemKind::BadCoordinate,
                line,
                point,
                "position 0,0 is what receivers write without a fix; point skipped",
            );
        }
        if let Some(e) = p.elevation_m {
            if !ELEVATION_RANGE.contains(&e) {
                p.elevation_m = None;
                self.problem(ProblemKind::BadValue, line, point, format!("elevation {e} m is not plausible; ignored"))?;
            }
        }
        if let Some(a) = p.accuracy_m {
            if !a.is_finite() || a < 0.0 {
                p.accuracy_m = None;
                self.problem(ProblemKind::BadValue, line, point, format!("accuracy {a} m is not usable; ignored"))?;
            }
        }
        if let Some(s) = p.speed_mps {
            if !s.is_finite() || s < 0.0 {
                p.speed_mps = None;
                self.problem(ProblemKind::BadValue, line, point, format!("speed {s} m/s is not usable; ignored"))?;
            }
        }
        if let Some(c) = p.course_deg {
            if c.is_finite() {
                p.course_deg = Some(c.rem_euclid(360.0));
            } else {
                p.course_deg = None;
                self.problem(ProblemKind::BadValue, line, point, format!("course {c} is not usable; ignored"))?;
            }
        }
        let mut time_reported = origin.time_reported;
        if let Some(t) = p.time {
            let too_late = self.opts.latest_time.is_some_and(|l| t > l);
            if t < self.opts.earliest_time || too_late {
                p.time = None;
                time_reported = true;
                let why = if too_late {
                    "is in the future"
                } else {
                    "is before GPS time began (1980-01-06), so a placeholder"
                };
                self.problem(
                    ProblemKind::ImplausibleTime,
                    line,
                    point,
                    format!("time {} {why}; time ignored", fmt_time(t)),
                )?;
            }
        }
        if self.segments.is_empty() {
            self.segments.push((0, None));
        }
        let index = self.entries.len();
        self.entries.push(Entry { point: p, origin, alive: true, time_reported });
        if let Some(t) = p.time {
            self.check_order(index, t)?;
        }
        Ok(())
    }

    /// Keeps times non-decreasing, so replay never goes back in time. A point
    /// earlier than the last kept one is dropped, except that a single point
    /// jumping ahead of both its neighbours is the one dropped instead (otherwise one
    /// glitch would take every later point with it).
    fn check_order(&mut self, index: usize, t: DateTime<Utc>) -> Result<(), ReadError> {
        match self.candidate {
            None => {
                if let Some(c) = self.confirmed.filter(|&c| t < c) {
                    self.drop_out_of_order(index, t, c)?;
                } else {
                    self.candidate = Some((index, t));
                }
            }
            Some((ci, ct)) => {
                if t >= ct {
                    self.confirmed = Some(ct);
                    self.candidate = Some((index, t));
                } else if self.confirmed.is_none_or(|c| t >= c) {
                    let entry = &mut self.entries[ci];
                    entry.alive = false;
                    let origin = entry.origin;
                    self.candidate = Some((index, t));
                    self.problem(
                        ProblemKind::TimeOutOfOrder,
                        origin.line,
                        Some(origin.point),
                        format!(
                            "time {} is later than the next point's ({}); point skipped",
                            fmt_time(ct),
                            fmt_time(t)
                        ),
                    )?;
                } else {
                    self.drop_out_of_order(index, t, ct)?;
                }
            }
        }
        Ok(())
    }

    fn drop_out_of_order(&mut self, index: usize, t: DateTime<Utc>, previous: DateTime<Utc>) -> Result<(), ReadError> {
        let entry = &mut self.entries[index];
        entry.alive = false;
        let origin = entry.origin;
        self.problem(
            ProblemKind::TimeOutOfOrder,
            origin.line,
            Some(origin.point),
            format!(
                "time {} is earlier than the previous point's ({}); point skipped",
                fmt_time(t),
                fmt_time(previous)
            ),
        )
    }

    /// Reports missing times, drops skipped points and empty segments.
    pub(crate) fn finish(mut self) -> Result<Trace, ReadError> {
        let mut bounds: Vec<(usize, usize, Option<String>)> = Vec::new();
        for (i, (start, name)) in self.segments.iter().enumerate() {
            let end = self.segments.get(i + 1).map_or(self.entries.len(), |s| s.0);
            bounds.push((*start, end, name.clone()));
        }
        let any_timed = self.entries.iter().any(|e| e.alive && e.point.time.is_some());
        if any_timed {
            for (n, (start, end, name)) in bounds.iter().enumerate() {
                let alive: Vec<usize> = (*start..*end).filter(|&i| self.entries[i].alive).collect();
                let timed = alive.iter().filter(|&&i| self.entries[i].point.time.is_some()).count();
                let unreported: Vec<usize> =
                    alive.iter().copied().filter(|&i| !self.entries[i].time_reported).collect();
                if unreported.is_empty() {
                    continue;
                }
                if timed == 0 {
                    let first = self.entries[unreported[0]].origin;
                    let label = name.as_deref().map(|n| format!(" ({n:?})")).unwrap_or_default();
                    self.problem(
                        ProblemKind::MissingTime,
                        first.line,
                        Some(first.point),
                        format!("segment {}{label}: {} points without time", n + 1, unreported.len()),
                    )?;
                    continue;
                }
                for &i in &unreported {
                    let e = &self.entries[i];
                    if e.point.time.is_none() {
                        let o = e.origin;
                        self.problem(
                            ProblemKind::MissingTime,
                            o.line,
                            Some(o.point),
                            "point has no time (kept without one)",
                        )?;
                    }
                }
            }
        }

        let mut points = Vec::with_capacity(self.entries.len());
        let mut segments = Vec::new();
        for (start, end, name) in bounds {
            let first = points.len();
            points.extend(self.entries[start..end].iter().filter(|e| e.alive).map(|e| e.point));
            if points.len() > first {
                segments.push(Segment { start: first, end: points.len(), name });
            }
        }
        if points.is_empty() {
            self.problem(ProblemKind::NoPoints, None, None, "no usable point in the file")?;
        }
        let mut problems = self.problems.into_vec();
        // Order problems as they appear in the file; file-wide ones first.
        problems.sort_by_key(|p| (p.line, p.point));
        Ok(Trace { format: self.format, points, segments, problems })
    }
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_200_000_000 + s, 0).unwrap()
    }

    fn build(times: &[Option<i64>]) -> Trace {
        let opts = ReadOptions::default();
        let mut b = TraceBuilder::new(TraceFormat::Csv, &opts);
        for (i, t) in times.iter().enumerate() {
            let mut p = TracePoint::new(10.0 + i as f64 * 1e-4, 20.0);
            p.time = t.map(at);
            let n = b.next_ordinal();
            b.push(p, Origin::new(Some(i + 1), n)).unwrap();
        }
        b.finish().unwrap()
    }

    fn times(t: &Trace) -> Vec<Option<i64>> {
        t.points.iter().map(|p| p.time.map(|t| t.timestamp() - 1_200_000_000)).collect()
    }

    #[test]
    fn single_jump_ahead_drops_the_jump() {
        let t = build(&[Some(0), Some(1), Some(100), Some(2), Some(3)]);
        assert_eq!(times(&t), vec![Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].point, Some(3));
        assert_eq!(t.problems[0].kind, ProblemKind::TimeOutOfOrder);
    }

    #[test]
    fn single_step_back_drops_the_step() {
        let t = build(&[Some(0), Some(1), Some(2), Some(-5), Some(3)]);
        assert_eq!(times(&t), vec![Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].point, Some(4));
        // A run going back is dropped until times catch up again.
        let t = build(&[Some(0), Some(10), Some(20), Some(5), Some(6), Some(21)]);
        assert_eq!(times(&t), vec![Some(0), Some(10), Some(20), Some(21)]);
        assert_eq!(t.problems.len(), 2);
    }

    #[test]
    fn equal_times_are_kept() {
        let t = build(&[Some(0), Some(0), Some(1)]);
        assert_eq!(t.points.len(), 3);
        assert!(t.problems.is_empty());
    }

    #[test]
    fn missing_time_inside_timed_trace_is_reported() {
        let t = build(&[Some(0), None, Some(2)]);
        assert_eq!(t.points.len(), 3);
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].kind, ProblemKind::MissingTime);
        let untimed = build(&[None, None]);
        assert!(untimed.problems.is_empty());
    }

    #[test]
    fn strict_fails_on_first_problem() {
        let opts = ReadOptions { strict: true, ..ReadOptions::default() };
        let mut b = TraceBuilder::new(TraceFormat::Csv, &opts);
        let err = b.push(TracePoint::new(91.0, 0.0), Origin::new(Some(7), 1)).unwrap_err();
        match err {
            ReadError::Strict(p) => {
                assert_eq!(p.kind, ProblemKind::BadCoordinate);
                assert_eq!(p.line, Some(7));
            }
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn segments_skip_empty_and_dropped() {
        let opts = ReadOptions::default();
        let mut b = TraceBuilder::new(TraceFormat::Gpx, &opts);
        b.begin_segment(Some("empty".into()));
        b.begin_segment(Some("a".into()));
        b.push(TracePoint::new(1.0, 1.0), Origin::new(None, 1)).unwrap();
        b.begin_segment(Some("bad only".into()));
        b.push(TracePoint::new(100.0, 1.0), Origin::new(None, 2)).unwrap();
        b.begin_segment(None);
        b.push(TracePoint::new(1.0, 2.0), Origin::new(None, 3)).unwrap();
        b.push(TracePoint::new(1.0, 3.0), Origin::new(None, 4)).unwrap();
        let t = b.finish().unwrap();
        assert_eq!(
            t.segments,
            vec![Segment { start: 0, end: 1, name: Some("a".into()) }, Segment { start: 1, end: 3, name: None },]
        );
    }
}
