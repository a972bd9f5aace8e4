//! `spawn_app()`: the real application (`api::server::Application`, the start-up path of
//! `cctrack serve`) on port 0 against a fresh test database, with helpers to make records and
//! send requests: typed ones with reqwest, raw bytes over TCP for inputs no client library
//! would send.

use std::time::Duration;

use api::config::Config;
use api::server::Application;
use cctrack_tests::TestDb;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracker::login::LoginPolicy;
use tracker::staff::Role;

pub const PASSWORD: &str = "pass-word-1";

pub struct TestApp {
    pub db: TestDb,
    /// `127.0.0.1:port` of the main listener and of the OsmAnd listener.
    pub main: String,
    pub osmand: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// With the configuration changed by `adjust` (e.g. login limits).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new().await.expect("test database");
    start_on(db, adjust).await
}

/// Another application on the same database (a second cctrack process, as far as caches go).
pub async fn start_on(db: TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        osmand_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: std::env::temp_dir(),
        database_url: Some(db.url.clone()),
        login: LoginPolicy::default(),
        // Tests of the scheduler run it on a clock of their own.
        scheduler: scheduler::config::SchedulerConfig { enabled: false, ..Default::default() },
        sessions: Default::default(),
        secure_cookie: false,
        trusted_proxies: Vec::new(),
        console: Default::default(),
    };
    adjust(&mut config);
    let app = Application::build(&config, db.pool.clone()).await.expect("application builds");
    let (main, osmand) = (app.main_addr().to_string(), app.osmand_addr().to_string());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    TestApp { db, main, osmand, client, stop: Some(stop), served: Some(served) }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.main)
    }

    pub fn osmand_url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.osmand)
    }

    /// Stops serving and waits for the application's tasks; returns the database.
    pub async fn stop(mut self) -> TestDb {
        self.shutdown().await;
        let TestApp { db, .. } = self;
        db
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("server task").expect("server ran");
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db.pool).await.unwrap()
    }

    pub async fn fixes(&self) -> i64 {
        self.count("SELECT count(*) FROM fixes").await
    }

    /// A staff request with basic authentication; the JSON body if any.
    pub async fn staff(&self, method: &str, path: &str, user: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method.parse().unwrap(), self.url(path)).basic_auth(user, Some(PASSWORD));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let reply = r.send().await.expect("request sent");
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }
}

/// One raw HTTP/1.1 request over TCP; returns (status, head, body). Sends what it is given,
/// byte for byte (NUL in a header, a body that lies about its type).
pub async fn raw_http(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    // The server may answer and close before reading everything (413): read its answer anyway.
    let _ = s.write_all(&req).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.expect("answer in time");
    if let Err(e) = read {
        assert!(!raw.is_empty(), "no HTTP response: {e}");
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP response has a head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = cctrack_tests::dechunk(&body);
    }
    (status, head, body)
}

/// The organisations of a small city: 营口市 → 站前区 (office 跃进) and 西市区 (office 渔市).
pub struct Orgs {
    pub city: i64,
    pub county: i64,
    pub office: i64,
    pub other_county: i64,
    pub other_office: i64,
}

pub async fn orgs(db: &TestDb) -> Orgs {
    let q = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let city = q("INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (county_name, adcode, office_name) in [("站前区", "210802", "跃进司法所"), ("西市区", "210803", "渔市司法所")]
    {
        let county: i64 = sqlx::query_scalar(
            "INSERT INTO organisations (kind, parent_id, name, adcode) VALUES ('county', $1, $2, $3) RETURNING id",
        )
        .bind(city)
        .bind(county_name)
        .bind(adcode)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let office: i64 = sqlx::query_scalar(
            "INSERT INTO organisations (kind, parent_id, name) VALUES ('office', $1, $2) RETURNING id",
        )
        .bind(county)
        .bind(office_name)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        ids.push((county, office));
    }
    Orgs { city, county: ids[0].0, office: ids[0].1, other_county: ids[1].0, other_office: ids[1].1 }
}

pub async fn account(db: &TestDb, org: i64, username: &str, role: Role) {
    let s = tracker::staff::NewStaff {
        organisation_id: org,
        username,
        display_name: username,
        role,
        password: PASSWORD,
        email: None,
    };
    tracker::staff::upsert(&db.pool, &s).await.unwrap();
}

/// A 严管 person of `office` with positioning consent from yesterday.
pub async fn person(db: &TestDb, office: i64, name: &str) -> i64 {
    let today = chrono::Utc::now().date_naive();
    tracker::person::create(
        &db.pool,
        &tracker::person::NewPerson {
            office_id: office,
            name: name.to_string(),
            correction_type: tracker::person::CorrectionType::Probation,
            term_start: today,
            term_end: today + chrono::Months::new(12),
            level: tracker::person::Level::Strict,
            key_interval_min: None,
            consent_from: chrono::Utc::now() - chrono::Duration::days(2),
            consent_ref: "手机定位承诺书".to_string(),
        },
    )
    .await
    .unwrap()
}

pub struct Phone {
    pub enrolment_id: String,
    pub token: String,
    pub device_id: i64,
}

/// A phone of `protocol` enrolled for `person`, backdated a day (fixes from before enrolment are
/// refused).
pub async fn phone(db: &TestDb, person: i64, protocol: tracker::device::Protocol) -> Phone {
    let e = tracker::device::enrol(
        &db.pool,
        person,
        protocol,
        geofence::crs::Crs::Wgs84,
        &tracker::audit::Actor::default(),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE devices SET enrolled_at = now() - interval '1 day' WHERE id = $1")
        .bind(e.device_id)
        .execute(&db.pool)
        .await
        .unwrap();
    Phone { enrolment_id: e.enrolment_id, token: e.token, device_id: e.device_id }
}

/// `Basic base64(user:password)` for raw requests (any bytes, NUL included).
pub fn basic(user: &[u8], password: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = user.to_vec();
    bytes.push(b':');
    bytes.extend_from_slice(password);
    let mut out = b"Basic ".to_vec();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' });
        }
    }
    out
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An open alarm of `person` (of `office`) as ingest would open it, with its opening event.
pub async fn alarm(db: &TestDb, person: i64, office: i64, kind: tracker::alarm::Kind) -> i64 {
    use tracker::alarm::events::{EventKind, EventLog, NewEvent};
    let mut tx = db.pool.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alarms (person_id, office_id, kind, opened_at) VALUES ($1, $2, $3, now()) RETURNING id",
    )
    .bind(person)
    .bind(office)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let mut log = EventLog::default();
    log.push(NewEvent {
        alarm_id: Some(id),
        to_state: Some(tracker::alarm::State::Open),
        ..NewEvent::new(EventKind::Opened, person, office, kind)
    });
    log.append(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Logs in through the API; the session token.
pub async fn login(app: &TestApp, user: &str) -> String {
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login as {user}");
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}
