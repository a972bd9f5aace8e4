//! Alarm rules: what one fix's verdicts mean for the person (pure), and applying that to the
//! alarm state in the fix's own transaction.
//!
//! A definite breach opens (or feeds) an alarm. A doubtful one — uncertain verdict, or an
//! implausible jump — never does by itself: it asks the phone for another fix, and a second
//! non-compliant result confirms. A compliant fix settles a pending confirmation and records the
//! return inside on an open alarm (which stays open until staff close it with a note).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use geofence::verdict::{Compliance, Position, Verdict};
use geofence::{FenceKind, FenceSet};
use serde_json::json;
use sqlx::{Postgres, Transaction};

use crate::alarm::events::{EventKind, EventLog, NewEvent};
pub use crate::alarm::Kind;
use crate::alarm::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Breach,
    /// Uncertain, or a breach after an implausible jump: asks for another fix; a second doubt
    /// in a row confirms.
    Doubt,
    /// Uncertain from a coarse fix (a carrier's cell position, hundreds of metres wide): asks for
    /// a better fix, and never confirms a doubt. Two cell fixes near a border are still only
    /// uncertainty, not a breach.
    CoarseDoubt,
    Clear,
}

/// What one fix says about one alarm subject (kind, fence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub alarm: Kind,
    pub fence: Option<i64>,
    pub outcome: Outcome,
}

/// Below this battery level the phone may soon stop reporting: staff get a prompt.
pub const LOW_BATTERY_PCT: f64 = 15.0;

/// The observations of one fix. `verdicts` are the fences active at the fix's time;
/// `implausible` turns every breach into a doubt; `coarse` (a cell position) turns every doubt
/// into one that cannot confirm.
pub fn observe(
    set: &FenceSet,
    verdicts: &[Verdict],
    implausible: bool,
    coarse: bool,
    mock: bool,
    battery_pct: Option<f64>,
) -> Vec<Observation> {
    let mut out = Vec::new();
    let doubt_if_implausible = |o: Outcome| {
        let o = if implausible && o == Outcome::Breach { Outcome::Doubt } else { o };
        if coarse && o == Outcome::Doubt {
            Outcome::CoarseDoubt
        } else {
            o
        }
    };
    let from_compliance = |c: Compliance| match c {
        Compliance::Breach => Outcome::Breach,
        Compliance::Unknown => Outcome::Doubt,
        Compliance::Compliant => Outcome::Clear,
    };
    // The effective inclusion area is the union of the unscheduled inclusion fences: outside
    // only if outside all of them. The alarm is filed against the nearest one.
    let area: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.kind == FenceKind::Inclusion && set.get(v.fence_id).is_some_and(|f| f.schedule.is_none()))
        .collect();
    if let Some(outcome) = area_outcome(area.iter().copied()) {
        let nearest = area
            .iter()
            .max_by(|a, b| {
                a.distance_m.unwrap_or(f64::NEG_INFINITY).total_cmp(&b.distance_m.unwrap_or(f64::NEG_INFINITY))
            })
            .map(|v| v.fence_id);
        out.push(Observation { alarm: Kind::FenceExit, fence: nearest, outcome: doubt_if_implausible(outcome) });
    }
    for v in verdicts {
        let scheduled = set.get(v.fence_id).is_some_and(|f| f.schedule.is_some());
        let alarm = match (v.kind, scheduled) {
            (FenceKind::Exclusion, _) => Kind::ExclusionEntry,
            (FenceKind::Inclusion, true) => Kind::Curfew,
            (FenceKind::Inclusion, false) => continue,
        };
        out.push(Observation {
            alarm,
            fence: Some(v.fence_id),
            outcome: doubt_if_implausible(from_compliance(v.compliance())),
        });
    }
    if mock {
        out.push(Observation { alarm: Kind::MockLocation, fence: None, outcome: Outcome::Breach });
    }
    if battery_pct.is_some_and(|b| b < LOW_BATTERY_PCT) {
        out.push(Observation { alarm: Kind::LowBattery, fence: None, outcome: Outcome::Breach });
    }
    out
}

/// Where the person stands relative to the union of some inclusion fences: clear if inside any,
/// a breach if definitely outside all, doubtful otherwise; `None` without any fence.
pub fn area_outcome<'a>(area: impl Iterator<Item = &'a Verdict>) -> Option<Outcome> {
    let mut any = false;
    let (mut inside, mut all_outside) = (false, true);
    for v in area {
        any = true;
        inside |= v.position == Position::Inside;
        all_outside &= v.position == Position::Outside;
    }
    any.then_some(if inside {
        Outcome::Clear
    } else if all_outside {
        Outcome::Breach
    } else {
        Outcome::Doubt
    })
}

