//! Generated reports kept in the database (`reports`): the calendar jobs store each one with its
//! HTML and XLSX, its recipients' mails (`report_mails`, the outbox) and, for the city's weekly
//! and monthly bulletins, the ranking ([`super::ranking::keep`]), in one transaction. Staff list
//! and download those of their scope.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use super::daily::DailyLists;
use super::render::{self, RenderError};
use super::{PeriodKind, Report};

/// What a stored report is: the morning lists, the weekly measures, the month-end bulletin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredKind {
    Daily,
    Weekly,
    Monthly,
}

impl StoredKind {
    /// What a report of a period is kept as: a week's or a month's; the whole report of a day or a
    /// range is not kept (a day keeps its lists, [`super::daily`]).
    pub fn of(period: PeriodKind) -> Option<StoredKind> {
        match period {
            PeriodKind::Week => Some(StoredKind::Weekly),
            PeriodKind::Month => Some(StoredKind::Monthly),
            PeriodKind::Day | PeriodKind::Range => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StoredKind::Daily => "daily",
            StoredKind::Weekly => "weekly",
            StoredKind::Monthly => "monthly",
        }
    }
}

impl std::str::FromStr for StoredKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "daily" => Ok(StoredKind::Daily),
            "weekly" => Ok(StoredKind::Weekly),
            "monthly" => Ok(StoredKind::Monthly),
            _ => Err(format!("unknown report kind {s:?} (daily, weekly or monthly)")),
        }
    }
}

/// A document to keep.
pub struct NewReport<'a> {
    pub kind: StoredKind,
    pub organisation_id: i64,
    /// As written on the command line: 2026-W49, 2026-12, 2026-12-07.
    pub period: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    /// A few headline figures, for the console's list.
    pub summary: Value,
    pub html: String,
    pub xlsx: Vec<u8>,
    /// The report whose ranking is kept with it (the city's weekly and monthly ones).
    pub ranked: Option<&'a Report>,
}

impl<'a> NewReport<'a> {
    /// A weekly or monthly report as it is kept: both documents, its headline figures and, for
    /// the city, its ranking; `None` for a day or a range. `period` is `r.period` written out.
    pub fn of(r: &'a Report, period: &'a str) -> Result<Option<Self>, RenderError> {
        let Some(kind) = StoredKind::of(r.period.kind) else { return Ok(None) };
        Ok(Some(NewReport {
            kind,
            organisation_id: r.scope.org.id,
            period,
            start: r.start,
            end: r.end,
            title: r.title(),
            summary: summary(r),
            html: render::html(r),
            xlsx: render::xlsx(r)?,
            ranked: (r.scope.org.kind == "city").then_some(r),
        }))
    }
}

impl<'a> NewReport<'a> {
    /// An office's morning lists as they are kept: both documents and the lists' lengths.
    /// `period` is the lists' day written out (2026-12-07).
    pub fn of_lists(l: &DailyLists, period: &'a str) -> Result<Self, RenderError> {
        Ok(NewReport {
            kind: StoredKind::Daily,
            organisation_id: l.office.id,
            period,
            start: l.start,
            end: l.end,
            title: l.title(),
            summary: l.summary(),
            html: render::daily::html(l),
            xlsx: render::daily::xlsx(l)?,
            ranked: None,
        })
    }
}

/// The headline figures of a report (its scope's totals), for the console's list and the mail.
pub fn summary(r: &Report) -> Value {
    let (p, q, c, a) = (r.persons.total(), r.requests.total(), r.coverage.total(), r.alarms.total());
    json!({
        "in_supervision": p.in_supervision,
        "issued": q.issued,
        "success_rate": q.success_rate,
        "coverage": c.coverage,
        "raised": a.raised,
        "handled_rate": a.handled_rate,
        "timely_rate": a.timely_rate,
        "overnight": a.overnight,
        "talks": r.ranking.iter().chain(&r.county_ranking).filter(|x| x.talk()).count(),
    })
}

