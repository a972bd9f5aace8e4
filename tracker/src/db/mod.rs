//! Connection to PostgreSQL + PostGIS: an external server (`CCTRACK_DATABASE_URL`) or the
//! embedded private cluster, and the schema migrations in `sql/migrations/`.

pub mod embedded;

use std::path::Path;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

pub use embedded::{EmbeddedCluster, EmbeddedError};

/// The migrations, embedded in the binary so that `cctrack migrate` needs no source tree.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../sql/migrations");

/// Name of the application database inside the embedded cluster.
pub const DATABASE_NAME: &str = "cctrack";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL: {0}")]
    Url(String),
}

/// Where the data lives for this process.
pub enum Database {
    External { url: String },
    Embedded { cluster: EmbeddedCluster },
}

impl Database {
    /// The external server when `url` is given, otherwise the embedded cluster under `data_dir`
    /// (started, or adopted if already running).
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Self, DbError> {
        match url {
            Some(url) => Ok(Database::External { url: url.to_string() }),
            None => {
                let dir = data_dir.to_path_buf();
                let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(&dir))
                    .await
                    .expect("embedded cluster start panicked")?;
                ensure_database(&cluster.url("postgres"), DATABASE_NAME).await?;
                Ok(Database::Embedded { cluster })
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Database::External { url } => url.clone(),
            Database::Embedded { cluster } => cluster.url(DATABASE_NAME),
        }
    }

    /// Connects, creates PostGIS if needed and applies pending migrations.
    pub async fn connect_and_migrate(&self) -> Result<PgPool, DbError> {
        let pool = connect(&self.url()).await?;
        migrate(&pool).await?;
        Ok(pool)
    }

    /// For one-shot commands: stops the embedded cluster only if this process started it, so a
    /// CLI command run beside a serving cctrack leaves that server's database running.
    pub async fn release(self) -> Result<(), DbError> {
        match &self {
            Database::Embedded { cluster } if cluster.launched() => self.shutdown().await,
            _ => Ok(()),
        }
    }

    /// Stops the embedded cluster (no-op for an external server).
    pub async fn shutdown(self) -> Result<(), DbError> {
        if let Database::Embedded { cluster } = self {
            tokio::task::spawn_blocking(move || cluster.stop()).await.expect("embedded cluster stop panicked")?;
        }
        Ok(())
    }
}

/// A pool that fails fast (3 s) when the database is down, so that ingest can answer 503 with
/// Retry-After instead of holding phones' connections.
pub async fn connect(url: &str) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| DbError::Url(e.to_string()))?;
    // Statements are not logged: fixes are personal data and ingest is hot.
    let options = options.disable_statement_logging();
    Ok(PgPoolOptions::new().max_connections(32).acquire_timeout(Duration::from_secs(3)).connect_with(options).await?)
}

/// Migrations edited after they landed, with the checksum (SHA-384, hex) of the text a database
/// may have run. A later migration brings such a database to the current text's schema; the
/// recorded checksum is then rewritten so that sqlx accepts the database. Never add to this
/// list: a change to the schema is a new migration (the pin test in the e2e suite fails on edits).
const EDITED_AFTER_LANDING: &[(i64, &str)] = &[(
    20261129000006,
    "3c2b85bcff790f2cee6f6737d36fff97104f6303d5d249eaeb602bab72b5c4afbc6f06208cdd236fd23d127f222e8bc1",
)];

/// Applies pending migrations. PostGIS is created first so that a database created by hand
/// (external server) works as long as the extension is installable.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis").execute(pool).await?;
    accept_edited_migrations(pool).await?;
    MIGRATOR.run(pool).await?;
    // Keep a window of fix partitions around now; the migration created a fixed range.
    sqlx::query(
        "SELECT ensure_fix_partitions((now() - interval '13 months')::date, (now() + interval '3 months')::date)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Rewrites the recorded checksum of each migration in [`EDITED_AFTER_LANDING`] that a database
/// ran in its first text (see there).
async fn accept_edited_migrations(pool: &PgPool) -> Result<(), DbError> {
    let recorded: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !recorded {
        return Ok(());
    }
    for (version, first_text) in EDITED_AFTER_LANDING {
        let Some(current) = MIGRATOR.iter().find(|m| m.version == *version) else { continue };
        let updated = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $2 WHERE version = $1 AND checksum = decode($3, 'hex')",
        )
        .bind(version)
        .bind(current.checksum.as_ref())
        .bind(first_text)
        .execute(pool)
        .await?;
        if updated.rows_affected() > 0 {
            tracing::info!(version, "migration edited after it landed: the database ran its first text; accepted");
        }
    }
    Ok(())
}

/// Creates `name` on the server behind `admin_url` if it does not exist yet.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<(), DbError> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {}", quote_ident(name))).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

/// Quotes an SQL identifier (names that cannot be bound as parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether the database answers (health checks).
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool).await.map(|_| ())
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database could not be reached or is overloaded or shutting down: nothing happened,
    /// and the same request may succeed later (503 with Retry-After).
    Unavailable,
    /// The database answered and refused the statement (a constraint, a data exception, a bug
    /// in the statement): retrying will not help (4xx when the input was at fault, else 500).
    Refused,
}

/// Classifies a database error. Only failures to reach or keep a working server are
/// [`Failure::Unavailable`]; a row the database refuses never is, so that a bad input cannot
/// pass for an outage (and a phone does not retry it for ever).
pub fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Failure::Unavailable,
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // 08: connection exception; 53: insufficient resources; 57P0x: shutting down or
            // starting up; 40001/40P01: serialization failure and deadlock (retry succeeds).
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01") =>
            {
                Failure::Unavailable
            }
            _ => Failure::Refused,
        },
        _ => Failure::Refused,
    }
}

/// Whether `s` can be stored as PostgreSQL text (which refuses the NUL character). Inputs are
/// checked with this before they reach a query, so that such a byte is a client error and
/// never a failed statement.
pub fn storable_text(s: &str) -> bool {
    !s.contains('\0')
}
