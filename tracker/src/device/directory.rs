//! The in-memory directory of devices every process keeps: lookups by enrolment id, token
//! verification bounded in cost, and the cache kept true to the database by notifications.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{is_enrolment_id, DeviceInfo, DeviceRow, Protocol, CACHE_TTL};
use crate::secret;

/// Concurrent token verifications (memory: this × 19 MiB).
const VERIFY_SLOTS: usize = 4;
/// Wrong tokens for one enrolment id verified per [`FAILURE_WINDOW`]; beyond that they are
/// refused unverified until the window ends. A phone whose token is cached is not affected, so
/// guessing at one phone's token cannot starve the others' verifications.
const FAILURES_PER_WINDOW: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

struct Cached {
    info: DeviceInfo,
    token_digest: Option<u64>,
    loaded: Instant,
}

/// Cached devices by enrolment id, and each device's enrolment id, so that a notification (which
/// names the device id) drops its entry without a scan.
#[derive(Default)]
struct Cache {
    by_enrolment: HashMap<String, Cached>,
    enrolment_of: HashMap<i64, String>,
}

impl Cache {
    fn fresh(&self, enrolment_id: &str) -> Option<&Cached> {
        self.by_enrolment.get(enrolment_id).filter(|c| c.loaded.elapsed() < CACHE_TTL)
    }

    fn insert(&mut self, enrolment_id: &str, entry: Cached) {
        if let Some(previous) = self.enrolment_of.insert(entry.info.device_id, enrolment_id.to_string()) {
            if previous != enrolment_id {
                self.by_enrolment.remove(&previous);
            }
        }
        self.by_enrolment.insert(enrolment_id.to_string(), entry);
    }

    fn remove_enrolment(&mut self, enrolment_id: &str) {
        if let Some(c) = self.by_enrolment.remove(enrolment_id) {
            self.enrolment_of.remove(&c.info.device_id);
        }
    }

    fn remove_device(&mut self, device_id: i64) {
        if let Some(e) = self.enrolment_of.remove(&device_id) {
            self.by_enrolment.remove(&e);
        }
    }

    fn clear(&mut self) {
        self.by_enrolment.clear();
        self.enrolment_of.clear();
    }
}

/// Looks devices up by enrolment id and verifies tokens, with an in-memory cache.
pub struct DeviceDirectory {
    pool: PgPool,
    key: RandomState,
    cache: Mutex<Cache>,
    /// One verification at a time per enrolment id: when a phone's buffered fixes (or many phones
    /// after a restart) arrive at once, the others wait for the first and then hit the cache.
    verifying: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Recent wrong tokens per existing enrolment id: how many, since when.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// argon2id takes 19 MiB and tens of milliseconds per verification: after a restart every
    /// phone needs one, so they run a few at a time instead of all at once.
    verify_slots: tokio::sync::Semaphore,
}

/// Removes an enrolment id's verification gate when its verification ends, cancelled included
/// (a client that hangs up must not leave an entry behind).
struct Gate<'a> {
    verifying: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    enrolment_id: &'a str,
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        self.verifying.lock().expect("device gate poisoned").remove(self.enrolment_id);
    }
}

impl DeviceDirectory {
    pub fn new(pool: PgPool) -> Self {
        DeviceDirectory {
            pool,
            key: RandomState::new(),
            cache: Mutex::new(Cache::default()),
            verifying: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            verify_slots: tokio::sync::Semaphore::new(VERIFY_SLOTS),
        }
    }

    /// Drops a device from this process's cache (every process does so on the change's
    /// notification, see [`DeviceDirectory::watch`]).
    pub fn forget(&self, enrolment_id: &str) {
        self.cache.lock().expect("device cache poisoned").remove_enrolment(enrolment_id);
    }

    /// The active Traccar Client (OsmAnd) device with this enrolment id, its only credential.
    /// Devices enrolled for another protocol are unknown here.
    pub async fn by_osmand_id(&self, enrolment_id: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
        if !is_enrolment_id(enrolment_id) {
            return Ok(None);
        }
        if let Some(c) = self.cache.lock().expect("device cache poisoned").fresh(enrolment_id) {
            return Ok(Some(c.info.clone()).filter(|i| i.protocol == Protocol::Osmand));
        }
        Ok(self.load(enrolment_id).await?.map(|(info, _)| {
            self.remember(enrolment_id, info.clone(), None);
            info
        }))
        .map(|found| found.filter(|i| i.protocol == Protocol::Osmand))
    }

