//! The Yingkou (营口市, 210800) demonstration data: judicial offices under the six county-level
//! districts and one staff account of every role. Boundaries come from [`crate::boundaries`].

use serde::Serialize;
use sqlx::PgPool;

use crate::org;
use crate::staff::{self, NewStaff, Role};

pub const YINGKOU_ADCODE: &str = "210800";

/// Judicial offices (司法所) of the demo, by district adcode. Named after the streets and towns
/// of each district; the demo does not claim this list is the bureau's real roster.
const OFFICES: &[(&str, &[&str])] = &[
    ("210802", &["跃进司法所", "八田地司法所", "建设司法所", "东风司法所"]),
    ("210803", &["渔市司法所", "五台子司法所", "得胜司法所"]),
    ("210804", &["海星司法所", "红旗司法所", "熊岳司法所", "芦屯司法所"]),
    ("210811", &["城东司法所", "柳树司法所", "边城司法所"]),
    ("210881", &["鼓楼司法所", "西城司法所", "沙岗司法所", "九寨司法所"]),
    ("210882", &["石桥司法所", "钢都司法所", "金桥司法所", "虎庄司法所"]),
];

/// A demo account as printed at start.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub organisation: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("boundaries of {0} are not imported yet (cctrack boundaries import --adcode {0})")]
    NoCity(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Creates the offices and the demo accounts (idempotent). `password_for(username)` supplies
/// each account's password, so the caller decides where demo passwords are kept.
pub async fn seed(pool: &PgPool, password_for: &dyn Fn(&str) -> String) -> Result<Vec<DemoAccount>, DemoError> {
    let city: Option<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM organisations WHERE adcode = $1 AND kind = 'city'")
            .bind(YINGKOU_ADCODE)
            .fetch_optional(pool)
            .await?;
    let (city_id, city_name) = city.ok_or_else(|| DemoError::NoCity(YINGKOU_ADCODE.to_string()))?;
    let mut tx = pool.begin().await?;
    let mut accounts = Vec::new();
    let mut add = |username: &str, role: Role, organisation: &str| {
        accounts.push((username.to_string(), role, organisation.to_string()));
    };
    add("city.admin", Role::CityAdmin, &city_name);
    add("auditor", Role::Auditor, &city_name);
    let mut org_ids = vec![(city_name.clone(), city_id)];
    for (adcode, offices) in OFFICES {
        let county: Option<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM organisations WHERE adcode = $1 AND kind = 'county'")
                .bind(adcode)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((county_id, county_name)) = county else {
            continue;
        };
        org_ids.push((county_name.clone(), county_id));
        add(&format!("county.{adcode}"), Role::CountyAdmin, &county_name);
        for (i, office) in offices.iter().enumerate() {
            let office_id = org::ensure_office(&mut *tx, county_id, office).await?;
            org_ids.push((office.to_string(), office_id));
            if i == 0 {
                add(&format!("office.{adcode}"), Role::OfficeStaff, office);
            }
        }
    }
    let mut out = Vec::new();
    for (username, role, organisation) in accounts {
        let organisation_id =
            org_ids.iter().find(|(n, _)| *n == organisation).map(|(_, id)| *id).expect("organisation seeded above");
        let password = password_for(&username);
        // The bureaus' accounts receive escalation notices (the demo writes them to a directory).
        let email =
            matches!(role, Role::CountyAdmin | Role::CityAdmin).then(|| format!("{username}@sfj.yingkou.example"));
        staff::upsert(
            &mut *tx,
            &NewStaff {
                organisation_id,
                username: &username,
                display_name: &format!("{organisation}演示账号"),
                role,
                password: &password,
                email: email.as_deref(),
            },
        )
        .await?;
        out.push(DemoAccount { username, password, role, organisation });
    }
    tx.commit().await?;
    Ok(out)
}

/// A demo person's phone, as printed at start (the token is kept by the caller: only its hash
/// is stored).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DemoPhone {
    pub person_id: i64,
    pub name: String,
    pub level: String,
    pub county: String,
    pub protocol: String,
    /// Absent from the phones files of earlier versions: see [`fill_device_ids`].
    #[serde(default)]
    pub device_id: i64,
    pub enrolment_id: String,
    pub token: String,
}

/// Surnames of the demo persons (each followed by 某 and a number: 王某1, 李某2, …).
const SURNAMES: &[&str] = &["王", "刘", "陈", "李", "张", "杨", "赵", "黄", "周", "吴"];

/// Default number of demo persons per county (six counties: 300 persons).
pub const DEFAULT_PERSONS_PER_COUNTY: usize = 50;

/// The level of the `slot`-th person of a county: the first three are 宽管, 普管 and 严管 + 重点
/// (the demo's scripts use them); the rest follow a realistic mix of 40 % 宽管, 35 % 普管,
/// 20 % 严管 and 5 % 重点 (located every 30 minutes).
fn level_of(slot: usize) -> (crate::person::Level, Option<i16>) {
    use crate::person::Level;
    match slot {
        0 => (Level::Lenient, None),
        1 => (Level::Ordinary, None),
        2 => (Level::Strict, Some(60)),
        _ => match slot % 20 {
            0..=7 => (Level::Lenient, None),
            8..=14 => (Level::Ordinary, None),
            15..=18 => (Level::Strict, None),
            _ => (Level::Strict, Some(30)),
        },
    }
}

