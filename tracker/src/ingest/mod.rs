//! The ingest pipeline: decode → validate → dedupe → store → evaluate → alarm, assembled in
//! [`Core::ingest_many`]. A reply of success means the fixes and the alarms they caused are
//! committed.
//!
//! Group commit: requests are queued to a few workers; each worker takes whatever requests are
//! waiting (up to [`MAX_JOBS_PER_COMMIT`]) and stores them in one transaction with a fixed number
//! of statements, so a single-fix request costs a share of one commit instead of a dozen round
//! trips. If a batch fails on its data, its requests are retried one by one so that one bad
//! request cannot fail the others.
//!
//! Per person, fixes are evaluated in time order: the transaction locks the persons' rows (in id
//! order, so workers never deadlock), sorts the fixes by time, and only fixes newer than the
//! newest already evaluated drive alarm state; late ones are stored, evaluated for the track and
//! attached as evidence, never reopening anything.

pub mod fix;
pub mod leaves;
pub mod protocol;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use geofence::verdict::Position;
use geofence::{check_jump, FenceKind, FixPoint, TimedPosition, Verdict};

use crate::fence::FenceSnapshot;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::device::DeviceInfo;
use fix::{FieldError, FieldNames, RawFix, ValidFix};

/// Requests stored by one commit at most.
pub const MAX_JOBS_PER_COMMIT: usize = 256;
/// Fixes stored by one commit at most (a request is never split).
pub const MAX_FIXES_PER_COMMIT: usize = 10_000;
/// Workers committing in parallel: while one waits for PostgreSQL, another gathers the next batch.
const WORKERS: usize = 4;

/// Tunables of the pipeline; the defaults serve the demo.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Implied speed from the previous fix above which a fix is implausible (m/s; 70 ≈ 250 km/h,
    /// faster than any road or rail journey a supervised person could make unnoticed).
    pub max_speed_mps: f64,
    /// Accuracy assumed for verdicts when the phone reports none (metres).
    pub default_accuracy_m: f64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { max_speed_mps: 70.0, default_accuracy_m: 30.0 }
    }
}

/// Cloneable (errors carry the database's message, not the error value), because one failed
/// group commit answers every request that was in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The database could not be reached: the caller should retry later (nothing of the request
    /// was committed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the data (a bug: validation should have caught it).
    #[error("database refused the fixes: {0}")]
    Refused(String),
    #[error("fence cache: {0}")]
    Fences(String),
    /// The device was retired before its fixes could be stored: the caller answers as for an
    /// unknown device.
    #[error("the device is retired")]
    DeviceRetired,
    #[error("ingest is shutting down")]
    Stopped,
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        match crate::db::classify(&e) {
            crate::db::Failure::Unavailable => IngestError::Unavailable(e.to_string()),
            crate::db::Failure::Refused => IngestError::Refused(e.to_string()),
        }
    }
}

/// One refused fix of a request.
#[derive(Debug, Clone, Serialize)]
pub struct ItemError {
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// A location request the phone should answer now.
#[derive(Debug, Clone, Serialize)]
pub struct PendingRequest {
    pub id: i64,
    pub reason: String,
    pub deadline_at: DateTime<Utc>,
}

/// The reply to one request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub errors: Vec<ItemError>,
    pub location_request: Option<PendingRequest>,
    /// The device was found retired under the person's lock: nothing of the request was stored.
    #[serde(skip)]
    pub device_retired: bool,
}

/// One request's decoded fixes from one device.
pub struct Job {
    pub device: DeviceInfo,
    pub decoded: Vec<Result<RawFix, FieldError>>,
    pub names: FieldNames,
    /// Errors name the item (`fixes[3].lat`), as in the native batch protocol.
    pub indexed: bool,
}

/// Records a refusal of item `index` of request `job` in the replies.
type Refuse<'a> = dyn Fn(&mut [IngestReport], usize, usize, FieldError) + Sync + 'a;

type Submission = (Job, oneshot::Sender<Result<IngestReport, IngestError>>);

/// Fences as of a version; reloaded when the database says fences changed.
struct FenceCache {
    current: RwLock<Arc<FenceSnapshot>>,
    reload: tokio::sync::Mutex<()>,
}

