//! The `cctrack-sim inspect` command: output shapes and exit codes.

mod common;

use std::process::{Command, Output};

use common::{nmea, real, TempFile};
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cctrack-sim")).args(args).output().expect("run cctrack-sim")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn json(o: &Output) -> Value {
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const KEYS: [&str; 10] = [
    "format",
    "points",
    "timed_points",
    "start",
    "end",
    "duration_s",
    "distance_m",
    "max_speed_mps",
    "gaps",
    "problems",
];

fn assert_keys(v: &Value) {
    let obj = v.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
}

const CSV: &str = "time,lat,lon,accuracy\n\
    2024-05-01T00:00:00Z,40.6650,122.2300,5\n\
    2024-05-01T00:00:10Z,40.6660,122.2300,5\n\
    2024-05-01T00:20:10Z,40.6670,122.2300,8\n";

#[test]
fn clean_csv_json_exit_0() {
    let f = TempFile::new("walk.txt", CSV.as_bytes());
    let o = run(&["inspect", f.path().to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_keys(&v);
    assert_eq!(v["format"], "csv");
    assert_eq!(v["points"], 3);
    assert_eq!(v["timed_points"], 3);
    assert_eq!(v["start"], "2024-05-01T00:00:00Z");
    assert_eq!(v["end"], "2024-05-01T00:20:10Z");
    assert_eq!(v["duration_s"], 1210.0);
    // 2 × 0.001° of latitude = 2 × 111.195 m.
    let d = v["distance_m"].as_f64().unwrap();
    assert!((d - 222.390).abs() < 0.01, "{d}");
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0]["start"], "2024-05-01T00:00:10Z");
    assert_eq!(gaps[0]["end"], "2024-05-01T00:20:10Z");
    assert_eq!(gaps[0]["seconds"], 1200.0);
    assert_eq!(v["problems"], Value::Array(vec![]));
}

#[test]
fn gap_threshold_option() {
    let f = TempFile::new("walk.csv", CSV.as_bytes());
    let p = f.path().to_str().unwrap();
    let o = run(&["inspect", p, "--json", "--gap-threshold", "5"]);
    assert_eq!(json(&o)["gaps"].as_array().unwrap().len(), 2);
    let o = run(&["inspect", p, "--json", "--gap-threshold", "-1"]);
    assert_eq!(code(&o), 64);
}

#[test]
fn problems_exit_2_and_strict_exit_1() {
    let bad = format!(
        "{CSV}2024-05-01T00:25:00Z,91,122.23,5\n\
         2024-05-01T00:26:00Z,40.6680,122.23,wide\n\
         2024-05-01T00:27:00Z,abc,122.23,5\n"
    );
    let f = TempFile::new("bad.csv", bad.as_bytes());
    let p = f.path().to_str().unwrap();
    let o = run(&["inspect", p, "--json"]);
    assert_eq!(code(&o), 2);
    let v = json(&o);
    // The bad accuracy (line 6) drops the value, not the point.
    assert_eq!(v["points"], 4);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(problems[0]["line"], 5);
    assert_eq!(problems[0]["kind"], "bad_coordinate");
    assert_eq!(problems[1]["line"], 6);
    assert_eq!(problems[1]["kind"], "bad_value");
    assert_eq!(problems[2]["line"], 7);
    assert!(problems[2]["message"].as_str().unwrap().contains("abc"));

    let o = run(&["inspect", p, "--strict", "--json"]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 5"), "{err}");

    // Human output lists the problems with their lines.
    let o = run(&["inspect", p]);
    assert_eq!(code(&o), 2);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("problems:   3"), "{out}");
    assert!(out.contains("line 6"), "{out}");
}

