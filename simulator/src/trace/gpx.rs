//! GPX 1.0 and 1.1: track segments, routes or waypoints (see [`GpxPart`]), with
//! elevation, time, and speed/course from GPX 1.0 elements or extensions
//! (Garmin TrackPointExtension v2 and the like).
//!
//! Elements are matched by local name, so any namespace prefix works. A file that
//! breaks off (a recorder that died mid-write) keeps the points read so far.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::builder::{Origin, TraceBuilder};
use super::text::LineIndex;
use super::time::parse_iso8601;
use super::{GpxPart, Problem, ProblemKind, ReadError, ReadOptions, Trace, TraceFormat, TracePoint};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PointKind {
    Track,
    Route,
    Waypoint,
}

/// A point as written, before any value is interpreted.
#[derive(Debug, Default)]
struct Draft {
    line: usize,
    lat: Option<String>,
    lon: Option<String>,
    time: Option<String>,
    ele: Option<String>,
    speed: Option<String>,
    course: Option<String>,
}

#[derive(Debug, Default)]
struct Run {
    name: Option<String>,
    points: Vec<Draft>,
}

#[derive(Default)]
struct Parsed {
    /// One run per track segment, named after its track.
    track_segments: Vec<Run>,
    routes: Vec<Run>,
    waypoints: Run,
    /// Problems of the XML itself (truncation), reported whatever part is read.
    problems: Vec<Problem>,
}

pub fn read(text: &str, opts: &ReadOptions) -> Result<Trace, ReadError> {
    let lines = LineIndex::new(text);
    let parsed = parse(text, &lines, opts.strict)?;
    let part = match opts.gpx.part {
        GpxPart::Auto if parsed.track_segments.iter().any(|s| !s.points.is_empty()) => GpxPart::Tracks,
        GpxPart::Auto if parsed.routes.iter().any(|s| !s.points.is_empty()) => GpxPart::Routes,
        GpxPart::Auto => GpxPart::Waypoints,
        p => p,
    };
    let runs: Vec<&Run> = match part {
        GpxPart::Tracks => parsed.track_segments.iter().collect(),
        GpxPart::Routes => parsed.routes.iter().collect(),
        _ => vec![&parsed.waypoints],
    };
    let mut b = TraceBuilder::new(TraceFormat::Gpx, opts);
    for p in parsed.problems {
        b.report(p)?;
    }
    for run in runs {
        b.begin_segment(run.name.clone());
        for d in &run.points {
            add_point(&mut b, d)?;
        }
    }
    b.finish()
}

