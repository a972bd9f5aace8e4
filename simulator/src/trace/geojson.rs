//! GeoJSON (RFC 7946, so WGS-84 `[lon, lat, ele?]`): LineString, MultiLineString
//! and MultiPoint with per-coordinate times in the properties (`coordTimes` as
//! togeojson writes, `times`, `timestamps`, or `coordinateProperties.times`), and
//! Point features with a time property (`time`, `timestamp`, `datetime`...).
//! Each line (and each run of consecutive Point features) becomes a segment.
//!
//! JSON has no useful line numbers once parsed, so problems name the point ordinal
//! and the JSON path (`features[3].geometry.coordinates[17]`).

use serde_json::{Map, Value};

use super::builder::{Origin, TraceBuilder};
use super::time::{epoch_number_auto, parse_iso8601};
use super::{Problem, ProblemKind, ReadError, ReadOptions, Trace, TraceFormat, TracePoint};

const LINE_TIME_KEYS: &[&str] = &["coordTimes", "times", "timestamps", "coord_times"];
const POINT_TIME_KEYS: &[&str] = &["time", "timestamp", "datetime", "date_time", "t"];
const ACCURACY_KEYS: &[&str] = &["accuracy", "acc", "horizontal_accuracy", "hacc"];
const ELEVATION_KEYS: &[&str] = &["ele", "elevation", "altitude", "alt"];
const SPEED_KEYS: &[&str] = &["speed"];
const COURSE_KEYS: &[&str] = &["course", "bearing", "heading"];

pub fn read(text: &str, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ReadError::Malformed {
        format: TraceFormat::Geojson,
        line: Some(e.line()).filter(|&l| l > 0),
        message: e.to_string(),
    })?;
    let mut r = Reader { b: TraceBuilder::new(TraceFormat::Geojson, opts), naive_times: 0, in_point_run: false };
    r.check_crs(&root)?;
    match type_of(&root) {
        Some("FeatureCollection") => match root.get("features").and_then(Value::as_array) {
            Some(features) => {
                for (i, f) in features.iter().enumerate() {
                    r.feature(f, &format!("features[{i}]"))?;
                }
            }
            None => {
                return Err(malformed("FeatureCollection without a \"features\" array"));
            }
        },
        Some("Feature") => r.feature(&root, "")?,
        Some(_) => r.geometry(&root, &Map::new(), "")?,
        None => return Err(malformed("top-level object has no \"type\"")),
    }
    if r.naive_times > 0 {
        r.b.report(Problem::new(
            ProblemKind::AssumedUtc,
            format!("{} times have no UTC offset and were read as UTC", r.naive_times),
        ))?;
    }
    r.b.finish()
}

fn malformed(message: &str) -> ReadError {
    ReadError::Malformed { format: TraceFormat::Geojson, line: None, message: message.to_string() }
}

fn type_of(v: &Value) -> Option<&str> {
    v.get("type").and_then(Value::as_str)
}

/// A property by any of `keys`, compared case-insensitively.
fn prop<'v>(props: &'v Map<String, Value>, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().find_map(|k| props.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)).map(|(_, v)| v))
}

fn prop_f64(props: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    prop(props, keys).and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

struct Reader<'o> {
    b: TraceBuilder<'o>,
    naive_times: usize,
    /// Consecutive Point features share a segment.
    in_point_run: bool,
}

