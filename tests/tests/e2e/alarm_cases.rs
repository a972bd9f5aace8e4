//! Alarms as cases against a real database: every transition allowed and refused, scope and
//! role, two staff racing to resolve one alarm, the history append-only and in order, and the
//! live feed delivering events from concurrent writers exactly once and in order, across a
//! reconnect.

use std::collections::HashMap;
use std::time::Duration;

use cctrack_tests::TestDb;
use serde_json::json;
use sqlx::PgPool;
use tracker::alarm::events::{EventKind, EventLog, NewEvent};
use tracker::alarm::feed::{self, AlarmFeed};
use tracker::alarm::handling::{self, HandleError};
use tracker::alarm::{Action, Handling, Kind, Note, Outcome, State};
use tracker::staff::{NewStaff, Principal, Role};

struct World {
    db: TestDb,
    office: i64,
    person: i64,
    staff: HashMap<&'static str, Principal>,
}

async fn world() -> World {
    let db = TestDb::new().await.unwrap();
    let q = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let city = q("INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let county: i64 = sqlx::query_scalar("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, '站前区', '210802') RETURNING id")
        .bind(city).fetch_one(&db.pool).await.unwrap();
    let office: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, '跃进司法所') RETURNING id",
    )
    .bind(county)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let other_county: i64 = sqlx::query_scalar("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, '西市区', '210803') RETURNING id")
        .bind(city).fetch_one(&db.pool).await.unwrap();
    let person: i64 = sqlx::query_scalar(
        "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level) VALUES ($1, '张三', 'probation', '2026-01-01', '2027-01-01', 'strict') RETURNING id",
    )
    .bind(office)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut staff = HashMap::new();
    for (name, org, role) in [
        ("li.office", office, Role::OfficeStaff),
        ("chen.office", office, Role::OfficeStaff),
        ("wang.county", county, Role::CountyAdmin),
        ("zhao.other", other_county, Role::CountyAdmin),
        ("audit.city", city, Role::Auditor),
    ] {
        let id = tracker::staff::upsert(
            &db.pool,
            &NewStaff {
                organisation_id: org,
                username: name,
                display_name: name,
                role,
                password: "pass-word-1",
                email: None,
            },
        )
        .await
        .unwrap();
        staff.insert(name, Principal { id, username: name.to_string(), organisation_id: org, role });
    }
    World { db, office, person, staff }
}

