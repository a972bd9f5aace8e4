//! The API's tests, in one binary: the application runs in-process on port 0 against a fresh
//! database per test (`helpers::spawn_app`).

mod helpers;

mod access;
mod alarms;
mod boundaries;
mod credentials;
mod editing;
mod fuzz;
mod hardening;
mod leaves;
mod logins;
mod reports;
mod scope;
mod staff_routes;
