//! Fuzz-ish robustness: every reader, forced or detected, strict or lenient, on
//! truncated, bit-flipped, spliced and random input must return (never panic), and
//! what it returns must keep the model's invariants. Deterministic (fixed seeds).

mod common;

use common::{nmea, real};
use simulator::trace::{read_bytes, stats, ReadOptions, StatsOptions, Trace, TraceFormat};

/// xorshift64*: small, deterministic, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that matter to some format's syntax.
const SPICY: &[&[u8]] = &[
    b"\"",
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&bogus;",
    b",",
    b";",
    b"\t",
    b"\n",
    b"\r",
    b"$",
    b"*",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"-",
    b".",
    b"e",
    b"E",
    b"9",
    b"0",
    b"\0",
    b"\xff",
    b"\xc3",
    "é".as_bytes(),
    "时".as_bytes(),
    b"NaN",
    b"1e400",
    b"-0",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"T",
    b"Z",
    b"+08:00",
    b"null",
    b"*00",
    b"</trkpt>",
    b"<trkpt lat=\"1\" lon=\"2\">",
];

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "gpx",
            br#"<?xml version="1.0"?><gpx version="1.1"><wpt lat="1" lon="2"><time>2024-05-01T00:00:00Z</time></wpt>
<trk><name>a</name><trkseg><trkpt lat="40.6" lon="122.2"><ele>3</ele><time>2024-05-01T00:00:00Z</time><speed>1</speed></trkpt>
<trkpt lat="40.601" lon="122.2"><time>2024-05-01T00:00:05Z</time></trkpt></trkseg></trk>
<rte><rtept lat="1" lon="1"/></rte></gpx>"#
                .to_vec(),
        ),
        (
            "plt",
            b"Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n\
39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04\n\
39.984683,116.31845,0,-777,39744.1202546296,2008-10-23,02:53:10\n"
                .to_vec(),
        ),
        (
            "csv",
            b"time;lat;lon;accuracy;speed;course\n\"2024-05-01T00:00:00Z\";40,6;122,2;5;1;90\n1714521610000;40.601;122.2;;;\n".to_vec(),
        ),
        (
            "geojson",
            br#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"coordTimes":["2024-05-01T00:00:00Z",1714521610]},"geometry":{"type":"LineString","coordinates":[[122.2,40.6,1],[122.2,40.601]]}},
{"type":"Feature","properties":{"time":"2024-05-01T00:01:00Z","accuracy":3},"geometry":{"type":"Point","coordinates":[122.2,40.602]}},
{"type":"Feature","properties":{"times":[[1],[2,3]]},"geometry":{"type":"MultiLineString","coordinates":[[[1,1]],[[1,2],[1,3]]]}}]}"#
                .to_vec(),
        ),
        (
            "nmea",
            [
                "*** startup ***".to_string(),
                nmea("GPRMC,235958,A,3925.9702,N,11945.9354,W,45.1,153.1,250905,15.2,E,A"),
                nmea("GPGGA,235958,3925.9702,N,11945.9354,W,1,10,0.8,1378.6,M,-22.1,M,,"),
                "$PGRME,2.3,M,3.3,M,4.0,M*2B".to_string(),
                nmea("GNGST,235958,1.0,2.0,1.0,30,1.5,1.2,2.0"),
                nmea("GPGGA,000000.5,3925.9479,N,11945.9211,W,2,10,0.8,1378.0,M,-22.1,M,,"),
                nmea("GPRMC,000002,V,,,,,,,260905,,,N"),
            ]
            .join("\r\n")
            .into_bytes(),
        ),
    ];
    // Beginnings of the real files, when present, for realistic structure.
    for (name, rel) in [
        ("real gpx", "gpx/garmin_with_extensions.gpx"),
        ("real gpx 1.0", "gpx/korita-zbevnica.gpx"),
        ("real nmea", "nmea/NmeaSampleData.txt"),
        ("real plt", "geolife/geolife_long/000/Trajectory/20081024020959.plt"),
    ] {
        if let Some(p) = real(rel) {
            let bytes = std::fs::read(p).unwrap();
            v.push((name, bytes[..bytes.len().min(6000)].to_vec()));
        }
    }
    v
}

fn formats() -> Vec<Option<TraceFormat>> {
    std::iter::once(None).chain(TraceFormat::ALL.into_iter().map(Some)).collect()
}

fn check_invariants(t: &Trace, what: &str) {
    let mut last = None;
    for p in &t.points {
        assert!(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat), "{what}: lat {}", p.lat);
        assert!(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon), "{what}: lon {}", p.lon);
        for v in [p.elevation_m, p.accuracy_m, p.speed_mps, p.course_deg].into_iter().flatten() {
            assert!(v.is_finite(), "{what}: non-finite value");
        }
        if let Some(c) = p.course_deg {
            assert!((0.0..360.0).contains(&c), "{what}: course {c}");
        }
        if let Some(tm) = p.time {
            assert!(last.is_none_or(|l| l <= tm), "{what}: time goes back");
            last = Some(tm);
        }
    }
    let mut next = 0;
    for s in &t.segments {
        assert_eq!(s.start, next, "{what}: segments not contiguous");
        assert!(s.end > s.start, "{what}: empty segment");
        next = s.end;
    }
    assert_eq!(next, t.points.len(), "{what}: segments do not cover points");
    if t.points.is_empty() {
        assert!(!t.problems.is_empty(), "{what}: empty trace without a problem");
    }
    let s = stats(t, &StatsOptions::default());
    assert!(s.distance_m.is_finite() && s.distance_m >= 0.0, "{what}");
    assert!(s.max_speed_mps.is_none_or(|v| v.is_finite() && v >= 0.0), "{what}");
    assert!(s.duration_s.is_none_or(|d| d >= 0.0), "{what}");
}

