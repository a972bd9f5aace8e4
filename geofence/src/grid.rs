//! The edge index of a prepared fence: a uniform grid of edge lists in the fence's local frame.
//!
//! Built once per fence. Cells are square, about [`CELLS_PER_EDGE`] (one) per edge, so a
//! boundary cell holds a handful of edges whatever the vertex count. For each cell the grid keeps
//! * the edges whose segment meets the (slightly enlarged) cell, in one CSR array;
//! * for areas, the ray-crossing parity of the cell's centre (is it inside?);
//! * a *clearance*: a lower bound of the distance from any point of the cell to any edge
//!   (0 for non-empty cells), which decides most verdicts from one memory access.
//!
//! Per row it also lists the non-empty cells, so that a nearest-edge search visits only cells
//! that hold edges, row by row outward, and stops when the next row is farther than the best
//! edge found.
//!
//! # Memory
//! `12 B` per cell (≈ 1 cell per edge: start, clearance, hint), `4 B` per cell–edge incidence
//! (≈ 2–3 per edge), `4 B` per row and per non-empty cell: about `25 B` per edge on top of the
//! `16 B` per vertex of the coordinates (see [`EdgeGrid::heap_bytes`]), in one allocation.

use crate::planar::{orient, prefetch, seg_dist2, span, Rect, Xy};

/// Target number of grid cells per edge. One keeps boundary cells at a few edges and leaves
/// most of a typical fence's area in empty cells with a useful clearance; on the peers
/// workload 1.0 measured as fast as 2.0 for verdicts and slightly faster for distances (fewer
/// rows to scan), with less memory; 0.5 was slower.
pub(crate) const CELLS_PER_EDGE: f64 = 1.0;
const INSIDE_BIT: u32 = 1 << 31;
const START_MASK: u32 = !INSIDE_BIT;

/// Uniform grid over the edges `xy[e]–xy[e+1]` for `e` in a list of edge starts.
///
/// All per-cell and per-row arrays live in one `u32` buffer (one allocation, adjacent pages):
/// `[cells: 2 words each (start | inside bit, clearance as f32 bits), + sentinel]
///  [hint: 1 word per cell] [refs] [row_start: ny + 1] [row_cols]`.
/// A query touches a handful of cache lines of one contiguous block instead of five scattered
/// allocations, which matters because fence data is far larger than the caches.
#[derive(Debug, Clone)]
pub(crate) struct EdgeGrid {
    x0: f64,
    y0: f64,
    cell: f64,
    inv_cell: f64,
    nx: u32,
    ny: u32,
    o_hint: u32,
    o_refs: u32,
    o_rows: u32,
    o_cols: u32,
    data: Box<[u32]>,
}

/// Why a grid could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GridError {
    TooLarge,
}