/// Who receives an organisation's reports: its active staff with an e-mail address (auditors
/// excepted), and the extra addresses configured for its adcode.
pub async fn recipients(
    pool: &PgPool,
    organisation: i64,
    extra_by_adcode: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, sqlx::Error> {
    let (mut to, adcode): (Vec<String>, Option<String>) = sqlx::query_as(
        "SELECT ARRAY(SELECT email FROM staff WHERE organisation_id = o.id AND active AND email IS NOT NULL
                      AND role <> 'auditor' ORDER BY id), o.adcode
         FROM organisations o WHERE o.id = $1",
    )
    .bind(organisation)
    .fetch_optional(pool)
    .await?
    .unwrap_or_default();
    to.extend(adcode.and_then(|a| extra_by_adcode.get(&a)).into_iter().flatten().cloned());
    to.sort();
    to.dedup();
    Ok(to)
}

/// Stores a report (replacing the document of the same kind, organisation and period, so that a
/// job run again does not keep two), queues a mail to each of `recipients` not already mailed
/// it, and keeps its ranking; one transaction. Returns the report's id.
pub async fn store(
    pool: &PgPool,
    r: &NewReport<'_>,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id = upsert(&mut *tx, r, now, "").await?.ok_or(sqlx::Error::RowNotFound)?;
    sqlx::query(
        "INSERT INTO report_mails (report_id, recipient, next_attempt_at)
         SELECT $1, unnest($2::text[]), $3 ON CONFLICT (report_id, recipient) DO NOTHING",
    )
    .bind(id)
    .bind(recipients)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if let Some(report) = r.ranked {
        super::ranking::keep(&mut tx, report).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Keeps a report made by hand (`cctrack report`), mailing nobody and keeping no ranking, unless
/// the period's report made after its end (the calendar job's, or an earlier one by hand) is
/// kept already: what was published stays as it was. The report's id, or `None` when not kept.
pub async fn keep_by_hand(pool: &PgPool, r: &NewReport<'_>, now: DateTime<Utc>) -> Result<Option<i64>, sqlx::Error> {
    upsert(pool, r, now, "WHERE reports.generated_at < reports.period_end").await
}

/// Inserts or replaces the document of `r`'s kind, organisation and period where `guard` (a
/// WHERE on the stored row, or nothing) allows; its id if it did.
async fn upsert<'e>(
    e: impl sqlx::PgExecutor<'e>,
    r: &NewReport<'_>,
    now: DateTime<Utc>,
    guard: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "INSERT INTO reports (kind, organisation_id, period, period_start, period_end, title, summary, html, xlsx, generated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (kind, organisation_id, period_start) DO UPDATE
           SET period = EXCLUDED.period, period_end = EXCLUDED.period_end, title = EXCLUDED.title,
               summary = EXCLUDED.summary, html = EXCLUDED.html, xlsx = EXCLUDED.xlsx, generated_at = EXCLUDED.generated_at
           {guard}
         RETURNING id"
    ))
    .bind(r.kind.as_str())
    .bind(r.organisation_id)
    .bind(r.period)
    .bind(r.start)
    .bind(r.end)
    .bind(&r.title)
    .bind(&r.summary)
    .bind(&r.html)
    .bind(&r.xlsx)
    .bind(now)
    .fetch_optional(e)
    .await
}

/// A stored report as the console lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Listed {
    pub id: i64,
    /// `daily`, `weekly` or `monthly`.
    pub kind: String,
    pub organisation_id: i64,
    pub organisation_name: String,
    /// 2026-W49, 2026-12, 2026-12-07.
    pub period: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub title: String,
    pub generated_at: DateTime<Utc>,
    /// Headline figures (persons, requests, alarms; or the lists' lengths).
    pub summary: Value,
    /// Mails queued, and sent.
    pub mails: i64,
    pub mails_sent: i64,
}

/// Reports of organisations within `scope`, newest first; `kind` filters; pages by id, before
/// `before`.
pub async fn list(
    pool: &PgPool,
    scope: i64,
    kind: Option<StoredKind>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    listed(pool, scope, kind, before, None, limit).await
}

/// Report `id` as the list shows it, if its organisation is within `scope`.
pub async fn one(pool: &PgPool, scope: i64, id: i64) -> Result<Option<Listed>, sqlx::Error> {
    Ok(listed(pool, scope, None, None, Some(id), 1).await?.pop())
}

