//! Stage: evaluate. Each fix, in time order per person, against the fences in force at its
//! time (accuracy-aware verdicts); whether it is newer than the person's newest evaluated fix
//! (only those drive alarm state); and whether the implied speed from the previous driving fix is
//! beyond belief. Pure: the fences and the persons' newest fixes are handed in.

use std::collections::HashMap;

use geofence::{check_jump, FixPoint, TimedPosition};

use super::batch::Batch;
use super::IngestConfig;
use crate::fence::FenceSnapshot;

pub fn evaluate(
    batch: &mut Batch,
    fences: &FenceSnapshot,
    last: &HashMap<i64, Option<TimedPosition>>,
    config: &IngestConfig,
) {
    let Batch { devices, items, .. } = batch;
    items.sort_by_key(|it| (devices[it.job].person_id, it.fix.time));
    let mut previous: Option<(i64, Option<TimedPosition>)> = None;
    for it in items.iter_mut() {
        let person = devices[it.job].person_id;
        if previous.as_ref().is_none_or(|(p, _)| *p != person) {
            previous = Some((person, last.get(&person).copied().flatten()));
        }
        let (_, prev) = previous.as_mut().expect("set above");
        let v = &it.fix;
        let point = FixPoint {
            lon: v.lon,
            lat: v.lat,
            accuracy_m: v.accuracy_m.unwrap_or(config.default_accuracy_m),
            at: v.time,
        };
        it.verdicts = fences.set.evaluate(person, &point);
        let here = TimedPosition { at: v.time, lon: v.lon, lat: v.lat };
        let newest_before = last.get(&person).copied().flatten().map(|p| p.at);
        it.driving = newest_before.is_none_or(|t| v.time > t);
        if it.driving {
            it.implausible = prev.as_ref().is_some_and(|p| check_jump(p, &here, config.max_speed_mps).is_implausible());
            *prev = Some(here);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fix::{RawFix, NATIVE_FIELDS};
    use crate::ingest::tests::device;
    use crate::ingest::{validate::validate, Job};
    use chrono::{DateTime, Duration, Utc};

    fn at(min: i64) -> DateTime<Utc> {
        "2026-12-07T08:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(min)
    }

    fn fix(min: i64, lat: f64) -> Result<RawFix, crate::ingest::fix::FieldError> {
        Ok(RawFix {
            time: Some(at(min)),
            lat: Some(lat),
            lon: Some(122.2),
            accuracy_m: Some(10.0),
            ..RawFix::default()
        })
    }

    #[test]
    fn fixes_are_ordered_per_person_and_only_newer_ones_drive() {
        // Person 10's newest evaluated fix is at minute 5, at 40.60.
        let jobs = vec![Job {
            device: device(1, 10),
            // Sent out of order: minute 9 (a 40 km jump in 4 minutes), minute 3 (late), minute 7.
            decoded: vec![fix(9, 41.0), fix(3, 40.6), fix(7, 40.601)],
            names: NATIVE_FIELDS,
            indexed: true,
        }];
        let mut batch = validate(&jobs, at(10));
        let last = HashMap::from([(10, Some(TimedPosition { at: at(5), lon: 122.2, lat: 40.6 }))]);
        evaluate(&mut batch, &FenceSnapshot::empty(), &last, &IngestConfig::default());
        let seen: Vec<(i64, bool, bool)> =
            batch.items.iter().map(|it| ((it.fix.time - at(0)).num_minutes(), it.driving, it.implausible)).collect();
        // Minute 7 is plausible after minute 5; minute 9 is 44 km from minute 7 in 2 minutes.
        assert_eq!(seen, vec![(3, false, false), (7, true, false), (9, true, true)]);
        assert!(batch.items.iter().all(|it| it.verdicts.is_empty()), "no fences, no verdicts");
    }

    #[test]
    fn a_person_without_a_previous_fix_starts_clean() {
        let jobs = vec![Job {
            device: device(1, 10),
            decoded: vec![fix(1, 40.6), fix(2, 40.6)],
            names: NATIVE_FIELDS,
            indexed: true,
        }];
        let mut batch = validate(&jobs, at(10));
        evaluate(&mut batch, &FenceSnapshot::empty(), &HashMap::from([(10, None)]), &IngestConfig::default());
        assert!(batch.items.iter().all(|it| it.driving && !it.implausible));
    }
}
