//! `cctrack-sim`: command line over the simulator library. Kept thin: argument
//! parsing, option mapping and printing; everything else is in the library.
//!
//! `replay --dry-run` is exactly `inspect` (same reader options, same output, same
//! exit codes): both go through [`run_inspect`].

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use simulator::inspect::{human_duration, inspect, render_human, Outcome};
use simulator::replay::{
    self, LatLon, Protocol, ReplayError, ReplayOptions, ReplayOutcome, ReplaySummary, RetryPolicy, TimeMode,
};
use simulator::trace::{
    time::parse_utc_offset, ColumnRef, CsvOptions, GpxOptions, GpxPart, NmeaOptions, ReadOptions, StatsOptions,
    TimeFormat, TraceFormat,
};

/// Exit codes of `inspect` (and `replay --dry-run`).
macro_rules! exit_codes {
    () => {
        "\
Exit status:
  0   the trace was read without problems
  1   the file could not be read at all (missing, unknown format, unparseable,
      or --strict and a problem was found)
  2   the trace was read, but with problems (bad points were skipped; see the list)
  64  bad command line"
    };
}

const INSPECT_NOTES: &str = concat!(
    "\
CSV columns are a header name or a number (1 = first column). Without CSV options
the delimiter, the header and the columns are detected: lat/latitude,
lon/lng/longitude, timestamp/time/datetime (ISO-8601, or epoch seconds or
milliseconds), date, accuracy, ele/alt, speed, course.

",
    exit_codes!()
);

const REPLAY_NOTES: &str = "\
Get a device with `cctrack device enrol --person ID --protocol PROTOCOL --json`:
its enrolment_id is --device, its token is --token (or CCTRACK_SIM_TOKEN).
--server is cctrack's main listener (http://127.0.0.1:8080) for native and
owntracks, and its OsmAnd listener (http://127.0.0.1:5055) for osmand.

Times: by default the trace is shifted by whole seconds so that it ends when
the replay does: at --speed 60 an hour of trace takes a minute and the server
holds an hour of fixes ending now; no fix is ever stamped later than it is sent.
cctrack refuses fixes from before the device's enrolment, so --original-times
only works for traces newer than that. Points without a time are not sent, nor
is a point whose time (as the protocol carries it: seconds for osmand and
owntracks) repeats the previous one's.

Exit status:
  0   every fix was sent and the server accepted it (or already had it)
  1   nothing or not everything could be sent: the file could not be read or has
      no timed point, or the server could not be reached (after --max-retries),
      kept answering 503, or refused the device (401/403) or the URL (404)
  2   every fix was sent, but the server refused some (see errors_by_field)
  64  bad command line (including an option the protocol cannot honour)
With --dry-run the status is inspect's.";

/// Problems listed in the human summary (all are in --json).
const MAX_LISTED_PROBLEMS: usize = 20;
/// Refused fixes listed in the human replay summary (all are counted by field).
const MAX_LISTED_REFUSALS: usize = 5;

#[derive(Parser)]
#[command(
    name = "cctrack-sim",
    version,
    about = "Reads real GPS traces and replays them through cctrack's ingest protocols.",
    after_help = "Exit status: see each command's --help (inspect and replay differ; 64 is always a bad command line)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a trace file and describe it: points, time span, distance, top speed,
    /// gaps and every problem found (bad timestamps, out-of-order or bad points,
    /// bad checksums), with line numbers.
    #[command(after_help = INSPECT_NOTES)]
    Inspect(InspectArgs),
    /// Send a trace's points to a running cctrack through its real ingest protocols
    /// (native, OsmAnd, OwnTracks), paced by the trace's times, and print what the
    /// server made of them.
    #[command(after_help = REPLAY_NOTES)]
    Replay(Box<ReplayArgs>),
    /// Run a fleet scenario (TOML): many persons with generated movement inside their areas
    /// and scripted events, sent through the OsmAnd protocol on a warped clock that catches up
    /// from the past to now.
    #[command(after_help = FLEET_NOTES)]
    Fleet(FleetArgs),
}

const FLEET_NOTES: &str = "\
The scenario format is documented in simulator/src/fleet/scenario.rs. The simulated
clock starts `catch_up` before now and runs at `speed` until it meets the real clock
(6h at x360 take a minute), then at x1 for `live`; fixes are never stamped in the future.

