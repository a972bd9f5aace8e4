//! Group commit: requests are queued to a few workers; each worker takes whatever requests are
//! waiting (up to [`MAX_JOBS_PER_COMMIT`]) and commits them together ([`super::Core::commit`]),
//! so a single-fix request costs a share of one commit instead of a dozen round trips. If a
//! batch fails on its data, its requests are retried one by one so that one bad request cannot
//! fail the others.
//!
//! Shutdown ([`Ingestor::shutdown`]): requests already queued are committed and answered; later
//! ones are refused ([`IngestError::Stopped`], a 503: retry), so nothing acknowledged is lost
//! and nothing is half-written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Core, IngestConfig, IngestError, IngestReport, Job};

/// Requests stored by one commit at most.
pub const MAX_JOBS_PER_COMMIT: usize = 256;
/// Fixes stored by one commit at most (a request is never split).
pub const MAX_FIXES_PER_COMMIT: usize = 10_000;
/// Workers committing in parallel: while one waits for PostgreSQL, another gathers the next batch.
const WORKERS: usize = 4;

type Submission = (Job, oneshot::Sender<Result<IngestReport, IngestError>>);
type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Submission>>>;

/// The pipeline, shared by every ingest listener of a process.
pub struct Ingestor {
    core: Arc<Core>,
    queue: mpsc::Sender<Submission>,
    stop: CancellationToken,
    workers: Mutex<Vec<JoinHandle<()>>>,
    stats: Arc<CommitStats>,
}

/// Upper bounds (seconds) of the commit-latency histogram's buckets.
pub const COMMIT_BUCKETS: [f64; 8] = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// How long group commits take, as a cumulative histogram (for `/metrics`).
#[derive(Default)]
pub struct CommitStats {
    /// Commits at or under each bound of [`COMMIT_BUCKETS`], and all of them last.
    buckets: [AtomicU64; 9],
    micros: AtomicU64,
}

impl CommitStats {
    fn observe(&self, took: std::time::Duration) {
        let s = took.as_secs_f64();
        for (i, bound) in COMMIT_BUCKETS.iter().enumerate() {
            if s <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.buckets[COMMIT_BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// (cumulative counts per bucket, then the total; the sum in seconds).
    pub fn snapshot(&self) -> (Vec<u64>, f64) {
        let counts = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        (counts, self.micros.load(Ordering::Relaxed) as f64 / 1e6)
    }
}

impl Ingestor {
    /// Starts the group-commit workers; call from within a Tokio runtime.
    pub fn start(pool: sqlx::PgPool, config: IngestConfig) -> Self {
        let core = Arc::new(Core::new(pool, config));
        let (queue, rx) = mpsc::channel::<Submission>(4 * MAX_JOBS_PER_COMMIT);
        let rx: Queue = Arc::new(tokio::sync::Mutex::new(rx));
        let stop = CancellationToken::new();
        let stats = Arc::new(CommitStats::default());
        let workers =
            (0..WORKERS).map(|_| tokio::spawn(worker(core.clone(), rx.clone(), stop.clone(), stats.clone()))).collect();
        Ingestor { core, queue, stop, workers: Mutex::new(workers), stats }
    }

    /// How long group commits have taken.
    pub fn commit_stats(&self) -> &CommitStats {
        &self.stats
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.core.pool
    }

    /// Stores one request's fixes; returns once they are committed (or refused).
    pub async fn ingest(&self, job: Job) -> Result<IngestReport, IngestError> {
        if self.stop.is_cancelled() {
            return Err(IngestError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        self.queue.send((job, tx)).await.map_err(|_| IngestError::Stopped)?;
        let report = rx.await.map_err(|_| IngestError::Stopped)??;
        if report.device_retired {
            return Err(IngestError::DeviceRetired);
        }
        Ok(report)
    }

    /// Keeps the fence cache fresh between fixes until `stop` is cancelled.
    pub fn watch_fences(&self, stop: CancellationToken) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.core.fences.clone().watch(stop)
    }

    /// Commits and answers what is queued, refuses what comes later, and waits for the workers.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let workers = std::mem::take(&mut *self.workers.lock().expect("worker list poisoned"));
        for w in workers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "an ingest worker failed");
            }
        }
    }
}

/// Takes every waiting request (up to the limits), commits them together, answers each; after
/// `stop`, drains the queue and returns.
async fn worker(core: Arc<Core>, rx: Queue, stop: CancellationToken, stats: Arc<CommitStats>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            let first = tokio::select! {
                biased;
                s = rx.recv() => s,
                _ = stop.cancelled() => rx.try_recv().ok(),
            };
            let Some(first) = first else { return };
            let mut fixes = first.0.decoded.len();
            batch.push(first);
            while batch.len() < MAX_JOBS_PER_COMMIT && fixes < MAX_FIXES_PER_COMMIT {
                match rx.try_recv() {
                    Ok(s) => {
                        fixes += s.0.decoded.len();
                        batch.push(s);
                    }
                    Err(_) => break,
                }
            }
        }
        let (jobs, replies): (Vec<Job>, Vec<_>) = batch.into_iter().unzip();
        let started = std::time::Instant::now();
        let committed = core.commit(&jobs).await;
        stats.observe(started.elapsed());
        match committed {
            Ok(reports) => {
                for (reply, report) in replies.into_iter().zip(reports) {
                    let _ = reply.send(Ok(report));
                }
            }
            Err(IngestError::Refused(e)) if jobs.len() > 1 => {
                tracing::warn!(error = %e, "group commit refused: retrying its requests one by one");
                for (job, reply) in jobs.iter().zip(replies) {
                    let _ = reply.send(core.commit(std::slice::from_ref(job)).await.map(|mut r| r.remove(0)));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
