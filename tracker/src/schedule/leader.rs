//! One leader among several cctrack processes: the scheduler runs where a session-level advisory
//! lock is held, on a connection of its own. If that process dies, its connection closes, the
//! lock is released, and another process's next attempt takes over, continuing from the tables.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

/// The advisory lock's key ("cctrack" in ASCII).
pub const LOCK_KEY: i64 = 0x63_63_74_72_61_63_6b;

/// The lock, held for as long as this value (and its connection) lives.
pub struct Leadership {
    conn: PgConnection,
    holder: String,
}

/// Tries to become the leader as `holder` (a name for the status: host and process).
pub async fn try_lead(pool: &PgPool, holder: &str, now: DateTime<Utc>) -> Result<Option<Leadership>, sqlx::Error> {
    // A connection of its own, out of the pool: the lock lives and dies with it.
    let mut conn = pool.acquire().await?.detach();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut conn).await?;
    if !got {
        conn.close().await?;
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO scheduler_leader (holder, since, heartbeat_at) VALUES ($1, $2, $2)
         ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at",
    )
    .bind(holder)
    .bind(now)
    .execute(&mut conn)
    .await?;
    Ok(Some(Leadership { conn, holder: holder.to_string() }))
}

impl Leadership {
    /// Records that the leader is alive; an error means the lock's connection is gone (the lock
    /// with it): stop leading.
    pub async fn heartbeat(&mut self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE scheduler_leader SET heartbeat_at = $2 WHERE holder = $1")
            .bind(&self.holder)
            .bind(now)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Gives the lock up (on shutdown: another process takes over at once).
    pub async fn resign(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut self.conn).await?;
        self.conn.close().await
    }
}
