//! Commands that create and list records: persons, devices, fences, tracks, alarms.

use std::fmt::Write;

use anyhow::{anyhow, Context};
use chrono::{Months, Utc};
use geofence::crs::Crs;
use geofence::FenceKind;
use tracker::audit::Actor;
use tracker::device::Protocol;
use tracker::person::{CorrectionType, Level, NewPerson};

use super::emit;
use crate::cli::{
    EnrolArgs, FenceAddArgs, LeaveGrantArgs, LeaveListArgs, PersonAddArgs, RetireArgs, StaffAddArgs, TrackArgs,
};

fn json_line(v: &impl serde::Serialize) -> anyhow::Result<()> {
    emit(&(serde_json::to_string_pretty(v)? + "\n"))
}

pub async fn add_person(pool: sqlx::PgPool, a: PersonAddArgs) -> anyhow::Result<()> {
    let level: Level = a.level.parse().map_err(|e| anyhow!("--level: {e}"))?;
    let correction_type: CorrectionType = a.correction_type.parse().map_err(|e| anyhow!("--type: {e}"))?;
    if let Some(k) = a.key_interval {
        anyhow::ensure!(k == 30 || k == 60, "--key-interval: 重点 persons are located every 30 or 60 minutes, not {k}");
    }
    let today = tracker::time::local(Utc::now()).date_naive();
    let term_start = a.term_start.unwrap_or(today);
    let term_end = a.term_end.unwrap_or(term_start + Months::new(12));
    anyhow::ensure!(term_end >= term_start, "--term-end: {term_end} is before --term-start {term_start}");
    anyhow::ensure!(!a.name.trim().is_empty(), "--name: must not be empty");
    let id = tracker::person::create(
        &pool,
        &NewPerson {
            office_id: a.office,
            name: a.name.trim().to_string(),
            correction_type,
            term_start,
            term_end,
            level,
            key_interval_min: a.key_interval,
            consent_from: Utc::now() - chrono::Duration::days(1),
            consent_ref: a.consent_ref,
        },
    )
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d)
            if d.constraint() == Some("persons_office_id_fkey") || d.constraint() == Some("persons_office_kind") =>
        {
            anyhow!("--office: {} is not a judicial office (see `cctrack orgs`)", a.office)
        }
        other => other.into(),
    })?;
    if a.json {
        json_line(&serde_json::json!({"id": id}))
    } else {
        emit(&format!("person {id} added ({}, consent on record)\n", level.label_zh()))
    }
}

pub async fn list_persons(pool: sqlx::PgPool, json: bool) -> anyhow::Result<()> {
    let persons = tracker::person::list(&pool).await?;
    if json {
        return json_line(&persons);
    }
    let mut text = String::new();
    for p in &persons {
        writeln!(
            text,
            "{:>6}  {:<10} {:<9}{} {}",
            p.id,
            p.name,
            p.level,
            if p.is_key { " 重点" } else { "" },
            p.office_name
        )?;
    }
    emit(&text)
}

pub async fn enrol(pool: sqlx::PgPool, a: EnrolArgs) -> anyhow::Result<()> {
    let protocol: Protocol = a.protocol.parse().map_err(|e| anyhow!("--protocol: {e}"))?;
    let crs: Crs = a.crs.parse().map_err(|e| anyhow!("--crs: {e}"))?;
    let exists = tracker::person::exists(&pool, a.person).await?;
    anyhow::ensure!(exists, "--person: no person {}", a.person);
    // The operator at the command line: audited without an account.
    let e = tracker::device::enrol(&pool, a.person, protocol, crs, &Actor::default()).await?;
    if a.json {
        return json_line(&e);
    }
    let server = a.server.trim_end_matches('/');
    let how = match protocol {
        Protocol::Osmand => format!(
            "Traccar Client: Server URL = the OsmAnd listener (default http://<server>:5055), Device identifier = {}",
            e.enrolment_id
        ),
        Protocol::Owntracks => format!(
            "OwnTracks (HTTP mode): URL = {server}/ingest/owntracks, Username = {}, Password = {}",
            e.enrolment_id, e.token
        ),
        Protocol::Native => {
            format!("POST {server}/ingest/v1/fixes with Authorization: Bearer {}.{}", e.enrolment_id, e.token)
        }
    };
    emit(&format!(
        "device {} enrolled for person {}\n  enrolment id: {}\n  token (shown once): {}\n  {how}\n",
        e.device_id, e.person_id, e.enrolment_id, e.token
    ))
}

