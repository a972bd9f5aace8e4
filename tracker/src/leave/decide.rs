//! A leave's life before the person goes: an office records the request, the office (up to
//! [`OFFICE_APPROVES_UP_TO_DAYS`]) or the county bureau (beyond) approves or rejects it, and a
//! pending or granted leave can be cancelled. Approval stores the destination (and route) as
//! fences of the person for the leave's window, in the same transaction; cancellation retires
//! them. The command line's `leave grant` is a request and its approval in one step: the same
//! rules. Every step is audited in its own transaction.

use chrono::{DateTime, Duration, Utc};
use geofence::crs::Crs;
use geofence::shape::Shape;
use geofence::FenceKind;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use super::{LeaveError, MAX_DAYS, OFFICE_APPROVES_UP_TO_DAYS};
use crate::audit::Actor;
use crate::fence::{FenceStoreError, NewFence};
use crate::staff::{Principal, Role};

/// A leave as requested.
#[derive(Debug, Clone)]
pub struct LeaveRequest {
    pub person_id: i64,
    pub reason: String,
    /// GeoJSON: a Polygon/MultiPolygon, or a Point Feature with `properties.radius_m`.
    pub destination: Value,
    /// GeoJSON LineString (geometry or Feature) from home to the destination, if the way there
    /// lies outside the person's usual area.
    pub route: Option<Value>,
    pub route_half_width_m: Option<f64>,
    pub crs: Crs,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A granted leave and the fences that carry it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Granted {
    pub id: i64,
    pub destination_fence: i64,
    pub route_fence: Option<i64>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> LeaveError {
    LeaveError::Invalid { field, message: message.into() }
}

/// The request's places in WGS-84, checked: `{"destination": …, "route": Feature?}`, and the
/// destination as an area for the leave row (a circle as its centre and radius).
fn places(l: &LeaveRequest) -> Result<(Value, Value, f64, Option<String>), LeaveError> {
    if l.reason.trim().is_empty() || l.reason.chars().count() > 500 || !crate::db::storable_text(&l.reason) {
        return Err(invalid("reason", "1 to 500 characters"));
    }
    if l.ends_at <= l.starts_at {
        return Err(invalid("ends_at", "must be after starts_at"));
    }
    if l.ends_at - l.starts_at > Duration::days(MAX_DAYS) {
        return Err(invalid(
            "ends_at",
            format!("a leave lasts at most {MAX_DAYS} days (社区矫正法实施办法 第二十七条)"),
        ));
    }
    let route_width = match (&l.route, l.route_half_width_m) {
        (None, None) => None,
        (Some(_), Some(w)) if w.is_finite() && w > 0.0 && w <= 10_000.0 => Some(w),
        (Some(_), Some(w)) => {
            return Err(invalid("route_half_width_m", format!("{w} is not within (0, 10000] metres")))
        }
        (Some(_), None) => return Err(invalid("route_half_width_m", "a route needs a half width")),
        (None, Some(_)) => return Err(invalid("route", "a half width needs a route")),
    };
    let destination = crate::fence::geojson_to_wgs84(&l.destination, l.crs);
    let place = |source| LeaveError::Place { field: "destination", source };
    let shape = geofence::geojson::parse_shape(&destination).map_err(|e| place(FenceStoreError::Geometry(e)))?;
    let (area, radius) = match &shape {
        Shape::Area(_) => {
            let g = geofence::geojson::shape_to_geojson(&shape);
            (g.get("geometry").cloned().unwrap_or(g), 0.0)
        }
        Shape::Circle(c) => (json!({"type": "Point", "coordinates": [c.center.0, c.center.1]}), c.radius_m),
        Shape::Corridor(_) => return Err(invalid("destination", "must be an area or a circle, not a corridor")),
    };
    let route = match (&l.route, route_width) {
        (Some(r), Some(w)) => {
            let r = crate::fence::geojson_to_wgs84(r, l.crs);
            let geometry = r.get("geometry").cloned().unwrap_or(r);
            let feature = json!({"type": "Feature", "geometry": geometry, "properties": {"half_width_m": w}});
            geofence::geojson::parse_shape(&feature)
                .map_err(|e| LeaveError::Place { field: "route", source: FenceStoreError::Geometry(e) })?;
            Some(feature)
        }
        _ => None,
    };
    let route_geometry = route.as_ref().map(|f| f["geometry"].to_string());
    Ok((json!({"destination": destination, "route": route}), area, radius, route_geometry))
}

/// Stores a checked request in `tx`, requested by `requester`; its id.
async fn insert(tx: &mut PgConnection, l: &LeaveRequest, requester: Option<i64>) -> Result<i64, LeaveError> {
    let (places, area, radius, route_geometry) = places(l)?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE id = $1 FOR NO KEY UPDATE")
        .bind(l.person_id)
        .fetch_optional(&mut *tx)
        .await?;
    exists.ok_or(LeaveError::NoPerson(l.person_id))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO leaves (person_id, reason, destination, route, route_half_width_m, starts_at, ends_at, state,
                             requested_by, places)
         VALUES ($3, $4,
                 ST_Multi(CASE WHEN $2::float8 > 0
                          THEN ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON($1), 4326)::geography, $2, 'quad_segs=16')::geometry
                          ELSE ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) END),
                 ST_SetSRID(ST_GeomFromGeoJSON($5), 4326), $6, $7, $8, 'requested', $9, $10)
         RETURNING id",
    )
    .bind(area.to_string())
    .bind(radius)
    .bind(l.person_id)
    .bind(l.reason.trim())
    .bind(route_geometry)
    .bind(l.route.as_ref().and(l.route_half_width_m))
    .bind(l.starts_at)
    .bind(l.ends_at)
    .bind(requester)
    .bind(places)
    .fetch_one(&mut *tx)
    .await?)
}

