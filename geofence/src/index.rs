//! The fence set: personal fences found by person, shared fences in an R-tree.
//!
//! Shaped by measurement (../shared/peers): a location in a city lies inside the bounding boxes
//! of hundreds of *other* people's fences, so a single spatial index over everybody's fences
//! pays for all of them on every fix. Personal fences are therefore looked up by person (a
//! dense `Vec` behind an id map), and only shared fences (district boundaries, exclusion zones
//! that apply to many persons) live in an `rstar` R-tree, bulk-loaded at start and updated
//! incrementally. Shared fences are stored once and know whom they apply to. The evaluators
//! find exclusion zones near a fix through a flat grid kept alongside the tree
//! (the `zone_grid` module: one cell and a few contiguous boxes instead of a walk through three
//! levels of tree nodes), behind a coarse occupancy bitmap that lets fixes far from every zone
//! skip even that.
//!
//! Three ways to evaluate, same verdicts: [`FenceSet::evaluate`] / [`FenceSet::evaluate_into`]
//! for one fix; [`FenceSet::evaluate_stream`] for many in input order; [`FenceSet::evaluate_batch`],
//! the same after grouping the fixes by person (each person's fixes keep their order), fastest
//! when a batch mixes many persons. Both batch forms evaluate the zones zone by zone and then the
//! own fences with prefetching (see the `batch` module). Person id → dense index is a hash
//! lookup; callers may cache the [`PersonKey`] (measured on the peers workload: dense keys and id
//! lookups within ~10 % once grouped; the id map costs ~9 ns in cache).
//!
//! # Memory
//! Per person: 56 B (`PersonFences`) + ~13 B in the id map. Per fence: `size_of::<Fence>()`
//! (see [`FenceSet::memory_bytes`]) plus its shape's heap (`PreparedArea::heap_bytes`). Per
//! shared fence additionally ~48 B of R-tree entry and slot maps, and per exclusion zone ~100 B
//! of zone grid.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RStarInsertionStrategy, RTree, RTreeParams, AABB};

use crate::error::FenceError;
use crate::fence::{Fence, FenceId, FenceKind, FixPoint, PersonId, Probe};
use crate::verdict::{Position, Verdict};
use crate::zone_grid::ZoneGrid;

mod batch;

/// Whom a shared fence applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliesTo {
    /// Every person.
    All,
    /// These persons (kept sorted).
    Persons(Vec<PersonId>),
}

impl AppliesTo {
    fn normalised(self) -> Self {
        match self {
            AppliesTo::All => AppliesTo::All,
            AppliesTo::Persons(mut v) => {
                v.sort_unstable();
                v.dedup();
                AppliesTo::Persons(v)
            }
        }
    }
    /// Whether it applies to `person`.
    #[inline]
    pub fn includes(&self, person: PersonId) -> bool {
        match self {
            AppliesTo::All => true,
            AppliesTo::Persons(v) => v.binary_search(&person).is_ok(),
        }
    }
}

/// A dense handle for a person in one [`FenceSet`] (skips the id hash lookup on hot paths).
/// Valid until the person is removed from the set; handles are never reused within a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonKey(u32);

/// Where a person stands relative to the union of their active inclusion fences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InclusionSummary {
    /// Inside if any active inclusion fence says inside (its disc is in the union); outside if
    /// all say outside; otherwise uncertain (conservative where fences overlap: a disc that
    /// straddles an inner shared border is uncertain although it is inside the union).
    pub position: Position,
    /// The largest signed distance over the fences: a lower bound of the signed distance to the
    /// union's boundary when positive, exact when negative. Metres.
    pub best_distance_m: f64,
    /// How many active inclusion fences took part.
    pub fences: usize,
}

/// Fx-style multiplicative hasher for integer ids (ids come from the database, not from
/// untrusted input, so hash flooding is not a concern; SipHash would cost ~15 ns per fix).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;
type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// R-tree node sizes: wider than rstar's default (6) so that a point query over ~10 k zones
/// descends three levels instead of six; children are scanned linearly, which the cache likes.
#[derive(Debug)]
pub(crate) struct ZoneParams;

