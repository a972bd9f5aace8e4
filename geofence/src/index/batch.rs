//! Batch evaluation: many fixes at once, with exactly the verdicts (and their order) that one
//! [`FenceSet::evaluate_into`] call per fix gives, at a fraction of the cost.
//!
//! The work is bound by cache misses over ~1 GB of fences, so the passes are arranged for
//! locality rather than in fix order:
//! 1. *Stage*: the fixes are copied out in evaluation order (grouped by person for
//!    [`FenceSet::evaluate_batch`]) with their per-fix values (scale factors) computed once;
//!    the only random reads of the caller's array happen here, in a tight loop whose misses
//!    overlap.
//! 2. *Zone pass*: every fix's candidate exclusion zones are collected from the zone grid, put in
//!    zone order by a counting sort, and evaluated one zone after another while the next zone's
//!    data streams in; the verdicts go back to each fix in the order the grid produced them.
//!    Zones are shared by all persons, so in fix order each zone candidate costs a handful of
//!    misses into ~100 MB of zone geometry; in zone order a zone is loaded once per batch.
//! 3. *Own pass*: person by person, a software pipeline prefetches the next persons' records,
//!    fence headers and grid cells while the current fix is evaluated; the fix's zone verdicts
//!    are appended and the sink is called.
//!
//! Working buffers (~180 B per fix) are kept per thread and reused by the next call: allocating
//! them afresh for each batch of a million fixes cost ~80 ms of page faults, 15 % of the batch.
//! They are sized by the largest batch a thread has evaluated.

use std::cell::RefCell;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};

use super::{AppliesTo, BatchFix, FenceSet, PersonKey};
use crate::fence::{PersonId, Probe};
use crate::metric::MetresPerDegree;
use crate::planar::{prefetch, prefetch_all};
use crate::verdict::Verdict;

/// A fix of a batch, copied out in evaluation order with its per-fix values computed once.
#[derive(Clone, Copy)]
struct Staged {
    probe: Probe,
    person: PersonId,
    key: Option<PersonKey>,
    /// Its index in the caller's batch.
    index: u32,
}

/// One fix near one zone, waiting for the zone pass: what the verdict needs when the zone applies
/// to everybody at all times (the usual case); otherwise the fix is looked up.
#[derive(Clone, Copy)]
struct ZoneJob {
    lon: f64,
    lat: f64,
    a: f64,
    k: MetresPerDegree,
    slot: u32,
    /// Where its verdict goes in `zone_verdicts` (candidates in the grid's order, fix by fix).
    at: u32,
}

/// Working memory of one batch evaluation (see the module documentation).
#[derive(Default)]
struct Scratch {
    radix: Vec<(u64, u32)>,
    radix_tmp: Vec<(u64, u32)>,
    radix_count: Vec<usize>,
    order: Vec<u32>,
    staged: Vec<Staged>,
    jobs: Vec<ZoneJob>,
    sorted: Vec<ZoneJob>,
    slot_end: Vec<u32>,
    /// Fix `j`'s zone candidates are `zone_verdicts[zone_off[j]..zone_off[j + 1]]`: `None` where
    /// the zone is definitely outside, not in force or not applicable.
    zone_off: Vec<u32>,
    zone_verdicts: Vec<Option<Verdict>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Runs `f` with this thread's scratch buffers (fresh ones if a sink re-enters the evaluator).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// `sc.order` := indices of `fixes` ordered by person id, stable (each person's fixes keep their
/// order): an LSD radix sort on the id's bits (16 bits a pass, passes whose digit is constant
/// skipped), ~10× cheaper than a comparison sort on a million fixes.
fn group_by_person(fixes: &[BatchFix], sc: &mut Scratch) {
    // Keys travel with their indices so every pass reads sequentially. The sign bit is flipped
    // so that the unsigned order is the signed order.
    let items = &mut sc.radix;
    items.clear();
    items.extend(fixes.iter().enumerate().map(|(i, f)| ((f.person as u64) ^ (1 << 63), i as u32)));
    let tmp = &mut sc.radix_tmp;
    tmp.clear();
    tmp.resize(items.len(), (0, 0));
    let count = &mut sc.radix_count;
    count.resize(1 << 16, 0);
    for pass in 0..4 {
        let shift = pass * 16;
        count.iter_mut().for_each(|c| *c = 0);
        for &(k, _) in items.iter() {
            count[((k >> shift) & 0xffff) as usize] += 1;
        }
        if count.contains(&items.len()) {
            continue; // every key has the same digit here
        }
        let mut sum = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for &(k, i) in items.iter() {
            let d = ((k >> shift) & 0xffff) as usize;
            tmp[count[d]] = (k, i);
            count[d] += 1;
        }
        std::mem::swap(items, tmp);
    }
    sc.order.clear();
    sc.order.extend(items.iter().map(|&(_, i)| i));
}

/// `sc.staged` := the fixes `all[sc.order[..]]`, in that order (see the module documentation).
fn stage(all: &[BatchFix], sc: &mut Scratch) {
    const AHEAD: usize = 32;
    let (order, staged) = (&sc.order, &mut sc.staged);
    staged.clear();
    staged.reserve(order.len());
    for (k, &i) in order.iter().enumerate() {
        if let Some(&next) = order.get(k + AHEAD) {
            // 56 B entries may straddle two cache lines.
            let p = &all[next as usize] as *const BatchFix as *const u8;
            prefetch(p);
            prefetch(p.wrapping_add(std::mem::size_of::<BatchFix>() - 1));
        }
        let f = &all[i as usize];
        staged.push(Staged { probe: Probe::new(&f.fix), person: f.person, key: f.key, index: i });
    }
}

/// Prefetches queued memory spans (fences' heap data) a few cache lines at a time, so that the
/// data of the fences evaluated next streams in while the current ones are evaluated: a burst of
/// hundreds of prefetches would overflow the miss buffers and be dropped, and random demand
/// misses cell by cell cost far more than a sequential stream.
#[derive(Default)]
struct Streamer {
    spans: [(usize, usize); Streamer::SPANS],
    head: usize,
    len: usize,
}

impl Streamer {
    const SPANS: usize = 32;

