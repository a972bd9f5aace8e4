//! The demo's simulated fleet: every demo phone reports generated movement inside its county
//! through the OsmAnd listener; a few persons follow a script so that alarms appear within a
//! minute. Alarms and confirmation requests are logged as they appear.

use std::collections::HashMap;

use anyhow::bail;
use tracker::demo;

/// The demo's simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetOptions {
    pub enabled: bool,
    /// Time warp while catching up.
    pub speed: f64,
}

impl FleetOptions {
    pub fn from_args(a: &crate::cli::DemoArgs) -> anyhow::Result<Self> {
        if !(a.fleet_speed.is_finite() && (2.0..=100_000.0).contains(&a.fleet_speed)) {
            bail!("--fleet-speed: {} is not a factor from 2 to 100000", a.fleet_speed);
        }
        Ok(FleetOptions { enabled: !a.no_fleet, speed: a.fleet_speed })
    }
}

/// How far back the fleet's simulated clock starts: six hours of movement replayed in a minute.
const CATCH_UP_HOURS: i64 = 6;
/// After catching up, the fleet goes on in real time this long.
const LIVE_HOURS: i64 = 24;

/// Starts the demo's fleet and an alarm log in the background: every demo phone reports
/// generated movement inside its county; five persons follow a script (one leaves the county,
/// one enters the 禁止令 zone, one drifts near the county border, one switches the phone off,
/// one comes back an hour late from a granted leave).
/// Both stop when `stopped` turns true.
/// The fleet's carrier gateway is started in-process and handed to `gateway`; `caught_up` turns
/// true when the fleet's clock has caught up with the real one.
pub fn start_fleet(
    pool: &sqlx::PgPool,
    phones: &[demo::DemoPhone],
    osmand: std::net::SocketAddr,
    opts: FleetOptions,
    gateway: std::sync::Arc<scheduler::gateway::LateGateway>,
    caught_up: tokio::sync::watch::Sender<bool>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (pool, phones) = (pool.clone(), phones.to_vec());
    tokio::spawn(async move {
        let names: HashMap<i64, String> =
            phones.iter().map(|p| (p.person_id, format!("{}（{}，{}）", p.name, p.county, p.level))).collect();
        let watcher = watch_alarms(pool.clone(), names, stopped.clone());
        let fleet = async {
            match fleet(&pool, &phones, osmand, opts, gateway, caught_up, stopped.clone()).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "the demo fleet could not run"),
            }
        };
        tokio::join!(watcher, fleet);
    })
}

async fn until(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// A person's fences as the fleet needs them: the county area and any 禁止令 places.
async fn person_space(pool: &sqlx::PgPool, person: i64) -> anyhow::Result<Option<simulator::fleet::Space>> {
    let (mut allowed, mut avoid) = (None, Vec::new());
    for (kind, shape) in tracker::fence::person_shapes(pool, person).await? {
        match kind {
            // The demo gives each person one inclusion area (their county); a second would only
            // widen it, so the first is a safe place to stay in.
            geofence::FenceKind::Inclusion if allowed.is_none() => allowed = Some(shape),
            geofence::FenceKind::Exclusion => avoid.push(shape),
            _ => {}
        }
    }
    Ok(allowed.map(|a| simulator::fleet::Space::new(a, avoid)))
}

/// What one demo person is scripted to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    Compliant,
    Leave,
    EnterZone,
    Drift,
    PhoneOff,
    LateFromLeave,
}

