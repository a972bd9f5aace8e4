//! The zone grid: a flat uniform grid over the shared exclusion zones' bounding boxes, the index
//! the evaluators ask "which zones come within this fix's accuracy radius?".
//!
//! The R-tree stays the index of record for shared fences (bulk-loaded, updated incrementally,
//! point queries over both kinds); this grid is kept alongside it for the hot path, because a
//! point query on 10 k zones walks three levels of rstar nodes, each a separate allocation, and on
//! the peers workload those cache misses cost ~0.4 µs per fix. Here a query reads one cell's
//! start and a few contiguous 20-byte entries that carry each zone's box, so zones whose box is
//! not within the accuracy radius are rejected without touching the zone itself.
//!
//! Cells are about the median zone box in size, so a zone sits in ~4 cells and a fix's accuracy
//! box usually meets one cell. A zone met through several cells is reported once: from the cell
//! where the query's and the zone's cell ranges start (the maximum of both starts).
//!
//! Updates: zones inserted after a build go to a per-cell side table (flagged in the cell's start
//! word so that other cells never look there), zones outside the grid's extent or spanning too many
//! cells to a list every query scans; removed zones are overwritten with an empty box. The owner
//! rebuilds when [`ZoneGrid::wants_rebuild`] says the side tables have grown to a fraction of the
//! grid, so building a set one zone at a time costs amortised O(1) rebuild work per zone.
//!
//! # Memory
//! 4 B per cell (about one cell per zone entry) and 20 B per cell–zone entry (~4 per zone): ~100 B
//! per zone, ~1 MB for the peers workload's 10,000 zones.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::ControlFlow;

use crate::index::IdHasher;
use crate::planar::prefetch;

/// One zone in one cell: its bounding box rounded outwards to `f32` (a superset, so the test is
/// conservative; the zone's own verdict is exact) and its slot in the fence set.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub(crate) struct ZoneEntry {
    lo: [f32; 2],
    hi: [f32; 2],
    slot: u32,
}

/// Largest `f32` not above `v`.
fn down(v: f64) -> f32 {
    let f = v as f32;
    if f as f64 > v {
        f.next_down()
    } else {
        f
    }
}

/// Smallest `f32` not below `v`.
fn up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v {
        f.next_up()
    } else {
        f
    }
}

impl ZoneEntry {
    fn new(b: &[f64; 4], slot: u32) -> Self {
        ZoneEntry { lo: [down(b[0]), down(b[1])], hi: [up(b[2]), up(b[3])], slot }
    }

    /// A removed entry: an empty box meets nothing.
    const DEAD: ZoneEntry = ZoneEntry { lo: [f32::INFINITY; 2], hi: [f32::NEG_INFINITY; 2], slot: u32::MAX };

    /// Whether the (closed) box meets the closed rectangle `r = [lon0, lat0, lon1, lat1]`.
    #[inline]
    fn meets(&self, r: &[f64; 4]) -> bool {
        (self.lo[0] as f64) <= r[2]
            && (self.hi[0] as f64) >= r[0]
            && (self.lo[1] as f64) <= r[3]
            && (self.hi[1] as f64) >= r[1]
    }

    fn lo(&self) -> [f64; 2] {
        [self.lo[0] as f64, self.lo[1] as f64]
    }

    fn hi(&self) -> [f64; 2] {
        [self.hi[0] as f64, self.hi[1] as f64]
    }
}

/// Flags a cell whose start word says it also has entries in the side table.
const LATE_BIT: u32 = 1 << 31;
const START_MASK: u32 = !LATE_BIT;
/// A zone meeting more cells than this goes to the scanned list (a county-sized exclusion area
/// among school-sized ones would otherwise fill thousands of cells).
const MAX_CELLS_PER_ZONE: usize = 64;

type CellMap = HashMap<u32, Vec<ZoneEntry>, BuildHasherDefault<IdHasher>>;

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZoneGrid {
    /// Extent `[lon0, lat0, lon1, lat1]` (degrees) holding every gridded entry.
    ext: [f64; 4],
    inv_w: f64,
    inv_h: f64,
    nx: u32,
    ny: u32,
    /// Per cell the start of its entries (`LATE_BIT`: also in `late`), plus a sentinel.
    start: Box<[u32]>,
    entries: Box<[ZoneEntry]>,
    /// Entries inserted since the build, by cell.
    late: CellMap,
    late_entries: usize,
    /// Zones outside the extent or too large for cells: every query scans them.
    loose: Vec<ZoneEntry>,
    /// How many of `loose` are there only because they lie outside the extent.
    outside: usize,
    /// Zones at the last build; zones removed since.
    built: usize,
    removed: usize,
}

