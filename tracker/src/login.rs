//! Staff logins, with failed attempts limited as 等保 2.0's login-failure handling asks: after
//! [`LoginPolicy::max_failures_per_account`] consecutive wrong passwords an account is locked for
//! [`LoginPolicy::lockout`], whatever password comes next; a client address is locked likewise
//! after [`LoginPolicy::max_failures_per_address`] failures within one lockout period (on any
//! accounts). Counts live in the database, so every cctrack process enforces the same limits and
//! a restart forgets nothing. Unknown usernames are counted and locked like real ones, so a
//! lockout does not tell which accounts exist. Every refusal is written to the audit log.
//!
//! Password checks run argon2id (19 MiB, tens of milliseconds): at most [`VERIFY_SLOTS`] at a
//! time, and at most [`MAX_WAITING`] waiting, so a burst of logins cannot take the machine.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::staff::{Principal, Role};

/// Password checks at once (each takes a core for tens of milliseconds).
pub const VERIFY_SLOTS: usize = 2;
/// Logins waiting for a slot; beyond this they are turned away at once (429, retry in a second).
pub const MAX_WAITING: usize = 64;

/// Limits on failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub max_failures_per_account: u32,
    pub max_failures_per_address: u32,
    pub lockout: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            max_failures_per_account: 10,
            max_failures_per_address: 50,
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    Accepted(Principal),
    /// Wrong username or password (never says which).
    Refused,
    /// The account or the address is locked, or too many logins are waiting: try again after
    /// this long.
    Locked {
        retry_after: Duration,
    },
}