fn add_point(b: &mut TraceBuilder<'_>, d: &Draft) -> Result<(), ReadError> {
    let n = b.next_ordinal();
    let line = Some(d.line);
    let num = |s: &Option<String>| s.as_deref().map(|v| v.trim().parse::<f64>());
    let (Some(Ok(lat)), Some(Ok(lon))) = (num(&d.lat), num(&d.lon)) else {
        return b.problem(
            ProblemKind::BadCoordinate,
            line,
            Some(n),
            format!(
                "lat/lon attributes {:?}/{:?} are missing or not numbers; point skipped",
                d.lat.as_deref().unwrap_or(""),
                d.lon.as_deref().unwrap_or("")
            ),
        );
    };
    let mut p = TracePoint::new(lat, lon);
    for (value, slot, what) in [
        (&d.ele, &mut p.elevation_m, "ele"),
        (&d.speed, &mut p.speed_mps, "speed"),
        (&d.course, &mut p.course_deg, "course"),
    ] {
        match num(value) {
            Some(Ok(v)) => *slot = Some(v),
            Some(Err(_)) => b.problem(
                ProblemKind::BadValue,
                line,
                Some(n),
                format!("<{what}> {:?} is not a number; ignored", value.as_deref().unwrap_or("")),
            )?,
            None => {}
        }
    }
    let mut time_reported = false;
    if let Some(t) = &d.time {
        // GPX times are UTC by definition, so one without offset is not reported.
        match parse_iso8601(t, None) {
            Ok(t) => p.time = Some(t.utc),
            Err(e) => {
                time_reported = true;
                b.problem(ProblemKind::BadTime, line, Some(n), format!("<time> {e}; point kept without time"))?;
            }
        }
    }
    b.push(p, Origin::new(line, n).time_reported(time_reported))
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn point_kind(name: &str) -> Option<PointKind> {
    match name {
        "trkpt" => Some(PointKind::Track),
        "rtept" => Some(PointKind::Route),
        "wpt" => Some(PointKind::Waypoint),
        _ => None,
    }
}

fn start_draft(e: &BytesStart<'_>, line: usize) -> Draft {
    let mut d = Draft { line, ..Draft::default() };
    // Broken attributes are left out; the point then lacks lat/lon and is reported.
    for a in e.attributes().flatten() {
        let value = a.unescape_value().map(|v| v.into_owned()).ok();
        match a.key.local_name().as_ref() {
            b"lat" => d.lat = value,
            b"lon" => d.lon = value,
            _ => {}
        }
    }
    d
}

struct State {
    parsed: Parsed,
    /// Local names of the open elements.
    stack: Vec<String>,
    /// The point being read and its kind.
    draft: Option<(PointKind, Draft)>,
    /// Index of the `stack` entry of the open point.
    draft_depth: usize,
    /// The open track's name, given to its segments.
    track_name: Option<String>,
    /// Index of the open track's first segment, to name its segments when the
    /// name comes after them.
    track_first_segment: usize,
}

impl State {
    fn open(&mut self, name: String, e: &BytesStart<'_>, line: usize) {
        match name.as_str() {
            "trk" => {
                self.track_name = None;
                self.track_first_segment = self.parsed.track_segments.len();
            }
            "trkseg" => self.parsed.track_segments.push(Run { name: self.track_name.clone(), points: Vec::new() }),
            "rte" => self.parsed.routes.push(Run::default()),
            _ => {}
        }
        if let Some(kind) = point_kind(&name) {
            if self.draft.is_none() {
                self.draft = Some((kind, start_draft(e, line)));
                self.draft_depth = self.stack.len();
            }
        }
        self.stack.push(name);
    }

    fn close(&mut self) {
        let depth = self.stack.len().saturating_sub(1);
        self.stack.pop();
        if self.draft.is_some() && depth == self.draft_depth {
            if let Some((kind, d)) = self.draft.take() {
                let run = match kind {
                    PointKind::Track => {
                        // A trkpt outside any trkseg (invalid, but seen) gets one.
                        if self.parsed.track_segments.len() <= self.track_first_segment {
                            self.parsed.track_segments.push(Run { name: self.track_name.clone(), points: Vec::new() });
                        }
                        self.parsed.track_segments.last_mut()
                    }
                    PointKind::Route => {
                        if self.parsed.routes.is_empty() {
                            self.parsed.routes.push(Run::default());
                        }
                        self.parsed.routes.last_mut()
                    }
                    PointKind::Waypoint => Some(&mut self.parsed.waypoints),
                };
                if let Some(run) = run {
                    run.points.push(d);
                }
            }
        }
    }

    fn text(&mut self, text: String) {
        let Some(element) = self.stack.last().map(String::as_str) else {
            return;
        };
        let parent = self.stack.len().checked_sub(2).and_then(|i| self.stack.get(i)).map(String::as_str);
        if let Some((_, d)) = self.draft.as_mut() {
            let direct = self.stack.len() == self.draft_depth + 2;
            let slot = match element {
                "time" if direct => &mut d.time,
                "ele" if direct => &mut d.ele,
                // GPX 1.0 puts these in the point, GPX 1.1 apps in extensions.
                "speed" => &mut d.speed,
                "course" => &mut d.course,
                _ => return,
            };
            slot.get_or_insert_with(String::new).push_str(&text);
            return;
        }
        if element == "name" {
            match parent {
                Some("trk") => {
                    self.track_name = Some(text.clone());
                    let first = self.track_first_segment;
                    for seg in self.parsed.track_segments.iter_mut().skip(first) {
                        seg.name = Some(text.clone());
                    }
                }
                Some("rte") => {
                    if let Some(r) = self.parsed.routes.last_mut() {
                        r.name = Some(text);
                    }
                }
                _ => {}
            }
        }
    }
}

fn parse(text: &str, lines: &LineIndex, strict: bool) -> Result<Parsed, ReadError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut st = State {
        parsed: Parsed::default(),
        stack: Vec::new(),
        draft: None,
        draft_depth: 0,
        track_name: None,
        track_first_segment: 0,
    };
    let mut saw_root = false;
    let line_at = |pos: u64| lines.line_of(usize::try_from(pos).unwrap_or(usize::MAX).saturating_sub(1));
    loop {
        let event = reader.read_event();
        let line = line_at(reader.buffer_position());
        let event = match event {
            Ok(ev) => ev,
            Err(e) => {
                let line = line_at(reader.error_position() + 1);
                // quick-xml's syntax errors all mean "input ended inside markup":
                // a file cut short. Anything else is damage inside the file.
                let kind = if matches!(e, quick_xml::Error::Syntax(_)) {
                    ProblemKind::Truncated
                } else {
                    ProblemKind::Malformed
                };
                return xml_error(st.parsed, saw_root, strict, kind, line, e.to_string());
            }
        };
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e) if !saw_root => {
                let name = local(&e);
                if name != "gpx" {
                    return Err(ReadError::Malformed {
                        format: TraceFormat::Gpx,
                        line: Some(line),
                        message: format!("root element is <{name}>, not <gpx>"),
                    });
                }
                saw_root = true;
                if is_start {
                    st.stack.push(name);
                }
            }
            Event::Start(e) => st.open(local(&e), &e, line),
            Event::Empty(e) => {
                st.open(local(&e), &e, line);
                st.close();
            }
            Event::End(_) => st.close(),
            Event::Text(t) => {
                let s =
                    t.unescape().map(|c| c.into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(&t).into_owned());
                st.text(s);
            }
            Event::CData(c) => st.text(String::from_utf8_lossy(&c).into_owned()),
            Event::Eof => {
                if !saw_root {
                    return Err(ReadError::Malformed {
                        format: TraceFormat::Gpx,
                        line: None,
                        message: "no <gpx> element".into(),
                    });
                }
                if !st.stack.is_empty() {
                    let open = st.stack.last().cloned().unwrap_or_default();
                    return xml_error(
                        st.parsed,
                        saw_root,
                        strict,
                        ProblemKind::Truncated,
                        line,
                        format!("file ends inside <{open}>"),
                    );
                }
                return Ok(st.parsed);
            }
            _ => {}
        }
    }
}

