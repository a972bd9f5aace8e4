//! Format detection and the byte-level entry point.

use super::*;

#[test]
fn detects_formats_from_content() {
    let cases = [
        ("<?xml version=\"1.0\"?>\n<gpx version=\"1.1\">", Some(TraceFormat::Gpx)),
        ("\u{feff}  <gpx>", Some(TraceFormat::Gpx)),
        ("<kml></kml>", None),
        ("{\"type\":\"FeatureCollection\"}", Some(TraceFormat::Geojson)),
        ("Geolife trajectory\nWGS 84\n", Some(TraceFormat::Plt)),
        ("a\nb\nc\nd\ne\nf\n39.98,116.31,0,492,39744.12,2008-10-23,02:53:04\n", Some(TraceFormat::Plt)),
        ("*** startup ***\n$GPRMC,235234,A,3925.9702,N,,,,,,,*01\n", Some(TraceFormat::Nmea)),
        ("lat,lon,time\n1,2,3\n", Some(TraceFormat::Csv)),
        ("lat;lon\n", Some(TraceFormat::Csv)),
        ("hello world\n", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(detect_format(text), want, "{text:?}");
    }
}

#[test]
fn format_names_round_trip() {
    for f in TraceFormat::ALL {
        assert_eq!(f.name().parse::<TraceFormat>().unwrap(), f);
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{}\"", f.name()));
    }
    assert!("kml".parse::<TraceFormat>().is_err());
}

#[test]
fn read_bytes_uses_extension_only_as_fallback() {
    let opts = ReadOptions::default();
    // Content says CSV even though the name says .gpx.
    let t = read_bytes(b"lat,lon\n40.6,122.2\n", Some(Path::new("x.gpx")), &opts).unwrap();
    assert_eq!(t.format, TraceFormat::Csv);
    // Content is not recognisable: the extension decides.
    let t = read_bytes(b"", Some(Path::new("x.csv")), &opts).unwrap();
    assert_eq!(t.format, TraceFormat::Csv);
    assert_eq!(t.problems[0].kind, ProblemKind::NoPoints);
    assert!(matches!(read_bytes(b"40.6 122.2\n", None, &opts), Err(ReadError::UnknownFormat)));
    // Latin-1 bytes in a name are replaced and reported, the points still read.
    let t = read_bytes(b"lat,lon,name\n40.6,122.2,Caf\xe9\n", None, &opts).unwrap();
    assert_eq!(t.points.len(), 1);
    assert_eq!(t.problems[0].kind, ProblemKind::Encoding);
    let strict = ReadOptions { strict: true, ..ReadOptions::default() };
    assert!(read_bytes(b"lat,lon,name\n40.6,122.2,Caf\xe9\n", None, &strict).is_err());
}

#[test]
fn missing_file_is_an_io_error() {
    let err = read_path(Path::new("/nonexistent/trace.gpx"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/trace.gpx"));
}
