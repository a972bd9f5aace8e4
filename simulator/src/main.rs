//! `cctrack-sim`: command line over the simulator library. Kept thin: argument
//! parsing, option mapping and printing; everything else is in the library.
//!
//! Note for the coming `replay` command: its `--dry-run` is meant to be exactly
//! `inspect` (same reader options, same output, same exit codes), so it should call
//! `simulator::inspect::inspect` and the same printing below rather than grow its
//! own summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use simulator::inspect::{inspect, render_human, Outcome};
use simulator::trace::{
    time::parse_utc_offset, ColumnRef, CsvOptions, GpxOptions, GpxPart, NmeaOptions, ReadOptions, StatsOptions,
    TimeFormat, TraceFormat,
};

/// Exit codes, shown in both `--help` texts.
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

const EXIT_CODES: &str = exit_codes!();

const INSPECT_NOTES: &str = concat!(
    "\
CSV columns are a header name or a number (1 = first column). Without CSV options
the delimiter, the header and the columns are detected: lat/latitude,
lon/lng/longitude, timestamp/time/datetime (ISO-8601, or epoch seconds or
milliseconds), date, accuracy, ele/alt, speed, course.

",
    exit_codes!()
);

/// Problems listed in the human summary (all are in --json).
const MAX_LISTED_PROBLEMS: usize = 20;

#[derive(Parser)]
#[command(
    name = "cctrack-sim",
    version,
    about = "Reads real GPS traces and (later) replays them through cctrack's ingest protocols.",
    after_help = EXIT_CODES
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
}

#[derive(Args)]
struct InspectArgs {
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
    /// Print one JSON object: format, points, timed_points, start, end, duration_s,
    /// distance_m, max_speed_mps, gaps, problems.
    #[arg(long)]
    json: bool,
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

fn read_options(a: &InspectArgs) -> Result<ReadOptions> {
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
fn options(a: &InspectArgs) -> Result<(ReadOptions, StatsOptions)> {
    if !(a.gap_threshold.is_finite() && a.gap_threshold >= 0.0) {
        bail!("--gap-threshold must be a non-negative number of seconds");
    }
    let stats = StatsOptions { gap_threshold_s: a.gap_threshold };
    Ok((read_options(a)?, stats))
}

fn run_inspect(a: &InspectArgs, opts: &ReadOptions, stats_opts: &StatsOptions) -> Result<Outcome> {
    let (trace, stats) =
        inspect(&a.file, opts, stats_opts).with_context(|| format!("inspecting {}", a.file.display()))?;
    let out = if a.json {
        let mut s = serde_json::to_string(&stats).context("writing the JSON summary")?;
        s.push('\n');
        s
    } else {
        render_human(&a.file, &trace, &stats, MAX_LISTED_PROBLEMS)
    };
    // `print!` panics when stdout is closed early (`| head`); a closed pipe just
    // means nobody wants the rest.
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing to stdout");
        }
        _ => {}
    }
    Ok(stats.outcome())
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
        Command::Inspect(a) => match options(a) {
            Ok((opts, stats_opts)) => run_inspect(a, &opts, &stats_opts),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(64);
            }
        },
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