/// The active device the command line names by its enrolment id.
async fn active_device(pool: &sqlx::PgPool, enrolment_id: &str) -> anyhow::Result<i64> {
    tracker::device::active_id(pool, enrolment_id)
        .await?
        .ok_or_else(|| anyhow!("--enrolment-id: no active device {enrolment_id:?}"))
}

pub async fn retire(pool: sqlx::PgPool, a: RetireArgs) -> anyhow::Result<()> {
    let device = active_device(&pool, &a.enrolment_id).await?;
    let retired = tracker::device::retire(&pool, device, &Actor::default())
        .await?
        .ok_or_else(|| anyhow!("--enrolment-id: no active device {:?}", a.enrolment_id))?;
    if a.json {
        json_line(&retired)
    } else {
        emit(&format!(
            "device {} of person {} retired: every running cctrack refuses it from now on\n",
            retired.enrolment_id, retired.person_id
        ))
    }
}

pub async fn reenrol(pool: sqlx::PgPool, a: RetireArgs) -> anyhow::Result<()> {
    let device = active_device(&pool, &a.enrolment_id).await?;
    let (retired, e) = tracker::device::reenrol(&pool, device, &Actor::default())
        .await?
        .ok_or_else(|| anyhow!("--enrolment-id: no active device {:?}", a.enrolment_id))?;
    if a.json {
        return json_line(&serde_json::json!({"retired": retired, "enrolled": e}));
    }
    emit(&format!(
        "device {} retired; device {} enrolled for person {} ({})\n  enrolment id: {}\n  token (shown once): {}\n",
        retired.enrolment_id,
        e.device_id,
        e.person_id,
        e.protocol.as_str(),
        e.enrolment_id,
        e.token
    ))
}

pub async fn add_fence(pool: sqlx::PgPool, a: FenceAddArgs) -> anyhow::Result<()> {
    let kind: FenceKind = a.kind.parse().map_err(|e| anyhow!("--kind: {e}"))?;
    let crs: Crs = a.crs.parse().map_err(|e| anyhow!("--crs: {e}"))?;
    let text = std::fs::read_to_string(&a.geojson)
        .with_context(|| format!("--geojson: cannot read {}", a.geojson.display()))?;
    let geojson: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("--geojson: {} is not JSON", a.geojson.display()))?;
    let schedule = match &a.schedule {
        Some(s) => Some(serde_json::from_str(s).context("--schedule: not JSON")?),
        None => None,
    };
    let name = a.name.unwrap_or_else(|| match kind {
        FenceKind::Inclusion => "活动区域".to_string(),
        FenceKind::Exclusion => "禁止区域".to_string(),
    });
    let id = tracker::fence::add(
        &pool,
        &tracker::fence::NewFence {
            person_id: Some(a.person),
            organisation_id: None,
            name,
            kind,
            geojson,
            crs,
            schedule,
            valid_from: None,
            valid_to: None,
        },
        &Actor::default(),
    )
    .await
    .map_err(|e| match e {
        tracker::fence::FenceStoreError::Geometry(g) => anyhow!("--geojson: {g}"),
        tracker::fence::FenceStoreError::Schedule(s) => anyhow!("--schedule: {s}"),
        tracker::fence::FenceStoreError::NoPerson(p) => anyhow!("--person: no person {p}"),
        other => other.into(),
    })?;
    if a.json {
        json_line(&serde_json::json!({"id": id}))
    } else {
        emit(&format!("fence {id} added\n"))
    }
}

fn read_geojson(flag: &str, path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{flag}: {} is not JSON", path.display()))
}

pub async fn grant_leave(pool: sqlx::PgPool, a: LeaveGrantArgs) -> anyhow::Result<()> {
    use tracker::leave::LeaveError;
    let crs: Crs = a.crs.parse().map_err(|e| anyhow!("--crs: {e}"))?;
    let leave = tracker::leave::LeaveRequest {
        person_id: a.person,
        reason: a.reason,
        destination: read_geojson("--destination", &a.destination)?,
        route: a.route.as_deref().map(|p| read_geojson("--route", p)).transpose()?,
        route_half_width_m: a.route_half_width_m,
        crs,
        starts_at: a.from,
        ends_at: a.to,
    };
    let granted = tracker::leave::grant(&pool, &leave, &a.approved_by).await.map_err(|e| match e {
        LeaveError::Invalid { field, message } => {
            let flag = match field {
                "starts_at" => "from".to_string(),
                "ends_at" => "to".to_string(),
                other => other.replace('_', "-"),
            };
            anyhow!("--{flag}: {message}")
        }
        LeaveError::NoPerson(p) => anyhow!("--person: no person {p}"),
        LeaveError::NoApprover(_) | LeaveError::NotAllowed(_) => {
            anyhow!("--approved-by: {}", e.to_string().trim_start_matches("approved_by: "))
        }
        LeaveError::Place { field, source } => anyhow!("--{field}: {source}"),
        other => other.into(),
    })?;
    if a.json {
        json_line(&granted)
    } else {
        emit(&format!(
            "leave {} granted: destination fence {}{}\n",
            granted.id,
            granted.destination_fence,
            granted.route_fence.map(|r| format!(", route fence {r}")).unwrap_or_default()
        ))
    }
}

