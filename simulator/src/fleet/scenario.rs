//! The scenario file (TOML): where to send, the clock, and the persons with their areas, places
//! and scripted events. Every problem is reported with the key it is about
//! (`person[2].event[0].at: …`).
//!
//! ```toml
//! osmand_url = "http://127.0.0.1:5055"
//! speed = 360          # time warp while catching up with now
//! catch_up = "6h"      # the simulated clock starts this long before now
//! live = "0s"          # then goes on at ×1 this long
//! seed = 1
//!
//! [[person]]
//! name = "王某"
//! device = "ENROLMENT-ID"
//! carrier_id = "17"                       # how cctrack names the phone to a carrier gateway: its
//!                                         # device id (`cctrack device list`); default: `device`
//! level = "strict"
//! area = "county.geojson"                 # or { circle = [lat, lon, radius_m] } or { geojson = '…' }
//! avoid = [{ circle = [40.66, 122.23, 300] }]
//! home = [40.67, 122.24]                  # or "random" (the default): well inside the area
//! work = "none"                           # or [lat, lon]; default: random
//! # trace = "walk.gpx"                    # follow a recorded trace (from the start, moved to
//!                                         # begin at `home` if given) instead of generated movement
//!
//! [[person.event]]
//! kind = "leave_area"                     # enter_zone, phone_off, drift, leave
//! at = "+1h"                              # or "02:00" (Asia/Shanghai, first after the start) or RFC 3339
//! duration = "2h"
//! to = [40.9, 122.6]                      # leave_area: a point outside; enter_zone: `point`;
//!                                         # drift: optional near_border = [lat, lon] (direction), confirm = false;
//!                                         # leave: `to` (the destination) and late = "2h" (home that long
//!                                         # after the leave's end; default "0s"), granted on the server
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::Deserialize;

use super::events::{Event, EventError, EventKind};
use super::movement::{shanghai, MovementOptions, Places};
use super::run::{simulate, FleetPerson, Warp};
use super::space::{Rng, Space};
use crate::replay::LatLon;

/// A scenario that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Toml(String),
    #[error("{key}: {message}")]
    Key { key: String, message: String },
    #[error("{key}: {source}")]
    Event { key: String, source: EventError },
}

fn key_err(key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Key { key: key.into(), message: message.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    osmand_url: Option<String>,
    speed: Option<f64>,
    catch_up: Option<String>,
    live: Option<String>,
    seed: Option<u64>,
    margin_m: Option<f64>,
    #[serde(default)]
    person: Vec<RawPerson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    name: Option<String>,
    device: String,
    carrier_id: Option<String>,
    level: Option<String>,
    area: toml::Value,
    #[serde(default)]
    avoid: Vec<toml::Value>,
    home: Option<toml::Value>,
    work: Option<toml::Value>,
    seed: Option<u64>,
    /// A recorded trace (any format `inspect` reads) instead of generated movement.
    trace: Option<String>,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    kind: String,
    at: String,
    duration: String,
    to: Option<[f64; 2]>,
    point: Option<[f64; 2]>,
    /// drift: the border is approached going from home towards this point.
    near_border: Option<[f64; 2]>,
    confirm: Option<bool>,
    /// leave: how long after the leave's end the person is home.
    late: Option<String>,
}

/// When an event starts.
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    /// After the simulated start.
    Offset(Duration),
    /// The first such local (Asia/Shanghai) time of day at or after the simulated start.
    LocalTime(NaiveTime),
    Absolute(DateTime<Utc>),
}

impl At {
    pub fn resolve(&self, sim_start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            At::Offset(d) => sim_start + *d,
            At::Absolute(t) => *t,
            At::LocalTime(tod) => {
                let day = sim_start.with_timezone(&shanghai()).date_naive();
                let at = |d: chrono::NaiveDate| {
                    shanghai().from_local_datetime(&d.and_time(*tod)).single().map(|t| t.with_timezone(&Utc))
                };
                match at(day) {
                    Some(t) if t >= sim_start => t,
                    _ => day.succ_opt().and_then(at).unwrap_or(sim_start),
                }
            }
        }
    }
}