/// The pipeline, shared by every ingest listener of a process.
pub struct Ingestor {
    core: Arc<Core>,
    queue: mpsc::Sender<Submission>,
}

/// What the workers share.
pub struct Core {
    pool: PgPool,
    config: IngestConfig,
    fences: FenceCache,
    /// Months of `fixes` partitions known to exist.
    partitions: Mutex<HashSet<(i32, u32)>>,
}

/// A person's row as locked for a commit.
#[derive(sqlx::FromRow)]
struct LockedPerson {
    id: i64,
    last_fix_at: Option<DateTime<Utc>>,
    last_lon: Option<f64>,
    last_lat: Option<f64>,
    fence_version: i64,
    /// The commit's devices of this person that are retired (see [`crate::device`]).
    retired_devices: Vec<i64>,
    /// Legal bases not revoked: start, whether it ends, end (start when it does not).
    basis_from: Vec<DateTime<Utc>>,
    basis_bounded: Vec<bool>,
    basis_to: Vec<DateTime<Utc>>,
}

impl LockedPerson {
    fn basis_in_force_at(&self, t: DateTime<Utc>) -> bool {
        (0..self.basis_from.len()).any(|i| self.basis_from[i] <= t && (!self.basis_bounded[i] || t < self.basis_to[i]))
    }
}

/// A fix that passed validation, with where it came from.
struct Item {
    job: usize,
    index: usize,
    /// The name of the time field in this fix's protocol.
    time_field: &'static str,
    fix: ValidFix,
    verdicts: Vec<Verdict>,
    implausible: bool,
    driving: bool,
    stored: bool,
}

impl Ingestor {
    /// Starts the group-commit workers; call from within a Tokio runtime.
    pub fn start(pool: PgPool, config: IngestConfig) -> Self {
        let core = Arc::new(Core {
            pool,
            config,
            fences: FenceCache {
                current: RwLock::new(Arc::new(FenceSnapshot::empty())),
                reload: tokio::sync::Mutex::new(()),
            },
            partitions: Mutex::new(HashSet::new()),
        });
        let (queue, rx) = mpsc::channel::<Submission>(4 * MAX_JOBS_PER_COMMIT);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..WORKERS {
            tokio::spawn(worker(core.clone(), rx.clone()));
        }
        Ingestor { core, queue }
    }

    pub fn pool(&self) -> &PgPool {
        &self.core.pool
    }

    /// Stores one request's fixes; returns once they are committed (or refused).
    pub async fn ingest(&self, job: Job) -> Result<IngestReport, IngestError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((job, tx)).await.map_err(|_| IngestError::Stopped)?;
        let report = rx.await.map_err(|_| IngestError::Stopped)??;
        if report.device_retired {
            return Err(IngestError::DeviceRetired);
        }
        Ok(report)
    }

    /// Keeps the fence cache fresh between fixes (see [`Core::watch_fences`]).
    pub fn watch_fences(
        &self,
        stop: tokio_util::sync::CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.core.clone().watch_fences(stop)
    }
}

