//! Running the real `cctrack` binary from tests: commands, a server on free ports, raw HTTP.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary with a clean environment (no database URL unless given), without its scheduler
/// (whose requests would answer in replies tests check; the scheduler's tests turn it on).
pub fn cctrack_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cctrack"));
    c.env_remove("CCTRACK_DATABASE_URL").env("RUST_LOG", "warn").env("CCTRACK_SCHEDULER_ENABLED", "false");
    c
}

/// The binary pointed at the database `url`.
pub fn cctrack(url: &str) -> Command {
    let mut c = cctrack_bin();
    c.env("CCTRACK_DATABASE_URL", url);
    c
}

/// Runs a command that must succeed and print JSON.
pub fn run_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("cctrack runs");
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// One HTTP/1.1 request; returns (status, head, body).
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        if !v.is_empty() {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A server may answer (413) and close before a large body is fully written: stop writing
    // and read its answer, as HTTP clients do. A reset after the answer arrived is not an error.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
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

/// Waits for "cctrack listening on http://ADDR"; returns the lines printed up to it.
pub fn wait_listening(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.starts_with("cctrack listening on http://");
            seen.push(line);
            if done {
                return seen;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("cctrack exited early with {status}; output: {seen:?}");
        }
    }
    panic!("cctrack did not start listening; output: {seen:?}");
}

/// The address printed after `prefix` ("cctrack listening on http://").
pub fn address_after(lines: &[String], prefix: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:?}"))
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "cctrack did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `cctrack serve` on free loopback ports against the database `url`; stopped on drop.
pub struct Server {
    child: Child,
    pub main: String,
    pub osmand: String,
}

impl Server {
    pub fn start(url: &str) -> Server {
        let mut child = cctrack(url)
            .args(["serve", "--listen", "127.0.0.1:0", "--osmand-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = wait_listening(&mut child);
        Server {
            main: address_after(&lines, "cctrack listening on http://"),
            osmand: address_after(&lines, "cctrack osmand listening on http://"),
            child,
        }
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// Sends SIGTERM to the server and waits at most `limit` for it to exit (then kills it, and the
/// status shows it).
pub fn terminate_within(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = server.child.kill();
            return server.child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            terminate(&mut self.child);
        }
    }
}

/// A city (营口市), a county (站前区) and a judicial office in `db`; returns the office's id.
pub async fn office(db: &cctrack_tests::TestDb) -> i64 {
    sqlx::query_scalar(
        "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id),
              k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '站前区', '210802' FROM c RETURNING id)
         INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '跃进司法所' FROM k RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// A 严管 person with positioning consent, added with `cctrack persons add`; returns the id.
pub fn add_person(db: &cctrack_tests::TestDb, office: i64, name: &str) -> i64 {
    let added = run_json(cctrack(&db.url).args([
        "persons",
        "add",
        "--office",
        &office.to_string(),
        "--name",
        name,
        "--level",
        "strict",
        "--json",
    ]));
    added["id"].as_i64().unwrap()
}

/// Enrols a phone with `cctrack device enrol`, backdated a day so that tests may send fixes
/// from the last hours (fixes from before enrolment are refused); returns (enrolment id, token).
pub async fn enrol_phone(db: &cctrack_tests::TestDb, person: i64, protocol: &str) -> (String, String) {
    let e = run_json(cctrack(&db.url).args([
        "device",
        "enrol",
        "--person",
        &person.to_string(),
        "--protocol",
        protocol,
        "--json",
    ]));
    sqlx::query("UPDATE devices SET enrolled_at = now() - interval '1 day' WHERE id = $1")
        .bind(e["device_id"].as_i64().unwrap())
        .execute(&db.pool)
        .await
        .unwrap();
    (e["enrolment_id"].as_str().unwrap().to_string(), e["token"].as_str().unwrap().to_string())
}
