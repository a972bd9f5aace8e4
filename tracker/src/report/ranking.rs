//! Offices ranked by a documented composite of their figures, best first; the best are praised
//! and the worst criticised, as a bulletin names them (通报表扬 / 通报批评).

use std::cmp::Ordering;

use serde::Serialize;

use super::alarms::AlarmFigures;
use super::persons::PersonFigures;
use super::requests::{CoverageFigures, RequestFigures};
use super::{Breakdown, Definition, Group, Scope};

pub const COMPOSITE: Definition = Definition {
    term: "综合得分",
    text: "综合得分 = 50 × 定位成功率 + 20 × 定位率 + 30 × 处置及时率 − 5 × 过夜报警数（最低0分，满分100分）；分母为零的比率（无请求、无报警）按满分计。只排名期内有在册对象或有定位请求、报警的司法所。得分相同时，依次比较定位成功率（高者在前）、过夜报警数（少者在前）、处置用时中位数（短者在前）。",
};
pub const PRAISED: Definition = Definition {
    term: "通报表扬、通报批评",
    text: "排名前五（参与排名的司法所不足十个时为前一半）的司法所通报表扬，后五（同上为后一半）通报批评。",
};

pub const DEFINITIONS: &[Definition] = &[COMPOSITE, PRAISED];

/// The most offices praised, and criticised.
pub const NAMED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Praised,
    Criticised,
    None,
}

impl Verdict {
    pub fn label_zh(self) -> &'static str {
        match self {
            Verdict::Praised => "通报表扬",
            Verdict::Criticised => "通报批评",
            Verdict::None => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub office_id: i64,
    pub score: f64,
    pub success_rate: Option<f64>,
    pub coverage: Option<f64>,
    pub timely_rate: Option<f64>,
    pub overnight: i64,
    pub resolve_median: Option<f64>,
    pub verdict: Verdict,
}

/// The composite score of one office's figures.
pub fn score(success_rate: Option<f64>, coverage: Option<f64>, timely_rate: Option<f64>, overnight: i64) -> f64 {
    let full = |r: Option<f64>| r.unwrap_or(1.0);
    let s = 50.0 * full(success_rate) + 20.0 * full(coverage) + 30.0 * full(timely_rate) - 5.0 * overnight as f64;
    s.max(0.0)
}

pub(super) fn rank(
    scope: &Scope,
    persons: &Breakdown<PersonFigures>,
    requests: &Breakdown<RequestFigures>,
    coverage: &Breakdown<CoverageFigures>,
    alarms: &Breakdown<AlarmFigures>,
) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = scope
        .offices
        .iter()
        .filter_map(|o| {
            let g = Group::Office(o.id);
            let (p, r, c, a) = (persons.get(g)?, requests.get(g)?, coverage.get(g)?, alarms.get(g)?);
            if p.in_supervision == 0 && r.issued == 0 && a.raised == 0 {
                return None;
            }
            Some(Ranked {
                rank: 0,
                office_id: o.id,
                score: score(r.success_rate, c.coverage, a.timely_rate, a.overnight),
                success_rate: r.success_rate,
                coverage: c.coverage,
                timely_rate: a.timely_rate,
                overnight: a.overnight,
                resolve_median: a.resolve_median,
                verdict: Verdict::None,
            })
        })
        .collect();
    let key = |x: &Option<f64>| x.unwrap_or(1.0);
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(key(&b.success_rate).total_cmp(&key(&a.success_rate)))
            .then(a.overnight.cmp(&b.overnight))
            .then(a.resolve_median.unwrap_or(0.0).total_cmp(&b.resolve_median.unwrap_or(0.0)))
            .then(Ordering::Equal)
    });
    let n = ranked.len();
    let named = NAMED.min(n / 2);
    for (i, r) in ranked.iter_mut().enumerate() {
        r.rank = i + 1;
        r.verdict = if i < named {
            Verdict::Praised
        } else if i >= n - named {
            Verdict::Criticised
        } else {
            Verdict::None
        };
    }
    ranked
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
}
