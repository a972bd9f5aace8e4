//! The axum application: one state struct, one router per feature, graceful shutdown, and
//! [`Application`], the one start-up path of `cctrack serve`, the demo and the tests.

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
use tokio_util::sync::CancellationToken;
use tracker::device::DeviceDirectory;
use tracker::ingest::{IngestConfig, Ingestor};
use tracker::login::{LoginPolicy, Logins};

use crate::config::Config;

/// Shared by every handler; cheap to clone (everything is behind an `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub ingestor: Arc<Ingestor>,
    pub devices: Arc<DeviceDirectory>,
    pub logins: Arc<Logins>,
    /// How long staff sessions live, and whether their cookie is marked Secure.
    pub sessions: tracker::session::SessionPolicy,
    pub secure_cookie: bool,
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// Fixes accepted and refused by protocol, for `/metrics`.
    pub ingest_counters: Arc<crate::metrics::IngestCounters>,
    /// Wakes phones holding a long poll for a location request.
    pub requests: Arc<crate::ingest::requests::RequestWatch>,
    /// Where the Traccar Client listener is, for enrolment replies.
    pub osmand_addr: Option<std::net::SocketAddr>,
    /// The console's base map.
    pub console: Arc<crate::console::ConsoleConfig>,
}

impl AppState {
    pub fn new(pool: PgPool, ingest: IngestConfig, login: LoginPolicy) -> Self {
        AppState {
            ingestor: Arc::new(Ingestor::start(pool.clone(), ingest)),
            devices: Arc::new(DeviceDirectory::new(pool.clone())),
            logins: Arc::new(Logins::new(pool.clone(), login)),
            requests: Arc::new(Default::default()),
            ingest_counters: Arc::new(Default::default()),
            sessions: Default::default(),
            secure_cookie: false,
            trusted_proxies: Arc::from([]),
            osmand_addr: None,
            console: Default::default(),
            pool,
        }
    }
}

/// The main port: health and ingest (native, OwnTracks); the staff API and console join here.
/// Every request gets an id (`x-request-id`, kept when the client or a proxy sent one, returned
/// in the reply) that every log line written while serving it carries.
pub fn router(state: AppState) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    let header = axum::http::HeaderName::from_static("x-request-id");
    // A span per request with its id, method and path (never its query: that can carry a
    // Traccar Client's identifier). The last layer added is the first a request meets.
    let spans = TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::metrics))
        .merge(crate::ingest::router())
        .merge(crate::staff::router())
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(spans)
        .layer(SetRequestIdLayer::new(header, RequestIds::default()))
}

/// Request ids: this process's start (base 36) and a counter.
#[derive(Clone, Default)]
struct RequestIds {
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let process = PROCESS.get_or_init(|| tracker::secret::random_token(6).to_lowercase());
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{process}-{n}").parse().ok().map(tower_http::request_id::RequestId::new)
    }
}

/// The server with its listeners bound (ports known before serving, so tests use port 0).
pub struct Application {
    main: TcpListener,
    osmand: TcpListener,
    state: AppState,
    scheduler: Option<Arc<scheduler::Scheduler>>,
}

impl Application {
    /// Binds the configured listeners and starts the ingest pipeline on `pool` (migrated).
    pub async fn build(config: &Config, pool: PgPool) -> anyhow::Result<Application> {
        use anyhow::Context;
        let main = bind(config.listen).await.with_context(|| format!("listen: cannot bind {}", config.listen))?;
        let osmand = bind(config.osmand_listen)
            .await
            .with_context(|| format!("osmand_listen: cannot bind {}", config.osmand_listen))?;
        let osmand_addr = osmand.local_addr()?;
        let state = AppState {
            osmand_addr: Some(osmand_addr),
            sessions: config.sessions,
            secure_cookie: config.secure_cookie,
            trusted_proxies: Arc::from(config.trusted_proxies.as_slice()),
            console: Arc::new(config.console.clone()),
            ..AppState::new(pool, IngestConfig::default(), config.login)
        };
        let scheduler = match config.scheduler.enabled {
            true => {
                let clock = Arc::new(scheduler::clock::SystemClock);
                let s = build_scheduler(&config.scheduler, &state.pool, state.ingestor.clone(), clock)?;
                // Alarms opening from now on carry this configuration's ladder.
                s.publish_ladder().await.context("publishing the escalation ladder")?;
                Some(Arc::new(s))
            }
            false => None,
        };
        Ok(Application { main, osmand, state, scheduler })
    }

