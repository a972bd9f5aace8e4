//! Leave rules: one driving fix of a person with an open leave.
//!
//! During the window the leave's destination and route count as inclusion fences (they are
//! fences in force then), so a person there raises nothing. The first fix there, away from the
//! usual area, records the departure; the first fix back in the usual area closes the leave (销假).
//! After the window, a person who left and is not back is overdue: the breach is a
//! `leave_overdue` alarm (filed against the destination fence) instead of a plain `fence_exit`,
//! with the same doubt and confirmation handling; the return is recorded on it.

use chrono::{DateTime, Utc};
use geofence::verdict::{Position, Verdict};
use geofence::FenceKind;

use super::rules::{area_outcome, FixAlarm, Observation, Outcome};
use crate::fence::FenceSnapshot;
use crate::leave::OpenLeave;

/// What a fix changes in a leave's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveChange {
    Departed { leave: i64, at: DateTime<Utc> },
    Returned { leave: i64, at: DateTime<Utc> },
}

/// Applies the person's open leaves to one driving fix taken at `at`: rewrites `observations`
/// where the leave changes what the fix means, updates `open` and returns what to record.
pub fn step(
    fences: &FenceSnapshot,
    open: &mut Vec<OpenLeave>,
    verdicts: &[Verdict],
    at: DateTime<Utc>,
    observations: &mut Vec<Observation>,
) -> Option<LeaveChange> {
    // The leave in question: the latest that has begun.
    let i = open.iter().enumerate().filter(|(_, l)| l.starts_at <= at).max_by_key(|(_, l)| l.starts_at)?.0;
    let leave = &mut open[i];
    let usual = verdicts.iter().filter(|v| {
        v.kind == FenceKind::Inclusion
            && !fences.leave_of.contains_key(&v.fence_id)
            && fences.set.get(v.fence_id).is_some_and(|f| f.schedule.is_none())
    });
    let usual = area_outcome(usual)?;
    let back = usual == Outcome::Clear;
    let change = if at < leave.ends_at {
        let at_destination = verdicts
            .iter()
            .any(|v| v.position == Position::Inside && fences.leave_of.get(&v.fence_id) == Some(&leave.id));
        match leave.departed_at {
            None if !back && at_destination => {
                leave.departed_at = Some(at);
                Some(LeaveChange::Departed { leave: leave.id, at })
            }
            Some(_) if back => Some(LeaveChange::Returned { leave: leave.id, at }),
            _ => None,
        }
    } else {
        leave.departed_at?;
        let fence = fences.leave_destination(leave.id);
        if back {
            observations.push(Observation { alarm: FixAlarm::LeaveOverdue, fence, outcome: Outcome::Clear });
            Some(LeaveChange::Returned { leave: leave.id, at })
        } else {
            for o in observations.iter_mut().filter(|o| o.alarm == FixAlarm::FenceExit) {
                *o = Observation { alarm: FixAlarm::LeaveOverdue, fence, outcome: o.outcome };
            }
            None
        }
    };
    if let Some(LeaveChange::Returned { .. }) = change {
        open.remove(i);
    }
    change
}
