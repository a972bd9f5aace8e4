//! Changing fences from the staff API. A personal fence is edited by replacing it: the old row is
//! retired and a new one applies from the next fix, so that alarms and stored verdicts keep
//! naming the shape they were judged against. Shared fences of an organisation (a district's
//! boundary as the inclusion area of everybody below it, a zone everybody must keep out of) are
//! drawn and retired by the bureaus.

use chrono::{DateTime, Utc};
use geofence::crs::Crs;
use geofence::FenceKind;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::{insert, FenceStoreError, NewFence};
use crate::audit::Acting;

/// What an edit changes; `None` keeps the stored value (`Some(None)` clears an optional one).
#[derive(Debug, Clone, Default)]
pub struct FenceEdit {
    pub name: Option<String>,
    pub kind: Option<FenceKind>,
    /// The new shape and the coordinate system it was drawn in.
    pub geojson: Option<(Value, Crs)>,
    pub schedule: Option<Option<Value>>,
    pub valid_from: Option<Option<DateTime<Utc>>>,
    pub valid_to: Option<Option<DateTime<Utc>>>,
}

#[derive(sqlx::FromRow)]
struct Stored {
    person_id: i64,
    name: String,
    kind: String,
    shape: String,
    geom: String,
    radius_m: Option<f64>,
    half_width_m: Option<f64>,
    schedule: Option<Value>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
}

/// The stored shape as the GeoJSON it was drawn as (a circle and a corridor as Features with
/// their radius or half width), in WGS-84.
fn drawn(s: &Stored) -> Result<Value, serde_json::Error> {
    let geometry: Value = serde_json::from_str(&s.geom)?;
    Ok(match s.shape.as_str() {
        "circle" => json!({"type": "Feature", "geometry": geometry, "properties": {"radius_m": s.radius_m}}),
        "corridor" => json!({"type": "Feature", "geometry": geometry, "properties": {"half_width_m": s.half_width_m}}),
        _ => geometry,
    })
}