/// Who and what the rules act on.
pub struct Subject {
    pub person_id: i64,
    pub office_id: i64,
    pub device_id: i64,
}

struct OpenAlarm {
    id: i64,
    fence: Option<i64>,
    returned: bool,
    state: State,
}

/// The open alarms and pending confirmations of a batch's persons, read once under the persons'
/// row locks, so that the common case — a compliant fix with nothing open — costs no statement.
#[derive(Default)]
pub struct AlarmState {
    open: HashMap<(i64, Kind), Vec<OpenAlarm>>,
    pending: HashSet<(i64, Kind, i64)>,
    /// A confirmation was requested or settled since the load.
    requests_changed: bool,
}

/// Confirmations of fence exits are per person (the union of areas), others per fence.
fn confirm_key(person: i64, o: &Observation) -> (i64, Kind, i64) {
    let fence = if o.alarm == Kind::FenceExit { 0 } else { o.fence.unwrap_or(0) };
    (person, o.alarm, fence)
}

impl AlarmState {
    /// Must run after the persons' rows are locked, in the same transaction. One statement:
    /// open alarms (id > 0) and pending confirmations (id 0).
    pub async fn load(tx: &mut Transaction<'_, Postgres>, persons: &[i64]) -> Result<Self, sqlx::Error> {
        let mut state = AlarmState::default();
        let rows: Vec<(i64, i64, String, Option<i64>, bool, String)> = sqlx::query_as(
            "SELECT id, person_id, kind, fence_id, returned_inside_at IS NOT NULL, state FROM alarms
             WHERE person_id = ANY($1) AND state IN ('open', 'acknowledged')
             UNION ALL
             SELECT 0, person_id, confirm_kind, fence_id, false, 'open' FROM location_requests
             WHERE person_id = ANY($1) AND state = 'pending' AND reason = 'confirm'
             ORDER BY 1",
        )
        .bind(persons)
        .fetch_all(&mut **tx)
        .await?;
        for (id, person, kind, fence, returned, alarm_state) in rows {
            let Ok(k) = kind.parse::<Kind>() else { continue };
            if id > 0 {
                let alarm_state = alarm_state.parse().unwrap_or(State::Open);
                state.open.entry((person, k)).or_default().push(OpenAlarm { id, fence, returned, state: alarm_state });
            } else {
                let fence = if k == Kind::FenceExit { 0 } else { fence.unwrap_or(0) };
                state.pending.insert((person, k, fence));
            }
        }
        Ok(state)
    }

    /// Whether a confirmation request was created or answered since the load (the commit's
    /// pending requests were read before).
    pub fn requests_changed(&self) -> bool {
        self.requests_changed
    }

    /// The exclusion fences with an open alarm or a pending confirmation for `person`: a fix
    /// without a verdict for one of them is clear of it. (Shared zones only report verdicts for
    /// fixes near them, so leaving one is seen as the absence of its verdict.)
    pub fn exclusion_subjects(&self, person: i64) -> Vec<i64> {
        let open = self.open.get(&(person, Kind::ExclusionEntry)).into_iter().flatten().filter_map(|a| a.fence);
        let pending = self
            .pending
            .iter()
            .filter(|(p, k, f)| *p == person && *k == Kind::ExclusionEntry && *f != 0)
            .map(|(_, _, f)| *f);
        let mut fences: Vec<i64> = open.chain(pending).collect();
        fences.sort_unstable();
        fences.dedup();
        fences
    }

    fn open_alarm(&mut self, person: i64, o: &Observation) -> Option<&mut OpenAlarm> {
        let alarms = self.open.get_mut(&(person, o.alarm))?;
        // Fence exits are one subject per person, whichever inclusion fence was nearest.
        alarms.iter_mut().find(|a| o.alarm == Kind::FenceExit || a.fence == o.fence)
    }
}

/// An event of `s` about the subject of `o`.
fn event(
    s: &Subject,
    o: &Observation,
    alarm: Option<(i64, State)>,
    kind: EventKind,
    fixed_at: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        alarm_id: alarm.map(|a| a.0),
        fence_id: o.fence,
        from_state: alarm.map(|a| a.1),
        to_state: alarm.map(|a| a.1),
        fixed_at: Some(fixed_at),
        ..NewEvent::new(kind, s.person_id, s.office_id, o.alarm)
    }
}

