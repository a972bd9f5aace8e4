//! Progress bars for testers: fixes sent of planned, with the server's answers so far, drawn on
//! stderr when it is a terminal and hidden otherwise (logs and pipes stay clean).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::replay::ReplaySummary;

/// A bar for `planned` fixes.
pub struct SendProgress {
    bar: ProgressBar,
}

impl SendProgress {
    /// Drawn only if stderr is a terminal.
    pub fn new(planned: usize) -> Self {
        let target =
            if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(planned as u64), target);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} sent, {msg}")
                .expect("the template is valid")
                .progress_chars("#>-"),
        );
        SendProgress { bar }
    }

    pub fn show(&self, sent: usize, accepted: usize, rejected: usize, retries: usize) {
        self.bar.set_position(sent as u64);
        self.bar.set_message(format!("{accepted} accepted, {rejected} rejected, {retries} retries"));
    }

    /// From a replay's running summary.
    pub fn show_replay(&self, s: &ReplaySummary) {
        self.show(s.sent, s.accepted + s.duplicates, s.rejected, s.retries);
    }

    /// From a fleet's counters.
    pub fn show_fleet(&self, c: &FleetCounters) {
        let get = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        self.show(get(&c.sent), get(&c.accepted), get(&c.rejected), get(&c.retries));
    }

    pub fn finish(&self) {
        self.bar.abandon();
    }
}

/// Totals over a fleet's phones, updated by each phone as it sends.
#[derive(Debug, Default)]
pub struct FleetCounters {
    pub sent: AtomicUsize,
    pub accepted: AtomicUsize,
    pub rejected: AtomicUsize,
    pub retries: AtomicUsize,
}

impl FleetCounters {
    /// Adds what one phone did since its previous summary `before`.
    pub fn add(&self, before: Option<&ReplaySummary>, now: &ReplaySummary) {
        let delta = |f: fn(&ReplaySummary) -> usize| f(now).saturating_sub(before.map_or(0, f));
        self.sent.fetch_add(delta(|s| s.sent), Ordering::Relaxed);
        self.accepted.fetch_add(delta(|s| s.accepted + s.duplicates), Ordering::Relaxed);
        self.rejected.fetch_add(delta(|s| s.rejected), Ordering::Relaxed);
        self.retries.fetch_add(delta(|s| s.retries), Ordering::Relaxed);
    }
}