/// Creates, once, `per_county` persons in every county, spread over its offices, each with
/// consent and a Traccar Client phone. The county's boundary is one shared inclusion fence
/// applying to its persons (stored once, however many persons); every 严管 person also gets a
/// 禁止令 zone (a 300 m circle at the county's centre). Returns the phones created now (empty when
/// the demo persons already exist).
pub async fn seed_persons(pool: &PgPool, per_county: usize) -> Result<Vec<DemoPhone>, DemoError> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM persons").fetch_one(pool).await?;
    if existing > 0 {
        return Ok(Vec::new());
    }
    let counties: Vec<(i64, String, Vec<i64>)> = sqlx::query_as(
        "SELECT c.id, c.name, ARRAY(SELECT o.id FROM organisations o WHERE o.parent_id = c.id AND o.kind = 'office' ORDER BY o.id)
         FROM organisations c WHERE c.kind = 'county' AND c.boundary IS NOT NULL ORDER BY c.adcode",
    )
    .fetch_all(pool)
    .await?;
    let today = crate::time::local(chrono::Utc::now()).date_naive();
    let mut created: Vec<(i64, String, String, String)> = Vec::new();
    for (county_id, county, offices) in counties {
        if offices.is_empty() {
            continue;
        }
        let mut tx = pool.begin().await?;
        let county_fence: i64 = sqlx::query_scalar(
            "INSERT INTO fences (organisation_id, name, kind, shape, geom)
             SELECT id, name || '（居住县区）', 'inclusion', 'area', boundary FROM organisations WHERE id = $1 RETURNING id",
        )
        .bind(county_id)
        .fetch_one(&mut *tx)
        .await?;
        for slot in 0..per_county {
            let (level, key) = level_of(slot);
            let office = offices[slot % offices.len()];
            let name = format!("{}某{}", SURNAMES[slot % SURNAMES.len()], slot + 1);
            let person = crate::person::create_in(
                &mut tx,
                &crate::person::NewPerson {
                    office_id: office,
                    name: name.clone(),
                    correction_type: crate::person::CorrectionType::Probation,
                    term_start: today - chrono::Days::new(30),
                    term_end: today + chrono::Days::new(335),
                    level,
                    key_interval_min: key,
                    consent_from: chrono::Utc::now() - chrono::Duration::days(30),
                    consent_ref: "手机定位承诺书（演示）".into(),
                },
            )
            .await?;
            sqlx::query("INSERT INTO fence_persons (fence_id, person_id) VALUES ($1, $2)")
                .bind(county_fence)
                .bind(person)
                .execute(&mut *tx)
                .await?;
            if level == crate::person::Level::Strict {
                sqlx::query(
                    "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
                     SELECT $1, $2, '禁止进入区域（演示）', 'exclusion', 'circle', ST_PointOnSurface(boundary), 300 FROM organisations WHERE id = $3",
                )
                .bind(person)
                .bind(office)
                .bind(county_id)
                .execute(&mut *tx)
                .await?;
            }
            let label = level.label_zh().to_string() + if key.is_some() { "（重点）" } else { "" };
            created.push((person, name, label, county.clone()));
        }
        tx.commit().await?;
    }
    // Token hashing is deliberately slow: a few at a time, off the executor.
    let mut phones = Vec::with_capacity(created.len());
    for chunk in created.chunks(4) {
        let mut enrolling = tokio::task::JoinSet::new();
        for (i, (person, ..)) in chunk.iter().enumerate() {
            let (pool, person) = (pool.clone(), *person);
            enrolling.spawn(async move {
                let e = crate::device::enrol(
                    &pool,
                    person,
                    crate::device::Protocol::Osmand,
                    geofence::crs::Crs::Wgs84,
                    &crate::audit::Actor::default(),
                )
                .await?;
                // Demo phones may replay traces recorded before the demo started.
                sqlx::query("UPDATE devices SET enrolled_at = now() - interval '30 days' WHERE id = $1")
                    .bind(e.device_id)
                    .execute(&pool)
                    .await?;
                Ok::<_, DemoError>((i, e))
            });
        }
        let mut done: Vec<(usize, crate::device::Enrolment)> = Vec::new();
        while let Some(r) = enrolling.join_next().await {
            done.push(r.expect("enrolment task panicked")?);
        }
        done.sort_by_key(|(i, _)| *i);
        for (i, e) in done {
            let (person, name, level, county) = chunk[i].clone();
            phones.push(DemoPhone {
                person_id: person,
                name,
                level,
                county,
                protocol: "osmand".into(),
                device_id: e.device_id,
                enrolment_id: e.enrolment_id,
                token: e.token,
            });
        }
    }
    Ok(phones)
}

/// Fills the device ids that phones files written by earlier versions lack.
pub async fn fill_device_ids(pool: &PgPool, phones: &mut [DemoPhone]) -> Result<(), sqlx::Error> {
    for p in phones.iter_mut().filter(|p| p.device_id == 0) {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE enrolment_id = $1")
            .bind(&p.enrolment_id)
            .fetch_optional(pool)
            .await?;
        p.device_id = id.unwrap_or_default();
    }
    Ok(())
}
