//! The ingest pipeline: decode → validate → dedupe → store → evaluate → alarm, assembled in
//! [`Ingestor::ingest`]. One transaction per request: a reply of success means the fixes and the
//! alarms they caused are committed.
//!
//! Per person, fixes are evaluated in time order: the request locks the person's row, sorts its
//! fixes by time, and only fixes newer than the newest already evaluated drive alarm state; late
//! ones are stored, evaluated for the track and attached as evidence, never reopening anything.

pub mod fix;
pub mod protocol;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use geofence::verdict::Position;
use geofence::{check_jump, FenceKind, FenceSet, FixPoint, TimedPosition};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::device::DeviceInfo;
use fix::{FieldError, FieldNames, RawFix, ValidFix};

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

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database could not be reached or failed: the caller should retry later (nothing of
    /// this request was committed).
    #[error("database unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("fence cache: {0}")]
    Fences(String),
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
}

/// Fences as of a version; reloaded when the database says fences changed.
struct FenceCache {
    current: RwLock<(i64, Arc<FenceSet>)>,
    reload: tokio::sync::Mutex<()>,
}

/// The pipeline, shared by every ingest listener of a process.
pub struct Ingestor {
    pool: PgPool,
    config: IngestConfig,
    fences: FenceCache,
    /// Months of `fixes` partitions known to exist.
    partitions: Mutex<HashSet<(i32, u32)>>,
}

