//! The audit log (社区矫正法 Art. 29: positioning information is confidential and for
//! corrections work only): every read of a trajectory or of a person's positions, every export,
//! every change, every login and refusal, with who, what, whom, when and from where. Append-only
//! (a trigger refuses UPDATE and DELETE from any connection).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use crate::staff::Principal;

/// One entry to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub staff_id: Option<i64>,
    /// `track.read`, `track.export`, `alarm.resolve`, `login`, ... (`object.verb`).
    pub action: &'a str,
    /// What was acted on, e.g. `alarm 12`, `person 3`.
    pub subject: String,
    pub person_id: Option<i64>,
    pub details: Value,
    pub address: Option<IpAddr>,
}

/// Who makes a change: a staff account and the client's address, or (no account) the operator
/// at the command line or cctrack itself. A change writes its audit row in its own transaction,
/// so there is never a change without its row, nor a row for a change that did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actor {
    pub staff_id: Option<i64>,
    pub address: Option<IpAddr>,
}

impl Actor {
    pub fn staff(staff_id: i64, address: Option<IpAddr>) -> Self {
        Actor { staff_id: Some(staff_id), address }
    }

    /// Records `action` on `subject` by this actor, in `conn`'s transaction.
    pub async fn record(
        &self,
        conn: &mut sqlx::PgConnection,
        action: &str,
        subject: String,
        person_id: Option<i64>,
        details: Value,
    ) -> Result<(), sqlx::Error> {
        record(conn, &Entry { staff_id: self.staff_id, action, subject, person_id, details, address: self.address })
            .await
    }
}

/// A signed-in staff member making a change, from `address`: whose scope and role the change is
/// checked against, and who its audit row names.
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub who: &'a Principal,
    pub address: Option<IpAddr>,
}

impl Acting<'_> {
    pub fn actor(&self) -> Actor {
        Actor::staff(self.who.id, self.address)
    }
}

pub async fn record<'e>(db: impl PgExecutor<'e>, e: &Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (staff_id, action, subject, person_id, details, address) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.staff_id)
    .bind(e.action)
    .bind(&e.subject)
    .bind(e.person_id)
    .bind(&e.details)
    .bind(e.address.map(|a| a.to_string()))
    .execute(db)
    .await?;
    Ok(())
}

/// An entry as auditors read it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub staff: Option<String>,
    pub action: String,
    pub subject: String,
    pub person_id: Option<i64>,
    pub details: Value,
    pub address: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// An action, or a prefix ending in `.` (`track.`).
    pub action: Option<String>,
    pub staff: Option<String>,
    pub person: Option<i64>,
    /// Entries older than this id (the cursor of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Entries in `scope`'s organisation subtree, newest first: about its persons or by its staff;
/// entries about neither (a refused login of an unknown name) only for a city-level account.
pub async fn list(pool: &PgPool, scope: &Principal, f: &Filter) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.at, s.username AS staff, a.action, a.subject, a.person_id, a.details, a.address
         FROM audit_log a LEFT JOIN staff s ON s.id = a.staff_id LEFT JOIN persons p ON p.id = a.person_id
         WHERE (p.id IS NULL OR org_within(p.office_id, $1))
           AND (s.id IS NULL OR org_within(s.organisation_id, $1))
           AND (p.id IS NOT NULL OR s.id IS NOT NULL OR (SELECT kind FROM organisations WHERE id = $1) = 'city')
           AND ($2::timestamptz IS NULL OR a.at >= $2) AND ($3::timestamptz IS NULL OR a.at < $3)
           AND ($4::text IS NULL OR a.action = $4 OR (right($4, 1) = '.' AND a.action LIKE $4 || '%'))
           AND ($5::text IS NULL OR s.username = $5) AND ($6::int8 IS NULL OR a.person_id = $6)
           AND ($7::int8 IS NULL OR a.id < $7)
         ORDER BY a.id DESC LIMIT $8",
    )
    .bind(scope.organisation_id)
    .bind(f.from)
    .bind(f.to)
    .bind(&f.action)
    .bind(&f.staff)
    .bind(f.person)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}
