//! Devices: enrolment of a phone for a person, and authentication of what it sends.
//!
//! Enrolment yields an enrolment id (what Traccar Client calls the device identifier, the
//! OwnTracks username) and a token shown once and stored as an argon2id hash. argon2id costs
//! tens of milliseconds by design, far too much per fix at thousands of fixes a second, so a
//! successful verification is remembered in memory as a keyed 64-bit digest of the token (the key
//! is random per process, so the digest is useless outside it) for [`CACHE_TTL`].
//!
//! A credential works only for its own protocol: an OsmAnd enrolment id is not accepted on the
//! native or OwnTracks endpoints, nor theirs on the OsmAnd listener. Traccar Client sends no
//! secret, so its enrolment id is its only credential: it carries ~103 random bits, is never
//! logged in full, and staff replace it in one step ([`reenrol`]).
//!
//! Retirement takes effect at once in every process: a trigger notifies `cctrack_devices` when
//! what a verification depends on changes (not on every contact) and [`DeviceDirectory::watch`] drops it from the cache; and ingest checks,
//! under the person's row lock that [`retire`] also takes, that the device is still active when
//! it stores, so a fix racing a retirement is refused, not stored.

mod directory;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::audit::Actor;
use crate::secret;

pub use directory::DeviceDirectory;

/// How long a verified device stays in the in-memory cache. Changes are pushed to every process
/// (see the module docs); this bounds how long a missed notification could keep a stale entry,
/// and even then ingest refuses a retired device's fixes.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Characters of a generated enrolment id: lower-case letters and digits, typed by hand into
/// Traccar Client.
const ENROLMENT_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// 20 characters of 36: log2(36^20) ≈ 103 bits.
const ENROLMENT_ID_LEN: usize = 20;

/// Whether `s` has the shape of an enrolment id (the column's CHECK). Anything else cannot name
/// a device and is refused before it reaches a query (a NUL byte would fail the statement).
pub fn is_enrolment_id(s: &str) -> bool {
    (6..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An enrolment id for logs: enough to tell devices apart, too little to post as one.
pub fn redact(enrolment_id: &str) -> String {
    let head: String = enrolment_id.chars().take(4).collect();
    format!("{head}…")
}

fn new_enrolment_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..ENROLMENT_ID_LEN).map(|_| ENROLMENT_ALPHABET[rng.gen_range(0..ENROLMENT_ALPHABET.len())] as char).collect()
}

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
    pub const ALL: [Protocol; 3] = [Protocol::Native, Protocol::Osmand, Protocol::Owntracks];

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
    pub protocol: Protocol,
    pub person_id: i64,
    pub office_id: i64,
    pub default_crs: Crs,
    pub enrolled_at: DateTime<Utc>,
}

/// Enrols a new device for `person`, as `actor` (audited).
pub async fn enrol(
    pool: &PgPool,
    person: i64,
    protocol: Protocol,
    default_crs: Crs,
    actor: &Actor,
) -> Result<Enrolment, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let e = insert(&mut tx, person, protocol, default_crs, actor.staff_id).await?;
    let details = json!({"protocol": protocol.as_str(), "crs": default_crs.to_string()});
    actor.record(&mut tx, "device.enrol", format!("device {}", e.device_id), Some(person), details).await?;
    tx.commit().await?;
    Ok(e)
}

async fn insert(
    tx: &mut sqlx::PgConnection,
    person: i64,
    protocol: Protocol,
    default_crs: Crs,
    enrolled_by: Option<i64>,
) -> Result<Enrolment, sqlx::Error> {
    let enrolment_id = new_enrolment_id();
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
    .fetch_one(&mut *tx)
    .await?;
    Ok(Enrolment { device_id, person_id: person, protocol, enrolment_id, token })
}

/// The active device `device_id` as ingest needs it (the scheduler stores a carrier gateway's
/// position as its fix).
pub async fn info(pool: &PgPool, device_id: i64) -> Result<Option<DeviceInfo>, sqlx::Error> {
    let row: Option<DeviceRow> = sqlx::query_as(
        "SELECT d.id, d.protocol, d.person_id, p.office_id, d.default_crs, d.enrolled_at, d.token_hash
         FROM devices d JOIN persons p ON p.id = d.person_id WHERE d.id = $1 AND d.retired_at IS NULL",
    )
    .bind(device_id)
    .fetch_optional(pool)
    .await?;
    row.map(DeviceRow::into_info).transpose().map(|o| o.map(|(info, _)| info))
}

