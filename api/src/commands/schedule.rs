//! `cctrack scheduler status` and `cctrack scheduler tick`.

use std::sync::Arc;

use scheduler::clock::{Clock, ManualClock, SystemClock};
use scheduler::config::SchedulerConfig;

use super::emit;
use crate::cli::SchedulerTickArgs;

pub async fn status(pool: sqlx::PgPool, json: bool) -> anyhow::Result<()> {
    let s = tracker::schedule::status::status(&pool, chrono::Utc::now()).await?;
    if json {
        return emit(&(serde_json::to_string_pretty(&s)? + "\n"));
    }
    let leader = match (&s.leader, s.lock_held) {
        (Some(l), true) => format!("{l} (since {}, last tick {})", fmt(s.leader_since), fmt(s.heartbeat_at)),
        (Some(l), false) => format!("none (last: {l}, last tick {})", fmt(s.heartbeat_at)),
        (None, _) => "none yet".to_string(),
    };
    emit(&format!(
        "leader: {leader}\ndue: {} persons, oldest due item {} late\npending requests: {}\nescalation steps due: {}\noutbox: {} to send, {} given up\n",
        s.due,
        s.lag_s.map(|l| format!("{l:.0} s")).unwrap_or_else(|| "none".into()),
        s.pending_requests,
        s.steps_due,
        s.outbox_backlog,
        s.outbox_failed,
    ))
}

fn fmt(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| tracker::time::local(t).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
}

pub async fn tick(pool: sqlx::PgPool, config: SchedulerConfig, a: SchedulerTickArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    // A tick ahead of time would fail requests before their deadline and claim calendar periods
    // that have not begun.
    if a.at.is_some_and(|at| at > now + chrono::Duration::seconds(60)) {
        anyhow::bail!("--at: a tick cannot be in the future (it would fail requests before their deadline)");
    }
    let clock: Arc<dyn Clock> = match a.at {
        Some(at) => Arc::new(ManualClock::new(at)),
        None => Arc::new(SystemClock),
    };
    // Only the leader ticks: a running cctrack that holds the lock does it itself.
    let holder = format!("cctrack scheduler tick (pid {})", std::process::id());
    let Some(leadership) = tracker::schedule::leader::try_lead(&pool, &holder, now).await? else {
        anyhow::bail!(
            "another cctrack process is the scheduler's leader and ticks itself; `cctrack scheduler status` shows it"
        );
    };
    let ingestor = Arc::new(tracker::ingest::Ingestor::start(pool.clone(), Default::default()));
    let s = crate::server::build_scheduler(&config, &pool, ingestor.clone(), clock)?;
    let started = std::time::Instant::now();
    let report = s.tick().await?;
    let ticked = started.elapsed();
    let (sent, unsent) = s.send_notices().await?;
    let (mut reports_sent, mut reports_unsent) = (0, 0);
    loop {
        let (sent, unsent) = s.send_report_mails().await?;
        if sent + unsent == 0 {
            break;
        }
        (reports_sent, reports_unsent) = (reports_sent + sent, reports_unsent + unsent);
    }
    ingestor.shutdown().await;
    leadership.resign().await?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["notices_sent"] = sent.into();
        v["notices_not_sent"] = unsent.into();
        v["report_mails_sent"] = reports_sent.into();
        v["report_mails_not_sent"] = reports_unsent.into();
        v["tick_ms"] = (ticked.as_secs_f64() * 1000.0).into();
        return emit(&(serde_json::to_string(&v)? + "\n"));
    }
    emit(&format!(
        "{report:?}; notices sent {sent}, not sent {unsent}; report mails sent {reports_sent}, not sent {reports_unsent}; tick {ticked:?}\n"
    ))
}
