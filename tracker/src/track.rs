//! Reading stored data back: a person's trajectory and the alarm list. Every trajectory read is
//! written to the audit log (location data is used for supervision only).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

/// One stored fix with the verdicts it was given on ingest.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TrackPoint {
    pub time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f32>,
    pub source: String,
    pub input_crs: String,
    pub battery_pct: Option<i16>,
    pub speed_mps: Option<f32>,
    pub device_seq: Option<i64>,
    pub mock: bool,
    pub implausible: bool,
    /// `[{"fence", "kind", "position": inside|outside|uncertain, "distance_m"}]`.
    pub verdicts: Value,
}

/// The person's fixes in time order within `[from, to)`; the read is audited with `read` (who,
/// from where, how), in the same transaction.
pub async fn track(
    pool: &PgPool,
    person: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    read: &crate::audit::Entry<'_>,
) -> Result<Vec<TrackPoint>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    crate::audit::record(&mut *tx, read).await?;
    let points = sqlx::query_as::<_, TrackPoint>(
        "SELECT fixed_at AS time, ST_Y(position) AS lat, ST_X(position) AS lon, accuracy_m, source, input_crs, battery_pct,
                speed_mps, device_seq, mock, implausible, verdicts
         FROM fixes WHERE device_id IN (SELECT id FROM devices WHERE person_id = $1) AND person_id = $1
           AND fixed_at >= coalesce($2, '-infinity') AND fixed_at < coalesce($3, 'infinity')
         ORDER BY fixed_at, device_id",
    )
    .bind(person)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(points)
}

/// An alarm as listed for staff.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlarmSummary {
    pub id: i64,
    pub person: i64,
    pub office: i64,
    pub kind: String,
    pub state: String,
    pub fence: Option<i64>,
    pub opened_at: DateTime<Utc>,
    pub cause_fixed_at: Option<DateTime<Utc>>,
    pub returned_inside_at: Option<DateTime<Utc>>,
    pub evidence: i64,
}

/// Alarms, newest first, optionally of one person and in one state.
pub async fn alarms(pool: &PgPool, person: Option<i64>, state: Option<&str>) -> Result<Vec<AlarmSummary>, sqlx::Error> {
    sqlx::query_as::<_, AlarmSummary>(
        "SELECT a.id, a.person_id AS person, a.office_id AS office, a.kind, a.state, a.fence_id AS fence, a.opened_at,
                a.cause_fixed_at, a.returned_inside_at,
                a.evidence_count::int8 AS evidence
         FROM alarms a
         WHERE ($1::bigint IS NULL OR a.person_id = $1) AND ($2::text IS NULL OR a.state = $2)
         ORDER BY a.opened_at DESC, a.id DESC",
    )
    .bind(person)
    .bind(state)
    .fetch_all(pool)
    .await
}
