//! Readers and stats on the real traces in shared/data/traces. Expected values
//! were computed independently (a separate script reading the raw files, with the
//! same haversine radius), not by this code. Each test skips with a message when
//! the shared data is absent.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use common::{assert_close, real};
use simulator::trace::{
    self, read_bytes, read_path, stats, GpxOptions, GpxPart, ProblemKind, ReadError, ReadOptions, StatsOptions,
    TraceFormat,
};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn lenient() -> ReadOptions {
    ReadOptions::default()
}

fn strict() -> ReadOptions {
    ReadOptions { strict: true, ..ReadOptions::default() }
}

#[test]
fn gpx_clean_files() {
    // (file, points, segments, first time, last time, distance m)
    let cases = [
        ("gpx/garmin-activity.gpx", 988, 1, "2017-07-29T14:46:35Z", "2017-07-29T16:18:13Z", 12_821.200),
        ("gpx/garmin_with_extensions.gpx", 3540, 2, "2019-05-01T04:31:11Z", "2019-05-01T14:41:35Z", 18_189.090),
        ("gpx/cerknicko-jezero.gpx", 296, 7, "2010-08-05T14:23:59Z", "2010-08-05T16:23:49Z", 13_665.001),
    ];
    for (file, n, segs, first, last, dist) in cases {
        let Some(path) = real(file) else { return };
        // Strict succeeds: these files have no problem at all.
        let tr = read_path(&path, &strict()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tr.format, TraceFormat::Gpx);
        assert_eq!(tr.points.len(), n, "{file}");
        assert_eq!(tr.segments.len(), segs, "{file}");
        assert!(tr.problems.is_empty(), "{file}: {:?}", tr.problems);
        let s = stats(&tr, &StatsOptions::default());
        assert_eq!(s.timed_points, n, "{file}");
        assert_eq!(s.start, Some(t(first)), "{file}");
        assert_eq!(s.end, Some(t(last)), "{file}");
        assert_close(file, s.distance_m, dist, 0.01);
    }
}

#[test]
fn gpx_garmin_activity_values() {
    let Some(path) = real("gpx/garmin-activity.gpx") else {
        return;
    };
    let tr = read_path(&path, &lenient()).unwrap();
    let p = tr.points[0];
    assert_eq!(p.lat, 37.241_738_168_522_716);
    assert_eq!(p.lon, -121.972_324_233_502_15);
    assert_eq!(p.elevation_m, Some(104.0));
    let s = stats(&tr, &StatsOptions::default());
    assert_eq!(s.duration_s, Some(5498.0));
    assert_close("max speed", s.max_speed_mps.unwrap(), 4.537_019, 1e-5);
    assert!(s.gaps.is_empty());
    // The file's `<rte></rte>` is empty: asking for routes gives no point.
    let routes = ReadOptions { gpx: GpxOptions { part: GpxPart::Routes }, ..lenient() };
    let r = read_path(&path, &routes).unwrap();
    assert!(r.points.is_empty());
    assert_eq!(r.problems[0].kind, ProblemKind::NoPoints);
}

#[test]
fn gpx_cerknicko_gaps_and_waypoints() {
    let Some(path) = real("gpx/cerknicko-jezero.gpx") else {
        return;
    };
    let tr = read_path(&path, &lenient()).unwrap();
    let s = stats(&tr, &StatsOptions::default());
    // Track segments are separated by pauses; four exceed 5 minutes.
    let gaps: Vec<(String, f64)> = s.gaps.iter().map(|g| (g.start.to_rfc3339(), g.seconds)).collect();
    assert_eq!(
        gaps,
        vec![
            ("2010-08-05T15:05:08+00:00".to_string(), 388.0),
            ("2010-08-05T15:14:11+00:00".to_string(), 614.0),
            ("2010-08-05T15:24:46+00:00".to_string(), 843.0),
            ("2010-08-05T15:43:37+00:00".to_string(), 894.0),
        ]
    );
    // A GPS jump: 183.7 m in 2 s between points 237 and 238.
    assert_close("max speed", s.max_speed_mps.unwrap(), 91.854_158, 1e-5);

    let wpts = ReadOptions { gpx: GpxOptions { part: GpxPart::Waypoints }, ..lenient() };
    let w = read_path(&path, &wpts).unwrap();
    assert_eq!(w.points.len(), 7);
    assert_eq!(w.points[0].time, Some(t("2010-08-05T14:23:59Z")));
    assert_eq!(w.points[1].elevation_m, Some(-0.114380));
    // Only the first waypoint has a time: the other six are reported.
    assert_eq!(w.problems.len(), 6);
    assert!(w.problems.iter().all(|p| p.kind == ProblemKind::MissingTime));
}

