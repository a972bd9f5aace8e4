//! HTTP servers (ingest listeners, staff API, console) and the `cctrack` command line.
//!
//! `api` is the only crate that speaks HTTP; nothing imports it.
//! - [`cli`]: the command-line grammar; [`commands`]: one module per command;
//! - [`config`]: `cctrack.toml` + `CCTRACK_*` environment variables;
//! - [`server`]: the axum application (one state struct, one router per feature);
//! - [`ingest`]: the ingest listeners (native, OsmAnd, OwnTracks); [`error`]: HTTP outcomes;
//! - [`telemetry`]: logging set-up.

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod ingest;
pub mod server;
pub mod telemetry;
