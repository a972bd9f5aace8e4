//! The embedded cluster: data survives a restart, a crash's stale `postmaster.pid` is handled,
//! and a second start adopts a running server instead of starting another.

use sqlx::{Connection, PgConnection};
use tracker::db::{Database, EmbeddedCluster};

fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cctrack-embedded-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn count_rows(url: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM organisations").fetch_one(&mut c).await.unwrap();
    c.close().await.unwrap();
    n
}

#[tokio::test]
async fn data_survives_restart_and_stale_pid_file() {
    let dir = scratch_dir("restart");
    let db = Database::open(None, &dir).await.unwrap();
    let pool = db.connect_and_migrate().await.unwrap();
    sqlx::query("INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let url_before = db.url();
    db.shutdown().await.unwrap();
    assert!(PgConnection::connect(&url_before).await.is_err(), "server must be down after shutdown");

    // A crash leaves postmaster.pid behind with a PID that is no longer a postmaster.
    let pid_file = dir.join("pg/postmaster.pid");
    std::fs::write(&pid_file, format!("{}\n{}\n0\n5432\n", std::process::id(), dir.join("pg").display())).unwrap();

    let db = Database::open(None, &dir).await.unwrap();
    let pool = db.connect_and_migrate().await.unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM organisations WHERE adcode = '210800'").fetch_one(&pool).await.unwrap();
    assert_eq!(name, "营口市");
    pool.close().await;

    // A second start while the server runs adopts it (same port) and does not own it.
    let cluster = EmbeddedCluster::start(&dir).unwrap();
    assert!(!cluster.launched());
    assert_eq!(count_rows(&cluster.url("cctrack")).await, 1);
    let url = db.url();
    db.shutdown().await.unwrap();
    assert!(PgConnection::connect(&url).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
