//! The supervision record staff keep through the API, within their organisation subtree:
//! releasing a person (解矫), legal bases (positioning consent, and Art. 29 orders with their
//! rules), level assessments (the office proposes with item scores, the county approves or
//! rejects, and the level changes on approval), and the dashboard's figures.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use serde_json::json;

use crate::audit::Acting;
use crate::staff::{Principal, Role};

/// Why a change was refused; each names the rule.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No such record in the account's subtree (never says which).
    #[error("not found: {0}")]
    NotFound(String),
    /// The account's role may not do this (the rule is named).
    #[error("{0}")]
    NotAllowed(String),
    /// The data breaks a rule: the field and the rule.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The record is not in a state this can happen in.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> RecordError {
    RecordError::Invalid { field, message: message.into() }
}

/// The person's office if `person` is in `scope`'s subtree, locked for the change.
async fn person_in_scope(tx: &mut sqlx::PgConnection, scope: &Principal, person: i64) -> Result<i64, RecordError> {
    sqlx::query_scalar("SELECT office_id FROM persons WHERE id = $1 AND org_within(office_id, $2) FOR NO KEY UPDATE")
        .bind(person)
        .bind(scope.organisation_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| RecordError::NotFound(format!("person {person}")))
}

fn writer(scope: &Principal) -> Result<(), RecordError> {
    if scope.role.may_change_records() {
        Ok(())
    } else {
        Err(RecordError::NotAllowed(format!("the {} role cannot change records", scope.role.as_str())))
    }
}

/// Takes a person under supervision in an office of `by`'s subtree, with their positioning
/// consent (audited with the change).
pub async fn admit(pool: &PgPool, by: &Acting<'_>, p: &crate::person::NewPerson) -> Result<i64, RecordError> {
    if !office_in_scope(pool, by.who, p.office_id).await? {
        return Err(RecordError::NotFound(format!("office {}", p.office_id)));
    }
    writer(by.who)?;
    let mut tx = pool.begin().await?;
    let id = crate::person::create_in(&mut tx, p).await?;
    let details = json!({"office": p.office_id, "level": p.level.as_str()});
    by.actor().record(&mut tx, "person.create", format!("person {id}"), Some(id), details).await?;
    tx.commit().await?;
    Ok(id)
}

/// Corrections to a person's record; `None` keeps what is stored. The level changes only through
/// an assessment, the office only through a transfer.
#[derive(Debug, Clone, Default)]
pub struct PersonEdit {
    pub name: Option<String>,
    pub correction_type: Option<crate::person::CorrectionType>,
    pub term_start: Option<chrono::NaiveDate>,
    pub term_end: Option<chrono::NaiveDate>,
}

/// Edits a person in `by`'s subtree (audited with the values before and after).
pub async fn edit(pool: &PgPool, by: &Acting<'_>, person: i64, e: &PersonEdit) -> Result<(), RecordError> {
    let mut tx = pool.begin().await?;
    person_in_scope(&mut tx, by.who, person).await?;
    writer(by.who)?;
    let (name, correction_type, term_start, term_end): (String, String, chrono::NaiveDate, chrono::NaiveDate) =
        sqlx::query_as("SELECT name, correction_type, term_start, term_end FROM persons WHERE id = $1")
            .bind(person)
            .fetch_one(&mut *tx)
            .await?;
    let after_start = e.term_start.unwrap_or(term_start);
    let after_end = e.term_end.unwrap_or(term_end);
    if after_end < after_start {
        let field = if e.term_end.is_some() { "term_end" } else { "term_start" };
        return Err(invalid(field, format!("the term would end ({after_end}) before it starts ({after_start})")));
    }
    let after_type = e.correction_type.map(|c| c.as_str().to_string()).unwrap_or(correction_type.clone());
    let after_name = e.name.clone().unwrap_or(name.clone());
    sqlx::query("UPDATE persons SET name = $2, correction_type = $3, term_start = $4, term_end = $5 WHERE id = $1")
        .bind(person)
        .bind(&after_name)
        .bind(&after_type)
        .bind(after_start)
        .bind(after_end)
        .execute(&mut *tx)
        .await?;
    let details = json!({
        "before": {"name": name, "correction_type": correction_type, "term_start": term_start, "term_end": term_end},
        "after": {"name": after_name, "correction_type": after_type, "term_start": after_start, "term_end": after_end},
    });
    by.actor().record(&mut tx, "person.edit", format!("person {person}"), Some(person), details).await?;
    tx.commit().await?;
    Ok(())
}