/// Whether `s` has the shape of a username (the column's CHECK); anything else is refused
/// before it reaches a query.
pub fn is_username(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// Checks staff logins against the accounts and the failure counts.
pub struct Logins {
    pool: PgPool,
    policy: LoginPolicy,
    slots: tokio::sync::Semaphore,
    waiting: AtomicUsize,
}

impl Logins {
    pub fn new(pool: PgPool, policy: LoginPolicy) -> Self {
        Logins { pool, policy, slots: tokio::sync::Semaphore::new(VERIFY_SLOTS), waiting: AtomicUsize::new(0) }
    }

    pub fn policy(&self) -> LoginPolicy {
        self.policy
    }

    /// Checks `username` and `password` from `address`.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<LoginOutcome, sqlx::Error> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Ok(LoginOutcome::Locked { retry_after: Duration::from_secs(1) });
        }
        let slot = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _slot = slot.expect("login semaphore is never closed");
        let account_key = is_username(username).then(|| format!("account:{username}"));
        let address_key = address.map(|a| format!("address:{a}"));
        let keys: Vec<String> = account_key.iter().chain(&address_key).cloned().collect();
        // Checked inside the slot, so that at most VERIFY_SLOTS attempts pass a limit just reached.
        let locked_until: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT max(locked_until) FROM login_failures WHERE key = ANY($1) AND locked_until > now()",
        )
        .bind(&keys)
        .fetch_one(&self.pool)
        .await?;
        if let Some(until) = locked_until {
            self.audit("login.locked", username, address, json!({"locked_until": until})).await?;
            let retry_after = (until - Utc::now()).to_std().unwrap_or_default().max(Duration::from_secs(1));
            return Ok(LoginOutcome::Locked { retry_after: round_up_to_seconds(retry_after) });
        }
        let account = match account_key {
            Some(_) => self.account(username).await?,
            None => None,
        };
        // A well-formed hash of nothing in particular, so that unknown accounts take as long.
        const DECOY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0Qm2t3V1e2W0cXJmYnF2eGx0a0xJbm1jTnB0cHhYR0E";
        let hash = account.as_ref().map_or(DECOY.to_string(), |a| a.1.clone());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || crate::secret::verify(&password, &hash))
            .await
            .expect("password verification panicked");
        match account.filter(|_| ok) {
            Some((principal, _)) => {
                sqlx::query("DELETE FROM login_failures WHERE key = $1")
                    .bind(format!("account:{username}"))
                    .execute(&self.pool)
                    .await?;
                Ok(LoginOutcome::Accepted(principal))
            }
            None => {
                let locked = self.count_failure(&keys).await?;
                self.audit("login.failed", username, address, json!({"locked": locked})).await?;
                Ok(LoginOutcome::Refused)
            }
        }
    }

    async fn account(&self, username: &str) -> Result<Option<(Principal, String)>, sqlx::Error> {
        let row: Option<(i64, i64, String, String)> =
            sqlx::query_as("SELECT id, organisation_id, role, password_hash FROM staff WHERE username = $1 AND active")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(id, organisation_id, role, hash)| {
            let role = Role::parse(&role)?;
            Some((Principal { id, username: username.to_string(), organisation_id, role }, hash))
        }))
    }

    /// Counts one failure against each key; locks those that reach their limit. Whether any did.
    async fn count_failure(&self, keys: &[String]) -> Result<bool, sqlx::Error> {
        let lockout = self.policy.lockout.as_secs_f64();
        // One statement, so that concurrent failures count exactly. A failure that raced a lock
        // just set (it passed the check before) keeps the lock; a lock that ran out, or an
        // address's period that passed, starts the count again.
        // One statement, so that concurrent failures count exactly. A failure that raced a lock
        // just set (it passed the check before) keeps the lock; a lock that ran out, or an
        // address's period that passed, starts the count again.
        let rows: Vec<(String, Option<bool>)> = sqlx::query_as(
            "INSERT INTO login_failures AS f (key, failures, first_failure_at, last_failure_at, locked_until)
             SELECT k, 1, now(), now(),
                    CASE WHEN (CASE WHEN k LIKE 'account:%' THEN $2 ELSE $3 END) <= 1
                         THEN now() + make_interval(secs => $4) END
             FROM unnest($1::text[]) k
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN (f.locked_until <= now() OR (f.key LIKE 'address:%' AND f.first_failure_at < now() - make_interval(secs => $4))) THEN 1 ELSE f.failures + 1 END,
                 first_failure_at = CASE WHEN (f.locked_until <= now() OR (f.key LIKE 'address:%' AND f.first_failure_at < now() - make_interval(secs => $4))) THEN now() ELSE f.first_failure_at END,
                 last_failure_at = now(),
                 locked_until = CASE WHEN f.locked_until > now() THEN f.locked_until
                                     WHEN CASE WHEN (f.locked_until <= now() OR (f.key LIKE 'address:%' AND f.first_failure_at < now() - make_interval(secs => $4))) THEN 1 ELSE f.failures + 1 END >= CASE WHEN f.key LIKE 'account:%' THEN $2 ELSE $3 END THEN now() + make_interval(secs => $4) END
             RETURNING key, locked_until > now()",
        )
        .bind(keys)
        .bind(self.policy.max_failures_per_account as i32)
        .bind(self.policy.max_failures_per_address as i32)
        .bind(lockout)
        .fetch_all(&self.pool)
        .await?;
        let locked: Vec<String> = rows.into_iter().filter(|(_, l)| *l == Some(true)).map(|(k, _)| k).collect();
        for key in &locked {
            tracing::warn!(key = %key, minutes = self.policy.lockout.as_secs() / 60, "login locked after repeated failures");
        }
        Ok(!locked.is_empty())
    }

    async fn audit(
        &self,
        action: &str,
        username: &str,
        address: Option<IpAddr>,
        details: serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        // The username as typed goes into the details only if it could be one: arbitrary bytes
        // from the wire are not stored.
        let subject = if is_username(username) { username.to_string() } else { "(malformed username)".to_string() };
        sqlx::query(
            "INSERT INTO audit_log (staff_id, action, subject, details, address)
             VALUES ((SELECT id FROM staff WHERE username = $2), $1, $2, $3, $4)",
        )
        .bind(action)
        .bind(subject)
        .bind(details)
        .bind(address.map(|a| a.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn round_up_to_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_have_the_columns_shape() {
        for ok in ["office.210802", "abc", "a-b_c.d", "0ab"] {
            assert!(is_username(ok), "{ok}");
        }
        for bad in ["ab", "Office", ".abc", "a\0bc", "ab c", "张三abc", &"a".repeat(65)] {
            assert!(!is_username(bad), "{bad:?}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(round_up_to_seconds(Duration::from_millis(1500)), Duration::from_secs(2));
        assert_eq!(round_up_to_seconds(Duration::from_secs(3)), Duration::from_secs(3));
    }
}
