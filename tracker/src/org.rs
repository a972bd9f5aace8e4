//! Organisations: city bureau (市司法局) → county bureaus (县区司法局) → judicial offices (司法所).

use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    City,
    County,
    Office,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::City => "city",
            OrgKind::County => "county",
            OrgKind::Office => "office",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "city" => Some(OrgKind::City),
            "county" => Some(OrgKind::County),
            "office" => Some(OrgKind::Office),
            _ => None,
        }
    }
}

/// One organisation as listed by `cctrack orgs`.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: i64,
    pub parent: Option<i64>,
    pub kind: OrgKind,
    pub name: String,
    pub adcode: Option<String>,
    /// Geodesic area of the boundary (WGS-84 spheroid), km²; `None` without a boundary.
    pub area_km2: Option<f64>,
}

/// Every organisation, parents before children (city, counties by adcode, offices by name).
pub async fn list(pool: &PgPool) -> Result<Vec<Organisation>, sqlx::Error> {
    let rows = sqlx::query(
        "WITH RECURSIVE tree AS (
             SELECT id, ARRAY[id] AS path FROM organisations WHERE parent_id IS NULL
             UNION ALL
             SELECT o.id, t.path || o.id FROM organisations o JOIN tree t ON o.parent_id = t.id
         )
         SELECT o.id, o.parent_id, o.kind, o.name, o.adcode,
                ST_Area(o.boundary::geography) / 1e6 AS area_km2
         FROM organisations o JOIN tree t USING (id)
         ORDER BY t.path",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(Organisation {
                id: r.try_get("id")?,
                parent: r.try_get("parent_id")?,
                kind: OrgKind::parse(&kind)
                    .ok_or_else(|| sqlx::Error::Decode(format!("unknown organisation kind {kind}").into()))?,
                name: r.try_get("name")?,
                adcode: r.try_get("adcode")?,
                area_km2: r.try_get("area_km2")?,
            })
        })
        .collect()
}

/// Inserts or updates the bureau with `adcode` (kind city or county), replacing its boundary
/// with `boundary_geojson` (a WGS-84 GeoJSON MultiPolygon). Returns its id.
pub async fn upsert_bureau<'e>(
    db: impl PgExecutor<'e>,
    kind: OrgKind,
    parent: Option<i64>,
    name: &str,
    adcode: &str,
    boundary_geojson: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO organisations (kind, parent_id, name, adcode, boundary)
         VALUES ($1, $2, $3, $4, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($5), 4326)), 3)))
         ON CONFLICT (adcode) WHERE adcode IS NOT NULL DO UPDATE
             SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, boundary = EXCLUDED.boundary
         RETURNING id",
    )
    .bind(kind.as_str())
    .bind(parent)
    .bind(name)
    .bind(adcode)
    .bind(boundary_geojson)
    .fetch_one(db)
    .await
}

/// Inserts a judicial office under `county` unless one of that name exists. Returns its id.
pub async fn ensure_office<'e>(db: impl PgExecutor<'e>, county: i64, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, $2)
         ON CONFLICT (parent_id, name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(county)
    .bind(name)
    .fetch_one(db)
    .await
}

/// Whether an organisation with this adcode exists.
pub async fn exists(pool: &PgPool, adcode: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organisations WHERE adcode = $1)")
        .bind(adcode)
        .fetch_one(pool)
        .await
}