/// Releases a person at the end of their term (解矫): no longer polled, phones retired, open
/// alarms left for staff to close.
pub async fn release(pool: &PgPool, by: &Acting<'_>, person: i64) -> Result<(), RecordError> {
    let scope = by.who;
    let mut tx = pool.begin().await?;
    person_in_scope(&mut tx, scope, person).await?;
    writer(scope)?;
    let changed = sqlx::query(
        "UPDATE persons SET status = 'released', next_due_at = NULL WHERE id = $1 AND status <> 'released'",
    )
    .bind(person)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(RecordError::Conflict(format!("person {person} is already released")));
    }
    sqlx::query("UPDATE devices SET retired_at = now() WHERE person_id = $1 AND retired_at IS NULL")
        .bind(person)
        .execute(&mut *tx)
        .await?;
    by.actor().record(&mut tx, "person.release", format!("person {person}"), Some(person), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// The longest an Art. 29 positioning order, or one extension of it, may run ("不超过三个月"):
/// 92 days covers every run of three calendar months.
pub const ORDER_MAX: Duration = Duration::days(92);

#[derive(Debug, Clone)]
pub struct NewBasis {
    /// `consent` (手机定位承诺书) or `order` (Art. 29 电子定位决定).
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub document_ref: String,
}

/// Records a legal basis. An order needs an end at most [`ORDER_MAX`] after its start (an
/// extension is a new order, each at most that long) and is approved by the county bureau (or
/// the city): the account recording it is its approver.
pub async fn add_basis(pool: &PgPool, by: &Acting<'_>, person: i64, b: &NewBasis) -> Result<i64, RecordError> {
    let scope = by.who;
    let doc = b.document_ref.trim();
    if doc.is_empty() || doc.chars().count() > 200 || !crate::db::storable_text(doc) {
        return Err(invalid("document_ref", "the document's reference: 1 to 200 characters"));
    }
    match (b.kind.as_str(), b.ends_at) {
        ("consent", Some(end)) if end <= b.starts_at => return Err(invalid("ends_at", "must be after starts_at")),
        ("consent", _) => {}
        ("order", None) => {
            return Err(invalid("ends_at", "社区矫正法第二十九条: a positioning order has an end, at most three months on"))
        }
        ("order", Some(end)) if end <= b.starts_at => return Err(invalid("ends_at", "must be after starts_at")),
        ("order", Some(end)) if end - b.starts_at > ORDER_MAX => {
            return Err(invalid(
                "ends_at",
                "社区矫正法第二十九条: an order, and each extension, runs at most three months (92 days); record an extension as a new order",
            ))
        }
        ("order", Some(_)) => {}
        (other, _) => return Err(invalid("kind", format!("{other:?}: expected consent or order"))),
    }
    let mut tx = pool.begin().await?;
    person_in_scope(&mut tx, scope, person).await?;
    writer(scope)?;
    if b.kind == "order" && !matches!(scope.role, Role::CountyAdmin | Role::CityAdmin) {
        return Err(RecordError::NotAllowed(
            "社区矫正法第二十九条: a positioning order is approved by the county bureau (county_admin)".into(),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO legal_bases (person_id, kind, starts_at, ends_at, document_ref, approved_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(person)
    .bind(&b.kind)
    .bind(b.starts_at)
    .bind(b.ends_at)
    .bind(doc)
    .bind((b.kind == "order").then_some(scope.id))
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({"kind": b.kind, "starts_at": b.starts_at, "ends_at": b.ends_at});
    by.actor().record(&mut tx, "basis.create", format!("basis {id}"), Some(person), details).await?;
    tx.commit().await?;
    Ok(id)
}

/// Revokes a legal basis (a consent withdrawn, an order lifted).
pub async fn revoke_basis(pool: &PgPool, by: &Acting<'_>, basis: i64) -> Result<i64, RecordError> {
    let scope = by.who;
    let mut tx = pool.begin().await?;
    let person: Option<i64> = sqlx::query_scalar(
        "SELECT b.person_id FROM legal_bases b JOIN persons p ON p.id = b.person_id
         WHERE b.id = $1 AND org_within(p.office_id, $2) FOR NO KEY UPDATE OF b",
    )
    .bind(basis)
    .bind(scope.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let person = person.ok_or_else(|| RecordError::NotFound(format!("basis {basis}")))?;
    writer(scope)?;
    let done = sqlx::query("UPDATE legal_bases SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(basis)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(RecordError::Conflict(format!("basis {basis} is already revoked")));
    }
    by.actor().record(&mut tx, "basis.revoke", format!("basis {basis}"), Some(person), json!({})).await?;
    tx.commit().await?;
    Ok(person)
}

/// A level assessment (分级评估).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Assessment {
    pub id: i64,
    pub person_id: i64,
    /// Item → score, as the form has them (the seed's 13 items and 42 sub-items; not fixed here).
    pub scores: Value,
    pub total: i32,
    pub proposed_level: String,
    pub proposed_key: bool,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
}

const ASSESSMENT: &str = "SELECT a.id, a.person_id, a.scores, a.total, a.proposed_level, a.proposed_key,
                                 sp.username AS proposed_by, a.proposed_at, a.state, sd.username AS decided_by,
                                 a.decided_at, a.decision_note
                          FROM level_assessments a JOIN staff sp ON sp.id = a.proposed_by
                          LEFT JOIN staff sd ON sd.id = a.decided_by";

/// The office proposes a level with the scores of each item and their total.
pub async fn propose(
    pool: &PgPool,
    by: &Acting<'_>,
    person: i64,
    scores: &Value,
    level: &str,
    key: bool,
) -> Result<i64, RecordError> {
    let items = scores.as_object().filter(|o| !o.is_empty() && o.len() <= 200).ok_or_else(|| {
        invalid("scores", "an object of item → score (the assessment form's items), 1 to 200 of them")
    })?;
    let mut total: i64 = 0;
    for (item, score) in items {
        if item.trim().is_empty() || item.chars().count() > 100 || !crate::db::storable_text(item) {
            return Err(invalid("scores", format!("{item:?} is not an item's name (1 to 100 characters)")));
        }
        let s = score.as_i64().filter(|s| (0..=100).contains(s));
        total += s.ok_or_else(|| invalid("scores", format!("{item}: {score} is not a whole score from 0 to 100")))?;
    }
    if !matches!(level, "lenient" | "ordinary" | "strict") {
        return Err(invalid("proposed_level", format!("{level:?}: expected lenient, ordinary or strict")));
    }
    let scope = by.who;
    let mut tx = pool.begin().await?;
    person_in_scope(&mut tx, scope, person).await?;
    writer(scope)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO level_assessments (person_id, scores, total, proposed_level, proposed_key, proposed_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(person)
    .bind(scores)
    .bind(total as i32)
    .bind(level)
    .bind(key)
    .bind(scope.id)
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({"level": level, "key": key, "total": total});
    by.actor().record(&mut tx, "assessment.propose", format!("assessment {id}"), Some(person), details).await?;
    tx.commit().await?;
    Ok(id)
}

/// The county (or the city) approves or rejects a proposed assessment; on approval the person's
/// level (and 重点 flag) change, effective from their next due time.
pub async fn decide(
    pool: &PgPool,
    by: &Acting<'_>,
    assessment: i64,
    approve: bool,
    note: Option<&str>,
) -> Result<Assessment, RecordError> {
    if note.is_some_and(|n| n.chars().count() > 2000 || !crate::db::storable_text(n)) {
        return Err(invalid("note", "at most 2000 characters"));
    }
    let scope = by.who;
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String, String, bool)> = sqlx::query_as(
        "SELECT a.person_id, a.state, a.proposed_level, a.proposed_key FROM level_assessments a JOIN persons p ON p.id = a.person_id
         WHERE a.id = $1 AND org_within(p.office_id, $2) FOR NO KEY UPDATE OF p, a",
    )
    .bind(assessment)
    .bind(scope.organisation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (person, state, level, key) = row.ok_or_else(|| RecordError::NotFound(format!("assessment {assessment}")))?;
    if !matches!(scope.role, Role::CountyAdmin | Role::CityAdmin) {
        return Err(RecordError::NotAllowed("a level is approved by the county bureau (county_admin)".into()));
    }
    if state != "proposed" {
        return Err(RecordError::Conflict(format!("assessment {assessment} is already {state}")));
    }
    sqlx::query(
        "UPDATE level_assessments SET state = $2, decided_by = $3, decided_at = now(), decision_note = $4 WHERE id = $1",
    )
    .bind(assessment)
    .bind(if approve { "approved" } else { "rejected" })
    .bind(scope.id)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    if approve {
        // 重点 keeps its interval choice (60 min unless one was set); leaving 重点 clears it.
        sqlx::query(
            "UPDATE persons SET level = $2, is_key = $3,
                    key_interval_min = CASE WHEN $3 THEN coalesce(key_interval_min, 60) END
             WHERE id = $1",
        )
        .bind(person)
        .bind(&level)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    }
    let action = if approve { "assessment.approve" } else { "assessment.reject" };
    let details = json!({"level": level, "key": key});
    by.actor().record(&mut tx, action, format!("assessment {assessment}"), Some(person), details).await?;
    tx.commit().await?;
    Ok(sqlx::query_as(&format!("{ASSESSMENT} WHERE a.id = $1")).bind(assessment).fetch_one(pool).await?)
}

/// A person's assessments, newest first (the city sees them filed).
pub async fn assessments(
    pool: &PgPool,
    scope: &Principal,
    person: i64,
) -> Result<Option<Vec<Assessment>>, sqlx::Error> {
    let visible: Option<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE id = $1 AND org_within(office_id, $2)")
        .bind(person)
        .bind(scope.organisation_id)
        .fetch_optional(pool)
        .await?;
    if visible.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query_as(&format!("{ASSESSMENT} WHERE a.person_id = $1 ORDER BY a.id DESC"))
        .bind(person)
        .fetch_all(pool)
        .await?;
    Ok(Some(rows))
}

/// The dashboard's figures in `scope`'s subtree: persons by level (and 重点), open alarms by
/// county, office and kind, alarms opened per day over the last 7 days by kind, and today's
/// location requests (Asia/Shanghai) issued, answered and failed.
pub async fn dashboard(pool: &PgPool, scope: &Principal) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(
        "WITH offices AS (SELECT o.id, o.name, c.name AS county FROM organisations o JOIN organisations c ON c.id = o.parent_id
                          WHERE o.kind = 'office' AND org_within(o.id, $1)),
              today AS (SELECT (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')) AT TIME ZONE 'Asia/Shanghai' AS start)
         SELECT jsonb_build_object(
           'persons', (SELECT jsonb_build_object(
                'lenient', count(*) FILTER (WHERE p.level = 'lenient'),
                'ordinary', count(*) FILTER (WHERE p.level = 'ordinary'),
                'strict', count(*) FILTER (WHERE p.level = 'strict'),
                'key', count(*) FILTER (WHERE p.is_key),
                'total', count(*))
              FROM persons p WHERE p.status = 'active' AND p.office_id IN (SELECT id FROM offices)),
           'open_alarms', coalesce((SELECT jsonb_agg(jsonb_build_object('county', o.county, 'office', o.name, 'office_id', o.id,
                                                                       'kind', a.kind, 'count', a.n) ORDER BY o.county, o.name, a.kind)
              FROM (SELECT p.office_id, a.kind, count(*) AS n FROM alarms a JOIN persons p ON p.id = a.person_id
                    WHERE a.state IN ('open', 'acknowledged') GROUP BY p.office_id, a.kind) a
              JOIN offices o ON o.id = a.office_id), '[]'::jsonb),
           'alarms_last_7_days', coalesce((SELECT jsonb_agg(jsonb_build_object('day', d.day, 'kind', d.kind, 'count', d.n) ORDER BY d.day, d.kind)
              FROM (SELECT (a.opened_at AT TIME ZONE 'Asia/Shanghai')::date AS day, a.kind, count(*) AS n
                    FROM alarms a JOIN persons p ON p.id = a.person_id
                    WHERE p.office_id IN (SELECT id FROM offices)
                      AND a.opened_at >= (SELECT start FROM today) - interval '6 days'
                    GROUP BY 1, 2) d), '[]'::jsonb),
           'requests_today', (SELECT jsonb_build_object(
                'issued', count(*), 'answered', count(*) FILTER (WHERE l.state = 'answered'),
                'failed', count(*) FILTER (WHERE l.state = 'failed'), 'pending', count(*) FILTER (WHERE l.state = 'pending'))
              FROM location_requests l JOIN persons p ON p.id = l.person_id
              WHERE l.reason = 'schedule' AND l.issued_at >= (SELECT start FROM today)
                AND p.office_id IN (SELECT id FROM offices)))",
    )
    .bind(scope.organisation_id)
    .fetch_one(pool)
    .await
}

/// Whether `office` is a judicial office in `scope`'s subtree (where a person may be added).
pub async fn office_in_scope(pool: &PgPool, scope: &Principal, office: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1 AND kind = 'office' AND org_within(id, $2))",
    )
    .bind(office)
    .bind(scope.organisation_id)
    .fetch_one(pool)
    .await
}