/// Applies one driving fix's observation (the newest fix of the person so far); the history's
/// events go to `log`.
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    log: &mut EventLog,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    match o.outcome {
        Outcome::Breach => {
            let settled = settle_confirmation(tx, state, s, o).await?;
            open_or_feed(tx, state, log, s, fixed_at, o, settled).await
        }
        Outcome::Doubt => match settle_confirmation(tx, state, s, o).await? {
            // The second non-compliant result in a row: confirmed.
            Some(request) => open_or_feed(tx, state, log, s, fixed_at, o, Some(request)).await,
            None => request_confirmation(tx, state, log, s, fixed_at, o).await,
        },
        Outcome::CoarseDoubt if state.pending.contains(&confirm_key(s.person_id, o)) => Ok(()),
        Outcome::CoarseDoubt => request_confirmation(tx, state, log, s, fixed_at, o).await,
        Outcome::Clear => {
            if let Some(request) = settle_confirmation(tx, state, s, o).await? {
                let open = state.open_alarm(s.person_id, o).map(|a| (a.id, a.state));
                let mut e = event(s, o, open, EventKind::ConfirmationWithdrawn, fixed_at);
                e.details = json!({"request": request.id, "requested_at": request.issued_at});
                log.push(e);
            }
            if let Some(alarm) = state.open_alarm(s.person_id, o).filter(|a| !a.returned) {
                sqlx::query("UPDATE alarms SET returned_inside_at = $2 WHERE id = $1")
                    .bind(alarm.id)
                    .bind(fixed_at)
                    .execute(&mut **tx)
                    .await?;
                alarm.returned = true;
                log.push(event(s, o, Some((alarm.id, alarm.state)), EventKind::ReturnedInside, fixed_at));
            }
            Ok(())
        }
    }
}

/// A late fix (older than the newest evaluated one) never opens or reopens anything: it is
/// attached as evidence to the alarm that was open at its time, if any (counted, not an event).
pub async fn attach_late(
    tx: &mut Transaction<'_, Postgres>,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    if o.outcome == Outcome::Clear {
        return Ok(());
    }
    sqlx::query(
        "WITH attached AS (
             INSERT INTO alarm_evidence (alarm_id, person_id, device_id, fixed_at)
             SELECT id, person_id, $4, $5 FROM alarms
             WHERE person_id = $1 AND kind = $2 AND coalesce(fence_id, 0) = coalesce($3, 0)
               AND coalesce(cause_fixed_at, opened_at) <= $5 AND (closed_at IS NULL OR closed_at >= $5)
             ON CONFLICT DO NOTHING
             RETURNING alarm_id)
         UPDATE alarms a SET evidence_count = evidence_count + 1, last_evidence_at = greatest(last_evidence_at, $5)
         FROM attached WHERE a.id = attached.alarm_id",
    )
    .bind(s.person_id)
    .bind(o.alarm.as_str())
    .bind(o.fence)
    .bind(s.device_id)
    .bind(fixed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A pending confirmation request that a fix answered.
struct Settled {
    id: i64,
    issued_at: DateTime<Utc>,
}

/// Answers a pending confirmation request for this subject; the request, if there was one.
async fn settle_confirmation(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    s: &Subject,
    o: &Observation,
) -> Result<Option<Settled>, sqlx::Error> {
    if !state.pending.remove(&confirm_key(s.person_id, o)) {
        return Ok(None);
    }
    state.requests_changed = true;
    let row: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE location_requests SET state = 'answered', answered_at = now()
         WHERE person_id = $1 AND reason = 'confirm' AND state = 'pending' AND confirm_kind = $2
           AND (confirm_kind = 'fence_exit' OR coalesce(fence_id, 0) = coalesce($3, 0))
         RETURNING id, issued_at",
    )
    .bind(s.person_id)
    .bind(o.alarm.as_str())
    .bind(o.fence)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(id, issued_at)| Settled { id, issued_at }))
}

