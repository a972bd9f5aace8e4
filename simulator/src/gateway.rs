//! The mock carrier location gateway (运营商基站定位). Where a phone app is not enough, the
//! scheduler asks the carrier where a subscriber's phone is; this service answers such requests
//! for simulated phones from where the simulation has their person at that moment, as a
//! carrier's platform would: cell-level accuracy, no answer while the phone is off, and some
//! requests failing for no reason the caller can see.
//!
//! ```text
//! POST /v1/locate   {"request_id": "42", "device": "<enrolment id>"}
//!   200 {"request_id": "42", "device": "…", "status": "located", "lat": 40.66, "lon": 122.23,
//!        "crs": "wgs84", "accuracy_m": 850.0, "source": "cell", "located_at": "2026-11-23T10:00:00Z"}
//!   200 {"request_id": "42", "device": "…", "status": "failed", "reason": "phone_off" | "no_coverage"}
//!   404 {"error": "device: no subscriber …"}      400 {"error": "<field>: <problem>"}
//! GET  /v1/health   200 {"subscribers": N, "sim_time": "…"}
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::fleet::space::{lerp, offset, Rng};
use crate::fleet::{EventKind, FleetPerson, Warp};
use crate::replay::LatLon;

/// How the carrier behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// Share of requests for a reachable phone that fail anyway (`no_coverage`), 0 to 1.
    pub failure_rate: f64,
    /// Accuracy radius reported, metres: drawn uniformly from this range (cell-level).
    pub accuracy_m: (f64, f64),
    pub seed: u64,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions { failure_rate: 0.05, accuracy_m: (300.0, 1500.0), seed: 1 }
    }
}

/// Options that cannot be used, naming the option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error("failure_rate: {0} is not between 0 and 1")]
    FailureRate(f64),
    #[error("accuracy_m: {0:?} is not a range of positive metres (low ≤ high)")]
    Accuracy((f64, f64)),
}

impl GatewayOptions {
    pub fn validate(&self) -> Result<(), GatewayError> {
        if !(self.failure_rate.is_finite() && (0.0..=1.0).contains(&self.failure_rate)) {
            return Err(GatewayError::FailureRate(self.failure_rate));
        }
        let (lo, hi) = self.accuracy_m;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(GatewayError::Accuracy(self.accuracy_m));
        }
        Ok(())
    }
}

/// One simulated phone as the carrier sees it: where its person truly is over time, and when it
/// is switched off.
#[derive(Debug, Clone)]
pub struct Subscriber {
    truth: Vec<(DateTime<Utc>, LatLon)>,
    off: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Where a subscriber is at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Whereabouts {
    At(LatLon),
    PhoneOff,
}

impl Subscriber {
    pub fn from_fleet(p: &FleetPerson) -> Self {
        Subscriber {
            truth: p.fixes.iter().map(|f| (f.time, f.truth)).collect(),
            off: p.events.iter().filter(|e| matches!(e.kind, EventKind::PhoneOff)).map(|e| (e.at, e.end())).collect(),
        }
    }

    /// Where the person is at `t` (between two fixes, on the straight line; before the first or
    /// after the last, where those were).
    pub fn at(&self, t: DateTime<Utc>) -> Option<Whereabouts> {
        if self.off.iter().any(|(from, to)| *from <= t && t < *to) {
            return Some(Whereabouts::PhoneOff);
        }
        let i = self.truth.partition_point(|(ft, _)| *ft <= t);
        let pos = match (i.checked_sub(1).and_then(|j| self.truth.get(j)), self.truth.get(i)) {
            (Some((ta, a)), Some((tb, b))) => {
                let span = (*tb - *ta).num_milliseconds() as f64;
                lerp(*a, *b, if span > 0.0 { (t - *ta).num_milliseconds() as f64 / span } else { 0.0 })
            }
            (Some((_, a)), None) | (None, Some((_, a))) => *a,
            (None, None) => return None,
        };
        Some(Whereabouts::At(pos))
    }
}

/// The gateway's state: subscribers by carrier id, the simulated clock, the carrier's luck.
pub struct Gateway {
    subscribers: HashMap<String, Subscriber>,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    options: GatewayOptions,
    rng: Mutex<Rng>,
}

impl Gateway {
    /// A gateway for `fleet` on the fleet's warped clock (started at `warp.wall_start`).
    pub fn for_fleet(fleet: &[FleetPerson], warp: Warp, options: GatewayOptions) -> Result<Self, GatewayError> {
        let subscribers = fleet.iter().map(|p| (p.carrier_id.clone(), Subscriber::from_fleet(p))).collect();
        let clock = move || warp.sim_at((Utc::now() - warp.wall_start).to_std().unwrap_or_default());
        Gateway::new(subscribers, Box::new(clock), options)
    }

