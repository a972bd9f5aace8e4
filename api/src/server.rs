//! The axum application: one state struct, one router per feature, graceful shutdown.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tracker::device::DeviceDirectory;
use tracker::ingest::{IngestConfig, Ingestor};

/// Shared by every handler; cheap to clone (everything is behind an `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub ingestor: Arc<Ingestor>,
    pub devices: Arc<DeviceDirectory>,
    /// Where the Traccar Client listener is, for enrolment replies.
    pub osmand_addr: Option<std::net::SocketAddr>,
}

impl AppState {
    pub fn new(pool: PgPool, ingest: IngestConfig) -> Self {
        AppState {
            ingestor: Arc::new(Ingestor::start(pool.clone(), ingest)),
            devices: Arc::new(DeviceDirectory::new(pool.clone())),
            osmand_addr: None,
            pool,
        }
    }
}

/// The main port: health and ingest (native, OwnTracks); the staff API and console join here.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::ingest::router())
        .merge(crate::staff_api::router())
        .with_state(state)
}

/// 200 once the server is ready and its database answers; 503 otherwise.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match tracker::db::ping(&state.pool).await {
        Ok(_) => {
            (StatusCode::OK, Json(json!({"status": "ok", "database": "ok", "version": env!("CARGO_PKG_VERSION")})))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": "unreachable"})))
        }
    }
}

/// A bound listener, so callers (and tests, with port 0) know the address before serving.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the main and the OsmAnd listener until `shutdown` completes, then finishes in-flight
/// requests on both.
pub async fn serve(
    main: TcpListener,
    osmand: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let main_server = axum::serve(main, router(state.clone())).with_graceful_shutdown(stopped(stop_rx.clone()));
    let osmand_server =
        axum::serve(osmand, crate::ingest::osmand_router(state)).with_graceful_shutdown(stopped(stop_rx));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let (a, b, ()) = tokio::join!(main_server.into_future(), osmand_server.into_future(), signal);
    a.and(b)
}

/// Completes on SIGINT or SIGTERM. The handlers are registered when this is called, not when
/// the future is first polled, so a signal sent right after start-up is not lost.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown requested");
    })
}
