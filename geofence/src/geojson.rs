//! GeoJSON (RFC 7946) in and out for fence geometry, read with `serde_json::Value`.
//!
//! Input: a Geometry (Polygon, MultiPolygon), a Feature holding one, or a FeatureCollection
//! (the union of its polygon features). Either ring orientation is accepted; output follows
//! RFC 7946 (exterior rings counter-clockwise, holes clockwise). Circles and corridors, which
//! GeoJSON has no type for, are written as a Point Feature with a `radius_m` property and a
//! LineString Feature with a `half_width_m` property (the common convention of map editors).

use geo::{Coord, LineString, MultiPolygon, Orient, Polygon};
use serde_json::{json, Value};

use crate::area::{check_positions, PreparedArea};
use crate::error::GeometryError;
use crate::shape::Shape;

fn malformed(at: &str, reason: impl Into<String>) -> GeometryError {
    GeometryError::Malformed { at: at.to_owned(), reason: reason.into() }
}

fn member<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, GeometryError> {
    v.get(key).ok_or_else(|| malformed(at, format!("missing \"{key}\"")))
}

fn array<'a>(v: &'a Value, at: &str) -> Result<&'a Vec<Value>, GeometryError> {
    v.as_array().ok_or_else(|| malformed(at, "expected an array"))
}

fn position(v: &Value, at: &str) -> Result<Coord<f64>, GeometryError> {
    let a = array(v, at)?;
    if a.len() < 2 {
        return Err(malformed(at, "a position needs at least two numbers"));
    }
    let n = |x: &Value| x.as_f64().ok_or_else(|| malformed(at, "expected a number"));
    Ok(Coord { x: n(&a[0])?, y: n(&a[1])? })
}

