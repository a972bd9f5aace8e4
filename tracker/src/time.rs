//! Business time. Times are stored in UTC; every business rule (levels, the 问题不过夜 cut-off,
//! weekly reports) is evaluated in Asia/Shanghai.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// Asia/Shanghai (a fixed UTC+8; see `geofence::schedule::shanghai`, which fence schedules use).
pub fn shanghai() -> FixedOffset {
    geofence::schedule::shanghai()
}

/// `t` as local time in Asia/Shanghai.
pub fn local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&shanghai())
}

/// The instant of a local (Asia/Shanghai) date and time.
pub fn at_local(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    shanghai().from_local_datetime(&day.and_time(time)).single().expect("UTC+8 has no gaps").to_utc()
}
