//! Chinese coordinate systems: WGS-84 ↔ GCJ-02 ↔ BD-09.
//!
//! GCJ-02 ("Mars coordinates") is the obfuscated datum mandated for published maps in mainland
//! China (AMap, Tencent); BD-09 is Baidu's further offset of GCJ-02. Phones report WGS-84 (GPS)
//! but many SDKs and boundary files are in GCJ-02 or BD-09. Everything inside cctrack is WGS-84:
//! convert at the edge with [`to_wgs84`] / [`from_wgs84`].
//!
//! The forward transformation is the widely published one (as in eviltransform and
//! coordtransform); the inverses are computed by fixed-point iteration to better than 1e-10°
//! (≈ 0.01 mm), not by the usual one-step approximation (which is off by metres).
//! Outside the customary rough bounding box of China no offset is applied.

use std::fmt;
use std::str::FromStr;

/// A horizontal coordinate system a position may arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS-84 (EPSG:4326), what GNSS receivers report and what cctrack stores.
    Wgs84,
    /// GCJ-02, the Chinese obfuscated datum (AMap, Tencent, DataV boundaries).
    Gcj02,
    /// BD-09, Baidu's datum (GCJ-02 with a further offset).
    Bd09,
}

/// An unknown coordinate-system name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown coordinate system {0:?}: expected \"wgs84\", \"gcj02\" or \"bd09\" (case-insensitive)")]
pub struct UnknownCrs(pub String);

impl FromStr for Crs {
    type Err = UnknownCrs;

    /// Accepts `wgs84`, `gcj02`, `bd09` in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wgs84" => Ok(Crs::Wgs84),
            "gcj02" => Ok(Crs::Gcj02),
            "bd09" => Ok(Crs::Bd09),
            _ => Err(UnknownCrs(s.to_owned())),
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        })
    }
}

/// Converts a position given in `crs` to WGS-84.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn to_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
        Crs::Bd09 => {
            let (glon, glat) = bd09_to_gcj02(lon, lat);
            gcj02_to_wgs84(glon, glat)
        }
    }
}

/// Converts a WGS-84 position to `crs`.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn from_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
        Crs::Bd09 => {
            let (glon, glat) = wgs84_to_gcj02(lon, lat);
            gcj02_to_bd09(glon, glat)
        }
    }
}

/// Whether a position lies outside the customary rough bounding box of mainland China
/// (lon 72.004–137.8347, lat 0.8293–55.8271), where GCJ-02 applies no offset.
///
/// # Units
/// Degrees.
pub fn outside_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

// Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;
const PI: f64 = std::f64::consts::PI;

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02 with the published algorithm; identity outside China.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !lon.is_finite() || !lat.is_finite() || outside_china(lon, lat) {
        return (lon, lat);
    }
    let mut dlat = transform_lat(lon - 105.0, lat - 35.0);
    let mut dlon = transform_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = rad_lat.sin();
    let magic = 1.0 - GCJ_EE * magic * magic;
    let sqrt_magic = magic.sqrt();
    dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    dlon = (dlon * 180.0) / (GCJ_A / sqrt_magic * rad_lat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// Solves `forward(x) = target` by fixed-point iteration `x ← x − (forward(x) − target)`.
/// The offsets change by < 1e-5 of a degree per degree, so each step gains about five digits;
/// three or four steps reach 1e-12°. Stops at 1e-12° or after 20 steps.
fn invert(forward: fn(f64, f64) -> (f64, f64), lon: f64, lat: f64) -> (f64, f64) {
    let (mut x, mut y) = (lon, lat);
    for _ in 0..20 {
        let (fx, fy) = forward(x, y);
        let (ex, ey) = (fx - lon, fy - lat);
        x -= ex;
        y -= ey;
        if ex.abs() < 1e-12 && ey.abs() < 1e-12 {
            break;
        }
    }
    (x, y)
}

/// GCJ-02 → WGS-84 by iterating the forward transformation until it reproduces the input to
/// better than 1e-12° (≈ 0.1 µm); identity outside China.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !lon.is_finite() || !lat.is_finite() || outside_china(lon, lat) {
        return (lon, lat);
    }
    invert(wgs84_to_gcj02, lon, lat)
}

const X_PI: f64 = PI * 3000.0 / 180.0;

/// GCJ-02 → BD-09 (Baidu's published formula). Applied everywhere, as Baidu does.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02: the published one-step inverse refined by iteration of
/// [`gcj02_to_bd09`] to better than 1e-12°.
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !lon.is_finite() || !lat.is_finite() {
        return (lon, lat);
    }
    invert(gcj02_to_bd09, lon, lat)
}

