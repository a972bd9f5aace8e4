//! Supervised persons (社区矫正对象), their supervision level and the legal basis for locating them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};

/// Supervision level; sets how often a person must be located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 宽管: every 12 h.
    Lenient,
    /// 普管: every 6 h.
    Ordinary,
    /// 严管: every 3 h.
    Strict,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Lenient => "lenient",
            Level::Ordinary => "ordinary",
            Level::Strict => "strict",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Level::Lenient => "宽管",
            Level::Ordinary => "普管",
            Level::Strict => "严管",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lenient" | "宽管" => Ok(Level::Lenient),
            "ordinary" | "普管" => Ok(Level::Ordinary),
            "strict" | "严管" => Ok(Level::Strict),
            _ => Err(format!("unknown level {s:?}: expected lenient (宽管), ordinary (普管) or strict (严管)")),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 管制 / 缓刑 / 假释 / 暂予监外执行.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionType {
    Surveillance,
    Probation,
    Parole,
    TemporaryOutsideExecution,
}

impl CorrectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionType::Surveillance => "surveillance",
            CorrectionType::Probation => "probation",
            CorrectionType::Parole => "parole",
            CorrectionType::TemporaryOutsideExecution => "temporary_outside_execution",
        }
    }
}

impl FromStr for CorrectionType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "surveillance" | "管制" => Ok(CorrectionType::Surveillance),
            "probation" | "缓刑" => Ok(CorrectionType::Probation),
            "parole" | "假释" => Ok(CorrectionType::Parole),
            "temporary_outside_execution" | "暂予监外执行" => Ok(CorrectionType::TemporaryOutsideExecution),
            _ => Err(format!(
                "unknown correction type {s:?}: expected surveillance (管制), probation (缓刑), parole (假释) or temporary_outside_execution (暂予监外执行)"
            )),
        }
    }
}

/// A person to create, with the signed positioning consent (手机定位承诺书) that lets the system
/// locate them from `consent_from`.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub office_id: i64,
    pub name: String,
    pub correction_type: CorrectionType,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    pub level: Level,
    /// 重点: located every 30 or 60 minutes whatever the level.
    pub key_interval_min: Option<i16>,
    pub consent_from: DateTime<Utc>,
    pub consent_ref: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PersonSummary {
    pub id: i64,
    pub name: String,
    pub office: i64,
    pub office_name: String,
    pub level: String,
    pub is_key: bool,
    pub status: String,
    pub last_fix_at: Option<DateTime<Utc>>,
}

/// Creates the person and their consent basis in one transaction. Returns the person's id.
pub async fn create(pool: &PgPool, p: &NewPerson) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id = create_in(&mut tx, p).await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates the person and their consent basis within the caller's transaction.
pub async fn create_in(tx: &mut sqlx::PgConnection, p: &NewPerson) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level, is_key, key_interval_min)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(p.office_id)
    .bind(&p.name)
    .bind(p.correction_type.as_str())
    .bind(p.term_start)
    .bind(p.term_end)
    .bind(p.level.as_str())
    .bind(p.key_interval_min.is_some())
    .bind(p.key_interval_min)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) VALUES ($1, 'consent', $2, $3)")
        .bind(id)
        .bind(p.consent_from)
        .bind(&p.consent_ref)
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

/// Every person, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<PersonSummary>, sqlx::Error> {
    sqlx::query_as::<_, PersonSummary>(
        "SELECT p.id, p.name, p.office_id AS office, o.name AS office_name, p.level, p.is_key, p.status, p.last_fix_at
         FROM persons p JOIN organisations o ON o.id = p.office_id ORDER BY p.id",
    )
    .fetch_all(pool)
    .await
}

/// Whether a legal basis for locating the person is in force at `at`.
pub async fn has_basis_at<'e>(db: impl PgExecutor<'e>, person: i64, at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM legal_bases WHERE person_id = $1 AND revoked_at IS NULL
                        AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2))",
    )
    .bind(person)
    .bind(at)
    .fetch_one(db)
    .await
}

/// The newest fix time that drove the alarm state of any of `persons`.
pub async fn newest_fix_at(pool: &PgPool, persons: &[i64]) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(last_fix_at) FROM persons WHERE id = ANY($1)").bind(persons).fetch_one(pool).await
}

/// Whether a person with this id exists.
pub async fn exists(pool: &PgPool, person: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM persons WHERE id = $1)").bind(person).fetch_one(pool).await
}

/// Locks those of `persons` no other transaction holds, in id order, and returns them. Jobs that
/// raise alarms take the person first, like ingest and staff do (person → alarm → feed), so no
/// job waits for a row while holding one a fix needs; a person skipped is looked at next tick.
pub async fn lock_free(conn: &mut sqlx::PgConnection, persons: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM persons WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED")
        .bind(persons)
        .fetch_all(conn)
        .await
}
