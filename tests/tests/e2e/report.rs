//! Reports against a hand-built fixture whose every figure was worked out by hand: the week
//! 2026-W49 runs from Monday 30 November to Sunday 6 December (across a month boundary), with a
//! level changed mid-week, a person released mid-week and one taken in, an alarm open across
//! midnight, alarms closed after the week or after the report's `as_of`, and an office without
//! any request (its ratios are "—"). The XLSX is read back with calamine and its numbers
//! compared; the HTML must not name any external resource.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use cctrack_tests::TestDb;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tracker::person::Level;
use tracker::report::{self, Group, Period, Report};

/// Local (Asia/Shanghai) time as UTC: "2026-12-03 21:00".
fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{}:00+08:00", s.replace(' ', "T"))).unwrap().to_utc()
}

struct Fixture {
    db: TestDb,
    city: i64,
    county: i64,
    office_a: i64,
    office_b: i64,
    office_c: i64,
    p: [i64; 8],
}

async fn id(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await.unwrap();
    let pool = &db.pool;
    let city =
        id(pool, "INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id")
            .await;
    let county = id(pool, &format!("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', {city}, '站前区', '210802') RETURNING id")).await;
    let west = id(pool, &format!("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', {city}, '西市区', '210803') RETURNING id")).await;
    let office_a = id(
        pool,
        &format!(
            "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', {county}, '跃进司法所') RETURNING id"
        ),
    )
    .await;
    let office_b = id(
        pool,
        &format!(
            "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', {county}, '建设司法所') RETURNING id"
        ),
    )
    .await;
    let office_c = id(
        pool,
        &format!(
            "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', {west}, '河北司法所') RETURNING id"
        ),
    )
    .await;
    let staff = id(pool, &format!(
        "INSERT INTO staff (organisation_id, username, display_name, role, password_hash) VALUES ({county}, 'wang.county', '王', 'county_admin', '$argon2id$x') RETURNING id")).await;

    // P1 A 严管; P2 A 宽管 → 普管 on Thursday noon; P3 A 普管 重点; P4 B 普管, released Wednesday
    // noon; P5 B 宽管, taken in Tuesday; P6 C 宽管 (never polled); P7 C released before the week;
    // P0 unused slot.
    let mut p = [0i64; 8];
    for (i, office, level, key, created) in [
        (1, office_a, "strict", None, "2026-11-01 09:00"),
        (2, office_a, "lenient", None, "2026-11-01 09:00"),
        (3, office_a, "ordinary", Some(30i16), "2026-11-01 09:00"),
        (4, office_b, "ordinary", None, "2026-11-01 09:00"),
        (5, office_b, "lenient", None, "2026-12-01 10:00"),
        (6, office_c, "lenient", None, "2026-11-01 09:00"),
        (7, office_c, "lenient", None, "2026-11-01 09:00"),
    ] {
        p[i] = sqlx::query_scalar(
            "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level, is_key, key_interval_min, created_at)
             VALUES ($1, $2, 'probation', '2026-01-01', '2028-01-01', $3, $4, $5, $6) RETURNING id",
        )
        .bind(office)
        .bind(format!("对象{i}"))
        .bind(level)
        .bind(key.is_some())
        .bind(key)
        .bind(t(created))
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO devices (person_id, protocol, enrolment_id, token_hash, enrolled_at) VALUES ($1, 'native', $2, '$argon2id$x', $3)",
        )
        .bind(p[i])
        .bind(format!("device-{i}-x"))
        .bind(t(created))
        .execute(pool)
        .await
        .unwrap();
    }
    let [_, p1, p2, p3, p4, p5, _p6, p7] = p;
    // The level changes through an approved assessment; the history records when.
    exec(pool, &format!("UPDATE persons SET level = 'ordinary' WHERE id = {p2}")).await;
    sqlx::query("UPDATE person_levels SET since = $2 WHERE person_id = $1 AND level = 'ordinary'")
        .bind(p2)
        .bind(t("2026-12-03 12:00"))
        .execute(pool)
        .await
        .unwrap();
    for (person, at) in [(p4, "2026-12-02 12:00"), (p7, "2026-11-20 12:00")] {
        sqlx::query("UPDATE persons SET status = 'released', released_at = $2, next_due_at = NULL WHERE id = $1")
            .bind(person)
            .bind(t(at))
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE persons SET next_due_at = NULL").execute(pool).await.unwrap();

    // Scheduled requests: (person, issued, state, answered or failed at, level, key, office).
    let a = "answered";
    let f = "failed";
    let requests: &[(i64, &str, &str, &str, &str, bool, i64)] = &[
        (p1, "2026-11-30 08:00", a, "2026-11-30 08:05", "strict", false, office_a),
        (p1, "2026-12-02 08:00", a, "2026-12-02 08:05", "strict", false, office_a),
        (p1, "2026-12-04 08:00", f, "2026-12-04 08:30", "strict", false, office_a),
        (p1, "2026-12-05 08:00", a, "2026-12-05 08:05", "strict", false, office_a),
        (p2, "2026-11-30 10:00", a, "2026-11-30 10:05", "lenient", false, office_a),
        (p2, "2026-12-01 10:00", a, "2026-12-01 10:05", "lenient", false, office_a),
        (p2, "2026-12-04 10:00", a, "2026-12-04 10:05", "ordinary", false, office_a),
        (p2, "2026-12-05 10:00", f, "2026-12-05 10:30", "ordinary", false, office_a),
        (p3, "2026-12-02 10:00", f, "2026-12-02 10:30", "ordinary", true, office_a),
        (p3, "2026-12-03 10:00", f, "2026-12-03 10:30", "ordinary", true, office_a),
        (p4, "2026-12-01 09:00", a, "2026-12-01 09:05", "ordinary", false, office_b),
        (p5, "2026-12-06 23:30", a, "2026-12-06 23:35", "lenient", false, office_b),
        // Failed only after the report's as_of: pending as the report sees it.
        (p5, "2026-12-06 23:50", f, "2026-12-07 09:00", "lenient", false, office_b),
        // Outside the week.
        (p1, "2026-11-29 23:00", a, "2026-11-29 23:05", "strict", false, office_a),
        (p1, "2026-12-07 00:30", a, "2026-12-07 00:35", "strict", false, office_a),
    ];
    for (person, issued, state, at, level, key, office) in requests {
        let issued = t(issued);
        let at = t(at);
        sqlx::query(
            "INSERT INTO location_requests (person_id, reason, issued_at, due_at, deadline_at, state, answered_at,
                                            answer_fixed_at, failure_reason, failed_at, level, is_key, office_id)
             VALUES ($1, 'schedule', $2, $2, $2 + interval '15 minutes', $3,
                     CASE WHEN $3 = 'answered' THEN $4::timestamptz END, CASE WHEN $3 = 'answered' THEN $4::timestamptz END,
                     CASE WHEN $3 = 'failed' THEN 'no_fix' END, CASE WHEN $3 = 'failed' THEN $4::timestamptz END, $5, $6, $7)",
        )
        .bind(person)
        .bind(issued)
        .bind(state)
        .bind(at)
        .bind(level)
        .bind(key)
        .bind(office)
        .execute(pool)
        .await
        .unwrap();
    }
    // Neither of these counts: a cancelled request and a confirmation.
    sqlx::query(
        "INSERT INTO location_requests (person_id, reason, issued_at, due_at, deadline_at, state, level, is_key, office_id, confirm_kind)
         VALUES ($1, 'schedule', $2, $2, $2, 'cancelled', 'strict', false, $3, NULL),
                ($1, 'confirm', $2, $2, $2, 'pending', 'strict', false, $3, 'fence_exit')",
    )
    .bind(p1)
    .bind(t("2026-12-03 08:00"))
    .bind(office_a)
    .execute(pool)
    .await
    .unwrap();

    // Fixes: P3 only before the week (never located in it); P5 late on Sunday.
    for (person, at) in [
        (p1, "2026-11-30 08:04"),
        (p1, "2026-12-05 08:04"),
        (p2, "2026-12-01 10:04"),
        (p3, "2026-11-28 10:00"),
        (p4, "2026-12-01 09:04"),
        (p5, "2026-12-06 23:34"),
    ] {
        sqlx::query(
            "INSERT INTO fixes (person_id, device_id, fixed_at, received_at, position)
             SELECT $1, d.id, $2, $2, ST_SetSRID(ST_MakePoint(122.235, 40.667), 4326) FROM devices d WHERE d.person_id = $1",
        )
        .bind(person)
        .bind(t(at))
        .execute(pool)
        .await
        .unwrap();
    }

    let fence = id(pool, &format!(
        "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
         VALUES ({p1}, {office_a}, '居住地', 'inclusion', 'circle', ST_SetSRID(ST_MakePoint(122.235, 40.667), 4326), 3000) RETURNING id")).await;

    // Alarms: (person, office, kind, fence, opened, acknowledged, closed, state, outcome).
    type AlarmRow<'a> =
        (i64, i64, &'a str, Option<i64>, &'a str, Option<&'a str>, Option<&'a str>, &'a str, Option<&'a str>);
    let alarms: &[AlarmRow] = &[
        // L1: 严管, closed within the 30 minutes of the first step.
        (
            p1,
            office_a,
            "fence_exit",
            Some(fence),
            "2026-11-30 10:00",
            Some("2026-11-30 10:10"),
            Some("2026-11-30 10:20"),
            "resolved",
            Some("phone_verified"),
        ),
        // L2: 宽管 at the time (2 h), dismissed as a device fault.
        (
            p2,
            office_a,
            "location_failure",
            None,
            "2026-12-01 09:00",
            Some("2026-12-01 09:30"),
            Some("2026-12-01 10:00"),
            "dismissed",
            Some("device_fault"),
        ),
        // L3: 重点, open across midnight: escalated to the county and the city, overnight.
        (
            p3,
            office_a,
            "device_silent",
            None,
            "2026-12-03 21:00",
            Some("2026-12-03 21:50"),
            Some("2026-12-04 08:00"),
            "resolved",
            Some("visited"),
        ),
        // L4: never handled; overnight by the ladder though no step was planned.
        (p4, office_b, "mock_location", None, "2026-12-02 11:00", None, None, "open", None),
        // L5: opened after 22:00 (overnight 2 h later, after the week), closed after the week.
        (
            p5,
            office_b,
            "leave_overdue",
            None,
            "2026-12-06 23:00",
            None,
            Some("2026-12-07 02:00"),
            "resolved",
            Some("summoned"),
        ),
        // L6: a prompt, not an alarm.
        (p1, office_a, "low_battery", None, "2026-12-02 12:00", None, None, "open", None),
        // L7: opened before the week, its handling record written in it.
        (
            p2,
            office_a,
            "basis_expiring",
            None,
            "2026-11-29 20:00",
            Some("2026-11-29 20:30"),
            Some("2026-11-30 09:00"),
            "resolved",
            Some("warned"),
        ),
        // L8: closed after the report's as_of: open as the report sees it.
        (
            p1,
            office_a,
            "fence_exit",
            Some(fence),
            "2026-12-05 15:00",
            Some("2026-12-05 15:10"),
            Some("2026-12-07 10:00"),
            "resolved",
            Some("admonished"),
        ),
    ];
    let mut ids = Vec::new();
    for (person, office, kind, fence, opened, ack, closed, state, outcome) in alarms {
        let alarm: i64 = sqlx::query_scalar(
            "INSERT INTO alarms (person_id, office_id, kind, fence_id, state, opened_at, acknowledged_at, acknowledged_by,
                                 closed_at, closed_by, handling_note, outcome, outcome_label)
             VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7::timestamptz IS NOT NULL THEN $8::int8 END,
                     $9, CASE WHEN $9::timestamptz IS NOT NULL THEN $8::int8 END,
                     CASE WHEN $9::timestamptz IS NOT NULL THEN '电话核实，已处理' END, $10,
                     CASE $10 WHEN 'phone_verified' THEN '电话核实' WHEN 'device_fault' THEN '设备或信号原因（误报）'
                              WHEN 'visited' THEN '实地查访' WHEN 'summoned' THEN '责令到所报告' WHEN 'warned' THEN '警告'
                              WHEN 'admonished' THEN '训诫' END)
             RETURNING id",
        )
        .bind(person)
        .bind(office)
        .bind(kind)
        .bind(fence)
        .bind(state)
        .bind(t(opened))
        .bind(ack.map(t))
        .bind(staff)
        .bind(closed.map(t))
        .bind(outcome)
        .fetch_one(pool)
        .await
        .unwrap();
        ids.push(alarm);
    }
    // L3's steps, as the scheduler planned and took them.
    for (step, at) in [("county", "2026-12-03 21:30"), ("city", "2026-12-03 22:00"), ("overnight", "2026-12-04 00:00")]
    {
        sqlx::query(
            "INSERT INTO escalation_steps (alarm_id, person_id, step, due_at, taken_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(ids[2])
        .bind(p3)
        .bind(step)
        .bind(t(at))
        .execute(pool)
        .await
        .unwrap();
    }

    // Legal bases: P1's order ends in the week and is extended; P2's consent ends within 7 days
    // after it; P3's later; P4's ends after the release (not listed).
    for (person, kind, starts, ends) in [
        (p1, "order", "2026-09-06 18:00", "2026-12-05 18:00"),
        (p1, "order", "2026-12-05 18:00", "2027-01-05 18:00"),
        (p2, "consent", "2026-06-01 00:00", "2026-12-10 00:00"),
        (p3, "consent", "2026-06-01 00:00", "2026-12-20 00:00"),
        (p4, "consent", "2026-06-01 00:00", "2026-12-05 00:00"),
    ] {
        sqlx::query(
            "INSERT INTO legal_bases (person_id, kind, starts_at, ends_at, document_ref, approved_by, created_at)
             VALUES ($1, $2, $3, $4, '文书', CASE WHEN $2 = 'order' THEN $5::int8 END, $3)",
        )
        .bind(person)
        .bind(kind)
        .bind(t(starts))
        .bind(t(ends))
        .bind(staff)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE persons SET next_due_at = NULL").execute(pool).await.unwrap();

    // Leaves: (person, state, decided, starts, ends, departed, returned, cancelled).
    type LeaveRow<'a> =
        (i64, &'a str, Option<&'a str>, &'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let leaves: &[LeaveRow] = &[
        // Granted in the week, not back by its end: overdue.
        (
            p5,
            "approved",
            Some("2026-12-04 10:00"),
            "2026-12-05 08:00",
            "2026-12-06 20:00",
            Some("2026-12-05 09:00"),
            None,
            None,
        ),
        // Granted before, back in time.
        (
            p1,
            "returned",
            Some("2026-11-25 10:00"),
            "2026-11-28 08:00",
            "2026-12-01 18:00",
            Some("2026-11-28 09:00"),
            Some("2026-12-01 17:00"),
            None,
        ),
        // Still requested.
        (p2, "requested", None, "2026-12-08 08:00", "2026-12-09 18:00", None, None, None),
        // Granted, then cancelled.
        (
            p2,
            "cancelled",
            Some("2026-12-02 10:00"),
            "2026-12-12 08:00",
            "2026-12-13 18:00",
            None,
            None,
            Some("2026-12-03 10:00"),
        ),
    ];
    for (person, state, decided, starts, ends, departed, returned, cancelled) in leaves {
        sqlx::query(
            "INSERT INTO leaves (person_id, reason, destination, starts_at, ends_at, state, decided_by, decided_at,
                                 departed_at, returned_at, cancelled_at)
             VALUES ($1, '探亲', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(121.6, 38.9), 4326), 0.01)), $2, $3, $4,
                     CASE WHEN $5::timestamptz IS NOT NULL THEN $6::int8 END, $5, $7, $8, $9)",
        )
        .bind(person)
        .bind(t(starts))
        .bind(t(ends))
        .bind(state)
        .bind(decided.map(t))
        .bind(staff)
        .bind(departed.map(t))
        .bind(returned.map(t))
        .bind(cancelled.map(t))
        .execute(pool)
        .await
        .unwrap();
    }
    Fixture { db, city, county, office_a, office_b, office_c, p }
}