/// The published one-step BD-09 → GCJ-02 approximation (kept for comparison with other
/// tools; off by up to a few centimetres).
///
/// # Units
/// Degrees in, degrees out: `(lon, lat)`.
pub fn bd09_to_gcj02_approx(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::distance_m;

    // Published vectors (wandergis/coordtransform README, eviltransform tests) for (116.404, 39.915).
    #[test]
    fn published_forward_pairs() {
        let (x, y) = wgs84_to_gcj02(116.404, 39.915);
        assert!((x - 116.410_244_499_169_38).abs() < 1e-11 && (y - 39.916_404_281_501_64).abs() < 1e-11);
        let (x, y) = gcj02_to_bd09(116.404, 39.915);
        assert!((x - 116.410_369_493_710_29).abs() < 1e-11 && (y - 39.921_336_993_510_21).abs() < 1e-11);
        let (x, y) = from_wgs84(Crs::Bd09, 116.404, 39.915);
        assert!((x - 116.416_627_243_787_33).abs() < 1e-11 && (y - 39.922_699_552_216_216).abs() < 1e-11);
    }

    #[test]
    fn inverses_agree_with_published_one_step_values_to_metres_and_invert_exactly() {
        // One-step published inverse: (116.39775550083061, 39.91359571849836); ours is exact.
        let (x, y) = gcj02_to_wgs84(116.404, 39.915);
        assert!(distance_m((x, y), (116.397_755_500_830_61, 39.913_595_718_498_36)) < 5.0);
        let (gx, gy) = wgs84_to_gcj02(x, y);
        assert!(distance_m((gx, gy), (116.404, 39.915)) < 1e-5);
        let (x, y) = bd09_to_gcj02(116.404, 39.915);
        assert!(distance_m((x, y), (116.397_627_291_193_15, 39.908_656_739_576_31)) < 0.1);
        let (x2, y2) = bd09_to_gcj02_approx(116.404, 39.915);
        assert!((x2 - 116.397_627_291_193_15).abs() < 1e-11 && (y2 - 39.908_656_739_576_31).abs() < 1e-11);
        let (bx, by) = gcj02_to_bd09(x, y);
        assert!(distance_m((bx, by), (116.404, 39.915)) < 1e-5);
    }

    #[test]
    fn yingkou_offset_is_about_470_m_mostly_east() {
        let (lon, lat) = (122.235, 40.667);
        let (glon, glat) = wgs84_to_gcj02(lon, lat);
        let k = crate::metric::MetresPerDegree::at(lat);
        let east = (glon - lon) * k.kx;
        let north = (glat - lat) * k.ky;
        let d = distance_m((lon, lat), (glon, glat));
        assert!((420.0..520.0).contains(&d), "{d}");
        assert!((400.0..480.0).contains(&east), "{east}");
        assert!((130.0..210.0).contains(&north), "{north}");
    }

    #[test]
    fn round_trips_are_below_a_centimetre_across_china() {
        for i in 0..40 {
            for j in 0..30 {
                let lon = 75.0 + i as f64 * 1.5;
                let lat = 18.0 + j as f64 * 1.2;
                for crs in [Crs::Gcj02, Crs::Bd09] {
                    let (x, y) = from_wgs84(crs, lon, lat);
                    let (bx, by) = to_wgs84(crs, x, y);
                    let e = distance_m((lon, lat), (bx, by));
                    assert!(e < 0.01, "{crs} at ({lon},{lat}): {e} m");
                }
            }
        }
    }

    #[test]
    fn no_offset_outside_china() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(-74.0, 40.7), (-74.0, 40.7));
        assert!(outside_china(139.7, 35.7));
        assert!(!outside_china(122.2, 40.6));
    }

    #[test]
    fn parses_names_case_insensitively_and_rejects_others() {
        assert_eq!("WGS84".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert_eq!("gcj02".parse::<Crs>().unwrap(), Crs::Gcj02);
        assert_eq!("Bd09".parse::<Crs>().unwrap(), Crs::Bd09);
        let e = "epsg:4326".parse::<Crs>().unwrap_err();
        assert!(e.to_string().contains("epsg:4326") && e.to_string().contains("gcj02"));
        assert_eq!(Crs::Gcj02.to_string().parse::<Crs>().unwrap(), Crs::Gcj02);
    }
}
