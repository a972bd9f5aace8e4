//! Planar primitives in a local metric frame (metres): exact orientation, segment distances.

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::Coord;

/// Asks the CPU to start loading the cache line holding `*ptr` (no effect on other targets).
/// The batch evaluator uses it to overlap the cache misses of several fixes: a fix touches a
/// handful of lines scattered over a gigabyte of fences, and waiting for each in turn is what
/// limits throughput, not arithmetic.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(ptr as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Prefetches every cache line of `*r`.
#[inline(always)]
pub(crate) fn prefetch_all<T>(r: &T) {
    let p = r as *const T as *const u8;
    let mut off = 0;
    while off < std::mem::size_of::<T>() {
        prefetch(p.wrapping_add(off));
        off += 64;
    }
}

/// A slice as (start, bytes).
pub(crate) fn span<T>(s: &[T]) -> (*const u8, usize) {
    (s.as_ptr() as *const u8, std::mem::size_of_val(s))
}

/// A point in a local frame, metres `[east, north]`.
pub(crate) type Xy = [f64; 2];

/// Sign of the orientation of `c` relative to the directed line `a → b`: `1` if `c` is to the
/// left (counter-clockwise), `-1` to the right, `0` exactly collinear. Exact (Shewchuk's
/// adaptive predicate behind a cheap floating-point filter), so that ray-crossing parity is
/// consistent for points on vertices and edges.
#[inline]
pub(crate) fn orient(a: Xy, b: Xy, c: Xy) -> i8 {
    let l = (a[0] - c[0]) * (b[1] - c[1]);
    let r = (a[1] - c[1]) * (b[0] - c[0]);
    let det = l - r;
    // Shewchuk's ccwerrboundA: beyond this bound the sign of the rounded determinant is exact.
    let bound = 3.330_669_073_875_472e-16 * (l.abs() + r.abs());
    if det > bound {
        1
    } else if -det > bound {
        -1
    } else {
        let c2 = |p: Xy| Coord { x: p[0], y: p[1] };
        match RobustKernel::orient2d(c2(a), c2(b), c2(c)) {
            Orientation::CounterClockwise => 1,
            Orientation::Clockwise => -1,
            Orientation::Collinear => 0,
        }
    }
}