/// An event as written: its start is resolved when the clock is known.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub at: At,
    pub duration: Duration,
    pub kind: EventKind,
}

/// Where a person works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Work {
    Random,
    Nowhere,
    At(LatLon),
}

#[derive(Debug, Clone)]
pub struct ScenarioPerson {
    pub name: String,
    pub device: String,
    /// The phone's name at the carrier gateway (cctrack sends the device id, never the
    /// enrolment id, which is the phone's credential); `None`: `device`.
    pub carrier_id: Option<String>,
    pub level: Option<String>,
    pub space: Space,
    pub home: Option<LatLon>,
    pub work: Work,
    pub seed: Option<u64>,
    pub events: Vec<EventSpec>,
    /// A base trace to replay instead of generated movement.
    pub trace: Option<BaseTrace>,
}

/// A recorded trace a person follows instead of generated movement: its timed points, as
/// offsets from its first one, moved by translation so that it starts at the person's home
/// when one is given (keeping its real motion).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseTrace {
    pub points: Vec<BasePoint>,
}

/// One timed point of a [`BaseTrace`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasePoint {
    /// Since the trace's first point.
    pub offset: Duration,
    pub pos: LatLon,
    pub accuracy_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub course_deg: Option<f64>,
}

impl BaseTrace {
    /// Reads `path`; the points without a time are left out.
    pub fn read(path: &Path, home: Option<LatLon>) -> Result<BaseTrace, String> {
        let trace = crate::trace::read_path(path, &crate::trace::ReadOptions::default()).map_err(|e| e.to_string())?;
        let timed: Vec<&crate::trace::TracePoint> = trace.points.iter().filter(|p| p.time.is_some()).collect();
        let Some(first) = timed.first() else {
            return Err(format!("{} has no point with a time", path.display()));
        };
        let (t0, start) = (first.time.expect("timed"), LatLon::new(first.lat, first.lon));
        let anchor = home.map(|h| crate::replay::frame::Reanchor::new(start, h));
        let points = timed
            .iter()
            .map(|p| {
                let at = LatLon::new(p.lat, p.lon);
                let pos = anchor.as_ref().map_or(at, |a| a.apply(at));
                BasePoint {
                    offset: p.time.expect("timed") - t0,
                    pos,
                    accuracy_m: p.accuracy_m,
                    speed_mps: p.speed_mps,
                    course_deg: p.course_deg,
                }
            })
            .collect();
        Ok(BaseTrace { points })
    }

    /// The fixes of the trace started at `from`, up to `to`: whole seconds, one per second at most.
    pub fn fixes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<super::movement::Fix> {
        let mut out: Vec<super::movement::Fix> = Vec::new();
        for &BasePoint { offset, pos, accuracy_m: accuracy, speed_mps: speed, course_deg: course } in &self.points {
            let time = chrono::SubsecRound::trunc_subsecs(from + offset, 0);
            if time > to {
                break;
            }
            if out.last().is_some_and(|f| f.time >= time) {
                continue;
            }
            out.push(super::movement::Fix {
                time,
                pos,
                accuracy_m: accuracy.unwrap_or(10.0),
                speed_mps: speed.unwrap_or(0.0),
                course_deg: course.unwrap_or(0.0),
                truth: pos,
                drifted: false,
            });
        }
        out
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub osmand_url: String,
    pub speed: f64,
    pub catch_up: Duration,
    pub live: Duration,
    pub seed: u64,
    pub movement: MovementOptions,
    pub persons: Vec<ScenarioPerson>,
}

/// `90m`, `1h30m`, `45s`, `2d`, `0`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::zero());
    }
    let (mut total, mut num, mut any) = (0i64, String::new(), false);
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    (num.is_empty() && any && total <= 3_650 * 86_400).then(|| Duration::seconds(total))
}