/// Broken XML: an error when strict or nothing was read yet, else a problem and
/// the points read before the break (a point cut in half is dropped). XML cannot
/// be resynchronised after an error, so reading stops there.
fn xml_error(
    mut parsed: Parsed,
    saw_root: bool,
    strict: bool,
    kind: ProblemKind,
    line: usize,
    message: String,
) -> Result<Parsed, ReadError> {
    let have_points = !parsed.waypoints.points.is_empty()
        || parsed.track_segments.iter().chain(&parsed.routes).any(|r| !r.points.is_empty());
    if strict || !saw_root || !have_points {
        return Err(ReadError::Malformed { format: TraceFormat::Gpx, line: Some(line), message });
    }
    parsed.problems.push(Problem::new(kind, format!("XML {message}; points after this are lost")).at_line(Some(line)));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::GpxOptions;

    const GPX11: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
  <metadata><time>2020-01-01T00:00:00Z</time></metadata>
  <wpt lat="1.5" lon="2.5"><name>home</name><time>2019-01-01T00:00:00Z</time></wpt>
  <rte><name>plan</name><rtept lat="1.0" lon="2.0"/><rtept lat="1.1" lon="2.1"/></rte>
  <trk><name>walk</name>
    <trkseg>
      <trkpt lat="40.6" lon="122.2"><ele>5.5</ele><time>2024-05-01T00:00:00Z</time>
        <extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>1.5</gpxtpx:speed>
        <gpxtpx:course>90</gpxtpx:course></gpxtpx:TrackPointExtension></extensions></trkpt>
      <trkpt lat="40.601" lon="122.2"><time>2024-05-01T00:00:10Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="40.602" lon="122.2"><time>2024-05-01T00:10:00Z</time></trkpt>
    </trkseg>
  </trk>
</gpx>
"#;

    fn with_part(part: GpxPart) -> ReadOptions {
        ReadOptions { gpx: GpxOptions { part }, ..ReadOptions::default() }
    }

    #[test]
    fn tracks_by_default_with_segments_and_extensions() {
        let t = read(GPX11, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 3);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[1].start, 2);
        assert_eq!(t.segments[0].name.as_deref(), Some("walk"));
        let p = t.points[0];
        assert_eq!((p.lat, p.lon, p.elevation_m), (40.6, 122.2, Some(5.5)));
        assert_eq!((p.speed_mps, p.course_deg), (Some(1.5), Some(90.0)));
        assert_eq!(p.time.unwrap().to_rfc3339(), "2024-05-01T00:00:00+00:00");
    }

    #[test]
    fn routes_and_waypoints_on_request() {
        let r = read(GPX11, &with_part(GpxPart::Routes)).unwrap();
        assert_eq!(r.points.len(), 2);
        assert_eq!(r.segments[0].name.as_deref(), Some("plan"));
        let w = read(GPX11, &with_part(GpxPart::Waypoints)).unwrap();
        assert_eq!(w.points.len(), 1);
        assert_eq!(w.points[0].time.unwrap().to_rfc3339(), "2019-01-01T00:00:00+00:00");
        // Without tracks, Auto falls back to routes.
        let no_trk = GPX11.split("<trk>").next().unwrap().to_string() + "</gpx>";
        assert_eq!(read(&no_trk, &ReadOptions::default()).unwrap().points.len(), 2);
    }

    #[test]
    fn truncated_file_keeps_earlier_points() {
        let cut = &GPX11[..GPX11.find("<trkpt lat=\"40.602\"").unwrap() + 10];
        let t = read(cut, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.problems[0].kind, ProblemKind::Truncated);
        let strict = ReadOptions { strict: true, ..ReadOptions::default() };
        assert!(matches!(read(cut, &strict), Err(ReadError::Malformed { .. })));
    }

    #[test]
    fn damage_in_the_middle_is_malformed_not_truncated() {
        let broken = GPX11.replace("</trkseg>\n    <trkseg>", "</trkseg>\n    </wrong>");
        let t = read(&broken, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        assert_eq!(t.problems[0].kind, ProblemKind::Malformed);
        assert_eq!(t.problems[0].line, Some(14));
    }

    #[test]
    fn bad_points_reported_with_lines() {
        let text = "<gpx version=\"1.0\">\n<trk><trkseg>\n\
            <trkpt lat=\"40.6\" lon=\"122.2\"><time>2024-05-01T00:00:00Z</time></trkpt>\n\
            <trkpt lat=\"x\" lon=\"122.2\"><time>2024-05-01T00:00:01Z</time></trkpt>\n\
            <trkpt lat=\"40.6\" lon=\"122.2\"><time>soon</time><ele>high</ele></trkpt>\n\
            <trkpt lon=\"122.2\"/>\n\
            </trkseg></trk></gpx>";
        let t = read(text, &ReadOptions::default()).unwrap();
        assert_eq!(t.points.len(), 2);
        let got: Vec<_> = t.problems.iter().map(|p| (p.line, p.kind)).collect();
        assert_eq!(
            got,
            vec![
                (Some(4), ProblemKind::BadCoordinate),
                (Some(5), ProblemKind::BadValue),
                (Some(5), ProblemKind::BadTime),
                (Some(6), ProblemKind::BadCoordinate),
            ]
        );
    }

    #[test]
    fn not_gpx_is_an_error() {
        for text in ["", "<kml/>", "<?xml version=\"1.0\"?>", "<gpx", "<<<>>>"] {
            assert!(read(text, &ReadOptions::default()).is_err(), "{text:?}");
        }
        let empty = read("<gpx/>", &ReadOptions::default()).unwrap();
        assert_eq!(empty.problems[0].kind, ProblemKind::NoPoints);
    }
}