impl EdgeGrid {
    /// Builds the grid for `edges` (indices `e` of segments `xy[e]–xy[e+1]`), computing cell
    /// parities when `with_parity` (areas; for lines there is no inside).
    pub(crate) fn build(xy: &[Xy], edges: &[u32], with_parity: bool) -> Result<Self, GridError> {
        if edges.len() >= (START_MASK as usize) / 64 || xy.len() >= u32::MAX as usize {
            return Err(GridError::TooLarge);
        }
        let mut bb = Rect::empty();
        for &e in edges {
            bb.add(xy[e as usize]);
            bb.add(xy[e as usize + 1]);
        }
        let n = edges.len().max(1) as f64;
        let extent = (bb.max[0] - bb.min[0]).max(bb.max[1] - bb.min[1]).max(1e-3);
        // Margin: covers rounding when a query point is binned (≈1e-16 relative) with room.
        let margin = 1e-9 * (extent + bb.max[0].abs().max(bb.max[1].abs())) + 1e-9;
        let w = (bb.max[0] - bb.min[0]).max(extent * 1e-3) + 2.0 * margin;
        let h = (bb.max[1] - bb.min[1]).max(extent * 1e-3) + 2.0 * margin;
        let target = CELLS_PER_EDGE * n + 4.0;
        let cell = (w * h / target).sqrt().max(w.max(h) / target);
        let nx = ((w / cell).ceil() as u32).max(1);
        let ny = ((h / cell).ceil() as u32).max(1);
        let x0 = bb.min[0] - margin;
        let y0 = bb.min[1] - margin;
        let ncell = nx as usize * ny as usize;

        // (cell, edge) incidences, then CSR.
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(edges.len() * 2);
        let inv = 1.0 / cell;
        for &e in edges {
            let a = xy[e as usize];
            let b = xy[e as usize + 1];
            let ci = |v: f64, o: f64, nmax: u32| (((v - o) * inv).floor().max(0.0) as u32).min(nmax - 1);
            let i0 = ci(a[0].min(b[0]) - margin, x0, nx);
            let i1 = ci(a[0].max(b[0]) + margin, x0, nx);
            let j0 = ci(a[1].min(b[1]) - margin, y0, ny);
            let j1 = ci(a[1].max(b[1]) + margin, y0, ny);
            for j in j0..=j1 {
                for i in i0..=i1 {
                    let single = i0 == i1 && j0 == j1;
                    if single || cell_rect(x0, y0, cell, i, j, margin).meets_segment(a, b) {
                        pairs.push((j * nx + i, e));
                    }
                }
            }
        }
        pairs.sort_unstable();
        if pairs.len() >= START_MASK as usize {
            return Err(GridError::TooLarge);
        }
        let mut starts = vec![0u32; ncell + 1];
        {
            let mut k = 0usize;
            for (c, slot) in starts.iter_mut().enumerate() {
                while k < pairs.len() && (pairs[k].0 as usize) < c {
                    k += 1;
                }
                *slot = k as u32;
            }
        }
        let mut row_start = Vec::with_capacity(ny as usize + 1);
        let mut row_cols = Vec::new();
        for j in 0..ny {
            row_start.push(row_cols.len() as u32);
            for i in 0..nx {
                let c = (j * nx + i) as usize;
                if starts[c + 1] > starts[c] {
                    row_cols.push(i);
                }
            }
        }
        row_start.push(row_cols.len() as u32);

        let o_hint = 2 * (ncell + 1);
        let o_refs = o_hint + ncell;
        let o_rows = o_refs + pairs.len();
        let o_cols = o_rows + row_start.len();
        if o_cols + row_cols.len() >= u32::MAX as usize {
            return Err(GridError::TooLarge);
        }
        let mut data = vec![0u32; o_cols + row_cols.len()];
        for (c, &st) in starts.iter().enumerate() {
            data[2 * c] = st;
        }
        for (k, &(_, e)) in pairs.iter().enumerate() {
            data[o_refs + k] = e;
        }
        data[o_rows..o_cols].copy_from_slice(&row_start);
        data[o_cols..].copy_from_slice(&row_cols);
        let mut grid = EdgeGrid {
            x0,
            y0,
            cell,
            inv_cell: inv,
            nx,
            ny,
            o_hint: o_hint as u32,
            o_refs: o_refs as u32,
            o_rows: o_rows as u32,
            o_cols: o_cols as u32,
            data: data.into_boxed_slice(),
        };
        if with_parity {
            grid.compute_parity(xy, edges);
        }
        grid.compute_hints(xy, edges);
        grid.compute_clearance(xy);
        Ok(grid)
    }

    /// Cell centres' ray parity, by the same rule as [`EdgeGrid::parity`] over all edges.
    fn compute_parity(&mut self, xy: &[Xy], edges: &[u32]) {
        let mut straddling = Vec::new();
        for j in 0..self.ny {
            let cy = self.center(0, j)[1];
            straddling.clear();
            straddling.extend(edges.iter().filter_map(|&e| {
                let a = xy[e as usize];
                let b = xy[e as usize + 1];
                ((a[1] > cy) != (b[1] > cy)).then(|| if a[1] <= cy { (a, b) } else { (b, a) })
            }));
            for i in 0..self.nx {
                let c = self.center(i, j);
                let crossings = straddling.iter().filter(|(lo, hi)| orient(*lo, *hi, c) > 0).count();
                if crossings % 2 == 1 {
                    self.data[2 * (j * self.nx + i) as usize] |= INSIDE_BIT;
                }
            }
        }
    }

