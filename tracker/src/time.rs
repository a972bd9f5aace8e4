//! Business time. Times are stored in UTC; every business rule (levels, the 问题不过夜 cut-off,
//! weekly reports) is evaluated in Asia/Shanghai.

use chrono::{DateTime, FixedOffset, Utc};

/// Asia/Shanghai (a fixed UTC+8; see `geofence::schedule::shanghai`, which fence schedules use).
pub fn shanghai() -> FixedOffset {
    geofence::schedule::shanghai()
}

/// `t` as local time in Asia/Shanghai.
pub fn local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&shanghai())
}
