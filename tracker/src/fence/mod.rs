//! Fences in the database: adding them from GeoJSON (any supported coordinate system), and
//! loading every active fence into a [`geofence::FenceSet`] for evaluation.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use geofence::crs::Crs;
use geofence::shape::Shape;
use geofence::{AppliesTo, Fence, FenceKind, FenceSet, ScheduleWindow, WeeklySchedule};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Row};

mod edit;

pub use edit::{add_shared, replace_personal, retire_shared, shared_for, FenceEdit, SharedFence, SharedShape};

#[derive(Debug, thiserror::Error)]
pub enum FenceStoreError {
    #[error("geojson: {0}")]
    Geometry(#[from] geofence::GeometryError),
    #[error("schedule: {0}")]
    Schedule(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("person {0} does not exist")]
    NoPerson(i64),
    #[error("fence {id}: {message}")]
    Stored { id: i64, message: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A fence to add.
#[derive(Debug, Clone)]
pub struct NewFence {
    /// `None`: a shared fence of `organisation_id` (applies to every person below it).
    pub person_id: Option<i64>,
    pub organisation_id: Option<i64>,
    pub name: String,
    pub kind: FenceKind,
    /// GeoJSON: Polygon/MultiPolygon (Feature/FeatureCollection), a Point Feature with
    /// `properties.radius_m`, or a LineString Feature with `properties.half_width_m`.
    pub geojson: Value,
    pub crs: Crs,
    /// `[{"days": [1..7], "from": "22:00", "to": "06:00"}]`, local Asia/Shanghai (1 = Monday).
    pub schedule: Option<Value>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// Converts every `[lon, lat, ...]` position of a GeoJSON value from `crs` to WGS-84.
pub fn geojson_to_wgs84(v: &Value, crs: Crs) -> Value {
    if crs == Crs::Wgs84 {
        return v.clone();
    }
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), if k == "properties" { v.clone() } else { geojson_to_wgs84(v, crs) }))
                .collect(),
        ),
        Value::Array(items) => {
            let is_position = items.len() >= 2 && items.iter().all(Value::is_number);
            if is_position {
                let (lon, lat) = (items[0].as_f64().unwrap_or(f64::NAN), items[1].as_f64().unwrap_or(f64::NAN));
                let (x, y) = geofence::crs::to_wgs84(crs, lon, lat);
                let mut out = vec![Value::from(x), Value::from(y)];
                out.extend(items[2..].iter().cloned());
                Value::Array(out)
            } else {
                Value::Array(items.iter().map(|i| geojson_to_wgs84(i, crs)).collect())
            }
        }
        other => other.clone(),
    }
}

