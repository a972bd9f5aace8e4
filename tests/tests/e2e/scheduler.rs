//! The scheduler against a real database, on a hand-set clock (never waiting real hours):
//! each level's interval, answered and failed requests, contact without a fix and silence, an
//! overdue leave without fixes, an expiring order and polling stopping and starting again, each
//! escalation step exactly at its threshold (22:00, midnight across a day boundary), two
//! schedulers racing, a leader lost mid-step, e-mail to a real SMTP server (refusing, then
//! recovering), and the carrier gateway of the simulator.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use cctrack_tests::TestDb;
use chrono::{DateTime, Duration, DurationRound, Utc};
use scheduler::clock::{Clock, ManualClock};
use scheduler::config::{MailConfig, SchedulerConfig, SmtpConfig, SmtpSecurity};
use scheduler::Scheduler;
use serde_json::json;
use tracker::alarm::events::{EventKind, EventLog, NewEvent};
use tracker::alarm::{Kind, State};
use tracker::ingest::fix::{RawFix, NATIVE_FIELDS};
use tracker::ingest::{Ingestor, Job};

struct World {
    db: TestDb,
    office: i64,
    /// Each person's home area (alarms about a fence need one).
    fences: HashMap<i64, i64>,
    /// 严管, 宽管, and 重点 every 30 minutes (普管).
    strict: i64,
    lenient: i64,
    key: i64,
    devices: HashMap<i64, i64>,
    ingestor: Arc<Ingestor>,
    clock: Arc<ManualClock>,
}

/// Local (Asia/Shanghai) time as UTC.
fn local(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+08:00")).unwrap().to_utc()
}

async fn world() -> World {
    let db = TestDb::new().await.unwrap();
    let p = &db.pool;
    let city: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id",
    )
    .fetch_one(p)
    .await
    .unwrap();
    let county: i64 = sqlx::query_scalar("INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, '站前区', '210802') RETURNING id")
        .bind(city).fetch_one(p).await.unwrap();
    let office: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, '跃进司法所') RETURNING id",
    )
    .bind(county)
    .fetch_one(p)
    .await
    .unwrap();
    for (org, name, role, email) in [
        (county, "wang.county", "county_admin", "county@sfj.example.cn"),
        (city, "zhou.city", "city_admin", "city@sfj.example.cn"),
    ] {
        let id = tracker::staff::upsert(
            p,
            &tracker::staff::NewStaff {
                organisation_id: org,
                username: name,
                display_name: name,
                role: if role == "city_admin" {
                    tracker::staff::Role::CityAdmin
                } else {
                    tracker::staff::Role::CountyAdmin
                },
                password: "pass-word-1",
                email: Some(email),
            },
        )
        .await
        .unwrap();
        assert!(id > 0);
    }
    let mut ids = Vec::new();
    for (name, level, key) in
        [("严管对象", "strict", None), ("宽管对象", "lenient", None), ("重点对象", "ordinary", Some(30i16))]
    {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level, is_key, key_interval_min)
             VALUES ($1, $2, 'probation', '2026-01-01', '2028-01-01', $3, $4, $5) RETURNING id",
        )
        .bind(office).bind(name).bind(level).bind(key.is_some()).bind(key)
        .fetch_one(p).await.unwrap();
        sqlx::query("INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) VALUES ($1, 'consent', now() - interval '30 days', '承诺书')")
            .bind(id).execute(p).await.unwrap();
        ids.push(id);
    }
    let mut fences = HashMap::new();
    for &id in &ids {
        let f: i64 = sqlx::query_scalar(
            "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
             VALUES ($1, $2, '居住地', 'inclusion', 'circle', ST_SetSRID(ST_MakePoint(122.235, 40.667), 4326), 3000) RETURNING id",
        )
        .bind(id).bind(office).fetch_one(p).await.unwrap();
        fences.insert(id, f);
    }
    let mut devices = HashMap::new();
    for &id in &ids {
        let e = tracker::device::enrol(
            p,
            id,
            tracker::device::Protocol::Native,
            geofence::crs::Crs::Wgs84,
            &tracker::audit::Actor::default(),
        )
        .await
        .unwrap();
        sqlx::query("UPDATE devices SET enrolled_at = now() - interval '2 days' WHERE id = $1")
            .bind(e.device_id)
            .execute(p)
            .await
            .unwrap();
        devices.insert(id, e.device_id);
    }
    // Nobody is due until a test says so.
    sqlx::query("UPDATE persons SET next_due_at = NULL").execute(p).await.unwrap();
    let ingestor = Arc::new(Ingestor::start(db.pool.clone(), Default::default()));
    let clock = Arc::new(ManualClock::new(Utc::now().duration_trunc(Duration::minutes(1)).unwrap()));
    World { strict: ids[0], lenient: ids[1], key: ids[2], office, fences, devices, ingestor, clock, db }
}

