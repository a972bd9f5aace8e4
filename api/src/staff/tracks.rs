//! `GET /api/v1/persons/{id}/track?from=&to=&format=json|geojson|gpx&zoom=`: a person's fixes
//! over a time range with their verdicts, in time order. Every read is audited (`track.read`, and
//! `track.export` for GeoJSON and GPX), in the transaction that reads. With `zoom` (0 to 22, the
//! map's zoom level) the track is thinned to what a line at that scale shows; fixes that were
//! not inside every fence, doubtful ones and the moments the verdict changed are always kept.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tracker::track::TrackPoint;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{visible_person, StaffUser};
use crate::error::ApiError;
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(track))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Range {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: Option<String>,
    zoom: Option<u8>,
}

#[utoipa::path(get, path = "/api/v1/persons/{person}/track", tag = "trajectories", params(("person" = i64, Path, description = "person"), Range),
    responses((status = 200, description = "the fixes with their verdicts (JSON, GeoJSON FeatureCollection, or GPX); audited",
        content((Object = "application/json"), (Object = "application/geo+json"), (String = "application/gpx+xml")))))]
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
    if q.zoom.is_some_and(|z| z > 22) {
        return Err(ApiError::bad("zoom", "a map zoom level from 0 to 22"));
    }
    visible_person(&state, &who, person).await?;
    let read = tracker::audit::Entry {
        staff_id: Some(who.principal.id),
        action: if format == "json" { "track.read" } else { "track.export" },
        subject: format!("person {person}"),
        person_id: Some(person),
        details: json!({"from": q.from, "to": q.to, "format": format, "zoom": q.zoom}),
        address: who.address,
    };
    let mut points = tracker::track::track(&state.pool, person, q.from, q.to, &read).await?;
    let fixes = points.len();
    if let Some(zoom) = q.zoom {
        points = for_zoom(points, zoom);
    }
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
        _ => Json(json!({"person": person, "fixes": fixes, "zoom": q.zoom, "points": points})).into_response(),
    })
}

/// What a fix shows supervision beyond its place: its verdicts' positions and doubts.
fn standing(p: &TrackPoint) -> (Vec<&str>, bool) {
    let positions =
        p.verdicts.as_array().map(|v| v.iter().filter_map(|v| v["position"].as_str()).collect()).unwrap_or_default();
    (positions, p.implausible || p.mock)
}

/// The points a line at `zoom` needs, keeping every fix not inside all its fences, every
/// doubtful fix, and both sides of every change of standing.
fn for_zoom(points: Vec<TrackPoint>, zoom: u8) -> Vec<TrackPoint> {
    let standings: Vec<_> = points.iter().map(standing).collect();
    let pinned = (0..points.len()).filter(|&i| {
        let (positions, doubtful) = &standings[i];
        let changed = |j: Option<usize>| j.and_then(|j| standings.get(j)).is_some_and(|s| s != &standings[i]);
        *doubtful || positions.iter().any(|p| *p != "inside") || changed(i.checked_sub(1)) || changed(Some(i + 1))
    });
    let coords: Vec<(f64, f64)> = points.iter().map(|p| (p.lon, p.lat)).collect();
    let keep = geofence::track::keep_for_zoom(&coords, zoom, pinned.collect::<Vec<_>>());
    let mut keep = keep.into_iter().peekable();
    points.into_iter().enumerate().filter_map(|(i, p)| keep.next_if_eq(&i).map(|_| p)).collect()
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