/// Records a leave request for a person in `by`'s subtree (auditors may not); its id.
pub async fn request(pool: &PgPool, by: &Principal, actor: &Actor, l: &LeaveRequest) -> Result<i64, LeaveError> {
    let mut tx = pool.begin().await?;
    in_scope(&mut tx, by, l.person_id).await.map_err(|_| LeaveError::NoPerson(l.person_id))?;
    if !by.role.may_change_records() {
        return Err(LeaveError::NotAllowed(format!("the {} role cannot change records", by.role.as_str())));
    }
    let id = insert(&mut tx, l, Some(by.id)).await?;
    let details = json!({"starts_at": l.starts_at, "ends_at": l.ends_at});
    actor.record(&mut tx, "leave.request", format!("leave {id}"), Some(l.person_id), details).await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether `person` is in `by`'s subtree (the row locked for the change).
async fn in_scope(tx: &mut PgConnection, by: &Principal, person: i64) -> Result<(), LeaveError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM persons WHERE id = $1 AND org_within(office_id, $2) FOR NO KEY UPDATE")
            .bind(person)
            .bind(by.organisation_id)
            .fetch_optional(&mut *tx)
            .await?;
    found.map(|_| ()).ok_or(LeaveError::NoPerson(person))
}

/// The leave `id` as a decision needs it, its person's row locked; `None` outside `by`'s subtree.
#[derive(sqlx::FromRow)]
struct Pending {
    person_id: i64,
    state: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    places: Option<Value>,
}

