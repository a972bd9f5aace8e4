//! What happens to a phone's fixes between the GPS and the server, for testers to reproduce:
//! position noise with the accuracy a phone would report for it, lost fixes, the phone switched
//! off, and offline periods whose fixes are buffered and uploaded in one burst when the phone is
//! back online (as Traccar Client does with its offline buffer), arriving late.

use chrono::TimeDelta;

use super::frame::LatLon;
use crate::fleet::space::{offset, Rng};

/// A window of the trace, counted from its first timed point (trace time, before any warp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: TimeDelta,
    pub length: TimeDelta,
}

impl Window {
    pub fn contains(&self, t: TimeDelta) -> bool {
        self.from <= t && t < self.from + self.length
    }

    pub fn end(&self) -> TimeDelta {
        self.from + self.length
    }

    /// `OFFSET+LENGTH`, e.g. `30m+2h` (see [`crate::fleet::scenario::parse_duration`]).
    pub fn parse(s: &str) -> Option<Window> {
        let (from, length) = s.split_once('+')?;
        let parse = crate::fleet::scenario::parse_duration;
        let (from, length) = (parse(from.trim())?, parse(length.trim())?);
        (from >= TimeDelta::zero() && length > TimeDelta::zero()).then_some(Window { from, length })
    }
}

/// Multiplies σ (per axis) into the radius holding 95 % of 2-D Gaussian errors.
const RADIUS_95_PER_SIGMA: f64 = 2.448;

/// The conditions of one replay; the default changes nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhoneConditions {
    /// Gaussian position noise, σ metres per axis (0: none). The accuracy sent is at least the
    /// 95 % radius of that noise.
    pub noise_m: f64,
    /// Share of fixes lost (no GPS, app killed), 0 to 1.
    pub dropout: f64,
    /// Windows with the phone off: no fixes at all.
    pub off: Vec<Window>,
    /// Windows without network: fixes are taken, kept, and sent together at the window's end.
    pub offline: Vec<Window>,
    pub seed: u64,
}

/// What the conditions do to one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// Sent: possibly moved by noise, possibly held back until `release` (trace time).
    Sent {
        pos: LatLon,
        accuracy_m: Option<f64>,
        release: Option<TimeDelta>,
    },
    Dropped,
    PhoneOff,
}

impl PhoneConditions {
    /// Whether every value can be used; the error names the option.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.noise_m.is_finite() && (0.0..=10_000.0).contains(&self.noise_m)) {
            return Err(format!("noise_m: {} is not 0 to 10000 metres", self.noise_m));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(format!("dropout: {} is not a share from 0 to below 1", self.dropout));
        }
        Ok(())
    }

    pub fn is_none(&self) -> bool {
        *self == PhoneConditions { seed: self.seed, ..PhoneConditions::default() }
    }

    /// A generator for one replay: the same seed gives the same noise and losses.
    pub fn rng(&self) -> Rng {
        Rng::new(self.seed).fork(0x0F1A)
    }

    /// The fate of a point `at` into the trace, at `pos` with the accuracy it would report.
    pub fn apply(&self, rng: &mut Rng, at: TimeDelta, pos: LatLon, accuracy_m: Option<f64>) -> Fate {
        if self.off.iter().any(|w| w.contains(at)) {
            return Fate::PhoneOff;
        }
        if self.dropout > 0.0 && rng.chance(self.dropout) {
            return Fate::Dropped;
        }
        let (pos, accuracy_m) = if self.noise_m > 0.0 {
            let (east, north) = (self.noise_m * rng.normal(), self.noise_m * rng.normal());
            let radius = ((RADIUS_95_PER_SIGMA * self.noise_m) * 10.0).round() / 10.0;
            (offset(pos, east, north), Some(accuracy_m.map_or(radius, |a| a.max(radius))))
        } else {
            (pos, accuracy_m)
        };
        let release = self.offline.iter().find(|w| w.contains(at)).map(Window::end);
        Fate::Sent { pos, accuracy_m, release }
    }
}
