//! The escalation ladder (问题不过夜), evaluated in Asia/Shanghai. An alarm nobody acknowledged
//! within [`Ladder::urgent_ack`] (重点 and 严管 persons) or [`Ladder::ack`] (others) goes to the
//! county bureau's designated staff; one still open at [`Ladder::city_at`] (22:00) goes to the
//! city bureau; one still open at midnight of its opening day, or [`Ladder::late_overnight`]
//! after opening when it opened at or after 22:00, is marked overnight (过夜), which the reports
//! count. An alarm opened at or after 22:00 is past its day's 22:00: the city is told when the
//! county is.
//!
//! The ladder in force is copied into each alarm when it opens (`alarms.ladder`), so a change of
//! configuration does not rewrite escalations already running.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A step of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// To the county bureau: nobody acknowledged it in time.
    County,
    /// To the city bureau: still open at 22:00.
    City,
    /// Marked overnight: still open past midnight.
    Overnight,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::County, Step::City, Step::Overnight];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::County => "county",
            Step::City => "city",
            Step::Overnight => "overnight",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Step::County => "升级至县区司法局",
            Step::City => "升级至市司法局",
            Step::Overnight => "过夜",
        }
    }

    /// Whether the step still applies to an alarm in `state`: acknowledging stops the county
    /// step; resolving or dismissing stops all.
    pub fn applies_to(self, state: tracker::alarm::State) -> bool {
        use tracker::alarm::State;
        match self {
            Step::County => state == State::Open,
            Step::City | Step::Overnight => matches!(state, State::Open | State::Acknowledged),
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unknown escalation step {s:?}"))
    }
}

/// The thresholds; what is copied into an alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ladder {
    /// Unacknowledged this long (seconds) → the county, for 重点 and 严管 persons.
    pub urgent_ack_s: i64,
    /// Unacknowledged this long (seconds) → the county, for the others.
    pub ack_s: i64,
    /// Local time ("22:00") at which open alarms of the day go to the city.
    pub city_at: NaiveTime,
    /// Opened at or after `city_at`: marked overnight this long (seconds) after opening.
    pub late_overnight_s: i64,
    /// The demo's compressed ladder: the city this long (seconds) after opening, overnight this
    /// long after opening, instead of by the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_after_s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overnight_after_s: Option<i64>,
}

impl Default for Ladder {
    fn default() -> Self {
        Ladder {
            urgent_ack_s: 30 * 60,
            ack_s: 2 * 3600,
            city_at: NaiveTime::from_hms_opt(22, 0, 0).expect("valid time"),
            late_overnight_s: 2 * 3600,
            city_after_s: None,
            overnight_after_s: None,
        }
    }
}

impl Ladder {
    /// When each step falls due for an alarm opened at `opened_at`; `urgent`: the person is
    /// 重点 or 严管.
    pub fn steps(&self, opened_at: DateTime<Utc>, urgent: bool) -> Vec<(Step, DateTime<Utc>)> {
        let zone = tracker::time::shanghai();
        let ack = opened_at + Duration::seconds(if urgent { self.urgent_ack_s } else { self.ack_s });
        let local = opened_at.with_timezone(&zone);
        let day = local.date_naive();
        let at = |t: NaiveTime, days: i64| {
            zone.from_local_datetime(&(day + Duration::days(days)).and_time(t))
                .single()
                .expect("UTC+8 has no gaps")
                .to_utc()
        };
        let late = local.time() >= self.city_at;
        let city = match self.city_after_s {
            Some(s) => opened_at + Duration::seconds(s),
            None if late => ack,
            None => at(self.city_at, 0),
        };
        let overnight = match self.overnight_after_s {
            Some(s) => opened_at + Duration::seconds(s),
            None if late => opened_at + Duration::seconds(self.late_overnight_s),
            None => at(NaiveTime::MIN, 1),
        };
        vec![(Step::County, ack), (Step::City, city), (Step::Overnight, overnight)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local (Asia/Shanghai) time as UTC.
    fn local(s: &str) -> DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(&format!("{s}+08:00")).unwrap().to_utc()
    }

    #[test]
    fn each_step_falls_due_where_the_rules_say() {
        let l = Ladder::default();
        // (opened, urgent) → county, city, overnight
        let table = [
            // A 严管 alarm in the afternoon: the county after 30 min, the city at 22:00, overnight at midnight.
            (("2026-12-07T15:10:00", true), ["2026-12-07T15:40:00", "2026-12-07T22:00:00", "2026-12-08T00:00:00"]),
            // 普管: the county after 2 h.
            (("2026-12-07T15:10:00", false), ["2026-12-07T17:10:00", "2026-12-07T22:00:00", "2026-12-08T00:00:00"]),
            // Just before 22:00: the city at 22:00, a minute later, before the county.
            (("2026-12-07T21:59:00", true), ["2026-12-07T22:29:00", "2026-12-07T22:00:00", "2026-12-08T00:00:00"]),
            // At 22:00 sharp, and later: the city with the county, overnight 2 h after opening.
            (("2026-12-07T22:00:00", true), ["2026-12-07T22:30:00", "2026-12-07T22:30:00", "2026-12-08T00:00:00"]),
            (("2026-12-07T23:30:00", false), ["2026-12-08T01:30:00", "2026-12-08T01:30:00", "2026-12-08T01:30:00"]),
            // Just after midnight: a new day, its own 22:00 and midnight.
            (("2026-12-08T00:00:00", true), ["2026-12-08T00:30:00", "2026-12-08T22:00:00", "2026-12-09T00:00:00"]),
            // Across a month's end.
            (("2026-11-30T23:10:00", true), ["2026-11-30T23:40:00", "2026-11-30T23:40:00", "2026-12-01T01:10:00"]),
        ];
        for ((opened, urgent), want) in table {
            let got: Vec<DateTime<Utc>> = l.steps(local(opened), urgent).into_iter().map(|(_, t)| t).collect();
            let want: Vec<DateTime<Utc>> = want.iter().map(|s| local(s)).collect();
            assert_eq!(got, want, "opened {opened} urgent {urgent}");
        }
    }

    #[test]
    fn acknowledging_stops_the_county_step_and_closing_stops_all() {
        use tracker::alarm::State::*;
        let table = [
            (Step::County, [true, false, false, false]),
            (Step::City, [true, true, false, false]),
            (Step::Overnight, [true, true, false, false]),
        ];
        for (step, want) in table {
            let got = [Open, Acknowledged, Resolved, Dismissed].map(|s| step.applies_to(s));
            assert_eq!(got, want, "{step:?}");
        }
    }

    #[test]
    fn the_demos_compressed_ladder_counts_from_opening() {
        let l = Ladder {
            urgent_ack_s: 45,
            ack_s: 45,
            city_after_s: Some(90),
            overnight_after_s: Some(150),
            ..Ladder::default()
        };
        let opened = local("2026-12-07T10:00:00");
        let got: Vec<i64> = l.steps(opened, false).into_iter().map(|(_, t)| (t - opened).num_seconds()).collect();
        assert_eq!(got, [45, 90, 150]);
        // The ladder copied into an alarm reads back the same.
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(serde_json::from_value::<Ladder>(json).unwrap(), l);
    }
}
