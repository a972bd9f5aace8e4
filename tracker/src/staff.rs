//! Staff accounts. Every account belongs to one organisation and has one role; a role sees its
//! organisation's subtree only.

use serde::Serialize;
use sqlx::PgExecutor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 司法所 staff: alarm queue, enrolment, fences, short leaves, level proposals.
    OfficeStaff,
    /// 县区司法局 designated staff: escalated alarms, level and long-leave approval, orders.
    CountyAdmin,
    /// 市司法局 monitoring centre: every county, reports, rankings.
    CityAdmin,
    /// Read-only oversight (e.g. the procuratorate), audit log.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OfficeStaff => "office_staff",
            Role::CountyAdmin => "county_admin",
            Role::CityAdmin => "city_admin",
            Role::Auditor => "auditor",
        }
    }
}

/// A new account; the password is hashed (argon2id) before it reaches the database.
pub struct NewStaff<'a> {
    pub organisation_id: i64,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a str,
    pub email: Option<&'a str>,
}

/// Creates the account, or resets the password and role of an existing one with that username,
/// ending that account's sessions (a reset is how a compromised account is taken back).
pub async fn upsert<'e>(db: impl PgExecutor<'e>, s: &NewStaff<'_>) -> Result<i64, sqlx::Error> {
    let password = s.password.to_string();
    let hash =
        tokio::task::spawn_blocking(move || crate::secret::hash(&password)).await.expect("password hashing panicked");
    sqlx::query_scalar(
        "WITH account AS (
             INSERT INTO staff (organisation_id, username, display_name, role, password_hash, email)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (username) DO UPDATE
                 SET organisation_id = EXCLUDED.organisation_id, display_name = EXCLUDED.display_name,
                     role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, email = EXCLUDED.email
             RETURNING id),
              ended AS (
             UPDATE sessions SET revoked_at = now()
             WHERE staff_id IN (SELECT id FROM account) AND revoked_at IS NULL)
         SELECT id FROM account",
    )
    .bind(s.organisation_id)
    .bind(s.username)
    .bind(s.display_name)
    .bind(s.role.as_str())
    .bind(hash)
    .bind(s.email)
    .fetch_one(db)
    .await
}

/// A signed-in staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub id: i64,
    pub username: String,
    pub organisation_id: i64,
    pub role: Role,
}

impl Role {
    pub(crate) fn parse(s: &str) -> Option<Role> {
        [Role::OfficeStaff, Role::CountyAdmin, Role::CityAdmin, Role::Auditor].into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role may change records (enrol and retire phones, draw fences); auditors read.
    pub fn may_change_records(self) -> bool {
        self != Role::Auditor
    }
}

/// Whether `person`'s office lies in `staff`'s organisation subtree; `None` if there is no such
/// person.
pub async fn supervises_person(
    pool: &sqlx::PgPool,
    staff: &Principal,
    person: i64,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE above(id, parent_id) AS (
             SELECT o.id, o.parent_id FROM organisations o JOIN persons p ON p.office_id = o.id WHERE p.id = $1
             UNION ALL SELECT o.id, o.parent_id FROM organisations o JOIN above a ON o.id = a.parent_id)
         SELECT bool_or(id = $2) FROM above HAVING count(*) > 0",
    )
    .bind(person)
    .bind(staff.organisation_id)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
}

/// The judicial offices in `staff`'s organisation subtree.
pub async fn offices_in_scope(
    pool: &sqlx::PgPool,
    staff: &Principal,
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'office' AND org_within(id, $1)")
        .bind(staff.organisation_id)
        .fetch_all(pool)
        .await?;
    Ok(ids.into_iter().collect())
}
