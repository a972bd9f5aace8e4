//! Fences: a shape, a kind (inclusion or exclusion) and when it is in force.

use chrono::{DateTime, Utc};

use crate::error::FenceError;
use crate::metric::MetresPerDegree;
use crate::schedule::{local_week_second, Validity, WeeklySchedule};
use crate::shape::Shape;
use crate::verdict::{Position, Verdict};

/// Fence identifier (the database key).
pub type FenceId = i64;
/// Person identifier (the database key).
pub type PersonId = i64;

/// Must the person stay inside, or stay out?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FenceKind {
    /// Must stay inside (home county, activity area, a leave's destination).
    Inclusion,
    /// Must stay out (禁止令 places: schools, bars, a victim's home).
    Exclusion,
}

impl FenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FenceKind::Inclusion => "inclusion",
            FenceKind::Exclusion => "exclusion",
        }
    }
}

impl std::fmt::Display for FenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fence kind that is neither `inclusion` nor `exclusion`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither inclusion nor exclusion")]
pub struct UnknownFenceKind(pub String);

impl std::str::FromStr for FenceKind {
    type Err = UnknownFenceKind;
    fn from_str(s: &str) -> Result<Self, UnknownFenceKind> {
        match s {
            "inclusion" => Ok(FenceKind::Inclusion),
            "exclusion" => Ok(FenceKind::Exclusion),
            other => Err(UnknownFenceKind(other.chars().take(32).collect())),
        }
    }
}

/// A fence. Every field is valid by construction of its type, so the fields are public.
#[derive(Debug, Clone)]
pub struct Fence {
    /// Identifier, unique within a [`crate::FenceSet`].
    pub id: FenceId,
    /// Inclusion or exclusion.
    pub kind: FenceKind,
    /// What it covers.
    pub shape: Shape,
    /// Weekly hours in force (Asia/Shanghai); `None` = always.
    pub schedule: Option<WeeklySchedule>,
    /// Period in force; `None` = always.
    pub validity: Option<Validity>,
}

/// A position fix to evaluate: WGS-84 degrees, accuracy radius in metres, time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixPoint {
    /// Longitude, degrees WGS-84.
    pub lon: f64,
    /// Latitude, degrees WGS-84.
    pub lat: f64,
    /// Accuracy radius (metres, ≥ 0). NaN makes every verdict uncertain.
    pub accuracy_m: f64,
    /// When the fix was taken.
    pub at: DateTime<Utc>,
}

/// A fix with what every fence evaluation needs precomputed once (scale, local week second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    pub(crate) a: f64,
    pub(crate) k: MetresPerDegree,
    pub(crate) at: DateTime<Utc>,
    pub(crate) valid: bool,
}

impl Probe {
    /// Precomputes the per-fix values.
    pub fn new(fix: &FixPoint) -> Self {
        let valid = fix.lon.is_finite() && fix.lat.is_finite() && fix.lat.abs() <= 90.0;
        Probe {
            lon: fix.lon,
            lat: fix.lat,
            a: if fix.accuracy_m.is_nan() { f64::NAN } else { fix.accuracy_m.max(0.0) },
            k: MetresPerDegree::at(if valid { fix.lat } else { 0.0 }),
            at: fix.at,
            valid,
        }
    }
}

impl Fence {
    /// A fence in force at all times. Use [`with_schedule`](Self::with_schedule) and
    /// [`with_validity`](Self::with_validity) to restrict it; the shape was validated when built.
    pub fn new(id: FenceId, kind: FenceKind, shape: Shape) -> Self {
        Fence { id, kind, shape, schedule: None, validity: None }
    }

    /// In force only while `schedule` is open.
    pub fn with_schedule(mut self, schedule: WeeklySchedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// In force only within `[from, until)`; fails when `until ≤ from`.
    pub fn with_validity(mut self, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Self, FenceError> {
        self.validity = Some(Validity::new(from, until)?);
        Ok(self)
    }

    /// Whether the fence is in force at `t`.
    pub fn is_active(&self, t: DateTime<Utc>) -> bool {
        self.validity.is_none_or(|v| v.contains(t)) && self.schedule.as_ref().is_none_or(|s| s.is_open(t))
    }

    #[inline]
    pub(crate) fn is_active_probe(&self, p: &Probe) -> bool {
        // The local week second is only computed for scheduled fences (chrono date maths ≈ 20 ns).
        self.validity.is_none_or(|v| v.contains(p.at))
            && self.schedule.as_ref().is_none_or(|s| s.is_open_at(local_week_second(p.at)))
    }

    /// The verdict for a fix, with the exact signed distance (whether or not the fence is in
    /// force; [`crate::FenceSet`] filters by time).
    pub fn verdict(&self, fix: &FixPoint) -> Verdict {
        self.verdict_probe(&Probe::new(fix))
    }

    /// The verdict for a fix without the distance (cheaper).
    pub fn verdict_fast(&self, fix: &FixPoint) -> Verdict {
        self.verdict_fast_probe(&Probe::new(fix))
    }

    #[inline]
    pub(crate) fn verdict_probe(&self, p: &Probe) -> Verdict {
        if !p.valid {
            return self.unusable();
        }
        let (d, inside) = self.shape.signed_distance_m(p.lon, p.lat, &p.k);
        Verdict {
            fence_id: self.id,
            kind: self.kind,
            position: Position::classify(d, p.a),
            point_inside: inside,
            distance_m: Some(d),
        }
    }

    /// [`verdict_probe`](Self::verdict_probe) for a fix whose fast verdict `fast` is known:
    /// the same verdict, without deciding again whether the point is inside (the fast path
    /// decided it by the same rule).
    #[inline]
    pub(crate) fn verdict_probe_after_fast(&self, p: &Probe, fast: &Verdict) -> Verdict {
        if !p.valid {
            return self.unusable();
        }
        let (d, inside) = self.shape.signed_distance_m_knowing_inside(p.lon, p.lat, &p.k, fast.point_inside);
        Verdict {
            fence_id: self.id,
            kind: self.kind,
            position: Position::classify(d, p.a),
            point_inside: inside,
            distance_m: Some(d),
        }
    }

    #[inline]
    pub(crate) fn verdict_fast_probe(&self, p: &Probe) -> Verdict {
        if !p.valid {
            return self.unusable();
        }
        let (position, inside) = self.shape.position_fast(p.lon, p.lat, &p.k, p.a);
        Verdict { fence_id: self.id, kind: self.kind, position, point_inside: inside, distance_m: None }
    }

    fn unusable(&self) -> Verdict {
        Verdict {
            fence_id: self.id,
            kind: self.kind,
            position: Position::Uncertain,
            point_inside: false,
            distance_m: Some(f64::NAN),
        }
    }

    /// Approximate bytes held by the fence (inline plus heap).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Fence>()
            + self.shape.heap_bytes()
            + self
                .schedule
                .as_ref()
                .map_or(0, |s| s.windows().len() * 64 + s.windows().iter().map(|w| w.days.len() * 16).sum::<usize>())
    }
}

#[cfg(test)]
mod kind_tests {
    use super::FenceKind;

    #[test]
    fn kinds_have_one_spelling_and_unknown_ones_are_errors() {
        for k in [FenceKind::Inclusion, FenceKind::Exclusion] {
            assert_eq!(k.to_string().parse::<FenceKind>(), Ok(k));
        }
        assert!("Inclusion".parse::<FenceKind>().is_err());
        assert_eq!("zone".parse::<FenceKind>().unwrap_err().to_string(), "\"zone\" is neither inclusion nor exclusion");
    }
}
