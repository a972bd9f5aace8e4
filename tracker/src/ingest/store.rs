//! Stage: store. One statement for the fixed part of a commit (duplicates set aside by device
//! and sequence number or time, the fixes inserted, sequence runs extended, the persons' newest
//! fix, the scheduled requests answered, the devices' contact), and the pending location request
//! each reply carries.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use super::batch::{Batch, Item};
use super::PendingRequest;
use crate::device::DeviceInfo;

/// One statement for the fixed part of a commit: inserts the fixes (marking each as stored
/// or duplicate), records each person's newest fix and the scheduled requests it answers,
/// notes the devices' contact, and returns each person's most urgent pending request.
pub async fn store(tx: &mut PgConnection, batch: &mut Batch) -> Result<HashMap<i64, PendingRequest>, sqlx::Error> {
    let Batch { devices, items, persons, .. } = batch;
    let persons: &[i64] = persons;
    // A device's sequence number or time twice in the commit: the later is a duplicate (the
    // checks below only see what is already stored).
    let mut numbered: HashSet<(i64, i64)> = HashSet::new();
    let mut timed: HashSet<(i64, DateTime<Utc>)> = HashSet::new();
    let mut set_aside: Vec<bool> = items
        .iter()
        .map(|it| {
            let device = devices[it.job].device_id;
            let seq_seen = it.fix.seq.is_some_and(|seq| !numbered.insert((device, seq)));
            seq_seen || !timed.insert((device, it.fix.time))
        })
        .collect();
    // By time: a fix newer than its person's newest stored fix (`driving`) cannot be known
    // (the person's lock keeps that newest exact), so only late fixes are looked for.
    let late: Vec<&Item> =
        items.iter().zip(&set_aside).filter(|(it, r)| !**r && !it.driving).map(|(it, _)| it).collect();
    if !late.is_empty() {
        let known = stored_times(tx, devices, &late).await?;
        for (it, aside) in items.iter().zip(set_aside.iter_mut()) {
            *aside = *aside || (!it.driving && known.contains(&(devices[it.job].device_id, it.fix.time)));
        }
    }
    let fresh: Vec<&Item> = items.iter().zip(&set_aside).filter(|(_, r)| !**r).map(|(it, _)| it).collect();
    let fx =
        |f: fn(&Item) -> Option<f64>| fresh.iter().map(|&it| f(it).map(|v| v as f32)).collect::<Vec<Option<f32>>>();
    let mut device_ids: Vec<i64> = devices.iter().map(|d| d.device_id).collect();
    device_ids.sort_unstable();
    device_ids.dedup();
    // By number, per device rather than per fix: `span` is each device's window of numbers
    // in this commit and `known_seqs` the recorded runs that meet it (runs of a device are
    // disjoint, so those are the one starting last before the window and any starting in
    // it); MATERIALIZED, so that PostgreSQL does not turn it back into a probe per fix.
    // The fixes not known are stored, and only the known come back (usually none). Each part
    // reads the columns it needs from the arrays rather than from one CTE of whole rows:
    // materializing every row again cost more than unnesting a few arrays twice. The plain
    // INSERTs are safe because the persons' locks keep other commits from storing the same
    // fixes meanwhile; the primary key and the runs' trigger still refuse a duplicate that
    // got past. The numbers stored form runs of consecutive numbers (a run's numbers minus
    // their rank is constant); a run that continues the device's previous one (`prior`)
    // extends it, so a phone numbering its fixes in order keeps one row however many commits
    // it takes. The data-modifying parts do not see each other's changes: the requests
    // answered here are left out of the pending ones by id. A device's last contact is
    // rewritten at most every 30 s: it is read in minutes, and rewriting it on every commit
    // cost a row version per device per commit.
    let rows: Vec<KnownOrPending> = sqlx::query_as(
        "WITH span AS (
             SELECT d, min(seq) AS first_seq, max(seq) AS last_seq FROM UNNEST($2::int8[], $13::int8[]) AS n(d, seq)
             WHERE seq IS NOT NULL GROUP BY d),
              prior AS MATERIALIZED (
             SELECT span.d, span.first_seq AS window_first, r.first_seq, r.last_seq FROM span
             CROSS JOIN LATERAL (SELECT first_seq, last_seq FROM fix_sequence_runs
                                 WHERE device_id = span.d AND first_seq < span.first_seq
                                 ORDER BY first_seq DESC LIMIT 1) r),
              known_seqs AS MATERIALIZED (
             SELECT d AS device_id, first_seq, last_seq FROM prior WHERE last_seq >= window_first
             UNION ALL
             SELECT r.device_id, r.first_seq, r.last_seq FROM span
             CROSS JOIN LATERAL (SELECT device_id, first_seq, last_seq FROM fix_sequence_runs
                                 WHERE device_id = span.d AND first_seq BETWEEN span.first_seq AND span.last_seq) r),
              stored AS (
             INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m, source, input_crs, battery_pct,
                                speed_mps, course_deg, altitude_m, device_seq, mock, verdicts, implausible)
             SELECT p, d, t, ST_SetSRID(ST_MakePoint(x, y), 4326), acc, src, crs, batt::smallint, spd, course, alt, seq, mock, v, imp
             FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[], $4::float8[], $5::float8[], $6::real[], $7::text[],
                         $8::text[], $9::float8[], $10::real[], $11::real[], $12::real[], $13::int8[], $14::bool[],
                         $15::jsonb[], $16::bool[])
                  AS u(p, d, t, x, y, acc, src, crs, batt, spd, course, alt, seq, mock, v, imp)
             WHERE NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = u.d AND u.seq BETWEEN k.first_seq AND k.last_seq)),
              runs AS MATERIALIZED (
             SELECT d, min(seq) AS first_seq, max(seq) AS last_seq
             FROM (SELECT d, seq, seq - row_number() OVER (PARTITION BY d ORDER BY seq) AS run
                   FROM UNNEST($2::int8[], $13::int8[]) AS n(d, seq)
                   WHERE seq IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)) s
             GROUP BY d, run),
              extended AS (
             UPDATE fix_sequence_runs r SET last_seq = n.last_seq
             FROM runs n JOIN prior p ON p.d = n.d AND n.first_seq = p.last_seq + 1
             WHERE r.device_id = n.d AND r.first_seq = p.first_seq),
              sequenced AS (
             INSERT INTO fix_sequence_runs (device_id, first_seq, last_seq)
             SELECT d, first_seq, last_seq FROM runs n
             WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.d = n.d AND n.first_seq = p.last_seq + 1)),
              newest AS (
             SELECT DISTINCT ON (p) p AS id, t, x, y
             FROM UNNEST($1::int8[], $2::int8[], $3::timestamptz[], $4::float8[], $5::float8[], $13::int8[], $17::bool[])
                  AS n(p, d, t, x, y, seq, driving)
             WHERE driving
               AND NOT EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)
             ORDER BY p, t DESC),
              moved AS (
             UPDATE persons p SET last_fix_at = n.t, last_fix_position = ST_SetSRID(ST_MakePoint(n.x, n.y), 4326)
             FROM newest n WHERE p.id = n.id),
              answered AS (
             UPDATE location_requests l SET state = 'answered', answered_at = now(), answer_fixed_at = n.t
             FROM newest n WHERE l.person_id = n.id AND l.state = 'pending' AND l.reason <> 'confirm'
               AND l.issued_at <= n.t AND l.deadline_at >= n.t
             RETURNING l.id),
              contact AS (
             UPDATE devices SET last_contact_at = now()
             WHERE id = ANY($18) AND (last_contact_at IS NULL OR last_contact_at < now() - interval '30 seconds'))
         SELECT d AS device_id, t AS fixed_at, NULL::int8 AS request_person, NULL::int8 AS request_id, NULL::text AS reason,
                NULL::timestamptz AS deadline_at
         FROM UNNEST($2::int8[], $3::timestamptz[], $13::int8[]) AS n(d, t, seq)
         WHERE EXISTS (SELECT 1 FROM known_seqs k WHERE k.device_id = n.d AND n.seq BETWEEN k.first_seq AND k.last_seq)
         UNION ALL
         (SELECT DISTINCT ON (person_id) NULL, NULL, person_id, id, reason, deadline_at FROM location_requests
          WHERE person_id = ANY($19) AND state = 'pending' AND deadline_at > now()
            AND id NOT IN (SELECT id FROM answered)
          ORDER BY person_id, deadline_at)",
    )
    .bind(fresh.iter().map(|it| devices[it.job].person_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| devices[it.job].device_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.time).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.lon).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.lat).collect::<Vec<_>>())
    .bind(fx(|it| it.fix.accuracy_m))
    .bind(fresh.iter().map(|it| it.fix.source.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.input_crs.to_string()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.battery_pct.map(f64::round)).collect::<Vec<_>>())
    .bind(fx(|it| it.fix.speed_mps))
    .bind(fx(|it| it.fix.course_deg))
    .bind(fx(|it| it.fix.altitude_m))
    .bind(fresh.iter().map(|it| it.fix.seq).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.fix.mock).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| verdicts_json(&it.verdicts)).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.implausible).collect::<Vec<_>>())
    .bind(fresh.iter().map(|it| it.driving).collect::<Vec<_>>())
    .bind(&device_ids)
    .bind(persons)
    .fetch_all(&mut *tx)
    .await?;
    // Match rows back to fixes (a device's times are distinct here: repeats were set aside).
    let mut known: HashSet<(i64, DateTime<Utc>)> = HashSet::new();
    let mut pending = HashMap::new();
    for row in rows {
        match row {
            KnownOrPending { device_id: Some(d), fixed_at: Some(t), .. } => {
                known.insert((d, t));
            }
            KnownOrPending {
                request_person: Some(p),
                request_id: Some(id),
                reason: Some(reason),
                deadline_at: Some(deadline_at),
                ..
            } => {
                pending.insert(p, PendingRequest { id, reason, deadline_at });
            }
            _ => {}
        }
    }
    for (it, _) in items.iter_mut().zip(set_aside).filter(|(_, r)| !r) {
        it.stored = !known.contains(&(devices[it.job].device_id, it.fix.time));
    }
    Ok(pending)
}

