//! `cctrack serve` and `cctrack demo`.

use anyhow::Context;

use crate::config::Config;
use crate::server;

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
    let demo_fleet = matches!(mode, Mode::Demo { fleet, .. } if fleet.enabled);
    let config = match mode {
        Mode::Demo { .. } => demo_config(config, demo_fleet),
        Mode::Serve => config.clone(),
    };
    let mut app = server::Application::build(&config, pool.clone()).await?;
    let (addr, osmand_addr) = (app.main_addr(), app.osmand_addr());
    // The demo's carrier gateway starts with its fleet, and its scheduler once the fleet caught
    // up with the real clock (the gateway answers from the fleet's simulated time).
    let gateway = std::sync::Arc::new(scheduler::gateway::LateGateway::default());
    let (caught_up, fleet_ready) = tokio::sync::watch::channel(false);
    if let (true, Some(s)) = (demo_fleet, app.scheduler_mut()) {
        s.set_gateway(gateway.clone());
        s.hold_until(fleet_ready);
    }
    tracing::info!(%addr, %osmand_addr, "cctrack listening");
    // Scripts and tests wait for these lines; the main one comes last.
    println!("cctrack osmand listening on http://{osmand_addr} (Traccar Client server URL)");
    println!("cctrack listening on http://{addr} (health: http://{addr}/healthz)");
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
            Some(super::demo_fleet::start_fleet(&pool, &phones, osmand_addr, opts, gateway, caught_up, stopped.clone()))
        }
        _ => None,
    };
    let served = app.run_until(until_stopped(stopped)).await;
    if let Some(fleet) = fleet {
        // The fleet saw the same signal; it only has to notice.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), fleet).await;
    }
    served.context("HTTP server")?;
    pool.close().await;
    Ok(())
}

/// The demo's scheduler, compressed so that a newcomer sees it work within two minutes: every
/// level located every 15–40 s (answered through the fleet's carrier gateway), failures after a
/// 20 s grace, the county told after 45–60 s, the city after 90 s, overnight after 150 s; notices
/// written to `DATA_DIR/mail` unless a mail server is configured.
fn demo_config(config: &Config, with_fleet: bool) -> Config {
    use scheduler::config::MailConfig;
    let mut c = config.clone();
    let s = &mut c.scheduler;
    s.intervals = tracker::schedule::polling::Intervals {
        lenient_s: 30,
        ordinary_s: 25,
        strict_s: 20,
        key_60_s: 15,
        key_30_s: 10,
    };
    s.grace = chrono::Duration::seconds(20);
    s.ladder = scheduler::ladder::Ladder {
        urgent_ack_s: 45,
        ack_s: 60,
        city_after_s: Some(90),
        overnight_after_s: Some(150),
        ..scheduler::ladder::Ladder::default()
    };
    if s.mail == MailConfig::None {
        s.mail = MailConfig::Dir(config.data_dir.join("mail"));
    }
    s.console_url = format!("http://{}", config.listen);
    if !with_fleet {
        // Real phones: real intervals.
        c.scheduler = config.scheduler.clone();
    }
    c
}