async fn fleet(
    pool: &sqlx::PgPool,
    phones: &[demo::DemoPhone],
    osmand: std::net::SocketAddr,
    opts: FleetOptions,
    gateway: std::sync::Arc<scheduler::gateway::LateGateway>,
    caught_up: tokio::sync::watch::Sender<bool>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use chrono::{Duration, Utc};
    use simulator::fleet::scenario::{At, EventSpec, ScenarioPerson, Work};
    use simulator::fleet::space::{dist, signed};
    use simulator::fleet::{EventKind, MovementOptions, Rng, RunOptions, Scenario, Warp};

    if phones.is_empty() {
        bail!("no demo phones (demo-phones.json is missing from the data directory)");
    }
    // Fixes older than a person's newest one are kept as evidence but never move alarms: a
    // restarted demo continues after what its phones last reported.
    let ids: Vec<i64> = phones.iter().map(|p| p.person_id).collect();
    let last = tracker::person::newest_fix_at(pool, &ids).await?;
    let now = Utc::now();
    let sim_start = match last {
        Some(t) if t + Duration::seconds(1) > now - Duration::hours(CATCH_UP_HOURS) => {
            tracing::warn!(
                last_fix = %t,
                "the demo phones already reported until {t}: the fleet continues from there with the scripted \
                 events at once; alarms opened before stay open until staff close them, so a repeated breach \
                 adds evidence to them rather than a new alarm"
            );
            (t + Duration::seconds(1)).min(now)
        }
        _ => now - Duration::hours(CATCH_UP_HOURS),
    };
    // A restarted demo has less than six hours to catch up: its scripted events begin a minute
    // in, so that short ones still play out at the warp speed rather than in real time.
    let catch_up = now - sim_start;
    let restarted = catch_up < Duration::hours(CATCH_UP_HOURS) - Duration::minutes(1);
    let at_minute = |minutes: i64| if restarted { minutes.min(1) } else { minutes };
    // Scripted roles by county (phones come county by county: 宽管, 普管, 严管).
    let mut by_county: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, p) in phones.iter().enumerate() {
        match by_county.iter_mut().find(|(c, _)| *c == p.county) {
            Some((_, v)) => v.push(i),
            None => by_county.push((p.county.clone(), vec![i])),
        }
    }
    let pick =
        |county: usize, slot: usize| by_county.get(county % by_county.len()).and_then(|(_, v)| v.get(slot)).copied();
    let mut scripts = vec![Script::Compliant; phones.len()];
    for (county, slot, s) in [
        (0, 0, Script::Leave),
        (1, 2, Script::EnterZone),
        (2, 1, Script::Drift),
        (3, 0, Script::PhoneOff),
        (4, 1, Script::LateFromLeave),
    ] {
        if let Some(i) = pick(county, slot) {
            if scripts[i] == Script::Compliant {
                scripts[i] = s;
            }
        }
    }
    let movement = MovementOptions::default();
    let url = {
        let mut a = osmand;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}")
    };
    let warp = Warp { sim_start, wall_start: now, speed: opts.speed };
    let end = now + Duration::hours(LIVE_HOURS);
    let mut fleet = Vec::new();
    for (p, script) in phones.iter().zip(&scripts) {
        let Some(space) = person_space(pool, p.person_id).await? else {
            tracing::warn!(person = p.person_id, "no inclusion fence: left out of the fleet");
            continue;
        };
        let mut rng = Rng::new(p.person_id as u64);
        let zone = space.avoid.first().map(|z| {
            let [x0, y0, x1, y1] = z.bbox_lonlat();
            simulator::replay::LatLon::new((y0 + y1) / 2.0, (x0 + x1) / 2.0)
        });
        // Home well inside the county (and, for the person who enters the zone, with a straight
        // way there that stays inside the county).
        let mut home = space.random_point(&mut rng, 1000.0).or_else(|| space.random_point(&mut rng, 400.0));
        if let (Script::EnterZone, Some(z)) = (script, zone) {
            home = (0..300)
                .filter_map(|_| space.random_point(&mut rng, 600.0))
                .find(|h| dist(*h, z) > 1500.0 && space.segment_min(*h, z, |q| signed(&space.allowed, q)) >= 150.0)
                .or(home);
        }
        let Some(home) = home else {
            tracing::warn!(person = p.person_id, "county too small for a home: left out of the fleet");
            continue;
        };
        let event = |minutes: i64, hours_long: f64, kind| EventSpec {
            at: At::Offset(Duration::minutes(at_minute(minutes))),
            duration: Duration::minutes((hours_long * 60.0) as i64),
            kind,
        };
        let events = match script {
            Script::Compliant => vec![],
            Script::Leave => match space.nearest_outside(home, 1500.0, 400.0) {
                Some(to) => vec![event(40, 3.0, EventKind::LeaveArea { to })],
                None => vec![],
            },
            Script::EnterZone => {
                zone.map(|point| vec![event(30, 2.0, EventKind::EnterZone { point })]).unwrap_or_default()
            }
            Script::Drift => vec![event(20, 1.5, EventKind::Drift { toward: None, confirm: false })],
            // Off for good: after the catch-up the scheduler finds it unreachable (定位失败), then
            // silent for two intervals (失联).
            Script::PhoneOff => vec![event(15, 48.0, EventKind::PhoneOff)],
            // A 2.5-hour leave to a place a few kilometres outside the county, home an hour late.
            // (Only when the catch-up can hold it: in real time it would take hours.)
            Script::LateFromLeave if catch_up < Duration::hours(4) => {
                tracing::info!(person = p.person_id, "the catch-up is too short for the scripted leave: skipped");
                vec![]
            }
            Script::LateFromLeave => match space.nearest_outside(home, 4000.0, 400.0) {
                Some(to) => vec![event(60, 2.5, EventKind::Leave { to, late: Duration::hours(1) })],
                None => vec![],
            },
        };
        let person = |events| ScenarioPerson {
            name: names_of(p),
            device: p.enrolment_id.clone(),
            carrier_id: Some(p.device_id.to_string()),
            level: Some(p.level.clone()),
            space: space.clone(),
            home: Some(home),
            work: Work::Random,
            seed: Some(p.person_id as u64),
            events,
            trace: None,
        };
        let scenario = |events| Scenario {
            osmand_url: url.clone(),
            speed: opts.speed,
            catch_up: now - sim_start,
            live: Duration::hours(LIVE_HOURS),
            seed: 2026,
            movement: movement.clone(),
            persons: vec![person(events)],
        };
        let built = match scenario(events.clone()).build(&warp, end) {
            Ok(b) => match grant_leaves(pool, p.person_id, &b).await {
                Ok(()) => b,
                Err(e) => {
                    tracing::warn!(person = p.person_id, error = %format!("{e:#}"), "leave not granted; the person stays compliant");
                    scenario(vec![]).build(&warp, end)?
                }
            },
            Err(e) => {
                tracing::warn!(person = p.person_id, error = %e, "scripted event dropped; the person stays compliant");
                scenario(vec![]).build(&warp, end)?
            }
        };
        fleet.extend(built);
    }
    let compliant: Vec<&str> =
        phones.iter().zip(&scripts).filter(|(_, s)| **s == Script::Compliant).map(|(p, _)| p.name.as_str()).collect();
    tracing::info!(
        persons = fleet.len(),
        speed = opts.speed,
        from = %sim_start,
        catch_up_s = warp.catch_up().as_secs(),
        compliant = compliant.len(),
        "demo fleet: generated movement inside each county, scripted events logged as they happen"
    );
    let run_warp = Warp { wall_start: Utc::now(), ..warp };
    // No failures by chance: at the demo's short intervals they would bury the scripted ones.
    let options = simulator::gateway::GatewayOptions { failure_rate: 0.0, ..Default::default() };
    let carrier = simulator::gateway::Gateway::for_fleet(&fleet, run_warp, options)?;
    let (carrier_addr, _carrier) =
        simulator::gateway::start("127.0.0.1:0".parse()?, std::sync::Arc::new(carrier)).await?;
    gateway.set(std::sync::Arc::new(scheduler::gateway::HttpGateway::new(scheduler::config::GatewayConfig {
        url: format!("http://{carrier_addr}"),
        token: None,
    })));
    tracing::info!(%carrier_addr, "demo carrier location gateway (运营商基站定位) for the fleet's phones");
    if run_warp.catch_up().is_zero() {
        let _ = caught_up.send(true);
    }
    let notes = std::sync::Arc::new(move |n: simulator::fleet::Note| match n {
        simulator::fleet::Note::Event { person, event, at, until, expect } => tracing::info!(
            %person, event, sim_time = %at, until = %until, expect = expect.unwrap_or("no alarm"),
            "scripted event"
        ),
        simulator::fleet::Note::CaughtUp => {
            tracing::info!("demo fleet caught up with the real clock; now ×1: the scheduler starts");
            let _ = caught_up.send(true);
        }
        simulator::fleet::Note::Done(s) => {
            if s.rejected > 0 || s.stopped.is_some() {
                tracing::warn!(person = %s.name, accepted = s.accepted, rejected = s.rejected,
                    errors = ?s.errors_by_field, stopped = ?s.stopped, "demo phone finished with refusals");
            }
        }
    });
    let run = RunOptions { osmand_url: url, warp: run_warp, retry: Default::default(), counters: None };
    let summary = simulator::fleet::run_fleet(fleet, run, notes, until(stopped)).await?;
    let (sent, accepted, rejected) =
        summary.persons.iter().fold((0, 0, 0), |(s, a, r), p| (s + p.sent, a + p.accepted, r + p.rejected));
    tracing::info!(sent, accepted, rejected, interrupted = summary.interrupted, "demo fleet stopped");
    Ok(())
}

