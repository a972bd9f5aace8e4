//! Configuration: `cctrack.toml`, then `CCTRACK_*` environment variables, then command-line
//! flags, each overriding the one before. Every value has a default that serves the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use tracker::login::LoginPolicy;

use crate::cli::GlobalArgs;

mod scheduler;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_OSMAND_LISTEN: &str = "127.0.0.1:5055";
pub const DEFAULT_DATA_DIR: &str = "./var";

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub osmand_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: the embedded PostGIS cluster under `data_dir`. May carry a password: never
    /// printed (see the `Debug` impl).
    pub database_url: Option<String>,
    /// Limits on failed staff logins.
    pub login: LoginPolicy,
    /// Polling, failures, escalation, notices, the carrier gateway.
    pub scheduler: ::scheduler::config::SchedulerConfig,
    /// How long staff sessions live.
    pub sessions: tracker::session::SessionPolicy,
    /// Mark the session cookie Secure (set it when cctrack is served over TLS, behind a proxy).
    pub secure_cookie: bool,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The console's optional intranet base map.
    pub console: crate::console::ConsoleConfig,
}

/// Shows everything but the database URL's password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("osmand_listen", &self.osmand_listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("login", &self.login)
            .field("scheduler", &self.scheduler)
            .field("sessions", &self.sessions)
            .field("secure_cookie", &self.secure_cookie)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("console", &self.console)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".to_string() };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    // A password may also come as a query parameter.
    let tail = tail.map(|t| match t.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| if kv.starts_with("password=") { "password=***".to_string() } else { kv.to_string() })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => t.to_string(),
    });
    match tail {
        Some(t) => format!("{scheme}://{authority}/{t}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// The file's shape; unknown keys are refused so that a typo does not silently do nothing.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    osmand_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    login_max_failures: Option<u32>,
    login_max_failures_per_address: Option<u32>,
    login_lockout_minutes: Option<u32>,
    #[serde(default)]
    scheduler: scheduler::SchedulerFile,
    #[serde(default)]
    escalation: scheduler::EscalationFile,
    #[serde(default)]
    mail: scheduler::MailFile,
    #[serde(default)]
    gateway: scheduler::GatewayFile,
    #[serde(default)]
    sessions: SessionsFile,
    trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    console: ConsoleFile,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleFile {
    tile_url: Option<String>,
    tile_crs: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsFile {
    idle_minutes: Option<u32>,
    absolute_hours: Option<u32>,
    secure_cookie: Option<bool>,
}

impl Config {
    /// `listen_flags`: the `--listen` and `--osmand-listen` flags of `serve`/`demo`.
    pub fn load(global: &GlobalArgs, listen_flags: (Option<SocketAddr>, Option<SocketAddr>)) -> anyhow::Result<Self> {
        Self::load_from(global, listen_flags, |k| std::env::var(k).ok())
    }

    fn load_from(
        global: &GlobalArgs,
        (listen_flag, osmand_flag): (Option<SocketAddr>, Option<SocketAddr>),
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let file = match &global.config {
            Some(path) => read_file(path)?,
            None if Path::new("cctrack.toml").exists() => read_file(Path::new("cctrack.toml"))?,
            None => FileConfig::default(),
        };
        let listen = address("listen", listen_flag, env("CCTRACK_LISTEN").or(file.listen), DEFAULT_LISTEN)?;
        let osmand_listen = address(
            "osmand_listen",
            osmand_flag,
            env("CCTRACK_OSMAND_LISTEN").or(file.osmand_listen),
            DEFAULT_OSMAND_LISTEN,
        )?;
        let data_dir = global
            .data_dir
            .clone()
            .or_else(|| env("CCTRACK_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = global
            .database_url
            .clone()
            .or_else(|| env("CCTRACK_DATABASE_URL"))
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("database_url: expected postgres://user:password@host:port/database");
            }
        }
        let defaults = LoginPolicy::default();
        let login = LoginPolicy {
            max_failures_per_account: count(
                "login_max_failures",
                env("CCTRACK_LOGIN_MAX_FAILURES"),
                file.login_max_failures,
                defaults.max_failures_per_account,
            )?,
            max_failures_per_address: count(
                "login_max_failures_per_address",
                env("CCTRACK_LOGIN_MAX_FAILURES_PER_ADDRESS"),
                file.login_max_failures_per_address,
                defaults.max_failures_per_address,
            )?,
            lockout: std::time::Duration::from_secs(
                60 * u64::from(count(
                    "login_lockout_minutes",
                    env("CCTRACK_LOGIN_LOCKOUT_MINUTES"),
                    file.login_lockout_minutes,
                    (defaults.lockout.as_secs() / 60) as u32,
                )?),
            ),
        };
        let scheduler = scheduler::load(&env, file.scheduler, file.escalation, file.mail, file.gateway)?;
        let ds = tracker::session::SessionPolicy::default();
        let sessions = tracker::session::SessionPolicy {
            idle: std::time::Duration::from_secs(
                60 * u64::from(count(
                    "sessions.idle_minutes",
                    env("CCTRACK_SESSIONS_IDLE_MINUTES"),
                    file.sessions.idle_minutes,
                    (ds.idle.as_secs() / 60) as u32,
                )?),
            ),
            absolute: std::time::Duration::from_secs(
                3600 * u64::from(count(
                    "sessions.absolute_hours",
                    env("CCTRACK_SESSIONS_ABSOLUTE_HOURS"),
                    file.sessions.absolute_hours,
                    (ds.absolute.as_secs() / 3600) as u32,
                )?),
            ),
            ..Default::default()
        };
        let secure_cookie = match env("CCTRACK_SESSIONS_SECURE_COOKIE") {
            Some(t) => {
                t.trim().parse().with_context(|| format!("sessions.secure_cookie: {t:?} is not true or false"))?
            }
            None => file.sessions.secure_cookie.unwrap_or(false),
        };
        let trusted_proxies = match env("CCTRACK_TRUSTED_PROXIES") {
            Some(list) => list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect(),
            None => file.trusted_proxies.unwrap_or_default(),
        };
        let trusted_proxies = trusted_proxies
            .iter()
            .map(|a| a.parse().with_context(|| format!("trusted_proxies: {a:?} is not an IP address")))
            .collect::<anyhow::Result<Vec<std::net::IpAddr>>>()?;
        let console = crate::console::ConsoleConfig::new(
            env("CCTRACK_CONSOLE_TILE_URL").or(file.console.tile_url),
            env("CCTRACK_CONSOLE_TILE_CRS").or(file.console.tile_crs),
        )?;
        Ok(Config {
            console,
            listen,
            osmand_listen,
            data_dir,
            database_url,
            login,
            scheduler,
            sessions,
            secure_cookie,
            trusted_proxies,
        })
    }
}

/// A whole number ≥ 1 from the environment (wins) or the file, or the default; errors name `key`.
fn count(key: &str, env: Option<String>, file: Option<u32>, default: u32) -> anyhow::Result<u32> {
    let n = match env {
        Some(text) => text.trim().parse::<u32>().with_context(|| format!("{key}: {text:?} is not a whole number"))?,
        None => file.unwrap_or(default),
    };
    anyhow::ensure!(n >= 1, "{key}: must be at least 1");
    Ok(n)
}

/// A flag wins; otherwise the environment or file text (named `key` in errors), or the default.
fn address(key: &str, flag: Option<SocketAddr>, text: Option<String>, default: &str) -> anyhow::Result<SocketAddr> {
    if let Some(a) = flag {
        return Ok(a);
    }
    let text = text.unwrap_or_else(|| default.to_string());
    text.parse().with_context(|| format!("{key}: {text:?} is not an address like {default}"))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading configuration {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("configuration {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global() -> GlobalArgs {
        GlobalArgs { config: None, data_dir: None, database_url: None }
    }

    #[test]
    fn defaults_serve_the_demo() {
        let c = Config::load_from(&global(), (None, None), |_| None).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./var"));
        assert!(c.database_url.is_none());
    }

    #[test]
    fn environment_overrides_default_and_flags_override_environment() {
        let env = |k: &str| match k {
            "CCTRACK_LISTEN" => Some("127.0.0.1:9000".to_string()),
            "CCTRACK_DATA_DIR" => Some("/tmp/x".to_string()),
            _ => None,
        };
        let c = Config::load_from(&global(), (None, None), env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let mut g = global();
        g.data_dir = Some("/tmp/y".into());
        let c = Config::load_from(&g, (Some("127.0.0.1:9001".parse().unwrap()), None), env).unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/y"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let env = |k: &str| (k == "CCTRACK_LISTEN").then(|| "nonsense".to_string());
        let err = Config::load_from(&global(), (None, None), env).unwrap_err();
        assert!(format!("{err:#}").contains("listen"), "{err:#}");
        let env = |k: &str| (k == "CCTRACK_DATABASE_URL").then(|| "mysql://x".to_string());
        let err = Config::load_from(&global(), (None, None), env).unwrap_err();
        assert!(format!("{err:#}").contains("database_url"), "{err:#}");
    }

    #[test]
    fn the_database_password_is_never_shown() {
        let env = |k: &str| {
            (k == "CCTRACK_DATABASE_URL")
                .then(|| "postgres://cctrack:s3cret@db:5432/cctrack?sslmode=require".to_string())
        };
        let c = Config::load_from(&global(), (None, None), env).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && shown.contains("cctrack:***@db:5432/cctrack"), "{shown}");
        assert_eq!(redact_url("postgres://u@h/d?host=/tmp&password=x"), "postgres://u@h/d?host=/tmp&password=***");
    }

    #[test]
    fn login_limits_are_configurable_and_checked() {
        let c = Config::load_from(&global(), (None, None), |_| None).unwrap();
        assert_eq!((c.login.max_failures_per_account, c.login.lockout.as_secs()), (10, 900));
        let env = |k: &str| match k {
            "CCTRACK_LOGIN_MAX_FAILURES" => Some("3".to_string()),
            "CCTRACK_LOGIN_LOCKOUT_MINUTES" => Some("1".to_string()),
            _ => None,
        };
        let c = Config::load_from(&global(), (None, None), env).unwrap();
        assert_eq!((c.login.max_failures_per_account, c.login.lockout.as_secs()), (3, 60));
        let env = |k: &str| (k == "CCTRACK_LOGIN_MAX_FAILURES").then(|| "0".to_string());
        let err = Config::load_from(&global(), (None, None), env).unwrap_err();
        assert!(format!("{err:#}").contains("login_max_failures"), "{err:#}");
    }

    #[test]
    fn scheduler_keys_come_from_tables_and_the_environment() {
        let path = std::env::temp_dir().join(format!("cctrack-sched-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[scheduler]\ninterval_strict_min = 120\n[escalation]\ncity_at = \"21:30\"\n[mail]\ndir = \"/tmp/mail\"\nrecipients = { \"210800\" = [\"centre@sfj.example.cn\", \"值班室 <duty@sfj.example.cn>\"] }\n[gateway]\nurl = \"http://127.0.0.1:7070\"\n",
        )
        .unwrap();
        let mut g = global();
        g.config = Some(path.clone());
        let env = |k: &str| (k == "CCTRACK_SCHEDULER_GRACE_MIN").then(|| "5".to_string());
        let c = Config::load_from(&g, (None, None), env).unwrap();
        assert_eq!((c.scheduler.intervals.strict_s, c.scheduler.intervals.lenient_s), (7200, 12 * 3600));
        assert_eq!(c.scheduler.grace.num_minutes(), 5);
        assert_eq!(c.scheduler.ladder.city_at.to_string(), "21:30:00");
        assert_eq!(c.scheduler.mail, ::scheduler::config::MailConfig::Dir("/tmp/mail".into()));
        // Only the address is kept: the outbox stores bare addresses.
        assert_eq!(c.scheduler.recipients["210800"], ["centre@sfj.example.cn", "duty@sfj.example.cn"]);
        assert!(c.scheduler.gateway.is_some());
        for (bad, key) in [
            ("[escalation]\ncity_at = \"late\"\n", "escalation.city_at"),
            ("[scheduler]\ninterval_lenient_min = 0\n", "scheduler.interval_lenient_min"),
            ("[mail]\nsmtp_host = \"mail\"\n", "mail.from"),
            ("[mail]\nrecipients = { \"yingkou\" = [] }\n", "mail.recipients"),
            ("[gateway]\nurl = \"ftp://x\"\n", "gateway.url"),
            ("[gateway]\nurl = \"http://\"\n", "gateway.url"),
            ("[scheduler]\nintervals = 3\n", "intervals"),
            ("[scheduler]\nconsole_url = \"cctrack.sfj.example.cn\"\n", "scheduler.console_url"),
            ("[scheduler]\nconsole_url = \"https://\"\n", "scheduler.console_url"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = Config::load_from(&g, (None, None), |_| None).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{bad}: {err:#}");
        }
        std::fs::remove_file(&path).unwrap();
        let env = |k: &str| (k == "CCTRACK_MAIL_SMTP_SECURITY").then(|| "ssl".to_string());
        let err = Config::load_from(&global(), (None, None), env).unwrap_or_else(|_| panic!("unused without a host"));
        assert_eq!(err.scheduler.mail, ::scheduler::config::MailConfig::None);
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let path = std::env::temp_dir().join(format!("cctrack-config-{}.toml", std::process::id()));
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let mut g = global();
        g.config = Some(path.clone());
        let err = Config::load_from(&g, (None, None), |_| None).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
    }
}
