//! Fleets: many simulated persons moving plausibly inside their allowed areas, with scripted
//! breaches and failures, sent to cctrack through the real OsmAnd protocol.
//!
//! - [`space`]: the places a person may be (allowed area, zones to avoid), metres, and a small
//!   seeded random generator (so a scenario replays the same way every time);
//! - [`movement`]: a day-by-day schedule (nights at home, work, errands, walking and driving with
//!   stops) as a piecewise-linear [`Track`](movement::Track), and the fixes a phone reports on it;
//! - [`events`]: scripted events (leave the area, enter a zone, phone off, drift at a border);
//! - [`scenario`]: the TOML scenario file;
//! - [`run`]: a simulated clock that catches up from the past to now, and sending.

pub mod events;
pub mod movement;
pub mod run;
pub mod scenario;
pub mod space;

pub use events::{Event, EventError, EventKind, LeaveToGrant};
pub use movement::{Fix, MovementOptions, Places, Track};
pub use run::{run_fleet, FleetPerson, FleetSummary, Note, PersonSummary, RunOptions, Warp};
pub use scenario::{Scenario, ScenarioError};
pub use space::{Rng, Space};

#[cfg(test)]
mod tests;
