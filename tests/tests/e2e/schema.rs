//! The schema: migrations apply from empty, and the database itself refuses impossible rows.

use cctrack_tests::TestDb;
use sqlx::PgPool;

/// The SQLSTATE and constraint of a failed statement, for asserting *why* it was refused.
fn refusal(err: sqlx::Error) -> (String, Option<String>) {
    match err {
        sqlx::Error::Database(db) => {
            (db.code().map(|c| c.to_string()).unwrap_or_default(), db.constraint().map(str::to_string))
        }
        other => panic!("expected a database refusal, got {other}"),
    }
}

const CHECK_VIOLATION: &str = "23514";
const NOT_NULL_VIOLATION: &str = "23502";
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// A city, county and office, a person and a device: ids (city, county, office, person, device).
async fn minimal_tree(pool: &PgPool) -> (i64, i64, i64, i64, i64) {
    let square = r#"{"type":"MultiPolygon","coordinates":[[[[122.0,40.0],[122.5,40.0],[122.5,40.5],[122.0,40.5],[122.0,40.0]]]]}"#;
    let city: i64 = sqlx::query_scalar("INSERT INTO organisations (kind, name, adcode, boundary) VALUES ('city', '营口市', '210800', ST_SetSRID(ST_GeomFromGeoJSON($1), 4326)) RETURNING id")
        .bind(square)
        .fetch_one(pool)
        .await
        .unwrap();
    let county: i64 = sqlx::query_scalar("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, '站前区', '210802') RETURNING id")
        .bind(city)
        .fetch_one(pool)
        .await
        .unwrap();
    let office: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, '跃进司法所') RETURNING id",
    )
    .bind(county)
    .fetch_one(pool)
    .await
    .unwrap();
    let person: i64 = sqlx::query_scalar(
        "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level) VALUES ($1, '张三', 'probation', '2026-01-01', '2027-01-01', 'ordinary') RETURNING id",
    )
    .bind(office)
    .fetch_one(pool)
    .await
    .unwrap();
    let device: i64 = sqlx::query_scalar(
        "INSERT INTO devices (person_id, protocol, enrolment_id, token_hash) VALUES ($1, 'osmand', 'abc123', '$argon2id$v=19$m=19456,t=2,p=1$x$y') RETURNING id",
    )
    .bind(person)
    .fetch_one(pool)
    .await
    .unwrap();
    (city, county, office, person, device)
}

#[tokio::test]
async fn migrations_apply_from_an_empty_database_and_are_idempotent() {
    let db = TestDb::empty().await.unwrap();
    let before: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('fixes')::text").fetch_one(&db.pool).await.unwrap();
    assert_eq!(before, None);
    tracker::db::migrate(&db.pool).await.unwrap();
    tracker::db::migrate(&db.pool).await.unwrap();
    for table in [
        "organisations",
        "staff",
        "persons",
        "legal_bases",
        "level_assessments",
        "devices",
        "fences",
        "leaves",
        "fixes",
        "location_requests",
        "alarms",
        "alarm_events",
        "escalation_steps",
        "audit_log",
        "reports",
    ] {
        let found: Option<String> =
            sqlx::query_scalar("SELECT to_regclass($1)::text").bind(table).fetch_one(&db.pool).await.unwrap();
        assert_eq!(found.as_deref(), Some(table), "table {table} missing after migration");
    }
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&db.pool).await.unwrap();
    assert_eq!(applied as usize, tracker::db::MIGRATOR.iter().count());
    let postgis: String = sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(postgis.starts_with('3'), "PostGIS {postgis}");
    // The partition window around now exists, so today's fixes have somewhere to go.
    let this_month: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('fixes_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))::text")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(this_month.is_some());
}

#[tokio::test]
async fn unknown_level_is_refused() {
    let db = TestDb::new().await.unwrap();
    let (_, _, office, _, _) = minimal_tree(&db.pool).await;
    let err = sqlx::query("INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level) VALUES ($1, '李四', 'parole', '2026-01-01', '2027-01-01', 'extreme')")
        .bind(office)
        .execute(&db.pool)
        .await
        .unwrap_err();
    let (code, constraint) = refusal(err);
    assert_eq!(code, CHECK_VIOLATION);
    assert_eq!(constraint.as_deref(), Some("persons_level_check"));
}