    pub fn new(
        subscribers: HashMap<String, Subscriber>,
        clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
        options: GatewayOptions,
    ) -> Result<Self, GatewayError> {
        options.validate()?;
        let rng = Mutex::new(Rng::new(options.seed).fork(0xCA77));
        Ok(Gateway { subscribers, clock, options, rng })
    }

    /// Answers one request for `device` now; `None` if there is no such subscriber.
    pub fn locate(&self, device: &str) -> Option<Value> {
        let sub = self.subscribers.get(device)?;
        let now = (self.clock)();
        let mut rng = self.rng.lock().expect("gateway rng poisoned");
        let failed = |reason: &str| json!({"status": "failed", "reason": reason});
        Some(match sub.at(now) {
            None | Some(Whereabouts::PhoneOff) => failed("phone_off"),
            Some(Whereabouts::At(_)) if rng.chance(self.options.failure_rate) => failed("no_coverage"),
            Some(Whereabouts::At(truth)) => {
                let (lo, hi) = self.options.accuracy_m;
                let accuracy = rng.range(lo, hi.max(lo + f64::EPSILON));
                // A cell fix lies somewhere in the cell: the truth stays within the reported radius.
                let (r, bearing) = (0.7 * accuracy * rng.f64().sqrt(), rng.range(0.0, std::f64::consts::TAU));
                let p = offset(truth, r * bearing.sin(), r * bearing.cos());
                json!({
                    "status": "located",
                    "lat": (p.lat * 1e6).round() / 1e6,
                    "lon": (p.lon * 1e6).round() / 1e6,
                    "crs": "wgs84",
                    "accuracy_m": accuracy.round(),
                    "source": "cell",
                    "located_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
            }
        })
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }
}

fn problem(status: StatusCode, message: String) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"error": message})))
}

async fn locate(State(gw): State<Arc<Gateway>>, body: Bytes) -> (StatusCode, Json<Value>) {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return problem(StatusCode::BAD_REQUEST, "body: expected a JSON object".into()),
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("body: not JSON ({e})")),
    };
    let device = match request.get("device") {
        Some(Value::String(d)) if !d.trim().is_empty() => d.clone(),
        Some(_) => {
            return problem(StatusCode::BAD_REQUEST, "device: expected the phone's carrier id as a string".into())
        }
        None => return problem(StatusCode::BAD_REQUEST, "device: missing".into()),
    };
    let request_id = match request.get("request_id") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        Some(_) => return problem(StatusCode::BAD_REQUEST, "request_id: expected a string or a number".into()),
    };
    match gw.locate(&device) {
        None => problem(StatusCode::NOT_FOUND, format!("device: no subscriber {device:?}")),
        Some(mut answer) => {
            answer["request_id"] = request_id;
            answer["device"] = Value::String(device);
            (StatusCode::OK, Json(answer))
        }
    }
}

async fn health(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    Json(json!({"subscribers": gw.subscribers(), "sim_time": (gw.clock)().to_rfc3339()}))
}

/// The HTTP routes.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new().route("/v1/locate", post(locate)).route("/v1/health", get(health)).with_state(gw)
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn start(addr: SocketAddr, gw: Arc<Gateway>) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(gw);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("carrier gateway stopped: {e}");
        }
    });
    Ok((bound, task))
}