/// A retired device.
#[derive(Debug, Clone, Serialize)]
pub struct Retired {
    pub device_id: i64,
    pub person_id: i64,
    pub enrolment_id: String,
    pub retired_at: DateTime<Utc>,
}

/// The person a device (active or not) belongs to.
pub async fn person_of(pool: &PgPool, device_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT person_id FROM devices WHERE id = $1").bind(device_id).fetch_optional(pool).await
}

/// The id of the active device with this enrolment id (the command line names devices so).
pub async fn active_id(pool: &PgPool, enrolment_id: &str) -> Result<Option<i64>, sqlx::Error> {
    if !is_enrolment_id(enrolment_id) {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT id FROM devices WHERE enrolment_id = $1 AND retired_at IS NULL")
        .bind(enrolment_id)
        .fetch_optional(pool)
        .await
}

/// Retires a device as `actor` (audited): its credential stops working at once in every
/// process (see the module docs); its fixes stay. `None` if there is no such active device.
pub async fn retire(pool: &PgPool, device_id: i64, actor: &Actor) -> Result<Option<Retired>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let retired = retire_in(&mut tx, device_id).await?;
    if let Some(r) = &retired {
        actor.record(&mut tx, "device.retire", format!("device {device_id}"), Some(r.person_id), json!({})).await?;
    }
    tx.commit().await?;
    Ok(retired)
}

/// Retires the device in `tx` after locking its person's row, the lock ingest holds while it
/// stores: a commit of the device's fixes either finished before, or sees the retirement.
async fn retire_in(tx: &mut sqlx::PgConnection, device_id: i64) -> Result<Option<Retired>, sqlx::Error> {
    let locked: Option<i64> = sqlx::query_scalar(
        "SELECT p.id FROM persons p JOIN devices d ON d.person_id = p.id
         WHERE d.id = $1 AND d.retired_at IS NULL FOR NO KEY UPDATE OF p",
    )
    .bind(device_id)
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let row: Option<(i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE devices SET retired_at = now() WHERE id = $1 AND retired_at IS NULL
         RETURNING id, person_id, enrolment_id, retired_at",
    )
    .bind(device_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(device_id, person_id, enrolment_id, retired_at)| Retired {
        device_id,
        person_id,
        enrolment_id,
        retired_at,
    }))
}

/// Replaces a device's credentials in one step (a Traccar Client identifier that may have been
/// seen, a lost token): retires it and enrols a new device for the same person with the same
/// protocol and coordinate system, in one transaction, as `actor` (audited). `None` if there is
/// no such active device.
pub async fn reenrol(
    pool: &PgPool,
    device_id: i64,
    actor: &Actor,
) -> Result<Option<(Retired, Enrolment)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(retired) = retire_in(&mut tx, device_id).await? else {
        return Ok(None);
    };
    let (protocol, crs): (String, String) = sqlx::query_as("SELECT protocol, default_crs FROM devices WHERE id = $1")
        .bind(retired.device_id)
        .fetch_one(&mut *tx)
        .await?;
    let protocol: Protocol = protocol.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
    let crs: Crs = crs.parse().map_err(|e: geofence::crs::UnknownCrs| sqlx::Error::Decode(Box::new(e)))?;
    let enrolment = insert(&mut tx, retired.person_id, protocol, crs, actor.staff_id).await?;
    let details = json!({"replaces": device_id});
    actor
        .record(&mut tx, "device.reenrol", format!("device {}", enrolment.device_id), Some(retired.person_id), details)
        .await?;
    tx.commit().await?;
    Ok(Some((retired, enrolment)))
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    protocol: String,
    person_id: i64,
    office_id: i64,
    default_crs: String,
    enrolled_at: DateTime<Utc>,
    token_hash: String,
}

impl DeviceRow {
    /// The device and its token hash. The columns' CHECKs allow only known protocols and
    /// coordinate systems: anything else is a broken row.
    fn into_info(self) -> Result<(DeviceInfo, String), sqlx::Error> {
        let protocol = self.protocol.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
        let default_crs =
            self.default_crs.parse().map_err(|e: geofence::crs::UnknownCrs| sqlx::Error::Decode(Box::new(e)))?;
        let info = DeviceInfo {
            device_id: self.id,
            protocol,
            person_id: self.person_id,
            office_id: self.office_id,
            default_crs,
            enrolled_at: self.enrolled_at,
        };
        Ok((info, self.token_hash))
    }
}
