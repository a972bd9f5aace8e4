//! `GET /api/v1/persons/{id}/track?from=&to=&format=json|geojson|gpx`: a person's fixes over a
//! time range with their verdicts, in time order. Every read is audited (`track.read`, and
//! `track.export` for GeoJSON and GPX), in the transaction that reads.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tracker::track::TrackPoint;

use super::{visible_person, StaffUser};
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/persons/{person}/track", get(track))
}

#[derive(Deserialize)]
struct Range {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: Option<String>,
}

async fn track(
    State(state): State<AppState>,
    who: StaffUser,
    Path(person): Path<i64>,
    Query(q): Query<Range>,
) -> Result<Response, ApiError> {
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "geojson" | "gpx") {
        return Err(ApiError::bad("format", format!("{format:?}: expected json, geojson or gpx")));
    }
    if let (Some(f), Some(t)) = (q.from, q.to) {
        if t <= f {
            return Err(ApiError::bad("to", "must be after from"));
        }
    }
    visible_person(&state, &who, person).await?;
    let read = tracker::audit::Entry {
        staff_id: Some(who.principal.id),
        action: if format == "json" { "track.read" } else { "track.export" },
        subject: format!("person {person}"),
        person_id: Some(person),
        details: json!({"from": q.from, "to": q.to, "format": format}),
        address: who.address,
    };
    let points = tracker::track::track(&state.pool, person, q.from, q.to, &read).await?;
    Ok(match format {
        "geojson" => geojson(person, &points).into_response(),
        "gpx" => (
            [
                (header::CONTENT_TYPE, "application/gpx+xml; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"track.gpx\""),
            ],
            gpx(person, &points),
        )
            .into_response(),
        _ => Json(json!({"person": person, "points": points})).into_response(),
    })
}

fn geojson(person: i64, points: &[TrackPoint]) -> Json<serde_json::Value> {
    let mut features: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                   "properties": {"time": p.time, "accuracy_m": p.accuracy_m, "source": p.source,
                                  "implausible": p.implausible, "verdicts": p.verdicts}})
        })
        .collect();
    if points.len() > 1 {
        let line: Vec<[f64; 2]> = points.iter().map(|p| [p.lon, p.lat]).collect();
        features.insert(
            0,
            json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
                                  "properties": {"person": person}}),
        );
    }
    Json(json!({"type": "FeatureCollection", "features": features}))
}

fn gpx(person: i64, points: &[TrackPoint]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"cctrack\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
    );
    out.push_str(&format!("<trk><name>person {person}</name><trkseg>\n"));
    for p in points {
        out.push_str(&format!(
            "<trkpt lat=\"{}\" lon=\"{}\"><time>{}</time></trkpt>\n",
            p.lat,
            p.lon,
            p.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
    }
    out.push_str("</trkseg></trk>\n</gpx>\n");
    out
}