const AS_OF: &str = "2026-12-07 08:00";

async fn week(fx: &Fixture, scope: i64) -> Report {
    report::build(&fx.db.pool, scope, &Period::parse("2026-W49").unwrap(), t(AS_OF)).await.unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn a_week_across_a_month_boundary_has_the_figures_worked_out_by_hand() {
    let fx = fixture().await;
    let r = week(&fx, fx.city).await;
    assert_eq!(r.title(), "《营口市社区矫正电子监管周报（2026年第49周）》");
    let (a, b, c) = (Group::Office(fx.office_a), Group::Office(fx.office_b), Group::Office(fx.office_c));

    // Persons at the week's end: P1 严管, P2 普管 (changed Thursday), P3 普管 重点, P5 宽管 (new),
    // P6 宽管; P4 released Wednesday as 普管; P7 released before.
    let total = r.persons.total();
    assert_eq!(
        (total.in_supervision, total.lenient, total.ordinary, total.strict, total.key, total.admitted, total.released),
        (5, 2, 2, 1, 1, 1, 1)
    );
    assert_eq!(r.persons.get(a).unwrap().in_supervision, 3);
    assert_eq!((r.persons.get(b).unwrap().in_supervision, r.persons.get(b).unwrap().released), (1, 1));
    assert_eq!(r.persons.get(Group::Level(Level::Ordinary)).unwrap().released, 1);
    assert_eq!(r.persons.get(Group::Level(Level::Lenient)).unwrap().admitted, 1);
    assert_eq!(r.persons.get(Group::County(fx.county)).unwrap().in_supervision, 4);

    // Requests: 13 in the week, 8 answered, 4 failed, 1 still pending at as_of.
    let q = r.requests.total();
    assert_eq!((q.issued, q.answered, q.failed, q.pending), (13, 8, 4, 1));
    assert!(close(q.success_rate, 8.0 / 13.0));
    assert!(close(r.requests.get(a).unwrap().success_rate, 0.6));
    assert!(close(r.requests.get(b).unwrap().success_rate, 2.0 / 3.0));
    assert_eq!(r.requests.get(c).unwrap().success_rate, None, "no request: no rate");
    assert!(close(r.requests.get(Group::Level(Level::Strict)).unwrap().success_rate, 0.75));
    assert_eq!(r.requests.get(Group::Level(Level::Lenient)).unwrap().issued, 4, "P2 before the change, and P5");
    assert_eq!(r.requests.get(Group::Level(Level::Ordinary)).unwrap().issued, 5);
    assert!(close(r.requests.get(Group::Key).unwrap().success_rate, 0.0));

    // 定位率: P1, P2, P4, P5 located; P3 (重点) not.
    let cov = r.coverage.total();
    assert_eq!((cov.due, cov.located), (5, 4));
    assert!(close(cov.coverage, 0.8));
    assert!(close(r.coverage.get(a).unwrap().coverage, 2.0 / 3.0));
    assert!(close(r.coverage.get(b).unwrap().coverage, 1.0));
    assert_eq!(r.coverage.get(c).unwrap().coverage, None);
    assert!(close(r.coverage.get(Group::Key).unwrap().coverage, 0.0));
    assert_eq!(r.shortfalls.len(), 1);
    let s = &r.shortfalls[0];
    assert_eq!(
        (s.person_id, s.is_key, s.requests, s.failed, s.last_fix_at),
        (fx.p[3], true, 2, 2, Some(t("2026-11-28 10:00")))
    );

    // Alarms: L1, L2, L3, L4, L5, L8 (not the prompt, not L7 opened before the week).
    let al = r.alarms.total();
    assert_eq!((al.raised, al.acknowledged, al.handled, al.dismissed, al.timely), (6, 5, 4, 1, 2));
    assert_eq!((al.to_county, al.to_city, al.overnight), (1, 1, 4));
    assert!(close(al.ack_median, 30.0), "{:?}", al.ack_median);
    assert!(close(al.ack_p90, 128.0), "{:?}", al.ack_p90);
    assert!(close(al.resolve_median, 120.0), "{:?}", al.resolve_median);
    assert!(close(al.resolve_p90, 516.0), "{:?}", al.resolve_p90);
    assert!(close(al.handled_rate, 4.0 / 6.0));
    assert!(close(al.timely_rate, 2.0 / 6.0));
    assert!(close(al.false_rate, 1.0 / 6.0));
    let aa = r.alarms.get(a).unwrap();
    assert_eq!((aa.raised, aa.handled, aa.timely, aa.overnight), (4, 3, 2, 2));
    let ab = r.alarms.get(b).unwrap();
    assert_eq!((ab.raised, ab.handled, ab.timely, ab.overnight), (2, 1, 0, 2));
    let ac = r.alarms.get(c).unwrap();
    assert_eq!((ac.raised, ac.handled_rate, ac.timely_rate, ac.resolve_median), (0, None, None, None));
    assert_eq!(r.alarms.get(Group::Level(Level::Lenient)).unwrap().raised, 2, "L2 opened while P2 was 宽管");
    assert_eq!(r.alarms.get(Group::Key).unwrap().raised, 1);
    let kinds: Vec<(&str, i64, i64)> = r.alarm_kinds.iter().map(|k| (k.kind.as_str(), k.raised, k.open)).collect();
    assert_eq!(
        kinds,
        [
            ("fence_exit", 2, 1),
            ("exclusion_entry", 0, 0),
            ("curfew", 0, 0),
            ("location_failure", 1, 0),
            ("device_silent", 1, 0),
            ("leave_overdue", 1, 0),
            ("basis_expiring", 0, 0),
            ("mock_location", 1, 1),
        ]
    );
    // The alarm open across midnight counts on the day it opened.
    let days: Vec<(String, &str, i64)> =
        r.alarms_per_day.iter().map(|d| (d.day.to_string(), d.kind.as_str(), d.count)).collect();
    assert_eq!(
        days,
        [
            ("2026-11-30".to_string(), "fence_exit", 1),
            ("2026-12-01".to_string(), "location_failure", 1),
            ("2026-12-02".to_string(), "mock_location", 1),
            ("2026-12-03".to_string(), "device_silent", 1),
            ("2026-12-05".to_string(), "fence_exit", 1),
            ("2026-12-06".to_string(), "leave_overdue", 1),
        ]
    );

    // Handling records written in the week: L7, L1, L2, L3.
    let outcomes: Vec<(Option<&str>, i64, i64)> =
        r.outcomes.iter().map(|o| (o.outcome.as_deref(), o.records, o.dismissed)).collect();
    assert_eq!(
        outcomes,
        [(Some("device_fault"), 1, 1), (Some("phone_verified"), 1, 0), (Some("visited"), 1, 0), (Some("warned"), 1, 0)]
    );

    let bases: Vec<(i64, &str, bool)> =
        r.bases_expiring.iter().map(|b| (b.person_id, b.kind.as_str(), b.renewed)).collect();
    assert_eq!(bases, [(fx.p[1], "order", true), (fx.p[2], "consent", false)]);
    let lv = r.leaves.total();
    assert_eq!((lv.granted, lv.ended, lv.overdue), (2, 2, 1));
    assert_eq!(r.leaves.get(b).unwrap().overdue, 1);

    // Ranking: C has nothing to fail (100), A 50×0.6 + 20×2/3 + 30×0.5 − 10, B 50×2/3 + 20 + 0 − 10.
    let ranking: Vec<(usize, i64, &str)> =
        r.ranking.iter().map(|x| (x.rank, x.organisation_id, x.verdict.label_zh())).collect();
    assert_eq!(ranking, [(1, fx.office_c, "通报表扬"), (2, fx.office_a, ""), (3, fx.office_b, "通报批评")]);
    assert!((r.ranking[1].score - (30.0 + 40.0 / 3.0 + 15.0 - 10.0)).abs() < 1e-9);
    assert!((r.ranking[2].score - (100.0 / 3.0 + 20.0 - 10.0)).abs() < 1e-9);

    // The time-to-resolve distribution counts every alarm closed by as_of, once.
    let bucketed: i64 = r.resolve_times.iter().map(|b| b.count).sum();
    assert_eq!(bucketed, r.alarms.total().handled);
    assert_eq!(r.resolve_times.len(), report::alarms::RESOLVE_BUCKETS.len());

    // The same report built again is the same: nothing after as_of counts.
    let again = week(&fx, fx.city).await;
    assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&r).unwrap());
}