#[tokio::test]
async fn person_must_belong_to_an_office_not_a_bureau() {
    let db = TestDb::new().await.unwrap();
    let (_, county, _, _, _) = minimal_tree(&db.pool).await;
    let err = sqlx::query("INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level) VALUES ($1, '李四', 'parole', '2026-01-01', '2027-01-01', 'strict')")
        .bind(county)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
}

#[tokio::test]
async fn fence_without_geometry_is_refused() {
    let db = TestDb::new().await.unwrap();
    let (_, _, office, person, _) = minimal_tree(&db.pool).await;
    let err = sqlx::query("INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom) VALUES ($1, $2, '活动区域', 'inclusion', 'area', NULL)")
        .bind(person)
        .bind(office)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, NOT_NULL_VIOLATION);
    // A circle needs a point and a radius; a polygon with a radius is not a circle.
    let err = sqlx::query("INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom) VALUES ($1, $2, '学校', 'exclusion', 'circle', ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326))")
        .bind(person)
        .bind(office)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
    sqlx::query("INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m) VALUES ($1, $2, '学校', 'exclusion', 'circle', ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326), 200)")
        .bind(person)
        .bind(office)
        .execute(&db.pool)
        .await
        .expect("a well-formed circle fence is accepted");
}

#[tokio::test]
async fn latitude_91_is_refused() {
    let db = TestDb::new().await.unwrap();
    let (_, _, _, person, device) = minimal_tree(&db.pool).await;
    let err = sqlx::query("INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m) VALUES ($1, $2, now(), ST_SetSRID(ST_MakePoint(122.2, 91), 4326), 10)")
        .bind(person)
        .bind(device)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
    let err = sqlx::query("INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m) VALUES ($1, $2, now(), ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326), -1)")
        .bind(person)
        .bind(device)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION, "negative accuracy");
    sqlx::query("INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m) VALUES ($1, $2, now(), ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326), 10)")
        .bind(person)
        .bind(device)
        .execute(&db.pool)
        .await
        .expect("a plausible fix is accepted");
}

#[tokio::test]
async fn fix_for_an_unknown_device_is_refused_and_duplicates_collide() {
    let db = TestDb::new().await.unwrap();
    let (_, _, _, person, device) = minimal_tree(&db.pool).await;
    let err = sqlx::query("INSERT INTO fixes (person_id, device_id, fixed_at, position) VALUES ($1, $2, now(), ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326))")
        .bind(person)
        .bind(device + 1000)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION);
    let insert = "INSERT INTO fixes (person_id, device_id, fixed_at, position) VALUES ($1, $2, '2026-11-23T08:00:00Z', ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326))";
    sqlx::query(insert).bind(person).bind(device).execute(&db.pool).await.unwrap();
    let err = sqlx::query(insert).bind(person).bind(device).execute(&db.pool).await.unwrap_err();
    assert_eq!(refusal(err).0, "23505", "same device and time is the idempotency key");
}

#[tokio::test]
async fn a_devices_sequence_runs_never_share_a_number() {
    let db = TestDb::new().await.unwrap();
    let (_, _, _, _, device) = minimal_tree(&db.pool).await;
    let insert = |runs: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query(&format!(
                "INSERT INTO fix_sequence_runs (device_id, first_seq, last_seq) SELECT $1, f, l FROM (VALUES {runs}) v(f, l)"
            ))
            .bind(device)
            .execute(&pool)
            .await
        }
    };
    insert("(10, 19)").await.expect("a first run");
    insert("(20, 29), (0, 9)").await.expect("runs beside it");
    for overlapping in ["(19, 19)", "(5, 12)", "(25, 40)", "(0, 100)", "(30, 35), (34, 36)"] {
        let err = insert(overlapping).await.unwrap_err();
        assert_eq!(refusal(err).0, "23505", "{overlapping}");
    }
    insert("(30, 30), (31, 40)").await.expect("after the last");
    let err = insert("(12, 11)").await.unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION, "a run ends at or after its start");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM fix_sequence_runs").fetch_one(&db.pool).await.unwrap();
    assert_eq!(runs, 5);
}

