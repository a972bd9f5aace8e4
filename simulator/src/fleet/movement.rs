//! Plausible generated movement for one person: nights at home (22:00–07:00 Asia/Shanghai),
//! a workplace on weekdays, errands, walking and driving with stops, and the fixes a phone
//! reports along the way with GPS noise consistent with their accuracy.
//!
//! Every place is at least [`MovementOptions::margin_m`] from every boundary of the person's
//! [`Space`] and every trip is a straight segment that keeps that margin, so a fix (noise never
//! exceeds its accuracy, and the margin is at least twice the worst accuracy) is always
//! definitely compliant: fences trip only when an [`Event`](super::Event) says so.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveTime, TimeZone, Utc, Weekday};

use super::space::{dist, lerp, offset, Rng, Space};
use crate::replay::LatLon;

/// Asia/Shanghai: UTC+8 all year (no daylight saving since 1991).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// How people move and how their phones report.
#[derive(Debug, Clone)]
pub struct MovementOptions {
    /// Clearance kept from every boundary by places and trips (metres).
    pub margin_m: f64,
    /// Seconds between fixes while moving and while still (Traccar Client reports on an
    /// interval; a few seconds of jitter are added).
    pub moving_interval_s: i64,
    pub still_interval_s: i64,
    /// Accuracy range reported (metres); noise never exceeds the reported accuracy.
    pub accuracy_m: (f64, f64),
    /// Trips shorter than this are walked (metres).
    pub max_walk_m: f64,
    pub walk_mps: (f64, f64),
    /// Average driving speed between stops.
    pub drive_mps: (f64, f64),
    /// Farthest errand from where it starts (metres).
    pub errand_radius_m: f64,
}

impl Default for MovementOptions {
    fn default() -> Self {
        MovementOptions {
            margin_m: 300.0,
            moving_interval_s: 60,
            still_interval_s: 300,
            accuracy_m: (5.0, 30.0),
            max_walk_m: 1500.0,
            walk_mps: (1.1, 1.5),
            drive_mps: (7.0, 13.0),
            errand_radius_m: 4000.0,
        }
    }
}

/// A person's fixed places.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Places {
    pub home: LatLon,
    /// Weekday workplace; `None`: errands only.
    pub work: Option<LatLon>,
}

/// Where a person truly is over time: key points, linear in between, still before the first
/// and after the last.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// Times strictly increasing (equal positions on consecutive points: a stop).
    pub points: Vec<(DateTime<Utc>, LatLon)>,
}

impl Track {
    /// The segment index `i` such that `points[i].0 <= t < points[i+1].0`, if any.
    fn segment(&self, t: DateTime<Utc>) -> Option<usize> {
        let i = self.points.partition_point(|(pt, _)| *pt <= t);
        (i >= 1 && i < self.points.len()).then(|| i - 1)
    }

    pub fn at(&self, t: DateTime<Utc>) -> LatLon {
        match self.segment(t) {
            Some(i) => {
                let ((t0, a), (t1, b)) = (self.points[i], self.points[i + 1]);
                lerp(a, b, secs(t - t0) / secs(t1 - t0))
            }
            None if self.points.first().is_some_and(|(t0, _)| t < *t0) => self.points[0].1,
            None => self.points.last().map(|p| p.1).unwrap_or(LatLon::new(0.0, 0.0)),
        }
    }

    /// Speed (m/s) and course (degrees from north) at `t`; zero when still.
    pub fn velocity(&self, t: DateTime<Utc>) -> (f64, f64) {
        let Some(i) = self.segment(t) else { return (0.0, 0.0) };
        let ((t0, a), (t1, b)) = (self.points[i], self.points[i + 1]);
        let d = dist(a, b);
        if d < 0.5 {
            return (0.0, 0.0);
        }
        let k = geofence::MetresPerDegree::at(a.lat);
        let (e, n) = ((b.lon - a.lon) * k.kx, (b.lat - a.lat) * k.ky);
        (d / secs(t1 - t0), e.atan2(n).to_degrees().rem_euclid(360.0))
    }

    /// Replaces what happens strictly between `from` and `to` by `points` (which should start
    /// at `from` and end at `to`).
    pub fn splice(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, points: Vec<(DateTime<Utc>, LatLon)>) {
        let before: Vec<_> = self.points.iter().copied().filter(|(t, _)| *t < from).collect();
        let after: Vec<_> = self.points.iter().copied().filter(|(t, _)| *t > to).collect();
        let mut all = before;
        for p in points.into_iter().chain(after) {
            if all.last().is_none_or(|(t, _)| p.0 > *t) {
                all.push(p);
            }
        }
        self.points = all;
    }

