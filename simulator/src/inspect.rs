//! `inspect`: read a trace and describe it. Kept in the library so the later
//! `replay --dry-run` shows exactly the same thing before sending anything.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::trace::{self, ProblemKind, ReadError, ReadOptions, StatsOptions, Trace, TraceStats};

/// Exit status of a read: everything clean, or read but with problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    WithProblems,
}

impl TraceStats {
    pub fn outcome(&self) -> Outcome {
        if self.problems.is_empty() {
            Outcome::Clean
        } else {
            Outcome::WithProblems
        }
    }
}

/// Reads `path` and computes its stats.
pub fn inspect(path: &Path, read: &ReadOptions, stats: &StatsOptions) -> Result<(Trace, TraceStats), ReadError> {
    let trace = trace::read_path(path, read)?;
    let s = trace::stats(&trace, stats);
    Ok((trace, s))
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_else(|| "-".into())
}

/// `3h 03m 58s`
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// The human-readable summary `inspect` prints; at most `max_problems` problems are
/// listed (all are in the JSON).
pub fn render_human(path: &Path, trace: &Trace, s: &TraceStats, max_problems: usize) -> String {
    let mut o = String::new();
    let seg = match trace.segments.len() {
        1 => "1 segment".to_string(),
        n => format!("{n} segments"),
    };
    let _ = writeln!(o, "{}", path.display());
    let _ = writeln!(o, "  format:     {}", s.format);
    let _ = writeln!(o, "  points:     {} ({} with time), {seg}", s.points, s.timed_points);
    let _ = writeln!(o, "  start:      {}", time(s.start));
    let _ = writeln!(o, "  end:        {}", time(s.end));
    let _ = writeln!(
        o,
        "  duration:   {}",
        s.duration_s.map(|d| format!("{} ({d} s)", human_duration(d))).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(o, "  distance:   {:.3} km", s.distance_m / 1000.0);
    let _ = writeln!(
        o,
        "  max speed:  {}",
        s.max_speed_mps.map(|v| format!("{v:.2} m/s ({:.1} km/h)", v * 3.6)).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(o, "  gaps:       {}", s.gaps.len());
    for g in &s.gaps {
        let _ = writeln!(o, "    {} .. {}  {}", time(Some(g.start)), time(Some(g.end)), human_duration(g.seconds));
    }
    // Counts per kind first: one broken file can have thousands of the same.
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for p in &s.problems {
        let k = kind_name(p.kind);
        match kinds.iter_mut().find(|(n, _)| *n == k) {
            Some((_, c)) => *c += 1,
            None => kinds.push((k, 1)),
        }
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, c)| format!("{c} {k}")).collect();
    let _ = writeln!(
        o,
        "  problems:   {}{}",
        s.problems.len(),
        if by_kind.is_empty() { String::new() } else { format!(" ({})", by_kind.join(", ")) }
    );
    for p in s.problems.iter().take(max_problems) {
        let _ = writeln!(o, "    [{}] {p}", kind_name(p.kind));
    }
    if s.problems.len() > max_problems {
        let _ = writeln!(o, "    ... and {} more (--json lists all)", s.problems.len() - max_problems);
    }
    o
}

fn kind_name(kind: ProblemKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.0), "0s");
        assert_eq!(human_duration(59.6), "1m 00s");
        assert_eq!(human_duration(11038.0), "3h 03m 58s");
        assert_eq!(human_duration(-5.0), "0s");
        assert_eq!(human_duration(f64::NAN), "0s");
    }
}
