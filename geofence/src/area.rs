//! Prepared areas: validated polygons/multipolygons with holes, stored in a local metric frame
//! with an edge grid, so that point-in-polygon and distance cost a few edges whatever the
//! vertex count.
//!
//! # Memory
//! Per area: ~200 B of fixed fields and boxed-slice headers. Per vertex: 16 B of coordinates
//! (f64 frame metres; f32 would lose millimetres at district scale and the PostGIS conformance
//! test wants sub-micrometre agreement on inside/outside), plus the grid's ~30 B per edge
//! (see [`crate::grid`]). The lon/lat input is not kept: [`PreparedArea::to_multipolygon`]
//! rebuilds it from the frame (round trip < 1e-12°). [`PreparedArea::heap_bytes`] reports the
//! exact figure.

use geo::{Coord, LineString, MultiPolygon, Polygon};

use crate::error::GeometryError;
use crate::grid::{EdgeGrid, GridError};
use crate::metric::{LocalFrame, MetresPerDegree};
use crate::planar::{orient, seg_dist2, span, Rect, Xy};

/// Ring bookkeeping: vertices `start..end` of the coordinate array (closed: last = first).
#[derive(Debug, Clone, Copy)]
struct Ring {
    start: u32,
    end: u32,
    polygon: u32,
    exterior: bool,
}

/// A validated (multi)polygon prepared for fast point queries.
#[derive(Debug, Clone)]
pub struct PreparedArea {
    frame: LocalFrame,
    bbox: Rect,
    grid: EdgeGrid,
    xy: Box<[Xy]>,
    rings: Box<[Ring]>,
}

pub(crate) fn path(p: usize, r: usize, v: Option<usize>) -> String {
    match v {
        Some(v) => format!("coordinates[{p}][{r}][{v}]"),
        None => format!("coordinates[{p}][{r}]"),
    }
}

/// Checks positions of one ring or line: finite, in range. `at(v)` names position `v`.
pub(crate) fn check_positions(cs: &[Coord<f64>], at: impl Fn(usize) -> String) -> Result<(), GeometryError> {
    for (v, c) in cs.iter().enumerate() {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(GeometryError::NonFinite { at: at(v) });
        }
        if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
            return Err(GeometryError::OutOfRange { at: at(v), lon: c.x, lat: c.y });
        }
    }
    Ok(())
}

