//! `cctrack alarms`: list, acknowledge, resolve, dismiss, show, watch, outcomes.

use std::fmt::Write;

use anyhow::{anyhow, bail, Context};
use serde_json::json;
use tracker::alarm::events::EventKind;
use tracker::alarm::feed::{AlarmFeed, FeedEvent};
use tracker::alarm::handling::{self, AlarmCase, HandleError};
use tracker::alarm::{Action, Handling, Kind, Note, Outcome, State};

use super::emit;
use crate::cli::{AlarmCloseArgs, AlarmsArgs, AlarmsCommand};

pub async fn run(pool: sqlx::PgPool, a: AlarmsArgs) -> anyhow::Result<()> {
    match a.action {
        None => list(pool, a.person, a.state, a.json).await,
        Some(AlarmsCommand::Ack(x)) => act(pool, x.id, &x.actor, Action::Acknowledge, x.json).await,
        Some(AlarmsCommand::Resolve(x)) => {
            let h = handling_record(&x)?;
            act(pool, x.id, &x.actor, Action::Resolve(h), x.json).await
        }
        Some(AlarmsCommand::Dismiss(x)) => {
            let h = handling_record(&x)?;
            act(pool, x.id, &x.actor, Action::Dismiss(h), x.json).await
        }
        Some(AlarmsCommand::Show(x)) => show(pool, x.id, x.json).await,
        Some(AlarmsCommand::Watch(x)) => watch(pool, x.after, x.json).await,
        Some(AlarmsCommand::Outcomes(flag)) => outcomes(flag.json),
    }
}

async fn list(pool: sqlx::PgPool, person: Option<i64>, state: Option<String>, json: bool) -> anyhow::Result<()> {
    if let Some(s) = &state {
        s.parse::<State>().map_err(|e| anyhow!("--state: {e}"))?;
    }
    let alarms = tracker::track::alarms(&pool, person, state.as_deref()).await?;
    if json {
        return emit(&(serde_json::to_string_pretty(&alarms)? + "\n"));
    }
    let mut text = String::new();
    for al in &alarms {
        writeln!(
            text,
            "{:>6}  {}  {:<16} {:<12} person {} fence {:?} evidence {}",
            al.id,
            tracker::time::local(al.opened_at).format("%Y-%m-%d %H:%M:%S"),
            al.kind,
            al.state,
            al.person,
            al.fence,
            al.evidence
        )?;
    }
    emit(&text)
}

fn handling_record(x: &AlarmCloseArgs) -> anyhow::Result<Handling> {
    let outcome: Outcome = x.outcome.parse().map_err(|e| anyhow!("--outcome: {e}"))?;
    let note = Note::parse(&x.note).map_err(|e| anyhow!("--note: {e}"))?;
    Ok(Handling { outcome, note })
}

async fn act(pool: sqlx::PgPool, id: i64, actor: &str, action: Action, json: bool) -> anyhow::Result<()> {
    let who =
        handling::principal(&pool, actor).await?.ok_or_else(|| anyhow!("--as: no active staff account {actor:?}"))?;
    let verb = action.name();
    let case = match handling::act(&pool, id, &who, None, action).await {
        Ok(case) => case,
        Err(HandleError::Db(e)) => return Err(anyhow::Error::new(e).context(format!("alarms {verb} {id}"))),
        Err(e) => bail!("{e}"),
    };
    print_case(&pool, case, json).await
}

async fn show(pool: sqlx::PgPool, id: i64, json: bool) -> anyhow::Result<()> {
    let (case, events) = handling::show(&pool, id, None).await?.ok_or_else(|| anyhow!("no alarm {id}"))?;
    print(&case, &events, json)
}

async fn print_case(pool: &sqlx::PgPool, case: AlarmCase, json: bool) -> anyhow::Result<()> {
    let events = tracker::alarm::feed::history(pool, case.id).await?;
    print(&case, &events, json)
}

