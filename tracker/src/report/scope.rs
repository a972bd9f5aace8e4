//! The organisations a report covers: its scope (the city, a county or an office), the counties
//! and the offices of the scope's subtree.

use serde::Serialize;
use sqlx::PgPool;

use super::ReportError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Org {
    pub id: i64,
    pub parent_id: Option<i64>,
    /// `city`, `county` or `office`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub org: Org,
    /// The scope's ancestors, the city first.
    pub ancestors: Vec<Org>,
    /// The counties reported on (for an office: its county), by name.
    pub counties: Vec<Org>,
    /// The offices reported on, by county then name.
    pub offices: Vec<Org>,
}

/// The organisation a report covers by default: the city bureau (the only root).
pub async fn default_scope(pool: &PgPool) -> Result<i64, ReportError> {
    sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'city' ORDER BY id LIMIT 1")
        .fetch_optional(pool)
        .await?
        .ok_or(ReportError::NoCity)
}

const ORG: &str = "SELECT id, parent_id, kind, name FROM organisations";

impl Scope {
    pub async fn load(pool: &PgPool, id: i64) -> Result<Scope, ReportError> {
        let org: Org = sqlx::query_as(&format!("{ORG} WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or(ReportError::NoSuchOrganisation(id))?;
        let ancestors = sqlx::query_as(&format!(
            "{ORG} WHERE id <> $1 AND org_within($1, id) ORDER BY CASE kind WHEN 'city' THEN 0 WHEN 'county' THEN 1 ELSE 2 END"
        ))
        .bind(id)
        .fetch_all(pool)
        .await?;
        // Counties within the scope, or the county an office scope lies in.
        let counties = sqlx::query_as(&format!(
            "{ORG} WHERE kind = 'county' AND (org_within(id, $1) OR org_within($1, id)) ORDER BY name, id"
        ))
        .bind(id)
        .fetch_all(pool)
        .await?;
        let offices = sqlx::query_as(
            "SELECT o.id, o.parent_id, o.kind, o.name FROM organisations o JOIN organisations c ON c.id = o.parent_id
             WHERE o.kind = 'office' AND org_within(o.id, $1) ORDER BY c.name, c.id, o.name, o.id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        Ok(Scope { org, ancestors, counties, offices })
    }

    /// The scope as a title names it: 营口市, 营口市站前区, 站前区跃进司法所.
    pub fn title_name(&self) -> String {
        match self.ancestors.last() {
            Some(parent) if !self.org.name.starts_with(&parent.name) => format!("{}{}", parent.name, self.org.name),
            _ => self.org.name.clone(),
        }
    }

    pub fn county(&self, id: i64) -> Option<&Org> {
        self.counties.iter().find(|c| c.id == id)
    }

    pub fn office(&self, id: i64) -> Option<&Org> {
        self.offices.iter().find(|o| o.id == id)
    }

    /// The name of a group's row: the scope, a county, an office (with its county), a level.
    pub fn group_name(&self, g: super::Group) -> String {
        use super::Group;
        match g {
            Group::Total => self.title_name(),
            Group::County(id) => self.county(id).map(|c| c.name.clone()).unwrap_or_default(),
            Group::Office(id) => self.office(id).map(|o| o.name.clone()).unwrap_or_default(),
            Group::Level(l) => l.label_zh().to_string(),
            Group::Key => "重点".to_string(),
        }
    }

    /// The county an office belongs to, by name.
    pub fn county_of(&self, office: i64) -> String {
        self.office(office)
            .and_then(|o| o.parent_id)
            .and_then(|c| self.county(c))
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }
}