#[test]
fn unreadable_files_exit_1() {
    let o = run(&["inspect", "/nonexistent/cctrack/trace.gpx"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such file"));

    let f = TempFile::new("noise.bin", &[0x00, 0x9f, 0x92, 0x96, 0xff, 0x10]);
    let o = run(&["inspect", f.path().to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("format"));

    let f = TempFile::new("broken.geojson", b"{\"type\": \"Feature\", ");
    let o = run(&["inspect", f.path().to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
}

#[test]
fn usage_errors_exit_64_and_help_documents_exit_codes() {
    assert_eq!(code(&run(&["inspect"])), 64);
    assert_eq!(code(&run(&["inspect", "x", "--format", "kml"])), 64);
    assert_eq!(code(&run(&["inspect", "x", "--start-date", "25/09/2005"])), 64);
    assert_eq!(code(&run(&["inspect", "x", "--csv-lat", "0"])), 64);
    assert_eq!(code(&run(&["inspect", "x", "--csv-delimiter", "ab"])), 64);
    let o = run(&["inspect", "--help"]);
    assert_eq!(code(&o), 0);
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "Exit status",
        "0   the trace was read without problems",
        "2   the trace was read, but with problems",
        "--csv-lat",
        "--start-date",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
}

#[test]
fn csv_options_select_columns() {
    let text = "1;08:00:00;2024-05-01;40,665;122,23\n2;08:00:10;2024-05-01;40,666;122,23\n";
    let f = TempFile::new("odd.dat", text.as_bytes());
    let o = run(&[
        "inspect",
        f.path().to_str().unwrap(),
        "--format",
        "csv",
        "--json",
        "--csv-no-header",
        "--csv-delimiter",
        ";",
        "--csv-lat",
        "4",
        "--csv-lon",
        "5",
        "--csv-time",
        "2",
        "--csv-date",
        "3",
        "--csv-utc-offset",
        "+08:00",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(v["points"], 2);
    assert_eq!(v["start"], "2024-05-01T00:00:00Z");
    assert_eq!(v["end"], "2024-05-01T00:00:10Z");
}

#[test]
fn nmea_gga_only_with_start_date() {
    let text = [
        nmea("GPGGA,235959,4040.0000,N,12214.0000,E,1,08,1.0,10.0,M,0.0,M,,"),
        nmea("GPGGA,000009,4040.0060,N,12214.0000,E,1,08,1.0,10.0,M,0.0,M,,"),
    ]
    .join("\n");
    let f = TempFile::new("log.nmea", text.as_bytes());
    let p = f.path().to_str().unwrap();
    let o = run(&["inspect", p, "--json"]);
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["problems"][0]["kind"], "missing_date");
    let o = run(&["inspect", p, "--json", "--start-date", "2024-12-31"]);
    assert_eq!(code(&o), 0);
    let v = json(&o);
    assert_eq!(v["start"], "2024-12-31T23:59:59Z");
    assert_eq!(v["end"], "2025-01-01T00:00:09Z");
    // 0.006' of latitude = 11.12 m in 10 s.
    let speed = v["max_speed_mps"].as_f64().unwrap();
    assert!((speed - 1.11195).abs() < 1e-4, "{speed}");
}

#[test]
fn real_files_json_and_exit_codes() {
    let Some(moj) = real("gpx/Mojstrovka.gpx") else {
        return;
    };
    let o = run(&["inspect", moj.to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 2);
    let v = json(&o);
    assert_keys(&v);
    assert_eq!(v["points"], 184);
    assert_eq!(v["timed_points"], 0);
    assert_eq!(v["start"], Value::Null);
    assert_eq!(v["problems"].as_array().unwrap().len(), 184);
    assert_eq!(code(&run(&["inspect", moj.to_str().unwrap(), "--strict"])), 1);

    let Some(nmea_file) = real("nmea/NmeaSampleData.txt") else {
        return;
    };
    let o = run(&["inspect", nmea_file.to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 0);
    let v = json(&o);
    assert_eq!(v["format"], "nmea");
    assert_eq!(v["points"], 4469);
    assert_eq!(v["start"], "2005-09-25T23:52:34Z");
    assert_eq!(v["end"], "2005-09-26T02:56:32Z");
    assert_eq!(v["gaps"].as_array().unwrap().len(), 2);

    // Forcing the wrong format is an error, not a crash.
    let o = run(&["inspect", nmea_file.to_str().unwrap(), "--format", "gpx"]);
    assert_eq!(code(&o), 1);
}