    /// Hints by vector propagation (as in distance transforms): a forward and a backward
    /// sweep, each cell keeping the best of its own edges and its neighbours' hints measured
    /// from its centre. O(cells); the result is a real edge, so its distance is a valid upper
    /// bound whether or not it is the very nearest.
    fn compute_hints(&mut self, xy: &[Xy], edges: &[u32]) {
        let (nx, ny) = (self.nx as usize, self.ny as usize);
        let mut hint = vec![u32::MAX; nx * ny];
        let mut dist = vec![f64::INFINITY; nx * ny];
        let one = [1.0, 1.0];
        let d2 = |c: Xy, e: u32| seg_dist2(c, xy[e as usize], xy[e as usize + 1], one);
        for c in 0..nx * ny {
            let ctr = self.center((c % nx) as u32, (c / nx) as u32);
            for &e in self.cell_edges(c) {
                let d = d2(ctr, e);
                if d < dist[c] {
                    dist[c] = d;
                    hint[c] = e;
                }
            }
        }
        if edges.is_empty() {
            return;
        }
        let sweeps: [&[(isize, isize)]; 2] =
            [&[(-1, 0), (0, -1), (-1, -1), (1, -1)], &[(1, 0), (0, 1), (1, 1), (-1, 1)]];
        for (pass, nbrs) in sweeps.iter().enumerate() {
            for k in 0..nx * ny {
                let c = if pass == 0 { k } else { nx * ny - 1 - k };
                let (i, j) = ((c % nx) as isize, (c / nx) as isize);
                let ctr = self.center(i as u32, j as u32);
                for &(di, dj) in nbrs.iter() {
                    let (a, b) = (i + di, j + dj);
                    if a < 0 || b < 0 || a >= nx as isize || b >= ny as isize {
                        continue;
                    }
                    let e = hint[b as usize * nx + a as usize];
                    if e != u32::MAX && e != hint[c] {
                        let d = d2(ctr, e);
                        if d < dist[c] {
                            dist[c] = d;
                            hint[c] = e;
                        }
                    }
                }
            }
        }
        for (c, e) in hint.into_iter().enumerate() {
            self.data[self.o_hint as usize + c] = if e == u32::MAX { edges[0] } else { e };
        }
    }

    /// Clearances: exact (cell-to-nearest-edge distance) for cells within two cells of a
    /// non-empty cell — where accuracy radii are compared with it — and the cheaper bound
    /// `(Chebyshev distance to the nearest non-empty cell − 1) × cell size` farther in.
    fn compute_clearance(&mut self, xy: &[Xy]) {
        let (nx, ny) = (self.nx as usize, self.ny as usize);
        // Multi-source BFS over the 8-neighbourhood: Chebyshev distance in cells.
        let mut cheb = vec![u32::MAX; nx * ny];
        let mut queue = std::collections::VecDeque::new();
        for (c, d) in cheb.iter_mut().enumerate() {
            if !self.cell_edges(c).is_empty() {
                *d = 0;
                queue.push_back(c);
            }
        }
        while let Some(c) = queue.pop_front() {
            let (i, j) = ((c % nx) as isize, (c / nx) as isize);
            for dj in -1..=1isize {
                for di in -1..=1isize {
                    let (a, b) = (i + di, j + dj);
                    if a < 0 || b < 0 || a >= nx as isize || b >= ny as isize {
                        continue;
                    }
                    let n = b as usize * nx + a as usize;
                    if cheb[n] == u32::MAX {
                        cheb[n] = cheb[c] + 1;
                        queue.push_back(n);
                    }
                }
            }
        }
        for (c, &k) in cheb.iter().enumerate() {
            if k == 0 {
                continue;
            }
            let d = if k <= 2 {
                self.rect_clearance(xy, (c % nx) as u32, (c / nx) as u32)
            } else if k == u32::MAX {
                f64::INFINITY
            } else {
                (k - 1) as f64 * self.cell
            };
            // Round down so the f32 stays a lower bound.
            let mut f = d as f32;
            if f as f64 > d {
                f = f.next_down();
            }
            self.data[2 * c + 1] = f.max(0.0).to_bits();
        }
    }

