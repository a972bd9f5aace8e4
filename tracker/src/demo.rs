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
        staff::upsert(
            &mut *tx,
            &NewStaff {
                organisation_id,
                username: &username,
                display_name: &format!("{organisation}演示账号"),
                role,
                password: &password,
                email: None,
            },
        )
        .await?;
        out.push(DemoAccount { username, password, role, organisation });
    }
    tx.commit().await?;
    Ok(out)
}