/// Creates the monthly partitions of `fixes` the batch needs, outside the commit's transaction
/// (DDL takes locks a commit must not hold); `known` remembers the months that exist.
pub async fn ensure_partitions(
    pool: &PgPool,
    known: &Mutex<HashSet<(i32, u32)>>,
    items: &[Item],
) -> Result<(), sqlx::Error> {
    let months: HashSet<(i32, u32)> = items.iter().map(|it| (it.fix.time.year(), it.fix.time.month())).collect();
    let missing: Vec<(i32, u32)> = {
        let known = known.lock().expect("partition set poisoned");
        months.into_iter().filter(|m| !known.contains(m)).collect()
    };
    for (y, m) in missing {
        let month = chrono::NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
        sqlx::query("SELECT ensure_fix_partitions($1, $1)").bind(month).execute(pool).await?;
        known.lock().expect("partition set poisoned").insert((y, m));
    }
    Ok(())
}

/// A row of the commit's closing statement: a duplicate (not stored), or a person's pending request.
#[derive(sqlx::FromRow)]
struct KnownOrPending {
    device_id: Option<i64>,
    fixed_at: Option<DateTime<Utc>>,
    request_person: Option<i64>,
    request_id: Option<i64>,
    reason: Option<String>,
    deadline_at: Option<DateTime<Utc>>,
}