    /// The active device of `protocol` whose enrolment id and token match; `None` for any
    /// mismatch, a device of another protocol included (the caller must not tell an unknown id
    /// from a wrong token).
    pub async fn authenticate(
        &self,
        protocol: Protocol,
        enrolment_id: &str,
        token: &str,
    ) -> Result<Option<DeviceInfo>, sqlx::Error> {
        if !is_enrolment_id(enrolment_id) {
            return Ok(None);
        }
        Ok(self.authenticate_any(enrolment_id, token).await?.filter(|i| i.protocol == protocol))
    }

    async fn authenticate_any(&self, enrolment_id: &str, token: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
        let digest = self.key.hash_one(token);
        if let Some(info) = self.cached(enrolment_id, digest) {
            return Ok(Some(info));
        }
        if self.failing(enrolment_id) {
            return Ok(None);
        }
        let gate =
            self.verifying.lock().expect("device gate poisoned").entry(enrolment_id.to_string()).or_default().clone();
        let _one_at_a_time = gate.lock().await;
        let _remove_gate = Gate { verifying: &self.verifying, enrolment_id };
        if let Some(info) = self.cached(enrolment_id, digest) {
            return Ok(Some(info));
        }
        self.verify(enrolment_id, token, digest).await
    }

    fn cached(&self, enrolment_id: &str, digest: u64) -> Option<DeviceInfo> {
        let cache = self.cache.lock().expect("device cache poisoned");
        cache.fresh(enrolment_id).filter(|c| c.token_digest == Some(digest)).map(|c| c.info.clone())
    }

    /// Whether this enrolment id has had its share of wrong tokens in the current window.
    fn failing(&self, enrolment_id: &str) -> bool {
        let mut failures = self.failures.lock().expect("device failures poisoned");
        match failures.get(enrolment_id) {
            Some((_, since)) if since.elapsed() >= FAILURE_WINDOW => {
                failures.remove(enrolment_id);
                false
            }
            Some((n, _)) => *n >= FAILURES_PER_WINDOW,
            None => false,
        }
    }

    fn count_failure(&self, enrolment_id: &str) {
        let mut failures = self.failures.lock().expect("device failures poisoned");
        let entry = failures.entry(enrolment_id.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
    }

    async fn verify(&self, enrolment_id: &str, token: &str, digest: u64) -> Result<Option<DeviceInfo>, sqlx::Error> {
        let Some((info, hash)) = self.load(enrolment_id).await? else {
            return Ok(None);
        };
        let token = token.to_string();
        let _slot = self.verify_slots.acquire().await.expect("verification semaphore is never closed");
        let ok = tokio::task::spawn_blocking(move || secret::verify(&token, &hash))
            .await
            .expect("token verification panicked");
        if !ok {
            self.count_failure(enrolment_id);
            return Ok(None);
        }
        self.failures.lock().expect("device failures poisoned").remove(enrolment_id);
        self.remember(enrolment_id, info.clone(), Some(digest));
        Ok(Some(info))
    }

    fn remember(&self, enrolment_id: &str, info: DeviceInfo, token_digest: Option<u64>) {
        let mut cache = self.cache.lock().expect("device cache poisoned");
        let token_digest = token_digest.or_else(|| cache.by_enrolment.get(enrolment_id).and_then(|c| c.token_digest));
        cache.insert(enrolment_id, Cached { info, token_digest, loaded: Instant::now() });
    }

    async fn load(&self, enrolment_id: &str) -> Result<Option<(DeviceInfo, String)>, sqlx::Error> {
        let row: Option<DeviceRow> = sqlx::query_as(
            "SELECT d.id, d.protocol, d.person_id, p.office_id, d.default_crs, d.enrolled_at, d.token_hash
             FROM devices d JOIN persons p ON p.id = d.person_id
             WHERE d.enrolment_id = $1 AND d.retired_at IS NULL",
        )
        .bind(enrolment_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(DeviceRow::into_info).transpose()
    }

    /// Keeps the cache true to the database: drops a device on every `cctrack_devices`
    /// notification (a change of what its verification depends on, retirement above all), and
    /// everything after a lost connection, when notifications may have been missed. Runs until
    /// `stop` is cancelled.
    pub async fn watch(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Err(e) = self.listen() => tracing::warn!(error = %e, "device change listener: reconnecting"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn listen(&self) -> Result<std::convert::Infallible, sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen("cctrack_devices").await?;
        // Whatever changed while nobody listened.
        self.cache.lock().expect("device cache poisoned").clear();
        loop {
            let n = listener.recv().await?;
            let mut cache = self.cache.lock().expect("device cache poisoned");
            match n.payload().parse::<i64>() {
                Ok(device) => cache.remove_device(device),
                Err(_) => cache.clear(),
            }
        }
    }
}
