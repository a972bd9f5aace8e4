//! Geofence engine. Pure: no I/O, no async, no SQL.
//!
//! It decides, for one fix, where a person stands relative to every fence that applies to them.
//!
//! # Layout
//! | module | what |
//! |---|---|
//! | [`fence`] | [`Fence`], [`FenceKind`], [`FixPoint`]: a shape, a kind, when it is in force |
//! | [`shape`] | [`Shape`]: prepared area, exact [`Circle`], [`Corridor`] |
//! | [`area`] | [`PreparedArea`]: validated (multi)polygons with holes in a local frame + edge grid |
//! | `grid` | the per-fence edge index (uniform grid, cell parity, clearance, nearest edge) |
//! | [`verdict`] | [`Position`] (inside/outside/uncertain), [`Verdict`], [`Compliance`] |
//! | [`index`] | [`FenceSet`]: personal fences by person, shared fences in an R-tree |
//! | `zone_grid` | the flat grid over exclusion zones that the evaluators query beside the R-tree |
//! | [`schedule`] | weekly schedules (Asia/Shanghai) and validity periods |
//! | [`jump`] | implausible-jump check (implied speed) |
//! | [`track`] | the fixes a trajectory needs at a map zoom level |
//! | [`crs`] | WGS-84 ↔ GCJ-02 ↔ BD-09 |
//! | [`geojson`] | RFC 7946 in and out |
//! | [`metric`] | metres: local frames, geodesic distance and area |
//! | [`oracle`] | brute-force reference for tests and benchmarks |
//! | [`error`] | typed errors |
//!
//! # Units
//! Positions are `(lon, lat)` degrees WGS-84; distances, radii and accuracies are metres.
//! No distance is ever measured in degrees.
//!
//! # Example
//! ```
//! use geofence::{Fence, FenceKind, FenceSet, FixPoint, Position, Shape};
//! let mut set = FenceSet::new();
//! let home = Shape::circle(122.235, 40.667, 500.0).unwrap();
//! set.put_personal(7, Fence::new(1, FenceKind::Inclusion, home)).unwrap();
//! let fix = FixPoint { lon: 122.236, lat: 40.667, accuracy_m: 20.0, at: chrono::Utc::now() };
//! let v = &set.evaluate(7, &fix)[0];
//! assert_eq!(v.position, Position::Inside);
//! assert!(!v.breach());
//! assert!((v.distance_m.unwrap() - (500.0 - 84.5)).abs() < 1.0);
//! ```

pub mod area;
pub mod crs;
pub mod error;
pub mod fence;
pub mod geojson;
mod grid;
pub mod index;
pub mod jump;
pub mod metric;
pub mod oracle;
mod planar;
pub mod schedule;
pub mod shape;
pub mod track;
pub mod verdict;
mod zone_grid;

/// The `geo` crate this API speaks (`MultiPolygon`, `LineString`…), re-exported so that callers
/// name the very same types without depending on `geo` themselves.
pub use geo;

pub use area::PreparedArea;
pub use error::{FenceError, GeometryError};
pub use fence::{Fence, FenceId, FenceKind, FixPoint, PersonId, Probe, UnknownFenceKind};
pub use index::{AppliesTo, BatchFix, FenceSet, InclusionSummary, PersonKey, PersonScope};
pub use jump::{check_jump, Jump, TimedPosition};
pub use metric::{area_m2, distance_m, MetresPerDegree};
pub use schedule::{ScheduleWindow, Validity, WeeklySchedule};
pub use shape::{Circle, Corridor, Shape};
pub use verdict::{Compliance, Position, Verdict};