    /// Queues a span (dropped when the queue is full: prefetching is only a hint).
    fn push(&mut self, (p, n): (*const u8, usize)) {
        if n > 0 && self.len < Self::SPANS {
            self.spans[(self.head + self.len) % Self::SPANS] = (p as usize, p as usize + n);
            self.len += 1;
        }
    }

    /// Queues a shape's heap data.
    fn push_shape(&mut self, shape: &crate::shape::Shape) {
        for span in shape.heap_spans() {
            self.push(span);
        }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Issues up to `lines` prefetches from the front of the queue.
    #[inline]
    fn step(&mut self, mut lines: usize) {
        while lines > 0 && self.len > 0 {
            let (at, end) = &mut self.spans[self.head];
            while lines > 0 && *at < *end {
                prefetch(*at as *const u8);
                *at += 64;
                lines -= 1;
            }
            if *at >= *end {
                self.head = (self.head + 1) % Self::SPANS;
                self.len -= 1;
            }
        }
    }
}

impl FenceSet {
    /// Evaluates many fixes, as [`evaluate_into`](Self::evaluate_into) does one, calling
    /// `sink(index, verdicts)` once per fix, **grouped by person**: fixes are visited in order of
    /// person id, each person's fixes in their input order (so per-person time order is kept).
    /// Each fix gets the very verdicts, in the same order, that `evaluate_into` gives it.
    /// Grouping lets consecutive fixes of one person share the cache lines of that person's
    /// fences (the sort is included in the cost); exclusion zones are evaluated zone by zone
    /// beforehand (see the `batch` module). Working buffers (~180 B per fix) are kept per
    /// thread for the next call.
    pub fn evaluate_batch(&self, fixes: &[BatchFix], fast: bool, sink: impl FnMut(usize, &[Verdict])) {
        with_scratch(|sc| {
            group_by_person(fixes, sc);
            self.run_batch(fixes, fast, sc, sink);
        });
    }

    /// Evaluates many fixes in input order, calling `sink(index, verdicts)` for each. Same
    /// verdicts as [`evaluate_into`](Self::evaluate_into), higher throughput: zones are
    /// evaluated zone by zone first, and the fences a fix will read are prefetched several fixes
    /// ahead (person record 16 ahead, fence headers 8 ahead, grid cells 4 ahead), so the cache
    /// misses of consecutive fixes overlap instead of queueing.
    pub fn evaluate_stream(&self, fixes: &[BatchFix], fast: bool, sink: impl FnMut(usize, &[Verdict])) {
        with_scratch(|sc| {
            sc.order.clear();
            sc.order.extend(0..fixes.len() as u32);
            self.run_batch(fixes, fast, sc, sink);
        });
    }