/// Parses the stored schedule form into a [`WeeklySchedule`].
pub fn parse_schedule(v: &Value) -> Result<WeeklySchedule, FenceStoreError> {
    let bad = |m: String| FenceStoreError::Schedule(m);
    let windows = v.as_array().ok_or_else(|| bad("expected an array of windows".into()))?;
    let mut out = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let days = w
            .get("days")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("window {i}: days must be an array of 1 (Monday) to 7 (Sunday)")))?
            .iter()
            .map(|d| match d.as_u64() {
                Some(n @ 1..=7) => Ok(Weekday::try_from((n - 1) as u8).expect("0..=6 is a weekday")),
                _ => Err(bad(format!("window {i}: day {d} is not 1 (Monday) to 7 (Sunday)"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let time = |k: &str| {
            w.get(k)
                .and_then(Value::as_str)
                .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok())
                .ok_or_else(|| bad(format!("window {i}: {k} must be a time like 22:00")))
        };
        out.push(ScheduleWindow { days, start: time("from")?, end: time("to")? });
    }
    WeeklySchedule::new(out).map_err(|e| bad(e.to_string()))
}

/// Validates and stores a fence as `actor` (audited); returns its id.
pub async fn add(pool: &PgPool, f: &NewFence, actor: &crate::audit::Actor) -> Result<i64, FenceStoreError> {
    let mut tx = pool.begin().await?;
    let id = insert(&mut tx, f, None, actor.staff_id).await?;
    let details = serde_json::json!({"kind": f.kind.as_str(), "crs": f.crs.to_string(), "name": f.name});
    actor.record(&mut tx, "fence.create", format!("fence {id}"), f.person_id, details).await?;
    tx.commit().await?;
    Ok(id)
}

/// Validates and stores a fence on `conn` (possibly inside a transaction), drawn by the staff
/// account `created_by`, marked as belonging to `leave` when it is a leave's destination or route.
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    f: &NewFence,
    leave: Option<i64>,
    created_by: Option<i64>,
) -> Result<i64, FenceStoreError> {
    let wgs = geojson_to_wgs84(&f.geojson, f.crs);
    let shape = geofence::geojson::parse_shape(&wgs)?;
    if let Some(s) = &f.schedule {
        parse_schedule(s)?;
    }
    let organisation_id = match (f.organisation_id, f.person_id) {
        (Some(o), _) => o,
        (None, Some(p)) => sqlx::query_scalar("SELECT office_id FROM persons WHERE id = $1")
            .bind(p)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(FenceStoreError::NoPerson(p))?,
        (None, None) => return Err(FenceStoreError::Schedule("a shared fence needs an organisation".into())),
    };
    let (shape_kind, geometry, radius, half_width) = match &shape {
        Shape::Area(_) => ("area", geofence::geojson::shape_to_geojson(&shape), None, None),
        Shape::Circle(c) => (
            "circle",
            serde_json::json!({"type": "Point", "coordinates": [c.center.0, c.center.1]}),
            Some(c.radius_m),
            None,
        ),
        Shape::Corridor(c) => (
            "corridor",
            serde_json::json!({"type": "LineString", "coordinates": c.line().coords().map(|p| vec![p.x, p.y]).collect::<Vec<_>>()}),
            None,
            Some(c.half_width_m),
        ),
    };
    let geometry = match geometry.get("geometry") {
        Some(g) => g.clone(),
        None => geometry,
    };
    let id = sqlx::query_scalar(
        "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m, half_width_m, schedule, applies_to_all, valid_from, valid_to, leave_id, created_by)
         VALUES ($1, $2, $3, $4, $5, ST_SetSRID(ST_GeomFromGeoJSON($6), 4326), $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(f.person_id)
    .bind(organisation_id)
    .bind(&f.name)
    .bind(f.kind.as_str())
    .bind(shape_kind)
    .bind(geometry.to_string())
    .bind(radius)
    .bind(half_width)
    .bind(&f.schedule)
    .bind(f.person_id.is_none())
    .bind(f.valid_from)
    .bind(f.valid_to)
    .bind(leave)
    .bind(created_by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Rebuilds a fence's shape from its stored columns (`geom` as GeoJSON).
fn shape_from_row(
    shape: &str,
    geom: &Value,
    radius_m: Option<f64>,
    half_width_m: Option<f64>,
) -> Result<Shape, geofence::GeometryError> {
    match shape {
        "circle" => {
            let c = geom["coordinates"].as_array().cloned().unwrap_or_default();
            let (lon, lat) = (
                c.first().and_then(Value::as_f64).unwrap_or(f64::NAN),
                c.get(1).and_then(Value::as_f64).unwrap_or(f64::NAN),
            );
            Shape::circle(lon, lat, radius_m.unwrap_or(0.0))
        }
        "corridor" => geofence::geojson::parse_shape(&serde_json::json!({
            "type": "Feature", "geometry": geom, "properties": {"half_width_m": half_width_m}
        })),
        _ => geofence::geojson::parse_area(geom).and_then(|a| Shape::area(&a)),
    }
}

#[derive(sqlx::FromRow)]
struct StoredShape {
    id: i64,
    kind: String,
    shape: String,
    geom: String,
    radius_m: Option<f64>,
    half_width_m: Option<f64>,
}

/// The active fences without a weekly schedule or a validity period that apply to a person (their
/// own and the shared ones naming them), in id order, as shapes.
pub async fn person_shapes(pool: &PgPool, person: i64) -> Result<Vec<(FenceKind, Shape)>, FenceStoreError> {
    let rows: Vec<StoredShape> = sqlx::query_as(
        "SELECT id, kind, shape, ST_AsGeoJSON(geom) AS geom, radius_m, half_width_m FROM fences
         WHERE (person_id = $1 OR id IN (SELECT fence_id FROM fence_persons WHERE person_id = $1))
           AND retired_at IS NULL AND schedule IS NULL AND valid_from IS NULL AND valid_to IS NULL ORDER BY id",
    )
    .bind(person)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let stored = |message: String| FenceStoreError::Stored { id: r.id, message };
            let geom: Value = serde_json::from_str(&r.geom).map_err(|e| stored(e.to_string()))?;
            let shape =
                shape_from_row(&r.shape, &geom, r.radius_m, r.half_width_m).map_err(|e| stored(e.to_string()))?;
            let kind = r.kind.parse::<FenceKind>().map_err(|e| stored(e.to_string()))?;
            Ok((kind, shape))
        })
        .collect()
}

/// The current fence version (bumped by every change to fences).
pub async fn version<'e>(db: impl PgExecutor<'e>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM fence_version").fetch_one(db).await
}

/// Every active fence as of one version of the fence tables.
pub struct FenceSnapshot {
    /// The `fence_version` these fences correspond to.
    pub version: i64,
    pub set: FenceSet,
    /// Fences that are a leave's destination or route, and their leave.
    pub leave_of: HashMap<i64, i64>,
    leave_persons: HashSet<i64>,
}

impl FenceSnapshot {
    /// No fences, older than any stored version.
    pub fn empty() -> Self {
        FenceSnapshot { version: -1, set: FenceSet::new(), leave_of: HashMap::new(), leave_persons: HashSet::new() }
    }

    /// Fences with some of them a leave's places (`leave_of`: fence → leave of `person`), for
    /// tests of the rules.
    #[cfg(test)]
    pub(crate) fn with_leaves(set: FenceSet, person: i64, leave_of: HashMap<i64, i64>) -> Self {
        FenceSnapshot { version: 0, set, leave_of, leave_persons: HashSet::from([person]) }
    }

    /// Whether `person` has any leave fence (so their open leaves are worth reading).
    pub fn has_leave(&self, person: i64) -> bool {
        self.leave_persons.contains(&person)
    }

    /// The fence an overdue alarm of `leave` is filed against: its destination (the leave's
    /// first fence).
    pub fn leave_destination(&self, leave: i64) -> Option<i64> {
        self.leave_of.iter().filter(|(_, l)| **l == leave).map(|(f, _)| *f).min()
    }
}

/// Every active fence, and the version they correspond to (read in one snapshot).
pub async fn load_all(pool: &PgPool) -> Result<FenceSnapshot, FenceStoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
    let version = version(&mut *tx).await?;
    let rows = sqlx::query(
        "SELECT f.id, f.person_id, f.kind, f.shape, ST_AsGeoJSON(f.geom) AS geom, f.radius_m, f.half_width_m,
                f.schedule, f.valid_from, f.valid_to, f.leave_id,
                CASE WHEN f.person_id IS NOT NULL THEN ARRAY[]::int8[]
                     WHEN f.applies_to_all THEN ARRAY(
                         WITH RECURSIVE below(id) AS (
                             SELECT f.organisation_id
                             UNION ALL SELECT o.id FROM organisations o JOIN below b ON o.parent_id = b.id)
                         SELECT p.id FROM persons p WHERE p.office_id IN (SELECT id FROM below) ORDER BY p.id)
                     ELSE ARRAY(SELECT fp.person_id FROM fence_persons fp WHERE fp.fence_id = f.id ORDER BY 1)
                END AS persons
         FROM fences f WHERE f.retired_at IS NULL ORDER BY f.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut set = FenceSet::new();
    let (mut leave_of, mut leave_persons) = (HashMap::new(), HashSet::new());
    for r in rows {
        let id: i64 = r.try_get("id")?;
        if let (Some(leave), Some(person)) =
            (r.try_get::<Option<i64>, _>("leave_id")?, r.try_get::<Option<i64>, _>("person_id")?)
        {
            leave_of.insert(id, leave);
            leave_persons.insert(person);
        }
        let stored = |message: String| FenceStoreError::Stored { id, message };
        let geom: Value = serde_json::from_str(&r.try_get::<String, _>("geom")?).map_err(|e| stored(e.to_string()))?;
        let shape = shape_from_row(
            &r.try_get::<String, _>("shape")?,
            &geom,
            r.try_get("radius_m")?,
            r.try_get("half_width_m")?,
        )
        .map_err(|e| stored(e.to_string()))?;
        let kind = r.try_get::<String, _>("kind")?.parse::<FenceKind>().map_err(|e| stored(e.to_string()))?;
        let mut fence = Fence::new(id, kind, shape);
        if let Some(s) = r.try_get::<Option<Value>, _>("schedule")? {
            fence = fence.with_schedule(parse_schedule(&s).map_err(|e| stored(e.to_string()))?);
        }
        let (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            (r.try_get("valid_from")?, r.try_get("valid_to")?);
        if from.is_some() || to.is_some() {
            let from = from.unwrap_or(DateTime::<Utc>::MIN_UTC);
            let to = to.unwrap_or(DateTime::<Utc>::MAX_UTC);
            fence = fence.with_validity(from, to).map_err(|e| stored(e.to_string()))?;
        }
        let result = match r.try_get::<Option<i64>, _>("person_id")? {
            Some(person) => set.put_personal(person, fence),
            // applies_to_all is resolved above to the persons of the organisation's subtree.
            None => set.put_shared(fence, AppliesTo::Persons(r.try_get("persons")?)),
        };
        result.map_err(|e| stored(e.to_string()))?;
    }
    Ok(FenceSnapshot { version, set, leave_of, leave_persons })
}

/// Retires a personal fence of a person in `by`'s subtree (it stops applying to the next fix:
/// the fence version moves), audited; the person's id, or `None` if there is no such active
/// fence the account may see.
pub async fn retire_personal(
    pool: &PgPool,
    by: &crate::audit::Acting<'_>,
    fence: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let person: Option<i64> = sqlx::query_scalar(
        "UPDATE fences f SET retired_at = now()
         FROM persons p
         WHERE f.id = $1 AND f.retired_at IS NULL AND f.person_id = p.id AND f.leave_id IS NULL
           AND org_within(p.office_id, $2)
         RETURNING p.id",
    )
    .bind(fence)
    .bind(by.who.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(p) = person {
        by.actor().record(&mut tx, "fence.retire", format!("fence {fence}"), Some(p), serde_json::json!({})).await?;
    }
    tx.commit().await?;
    Ok(person)
}
