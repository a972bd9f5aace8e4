//! The period a report covers: a day (`2026-12-07`), an ISO week (`2026-W49`), a month
//! (`2026-12`) or a range of days (`2026-12-01..2026-12-10`, both days included), always in
//! Asia/Shanghai: it runs from local midnight of its first day to local midnight after its last
//! day, `[start, end)` in UTC.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::Serialize;

/// The longest range of days a report covers.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
    Range,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub kind: PeriodKind,
    /// The first and the last day (local dates), both included.
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// Why a period was not understood; the message says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("{0:?}: expected a day (2026-12-07), an ISO week (2026-W49), a month (2026-12) or FROM..TO (2026-12-01..2026-12-10)")]
    Unrecognised(String),
    #[error("{0:?} is not a date of the calendar")]
    NoSuchDate(String),
    #[error("{0:?}: the range ends before it starts")]
    Backwards(String),
    #[error("{0:?}: a range covers at most {MAX_DAYS} days")]
    TooLong(String),
}

fn number<T: std::str::FromStr>(s: &str, digits: std::ops::RangeInclusive<usize>) -> Option<T> {
    (digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn date(s: &str, whole: &str) -> Result<NaiveDate, PeriodError> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Err(PeriodError::Unrecognised(whole.into())) };
    let (Some(y), Some(m), Some(d)) = (number::<i32>(y, 4..=4), number::<u32>(m, 2..=2), number::<u32>(d, 2..=2))
    else {
        return Err(PeriodError::Unrecognised(whole.into()));
    };
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| PeriodError::NoSuchDate(s.into()))
}

impl Period {
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let s = text.trim();
        let unrecognised = || PeriodError::Unrecognised(text.into());
        if let Some((from, to)) = s.split_once("..") {
            let (first, last) = (date(from.trim(), text)?, date(to.trim(), text)?);
            if last < first {
                return Err(PeriodError::Backwards(text.into()));
            }
            if (last - first).num_days() + 1 > MAX_DAYS {
                return Err(PeriodError::TooLong(text.into()));
            }
            return Ok(Period { kind: PeriodKind::Range, first, last });
        }
        if let Some((y, w)) = s.split_once("-W").or_else(|| s.split_once("-w")) {
            let (Some(year), Some(week)) = (number::<i32>(y, 4..=4), number::<u32>(w, 1..=2)) else {
                return Err(unrecognised());
            };
            let first = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
                .ok_or_else(|| PeriodError::NoSuchDate(text.into()))?;
            return Ok(Period { kind: PeriodKind::Week, first, last: first + Duration::days(6) });
        }
        match s.split('-').count() {
            2 => {
                let (y, m) = s.split_once('-').ok_or_else(unrecognised)?;
                let (Some(y), Some(m)) = (number::<i32>(y, 4..=4), number::<u32>(m, 2..=2)) else {
                    return Err(unrecognised());
                };
                let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| PeriodError::NoSuchDate(text.into()))?;
                let next =
                    if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
                let last = next.ok_or_else(|| PeriodError::NoSuchDate(text.into()))? - Duration::days(1);
                Ok(Period { kind: PeriodKind::Month, first, last })
            }
            3 => {
                let d = date(s, text)?;
                Ok(Period { kind: PeriodKind::Day, first: d, last: d })
            }
            _ => Err(unrecognised()),
        }
    }

    /// Local midnight starting the first day, in UTC.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.first)
    }

    /// Local midnight ending the last day, in UTC (excluded).
    pub fn end(&self) -> DateTime<Utc> {
        midnight(self.last + Duration::days(1))
    }

    /// The days of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        let first = self.first;
        (0..=(self.last - self.first).num_days()).map(move |i| first + Duration::days(i))
    }

    /// What such a report is called: 日报, 周报, 月报, 统计报表.
    pub fn document_zh(&self) -> &'static str {
        match self.kind {
            PeriodKind::Day => "日报",
            PeriodKind::Week => "周报",
            PeriodKind::Month => "月报",
            PeriodKind::Range => "统计报表",
        }
    }

    /// The period as a title names it: 2026年第49周, 2026年12月, 2026年12月7日, or the range.
    pub fn label_zh(&self) -> String {
        match self.kind {
            PeriodKind::Day => day_zh(self.first),
            PeriodKind::Week => format!("{}年第{}周", self.first.iso_week().year(), self.first.iso_week().week()),
            PeriodKind::Month => format!("{}年{}月", self.first.year(), self.first.month()),
            PeriodKind::Range => self.range_zh(),
        }
    }

    /// The days covered: 2026年11月30日至12月6日.
    pub fn range_zh(&self) -> String {
        if self.first == self.last {
            return day_zh(self.first);
        }
        let last = if self.last.year() == self.first.year() {
            format!("{}月{}日", self.last.month(), self.last.day())
        } else {
            day_zh(self.last)
        };
        format!("{}至{}", day_zh(self.first), last)
    }
}