    fn run_batch(&self, all: &[BatchFix], fast: bool, sc: &mut Scratch, sink: impl FnMut(usize, &[Verdict])) {
        stage(all, sc);
        self.zone_pass(fast, sc);
        self.own_pass(fast, sc, sink);
    }

    /// Pass 2 (see the module documentation): fills `sc.zone_off` and `sc.zone_verdicts`.
    fn zone_pass(&self, fast: bool, sc: &mut Scratch) {
        let staged = &sc.staged;
        let n = staged.len();
        let (jobs, off) = (&mut sc.jobs, &mut sc.zone_off);
        jobs.clear();
        off.clear();
        off.push(0);
        // Collect, pipelined: grid cell 16 fixes ahead, the cell's entries 8 ahead (the grid,
        // ~1 MB, does not stay in L2 beside the fences).
        const DA: usize = 16;
        const DB: usize = 8;
        let mut rects = [None::<[f64; 4]>; 32];
        for i in 0..n + DA {
            if let Some(fx) = staged.get(i) {
                let r = self.zone_query(&fx.probe);
                if let Some(r) = &r {
                    self.zone_grid.prefetch_cell(r);
                }
                rects[i % 32] = r;
            }
            if let Some(j) = (i + DB).checked_sub(DA).filter(|&j| j < n) {
                if let Some(r) = &rects[j % 32] {
                    self.zone_grid.prefetch_entries(r);
                }
            }
            if let Some(j) = i.checked_sub(DA) {
                if let Some(r) = &rects[j % 32] {
                    let p = &staged[j].probe;
                    let _ = self.zone_grid.for_each_meeting(r, |slot| {
                        let at = jobs.len() as u32;
                        jobs.push(ZoneJob { lon: p.lon, lat: p.lat, a: p.a, k: p.k, slot, at });
                        ControlFlow::<()>::Continue(())
                    });
                }
                off.push(jobs.len() as u32);
            }
        }

        // Counting sort by slot (stable: a zone's fixes stay in batch order).
        let end = &mut sc.slot_end;
        end.clear();
        end.resize(self.shared.len() + 1, 0);
        for job in jobs.iter() {
            end[job.slot as usize + 1] += 1;
        }
        for k in 1..end.len() {
            end[k] += end[k - 1];
        }
        let sorted = &mut sc.sorted;
        sorted.clear();
        sorted.reserve(jobs.len());
        let spare = sorted.spare_capacity_mut();
        for job in jobs.iter() {
            let s = &mut end[job.slot as usize];
            spare[*s as usize].write(*job);
            *s += 1;
        }
        // SAFETY: the counting sort wrote every position below jobs.len() exactly once (the
        // per-slot ranges partition 0..jobs.len()).
        unsafe { sorted.set_len(jobs.len()) };
        // Now `end[slot]` is the end of that slot's jobs in `sorted`.

        // Evaluate zone by zone. While a zone is evaluated, the next one's data streams in (a
        // few lines per job); each job's grid cell is also prefetched a few jobs ahead.
        let verdicts = &mut sc.zone_verdicts;
        verdicts.clear();
        verdicts.resize(sorted.len(), None);
        const AHEAD: usize = 8;
        const LINES_PER_JOB: usize = 4;
        const STREAM_MIN_JOBS: usize = 8;
        let mut stream = Streamer::default();
        for (k, job) in sorted.iter().enumerate() {
            if k == 0 || sorted[k - 1].slot != job.slot {
                let stop = end[job.slot as usize] as usize;
                let many = |slot: u32, from: usize| end[slot as usize] as usize - from >= STREAM_MIN_JOBS;
                stream.clear();
                if k == 0 && many(job.slot, k) {
                    if let Some(s) = &self.shared[job.slot as usize] {
                        stream.push_shape(&s.fence.shape);
                        stream.step(usize::MAX);
                    }
                }
                match sorted.get(stop) {
                    Some(next) if many(next.slot, stop) => {
                        if let Some(s) = &self.shared[next.slot as usize] {
                            stream.push_shape(&s.fence.shape);
                        }
                    }
                    _ => {}
                }
            }
            stream.step(LINES_PER_JOB);
            if let Some(next) = sorted.get(k + AHEAD) {
                if let Some(s) = &self.shared[next.slot as usize] {
                    s.fence.shape.prefetch(next.lon, next.lat, !fast);
                }
            }
            verdicts[job.at as usize] = self.zone_job_verdict(job, staged, off, fast);
        }
    }