/// Reads `bytes` every way; returns how many reads succeeded.
fn exercise(bytes: &[u8], what: &str) -> usize {
    let mut ok = 0;
    for format in formats() {
        let lenient = ReadOptions { format, ..ReadOptions::default() };
        let strict = ReadOptions { strict: true, ..lenient.clone() };
        let l = read_bytes(bytes, None, &lenient);
        let s = read_bytes(bytes, None, &strict);
        if let Ok(t) = &l {
            ok += 1;
            check_invariants(t, what);
        }
        // Strict succeeds exactly when lenient finds nothing to complain about,
        // and then both read the same trace.
        match (&l, &s) {
            (Ok(lt), Ok(st)) => {
                assert!(lt.problems.is_empty(), "{what} {format:?}: strict ok, lenient has problems");
                assert_eq!(lt, st, "{what} {format:?}");
            }
            (Ok(lt), Err(_)) => {
                assert!(!lt.problems.is_empty(), "{what} {format:?}: strict failed but lenient saw no problem")
            }
            (Err(_), Ok(_)) => panic!("{what} {format:?}: strict ok but lenient failed"),
            (Err(_), Err(_)) => {}
        }
    }
    ok
}

#[test]
fn samples_read_cleanly_as_themselves() {
    for (name, bytes) in samples() {
        let t = read_bytes(&bytes, None, &ReadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!t.points.is_empty(), "{name}");
        check_invariants(&t, name);
    }
}

#[test]
fn every_truncation() {
    for (name, bytes) in samples() {
        let step = (bytes.len() / 400).max(1);
        for cut in (0..=bytes.len()).step_by(step) {
            exercise(&bytes[..cut], &format!("{name} cut at {cut}"));
        }
    }
}

#[test]
fn random_mutations() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    for (name, bytes) in samples() {
        for round in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(6) {
                match rng.below(5) {
                    0 if !b.is_empty() => {
                        let i = rng.below(b.len());
                        b[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(b.len() + 1);
                        let s = SPICY[rng.below(SPICY.len())];
                        b.splice(i..i, s.iter().copied());
                    }
                    2 if !b.is_empty() => {
                        let i = rng.below(b.len());
                        let n = rng.below(20).min(b.len() - i);
                        b.drain(i..i + n);
                    }
                    3 if !b.is_empty() => {
                        // Duplicate a stretch elsewhere (repeated or reordered records).
                        let i = rng.below(b.len());
                        let n = rng.below(200).min(b.len() - i);
                        let chunk: Vec<u8> = b[i..i + n].to_vec();
                        let at = rng.below(b.len() + 1);
                        b.splice(at..at, chunk);
                    }
                    _ => {
                        // Change a digit: moves points and times, breaks checksums.
                        let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
                        if !digits.is_empty() {
                            let i = digits[rng.below(digits.len())];
                            b[i] = b'0' + rng.below(10) as u8;
                        }
                    }
                }
            }
            exercise(&b, &format!("{name} round {round}"));
        }
    }
}

#[test]
fn random_bytes_and_text() {
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    for i in 0..400 {
        let len = rng.below(300);
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            // Random text made of syntax characters, which gets further than noise.
            let mut v = Vec::new();
            for _ in 0..len / 3 {
                v.extend_from_slice(SPICY[rng.below(SPICY.len())]);
            }
            v
        };
        exercise(&bytes, &format!("random {i}"));
    }
}

#[test]
fn pathological_shapes() {
    let deep_json = "[".repeat(100_000);
    let deep_xml = format!("<gpx>{}", "<a>".repeat(50_000));
    let long_line = format!("lat,lon\n{}", "9".repeat(1_000_000));
    let many_cols = format!("{}\n", ",".repeat(100_000));
    let wide_nmea = format!("${}*00\n", ",".repeat(100_000));
    let huge_numbers = "lat,lon,time\n1e308,1e308,1e308\n-1e308,-1e308,-1e308\n";
    let utf16 = {
        let mut v = vec![0xFF, 0xFE];
        for u in "lat,lon\n40.6,122.2\n".encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    };
    for (what, bytes) in [
        ("deep json", deep_json.into_bytes()),
        ("deep xml", deep_xml.into_bytes()),
        ("long line", long_line.into_bytes()),
        ("many columns", many_cols.into_bytes()),
        ("wide nmea", wide_nmea.into_bytes()),
        ("huge numbers", huge_numbers.as_bytes().to_vec()),
        ("utf16", utf16.clone()),
        ("empty", Vec::new()),
        ("bom only", vec![0xEF, 0xBB, 0xBF]),
        ("whitespace", b" \n\t\r\n ".to_vec()),
    ] {
        exercise(&bytes, what);
    }
    let t = read_bytes(&utf16, None, &ReadOptions::default()).unwrap();
    assert_eq!(t.points.len(), 1);
}