/// Takes every waiting request (up to the limits), commits them together, answers each.
async fn worker(core: Arc<Core>, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Submission>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut fixes = first.0.decoded.len();
            batch.push(first);
            while batch.len() < MAX_JOBS_PER_COMMIT && fixes < MAX_FIXES_PER_COMMIT {
                match rx.try_recv() {
                    Ok(s) => {
                        fixes += s.0.decoded.len();
                        batch.push(s);
                    }
                    Err(_) => break,
                }
            }
        }
        let (jobs, replies): (Vec<Job>, Vec<_>) = batch.into_iter().unzip();
        match core.ingest_many(&jobs).await {
            Ok(reports) => {
                for (reply, report) in replies.into_iter().zip(reports) {
                    let _ = reply.send(Ok(report));
                }
            }
            Err(IngestError::Refused(e)) if jobs.len() > 1 => {
                tracing::warn!(error = %e, "group commit refused: retrying its requests one by one");
                for (job, reply) in jobs.iter().zip(replies) {
                    let _ = reply.send(core.ingest_many(std::slice::from_ref(job)).await.map(|mut r| r.remove(0)));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl Core {
    /// Validates, stores and evaluates the fixes of `jobs` in one transaction; one report per job.
    pub async fn ingest_many(&self, jobs: &[Job]) -> Result<Vec<IngestReport>, IngestError> {
        let now = Utc::now();
        let mut reports: Vec<IngestReport> = jobs.iter().map(|_| IngestReport::default()).collect();
        let devices: Vec<DeviceInfo> = jobs.iter().map(|j| j.device.clone()).collect();
        let names: Vec<(FieldNames, bool)> = jobs.iter().map(|j| (j.names, j.indexed)).collect();
        let refuse = |reports: &mut [IngestReport], job: usize, index: usize, e: FieldError| {
            let (_, indexed) = names[job];
            let field =
                if indexed && !e.field.starts_with("fixes[") { format!("fixes[{index}].{}", e.field) } else { e.field };
            reports[job].errors.push(ItemError { index, field, message: e.message });
        };

        // validate
        let mut items: Vec<Item> = Vec::new();
        for (j, job) in jobs.iter().enumerate() {
            let d = &devices[j];
            for (i, decoded) in job.decoded.iter().enumerate() {
                let checked = match decoded {
                    Ok(raw) => fix::validate(raw, &job.names, d.default_crs, d.enrolled_at, now),
                    Err(e) => Err(e.clone()),
                };
                match checked {
                    Ok(mut v) => {
                        // PostgreSQL keeps microseconds: compare and deduplicate at that precision.
                        v.time = v.time.trunc_subsecs(6);
                        items.push(Item {
                            job: j,
                            index: i,
                            time_field: job.names.time,
                            fix: v,
                            verdicts: Vec::new(),
                            implausible: false,
                            driving: false,
                            stored: false,
                        });
                    }
                    Err(e) => refuse(&mut reports, j, i, e),
                }
            }
        }
        let mut persons: Vec<i64> = devices.iter().map(|d| d.person_id).collect();
        persons.sort_unstable();
        persons.dedup();
        let pending = if items.is_empty() {
            pending_requests(&self.pool, &persons).await?
        } else {
            self.store_and_evaluate(&devices, &persons, items, &mut reports, &refuse).await?
        };
        for r in &mut reports {
            r.errors.sort_by_key(|e| e.index);
        }
        for (r, d) in reports.iter_mut().zip(&devices) {
            r.location_request = pending.get(&d.person_id).cloned();
        }
        Ok(reports)
    }

    /// Stores and evaluates the valid fixes of a group commit in one transaction of a fixed
    /// number of statements; returns each person's most urgent pending location request.
    async fn store_and_evaluate(
        &self,
        devices: &[DeviceInfo],
        persons: &[i64],
        mut items: Vec<Item>,
        reports: &mut [IngestReport],
        refuse: &Refuse<'_>,
    ) -> Result<HashMap<i64, PendingRequest>, IngestError> {
        // evaluate in time order, person by person
        items.sort_by_key(|it| (devices[it.job].person_id, it.fix.time));
        self.ensure_partitions(&items).await?;
        // Generic plans: the commit's statements are the same every time, and left to choose,
        // PostgreSQL planned the store afresh on every commit (1.5 ms: custom plans prune the
        // partitions of `fixes`, so they look cheaper than the generic one that keeps them all).
        // No sequential scans: every statement here reaches a few rows per person by key, and a
        // plan made while a table was empty (a new installation) must not stay cached as a scan
        // of it once it holds millions of fixes (it did: a hash join over every partition).
        let mut tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off")
            .await?;

        // Lock the persons (in id order: concurrent workers never deadlock).
        // The legal bases come with the lock: a fix is refused unless one is in force at its time.
        let locked: Vec<LockedPerson> = sqlx::query_as(
            "SELECT p.id, p.last_fix_at, ST_X(p.last_fix_position) AS last_lon, ST_Y(p.last_fix_position) AS last_lat,
                    (SELECT version FROM fence_version) AS fence_version,
                    ARRAY(SELECT d.id FROM devices d WHERE d.person_id = p.id AND d.id = ANY($2)
                          AND d.retired_at IS NOT NULL) AS retired_devices,
                    coalesce(b.basis_from, '{}') AS basis_from, coalesce(b.basis_bounded, '{}') AS basis_bounded,
                    coalesce(b.basis_to, '{}') AS basis_to
             FROM persons p
             CROSS JOIN LATERAL (
                 SELECT array_agg(b.starts_at ORDER BY b.id) AS basis_from,
                        array_agg(b.ends_at IS NOT NULL ORDER BY b.id) AS basis_bounded,
                        array_agg(coalesce(b.ends_at, b.starts_at) ORDER BY b.id) AS basis_to
                 FROM legal_bases b WHERE b.person_id = p.id AND b.revoked_at IS NULL) b
             WHERE p.id = ANY($1) ORDER BY p.id FOR UPDATE OF p",
        )
        .bind(persons)
        .bind(devices.iter().map(|d| d.device_id).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        {
            // A device retired since it was authenticated: its request is refused whole.
            let retired: HashSet<i64> = locked.iter().flat_map(|p| p.retired_devices.iter().copied()).collect();
            if !retired.is_empty() {
                for (r, d) in reports.iter_mut().zip(devices) {
                    r.device_retired |= retired.contains(&d.device_id);
                }
                items.retain(|it| !retired.contains(&devices[it.job].device_id));
            }
            let bases: HashMap<i64, &LockedPerson> = locked.iter().map(|p| (p.id, p)).collect();
            items.retain(|it| {
                let t = it.fix.time;
                let ok = bases.get(&devices[it.job].person_id).is_some_and(|p| p.basis_in_force_at(t));
                if !ok {
                    let message = format!(
                        "no legal basis (positioning consent or order) is in force for this person at {}",
                        t.to_rfc3339()
                    );
                    refuse(reports, it.job, it.index, FieldError::new(it.time_field, message));
                }
                ok
            });
        }
        let version = locked.first().map(|r| r.fence_version).unwrap_or(0);
        let fences = self.fences_at(version).await?;
        let mut alarm_state = rules::AlarmState::load(&mut tx, persons).await?;
        let on_leave: Vec<i64> = persons.iter().copied().filter(|p| fences.has_leave(*p)).collect();
        let mut open_leaves: HashMap<i64, Vec<crate::leave::OpenLeave>> = HashMap::new();
        if !on_leave.is_empty() {
            for l in crate::leave::open_for(&mut tx, &on_leave).await? {
                open_leaves.entry(l.person_id).or_default().push(l);
            }
        }
        let last: HashMap<i64, Option<TimedPosition>> = locked
            .iter()
            .map(|p| {
                (
                    p.id,
                    p.last_fix_at.zip(p.last_lon.zip(p.last_lat)).map(|(at, (lon, lat))| TimedPosition {
                        at,
                        lon,
                        lat,
                    }),
                )
            })
            .collect();

        // evaluate
        let mut previous: Option<(i64, Option<TimedPosition>)> = None;
        for it in &mut items {
            let person = devices[it.job].person_id;
            if previous.as_ref().is_none_or(|(p, _)| *p != person) {
                previous = Some((person, last.get(&person).copied().flatten()));
            }
            let (_, prev) = previous.as_mut().expect("set above");
            let v = &it.fix;
            let point = FixPoint {
                lon: v.lon,
                lat: v.lat,
                accuracy_m: v.accuracy_m.unwrap_or(self.config.default_accuracy_m),
                at: v.time,
            };
            it.verdicts = fences.set.evaluate(person, &point);
            let here = TimedPosition { at: v.time, lon: v.lon, lat: v.lat };
            let newest_before = last.get(&person).copied().flatten().map(|p| p.at);
            it.driving = newest_before.is_none_or(|t| v.time > t);
            if it.driving {
                it.implausible =
                    prev.as_ref().is_some_and(|p| check_jump(p, &here, self.config.max_speed_mps).is_implausible());
                *prev = Some(here);
            }
        }

        // store, and record the persons' newest fix (see `store_and_close`)
        let mut pending = self.store_and_close(&mut tx, devices, persons, &mut items).await?;
        for it in &items {
            if it.stored {
                reports[it.job].accepted += 1;
            } else {
                reports[it.job].duplicates += 1;
            }
        }

        // alarm
        for it in items.iter().filter(|it| it.stored) {
            let d = &devices[it.job];
            let subject = rules::Subject { person_id: d.person_id, office_id: d.office_id, device_id: d.device_id };
            let mut observations =
                rules::observe(&fences.set, &it.verdicts, it.implausible, it.fix.mock, it.fix.battery_pct);
            if let Some(open) = open_leaves.get_mut(&d.person_id).filter(|_| it.driving) {
                match leaves::step(&fences, open, &it.verdicts, it.fix.time, &mut observations) {
                    Some(leaves::LeaveChange::Departed { leave, at }) => {
                        crate::leave::mark_departed(&mut tx, leave, at).await?
                    }
                    Some(leaves::LeaveChange::Returned { leave, at }) => {
                        crate::leave::mark_returned(&mut tx, leave, at).await?
                    }
                    None => {}
                }
            }
            if it.driving {
                for fence in alarm_state.exclusion_subjects(d.person_id) {
                    let judged = it.verdicts.iter().any(|v| v.fence_id == fence)
                        || observations
                            .iter()
                            .any(|o| o.alarm == rules::FixAlarm::ExclusionEntry && o.fence == Some(fence));
                    if !judged {
                        observations.push(rules::Observation {
                            alarm: rules::FixAlarm::ExclusionEntry,
                            fence: Some(fence),
                            outcome: rules::Outcome::Clear,
                        });
                    }
                }
            }
            for o in observations {
                if it.driving {
                    rules::apply(&mut tx, &mut alarm_state, &subject, it.fix.time, &o).await?;
                } else {
                    rules::attach_late(&mut tx, &subject, it.fix.time, &o).await?;
                }
            }
        }
        // A confirmation requested or settled above changes what is pending since the store.
        if alarm_state.requests_changed() {
            pending = pending_requests(&mut *tx, persons).await?;
        }
        tx.commit().await?;
        Ok(pending)
    }

    /// One statement for the fixed part of a commit: inserts the fixes (marking each as stored
    /// or duplicate), records each person's newest fix and the scheduled requests it answers,
    /// notes the devices' contact, and returns each person's most urgent pending request.
    async fn store_and_close(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        devices: &[DeviceInfo],
        persons: &[i64],
        items: &mut [Item],
    ) -> Result<HashMap<i64, PendingRequest>, sqlx::Error> {
        // A device's sequence number or time twice in the commit: the later is a duplicate (the
        // checks below only see what is already stored).
        let mut numbered: HashSet<(i64, i64)> = HashSet::new();
        let mut timed: HashSet<(i64, DateTime<Utc>)> = HashSet::new();
        let mut set_aside: Vec<bool> = items
            .iter()
            .map(|it| {
                let device = devices[it.job].device_id;
                let seq_seen = it.fix.seq.is_some_and(|seq| !numbered.insert((device, seq)));
                seq_seen || !timed.insert((device, it.fix.time))
            })
            .collect();
        // By time: a fix newer than its person's newest stored fix (`driving`) cannot be known
        // (the person's lock keeps that newest exact), so only late fixes are looked for.
        let late: Vec<&Item> =
            items.iter().zip(&set_aside).filter(|(it, r)| !**r && !it.driving).map(|(it, _)| it).collect();
        if !late.is_empty() {
            let known = stored_times(tx, devices, &late).await?;
            for (it, aside) in items.iter().zip(set_aside.iter_mut()) {
                *aside = *aside || (!it.driving && known.contains(&(devices[it.job].device_id, it.fix.time)));
            }
        }
        let fresh: Vec<&Item> = items.iter().zip(&set_aside).filter(|(_, r)| !**r).map(|(it, _)| it).collect();
        let fx =
            |f: fn(&Item) -> Option<f64>| fresh.iter().map(|&it| f(it).map(|v| v as f32)).collect::<Vec<Option<f32>>>();
        let mut device_ids: Vec<i64> = devices.iter().map(|d| d.device_id).collect();
        device_ids.sort_unstable();
        device_ids.dedup();
        // By number, per device rather than per fix: `span` is each device's window of numbers
        // in this commit and `known_seqs` the recorded runs that meet it (runs of a device are
        // disjoint, so those are the one starting last before the window and any starting in
        // it); MATERIALIZED, so that PostgreSQL does not turn it back into a probe per fix.
        // The fixes not known are stored, and only the known come back (usually none). Each part
        // reads the columns it needs from the arrays rather than from one CTE of whole rows:
        // materializing every row again cost more than unnesting a few arrays twice. The plain
        // INSERTs are safe because the persons' locks keep other commits from storing the same
        // fixes meanwhile; the primary key and the runs' trigger still refuse a duplicate that
        // got past. The numbers stored form runs of consecutive numbers (a run's numbers minus
        // their rank is constant); a run that continues the device's previous one (`prior`)
        // extends it, so a phone numbering its fixes in order keeps one row however many commits
        // it takes. The data-modifying parts do not see each other's changes: the requests
        // answered here are left out of the pending ones by id. A device's last contact is
        // rewritten at most every 30 s: it is read in minutes, and rewriting it on every commit
        // cost a row version per device per commit.
        let rows: Vec<KnownOrPending> = sqlx::query_as(
            "WITH span AS (
                 SELECT d, min(seq) AS first_seq, max(seq) AS last_seq FROM UNNEST($2::int8[], $13::int8[]) AS n(d, seq)
                 WHERE seq IS NOT NULL GROUP BY d),
                  prior AS MATERIALIZED (
                 SELECT span.d, span.first_seq AS window_first, r.first_seq, r.last_seq FROM span
                 CROSS JOIN LATERAL (SELECT first_seq, last_seq FROM fix_sequence_runs
                                     WHERE device_id = span.d AND first_seq < span.first_seq
                                     ORDER BY first_seq DESC LIMIT 1) r),
                  known_seqs AS MATERIALIZED (
                 SELECT d AS device_id, first_seq, last_seq FROM prior WHERE last_seq >= window_first
                 UNION ALL
                 SELECT r.device_id, r.first_seq, r.last_seq FROM span
                 CROSS JOIN LATERAL (SELECT device_id, first_seq, last_seq FROM fix_sequence_runs
                                     WHERE device_id = span.d AND first_seq BETWEEN span.first_seq AND span.last_seq) r),
                  stored AS (
                 INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m, source, input_crs, battery_pct,
                                    speed_mps, course_deg, altitude_m, device_seq, mock, verdicts, implausible)
                 SELECT p, d, t, ST_SetSRID(ST_MakePoint(x, y), 4326), acc, src, crs, batt::smallint, spd, course, alt, seq, mock, v, imp
                 FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[], $4::float8[], $5::float8[], $6::real[], $7::text[],
                             $8::text[], $9::float8[], $10::real[], $11::real[], $12::real[], $13::int8[], $14::bool[],
                             $15::jsonb[], $16::bool[])
                      AS u(p, d, t, x, y, acc, src, crs, batt, spd, course, alt, seq, mock, v, imp)
                 WHERE NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = u.d AND u.seq BETWEEN k.first_seq AND k.last_seq)),
                  runs AS MATERIALIZED (
                 SELECT d, min(seq) AS first_seq, max(seq) AS last_seq
                 FROM (SELECT d, seq, seq - row_number() OVER (PARTITION BY d ORDER BY seq) AS run
                       FROM UNNEST($2::int8[], $13::int8[]) AS n(d, seq)
                       WHERE seq IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)) s
                 GROUP BY d, run),
                  extended AS (
                 UPDATE fix_sequence_runs r SET last_seq = n.last_seq
                 FROM runs n JOIN prior p ON p.d = n.d AND n.first_seq = p.last_seq + 1
                 WHERE r.device_id = n.d AND r.first_seq = p.first_seq),
                  sequenced AS (
                 INSERT INTO fix_sequence_runs (device_id, first_seq, last_seq)
                 SELECT d, first_seq, last_seq FROM runs n
                 WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.d = n.d AND n.first_seq = p.last_seq + 1)),
                  newest AS (
                 SELECT DISTINCT ON (p) p AS id, t, x, y
                 FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[], $4::float8[], $5::float8[], $13::int8[], $17::bool[])
                      AS n(p, d, t, x, y, seq, driving)
                 WHERE driving
                   AND NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)
                 ORDER BY p, t DESC),
                  moved AS (
                 UPDATE persons p SET last_fix_at = n.t, last_fix_position = ST_SetSRID(ST_MakePoint(n.x, n.y), 4326)
                 FROM newest n WHERE p.id = n.id),
                  answered AS (
                 UPDATE location_requests l SET state = 'answered', answered_at = now(), answer_fixed_at = n.t
                 FROM newest n WHERE l.person_id = n.id AND l.state = 'pending' AND l.reason <> 'confirm'
                   AND l.issued_at <= n.t AND l.deadline_at >= n.t
                 RETURNING l.id),
                  contact AS (
                 UPDATE devices SET last_contact_at = now()
                 WHERE id = ANY($18) AND (last_contact_at IS NULL OR last_contact_at < now() - interval '30 seconds'))
             SELECT d AS device_id, t AS fixed_at, NULL::int8 AS request_person, NULL::int8 AS request_id, NULL::text AS reason,
                    NULL::timestamptz AS deadline_at
             FROM UNNEST($2::int8[], $3::timestamptz[], $13::int8[]) AS n(d, t, seq)
             WHERE EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)
             UNION ALL
             (SELECT DISTINCT ON (person_id) NULL, NULL, person_id, id, reason, deadline_at FROM location_requests
              WHERE person_id = ANY($19) AND state = 'pending' AND deadline_at > now()
                AND id NOT IN (SELECT id FROM answered)
              ORDER BY person_id, deadline_at)",
        )
        .bind(fresh.iter().map(|it| devices[it.job].person_id).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| devices[it.job].device_id).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.time).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.lon).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.lat).collect::<Vec<_>>())
        .bind(fx(|it| it.fix.accuracy_m))
        .bind(fresh.iter().map(|it| it.fix.source.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.input_crs.to_string()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.battery_pct.map(f64::round)).collect::<Vec<_>>())
        .bind(fx(|it| it.fix.speed_mps))
        .bind(fx(|it| it.fix.course_deg))
        .bind(fx(|it| it.fix.altitude_m))
        .bind(fresh.iter().map(|it| it.fix.seq).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.fix.mock).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| verdicts_json(&it.verdicts)).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.implausible).collect::<Vec<_>>())
        .bind(fresh.iter().map(|it| it.driving).collect::<Vec<_>>())
        .bind(&device_ids)
        .bind(persons)
        .fetch_all(&mut **tx)
        .await?;
        // Match rows back to fixes (a device's times are distinct here: repeats were set aside).
        let mut known: HashSet<(i64, DateTime<Utc>)> = HashSet::new();
        let mut pending = HashMap::new();
        for row in rows {
            match row {
                KnownOrPending { device_id: Some(d), fixed_at: Some(t), .. } => {
                    known.insert((d, t));
                }
                KnownOrPending {
                    request_person: Some(p),
                    request_id: Some(id),
                    reason: Some(reason),
                    deadline_at: Some(deadline_at),
                    ..
                } => {
                    pending.insert(p, PendingRequest { id, reason, deadline_at });
                }
                _ => {}
            }
        }
        for (it, _) in items.iter_mut().zip(set_aside).filter(|(_, r)| !r) {
            it.stored = !known.contains(&(devices[it.job].device_id, it.fix.time));
        }
        Ok(pending)
    }

    /// Keeps the fence cache fresh between fixes: reloads on every `cctrack_fences`
    /// notification, reconnecting with back-off if the database goes away. Correctness does not
    /// depend on it (each transaction checks the version); it keeps reloads off the path of the
    /// first fix after a change. Runs until `stop` is cancelled.
    pub async fn watch_fences(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut backoff = std::time::Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = self.listen_once() => match r {
                    Ok(()) => backoff = std::time::Duration::from_millis(500),
                    Err(e) => {
                        tracing::warn!(error = %e, "fence change listener: reconnecting");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                    }
                },
            }
        }
    }

    async fn listen_once(&self) -> Result<(), IngestError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen("cctrack_fences").await?;
        // Changes made while we were not listening.
        self.fences_at(crate::fence::version(&self.pool).await?).await?;
        loop {
            listener.recv().await?;
            let version = crate::fence::version(&self.pool).await?;
            self.fences_at(version).await?;
        }
    }

    /// The fences as of `version`, reloading them if the cache is older.
    async fn fences_at(&self, version: i64) -> Result<Arc<FenceSnapshot>, IngestError> {
        {
            let cur = self.fences.current.read().expect("fence cache poisoned");
            if cur.version >= version {
                return Ok(cur.clone());
            }
        }
        let _one_reload_at_a_time = self.fences.reload.lock().await;
        {
            let cur = self.fences.current.read().expect("fence cache poisoned");
            if cur.version >= version {
                return Ok(cur.clone());
            }
        }
        let snapshot = crate::fence::load_all(&self.pool).await.map_err(|e| match e {
            crate::fence::FenceStoreError::Db(e) => IngestError::from(e),
            other => IngestError::Fences(other.to_string()),
        })?;
        let snapshot = Arc::new(snapshot);
        let (personal, shared, _) = snapshot.set.counts();
        tracing::info!(version = snapshot.version, fences = personal + shared, "fence cache reloaded");
        *self.fences.current.write().expect("fence cache poisoned") = snapshot.clone();
        Ok(snapshot)
    }

    async fn ensure_partitions(&self, items: &[Item]) -> Result<(), sqlx::Error> {
        let months: HashSet<(i32, u32)> = items.iter().map(|it| (it.fix.time.year(), it.fix.time.month())).collect();
        let missing: Vec<(i32, u32)> = {
            let known = self.partitions.lock().expect("partition set poisoned");
            months.into_iter().filter(|m| !known.contains(m)).collect()
        };
        for (y, m) in missing {
            let month = chrono::NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
            sqlx::query("SELECT ensure_fix_partitions($1, $1)").bind(month).execute(&self.pool).await?;
            self.partitions.lock().expect("partition set poisoned").insert((y, m));
        }
        Ok(())
    }
}

