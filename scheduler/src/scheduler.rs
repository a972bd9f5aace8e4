//! One scheduler: its tick, its outbox, and its leader loop.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracker::alarm::{Kind, State};
use tracker::ingest::fix::{FieldNames, RawFix, Source};
use tracker::ingest::{Ingestor, Job};
use tracker::report::store as report_store;
use tracker::schedule::escalation::{self, Decision, DueStep, PlannedStep};
use tracker::schedule::{calendar as runs, failures, leader, notices, polling};

use crate::calendar::Job as CalendarJob;
use crate::clock::Clock;
use crate::config::SchedulerConfig;
use crate::gateway::{CarrierGateway, Located};
use crate::ladder::{Ladder, Step};
use crate::mail::{Mail, Mailer, Sent};

/// Items handled per query: a tick costs O(due), in pages of this size.
const PAGE: i64 = 500;
/// Notice attempts before giving up (back-off 30 s doubling, at most 30 min: about 2 h).
const MAX_ATTEMPTS: i32 = 8;
/// How often a process that is not the leader tries to become it (takeover within 10 s).
const ELECTION: Duration = Duration::from_secs(3);

/// The field names of a carrier gateway's answer, for the errors of its fix.
const GATEWAY_FIELDS: FieldNames = FieldNames {
    seq: "seq",
    time: "located_at",
    lat: "lat",
    lon: "lon",
    accuracy: "accuracy_m",
    battery: "battery",
    speed: "speed",
    course: "course",
    altitude: "altitude",
};

/// What one tick did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TickReport {
    pub issued: usize,
    pub gateway_located: usize,
    pub gateway_failed: usize,
    pub failed: usize,
    pub alarms_raised: usize,
    pub steps_planned: usize,
    pub steps_taken: usize,
    pub calendar_runs: usize,
}

