//! The scheduler owns time: the polling plan per supervision level, location requests and their
//! deadlines, the escalation ladder (司法所 → 县区司法局 → 市司法局) and report jobs.
//!
//! Every business rule here is evaluated in Asia/Shanghai; see [`tracker::time`].
