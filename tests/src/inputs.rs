//! Input strategies for property tests of everything that reads from outside: numbers at and
//! around every limit a fix field has, arbitrary JSON biased towards the keys the decoders read,
//! and OsmAnd query strings.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Numbers at and around every limit a fix field has, and the ones JSON parsers trip on.
pub fn edge_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e-9,
            -1e-9,
            15.0,
            40.66,
            122.23,
            89.999_999_9,
            90.0,
            90.000_000_1,
            -90.0,
            179.999_999,
            180.0,
            180.000_001,
            -180.0,
            -179.999,
            359.999_99,
            360.0,
            99_999.999,
            100_000.0,
            1e300,
            -1e300,
            2_147_483_647.0,
            9_007_199_254_740_993.0,
            1.7976931348623157e308,
        ]),
        -1e6f64..1e6,
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()),
    ]
}

pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|i| json!(i)),
        ".{0,12}".prop_map(Value::String),
        edge_number().prop_map(|f| Value::String(f.to_string())),
        prop::sample::select(vec![
            "2026-12-07T08:00:00Z",
            "2026-12-07 08:00:00",
            "2026-12-07+08:00:00",
            "1796630400",
            "99999999999999999999",
            "-1",
            "gps",
            "wgs84",
            "gcj02",
            "bd09",
            "location",
            "\u{0}",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

/// Any JSON, biased towards the keys the decoders read.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "fixes",
        "crs",
        "seq",
        "time",
        "lat",
        "lon",
        "accuracy_m",
        "source",
        "battery_pct",
        "speed_mps",
        "course_deg",
        "altitude_m",
        "mock",
        "_type",
        "tst",
        "acc",
        "batt",
        "vel",
        "cog",
        "alt",
        "conn",
        "device_id",
        "location",
        "coords",
        "latitude",
        "longitude",
        "accuracy",
        "speed",
        "heading",
        "altitude",
        "battery",
        "level",
        "timestamp",
        "x",
    ]);
    leaf().prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

pub fn arb_query() -> impl Strategy<Value = HashMap<String, String>> {
    let key = prop::sample::select(vec![
        "id",
        "deviceid",
        "timestamp",
        "lat",
        "lon",
        "location",
        "speed",
        "bearing",
        "heading",
        "altitude",
        "accuracy",
        "hdop",
        "batt",
        "mock",
        "crs",
        "seq",
    ]);
    let value = prop_oneof![
        edge_number().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        ".{0,10}",
        prop::sample::select(vec![
            "",
            "NaN",
            "inf",
            "-inf",
            "1e999",
            "true",
            "bd09",
            "40.1,122.2",
            "2026-12-07 08:00:00"
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::hash_map(key.prop_map(str::to_string), value, 0..10)
}

/// A value for one field of a fix: mostly plausible (so that the other fields' checks are
/// reached), sometimes at or beyond a limit.
fn field(plausible: std::ops::Range<f64>, edges: Vec<f64>) -> BoxedStrategy<f64> {
    prop_oneof![4 => plausible, 2 => prop::sample::select(edges), 1 => edge_number()].boxed()
}

pub fn lat() -> BoxedStrategy<f64> {
    field(40.5..40.8, vec![90.0, -90.0, 89.999_999, -89.999_999, 90.000_001])
}

pub fn lon() -> BoxedStrategy<f64> {
    field(122.0..122.5, vec![180.0, -180.0, -179.999, 179.999, 180.000_001])
}

pub fn accuracy() -> BoxedStrategy<f64> {
    field(0.0..200.0, vec![0.0, 99_999.0, 99_999.99, 99_999.999, 100_000.0, -0.0, 1e300])
}

pub fn speed() -> BoxedStrategy<f64> {
    field(0.0..40.0, vec![0.0, 999.999, 1000.0, 1000.001, 1e300, 3.4e38, 3.5e38])
}

pub fn course() -> BoxedStrategy<f64> {
    field(0.0..360.0, vec![0.0, 359.999_99, 359.999_999_9, 360.0, 360.000_1, -0.0])
}

pub fn altitude() -> BoxedStrategy<f64> {
    field(-50.0..500.0, vec![20_000.0, -20_000.0, 20_000.000_1, 1e300])
}

pub fn battery() -> BoxedStrategy<f64> {
    field(0.0..100.0, vec![0.0, 1.0, 100.0, 100.000_1, 0.5, 99.5])
}

pub fn seq() -> BoxedStrategy<i64> {
    prop_oneof![4 => 0i64..1_000_000, 1 => prop::sample::select(vec![0, (1 << 53) - 1, 1 << 53, i64::MAX, i64::MIN, -1]), 1 => any::<i64>()]
        .boxed()
}

/// The coordinate system a fix is tagged with, now and then one that does not exist.
pub fn crs() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec!["wgs84", "gcj02", "bd09", "bd09", "utm"]).boxed()
}

/// An OsmAnd query as Traccar Client sends it, with each field plausible, at a limit, or absent;
/// times within the last two hours (Unix seconds, or a local time without a zone).
pub fn osmand_query() -> impl Strategy<Value = HashMap<String, String>> {
    let num = |s: BoxedStrategy<f64>| prop::option::of(s.prop_map(|v| v.to_string()));
    (
        (lat(), lon(), 0i64..7200, any::<bool>(), prop::option::of(crs())),
        (num(speed()), num(course()), num(altitude()), num(accuracy()), num(battery())),
    )
        .prop_map(|((lat, lon, ago, zone_less, crs), (speed, bearing, altitude, accuracy, batt))| {
            let t = chrono::Utc::now() - chrono::Duration::seconds(ago);
            let timestamp = if zone_less {
                t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            } else {
                t.timestamp().to_string()
            };
            let mut q = HashMap::from([
                ("lat".to_string(), lat.to_string()),
                ("lon".to_string(), lon.to_string()),
                ("timestamp".to_string(), timestamp),
            ]);
            for (k, v) in [
                ("crs", crs.map(str::to_string)),
                ("speed", speed),
                ("bearing", bearing),
                ("altitude", altitude),
                ("accuracy", accuracy),
                ("batt", batt),
            ] {
                if let Some(v) = v {
                    q.insert(k.to_string(), v);
                }
            }
            q
        })
}
