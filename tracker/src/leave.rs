//! Leaves (请假外出). An approved leave lets the person be at its destination, and on its route,
//! during its window: granting one stores the leave and those places as fences of the person in
//! one transaction, so the fence cache and the verdicts treat them like any inclusion fence.
//! Ingest then records when the person was first seen away and when they came back; a person
//! still away after the window is overdue (`leave_overdue`, see `ingest::leaves`).

use chrono::{DateTime, Duration, Utc};
use geofence::crs::Crs;
use geofence::shape::Shape;
use geofence::FenceKind;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::fence::{FenceStoreError, NewFence};

/// A judicial office may approve a leave of up to 7 days; longer ones need the county bureau
/// (社区矫正法实施办法 第二十七条).
pub const OFFICE_APPROVES_UP_TO_DAYS: i64 = 7;
/// No single leave is longer than 30 days.
pub const MAX_DAYS: i64 = 30;

/// A leave to grant (it is stored as approved by `approved_by`).
#[derive(Debug, Clone)]
pub struct NewLeave {
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
    /// Username of the approving staff member.
    pub approved_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaveError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("person: {0} does not exist")]
    NoPerson(i64),
    #[error("approved_by: no active staff account is named {0:?}")]
    NoApprover(String),
    #[error("approved_by: {0}")]
    NotAllowed(String),
    #[error("{field}: {source}")]
    Place { field: &'static str, source: FenceStoreError },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> LeaveError {
    LeaveError::Invalid { field, message: message.into() }
}

/// A granted leave and the fences that carry it.
#[derive(Debug, Clone, Serialize)]
pub struct Granted {
    pub id: i64,
    pub destination_fence: i64,
    pub route_fence: Option<i64>,
}

/// Checks and stores an approved leave with its destination (and route) fences.
pub async fn grant(pool: &PgPool, l: &NewLeave) -> Result<Granted, LeaveError> {
    if l.reason.trim().is_empty() {
        return Err(invalid("reason", "must not be empty"));
    }
    if l.ends_at <= l.starts_at {
        return Err(invalid("to", "must be after from"));
    }
    let days = l.ends_at - l.starts_at;
    if days > Duration::days(MAX_DAYS) {
        return Err(invalid("to", format!("a leave lasts at most {MAX_DAYS} days")));
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
    let destination_shape =
        geofence::geojson::parse_shape(&destination).map_err(|e| place(FenceStoreError::Geometry(e)))?;
    // The leave row keeps the destination as an area (a circle as its polygon) for maps and reports.
    let (dest_geometry, radius) = match &destination_shape {
        Shape::Area(_) => {
            let g = geofence::geojson::shape_to_geojson(&destination_shape);
            (g.get("geometry").cloned().unwrap_or(g), 0.0)
        }
        Shape::Circle(c) => (serde_json::json!({"type": "Point", "coordinates": [c.center.0, c.center.1]}), c.radius_m),
        Shape::Corridor(_) => return Err(invalid("destination", "must be an area or a circle, not a corridor")),
    };

    let mut tx = pool.begin().await?;
    let office: i64 = sqlx::query_scalar("SELECT office_id FROM persons WHERE id = $1")
        .bind(l.person_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(LeaveError::NoPerson(l.person_id))?;
    let approver = approver(&mut tx, &l.approved_by, office, days).await?;
    let route_geometry = l.route.as_ref().map(|r| {
        let r = crate::fence::geojson_to_wgs84(r, l.crs);
        r.get("geometry").cloned().unwrap_or(r).to_string()
    });
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO leaves (person_id, reason, destination, route, route_half_width_m, starts_at, ends_at, state,
                             requested_by, decided_by, decided_at)
         VALUES ($3, $4,
                 ST_Multi(CASE WHEN $2::float8 > 0
                          THEN ST_Buffer(ST_SetSRID(ST_GeomFromGeoJSON($1), 4326)::geography, $2, 'quad_segs=16')::geometry
                          ELSE ST_SetSRID(ST_GeomFromGeoJSON($1), 4326) END),
                 ST_SetSRID(ST_GeomFromGeoJSON($5), 4326), $6, $7, $8, 'approved', $9, $9, now())
         RETURNING id",
    )
    .bind(dest_geometry.to_string())
    .bind(radius)
    .bind(l.person_id)
    .bind(l.reason.trim())
    .bind(route_geometry)
    .bind(route_width)
    .bind(l.starts_at)
    .bind(l.ends_at)
    .bind(approver)
    .fetch_one(&mut *tx)
    .await?;
    let fence = |name: String, geojson: Value| NewFence {
        person_id: Some(l.person_id),
        organisation_id: None,
        name,
        kind: FenceKind::Inclusion,
        geojson,
        crs: l.crs,
        schedule: None,
        valid_from: Some(l.starts_at),
        valid_to: Some(l.ends_at),
    };
    let destination_fence =
        crate::fence::insert(&mut tx, &fence(format!("请假目的地（请假 {id}）"), l.destination.clone()), Some(id))
            .await
            .map_err(place)?;
    let route_fence = match (&l.route, route_width) {
        (Some(route), Some(w)) => {
            let geometry = route.get("geometry").cloned().unwrap_or_else(|| route.clone());
            let feature =
                serde_json::json!({"type": "Feature", "geometry": geometry, "properties": {"half_width_m": w}});
            let f = crate::fence::insert(&mut tx, &fence(format!("请假路线（请假 {id}）"), feature), Some(id))
                .await
                .map_err(|source| LeaveError::Place { field: "route", source })?;
            Some(f)
        }
        _ => None,
    };
    tx.commit().await?;
    Ok(Granted { id, destination_fence, route_fence })
}

/// The approving account: active, in the person's office or a bureau above it, and with the
/// role that may approve a leave this long.
async fn approver(conn: &mut PgConnection, username: &str, office: i64, length: Duration) -> Result<i64, LeaveError> {
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "WITH RECURSIVE above(id, parent_id) AS (
             SELECT id, parent_id FROM organisations WHERE id = $2
             UNION ALL SELECT o.id, o.parent_id FROM organisations o JOIN above a ON o.id = a.parent_id)
         SELECT s.id, s.role, s.organisation_id IN (SELECT id FROM above)
         FROM staff s WHERE s.username = $1 AND s.active",
    )
    .bind(username)
    .bind(office)
    .fetch_optional(&mut *conn)
    .await?;
    let (id, role, in_scope) = row.ok_or_else(|| LeaveError::NoApprover(username.to_string()))?;
    if !in_scope {
        return Err(LeaveError::NotAllowed(format!("{username} does not supervise this person's office")));
    }
    match role.as_str() {
        "office_staff" if length > Duration::days(OFFICE_APPROVES_UP_TO_DAYS) => Err(LeaveError::NotAllowed(format!(
            "a leave over {OFFICE_APPROVES_UP_TO_DAYS} days needs the county bureau's approval"
        ))),
        "office_staff" | "county_admin" | "city_admin" => Ok(id),
        other => Err(LeaveError::NotAllowed(format!("the {other} role cannot approve leaves"))),
    }
}

