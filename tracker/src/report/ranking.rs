//! Offices, and in the city's report counties, ranked by a documented composite of their figures,
//! best first; the best are praised and the worst criticised, as a bulletin names them (通报表扬 /
//! 通报批评). The city's weekly and monthly rankings are kept ([`keep`]), so that a bulletin counts
//! the periods in a row an office has been criticised and names those due a talk (约谈).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::alarms::AlarmFigures;
use super::persons::PersonFigures;
use super::requests::{CoverageFigures, RequestFigures};
use super::store::StoredKind;
use super::{Breakdown, Definition, Group, Report};

pub const COMPOSITE: Definition = Definition {
    term: "综合得分",
    text: "综合得分 = 50 × 定位成功率 + 20 × 定位率 + 30 × 处置及时率 − 5 × 过夜报警数（最低0分，满分100分）；分母为零的比率（无请求、无报警）按满分计。只排名期内有在册对象或有定位请求、报警的司法所。得分相同时，依次比较定位成功率（高者在前）、过夜报警数（少者在前）、处置用时中位数（短者在前）。",
};
pub const PRAISED: Definition = Definition {
    term: "通报表扬、通报批评",
    text: "排名前五（参与排名的不足十个时为前一半）的司法所、区县通报表扬，后五（同上为后一半）通报批评。得分及各项比较依据均相同的并列同一名次；与名单外单位并列的，不予表扬或批评。",
};

pub const TALK: Definition = Definition {
    term: "连续通报批评、约谈",
    text: "周报、月报保存每期全市排名。连续通报批评期数：截至本期，司法所（区县）在全市排名中连续被通报批评的期数（本期未被批评记为0）。连续3期及以上的，约谈其负责人。区县排名同样按综合得分，以区县全部数据计算。",
};

pub const DEFINITIONS: &[Definition] = &[COMPOSITE, PRAISED, TALK];

/// The most units praised, and criticised.
pub const NAMED: usize = 5;
/// Criticised this many periods in a row: a talk with the head (约谈).
pub const TALK_AFTER: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Praised,
    Criticised,
    None,
}

impl Verdict {
    /// As `rankings.verdict` stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Praised => "praised",
            Verdict::Criticised => "criticised",
            Verdict::None => "none",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Verdict::Praised => "通报表扬",
            Verdict::Criticised => "通报批评",
            Verdict::None => "",
        }
    }
}