async fn pending(tx: &mut PgConnection, by: &Principal, id: i64) -> Result<Pending, LeaveError> {
    let person: Option<i64> = sqlx::query_scalar(
        "SELECT p.id FROM leaves l JOIN persons p ON p.id = l.person_id
         WHERE l.id = $1 AND org_within(p.office_id, $2) FOR NO KEY UPDATE OF p",
    )
    .bind(id)
    .bind(by.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    person.ok_or(LeaveError::NoLeave(id))?;
    Ok(sqlx::query_as(
        "SELECT person_id, state, starts_at, ends_at, places FROM leaves WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

/// Whether `by` may decide a leave this long: the office up to 7 days, the county (or city)
/// beyond (社区矫正法实施办法 第二十七条); auditors never.
fn may_decide(by: &Principal, length: Duration) -> Result<(), LeaveError> {
    match by.role {
        Role::OfficeStaff if length > Duration::days(OFFICE_APPROVES_UP_TO_DAYS) => Err(LeaveError::NotAllowed(
            format!("a leave over {OFFICE_APPROVES_UP_TO_DAYS} days needs the county bureau's approval"),
        )),
        Role::OfficeStaff | Role::CountyAdmin | Role::CityAdmin => Ok(()),
        Role::Auditor => Err(LeaveError::NotAllowed("the auditor role cannot decide leaves".into())),
    }
}

/// Approves (with its fences) or rejects the requested leave `id` as `by`.
pub async fn decide(
    pool: &PgPool,
    by: &Principal,
    actor: &Actor,
    id: i64,
    approve: bool,
    note: Option<&str>,
) -> Result<Option<Granted>, LeaveError> {
    if note.is_some_and(|n| n.chars().count() > 2000 || !crate::db::storable_text(n)) {
        return Err(invalid("note", "at most 2000 characters"));
    }
    let mut tx = pool.begin().await?;
    let l = pending(&mut tx, by, id).await?;
    may_decide(by, l.ends_at - l.starts_at)?;
    if l.state != "requested" {
        return Err(LeaveError::Conflict(format!("leave {id} is already {}", l.state)));
    }
    let granted = if approve { Some(approve_in(&mut tx, by.id, id, &l).await?) } else { None };
    sqlx::query("UPDATE leaves SET state = $2, decided_by = $3, decided_at = now(), decision_note = $4 WHERE id = $1")
        .bind(id)
        .bind(if approve { "approved" } else { "rejected" })
        .bind(by.id)
        .bind(note)
        .execute(&mut *tx)
        .await?;
    let action = if approve { "leave.approve" } else { "leave.reject" };
    actor.record(&mut tx, action, format!("leave {id}"), Some(l.person_id), json!({"note": note})).await?;
    tx.commit().await?;
    Ok(granted)
}

/// Stores the leave's places as fences of the person for its window.
async fn approve_in(tx: &mut PgConnection, approver: i64, id: i64, l: &Pending) -> Result<Granted, LeaveError> {
    let places = l.places.clone().ok_or_else(|| LeaveError::Conflict(format!("leave {id} has no places")))?;
    let fence = |name: String, geojson: Value| NewFence {
        person_id: Some(l.person_id),
        organisation_id: None,
        name,
        kind: FenceKind::Inclusion,
        geojson,
        crs: Crs::Wgs84,
        schedule: None,
        valid_from: Some(l.starts_at),
        valid_to: Some(l.ends_at),
    };
    let destination_fence = crate::fence::insert(
        &mut *tx,
        &fence(format!("请假目的地（请假 {id}）"), places["destination"].clone()),
        Some(id),
        Some(approver),
    )
    .await
    .map_err(|source| LeaveError::Place { field: "destination", source })?;
    let route_fence = match places.get("route").filter(|r| !r.is_null()) {
        Some(route) => Some(
            crate::fence::insert(
                &mut *tx,
                &fence(format!("请假路线（请假 {id}）"), route.clone()),
                Some(id),
                Some(approver),
            )
            .await
            .map_err(|source| LeaveError::Place { field: "route", source })?,
        ),
        None => None,
    };
    tracing::debug!(leave = id, approver, "leave approved");
    Ok(Granted { id, destination_fence, route_fence })
}

/// Cancels a requested or granted leave (withdrawn, or revoked: the person must be back in
/// their usual area); its fences stop applying at once.
pub async fn cancel(
    pool: &PgPool,
    by: &Principal,
    actor: &Actor,
    id: i64,
    note: Option<&str>,
) -> Result<(), LeaveError> {
    if note.is_some_and(|n| n.chars().count() > 2000 || !crate::db::storable_text(n)) {
        return Err(invalid("note", "at most 2000 characters"));
    }
    let mut tx = pool.begin().await?;
    let l = pending(&mut tx, by, id).await?;
    if !by.role.may_change_records() {
        return Err(LeaveError::NotAllowed(format!("the {} role cannot change records", by.role.as_str())));
    }
    if !matches!(l.state.as_str(), "requested" | "approved") {
        return Err(LeaveError::Conflict(format!("leave {id} is already {}", l.state)));
    }
    sqlx::query(
        "UPDATE leaves SET state = 'cancelled', cancelled_at = now(), cancelled_by = $2,
                           decision_note = coalesce($3, decision_note)
         WHERE id = $1",
    )
    .bind(id)
    .bind(by.id)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE fences SET retired_at = now() WHERE leave_id = $1 AND retired_at IS NULL")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    actor.record(&mut tx, "leave.cancel", format!("leave {id}"), Some(l.person_id), json!({"note": note})).await?;
    tx.commit().await?;
    Ok(())
}

/// Records and approves a leave in one step, as the staff account `approved_by` (the command
/// line, and the demo): the same rules as a request and its approval.
pub async fn grant(pool: &PgPool, l: &LeaveRequest, approved_by: &str) -> Result<Granted, LeaveError> {
    let approver = crate::alarm::handling::principal(pool, approved_by)
        .await?
        .ok_or_else(|| LeaveError::NoApprover(approved_by.to_string()))?;
    places(l)?;
    let mut tx = pool.begin().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM persons WHERE id = $1").bind(l.person_id).fetch_optional(&mut *tx).await?;
    exists.ok_or(LeaveError::NoPerson(l.person_id))?;
    in_scope(&mut tx, &approver, l.person_id)
        .await
        .map_err(|_| LeaveError::NotAllowed(format!("{approved_by} does not supervise this person's office")))?;
    may_decide(&approver, l.ends_at - l.starts_at)?;
    let id = insert(&mut tx, l, Some(approver.id)).await?;
    let pending = pending(&mut tx, &approver, id).await?;
    let granted = approve_in(&mut tx, approver.id, id, &pending).await?;
    sqlx::query("UPDATE leaves SET state = 'approved', decided_by = $2, decided_at = now() WHERE id = $1")
        .bind(id)
        .bind(approver.id)
        .execute(&mut *tx)
        .await?;
    let actor = Actor::staff(approver.id, None);
    let details = json!({"starts_at": l.starts_at, "ends_at": l.ends_at, "via": "grant"});
    actor.record(&mut tx, "leave.approve", format!("leave {id}"), Some(l.person_id), details).await?;
    tx.commit().await?;
    Ok(granted)
}