#[test]
fn gpx_korita_untimed_track_is_reported_once() {
    let Some(path) = real("gpx/korita-zbevnica.gpx") else {
        return;
    };
    let tr = read_path(&path, &lenient()).unwrap();
    assert_eq!(tr.points.len(), 871);
    // The first track is empty, the second (saved, no times) has 358 points, then
    // the two "ACTIVE LOG" tracks with times.
    let segs: Vec<(usize, Option<&str>)> = tr.segments.iter().map(|s| (s.end - s.start, s.name.as_deref())).collect();
    assert_eq!(segs, vec![(358, Some("03-OCT-10 #2")), (176, Some("ACTIVE LOG")), (337, Some("ACTIVE LOG #2")),]);
    assert_eq!(tr.problems.len(), 1);
    assert_eq!(tr.problems[0].kind, ProblemKind::MissingTime);
    assert_eq!(tr.problems[0].line, Some(33));
    let s = stats(&tr, &StatsOptions::default());
    assert_eq!(s.timed_points, 513);
    assert_eq!(s.start, Some(t("2010-10-03T09:36:30Z")));
    assert_eq!(s.end, Some(t("2010-10-03T13:19:31Z")));
    assert_close("distance", s.distance_m, 27_612.860, 0.01);
    assert!(matches!(
        read_path(&path, &strict()),
        Err(ReadError::Strict(p)) if p.kind == ProblemKind::MissingTime
    ));
}