Exit status:
  0   every fix was sent and accepted
  1   the fleet could not finish (server unreachable, device refused, interrupted)
  2   every fix was sent, but the server refused some
  64  bad command line or scenario (the error names the key)";

#[derive(Args)]
struct FleetArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Override the scenario's osmand_url.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Override the scenario's speed.
    #[arg(long, value_name = "N")]
    speed: Option<f64>,
    /// Print the summary as one JSON object (persons: sent, accepted, rejected, ...).
    #[arg(long)]
    json: bool,
    /// Also serve the mock carrier location gateway here (e.g. 127.0.0.1:7070): POST
    /// /v1/locate {"device": ID} answers where the fleet has that phone's person now.
    #[arg(long, value_name = "ADDR")]
    gateway: Option<std::net::SocketAddr>,
    /// Share of the gateway's answers that fail (no_coverage), 0 to 1.
    #[arg(long, value_name = "R", default_value_t = 0.05, requires = "gateway")]
    gateway_failure_rate: f64,
    /// Accuracy radius the gateway reports, metres, drawn from LOW..HIGH.
    #[arg(long, value_name = "LOW..HIGH", default_value = "300..1500", requires = "gateway")]
    gateway_accuracy_m: String,
}

#[derive(Args)]
struct InspectArgs {
    /// Print one JSON object: format, points, timed_points, start, end, duration_s,
    /// distance_m, max_speed_mps, gaps, problems.
    #[arg(long)]
    json: bool,
    // Last: the CSV options inside set a help heading for everything after them.
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args)]
struct ReplayArgs {
    /// cctrack's URL: the main listener for native and owntracks, the OsmAnd
    /// listener for osmand.
    #[arg(long, value_name = "URL", required_unless_present = "dry_run")]
    server: Option<String>,
    /// Ingest protocol: native (cctrack's own, batched), osmand (Traccar Client),
    /// owntracks (OwnTracks HTTP mode).
    #[arg(long, value_enum, required_unless_present = "dry_run")]
    protocol: Option<ProtocolArg>,
    /// The device's enrolment id.
    #[arg(long, value_name = "ID", required_unless_present = "dry_run")]
    device: Option<String>,
    /// The device's token (native and owntracks).
    #[arg(long, value_name = "TOKEN", env = "CCTRACK_SIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Time warp: 1 = real time, 60 = an hour of trace per minute, up to 10000;
    /// 0 = as fast as possible.
    #[arg(long, value_name = "N", required_unless_present = "dry_run")]
    speed: Option<f64>,
    /// Move the trace so that its first point is here (WGS-84 degrees), keeping
    /// every offset in metres.
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    anchor: Option<LatLon>,
    /// Datum of the positions sent (tagged in the request); owntracks cannot say,
    /// so it only sends wgs84.
    #[arg(long, value_enum, default_value_t = CrsArg::Wgs84)]
    crs: CrsArg,
    /// Accuracy sent for points whose trace has none, metres.
    #[arg(long, value_name = "M", default_value_t = 10.0)]
    accuracy: f64,
    /// Fixes per native request (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 1)]
    batch: usize,
    /// First native sequence number.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seq_start: i64,
    /// Send the trace's own times instead of shifting them to now.
    #[arg(long)]
    original_times: bool,
    /// Resends of one request after a 503 or no answer before giving up.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_retries: u32,
    /// Gaussian position noise, σ metres per axis; the accuracy sent is at least its 95 % radius.
    #[arg(long, value_name = "M", default_value_t = 0.0, help_heading = "Phone conditions")]
    noise_m: f64,
    /// Share of fixes lost (no GPS, app killed), 0 to below 1.
    #[arg(long, value_name = "P", default_value_t = 0.0, help_heading = "Phone conditions")]
    dropout: f64,
    /// Phone switched off from OFFSET into the trace for LENGTH (e.g. 30m+2h): no fixes.
    /// Repeatable.
    #[arg(long, value_name = "OFFSET+LENGTH", value_parser = parse_window, help_heading = "Phone conditions")]
    phone_off: Vec<simulator::replay::Window>,
    /// No network from OFFSET for LENGTH: fixes are kept and sent together, late, when it ends
    /// (as Traccar Client's offline buffer does). Repeatable.
    #[arg(long, value_name = "OFFSET+LENGTH", value_parser = parse_window, help_heading = "Phone conditions")]
    offline: Vec<simulator::replay::Window>,
    /// Seed of the noise and the losses (the same seed, the same replay).
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Phone conditions")]
    seed: u64,
    /// Only read the trace and print what `inspect` prints; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as one JSON object: sent, accepted, duplicates, rejected,
    /// errors_by_field, retries, first_time, last_time, ... (with --dry-run:
    /// inspect's JSON).
    #[arg(long)]
    json: bool,
    /// Reader options, as `inspect` has them (listed after the replay options).
    #[command(flatten, next_help_heading = "Reading the trace")]
    read: ReadArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Native,
    Osmand,
    Owntracks,
}

