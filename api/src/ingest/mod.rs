//! Ingest listeners: the native API and OwnTracks on the main port, Traccar Client's OsmAnd
//! protocol on its own port. Each authenticates the device, decodes, and hands the fixes to
//! [`tracker::ingest::Ingestor`].

mod native;
mod osmand;
mod owntracks;
pub mod requests;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;

use crate::server::AppState;

/// Largest native batch body (1000 fixes of a few hundred bytes each).
const NATIVE_BODY_LIMIT: usize = 1024 * 1024;
/// Largest single-fix body (OwnTracks, OsmAnd).
const SINGLE_BODY_LIMIT: usize = 64 * 1024;

/// Routes on the main port.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ingest/v1/fixes", post(native::post_fixes).layer(DefaultBodyLimit::max(NATIVE_BODY_LIMIT)))
        .route("/ingest/owntracks", post(owntracks::post_message).layer(DefaultBodyLimit::max(SINGLE_BODY_LIMIT)))
        .route("/ingest/v1/location-request", axum::routing::get(requests::long_poll))
}

/// The OsmAnd listener: any path, GET or POST, as Traccar Client sends.
pub fn osmand_router(state: AppState) -> Router {
    Router::new().fallback(osmand::receive).layer(DefaultBodyLimit::max(SINGLE_BODY_LIMIT)).with_state(state)
}

/// Parses a JSON body, naming the problem for the sender.
fn parse_json(body: &[u8]) -> Result<serde_json::Value, crate::error::ApiError> {
    serde_json::from_slice(body).map_err(|e| crate::error::ApiError::bad("body", format!("not valid JSON: {e}")))
}
