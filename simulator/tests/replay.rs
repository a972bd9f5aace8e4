//! Replay against a scripted stand-in server: retries, refusals, stops, pacing, and the
//! `cctrack-sim replay` command's output and exit codes. (The replay against a real cctrack is
//! `api/tests/replay.rs`.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::{real, TempFile};
use serde_json::{json, Value};
use simulator::replay::{self, LatLon, Protocol, ReplayOptions, ReplayOutcome, RetryPolicy};
use simulator::trace::{self, ReadOptions, Segment, Trace, TraceFormat, TracePoint};

/// One request as the stand-in server saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// `POST /path?query`
    line: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

type Reply = (u16, Vec<(&'static str, String)>, String);

/// A one-connection-at-a-time HTTP server answering with `respond(n, request)` (n counts from
/// 0); stopped on drop.
struct Stub {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    fn start(respond: impl Fn(usize, &Seen) -> Reply + Send + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Some(req) = read_request(&stream) else { continue };
                let n = {
                    let mut s = seen2.lock().unwrap();
                    s.push(req.clone());
                    s.len() - 1
                };
                let (status, headers, body) = respond(n, &req);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                let mut stream = stream;
                let _ = stream.write_all(out.as_bytes());
            }
        });
        Stub { addr, seen, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let at = Instant::now();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    let line = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    Some(Seen { line, headers, body, at })
}

fn ok_report(accepted: usize) -> Reply {
    (200, vec![], json!({"accepted": accepted, "duplicates": 0, "errors": [], "location_request": null}).to_string())
}

/// A native reply taking every fix of the request.
fn accept_all(req: &Seen) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    ok_report(body["fixes"].as_array().map_or(0, Vec::len))
}

/// `n` points `gap_s` apart in Yingkou, a few metres apart.
fn walk(n: usize, gap_s: i64) -> Trace {
    let t0: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
    let points: Vec<TracePoint> = (0..n)
        .map(|i| {
            TracePoint::new(40.667 + i as f64 * 5e-5, 122.235).with_time(t0 + TimeDelta::seconds(i as i64 * gap_s))
        })
        .collect();
    Trace {
        format: TraceFormat::Csv,
        segments: vec![Segment { start: 0, end: n, name: None }],
        points,
        problems: vec![],
    }
}

fn fast(protocol: Protocol, server: &str) -> ReplayOptions {
    let mut o = ReplayOptions::new(protocol, server, "AB12CD");
    o.token = Some("tok".into());
    o.speed = 0.0;
    o.retry =
        RetryPolicy { max_retries: 3, first_wait: Duration::from_millis(10), max_wait: Duration::from_millis(50) };
    o
}

#[tokio::test]
async fn native_resends_the_same_batch_after_503_and_counts_the_report() {
    let stub = Stub::start(|n, _| {
        match n {
        0 => (503, vec![("Retry-After", "0".into())], r#"{"error":"temporarily unavailable"}"#.into()),
        _ => (
            200,
            vec![],
            json!({"accepted": 2, "duplicates": 1, "location_request": {"id": 1, "reason": "confirm", "deadline_at": "2026-01-01T00:00:00Z"},
                   "errors": [{"index": 3, "field": "fixes[3].time", "message": "is before the device was enrolled"}]})
            .to_string(),
        ),
    }
    });
    let mut o = fast(Protocol::Native, &stub.url());
    o.batch = 4;
    o.seq_start = 41;
    let s = replay::replay(&walk(4, 10), &o).await.unwrap();
    assert_eq!((s.sent, s.accepted, s.duplicates, s.rejected, s.retries, s.requests), (4, 2, 1, 1, 1, 1), "{s:#?}");
    assert_eq!(s.errors_by_field.get("time"), Some(&1));
    assert_eq!((s.errors[0].seq, s.errors[0].field.as_str()), (Some(44), "time"));
    assert_eq!(s.location_requests, 1);
    assert_eq!(s.outcome(), ReplayOutcome::SomeRejected);
    let seen = stub.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same fixes are resent");
    assert_eq!(seen[0].line, "POST /ingest/v1/fixes");
    assert_eq!(seen[0].header("authorization"), Some("Bearer AB12CD.tok"));
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    let seqs: Vec<i64> = body["fixes"].as_array().unwrap().iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [41, 42, 43, 44]);
    // The trace ends "now" (at ×0, when the replay starts), to the second.
    let last = s.last_time.unwrap();
    assert!((Utc::now() - last).num_seconds().abs() <= 2, "{last}");
    assert_eq!(s.first_time.unwrap(), last - TimeDelta::seconds(30));
}