fn ring(v: &Value, at: &str) -> Result<LineString<f64>, GeometryError> {
    let cs = array(v, at)?
        .iter()
        .enumerate()
        .map(|(i, p)| position(p, &format!("{at}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    check_positions(&cs, |i| format!("{at}[{i}]"))?;
    if cs.len() < 4 {
        return Err(GeometryError::TooFewPoints { at: at.to_owned(), found: cs.len().saturating_sub(1), needed: 3 });
    }
    if cs.first() != cs.last() {
        let (f, l) = (cs[0], cs[cs.len() - 1]);
        return Err(GeometryError::UnclosedRing { at: at.to_owned(), first: [f.x, f.y], last: [l.x, l.y] });
    }
    Ok(LineString(cs))
}

fn polygon(v: &Value, at: &str) -> Result<Polygon<f64>, GeometryError> {
    let rings = array(v, at)?;
    if rings.is_empty() {
        return Err(GeometryError::Empty { at: at.to_owned() });
    }
    let mut rs = rings.iter().enumerate().map(|(i, r)| ring(r, &format!("{at}[{i}]")));
    let ext = rs.next().expect("non-empty")?;
    let holes = rs.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(ext, holes))
}

/// Reads a Polygon/MultiPolygon geometry object (no validation beyond positions and rings).
fn geometry(v: &Value, at: &str) -> Result<MultiPolygon<f64>, GeometryError> {
    let ty = member(v, "type", at)?.as_str().ok_or_else(|| malformed(at, "\"type\" is not a string"))?;
    let coords_at = if at.is_empty() { "coordinates".to_owned() } else { format!("{at}.coordinates") };
    match ty {
        "Polygon" => Ok(MultiPolygon(vec![polygon(member(v, "coordinates", at)?, &coords_at)?])),
        "MultiPolygon" => {
            let polys = array(member(v, "coordinates", at)?, &coords_at)?;
            if polys.is_empty() {
                return Err(GeometryError::Empty { at: coords_at });
            }
            Ok(MultiPolygon(
                polys
                    .iter()
                    .enumerate()
                    .map(|(i, p)| polygon(p, &format!("{coords_at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ))
        }
        other => Err(GeometryError::UnsupportedType {
            at: at.to_owned(),
            found: other.to_owned(),
            expected: "Polygon, MultiPolygon, Feature or FeatureCollection",
        }),
    }
}

fn validated(mp: MultiPolygon<f64>, at: &str) -> Result<MultiPolygon<f64>, GeometryError> {
    match PreparedArea::new(&mp) {
        Ok(_) => Ok(mp.orient(geo::orient::Direction::Default)),
        Err(e) if at.is_empty() => Err(e),
        Err(e) => Err(e.within(at)),
    }
}

fn feature(v: &Value, at: &str) -> Result<MultiPolygon<f64>, GeometryError> {
    let g_at = if at.is_empty() { "geometry".to_owned() } else { format!("{at}.geometry") };
    match member(v, "geometry", at)? {
        Value::Null => Err(GeometryError::Empty { at: g_at }),
        g => validated(geometry(g, &g_at)?, &g_at),
    }
}

/// Parses a fence area: a Polygon or MultiPolygon geometry, a Feature with one, or a
/// FeatureCollection (the union of its features, each of which must be polygonal). The result
/// is validated (see [`PreparedArea::new`]) and oriented as RFC 7946 says.
///
/// # Units
/// Coordinates in degrees (lon, lat), as in the input.
pub fn parse_area(v: &Value) -> Result<MultiPolygon<f64>, GeometryError> {
    let ty = member(v, "type", "")?.as_str().ok_or_else(|| malformed("", "\"type\" is not a string"))?;
    match ty {
        "Feature" => feature(v, ""),
        "FeatureCollection" => {
            let fs = array(member(v, "features", "")?, "features")?;
            let parts = fs
                .iter()
                .enumerate()
                .map(|(i, f)| feature(f, &format!("features[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            match parts.len() {
                0 => Err(GeometryError::Empty { at: "features".into() }),
                1 => Ok(parts.into_iter().next().expect("one")),
                _ => {
                    let union = geo::unary_union(parts.iter());
                    validated(union, "features (union)")
                }
            }
        }
        _ => validated(geometry(v, "")?, ""),
    }
}

fn ring_json(r: &LineString<f64>) -> Value {
    Value::Array(r.0.iter().map(|c| json!([c.x, c.y])).collect())
}

/// Writes an area as a GeoJSON MultiPolygon geometry in RFC 7946 orientation.
pub fn area_to_geojson(area: &MultiPolygon<f64>) -> Value {
    let oriented = area.orient(geo::orient::Direction::Default);
    let polys: Vec<Value> = oriented
        .0
        .iter()
        .map(|p| Value::Array(std::iter::once(p.exterior()).chain(p.interiors()).map(ring_json).collect()))
        .collect();
    json!({ "type": "MultiPolygon", "coordinates": polys })
}

/// Writes a shape as a GeoJSON Feature: areas as MultiPolygon, circles as a Point with
/// `properties.radius_m`, corridors as a LineString with `properties.half_width_m`.
pub fn shape_to_geojson(shape: &Shape) -> Value {
    match shape {
        Shape::Area(a) => {
            json!({ "type": "Feature", "properties": {}, "geometry": area_to_geojson(&a.to_multipolygon()) })
        }
        Shape::Circle(c) => json!({
            "type": "Feature",
            "properties": { "radius_m": c.radius_m },
            "geometry": { "type": "Point", "coordinates": [c.center.0, c.center.1] }
        }),
        Shape::Corridor(c) => json!({
            "type": "Feature",
            "properties": { "half_width_m": c.half_width_m },
            "geometry": { "type": "LineString", "coordinates": ring_json(&c.line()) }
        }),
    }
}

/// Parses any fence shape: a Point Feature with `properties.radius_m` (circle), a LineString
/// Feature with `properties.half_width_m` (corridor), or anything [`parse_area`] takes.
pub fn parse_shape(v: &Value) -> Result<Shape, GeometryError> {
    let is_feature = v.get("type").and_then(Value::as_str) == Some("Feature");
    let gtype = v.get("geometry").and_then(|g| g.get("type")).and_then(Value::as_str);
    let prop = |k: &str| v.get("properties").and_then(|p| p.get(k));
    let measure = |k: &'static str, what: &'static str| -> Result<f64, GeometryError> {
        let x = prop(k).ok_or_else(|| malformed("properties", format!("missing \"{k}\"")))?;
        let x = x.as_f64().ok_or_else(|| malformed(&format!("properties.{k}"), "expected a number"))?;
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(GeometryError::BadMeasure { at: format!("properties.{k}"), what, value: x })
        }
    };
    match (is_feature, gtype) {
        (true, Some("Point")) => {
            let c = position(member(&v["geometry"], "coordinates", "geometry")?, "geometry.coordinates")?;
            check_positions(&[c], |_| "geometry.coordinates".into())?;
            Shape::circle(c.x, c.y, measure("radius_m", "radius")?)
        }
        (true, Some("LineString")) => {
            let at = "geometry.coordinates";
            let cs = array(member(&v["geometry"], "coordinates", "geometry")?, at)?
                .iter()
                .enumerate()
                .map(|(i, p)| position(p, &format!("{at}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Shape::corridor(&LineString(cs), measure("half_width_m", "half-width")?).map_err(|e| e.within("geometry"))
        }
        _ => Shape::area(&parse_area(v)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(x: f64, y: f64, w: f64, ccw: bool) -> Value {
        let mut r = vec![json!([x, y]), json!([x + w, y]), json!([x + w, y + w]), json!([x, y + w]), json!([x, y])];
        if !ccw {
            r.reverse();
        }
        Value::Array(r)
    }

    #[test]
    fn accepts_both_orientations_and_writes_rfc7946() {
        for ccw in [true, false] {
            let g = json!({ "type": "Polygon", "coordinates": [sq(122.0, 40.0, 0.1, ccw)] });
            let mp = parse_area(&g).unwrap();
            let out = area_to_geojson(&mp);
            let ring = out["coordinates"][0][0].as_array().unwrap();
            let a: f64 = ring
                .windows(2)
                .map(|w| {
                    w[0][0].as_f64().unwrap() * w[1][1].as_f64().unwrap()
                        - w[1][0].as_f64().unwrap() * w[0][1].as_f64().unwrap()
                })
                .sum();
            assert!(a > 0.0, "exterior must be counter-clockwise");
        }
    }

    #[test]
    fn typed_errors_name_problem_and_place() {
        let open =
            json!({ "type": "Polygon", "coordinates": [[[122.0, 40.0], [122.1, 40.0], [122.1, 40.1], [122.0, 40.1]]] });
        let e = parse_area(&open).unwrap_err();
        assert!(matches!(e, GeometryError::UnclosedRing { ref at, .. } if at == "coordinates[0]"), "{e}");
        let few = json!({ "type": "Polygon", "coordinates": [[[122.0, 40.0], [122.1, 40.0], [122.0, 40.0]]] });
        assert!(matches!(parse_area(&few), Err(GeometryError::TooFewPoints { .. })));
        let bad =
            json!({ "type": "Polygon", "coordinates": [[[122.0, 40.0], [222.1, 40.0], [122.1, 40.1], [122.0, 40.0]]] });
        let e = parse_area(&bad).unwrap_err();
        assert!(matches!(e, GeometryError::OutOfRange { ref at, .. } if at == "coordinates[0][1]"), "{e}");
        let bow = json!({ "type": "Feature", "properties": {}, "geometry": { "type": "Polygon",
            "coordinates": [[[122.0, 40.0], [122.1, 40.1], [122.1, 40.0], [122.0, 40.1], [122.0, 40.0]]] } });
        let e = parse_area(&bow).unwrap_err();
        assert!(matches!(e, GeometryError::SelfIntersection { .. }), "{e}");
        assert!(e.to_string().contains("geometry.coordinates[0][0]"), "{e}");
        let pt = json!({ "type": "Point", "coordinates": [122.0, 40.0] });
        assert!(matches!(parse_area(&pt), Err(GeometryError::UnsupportedType { .. })));
        let gc = json!({ "type": "GeometryCollection", "geometries": [] });
        assert!(matches!(parse_area(&gc), Err(GeometryError::UnsupportedType { .. })));
        let s =
            json!({ "type": "Polygon", "coordinates": [[[122.0, "x"], [122.1, 40.0], [122.1, 40.1], [122.0, 40.0]]] });
        assert!(matches!(parse_area(&s), Err(GeometryError::Malformed { .. })));
        // NaN cannot be written in JSON; infinities neither: serde_json yields null → Malformed.
        let fc = json!({ "type": "FeatureCollection", "features": [
            { "type": "Feature", "properties": {}, "geometry": { "type": "Polygon", "coordinates": [sq(122.0, 40.0, 0.1, true)] } },
            { "type": "Feature", "properties": {}, "geometry": { "type": "LineString", "coordinates": [[122.0, 40.0], [122.1, 40.0]] } }
        ]});
        let e = parse_area(&fc).unwrap_err();
        assert!(matches!(e, GeometryError::UnsupportedType { ref at, .. } if at == "features[1].geometry"), "{e}");
    }

    #[test]
    fn feature_collection_is_the_union() {
        let fc = json!({ "type": "FeatureCollection", "features": [
            { "type": "Feature", "properties": {}, "geometry": { "type": "Polygon", "coordinates": [sq(122.0, 40.0, 0.1, true)] } },
            { "type": "Feature", "properties": {}, "geometry": { "type": "Polygon", "coordinates": [sq(122.1, 40.0, 0.1, false)] } },
            { "type": "Feature", "properties": {}, "geometry": { "type": "Polygon", "coordinates": [sq(123.0, 40.0, 0.1, true)] } }
        ]});
        let mp = parse_area(&fc).unwrap();
        assert_eq!(mp.0.len(), 2, "{mp:?}");
        let a = PreparedArea::new(&mp).unwrap();
        assert!(a.contains(122.1, 40.05));
        assert!(a.contains(123.05, 40.05));
        assert!(!a.contains(122.5, 40.05));
    }

    #[test]
    fn circles_and_corridors_round_trip() {
        let c = Shape::circle(122.2, 40.6, 250.0).unwrap();
        let back = parse_shape(&shape_to_geojson(&c)).unwrap();
        assert!(matches!(back, Shape::Circle(ref k) if k.radius_m == 250.0 && k.center == (122.2, 40.6)));
        let line = LineString::from(vec![(122.2, 40.6), (122.3, 40.65), (122.35, 40.7)]);
        let k = Shape::corridor(&line, 100.0).unwrap();
        let back = parse_shape(&shape_to_geojson(&k)).unwrap();
        match back {
            Shape::Corridor(c) => {
                assert_eq!(c.half_width_m, 100.0);
                assert!((c.line().0[2].x - 122.35).abs() < 1e-12);
            }
            other => panic!("{other:?}"),
        }
        let bad = json!({ "type": "Feature", "properties": { "radius_m": -3 }, "geometry": { "type": "Point", "coordinates": [122.0, 40.0] } });
        assert!(matches!(parse_shape(&bad), Err(GeometryError::BadMeasure { .. })));
    }
}
