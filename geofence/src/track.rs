//! Trajectories for a map: the fixes a line needs at a zoom level. Playback of a month of fixes
//! at city scale needs a few thousand points, not a hundred thousand; what a line at that scale
//! cannot show (a deviation under about a pixel) is dropped, and what supervision needs to see
//! (breaches, doubtful fixes) is kept whatever the scale.

use geo::{Coord, LineString, SimplifyIdx};

/// Metres per 256-pixel-tile pixel at the equator and zoom 0 (Web Mercator).
const METRES_PER_PIXEL_Z0: f64 = 156_543.033_92;

/// The tolerance at `zoom` and latitude `lat`: one pixel on the map, in metres.
pub fn pixel_m(zoom: u8, lat: f64) -> f64 {
    METRES_PER_PIXEL_Z0 * lat.to_radians().cos().abs().max(0.01) / f64::from(1u32 << zoom.min(24))
}

/// Indices (ascending) of the `points` (`(lon, lat)` degrees) a line at `zoom` needs, by
/// Ramer–Douglas–Peucker with a one-pixel tolerance; every index in `pinned` is kept too, and so
/// are the first and the last point.
pub fn keep_for_zoom(points: &[(f64, f64)], zoom: u8, pinned: impl IntoIterator<Item = usize>) -> Vec<usize> {
    if points.len() <= 2 {
        return (0..points.len()).collect();
    }
    let mean_lat = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    // A local equirectangular frame in metres: exact enough within a city for a pixel tolerance.
    let (kx, ky) = (111_320.0 * mean_lat.to_radians().cos(), 110_574.0);
    let line: LineString<f64> = points.iter().map(|&(lon, lat)| Coord { x: lon * kx, y: lat * ky }).collect();
    let mut keep = line.simplify_idx(pixel_m(zoom, mean_lat));
    keep.extend(pinned.into_iter().filter(|&i| i < points.len()));
    keep.push(0);
    keep.push(points.len() - 1);
    keep.sort_unstable();
    keep.dedup();
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight walk east with a 300 m detour in the middle, one fix every 10 m.
    fn walk() -> Vec<(f64, f64)> {
        (0..1000)
            .map(|i| {
                let lon = 122.2 + f64::from(i) * 10.0 / 84_300.0;
                let lat = if (480..520).contains(&i) { 40.67 + 300.0 / 110_574.0 } else { 40.67 };
                (lon, lat)
            })
            .collect()
    }

    #[test]
    fn a_straight_line_keeps_its_ends_and_its_detour() {
        let kept = keep_for_zoom(&walk(), 12, []);
        assert!(kept.len() < 10, "{kept:?}");
        assert_eq!((kept[0], *kept.last().unwrap()), (0, 999));
        assert!(kept.iter().any(|&i| (479..=481).contains(&i)), "the detour's start is kept: {kept:?}");
    }

    #[test]
    fn closer_zooms_keep_more_and_pinned_fixes_stay() {
        let mut w = walk();
        for (i, p) in w.iter_mut().enumerate() {
            p.1 += if i % 2 == 0 { 0.0 } else { 4.0 / 110_574.0 }; // 4 m of jitter
        }
        let far = keep_for_zoom(&w, 10, []);
        let near = keep_for_zoom(&w, 20, []);
        assert!(far.len() < 20 && near.len() > 900, "{} {}", far.len(), near.len());
        let pinned = keep_for_zoom(&w, 10, [123, 777, 5000]);
        assert!(pinned.contains(&123) && pinned.contains(&777) && !pinned.contains(&5000));
        assert!(pinned.windows(2).all(|p| p[0] < p[1]), "ascending, no duplicates");
    }

    #[test]
    fn tiny_tracks_are_kept_whole() {
        assert_eq!(keep_for_zoom(&[], 5, []), Vec::<usize>::new());
        assert_eq!(keep_for_zoom(&[(1.0, 2.0)], 5, [0]), vec![0]);
        assert_eq!(keep_for_zoom(&[(1.0, 2.0), (1.0, 2.0)], 5, []), vec![0, 1]);
    }
}