impl ZoneGrid {
    /// A grid over `zones` (slot, bounding box `[min_lon, min_lat, max_lon, max_lat]`).
    pub(crate) fn build(zones: &[(u32, [f64; 4])]) -> Self {
        let mut g = ZoneGrid { built: zones.len(), ..Default::default() };
        let boxes: Vec<ZoneEntry> = zones.iter().map(|(s, b)| ZoneEntry::new(b, *s)).collect();
        if boxes.is_empty() {
            return g;
        }
        let mut ext = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for e in &boxes {
            ext = [ext[0].min(e.lo()[0]), ext[1].min(e.lo()[1]), ext[2].max(e.hi()[0]), ext[3].max(e.hi()[1])];
        }
        // Cells about the median zone box, at most ~4 per zone and 4096 a side.
        let median = |mut v: Vec<f64>| {
            let m = v.len() / 2;
            *v.select_nth_unstable_by(m, f64::total_cmp).1
        };
        let (w, h) = ((ext[2] - ext[0]).max(1e-9), (ext[3] - ext[1]).max(1e-9));
        let mut cw = median(boxes.iter().map(|e| e.hi()[0] - e.lo()[0]).collect()).max(w / 4096.0);
        let mut ch = median(boxes.iter().map(|e| e.hi()[1] - e.lo()[1]).collect()).max(h / 4096.0);
        let cap = (4 * boxes.len() + 64) as f64;
        let cells = (w / cw).ceil() * (h / ch).ceil();
        if cells > cap {
            let f = (cells / cap).sqrt();
            cw *= f;
            ch *= f;
        }
        g.nx = ((w / cw).ceil() as u32).clamp(1, 4096);
        g.ny = ((h / ch).ceil() as u32).clamp(1, 4096);
        g.ext = ext;
        g.inv_w = g.nx as f64 / w;
        g.inv_h = g.ny as f64 / h;
        let ncell = g.nx as usize * g.ny as usize;

        let mut count = vec![0u32; ncell + 1];
        let mut gridded = Vec::with_capacity(boxes.len());
        for e in boxes {
            let (i0, i1, j0, j1) = g.range(e.lo(), e.hi());
            if (i1 - i0 + 1) as usize * (j1 - j0 + 1) as usize > MAX_CELLS_PER_ZONE {
                g.loose.push(e);
                continue;
            }
            for j in j0..=j1 {
                for i in i0..=i1 {
                    count[(j * g.nx + i) as usize] += 1;
                }
            }
            gridded.push((e, (i0, i1, j0, j1)));
        }
        let mut sum = 0u32;
        for c in count.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        let mut entries = vec![ZoneEntry::DEAD; sum as usize];
        let mut fill = count.clone();
        for (e, (i0, i1, j0, j1)) in gridded {
            for j in j0..=j1 {
                for i in i0..=i1 {
                    let c = (j * g.nx + i) as usize;
                    entries[fill[c] as usize] = e;
                    fill[c] += 1;
                }
            }
        }
        g.start = count.into_boxed_slice();
        g.entries = entries.into_boxed_slice();
        g
    }

    /// Cell range `(i0, i1, j0, j1)` covering the box `lo..hi`, clamped to the grid (callers
    /// check the extent first). Truncation instead of `floor` (a libm call on baseline x86-64):
    /// both are monotonic, which is all the one-report rule needs.
    #[inline]
    fn range(&self, lo: [f64; 2], hi: [f64; 2]) -> (u32, u32, u32, u32) {
        let cx = |v: f64| ((((v - self.ext[0]) * self.inv_w) as i64).max(0) as u32).min(self.nx - 1);
        let cy = |v: f64| ((((v - self.ext[1]) * self.inv_h) as i64).max(0) as u32).min(self.ny - 1);
        (cx(lo[0]), cx(hi[0]), cy(lo[1]), cy(hi[1]))
    }

    fn covers(&self, e: &ZoneEntry) -> bool {
        self.nx > 0
            && e.lo()[0] >= self.ext[0]
            && e.lo()[1] >= self.ext[1]
            && e.hi()[0] <= self.ext[2]
            && e.hi()[1] <= self.ext[3]
    }

    /// Adds a zone (its slot must not be in the grid).
    pub(crate) fn insert(&mut self, slot: u32, b: &[f64; 4]) {
        let e = ZoneEntry::new(b, slot);
        if !self.covers(&e) {
            self.loose.push(e);
            self.outside += 1;
            return;
        }
        let (i0, i1, j0, j1) = self.range(e.lo(), e.hi());
        if (i1 - i0 + 1) as usize * (j1 - j0 + 1) as usize > MAX_CELLS_PER_ZONE {
            self.loose.push(e);
            return;
        }
        for j in j0..=j1 {
            for i in i0..=i1 {
                let c = j * self.nx + i;
                self.start[c as usize] |= LATE_BIT;
                self.late.entry(c).or_default().push(e);
                self.late_entries += 1;
            }
        }
    }

