//! HTTP servers (ingest listeners, staff API, console) and the `cctrack` command line.
//!
//! `api` is the only crate that speaks HTTP; nothing imports it.
//! - [`cli`]: the command-line grammar; [`commands`]: one module per command;
//! - [`config`]: `cctrack.toml` + `CCTRACK_*` environment variables;
//! - [`server`]: the axum application (one state struct, one router per feature) and
//!   `Application`, the one start-up path of the server, the demo and the tests;
//! - [`ingest`]: the ingest listeners (native, OsmAnd, OwnTracks); [`error`]: HTTP outcomes;
//! - [`staff`]: `/api/v1` for staff (basic auth, organisation scope), one module per resource;
//!   [`basic_auth`];
//! - [`telemetry`]: logging set-up.

pub mod basic_auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod server;
pub mod staff;
pub mod telemetry;
