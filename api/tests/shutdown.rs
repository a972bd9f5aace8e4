//! An orderly shutdown under ingest load: on SIGTERM cctrack stops accepting, answers or refuses
//! (503) each request it holds, and exits within 10 s; every acknowledged fix is stored exactly
//! once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_acknowledged_and_exits_in_time() {
    let db = cctrack_tests::TestDb::new().await.unwrap();
    let office = common::office(&db).await;
    let person = common::add_person(&db, office, "李四");
    let (enrolment, _) = common::enrol_phone(&db, person, "osmand").await;
    let mut server = common::Server::start(&db.url);
    const SENDERS: i64 = 16;
    let base = chrono::Utc::now().timestamp() - 20 * 3600;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let unexpected = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (addr, id, stop, acknowledged, unexpected) =
            (server.osmand.clone(), enrolment.clone(), stop.clone(), acknowledged.clone(), unexpected.clone());
        senders.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = base + i * SENDERS + s;
                i += 1;
                let Ok(mut conn) = std::net::TcpStream::connect(&addr) else { break };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                use std::io::{Read, Write};
                let req = format!("GET /?id={id}&timestamp={t}&lat=40.667&lon=122.235 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                if conn.write_all(req.as_bytes()).is_err() {
                    continue;
                }
                let mut reply = Vec::new();
                let _ = conn.read_to_end(&mut reply);
                let head = String::from_utf8_lossy(&reply);
                match head.split_whitespace().nth(1) {
                    Some("200") => acknowledged.lock().unwrap().push(t),
                    Some("503") | None => {} // refused while stopping, or cut off: not acknowledged
                    Some(other) => unexpected.lock().unwrap().push(other.to_string()),
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(2000));
    let before = acknowledged.lock().unwrap().len();
    assert!(before > 50, "the load is running ({before} fixes acknowledged)");
    let signalled = Instant::now();
    let status = common::terminate_within(&mut server, Duration::from_secs(10));
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    assert!(status.success(), "clean exit: {status}");
    assert!(took < Duration::from_secs(10), "exited {took:?} after SIGTERM");
    assert!(unexpected.lock().unwrap().is_empty(), "{:?}", unexpected.lock().unwrap());
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored: Vec<(i64, i64)> =
        sqlx::query_as("SELECT extract(epoch FROM fixed_at)::int8, count(*) FROM fixes GROUP BY fixed_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let stored: std::collections::HashMap<i64, i64> = stored.into_iter().collect();
    assert!(stored.values().all(|n| *n == 1), "no fix stored twice");
    let lost: Vec<&i64> = acknowledged.iter().filter(|t| !stored.contains_key(t)).collect();
    assert!(lost.is_empty(), "{} acknowledged fixes lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
    eprintln!("{} fixes acknowledged, {} stored, shutdown took {took:?}", acknowledged.len(), stored.len());
}
