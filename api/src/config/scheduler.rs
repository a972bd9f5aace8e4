//! The scheduler's keys: `[scheduler]`, `[escalation]`, `[mail]` and `[gateway]` tables of
//! `cctrack.toml`, each key also as `CCTRACK_<TABLE>_<KEY>` (the environment wins). Errors name
//! the key as `table.key`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use chrono::NaiveTime;
use scheduler::config::{GatewayConfig, MailConfig, SchedulerConfig, SmtpConfig, SmtpSecurity};
use scheduler::ladder::Ladder;
use serde::Deserialize;
use tracker::schedule::polling::Intervals;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchedulerFile {
    enabled: Option<bool>,
    interval_lenient_min: Option<u32>,
    interval_ordinary_min: Option<u32>,
    interval_strict_min: Option<u32>,
    interval_key_60_min: Option<u32>,
    interval_key_30_min: Option<u32>,
    grace_min: Option<u32>,
    basis_warning_days: Option<u32>,
    console_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EscalationFile {
    ack_urgent_min: Option<u32>,
    ack_min: Option<u32>,
    city_at: Option<String>,
    late_overnight_min: Option<u32>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MailFile {
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_security: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    from: Option<String>,
    dir: Option<PathBuf>,
    recipients: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GatewayFile {
    url: Option<String>,
    token: Option<String>,
}

/// A value from `CCTRACK_<TABLE>_<KEY>` or the file, parsed; errors name `table.key`.
fn value<T: FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    table: &str,
    key: &str,
    file: Option<T>,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let var = format!("CCTRACK_{}_{}", table.to_uppercase(), key.to_uppercase());
    match env(&var) {
        Some(text) => {
            text.trim().parse().map(Some).map_err(|e| anyhow::anyhow!("{table}.{key} ({var}): {text:?}: {e}"))
        }
        None => Ok(file),
    }
}

/// Minutes ≥ 1 as seconds.
fn minutes(
    env: &dyn Fn(&str) -> Option<String>,
    table: &str,
    key: &str,
    file: Option<u32>,
    default_s: i64,
) -> anyhow::Result<i64> {
    match value(env, table, key, file)? {
        Some(0) => bail!("{table}.{key}: must be at least 1 minute"),
        Some(m) => Ok(i64::from(m) * 60),
        None => Ok(default_s),
    }
}

pub(super) fn load(
    env: &dyn Fn(&str) -> Option<String>,
    s: SchedulerFile,
    e: EscalationFile,
    m: MailFile,
    g: GatewayFile,
) -> anyhow::Result<SchedulerConfig> {
    let d = SchedulerConfig::default();
    let di = Intervals::default();
    let intervals = Intervals {
        lenient_s: minutes(env, "scheduler", "interval_lenient_min", s.interval_lenient_min, di.lenient_s)?,
        ordinary_s: minutes(env, "scheduler", "interval_ordinary_min", s.interval_ordinary_min, di.ordinary_s)?,
        strict_s: minutes(env, "scheduler", "interval_strict_min", s.interval_strict_min, di.strict_s)?,
        key_60_s: minutes(env, "scheduler", "interval_key_60_min", s.interval_key_60_min, di.key_60_s)?,
        key_30_s: minutes(env, "scheduler", "interval_key_30_min", s.interval_key_30_min, di.key_30_s)?,
    };
    let grace = chrono::Duration::seconds(minutes(env, "scheduler", "grace_min", s.grace_min, d.grace.num_seconds())?);
    let basis_warning = match value(env, "scheduler", "basis_warning_days", s.basis_warning_days)? {
        Some(0) => bail!("scheduler.basis_warning_days: must be at least 1 day"),
        Some(n) => chrono::Duration::days(i64::from(n)),
        None => d.basis_warning,
    };
    let dl = Ladder::default();
    let city_at = match value::<String>(env, "escalation", "city_at", e.city_at)? {
        Some(t) => NaiveTime::parse_from_str(&t, "%H:%M")
            .with_context(|| format!("escalation.city_at: {t:?} is not a time like 22:00"))?,
        None => dl.city_at,
    };
    let ladder = Ladder {
        urgent_ack_s: minutes(env, "escalation", "ack_urgent_min", e.ack_urgent_min, dl.urgent_ack_s)?,
        ack_s: minutes(env, "escalation", "ack_min", e.ack_min, dl.ack_s)?,
        city_at,
        late_overnight_s: minutes(env, "escalation", "late_overnight_min", e.late_overnight_min, dl.late_overnight_s)?,
        city_after_s: None,
        overnight_after_s: None,
    };
    let host = value::<String>(env, "mail", "smtp_host", m.smtp_host)?.filter(|h| !h.trim().is_empty());
    let dir = value::<PathBuf>(env, "mail", "dir", m.dir)?;
    let mail = match (host, dir) {
        (Some(_), Some(_)) => {
            bail!("mail.smtp_host and mail.dir: choose one (a mail server, or a directory for the messages)")
        }
        (Some(host), None) => {
            let security: SmtpSecurity = value::<String>(env, "mail", "smtp_security", m.smtp_security)?
                .unwrap_or_else(|| "starttls".into())
                .parse()
                .map_err(|e| anyhow::anyhow!("mail.smtp_security: {e}"))?;
            let default_port = match security {
                SmtpSecurity::Tls => 465,
                SmtpSecurity::Starttls => 587,
                SmtpSecurity::None => 25,
            };
            let from = value::<String>(env, "mail", "from", m.from)?
                .ok_or_else(|| anyhow::anyhow!("mail.from: required with mail.smtp_host (the sender's address)"))?;
            if from.parse::<lettre_address::Mailbox>().is_err() {
                bail!("mail.from: {from:?} is not an e-mail address");
            }
            MailConfig::Smtp(SmtpConfig {
                host,
                port: value(env, "mail", "smtp_port", m.smtp_port)?.unwrap_or(default_port),
                security,
                username: value(env, "mail", "smtp_username", m.smtp_username)?,
                password: value(env, "mail", "smtp_password", m.smtp_password)?,
                from,
            })
        }
        (None, Some(dir)) => MailConfig::Dir(dir),
        (None, None) => MailConfig::None,
    };
    let mut recipients = m.recipients.unwrap_or_default();
    for (adcode, list) in recipients.iter_mut() {
        if !(adcode.len() == 6 && adcode.bytes().all(|b| b.is_ascii_digit())) {
            bail!("mail.recipients: {adcode:?} is not an organisation's 6-digit adcode");
        }
        for r in list.iter_mut() {
            // Only the address is kept ("Centre <centre@sfj.cn>" → "centre@sfj.cn"): the outbox
            // stores bare addresses.
            match r.parse::<lettre_address::Mailbox>() {
                Ok(mailbox) => *r = mailbox.email.to_string(),
                Err(_) => bail!("mail.recipients.{adcode}: {r:?} is not an e-mail address"),
            }
            if r.chars().any(char::is_whitespace) {
                bail!("mail.recipients.{adcode}: {r:?} is not an e-mail address");
            }
        }
    }
    let gateway = match value::<String>(env, "gateway", "url", g.url)?.filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            Some(GatewayConfig { url: http_url("gateway.url", url)?, token: value(env, "gateway", "token", g.token)? })
        }
        None => None,
    };
    // Mails and the morning lists link to it: a bare host name would make every link dead.
    let console_url = value::<String>(env, "scheduler", "console_url", s.console_url)?.unwrap_or(d.console_url);
    let console_url = http_url("scheduler.console_url", console_url)?;
    Ok(SchedulerConfig {
        enabled: value(env, "scheduler", "enabled", s.enabled)?.unwrap_or(true),
        intervals,
        grace,
        ladder,
        basis_warning,
        tick: d.tick,
        mail,
        recipients,
        console_url,
        gateway,
    })
}

/// The address parser, through the scheduler's mail module (the api crate does not send mail).
mod lettre_address {
    pub use scheduler::mail::Mailbox;
}

/// `url` if it is an http:// or https:// URL with a host and nothing a link or a request line
/// would break on; the error names `key`.
fn http_url(key: &str, url: String) -> anyhow::Result<String> {
    let host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace) || h.contains(['"', '<', '>'])) {
        bail!("{key}: {url:?} is not an http:// or https:// URL");
    }
    Ok(url)
}
