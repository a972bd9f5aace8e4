//! What the calendar jobs make: at 08:00 each office's morning lists (the 24 hours before); on
//! Monday at 08:00 the weekly report, and at 08:00 on the 1st the month-end bulletin, of the
//! city and of each county. Each is computed, rendered (HTML and XLSX), stored and queued for
//! e-mail to its organisation's recipients, with the workbook attached; the city's bulletins
//! keep their ranking. Facts count as they stood when the job ran.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use tracker::report::daily::{self, DailyLists};
use tracker::report::store::{self, NewReport, ReportMail, StoredKind};
use tracker::report::{self, Period, Report, ReportError};

use crate::calendar::Job;
use crate::config::SchedulerConfig;
use crate::mail::{File, Mail, SIGNATURE, SUBJECT_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("period {0:?}: {1}")]
    Period(String, String),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("rendering {0}: {1}")]
    Render(String, tracker::report::render::RenderError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("{failed} of {of} reports could not be made (each is logged)")]
    Incomplete { failed: usize, of: usize },
}

/// Runs `job` for `period` (its name, as [`crate::calendar::Period`] gives it); how many reports
/// were stored.
pub async fn run(
    pool: &PgPool,
    config: &SchedulerConfig,
    job: Job,
    period: &str,
    now: DateTime<Utc>,
) -> Result<usize, JobError> {
    let city = report::scope::default_scope(pool).await?;
    match job {
        Job::DailyDigest => {
            let day = NaiveDate::parse_from_str(period, "%Y-%m-%d")
                .map_err(|e| JobError::Period(period.to_string(), e.to_string()))?;
            let lists = daily::build(pool, city, day, now, &config.console_url).await?;
            let mut failed = 0;
            for l in &lists {
                if let Err(e) = store_daily(pool, config, period, l, now).await {
                    tracing::warn!(office = l.office.id, period, error = %e, "morning lists not stored");
                    failed += 1;
                }
            }
            finished(lists.len(), failed)
        }
        Job::Weekly | Job::MonthEnd => {
            let parsed = Period::parse(period).map_err(|e| JobError::Period(period.to_string(), e.to_string()))?;
            if StoredKind::of(parsed.kind).is_none() {
                return Err(JobError::Period(period.to_string(), "not a week or a month".into()));
            }
            // The city first: its ranking is kept before the counties' reports are made.
            let scope = report::Scope::load(pool, city).await?;
            let orgs: Vec<i64> = std::iter::once(city).chain(scope.counties.iter().map(|c| c.id)).collect();
            let mut failed = 0;
            for org in &orgs {
                let stored = match report::build(pool, *org, &parsed, now).await {
                    Ok(r) => store_report(pool, config, period, &r, now).await,
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = stored {
                    tracing::warn!(organisation = org, period, error = %e, "report not stored");
                    failed += 1;
                }
            }
            finished(orgs.len(), failed)
        }
    }
}

/// One organisation's failure does not keep the others' reports from being made.
fn finished(made: usize, failed: usize) -> Result<usize, JobError> {
    if failed == 0 {
        Ok(made)
    } else {
        Err(JobError::Incomplete { failed, of: made })
    }
}

async fn store_report(
    pool: &PgPool,
    config: &SchedulerConfig,
    period: &str,
    r: &Report,
    now: DateTime<Utc>,
) -> Result<i64, JobError> {
    let new = NewReport::of(r, period)
        .map_err(|e| JobError::Render(r.title(), e))?
        .ok_or_else(|| JobError::Period(period.to_string(), "not a week or a month".into()))?;
    let to = store::recipients(pool, r.scope.org.id, &config.recipients).await?;
    Ok(store::store(pool, &new, &to, now).await?)
}

async fn store_daily(
    pool: &PgPool,
    config: &SchedulerConfig,
    period: &str,
    l: &DailyLists,
    now: DateTime<Utc>,
) -> Result<i64, JobError> {
    let new = NewReport::of_lists(l, period).map_err(|e| JobError::Render(l.title(), e))?;
    let to = store::recipients(pool, l.office.id, &config.recipients).await?;
    Ok(store::store(pool, &new, &to, now).await?)
}

/// The mail of a stored report: a few lines in Chinese, a link to the console, the workbook
/// attached.
pub fn compose(m: &ReportMail, console_url: &str) -> Mail {
    let title = m.title.trim_start_matches('《').trim_end_matches('》');
    let s = &m.summary;
    let n = |k: &str| s.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let pct = |k: &str| match s.get(k).and_then(|v| v.as_f64()) {
        Some(x) => format!("{:.1}%", x * 100.0),
        None => report::render::NONE.to_string(),
    };
    let figures = if m.kind == "daily" {
        format!(
            "在册社区矫正对象 {} 人；异常定位 {} 人，越界报警 {} 起，定位缺失 {} 人。",
            n("in_supervision"),
            n("doubtful"),
            n("breaches"),
            n("missing")
        )
    } else {
        format!(
            "在册社区矫正对象 {} 人；定位请求 {} 次，定位成功率 {}，定位率 {}；报警 {} 起，处置率 {}，处置及时率 {}，过夜 {} 起。",
            n("in_supervision"),
            n("issued"),
            pct("success_rate"),
            pct("coverage"),
            n("raised"),
            pct("handled_rate"),
            pct("timely_rate"),
            n("overnight")
        )
    };
    let body = format!(
        "{}：\n\n{}（{}）已生成。\n{}\n\n详见附件，或在监管平台查看：{}/reports/{}\n\n{SIGNATURE}\n",
        m.organisation_name,
        m.title,
        m.period,
        figures,
        console_url.trim_end_matches('/'),
        m.report_id
    );
    Mail {
        key: format!("report-mail-{}", m.id),
        recipient: m.recipient.clone(),
        subject: format!("{SUBJECT_PREFIX}{title}"),
        body,
        attachment: m.xlsx.clone().map(|bytes| File {
            name: format!("{title}.xlsx"),
            content_type: report::render::xlsx::CONTENT_TYPE,
            bytes,
        }),
    }
}
