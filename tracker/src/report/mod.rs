//! Reports for the bureaus: every figure computed by SQL from the stored facts (persons and their
//! level history, location requests with their outcome, fixes, alarms with their handling
//! records and escalation steps, legal bases, leaves), for a scope organisation (city, county or
//! office) over a [`Period`] in Asia/Shanghai, broken down per county, office and level.
//!
//! Each figure's definition is a Chinese sentence ([`Definition`]) kept beside the SQL that
//! computes it, and printed in the report's appendix ([`definitions`]). A ratio whose
//! denominator is zero is `None` (shown as "—"). Facts that change after the period (an alarm
//! closed later) are counted as they stood at the report's `as_of` time, and nothing later, so a
//! report built again with the same `as_of` shows the same numbers.
//!
//! - [`period`]: the period; [`scope`]: the organisations reported on;
//! - [`persons`], [`requests`] (定位成功率, 定位率 and its shortfalls), [`alarms`], [`handling`],
//!   [`records`] (legal bases expiring, leaves): the figures;
//! - [`ranking`]: offices and counties ranked by a documented composite of those figures, and
//!   the kept rankings of earlier periods;
//! - [`render`]: the tables, XLSX and self-contained HTML with inline SVG charts;
//! - [`daily`]: each office's morning lists; [`store`]: reports kept, mailed and listed.

pub mod alarms;
pub mod daily;
pub mod handling;
pub mod period;
pub mod persons;
pub mod ranking;
pub mod records;
pub mod render;
pub mod requests;
pub mod scope;
mod sql;
pub mod store;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

pub use period::{Period, PeriodError, PeriodKind};
pub use ranking::Unit;
pub use scope::{Org, Scope};

use crate::person::Level;

/// One term of the report and what it means, printed in the appendix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Definition {
    pub term: &'static str,
    pub text: &'static str,
}

/// Every definition, in the order the appendix prints them.
pub fn definitions() -> Vec<Definition> {
    [
        persons::DEFINITIONS,
        requests::DEFINITIONS,
        alarms::DEFINITIONS,
        handling::DEFINITIONS,
        records::DEFINITIONS,
        ranking::DEFINITIONS,
    ]
    .concat()
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("organisation {0} does not exist")]
    NoSuchOrganisation(i64),
    #[error("there is no city organisation yet (import the boundaries first)")]
    NoCity,
    #[error("the period {period} has not begun at {as_of}: nothing to report yet")]
    NotBegun { period: String, as_of: DateTime<Utc> },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A row of a breakdown: the whole scope, a county, an office, a level, or 重点.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "group", content = "id", rename_all = "snake_case")]
pub enum Group {
    Total,
    County(i64),
    Office(i64),
    Level(Level),
    /// 重点 persons (a flag on top of the level).
    Key,
}

impl Group {
    /// What kind of row it is, as a table's first column says.
    pub fn kind_zh(&self) -> &'static str {
        match self {
            Group::Total => "合计",
            Group::County(_) => "区县",
            Group::Office(_) => "司法所",
            Group::Level(_) | Group::Key => "监管等级",
        }
    }
}

/// Figures for each group, in the order the tables print them: the total, each county followed
/// by its offices, the levels, 重点. Groups without any fact have the default (zero) figures.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown<T> {
    pub rows: Vec<(Group, T)>,
}

impl<T: Default + Clone> Breakdown<T> {
    fn arrange(scope: &Scope, mut found: Vec<(Group, T)>) -> Breakdown<T> {
        let mut take = |g: Group| {
            let figures = found.iter().position(|(x, _)| *x == g).map(|i| found.swap_remove(i).1).unwrap_or_default();
            (g, figures)
        };
        let mut rows = vec![take(Group::Total)];
        for county in &scope.counties {
            rows.push(take(Group::County(county.id)));
            for office in scope.offices.iter().filter(|o| o.parent_id == Some(county.id)) {
                rows.push(take(Group::Office(office.id)));
            }
        }
        for level in [Level::Lenient, Level::Ordinary, Level::Strict] {
            rows.push(take(Group::Level(level)));
        }
        rows.push(take(Group::Key));
        Breakdown { rows }
    }

