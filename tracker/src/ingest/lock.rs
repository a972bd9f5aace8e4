//! Stage: lock. The batch's persons' rows are locked (in id order, so that concurrent commits
//! never deadlock) for the rest of the transaction: fixes of one person are evaluated in time
//! order, and staff acting on the person's alarms wait. With the lock come what the next stages
//! need: the person's newest evaluated fix, the fence version, the legal bases, and which of the
//! batch's devices were retired since they were authenticated. A retired device's request is
//! refused whole; a fix at a time no legal basis covers is refused.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use geofence::TimedPosition;
use sqlx::PgConnection;

use super::batch::Batch;
use super::fix::FieldError;

/// What the lock found.
pub struct Locked {
    /// The fence version as of the lock: fixes are evaluated against fences at least this new.
    pub fence_version: i64,
    /// Each person's newest evaluated fix.
    pub last: HashMap<i64, Option<TimedPosition>>,
}

/// A person's row as locked.
#[derive(sqlx::FromRow)]
struct LockedPerson {
    id: i64,
    last_fix_at: Option<DateTime<Utc>>,
    last_lon: Option<f64>,
    last_lat: Option<f64>,
    fence_version: i64,
    retired_devices: Vec<i64>,
    #[sqlx(flatten)]
    bases: Bases,
}

/// Legal bases not revoked: start, whether it ends, end (start when it does not).
#[derive(Debug, Default, sqlx::FromRow)]
struct Bases {
    basis_from: Vec<DateTime<Utc>>,
    basis_bounded: Vec<bool>,
    basis_to: Vec<DateTime<Utc>>,
}

impl Bases {
    fn in_force_at(&self, t: DateTime<Utc>) -> bool {
        (0..self.basis_from.len()).any(|i| self.basis_from[i] <= t && (!self.basis_bounded[i] || t < self.basis_to[i]))
    }
}

pub async fn lock(tx: &mut PgConnection, batch: &mut Batch) -> Result<Locked, sqlx::Error> {
    let locked: Vec<LockedPerson> = sqlx::query_as(
        "SELECT p.id, p.last_fix_at, ST_X(p.last_fix_position) AS last_lon, ST_Y(p.last_fix_position) AS last_lat,
                (SELECT version FROM fence_version) AS fence_version,
                ARRAY(SELECT d.id FROM devices d WHERE d.person_id = p.id AND d.id = ANY($2)
                      AND d.retired_at IS NOT NULL) AS retired_devices,
                coalesce(b.basis_from, '{}') AS basis_from, coalesce(b.basis_bounded, '{}') AS basis_bounded,
                coalesce(b.basis_to, '{}') AS basis_to
         FROM persons p
         CROSS JOIN LATERAL (
             SELECT array_agg(b.starts_at ORDER BY b.id) AS basis_from,
                    array_agg(b.ends_at IS NOT NULL ORDER BY b.id) AS basis_bounded,
                    array_agg(coalesce(b.ends_at, b.starts_at) ORDER BY b.id) AS basis_to
             FROM legal_bases b WHERE b.person_id = p.id AND b.revoked_at IS NULL) b
         WHERE p.id = ANY($1) ORDER BY p.id FOR NO KEY UPDATE OF p",
    )
    .bind(&batch.persons)
    .bind(batch.devices.iter().map(|d| d.device_id).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let retired: Vec<i64> = locked.iter().flat_map(|p| p.retired_devices.iter().copied()).collect();
    if !retired.is_empty() {
        batch.refuse_devices(&retired);
    }
    let bases: HashMap<i64, &Bases> = locked.iter().map(|p| (p.id, &p.bases)).collect();
    batch.refuse_where(|device, it| {
        let t = it.fix.time;
        let lawful = bases.get(&device.person_id).is_some_and(|b| b.in_force_at(t));
        (!lawful).then(|| {
            FieldError::new(
                it.time_field,
                format!(
                    "no legal basis (positioning consent or order) is in force for this person at {}",
                    t.to_rfc3339()
                ),
            )
        })
    });
    Ok(Locked {
        fence_version: locked.first().map(|r| r.fence_version).unwrap_or(0),
        last: locked
            .iter()
            .map(|p| {
                let last = p.last_fix_at.zip(p.last_lon.zip(p.last_lat)).map(|(at, (lon, lat))| TimedPosition {
                    at,
                    lon,
                    lat,
                });
                (p.id, last)
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-12-{s}:00Z").parse().unwrap()
    }

    #[test]
    fn a_fix_needs_a_basis_in_force_at_its_time() {
        // A consent from the 1st without end, an order from the 10th to the 20th (end excluded).
        let b = Bases {
            basis_from: vec![t("05T00:00"), t("10T00:00")],
            basis_bounded: vec![true, true],
            basis_to: vec![t("06T00:00"), t("20T00:00")],
        };
        let table = [
            ("04T23:59", false),
            ("05T00:00", true),
            ("05T23:59", true),
            ("06T00:00", false),
            ("09T12:00", false),
            ("10T00:00", true),
            ("19T23:59", true),
            ("20T00:00", false),
        ];
        for (at, want) in table {
            assert_eq!(b.in_force_at(t(at)), want, "{at}");
        }
        let open = Bases { basis_from: vec![t("01T00:00")], basis_bounded: vec![false], basis_to: vec![t("01T00:00")] };
        assert!(open.in_force_at(t("31T23:59")) && !open.in_force_at(t("01T00:00") - chrono::Duration::seconds(1)));
        assert!(!Bases::default().in_force_at(t("15T00:00")), "no basis, no fix");
    }
}