fn parse_at(s: &str) -> Option<At> {
    if let Some(rest) = s.strip_prefix('+') {
        return parse_duration(rest).map(At::Offset);
    }
    if let Ok(t) = NaiveTime::parse_from_str(s, "%H:%M") {
        return Some(At::LocalTime(t));
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| At::Absolute(t.with_timezone(&Utc)))
}

fn point(key: &str, p: [f64; 2]) -> Result<LatLon, ScenarioError> {
    let l = LatLon::new(p[0], p[1]);
    if l.is_valid() {
        Ok(l)
    } else {
        Err(key_err(key, format!("{p:?} is not [latitude, longitude] in degrees")))
    }
}

/// A shape: a GeoJSON file path (relative to the scenario), `{ geojson = "…" }` inline,
/// `{ file = "…" }`, or `{ circle = [lat, lon, radius_m] }`.
fn shape(key: &str, v: &toml::Value, base: &Path) -> Result<geofence::Shape, ScenarioError> {
    let from_json = |text: &str, what: &str| -> Result<geofence::Shape, ScenarioError> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| key_err(key, format!("{what} is not JSON: {e}")))?;
        geofence::geojson::parse_shape(&json).map_err(|e| key_err(key, format!("{what}: {e}")))
    };
    let from_file = |f: &str| -> Result<geofence::Shape, ScenarioError> {
        let path = base.join(f);
        let text =
            std::fs::read_to_string(&path).map_err(|e| key_err(key, format!("reading {}: {e}", path.display())))?;
        from_json(&text, &path.display().to_string())
    };
    match v {
        toml::Value::String(f) => from_file(f),
        toml::Value::Table(t) if t.len() == 1 => match t.iter().next() {
            Some((k, toml::Value::String(f))) if k == "file" => from_file(f),
            Some((k, toml::Value::String(g))) if k == "geojson" => from_json(g, "the inline GeoJSON"),
            Some((k, toml::Value::Array(a))) if k == "circle" => {
                let n: Vec<f64> = a.iter().filter_map(|x| x.as_float().or(x.as_integer().map(|i| i as f64))).collect();
                let [lat, lon, r] = n[..] else {
                    return Err(key_err(format!("{key}.circle"), "expected [latitude, longitude, radius_m]"));
                };
                point(&format!("{key}.circle"), [lat, lon])?;
                geofence::Shape::circle(lon, lat, r).map_err(|e| key_err(format!("{key}.circle"), e.to_string()))
            }
            _ => Err(key_err(
                key,
                "expected a GeoJSON file path, { file = … }, { geojson = … } or { circle = [lat, lon, radius_m] }",
            )),
        },
        _ => Err(key_err(
            key,
            "expected a GeoJSON file path, { file = … }, { geojson = … } or { circle = [lat, lon, radius_m] }",
        )),
    }
}