async fn request_confirmation(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    log: &mut EventLog,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    let key = confirm_key(s.person_id, o);
    // Fence exits are judged on the union of areas: one confirmation for the person, whatever
    // fence happened to be nearest.
    let fence = if o.alarm == Kind::FenceExit { None } else { o.fence };
    let request: Option<i64> = sqlx::query_scalar(
        "INSERT INTO location_requests (person_id, device_id, reason, channel, issued_at, due_at, deadline_at, fence_id, confirm_kind)
         VALUES ($1, $2, 'confirm', 'next_contact', now(), now(), now() + interval '15 minutes', $3, $4)
         ON CONFLICT (person_id, confirm_kind, coalesce(fence_id, 0)) WHERE state = 'pending' AND reason = 'confirm' DO NOTHING
         RETURNING id",
    )
    .bind(s.person_id)
    .bind(s.device_id)
    .bind(fence)
    .bind(o.alarm.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    state.pending.insert(key);
    state.requests_changed = true;
    if let Some(request) = request {
        let open = state.open_alarm(s.person_id, o).map(|a| (a.id, a.state));
        let mut e = event(s, o, open, EventKind::ConfirmationRequested, fixed_at);
        e.details = json!({"request": request});
        log.push(e);
    }
    tracing::debug!(person = s.person_id, kind = o.alarm.as_str(), at = %fixed_at, "doubtful verdict: confirmation requested");
    Ok(())
}

/// Opens the alarm for this subject unless one is open; either way the fix becomes evidence.
/// `confirmed`: the confirmation request this fix answered, when it confirmed a doubt.
async fn open_or_feed(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    log: &mut EventLog,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
    confirmed: Option<Settled>,
) -> Result<(), sqlx::Error> {
    let confirmation = |alarm: (i64, State)| {
        confirmed.as_ref().map(|r| {
            let mut e = event(s, o, Some(alarm), EventKind::Confirmed, fixed_at);
            e.details = json!({"request": r.id, "requested_at": r.issued_at});
            e
        })
    };
    let alarm_id = match state.open_alarm(s.person_id, o) {
        Some(alarm) => {
            log.extend(confirmation((alarm.id, alarm.state)));
            if alarm.returned {
                // Outside again after a recorded return.
                sqlx::query("UPDATE alarms SET returned_inside_at = NULL WHERE id = $1")
                    .bind(alarm.id)
                    .execute(&mut **tx)
                    .await?;
                alarm.returned = false;
                log.push(event(s, o, Some((alarm.id, alarm.state)), EventKind::LeftAgain, fixed_at));
            }
            alarm.id
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alarms (person_id, office_id, kind, fence_id, opened_at, cause_fixed_at)
                 VALUES ($1, $2, $3, $4, now(), $5) RETURNING id",
            )
            .bind(s.person_id)
            .bind(s.office_id)
            .bind(o.alarm.as_str())
            .bind(o.fence)
            .bind(fixed_at)
            .fetch_one(&mut **tx)
            .await?;
            let mut opened = event(s, o, Some((id, State::Open)), EventKind::Opened, fixed_at);
            opened.from_state = None;
            opened.details = json!({"confirmed": confirmed.is_some()});
            // An alarm's history starts with its opening; the confirmation that led to it follows.
            log.push(opened);
            log.extend(confirmation((id, State::Open)));
            tracing::info!(alarm = id, person = s.person_id, kind = o.alarm.as_str(), "alarm opened");
            state.open.entry((s.person_id, o.alarm)).or_default().push(OpenAlarm {
                id,
                fence: o.fence,
                returned: false,
                state: State::Open,
            });
            id
        }
    };
    sqlx::query(
        "WITH attached AS (
             INSERT INTO alarm_evidence (alarm_id, person_id, device_id, fixed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING alarm_id)
         UPDATE alarms a SET evidence_count = evidence_count + 1, last_evidence_at = greatest(last_evidence_at, $4)
         FROM attached WHERE a.id = attached.alarm_id",
    )
    .bind(alarm_id)
    .bind(s.person_id)
    .bind(s.device_id)
    .bind(fixed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geofence::{Fence, Shape};

    const PERSON: i64 = 7;
    // Fences: 1 and 2 the usual areas, 3 a curfew area (scheduled), 4 a 禁止令 place.
    pub(crate) fn fences() -> FenceSet {
        let mut set = FenceSet::new();
        let circle = || Shape::circle(122.2, 40.6, 500.0).unwrap();
        let night = geofence::schedule::WeeklySchedule::new(vec![geofence::schedule::ScheduleWindow {
            days: vec![chrono::Weekday::Mon],
            start: chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        }])
        .unwrap();
        for (id, kind) in [(1, FenceKind::Inclusion), (2, FenceKind::Inclusion), (4, FenceKind::Exclusion)] {
            set.put_personal(PERSON, Fence::new(id, kind, circle())).unwrap();
        }
        set.put_personal(PERSON, Fence::new(3, FenceKind::Inclusion, circle()).with_schedule(night)).unwrap();
        set
    }

    pub(crate) fn v(fence: i64, position: Position, distance_m: f64) -> Verdict {
        let kind = if fence == 4 { FenceKind::Exclusion } else { FenceKind::Inclusion };
        Verdict { fence_id: fence, kind, position, point_inside: distance_m >= 0.0, distance_m: Some(distance_m) }
    }

    fn o(alarm: Kind, fence: Option<i64>, outcome: Outcome) -> Observation {
        Observation { alarm, fence, outcome }
    }

    #[test]
    fn what_one_fix_says_about_each_alarm_subject() {
        use Outcome::*;
        use Position::*;
        let set = fences();
        // (verdicts, implausible, mock, battery, observations); the same for a coarse fix below
        type Row = (Vec<Verdict>, bool, bool, Option<f64>, Vec<Observation>);
        let table: Vec<Row> = vec![
            (vec![], false, false, None, vec![]),
            (vec![v(1, Inside, 120.0)], false, false, Some(80.0), vec![o(Kind::FenceExit, Some(1), Clear)]),
            // Outside both areas: a breach, filed against the nearer.
            (
                vec![v(1, Outside, -900.0), v(2, Outside, -300.0)],
                false,
                false,
                None,
                vec![o(Kind::FenceExit, Some(2), Breach)],
            ),
            // Inside either area is inside the union.
            (
                vec![v(1, Outside, -900.0), v(2, Inside, 40.0)],
                false,
                false,
                None,
                vec![o(Kind::FenceExit, Some(2), Clear)],
            ),
            (
                vec![v(1, Outside, -900.0), v(2, Uncertain, -5.0)],
                false,
                false,
                None,
                vec![o(Kind::FenceExit, Some(2), Doubt)],
            ),
            // An implausible jump turns a breach into a doubt, never a clear into one.
            (vec![v(1, Outside, -900.0)], true, false, None, vec![o(Kind::FenceExit, Some(1), Doubt)]),
            (vec![v(1, Inside, 900.0)], true, false, None, vec![o(Kind::FenceExit, Some(1), Clear)]),
            // A 禁止令 place: inside is the breach.
            (vec![v(4, Inside, 50.0)], false, false, None, vec![o(Kind::ExclusionEntry, Some(4), Breach)]),
            (vec![v(4, Outside, -50.0)], false, false, None, vec![o(Kind::ExclusionEntry, Some(4), Clear)]),
            (vec![v(4, Uncertain, 5.0)], false, false, None, vec![o(Kind::ExclusionEntry, Some(4), Doubt)]),
            (vec![v(4, Inside, 50.0)], true, false, None, vec![o(Kind::ExclusionEntry, Some(4), Doubt)]),
            // A curfew area is its own subject, not part of the usual area.
            (
                vec![v(1, Inside, 100.0), v(3, Outside, -80.0)],
                false,
                false,
                None,
                vec![o(Kind::FenceExit, Some(1), Clear), o(Kind::Curfew, Some(3), Breach)],
            ),
            (vec![v(3, Outside, -80.0)], false, false, None, vec![o(Kind::Curfew, Some(3), Breach)]),
            // The phone's own reports.
            (vec![], false, true, None, vec![o(Kind::MockLocation, None, Breach)]),
            (vec![], false, false, Some(14.9), vec![o(Kind::LowBattery, None, Breach)]),
            (vec![], false, false, Some(LOW_BATTERY_PCT), vec![]),
        ];
        for (i, (verdicts, implausible, mock, battery, want)) in table.into_iter().enumerate() {
            assert_eq!(observe(&set, &verdicts, implausible, false, mock, battery), want, "row {i}");
            // A cell fix says the same, except that its doubts cannot confirm.
            let coarse: Vec<Observation> = want
                .iter()
                .map(|o| Observation { outcome: if o.outcome == Doubt { CoarseDoubt } else { o.outcome }, ..*o })
                .collect();
            assert_eq!(observe(&set, &verdicts, implausible, true, mock, battery), coarse, "row {i}, a cell fix");
        }
    }
}
