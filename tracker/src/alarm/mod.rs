//! Alarms as cases: what kinds there are ([`Kind`]), their life ([`lifecycle`]: open →
//! acknowledged → resolved or dismissed, closing with a handling record), staff acting on them
//! ([`handling`]), and their one append-only history ([`events`]), whose rows, numbered densely in
//! commit order, are the live feed every later consumer reads ([`feed`]: the console's
//! server-sent events, escalation, notices).
//!
//! Ingest opens alarms and records what later fixes say (`ingest::rules`); every change of an
//! alarm is an event written in the same transaction as the change, appended last (see
//! [`events::EventLog::append`]).

pub mod events;
pub mod feed;
pub mod handling;
pub mod lifecycle;
pub mod raise;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub use lifecycle::{Action, Handling, Note, Outcome, State};

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 越界: definitely outside the person's area.
    FenceExit,
    /// 进入禁止区域: inside a 禁止令 place.
    ExclusionEntry,
    /// 夜间未在居所: outside the home area during curfew.
    Curfew,
    /// 定位失败: in contact, but no valid fix answered a request in time.
    LocationFailure,
    /// 失联: no contact at all for two intervals.
    DeviceSilent,
    /// 请假逾期未归: not back when a leave ended.
    LeaveOverdue,
    /// 定位依据即将到期: a positioning order ends within 7 days.
    BasisExpiring,
    /// 疑似虚拟定位: the phone reports a mock provider.
    MockLocation,
    /// 电量低: a prompt, not a breach.
    LowBattery,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::FenceExit,
        Kind::ExclusionEntry,
        Kind::Curfew,
        Kind::LocationFailure,
        Kind::DeviceSilent,
        Kind::LeaveOverdue,
        Kind::BasisExpiring,
        Kind::MockLocation,
        Kind::LowBattery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FenceExit => "fence_exit",
            Kind::ExclusionEntry => "exclusion_entry",
            Kind::Curfew => "curfew",
            Kind::LocationFailure => "location_failure",
            Kind::DeviceSilent => "device_silent",
            Kind::LeaveOverdue => "leave_overdue",
            Kind::BasisExpiring => "basis_expiring",
            Kind::MockLocation => "mock_location",
            Kind::LowBattery => "low_battery",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Kind::FenceExit => "越界",
            Kind::ExclusionEntry => "进入禁止区域",
            Kind::Curfew => "夜间未在居所",
            Kind::LocationFailure => "定位失败",
            Kind::DeviceSilent => "失联",
            Kind::LeaveOverdue => "请假逾期未归",
            Kind::BasisExpiring => "定位依据即将到期",
            Kind::MockLocation => "疑似虚拟定位",
            Kind::LowBattery => "电量低",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown alarm kind {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_have_labels() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
            assert!(!k.label_zh().is_empty());
        }
        assert!("breach".parse::<Kind>().is_err());
    }
}