#[tokio::test]
async fn a_county_or_an_office_sees_its_own_subtree() {
    let fx = fixture().await;
    let r = week(&fx, fx.county).await;
    assert_eq!(r.title(), "《营口市站前区社区矫正电子监管周报（2026年第49周）》");
    assert_eq!(r.scope.offices.len(), 2);
    assert_eq!((r.persons.total().in_supervision, r.requests.total().issued, r.alarms.total().raised), (4, 13, 6));
    let o = week(&fx, fx.office_b).await;
    assert_eq!(o.title(), "《站前区建设司法所社区矫正电子监管周报（2026年第49周）》");
    assert_eq!(o.scope.counties.len(), 1, "an office's report names its county");
    assert_eq!((o.requests.total().issued, o.alarms.total().raised, o.ranking.len()), (3, 2, 1));
    let missing = report::build(&fx.db.pool, 999_999, &Period::parse("2026-W49").unwrap(), t(AS_OF)).await;
    assert!(matches!(missing, Err(report::ReportError::NoSuchOrganisation(999_999))));
    let future = report::build(&fx.db.pool, fx.city, &Period::parse("2026-W51").unwrap(), t(AS_OF)).await;
    assert!(matches!(future, Err(report::ReportError::NotBegun { .. })));
}

fn cell<'a>(rows: &'a [Vec<Data>], row_name: &str, header: &str) -> &'a Data {
    let col = rows[0].iter().position(|h| h == &Data::String(header.to_string())).unwrap_or_else(|| panic!("{header}"));
    let row = rows.iter().find(|r| r.iter().take(2).any(|c| c == &Data::String(row_name.to_string()))).unwrap();
    &row[col]
}