#[derive(Clone, Copy, ValueEnum)]
enum CrsArg {
    Wgs84,
    Gcj02,
    Bd09,
}

/// How to read the trace; shared by `inspect` and `replay`.
#[derive(Args)]
struct ReadArgs {
    /// Trace file: GPX, GeoLife PLT, CSV, GeoJSON or NMEA 0183.
    file: PathBuf,
    /// Format of the file; detected from the content when not given.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Date of the first fix, for NMEA logs without RMC sentences (GGA only).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    start_date: Option<NaiveDate>,
    /// Fail (exit 1) on the first problem instead of skipping bad points.
    #[arg(long)]
    strict: bool,
    /// List time gaps longer than this.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    gap_threshold: f64,
    /// Which part of a GPX file is the trace (auto: tracks, else routes, else waypoints).
    #[arg(long, value_enum, default_value_t = GpxPartArg::Auto)]
    gpx_part: GpxPartArg,
    /// Accept NMEA sentences without a `*hh` checksum.
    #[arg(long)]
    nmea_allow_missing_checksum: bool,
    #[command(flatten)]
    csv: CsvArgs,
}

/// See `INSPECT_NOTES` for how columns are named and detected.
#[derive(Args)]
#[command(next_help_heading = "CSV options")]
struct CsvArgs {
    /// Field delimiter: a character, or `tab`.
    #[arg(long, value_name = "CHAR")]
    csv_delimiter: Option<String>,
    /// The first line is a header.
    #[arg(long, conflicts_with = "csv_no_header")]
    csv_header: bool,
    /// There is no header line.
    #[arg(long)]
    csv_no_header: bool,
    /// Latitude column.
    #[arg(long, value_name = "COL")]
    csv_lat: Option<String>,
    /// Longitude column.
    #[arg(long, value_name = "COL")]
    csv_lon: Option<String>,
    /// Time column (date-time, or time of day with --csv-date).
    #[arg(long, value_name = "COL")]
    csv_time: Option<String>,
    /// Date column, when date and time are in separate columns.
    #[arg(long, value_name = "COL")]
    csv_date: Option<String>,
    /// Horizontal accuracy column, metres.
    #[arg(long, value_name = "COL")]
    csv_accuracy: Option<String>,
    /// Elevation column, metres.
    #[arg(long, value_name = "COL")]
    csv_elevation: Option<String>,
    /// Speed column, m/s.
    #[arg(long, value_name = "COL")]
    csv_speed: Option<String>,
    /// Course column, degrees.
    #[arg(long, value_name = "COL")]
    csv_course: Option<String>,
    /// How times are written (auto: ISO-8601, or epoch seconds/milliseconds by size).
    #[arg(long, value_enum, default_value_t = TimeFormatArg::Auto)]
    csv_time_format: TimeFormatArg,
    /// UTC offset of times written without one, e.g. +08:00 (default: read as UTC,
    /// and reported).
    #[arg(long, value_name = "+HH:MM", allow_hyphen_values = true)]
    csv_utc_offset: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Gpx,
    Plt,
    Csv,
    Geojson,
    Nmea,
}

#[derive(Clone, Copy, ValueEnum)]
enum GpxPartArg {
    Auto,
    Tracks,
    Routes,
    Waypoints,
}

#[derive(Clone, Copy, ValueEnum)]
enum TimeFormatArg {
    Auto,
    Iso8601,
    EpochS,
    EpochMs,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{s:?} is not YYYY-MM-DD: {e}"))
}