impl RTreeParams for ZoneParams {
    const MIN_SIZE: usize = 6;
    const MAX_SIZE: usize = 16;
    const REINSERTION_COUNT: usize = 4;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// A coarse occupancy bitmap over the exclusion zones' bounding boxes, in front of the R-tree:
/// a fix whose accuracy square touches no marked cell cannot be near any zone, and skips the
/// tree walk (~0.5 µs on 10 k zones). Conservative: bits are set on insert and never cleared
/// on removal (a stale bit costs one tree query, never a wrong answer); a zone outside the
/// mask's extent switches the filter off until the next bulk load.
#[derive(Debug, Clone)]
struct ZoneMask {
    lon0: f64,
    lat0: f64,
    inv_dlon: f64,
    inv_dlat: f64,
    nx: usize,
    ny: usize,
    bits: Vec<u64>,
}

impl ZoneMask {
    /// At most 2^18 cells (32 KB: stays in L1/L2).
    const MAX_CELLS: f64 = 262_144.0;

    fn new(boxes: &[[f64; 4]]) -> Option<Self> {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for x in boxes {
            b = [b[0].min(x[0]), b[1].min(x[1]), b[2].max(x[2]), b[3].max(x[3])];
        }
        if boxes.is_empty() || !(b[2] > b[0] && b[3] > b[1]) {
            return None;
        }
        let (w, h) = (b[2] - b[0], b[3] - b[1]);
        let cell = (w * h / Self::MAX_CELLS).sqrt();
        let nx = ((w / cell).ceil() as usize).clamp(1, 1 << 20);
        let ny = ((h / cell).ceil() as usize).clamp(1, 1 << 20);
        let mut m = ZoneMask {
            lon0: b[0],
            lat0: b[1],
            inv_dlon: nx as f64 / w,
            inv_dlat: ny as f64 / h,
            nx,
            ny,
            bits: vec![0; (nx * ny).div_ceil(64)],
        };
        for x in boxes {
            m.mark(x);
        }
        Some(m)
    }

    /// Cell range covering `[lon0, lat0, lon1, lat1]`, clamped; `None` if disjoint. (Truncation
    /// instead of `floor`, a libm call on baseline x86-64: it can only widen the range.)
    #[inline]
    fn range(&self, r: &[f64; 4]) -> Option<(usize, usize, usize, usize)> {
        let fx0 = ((r[0] - self.lon0) * self.inv_dlon) as i64 as f64;
        let fx1 = ((r[2] - self.lon0) * self.inv_dlon) as i64 as f64;
        let fy0 = ((r[1] - self.lat0) * self.inv_dlat) as i64 as f64;
        let fy1 = ((r[3] - self.lat0) * self.inv_dlat) as i64 as f64;
        if fx1 < 0.0 || fy1 < 0.0 || fx0 >= self.nx as f64 || fy0 >= self.ny as f64 {
            return None;
        }
        let c = |v: f64, n: usize| (v.max(0.0) as usize).min(n - 1);
        Some((c(fx0, self.nx), c(fx1, self.nx), c(fy0, self.ny), c(fy1, self.ny)))
    }

    /// Whether a box lies within the mask's extent (else the mask cannot vouch for it).
    fn covers(&self, r: &[f64; 4]) -> bool {
        r[0] >= self.lon0
            && r[1] >= self.lat0
            && r[2] <= self.lon0 + self.nx as f64 / self.inv_dlon
            && r[3] <= self.lat0 + self.ny as f64 / self.inv_dlat
    }

    fn mark(&mut self, r: &[f64; 4]) {
        if let Some((x0, x1, y0, y1)) = self.range(r) {
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let k = y * self.nx + x;
                    self.bits[k / 64] |= 1 << (k % 64);
                }
            }
        }
    }

    /// Whether any zone box may meet `r` (true when unsure).
    #[inline]
    fn may_hit(&self, r: &[f64; 4]) -> bool {
        let Some((x0, x1, y0, y1)) = self.range(r) else { return false };
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 64 {
            return true;
        }
        (y0..=y1).any(|y| {
            (x0..=x1).any(|x| {
                let k = y * self.nx + x;
                self.bits[k / 64] & (1 << (k % 64)) != 0
            })
        })
    }
}

#[derive(Debug, Default)]
struct PersonFences {
    id: PersonId,
    own: Vec<Fence>,
    /// Slots of shared inclusion fences that apply to this person specifically.
    shared_incl: Vec<u32>,
}

#[derive(Debug)]
struct SharedFence {
    fence: Fence,
    applies: AppliesTo,
    entry: Entry,
}

