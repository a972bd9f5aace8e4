//! The scheduler's settings, with the defaults of DESIGN.md. `api::config` reads them from
//! `cctrack.toml` and `CCTRACK_*` and validates them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tracker::schedule::polling::Intervals;

use crate::ladder::Ladder;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Run the scheduler in this process (it still runs only where the leader lock is held).
    pub enabled: bool,
    pub intervals: Intervals,
    /// A request is answered by any accepted fix up to this long after it fell due.
    pub grace: chrono::Duration,
    pub ladder: Ladder,
    /// How long before a positioning order ends the county is warned.
    pub basis_warning: chrono::Duration,
    /// How often the leader ticks.
    pub tick: Duration,
    pub mail: MailConfig,
    /// Extra notice recipients per organisation, by adcode (e.g. "210800": the city's
    /// monitoring centre mailbox), beside the bureaus' staff with an e-mail address.
    pub recipients: BTreeMap<String, Vec<String>>,
    /// Where notices link to (the console).
    pub console_url: String,
    pub gateway: Option<GatewayConfig>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            enabled: true,
            intervals: Intervals::default(),
            grace: chrono::Duration::minutes(15),
            ladder: Ladder::default(),
            basis_warning: chrono::Duration::days(7),
            tick: Duration::from_secs(1),
            mail: MailConfig::None,
            recipients: BTreeMap::new(),
            console_url: "http://127.0.0.1:8080".to_string(),
            gateway: None,
        }
    }
}

/// How notices leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailConfig {
    /// No mail server: notices are recorded as not sent (never an error).
    None,
    /// Each notice written as a `.eml` file in this directory (the demo's mail catcher).
    Dir(PathBuf),
    Smtp(SmtpConfig),
}

#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `cctrack@sfj.yingkou.gov.cn`.
    pub from: String,
}

/// Shows everything but the password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on a closed network, a test server).
    None,
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl std::str::FromStr for SmtpSecurity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(SmtpSecurity::None),
            "starttls" => Ok(SmtpSecurity::Starttls),
            "tls" => Ok(SmtpSecurity::Tls),
            other => Err(format!("{other:?}: expected none, starttls or tls")),
        }
    }
}

/// The carrier location gateway (运营商基站定位).
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Base URL; requests go to `{url}/v1/locate`.
    pub url: String,
    /// Sent as a bearer token when set.
    pub token: Option<String>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}