fn number(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[tokio::test]
async fn the_workbook_read_back_has_the_same_numbers_and_the_page_fetches_nothing() {
    let fx = fixture().await;
    let r = week(&fx, fx.city).await;
    let bytes = report::render::xlsx(&r).unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let names = book.sheet_names();
    for want in [
        "概要",
        "在册人员",
        "定位成功率",
        "定位率",
        "定位缺失名单",
        "报警分类",
        "报警处置",
        "处置记录",
        "司法所排名",
        "指标说明",
    ] {
        assert!(names.iter().any(|n| n == want), "sheet {want} in {names:?}");
    }
    let sheet = |book: &mut Xlsx<_>, name: &str| -> Vec<Vec<Data>> {
        book.worksheet_range(name).unwrap().rows().map(|r| r.to_vec()).collect()
    };
    let requests = sheet(&mut book, "定位成功率");
    assert_eq!(number(cell(&requests, "合计", "发出")), 13.0);
    assert_eq!(number(cell(&requests, "合计", "应答")), 8.0);
    assert!((number(cell(&requests, "合计", "定位成功率")) - 8.0 / 13.0).abs() < 1e-12);
    assert!((number(cell(&requests, "跃进司法所", "定位成功率")) - 0.6).abs() < 1e-12);
    assert_eq!(cell(&requests, "河北司法所", "定位成功率"), &Data::String("—".into()));
    let coverage = sheet(&mut book, "定位率");
    assert!((number(cell(&coverage, "合计", "定位率")) - 0.8).abs() < 1e-12);
    assert_eq!(cell(&coverage, "重点", "是否达标"), &Data::String("未达标".into()));
    assert_eq!(number(cell(&coverage, "重点", "目标")), 1.0);
    let alarms = sheet(&mut book, "报警处置");
    assert_eq!(number(cell(&alarms, "合计", "报警数")), 6.0);
    assert_eq!(number(cell(&alarms, "合计", "过夜")), 4.0);
    assert!((number(cell(&alarms, "合计", "处置用时中位数（分钟）")) - 120.0).abs() < 1e-9);
    assert!((number(cell(&alarms, "合计", "处置及时率")) - 1.0 / 3.0).abs() < 1e-12);
    let persons = sheet(&mut book, "在册人员");
    assert_eq!(number(cell(&persons, "合计", "期末在册")), 5.0);
    assert_eq!(number(cell(&persons, "建设司法所", "本期解矫")), 1.0);
    let summary = sheet(&mut book, "概要");
    assert_eq!(summary[1][1], Data::String(r.title()));
    let defs = sheet(&mut book, "指标说明");
    assert!(defs.iter().any(|row| row[0] == Data::String("定位成功率".into())));

    let page = report::render::html(&r);
    assert!(page.contains("《营口市社区矫正电子监管周报（2026年第49周）》"));
    assert!(page.contains("<svg") && page.contains("定位成功率") && page.contains("定位率"));
    assert!(page.contains("61.5%"), "8 of 13 answered");
    for external in ["http:", "https:", "//", "src=", "<link", "url(", "@import", "<script"] {
        assert!(!page.contains(external), "the page names {external:?}");
    }
    for d in tracker::report::definitions() {
        assert!(page.contains(d.text), "the appendix defines {}", d.term);
    }
}

#[tokio::test]
async fn a_period_without_requests_or_alarms_shows_dashes_not_a_division_by_zero() {
    let fx = fixture().await;
    let r = report::build(&fx.db.pool, fx.city, &Period::parse("2026-11-23").unwrap(), t(AS_OF)).await.unwrap();
    assert_eq!(r.title(), "《营口市社区矫正电子监管日报（2026年11月23日）》");
    assert_eq!(r.persons.total().in_supervision, 5, "P7 was released on the 20th, P5 not yet taken in");
    assert_eq!((r.requests.total().issued, r.requests.total().success_rate), (0, None));
    assert_eq!((r.coverage.total().due, r.coverage.total().coverage), (0, None));
    let a = r.alarms.total();
    assert_eq!(
        (a.raised, a.handled_rate, a.timely_rate, a.false_rate, a.ack_median, a.resolve_p90),
        (0, None, None, None, None, None)
    );
    assert!(r.ranking.iter().all(|x| x.score == 100.0));
    let page = report::render::html(&r);
    assert!(page.contains("本期无报警"));
    assert!(!page.contains("NaN"));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(report::render::xlsx(&r).unwrap())).unwrap();
    let rows: Vec<Vec<Data>> = book.worksheet_range("定位成功率").unwrap().rows().map(|r| r.to_vec()).collect();
    assert_eq!(cell(&rows, "合计", "定位成功率"), &Data::String("—".into()));
    assert_eq!(number(cell(&rows, "合计", "发出")), 0.0);
}

