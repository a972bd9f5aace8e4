//! `cctrack serve` and `cctrack demo`.

use anyhow::Context;

use crate::config::Config;
use crate::server::{self, AppState};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Serve,
    /// The demo: persons per county on a fresh data directory, and the fleet.
    Demo {
        persons_per_county: usize,
        fleet: super::demo_fleet::FleetOptions,
    },
}

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    // Registered first: a signal during start-up then ends in the same clean shutdown.
    let shutdown = server::shutdown_signal().context("installing signal handlers")?;
    let db = super::open_database(&config).await?;
    let result = serve_until_signal(&config, mode, &db, shutdown).await;
    // The embedded cluster is stopped whatever happened above, so that no server outlives us.
    if let Err(e) = db.shutdown().await {
        tracing::error!(error = %e, "stopping the embedded database");
    } else {
        tracing::info!("database stopped");
    }
    result
}

async fn serve_until_signal(
    config: &Config,
    mode: Mode,
    db: &tracker::db::Database,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = db.connect_and_migrate().await.context("connecting to the database")?;
    let phones = match mode {
        Mode::Demo { persons_per_county, .. } => {
            super::demo::prepare(&pool, &config.data_dir, persons_per_county).await?
        }
        Mode::Serve => Vec::new(),
    };
    let listener =
        server::bind(config.listen).await.with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let osmand = server::bind(config.osmand_listen)
        .await
        .with_context(|| format!("osmand_listen: cannot bind {}", config.osmand_listen))?;
    let addr = listener.local_addr()?;
    let osmand_addr = osmand.local_addr()?;
    tracing::info!(%addr, %osmand_addr, "cctrack listening");
    // Scripts and tests wait for these lines; the main one comes last.
    println!("cctrack osmand listening on http://{osmand_addr} (Traccar Client server URL)");
    println!("cctrack listening on http://{addr} (health: http://{addr}/healthz)");
    let state = AppState { osmand_addr: Some(osmand_addr), ..AppState::new(pool.clone(), Default::default()) };
    let fence_watch = tokio::spawn(state.ingestor.watch_fences());
    // One signal stops the server and the demo's fleet alike.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let fleet = match mode {
        Mode::Demo { fleet: opts, .. } if opts.enabled => {
            Some(super::demo_fleet::start_fleet(&pool, &phones, osmand_addr, opts, stopped.clone()))
        }
        _ => None,
    };
    let served = server::serve(listener, osmand, state, until_stopped(stopped)).await;
    fence_watch.abort();
    if let Some(fleet) = fleet {
        // The fleet saw the same signal; it only has to notice.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), fleet).await;
    }
    served.context("HTTP server")?;
    pool.close().await;
    Ok(())
}
