//! What a calendar job does. Here the daily digest counts the night's alarms per office (the
//! reports issue turns it into the morning lists); the weekly and month-end jobs are the hook
//! the reports fill in.

use std::pin::Pin;

use sqlx::PgPool;

use crate::calendar::Job;

pub trait CalendarHook: Send + Sync {
    fn run<'a>(
        &'a self,
        pool: &'a PgPool,
        job: Job,
        period: &'a str,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Logs what each job would report.
pub struct LogHook;

impl CalendarHook for LogHook {
    fn run<'a>(
        &'a self,
        pool: &'a PgPool,
        job: Job,
        period: &'a str,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if job == Job::DailyDigest {
                // The night: 20:00 the evening before to 08:00 of the period's day (Asia/Shanghai).
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT o.name, count(*) FROM alarms a JOIN organisations o ON o.id = a.office_id
                     WHERE a.opened_at >= ($1::date - 1 + time '20:00') AT TIME ZONE 'Asia/Shanghai'
                       AND a.opened_at < ($1::date + time '08:00') AT TIME ZONE 'Asia/Shanghai'
                     GROUP BY o.name ORDER BY o.name",
                )
                .bind(period)
                .fetch_all(pool)
                .await
                .map_err(|e| e.to_string())?;
                let total: i64 = rows.iter().map(|r| r.1).sum();
                tracing::info!(
                    period,
                    offices = rows.len(),
                    alarms = total,
                    "daily digest: the night's alarms per office"
                );
            } else {
                tracing::info!(
                    job = job.as_str(),
                    period,
                    "calendar job ran (its report comes with the reports issue)"
                );
            }
            Ok(())
        })
    }
}