/// An open fence-exit alarm of the world's person, with its opening event.
async fn open_alarm(w: &World) -> i64 {
    let mut tx = w.db.pool.begin().await.unwrap();
    let fence: i64 = sqlx::query_scalar(
        "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
         VALUES ($1, $2, '居住地', 'inclusion', 'circle', ST_SetSRID(ST_MakePoint(122.23, 40.66), 4326), 500) RETURNING id",
    )
    .bind(w.person)
    .bind(w.office)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alarms (person_id, office_id, kind, fence_id, opened_at, cause_fixed_at) VALUES ($1, $2, 'fence_exit', $3, now(), now()) RETURNING id",
    )
    .bind(w.person)
    .bind(w.office)
    .bind(fence)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let mut log = EventLog::default();
    log.push(NewEvent {
        alarm_id: Some(id),
        fence_id: Some(fence),
        to_state: Some(State::Open),
        fixed_at: Some(chrono::Utc::now()),
        ..NewEvent::new(EventKind::Opened, w.person, w.office, Kind::FenceExit)
    });
    log.append(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn record(outcome: Outcome, note: &str) -> Handling {
    Handling { outcome, note: Note::parse(note).unwrap() }
}

#[tokio::test]
async fn every_transition_allowed_and_refused_and_the_history_in_order() {
    let w = world().await;
    let pool = &w.db.pool;
    let li = &w.staff["li.office"];

    // open → acknowledged → resolved
    let a = open_alarm(&w).await;
    let case = handling::act(pool, a, li, None, Action::Acknowledge).await.unwrap();
    assert_eq!((case.state.as_str(), case.acknowledged_by.as_deref()), ("acknowledged", Some("li.office")));
    match handling::act(pool, a, &w.staff["chen.office"], None, Action::Acknowledge).await {
        Err(HandleError::AlreadyHandled { state: State::Acknowledged, by: Some(by), .. }) => {
            assert_eq!(by, "li.office")
        }
        other => panic!("a second acknowledgement: {other:?}"),
    }
    let case = handling::act(
        pool,
        a,
        &w.staff["wang.county"],
        None,
        Action::Resolve(record(Outcome::PhoneVerified, "电话核实：本人在家")),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            case.state.as_str(),
            case.closed_by.as_deref(),
            case.outcome.as_deref(),
            case.outcome_label.as_deref(),
            case.handling_note.as_deref()
        ),
        ("resolved", Some("wang.county"), Some("phone_verified"), Some("电话核实"), Some("电话核实：本人在家"))
    );
    // A closed alarm refuses everything, naming who closed it.
    for action in [
        Action::Acknowledge,
        Action::Resolve(record(Outcome::Visited, "又去看了一次")),
        Action::Dismiss(record(Outcome::Other, "重复处置测试")),
    ] {
        match handling::act(pool, a, li, None, action).await {
            Err(HandleError::AlreadyHandled { state: State::Resolved, by: Some(by), .. }) => {
                assert_eq!(by, "wang.county")
            }
            other => panic!("acting on a resolved alarm: {other:?}"),
        }
    }
    let (_, history) = handling::show(pool, a, None).await.unwrap().unwrap();
    let kinds: Vec<(&str, Option<&str>, Option<&str>)> =
        history.iter().map(|e| (e.kind.as_str(), e.by.as_deref(), e.to_state.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            ("opened", None, Some("open")),
            ("acknowledged", Some("li.office"), Some("acknowledged")),
            ("resolved", Some("wang.county"), Some("resolved"))
        ]
    );
    assert!(history.windows(2).all(|p| p[0].position < p[1].position));
    assert_eq!(history[2].details["outcome"], "phone_verified");
    assert_eq!(history[2].note.as_deref(), Some("电话核实：本人在家"));

    // open → dismissed directly, and open → resolved directly.
    let b = open_alarm(&w).await;
    let case = handling::act(pool, b, li, None, Action::Dismiss(record(Outcome::DeviceFault, "信号漂移，本人在家")))
        .await
        .unwrap();
    assert_eq!((case.state.as_str(), case.acknowledged_at), ("dismissed", None));
    let c = open_alarm(&w).await;
    assert_eq!(
        handling::act(pool, c, li, None, Action::Resolve(record(Outcome::Visited, "实地查访，已返回")))
            .await
            .unwrap()
            .state,
        "resolved"
    );

    // Scope and role: another county's staff as for a missing alarm; the auditor reads only.
    let d = open_alarm(&w).await;
    assert!(
        matches!(handling::act(pool, d, &w.staff["zhao.other"], None, Action::Acknowledge).await, Err(HandleError::NotFound(x)) if x == d)
    );
    assert!(matches!(
        handling::act(pool, 999_999, li, None, Action::Acknowledge).await,
        Err(HandleError::NotFound(999_999))
    ));
    assert!(matches!(
        handling::act(pool, d, &w.staff["audit.city"], None, Action::Acknowledge).await,
        Err(HandleError::ReadOnly { .. })
    ));
    assert!(handling::show(pool, d, Some(&w.staff["zhao.other"])).await.unwrap().is_none());
    assert!(handling::show(pool, d, Some(&w.staff["audit.city"])).await.unwrap().is_some());
    let (case, history) = handling::show(pool, d, None).await.unwrap().unwrap();
    assert_eq!((case.state.as_str(), history.len()), ("open", 1), "refused actions left no trace");

    // The database keeps a closed alarm closed only with a record.
    let refused = sqlx::query(
        "UPDATE alarms SET state = 'resolved', closed_at = now(), closed_by = $2, handling_note = '好的' WHERE id = $1",
    )
    .bind(d)
    .bind(li.id)
    .execute(pool)
    .await;
    assert!(refused.is_err(), "no outcome, a two-character note");
}

