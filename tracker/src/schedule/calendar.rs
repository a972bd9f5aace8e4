//! Calendar runs (which period each job last ran for) and the alarm feed's consumer cursors.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Claims `job`'s run for `period`: true if it had not run for it (the caller runs it now).
/// The claim and the run are not one transaction: a crash in between skips that run, it never
/// repeats one.
pub async fn claim(pool: &PgPool, job: &str, period: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO calendar_runs (job, period, ran_at) VALUES ($1, $2, $3)
         ON CONFLICT (job) DO UPDATE SET period = EXCLUDED.period, ran_at = EXCLUDED.ran_at
             WHERE calendar_runs.period < EXCLUDED.period
         RETURNING period",
    )
    .bind(job)
    .bind(period)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(claimed.is_some())
}

/// Where `consumer` has read the alarm feed up to (0: nothing yet).
pub async fn cursor(pool: &PgPool, consumer: &str) -> Result<i64, sqlx::Error> {
    let at: Option<i64> = sqlx::query_scalar("SELECT position FROM feed_cursors WHERE consumer = $1")
        .bind(consumer)
        .fetch_optional(pool)
        .await?;
    Ok(at.unwrap_or(0))
}

/// Moves `consumer`'s cursor to `position` (never back).
pub async fn set_cursor(tx: &mut PgConnection, consumer: &str, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_cursors (consumer, position) VALUES ($1, $2)
         ON CONFLICT (consumer) DO UPDATE SET position = greatest(feed_cursors.position, EXCLUDED.position), moved_at = now()",
    )
    .bind(consumer)
    .bind(position)
    .execute(tx)
    .await?;
    Ok(())
}