pub async fn list_leaves(pool: sqlx::PgPool, a: LeaveListArgs) -> anyhow::Result<()> {
    let leaves = tracker::leave::list(&pool, a.person).await?;
    if a.json {
        return json_line(&leaves);
    }
    let mut text = String::new();
    for l in &leaves {
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
        writeln!(
            text,
            "{:>6}  person {}  {} → {}  {:<9} departed {}  returned {}  {}",
            l.id,
            l.person,
            l.starts_at.to_rfc3339(),
            l.ends_at.to_rfc3339(),
            l.state,
            at(l.departed_at),
            at(l.returned_at),
            l.reason
        )?;
    }
    emit(&text)
}

pub async fn track(pool: sqlx::PgPool, a: TrackArgs) -> anyhow::Result<()> {
    // Read on the server's command line: the operating-system account is who read it.
    let read = tracker::audit::Entry {
        staff_id: None,
        action: "track.read",
        subject: format!("person {}", a.person),
        person_id: Some(a.person),
        details: serde_json::json!({"from": a.from, "to": a.to, "via": "cli",
                                    "os_user": std::env::var("USER").unwrap_or_default()}),
        address: None,
    };
    let points = tracker::track::track(&pool, a.person, a.from, a.to, &read).await?;
    if a.json {
        return json_line(&points);
    }
    let mut text = String::new();
    for p in &points {
        let verdicts: Vec<String> = p
            .verdicts
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| format!("fence {} {} {}m", v["fence"], v["position"].as_str().unwrap_or("?"), v["distance_m"]))
            .collect();
        writeln!(
            text,
            "{}  {:.6},{:.6}  ±{}m  {}",
            p.time.to_rfc3339(),
            p.lat,
            p.lon,
            p.accuracy_m.map(|a| a.to_string()).unwrap_or("?".into()),
            verdicts.join("; ")
        )?;
    }
    emit(&text)
}

pub async fn add_staff(pool: sqlx::PgPool, a: StaffAddArgs) -> anyhow::Result<()> {
    use tracker::staff::Role;
    anyhow::ensure!(
        tracker::login::is_username(&a.username),
        "--username: {:?} is not 3 to 64 lower-case letters, digits, '.', '_' or '-' (starting with a letter or digit)",
        a.username
    );
    let role = match a.role.as_str() {
        "office_staff" => Role::OfficeStaff,
        "county_admin" => Role::CountyAdmin,
        "city_admin" => Role::CityAdmin,
        "auditor" => Role::Auditor,
        other => anyhow::bail!("--role: {other:?} is not office_staff, county_admin, city_admin or auditor"),
    };
    anyhow::ensure!(!a.name.trim().is_empty(), "--name: must not be empty");
    if let Some(e) = &a.email {
        anyhow::ensure!(e.contains('@') && !e.contains(char::is_whitespace), "--email: {e:?} is not an e-mail address");
    }
    let password = tracker::secret::random_token(16);
    let staff = tracker::staff::NewStaff {
        organisation_id: a.org,
        username: &a.username,
        display_name: a.name.trim(),
        role,
        password: &password,
        email: a.email.as_deref(),
    };
    let id = tracker::staff::upsert(&pool, &staff).await.map_err(|e| match e {
        sqlx::Error::Database(d) if d.constraint() == Some("staff_organisation_id_fkey") => {
            anyhow!("--org: no organisation {} (see `cctrack orgs`)", a.org)
        }
        other => other.into(),
    })?;
    if a.json {
        return json_line(
            &serde_json::json!({"id": id, "username": a.username, "role": role.as_str(), "password": password}),
        );
    }
    emit(&format!("account {} ({}) ready; password (shown once): {password}\n", a.username, role.as_str()))
}