fn column(arg: &Option<String>, flag: &str) -> Result<Option<ColumnRef>> {
    let Some(s) = arg else { return Ok(None) };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: usize = s.parse().with_context(|| format!("{flag} {s}"))?;
        if n == 0 {
            bail!("{flag}: column numbers start at 1");
        }
        return Ok(Some(ColumnRef::Index(n - 1)));
    }
    Ok(Some(ColumnRef::Name(s.clone())))
}

fn csv_options(a: &CsvArgs) -> Result<CsvOptions> {
    let delimiter = match a.csv_delimiter.as_deref() {
        None => None,
        Some("tab" | "\\t" | "\t") => Some('\t'),
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' && c != '\n' => Some(c),
                _ => bail!("--csv-delimiter must be one character or `tab`, not {s:?}"),
            }
        }
    };
    let utc_offset = match &a.csv_utc_offset {
        None => None,
        Some(s) => Some(parse_utc_offset(s).with_context(|| format!("--csv-utc-offset {s:?} is not like +08:00"))?),
    };
    Ok(CsvOptions {
        delimiter,
        has_header: match (a.csv_header, a.csv_no_header) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        lat: column(&a.csv_lat, "--csv-lat")?,
        lon: column(&a.csv_lon, "--csv-lon")?,
        time: column(&a.csv_time, "--csv-time")?,
        date: column(&a.csv_date, "--csv-date")?,
        accuracy: column(&a.csv_accuracy, "--csv-accuracy")?,
        elevation: column(&a.csv_elevation, "--csv-elevation")?,
        speed: column(&a.csv_speed, "--csv-speed")?,
        course: column(&a.csv_course, "--csv-course")?,
        time_format: match a.csv_time_format {
            TimeFormatArg::Auto => TimeFormat::Auto,
            TimeFormatArg::Iso8601 => TimeFormat::Iso8601,
            TimeFormatArg::EpochS => TimeFormat::EpochSeconds,
            TimeFormatArg::EpochMs => TimeFormat::EpochMillis,
        },
        utc_offset,
    })
}

fn read_options(a: &ReadArgs) -> Result<ReadOptions> {
    Ok(ReadOptions {
        strict: a.strict,
        format: a.format.map(|f| match f {
            FormatArg::Gpx => TraceFormat::Gpx,
            FormatArg::Plt => TraceFormat::Plt,
            FormatArg::Csv => TraceFormat::Csv,
            FormatArg::Geojson => TraceFormat::Geojson,
            FormatArg::Nmea => TraceFormat::Nmea,
        }),
        start_date: a.start_date,
        // A clock a day ahead is a broken clock, not a time zone.
        latest_time: Some(Utc::now() + chrono::Duration::days(1)),
        csv: csv_options(&a.csv)?,
        gpx: GpxOptions {
            part: match a.gpx_part {
                GpxPartArg::Auto => GpxPart::Auto,
                GpxPartArg::Tracks => GpxPart::Tracks,
                GpxPartArg::Routes => GpxPart::Routes,
                GpxPartArg::Waypoints => GpxPart::Waypoints,
            },
        },
        nmea: NmeaOptions { require_checksum: !a.nmea_allow_missing_checksum },
        ..ReadOptions::default()
    })
}

/// Options from the command line; an error here is a usage error (exit 64).
fn options(a: &ReadArgs) -> Result<(ReadOptions, StatsOptions)> {
    if !(a.gap_threshold.is_finite() && a.gap_threshold >= 0.0) {
        bail!("--gap-threshold must be a non-negative number of seconds");
    }
    let stats = StatsOptions { gap_threshold_s: a.gap_threshold };
    Ok((read_options(a)?, stats))
}

fn run_inspect(a: &ReadArgs, json: bool, opts: &ReadOptions, stats_opts: &StatsOptions) -> Result<Outcome> {
    let (trace, stats) =
        inspect(&a.file, opts, stats_opts).with_context(|| format!("inspecting {}", a.file.display()))?;
    let out = if json {
        let mut s = serde_json::to_string(&stats).context("writing the JSON summary")?;
        s.push('\n');
        s
    } else {
        render_human(&a.file, &trace, &stats, MAX_LISTED_PROBLEMS)
    };
    emit(&out)?;
    Ok(stats.outcome())
}