impl World {
    fn scheduler(&self, config: SchedulerConfig) -> Scheduler {
        let mailer: Arc<dyn scheduler::mail::Mailer> = scheduler::mail::mailer(&config.mail).unwrap().into();
        Scheduler::new(self.db.pool.clone(), self.clock.clone(), config, self.ingestor.clone(), None, mailer)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Sets the clock to a weekday morning (Wednesday 2 December 2026, 10:00 in Beijing), so an
    /// alarm opened within the hour before meets the county step alone whatever the hour the
    /// test runs at: one opened from 22:00 on goes to the city with the county.
    fn set_weekday_morning(&self) {
        self.clock.set(local("2026-12-02T10:00:00"));
    }

    async fn fix(&self, person: i64, at: DateTime<Utc>) {
        let device = tracker::device::info(&self.db.pool, self.devices[&person]).await.unwrap().unwrap();
        let raw = RawFix {
            time: Some(at),
            lat: Some(40.667),
            lon: Some(122.235),
            accuracy_m: Some(10.0),
            ..RawFix::default()
        };
        let r = self
            .ingestor
            .ingest(Job { device, decoded: vec![Ok(raw)], names: NATIVE_FIELDS, indexed: true })
            .await
            .unwrap();
        assert_eq!(r.accepted, 1, "{r:?}");
    }

    async fn scalar<T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin>(
        &self,
        sql: &str,
        id: i64,
    ) -> T {
        sqlx::query_scalar(sql).bind(id).fetch_one(&self.db.pool).await.unwrap()
    }

    async fn alarm_kinds(&self, person: i64) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM alarms WHERE person_id = $1 ORDER BY id")
            .bind(person)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    /// An open alarm of `person` opened at `opened_at`, as ingest would open it.
    async fn alarm(&self, person: i64, kind: Kind, opened_at: DateTime<Utc>) -> i64 {
        let mut tx = self.db.pool.begin().await.unwrap();
        let fence = matches!(kind, Kind::FenceExit | Kind::ExclusionEntry | Kind::Curfew).then(|| self.fences[&person]);
        let id: i64 = sqlx::query_scalar("INSERT INTO alarms (person_id, office_id, kind, fence_id, opened_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(person).bind(self.office).bind(kind.as_str()).bind(fence).bind(opened_at)
            .fetch_one(&mut *tx).await.unwrap();
        let mut log = EventLog::default();
        log.push(NewEvent {
            alarm_id: Some(id),
            fence_id: fence,
            to_state: Some(State::Open),
            ..NewEvent::new(EventKind::Opened, person, self.office, kind)
        });
        log.append(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn history(&self, alarm: i64) -> Vec<String> {
        tracker::alarm::feed::history(&self.db.pool, alarm).await.unwrap().into_iter().map(|e| e.kind).collect()
    }
}

#[tokio::test]
async fn each_level_is_polled_on_its_interval_and_failures_raise_the_right_alarm() {
    let w = world().await;
    let s = w.scheduler(SchedulerConfig::default());
    let t0 = w.now();
    sqlx::query("UPDATE persons SET next_due_at = $1").bind(t0).execute(&w.db.pool).await.unwrap();
    let r = s.tick().await.unwrap();
    assert_eq!(r.issued, 3);
    for (person, every) in
        [(w.strict, Duration::hours(3)), (w.lenient, Duration::hours(12)), (w.key, Duration::minutes(30))]
    {
        let next: DateTime<Utc> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", person).await;
        assert_eq!(next, t0 + every, "person {person}");
    }
    assert_eq!(s.tick().await.unwrap().issued, 0, "nothing is due twice");
    // 严管 answers with a fix; 宽管's phone is in contact but sends no fix; 重点's phone is silent.
    w.fix(w.strict, t0 + Duration::minutes(5)).await;
    sqlx::query("UPDATE devices SET last_contact_at = $2 WHERE id = $1")
        .bind(w.devices[&w.lenient])
        .bind(t0 + Duration::minutes(1))
        .execute(&w.db.pool)
        .await
        .unwrap();
    w.clock.set(t0 + Duration::minutes(15));
    assert_eq!(s.tick().await.unwrap().failed, 0, "a fix at the deadline would still answer");
    w.clock.set(t0 + Duration::minutes(15) + Duration::seconds(1));
    let r = s.tick().await.unwrap();
    assert_eq!((r.failed, r.alarms_raised), (2, 2));
    let outcomes: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT person_id, state, failure_reason FROM location_requests ORDER BY person_id")
            .fetch_all(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        vec![
            (w.strict, "answered".into(), None),
            (w.lenient, "failed".into(), Some("no_fix".into())),
            (w.key, "failed".into(), Some("no_contact".into())),
        ]
    );
    assert!(w.alarm_kinds(w.strict).await.is_empty());
    assert_eq!(w.alarm_kinds(w.lenient).await, ["location_failure"], "in contact, no fix");
    // Silent since its enrolment two days ago: more than two of its 30-minute intervals.
    assert_eq!(w.alarm_kinds(w.key).await, ["device_silent"]);
    // 重点 is due again after 30 minutes; its next failure adds no second silence alarm.
    w.clock.set(t0 + Duration::minutes(30));
    assert_eq!(s.tick().await.unwrap().issued, 1);
    w.clock.set(t0 + Duration::minutes(46));
    let r = s.tick().await.unwrap();
    assert_eq!((r.failed, r.alarms_raised), (1, 0), "one open alarm per subject");
    // A level change takes effect from the next due time, without losing the current one.
    sqlx::query("UPDATE persons SET level = 'strict' WHERE id = $1").bind(w.lenient).execute(&w.db.pool).await.unwrap();
    w.clock.set(t0 + Duration::hours(12));
    s.tick().await.unwrap();
    let next: DateTime<Utc> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", w.lenient).await;
    assert_eq!(next, t0 + Duration::hours(15), "12 h as 宽管 this time, 3 h as 严管 from now on");
    // After a long outage a person is polled once, not once per missed interval.
    w.clock.set(t0 + Duration::days(3));
    let r = s.tick().await.unwrap();
    assert_eq!(r.issued, 3);
    let next: DateTime<Utc> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", w.key).await;
    assert_eq!(next, t0 + Duration::days(3) + Duration::minutes(30));
}

#[tokio::test]
async fn an_overdue_leave_without_fixes_an_expiring_order_and_polling_stopping_and_starting() {
    let w = world().await;
    let s = w.scheduler(SchedulerConfig::default());
    let t0 = w.now();
    let p = &w.db.pool;
    let approver: i64 =
        sqlx::query_scalar("SELECT id FROM staff WHERE username = 'wang.county'").fetch_one(p).await.unwrap();
    // A leave the strict person departed on, ended an hour ago, and no fix since.
    sqlx::query(
        "INSERT INTO leaves (person_id, reason, destination, starts_at, ends_at, state, decided_by, decided_at, departed_at)
         VALUES ($1, '探亲', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(121.9, 40.5), 4326), 0.01)), $2, $3, 'approved', $4, $2, $2)",
    )
    .bind(w.strict).bind(t0 - Duration::hours(8)).bind(t0 - Duration::hours(1)).bind(approver)
    .execute(p).await.unwrap();
    // A positioning order of the lenient person ending in six days (their consent withdrawn: the
    // order is their only basis), and one of the key person ending in six days but followed by
    // an extension.
    sqlx::query("UPDATE legal_bases SET revoked_at = now() WHERE person_id = $1")
        .bind(w.lenient)
        .execute(p)
        .await
        .unwrap();
    for (person, extended) in [(w.lenient, false), (w.key, true)] {
        sqlx::query("INSERT INTO legal_bases (person_id, kind, starts_at, ends_at, document_ref, approved_by) VALUES ($1, 'order', $2, $3, '决定书', $4)")
            .bind(person).bind(t0 - Duration::days(80)).bind(t0 + Duration::days(6)).bind(approver).execute(p).await.unwrap();
        if extended {
            sqlx::query("INSERT INTO legal_bases (person_id, kind, starts_at, ends_at, document_ref, approved_by) VALUES ($1, 'order', $2, $3, '延长决定书', $4)")
                .bind(person).bind(t0 + Duration::days(6)).bind(t0 + Duration::days(90)).bind(approver).execute(p).await.unwrap();
        }
    }
    let r = s.tick().await.unwrap();
    assert_eq!(r.alarms_raised, 2);
    assert_eq!(w.alarm_kinds(w.strict).await, ["leave_overdue"]);
    assert_eq!(w.alarm_kinds(w.lenient).await, ["basis_expiring"]);
    assert!(w.alarm_kinds(w.key).await.is_empty(), "an extended order is not expiring");
    assert_eq!(s.tick().await.unwrap().alarms_raised, 0, "each case is raised once");

    // Polling stops when no basis is in force at a due time, and starts again with a new one.
    sqlx::query("UPDATE legal_bases SET revoked_at = now() WHERE person_id = $1")
        .bind(w.strict)
        .execute(p)
        .await
        .unwrap();
    sqlx::query("UPDATE persons SET next_due_at = $2 WHERE id = $1").bind(w.strict).bind(t0).execute(p).await.unwrap();
    assert_eq!(s.tick().await.unwrap().issued, 0);
    let next: Option<DateTime<Utc>> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", w.strict).await;
    assert_eq!(next, None, "polling stopped");
    sqlx::query(
        "INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) VALUES ($1, 'consent', now(), '新承诺书')",
    )
    .bind(w.strict)
    .execute(p)
    .await
    .unwrap();
    let next: Option<DateTime<Utc>> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", w.strict).await;
    assert!(next.is_some(), "a new basis starts polling again");

    // A gap between two orders, the second recorded while the first was in force: polling pauses
    // at the gap and resumes when the second starts.
    sqlx::query("UPDATE legal_bases SET revoked_at = now() WHERE person_id = $1").bind(w.key).execute(p).await.unwrap();
    for (from, to) in
        [(t0 - Duration::days(10), t0 + Duration::days(1)), (t0 + Duration::days(5), t0 + Duration::days(60))]
    {
        sqlx::query("INSERT INTO legal_bases (person_id, kind, starts_at, ends_at, document_ref, approved_by) VALUES ($1, 'order', $2, $3, '决定书', $4)")
            .bind(w.key).bind(from).bind(to).bind(approver).execute(p).await.unwrap();
    }
    let gap = t0 + Duration::days(2);
    sqlx::query("UPDATE persons SET next_due_at = $2 WHERE id = $1").bind(w.key).bind(gap).execute(p).await.unwrap();
    w.clock.set(gap);
    let issued = s.tick().await.unwrap().issued;
    let next: Option<DateTime<Utc>> = w.scalar("SELECT next_due_at FROM persons WHERE id = $1", w.key).await;
    assert_eq!(next, Some(t0 + Duration::days(5)), "paused until the next order starts ({issued} issued)");
    let asked: i64 = sqlx::query_scalar("SELECT count(*) FROM location_requests WHERE person_id = $1 AND due_at = $2")
        .bind(w.key)
        .bind(gap)
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(asked, 0, "nobody is located without a basis");
}

/// The ladder at its thresholds, with an alarm opened at 21:50 one evening (严管: 30 minutes to
/// acknowledge): the city at 22:00, the county at 22:20, overnight at midnight, each exactly then.
#[tokio::test]
async fn each_escalation_step_exactly_at_its_threshold_across_midnight() {
    let w = world().await;
    let dir = tempdir("mail");
    let s = w.scheduler(SchedulerConfig { mail: MailConfig::Dir(dir.clone()), ..SchedulerConfig::default() });
    s.publish_ladder().await.unwrap();
    let opened = local("2026-12-06T21:50:00");
    let breach = w.alarm(w.strict, Kind::FenceExit, opened).await;
    let acked = w.alarm(w.lenient, Kind::MockLocation, opened).await;
    let closed = w.alarm(w.key, Kind::LowBattery, opened).await;
    let steps = |at: &str| {
        w.clock.set(local(at));
        let s = &s;
        async move { s.tick().await.unwrap().steps_taken }
    };
    assert_eq!(steps("2026-12-06T21:50:00").await, 0);
    // The lenient person's alarm is acknowledged at 21:55: its county step (2 h, at 23:50) stops.
    let zhou = tracker::alarm::handling::principal(&w.db.pool, "zhou.city").await.unwrap().unwrap();
    tracker::alarm::handling::act(&w.db.pool, acked, &zhou, None, tracker::alarm::Action::Acknowledge).await.unwrap();
    assert_eq!(steps("2026-12-06T21:59:59").await, 0);
    assert_eq!(steps("2026-12-06T22:00:00").await, 2, "both open alarms go to the city at 22:00");
    assert_eq!(steps("2026-12-06T22:19:59").await, 0);
    assert_eq!(steps("2026-12-06T22:20:00").await, 1, "the unacknowledged 严管 alarm to the county");
    assert_eq!(steps("2026-12-06T23:50:00").await, 0, "acknowledged: no county step");
    assert_eq!(steps("2026-12-06T23:59:59").await, 0);
    assert_eq!(steps("2026-12-07T00:00:00").await, 2, "still open at midnight: overnight");
    assert_eq!(w.history(breach).await, ["opened", "escalated", "escalated", "overnight"]);
    assert_eq!(w.history(acked).await, ["opened", "acknowledged", "escalated", "overnight"]);
    assert_eq!(w.history(closed).await, ["opened"], "a low battery is a prompt, never escalated");
    let overnight: bool = w.scalar("SELECT overnight FROM alarms WHERE id = $1", breach).await;
    assert!(overnight);
    // The notices: the county's and the city's staff, as files in the mail directory.
    let (sent, _) = s.send_notices().await.unwrap();
    assert_eq!(sent, 3, "city ×2, county ×1");
    let mails: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert_eq!(mails.len(), 3);
    let county_mail = mails.iter().find(|m| m.contains("county@sfj.example.cn")).expect("the county's notice");
    assert!(county_mail.contains("Message-ID: <notice-"), "{county_mail}");
    let (step_kinds, recipients): (Vec<String>, Vec<String>) =
        sqlx::query_as::<_, (String, String)>("SELECT step, recipient FROM notices ORDER BY id")
            .fetch_all(&w.db.pool)
            .await
            .unwrap()
            .into_iter()
            .unzip();
    assert_eq!(step_kinds, ["city", "city", "county"]);
    assert_eq!(recipients, ["city@sfj.example.cn", "city@sfj.example.cn", "county@sfj.example.cn"]);
    assert!(w.history(breach).await.ends_with(&["notice_sent".to_string(), "notice_sent".to_string()]));

    // An alarm resolved before 22:00 stops every step; one opened after 22:00 goes to the city
    // with the county, and is overnight two hours after it opened.
    let resolved = w.alarm(w.strict, Kind::ExclusionEntry, local("2026-12-07T20:00:00")).await;
    w.clock.set(local("2026-12-07T20:00:00"));
    s.tick().await.unwrap();
    let record = tracker::alarm::Handling {
        outcome: tracker::alarm::Outcome::Visited,
        note: tracker::alarm::Note::parse("实地查访，本人在家").unwrap(),
    };
    tracker::alarm::handling::act(&w.db.pool, resolved, &zhou, None, tracker::alarm::Action::Resolve(record))
        .await
        .unwrap();
    let late = w.alarm(w.lenient, Kind::Curfew, local("2026-12-07T23:10:00")).await;
    assert_eq!(steps("2026-12-07T23:10:00").await, 0);
    assert_eq!(steps("2026-12-08T01:09:59").await, 0);
    assert_eq!(steps("2026-12-08T01:10:00").await, 3, "county and city at 01:10 (2 h for 宽管), and overnight");
    assert_eq!(w.history(resolved).await, ["opened", "resolved"]);
    let cancelled: i64 = w
        .scalar("SELECT count(*) FROM escalation_steps WHERE alarm_id = $1 AND cancelled_at IS NOT NULL", resolved)
        .await;
    assert_eq!(cancelled, 3);
    assert_eq!(w.history(late).await, ["opened", "escalated", "escalated", "overnight"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_racing_take_each_step_exactly_once() {
    let w = world().await;
    let (a, b) = (Arc::new(w.scheduler(SchedulerConfig::default())), Arc::new(w.scheduler(SchedulerConfig::default())));
    let opened = w.now() - Duration::hours(5);
    let mut alarms = Vec::new();
    for i in 0..30 {
        let person = [w.strict, w.lenient, w.key][i % 3];
        let kind =
            [Kind::FenceExit, Kind::Curfew, Kind::MockLocation, Kind::ExclusionEntry, Kind::LocationFailure][i / 6 % 5];
        // One open alarm per (person, kind): the rest are closed straight away as duplicates.
        if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM alarms WHERE person_id = $1 AND kind = $2")
            .bind(person)
            .bind(kind.as_str())
            .fetch_optional(&w.db.pool)
            .await
            .unwrap()
        {
            let _ = id;
            continue;
        }
        alarms.push(w.alarm(person, kind, opened).await);
    }
    // Both tick at once, across every step's time, until a round takes nothing (a step one
    // skips because the other holds its alarm is taken by the other, or on the next round).
    for minutes in [0, 31, 121, 600, 1440] {
        w.clock.set(opened + Duration::minutes(minutes));
        loop {
            let (x, y) = (a.clone(), b.clone());
            let (r1, r2) =
                tokio::join!(tokio::spawn(async move { x.tick().await }), tokio::spawn(async move { y.tick().await }));
            if r1.unwrap().unwrap().steps_taken + r2.unwrap().unwrap().steps_taken == 0 {
                break;
            }
        }
    }
    let per_alarm: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT a.id, (SELECT count(*) FROM escalation_steps s WHERE s.alarm_id = a.id AND s.taken_at IS NOT NULL),
                (SELECT count(*) FROM alarm_events e WHERE e.alarm_id = a.id AND e.kind IN ('escalated', 'overnight'))
         FROM alarms a ORDER BY a.id",
    )
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(per_alarm.len(), alarms.len());
    for (alarm, taken, events) in per_alarm {
        assert_eq!((taken, events), (3, 3), "alarm {alarm}: each step once, each with one event");
    }
    let notices: i64 = sqlx::query_scalar("SELECT count(*) FROM notices").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(notices, 2 * alarms.len() as i64, "one per (alarm, step, recipient)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_lost_mid_step_leaves_it_to_the_next_one_which_takes_it_once() {
    let w = world().await;
    w.set_weekday_morning();
    let p = &w.db.pool;
    // Leadership: one holder at a time; the lock goes with its connection.
    let first = tracker::schedule::leader::try_lead(p, "host-a:1", w.now()).await.unwrap().expect("the first leads");
    assert!(tracker::schedule::leader::try_lead(p, "host-b:2", w.now()).await.unwrap().is_none(), "one leader");
    let status = tracker::schedule::status::status(p, w.now()).await.unwrap();
    assert_eq!((status.leader.as_deref(), status.lock_held), (Some("host-a:1"), true));
    drop(first); // the process dies: its connection closes
    let mut second = None;
    for _ in 0..50 {
        second = tracker::schedule::leader::try_lead(p, "host-b:2", w.now()).await.unwrap();
        if second.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(second.is_some(), "another process takes over");

    // A step the dead leader was taking (its transaction holds the rows) is left alone, and
    // taken once its transaction is gone.
    let s = w.scheduler(SchedulerConfig::default());
    let alarm = w.alarm(w.strict, Kind::FenceExit, w.now() - Duration::hours(1)).await;
    s.tick().await.unwrap(); // plans, and takes the county step (due 30 min after opening)
    let step: i64 = sqlx::query_scalar("SELECT id FROM escalation_steps WHERE alarm_id = $1 AND step = 'city'")
        .bind(alarm)
        .fetch_one(p)
        .await
        .unwrap();
    sqlx::query("UPDATE escalation_steps SET due_at = $2 WHERE id = $1")
        .bind(step)
        .bind(w.now())
        .execute(p)
        .await
        .unwrap();
    let mut dying = p.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM escalation_steps s JOIN alarms a ON a.id = s.alarm_id JOIN persons pe ON pe.id = s.person_id WHERE s.id = $1 FOR UPDATE OF pe, a, s")
        .bind(step).execute(&mut *dying).await.unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), s.tick())
        .await
        .expect("not blocked by the dead leader")
        .unwrap();
    assert_eq!(r.steps_taken, 0);
    drop(dying); // killed mid-step: rolled back
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(s.tick().await.unwrap().steps_taken, 1);
    assert_eq!(s.tick().await.unwrap().steps_taken, 0);
    assert_eq!(w.history(alarm).await, ["opened", "escalated", "escalated"]);
}

fn tempdir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cctrack-{what}-{}-{}",
        std::process::id(),
        tracker::secret::random_token(6)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The tests' SMTP server (Python's aiosmtpd), refusing the first `refuse` messages with 451.
struct Sink {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(refuse: u32) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempdir("smtp");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&dir)
            .arg(refuse.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink (scripts/setup installs aiosmtpd)");
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening", "the SMTP sink started");
        Sink { child, port, dir }
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned()).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp(sink: &Sink) -> SchedulerConfig {
    SchedulerConfig {
        mail: MailConfig::Smtp(SmtpConfig {
            host: "127.0.0.1".into(),
            port: sink.port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "营口市社区矫正监管平台 <cctrack@sfj.example.cn>".into(),
        }),
        console_url: "http://console.example:8080".into(),
        ..SchedulerConfig::default()
    }
}

/// Decodes the RFC 2047 / quoted-printable / base64 parts a mail client would, well enough to
/// read a notice's Chinese subject and body.
fn readable(mail: &str) -> String {
    let parsed = mailparse::parse_mail(mail.as_bytes()).unwrap();
    let subject = parsed
        .headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
        .map(|h| h.get_value())
        .unwrap_or_default();
    // A report's mail is multipart (the text, then the workbook): its text is the first part.
    let text = parsed.subparts.first().unwrap_or(&parsed);
    format!("{subject}\n{}", text.get_body().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_notices_reach_a_real_smtp_server_in_chinese_and_once_after_a_refusal() {
    let w = world().await;
    w.set_weekday_morning();
    sqlx::query("UPDATE persons SET last_fix_at = now(), last_fix_position = ST_SetSRID(ST_MakePoint(122.235, 40.667), 4326) WHERE id = $1")
        .bind(w.strict).execute(&w.db.pool).await.unwrap();
    let sink = Sink::start(2);
    let s = w.scheduler(smtp(&sink));
    let alarm = w.alarm(w.strict, Kind::FenceExit, w.now() - Duration::minutes(31)).await;
    s.tick().await.unwrap(); // the county step: 31 minutes unacknowledged
    let (sent, other) = s.send_notices().await.unwrap();
    assert_eq!((sent, other), (0, 1), "refused with 451 the first time");
    assert_eq!(s.send_notices().await.unwrap(), (0, 0), "retried only after its back-off");
    w.clock.advance(Duration::seconds(31));
    assert_eq!(s.send_notices().await.unwrap(), (0, 1), "refused again");
    w.clock.advance(Duration::seconds(61));
    assert_eq!(s.send_notices().await.unwrap(), (1, 0), "the server recovered");
    // A restarted scheduler sends nothing again.
    let restarted = w.scheduler(smtp(&sink));
    w.clock.advance(Duration::hours(1));
    assert_eq!(restarted.send_notices().await.unwrap(), (0, 0));
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "sent once");
    let text = readable(&mails[0]);
    for needle in [
        "升级至县区司法局",
        "越界",
        "严管对象",
        "跃进司法所",
        "站前区",
        "北纬 40.66700",
        "http://console.example:8080/alarms/",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    assert!(mails[0].contains("county@sfj.example.cn"));
    let history = w.history(alarm).await;
    assert_eq!(history, ["opened", "escalated", "notice_failed", "notice_failed", "notice_sent"]);
    let failed = tracker::alarm::feed::history(&w.db.pool, alarm).await.unwrap();
    assert!(failed[2].details["error"].as_str().unwrap().contains("451"), "{}", failed[2].details);
    assert_eq!(failed[2].details["will_retry"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mail_server_notices_are_recorded_as_not_sent() {
    let w = world().await;
    w.set_weekday_morning();
    let s = w.scheduler(SchedulerConfig::default());
    let alarm = w.alarm(w.strict, Kind::FenceExit, w.now() - Duration::minutes(40)).await;
    s.tick().await.unwrap();
    assert_eq!(s.send_notices().await.unwrap(), (0, 1));
    let state: String = w.scalar("SELECT state FROM notices WHERE alarm_id = $1", alarm).await;
    assert_eq!(state, "unsent");
    assert_eq!(w.history(alarm).await, ["opened", "escalated", "notice_failed"]);
}

/// Traccar Client cannot receive commands: its requests go to the carrier gateway (the
/// simulator's, over HTTP). A located answer is a stored cell fix that answers the request; a
/// phone that is off fails it, and that is a location failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traccar_phones_are_located_through_the_carrier_gateway() {
    let w = world().await;
    let p = &w.db.pool;
    let on = tracker::device::enrol(
        p,
        w.strict,
        tracker::device::Protocol::Osmand,
        geofence::crs::Crs::Wgs84,
        &tracker::audit::Actor::default(),
    )
    .await
    .unwrap();
    let off = tracker::device::enrol(
        p,
        w.lenient,
        tracker::device::Protocol::Osmand,
        geofence::crs::Crs::Wgs84,
        &tracker::audit::Actor::default(),
    )
    .await
    .unwrap();
    // Both were in contact an hour ago: the one that is off fails to be located, it is not yet silent.
    sqlx::query("UPDATE devices SET enrolled_at = now() - interval '2 days', last_contact_at = now() - interval '1 hour' WHERE protocol = 'osmand'")
        .execute(p).await.unwrap();
    sqlx::query("UPDATE devices SET retired_at = now() WHERE protocol = 'native' AND person_id = ANY($1)")
        .bind(vec![w.strict, w.lenient])
        .execute(p)
        .await
        .unwrap();
    let scenario = format!(
        "speed = 1\ncatch_up = \"2h\"\nseed = 3\n\n[[person]]\nname = \"on\"\ndevice = \"{}\"\ncarrier_id = \"{}\"\narea = {{ circle = [40.667, 122.235, 800] }}\n\n[[person]]\nname = \"off\"\ndevice = \"{}\"\ncarrier_id = \"{}\"\narea = {{ circle = [40.667, 122.235, 800] }}\n[[person.event]]\nkind = \"phone_off\"\nat = \"+10m\"\nduration = \"20h\"\n",
        on.enrolment_id, on.device_id, off.enrolment_id, off.device_id
    );
    let now = Utc::now();
    let sc = simulator::fleet::Scenario::parse(&scenario, std::path::Path::new(".")).unwrap();
    let warp = sc.warp(now);
    let fleet = sc.build(&warp, now).unwrap();
    let subscribers =
        fleet.iter().map(|f| (f.carrier_id.clone(), simulator::gateway::Subscriber::from_fleet(f))).collect();
    let clock = w.clock.clone();
    let options = simulator::gateway::GatewayOptions { failure_rate: 0.0, ..Default::default() };
    let gateway = simulator::gateway::Gateway::new(subscribers, Box::new(move || clock.now()), options).unwrap();
    let (addr, _task) = simulator::gateway::start("127.0.0.1:0".parse().unwrap(), Arc::new(gateway)).await.unwrap();
    let config = SchedulerConfig {
        gateway: Some(scheduler::config::GatewayConfig { url: format!("http://{addr}"), token: None }),
        ..SchedulerConfig::default()
    };
    let http: Arc<dyn scheduler::gateway::CarrierGateway> =
        Arc::new(scheduler::gateway::HttpGateway::new(config.gateway.clone().unwrap()));
    let mailer: Arc<dyn scheduler::mail::Mailer> = scheduler::mail::mailer(&config.mail).unwrap().into();
    let s = Scheduler::new(p.clone(), w.clock.clone(), config, w.ingestor.clone(), Some(http), mailer);
    sqlx::query("UPDATE persons SET next_due_at = $1 WHERE id = ANY($2)")
        .bind(w.now())
        .bind(vec![w.strict, w.lenient])
        .execute(p)
        .await
        .unwrap();
    let r = s.tick().await.unwrap();
    assert_eq!((r.issued, r.gateway_located, r.gateway_failed), (2, 1, 1));
    let requests: Vec<(i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT person_id, channel, state, failure_reason FROM location_requests ORDER BY person_id")
            .fetch_all(p)
            .await
            .unwrap();
    assert_eq!(
        requests,
        vec![
            (w.strict, "carrier".into(), "answered".into(), None),
            (w.lenient, "carrier".into(), "failed".into(), Some("phone_off".into())),
        ]
    );
    let (source, accuracy): (String, f32) = sqlx::query_as("SELECT source, accuracy_m FROM fixes WHERE person_id = $1")
        .bind(w.strict)
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(source, "cell");
    assert!((300.0..=1500.0).contains(&accuracy), "cell-level accuracy: {accuracy}");
    assert_eq!(w.alarm_kinds(w.lenient).await, ["location_failure"]);
    let _ = json!({});
}

/// The attachments of a mail: (file name, bytes).
fn attachments(mail: &str) -> Vec<(String, Vec<u8>)> {
    let parsed = mailparse::parse_mail(mail.as_bytes()).unwrap();
    parsed
        .subparts
        .iter()
        .filter(|p| p.get_content_disposition().disposition == mailparse::DispositionType::Attachment)
        .map(|p| {
            let name = p.get_content_disposition().params.get("filename").cloned().unwrap_or_default();
            (name, p.get_body_raw().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_jobs_store_the_morning_lists_and_bulletins_and_mail_them_with_the_workbook() {
    let w = world().await;
    let p = &w.db.pool;
    // Monday 2026-12-07, just after 08:00: the lists of the 24 hours before, the report of week
    // 49 and the bulletin of November fall due. The persons have been supervised since November.
    w.clock.set(local("2026-12-07T08:00:30"));
    sqlx::query("UPDATE persons SET created_at = $1").bind(local("2026-11-01T09:00:00")).execute(p).await.unwrap();
    sqlx::query("UPDATE person_levels SET since = $1").bind(local("2026-11-01T09:00:00")).execute(p).await.unwrap();
    sqlx::query("UPDATE devices SET enrolled_at = $1").bind(local("2026-11-01T09:00:00")).execute(p).await.unwrap();
    let office_staff = tracker::staff::NewStaff {
        organisation_id: w.office,
        username: "li.office",
        display_name: "李",
        role: tracker::staff::Role::OfficeStaff,
        password: "pass-word-1",
        email: Some("office@sfj.example.cn"),
    };
    tracker::staff::upsert(p, &office_staff).await.unwrap();
    // In the night: the 严管 person left the area at 21:00 (open, so overnight), the 重点
    // person's phone reported a mock location at 22:00, the 宽管 person could not be located.
    w.alarm(w.strict, Kind::FenceExit, local("2026-12-06T21:00:00")).await;
    w.fix(w.key, local("2026-12-06T22:00:00")).await;
    sqlx::query("UPDATE fixes SET mock = true, received_at = $2 WHERE person_id = $1")
        .bind(w.key)
        .bind(local("2026-12-06T22:00:05"))
        .execute(p)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO location_requests (person_id, reason, issued_at, due_at, deadline_at, state, failure_reason, failed_at,
                                        level, is_key, office_id)
         VALUES ($1, 'schedule', $2, $2, $2 + interval '15 minutes', 'failed', 'phone_off', $2 + interval '15 minutes',
                 'lenient', false, $3)",
    )
    .bind(w.lenient)
    .bind(local("2026-12-06T20:00:00"))
    .bind(w.office)
    .execute(p)
    .await
    .unwrap();

    let sink = Sink::start(0);
    let s = w.scheduler(smtp(&sink));
    assert_eq!(s.tick().await.unwrap().calendar_runs, 3);
    let stored: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.kind, o.name, r.period FROM reports r JOIN organisations o ON o.id = r.organisation_id ORDER BY r.id",
    )
    .fetch_all(p)
    .await
    .unwrap();
    let stored: Vec<(&str, &str, &str)> = stored.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    assert_eq!(
        stored,
        [
            ("daily", "跃进司法所", "2026-12-07"),
            ("weekly", "营口市", "2026-W49"),
            ("weekly", "站前区", "2026-W49"),
            ("monthly", "营口市", "2026-11"),
            ("monthly", "站前区", "2026-11"),
        ]
    );
    // Each to its organisation's staff: the office its lists, the county and the city theirs.
    assert_eq!(s.send_report_mails().await.unwrap(), (5, 0));
    assert_eq!(s.send_report_mails().await.unwrap(), (0, 0), "sent once");
    let mails: Vec<String> = sink.messages();
    let find = |to: &str, subject: &str| {
        mails
            .iter()
            .find(|m| m.contains(&format!("To: {to}")) && readable(m).contains(subject))
            .unwrap_or_else(|| panic!("no mail to {to} about {subject}"))
    };
    let daily = find("office@sfj.example.cn", "站前区跃进司法所社区矫正每日监管名单（2026年12月7日）");
    let text = readable(daily);
    assert!(text.contains("异常定位 1 人，越界报警 1 起，定位缺失 1 人"), "{text}");
    let weekly = find("city@sfj.example.cn", "营口市社区矫正电子监管周报（2026年第49周）");
    let text = readable(weekly);
    assert!(text.contains("报警 1 起") && text.contains("过夜 1 起"), "{text}");
    assert!(text.contains("http://console.example:8080/reports/"), "{text}");
    find("county@sfj.example.cn", "营口市站前区社区矫正电子监管周报（2026年第49周）");
    find("city@sfj.example.cn", "营口市社区矫正电子监管月报（2026年11月）");

    // The workbook is attached, and an independent reader finds the figures in it.
    let files = attachments(weekly);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "营口市社区矫正电子监管周报（2026年第49周）.xlsx");
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(files[0].1.clone())).unwrap();
    let alarms: Vec<Vec<Data>> = book.worksheet_range("报警处置").unwrap().rows().map(|r| r.to_vec()).collect();
    assert_eq!(alarms[1][0], Data::String("合计".into()));
    assert!(alarms[1].contains(&Data::Float(1.0)), "one alarm raised, as a number: {:?}", alarms[1]);
    let files = attachments(daily);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(files[0].1.clone())).unwrap();
    for (sheet, person) in [("异常定位名单", "重点对象"), ("越界人员名单", "严管对象"), ("定位缺失名单", "宽管对象")]
    {
        let rows: Vec<Vec<Data>> = book.worksheet_range(sheet).unwrap().rows().map(|r| r.to_vec()).collect();
        assert_eq!(rows.len(), 2, "{sheet}: {rows:?}");
        assert_eq!(rows[1][0], Data::String(person.into()), "{sheet}");
    }

    // The lists' page links each person to the console.
    let html: String = sqlx::query_scalar("SELECT html FROM reports WHERE kind = 'daily'").fetch_one(p).await.unwrap();
    assert!(html.contains(&format!("href=\"http://console.example:8080/persons/{}\"", w.strict)), "{html}");
    assert!(html.contains("关机") && html.contains("待处置"), "{html}");
    assert!(html.contains(&format!("/persons/{}\"", w.key)), "{html}");

    // Every report was mailed; the next tick runs no job again.
    let unmailed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reports WHERE emailed_at IS NULL").fetch_one(p).await.unwrap();
    assert_eq!(unmailed, 0);
    w.clock.advance(Duration::minutes(5));
    assert_eq!(s.tick().await.unwrap().calendar_runs, 0);
    // The city's weekly and monthly rankings are kept.
    let kept: i64 = sqlx::query_scalar("SELECT count(DISTINCT kind) FROM rankings").fetch_one(p).await.unwrap();
    assert_eq!(kept, 2);
}