impl Reader<'_> {
    fn check_crs(&mut self, root: &Value) -> Result<(), ReadError> {
        // RFC 7946 dropped `crs`; old files may still name a projected one, whose
        // numbers would be read as degrees here.
        let Some(name) = root.pointer("/crs/properties/name").and_then(Value::as_str) else {
            return Ok(());
        };
        let wgs84 = ["CRS84", "4326", "WGS84", "WGS 84"].iter().any(|k| name.to_ascii_uppercase().contains(k));
        if !wgs84 {
            self.b.report(Problem::new(
                ProblemKind::Unsupported,
                format!("crs {name:?} is not WGS-84; coordinates were read as WGS-84 anyway"),
            ))?;
        }
        Ok(())
    }

    fn unsupported(&mut self, path: &str, what: String) -> Result<(), ReadError> {
        self.b.report(Problem::new(ProblemKind::Unsupported, format!("{}: {what}; skipped", display_path(path))))
    }

    fn feature(&mut self, f: &Value, path: &str) -> Result<(), ReadError> {
        if type_of(f) != Some("Feature") {
            return self.unsupported(path, format!("{:?} is not a Feature", type_of(f)));
        }
        let empty = Map::new();
        let props = f.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        match f.get("geometry") {
            Some(g) if g.is_object() => self.geometry(g, props, &join(path, "geometry")),
            _ => self.unsupported(path, "feature without geometry".into()),
        }
    }

    fn geometry(&mut self, g: &Value, props: &Map<String, Value>, path: &str) -> Result<(), ReadError> {
        let coords = g.get("coordinates");
        let cpath = join(path, "coordinates");
        match (type_of(g), coords) {
            (Some("Point"), Some(c)) => {
                if !self.in_point_run {
                    self.b.begin_segment(None);
                    self.in_point_run = true;
                }
                let time = prop(props, POINT_TIME_KEYS);
                self.point(c, time, Some(props), &cpath)
            }
            (Some("LineString" | "MultiPoint"), Some(Value::Array(list))) => {
                self.in_point_run = false;
                self.b.begin_segment(name_of(props));
                let times = match line_times(props) {
                    Some(t) => Some(self.times_for(t, list.len(), path)?),
                    None => None,
                };
                for (i, c) in list.iter().enumerate() {
                    let t = times.as_ref().and_then(|t| t.get(i).copied().flatten());
                    self.point(c, t, None, &format!("{cpath}[{i}]"))?;
                }
                Ok(())
            }
            (Some("MultiLineString"), Some(Value::Array(lines))) => {
                self.in_point_run = false;
                let times = line_times(props).and_then(Value::as_array);
                let nested = times.is_some_and(|t| t.first().is_some_and(Value::is_array));
                let mut flat_index = 0;
                for (li, line) in lines.iter().enumerate() {
                    let Some(list) = line.as_array() else {
                        self.unsupported(&format!("{cpath}[{li}]"), "line is not an array".into())?;
                        continue;
                    };
                    self.b.begin_segment(name_of(props));
                    let line_times: Option<Vec<Option<&Value>>> = times.map(|t| {
                        if nested {
                            let inner = t.get(li).and_then(Value::as_array);
                            (0..list.len()).map(|i| inner.and_then(|a| a.get(i))).collect()
                        } else {
                            (0..list.len()).map(|i| t.get(flat_index + i)).collect()
                        }
                    });
                    for (i, c) in list.iter().enumerate() {
                        let t = line_times.as_ref().and_then(|t| t[i]);
                        self.point(c, t, None, &format!("{cpath}[{li}][{i}]"))?;
                    }
                    flat_index += list.len();
                }
                Ok(())
            }
            (Some(t @ ("Point" | "LineString" | "MultiPoint" | "MultiLineString")), _) => {
                self.unsupported(path, format!("{t} without a coordinates array"))
            }
            (other, _) => {
                // Not ending a run of Point features: it adds nothing between them.
                self.unsupported(path, format!("geometry {} is not a trace", other.unwrap_or("without type")))
            }
        }
    }

    /// Aligns a times array with `n` coordinates, reporting a length mismatch once.
    fn times_for<'v>(&mut self, times: &'v Value, n: usize, path: &str) -> Result<Vec<Option<&'v Value>>, ReadError> {
        let Some(list) = times.as_array() else {
            self.b.report(Problem::new(
                ProblemKind::Malformed,
                format!("{}: times is not an array; ignored", display_path(path)),
            ))?;
            return Ok(vec![None; n]);
        };
        if list.len() != n {
            self.b.report(Problem::new(
                ProblemKind::Malformed,
                format!("{}: {} times for {n} coordinates", display_path(path), list.len()),
            ))?;
        }
        Ok((0..n).map(|i| list.get(i)).collect())
    }

    fn point(
        &mut self,
        c: &Value,
        time: Option<&Value>,
        // The feature's properties when they describe this point alone (Point
        // features); a line's properties describe the whole line.
        props: Option<&Map<String, Value>>,
        path: &str,
    ) -> Result<(), ReadError> {
        let n = self.b.next_ordinal();
        let nums: Option<Vec<f64>> =
            c.as_array().map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>()).unwrap_or(None);
        let Some(nums) = nums.filter(|v| v.len() >= 2) else {
            return self.b.problem(
                ProblemKind::BadCoordinate,
                None,
                Some(n),
                format!("{path}: {c} is not [lon, lat]; point skipped"),
            );
        };
        let mut p = TracePoint::new(nums[1], nums[0]);
        p.elevation_m = nums.get(2).copied();
        if let Some(props) = props {
            p.elevation_m = p.elevation_m.or_else(|| prop_f64(props, ELEVATION_KEYS));
            p.accuracy_m = prop_f64(props, ACCURACY_KEYS);
            p.speed_mps = prop_f64(props, SPEED_KEYS);
            p.course_deg = prop_f64(props, COURSE_KEYS);
        }
        let mut time_reported = false;
        match time {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match parse_iso8601(s, None) {
                Ok(t) => {
                    if !t.had_offset {
                        self.naive_times += 1;
                    }
                    p.time = Some(t.utc);
                }
                Err(e) => {
                    time_reported = true;
                    self.b.problem(
                        ProblemKind::BadTime,
                        None,
                        Some(n),
                        format!("{path}: time {e}; point kept without time"),
                    )?;
                }
            },
            Some(Value::Number(num)) => match num.as_f64().map(epoch_number_auto) {
                Some(Ok(t)) => p.time = Some(t.utc),
                _ => {
                    time_reported = true;
                    self.b.problem(
                        ProblemKind::BadTime,
                        None,
                        Some(n),
                        format!("{path}: time {num} is out of range; point kept without time"),
                    )?;
                }
            },
            Some(other) => {
                time_reported = true;
                self.b.problem(
                    ProblemKind::BadTime,
                    None,
                    Some(n),
                    format!("{path}: time {other} is neither text nor a number; point kept without time"),
                )?;
            }
        }
        self.b.push(p, Origin::new(None, n).time_reported(time_reported))
    }
}