impl Ingestor {
    pub fn new(pool: PgPool, config: IngestConfig) -> Self {
        Ingestor {
            pool,
            config,
            fences: FenceCache {
                current: RwLock::new((-1, Arc::new(FenceSet::new()))),
                reload: tokio::sync::Mutex::new(()),
            },
            partitions: Mutex::new(HashSet::new()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Decoded fixes of one request from `device`, in request order. `field_prefix(i)` turns a
    /// protocol field name into the name the sender knows (`fixes[3].lat`).
    pub async fn ingest(
        &self,
        device: &DeviceInfo,
        decoded: Vec<Result<RawFix, FieldError>>,
        names: &FieldNames,
        field_prefix: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<IngestReport, IngestError> {
        let now = Utc::now();
        let mut report = IngestReport::default();
        let mut item_error = |index: usize, e: FieldError| {
            let field =
                if e.field.starts_with("fixes[") { e.field } else { format!("{}{}", field_prefix(index), e.field) };
            report.errors.push(ItemError { index, field, message: e.message });
        };

        // validate
        let mut valid: Vec<(usize, ValidFix)> = Vec::with_capacity(decoded.len());
        for (i, d) in decoded.into_iter().enumerate() {
            match d.and_then(|raw| fix::validate(&raw, names, device.default_crs, device.enrolled_at, now)) {
                Ok(mut v) => {
                    // PostgreSQL keeps microseconds: compare and deduplicate at that precision.
                    v.time = v.time.trunc_subsecs(6);
                    valid.push((i, v));
                }
                Err(e) => item_error(i, e),
            }
        }
        if !valid.is_empty() {
            let bases = self.legal_bases(device.person_id).await?;
            valid.retain(|(i, v)| {
                let ok = bases.iter().any(|(from, to)| *from <= v.time && to.is_none_or(|t| v.time < t));
                if !ok {
                    item_error(
                        *i,
                        FieldError::new(
                            names.time,
                            format!(
                                "no legal basis (positioning consent or order) is in force for this person at {}",
                                v.time.to_rfc3339()
                            ),
                        ),
                    );
                }
                ok
            });
        }
        report.errors.sort_by_key(|e| e.index);
        if valid.is_empty() {
            report.location_request = self.pending_request(device.person_id).await?;
            return Ok(report);
        }
        // evaluate in time order
        valid.sort_by_key(|(_, v)| v.time);
        self.ensure_partitions(&valid).await?;

        let mut tx = self.pool.begin().await?;
        // dedupe by sequence number
        let seqs: Vec<i64> = valid.iter().filter_map(|(_, v)| v.seq).collect();
        let known_seqs: HashSet<i64> = if seqs.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar("SELECT device_seq FROM fix_sequences WHERE device_id = $1 AND device_seq = ANY($2)")
                .bind(device.device_id)
                .bind(&seqs)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect()
        };
        let before = valid.len();
        valid.retain(|(_, v)| v.seq.is_none_or(|s| !known_seqs.contains(&s)));
        report.duplicates += before - valid.len();

        // Lock the person: concurrent requests for one person are evaluated one after another.
        let (last_fix_at, last_lon, last_lat, fence_version): (Option<DateTime<Utc>>, Option<f64>, Option<f64>, i64) = sqlx::query_as(
            "SELECT last_fix_at, ST_X(last_fix_position), ST_Y(last_fix_position), (SELECT version FROM fence_version)
             FROM persons WHERE id = $1 FOR UPDATE",
        )
        .bind(device.person_id)
        .fetch_one(&mut *tx)
        .await?;
        let fences = self.fences_at(fence_version).await?;

        // evaluate
        let mut previous =
            last_fix_at.zip(last_lon.zip(last_lat)).map(|(t, (lon, lat))| TimedPosition { at: t, lon, lat });
        let mut evaluated = Vec::with_capacity(valid.len());
        for (_, v) in &valid {
            let point = FixPoint {
                lon: v.lon,
                lat: v.lat,
                accuracy_m: v.accuracy_m.unwrap_or(self.config.default_accuracy_m),
                at: v.time,
            };
            let verdicts = fences.evaluate(device.person_id, &point);
            let here = TimedPosition { at: v.time, lon: v.lon, lat: v.lat };
            let driving = last_fix_at.is_none_or(|t| v.time > t);
            let implausible = driving
                && previous.as_ref().is_some_and(|p| check_jump(p, &here, self.config.max_speed_mps).is_implausible());
            if driving {
                previous = Some(here);
            }
            evaluated.push((verdicts, implausible, driving));
        }

        // store
        let inserted = self.store(&mut tx, device, &valid, &evaluated).await?;
        report.duplicates += valid.len() - inserted.iter().filter(|x| **x).count();
        report.accepted = inserted.iter().filter(|x| **x).count();

        // alarm
        let subject =
            rules::Subject { person_id: device.person_id, office_id: device.office_id, device_id: device.device_id };
        let mut newest: Option<&ValidFix> = None;
        for (((_, v), (verdicts, implausible, driving)), stored) in valid.iter().zip(&evaluated).zip(&inserted) {
            if !stored {
                continue;
            }
            for o in rules::observe(&fences, verdicts, *implausible, v.mock, v.battery_pct) {
                if *driving {
                    rules::apply(&mut tx, &subject, v.time, &o).await?;
                } else {
                    rules::attach_late(&mut tx, &subject, v.time, &o).await?;
                }
            }
            if *driving {
                newest = Some(v);
            }
        }
        if let Some(v) = newest {
            sqlx::query("UPDATE persons SET last_fix_at = $2, last_fix_position = ST_SetSRID(ST_MakePoint($3, $4), 4326) WHERE id = $1")
                .bind(device.person_id)
                .bind(v.time)
                .bind(v.lon)
                .bind(v.lat)
                .execute(&mut *tx)
                .await?;
            // A scheduled request is answered by any fix taken after it was issued.
            sqlx::query(
                "UPDATE location_requests SET state = 'answered', answered_at = now(), answer_fixed_at = $2
                 WHERE person_id = $1 AND state = 'pending' AND reason <> 'confirm' AND issued_at <= $2 AND deadline_at >= $2",
            )
            .bind(device.person_id)
            .bind(v.time)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE devices SET last_contact_at = now() WHERE id = $1")
            .bind(device.device_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        report.location_request = self.pending_request(device.person_id).await?;
        Ok(report)
    }

    /// Inserts the fixes in one statement; per fix, whether it was new.
    async fn store(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        device: &DeviceInfo,
        valid: &[(usize, ValidFix)],
        evaluated: &[(Vec<geofence::Verdict>, bool, bool)],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let times: Vec<DateTime<Utc>> = valid.iter().map(|(_, v)| v.time).collect();
        let verdicts: Vec<Value> = evaluated.iter().map(|(vs, _, _)| verdicts_json(vs)).collect();
        let returned: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m, source, input_crs, battery_pct,
                                speed_mps, course_deg, altitude_m, device_seq, mock, verdicts, implausible)
             SELECT $1, $2, t, ST_SetSRID(ST_MakePoint(x, y), 4326), acc, src, crs, batt::smallint, spd, course, alt, seq, mock, v, imp
             FROM UNNEST($3::timestamptz[], $4::float8[], $5::float8[], $6::real[], $7::text[], $8::text[], $9::float8[],
                         $10::real[], $11::real[], $12::real[], $13::int8[], $14::bool[], $15::jsonb[], $16::bool[])
                  AS u(t, x, y, acc, src, crs, batt, spd, course, alt, seq, mock, v, imp)
             ON CONFLICT (device_id, fixed_at) DO NOTHING
             RETURNING fixed_at",
        )
        .bind(device.person_id)
        .bind(device.device_id)
        .bind(&times)
        .bind(valid.iter().map(|(_, v)| v.lon).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.lat).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.accuracy_m.map(|a| a as f32)).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.source.as_str()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.input_crs.to_string()).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.battery_pct.map(f64::round)).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.speed_mps.map(|s| s as f32)).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.course_deg.map(|s| s as f32)).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.altitude_m.map(|s| s as f32)).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.seq).collect::<Vec<_>>())
        .bind(valid.iter().map(|(_, v)| v.mock).collect::<Vec<_>>())
        .bind(&verdicts)
        .bind(evaluated.iter().map(|(_, imp, _)| *imp).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        // Match rows back to fixes; two fixes of one batch with the same time: the first wins.
        let mut remaining: HashMap<DateTime<Utc>, usize> = HashMap::new();
        for t in returned {
            *remaining.entry(t).or_default() += 1;
        }
        let inserted: Vec<bool> = times
            .iter()
            .map(|t| match remaining.get_mut(t) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            })
            .collect();
        let (seq_dev, seq_val, seq_time): (Vec<i64>, Vec<i64>, Vec<DateTime<Utc>>) = valid
            .iter()
            .zip(&inserted)
            .filter_map(|((_, v), new)| v.seq.filter(|_| *new).map(|s| (device.device_id, s, v.time)))
            .fold((vec![], vec![], vec![]), |(mut a, mut b, mut c), (d, s, t)| {
                a.push(d);
                b.push(s);
                c.push(t);
                (a, b, c)
            });
        if !seq_val.is_empty() {
            sqlx::query(
                "INSERT INTO fix_sequences (device_id, device_seq, fixed_at)
                 SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
            )
            .bind(&seq_dev)
            .bind(&seq_val)
            .bind(&seq_time)
            .execute(&mut **tx)
            .await?;
        }
        Ok(inserted)
    }

    /// Keeps the fence cache fresh between fixes: reloads on every `cctrack_fences`
    /// notification, reconnecting with back-off if the database goes away. Correctness does not
    /// depend on it (each ingest transaction checks the version); it keeps reloads off the
    /// path of the first fix after a change. Runs until the task is aborted.
    pub async fn watch_fences(self: Arc<Self>) {
        let mut backoff = std::time::Duration::from_millis(500);
        loop {
            match self.listen_once().await {
                Ok(()) => backoff = std::time::Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(error = %e, "fence change listener: reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                }
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

    /// The fence set as of `version`, reloading it if the cache is older.
    async fn fences_at(&self, version: i64) -> Result<Arc<FenceSet>, IngestError> {
        {
            let cur = self.fences.current.read().expect("fence cache poisoned");
            if cur.0 >= version {
                return Ok(cur.1.clone());
            }
        }
        let _one_reload_at_a_time = self.fences.reload.lock().await;
        {
            let cur = self.fences.current.read().expect("fence cache poisoned");
            if cur.0 >= version {
                return Ok(cur.1.clone());
            }
        }
        let (loaded, set) = crate::fence::load_all(&self.pool).await.map_err(|e| match e {
            crate::fence::FenceStoreError::Db(e) => IngestError::Unavailable(e),
            other => IngestError::Fences(other.to_string()),
        })?;
        let set = Arc::new(set);
        tracing::info!(version = loaded, fences = set.counts().0 + set.counts().1, "fence cache reloaded");
        *self.fences.current.write().expect("fence cache poisoned") = (loaded, set.clone());
        Ok(set)
    }

    async fn legal_bases(&self, person: i64) -> Result<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>, sqlx::Error> {
        sqlx::query_as("SELECT starts_at, ends_at FROM legal_bases WHERE person_id = $1 AND revoked_at IS NULL")
            .bind(person)
            .fetch_all(&self.pool)
            .await
    }

    async fn pending_request(&self, person: i64) -> Result<Option<PendingRequest>, sqlx::Error> {
        let row: Option<(i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, reason, deadline_at FROM location_requests
             WHERE person_id = $1 AND state = 'pending' AND deadline_at > now() ORDER BY deadline_at LIMIT 1",
        )
        .bind(person)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, reason, deadline_at)| PendingRequest { id, reason, deadline_at }))
    }

    async fn ensure_partitions(&self, valid: &[(usize, ValidFix)]) -> Result<(), sqlx::Error> {
        let months: HashSet<(i32, u32)> = valid.iter().map(|(_, v)| (v.time.year(), v.time.month())).collect();
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