/// Replaces the active personal fence `id` of a person in `by`'s subtree with its edited form
/// (audited as `fence.edit`); `(person, new fence id)`, or `None` if there is no such fence the
/// account may see. A leave's fences change only with the leave.
pub async fn replace_personal(
    pool: &PgPool,
    by: &Acting<'_>,
    id: i64,
    edit: &FenceEdit,
) -> Result<Option<(i64, i64)>, FenceStoreError> {
    let mut tx = pool.begin().await?;
    let stored: Option<Stored> = sqlx::query_as(
        "SELECT f.person_id, f.name, f.kind, f.shape, ST_AsGeoJSON(f.geom) AS geom, f.radius_m, f.half_width_m,
                f.schedule, f.valid_from, f.valid_to
         FROM fences f JOIN persons p ON p.id = f.person_id
         WHERE f.id = $1 AND f.retired_at IS NULL AND f.leave_id IS NULL AND org_within(p.office_id, $2)
         FOR NO KEY UPDATE OF f",
    )
    .bind(id)
    .bind(by.who.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(s) = stored else { return Ok(None) };
    let kind = match edit.kind {
        Some(k) => k,
        None => s
            .kind
            .parse()
            .map_err(|e: geofence::UnknownFenceKind| FenceStoreError::Stored { id, message: e.to_string() })?,
    };
    let (geojson, crs) = match &edit.geojson {
        Some((g, crs)) => (g.clone(), *crs),
        None => {
            let g = drawn(&s).map_err(|e| FenceStoreError::Stored { id, message: format!("geometry: {e}") })?;
            (g, Crs::Wgs84)
        }
    };
    let new = NewFence {
        person_id: Some(s.person_id),
        organisation_id: None,
        name: edit.name.clone().unwrap_or(s.name),
        kind,
        geojson,
        crs,
        schedule: edit.schedule.clone().unwrap_or(s.schedule),
        valid_from: edit.valid_from.unwrap_or(s.valid_from),
        valid_to: edit.valid_to.unwrap_or(s.valid_to),
    };
    if let (Some(a), Some(b)) = (new.valid_from, new.valid_to) {
        if b <= a {
            return Err(FenceStoreError::Invalid { field: "valid_to", message: "must be after valid_from".into() });
        }
    }
    sqlx::query("UPDATE fences SET retired_at = now() WHERE id = $1").bind(id).execute(&mut *tx).await?;
    let replacement = insert(&mut tx, &new, None, Some(by.who.id)).await?;
    let details = json!({"replaces": id, "kind": new.kind.as_str(), "crs": crs.to_string(), "name": new.name});
    by.actor().record(&mut tx, "fence.edit", format!("fence {replacement}"), Some(s.person_id), details).await?;
    tx.commit().await?;
    Ok(Some((s.person_id, replacement)))
}

/// A shared fence to draw for an organisation: its own imported boundary, or a drawn shape.
#[derive(Debug, Clone)]
pub enum SharedShape {
    Boundary,
    Drawn(Value, Crs),
}

/// Stores a shared fence of `organisation` (in `by`'s subtree) applying to every person below it,
/// audited as `fence.create`; its id, or `None` if the organisation is not one `by` may see.
pub async fn add_shared(
    pool: &PgPool,
    by: &Acting<'_>,
    organisation: i64,
    name: &str,
    kind: FenceKind,
    shape: &SharedShape,
) -> Result<Option<i64>, FenceStoreError> {
    let mut tx = pool.begin().await?;
    let found: Option<Option<String>> = sqlx::query_scalar(
        "SELECT ST_AsGeoJSON(boundary) FROM organisations WHERE id = $1 AND org_within($1, $2) FOR NO KEY UPDATE",
    )
    .bind(organisation)
    .bind(by.who.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(boundary) = found else { return Ok(None) };
    let (geojson, crs) = match shape {
        SharedShape::Drawn(g, crs) => (g.clone(), *crs),
        SharedShape::Boundary => {
            let text = boundary.ok_or_else(|| FenceStoreError::Invalid {
                field: "boundary",
                message: format!("organisation {organisation} has no imported boundary"),
            })?;
            let g = serde_json::from_str(&text)
                .map_err(|e| FenceStoreError::Stored { id: organisation, message: format!("boundary: {e}") })?;
            (g, Crs::Wgs84)
        }
    };
    let new = NewFence {
        person_id: None,
        organisation_id: Some(organisation),
        name: name.to_string(),
        kind,
        geojson,
        crs,
        schedule: None,
        valid_from: None,
        valid_to: None,
    };
    let id = insert(&mut tx, &new, None, Some(by.who.id)).await?;
    let details = json!({"organisation": organisation, "kind": kind.as_str(), "shared": true, "name": name});
    by.actor().record(&mut tx, "fence.create", format!("fence {id}"), None, details).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Retires a shared fence of an organisation in `by`'s subtree (audited); its organisation, or
/// `None` if there is no such active fence the account may see.
pub async fn retire_shared(pool: &PgPool, by: &Acting<'_>, fence: i64) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let organisation: Option<i64> = sqlx::query_scalar(
        "UPDATE fences SET retired_at = now()
         WHERE id = $1 AND retired_at IS NULL AND person_id IS NULL AND org_within(organisation_id, $2)
         RETURNING organisation_id",
    )
    .bind(fence)
    .bind(by.who.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(o) = organisation {
        let details = json!({"organisation": o, "shared": true});
        by.actor().record(&mut tx, "fence.retire", format!("fence {fence}"), None, details).await?;
    }
    tx.commit().await?;
    Ok(organisation)
}

/// An active shared fence as listed for an organisation.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct SharedFence {
    pub id: i64,
    pub organisation_id: i64,
    pub name: String,
    pub kind: String,
    pub shape: String,
    /// GeoJSON geometry (WGS-84); a circle's radius and a corridor's half width beside it.
    pub geometry: Value,
    pub radius_m: Option<f64>,
    pub half_width_m: Option<f64>,
}

/// The active shared fences that bear on `organisation`'s persons: its own, its ancestors' (a
/// city-wide zone) and its descendants' (an office's district).
pub async fn shared_for(pool: &PgPool, organisation: i64) -> Result<Vec<SharedFence>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.id, f.organisation_id, f.name, f.kind, f.shape, ST_AsGeoJSON(f.geom)::jsonb AS geometry,
                f.radius_m, f.half_width_m
         FROM fences f
         WHERE f.person_id IS NULL AND f.retired_at IS NULL
           AND (org_within(f.organisation_id, $1) OR org_within($1, f.organisation_id))
         ORDER BY f.id",
    )
    .bind(organisation)
    .fetch_all(pool)
    .await
}
