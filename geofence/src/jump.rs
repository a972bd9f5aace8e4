//! Implausible jumps: a fix whose implied speed from the previous accepted fix exceeds what a
//! person can do (a mock-location app, a cell-tower fix far off). Such a fix never opens a
//! breach alarm by itself (DESIGN.md "Verdicts").

use chrono::{DateTime, Utc};

use crate::metric::distance_m;

/// A timed position: WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedPosition {
    /// When.
    pub at: DateTime<Utc>,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
}

/// The result of a jump check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jump {
    /// The implied speed is within the limit.
    Plausible {
        /// Implied speed, m/s.
        speed_mps: f64,
    },
    /// The implied speed exceeds the limit (or the fixes share a timestamp but not a place).
    Implausible {
        /// Implied speed, m/s (infinite for a zero or negative time step).
        speed_mps: f64,
        /// Geodesic distance between the fixes, metres.
        distance_m: f64,
    },
}

impl Jump {
    /// Whether the jump is implausible.
    pub fn is_implausible(&self) -> bool {
        matches!(self, Jump::Implausible { .. })
    }
}

/// Checks the speed implied by moving from `prev` to `cur`: geodesic distance over elapsed
/// time against `limit_mps`. A zero or negative time step with any movement above 1 mm is
/// implausible (infinite speed); no movement is plausible. Non-finite positions are
/// implausible.
///
/// # Units
/// Positions in degrees; `limit_mps` in metres per second.
pub fn check_jump(prev: &TimedPosition, cur: &TimedPosition, limit_mps: f64) -> Jump {
    let d = distance_m((prev.lon, prev.lat), (cur.lon, cur.lat));
    if !d.is_finite() {
        return Jump::Implausible { speed_mps: f64::INFINITY, distance_m: d };
    }
    let dt = (cur.at - prev.at).num_milliseconds() as f64 / 1000.0;
    let speed = if dt > 0.0 {
        d / dt
    } else if d <= 1e-3 {
        0.0
    } else {
        f64::INFINITY
    };
    if speed > limit_mps {
        Jump::Implausible { speed_mps: speed, distance_m: d }
    } else {
        Jump::Plausible { speed_mps: speed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tp(s: i64, lon: f64, lat: f64) -> TimedPosition {
        TimedPosition { at: Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap(), lon, lat }
    }

    #[test]
    fn car_speed_is_plausible_and_teleport_is_not() {
        // ~1.11 km north in 60 s = 18.5 m/s.
        let j = check_jump(&tp(0, 122.2, 40.6), &tp(60, 122.2, 40.61), 70.0);
        match j {
            Jump::Plausible { speed_mps } => assert!((speed_mps - 18.5).abs() < 0.2, "{speed_mps}"),
            _ => panic!("{j:?}"),
        }
        // Yingkou to Beijing in 10 minutes.
        assert!(check_jump(&tp(0, 122.2, 40.6), &tp(600, 116.4, 39.9), 70.0).is_implausible());
        assert!(check_jump(&tp(0, 122.2, 40.6), &tp(0, 122.21, 40.6), 70.0).is_implausible());
        assert!(!check_jump(&tp(0, 122.2, 40.6), &tp(0, 122.2, 40.6), 70.0).is_implausible());
        assert!(check_jump(&tp(0, 122.2, 40.6), &tp(5, f64::NAN, 40.6), 70.0).is_implausible());
    }
}
