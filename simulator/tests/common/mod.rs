//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared real traces, outside the repository; absent in a user's clone.
pub const TRACES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/traces");

/// Path of a real trace, or `None` (with a message saying the test is skipped)
/// when the shared data is not there.
pub fn real(rel: &str) -> Option<PathBuf> {
    let p = Path::new(TRACES).join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: real trace {} is absent (shared/data is not beside the repository)", p.display());
        None
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Writes `content` to a fresh file in the system temp dir; removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, content: &[u8]) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cctrack-sim-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// NMEA sentence with a correct checksum.
pub fn nmea(body: &str) -> String {
    let c = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{c:02X}")
}

pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want} ± {tol}");
}