    /// Keeps points increasing in time (drops any not after its predecessor).
    fn push(&mut self, t: DateTime<Utc>, p: LatLon) {
        if self.points.last().is_none_or(|(last, _)| t > *last) {
            self.points.push((t, p));
        }
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn seconds(s: f64) -> Duration {
    Duration::milliseconds((s * 1000.0).round() as i64)
}

/// The key points of a trip from `a` (leaving at `depart`) to `b`: walked when short, driven
/// otherwise with a stop (traffic lights, a junction) every one to two kilometres.
pub fn trip(
    a: LatLon,
    b: LatLon,
    depart: DateTime<Utc>,
    opts: &MovementOptions,
    rng: &mut Rng,
) -> Vec<(DateTime<Utc>, LatLon)> {
    let d = dist(a, b);
    let mut out = vec![(depart, a)];
    if d < opts.max_walk_m {
        let v = rng.range(opts.walk_mps.0, opts.walk_mps.1);
        out.push((depart + seconds((d / v).max(1.0)), b));
        return out;
    }
    let v = rng.range(opts.drive_mps.0, opts.drive_mps.1);
    let (mut t, mut done) = (depart, 0.0);
    while done < d {
        let leg = rng.range(1000.0, 2000.0).min(d - done);
        let p = lerp(a, b, (done + leg) / d);
        t += seconds((leg / v).max(1.0));
        out.push((t, p));
        done += leg;
        if done < d {
            t += seconds(rng.range(20.0, 90.0));
            out.push((t, p));
        }
    }
    out
}

fn local_at(date: chrono::NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time of day"));
    shanghai().from_local_datetime(&naive).single().expect("fixed offset").with_timezone(&Utc)
}

/// Latest arrival home (local): nights at home start at 22:00; a margin for the fix interval.
const HOME_BY: (u32, u32) = (21, 45);

/// Generates the person's true movement from the day before `from` to the day after `to`.
/// Days that touch a `busy` window (a scripted event) are spent at home, so that every event
/// starts and ends there.
pub fn generate(
    space: &Space,
    places: Places,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
    opts: &MovementOptions,
    rng: &Rng,
) -> Track {
    let tz = shanghai();
    let first = from.with_timezone(&tz).date_naive() - chrono::Days::new(1);
    let last = to.with_timezone(&tz).date_naive() + chrono::Days::new(1);
    let home = places.home;
    let mut track = Track::default();
    track.push(local_at(first, 0, 0), home);
    let mut day = first;
    while day <= last {
        let mut r = rng.fork(day.num_days_from_ce() as u64);
        let (start, end) = (local_at(day, 0, 0), local_at(day, 0, 0) + Duration::days(1));
        let home_by = local_at(day, HOME_BY.0, HOME_BY.1);
        let is_busy = busy.iter().any(|(a, b)| *a < end && *b > start);
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !is_busy {
            let mut plan: Vec<(DateTime<Utc>, LatLon)> = Vec::new();
            match places.work.filter(|_| weekday) {
                Some(work) => {
                    let leave = local_at(day, 7, 0) + seconds(r.range(15.0, 105.0) * 60.0);
                    plan.extend(trip(home, work, leave, opts, &mut r));
                    let off = local_at(day, 17, 0) + seconds(r.range(0.0, 90.0) * 60.0);
                    let errand = r
                        .chance(0.5)
                        .then(|| space.random_reachable(&mut r, work, opts.errand_radius_m, opts.margin_m))
                        .flatten()
                        .filter(|e| space.segment_clear(*e, home, opts.margin_m));
                    let mut evening = Vec::new();
                    if let Some(e) = errand {
                        evening.extend(trip(work, e, off, opts, &mut r));
                        let dwell = seconds(r.range(20.0, 60.0) * 60.0);
                        let back = evening.last().map(|p| p.0).unwrap_or(off) + dwell;
                        evening.extend(trip(e, home, back, opts, &mut r));
                    }
                    if evening.last().is_none_or(|p| p.0 > home_by) {
                        evening = trip(work, home, off, opts, &mut r);
                    }
                    plan.extend(evening);
                }
                None if r.chance(0.7) => {
                    if let Some(e) = space.random_reachable(&mut r, home, opts.errand_radius_m, opts.margin_m) {
                        let go = local_at(day, 9, 30) + seconds(r.range(0.0, 360.0) * 60.0);
                        plan.extend(trip(home, e, go, opts, &mut r));
                        let dwell = seconds(r.range(30.0, 120.0) * 60.0);
                        let back = plan.last().map(|p| p.0).unwrap_or(go) + dwell;
                        plan.extend(trip(e, home, back, opts, &mut r));
                    }
                }
                None => {}
            }
            if plan.last().is_some_and(|p| p.0 <= home_by) {
                for (t, p) in plan {
                    track.push(t, p);
                }
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    track.push(local_at(last, 23, 59), home);
    track
}

/// How fixes differ from the truth during a window (scripted by events).
#[derive(Debug, Clone, PartialEq)]
pub enum FixRule {
    /// The phone is off: no fixes in `[from, to)`.
    Off { from: DateTime<Utc>, to: DateTime<Utc> },
    /// Multipath or indoor drift near a border: fixes in `[from, to)` report a large accuracy
    /// and are pulled `outward` (unit east/north vector) by 30–90 % of it. With `confirm`
    /// false every other fix is a clean one, so each doubtful fix is followed by a compliant
    /// one and the server clears its confirmation request; with `confirm` true every fix
    /// drifts, so the second confirms.
    Drift { from: DateTime<Utc>, to: DateTime<Utc>, outward: (f64, f64), accuracy_m: (f64, f64), confirm: bool },
}

/// One fix as the phone reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Whole seconds (what the OsmAnd protocol carries).
    pub time: DateTime<Utc>,
    pub pos: LatLon,
    pub accuracy_m: f64,
    pub speed_mps: f64,
    pub course_deg: f64,
    /// Where the person truly was.
    pub truth: LatLon,
    /// Pulled by a scripted drift.
    pub drifted: bool,
}

/// The fixes the phone reports on `track` in `[from, to]`.
pub fn fixes(
    track: &Track,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rules: &[FixRule],
    opts: &MovementOptions,
    rng: &Rng,
) -> Vec<Fix> {
    let mut r = rng.fork(0xF1);
    let mut out = Vec::new();
    let mut t =
        DateTime::from_timestamp(from.timestamp() + i64::from(from.timestamp_subsec_nanos() > 0), 0).unwrap_or(from);
    let mut drift_count = 0u64;
    while t <= to {
        let truth = track.at(t);
        let (speed, course) = track.velocity(t);
        let moving = speed > 0.0;
        let off = rules.iter().any(|rule| matches!(rule, FixRule::Off { from, to } if *from <= t && t < *to));
        let drift = rules.iter().find_map(|rule| match rule {
            FixRule::Drift { from, to, outward, accuracy_m, confirm } if *from <= t && t < *to => {
                Some((*outward, *accuracy_m, *confirm))
            }
            _ => None,
        });
        if !off {
            let fix = match drift {
                Some((dir, acc, confirm)) if confirm || drift_count.is_multiple_of(2) => {
                    drift_count += 1;
                    let a = r.range(acc.0, acc.1);
                    let pull = a * r.range(0.3, 0.9);
                    Fix {
                        time: t,
                        pos: offset(truth, dir.0 * pull, dir.1 * pull),
                        accuracy_m: a,
                        speed_mps: 0.0,
                        course_deg: 0.0,
                        truth,
                        drifted: true,
                    }
                }
                other => {
                    if other.is_some() {
                        drift_count += 1;
                    }
                    let a = if moving {
                        r.range(opts.accuracy_m.0, (opts.accuracy_m.0 + opts.accuracy_m.1) / 2.0)
                    } else {
                        r.range(opts.accuracy_m.0, opts.accuracy_m.1)
                    };
                    // Noise of a 68 % radius `a`, cut at `a` so that the margin argument holds.
                    let n = (r.normal().abs() * a * 0.5).min(a * 0.95);
                    let dir = r.range(0.0, std::f64::consts::TAU);
                    Fix {
                        time: t,
                        pos: offset(truth, n * dir.cos(), n * dir.sin()),
                        accuracy_m: a,
                        speed_mps: speed,
                        course_deg: course,
                        truth,
                        drifted: false,
                    }
                }
            };
            out.push(fix);
        }
        let interval = if moving || drift.is_some() { opts.moving_interval_s } else { opts.still_interval_s };
        t += Duration::seconds(interval.max(1) + (r.next_u64() % 8) as i64);
    }
    out
}