pub struct Scheduler {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    ingestor: Arc<Ingestor>,
    gateway: Option<Arc<dyn CarrierGateway>>,
    mailer: Arc<dyn Mailer>,
    /// [`Scheduler::run`] waits until this is true (the demo opens it once its fleet caught up).
    gate: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Scheduler {
    pub fn new(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
        ingestor: Arc<Ingestor>,
        gateway: Option<Arc<dyn CarrierGateway>>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        Scheduler { pool, clock, config, ingestor, gateway, mailer, gate: None }
    }

    /// Locates Traccar Client phones through `gateway` (the demo's, known only once its fleet runs).
    pub fn set_gateway(&mut self, gateway: Arc<dyn CarrierGateway>) {
        self.gateway = Some(gateway);
    }

    /// [`Scheduler::run`] starts once `gate` is true.
    pub fn hold_until(&mut self, gate: tokio::sync::watch::Receiver<bool>) {
        self.gate = Some(gate);
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Makes this configuration's ladder the one copied into alarms from now on.
    pub async fn publish_ladder(&self) -> Result<(), sqlx::Error> {
        let ladder = serde_json::to_value(&self.config.ladder).expect("a ladder serializes");
        sqlx::query("UPDATE escalation_ladder SET ladder = $1, updated_at = now() WHERE ladder <> $1")
            .bind(ladder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Does everything due at the clock's time. The phases are independent: one that fails is
    /// logged and the others still run; the first failure is returned after all have run.
    pub async fn tick(&self) -> Result<TickReport, sqlx::Error> {
        let mut r = TickReport::default();
        let c = &self.config;
        let mut first_error = None;
        let mut check = |phase: &str, outcome: Result<(), sqlx::Error>| {
            if let Err(e) = outcome {
                tracing::error!(phase, error = %e, "scheduler phase failed; the others went on");
                first_error.get_or_insert(e);
            }
        };
        let issuing = async {
            loop {
                let carrier = self.gateway.is_some();
                let issued =
                    polling::issue_due(&self.pool, self.clock.now(), &c.intervals, c.grace, carrier, PAGE).await?;
                r.issued += issued.len();
                if (issued.len() as i64) < PAGE {
                    return Ok(());
                }
            }
        };
        check("issue requests", issuing.await);
        check("ask the carrier gateway", self.ask_gateway(&mut r).await);
        let expiring = async {
            loop {
                let raised = failures::expire(&self.pool, self.clock.now(), &c.intervals, PAGE).await?;
                r.failed += raised.failed;
                r.alarms_raised += raised.alarms;
                if (raised.failed as i64) < PAGE {
                    return Ok(());
                }
            }
        };
        check("expire requests", expiring.await);
        match failures::overdue_leaves(&self.pool, self.clock.now(), c.grace, PAGE).await {
            Ok(n) => r.alarms_raised += n,
            Err(e) => check("overdue leaves", Err(e)),
        }
        match failures::expiring_bases(&self.pool, self.clock.now(), c.basis_warning, PAGE).await {
            Ok(n) => r.alarms_raised += n,
            Err(e) => check("expiring bases", Err(e)),
        }
        match self.plan_escalations().await {
            Ok(n) => r.steps_planned += n,
            Err(e) => check("plan escalations", Err(e)),
        }
        match escalation::take_due(&self.pool, self.clock.now(), PAGE, |due| self.decide(due)).await {
            Ok(n) => r.steps_taken += n,
            Err(e) => check("take escalation steps", Err(e)),
        }
        match self.calendar().await {
            Ok(n) => r.calendar_runs += n,
            Err(e) => check("calendar jobs", Err(e)),
        }
        match first_error {
            None => Ok(r),
            Some(e) => Err(e),
        }
    }

    /// Locates the phones of carrier requests that fell due: a located answer goes through ingest
    /// like any fix (and answers the request there); a failure is the request's outcome.
    async fn ask_gateway(&self, r: &mut TickReport) -> Result<(), sqlx::Error> {
        let due = polling::take_for_gateway(&self.pool, self.clock.now(), PAGE).await?;
        for q in due {
            let outcome = match &self.gateway {
                None => {
                    Located::Failed { reason: "no_gateway".into(), detail: "no carrier gateway is configured".into() }
                }
                Some(g) => g.locate(q.id, q.device_id).await,
            };
            let failure = match outcome {
                Located::At { lat, lon, crs, accuracy_m, located_at } => {
                    match self.ingest_located(q.device_id, lat, lon, &crs, accuracy_m, located_at).await {
                        Ok(()) => {
                            // Stored (or a duplicate of one stored): the request is answered.
                            polling::answered_by_gateway(&self.pool, q.id, located_at, self.clock.now()).await?;
                            r.gateway_located += 1;
                            continue;
                        }
                        Err(e) => e,
                    }
                }
                Located::Failed { reason, detail } => {
                    tracing::info!(request = q.id, person = q.person_id, %detail, "carrier gateway could not locate the phone");
                    reason
                }
            };
            let raised =
                failures::gateway_failed(&self.pool, q.id, &failure, self.clock.now(), &self.config.intervals).await?;
            r.gateway_failed += raised.failed;
            r.alarms_raised += raised.alarms;
        }
        Ok(())
    }

    /// Stores a carrier gateway's position as a fix of the device (source `cell`); the failure
    /// reason when it could not be stored.
    async fn ingest_located(
        &self,
        device_id: i64,
        lat: f64,
        lon: f64,
        crs: &str,
        accuracy_m: f64,
        located_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        let device = tracker::device::info(&self.pool, device_id)
            .await
            .map_err(|e| format!("gateway_error: {e}"))?
            .ok_or_else(|| "gateway_error".to_string())?;
        let fix = RawFix {
            time: Some(located_at),
            lat: Some(lat),
            lon: Some(lon),
            accuracy_m: Some(accuracy_m),
            source: Some(Source::Cell),
            crs: crs.parse().ok(),
            ..RawFix::default()
        };
        let job = Job { device, decoded: vec![Ok(fix)], names: GATEWAY_FIELDS, indexed: false };
        match self.ingestor.ingest(job).await {
            Ok(report) if report.errors.is_empty() => Ok(()),
            // Its time is before the device's enrolment or too far ahead: refused with the field.
            Ok(report) => {
                tracing::warn!(device = device_id, errors = ?report.errors, "carrier gateway position refused");
                Err("gateway_error".into())
            }
            Err(e) => {
                tracing::warn!(device = device_id, error = %e, "carrier gateway position not stored");
                Err("gateway_error".into())
            }
        }
    }

    /// Plans the steps of alarms that opened since the last tick, from the ladder copied into
    /// each. A `low_battery` prompt is not escalated; an expiring order goes to the county at once.
    async fn plan_escalations(&self) -> Result<usize, sqlx::Error> {
        let mut planned = 0;
        loop {
            let (opened, upto) = escalation::opened_after(&self.pool, PAGE).await?;
            let cursor = runs::cursor(&self.pool, escalation::CONSUMER).await?;
            if upto == cursor {
                return Ok(planned);
            }
            let mut steps = Vec::new();
            for o in &opened {
                let kind = o.kind.parse::<Kind>().unwrap_or(Kind::FenceExit);
                let ladder: Ladder = o
                    .ladder
                    .clone()
                    .and_then(|l| serde_json::from_value(l).ok())
                    .unwrap_or_else(|| self.config.ladder.clone());
                let urgent = o.is_key || o.level == "strict";
                let plan = match kind {
                    Kind::LowBattery => vec![],
                    Kind::BasisExpiring => vec![(Step::County, o.opened_at)],
                    _ => ladder.steps(o.opened_at, urgent),
                };
                steps.extend(plan.into_iter().map(|(step, due_at)| PlannedStep {
                    alarm_id: o.alarm_id,
                    person_id: o.person_id,
                    step: step.as_str(),
                    due_at,
                }));
            }
            planned += steps.len();
            escalation::plan(&self.pool, &steps, upto).await?;
        }
    }

    fn decide(&self, due: &DueStep) -> Decision {
        let (Ok(step), Ok(state)) = (due.step.parse::<Step>(), due.alarm_state.parse::<State>()) else {
            return Decision::Cancel;
        };
        if !step.applies_to(state) {
            return Decision::Cancel;
        }
        let extra = |adcode: &Option<String>| {
            adcode.as_ref().and_then(|a| self.config.recipients.get(a)).cloned().unwrap_or_default()
        };
        let mut recipients = match step {
            Step::County => [due.county_emails.clone(), extra(&due.county_adcode)].concat(),
            Step::City => [due.city_emails.clone(), extra(&due.city_adcode)].concat(),
            Step::Overnight => Vec::new(),
        };
        recipients.sort();
        recipients.dedup();
        Decision::Take(crate::notice::compose(due, step, &recipients, &self.config.console_url))
    }

    /// Runs each calendar job whose latest period has not run; how many ran.
    async fn calendar(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut ran = 0;
        for job in CalendarJob::ALL {
            let period = job.latest(now);
            if runs::claim(&self.pool, job.as_str(), &period.name, now).await? {
                match crate::reports::run(&self.pool, &self.config, job, &period.name, now).await {
                    Ok(n) => tracing::info!(job = job.as_str(), period = %period.name, reports = n, "calendar job ran"),
                    Err(e) => {
                        tracing::warn!(job = job.as_str(), period = %period.name, error = %e, "calendar job failed")
                    }
                }
                ran += 1;
            }
        }
        Ok(ran)
    }

    /// Sends the alarm notices that are due; (sent, not sent).
    pub async fn send_notices(&self) -> Result<(usize, usize), sqlx::Error> {
        let (mut sent, mut other) = (0, 0);
        loop {
            let due = notices::claim_due(&self.pool, self.clock.now(), 50).await?;
            if due.is_empty() {
                break;
            }
            for n in &due {
                let outcome = self.attempt(&Mail::from(n), n.attempts).await;
                if outcome == notices::Outcome::Sent {
                    sent += 1;
                } else {
                    other += 1;
                    tracing::warn!(notice = n.id, alarm = n.alarm_id, outcome = ?outcome, "notice not sent");
                }
                notices::record(&self.pool, n.id, &outcome, self.clock.now()).await?;
            }
        }
        Ok((sent, other))
    }

    /// Sends one batch of the report mails that are due; (sent, not sent). One batch a call, so
    /// the outbox turns to the alarm notices between batches: an escalation never waits behind a
    /// Monday's worth of reports.
    pub async fn send_report_mails(&self) -> Result<(usize, usize), sqlx::Error> {
        let (mut sent, mut other) = (0, 0);
        for m in report_store::claim_due_mails(&self.pool, self.clock.now(), 10).await? {
            let outcome = self.attempt(&crate::reports::compose(&m, &self.config.console_url), m.attempts).await;
            if outcome == notices::Outcome::Sent {
                sent += 1;
            } else {
                other += 1;
                tracing::warn!(report_mail = m.id, report = m.report_id, outcome = ?outcome, "report mail not sent");
            }
            report_store::record_mail(&self.pool, m.id, &outcome, self.clock.now()).await?;
        }
        Ok((sent, other))
    }

    /// One attempt at sending `mail`, its `attempts`-th: sent, to retry after a back-off (30 s
    /// doubling, at most 30 min), or given up.
    async fn attempt(&self, mail: &Mail, attempts: i32) -> notices::Outcome {
        match self.mailer.send(mail).await {
            Sent::Accepted => notices::Outcome::Sent,
            Sent::NotConfigured => notices::Outcome::Unsent,
            Sent::Permanent(error) => notices::Outcome::Failed { error },
            Sent::Transient(error) if attempts >= MAX_ATTEMPTS => notices::Outcome::Failed { error },
            Sent::Transient(error) => {
                let wait = (30i64 << (attempts - 1).clamp(0, 6)).min(1800);
                notices::Outcome::Retry { error, at: self.clock.now() + chrono::Duration::seconds(wait) }
            }
        }
    }

    /// Runs while this process holds the leader lock (trying to get it every few seconds until
    /// then), until `stop` is cancelled; then gives the lock up so that another takes over.
    pub async fn run(self: Arc<Self>, holder: String, stop: CancellationToken) {
        if let Some(mut gate) = self.gate.clone() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = gate.wait_for(|open| *open) => {}
            }
        }
        loop {
            let lead = tokio::select! {
                _ = stop.cancelled() => return,
                l = leader::try_lead(&self.pool, &holder, self.clock.now()) => l,
            };
            match lead {
                Ok(Some(lead)) => self.clone().lead(lead, &holder, &stop).await,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "scheduler: cannot reach the database to elect a leader"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(ELECTION) => {}
            }
        }
    }

    async fn lead(self: Arc<Self>, mut lead: leader::Leadership, holder: &str, stop: &CancellationToken) {
        tracing::info!(%holder, "scheduler: this process leads");
        if let Err(e) = self.publish_ladder().await {
            tracing::warn!(error = %e, "scheduler: cannot publish the escalation ladder");
        }
        // The outbox runs beside the ticks: a slow or unreachable mail server never delays an
        // escalation.
        let outbox_stop = stop.child_token();
        let outbox = tokio::spawn(self.clone().outbox(outbox_stop.clone()));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.config.tick) => {}
            }
            if let Err(e) = lead.heartbeat(self.clock.now()).await {
                tracing::warn!(error = %e, "scheduler: lost the leader lock's connection");
                break;
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "scheduler tick failed");
            }
        }
        outbox_stop.cancel();
        if let Err(e) = outbox.await {
            tracing::error!(error = %e, "scheduler outbox failed");
        }
        if stop.is_cancelled() {
            if let Err(e) = lead.resign().await {
                tracing::warn!(error = %e, "scheduler: resigning the leader lock");
            }
        }
    }

    async fn outbox(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let mut more = false;
            if let Err(e) = self.send_notices().await {
                tracing::warn!(error = %e, "scheduler outbox: database unavailable");
            } else {
                match self.send_report_mails().await {
                    // A batch went: the notices, then the next batch, without waiting.
                    Ok((sent, other)) => more = sent + other > 0,
                    Err(e) => tracing::warn!(error = %e, "scheduler outbox: database unavailable"),
                }
            }
            if more && !stop.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.config.tick) => {}
            }
        }
    }
}
