//! The ingest pipeline. The path of one group commit's fixes is a short list of stages,
//! assembled in [`Core::commit`], each in its own module:
//!
//! 1. decode (`protocol::*`, in the listeners: wire names and units → [`fix::RawFix`]);
//! 2. [`validate`]: every rule about what a fix may be ([`fix::validate`]);
//! 3. [`lock`]: the persons' rows, with their newest fix, legal bases, retired devices;
//! 4. [`evaluate`]: verdicts against the fences in force, late or driving, implausible jumps;
//! 5. [`store`]: one statement stores the fixes, sets duplicates aside, records the newest fix,
//!    answers requests, notes contact;
//! 6. [`judge`]: the alarm rules ([`rules`], [`leaves`]) open, feed and settle alarms;
//! 7. alarm events: the commit's history appended last ([`crate::alarm::events`]);
//! 8. commit; 9. reply ([`batch::Batch::reply`]).
//!
//! A reply of success means the fixes and the alarms they caused are committed. Requests are
//! queued and committed in groups ([`queue`]).

pub mod batch;
pub mod evaluate;
pub mod fence_cache;
pub mod fix;
pub mod judge;
pub mod leaves;
pub mod lock;
pub mod protocol;
pub mod queue;
pub mod rules;
pub mod store;
pub mod validate;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::alarm::events::EventLog;
use crate::device::DeviceInfo;
use fence_cache::FenceCache;
use fix::{FieldError, FieldNames, RawFix};
pub use queue::{Ingestor, MAX_FIXES_PER_COMMIT, MAX_JOBS_PER_COMMIT};

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

/// What the workers share.
pub struct Core {
    pool: PgPool,
    config: IngestConfig,
    fences: Arc<FenceCache>,
    /// Months of `fixes` partitions known to exist.
    partitions: Mutex<HashSet<(i32, u32)>>,
}

impl Core {
    fn new(pool: PgPool, config: IngestConfig) -> Self {
        Core { fences: Arc::new(FenceCache::new(pool.clone())), pool, config, partitions: Mutex::new(HashSet::new()) }
    }

    /// The path of one group commit: validates, stores and evaluates the fixes of `jobs` in one
    /// transaction, applies the alarm rules, appends the history; one report per job.
    pub async fn commit(&self, jobs: &[Job]) -> Result<Vec<IngestReport>, IngestError> {
        let mut batch = validate::validate(jobs, Utc::now());
        if batch.items.is_empty() {
            let pending = store::pending_requests(&self.pool, &batch.persons).await?;
            return Ok(batch.reply(pending));
        }
        store::ensure_partitions(&self.pool, &self.partitions, &batch.items).await?;
        // Generic plans: the commit's statements are the same every time, and left to choose,
        // PostgreSQL planned the store afresh on every commit (custom plans prune the partitions
        // of `fixes`, so they look cheaper than the generic one that keeps them all). No
        // sequential scans: every statement here reaches a few rows per person by key, and a
        // plan made while a table was empty (a new installation) must not stay cached as a scan
        // of it once it holds millions of fixes.
        let mut tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off")
            .await?;
        let locked = lock::lock(&mut tx, &mut batch).await?;
        let fences = self.fences.at(locked.fence_version).await?;
        evaluate::evaluate(&mut batch, &fences, &locked.last, &self.config);
        let mut pending = store::store(&mut tx, &mut batch).await?;
        let mut history = EventLog::default();
        if judge::judge(&mut tx, &batch, &fences, &mut history).await? {
            // A confirmation requested or settled changes what is pending since the store.
            pending = store::pending_requests(&mut *tx, &batch.persons).await?;
        }
        history.append(&mut tx).await?;
        tx.commit().await?;
        Ok(batch.reply(pending))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::device::{DeviceInfo, Protocol};

    /// A device of `person` enrolled long ago, for the stages' unit tests.
    pub(crate) fn device(device_id: i64, person_id: i64) -> DeviceInfo {
        DeviceInfo {
            device_id,
            protocol: Protocol::Native,
            person_id,
            office_id: 1,
            default_crs: geofence::crs::Crs::Wgs84,
            enrolled_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }
}
