//! Simulator: reads real GPS traces and replays them through cctrack's real ingest protocols.
//!
//! [`trace`] reads GPX, GeoLife PLT, CSV, GeoJSON and NMEA into one model and
//! describes it ([`trace::stats()`]); the `cctrack-sim` binary's `inspect` command is
//! a thin front end over it. [`replay`] sends a trace to a running cctrack through its
//! real ingest protocols (native, OsmAnd, OwnTracks).

pub mod inspect;
pub mod replay;
pub mod trace;