impl fmt::Display for Period {
    /// The period as it is written on the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Day => write!(f, "{}", self.first),
            PeriodKind::Week => write!(f, "{}-W{:02}", self.first.iso_week().year(), self.first.iso_week().week()),
            PeriodKind::Month => write!(f, "{}-{:02}", self.first.year(), self.first.month()),
            PeriodKind::Range => write!(f, "{}..{}", self.first, self.last),
        }
    }
}

/// 2026年12月7日
pub fn day_zh(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// Local (Asia/Shanghai) midnight at the start of `d`, in UTC.
pub fn midnight(d: NaiveDate) -> DateTime<Utc> {
    crate::time::at_local(d, chrono::NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn each_form_covers_its_local_days() {
        let w = Period::parse("2026-W49").unwrap();
        assert_eq!((w.kind, w.first, w.last), (PeriodKind::Week, d("2026-11-30"), d("2026-12-06")));
        assert_eq!(w.start().to_rfc3339(), "2026-11-29T16:00:00+00:00");
        assert_eq!(w.end().to_rfc3339(), "2026-12-06T16:00:00+00:00");
        assert_eq!(w.label_zh(), "2026年第49周");
        assert_eq!(w.range_zh(), "2026年11月30日至12月6日");
        assert_eq!(w.to_string(), "2026-W49");
        // ISO week 1 of 2027 starts in 2026; week 53 exists only in long years.
        assert_eq!(Period::parse("2027-W01").unwrap().first, d("2027-01-04"));
        assert_eq!(Period::parse("2026-W53").unwrap().first, d("2026-12-28"));
        assert!(matches!(Period::parse("2027-W53"), Err(PeriodError::NoSuchDate(_))));

        let m = Period::parse("2026-12").unwrap();
        assert_eq!((m.first, m.last, m.label_zh()), (d("2026-12-01"), d("2026-12-31"), "2026年12月".to_string()));
        assert_eq!(Period::parse("2028-02").unwrap().last, d("2028-02-29"));
        let day = Period::parse("2026-12-07").unwrap();
        assert_eq!((day.kind, day.days().count(), day.label_zh()), (PeriodKind::Day, 1, "2026年12月7日".to_string()));
        let r = Period::parse("2026-12-30..2027-01-02").unwrap();
        assert_eq!((r.kind, r.days().count()), (PeriodKind::Range, 4));
        assert_eq!(r.label_zh(), "2026年12月30日至2027年1月2日");
        assert_eq!(r.to_string(), "2026-12-30..2027-01-02");
    }

    #[test]
    fn nonsense_is_refused_with_what_is_expected() {
        for bad in
            ["", "2026", "2026-W", "2026-Wxx", "26-12", "2026-1", "2026-12-7", "2026/12/07", "2026-12-07..", "x..y"]
        {
            assert!(matches!(Period::parse(bad), Err(PeriodError::Unrecognised(_))), "{bad}");
        }
        assert!(matches!(Period::parse("2026-13"), Err(PeriodError::NoSuchDate(_))));
        assert!(matches!(Period::parse("2026-02-30"), Err(PeriodError::NoSuchDate(_))));
        assert!(matches!(Period::parse("2026-W00"), Err(PeriodError::NoSuchDate(_))));
        assert!(matches!(Period::parse("2026-12-07..2026-12-01"), Err(PeriodError::Backwards(_))));
        assert!(matches!(Period::parse("2026-01-01..2027-01-02"), Err(PeriodError::TooLong(_))));
    }
}
