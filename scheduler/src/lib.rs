//! The scheduler owns time: who must be located when ([`tracker::schedule::polling`]), what
//! happens when a location does not come ([`tracker::schedule::failures`]), who must be told
//! about an alarm nobody handled ([`ladder`], [`tracker::schedule::escalation`], [`notice`],
//! [`mail`]), and the calendar jobs: the morning lists, weekly and month-end reports ([`calendar`],
//! [`reports`]). [`Scheduler::tick`] does whatever is
//! due at its clock's time; [`Scheduler::run`] ticks while this process holds the leader lock
//! (one leader among several cctrack processes). Every business rule is evaluated in
//! Asia/Shanghai; the time comes from a [`clock::Clock`], so tests set it and never wait.
//!
//! The SQL lives in `tracker::schedule`; this crate decides.

pub mod calendar;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod ladder;
pub mod mail;
pub mod notice;
pub mod reports;
mod scheduler;

pub use scheduler::{Scheduler, TickReport};