    /// Removes the zone in `slot` whose box is `b` (as given to [`insert`](Self::insert) or
    /// [`build`](Self::build)).
    pub(crate) fn remove(&mut self, slot: u32, b: &[f64; 4]) {
        let e = ZoneEntry::new(b, slot);
        self.removed += 1;
        if let Some(k) = self.loose.iter().position(|x| x.slot == slot) {
            self.loose.swap_remove(k);
            if !self.covers(&e) {
                self.outside = self.outside.saturating_sub(1);
            }
            return;
        }
        if self.nx == 0 {
            return;
        }
        let (i0, i1, j0, j1) = self.range(e.lo(), e.hi());
        for j in j0..=j1 {
            for i in i0..=i1 {
                let c = (j * self.nx + i) as usize;
                let (s, t) = ((self.start[c] & START_MASK) as usize, (self.start[c + 1] & START_MASK) as usize);
                for x in &mut self.entries[s..t] {
                    if x.slot == slot {
                        *x = ZoneEntry::DEAD;
                    }
                }
                if let Some(v) = self.late.get_mut(&(c as u32)) {
                    let before = v.len();
                    v.retain(|x| x.slot != slot);
                    self.late_entries -= before - v.len();
                }
            }
        }
    }

    /// Whether the side tables have grown enough that a rebuild pays (amortised: they must
    /// reach a fixed fraction of what was built).
    pub(crate) fn wants_rebuild(&self) -> bool {
        let budget = 8 + self.built / 2;
        self.outside > 8.min(budget) || self.late_entries > 4 * budget || self.removed > budget
    }

