//! One module per command; [`run`] dispatches.

mod alarms;
mod boundaries;
mod demo;
mod demo_fleet;
mod orgs;
mod pdf;
mod records;
mod report;
mod schedule;
mod serve;

use anyhow::Context;
use tracker::db::Database;

use crate::cli::{Cli, Command};
use crate::config::Config;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command, .. } = cli;
    match command {
        Command::Serve(args) => {
            serve::run(Config::load(&global, (args.listen, args.osmand_listen))?, serve::Mode::Serve).await
        }
        Command::Demo(args) => {
            let fleet = demo_fleet::FleetOptions::from_args(&args)?;
            serve::run(
                Config::load(&global, (args.serve.listen, args.serve.osmand_listen))?,
                serve::Mode::Demo { persons_per_county: args.persons_per_county as usize, fleet },
            )
            .await
        }
        Command::Migrate => {
            let config = Config::load(&global, (None, None))?;
            with_database(&config, |_| async { Ok(()) }).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Orgs(flag) => {
            let config = Config::load(&global, (None, None))?;
            with_database(&config, |pool| orgs::run(pool, flag.json)).await
        }
        Command::Persons(crate::cli::PersonsCommand::Add(args)) => {
            one_shot(&global, |pool| records::add_person(pool, args)).await
        }
        Command::Persons(crate::cli::PersonsCommand::List(flag)) => {
            one_shot(&global, |pool| records::list_persons(pool, flag.json)).await
        }
        Command::Device(crate::cli::DeviceCommand::Enrol(args)) => {
            one_shot(&global, |pool| records::enrol(pool, args)).await
        }
        Command::Device(crate::cli::DeviceCommand::Retire(args)) => {
            one_shot(&global, |pool| records::retire(pool, args)).await
        }
        Command::Device(crate::cli::DeviceCommand::Reenrol(args)) => {
            one_shot(&global, |pool| records::reenrol(pool, args)).await
        }
        Command::Fence(crate::cli::FenceCommand::Add(args)) => {
            one_shot(&global, |pool| records::add_fence(pool, args)).await
        }
        Command::Leave(crate::cli::LeaveCommand::Grant(args)) => {
            one_shot(&global, |pool| records::grant_leave(pool, args)).await
        }
        Command::Leave(crate::cli::LeaveCommand::List(args)) => {
            one_shot(&global, |pool| records::list_leaves(pool, args)).await
        }
        Command::Track(args) => one_shot(&global, |pool| records::track(pool, args)).await,
        Command::Alarms(args) => one_shot(&global, |pool| alarms::run(pool, args)).await,
        Command::Staff(crate::cli::StaffCommand::Add(args)) => {
            one_shot(&global, |pool| records::add_staff(pool, args)).await
        }
        Command::Scheduler(crate::cli::SchedulerCommand::Status(flag)) => {
            one_shot(&global, |pool| schedule::status(pool, flag.json)).await
        }
        Command::Scheduler(crate::cli::SchedulerCommand::Tick(args)) => {
            let config = Config::load(&global, (None, None))?;
            with_database(&config, |pool| schedule::tick(pool, config.scheduler.clone(), args)).await
        }
        Command::Report(args) => {
            report::check_out(&args)?;
            one_shot(&global, |pool| report::run(pool, args)).await
        }
        Command::Boundaries(crate::cli::BoundariesCommand::Import(args)) => {
            let config = Config::load(&global, (None, None))?;
            with_database(&config, |pool| boundaries::import(pool, args)).await
        }
    }
}

/// A one-shot command with the configuration of `cli`.
async fn one_shot<F, Fut>(global: &crate::cli::GlobalArgs, f: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = Config::load(global, (None, None))?;
    with_database(&config, f).await
}

/// Opens (and migrates) the database for a one-shot command, runs `f`, and stops the embedded
/// cluster again if this command was the one that started it.
async fn with_database<F, Fut>(config: &Config, f: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let db = open_database(config).await?;
    let result = async {
        let pool = db.connect_and_migrate().await.context("connecting to the database")?;
        let r = f(pool.clone()).await;
        pool.close().await;
        r
    }
    .await;
    db.release().await.context("stopping the embedded database")?;
    result
}

/// Writes a command's output to stdout. A reader that went away (`cctrack orgs | head`) is not
/// an error: the command still finishes and releases its database.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn open_database(config: &Config) -> anyhow::Result<Database> {
    Database::open(config.database_url.as_deref(), &config.data_dir).await.with_context(|| match &config.database_url {
        Some(_) => "opening the configured database".to_string(),
        None => format!("starting the embedded PostGIS cluster in {}", config.data_dir.display()),
    })
}