async fn listed(
    pool: &PgPool,
    scope: i64,
    kind: Option<StoredKind>,
    before: Option<i64>,
    id: Option<i64>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.kind, r.organisation_id, o.name AS organisation_name, r.period, r.period_start, r.period_end,
                r.title, r.generated_at, r.summary,
                (SELECT count(*) FROM report_mails m WHERE m.report_id = r.id) AS mails,
                (SELECT count(*) FROM report_mails m WHERE m.report_id = r.id AND m.state = 'sent') AS mails_sent
         FROM reports r JOIN organisations o ON o.id = r.organisation_id
         WHERE org_within(r.organisation_id, $1) AND ($2::text IS NULL OR r.kind = $2)
           AND ($3::bigint IS NULL OR r.id < $3) AND ($5::bigint IS NULL OR r.id = $5)
         ORDER BY r.id DESC LIMIT $4",
    )
    .bind(scope)
    .bind(kind.map(StoredKind::as_str))
    .bind(before)
    .bind(limit)
    .bind(id)
    .fetch_all(pool)
    .await
}

/// A stored report's documents.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Documents {
    pub id: i64,
    pub organisation_id: i64,
    pub kind: String,
    pub period: String,
    pub title: String,
    pub html: String,
    pub xlsx: Option<Vec<u8>>,
}

/// Report `id` if its organisation is within `scope` (otherwise as if it did not exist).
pub async fn documents(pool: &PgPool, id: i64, scope: i64) -> Result<Option<Documents>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, organisation_id, kind, period, title, html, xlsx FROM reports
         WHERE id = $1 AND org_within(organisation_id, $2)",
    )
    .bind(id)
    .bind(scope)
    .fetch_optional(pool)
    .await
}

/// A report mail to send: the recipient and the report's documents.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportMail {
    pub id: i64,
    pub report_id: i64,
    pub recipient: String,
    pub attempts: i32,
    pub kind: String,
    pub title: String,
    pub period: String,
    pub organisation_name: String,
    pub summary: Value,
    pub xlsx: Option<Vec<u8>>,
}

/// Claims up to `limit` report mails due by `now` (marked `sending`, committed); one left
/// `sending` by a crash is claimed again after the notices' `RECLAIM`.
pub async fn claim_due_mails(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<Vec<ReportMail>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM report_mails WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED),
         claimed AS (
             UPDATE report_mails m SET state = 'sending', attempts = attempts + 1,
                    next_attempt_at = $1 + make_interval(secs => $3)
             FROM due WHERE m.id = due.id
             RETURNING m.id, m.report_id, m.recipient, m.attempts)
         SELECT c.id, c.report_id, c.recipient, c.attempts, r.kind, r.title, r.period, o.name AS organisation_name,
                r.summary, r.xlsx
         FROM claimed c JOIN reports r ON r.id = c.report_id JOIN organisations o ON o.id = r.organisation_id
         ORDER BY c.id",
    )
    .bind(now)
    .bind(limit)
    .bind(crate::schedule::notices::RECLAIM.num_seconds() as f64)
    .fetch_all(pool)
    .await
}

/// How a mail's attempt ended (as for the alarm notices).
pub use crate::schedule::notices::Outcome as MailOutcome;

/// Records the outcome of report mail `id`; when every mail of its report has been sent, marks
/// the report e-mailed.
pub async fn record_mail(pool: &PgPool, id: i64, outcome: &MailOutcome, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let r = outcome.recording(now);
    sqlx::query(
        "WITH m AS (
             UPDATE report_mails SET state = $2, next_attempt_at = $3, last_error = coalesce($4, last_error), sent_at = $5
             WHERE id = $1 AND state = 'sending' RETURNING report_id)
         UPDATE reports r SET emailed_at = $3 FROM m
         WHERE r.id = m.report_id AND $2 = 'sent' AND r.emailed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM report_mails x WHERE x.report_id = r.id AND x.id <> $1 AND x.state <> 'sent')",
    )
    .bind(id)
    .bind(r.state)
    .bind(r.next_attempt_at)
    .bind(r.error)
    .bind(r.sent_at)
    .execute(pool)
    .await?;
    Ok(())
}
