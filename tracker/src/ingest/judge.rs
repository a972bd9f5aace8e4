//! Stage: rules. What each stored fix means for the person's alarms: the pure rules
//! ([`super::rules::observe`], and [`super::leaves::step`] for a person on leave) turn its
//! verdicts into observations; driving fixes apply them to the alarm state read under the
//! persons' locks (open, feed, return, confirm), late fixes only become evidence. The history's
//! events go to the commit's [`EventLog`], appended last.

use std::collections::HashMap;

use sqlx::{Postgres, Transaction};

use super::batch::Batch;
use super::leaves::{self, LeaveChange};
use super::rules::{self, AlarmState, Kind, Observation, Outcome, Subject};
use crate::alarm::events::EventLog;
use crate::fence::FenceSnapshot;

/// A carrier's cell position: too coarse to confirm a doubt.
fn coarse(it: &super::batch::Item) -> bool {
    it.fix.source == super::fix::Source::Cell
}

/// Applies the batch's stored fixes; whether confirmation requests changed (the replies' pending
/// requests must then be read again).
pub async fn judge(
    tx: &mut Transaction<'_, Postgres>,
    batch: &Batch,
    fences: &FenceSnapshot,
    log: &mut EventLog,
) -> Result<bool, sqlx::Error> {
    let mut alarm_state = AlarmState::load(tx, &batch.persons).await?;
    let on_leave: Vec<i64> = batch.persons.iter().copied().filter(|p| fences.has_leave(*p)).collect();
    let mut open_leaves: HashMap<i64, Vec<crate::leave::OpenLeave>> = HashMap::new();
    if !on_leave.is_empty() {
        for l in crate::leave::open_for(tx, &on_leave).await? {
            open_leaves.entry(l.person_id).or_default().push(l);
        }
    }
    for it in batch.items.iter().filter(|it| it.stored) {
        let d = batch.device(it);
        let subject = Subject { person_id: d.person_id, office_id: d.office_id, device_id: d.device_id };
        let mut observations =
            rules::observe(&fences.set, &it.verdicts, it.implausible, coarse(it), it.fix.mock, it.fix.battery_pct);
        if let Some(open) = open_leaves.get_mut(&d.person_id).filter(|_| it.driving) {
            match leaves::step(fences, open, &it.verdicts, it.fix.time, &mut observations) {
                Some(LeaveChange::Departed { leave, at }) => crate::leave::mark_departed(tx, leave, at).await?,
                Some(LeaveChange::Returned { leave, at }) => crate::leave::mark_returned(tx, leave, at).await?,
                None => {}
            }
        }
        if it.driving {
            // Shared zones only report verdicts for fixes near them: a zone with an open alarm or
            // a pending confirmation that this fix has no verdict for, it is clear of.
            for fence in alarm_state.exclusion_subjects(d.person_id) {
                let judged = it.verdicts.iter().any(|v| v.fence_id == fence)
                    || observations.iter().any(|o| o.alarm == Kind::ExclusionEntry && o.fence == Some(fence));
                if !judged {
                    observations.push(Observation {
                        alarm: Kind::ExclusionEntry,
                        fence: Some(fence),
                        outcome: Outcome::Clear,
                    });
                }
            }
        }
        for o in observations {
            if it.driving {
                rules::apply(tx, &mut alarm_state, log, &subject, it.fix.time, &o).await?;
            } else {
                rules::attach_late(tx, &subject, it.fix.time, &o).await?;
            }
        }
    }
    Ok(alarm_state.requests_changed())
}