#[test]
fn gpx_mojstrovka_broken_times_are_reported_not_fatal() {
    let Some(path) = real("gpx/Mojstrovka.gpx") else {
        return;
    };
    let tr = read_path(&path, &lenient()).unwrap();
    // Every point is kept for its position; every 1901 time is dropped and reported.
    assert_eq!(tr.points.len(), 184);
    assert!(tr.points.iter().all(|p| p.time.is_none()));
    assert_eq!(tr.problems.len(), 184);
    assert!(tr.problems.iter().all(|p| p.kind == ProblemKind::ImplausibleTime));
    assert_eq!(tr.problems[0].line, Some(12));
    assert!(tr.problems[0].message.contains("1901-12-13"));
    let s = stats(&tr, &StatsOptions::default());
    assert_eq!((s.timed_points, s.start, s.duration_s), (0, None, None));
    assert_eq!(s.max_speed_mps, None);
    assert_close("distance", s.distance_m, 2_697.627, 0.01);

    match read_path(&path, &strict()) {
        Err(ReadError::Strict(p)) => {
            assert_eq!(p.kind, ProblemKind::ImplausibleTime);
            assert_eq!(p.line, Some(12));
        }
        other => panic!("strict should fail: {other:?}"),
    }

    // Accepting 1901 as a time shows the other defect: point 2 (…52.207Z) is
    // earlier than point 1 (…52.2073437Z). The isolated jump ahead is dropped.
    let old_ok = ReadOptions { earliest_time: t("1900-01-01T00:00:00Z"), ..lenient() };
    let tr = read_path(&path, &old_ok).unwrap();
    assert_eq!(tr.points.len(), 183);
    assert_eq!(tr.problems.len(), 1);
    assert_eq!(tr.problems[0].kind, ProblemKind::TimeOutOfOrder);
    assert_eq!(tr.problems[0].line, Some(12));
    let times: Vec<_> = tr.points.iter().map(|p| p.time.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

/// (path under geolife/, points, first, last, distance m)
const GEOLIFE: [(&str, usize, &str, &str, f64); 7] = [
    ("geolife_long/000/Trajectory/20081023025304.plt", 908, "2008-10-23T02:53:04Z", "2008-10-23T11:11:12Z", 14_938.642),
    ("geolife_long/000/Trajectory/20081024020959.plt", 244, "2008-10-24T02:09:59Z", "2008-10-24T02:47:06Z", 1_303.662),
    ("geolife_long/001/Trajectory/20081023055305.plt", 961, "2008-10-23T05:53:05Z", "2008-10-23T12:04:28Z", 11_268.213),
    (
        "geolife_long/001/Trajectory/20081023234104.plt",
        2128,
        "2008-10-23T23:41:04Z",
        "2008-10-24T06:35:50Z",
        17_915.933,
    ),
    (
        "geolife_long_10_MB/001/Trajectory/20081024234405.plt",
        7075,
        "2008-10-24T23:44:05Z",
        "2008-10-25T11:30:01Z",
        47_271.082,
    ),
    (
        "geolife_long_10_MB/002/Trajectory/20081026024152.plt",
        6077,
        "2008-10-26T02:41:52Z",
        "2008-10-26T11:31:55Z",
        59_626.709,
    ),
    (
        "geolife_long_10_MB/007/Trajectory/20081026021624.plt",
        5496,
        "2008-10-26T02:16:24Z",
        "2008-10-26T12:21:42Z",
        42_107.089,
    ),
];

#[test]
fn geolife_plt_files() {
    for (file, n, first, last, dist) in GEOLIFE {
        let Some(path) = real(&format!("geolife/{file}")) else {
            return;
        };
        // Detected from content (the 6-line header), strict: no problems.
        let tr = read_path(&path, &strict()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tr.format, TraceFormat::Plt);
        assert_eq!(tr.points.len(), n, "{file}");
        let s = stats(&tr, &StatsOptions::default());
        assert_eq!(s.timed_points, n);
        assert_eq!(s.start, Some(t(first)), "{file}");
        assert_eq!(s.end, Some(t(last)), "{file}");
        assert_close(file, s.distance_m, dist, 0.01);
    }
}

#[test]
fn geolife_first_point_values() {
    let Some(path) = real("geolife/geolife_long/000/Trajectory/20081023025304.plt") else {
        return;
    };
    let tr = read_path(&path, &lenient()).unwrap();
    let p = tr.points[0];
    assert_eq!((p.lat, p.lon), (39.984702, 116.318417));
    // 492 ft.
    assert_close("elevation", p.elevation_m.unwrap(), 149.9616, 1e-9);
    let s = stats(&tr, &StatsOptions::default());
    // A 5 h stop inside this trajectory.
    assert!(s.gaps.iter().any(|g| g.start == t("2008-10-23T04:34:52Z") && g.seconds == 18_453.0));
    assert_eq!(s.gaps.len(), 6);
}

fn nmea_sample() -> Option<Vec<u8>> {
    real("nmea/NmeaSampleData.txt").map(|p| std::fs::read(p).unwrap())
}

#[test]
fn nmea_sample_midnight_restart_and_values() {
    let Some(bytes) = nmea_sample() else { return };
    let tr = read_bytes(&bytes, None, &strict()).unwrap();
    assert_eq!(tr.format, TraceFormat::Nmea);
    // 4,469 RMC+GGA epochs, all with a fix and valid checksums.
    assert_eq!(tr.points.len(), 4469);
    let s = stats(&tr, &StatsOptions::default());
    assert_eq!(s.timed_points, 4469);
    assert_eq!(s.start, Some(t("2005-09-25T23:52:34Z")));
    assert_eq!(s.end, Some(t("2005-09-26T02:56:32Z")));
    assert_eq!(s.duration_s, Some(11_038.0));
    assert_close("distance", s.distance_m, 137_525.627, 0.05);
    assert_close("max speed", s.max_speed_mps.unwrap(), 30.183_897, 1e-5);

    // Crossing UTC midnight: 23:59:58 on the 25th is followed by 00:00:00 on the 26th.
    let i = tr.points.iter().position(|p| p.time == Some(t("2005-09-25T23:59:58Z"))).unwrap();
    assert_eq!(tr.points[i + 1].time, Some(t("2005-09-26T00:00:00Z")));

    // The stop at 00:35 and the receiver restart (program ENDED / startup) at 01:27.
    let gaps: Vec<(DateTime<Utc>, DateTime<Utc>, f64)> = s.gaps.iter().map(|g| (g.start, g.end, g.seconds)).collect();
    assert_eq!(
        gaps,
        vec![
            (t("2005-09-26T00:35:00Z"), t("2005-09-26T00:48:18Z"), 798.0),
            (t("2005-09-26T01:27:40Z"), t("2005-09-26T01:48:30Z"), 1250.0),
        ]
    );

    let p = tr.points[0];
    assert_close("lat", p.lat, 39.0 + 25.9702 / 60.0, 1e-12);
    assert_close("lon", p.lon, -(119.0 + 45.9354 / 60.0), 1e-12);
    assert_eq!(p.elevation_m, Some(1378.6));
    assert_eq!(p.accuracy_m, Some(2.3)); // PGRME horizontal error
    assert_close("speed", p.speed_mps.unwrap(), 45.1 * 1852.0 / 3600.0, 1e-9);
    assert_eq!(p.course_deg, Some(153.1));
}

#[test]
fn nmea_sample_as_gga_only_needs_the_start_date() {
    let Some(bytes) = nmea_sample() else { return };
    let text = String::from_utf8(bytes).unwrap();
    let gga: String = text.lines().filter(|l| l.starts_with("$GPGGA")).map(|l| format!("{l}\n")).collect();

    let undated = trace::read_str(&gga, TraceFormat::Nmea, &lenient()).unwrap();
    assert_eq!(undated.points.len(), 4469);
    assert_eq!(undated.timed_points(), 0);
    assert_eq!(undated.problems.len(), 1);
    assert_eq!(undated.problems[0].kind, ProblemKind::MissingDate);

    let dated = ReadOptions { start_date: NaiveDate::from_ymd_opt(2005, 9, 25), ..strict() };
    let tr = trace::read_str(&gga, TraceFormat::Nmea, &dated).unwrap();
    let s = stats(&tr, &StatsOptions::default());
    // Same times as with RMC dates: the day rolls over at midnight.
    assert_eq!(s.timed_points, 4469);
    assert_eq!(s.start, Some(t("2005-09-25T23:52:34Z")));
    assert_eq!(s.end, Some(t("2005-09-26T02:56:32Z")));
    assert_eq!(s.gaps.len(), 2);
}

#[test]
fn nmea_sample_with_a_corrupted_sentence() {
    let Some(bytes) = nmea_sample() else { return };
    let text = String::from_utf8(bytes).unwrap();
    // Line 2 is the first RMC; change a digit of its latitude (checksum now wrong).
    let broken = text.replacen("$GPRMC,235234,A,3925.9702", "$GPRMC,235234,A,3925.9703", 1);
    let tr = trace::read_str(&broken, TraceFormat::Nmea, &lenient()).unwrap();
    assert_eq!(tr.problems.len(), 1);
    assert_eq!(tr.problems[0].kind, ProblemKind::BadChecksum);
    assert_eq!(tr.problems[0].line, Some(2));
    // The epoch's GGA still gives the fix; its date comes from the next RMC.
    assert_eq!(tr.points.len(), 4469);
    assert_eq!(tr.points[0].time, Some(t("2005-09-25T23:52:34Z")));
    assert!(matches!(
        trace::read_str(&broken, TraceFormat::Nmea, &strict()),
        Err(ReadError::Strict(p)) if p.line == Some(2)
    ));
}

#[test]
fn every_real_file_detects_its_format_and_keeps_invariants() {
    let files = [
        ("gpx/Mojstrovka.gpx", TraceFormat::Gpx),
        ("gpx/cerknicko-jezero.gpx", TraceFormat::Gpx),
        ("gpx/garmin-activity.gpx", TraceFormat::Gpx),
        ("gpx/garmin_with_extensions.gpx", TraceFormat::Gpx),
        ("gpx/korita-zbevnica.gpx", TraceFormat::Gpx),
        ("nmea/NmeaSampleData.txt", TraceFormat::Nmea),
        ("geolife/geolife_long/000/Trajectory/20081024020959.plt", TraceFormat::Plt),
    ];
    for (file, format) in files {
        let Some(path) = real(file) else { return };
        let tr = read_path(&path, &lenient()).unwrap();
        assert_eq!(tr.format, format, "{file}");
        let mut last = None;
        for p in &tr.points {
            assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon));
            if let Some(t) = p.time {
                assert!(last.is_none_or(|l| l <= t), "{file}: time goes back");
                last = Some(t);
            }
        }
        let mut next = 0;
        for s in &tr.segments {
            assert_eq!(s.start, next, "{file}");
            assert!(s.end > s.start, "{file}");
            next = s.end;
        }
        assert_eq!(next, tr.points.len(), "{file}");
    }
}