fn print(case: &AlarmCase, events: &[FeedEvent], json: bool) -> anyhow::Result<()> {
    if json {
        return emit(&(serde_json::to_string_pretty(&json!({"alarm": case, "events": events}))? + "\n"));
    }
    let local = |t: chrono::DateTime<chrono::Utc>| tracker::time::local(t).format("%Y-%m-%d %H:%M:%S").to_string();
    let kind = case.kind.parse::<Kind>().map(Kind::label_zh).unwrap_or("?");
    let state = case.state.parse::<State>().map(State::label_zh).unwrap_or("?");
    let mut text = format!(
        "报警 {} {} ({})  状态 {} ({})\n  对象 {} {} 级别 {}{}  {} (office {})\n  开始 {}  证据 {} 条",
        case.id,
        kind,
        case.kind,
        state,
        case.state,
        case.person_id,
        case.person_name,
        case.level,
        if case.is_key { " 重点" } else { "" },
        case.office_name,
        case.office_id,
        local(case.opened_at),
        case.evidence_count,
    );
    if let Some(f) = &case.fence_name {
        write!(text, "  围栏 {} ({})", f, case.fence_id.unwrap_or_default())?;
    }
    if let (Some(o), Some(note)) = (&case.outcome_label, &case.handling_note) {
        write!(text, "\n  处置 {o}: {note}")?;
    }
    text.push_str("\n历史:\n");
    for e in events {
        writeln!(text, "{}", event_line(e))?;
    }
    emit(&text)
}

fn event_line(e: &FeedEvent) -> String {
    let label = EventKind::ALL.iter().find(|k| k.as_str() == e.kind).map(|k| k.label_zh()).unwrap_or("?");
    let mut line = format!(
        "  #{:<6} {}  {:<22} {}",
        e.position,
        tracker::time::local(e.at).format("%Y-%m-%d %H:%M:%S"),
        format!("{label} ({})", e.kind),
        e.by.as_deref().unwrap_or("系统"),
    );
    if let Some(a) = e.alarm_id {
        line.push_str(&format!("  alarm {a}"));
    }
    line.push_str(&format!("  person {} {}", e.person_id, e.alarm_kind));
    if let Some(t) = e.fixed_at {
        line.push_str(&format!("  fix {}", tracker::time::local(t).format("%H:%M:%S")));
    }
    if let Some(n) = &e.note {
        line.push_str(&format!("  «{n}»"));
    }
    line
}

async fn watch(pool: sqlx::PgPool, after: Option<i64>, json: bool) -> anyhow::Result<()> {
    let start = match after {
        Some(p) if p < 0 => bail!("--after: a feed position is 0 or more"),
        Some(p) => p,
        None => tracker::alarm::feed::head(&pool).await?,
    };
    let mut feed = AlarmFeed::new(pool, start);
    let stop = crate::server::shutdown_signal().context("installing signal handlers")?;
    tokio::pin!(stop);
    let mut backoff = std::time::Duration::from_millis(500);
    loop {
        let next = tokio::select! {
            _ = &mut stop => return Ok(()),
            e = feed.next() => e,
        };
        match next {
            Ok(e) => {
                backoff = std::time::Duration::from_millis(500);
                let line = if json { serde_json::to_string(&e)? } else { event_line(&e) };
                if !print_line(&line)? {
                    return Ok(()); // the reader went away (`| head`)
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, position = feed.position(), "alarm feed: reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
            }
        }
    }
}

/// Writes a line and flushes it; `false` once the reader has gone away.
fn print_line(line: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => Ok(other.map(|_| true)?),
    }
}

fn outcomes(json: bool) -> anyhow::Result<()> {
    if json {
        let list: Vec<_> = Outcome::ALL.iter().map(|o| json!({"code": o.code(), "label": o.label_zh()})).collect();
        return emit(&(serde_json::to_string_pretty(&list)? + "\n"));
    }
    let mut text = String::new();
    for o in Outcome::ALL {
        writeln!(text, "{:<16} {}", o.code(), o.label_zh())?;
    }
    emit(&text)
}