    /// The verdict of one zone job, as [`FenceSet::eval_zone`] gives it for that fix.
    #[inline]
    fn zone_job_verdict(&self, job: &ZoneJob, staged: &[Staged], off: &[u32], fast: bool) -> Option<Verdict> {
        let s = self.shared[job.slot as usize].as_ref()?;
        let f = &s.fence;
        if matches!(s.applies, AppliesTo::All) && f.validity.is_none() && f.schedule.is_none() {
            // Neither the person nor the time is read for such a zone: the job has all it needs.
            let probe =
                Probe { lon: job.lon, lat: job.lat, a: job.a, k: job.k, at: DateTime::<Utc>::MIN_UTC, valid: true };
            self.zone_verdict(s, 0, &probe, fast)
        } else {
            // The fix whose candidate range holds `at`.
            let j = off.partition_point(|&o| o <= job.at) - 1;
            self.zone_verdict(s, staged[j].person, &staged[j].probe, fast)
        }
    }

    /// Pass 3 (see the module documentation).
    fn own_pass(&self, fast: bool, sc: &Scratch, mut sink: impl FnMut(usize, &[Verdict])) {
        let staged = &sc.staged;
        let zone_verdicts =
            |j: usize| sc.zone_verdicts[sc.zone_off[j] as usize..sc.zone_off[j + 1] as usize].iter().flatten().copied();
        const D1: usize = 16;
        const D2: usize = 8;
        const D3: usize = 4;
        let n = staged.len();
        let mut keys = [None; 32]; // > D1
        let mut out = Vec::with_capacity(16);
        let mut last: Option<(PersonId, Option<PersonKey>)> = None;
        // Streaming a person's fences (see stage 1): from this many fixes in a row, this many
        // cache lines per fix (measured on the peers workload: ~-14 % with distances, neutral
        // without; 32 or 48 lines per fix were no better).
        const STREAM_MIN_FIXES: usize = 4;
        const LINES_FAST: usize = 16;
        const LINES_EXACT: usize = 24;
        let mut stream = Streamer::default();
        for i in 0..n + D1 {
            // Stage 1: resolve the person and start loading their record (grouped batches
            // repeat a person many times: one id lookup per run of fixes).
            if let Some(fx) = staged.get(i) {
                let key = fx.key.or_else(|| match last {
                    Some((p, k)) if p == fx.person => k,
                    _ => {
                        let k = self.person_key(fx.person);
                        last = Some((fx.person, k));
                        k
                    }
                });
                if let Some(PersonKey(k)) = key {
                    prefetch_all(&self.persons[k as usize]);
                    // A person with several fixes in a row: stream all their fences' data
                    // in (their fixes will touch most of it) rather than miss cell by cell.
                    if i == 0 || staged[i - 1].person != fx.person {
                        let run = staged[i..].iter().take(STREAM_MIN_FIXES).take_while(|f| f.person == fx.person);
                        if run.count() == STREAM_MIN_FIXES {
                            for f in &self.persons[k as usize].own {
                                stream.push_shape(&f.shape);
                            }
                        }
                    }
                }
                stream.step(if fast { LINES_FAST } else { LINES_EXACT });
                keys[i % 32] = key;
            }
            // Stage 2: fence headers.
            if let Some(j) = (i + D2).checked_sub(D1).filter(|&j| j < n) {
                if let Some(PersonKey(k)) = keys[j % 32] {
                    for f in &self.persons[k as usize].own {
                        prefetch_all(f);
                    }
                }
            }
            // Stage 3: the grid cells each fence will read first.
            if let Some(j) = (i + D3).checked_sub(D1).filter(|&j| j < n) {
                if let Some(PersonKey(k)) = keys[j % 32] {
                    let p = &staged[j].probe;
                    for f in &self.persons[k as usize].own {
                        f.shape.prefetch(p.lon, p.lat, !fast);
                    }
                }
            }
            // Stage 4: evaluate, then add the zones' verdicts found in the zone pass.
            if let Some(j) = i.checked_sub(D1) {
                out.clear();
                self.eval_person(keys[j % 32], &staged[j].probe, fast, &mut out);
                out.extend(zone_verdicts(j));
                sink(staged[j].index as usize, &out);
            }
        }
    }
}