    /// Calls `f(slot)` once for every zone whose box meets `r = [lon0, lat0, lon1, lat1]`
    /// (degrees), and possibly for a few whose `f32`-rounded box only touches it.
    #[inline]
    pub(crate) fn for_each_meeting<B>(&self, r: &[f64; 4], mut f: impl FnMut(u32) -> ControlFlow<B>) -> ControlFlow<B> {
        for e in &self.loose {
            if e.meets(r) {
                f(e.slot)?;
            }
        }
        if self.nx == 0 || r[2] < self.ext[0] || r[0] > self.ext[2] || r[3] < self.ext[1] || r[1] > self.ext[3] {
            return ControlFlow::Continue(());
        }
        let (i0, i1, j0, j1) = self.range([r[0], r[1]], [r[2], r[3]]);
        let single = i0 == i1 && j0 == j1;
        for j in j0..=j1 {
            for i in i0..=i1 {
                let c = (j * self.nx + i) as usize;
                let (s, t) = (self.start[c], self.start[c + 1] & START_MASK);
                let mut visit = |e: &ZoneEntry| {
                    if e.meets(r) {
                        // Report from the first cell both ranges share, so only once.
                        let first = || {
                            let (ei0, _, ej0, _) = self.range(e.lo(), e.lo());
                            ei0.max(i0) == i && ej0.max(j0) == j
                        };
                        if single || first() {
                            return f(e.slot);
                        }
                    }
                    ControlFlow::Continue(())
                };
                for e in &self.entries[(s & START_MASK) as usize..t as usize] {
                    visit(e)?;
                }
                if s & LATE_BIT != 0 {
                    if let Some(v) = self.late.get(&(c as u32)) {
                        for e in v {
                            visit(e)?;
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Starts loading the start word of the first cell a query over `r` reads.
    #[inline]
    pub(crate) fn prefetch_cell(&self, r: &[f64; 4]) {
        if self.nx > 0 {
            let (i0, _, j0, _) = self.range([r[0], r[1]], [r[2], r[3]]);
            prefetch(self.start.as_ptr().wrapping_add((j0 * self.nx + i0) as usize));
        }
    }

    /// Starts loading the first entries of that cell (its start word should be loaded by now).
    #[inline]
    pub(crate) fn prefetch_entries(&self, r: &[f64; 4]) {
        if self.nx > 0 {
            let (i0, _, j0, _) = self.range([r[0], r[1]], [r[2], r[3]]);
            let s = (self.start[(j0 * self.nx + i0) as usize] & START_MASK) as usize;
            let p = self.entries.as_ptr().wrapping_add(s) as *const u8;
            prefetch(p);
            prefetch(p.wrapping_add(64));
        }
    }

    /// Bytes held (cells, entries, side tables).
    pub(crate) fn heap_bytes(&self) -> usize {
        let e = std::mem::size_of::<ZoneEntry>();
        self.start.len() * 4
            + self.entries.len() * e
            + self.late.values().map(|v| 16 + v.capacity() * e).sum::<usize>()
            + self.late.capacity() * 32
            + self.loose.capacity() * e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boxes of a deterministic scatter of zones over a 1°×1° region.
    fn zones(n: u32) -> Vec<(u32, [f64; 4])> {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut r = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|k| {
                let (x, y, w, h) = (122.0 + r(), 40.0 + r(), 0.0005 + 0.01 * r(), 0.0005 + 0.01 * r());
                (k, [x, y, x + w, y + h])
            })
            .collect()
    }

    /// Zones whose box, widened by `m` degrees, meets `r`.
    fn brute(zs: &[(u32, [f64; 4])], r: &[f64; 4], m: f64) -> Vec<u32> {
        let mut v: Vec<u32> = zs
            .iter()
            .filter(|(_, b)| b[0] - m <= r[2] && b[2] + m >= r[0] && b[1] - m <= r[3] && b[3] + m >= r[1])
            .map(|z| z.0)
            .collect();
        v.sort_unstable();
        v
    }

    /// Every zone whose box meets the query, and otherwise only zones within `f32` rounding
    /// (1e-5° at these longitudes is well above an ulp).
    fn check(g: &ZoneGrid, zs: &[(u32, [f64; 4])], r: &[f64; 4]) {
        let got = query(g, r);
        let (exact, loose) = (brute(zs, r, 0.0), brute(zs, r, 1e-5));
        assert!(exact.iter().all(|z| got.contains(z)), "{r:?}: missed some of {exact:?} in {got:?}");
        assert!(got.iter().all(|z| loose.contains(z)), "{r:?}: {got:?} not within {loose:?}");
    }

    fn query(g: &ZoneGrid, r: &[f64; 4]) -> Vec<u32> {
        let mut v = Vec::new();
        let _ = g.for_each_meeting::<()>(r, |s| {
            v.push(s);
            ControlFlow::Continue(())
        });
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), n, "a zone was reported twice");
        v
    }

    fn queries() -> Vec<[f64; 4]> {
        let mut out = Vec::new();
        for k in 0..2000 {
            let x = 121.95 + 1.1 * ((k * 7919) % 2000) as f64 / 2000.0;
            let y = 39.95 + 1.1 * ((k * 104_729) % 2000) as f64 / 2000.0;
            let d = [0.0, 0.0002, 0.003, 0.02][k % 4];
            out.push([x - d, y - d, x + d, y + d]);
        }
        out
    }

    #[test]
    fn finds_what_brute_force_finds() {
        let zs = zones(3000);
        let g = ZoneGrid::build(&zs);
        for r in queries() {
            check(&g, &zs, &r);
        }
    }

    #[test]
    fn incremental_inserts_and_removals_match_a_rebuild() {
        let zs = zones(2000);
        let mut g = ZoneGrid::build(&zs[..500]);
        let mut live: Vec<(u32, [f64; 4])> = zs[..500].to_vec();
        for (k, z) in zs[500..].iter().enumerate() {
            g.insert(z.0, &z.1);
            live.push(*z);
            if k % 3 == 0 {
                let gone = live.swap_remove(k % live.len());
                g.remove(gone.0, &gone.1);
            }
        }
        // Far outside the extent, and one huge zone.
        for (s, b) in [(5000, [130.0, 45.0, 130.01, 45.01]), (5001, [121.0, 39.0, 124.0, 42.0])] {
            g.insert(s, &b);
            live.push((s, b));
        }
        assert!(g.wants_rebuild());
        for r in queries().into_iter().chain([[129.99, 44.99, 130.0, 45.0]]) {
            check(&g, &live, &r);
        }
        assert_eq!(query(&g, &[129.99, 44.99, 130.0, 45.0]), vec![5000]);
        let g = ZoneGrid::build(&live);
        assert!(!g.wants_rebuild());
        for r in queries() {
            check(&g, &live, &r);
        }
    }

    #[test]
    fn empty_and_single() {
        let g = ZoneGrid::build(&[]);
        assert!(query(&g, &[0.0, 0.0, 1.0, 1.0]).is_empty());
        let mut g = ZoneGrid::default();
        g.insert(3, &[122.0, 40.0, 122.001, 40.001]);
        assert_eq!(query(&g, &[122.0005, 40.0005, 122.0005, 40.0005]), vec![3]);
        g.remove(3, &[122.0, 40.0, 122.001, 40.001]);
        assert!(query(&g, &[122.0005, 40.0005, 122.0005, 40.0005]).is_empty());
    }
}