#[tokio::test]
async fn two_staff_resolving_at_once_one_wins_and_the_other_is_told_by_whom() {
    let w = world().await;
    for round in 0..5 {
        let a = open_alarm(&w).await;
        let (p1, p2) = (w.db.pool.clone(), w.db.pool.clone());
        let (li, chen) = (w.staff["li.office"].clone(), w.staff["chen.office"].clone());
        let one = tokio::spawn(async move {
            handling::act(&p1, a, &li, None, Action::Resolve(record(Outcome::PhoneVerified, "电话核实本人在家"))).await
        });
        let two = tokio::spawn(async move {
            handling::act(&p2, a, &chen, None, Action::Dismiss(record(Outcome::DeviceFault, "设备信号原因误报"))).await
        });
        let results = [one.await.unwrap(), two.await.unwrap()];
        let winners: Vec<&str> =
            results.iter().filter_map(|r| r.as_ref().ok()).map(|c| c.closed_by.as_deref().unwrap()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one succeeds");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        match loser {
            HandleError::AlreadyHandled { by: Some(by), .. } => assert_eq!(by, winners[0], "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
        assert!(loser.to_string().contains(winners[0]), "{loser}");
        let closing: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM alarm_events WHERE alarm_id = $1 AND kind IN ('resolved', 'dismissed')",
        )
        .bind(a)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
        assert_eq!(closing, 1);
    }
}

#[tokio::test]
async fn the_history_cannot_be_rewritten_even_by_cctrack() {
    let w = world().await;
    let a = open_alarm(&w).await;
    handling::act(&w.db.pool, a, &w.staff["li.office"], None, Action::Acknowledge).await.unwrap();
    for sql in [
        "UPDATE alarm_events SET note = 'rewritten'",
        "UPDATE alarm_events SET position = position + 100",
        "DELETE FROM alarm_events",
        "TRUNCATE alarm_events CASCADE",
    ] {
        let err = sqlx::query(sql).execute(&w.db.pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(feed::history(&w.db.pool, a).await.unwrap().len(), 2);
    // A position given by the writer is ignored: the database numbers events itself.
    sqlx::query(
        "INSERT INTO alarm_events (alarm_id, person_id, office_id, alarm_kind, kind, to_state, position) VALUES ($1, $2, $3, 'fence_exit', 'escalated', 'acknowledged', 999)",
    )
    .bind(a)
    .bind(w.person)
    .bind(w.office)
    .execute(&w.db.pool)
    .await
    .unwrap();
    let positions: Vec<i64> = feed::history(&w.db.pool, a).await.unwrap().iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 3]);
}

/// Events from 8 writers whose transactions commit out of the order they began in (each holds
/// its transaction open a random while): a reader following the feed, and one that reconnects
/// half-way, each get every event exactly once, in commit order, each writer's in its order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_delivers_concurrent_writers_events_exactly_once_in_order() {
    const WRITERS: i64 = 8;
    const EVENTS: i64 = 10_000;
    let w = world().await;
    let pool = w.db.pool.clone();
    let follower = tokio::spawn(read(pool.clone(), 0, EVENTS as usize, None));
    let reconnecting = tokio::spawn(read(pool.clone(), 0, EVENTS as usize, Some(EVENTS as usize / 3)));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (pool, person, office) = (pool.clone(), w.person, w.office);
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            let mut rng = writer as u64 * 7919 + 1;
            while n < EVENTS / WRITERS {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let size = (1 + (rng >> 33) % 5).min((EVENTS / WRITERS - n) as u64) as i64;
                let mut tx = pool.begin().await.unwrap();
                let mut log = EventLog::default();
                for _ in 0..size {
                    log.push(NewEvent {
                        details: json!({"writer": writer, "n": n}),
                        ..NewEvent::new(EventKind::ConfirmationRequested, person, office, Kind::FenceExit)
                    });
                    n += 1;
                }
                log.append(&mut tx).await.unwrap();
                if (rng >> 40).is_multiple_of(4) {
                    // Hold the transaction open: others queue behind it, and commit after it.
                    tokio::time::sleep(Duration::from_millis((rng >> 50) % 3)).await;
                }
                if (rng >> 45).is_multiple_of(50) {
                    tx.rollback().await.unwrap(); // a rollback leaves no gap and no event
                    n -= size;
                } else {
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    for wr in writers {
        wr.await.unwrap();
    }
    for reader in [follower.await.unwrap(), reconnecting.await.unwrap()] {
        assert_eq!(reader.len(), EVENTS as usize);
        let positions: Vec<i64> = reader.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(positions, (1..=EVENTS).collect::<Vec<_>>(), "every position once, in order, no gap");
        let mut next = vec![0i64; WRITERS as usize];
        for (_, writer, n) in &reader {
            assert_eq!(*n, next[*writer as usize], "writer {writer}'s events in its order");
            next[*writer as usize] += 1;
        }
    }
    assert_eq!(feed::head(&pool).await.unwrap(), EVENTS);
}

/// Reads `count` events after `after`; with `reconnect_at`, drops the reader after that many
/// and starts a new one from the last position seen (as a restarted consumer would).
async fn read(pool: PgPool, after: i64, count: usize, reconnect_at: Option<usize>) -> Vec<(i64, i64, i64)> {
    let mut feed = AlarmFeed::new(pool.clone(), after);
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        if reconnect_at == Some(got.len()) {
            feed = AlarmFeed::new(pool.clone(), feed.position());
        }
        let e = tokio::time::timeout(Duration::from_secs(60), feed.next()).await.expect("events keep coming").unwrap();
        got.push((e.position, e.details["writer"].as_i64().unwrap(), e.details["n"].as_i64().unwrap()));
    }
    got
}
