//! The monitoring console: a page bundled from `console/` (npm, esbuild) and embedded in the
//! binary, so that one `cctrack` serves it on a closed network with no other host to reach.
//! Everything the page does goes through `/api/v1`; `/` serves the page, `/app.js` and `/app.css`
//! its bundle. `GET /console/config.json` tells it the
//! optional intranet tile server and the coordinate system of its tiles.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::AppState;

/// The console's base map: none (the districts' own boundaries are drawn), or an intranet tile
/// server whose tiles are in WGS-84 or GCJ-02 (common in China; the page then shifts positions
/// for display and drawn fences back).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConsoleConfig {
    pub tile_url: Option<String>,
    pub tile_crs: &'static str,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { tile_url: None, tile_crs: "wgs84" }
    }
}

impl ConsoleConfig {
    /// Checks the configured values; errors name the key.
    pub fn new(tile_url: Option<String>, tile_crs: Option<String>) -> anyhow::Result<Self> {
        let tile_url = tile_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(u) = &tile_url {
            let scheme = u.starts_with("http://") || u.starts_with("https://") || u.starts_with('/');
            let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| u.contains(p));
            anyhow::ensure!(
                scheme && placeholders && !u.contains(['"', '<', '>', ' ']),
                "console.tile_url: {u:?} is not an http(s) URL with {{z}}, {{x}} and {{y}}"
            );
        }
        let tile_crs = match tile_crs.as_deref().map(str::trim).unwrap_or("wgs84") {
            "wgs84" => "wgs84",
            "gcj02" => "gcj02",
            other => return Err(anyhow::anyhow!("console.tile_crs: {other:?} is not wgs84 or gcj02")),
        };
        Ok(ConsoleConfig { tile_url, tile_crs })
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .route("/", axum::routing::get(page))
        // Notices and report mails link to these paths; the page turns them into its own routes.
        .route("/alarms/{id}", axum::routing::get(page))
        .route("/persons/{id}", axum::routing::get(page))
        .route("/reports/{id}", axum::routing::get(page))
        .route("/app.js", axum::routing::get(script))
        .route("/app.css", axum::routing::get(style))
}

const PAGE: &[u8] = include_bytes!("../../console/dist/index.html");
const SCRIPT: &[u8] = include_bytes!("../../console/dist/app.js");
const STYLE: &[u8] = include_bytes!("../../console/dist/app.css");

/// One file of the bundle, revalidated on every load (a new binary serves a new console) and
/// confined by a policy that lets the page talk to this origin only (and to the configured tile
/// server for images).
fn asset(state: &AppState, content_type: &'static str, body: &'static [u8]) -> Response {
    let tiles = state.console.tile_url.as_deref().and_then(origin).map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; img-src 'self' data: blob:{tiles}; style-src 'self' 'unsafe-inline'; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CACHE_CONTROL, "no-cache".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `scheme://host[:port]` of an absolute URL (a relative tile URL is this origin already).
fn origin(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

async fn page(State(state): State<AppState>) -> Response {
    asset(&state, "text/html; charset=utf-8", PAGE)
}

async fn script(State(state): State<AppState>) -> Response {
    asset(&state, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style(State(state): State<AppState>) -> Response {
    asset(&state, "text/css; charset=utf-8", STYLE)
}

/// The console's base map.
#[utoipa::path(get, path = "/console/config.json", tag = "meta",
    responses((status = 200, description = "`tile_url` (or null) and `tile_crs`", body = Object)))]
async fn config(State(state): State<AppState>) -> Json<ConsoleConfig> {
    Json((*state.console).clone())
}

#[cfg(test)]
mod tests {
    use super::{origin, ConsoleConfig};

    #[test]
    fn the_tile_servers_origin_is_allowed_for_images() {
        assert_eq!(origin("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png"), Some("http://10.1.2.3:8080"));
        assert_eq!(origin("https://gis.sfj.example/{z}/{x}/{y}"), Some("https://gis.sfj.example"));
        assert_eq!(origin("/tiles/{z}/{x}/{y}.png"), None);
    }

    #[test]
    fn tile_servers_are_checked() {
        let ok =
            ConsoleConfig::new(Some("http://10.1.2.3/tiles/{z}/{x}/{y}.png".into()), Some("gcj02".into())).unwrap();
        assert_eq!(ok.tile_crs, "gcj02");
        assert_eq!(ConsoleConfig::new(None, None).unwrap(), ConsoleConfig::default());
        assert_eq!(ConsoleConfig::default().tile_crs, "wgs84");
        let e = ConsoleConfig::new(Some("http://x/{z}/{x}.png".into()), None).unwrap_err();
        assert!(format!("{e:#}").contains("console.tile_url"), "{e:#}");
        let e = ConsoleConfig::new(None, Some("bd09".into())).unwrap_err();
        assert!(format!("{e:#}").contains("console.tile_crs"), "{e:#}");
    }
}
