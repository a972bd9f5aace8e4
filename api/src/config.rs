//! Configuration: `cctrack.toml`, then `CCTRACK_*` environment variables, then command-line
//! flags, each overriding the one before. Every value has a default that serves the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::GlobalArgs;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_OSMAND_LISTEN: &str = "127.0.0.1:5055";
pub const DEFAULT_DATA_DIR: &str = "./var";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub osmand_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: the embedded PostGIS cluster under `data_dir`.
    pub database_url: Option<String>,
}

/// The file's shape; unknown keys are refused so that a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    osmand_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
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
        Ok(Config { listen, osmand_listen, data_dir, database_url })
    }
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
