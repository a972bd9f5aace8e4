//! The fences as of a version, shared by the workers; reloaded when the database says fences
//! changed. Every commit reads the version with its lock and asks for fences at least that new,
//! so a fix is never evaluated against fences older than its transaction; [`FenceCache::watch`]
//! only keeps reloads off the path of the first fix after a change.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::IngestError;
use crate::fence::FenceSnapshot;

pub struct FenceCache {
    pool: PgPool,
    current: RwLock<Arc<FenceSnapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl FenceCache {
    pub fn new(pool: PgPool) -> Self {
        FenceCache { pool, current: RwLock::new(Arc::new(FenceSnapshot::empty())), reload: tokio::sync::Mutex::new(()) }
    }

    /// The fences as of `version` or newer, reloading them if the cache is older.
    pub async fn at(&self, version: i64) -> Result<Arc<FenceSnapshot>, IngestError> {
        if let Some(cur) = self.fresh(version) {
            return Ok(cur);
        }
        let _one_reload_at_a_time = self.reload.lock().await;
        if let Some(cur) = self.fresh(version) {
            return Ok(cur);
        }
        let snapshot = crate::fence::load_all(&self.pool).await.map_err(|e| match e {
            crate::fence::FenceStoreError::Db(e) => IngestError::from(e),
            other => IngestError::Fences(other.to_string()),
        })?;
        let snapshot = Arc::new(snapshot);
        let (personal, shared, _) = snapshot.set.counts();
        tracing::info!(version = snapshot.version, fences = personal + shared, "fence cache reloaded");
        *self.current.write().expect("fence cache poisoned") = snapshot.clone();
        Ok(snapshot)
    }

    fn fresh(&self, version: i64) -> Option<Arc<FenceSnapshot>> {
        let cur = self.current.read().expect("fence cache poisoned");
        (cur.version >= version).then(|| cur.clone())
    }

    /// Reloads on every `cctrack_fences` notification, reconnecting with back-off if the
    /// database goes away, until `stop` is cancelled.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Err(e) = self.listen() => {
                    tracing::warn!(error = %e, "fence change listener: reconnecting");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn listen(&self) -> Result<std::convert::Infallible, IngestError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen("cctrack_fences").await?;
        // Changes made while nobody listened.
        self.at(crate::fence::version(&self.pool).await?).await?;
        loop {
            listener.recv().await?;
            self.at(crate::fence::version(&self.pool).await?).await?;
        }
    }
}