    /// Distance (frame metres) from cell `(i, j)` to the nearest edge, starting from the
    /// cell's hint as an upper bound so only nearby cells are examined.
    fn rect_clearance(&self, xy: &[Xy], i: u32, j: u32) -> f64 {
        let rect = cell_rect(self.x0, self.y0, self.cell, i, j, 0.0);
        let h = self.hint((j * self.nx + i) as usize) as usize;
        let mut best = rect.seg_dist(xy[h], xy[h + 1]);
        let gap = |k: u32, l: u32| (k.abs_diff(l).saturating_sub(1)) as f64 * self.cell;
        self.for_rows_outward(j, |row| {
            let vg = gap(row, j);
            if vg >= best {
                return false;
            }
            for &col in self.row(row) {
                let hg = gap(col, i);
                if hg * hg + vg * vg >= best * best {
                    continue;
                }
                for &e in self.cell_edges((row * self.nx + col) as usize) {
                    let (a, b) = (xy[e as usize], xy[e as usize + 1]);
                    // Cheap reject before the exact rectangle distance.
                    let lo = [a[0].min(b[0]), a[1].min(b[1])];
                    let hi = [a[0].max(b[0]), a[1].max(b[1])];
                    let bx = (rect.min[0] - hi[0]).max(lo[0] - rect.max[0]).max(0.0);
                    let by = (rect.min[1] - hi[1]).max(lo[1] - rect.max[1]).max(0.0);
                    if bx * bx + by * by < best * best {
                        best = best.min(rect.seg_dist(a, b));
                    }
                }
            }
            true
        });
        best
    }

    /// Calls `f(row)` for rows `j, j+1, j−1, j+2, …`, dropping a direction when `f` returns
    /// false (rows farther in that direction cannot matter).
    #[inline]
    fn for_rows_outward(&self, j: u32, mut f: impl FnMut(u32) -> bool) {
        let mut up = f(j);
        let mut down = up;
        let mut k = 1u32;
        while up || down {
            if up {
                up = j + k < self.ny && f(j + k);
            }
            if down {
                down = k <= j && f(j - k);
            }
            k += 1;
        }
    }

    #[inline]
    fn row(&self, j: u32) -> &[u32] {
        let r = self.o_rows as usize + j as usize;
        let o = self.o_cols as usize;
        &self.data[o + self.data[r] as usize..o + self.data[r + 1] as usize]
    }

    #[inline]
    fn cell_edges(&self, c: usize) -> &[u32] {
        let o = self.o_refs as usize;
        let s = (self.data[2 * c] & START_MASK) as usize;
        let e = (self.data[2 * c + 2] & START_MASK) as usize;
        &self.data[o + s..o + e]
    }

    #[inline]
    fn hint(&self, c: usize) -> u32 {
        self.data[self.o_hint as usize + c]
    }

    #[inline]
    fn center(&self, i: u32, j: u32) -> Xy {
        [self.x0 + (i as f64 + 0.5) * self.cell, self.y0 + (j as f64 + 0.5) * self.cell]
    }

    /// The cell holding `p`, or `None` when `p` is outside the grid (and so outside the
    /// fence's bounding box).
    #[inline]
    pub(crate) fn cell_of(&self, p: Xy) -> Option<(u32, u32)> {
        let fx = (p[0] - self.x0) * self.inv_cell;
        let fy = (p[1] - self.y0) * self.inv_cell;
        if fx >= 0.0 && fy >= 0.0 && fx <= self.nx as f64 && fy <= self.ny as f64 {
            Some(((fx as u32).min(self.nx - 1), (fy as u32).min(self.ny - 1)))
        } else {
            None
        }
    }

    /// Starts loading what a query at `p` reads first (its cell and hint).
    #[inline]
    /// With `rows`, also the row lists and the cells of the neighbouring rows that an exact
    /// nearest-edge search scans first.
    pub(crate) fn prefetch_cell(&self, p: Xy, rows: bool) {
        if let Some((i, j)) = self.cell_of(p) {
            let c = (j * self.nx + i) as usize;
            let d = self.data.as_ptr();
            prefetch(d.wrapping_add(2 * c));
            prefetch(d.wrapping_add(self.o_hint as usize + c));
            if rows {
                let r = self.o_rows as usize + j as usize;
                prefetch(d.wrapping_add(r));
                // Row lists: a few lines around this row's (the start is not loaded yet:
                // estimate it from the row's position).
                let cols = self.data.len() - self.o_cols as usize;
                let at = self.o_cols as usize + cols * j as usize / self.ny as usize;
                for k in [0usize, 16, 32] {
                    prefetch(d.wrapping_add(at.saturating_sub(16) + k));
                }
                for jj in j.saturating_sub(2)..=(j + 2).min(self.ny - 1) {
                    if jj != j {
                        prefetch(d.wrapping_add(2 * (jj * self.nx + i) as usize));
                    }
                }
            }
        }
    }

