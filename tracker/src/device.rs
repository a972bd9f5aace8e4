//! Devices: enrolment of a phone for a person, and authentication of what it sends.
//!
//! Enrolment yields an enrolment id (what Traccar Client calls the device identifier, the
//! OwnTracks username) and a token shown once and stored as an argon2id hash. argon2id costs
//! tens of milliseconds by design, far too much per fix at thousands of fixes a second, so a
//! successful verification is remembered in memory as a keyed 64-bit digest of the token (the key
//! is random per process, so the digest is useless outside it) for [`CACHE_TTL`].

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use serde::Serialize;
use sqlx::PgPool;

use crate::secret;

/// How long a verified device stays in the in-memory cache (a retired device stops working
/// within this time on every node).
pub const CACHE_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// cctrack's own `POST /ingest/v1/fixes`.
    Native,
    /// Traccar Client (OsmAnd protocol).
    Osmand,
    /// OwnTracks in HTTP mode.
    Owntracks,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Native => "native",
            Protocol::Osmand => "osmand",
            Protocol::Owntracks => "owntracks",
        }
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(Protocol::Native),
            "osmand" | "traccar" => Ok(Protocol::Osmand),
            "owntracks" => Ok(Protocol::Owntracks),
            _ => Err(format!("unknown protocol {s:?}: expected native, osmand or owntracks")),
        }
    }
}

/// What enrolment hands to staff, once.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub device_id: i64,
    pub person_id: i64,
    pub protocol: Protocol,
    pub enrolment_id: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

/// A device as the ingest pipeline needs it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device_id: i64,
    pub person_id: i64,
    pub office_id: i64,
    pub default_crs: Crs,
    pub enrolled_at: DateTime<Utc>,
}

/// Enrols a new device for `person`.
pub async fn enrol(
    pool: &PgPool,
    person: i64,
    protocol: Protocol,
    default_crs: Crs,
    enrolled_by: Option<i64>,
) -> Result<Enrolment, sqlx::Error> {
    // Lower-case letters and digits: typed by hand into Traccar Client; ~82 bits.
    let enrolment_id: String = secret::random_token(16).to_lowercase();
    let token = secret::random_token(32);
    let token_for_hash = token.clone();
    let token_hash =
        tokio::task::spawn_blocking(move || secret::hash(&token_for_hash)).await.expect("token hashing panicked");
    let device_id: i64 = sqlx::query_scalar(
        "INSERT INTO devices (person_id, protocol, enrolment_id, token_hash, default_crs, enrolled_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(person)
    .bind(protocol.as_str())
    .bind(&enrolment_id)
    .bind(token_hash)
    .bind(default_crs.to_string())
    .bind(enrolled_by)
    .fetch_one(pool)
    .await?;
    Ok(Enrolment { device_id, person_id: person, protocol, enrolment_id, token })
}

/// A retired device.
#[derive(Debug, Clone, Serialize)]
pub struct Retired {
    pub device_id: i64,
    pub person_id: i64,
    pub enrolment_id: String,
    pub retired_at: DateTime<Utc>,
}

/// The person a device (active or not) belongs to, by enrolment id.
pub async fn person_of(pool: &PgPool, enrolment_id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT person_id FROM devices WHERE enrolment_id = $1")
        .bind(enrolment_id)
        .fetch_optional(pool)
        .await
}

/// Retires a device: its token stops working (at once on this node, see
/// [`DeviceDirectory::forget`], within [`CACHE_TTL`] on others); its fixes stay. `None` if there
/// is no such active device.
pub async fn retire(pool: &PgPool, enrolment_id: &str) -> Result<Option<Retired>, sqlx::Error> {
    let row: Option<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE devices SET retired_at = now() WHERE enrolment_id = $1 AND retired_at IS NULL
         RETURNING id, person_id, retired_at",
    )
    .bind(enrolment_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(device_id, person_id, retired_at)| Retired {
        device_id,
        person_id,
        enrolment_id: enrolment_id.to_string(),
        retired_at,
    }))
}

struct Cached {
    info: DeviceInfo,
    token_digest: Option<u64>,
    loaded: Instant,
}