/// Writes to stdout. `print!` panics when stdout is closed early (`| head`); a closed
/// pipe just means nobody wants the rest.
fn emit(out: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap's own code for usage errors is 2, which here means "read with
            // problems"; keep them apart.
            return if e.use_stderr() { ExitCode::from(64) } else { ExitCode::SUCCESS };
        }
    };
    let result = match &cli.command {
        Command::Fleet(a) => return run_fleet_command(a),
        Command::Inspect(a) => match options(&a.read) {
            Ok((opts, stats_opts)) => run_inspect(&a.read, a.json, &opts, &stats_opts),
            Err(e) => return usage_error(e),
        },
        Command::Replay(a) if a.dry_run => match options(&a.read) {
            Ok((opts, stats_opts)) => run_inspect(&a.read, a.json, &opts, &stats_opts),
            Err(e) => return usage_error(e),
        },
        Command::Replay(a) => {
            let (read, replay) = match options(&a.read).and_then(|(read, _)| Ok((read, replay_options(a)?))) {
                Ok(o) => o,
                Err(e) => return usage_error(e),
            };
            return match run_replay(a, &read, &replay) {
                Ok(ReplayOutcome::AllTaken) => ExitCode::SUCCESS,
                Ok(ReplayOutcome::SomeRejected) => ExitCode::from(2),
                Ok(ReplayOutcome::Incomplete) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            };
        }
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::WithProblems) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn parse_window(s: &str) -> Result<simulator::replay::Window, String> {
    simulator::replay::Window::parse(s)
        .ok_or_else(|| format!("{s:?} is not OFFSET+LENGTH with durations like 30m+2h (LENGTH above zero)"))
}

fn usage_error(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(64)
}

/// Replay options from the command line; an error here is a usage error (exit 64).
fn replay_options(a: &ReplayArgs) -> Result<ReplayOptions> {
    // clap makes these required unless --dry-run, which never gets here.
    let (Some(server), Some(protocol), Some(device), Some(speed)) = (&a.server, a.protocol, &a.device, a.speed) else {
        bail!("--server, --protocol, --device and --speed are required");
    };
    let protocol = match protocol {
        ProtocolArg::Native => Protocol::Native,
        ProtocolArg::Osmand => Protocol::Osmand,
        ProtocolArg::Owntracks => Protocol::Owntracks,
    };
    let mut o = ReplayOptions::new(protocol, server.clone(), device.clone());
    o.token = a.token.clone();
    o.speed = speed;
    o.time_mode = if a.original_times { TimeMode::Original } else { TimeMode::ShiftToNow };
    o.anchor = a.anchor;
    o.crs = match a.crs {
        CrsArg::Wgs84 => geofence::crs::Crs::Wgs84,
        CrsArg::Gcj02 => geofence::crs::Crs::Gcj02,
        CrsArg::Bd09 => geofence::crs::Crs::Bd09,
    };
    o.default_accuracy_m = Some(a.accuracy);
    o.batch = a.batch;
    o.seq_start = a.seq_start;
    o.retry = RetryPolicy { max_retries: a.max_retries, ..RetryPolicy::default() };
    o.conditions = simulator::replay::PhoneConditions {
        noise_m: a.noise_m,
        dropout: a.dropout,
        off: a.phone_off.clone(),
        offline: a.offline.clone(),
        seed: a.seed,
    };
    o.validate().map_err(|e| match e {
        ReplayError::Conditions(m) => anyhow::anyhow!("--{}", m.replace('_', "-")),
        ReplayError::Speed(_) => anyhow::anyhow!("--speed: {e}"),
        ReplayError::Batch(_) => anyhow::anyhow!("--batch: {e}"),
        ReplayError::CrsNotCarried { .. } => anyhow::anyhow!("--crs: {e}"),
        ReplayError::TokenRequired(_) => anyhow::anyhow!("--token: {e}"),
        ReplayError::Accuracy(_) => anyhow::anyhow!("--accuracy: {e}"),
        ReplayError::SeqStart(_) => anyhow::anyhow!("--seq-start: {e}"),
        ReplayError::BadServer { .. } => anyhow::anyhow!("--server: {e}"),
        other => other.into(),
    })?;
    Ok(o)
}