/// The stored fixes (device, time) among the times of `late`: one probe of the primary key per
/// device, over the window of its late fixes. Kept out of the commit's main statement, whose
/// generic plan would otherwise set up a scan of every monthly partition on every commit.
async fn stored_times(
    tx: &mut sqlx::PgConnection,
    devices: &[DeviceInfo],
    late: &[&Item],
) -> Result<HashSet<(i64, DateTime<Utc>)>, sqlx::Error> {
    let mut windows: HashMap<i64, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for it in late {
        let t = it.fix.time;
        let w = windows.entry(devices[it.job].device_id).or_insert((t, t));
        *w = (w.0.min(t), w.1.max(t));
    }
    let mut ids = Vec::with_capacity(windows.len());
    let mut from = Vec::with_capacity(windows.len());
    let mut to = Vec::with_capacity(windows.len());
    for (d, (a, b)) in windows {
        ids.push(d);
        from.push(a);
        to.push(b);
    }
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT f.device_id, f.fixed_at FROM UNNEST($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS w(d, first_t, last_t)
         CROSS JOIN LATERAL (SELECT device_id, fixed_at FROM fixes
                             WHERE device_id = w.d AND fixed_at BETWEEN w.first_t AND w.last_t) f",
    )
    .bind(ids)
    .bind(from)
    .bind(to)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The most urgent pending location request of each person.
pub async fn pending_requests<'e>(
    db: impl sqlx::PgExecutor<'e>,
    persons: &[i64],
) -> Result<HashMap<i64, PendingRequest>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT DISTINCT ON (person_id) person_id, id, reason, deadline_at FROM location_requests
         WHERE person_id = ANY($1) AND state = 'pending' AND deadline_at > now() ORDER BY person_id, deadline_at",
    )
    .bind(persons)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(p, id, reason, deadline_at)| (p, PendingRequest { id, reason, deadline_at })).collect())
}

fn verdicts_json(verdicts: &[geofence::Verdict]) -> Value {
    Value::Array(
        verdicts
            .iter()
            .map(|v| {
                json!({
                    "fence": v.fence_id,
                    "kind": v.kind.as_str(),
                    "position": v.position.as_str(),
                    "distance_m": v.distance_m.map(|d| (d * 100.0).round() / 100.0),
                })
            })
            .collect(),
    )
}
