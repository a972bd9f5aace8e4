//! The monitoring console: a page bundled from `console/` (npm, esbuild) and embedded in the
//! binary, so that one `cctrack` serves it on a closed network with no other host to reach.
//! Everything the page does goes through `/api/v1`. `GET /console/config.json` tells it the
//! optional intranet tile server and the coordinate system of its tiles.

use axum::extract::State;
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
    OpenApiRouter::new().routes(routes!(config))
}

/// The console's base map.
#[utoipa::path(get, path = "/console/config.json", tag = "meta",
    responses((status = 200, description = "`tile_url` (or null) and `tile_crs`", body = Object)))]
async fn config(State(state): State<AppState>) -> Json<ConsoleConfig> {
    Json((*state.console).clone())
}

#[cfg(test)]
mod tests {
    use super::ConsoleConfig;

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
