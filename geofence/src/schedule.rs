//! When a fence is in force: an optional weekly schedule in Asia/Shanghai local time and an
//! optional validity period.
//!
//! Asia/Shanghai has been a fixed UTC+8 without daylight saving since 1991, so local time is a
//! `chrono::FixedOffset` of +8 h; no time-zone database is needed for supervision periods.

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Timelike, Utc, Weekday};

use crate::error::FenceError;

const WEEK_S: u32 = 7 * 86_400;

/// Asia/Shanghai: UTC+8 all year since 1991 (no DST).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Seconds since Monday 00:00 Asia/Shanghai local time of the week containing `t`.
///
/// # Units
/// Seconds, 0..604,800.
pub fn local_week_second(t: DateTime<Utc>) -> u32 {
    let l = t.with_timezone(&shanghai());
    l.weekday().num_days_from_monday() * 86_400 + l.num_seconds_from_midnight()
}

/// One recurring window: starts at `start` (local time) on each of `days` and ends at `end`;
/// when `end ≤ start` it ends on the next day (a curfew 22:00–06:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleWindow {
    /// Days on which the window starts.
    pub days: Vec<Weekday>,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (next day if not after `start`).
    pub end: NaiveTime,
}

/// A weekly schedule: the fence is in force while any window is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklySchedule {
    windows: Vec<ScheduleWindow>,
    /// Open intervals `[from, to)` in seconds of the local week; `to` may exceed one week
    /// (a window crossing Sunday midnight).
    spans: Vec<(u32, u32)>,
}

impl WeeklySchedule {
    /// A validated schedule. A window with no day, or with `start == end`, is rejected.
    pub fn new(windows: Vec<ScheduleWindow>) -> Result<Self, FenceError> {
        let mut spans = Vec::new();
        for (index, w) in windows.iter().enumerate() {
            if w.days.is_empty() {
                return Err(FenceError::EmptyWindow { index, reason: "no day" });
            }
            let s = w.start.num_seconds_from_midnight();
            let e = w.end.num_seconds_from_midnight();
            if s == e {
                return Err(FenceError::EmptyWindow { index, reason: "start equals end" });
            }
            let len = if e > s { e - s } else { 86_400 - s + e };
            for d in &w.days {
                let from = d.num_days_from_monday() * 86_400 + s;
                spans.push((from, from + len));
            }
        }
        Ok(WeeklySchedule { windows, spans })
    }

    /// Every day from `start` to `end` (next day if `end ≤ start`).
    pub fn daily(start: NaiveTime, end: NaiveTime) -> Result<Self, FenceError> {
        use Weekday::*;
        Self::new(vec![ScheduleWindow { days: vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun], start, end }])
    }

    /// The windows as given.
    pub fn windows(&self) -> &[ScheduleWindow] {
        &self.windows
    }

    /// Whether the schedule is open at local week second `ws` (see [`local_week_second`]).
    #[inline]
    pub fn is_open_at(&self, ws: u32) -> bool {
        self.spans.iter().any(|&(f, t)| (ws >= f && ws < t) || (ws + WEEK_S >= f && ws + WEEK_S < t))
    }

    /// Whether the schedule is open at instant `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.is_open_at(local_week_second(t))
    }
}

/// A validity period `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

impl Validity {
    /// A validated period; `until` must be after `from`.
    pub fn new(from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Self, FenceError> {
        if until <= from {
            return Err(FenceError::EmptyValidity { from, until });
        }
        Ok(Validity { from, until })
    }
    /// Start (inclusive).
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }
    /// End (exclusive).
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }
    /// Whether `t` is in `[from, until)`.
    #[inline]
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.from && t < self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }
    fn local(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        shanghai().with_ymd_and_hms(y, m, d, h, mi, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn curfew_crosses_midnight() {
        let s = WeeklySchedule::daily(t("22:00"), t("06:00")).unwrap();
        assert!(s.is_open(local(2024, 6, 12, 23, 0)));
        assert!(s.is_open(local(2024, 6, 13, 5, 59)));
        assert!(!s.is_open(local(2024, 6, 13, 6, 0)));
        assert!(!s.is_open(local(2024, 6, 13, 21, 59)));
        assert!(s.is_open(local(2024, 6, 13, 22, 0)));
        // Sunday night into Monday morning wraps the week.
        assert!(s.is_open(local(2024, 6, 17, 3, 0))); // Monday 03:00, opened Sunday 22:00
    }

    #[test]
    fn weekday_window_uses_shanghai_time_not_utc() {
        // Saturday 09:00–12:00 local = Saturday 01:00–04:00 UTC.
        let s =
            WeeklySchedule::new(vec![ScheduleWindow { days: vec![Weekday::Sat], start: t("09:00"), end: t("12:00") }])
                .unwrap();
        assert!(s.is_open(Utc.with_ymd_and_hms(2024, 6, 15, 2, 0, 0).unwrap()));
        assert!(!s.is_open(Utc.with_ymd_and_hms(2024, 6, 15, 9, 30, 0).unwrap()));
        // Friday window 23:00–01:00 covers Saturday 00:30.
        let s =
            WeeklySchedule::new(vec![ScheduleWindow { days: vec![Weekday::Fri], start: t("23:00"), end: t("01:00") }])
                .unwrap();
        assert!(s.is_open(local(2024, 6, 15, 0, 30)));
        assert!(!s.is_open(local(2024, 6, 16, 0, 30)));
    }

    #[test]
    fn invalid_windows_and_periods() {
        assert!(WeeklySchedule::daily(t("08:00"), t("08:00")).is_err());
        assert!(WeeklySchedule::new(vec![ScheduleWindow { days: vec![], start: t("08:00"), end: t("09:00") }]).is_err());
        let a = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert!(Validity::new(a, a).is_err());
        let v = Validity::new(a, a + chrono::Duration::hours(1)).unwrap();
        assert!(v.contains(a) && !v.contains(a + chrono::Duration::hours(1)));
    }
}