fn line_times(props: &Map<String, Value>) -> Option<&Value> {
    prop(props, LINE_TIME_KEYS).or_else(|| {
        props.get("coordinateProperties").and_then(Value::as_object).and_then(|cp| prop(cp, LINE_TIME_KEYS))
    })
}

fn name_of(props: &Map<String, Value>) -> Option<String> {
    props.get("name").and_then(Value::as_str).map(str::to_string)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "top level"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_default(text: &str) -> Trace {
        read(text, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn linestring_with_coord_times() {
        let t = read_default(
            r#"{"type":"Feature","properties":{"name":"walk","coordTimes":
                ["2024-05-01T00:00:00Z","2024-05-01T00:00:10Z"]},
               "geometry":{"type":"LineString","coordinates":[[122.2,40.6,5],[122.2,40.601]]}}"#,
        );
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.points[0].lat, 40.6);
        assert_eq!(t.points[0].lon, 122.2);
        assert_eq!(t.points[0].elevation_m, Some(5.0));
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2024-05-01T00:00:10+00:00");
        assert_eq!(t.segments[0].name.as_deref(), Some("walk"));
        assert!(t.problems.is_empty());
    }

    #[test]
    fn multilinestring_nested_and_flat_times() {
        let nested = r#"{"type":"Feature","properties":{"coordinateProperties":{"times":
            [[1714521600000,1714521610000],[1714521620000]]}},
            "geometry":{"type":"MultiLineString","coordinates":[[[122.2,40.6],[122.2,40.601]],[[122.2,40.602]]]}}"#;
        let flat =
            nested.replace("[[1714521600000,1714521610000],[1714521620000]]", "[1714521600,1714521610,1714521620]");
        for text in [nested.to_string(), flat] {
            let t = read_default(&text);
            assert_eq!(t.points.len(), 3);
            assert_eq!(t.segments.len(), 2);
            assert_eq!(t.points[2].time.unwrap().to_rfc3339(), "2024-05-01T00:00:20+00:00");
            assert!(t.problems.is_empty(), "{:?}", t.problems);
        }
    }

    #[test]
    fn point_features_with_properties() {
        let t = read_default(
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"time":"2024-05-01T08:00:00+08:00","accuracy":12},
               "geometry":{"type":"Point","coordinates":[122.2,40.6]}},
              {"type":"Feature","properties":{"Timestamp":1714521610},
               "geometry":{"type":"Point","coordinates":[122.2,40.601]}},
              {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[]}},
              {"type":"Feature","properties":{"time":"not a time"},
               "geometry":{"type":"Point","coordinates":[122.2,40.602]}},
              {"type":"Feature","properties":{"time":"2024-05-01T00:00:30Z"},
               "geometry":{"type":"Point","coordinates":["x",40.603]}}
            ]}"#,
        );
        assert_eq!(t.points.len(), 3);
        assert_eq!(t.points[0].accuracy_m, Some(12.0));
        assert_eq!(t.points[0].time.unwrap().to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(t.points[1].time.unwrap().to_rfc3339(), "2024-05-01T00:00:10+00:00");
        let kinds: Vec<_> = t.problems.iter().map(|p| (p.point, p.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (None, ProblemKind::Unsupported),
                (Some(3), ProblemKind::BadTime),
                (Some(4), ProblemKind::BadCoordinate),
            ]
        );
        assert!(t.problems[2].message.contains("features[4].geometry.coordinates"));
    }

    #[test]
    fn broken_json_is_an_error_with_line() {
        match read("{\n\"type\": \"Feature\",\n", &ReadOptions::default()) {
            Err(ReadError::Malformed { line: Some(3), .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(read("[]", &ReadOptions::default()).is_err());
        assert!(read("{\"type\":\"FeatureCollection\"}", &ReadOptions::default()).is_err());
    }

    #[test]
    fn times_length_mismatch_is_reported() {
        let t = read_default(
            r#"{"type":"Feature","properties":{"times":["2024-05-01T00:00:00Z"]},
               "geometry":{"type":"LineString","coordinates":[[122.2,40.6],[122.2,40.601]]}}"#,
        );
        assert_eq!(t.points.len(), 2);
        let kinds: Vec<_> = t.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, vec![ProblemKind::Malformed, ProblemKind::MissingTime]);
    }
}
