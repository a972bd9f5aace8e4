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

use super::rules::{area_outcome, Kind, Observation, Outcome};
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
            observations.push(Observation { alarm: Kind::LeaveOverdue, fence, outcome: Outcome::Clear });
            Some(LeaveChange::Returned { leave: leave.id, at })
        } else {
            for o in observations.iter_mut().filter(|o| o.alarm == Kind::FenceExit) {
                *o = Observation { alarm: Kind::LeaveOverdue, fence, outcome: o.outcome };
            }
            None
        }
    };
    if let Some(LeaveChange::Returned { .. }) = change {
        open.remove(i);
    }
    change
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::Duration;
    use geofence::{Fence, FenceSet, Shape};

    use super::*;
    use crate::ingest::rules::observe;

    const PERSON: i64 = 7;
    const LEAVE: i64 = 30;
    const HOME: i64 = 1;
    const DESTINATION: i64 = 10;

    fn at(h: i64) -> DateTime<Utc> {
        "2026-12-07T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h)
    }

    fn fences() -> FenceSnapshot {
        let mut set = FenceSet::new();
        for id in [HOME, DESTINATION] {
            set.put_personal(PERSON, Fence::new(id, FenceKind::Inclusion, Shape::circle(122.2, 40.6, 500.0).unwrap()))
                .unwrap();
        }
        FenceSnapshot::with_leaves(set, PERSON, HashMap::from([(DESTINATION, LEAVE)]))
    }

    fn verdict(fence: i64, inside: bool) -> Verdict {
        let (position, d) = if inside { (Position::Inside, 100.0) } else { (Position::Outside, -5000.0) };
        Verdict { fence_id: fence, kind: FenceKind::Inclusion, position, point_inside: inside, distance_m: Some(d) }
    }

    /// Where the person is at each step.
    #[derive(Clone, Copy)]
    enum At {
        Home,
        Destination,
        Elsewhere,
    }

    /// Runs a leave from 10:00 to 18:00 through fixes at `(hour, place)`; returns per fix the
    /// change and the alarm observations left for the rules.
    /// Per fix: what changed in the leave, and the (alarm, outcome) observations left.
    type Step = (Option<LeaveChange>, Vec<(Kind, Outcome)>);

    fn run(steps: &[(i64, At)]) -> Vec<Step> {
        let fences = fences();
        let mut open =
            vec![OpenLeave { id: LEAVE, person_id: PERSON, starts_at: at(10), ends_at: at(18), departed_at: None }];
        steps
            .iter()
            .map(|&(h, place)| {
                let (home, dest) = match place {
                    At::Home => (true, false),
                    At::Destination => (false, true),
                    At::Elsewhere => (false, false),
                };
                // The destination is a fence in force only in the window, like the real cache.
                let mut verdicts = vec![verdict(HOME, home)];
                if (10..18).contains(&h) {
                    verdicts.push(verdict(DESTINATION, dest));
                }
                let mut observations = observe(&fences.set, &verdicts, false, false, false, None);
                let change = step(&fences, &mut open, &verdicts, at(h), &mut observations);
                (change, observations.iter().map(|o| (o.alarm, o.outcome)).collect())
            })
            .collect()
    }

    use Outcome::*;

    #[test]
    fn a_leave_taken_and_ended_on_time() {
        let got = run(&[(9, At::Home), (11, At::Home), (12, At::Destination), (14, At::Destination), (17, At::Home)]);
        let want = vec![
            (None, vec![(Kind::FenceExit, Clear)]),
            (None, vec![(Kind::FenceExit, Clear)]),
            (Some(LeaveChange::Departed { leave: LEAVE, at: at(12) }), vec![(Kind::FenceExit, Clear)]),
            (None, vec![(Kind::FenceExit, Clear)]),
            (Some(LeaveChange::Returned { leave: LEAVE, at: at(17) }), vec![(Kind::FenceExit, Clear)]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn not_back_when_the_leave_ends_is_overdue_not_a_plain_exit() {
        let got = run(&[(12, At::Destination), (19, At::Destination), (20, At::Elsewhere), (21, At::Home)]);
        let want = vec![
            (Some(LeaveChange::Departed { leave: LEAVE, at: at(12) }), vec![(Kind::FenceExit, Clear)]),
            (None, vec![(Kind::LeaveOverdue, Breach)]),
            (None, vec![(Kind::LeaveOverdue, Breach)]),
            // Back: the overdue subject is cleared and the leave closed (销假).
            (
                Some(LeaveChange::Returned { leave: LEAVE, at: at(21) }),
                vec![(Kind::FenceExit, Clear), (Kind::LeaveOverdue, Clear)],
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn elsewhere_during_the_window_is_a_fence_exit_and_a_leave_never_taken_is_never_overdue() {
        let got = run(&[(11, At::Elsewhere), (19, At::Elsewhere)]);
        let want = vec![(None, vec![(Kind::FenceExit, Breach)]), (None, vec![(Kind::FenceExit, Breach)])];
        assert_eq!(got, want);
    }
}
