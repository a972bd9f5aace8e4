//! Database failures are told apart: a statement the server refuses is never "unavailable" (a
//! phone would retry it for ever and a probe would look like an outage), a server that cannot be
//! reached always is. And the audit log can only grow, for cctrack's own connection too.

use cctrack_tests::TestDb;
use tracker::db::{classify, Failure};

#[tokio::test]
async fn refused_statements_and_unreachable_servers_are_told_apart() {
    let db = TestDb::new().await.unwrap();
    for sql in [
        "SELECT E'\\x00'::text",                                         // invalid byte sequence (22021)
        "INSERT INTO organisations (kind, name) VALUES ('planet', 'x')", // check violation (23514)
        "SELECT 1/0",                                                    // division by zero (22012)
        "SELECT * FROM no_such_table",                                   // undefined table (42P01)
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.expect_err(sql);
        assert_eq!(classify(&err), Failure::Refused, "{sql}: {err}");
    }
    let nul = sqlx::query("SELECT $1::text").bind("a\0b").execute(&db.pool).await.expect_err("NUL refused");
    assert_eq!(classify(&nul), Failure::Refused, "{nul}");
    assert!(!tracker::db::storable_text("a\0b") && tracker::db::storable_text("跃进司法所"));

    // Nothing listens on port 1 of the loopback.
    let unreachable = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect("postgres://x:y@127.0.0.1:1/x")
        .await
        .expect_err("nothing listens there");
    assert_eq!(classify(&unreachable), Failure::Unavailable, "{unreachable}");
    db.pool.close().await;
    let closed = sqlx::query("SELECT 1").execute(&db.pool).await.expect_err("pool closed");
    assert_eq!(classify(&closed), Failure::Unavailable, "{closed}");
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let db = TestDb::new().await.unwrap();
    sqlx::query(
        "INSERT INTO audit_log (action, subject, details, address) VALUES ('login.failed', 'x', '{}', '127.0.0.1')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    for sql in ["UPDATE audit_log SET subject = 'y'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let err = sqlx::query(sql).execute(&db.pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE subject = 'x'").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rows, 1);
}
