//! `GET /metrics`: Prometheus text exposition. Counters kept by this process (fixes accepted and
//! refused by protocol, group-commit latency) and gauges read from the database at each scrape
//! (open alarms by kind, the alarm feed's head and each consumer's lag, the scheduler's lag and
//! outbox). Unauthenticated, like `/healthz`: bind the main listener where only the monitoring
//! network reaches it, or put it behind the proxy's access rules.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tracker::device::Protocol;

use crate::server::AppState;

/// Fixes accepted and refused, per protocol (index: `Protocol::ALL`).
#[derive(Default)]
pub struct IngestCounters {
    accepted: [AtomicU64; 3],
    refused: [AtomicU64; 3],
}

impl IngestCounters {
    pub fn count(&self, protocol: Protocol, accepted: usize, refused: usize) {
        let i = Protocol::ALL.iter().position(|p| *p == protocol).expect("every protocol is listed");
        self.accepted[i].fetch_add(accepted as u64, Ordering::Relaxed);
        self.refused[i].fetch_add(refused as u64, Ordering::Relaxed);
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP cctrack_fixes_accepted_total Fixes stored, by protocol.\n# TYPE cctrack_fixes_accepted_total counter"
    );
    for (i, p) in Protocol::ALL.iter().enumerate() {
        let _ = writeln!(
            out,
            "cctrack_fixes_accepted_total{{protocol=\"{}\"}} {}",
            p.as_str(),
            state.ingest_counters.accepted[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP cctrack_fixes_refused_total Fixes refused with a field named, by protocol.\n# TYPE cctrack_fixes_refused_total counter");
    for (i, p) in Protocol::ALL.iter().enumerate() {
        let _ = writeln!(
            out,
            "cctrack_fixes_refused_total{{protocol=\"{}\"}} {}",
            p.as_str(),
            state.ingest_counters.refused[i].load(Ordering::Relaxed)
        );
    }
    let (counts, sum) = state.ingestor.commit_stats().snapshot();
    let _ = writeln!(out, "# HELP cctrack_ingest_commit_seconds Group commits of ingest, by duration.\n# TYPE cctrack_ingest_commit_seconds histogram");
    for (bound, n) in tracker::ingest::queue::COMMIT_BUCKETS.iter().zip(&counts) {
        let _ = writeln!(out, "cctrack_ingest_commit_seconds_bucket{{le=\"{bound}\"}} {n}");
    }
    let total = counts.last().copied().unwrap_or(0);
    let _ = writeln!(out, "cctrack_ingest_commit_seconds_bucket{{le=\"+Inf\"}} {total}\ncctrack_ingest_commit_seconds_sum {sum}\ncctrack_ingest_commit_seconds_count {total}");
    match database_gauges(&state).await {
        Ok(g) => out.push_str(&g),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: database gauges unavailable");
            let _ = writeln!(out, "# database gauges unavailable");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

async fn database_gauges(state: &AppState) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    let open: Vec<(String, i64)> = sqlx::query_as(
        "SELECT kind, count(*) FROM alarms WHERE state IN ('open', 'acknowledged') GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&state.pool)
    .await?;
    let _ = writeln!(
        out,
        "# HELP cctrack_alarms_open Alarms open or acknowledged, by kind.\n# TYPE cctrack_alarms_open gauge"
    );
    for k in tracker::alarm::Kind::ALL {
        let n = open.iter().find(|(kind, _)| kind == k.as_str()).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "cctrack_alarms_open{{kind=\"{}\"}} {n}", k.as_str());
    }
    let head = tracker::alarm::feed::head(&state.pool).await?;
    let _ = writeln!(out, "# HELP cctrack_feed_position The alarm feed's newest position.\n# TYPE cctrack_feed_position gauge\ncctrack_feed_position {head}");
    let cursors: Vec<(String, i64)> =
        sqlx::query_as("SELECT consumer, position FROM feed_cursors ORDER BY consumer").fetch_all(&state.pool).await?;
    let _ = writeln!(
        out,
        "# HELP cctrack_feed_lag Events a feed consumer has not read yet.\n# TYPE cctrack_feed_lag gauge"
    );
    for (consumer, position) in cursors {
        let _ = writeln!(out, "cctrack_feed_lag{{consumer=\"{consumer}\"}} {}", head - position);
    }
    let s = tracker::schedule::status::status(&state.pool, chrono::Utc::now()).await?;
    let _ = writeln!(
        out,
        "# HELP cctrack_scheduler_lag_seconds How late the scheduler's oldest due item is.\n# TYPE cctrack_scheduler_lag_seconds gauge\ncctrack_scheduler_lag_seconds {}",
        s.lag_s.unwrap_or(0.0)
    );
    let _ = writeln!(out, "# HELP cctrack_outbox_backlog Notices not sent yet.\n# TYPE cctrack_outbox_backlog gauge\ncctrack_outbox_backlog {}", s.outbox_backlog);
    let _ = writeln!(out, "# HELP cctrack_scheduler_leader Whether some process holds the scheduler's leader lock.\n# TYPE cctrack_scheduler_leader gauge\ncctrack_scheduler_leader {}", u8::from(s.lock_held));
    Ok(out)
}
