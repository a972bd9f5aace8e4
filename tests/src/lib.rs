//! End-to-end test harness: every test gets its own database, cloned from a template that
//! already has PostGIS and the migrations, inside one private PostgreSQL cluster shared by all
//! test processes of this checkout.
//!
//! - With `CCTRACK_TEST_DATABASE_URL` (an admin URL, e.g. `postgres://postgres:pw@host/postgres`)
//!   that server is used; otherwise an embedded cluster in `$TMPDIR/cctrack-tests-<hash>` is
//!   started on first use and left running for the next test process (`scripts/test` stops it).
//! - A file lock serialises cluster start and template creation across test processes.
//! - The template is rebuilt whenever the migrations change (their checksums are its comment).

pub mod inputs;

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use sqlx::{Connection, PgConnection, PgPool};
use tracker::db::{self, quote_ident, EmbeddedCluster, MIGRATOR};

const TEMPLATE: &str = "cctrack_template";

/// A fresh database with PostGIS and every migration applied.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    /// Connection URL of this database (for subprocesses such as the `cctrack` binary).
    pub url: String,
}

impl TestDb {
    pub async fn new() -> anyhow::Result<TestDb> {
        let admin = admin_url().await?;
        let name = unique_name("t");
        create_database(&admin, &name, Some(TEMPLATE)).await?;
        let url = with_database(&admin, &name);
        let pool = db::connect(&url).await?;
        Ok(TestDb { pool, name, url })
    }

    /// A database with nothing in it, not even PostGIS: for testing migrations from scratch.
    pub async fn empty() -> anyhow::Result<TestDb> {
        let admin = admin_url().await?;
        let name = unique_name("e");
        create_database(&admin, &name, Some("template0")).await?;
        let url = with_database(&admin, &name);
        let pool = db::connect(&url).await?;
        Ok(TestDb { pool, name, url })
    }
}

/// Directory of the shared test cluster.
pub fn cluster_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CCTRACK_TEST_PGDIR") {
        return PathBuf::from(dir);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut h);
    std::env::temp_dir().join(format!("cctrack-tests-{:012x}", h.finish() & 0xffff_ffff_ffff))
}

/// Path to `../shared/data/<rel>` beside the project, if that folder exists (it does in CI and
/// for the developers, not in a user's clone: tests that need it skip with a message).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} is absent (../shared/data is only beside developer and CI checkouts)", p.display());
        None
    }
}

static ADMIN_URL: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// Admin URL of the test server, with the template built. First call per process does the work.
async fn admin_url() -> anyhow::Result<String> {
    ADMIN_URL
        .get_or_try_init(|| async {
            let lock = tokio::task::spawn_blocking(lock_cluster_dir).await??;
            let admin = match std::env::var("CCTRACK_TEST_DATABASE_URL") {
                Ok(url) => url,
                Err(_) => {
                    let dir = cluster_dir();
                    let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(&dir))
                        .await?
                        .context("starting the test cluster")?;
                    cluster.url("postgres")
                }
            };
            ensure_template(&admin).await.context("building the template database")?;
            drop(lock);
            Ok(admin)
        })
        .await
        .cloned()
}

fn lock_cluster_dir() -> anyhow::Result<File> {
    let dir = cluster_dir();
    std::fs::create_dir_all(&dir)?;
    let file = File::create(dir.join("harness.lock"))?;
    // SAFETY: flock on a valid open descriptor; blocks until the lock is granted.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    anyhow::ensure!(rc == 0, "flock failed: {}", std::io::Error::last_os_error());
    Ok(file)
}

fn migrations_checksum() -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in MIGRATOR.iter() {
        m.version.hash(&mut h);
        m.checksum.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

async fn ensure_template(admin: &str) -> anyhow::Result<()> {
    let want = migrations_checksum();
    let mut conn = PgConnection::connect(admin).await?;
    let have: Option<Option<String>> =
        sqlx::query_scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1")
            .bind(TEMPLATE)
            .fetch_optional(&mut conn)
            .await?;
    if have.flatten().as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(TEMPLATE))).execute(&mut conn).await?;
    sqlx::query(&format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(TEMPLATE))).execute(&mut conn).await?;
    {
        let mut t = PgConnection::connect(&with_database(admin, TEMPLATE)).await?;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis").execute(&mut t).await?;
        MIGRATOR.run(&mut t).await?;
        t.close().await?;
    }
    sqlx::query(&format!("COMMENT ON DATABASE {} IS '{want}'", quote_ident(TEMPLATE))).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

async fn create_database(admin: &str, name: &str, template: Option<&str>) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin).await?;
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(name), quote_ident(t)),
        None => format!("CREATE DATABASE {}", quote_ident(name)),
    };
    // Concurrent clones of one template are refused while another session is connected to it;
    // that window is short, so retry.
    let mut attempt = 0;
    loop {
        match sqlx::query(&sql).execute(&mut conn).await {
            Ok(_) => break,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("creating test database {name}")),
        }
    }
    conn.close().await?;
    Ok(())
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "cctrack_{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        tracker::secret::random_token(6).to_lowercase()
    )
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    // The query (an embedded cluster's socket directory, `?host=/…`) holds slashes too.
    let (path, query) = url.split_once('?').map_or((url, None), |(p, q)| (p, Some(q)));
    let (base, _) = path.rsplit_once('/').expect("database URL has a path");
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// The body of a chunked HTTP/1.1 response (tests that speak HTTP by hand).
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < line_end + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[(line_end + 4 + size).min(b.len())..];
    }
}