fn run_replay(a: &ReplayArgs, read: &ReadOptions, opts: &ReplayOptions) -> Result<ReplayOutcome> {
    let file = &a.read.file;
    let trace = simulator::trace::read_path(file, read).with_context(|| format!("reading {}", file.display()))?;
    if !trace.problems.is_empty() {
        eprintln!(
            "note: {} problem(s) reading {} (bad points skipped; `cctrack-sim inspect` lists them)",
            trace.problems.len(),
            file.display()
        );
    }
    let plan = replay::plan(&trace, opts, chrono::Utc::now())?;
    let endpoint = opts.endpoint()?;
    let wall = plan.fixes.last().map(|f| f.due).unwrap_or_default();
    eprintln!(
        "replaying {} fixes from {} to {endpoint} ({}, {}){}",
        plan.fixes.len(),
        file.display(),
        opts.protocol,
        if opts.speed == 0.0 { "as fast as possible".to_string() } else { format!("×{}", opts.speed) },
        if wall > Duration::from_secs(1) {
            format!(", about {}", human_duration(wall.as_secs_f64()))
        } else {
            "".into()
        }
    );
    let bar = simulator::progress::SendProgress::new(plan.fixes.len());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    let summary = runtime.block_on(replay::send_plan(&plan, opts, |s| bar.show_replay(s)));
    bar.finish();
    let summary = summary?;
    let out = if a.json {
        serde_json::to_string(&summary).context("writing the JSON summary")? + "\n"
    } else {
        render_summary(file, &endpoint, opts, &summary)
    };
    emit(&out)?;
    Ok(summary.outcome())
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_else(|| "-".into())
}

fn render_summary(file: &Path, endpoint: &reqwest::Url, opts: &ReplayOptions, s: &ReplaySummary) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} → {endpoint} ({}, device {})", file.display(), s.protocol, opts.device);
    let _ = writeln!(
        o,
        "  sent:       {} of {} fixes in {} requests, {} retries, {:.1} s",
        s.sent, s.planned, s.requests, s.retries, s.elapsed_s
    );
    let _ = writeln!(o, "  accepted:   {}", s.accepted);
    let _ = writeln!(o, "  duplicates: {}", s.duplicates);
    let by_field: Vec<String> = s.errors_by_field.iter().map(|(f, n)| format!("{f}: {n}")).collect();
    let _ = writeln!(
        o,
        "  rejected:   {}{}",
        s.rejected,
        if by_field.is_empty() { String::new() } else { format!(" ({})", by_field.join(", ")) }
    );
    // A handful: one cause (an enrolment after the trace's start) often refuses hundreds alike.
    for e in s.errors.iter().take(MAX_LISTED_REFUSALS) {
        let seq = e.seq.map(|n| format!("seq {n} ")).unwrap_or_default();
        let _ = writeln!(o, "    {seq}{}  {}: {}", time(Some(e.time)), e.field, e.message);
    }
    let listed = s.errors.len().min(MAX_LISTED_REFUSALS);
    if s.rejected > listed {
        let _ =
            writeln!(o, "    ... and {} more (--json lists the first {})", s.rejected - listed, replay::LISTED_ERRORS);
    }
    let _ = writeln!(
        o,
        "  times:      {} .. {}{}",
        time(s.first_time),
        time(s.last_time),
        s.time_shift_s.map(|d| format!(" (trace shifted by {d:+} s)")).unwrap_or_else(|| " (original)".into())
    );
    let _ = writeln!(o, "  datum:      {}", s.crs);
    if s.skipped_untimed + s.skipped_same_time > 0 {
        let _ = writeln!(
            o,
            "  not sent:   {} without a time, {} repeating the previous time",
            s.skipped_untimed, s.skipped_same_time
        );
    }
    if s.dropped + s.phone_off + s.buffered > 0 {
        let _ = writeln!(
            o,
            "  conditions: {} lost (dropout), {} while the phone was off, {} buffered offline and sent late",
            s.dropped, s.phone_off, s.buffered
        );
    }
    if s.location_requests > 0 {
        let _ = writeln!(o, "  the server asked for a location {} time(s)", s.location_requests);
    }
    if let Some(why) = &s.stopped {
        let _ = writeln!(o, "  STOPPED:    {why}; {} fixes not sent", s.unsent);
    }
    o
}

