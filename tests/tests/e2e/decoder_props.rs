//! Property tests of every ingest decoder and of validation, without a database: no input makes
//! a decoder or `validate` panic, and every fix `validate` accepts fits the columns it is stored
//! in (so that a stored fix can never be a failed statement, i.e. a 5xx).

use cctrack_tests::inputs::{arb_json, arb_query, edge_number};
use chrono::{DateTime, Duration, Utc};
use geofence::crs::Crs;
use proptest::prelude::*;
use serde_json::json;
use tracker::ingest::fix::{self, RawFix, ValidFix};
use tracker::ingest::protocol::{native, osmand, owntracks};

fn now() -> DateTime<Utc> {
    "2026-12-07T08:00:00Z".parse().unwrap()
}

/// What the `fixes` columns accept (see the migrations): checked here on the values exactly as
/// they are bound (32-bit floats for `real` columns).
fn fits_columns(v: &ValidFix) {
    assert!(v.lat.is_finite() && (-90.0..=90.0).contains(&v.lat), "{v:?}");
    assert!(v.lon.is_finite() && (-180.0..=180.0).contains(&v.lon), "{v:?}");
    if let Some(a) = v.accuracy_m {
        let a = a as f32;
        assert!(a.is_finite() && (0.0..100_000.0).contains(&a), "{v:?}");
    }
    if let Some(b) = v.battery_pct {
        assert!((0.0..=100.0).contains(&b.round()), "{v:?}");
    }
    if let Some(s) = v.speed_mps {
        let s = s as f32;
        assert!(s.is_finite() && s >= 0.0, "{v:?}");
    }
    if let Some(c) = v.course_deg {
        let c = c as f32;
        assert!((0.0..360.0).contains(&c), "{v:?}");
    }
    if let Some(a) = v.altitude_m {
        assert!((a as f32).is_finite(), "{v:?}");
    }
    if let Some(seq) = v.seq {
        // Runs extend by one: the last number must leave room.
        assert!(seq >= 0 && seq.checked_add(1).is_some(), "{v:?}");
    }
}

fn validate_all(raw: &RawFix, names: &fix::FieldNames) {
    for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
        if let Ok(v) = fix::validate(raw, names, crs, now() - Duration::days(400), now()) {
            fits_columns(&v);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn native_batches_decode_and_validate_without_panics(body in arb_json()) {
        if let Ok(items) = native::decode(&body) {
            for raw in items.into_iter().flatten() {
                validate_all(&raw, &fix::NATIVE_FIELDS);
            }
        }
    }

    #[test]
    fn native_fixes_with_edge_values_fit_their_columns(
        lat in edge_number(), lon in edge_number(), acc in edge_number(), batt in edge_number(),
        speed in edge_number(), course in edge_number(), alt in edge_number(), seq in any::<i64>(),
        crs in prop::sample::select(vec!["wgs84", "gcj02", "bd09"]),
    ) {
        let body = json!({"crs": crs, "fixes": [{
            "seq": seq, "time": "2026-12-07T07:00:00Z", "lat": lat, "lon": lon, "accuracy_m": acc,
            "battery_pct": batt, "speed_mps": speed, "course_deg": course, "altitude_m": alt,
        }]});
        for raw in native::decode(&body).unwrap().into_iter().flatten() {
            validate_all(&raw, &fix::NATIVE_FIELDS);
        }
    }

    #[test]
    fn owntracks_messages_decode_and_validate_without_panics(body in arb_json()) {
        if let Ok(Some(raw)) = owntracks::decode(&body) {
            validate_all(&raw, &owntracks::FIELDS);
        }
    }

    #[test]
    fn osmand_json_decodes_and_validates_without_panics(body in arb_json()) {
        if let Ok(d) = osmand::decode_json(&body) {
            validate_all(&d.fix, &d.names);
        }
    }

    #[test]
    fn osmand_queries_decode_and_validate_without_panics(params in arb_query()) {
        if let Ok(d) = osmand::decode_query(&params) {
            validate_all(&d.fix, &d.names);
        }
    }
}
