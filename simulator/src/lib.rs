//! Simulator: reads real GPS traces and replays them through cctrack's real ingest protocols.
//!
//! [`trace`] reads GPX, GeoLife PLT, CSV, GeoJSON and NMEA into one model and
//! describes it ([`trace::stats()`]); the `cctrack-sim` binary's `inspect` command is
//! a thin front end over it. [`replay`] sends a trace to a running cctrack through its
//! real ingest protocols (native, OsmAnd, OwnTracks). [`fleet`] simulates many persons at
//! once from a scenario: plausible generated movement inside their areas, scripted breaches
//! and failures, sent through the OsmAnd protocol on a clock that catches up to now.
//! [`gateway`] is the mock carrier location gateway that answers the scheduler's location
//! requests for a running fleet's phones.

pub mod fleet;
pub mod gateway;
pub mod inspect;
pub mod progress;
pub mod replay;
pub mod trace;
