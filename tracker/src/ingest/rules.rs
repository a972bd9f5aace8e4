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
use sqlx::{Postgres, Transaction};

/// Alarm kinds the fix rules raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixAlarm {
    FenceExit,
    ExclusionEntry,
    Curfew,
    MockLocation,
    LowBattery,
    LeaveOverdue,
}

impl FixAlarm {
    pub fn as_str(self) -> &'static str {
        match self {
            FixAlarm::FenceExit => "fence_exit",
            FixAlarm::ExclusionEntry => "exclusion_entry",
            FixAlarm::Curfew => "curfew",
            FixAlarm::MockLocation => "mock_location",
            FixAlarm::LowBattery => "low_battery",
            FixAlarm::LeaveOverdue => "leave_overdue",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Breach,
    Doubt,
    Clear,
}

/// What one fix says about one alarm subject (kind, fence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub alarm: FixAlarm,
    pub fence: Option<i64>,
    pub outcome: Outcome,
}

/// Below this battery level the phone may soon stop reporting: staff get a prompt.
pub const LOW_BATTERY_PCT: f64 = 15.0;

/// The observations of one fix. `verdicts` are the fences active at the fix's time;
/// `implausible` turns every breach into a doubt.
pub fn observe(
    set: &FenceSet,
    verdicts: &[Verdict],
    implausible: bool,
    mock: bool,
    battery_pct: Option<f64>,
) -> Vec<Observation> {
    let mut out = Vec::new();
    let doubt_if_implausible = |o: Outcome| if implausible && o == Outcome::Breach { Outcome::Doubt } else { o };
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
        out.push(Observation { alarm: FixAlarm::FenceExit, fence: nearest, outcome: doubt_if_implausible(outcome) });
    }
    for v in verdicts {
        let scheduled = set.get(v.fence_id).is_some_and(|f| f.schedule.is_some());
        let alarm = match (v.kind, scheduled) {
            (FenceKind::Exclusion, _) => FixAlarm::ExclusionEntry,
            (FenceKind::Inclusion, true) => FixAlarm::Curfew,
            (FenceKind::Inclusion, false) => continue,
        };
        out.push(Observation {
            alarm,
            fence: Some(v.fence_id),
            outcome: doubt_if_implausible(from_compliance(v.compliance())),
        });
    }
    if mock {
        out.push(Observation { alarm: FixAlarm::MockLocation, fence: None, outcome: Outcome::Breach });
    }
    if battery_pct.is_some_and(|b| b < LOW_BATTERY_PCT) {
        out.push(Observation { alarm: FixAlarm::LowBattery, fence: None, outcome: Outcome::Breach });
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
}

/// The open alarms and pending confirmations of a batch's persons, read once under the persons'
/// row locks, so that the common case — a compliant fix with nothing open — costs no statement.
#[derive(Default)]
pub struct AlarmState {
    open: HashMap<(i64, FixAlarm), Vec<OpenAlarm>>,
    pending: HashSet<(i64, FixAlarm, i64)>,
    /// A confirmation was requested or settled since the load.
    requests_changed: bool,
}