/// What is ranked: the offices of the scope, or (in the city's report) its counties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Office,
    County,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Office => "office",
            Unit::County => "county",
        }
    }

    /// The breakdown row of unit `id`.
    pub(crate) fn group(self, id: i64) -> Group {
        match self {
            Unit::Office => Group::Office(id),
            Unit::County => Group::County(id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub organisation_id: i64,
    pub score: f64,
    pub success_rate: Option<f64>,
    pub coverage: Option<f64>,
    pub timely_rate: Option<f64>,
    pub overnight: i64,
    pub resolve_median: Option<f64>,
    pub verdict: Verdict,
    /// Periods in a row, this one included, in which it was criticised in the city's bulletin;
    /// `None` where no history is kept (a county's own report, a day, a custom range).
    pub criticised_streak: Option<u32>,
}

impl Ranked {
    /// Criticised [`TALK_AFTER`] periods in a row or more: its head is called for a talk (约谈).
    pub fn talk(&self) -> bool {
        self.criticised_streak.is_some_and(|n| n >= TALK_AFTER)
    }
}

/// The composite score of one unit's figures.
pub fn score(success_rate: Option<f64>, coverage: Option<f64>, timely_rate: Option<f64>, overnight: i64) -> f64 {
    let full = |r: Option<f64>| r.unwrap_or(1.0);
    let s = 50.0 * full(success_rate) + 20.0 * full(coverage) + 30.0 * full(timely_rate) - 5.0 * overnight as f64;
    s.max(0.0)
}

/// Ranks `ids` (offices or counties of the scope) by their figures, best first.
pub(super) fn rank(
    unit: Unit,
    ids: impl Iterator<Item = i64>,
    persons: &Breakdown<PersonFigures>,
    requests: &Breakdown<RequestFigures>,
    coverage: &Breakdown<CoverageFigures>,
    alarms: &Breakdown<AlarmFigures>,
) -> Vec<Ranked> {
    let ranked: Vec<Ranked> = ids
        .filter_map(|id| {
            let g = unit.group(id);
            let (p, r, c, a) = (persons.get(g)?, requests.get(g)?, coverage.get(g)?, alarms.get(g)?);
            if p.in_supervision == 0 && r.issued == 0 && a.raised == 0 {
                return None;
            }
            Some(Ranked {
                rank: 0,
                organisation_id: id,
                score: score(r.success_rate, c.coverage, a.timely_rate, a.overnight),
                success_rate: r.success_rate,
                coverage: c.coverage,
                timely_rate: a.timely_rate,
                overnight: a.overnight,
                resolve_median: a.resolve_median,
                verdict: Verdict::None,
                criticised_streak: None,
            })
        })
        .collect();
    order(ranked)
}

/// Sorts units best first, gives ranks and names the best and the worst.
fn order(mut ranked: Vec<Ranked>) -> Vec<Ranked> {
    ranked.sort_by(standing);
    let n = ranked.len();
    let named = NAMED.min(n / 2);
    // A unit tied with one outside the named places (same score and tie-breaks) is not named:
    // in a quiet week where most score full marks, the order of names decides nothing.
    let verdicts: Vec<Verdict> = (0..n)
        .map(|i| {
            if i < named && standing(&ranked[i], &ranked[named]) == Ordering::Less {
                Verdict::Praised
            } else if i >= n - named && standing(&ranked[i], &ranked[n - named - 1]) == Ordering::Greater {
                Verdict::Criticised
            } else {
                Verdict::None
            }
        })
        .collect();
    // Ties share a rank (1, 2, 2, 4).
    for i in 0..n {
        let rank =
            if i > 0 && standing(&ranked[i - 1], &ranked[i]) == Ordering::Equal { ranked[i - 1].rank } else { i + 1 };
        ranked[i].rank = rank;
        ranked[i].verdict = verdicts[i];
    }
    ranked
}

/// Better first: the score, then 定位成功率 (higher), 过夜 (fewer), the median time to resolve
/// (shorter); a rate with no denominator counts as full.
fn standing(a: &Ranked, b: &Ranked) -> Ordering {
    let key = |x: &Option<f64>| x.unwrap_or(1.0);
    b.score
        .total_cmp(&a.score)
        .then(key(&b.success_rate).total_cmp(&key(&a.success_rate)))
        .then(a.overnight.cmp(&b.overnight))
        .then(a.resolve_median.unwrap_or(0.0).total_cmp(&b.resolve_median.unwrap_or(0.0)))
}

/// Fills in each unit's criticised streak: this period's verdict, then the kept rankings of the
/// periods just before it, back to the first that did not criticise it (or was not kept, or does
/// not end where the next begins).
pub(super) async fn streaks(
    pool: &PgPool,
    kind: StoredKind,
    start: DateTime<Utc>,
    unit: Unit,
    ranked: &mut [Ranked],
) -> Result<(), sqlx::Error> {
    // The kept periods before this one, newest first, with the units criticised in each.
    let kept: Vec<(DateTime<Utc>, DateTime<Utc>, Vec<i64>)> = sqlx::query_as(
        "SELECT period_start, period_end,
                coalesce(array_agg(organisation_id) FILTER (WHERE verdict = 'criticised'), '{}')
         FROM rankings WHERE kind = $1 AND unit = $2 AND period_start < $3
         GROUP BY period_start, period_end ORDER BY period_start DESC LIMIT 60",
    )
    .bind(kind.as_str())
    .bind(unit.as_str())
    .bind(start)
    .fetch_all(pool)
    .await?;
    for r in ranked.iter_mut() {
        let mut streak = 0;
        if r.verdict == Verdict::Criticised {
            streak = 1;
            let mut next_start = start;
            for (s, e, criticised) in &kept {
                if *e != next_start || !criticised.contains(&r.organisation_id) {
                    break;
                }
                streak += 1;
                next_start = *s;
            }
        }
        r.criticised_streak = Some(streak);
    }
    Ok(())
}

/// Keeps a city report's rankings (offices and counties) as its bulletin published them;
/// generating the bulletin again replaces them.
pub async fn keep(tx: &mut sqlx::PgConnection, report: &Report) -> Result<(), sqlx::Error> {
    let Some(kind) = StoredKind::of(report.period.kind).filter(|_| report.scope.org.kind == "city") else {
        return Ok(());
    };
    for (unit, ranked) in [(Unit::Office, &report.ranking), (Unit::County, &report.county_ranking)] {
        sqlx::query("DELETE FROM rankings WHERE kind = $1 AND period_start = $2 AND unit = $3")
            .bind(kind.as_str())
            .bind(report.start)
            .bind(unit.as_str())
            .execute(&mut *tx)
            .await?;
        let n = ranked.len() as i32;
        for r in ranked {
            sqlx::query(
                "INSERT INTO rankings (kind, period_start, period_end, organisation_id, unit, rank, ranked, score, verdict)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(kind.as_str())
            .bind(report.start)
            .bind(report.end)
            .bind(r.organisation_id)
            .bind(unit.as_str())
            .bind(r.rank as i32)
            .bind(n)
            .bind(r.score)
            .bind(r.verdict.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_composite_counts_missing_ratios_as_met_and_never_goes_below_zero() {
        assert_eq!(score(None, None, None, 0), 100.0);
        assert_eq!(score(Some(0.5), Some(1.0), Some(0.0), 1), 25.0 + 20.0 - 5.0);
        assert_eq!(score(Some(0.0), Some(0.0), Some(0.0), 3), 0.0);
    }

    fn unit(id: i64, success_rate: f64, overnight: i64) -> Ranked {
        Ranked {
            rank: 0,
            organisation_id: id,
            score: score(Some(success_rate), None, None, overnight),
            success_rate: Some(success_rate),
            coverage: None,
            timely_rate: None,
            overnight,
            resolve_median: None,
            verdict: Verdict::None,
            criticised_streak: None,
        }
    }

    fn verdicts(ranked: &[Ranked]) -> Vec<(i64, usize, Verdict)> {
        ranked.iter().map(|r| (r.organisation_id, r.rank, r.verdict)).collect()
    }

    #[test]
    fn units_tied_with_one_outside_the_named_places_are_neither_praised_nor_criticised() {
        use Verdict::{Criticised, None as Not, Praised};
        // A quiet week: five offices with full marks, two below. Three are named each way.
        let quiet = order(vec![
            unit(1, 1.0, 0),
            unit(2, 0.8, 0),
            unit(3, 1.0, 0),
            unit(4, 1.0, 0),
            unit(5, 1.0, 0),
            unit(6, 0.9, 2),
            unit(7, 1.0, 0),
        ]);
        assert_eq!(
            verdicts(&quiet),
            [(1, 1, Not), (3, 1, Not), (4, 1, Not), (5, 1, Not), (7, 1, Not), (2, 6, Criticised), (6, 7, Criticised)]
        );
        // Distinct standings: the best three and the worst three.
        let spread = order((1..=7).map(|i| unit(i, 1.0 - i as f64 / 20.0, 0)).collect());
        let named: Vec<Verdict> = spread.iter().map(|r| r.verdict).collect();
        assert_eq!(named, [Praised, Praised, Praised, Not, Criticised, Criticised, Criticised]);
        // A tie across the praised boundary: the two tied at third are not praised.
        let edge = order(vec![
            unit(1, 1.0, 0),
            unit(2, 0.9, 0),
            unit(3, 0.8, 0),
            unit(4, 0.8, 0),
            unit(5, 0.5, 0),
            unit(6, 0.4, 0),
        ]);
        assert_eq!(
            verdicts(&edge),
            [(1, 1, Praised), (2, 2, Praised), (3, 3, Not), (4, 3, Not), (5, 5, Criticised), (6, 6, Criticised)]
        );
    }
}
