//! Verdicts: where a fix stands relative to a fence, given its accuracy, and what that means.
//!
//! Rule (DESIGN.md "Verdicts"): with accuracy radius `a` and signed distance `d` to the fence
//! boundary (metres, positive inside the fence area): `d ≥ a` → inside, `d ≤ −a` → outside,
//! otherwise uncertain. The geometry test is the same for inclusion and exclusion fences; only
//! the meaning is mirrored — see [`Verdict::compliance`].

use crate::fence::{FenceId, FenceKind};

/// Where the fix's accuracy disc lies relative to the fence area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The whole accuracy disc is in the fence area (`d ≥ a`).
    Inside,
    /// The whole accuracy disc is outside the fence area (`d ≤ −a`).
    Outside,
    /// The disc straddles the boundary (`|d| < a`), or the fix has no usable position.
    Uncertain,
}

impl Position {
    pub fn as_str(self) -> &'static str {
        match self {
            Position::Inside => "inside",
            Position::Outside => "outside",
            Position::Uncertain => "uncertain",
        }
    }
}

impl Position {
    /// The rule: `d ≥ a` inside, `d ≤ −a` outside, otherwise (including NaN) uncertain.
    ///
    /// # Units
    /// `d` and `a` in metres.
    #[inline]
    pub fn classify(d: f64, a: f64) -> Position {
        if d >= a {
            Position::Inside
        } else if d <= -a {
            Position::Outside
        } else {
            Position::Uncertain
        }
    }
}

/// What a verdict means for supervision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compliance {
    /// Definitely where the person must be (inside an inclusion fence, outside an exclusion).
    Compliant,
    /// Definitely a breach (outside an inclusion fence, inside an exclusion fence).
    Breach,
    /// Cannot tell: ask for another fix before alarming.
    Unknown,
}

/// The verdict of one fence for one fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The fence.
    pub fence_id: FenceId,
    /// Inclusion or exclusion (decides what [`position`](Self::position) means).
    pub kind: FenceKind,
    /// Geometry: where the accuracy disc lies relative to the fence area.
    pub position: Position,
    /// Whether the reported point itself is in the fence area (ray-crossing rule; for a point
    /// exactly on the boundary either value may appear, and its distance is 0).
    pub point_inside: bool,
    /// Signed distance to the boundary in metres, positive inside the fence area; `None` from
    /// the fast path that does not compute it.
    pub distance_m: Option<f64>,
}

impl Verdict {
    /// Breach, compliant or unknown, mirroring the position for exclusion fences.
    #[inline]
    pub fn compliance(&self) -> Compliance {
        match (self.kind, self.position) {
            (_, Position::Uncertain) => Compliance::Unknown,
            (FenceKind::Inclusion, Position::Inside) | (FenceKind::Exclusion, Position::Outside) => {
                Compliance::Compliant
            }
            (FenceKind::Inclusion, Position::Outside) | (FenceKind::Exclusion, Position::Inside) => Compliance::Breach,
        }
    }

    /// Whether this verdict is a definite breach (never true for uncertain fixes).
    #[inline]
    pub fn breach(&self) -> bool {
        self.compliance() == Compliance::Breach
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_boundaries() {
        assert_eq!(Position::classify(10.0, 10.0), Position::Inside);
        assert_eq!(Position::classify(9.99, 10.0), Position::Uncertain);
        assert_eq!(Position::classify(-10.0, 10.0), Position::Outside);
        assert_eq!(Position::classify(-9.99, 10.0), Position::Uncertain);
        assert_eq!(Position::classify(0.0, 0.0), Position::Inside);
        assert_eq!(Position::classify(f64::NAN, 5.0), Position::Uncertain);
        assert_eq!(Position::classify(100.0, f64::NAN), Position::Uncertain);
    }

    #[test]
    fn exclusion_mirrors_meaning() {
        let v = |kind, position| Verdict { fence_id: 1, kind, position, point_inside: false, distance_m: None };
        assert!(v(FenceKind::Inclusion, Position::Outside).breach());
        assert!(!v(FenceKind::Inclusion, Position::Inside).breach());
        assert!(v(FenceKind::Exclusion, Position::Inside).breach());
        assert_eq!(v(FenceKind::Exclusion, Position::Outside).compliance(), Compliance::Compliant);
        assert_eq!(v(FenceKind::Exclusion, Position::Uncertain).compliance(), Compliance::Unknown);
        assert!(!v(FenceKind::Exclusion, Position::Uncertain).breach());
    }
}
