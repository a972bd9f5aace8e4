//! Landed migrations never change: every migration's checksum is pinned here, so an edit fails
//! CI (a database that ran the first text would refuse to start). A change to the schema is a
//! new migration, added to this list when it lands. And a database that ran the first text of
//! the one migration that was edited after landing (20261129000006) is accepted and repaired.

use cctrack_tests::TestDb;
use sqlx::Connection;
use tracker::db::MIGRATOR;

/// (version, SHA-384 of the file as landed)
const LANDED: &[(i64, &str)] = &[
    (
        20261123000001,
        "af01bf168b4d0afa955db0f01cc5dca2eccb968c8eb8c2e33b85df76d33021a8c257b55e7cfa389bafa2d37456a0c8ac",
    ),
    (
        20261123000002,
        "51bdbb4e261d6a1f8b0756b433d84496110e152d6c3b4cb65797b5c7a151ed8b3affc6cc27c55d8ac8a0bda03b702a85",
    ),
    (
        20261123000003,
        "f66ada55bd3831cb6872189606b973c86a25f5128a66b57f0876921c4e751a5dbdc1360d16e37fca2e79467c817ea53b",
    ),
    (
        20261123000004,
        "1476ef60371fa9d5c7082eb5859452f5d400b167e8bc8826285805d7834545a2d466a43ce8ff0bb879ed870a4aa34a12",
    ),
    (
        20261123000005,
        "7ba8c992dcd43f1ed3ddeb1cb08d642a5964904d89920d1076a2051f1c93583623c7db016fc56e18f19008cde472d1ab",
    ),
    (
        20261129000006,
        "e4a1ffbd9eb5a8a0b1c1fd9ffe6487d4b3c4f296e80e985b7c4cfbd32bfe8c7288712582674326aacf88549b37cd7689",
    ),
    (
        20261207000007,
        "d4fde2b3c92bc8fbb92b1edbffdb5cf44716efb2d3b83de0594c4dc84658c5aa9f409289bb57066437e15417630dbed3",
    ),
    (
        20261207000008,
        "4d5be3a6fb49941333250f7283a6c5b6eb399774dab7bb138b3a7e6bc1a1dcf595eccc475bd6763fd96ec4b4a15eda30",
    ),
    (
        20261207000009,
        "50d8451b1371d0adfd6dc7115d2376d3645cb2566eec4f57909a2af42659f2087ee9ffa04eff789b22453bcc87ee862c",
    ),
    (
        20261207000010,
        "ade1e5d3741d89f9c7f27ca83fa52a19d572c336d7f3114d6330379cca5474d005eea6277cec5697bbd7f85abd5132ee",
    ),
    (
        20261207000011,
        "cf31e32a1881e7a99a465f01f2b9bc07eee5b8fa084bd9448b6b9947854ca53cf081d854715c56b7ade2c3ce86e32f99",
    ),
    (
        20261207000012,
        "bea42992e6700bcc0e8c3c83d200965d23ea61703555b6380aa78e1af72acc7b2523bde97a771620c4217988884c932f",
    ),
    (
        20261207000013,
        "1b18e390277f1288e0c499a7bc0636947b505e7934a2c1a21a290e18323a795827ca1d6271c3ec365ca22e1591523a2d",
    ),
    (
        20261207000014,
        "22c732fe6db1dcb3b6d5921ede8fe808c1a0f69e7b4e374136ee112045dad2c9879e8b2adbb9e4dc47e2853861c5caed",
    ),
    (
        20261207000015,
        "488b1e13731d971495d4ac47f32bb36d1ce7b4ed35c7885ba12fcb79ab93771319d17b73bfe517706c9b53bb5695ca87",
    ),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_migration_is_pinned_and_unchanged() {
    let found: Vec<(i64, String)> = MIGRATOR.iter().map(|m| (m.version, hex(&m.checksum))).collect();
    for (version, checksum) in &found {
        let pinned = LANDED.iter().find(|(v, _)| v == version);
        let Some((_, want)) = pinned else {
            panic!("migration {version} is not pinned: add it to LANDED when it lands");
        };
        assert_eq!(checksum, want, "migration {version} was edited after it landed: write a new migration instead");
    }
    assert_eq!(found.len(), LANDED.len(), "a pinned migration is missing from sql/migrations");
}

#[tokio::test]
async fn a_database_that_ran_the_first_text_of_the_edited_migration_is_accepted_and_repaired() {
    let db = TestDb::new().await.unwrap();
    // Make it look as if it had run the first text of 20261129000006 and nothing after the repair.
    for sql in [
        "UPDATE _sqlx_migrations SET checksum = decode('3c2b85bcff790f2cee6f6737d36fff97104f6303d5d249eaeb602bab72b5c4afbc6f06208cdd236fd23d127f222e8bc1', 'hex') WHERE version = 20261129000006",
        "DELETE FROM _sqlx_migrations WHERE version = 20261207000009",
        "DROP TRIGGER fix_sequence_runs_check_on_update ON fix_sequence_runs",
        "ALTER TABLE fix_sequence_runs RESET (fillfactor)",
    ] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    // On its own connection: a refused run keeps sqlx's migration lock until its session ends.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let refused = MIGRATOR.run(&mut conn).await.expect_err("sqlx refuses a changed checksum by itself");
    assert!(refused.to_string().contains("20261129000006"), "{refused}");
    conn.close().await.unwrap();
    tracker::db::migrate(&db.pool).await.expect("cctrack accepts and repairs it");
    let trigger: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'fix_sequence_runs_check_on_update')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let options: Option<Vec<String>> =
        sqlx::query_scalar("SELECT reloptions FROM pg_class WHERE relname = 'fix_sequence_runs'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(trigger);
    assert_eq!(options, Some(vec!["fillfactor=50".to_string()]));
    // And it migrates cleanly again from then on.
    tracker::db::migrate(&db.pool).await.unwrap();
}