/// All fences, ready to evaluate fixes.
#[derive(Debug, Default)]
pub struct FenceSet {
    persons: Vec<PersonFences>,
    person_index: IdMap<u32>,
    personal_owner: IdMap<u32>,
    shared: Vec<Option<SharedFence>>,
    shared_slot: IdMap<u32>,
    free_slots: Vec<u32>,
    tree: RTree<Entry, ZoneParams>,
    /// Occupancy filter over exclusion zones; `None` = always ask the zone grid.
    zone_mask: Option<ZoneMask>,
    /// The exclusion zones again, in the flat grid the evaluators query (see [`ZoneGrid`]).
    zone_grid: ZoneGrid,
    incl_all: Vec<u32>,
}

/// One fix of a batch for [`FenceSet::evaluate_batch`].
#[derive(Debug, Clone, Copy)]
pub struct BatchFix {
    /// The person's dense key if the caller has it cached (else it is looked up by `person`).
    pub key: Option<PersonKey>,
    /// The person.
    pub person: PersonId,
    /// The fix.
    pub fix: FixPoint,
}

/// Whom a fence may concern (see [`FenceSet::persons_possibly_inside`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonScope {
    /// Everybody.
    All,
    /// These persons.
    Persons(Vec<PersonId>),
}

fn entry_of(f: &Fence, slot: u32) -> Entry {
    let b = f.shape.bbox_lonlat();
    GeomWithData::new(Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]), slot)
}

