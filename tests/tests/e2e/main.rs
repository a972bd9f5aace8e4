//! End-to-end tests against a real PostgreSQL + PostGIS (one test binary, see
//! `cctrack_tests` for the harness).

mod alarm_cases;
mod boundaries;
mod db_errors;
mod decoder_props;
mod embedded;
mod geofence_postgis;
mod migrations;
mod report;
mod scheduler;
mod schema;
