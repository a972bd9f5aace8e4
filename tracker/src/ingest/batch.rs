//! A group commit's working set: per request its device and report, and every fix that passed
//! validation as an [`Item`] that the stages fill in (verdicts, whether it drives alarm state,
//! whether it was stored).

use std::collections::HashMap;

use geofence::Verdict;

use super::fix::{FieldError, FieldNames, ValidFix};
use super::{IngestReport, ItemError, Job, PendingRequest};
use crate::device::DeviceInfo;

/// A fix that passed validation, with where it came from.
#[derive(Debug, Clone)]
pub struct Item {
    /// The request (index into the batch's requests) and the fix's index in it.
    pub job: usize,
    pub index: usize,
    /// The name of the time field in this fix's protocol.
    pub time_field: &'static str,
    pub fix: ValidFix,
    /// The verdict of every fence in force at the fix's time.
    pub verdicts: Vec<Verdict>,
    /// The implied speed from the person's previous fix is beyond belief.
    pub implausible: bool,
    /// Newer than the person's newest evaluated fix: it moves alarm state (late fixes only
    /// become evidence).
    pub driving: bool,
    /// Stored by this commit (not a duplicate).
    pub stored: bool,
}

pub struct Batch {
    pub devices: Vec<DeviceInfo>,
    names: Vec<(FieldNames, bool)>,
    pub reports: Vec<IngestReport>,
    pub items: Vec<Item>,
    /// The requests' persons, in id order (the order their rows are locked in).
    pub persons: Vec<i64>,
}

impl Batch {
    pub fn new(jobs: &[Job]) -> Self {
        let devices: Vec<DeviceInfo> = jobs.iter().map(|j| j.device.clone()).collect();
        let mut persons: Vec<i64> = devices.iter().map(|d| d.person_id).collect();
        persons.sort_unstable();
        persons.dedup();
        Batch {
            names: jobs.iter().map(|j| (j.names, j.indexed)).collect(),
            reports: jobs.iter().map(|_| IngestReport::default()).collect(),
            items: Vec::new(),
            devices,
            persons,
        }
    }

    pub fn device(&self, it: &Item) -> &DeviceInfo {
        &self.devices[it.job]
    }

    pub fn person(&self, it: &Item) -> i64 {
        self.devices[it.job].person_id
    }

    /// Records that fix `index` of request `job` was refused.
    pub fn refuse(&mut self, job: usize, index: usize, e: FieldError) {
        refuse(&mut self.reports, &self.names, job, index, e)
    }

    /// Drops the items `why` has an objection to, refusing each with it.
    pub fn refuse_where(&mut self, why: impl Fn(&DeviceInfo, &Item) -> Option<FieldError>) {
        let Batch { devices, names, reports, items, .. } = self;
        items.retain(|it| match why(&devices[it.job], it) {
            Some(e) => {
                refuse(reports, names, it.job, it.index, e);
                false
            }
            None => true,
        });
    }

    /// Refuses whole the requests of these devices (retired since they were authenticated).
    pub fn refuse_devices(&mut self, devices: &[i64]) {
        for (r, d) in self.reports.iter_mut().zip(&self.devices) {
            r.device_retired |= devices.contains(&d.device_id);
        }
        let gone: Vec<bool> = self.devices.iter().map(|d| devices.contains(&d.device_id)).collect();
        self.items.retain(|it| !gone[it.job]);
    }

    /// The replies: what each request had accepted, as duplicates and refused, and its person's
    /// most urgent pending location request.
    pub fn reply(mut self, pending: HashMap<i64, PendingRequest>) -> Vec<IngestReport> {
        for it in &self.items {
            if it.stored {
                self.reports[it.job].accepted += 1;
            } else {
                self.reports[it.job].duplicates += 1;
            }
        }
        for (r, d) in self.reports.iter_mut().zip(&self.devices) {
            r.errors.sort_by_key(|e| e.index);
            r.location_request = pending.get(&d.person_id).cloned();
        }
        self.reports
    }
}

/// Errors name the item (`fixes[3].lat`) where the protocol sends batches.
fn refuse(reports: &mut [IngestReport], names: &[(FieldNames, bool)], job: usize, index: usize, e: FieldError) {
    let (_, indexed) = names[job];
    let field = if indexed && !e.field.starts_with("fixes[") { format!("fixes[{index}].{}", e.field) } else { e.field };
    reports[job].errors.push(ItemError { index, field, message: e.message });
}