/// Positions without consecutive repeats (common in real boundary data and harmless).
pub(crate) fn dedup(cs: &[Coord<f64>]) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(cs.len());
    for &c in cs {
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

impl PreparedArea {
    /// Validates `area` and prepares it.
    ///
    /// Accepts either ring orientation. Rejects: no polygon, NaN/infinite or out-of-range
    /// positions, unclosed rings, rings with fewer than 3 distinct positions, crossing or
    /// overlapping edges anywhere and a ring touching itself, holes outside their exterior (or
    /// inside another hole), polygons inside one another. Different rings may touch at single
    /// points. Consecutive repeated positions are dropped.
    pub fn new(area: &MultiPolygon<f64>) -> Result<Self, GeometryError> {
        if area.0.is_empty() {
            return Err(GeometryError::Empty { at: "coordinates".into() });
        }
        // 1. Positions and rings, in lon/lat.
        let mut lonlat_rings: Vec<(usize, usize, Vec<Coord<f64>>)> = Vec::new();
        for (pi, poly) in area.0.iter().enumerate() {
            let rings = std::iter::once(poly.exterior()).chain(poly.interiors());
            for (ri, ring) in rings.enumerate() {
                let cs = &ring.0;
                check_positions(cs, |v| path(pi, ri, Some(v)))?;
                if cs.is_empty() {
                    return Err(GeometryError::TooFewPoints { at: path(pi, ri, None), found: 0, needed: 3 });
                }
                if cs.first() != cs.last() {
                    return Err(GeometryError::UnclosedRing {
                        at: path(pi, ri, None),
                        first: [cs[0].x, cs[0].y],
                        last: [cs[cs.len() - 1].x, cs[cs.len() - 1].y],
                    });
                }
                let d = dedup(cs);
                if d.len() < 4 {
                    return Err(GeometryError::TooFewPoints {
                        at: path(pi, ri, None),
                        found: d.len().saturating_sub(1),
                        needed: 3,
                    });
                }
                lonlat_rings.push((pi, ri, d));
            }
        }
        // 2. Frame at the bounding-box centre.
        let mut bb = Rect::empty();
        for (_, _, cs) in &lonlat_rings {
            for c in cs {
                bb.add([c.x, c.y]);
            }
        }
        if bb.max[0] - bb.min[0] > 180.0 {
            return Err(GeometryError::TooLarge {
                at: "coordinates".into(),
                reason: "spans more than 180° of longitude",
            });
        }
        let frame = LocalFrame::new(0.5 * (bb.min[0] + bb.max[0]), 0.5 * (bb.min[1] + bb.max[1]));
        let mut xy: Vec<Xy> = Vec::new();
        let mut rings = Vec::new();
        let mut edges = Vec::new();
        let mut local_bb = Rect::empty();
        for (pi, ri, cs) in &lonlat_rings {
            let start = xy.len() as u32;
            for c in cs {
                let p = frame.to_local(c.x, c.y);
                local_bb.add(p);
                xy.push(p);
            }
            let end = xy.len() as u32;
            edges.extend(start..end - 1);
            rings.push(Ring { start, end, polygon: *pi as u32, exterior: *ri == 0 });
        }
        let grid = EdgeGrid::build(&xy, &edges, true).map_err(|GridError::TooLarge| GeometryError::TooLarge {
            at: "coordinates".into(),
            reason: "too many edges for one fence",
        })?;
        let area =
            PreparedArea { frame, bbox: local_bb, grid, xy: xy.into_boxed_slice(), rings: rings.into_boxed_slice() };
        area.check_intersections(&lonlat_rings)?;
        area.check_nesting(&lonlat_rings)?;
        Ok(area)
    }

    fn ring_of(&self, e: u32) -> usize {
        self.rings.partition_point(|r| r.end <= e)
    }

    fn edge_path(&self, e: u32, names: &[(usize, usize, Vec<Coord<f64>>)]) -> String {
        let r = self.ring_of(e);
        let (pi, ri, _) = &names[r];
        let v = (e - self.rings[r].start) as usize;
        format!("{}–{}", path(*pi, *ri, Some(v)), v + 1)
    }

    fn check_intersections(&self, names: &[(usize, usize, Vec<Coord<f64>>)]) -> Result<(), GeometryError> {
        let mut err = None;
        let xy = &self.xy;
        self.grid.for_each_cell_pair(|e1, e2| {
            let (e1, e2) = (e1.min(e2), e1.max(e2));
            let (r1, r2) = (self.ring_of(e1), self.ring_of(e2));
            let (a, b, c, d) = (xy[e1 as usize], xy[e1 as usize + 1], xy[e2 as usize], xy[e2 as usize + 1]);
            let ring = self.rings[r1];
            let adjacent = r1 == r2 && (e2 == e1 + 1 || (e1 == ring.start && e2 == ring.end - 2));
            let bad = if adjacent {
                // Share one vertex; bad only if they fold back over each other (a spike).
                let (v, p, q) = if e2 == e1 + 1 { (b, a, d) } else { (a, b, c) };
                orient(p, v, q) == 0 && (p[0] - v[0]) * (q[0] - v[0]) + (p[1] - v[1]) * (q[1] - v[1]) > 0.0
            } else {
                let o1 = orient(a, b, c);
                let o2 = orient(a, b, d);
                let o3 = orient(c, d, a);
                let o4 = orient(c, d, b);
                if o1 * o2 < 0 && o3 * o4 < 0 {
                    true // proper crossing
                } else if o1 == 0 && o2 == 0 {
                    // Collinear: overlapping beyond a point?
                    let ax = if (a[0] - b[0]).abs() >= (a[1] - b[1]).abs() { 0 } else { 1 };
                    let (lo1, hi1) = (a[ax].min(b[ax]), a[ax].max(b[ax]));
                    let (lo2, hi2) = (c[ax].min(d[ax]), c[ax].max(d[ax]));
                    lo1.max(lo2) < hi1.min(hi2) || (r1 == r2 && lo1.max(lo2) <= hi1.min(hi2))
                } else {
                    // Touching at a point: allowed between different rings only.
                    let on = |p: Xy, q: Xy, x: Xy| {
                        x[0] >= p[0].min(q[0])
                            && x[0] <= p[0].max(q[0])
                            && x[1] >= p[1].min(q[1])
                            && x[1] <= p[1].max(q[1])
                    };
                    let touch = (o1 == 0 && on(a, b, c))
                        || (o2 == 0 && on(a, b, d))
                        || (o3 == 0 && on(c, d, a))
                        || (o4 == 0 && on(c, d, b));
                    touch && r1 == r2
                }
            };
            if bad {
                let m = self.frame.to_lonlat([0.25 * (a[0] + b[0] + c[0] + d[0]), 0.25 * (a[1] + b[1] + c[1] + d[1])]);
                err = Some(GeometryError::SelfIntersection {
                    a: self.edge_path(e1, names),
                    b: self.edge_path(e2, names),
                    lon: m[0],
                    lat: m[1],
                });
                return false;
            }
            true
        });
        err.map_or(Ok(()), Err)
    }

    fn ring_bbox(&self, r: usize) -> Rect {
        let mut bb = Rect::empty();
        for p in &self.xy[self.rings[r].start as usize..self.rings[r].end as usize] {
            bb.add(*p);
        }
        bb
    }

    /// Brute-force parity of `p` against ring `r` alone; `None` if `p` is on the ring.
    fn ring_parity(&self, r: usize, p: Xy) -> Option<bool> {
        let ring = self.rings[r];
        let mut inside = false;
        for e in ring.start..ring.end - 1 {
            let (a, b) = (self.xy[e as usize], self.xy[e as usize + 1]);
            if seg_dist2(p, a, b, [1.0, 1.0]) == 0.0
                || (orient(a, b, p) == 0
                    && Rect { min: [a[0].min(b[0]), a[1].min(b[1])], max: [a[0].max(b[0]), a[1].max(b[1])] }
                        .contains(p))
            {
                return None;
            }
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let (lo, hi) = if a[1] <= p[1] { (a, b) } else { (b, a) };
                if orient(lo, hi, p) > 0 {
                    inside = !inside;
                }
            }
        }
        Some(inside)
    }

    /// Whether ring `r` lies inside ring `other` (decided at a vertex of `r` not on `other`;
    /// rings do not cross, that was checked before).
    fn ring_inside(&self, r: usize, other: &Rect, o: usize) -> bool {
        let ring = self.rings[r];
        for v in ring.start..ring.end - 1 {
            let p = self.xy[v as usize];
            if !other.contains(p) {
                return false;
            }
            if let Some(inside) = self.ring_parity(o, p) {
                return inside;
            }
        }
        false
    }

    fn check_nesting(&self, names: &[(usize, usize, Vec<Coord<f64>>)]) -> Result<(), GeometryError> {
        let boxes: Vec<Rect> = (0..self.rings.len()).map(|r| self.ring_bbox(r)).collect();
        let exterior_of: Vec<usize> = {
            let mut ext = vec![0; self.rings.len()];
            let mut cur = 0;
            for (r, ring) in self.rings.iter().enumerate() {
                if ring.exterior {
                    cur = r;
                }
                ext[r] = cur;
            }
            ext
        };
        let ring_path = |r: usize| path(names[r].0, names[r].1, None);
        for (r, ring) in self.rings.iter().enumerate() {
            if ring.exterior {
                continue;
            }
            let ext = exterior_of[r];
            let in_other_hole = self.rings.iter().enumerate().any(|(h, hr)| {
                h != r && !hr.exterior && hr.polygon == ring.polygon && self.ring_inside(r, &boxes[h], h)
            });
            if !self.ring_inside(r, &boxes[ext], ext) || in_other_hole {
                return Err(GeometryError::HoleOutside { at: ring_path(r) });
            }
        }
        // Polygon A inside polygon B's area (inside B's exterior and in none of B's holes).
        for (r, ring) in self.rings.iter().enumerate() {
            if !ring.exterior {
                continue;
            }
            for (o, other) in self.rings.iter().enumerate() {
                if o == r || !other.exterior || !self.ring_inside(r, &boxes[o], o) {
                    continue;
                }
                let in_hole =
                    self.rings.iter().enumerate().any(|(h, hr)| {
                        !hr.exterior && hr.polygon == other.polygon && self.ring_inside(r, &boxes[h], h)
                    });
                if !in_hole {
                    return Err(GeometryError::OverlappingPolygons {
                        a: format!("coordinates[{}]", names[r].0),
                        b: format!("coordinates[{}]", names[o].0),
                    });
                }
            }
        }
        Ok(())
    }

    /// Starts loading the grid cell a query at this point will read.
    #[inline]
    pub(crate) fn prefetch(&self, lon: f64, lat: f64, exact: bool) {
        self.grid.prefetch_cell(self.frame.to_local(lon, lat), exact);
    }

    /// The coordinates and the grid as (start, bytes) spans, for streaming prefetches.
    pub(crate) fn heap_spans(&self) -> [(*const u8, usize); 2] {
        [span(&self.xy), self.grid.span()]
    }

    /// The local frame of this area.
    pub fn frame(&self) -> &LocalFrame {
        &self.frame
    }

    /// Number of vertices stored (rings closed, so one more than distinct per ring).
    pub fn vertex_count(&self) -> usize {
        self.xy.len()
    }

    /// Bounding box in lon/lat degrees: `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bbox_lonlat(&self) -> [f64; 4] {
        let a = self.frame.to_lonlat(self.bbox.min);
        let b = self.frame.to_lonlat(self.bbox.max);
        [a[0], a[1], b[0], b[1]]
    }

    /// Heap bytes held (coordinates, rings, grid).
    pub fn heap_bytes(&self) -> usize {
        self.xy.len() * 16 + self.rings.len() * std::mem::size_of::<Ring>() + self.grid.heap_bytes()
    }

    /// The area as lon/lat polygons, RFC 7946 orientation (exteriors counter-clockwise,
    /// holes clockwise).
    pub fn to_multipolygon(&self) -> MultiPolygon<f64> {
        let mut polys: Vec<Polygon<f64>> = Vec::new();
        let mut cur: Option<(LineString<f64>, Vec<LineString<f64>>)> = None;
        for ring in self.rings.iter() {
            let pts = &self.xy[ring.start as usize..ring.end as usize];
            let twice_area: f64 = pts.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
            let ccw = twice_area > 0.0;
            let mut cs: Vec<Coord<f64>> = pts
                .iter()
                .map(|p| {
                    let l = self.frame.to_lonlat(*p);
                    Coord { x: l[0], y: l[1] }
                })
                .collect();
            if ccw != ring.exterior {
                cs.reverse();
            }
            if ring.exterior {
                if let Some((e, h)) = cur.take() {
                    polys.push(Polygon::new(e, h));
                }
                cur = Some((LineString(cs), Vec::new()));
            } else if let Some((_, h)) = cur.as_mut() {
                h.push(LineString(cs));
            }
        }
        if let Some((e, h)) = cur {
            polys.push(Polygon::new(e, h));
        }
        MultiPolygon(polys)
    }

    /// Whether the point is in the area by the ray-crossing rule (exact for points off the
    /// boundary; a point exactly on the boundary may go either way — its distance is 0).
    ///
    /// # Units
    /// Degrees.
    #[inline]
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let p = self.frame.to_local(lon, lat);
        self.parity_local(p)
    }

    #[inline]
    fn parity_local(&self, p: Xy) -> bool {
        self.parity_in(p, self.grid.cell_of(p))
    }

    #[inline]
    fn parity_in(&self, p: Xy, cell: Option<(u32, u32)>) -> bool {
        match cell {
            Some(cell) if self.bbox.contains(p) => self.grid.parity(&self.xy, p, cell),
            _ => false,
        }
    }

    /// Signed distance from the point to the area's boundary, positive inside, and the
    /// ray-crossing inside flag. Distances use the WGS-84 metres per degree at the point's
    /// latitude `k` (error ≲ L²·tan φ/(4R): 3 cm at 1 km, 0.8 m at 5 km at 40°N).
    ///
    /// # Units
    /// Degrees in; metres out.
    #[inline]
    pub fn signed_distance_m(&self, lon: f64, lat: f64, k: &MetresPerDegree) -> (f64, bool) {
        let p = self.frame.to_local(lon, lat);
        let cell = self.grid.cell_of(p);
        let inside = self.parity_in(p, cell);
        self.signed_distance_local(p, cell, k, inside)
    }

    /// [`signed_distance_m`](Self::signed_distance_m) with the ray-crossing flag already known
    /// (as [`inside_and_near`](Self::inside_and_near) returns it for the same point).
    #[inline]
    pub(crate) fn signed_distance_m_knowing_inside(
        &self,
        lon: f64,
        lat: f64,
        k: &MetresPerDegree,
        inside: bool,
    ) -> (f64, bool) {
        let p = self.frame.to_local(lon, lat);
        self.signed_distance_local(p, self.grid.cell_of(p), k, inside)
    }

    #[inline]
    fn signed_distance_local(&self, p: Xy, cell: Option<(u32, u32)>, k: &MetresPerDegree, inside: bool) -> (f64, bool) {
        let s = self.frame.scale_at(k);
        let (mut d, e) = self.grid.nearest_edge(&self.xy, p, cell, s, f64::INFINITY, -1.0);
        // Rounding leaves ~1e-13 m for a point exactly on an edge; make it exactly 0 so that
        // boundary points count as covered when the accuracy is 0.
        if d < 1e-9 && e != u32::MAX && EdgeGrid::on_edge(&self.xy, e, p) {
            d = 0.0;
        }
        (if inside || d == 0.0 { d } else { -d }, inside)
    }

    /// `(inside, near)`: the ray-crossing inside flag and whether any boundary point lies
    /// strictly closer than `a` metres — without computing the distance itself.
    ///
    /// # Units
    /// Degrees and metres.
    #[inline]
    pub fn inside_and_near(&self, lon: f64, lat: f64, k: &MetresPerDegree, a: f64) -> (bool, bool) {
        let p = self.frame.to_local(lon, lat);
        let s = self.frame.scale_at(k);
        // Bounding-box reject: nothing within a, and outside.
        if self.bbox.dist(p, s) >= a * (1.0 + 1e-9) + 1e-9 {
            return (false, false);
        }
        let cell = self.grid.cell_of(p);
        let inside = self.parity_in(p, cell);
        let m = self.grid.nearest(&self.xy, p, cell, s, a, a);
        (inside, m < a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn square(x0: f64, y0: f64, w: f64) -> Polygon<f64> {
        polygon![(x: x0, y: y0), (x: x0 + w, y: y0), (x: x0 + w, y: y0 + w), (x: x0, y: y0 + w), (x: x0, y: y0)]
    }

    #[test]
    fn rejects_bowtie_with_location() {
        let p = polygon![(x: 122.0, y: 40.0), (x: 122.01, y: 40.01), (x: 122.01, y: 40.0), (x: 122.0, y: 40.01)];
        let e = PreparedArea::new(&MultiPolygon(vec![p])).unwrap_err();
        assert!(matches!(e, GeometryError::SelfIntersection { .. }), "{e}");
        assert!(e.to_string().contains("coordinates[0][0]"), "{e}");
    }

    #[test]
    fn rejects_too_few_and_out_of_range() {
        let p = polygon![(x: 122.0, y: 40.0), (x: 122.01, y: 40.01), (x: 122.0, y: 40.0)];
        assert!(matches!(PreparedArea::new(&MultiPolygon(vec![p])), Err(GeometryError::TooFewPoints { .. })));
        let p = square(179.99, 40.0, 0.02);
        let e = PreparedArea::new(&MultiPolygon(vec![p])).unwrap_err();
        assert!(matches!(e, GeometryError::OutOfRange { ref at, .. } if at == "coordinates[0][0][1]"), "{e}");
        let p = square(f64::NAN, 40.0, 0.02);
        assert!(matches!(PreparedArea::new(&MultiPolygon(vec![p])), Err(GeometryError::NonFinite { .. })));
        assert!(matches!(PreparedArea::new(&MultiPolygon(vec![])), Err(GeometryError::Empty { .. })));
    }

    #[test]
    fn rejects_hole_outside_and_overlapping_parts() {
        let outer = square(122.0, 40.0, 0.1);
        let hole = square(122.2, 40.0, 0.01);
        let p = Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]);
        assert!(matches!(PreparedArea::new(&MultiPolygon(vec![p])), Err(GeometryError::HoleOutside { .. })));
        let mp = MultiPolygon(vec![square(122.0, 40.0, 0.1), square(122.02, 40.02, 0.01)]);
        assert!(matches!(PreparedArea::new(&mp), Err(GeometryError::OverlappingPolygons { .. })));
        let mp = MultiPolygon(vec![square(122.0, 40.0, 0.1), square(122.05, 40.05, 0.1)]);
        assert!(matches!(PreparedArea::new(&mp), Err(GeometryError::SelfIntersection { .. })));
    }

    #[test]
    fn island_in_a_hole_is_valid_and_inside() {
        let outer = square(122.0, 40.0, 0.1);
        let hole = square(122.02, 40.02, 0.06);
        let island = square(122.04, 40.04, 0.02);
        let mp = MultiPolygon(vec![Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]), island]);
        let a = PreparedArea::new(&mp).unwrap();
        assert!(a.contains(122.01, 40.01));
        assert!(!a.contains(122.03, 40.03));
        assert!(a.contains(122.05, 40.05));
        assert!(!a.contains(122.2, 40.05));
    }

    #[test]
    fn output_is_rfc7946_oriented_whatever_the_input() {
        let cw = polygon![(x: 122.0, y: 40.0), (x: 122.0, y: 40.1), (x: 122.1, y: 40.1), (x: 122.1, y: 40.0)];
        let a = PreparedArea::new(&MultiPolygon(vec![cw])).unwrap();
        let mp = a.to_multipolygon();
        use geo::Area;
        assert!(mp.0[0].exterior().0.windows(2).map(|w| w[0].x * w[1].y - w[1].x * w[0].y).sum::<f64>() > 0.0);
        assert!(mp.signed_area() > 0.0);
        assert!((mp.0[0].exterior().0[0].x - 122.0).abs() < 1e-12);
    }

    #[test]
    fn grid_has_about_two_cells_per_edge() {
        let a = PreparedArea::new(&MultiPolygon(vec![square(122.0, 40.0, 0.1)])).unwrap();
        assert!(a.grid.cell_count() <= 16, "{}", a.grid.cell_count());
    }
}
