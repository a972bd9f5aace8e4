//! Staff sessions: the console's cookie and machine clients' bearer tokens. A token is 32 random
//! characters (~190 bits), shown once; only its SHA-256 is stored. A session dies on logout or a
//! password change, after [`SessionPolicy::idle`] without use, or [`SessionPolicy::absolute`]
//! after login, whichever comes first.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::staff::{Principal, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    /// How often a long-lived request (the live event stream) checks its session again.
    pub recheck: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            recheck: Duration::from_secs(60),
        }
    }
}

/// How long `last_seen_at` may lag: it is rewritten at most this often, not on every request.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` has the shape of a session token (anything else never reaches a query).
pub fn is_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Opens a session for `staff`; its token (shown once) and when it ends at the latest.
pub async fn open(
    pool: &PgPool,
    staff: i64,
    address: Option<IpAddr>,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), sqlx::Error> {
    let token = crate::secret::random_token(32);
    let expires = now + chrono::Duration::from_std(policy.absolute).unwrap_or(chrono::Duration::hours(12));
    sqlx::query(
        "INSERT INTO sessions (token_sha256, staff_id, created_at, last_seen_at, expires_at, address)
         VALUES ($1, $2, $3, $3, $4, $5)",
    )
    .bind(digest(&token))
    .bind(staff)
    .bind(now)
    .bind(expires)
    .bind(address.map(|a| a.to_string()))
    .execute(pool)
    .await?;
    Ok((token, expires))
}

/// The signed-in account of a live session, and the session's id; `None` if the token is
/// unknown, revoked, idle too long or too old, or the account is no longer active.
pub async fn principal(
    pool: &PgPool,
    token: &str,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<Option<(Principal, i64)>, sqlx::Error> {
    if !is_token(token) {
        return Ok(None);
    }
    let idle = chrono::Duration::from_std(policy.idle).unwrap_or(chrono::Duration::minutes(30));
    let row: Option<(i64, i64, String, i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT se.id, st.id, st.username, st.organisation_id, st.role, se.last_seen_at
         FROM sessions se JOIN staff st ON st.id = se.staff_id
         WHERE se.token_sha256 = $1 AND se.revoked_at IS NULL AND se.expires_at > $2 AND se.last_seen_at > $3
           AND st.active",
    )
    .bind(digest(token))
    .bind(now)
    .bind(now - idle)
    .fetch_optional(pool)
    .await?;
    let Some((session, id, username, organisation_id, role, seen)) = row else { return Ok(None) };
    if now - seen > TOUCH_EVERY {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(session)
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(Role::parse(&role).map(|role| (Principal { id, username, organisation_id, role }, session)))
}

/// Ends a session (logout).
pub async fn close(pool: &PgPool, session: i64, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(session)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Sets `staff`'s password and ends every session of theirs but `keep`.
pub async fn change_password(
    pool: &PgPool,
    staff: i64,
    new_password: &str,
    keep: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let password = new_password.to_string();
    let hash = tokio::task::spawn_blocking(move || crate::secret::hash(&password)).await.expect("hashing panicked");
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE staff SET password_hash = $2 WHERE id = $1").bind(staff).bind(hash).execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE staff_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
    )
    .bind(staff)
    .bind(keep)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Whether a long-lived request (the live event stream) may go on: the account is active with
/// the role and organisation it had when the request began, and its session, if it came with
/// one, is neither ended nor past its absolute end (an open stream counts as activity, so the
/// idle limit does not apply).
pub async fn still_valid(
    pool: &PgPool,
    who: &Principal,
    session: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM staff st
             WHERE st.id = $1 AND st.active AND st.role = $2 AND st.organisation_id = $3
               AND ($4::int8 IS NULL OR EXISTS (
                   SELECT 1 FROM sessions se WHERE se.id = $4 AND se.staff_id = st.id
                   AND se.revoked_at IS NULL AND se.expires_at > $5)))",
    )
    .bind(who.id)
    .bind(who.role.as_str())
    .bind(who.organisation_id)
    .bind(session)
    .bind(now)
    .fetch_one(pool)
    .await
}