impl FenceSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set whose shared fences are bulk-loaded into the R-tree at once (faster to build and
    /// better packed than inserting one by one).
    pub fn with_shared(shared: Vec<(Fence, AppliesTo)>) -> Result<Self, FenceError> {
        let mut set = FenceSet::new();
        let mut entries = Vec::with_capacity(shared.len());
        for (fence, applies) in shared {
            if set.shared_slot.contains_key(&fence.id) {
                return Err(FenceError::DuplicateId(fence.id));
            }
            let slot = set.shared.len() as u32;
            let entry = entry_of(&fence, slot);
            entries.push(entry);
            set.shared_slot.insert(fence.id, slot);
            set.shared.push(Some(SharedFence { fence, applies: applies.normalised(), entry }));
            set.link_inclusion(slot);
        }
        set.tree = RTree::bulk_load_with_params(entries);
        set.rebuild_zone_mask();
        Ok(set)
    }

    /// Rebuilds the occupancy filter and the zone grid from the current exclusion zones (done by
    /// [`with_shared`](Self::with_shared); call after many removals or after adding zones
    /// outside the area covered at load time, which switches the filter off; the grid also
    /// rebuilds itself when its side tables grow).
    pub fn rebuild_zone_mask(&mut self) {
        let boxes: Vec<[f64; 4]> = self
            .shared
            .iter()
            .flatten()
            .filter(|s| s.fence.kind == FenceKind::Exclusion)
            .map(|s| s.fence.shape.bbox_lonlat())
            .collect();
        self.zone_mask = ZoneMask::new(&boxes);
        self.rebuild_zone_grid();
    }

    fn rebuild_zone_grid(&mut self) {
        let zones: Vec<(u32, [f64; 4])> = self
            .shared
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| Some((slot as u32, s.as_ref()?)))
            .filter(|(_, s)| s.fence.kind == FenceKind::Exclusion)
            .map(|(slot, s)| (slot, s.fence.shape.bbox_lonlat()))
            .collect();
        self.zone_grid = ZoneGrid::build(&zones);
    }

    fn person_slot(&mut self, person: PersonId) -> u32 {
        if let Some(&k) = self.person_index.get(&person) {
            return k;
        }
        let k = self.persons.len() as u32;
        self.persons.push(PersonFences { id: person, ..Default::default() });
        self.person_index.insert(person, k);
        k
    }

    /// The dense handle of `person`, if they have any fence or shared assignment.
    #[inline]
    pub fn person_key(&self, person: PersonId) -> Option<PersonKey> {
        self.person_index.get(&person).map(|&k| PersonKey(k))
    }

    /// Adds or replaces (same id) a personal fence of `person`. Fails if the id belongs to
    /// another person or to a shared fence.
    pub fn put_personal(&mut self, person: PersonId, fence: Fence) -> Result<(), FenceError> {
        if self.shared_slot.contains_key(&fence.id) {
            return Err(FenceError::DuplicateId(fence.id));
        }
        let k = self.person_slot(person);
        match self.personal_owner.get(&fence.id) {
            Some(&owner) if owner != k => return Err(FenceError::DuplicateId(fence.id)),
            Some(_) => {
                let own = &mut self.persons[k as usize].own;
                if let Some(slot) = own.iter_mut().find(|f| f.id == fence.id) {
                    *slot = fence;
                }
            }
            None => {
                self.personal_owner.insert(fence.id, k);
                self.persons[k as usize].own.push(fence);
            }
        }
        Ok(())
    }

    /// Adds a temporary inclusion fence for `person` (an approved leave's destination or route
    /// corridor), in force only within `[from, until)`.
    pub fn add_temporary_inclusion(
        &mut self,
        person: PersonId,
        fence: Fence,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), FenceError> {
        let mut fence = fence.with_validity(from, until)?;
        fence.kind = FenceKind::Inclusion;
        self.put_personal(person, fence)
    }

    /// Removes a personal fence; returns it.
    pub fn remove_personal(&mut self, id: FenceId) -> Option<Fence> {
        let k = self.personal_owner.remove(&id)?;
        let own = &mut self.persons[k as usize].own;
        let i = own.iter().position(|f| f.id == id)?;
        Some(own.swap_remove(i))
    }

    fn link_inclusion(&mut self, slot: u32) {
        let Some(sf) = self.shared[slot as usize].as_ref() else { return };
        if sf.fence.kind != FenceKind::Inclusion {
            return;
        }
        match sf.applies.clone() {
            AppliesTo::All => self.incl_all.push(slot),
            AppliesTo::Persons(ps) => {
                for p in ps {
                    let k = self.person_slot(p);
                    self.persons[k as usize].shared_incl.push(slot);
                }
            }
        }
    }

    fn unlink_inclusion(&mut self, slot: u32) {
        let Some(sf) = self.shared[slot as usize].as_ref() else { return };
        if sf.fence.kind != FenceKind::Inclusion {
            return;
        }
        match &sf.applies {
            AppliesTo::All => self.incl_all.retain(|&s| s != slot),
            AppliesTo::Persons(ps) => {
                for p in ps {
                    if let Some(&k) = self.person_index.get(p) {
                        self.persons[k as usize].shared_incl.retain(|&s| s != slot);
                    }
                }
            }
        }
    }

    /// Adds or replaces (same id) a shared fence; the R-tree is updated incrementally.
    pub fn put_shared(&mut self, fence: Fence, applies: AppliesTo) -> Result<(), FenceError> {
        if self.personal_owner.contains_key(&fence.id) {
            return Err(FenceError::DuplicateId(fence.id));
        }
        self.remove_shared(fence.id);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.shared.push(None);
            self.shared.len() as u32 - 1
        });
        let entry = entry_of(&fence, slot);
        self.tree.insert(entry);
        if fence.kind == FenceKind::Exclusion {
            let b = fence.shape.bbox_lonlat();
            match &mut self.zone_mask {
                Some(m) if m.covers(&b) => m.mark(&b),
                _ => self.zone_mask = None,
            }
            self.zone_grid.insert(slot, &b);
        }
        self.shared_slot.insert(fence.id, slot);
        self.shared[slot as usize] = Some(SharedFence { fence, applies: applies.normalised(), entry });
        self.link_inclusion(slot);
        if self.zone_grid.wants_rebuild() {
            self.rebuild_zone_grid();
        }
        Ok(())
    }

    /// Retires a shared fence; returns it.
    pub fn remove_shared(&mut self, id: FenceId) -> Option<Fence> {
        let slot = self.shared_slot.remove(&id)?;
        self.unlink_inclusion(slot);
        let sf = self.shared[slot as usize].take()?;
        self.tree.remove(&sf.entry);
        if sf.fence.kind == FenceKind::Exclusion {
            self.zone_grid.remove(slot, &sf.fence.shape.bbox_lonlat());
        }
        self.free_slots.push(slot);
        Some(sf.fence)
    }

    /// A fence by id (personal or shared).
    pub fn get(&self, id: FenceId) -> Option<&Fence> {
        if let Some(&slot) = self.shared_slot.get(&id) {
            return self.shared[slot as usize].as_ref().map(|s| &s.fence);
        }
        let k = *self.personal_owner.get(&id)?;
        self.persons[k as usize].own.iter().find(|f| f.id == id)
    }

    /// Who may be inside (or concerned by) fence `id`: its owner for a personal fence, the
    /// persons it applies to for a shared one; `None` for an unknown id.
    pub fn persons_possibly_inside(&self, id: FenceId) -> Option<PersonScope> {
        if let Some(&slot) = self.shared_slot.get(&id) {
            return self.shared[slot as usize].as_ref().map(|s| match &s.applies {
                AppliesTo::All => PersonScope::All,
                AppliesTo::Persons(p) => PersonScope::Persons(p.clone()),
            });
        }
        let k = *self.personal_owner.get(&id)?;
        Some(PersonScope::Persons(vec![self.persons[k as usize].id]))
    }

    /// Shared fences (of either kind) whose area contains the point, by R-tree then exact test
    /// (in force or not).
    ///
    /// # Units
    /// Degrees.
    pub fn shared_fences_containing(&self, lon: f64, lat: f64) -> Vec<FenceId> {
        let k = crate::metric::MetresPerDegree::at(lat);
        let env = AABB::from_point([lon, lat]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .filter_map(|e| self.shared[e.data as usize].as_ref())
            .filter(|s| s.fence.shape.signed_distance_m(lon, lat, &k).1)
            .map(|s| s.fence.id)
            .collect()
    }

    /// Numbers of persons, personal fences and shared fences.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.persons.len(), self.personal_owner.len(), self.shared_slot.len())
    }

    /// Approximate heap and inline bytes of the whole set (fences, shapes, maps, tree).
    pub fn memory_bytes(&self) -> usize {
        let persons: usize = self
            .persons
            .iter()
            .map(|p| {
                std::mem::size_of::<PersonFences>()
                    + p.own.capacity().saturating_sub(p.own.len()) * std::mem::size_of::<Fence>()
                    + p.own.iter().map(Fence::memory_bytes).sum::<usize>()
                    + p.shared_incl.capacity() * 4
            })
            .sum();
        let shared: usize = self
            .shared
            .iter()
            .flatten()
            .map(|s| {
                std::mem::size_of::<SharedFence>() - std::mem::size_of::<Fence>()
                    + s.fence.memory_bytes()
                    + match &s.applies {
                        AppliesTo::All => 0,
                        AppliesTo::Persons(p) => p.capacity() * 8,
                    }
            })
            .sum();
        // Hash maps: ~1.15 slots per entry (load factor 7/8) of key + value + 1 control byte.
        let maps = (self.person_index.capacity() + self.personal_owner.capacity() + self.shared_slot.capacity()) * 13;
        // R-tree: leaves of up to 6 entries (40 B each) plus parents.
        let tree = self.tree.size() * 48;
        persons + shared + maps + tree + self.zone_grid.heap_bytes()
    }

    /// Verdicts for every fence that applies to `person` and is in force at `fix.at`, with
    /// exact signed distances: all their personal fences, all shared inclusion fences that
    /// apply to them, and those shared exclusion fences that apply to them and whose area comes
    /// within the fix's accuracy radius (an omitted exclusion fence is definitely outside: no
    /// breach). A person with no fence gets only shared verdicts.
    pub fn evaluate(&self, person: PersonId, fix: &FixPoint) -> Vec<Verdict> {
        let mut out = Vec::new();
        self.evaluate_into(self.person_key(person), person, &Probe::new(fix), false, &mut out);
        out
    }

    /// As [`evaluate`](Self::evaluate) but without computing distances
    /// (`distance_m = None`): only decides whether a boundary lies within the accuracy radius.
    pub fn evaluate_fast(&self, person: PersonId, fix: &FixPoint) -> Vec<Verdict> {
        let mut out = Vec::new();
        self.evaluate_into(self.person_key(person), person, &Probe::new(fix), true, &mut out);
        out
    }

    /// The allocation-free core of [`evaluate`](Self::evaluate): clears `out` and pushes the
    /// verdicts. `key` is `self.person_key(person)` (pass it cached to skip the id lookup);
    /// `fast` skips exact distances.
    pub fn evaluate_into(
        &self,
        key: Option<PersonKey>,
        person: PersonId,
        probe: &Probe,
        fast: bool,
        out: &mut Vec<Verdict>,
    ) {
        out.clear();
        self.eval_person(key, probe, fast, out);
        self.zone_candidates(probe, |slot| {
            self.eval_zone(slot, person, probe, fast, out);
            ControlFlow::<()>::Continue(())
        });
    }

    #[inline]
    fn eval_person(&self, key: Option<PersonKey>, probe: &Probe, fast: bool, out: &mut Vec<Verdict>) {
        let eval = |f: &Fence| if fast { f.verdict_fast_probe(probe) } else { f.verdict_probe(probe) };
        if let Some(PersonKey(k)) = key {
            let pf = &self.persons[k as usize];
            for f in &pf.own {
                if f.is_active_probe(probe) {
                    out.push(eval(f));
                }
            }
            for &slot in &pf.shared_incl {
                if let Some(s) = &self.shared[slot as usize] {
                    if s.fence.is_active_probe(probe) {
                        out.push(eval(&s.fence));
                    }
                }
            }
        }
        for &slot in &self.incl_all {
            if let Some(s) = &self.shared[slot as usize] {
                if s.fence.is_active_probe(probe) {
                    out.push(eval(&s.fence));
                }
            }
        }
    }

    /// Calls `f` with the slot of every exclusion zone whose bounding box comes within the fix's
    /// accuracy radius (zone grid; the R-tree holds the same boxes but costs more to walk).
    #[inline]
    fn zone_candidates<B>(&self, probe: &Probe, f: impl FnMut(u32) -> ControlFlow<B>) {
        if let Some(r) = self.zone_query(probe) {
            let _ = self.zone_grid.for_each_meeting(&r, f);
        }
    }

    /// The box `[lon0, lat0, lon1, lat1]` within which a zone's box must come for the zone to
    /// be a candidate (the fix's accuracy radius, slightly widened), or `None` when no zone can
    /// be near (unusable fix, no zone, or the occupancy filter rules it out).
    #[inline]
    fn zone_query(&self, probe: &Probe) -> Option<[f64; 4]> {
        if self.tree.size() == 0 || !probe.valid {
            return None;
        }
        let r = if probe.a.is_finite() { probe.a } else { 0.0 };
        let dlon = r / probe.k.kx * 1.001 + 1e-9;
        let dlat = r / probe.k.ky * 1.001 + 1e-9;
        let r = [probe.lon - dlon, probe.lat - dlat, probe.lon + dlon, probe.lat + dlat];
        match &self.zone_mask {
            Some(m) if !m.may_hit(&r) => None,
            _ => Some(r),
        }
    }

    /// Shared exclusion fence `slot`, if it applies, is in force and is not definitely outside.
    #[inline]
    fn eval_zone(&self, slot: u32, person: PersonId, probe: &Probe, fast: bool, out: &mut Vec<Verdict>) {
        if let Some(v) = self.shared[slot as usize].as_ref().and_then(|s| self.zone_verdict(s, person, probe, fast)) {
            out.push(v);
        }
    }

    /// The verdict of a shared fence taken as an exclusion zone: `None` unless it is one, applies
    /// to `person`, is in force and is not definitely outside.
    #[inline]
    fn zone_verdict(&self, s: &SharedFence, person: PersonId, probe: &Probe, fast: bool) -> Option<Verdict> {
        if s.fence.kind != FenceKind::Exclusion || !s.applies.includes(person) || !s.fence.is_active_probe(probe) {
            return None;
        }
        // Most candidates are definitely outside (only their box was near): decide that without
        // the exact distance, which is computed only for zones that will be reported.
        let v = s.fence.verdict_fast_probe(probe);
        (v.position != Position::Outside).then(|| if fast { v } else { s.fence.verdict_probe_after_fast(probe, &v) })
    }

    /// Where the fix stands relative to the union of the person's active inclusion fences
    /// (personal and shared); `None` if none is active.
    pub fn effective_inclusion(&self, person: PersonId, fix: &FixPoint) -> Option<InclusionSummary> {
        let verdicts = self.evaluate(person, fix);
        let incl: Vec<&Verdict> = verdicts.iter().filter(|v| v.kind == FenceKind::Inclusion).collect();
        if incl.is_empty() {
            return None;
        }
        let position = if incl.iter().any(|v| v.position == Position::Inside) {
            Position::Inside
        } else if incl.iter().all(|v| v.position == Position::Outside) {
            Position::Outside
        } else {
            Position::Uncertain
        };
        let best = incl.iter().filter_map(|v| v.distance_m).fold(f64::NEG_INFINITY, f64::max);
        Some(InclusionSummary { position, best_distance_m: best, fences: incl.len() })
    }
}