/// Keeps a ranking row of an earlier week as its bulletin published it.
async fn kept(fx: &Fixture, week_start: &str, office: i64, verdict: &str) {
    let start = t(&format!("{week_start} 00:00"));
    sqlx::query(
        "INSERT INTO rankings (kind, period_start, period_end, organisation_id, unit, rank, ranked, score, verdict)
         VALUES ('weekly', $1, $2, $3, 'office', 1, 3, 50, $4)",
    )
    .bind(start)
    .bind(start + chrono::Duration::weeks(1))
    .bind(office)
    .bind(verdict)
    .execute(&fx.db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn kept_rankings_count_the_weeks_in_a_row_an_office_was_criticised_and_call_a_talk_at_three() {
    let fx = fixture().await;
    // W48 (Nov 23) and W47 (Nov 16) were kept: B criticised in both, A only in W48; C praised.
    kept(&fx, "2026-11-16", fx.office_b, "criticised").await;
    kept(&fx, "2026-11-16", fx.office_a, "none").await;
    kept(&fx, "2026-11-23", fx.office_b, "criticised").await;
    kept(&fx, "2026-11-23", fx.office_a, "criticised").await;
    kept(&fx, "2026-11-23", fx.office_c, "praised").await;
    let r = week(&fx, fx.city).await;
    let streaks: Vec<(i64, Option<u32>, bool)> =
        r.ranking.iter().map(|x| (x.organisation_id, x.criticised_streak, x.talk())).collect();
    // W49: C praised, A in the middle (its streak ends), B criticised a third week in a row.
    assert_eq!(streaks, [(fx.office_c, Some(0), false), (fx.office_a, Some(0), false), (fx.office_b, Some(3), true)]);
    let talk = report::render::tables(&r).into_iter().find(|t| t.sheet == "司法所排名").unwrap();
    assert!(talk.headers.contains(&"连续通报批评期数") && talk.headers.contains(&"约谈"));
    assert!(talk.note.as_deref().unwrap_or("").contains("建设司法所"), "{:?}", talk.note);
    // Counties are ranked in the city's report: 站前区 (with A and B) and 西市区 (with C).
    assert_eq!(r.county_ranking.len(), 2);
    assert!(report::render::tables(&r).iter().any(|t| t.sheet == "区县排名"));

    // A week missing from the kept ones breaks the run: W47 not kept, B is at two.
    sqlx::query("DELETE FROM rankings WHERE period_start = $1")
        .bind(t("2026-11-16 00:00"))
        .execute(&fx.db.pool)
        .await
        .unwrap();
    let r = week(&fx, fx.city).await;
    assert_eq!(r.ranking[2].criticised_streak, Some(2));
    assert!(!r.ranking[2].talk());
    // A county's own report ranks its offices without the city's history.
    assert!(week(&fx, fx.county).await.ranking.iter().all(|x| x.criticised_streak.is_none()));

    // Storing the city's bulletin keeps its ranking (offices and counties), replacing a rerun's.
    let new = |r| tracker::report::store::NewReport::of(r, "2026-W49").unwrap().expect("a week's report is kept");
    let first = tracker::report::store::store(&fx.db.pool, &new(&r), &["a@x.cn".into()], t(AS_OF)).await.unwrap();
    let again = tracker::report::store::store(&fx.db.pool, &new(&r), &["a@x.cn".into(), "b@x.cn".into()], t(AS_OF))
        .await
        .unwrap();
    assert_eq!(first, again, "one report per kind, organisation and period");
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT unit, count(*), string_agg(verdict, ',' ORDER BY rank) FROM rankings WHERE period_start = $1
         GROUP BY unit ORDER BY unit",
    )
    .bind(t("2026-11-30 00:00"))
    .fetch_all(&fx.db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("county".to_string(), 2, "praised,criticised".to_string()),
            ("office".to_string(), 3, "praised,none,criticised".to_string())
        ]
    );
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM report_mails WHERE report_id = $1")
        .bind(first)
        .fetch_one(&fx.db.pool)
        .await
        .unwrap();
    assert_eq!(mails, 2, "a rerun queues only the recipient not queued before");
}