    /// The grid's buffer as (start, bytes).
    pub(crate) fn span(&self) -> (*const u8, usize) {
        span(&self.data)
    }

    /// Clearance of cell `(i, j)` in frame metres (0 when it holds edges).
    #[inline]
    pub(crate) fn clearance(&self, (i, j): (u32, u32)) -> f64 {
        f32::from_bits(self.data[2 * (j * self.nx + i) as usize + 1]) as f64
    }

    /// Ray-crossing parity of `p` (true = inside), exact for every point not on an edge.
    ///
    /// The rule is the classic half-open crossing count of a ray to +x, with exact
    /// orientation tests; it equals the true inside/outside of `p` nudged infinitesimally right
    /// and (less) up, so it is consistent for points on vertices and edges too. Locally:
    /// parity(p) = parity(centre) ⊕ crossings of the path centre → (cx, py) → p, and only edges
    /// of `p`'s cell can cross that path.
    #[inline]
    pub(crate) fn parity(&self, xy: &[Xy], p: Xy, cell: (u32, u32)) -> bool {
        let c = (cell.1 * self.nx + cell.0) as usize;
        let mut inside = self.data[2 * c] & INSIDE_BIT != 0;
        let edges = self.cell_edges(c);
        if edges.is_empty() {
            return inside;
        }
        let [cx, cy] = self.center(cell.0, cell.1);
        let (px, py) = (p[0], p[1]);
        for &e in edges {
            let a = xy[e as usize];
            let b = xy[e as usize + 1];
            // Vertical leg x = cx (+δ), from cy to py (+ε).
            if (a[0] > cx) != (b[0] > cx) {
                let (l, r) = if a[0] <= cx { (a, b) } else { (b, a) };
                let rising = r[1] > l[1];
                let above = |y: f64| match orient(l, r, [cx, y]) {
                    -1 => true,
                    1 => false,
                    _ => rising,
                };
                if above(cy) != above(py) {
                    inside = !inside;
                }
            }
            // Horizontal leg y = py (+ε), from cx to px (+δ).
            if (a[1] > py) != (b[1] > py) {
                let (lo, hi) = if a[1] <= py { (a, b) } else { (b, a) };
                let right_of = |x: f64| orient(lo, hi, [x, py]) > 0;
                if right_of(cx) != right_of(px) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Smallest scaled distance from `p` to an edge if it is below `bound`, else `bound`.
    /// Returns as soon as an edge closer than `stop_below` is found (pass a negative value to
    /// get the exact minimum). `s` turns frame metres into true metres (anisotropic scale);
    /// `cell` is `self.cell_of(p)` (callers usually have it already).
    ///
    /// Starts from the hint edge of `p`'s cell (or of the nearest cell when `p` is outside the
    /// grid), then visits only non-empty cells whose rectangle is closer than the best edge so
    /// far, row by row outward (binary search for the column range within a row).
    ///
    /// # Units
    /// `p` in frame metres; `bound`, `stop_below` and the result in true metres.
    pub(crate) fn nearest(
        &self,
        xy: &[Xy],
        p: Xy,
        cell: Option<(u32, u32)>,
        s: [f64; 2],
        bound: f64,
        stop_below: f64,
    ) -> f64 {
        self.nearest_edge(xy, p, cell, s, bound, stop_below).0
    }

    /// As [`nearest`](Self::nearest), also returning the nearest edge (`u32::MAX` if none is
    /// closer than `bound`).
    pub(crate) fn nearest_edge(
        &self,
        xy: &[Xy],
        p: Xy,
        cell: Option<(u32, u32)>,
        s: [f64; 2],
        bound: f64,
        stop_below: f64,
    ) -> (f64, u32) {
        let smin = s[0].min(s[1]);
        if let Some(c) = cell {
            if self.clearance(c) * smin >= bound {
                return (bound, u32::MAX);
            }
        }
        // `as` truncates and saturates (NaN → 0): a floor for the non-negative values that matter,
        // without the libm call `floor` becomes on baseline x86-64.
        let clamp = |v: f64, o: f64, n: u32| (((v - o) * self.inv_cell).max(0.0) as u32).min(n - 1);
        let (i0, j0) = cell.unwrap_or_else(|| (clamp(p[0], self.x0, self.nx), clamp(p[1], self.y0, self.ny)));
        if cell.is_none() {
            // Outside the grid: every edge point q is at least `clearance` from the nearest cell
            // c, so |pq| ≥ clearance(c) − |pc| — often enough to rule out a box corner's
            // neighbourhood (R-tree candidates are mostly fences whose box, not shape, is near).
            let rect = cell_rect(self.x0, self.y0, self.cell, i0, j0, 0.0);
            if self.clearance((i0, j0)) * smin - rect.dist(p, s) >= bound {
                return (bound, u32::MAX);
            }
        }
        let h = self.hint((j0 * self.nx + i0) as usize) as usize;
        let hd2 = seg_dist2(p, xy[h], xy[h + 1], s);
        let (mut best2, mut best_e) = if hd2 < bound * bound { (hd2, h as u32) } else { (bound * bound, u32::MAX) };
        if stop_below > 0.0 && best2.sqrt() < stop_below {
            return (best2.sqrt(), best_e);
        }
        let mut done = false;
        self.for_rows_outward(j0, |row| {
            if done {
                return false;
            }
            let lo = self.y0 + row as f64 * self.cell;
            let vg = ((lo - p[1]).max(p[1] - (lo + self.cell)).max(0.0)) * s[1];
            let vg2 = vg * vg;
            if vg2 >= best2 {
                return false;
            }
            // Columns whose x-gap can still beat best: |x − px|·sx < sqrt(best2 − vg2).
            let reach = (best2 - vg2).sqrt() / s[0];
            let c_lo = ((p[0] - reach - self.x0) * self.inv_cell) as i64 as f64;
            let c_hi = ((p[0] + reach - self.x0) * self.inv_cell) as i64 as f64;
            let cols = self.row(row);
            let start = if c_lo <= 0.0 { 0 } else { cols.partition_point(|&c| (c as f64) < c_lo) };
            for &col in &cols[start..] {
                if col as f64 > c_hi {
                    break;
                }
                let xl = self.x0 + col as f64 * self.cell;
                let hg = ((xl - p[0]).max(p[0] - (xl + self.cell)).max(0.0)) * s[0];
                if hg * hg + vg2 >= best2 {
                    continue;
                }
                for &e in self.cell_edges((row * self.nx + col) as usize) {
                    let d2 = seg_dist2(p, xy[e as usize], xy[e as usize + 1], s);
                    if d2 < best2 {
                        best2 = d2;
                        best_e = e;
                        if stop_below > 0.0 && d2.sqrt() < stop_below {
                            done = true;
                            return false;
                        }
                    }
                }
            }
            true
        });
        if best_e == u32::MAX {
            (bound, u32::MAX)
        } else {
            (best2.sqrt(), best_e)
        }
    }

    /// Whether `p` lies exactly on edge `e` (exact predicate).
    pub(crate) fn on_edge(xy: &[Xy], e: u32, p: Xy) -> bool {
        let (a, b) = (xy[e as usize], xy[e as usize + 1]);
        orient(a, b, p) == 0
            && Rect { min: [a[0].min(b[0]), a[1].min(b[1])], max: [a[0].max(b[0]), a[1].max(b[1])] }.contains(p)
    }

    /// Candidate pairs of edges that share a cell (each pair once per shared cell), for
    /// intersection checks: sub-quadratic in the vertex count.
    pub(crate) fn for_each_cell_pair(&self, mut f: impl FnMut(u32, u32) -> bool) -> bool {
        for c in 0..(self.nx as usize * self.ny as usize) {
            let es = self.cell_edges(c);
            for (k, &a) in es.iter().enumerate() {
                for &b in &es[k + 1..] {
                    if !f(a, b) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Bytes of heap memory held by the grid.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Number of cells.
    #[cfg(test)]
    pub(crate) fn cell_count(&self) -> usize {
        self.nx as usize * self.ny as usize
    }
}

fn cell_rect(x0: f64, y0: f64, cell: f64, i: u32, j: u32, margin: f64) -> Rect {
    let lx = x0 + i as f64 * cell;
    let ly = y0 + j as f64 * cell;
    Rect { min: [lx - margin, ly - margin], max: [lx + cell + margin, ly + cell + margin] }
}