#[tokio::test]
async fn a_fix_cannot_be_orphaned_or_come_from_another_persons_device() {
    let db = TestDb::new().await.unwrap();
    let (_, _, office, person, device) = minimal_tree(&db.pool).await;
    let other: i64 = sqlx::query_scalar(
        "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level)
         VALUES ($1, '李四', 'probation', '2026-01-01', '2027-01-01', 'ordinary') RETURNING id",
    )
    .bind(office)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    // The device is the first person's: a fix of the other person from it is refused.
    let insert = "INSERT INTO fixes (person_id, device_id, fixed_at, position) VALUES ($1, $2, now(), ST_SetSRID(ST_MakePoint(122.2, 40.2), 4326))";
    let err = sqlx::query(insert).bind(other).bind(device).execute(&db.pool).await.unwrap_err();
    assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION);
    let err = sqlx::query("INSERT INTO fix_sequence_runs (device_id, first_seq, last_seq) VALUES ($1, 1, 1)")
        .bind(device + 1000)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION);
    sqlx::query(insert).bind(person).bind(device).execute(&db.pool).await.unwrap();
    let err = sqlx::query("UPDATE fixes SET person_id = $1").bind(other).execute(&db.pool).await.unwrap_err();
    assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION);
    // Nothing a fix refers to can go away or change hands.
    for statement in ["DELETE FROM persons WHERE id = $1", "DELETE FROM devices WHERE person_id = $1"] {
        let err = sqlx::query(statement).bind(person).execute(&db.pool).await.unwrap_err();
        assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION, "{statement}");
    }
    let err = sqlx::query("UPDATE devices SET person_id = $1 WHERE id = $2")
        .bind(other)
        .bind(device)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, FOREIGN_KEY_VIOLATION);
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM fixes").fetch_one(&db.pool).await.unwrap();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn alarm_cannot_be_resolved_without_a_note_and_only_one_stays_open() {
    let db = TestDb::new().await.unwrap();
    let (_, _, office, person, _) = minimal_tree(&db.pool).await;
    let open = "INSERT INTO alarms (person_id, office_id, kind, opened_at) VALUES ($1, $2, 'location_failure', now()) RETURNING id";
    let id: i64 = sqlx::query_scalar(open).bind(person).bind(office).fetch_one(&db.pool).await.unwrap();
    let err = sqlx::query_scalar::<_, i64>(open).bind(person).bind(office).fetch_one(&db.pool).await.unwrap_err();
    assert_eq!(refusal(err).1.as_deref(), Some("alarms_one_open_key"));
    let err = sqlx::query("UPDATE alarms SET state = 'resolved', closed_at = now() WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
}

#[tokio::test]
async fn organisation_tree_shape_is_enforced() {
    let db = TestDb::new().await.unwrap();
    let (city, _, office, _, _) = minimal_tree(&db.pool).await;
    // A second root, an office under the city, a county under an office: all refused.
    let err = sqlx::query("INSERT INTO organisations (kind, name, adcode) VALUES ('county', '无上级', '210899')")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
    let err = sqlx::query("INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, '错位司法所')")
        .bind(city)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
    let err = sqlx::query(
        "INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, '错位区', '210898')",
    )
    .bind(office)
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert_eq!(refusal(err).0, CHECK_VIOLATION);
}

/// Processes are told to drop a cached device when its credential or binding changes, not when
/// ingest records a contact (that would make every report pay a token verification).
#[tokio::test]
async fn device_notifications_come_for_credential_changes_only() {
    let db = TestDb::new().await.unwrap();
    let (_, _, _, _, device) = minimal_tree(&db.pool).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool).await.unwrap();
    listener.listen("cctrack_devices").await.unwrap();
    async fn next(l: &mut sqlx::postgres::PgListener) -> Option<String> {
        let wait = tokio::time::timeout(std::time::Duration::from_millis(700), l.recv());
        wait.await.ok().map(|n| n.unwrap().payload().to_string())
    }
    sqlx::query("UPDATE devices SET last_contact_at = now() WHERE id = $1")
        .bind(device)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(next(&mut listener).await, None, "a contact is not a change of the credential");
    sqlx::query("UPDATE devices SET retired_at = now() WHERE id = $1").bind(device).execute(&db.pool).await.unwrap();
    assert_eq!(next(&mut listener).await, Some(device.to_string()));
}