fn run_fleet_command(a: &FleetArgs) -> ExitCode {
    use simulator::fleet::{run_fleet, Note, Scenario};
    let prepared = (|| -> Result<_> {
        let mut sc = Scenario::load(&a.scenario)?;
        if let Some(url) = &a.server {
            sc.osmand_url = url.clone();
        }
        if let Some(speed) = a.speed {
            if !(speed.is_finite() && (1.0..=100_000.0).contains(&speed)) {
                bail!("--speed: {speed} is not a factor from 1 to 100000");
            }
            sc.speed = speed;
        }
        let now = Utc::now();
        let warp = sc.warp(now);
        let persons = sc.build(&warp, now + sc.live)?;
        let gateway = match a.gateway {
            None => None,
            Some(addr) => {
                let accuracy_m = a
                    .gateway_accuracy_m
                    .split_once("..")
                    .and_then(|(lo, hi)| Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?)))
                    .with_context(|| {
                        format!("--gateway-accuracy-m: {:?} is not LOW..HIGH metres", a.gateway_accuracy_m)
                    })?;
                let options = simulator::gateway::GatewayOptions {
                    failure_rate: a.gateway_failure_rate,
                    accuracy_m,
                    seed: sc.seed,
                };
                let gw = simulator::gateway::Gateway::for_fleet(&persons, warp, options)
                    .map_err(|e| anyhow::anyhow!("--gateway-{}", e.to_string().replace('_', "-")))?;
                Some((addr, std::sync::Arc::new(gw)))
            }
        };
        Ok((sc, warp, persons, gateway))
    })();
    let (sc, warp, persons, gateway) = match prepared {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    eprintln!(
        "fleet of {} from {} at x{} (catching up in {}), to {}",
        persons.len(),
        time(Some(warp.sim_start)),
        sc.speed,
        human_duration(warp.catch_up().as_secs_f64()),
        sc.osmand_url
    );
    let notes = std::sync::Arc::new(|n: Note| match n {
        Note::Event { person, event, at, until, expect } => eprintln!(
            "  {} {person}: {event} until {}{}",
            time(Some(at)),
            time(Some(until)),
            expect.map(|k| format!(" (expect {k})")).unwrap_or_default()
        ),
        Note::CaughtUp => eprintln!("  caught up with the real clock"),
        Note::Done(p) => eprintln!("  {}: {} of {} accepted", p.name, p.accepted, p.planned),
    });
    let counters = std::sync::Arc::new(simulator::progress::FleetCounters::default());
    let bar = simulator::progress::SendProgress::new(persons.iter().map(|p| p.fixes.len()).sum());
    let opts = simulator::fleet::RunOptions {
        osmand_url: sc.osmand_url.clone(),
        warp,
        retry: RetryPolicy::default(),
        counters: Some(counters.clone()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::from(1);
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let run = async {
        if let Some((addr, gw)) = gateway {
            let (bound, _) = simulator::gateway::start(addr, gw)
                .await
                .with_context(|| format!("--gateway: cannot listen on {addr}"))?;
            eprintln!("carrier location gateway on http://{bound} (POST /v1/locate {{\"device\": ID}})");
        }
        let ticker = async {
            loop {
                bar.show_fleet(&counters);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            r = run_fleet(persons, opts, notes, shutdown) => Ok::<_, anyhow::Error>(r?),
            never = ticker => never,
        }
    };
    let summary = runtime.block_on(run);
    bar.show_fleet(&counters);
    bar.finish();
    let summary = match summary {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let out = if a.json {
        serde_json::to_string(&summary).unwrap_or_default() + "\n"
    } else {
        let mut o = String::new();
        let _ = writeln!(o, "{:<20} {:>8} {:>8} {:>8} {:>8}", "person", "planned", "sent", "accepted", "rejected");
        for p in &summary.persons {
            let _ = writeln!(o, "{:<20} {:>8} {:>8} {:>8} {:>8}", p.name, p.planned, p.sent, p.accepted, p.rejected);
            if let Some(why) = &p.stopped {
                let _ = writeln!(o, "  STOPPED: {why}");
            }
        }
        if summary.interrupted {
            let _ = writeln!(o, "interrupted after {:.1} s", summary.elapsed_s);
        }
        o
    };
    if let Err(e) = emit(&out) {
        eprintln!("error: {e:#}");
        return ExitCode::from(1);
    }
    if summary.all_accepted() {
        ExitCode::SUCCESS
    } else if summary.interrupted || summary.persons.iter().any(|p| p.stopped.is_some() || p.sent < p.planned) {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}
