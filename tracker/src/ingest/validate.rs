//! Stage: validate. Every decoded fix of every request against [`super::fix::validate`]; the
//! refused are answered with their field, the others become the batch's items.

use chrono::{DateTime, SubsecRound, Utc};

use super::batch::{Batch, Item};
use super::{fix, Job};

pub fn validate(jobs: &[Job], now: DateTime<Utc>) -> Batch {
    let mut batch = Batch::new(jobs);
    for (j, job) in jobs.iter().enumerate() {
        let d = &job.device;
        for (i, decoded) in job.decoded.iter().enumerate() {
            let checked = match decoded {
                Ok(raw) => fix::validate(raw, &job.names, d.default_crs, d.enrolled_at, now),
                Err(e) => Err(e.clone()),
            };
            match checked {
                Ok(mut v) => {
                    // PostgreSQL keeps microseconds: compare and deduplicate at that precision.
                    v.time = v.time.trunc_subsecs(6);
                    batch.items.push(Item {
                        job: j,
                        index: i,
                        time_field: job.names.time,
                        fix: v,
                        verdicts: Vec::new(),
                        implausible: false,
                        driving: false,
                        stored: false,
                    });
                }
                Err(e) => batch.refuse(j, i, e),
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fix::{FieldError, RawFix, NATIVE_FIELDS};
    use crate::ingest::protocol::osmand::QUERY_FIELDS;
    use crate::ingest::tests::device;

    fn now() -> DateTime<Utc> {
        "2026-12-07T08:00:00Z".parse().unwrap()
    }

    fn fix(lat: f64) -> Result<RawFix, FieldError> {
        Ok(RawFix { time: Some(now()), lat: Some(lat), lon: Some(122.2), ..RawFix::default() })
    }

    #[test]
    fn refusals_are_named_in_each_protocols_terms_and_the_rest_become_items() {
        let jobs = vec![
            Job {
                device: device(1, 10),
                decoded: vec![fix(40.6), fix(95.0), Err(FieldError::new("fixes[2].seq", "bad"))],
                names: NATIVE_FIELDS,
                indexed: true,
            },
            Job { device: device(2, 20), decoded: vec![fix(-91.0)], names: QUERY_FIELDS, indexed: false },
            Job { device: device(3, 10), decoded: vec![fix(40.7)], names: NATIVE_FIELDS, indexed: true },
        ];
        let batch = validate(&jobs, now());
        assert_eq!(batch.persons, vec![10, 20]);
        let kept: Vec<(usize, usize)> = batch.items.iter().map(|it| (it.job, it.index)).collect();
        assert_eq!(kept, vec![(0, 0), (2, 0)]);
        let fields: Vec<Vec<String>> =
            batch.reports.iter().map(|r| r.errors.iter().map(|e| e.field.clone()).collect()).collect();
        assert_eq!(
            fields,
            vec![vec!["fixes[1].lat".to_string(), "fixes[2].seq".to_string()], vec!["lat".to_string()], vec![]]
        );
    }
}
