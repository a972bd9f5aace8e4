//! Persons in supervision by level and 重点, taken in and released in the period.

use serde::Serialize;
use sqlx::PgPool;

use super::sql::{self, Window};
use super::{Definition, Group};

pub const IN_SUPERVISION: Definition = Definition {
    term: "期末在册",
    text: "统计期末时已纳入监管、尚未解除矫正的对象人数；各监管等级按对象在期末时的等级计（等级随县区审批的评估而变，历次变更均有记录）。",
};
pub const KEY: Definition = Definition {
    term: "重点",
    text: "期末在册对象中被列为重点管控的人数；重点是叠加在宽管、普管、严管之上的标记，故也计入其等级。",
};
pub const ADMITTED: Definition = Definition {
    term: "本期新增",
    text: "纳入监管（在本系统建档）时间在统计期内的对象人数。",
};
pub const RELEASED: Definition = Definition {
    term: "本期解矫",
    text: "解除矫正时间在统计期内的对象人数（按其解矫时的等级计）。",
};

pub const DEFINITIONS: &[Definition] = &[IN_SUPERVISION, KEY, ADMITTED, RELEASED];

#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct PersonFigures {
    pub in_supervision: i64,
    pub lenient: i64,
    pub ordinary: i64,
    pub strict: i64,
    pub key: i64,
    pub admitted: i64,
    pub released: i64,
}

pub(super) async fn figures(pool: &PgPool, w: &Window) -> Result<Vec<(Group, PersonFigures)>, sqlx::Error> {
    // A person's level at the period's end, or when they were released within it.
    let sql = format!(
        "WITH {scope},
         facts AS (
            SELECT s.county_id, s.office_id, {level},
                   (p.released_at IS NULL OR p.released_at >= $3 OR p.released_at > $4) AS at_end,
                   p.created_at >= $2 AS admitted,
                   p.released_at >= $2 AND p.released_at < $3 AND p.released_at <= $4 AS released
            FROM persons p JOIN scope s ON s.office_id = p.office_id
            {level_at}
            WHERE p.created_at < $3 AND p.created_at <= $4
              AND (p.released_at IS NULL OR p.released_at >= $2))
         SELECT {group},
                count(*) FILTER (WHERE at_end) AS in_supervision,
                count(*) FILTER (WHERE at_end AND level = 'lenient') AS lenient,
                count(*) FILTER (WHERE at_end AND level = 'ordinary') AS ordinary,
                count(*) FILTER (WHERE at_end AND level = 'strict') AS strict,
                count(*) FILTER (WHERE at_end AND is_key) AS key,
                count(*) FILTER (WHERE admitted) AS admitted,
                count(*) FILTER (WHERE released) AS released
         FROM facts {sets}",
        scope = sql::SCOPE,
        level = sql::LEVEL,
        level_at = sql::level_at("least($3 - interval '1 microsecond', p.released_at)"),
        group = sql::GROUP,
        sets = sql::SETS,
    );
    sql::grouped(pool, w, &sql).await
}