    pub fn get(&self, g: Group) -> Option<&T> {
        self.rows.iter().find(|(x, _)| *x == g).map(|(_, t)| t)
    }

    pub fn total(&self) -> &T {
        &self.rows[0].1
    }
}

/// A whole report's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scope: Scope,
    pub period: Period,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Facts are counted as they stood at this time (at most the period's end when built later).
    pub as_of: DateTime<Utc>,
    pub persons: Breakdown<persons::PersonFigures>,
    pub requests: Breakdown<requests::RequestFigures>,
    pub coverage: Breakdown<requests::CoverageFigures>,
    pub shortfalls: Vec<requests::Shortfall>,
    pub alarms: Breakdown<alarms::AlarmFigures>,
    pub alarm_kinds: Vec<alarms::KindFigures>,
    pub alarms_per_day: Vec<alarms::DayCount>,
    pub resolve_times: Vec<alarms::ResolveBucket>,
    pub outcomes: Vec<handling::OutcomeFigures>,
    pub bases_expiring: Vec<records::ExpiringBasis>,
    pub leaves: Breakdown<records::LeaveFigures>,
    /// The offices ranked.
    pub ranking: Vec<ranking::Ranked>,
    /// The counties ranked (in the city's report; empty otherwise).
    pub county_ranking: Vec<ranking::Ranked>,
}

impl Report {
    /// 《营口市社区矫正电子监管周报（2026年第49周）》
    pub fn title(&self) -> String {
        format!(
            "《{}社区矫正电子监管{}（{}）》",
            self.scope.title_name(),
            self.period.document_zh(),
            self.period.label_zh()
        )
    }
}

/// Builds the report of `scope_id`'s subtree for `period`, with the facts as they stood at
/// `as_of` (typically now).
pub async fn build(pool: &PgPool, scope_id: i64, period: &Period, as_of: DateTime<Utc>) -> Result<Report, ReportError> {
    let (start, end) = (period.start(), period.end());
    if as_of <= start {
        return Err(ReportError::NotBegun { period: period.to_string(), as_of });
    }
    let scope = Scope::load(pool, scope_id).await?;
    let w = sql::Window { scope: scope_id, start, end, as_of };
    let persons = Breakdown::arrange(&scope, persons::figures(pool, &w).await?);
    let requests = Breakdown::arrange(&scope, requests::figures(pool, &w).await?);
    let coverage = Breakdown::arrange(&scope, requests::coverage(pool, &w).await?);
    let shortfalls = requests::shortfalls(pool, &w).await?;
    let alarms = Breakdown::arrange(&scope, alarms::figures(pool, &w).await?);
    let alarm_kinds = alarms::by_kind(pool, &w).await?;
    let alarms_per_day = alarms::per_day(pool, &w).await?;
    let resolve_times = alarms::resolve_distribution(pool, &w).await?;
    let outcomes = handling::by_outcome(pool, &w).await?;
    let bases_expiring = records::bases_expiring(pool, &w).await?;
    let leaves = Breakdown::arrange(&scope, records::leaves(pool, &w).await?);
    let offices = scope.offices.iter().map(|o| o.id);
    let mut office_ranking = ranking::rank(Unit::Office, offices, &persons, &requests, &coverage, &alarms);
    let mut county_ranking = Vec::new();
    if scope.org.kind == "city" {
        let counties = scope.counties.iter().map(|c| c.id);
        county_ranking = ranking::rank(Unit::County, counties, &persons, &requests, &coverage, &alarms);
        if let Some(kind) = store::StoredKind::of(period.kind) {
            ranking::streaks(pool, kind, start, Unit::Office, &mut office_ranking).await?;
            ranking::streaks(pool, kind, start, Unit::County, &mut county_ranking).await?;
        }
    }
    Ok(Report {
        scope,
        period: period.clone(),
        start,
        end,
        as_of,
        persons,
        requests,
        coverage,
        shortfalls,
        alarms,
        alarm_kinds,
        alarms_per_day,
        resolve_times,
        outcomes,
        bases_expiring,
        leaves,
        ranking: office_ranking,
        county_ranking,
    })
}