impl Scenario {
    /// Reads a scenario file; relative GeoJSON paths are relative to its directory.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.to_path_buf(), source })?;
        Scenario::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    pub fn parse(text: &str, base: &Path) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError::Toml(e.to_string()))?;
        let speed = raw.speed.unwrap_or(360.0);
        if !(speed.is_finite() && (1.0..=100_000.0).contains(&speed)) {
            return Err(key_err("speed", format!("{speed} is not a factor from 1 to 100000")));
        }
        let dur = |key: &str, v: &Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(s) => {
                parse_duration(s).ok_or_else(|| key_err(key, format!("{s:?} is not a duration like 90m or 1h30m")))
            }
        };
        // Every fix of the window is planned up front: bounded so that a typo cannot plan years.
        let most = Duration::days(31);
        let catch_up = dur("catch_up", &raw.catch_up, Duration::hours(6))?;
        if catch_up > most {
            return Err(key_err("catch_up", "at most 31 days"));
        }
        let live = dur("live", &raw.live, Duration::zero())?;
        if live > most {
            return Err(key_err("live", "at most 31 days"));
        }
        let mut movement = MovementOptions::default();
        if let Some(m) = raw.margin_m {
            if !(m.is_finite() && m >= 2.0 * movement.accuracy_m.1) {
                return Err(key_err("margin_m", format!("{m} must be at least {} m", 2.0 * movement.accuracy_m.1)));
            }
            movement.margin_m = m;
        }
        if raw.person.is_empty() {
            return Err(key_err("person", "a scenario needs at least one [[person]]"));
        }
        let mut persons = Vec::new();
        for (i, p) in raw.person.into_iter().enumerate() {
            let k = |s: &str| format!("person[{i}].{s}");
            if p.device.trim().is_empty() {
                return Err(key_err(k("device"), "the enrolment id is empty"));
            }
            if p.carrier_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(key_err(k("carrier_id"), "is empty"));
            }
            let allowed = shape(&k("area"), &p.area, base)?;
            let avoid = p
                .avoid
                .iter()
                .enumerate()
                .map(|(j, v)| shape(&k(&format!("avoid[{j}]")), v, base))
                .collect::<Result<Vec<_>, _>>()?;
            let space = Space::new(allowed, avoid);
            let home = match &p.home {
                None => None,
                Some(toml::Value::String(s)) if s == "random" => None,
                Some(v) => {
                    let pair: Option<[f64; 2]> = v.clone().try_into().ok();
                    Some(point(
                        &k("home"),
                        pair.ok_or_else(|| key_err(k("home"), "expected [lat, lon] or \"random\""))?,
                    )?)
                }
            };
            if let Some(h) = home {
                let c = space.clearance(h);
                if c < movement.margin_m {
                    return Err(key_err(
                        k("home"),
                        format!("{c:.0} m from a boundary (outside if negative); needs {:.0} m", movement.margin_m),
                    ));
                }
            }
            let work = match &p.work {
                None => Work::Random,
                Some(toml::Value::String(s)) if s == "none" => Work::Nowhere,
                Some(toml::Value::String(s)) if s == "random" => Work::Random,
                Some(v) => {
                    let pair: Option<[f64; 2]> = v.clone().try_into().ok();
                    let pair = pair.ok_or_else(|| key_err(k("work"), "expected [lat, lon], \"random\" or \"none\""))?;
                    Work::At(point(&k("work"), pair)?)
                }
            };
            let trace = match &p.trace {
                None => None,
                Some(_) if !p.event.is_empty() => {
                    return Err(key_err(k("event"), "a person who follows a trace has no scripted events"))
                }
                Some(file) => Some(BaseTrace::read(&base.join(file), home).map_err(|m| key_err(k("trace"), m))?),
            };
            let mut events = Vec::new();
            for (j, e) in p.event.into_iter().enumerate() {
                let ek = |s: &str| format!("person[{i}].event[{j}].{s}");
                let at = parse_at(&e.at).ok_or_else(|| {
                    key_err(ek("at"), format!("{:?} is not +DURATION, HH:MM (Asia/Shanghai) or an RFC 3339 time", e.at))
                })?;
                let duration = parse_duration(&e.duration)
                    .filter(|d| *d > Duration::zero())
                    .ok_or_else(|| key_err(ek("duration"), format!("{:?} is not a positive duration", e.duration)))?;
                let need = |v: Option<[f64; 2]>, name: &str| -> Result<LatLon, ScenarioError> {
                    point(&ek(name), v.ok_or_else(|| key_err(ek(name), format!("{} needs {name}", e.kind)))?)
                };
                let kind = match e.kind.as_str() {
                    "leave_area" => EventKind::LeaveArea { to: need(e.to, "to")? },
                    "enter_zone" => EventKind::EnterZone { point: need(e.point, "point")? },
                    "phone_off" => EventKind::PhoneOff,
                    "leave" => EventKind::Leave {
                        to: need(e.to, "to")?,
                        late: match &e.late {
                            None => Duration::zero(),
                            Some(l) => parse_duration(l).ok_or_else(|| {
                                key_err(ek("late"), format!("{l:?} is not a duration like 90m or 0s"))
                            })?,
                        },
                    },
                    "drift" => EventKind::Drift {
                        toward: e.near_border.map(|t| point(&ek("near_border"), t)).transpose()?,
                        confirm: e.confirm.unwrap_or(false),
                    },
                    other => {
                        return Err(key_err(
                            ek("kind"),
                            format!("{other:?} is not leave_area, enter_zone, phone_off, drift or leave"),
                        ))
                    }
                };
                events.push(EventSpec { at, duration, kind });
            }
            persons.push(ScenarioPerson {
                name: p.name.unwrap_or_else(|| format!("person {}", i + 1)),
                device: p.device,
                carrier_id: p.carrier_id,
                level: p.level,
                space,
                home,
                work,
                seed: p.seed,
                events,
                trace,
            });
        }
        Ok(Scenario {
            osmand_url: raw.osmand_url.unwrap_or_else(|| "http://127.0.0.1:5055".into()),
            speed,
            catch_up,
            live,
            seed: raw.seed.unwrap_or(1),
            movement,
            persons,
        })
    }

    /// The clock for a run starting `now`.
    pub fn warp(&self, now: DateTime<Utc>) -> Warp {
        Warp { sim_start: now - self.catch_up, wall_start: now, speed: self.speed }
    }

    /// Every person's places, movement, events and fixes for a run on `warp` until `end`
    /// (simulated time).
    pub fn build(&self, warp: &Warp, end: DateTime<Utc>) -> Result<Vec<FleetPerson>, ScenarioError> {
        let base = Rng::new(self.seed);
        let mut out = Vec::new();
        for (i, p) in self.persons.iter().enumerate() {
            let rng = base.fork(p.seed.unwrap_or(i as u64 + 1));
            let places = places(&p.space, p.home, p.work, &self.movement, &rng).ok_or_else(|| {
                key_err(format!("person[{i}].area"), "too small to find a home inside it with the margin")
            })?;
            let events: Vec<Event> = p
                .events
                .iter()
                .map(|e| Event { at: e.at.resolve(warp.sim_start), duration: e.duration, kind: e.kind.clone() })
                .collect();
            let home = places.home;
            let fixes = match &p.trace {
                Some(trace) => trace.fixes(warp.sim_start, end),
                None => simulate(&p.space, places, &events, warp.sim_start, end, &self.movement, &rng)
                    .map_err(|source| ScenarioError::Event { key: format!("person[{i}].event"), source })?,
            };
            out.push(FleetPerson {
                name: p.name.clone(),
                device: p.device.clone(),
                carrier_id: p.carrier_id.clone().unwrap_or_else(|| p.device.clone()),
                level: p.level.clone(),
                home,
                fixes,
                events,
            });
        }
        Ok(out)
    }
}

/// Home (given, or random and well inside) and work (given, random within reach, or none).
pub fn places(space: &Space, home: Option<LatLon>, work: Work, opts: &MovementOptions, rng: &Rng) -> Option<Places> {
    let mut r = rng.fork(0x9A);
    let home = match home {
        Some(h) => h,
        None => space
            .random_point(&mut r, (opts.margin_m * 4.0).max(1000.0))
            .or_else(|| space.random_point(&mut r, opts.margin_m))?,
    };
    let work = match work {
        Work::Nowhere => None,
        Work::At(w) => Some(w),
        Work::Random => space.random_reachable(&mut r, home, 8000.0, opts.margin_m),
    };
    Some(Places { home, work })
}