/// A leave as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LeaveSummary {
    pub id: i64,
    pub person: i64,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: String,
    pub departed_at: Option<DateTime<Utc>>,
    pub returned_at: Option<DateTime<Utc>>,
    /// The destination's fence, then the route's.
    pub fences: Vec<i64>,
}

/// Leaves, newest first, of one person or of everybody.
pub async fn list(pool: &PgPool, person: Option<i64>) -> Result<Vec<LeaveSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.person_id AS person, l.reason, l.starts_at, l.ends_at, l.state, l.departed_at, l.returned_at,
                ARRAY(SELECT f.id FROM fences f WHERE f.leave_id = l.id ORDER BY f.id) AS fences
         FROM leaves l WHERE $1::int8 IS NULL OR l.person_id = $1 ORDER BY l.starts_at DESC, l.id DESC",
    )
    .bind(person)
    .fetch_all(pool)
    .await
}

/// An approved leave that has not been closed by the person's return.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenLeave {
    pub id: i64,
    pub person_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub departed_at: Option<DateTime<Utc>>,
}

/// The open leaves of `persons` (read under their row locks).
pub async fn open_for(conn: &mut PgConnection, persons: &[i64]) -> Result<Vec<OpenLeave>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, person_id, starts_at, ends_at, departed_at FROM leaves
         WHERE person_id = ANY($1) AND state = 'approved' ORDER BY person_id, starts_at",
    )
    .bind(persons)
    .fetch_all(conn)
    .await
}

/// The person was first seen away, at `at`.
pub async fn mark_departed(conn: &mut PgConnection, leave: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE leaves SET departed_at = $2 WHERE id = $1 AND departed_at IS NULL")
        .bind(leave)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The person is back in their usual area, at `at`: the leave is over (销假).
pub async fn mark_returned(conn: &mut PgConnection, leave: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE leaves SET state = 'returned', returned_at = $2 WHERE id = $1 AND state = 'approved'")
        .bind(leave)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