/// Looks devices up by enrolment id and verifies tokens, with an in-memory cache.
pub struct DeviceDirectory {
    pool: PgPool,
    key: RandomState,
    cache: Mutex<HashMap<String, Cached>>,
    /// One verification at a time per enrolment id: when a phone's buffered fixes (or many phones
    /// after a restart) arrive at once, the others wait for the first and then hit the cache.
    verifying: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// argon2id takes 19 MiB and tens of milliseconds per verification: after a restart every
    /// phone needs one, so they run a few at a time instead of all at once.
    verify_slots: tokio::sync::Semaphore,
}

/// Concurrent token verifications (memory: this × 19 MiB).
const VERIFY_SLOTS: usize = 4;

impl DeviceDirectory {
    pub fn new(pool: PgPool) -> Self {
        DeviceDirectory {
            pool,
            key: RandomState::new(),
            cache: Mutex::new(HashMap::new()),
            verifying: Mutex::new(HashMap::new()),
            verify_slots: tokio::sync::Semaphore::new(VERIFY_SLOTS),
        }
    }

    /// The active device with this enrolment id (Traccar Client identifies itself by it alone).
    /// Drops a device from the cache (after it is retired).
    pub fn forget(&self, enrolment_id: &str) {
        self.cache.lock().expect("device cache poisoned").remove(enrolment_id);
    }

    pub async fn by_enrolment(&self, enrolment_id: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
        if let Some(c) = self.cache.lock().expect("device cache poisoned").get(enrolment_id) {
            if c.loaded.elapsed() < CACHE_TTL {
                return Ok(Some(c.info.clone()));
            }
        }
        Ok(self.load(enrolment_id).await?.map(|(info, _)| {
            self.remember(enrolment_id, info.clone(), None);
            info
        }))
    }

    /// The active device whose enrolment id and token match; `None` for any mismatch (the
    /// caller must not tell an unknown id from a wrong token).
    pub async fn authenticate(&self, enrolment_id: &str, token: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
        let digest = self.key.hash_one(token);
        if let Some(info) = self.cached(enrolment_id, digest) {
            return Ok(Some(info));
        }
        let gate =
            self.verifying.lock().expect("device gate poisoned").entry(enrolment_id.to_string()).or_default().clone();
        let _one_at_a_time = gate.lock().await;
        if let Some(info) = self.cached(enrolment_id, digest) {
            return Ok(Some(info));
        }
        let result = self.verify(enrolment_id, token, digest).await;
        self.verifying.lock().expect("device gate poisoned").remove(enrolment_id);
        result
    }

    fn cached(&self, enrolment_id: &str, digest: u64) -> Option<DeviceInfo> {
        let cache = self.cache.lock().expect("device cache poisoned");
        cache
            .get(enrolment_id)
            .filter(|c| c.loaded.elapsed() < CACHE_TTL && c.token_digest == Some(digest))
            .map(|c| c.info.clone())
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
            return Ok(None);
        }
        self.remember(enrolment_id, info.clone(), Some(digest));
        Ok(Some(info))
    }

    fn remember(&self, enrolment_id: &str, info: DeviceInfo, token_digest: Option<u64>) {
        let mut cache = self.cache.lock().expect("device cache poisoned");
        let token_digest = token_digest.or_else(|| cache.get(enrolment_id).and_then(|c| c.token_digest));
        cache.insert(enrolment_id.to_string(), Cached { info, token_digest, loaded: Instant::now() });
    }

    async fn load(&self, enrolment_id: &str) -> Result<Option<(DeviceInfo, String)>, sqlx::Error> {
        let row: Option<(i64, i64, i64, String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT d.id, d.person_id, p.office_id, d.default_crs, d.enrolled_at, d.token_hash
             FROM devices d JOIN persons p ON p.id = d.person_id
             WHERE d.enrolment_id = $1 AND d.retired_at IS NULL",
        )
        .bind(enrolment_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(device_id, person_id, office_id, crs, enrolled_at, hash)| {
            let default_crs = crs.parse().unwrap_or(Crs::Wgs84);
            (DeviceInfo { device_id, person_id, office_id, default_crs, enrolled_at }, hash)
        }))
    }
}