/// A row of the commit's closing statement: a duplicate (not stored), or a person's pending request.
#[derive(sqlx::FromRow)]
struct KnownOrPending {
    device_id: Option<i64>,
    fixed_at: Option<DateTime<Utc>>,
    request_person: Option<i64>,
    request_id: Option<i64>,
    reason: Option<String>,
    deadline_at: Option<DateTime<Utc>>,
}

/// The stored fixes (device, time) among the times of `late`: one probe of the primary key per
/// device, over the window of its late fixes. Kept out of the commit's main statement, whose
/// generic plan would otherwise set up a scan of every monthly partition on every commit.
async fn stored_times(
    tx: &mut sqlx::PgConnection,
    devices: &[DeviceInfo],
    late: &[&Item],
) -> Result<HashSet<(i64, DateTime<Utc>)>, sqlx::Error> {
    let mut windows: HashMap<i64, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for it in late {
        let t = it.fix.time;
        let w = windows.entry(devices[it.job].device_id).or_insert((t, t));
        *w = (w.0.min(t), w.1.max(t));
    }
    let mut ids = Vec::with_capacity(windows.len());
    let mut from = Vec::with_capacity(windows.len());
    let mut to = Vec::with_capacity(windows.len());
    for (d, (a, b)) in windows {
        ids.push(d);
        from.push(a);
        to.push(b);
    }
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT f.device_id, f.fixed_at FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS w(d, first_t, last_t)
         CROSS JOIN LATERAL (SELECT device_id, fixed_at FROM fixes
                             WHERE device_id = w.d AND fixed_at BETWEEN w.first_t AND w.last_t) f",
    )
    .bind(ids)
    .bind(from)
    .bind(to)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The most urgent pending location request of each person.
async fn pending_requests<'e>(
    db: impl sqlx::PgExecutor<'e>,
    persons: &[i64],
) -> Result<HashMap<i64, PendingRequest>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT DISTINCT ON (person_id) person_id, id, reason, deadline_at FROM location_requests
         WHERE person_id = ANY($1) AND state = 'pending' AND deadline_at > now() ORDER BY person_id, deadline_at",
    )
    .bind(persons)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(p, id, reason, deadline_at)| (p, PendingRequest { id, reason, deadline_at })).collect())
}

fn verdicts_json(verdicts: &[geofence::Verdict]) -> Value {
    Value::Array(
        verdicts
            .iter()
            .map(|v| {
                json!({
                    "fence": v.fence_id,
                    "kind": match v.kind { FenceKind::Inclusion => "inclusion", FenceKind::Exclusion => "exclusion" },
                    "position": match v.position { Position::Inside => "inside", Position::Outside => "outside", Position::Uncertain => "uncertain" },
                    "distance_m": v.distance_m.map(|d| (d * 100.0).round() / 100.0),
                })
            })
            .collect(),
    )
}