    /// The scheduler this process runs (when enabled), to adjust before serving (the demo's
    /// gateway and start).
    pub fn scheduler_mut(&mut self) -> Option<&mut scheduler::Scheduler> {
        self.scheduler.as_mut().and_then(Arc::get_mut)
    }

    pub fn main_addr(&self) -> SocketAddr {
        self.main.local_addr().expect("a bound listener has an address")
    }

    pub fn osmand_addr(&self) -> SocketAddr {
        self.osmand.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, with the caches' watchers beside. Then stops
    /// accepting, lets in-flight requests finish (at most [`DRAIN`]), commits and answers what
    /// the ingest queue still holds, stops the watchers, and waits for every task.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let watchers = [
            tokio::spawn(self.state.ingestor.watch_fences(stop.clone())),
            tokio::spawn(self.state.devices.clone().watch(stop.clone())),
            tokio::spawn(self.state.requests.clone().listen(self.state.pool.clone(), stop.clone())),
        ];
        // The scheduler stops first: what it does last (a carrier gateway's fix) goes through
        // ingest, which is still running.
        let scheduler_stop = CancellationToken::new();
        let scheduler = self.scheduler.map(|s| tokio::spawn(s.run(holder_name(), scheduler_stop.clone())));
        let ingestor = self.state.ingestor.clone();
        let (signalled_tx, signalled) = tokio::sync::oneshot::channel::<()>();
        let stop_scheduling = scheduler_stop.clone();
        let shutdown = async move {
            shutdown.await;
            stop_scheduling.cancel();
            let _ = signalled_tx.send(());
        };
        let served = serve(self.main, self.osmand, self.state, shutdown);
        tokio::pin!(served);
        let served = tokio::select! {
            r = &mut served => r,
            _ = async { let _ = signalled.await; tokio::time::sleep(DRAIN).await } => {
                tracing::warn!(seconds = DRAIN.as_secs(), "requests still open after the drain period: closing them");
                Ok(())
            }
        };
        scheduler_stop.cancel();
        if let Some(s) = scheduler {
            if let Err(e) = s.await {
                tracing::error!(error = %e, "the scheduler failed");
            }
        }
        ingestor.shutdown().await;
        stop.cancel();
        for w in watchers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "a cache watcher failed");
            }
        }
        tracing::info!("stopped");
        served
    }
}

/// The scheduler of `config` on `clock`, with `ingestor` for the carrier gateway's fixes.
pub fn build_scheduler(
    config: &scheduler::config::SchedulerConfig,
    pool: &PgPool,
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn scheduler::clock::Clock>,
) -> anyhow::Result<scheduler::Scheduler> {
    let gateway = config
        .gateway
        .clone()
        .map(|g| Arc::new(scheduler::gateway::HttpGateway::new(g)) as Arc<dyn scheduler::gateway::CarrierGateway>);
    let mailer: Arc<dyn scheduler::mail::Mailer> =
        scheduler::mail::mailer(&config.mail).map_err(anyhow::Error::msg)?.into();
    Ok(scheduler::Scheduler::new(pool.clone(), clock, config.clone(), ingestor, gateway, mailer))
}

/// This process, as the scheduler's status names its leader: host and process id.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}

/// How long in-flight requests may take to finish after a shutdown signal (the whole shutdown
/// stays within 10 s).
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(7);

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

/// 200 when the database answers and every migration this build knows has been applied; 503
/// otherwise (a node not to send traffic to yet).
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let want = tracker::db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let have: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&state.pool).await;
    match have {
        Ok(Some(v)) if v >= want => (StatusCode::OK, Json(json!({"status": "ready", "migration": v}))),
        Ok(v) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations pending", "migration": v, "expected": want})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
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
    // With the peer's address: logins are limited per client address.
    let main_server = axum::serve(main, router(state.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stopped(stop_rx.clone()));
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