/// Grants the scripted leaves of `built` as the city bureau's demo account: a 2 km circle at the
/// destination and a 1 km corridor from home, for the leave's window.
async fn grant_leaves(pool: &sqlx::PgPool, person: i64, built: &[simulator::fleet::FleetPerson]) -> anyhow::Result<()> {
    for l in built.iter().flat_map(|b| b.leaves_to_grant()) {
        let (d, h) = (l.destination, l.home);
        let granted = tracker::leave::grant(
            pool,
            &tracker::leave::LeaveRequest {
                person_id: person,
                reason: "探亲（演示）".into(),
                destination: serde_json::json!({"type": "Feature", "properties": {"radius_m": 2000.0},
                    "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]}}),
                route: Some(serde_json::json!({"type": "LineString", "coordinates": [[h.lon, h.lat], [d.lon, d.lat]]})),
                route_half_width_m: Some(1000.0),
                crs: geofence::crs::Crs::Wgs84,
                starts_at: l.from,
                ends_at: l.until,
            },
            "city.admin",
        )
        .await?;
        tracing::info!(person, leave = granted.id, from = %l.from, until = %l.until, "demo leave granted");
    }
    Ok(())
}

fn names_of(p: &demo::DemoPhone) -> String {
    format!("{}（{}）", p.name, p.county)
}

/// Logs the alarm feed as it happens (the demo process has the database; staff would watch the
/// console): every alarm opened, and the first confirmation request of each person (a drifting
/// phone asks for many; the rest are at debug level).
async fn watch_alarms(pool: sqlx::PgPool, names: HashMap<i64, String>, stopped: tokio::sync::watch::Receiver<bool>) {
    use tracker::alarm::feed::{head, AlarmFeed};
    let start = match head(&pool).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "alarm feed: cannot start");
            return;
        }
    };
    let open = tracker::track::alarms(&pool, None, Some("open")).await.map(|a| a.len()).unwrap_or(0);
    if open > 0 {
        tracing::info!(open, "alarms still open from an earlier run (`cctrack alarms` lists them)");
    }
    let mut feed = AlarmFeed::new(pool, start);
    let mut asked: std::collections::HashSet<i64> = Default::default();
    let stop = until(stopped);
    tokio::pin!(stop);
    loop {
        let e = tokio::select! {
            _ = &mut stop => return,
            e = feed.next() => e,
        };
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(error = %err, "alarm feed: reconnecting");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        let name = names.get(&e.person_id).map(String::as_str).unwrap_or("?");
        match e.kind.as_str() {
            "opened" => tracing::info!(alarm = e.alarm_id, person = e.person_id, %name, kind = %e.alarm_kind,
                fence = ?e.fence_id, cause_fixed_at = ?e.fixed_at, position = e.position, "ALARM"),
            "confirmation_requested" if asked.insert(e.person_id) => tracing::info!(person = e.person_id, %name,
                kind = %e.alarm_kind, "doubtful fix (uncertain or implausible): confirmation requested; only a second \
                 non-compliant fix opens an alarm (more requests of this person at debug level)"),
            kind => {
                tracing::debug!(alarm = e.alarm_id, person = e.person_id, %name, %kind, position = e.position, "alarm event")
            }
        }
    }
}
