//! What the scheduler (`scheduler` crate, which owns time and decides) reads and writes: the
//! polling plan and location requests ([`polling`]), their failures and the alarms these raise
//! ([`failures`]), escalation steps ([`escalation`]), the e-mail outbox ([`notices`]), calendar
//! runs and feed cursors ([`calendar`]), the leader ([`leader`]) and its status ([`status`]).
//! Every function takes the time from its caller: tests set the clock, they never wait.
//!
//! **定位成功率** (success rate) of a period, level, office or county = location requests
//! answered ÷ location requests issued (scheduled and manual requests, not confirmations), by
//! the request's issue time, level and office when issued. **定位率** (coverage) = persons with
//! at least one accepted fix in the period ÷ persons who had to be located in it (active, with a
//! legal basis in force at some time of the period). Targets ≥ 95 %, 100 % for 重点.

pub mod calendar;
pub mod escalation;
pub mod failures;
pub mod leader;
pub mod notices;
pub mod polling;
pub mod status;