impl FixAlarm {
    fn parse(s: &str) -> Option<FixAlarm> {
        [
            FixAlarm::FenceExit,
            FixAlarm::ExclusionEntry,
            FixAlarm::Curfew,
            FixAlarm::MockLocation,
            FixAlarm::LowBattery,
            FixAlarm::LeaveOverdue,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Confirmations of fence exits are per person (the union of areas), others per fence.
fn confirm_key(person: i64, o: &Observation) -> (i64, FixAlarm, i64) {
    let fence = if o.alarm == FixAlarm::FenceExit { 0 } else { o.fence.unwrap_or(0) };
    (person, o.alarm, fence)
}

impl AlarmState {
    /// Must run after the persons' rows are locked, in the same transaction. One statement:
    /// open alarms (id > 0) and pending confirmations (id 0).
    pub async fn load(tx: &mut Transaction<'_, Postgres>, persons: &[i64]) -> Result<Self, sqlx::Error> {
        let mut state = AlarmState::default();
        let rows: Vec<(i64, i64, String, Option<i64>, bool)> = sqlx::query_as(
            "SELECT id, person_id, kind, fence_id, returned_inside_at IS NOT NULL FROM alarms
             WHERE person_id = ANY($1) AND state IN ('open', 'acknowledged')
             UNION ALL
             SELECT 0, person_id, confirm_kind, fence_id, false FROM location_requests
             WHERE person_id = ANY($1) AND state = 'pending' AND reason = 'confirm'
             ORDER BY 1",
        )
        .bind(persons)
        .fetch_all(&mut **tx)
        .await?;
        for (id, person, kind, fence, returned) in rows {
            let Some(k) = FixAlarm::parse(&kind) else { continue };
            if id > 0 {
                state.open.entry((person, k)).or_default().push(OpenAlarm { id, fence, returned });
            } else {
                let fence = if k == FixAlarm::FenceExit { 0 } else { fence.unwrap_or(0) };
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
        let open = self.open.get(&(person, FixAlarm::ExclusionEntry)).into_iter().flatten().filter_map(|a| a.fence);
        let pending = self
            .pending
            .iter()
            .filter(|(p, k, f)| *p == person && *k == FixAlarm::ExclusionEntry && *f != 0)
            .map(|(_, _, f)| *f);
        let mut fences: Vec<i64> = open.chain(pending).collect();
        fences.sort_unstable();
        fences.dedup();
        fences
    }

    fn open_alarm(&mut self, person: i64, o: &Observation) -> Option<&mut OpenAlarm> {
        let alarms = self.open.get_mut(&(person, o.alarm))?;
        // Fence exits are one subject per person, whichever inclusion fence was nearest.
        alarms.iter_mut().find(|a| o.alarm == FixAlarm::FenceExit || a.fence == o.fence)
    }
}

/// Applies one driving fix's observation (the newest fix of the person so far).
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    match o.outcome {
        Outcome::Breach => {
            settle_confirmation(tx, state, s, o).await?;
            open_or_feed(tx, state, s, fixed_at, o).await
        }
        Outcome::Doubt => {
            if settle_confirmation(tx, state, s, o).await? {
                // The second non-compliant result in a row: confirmed.
                open_or_feed(tx, state, s, fixed_at, o).await
            } else {
                request_confirmation(tx, state, s, fixed_at, o).await
            }
        }
        Outcome::Clear => {
            settle_confirmation(tx, state, s, o).await?;
            if let Some(alarm) = state.open_alarm(s.person_id, o).filter(|a| !a.returned) {
                sqlx::query("UPDATE alarms SET returned_inside_at = $2 WHERE id = $1")
                    .bind(alarm.id)
                    .bind(fixed_at)
                    .execute(&mut **tx)
                    .await?;
                alarm.returned = true;
            }
            Ok(())
        }
    }
}

/// A late fix (older than the newest evaluated one) never opens or reopens anything: it is
/// attached as evidence to the alarm that was open at its time, if any.
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
        "INSERT INTO alarm_evidence (alarm_id, person_id, device_id, fixed_at)
         SELECT id, person_id, $4, $5 FROM alarms
         WHERE person_id = $1 AND kind = $2 AND coalesce(fence_id, 0) = coalesce($3, 0)
           AND coalesce(cause_fixed_at, opened_at) <= $5 AND (closed_at IS NULL OR closed_at >= $5)
         ON CONFLICT DO NOTHING",
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

/// Answers a pending confirmation request for this subject; whether there was one.
async fn settle_confirmation(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    s: &Subject,
    o: &Observation,
) -> Result<bool, sqlx::Error> {
    if !state.pending.remove(&confirm_key(s.person_id, o)) {
        return Ok(false);
    }
    state.requests_changed = true;
    sqlx::query(
        "UPDATE location_requests SET state = 'answered', answered_at = now()
         WHERE person_id = $1 AND reason = 'confirm' AND state = 'pending' AND confirm_kind = $2
           AND (confirm_kind = 'fence_exit' OR coalesce(fence_id, 0) = coalesce($3, 0))",
    )
    .bind(s.person_id)
    .bind(o.alarm.as_str())
    .bind(o.fence)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

async fn request_confirmation(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    let key = confirm_key(s.person_id, o);
    // Fence exits are judged on the union of areas: one confirmation for the person, whatever
    // fence happened to be nearest.
    let fence = if o.alarm == FixAlarm::FenceExit { None } else { o.fence };
    sqlx::query(
        "INSERT INTO location_requests (person_id, device_id, reason, channel, issued_at, due_at, deadline_at, fence_id, confirm_kind)
         VALUES ($1, $2, 'confirm', 'next_contact', now(), now(), now() + interval '15 minutes', $3, $4)
         ON CONFLICT (person_id, confirm_kind, coalesce(fence_id, 0)) WHERE state = 'pending' AND reason = 'confirm' DO NOTHING",
    )
    .bind(s.person_id)
    .bind(s.device_id)
    .bind(fence)
    .bind(o.alarm.as_str())
    .execute(&mut **tx)
    .await?;
    state.pending.insert(key);
    state.requests_changed = true;
    tracing::debug!(person = s.person_id, kind = o.alarm.as_str(), at = %fixed_at, "doubtful verdict: confirmation requested");
    Ok(())
}

/// Opens the alarm for this subject unless one is open; either way the fix becomes evidence.
async fn open_or_feed(
    tx: &mut Transaction<'_, Postgres>,
    state: &mut AlarmState,
    s: &Subject,
    fixed_at: DateTime<Utc>,
    o: &Observation,
) -> Result<(), sqlx::Error> {
    let alarm_id = match state.open_alarm(s.person_id, o) {
        Some(alarm) => {
            if alarm.returned {
                // Outside again after a recorded return.
                sqlx::query("UPDATE alarms SET returned_inside_at = NULL WHERE id = $1")
                    .bind(alarm.id)
                    .execute(&mut **tx)
                    .await?;
                alarm.returned = false;
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
            sqlx::query("INSERT INTO alarm_events (alarm_id, person_id, to_state, note) VALUES ($1, $2, 'open', $3)")
                .bind(id)
                .bind(s.person_id)
                .bind(format!("fix at {}", fixed_at.to_rfc3339()))
                .execute(&mut **tx)
                .await?;
            tracing::info!(alarm = id, person = s.person_id, kind = o.alarm.as_str(), "alarm opened");
            state.open.entry((s.person_id, o.alarm)).or_default().push(OpenAlarm {
                id,
                fence: o.fence,
                returned: false,
            });
            id
        }
    };
    sqlx::query(
        "INSERT INTO alarm_evidence (alarm_id, person_id, device_id, fixed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(alarm_id)
    .bind(s.person_id)
    .bind(s.device_id)
    .bind(fixed_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
