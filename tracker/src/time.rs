//! Business time. Times are stored in UTC; every business rule (levels, the 问题不过夜 cut-off,
//! weekly reports) is evaluated in Asia/Shanghai.

use chrono::{DateTime, FixedOffset, Utc};

/// Asia/Shanghai. China has kept UTC+8 without daylight saving since 1991, so a fixed offset is
/// exact for every date this system handles and spares a time-zone database.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `t` as local time in Asia/Shanghai.
pub fn local(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&shanghai())
}