/// Squared distance from `p` to segment `a–b` after scaling frame metres by `s = [sx, sy]`
/// (see [`crate::metric::LocalFrame::scale_at`]).
///
/// # Units
/// Frame metres in; true square metres out.
#[inline]
pub(crate) fn seg_dist2(p: Xy, a: Xy, b: Xy, s: [f64; 2]) -> f64 {
    // Relative to p first: keeps the subtraction exact-ish for far-from-origin frames.
    let ax = (a[0] - p[0]) * s[0];
    let ay = (a[1] - p[1]) * s[1];
    let ex = (b[0] - a[0]) * s[0];
    let ey = (b[1] - a[1]) * s[1];
    let len2 = ex * ex + ey * ey;
    let t = if len2 > 0.0 { (-(ax * ex + ay * ey) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let dx = ax + t * ex;
    let dy = ay + t * ey;
    dx * dx + dy * dy
}

/// An axis-aligned rectangle in a local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub min: Xy,
    pub max: Xy,
}

impl Rect {
    pub(crate) fn empty() -> Self {
        Rect { min: [f64::INFINITY; 2], max: [f64::NEG_INFINITY; 2] }
    }
    pub(crate) fn add(&mut self, p: Xy) {
        self.min = [self.min[0].min(p[0]), self.min[1].min(p[1])];
        self.max = [self.max[0].max(p[0]), self.max[1].max(p[1])];
    }
    pub(crate) fn contains(&self, p: Xy) -> bool {
        p[0] >= self.min[0] && p[0] <= self.max[0] && p[1] >= self.min[1] && p[1] <= self.max[1]
    }
    /// Scaled distance from `p` to the rectangle (0 inside).
    #[inline]
    pub(crate) fn dist(&self, p: Xy, s: [f64; 2]) -> f64 {
        let dx = (self.min[0] - p[0]).max(p[0] - self.max[0]).max(0.0) * s[0];
        let dy = (self.min[1] - p[1]).max(p[1] - self.max[1]).max(0.0) * s[1];
        // Not f64::hypot: libm's overflow-safe hypot costs ~20 ns, and metres never overflow.
        (dx * dx + dy * dy).sqrt()
    }
    fn corners(&self) -> [Xy; 4] {
        [self.min, [self.max[0], self.min[1]], self.max, [self.min[0], self.max[1]]]
    }
    /// Whether segment `a–b` meets the closed rectangle (floating point; callers expand the
    /// rectangle by a margin so that the test is conservative).
    pub(crate) fn meets_segment(&self, a: Xy, b: Xy) -> bool {
        if self.contains(a) || self.contains(b) {
            return true;
        }
        let lo = [a[0].min(b[0]), a[1].min(b[1])];
        let hi = [a[0].max(b[0]), a[1].max(b[1])];
        if hi[0] < self.min[0] || lo[0] > self.max[0] || hi[1] < self.min[1] || lo[1] > self.max[1] {
            return false;
        }
        // The segment's line must separate (or touch) the corners.
        let side = |c: Xy| (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        let sides = self.corners().map(side);
        let pos = sides.iter().any(|&v| v >= 0.0);
        let neg = sides.iter().any(|&v| v <= 0.0);
        pos && neg
    }
    /// Unscaled distance from segment `a–b` to the rectangle (0 if they meet).
    pub(crate) fn seg_dist(&self, a: Xy, b: Xy) -> f64 {
        if self.meets_segment(a, b) {
            return 0.0;
        }
        let one = [1.0, 1.0];
        let mut d = self.dist(a, one).min(self.dist(b, one));
        for c in self.corners() {
            d = d.min(seg_dist2(c, a, b, one).sqrt());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_is_exact_on_collinear_points() {
        assert_eq!(orient([0.0, 0.0], [1.0, 1.0], [0.5, 0.5]), 0);
        assert_eq!(orient([0.0, 0.0], [1.0, 0.0], [0.5, 1e-300]), 1);
        assert_eq!(orient([0.0, 0.0], [1.0, 0.0], [0.5, -1e-300]), -1);
        // Classic near-degenerate case that a naive determinant gets wrong.
        let a = [0.5, 0.5];
        let b = [12.0, 12.0];
        let c = [24.0, 24.0];
        assert_eq!(orient(a, b, c), 0);
        let c = [24.000_000_000_000_004, 24.0];
        assert_eq!(orient(a, b, c), -1);
    }

    #[test]
    fn segment_distance() {
        let s = [1.0, 1.0];
        assert_eq!(seg_dist2([0.0, 1.0], [-1.0, 0.0], [1.0, 0.0], s), 1.0);
        assert_eq!(seg_dist2([3.0, 4.0], [0.0, 0.0], [0.0, 0.0], s), 25.0);
        assert_eq!(seg_dist2([5.0, 0.0], [-1.0, 0.0], [1.0, 0.0], s), 16.0);
        assert_eq!(seg_dist2([0.0, 1.0], [-1.0, 0.0], [1.0, 0.0], [1.0, 2.0]), 4.0);
    }

    #[test]
    fn rect_segment_distance() {
        let r = Rect { min: [0.0, 0.0], max: [1.0, 1.0] };
        assert_eq!(r.seg_dist([2.0, -5.0], [2.0, 5.0]), 1.0);
        assert_eq!(r.seg_dist([-1.0, 0.5], [2.0, 0.5]), 0.0);
        assert!((r.seg_dist([3.0, 2.0], [2.0, 3.0]) - 1.5 * 2f64.sqrt()).abs() < 1e-12);
    }
}
