//! Persons as staff see them, within their organisation subtree (in SQL): the list, and one
//! person's profile (level, legal bases, phones with last contact and battery, fences, recent
//! alarms, last position). Reading a profile reads a position: the caller audits it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::staff::Principal;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PersonRow {
    pub id: i64,
    pub name: String,
    pub office_id: i64,
    pub office_name: String,
    pub county_name: String,
    pub level: String,
    pub is_key: bool,
    pub key_interval_min: Option<i16>,
    pub status: String,
    pub correction_type: String,
    pub term_start: NaiveDate,
    pub term_end: NaiveDate,
    pub next_due_at: Option<DateTime<Utc>>,
    pub last_fix_at: Option<DateTime<Utc>>,
    pub open_alarms: i64,
}

const PERSON: &str = "SELECT p.id, p.name, p.office_id, o.name AS office_name, c.name AS county_name, p.level, p.is_key,
                             p.key_interval_min, p.status, p.correction_type, p.term_start, p.term_end, p.next_due_at,
                             p.last_fix_at,
                             (SELECT count(*) FROM alarms a WHERE a.person_id = p.id AND a.state IN ('open', 'acknowledged')) AS open_alarms
                      FROM persons p JOIN organisations o ON o.id = p.office_id JOIN organisations c ON c.id = o.parent_id";

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub organisation: Option<i64>,
    pub level: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    pub include_released: bool,
    pub before: Option<i64>,
    pub limit: i64,
}

/// The persons in `scope`'s subtree that match, by id descending.
pub async fn list(pool: &PgPool, scope: &Principal, f: &Filter) -> Result<Vec<PersonRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{PERSON} WHERE org_within(p.office_id, $1) AND ($2::int8 IS NULL OR org_within(p.office_id, $2))
                   AND ($3::text IS NULL OR p.level = $3) AND ($4::text IS NULL OR strpos(p.name, $4) > 0)
                   AND ($5 OR p.status <> 'released') AND ($6::int8 IS NULL OR p.id < $6)
                 ORDER BY p.id DESC LIMIT $7"
    ))
    .bind(scope.organisation_id)
    .bind(f.organisation)
    .bind(&f.level)
    .bind(&f.name)
    .bind(f.include_released)
    .bind(f.before)
    .bind(f.limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Basis {
    pub id: i64,
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub document_ref: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub in_force: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Phone {
    pub id: i64,
    pub protocol: String,
    /// The first characters only: a Traccar Client's identifier is its credential.
    pub enrolment_id: String,
    pub enrolled_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The battery of its newest fix that reported one.
    pub battery_pct: Option<i16>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FenceRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub shape: String,
    /// WGS-84 GeoJSON geometry (a circle is its centre, with `radius_m`; a corridor its line,
    /// with `half_width_m`).
    pub geometry: Value,
    pub radius_m: Option<f64>,
    pub half_width_m: Option<f64>,
    pub schedule: Option<Value>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    /// A shared fence (a district, a zone) rather than the person's own.
    pub shared: bool,
    pub leave_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub person: PersonRow,
    pub last_position: Option<Value>,
    pub bases: Vec<Basis>,
    pub phones: Vec<Phone>,
    pub fences: Vec<FenceRow>,
    pub recent_alarms: Vec<crate::alarm::handling::AlarmCase>,
}

/// `person`'s profile if it is in `scope`'s subtree.
pub async fn profile(pool: &PgPool, scope: &Principal, person: i64) -> Result<Option<Profile>, sqlx::Error> {
    let row: Option<PersonRow> = sqlx::query_as(&format!("{PERSON} WHERE p.id = $1 AND org_within(p.office_id, $2)"))
        .bind(person)
        .bind(scope.organisation_id)
        .fetch_optional(pool)
        .await?;
    let Some(person_row) = row else { return Ok(None) };
    let last_position: Option<Value> = sqlx::query_scalar(
        "SELECT json_build_object('lat', ST_Y(last_fix_position), 'lon', ST_X(last_fix_position), 'at', last_fix_at)::jsonb
         FROM persons WHERE id = $1 AND last_fix_position IS NOT NULL",
    )
    .bind(person)
    .fetch_optional(pool)
    .await?;
    let bases = sqlx::query_as(
        "SELECT id, kind, starts_at, ends_at, document_ref, revoked_at,
                revoked_at IS NULL AND starts_at <= now() AND (ends_at IS NULL OR ends_at > now()) AS in_force
         FROM legal_bases WHERE person_id = $1 ORDER BY starts_at DESC",
    )
    .bind(person)
    .fetch_all(pool)
    .await?;
    let phones = sqlx::query_as(
        "SELECT d.id, d.protocol, left(d.enrolment_id, 4) || '…' AS enrolment_id, d.enrolled_at, d.retired_at,
                d.last_contact_at,
                (SELECT f.battery_pct FROM fixes f WHERE f.device_id = d.id AND f.person_id = d.person_id
                   AND f.battery_pct IS NOT NULL AND f.fixed_at > now() - interval '2 days'
                 ORDER BY f.fixed_at DESC LIMIT 1) AS battery_pct
         FROM devices d WHERE d.person_id = $1 ORDER BY d.retired_at NULLS FIRST, d.enrolled_at DESC",
    )
    .bind(person)
    .fetch_all(pool)
    .await?;
    let fences = sqlx::query_as(
        "SELECT f.id, f.name, f.kind, f.shape, ST_AsGeoJSON(f.geom, 6)::jsonb AS geometry, f.radius_m, f.half_width_m,
                f.schedule, f.valid_from, f.valid_to, f.person_id IS NULL AS shared, f.leave_id
         FROM fences f
         WHERE f.retired_at IS NULL
           AND (f.person_id = $1
                OR EXISTS (SELECT 1 FROM fence_persons fp WHERE fp.fence_id = f.id AND fp.person_id = $1)
                OR (f.applies_to_all AND org_within((SELECT office_id FROM persons WHERE id = $1), f.organisation_id)))
         ORDER BY f.id",
    )
    .bind(person)
    .fetch_all(pool)
    .await?;
    let filter = crate::alarm::handling::Filter {
        states: crate::alarm::lifecycle::State::ALL.to_vec(),
        person: Some(person),
        limit: 20,
        ..Default::default()
    };
    let recent_alarms = crate::alarm::handling::list(pool, scope, &filter).await?;
    Ok(Some(Profile { person: person_row, last_position, bases, phones, fences, recent_alarms }))
}

/// The organisations in `scope`'s subtree and the bureaus above it (`in_scope` false: their
/// districts are the base map an office's staff work on), each with its boundary simplified
/// for a base map (to about `tolerance_m` metres) as WGS-84 GeoJSON.
pub async fn organisations(pool: &PgPool, scope: &Principal, tolerance_m: f64) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT json_build_object('id', o.id, 'parent_id', o.parent_id, 'kind', o.kind, 'name', o.name, 'adcode', o.adcode,
                                  'in_scope', org_within(o.id, $1),
                                  'boundary', ST_AsGeoJSON(ST_SimplifyPreserveTopology(o.boundary, $2 / 111320.0), 5)::jsonb)::jsonb
         FROM organisations o WHERE org_within(o.id, $1) OR org_within($1, o.id) ORDER BY o.id",
    )
    .bind(scope.organisation_id)
    .bind(tolerance_m)
    .fetch_all(pool)
    .await
}
