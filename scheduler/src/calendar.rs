//! Calendar jobs, in Asia/Shanghai: the daily digest at 08:00, the weekly job on Monday at
//! 08:00, the month-end job at 08:00 on the first of the next month. A job runs once per
//! period; a run missed while no cctrack was up runs once at the next start (the latest period
//! only, not once per missed period). Which period ran last is kept in the database.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// 08:00 every day: the night's alarms per office.
    DailyDigest,
    /// Monday 08:00: the week just ended (周报).
    Weekly,
    /// 08:00 on the 1st: the month just ended (月底通报).
    MonthEnd,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::DailyDigest, Job::Weekly, Job::MonthEnd];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::DailyDigest => "daily_digest",
            Job::Weekly => "weekly",
            Job::MonthEnd => "month_end",
        }
    }

    /// The latest period whose run time is not after `now`: its name and its run time. The
    /// period is the one reported on: the day (the night before its 08:00), the ISO week just
    /// ended, the month just ended.
    pub fn latest(self, now: DateTime<Utc>) -> Period {
        let zone = tracker::time::shanghai();
        let eight = NaiveTime::from_hms_opt(8, 0, 0).expect("valid time");
        let local = now.with_timezone(&zone);
        let at =
            |d: NaiveDate| zone.from_local_datetime(&d.and_time(eight)).single().expect("UTC+8 has no gaps").to_utc();
        let today = local.date_naive();
        let ran_today = local.time() >= eight;
        match self {
            Job::DailyDigest => {
                let day = if ran_today { today } else { today - Duration::days(1) };
                Period { name: day.format("%Y-%m-%d").to_string(), runs_at: at(day) }
            }
            Job::Weekly => {
                let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                let monday =
                    if today.weekday() == Weekday::Mon && !ran_today { monday - Duration::weeks(1) } else { monday };
                let ended = (monday - Duration::days(1)).iso_week();
                Period { name: format!("{}-W{:02}", ended.year(), ended.week()), runs_at: at(monday) }
            }
            Job::MonthEnd => {
                let first = today.with_day(1).expect("the 1st exists");
                let first = if today.day() == 1 && !ran_today { first - chrono::Months::new(1) } else { first };
                let ended = first - chrono::Months::new(1);
                Period { name: ended.format("%Y-%m").to_string(), runs_at: at(first) }
            }
        }
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub name: String,
    pub runs_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(&format!("{s}+08:00")).unwrap().to_utc()
    }

    #[test]
    fn the_latest_period_of_each_job() {
        // (now, job) → (period, runs at)
        let table = [
            ("2026-12-07T07:59:59", Job::DailyDigest, "2026-12-06", "2026-12-06T08:00:00"),
            ("2026-12-07T08:00:00", Job::DailyDigest, "2026-12-07", "2026-12-07T08:00:00"),
            // 2026-12-07 is a Monday: week 49 (Nov 30 – Dec 6) is reported at 08:00.
            ("2026-12-07T07:00:00", Job::Weekly, "2026-W48", "2026-11-30T08:00:00"),
            ("2026-12-07T08:00:00", Job::Weekly, "2026-W49", "2026-12-07T08:00:00"),
            ("2026-12-13T23:00:00", Job::Weekly, "2026-W49", "2026-12-07T08:00:00"),
            // ISO weeks cross the year: Monday 2027-01-04 reports 2026-W53.
            ("2027-01-04T09:00:00", Job::Weekly, "2026-W53", "2027-01-04T08:00:00"),
            ("2026-12-01T07:59:00", Job::MonthEnd, "2026-10", "2026-11-01T08:00:00"),
            ("2026-12-01T08:00:00", Job::MonthEnd, "2026-11", "2026-12-01T08:00:00"),
            ("2027-01-15T12:00:00", Job::MonthEnd, "2026-12", "2027-01-01T08:00:00"),
        ];
        for (now, job, name, runs_at) in table {
            let p = job.latest(local(now));
            assert_eq!((p.name.as_str(), p.runs_at), (name, local(runs_at)), "{job:?} at {now}");
        }
    }
}