#[tokio::test]
async fn refusals_are_counted_and_the_replay_goes_on() {
    // OsmAnd: the second fix has a bad latitude.
    let stub = Stub::start(|n, _| match n {
        1 => (400, vec![], r#"{"error":"lat: 95 is not a latitude (−90 to 90)","field":"lat"}"#.into()),
        _ => (200, vec![], String::new()),
    });
    let s = replay::replay(&walk(3, 1), &fast(Protocol::Osmand, &stub.url())).await.unwrap();
    assert_eq!((s.sent, s.accepted, s.rejected, s.requests), (3, 2, 1, 3));
    assert_eq!(s.errors[0].message, "95 is not a latitude (−90 to 90)");
    assert_eq!(s.errors[0].seq, None);
    let seen = stub.seen();
    assert!(seen[0].line.starts_with("POST /?id=AB12CD&timestamp="), "{}", seen[0].line);
    assert!(seen[0].body.is_empty());
}

#[tokio::test]
async fn stops_when_no_request_could_succeed() {
    // Wrong credentials: stop at once, nothing counted as sent.
    let stub = Stub::start(|_, _| (401, vec![], r#"{"error":"authentication required"}"#.into()));
    let s = replay::replay(&walk(5, 1), &fast(Protocol::Owntracks, &stub.url())).await.unwrap();
    assert_eq!((s.sent, s.unsent, s.requests, s.retries), (0, 5, 0, 0));
    assert!(s.stopped.as_deref().unwrap().contains("401"));
    assert_eq!(s.outcome(), ReplayOutcome::Incomplete);
    assert_eq!(stub.seen().len(), 1);
    assert_eq!(stub.seen()[0].header("authorization"), Some("Basic QUIxMkNEOnRvaw=="));

    // Nobody listening: resent max_retries times, then stop.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = replay::replay(&walk(5, 1), &fast(Protocol::Native, &format!("http://127.0.0.1:{port}"))).await.unwrap();
    assert_eq!((s.sent, s.unsent, s.retries), (0, 5, 3));
    assert!(s.stopped.as_deref().unwrap().contains("gave up after 3 retries"), "{:?}", s.stopped);

    // Still 503 after every retry: stop, keeping what was already delivered.
    let stub = Stub::start(|n, _| if n == 0 { ok_report(1) } else { (503, vec![], String::new()) });
    let s = replay::replay(&walk(3, 1), &fast(Protocol::Native, &stub.url())).await.unwrap();
    assert_eq!((s.sent, s.accepted, s.unsent, s.retries), (1, 1, 2, 3));
    assert!(s.stopped.as_deref().unwrap().contains("503"));
}

#[tokio::test]
async fn requests_are_paced_by_trace_gaps_divided_by_speed() {
    let stub = Stub::start(|_, _| (200, vec![], "[]".into()));
    let mut o = fast(Protocol::Owntracks, &stub.url());
    // Five points 2 s apart at ×4: one request every 0.5 s, 2 s in all.
    o.speed = 4.0;
    let s = replay::replay(&walk(5, 2), &o).await.unwrap();
    assert_eq!(s.accepted, 5);
    let seen = stub.seen();
    let offsets: Vec<f64> = seen.iter().map(|r| (r.at - seen[0].at).as_secs_f64()).collect();
    for (i, off) in offsets.iter().enumerate() {
        let want = i as f64 * 0.5;
        assert!(*off >= want - 0.05 && *off < want + 0.3, "request {i} at {off:.3} s, due at {want} s");
    }
    // The fixes carry the trace's spacing (2 s), not the sending's.
    let tst: Vec<i64> =
        seen.iter().map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["tst"].as_i64().unwrap()).collect();
    assert!(tst.windows(2).all(|w| w[1] - w[0] == 2), "{tst:?}");
    // And none is later than the moment it was sent.
    assert!(*tst.last().unwrap() <= Utc::now().timestamp());
}

/// Pairwise distances of a real trace survive re-anchoring from Slovenia to Yingkou.
#[test]
fn anchoring_a_real_trace_keeps_its_shape() {
    let Some(path) = real("gpx/garmin-activity.gpx") else { return };
    let t = trace::read_path(&path, &ReadOptions::default()).unwrap();
    let mut o = ReplayOptions::new(Protocol::Native, "http://127.0.0.1:1", "d");
    o.token = Some("t".into());
    o.anchor = Some(LatLon::new(40.667, 122.235));
    let p = replay::plan(&t, &o, Utc::now()).unwrap();
    assert_eq!(p.fixes.len(), t.points.len());
    let d = |a: (f64, f64), b: (f64, f64)| geofence::distance_m(a, b);
    let mut worst: f64 = 0.0;
    let mut longest: f64 = 0.0;
    for i in (0..p.fixes.len()).step_by(7) {
        for j in (i + 1..p.fixes.len()).step_by(5) {
            let (a, b) = (&t.points[p.fixes[i].point], &t.points[p.fixes[j].point]);
            let before = d((a.lon, a.lat), (b.lon, b.lat));
            let after = d((p.fixes[i].wgs84.lon, p.fixes[i].wgs84.lat), (p.fixes[j].wgs84.lon, p.fixes[j].wgs84.lat));
            worst = worst.max((before - after).abs());
            longest = longest.max(before);
        }
    }
    assert!(longest > 3000.0, "a city-sized trace ({longest} m across)");
    assert!(worst < 0.01, "distances change by up to {worst} m");
}

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cctrack-sim")).args(args).output().expect("run cctrack-sim")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

const CSV: &str = "time,lat,lon,accuracy\n\
    2024-05-01T00:00:00Z,40.6650,122.2300,5\n\
    2024-05-01T00:00:10Z,40.6660,122.2300,5\n\
    2024-05-01T00:00:20Z,40.6670,122.2300,8\n";

#[test]
fn cli_summary_and_exit_codes() {
    let f = TempFile::new("walk.csv", CSV.as_bytes());
    let file = f.path().to_str().unwrap();

    // Everything accepted: exit 0, one JSON object with the counts.
    let stub = Stub::start(|_, req| accept_all(req));
    let url = stub.url();
    let args = |extra: &[&str]| -> Vec<String> {
        [&["replay", file, "--speed", "0"], extra].concat().iter().map(|s| s.to_string()).collect()
    };
    let run = |a: Vec<String>| sim(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args(&[
        "--server",
        &url,
        "--protocol",
        "native",
        "--device",
        "D1",
        "--token",
        "t",
        "--batch",
        "2",
        "--json",
    ]));
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["sent", "accepted", "duplicates", "rejected", "errors_by_field", "retries", "first_time", "last_time"] {
        assert!(v.get(k).is_some(), "{k} missing from {v}");
    }
    assert_eq!((v["sent"].as_u64(), v["accepted"].as_u64(), v["requests"].as_u64()), (Some(3), Some(3), Some(2)));
    drop(stub);

    // Some refused: exit 2; the human summary names the field.
    let stub = Stub::start(|n, _| match n {
        0 => (400, vec![], r#"{"error":"timestamp: is before the device was enrolled","field":"timestamp"}"#.into()),
        _ => (200, vec![], String::new()),
    });
    let o = run(args(&["--server", &stub.url(), "--protocol", "osmand", "--device", "D1", "--crs", "gcj02"]));
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("rejected:   1 (timestamp: 1)"), "{text}");
    assert!(stub.seen()[0].line.ends_with("&crs=gcj02"), "{}", stub.seen()[0].line);
    drop(stub);

    // Unknown device: exit 1.
    let stub = Stub::start(|_, _| (403, vec![], r#"{"error":"unknown device"}"#.into()));
    let o = run(args(&["--server", &stub.url(), "--protocol", "osmand", "--device", "nope"]));
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains("STOPPED"));

    // Options the protocol cannot honour, or missing: 64, before anything is sent.
    let bad: [&[&str]; 5] = [
        &["--server", &url, "--protocol", "owntracks", "--device", "D", "--token", "t", "--crs", "bd09"],
        &["--server", &url, "--protocol", "native", "--device", "D"],
        &["--server", &url, "--protocol", "native", "--device", "D", "--token", "t", "--batch", "1001"],
        &["--server", &url, "--protocol", "native", "--device", "D", "--token", "t", "--anchor", "95,1"],
        &["--protocol", "native", "--device", "D", "--token", "t"],
    ];
    for extra in bad {
        let o = run(args(extra));
        assert_eq!(code(&o), 64, "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = sim(&["replay", file, "--server", &url, "--protocol", "native", "--device", "D", "--token", "t"]);
    assert_eq!(code(&o), 64, "--speed is required");

    // --dry-run is inspect, exactly.
    let dry = sim(&["replay", file, "--dry-run"]);
    let inspect = sim(&["inspect", file]);
    assert_eq!((code(&dry), &dry.stdout), (code(&inspect), &inspect.stdout));
    let dry = sim(&["replay", file, "--dry-run", "--json", "--server", &url]);
    let inspect = sim(&["inspect", file, "--json"]);
    assert_eq!(dry.stdout, inspect.stdout);

    // A file with no timed point cannot be replayed: exit 1.
    let untimed = TempFile::new("untimed.csv", b"lat,lon\n40.1,122.2\n40.2,122.3\n");
    let o = sim(&[
        "replay",
        untimed.path().to_str().unwrap(),
        "--speed",
        "0",
        "--server",
        &url,
        "--protocol",
        "osmand",
        "--device",
        "D",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no point with a time"));

    let help = String::from_utf8(sim(&["replay", "--help"]).stdout).unwrap();
    for s in ["Exit status:", "  2   every fix was sent", "cctrack device enrol"] {
        assert!(help.contains(s), "{s:?} not in --help");
    }
}
