//! A private PostgreSQL + PostGIS cluster under cctrack's data directory.
//!
//! `cctrack serve` and `cctrack demo` use it when no `CCTRACK_DATABASE_URL` is configured, and the
//! test harness uses it for its throw-away databases. The cluster listens on loopback TCP (a free
//! port chosen at start) and on a Unix socket inside its own directory, with password auth.
//!
//! `initdb` and `postgres` refuse to run as root. When cctrack runs as root (CI does), every server
//! command runs as the unprivileged `postgres` OS user (created by Debian's package), which owns
//! the cluster directory.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::distributions::Alphanumeric;
use rand::Rng;

/// Settings given at every start, so that clusters made by earlier versions get them too.
/// JIT off: ingest's statements are short and many; compiling one can cost more than it saves.
/// Checkpoints at most every 15 min or 4 GB of WAL: at the default 1 GB, sustained batched ingest
/// checkpointed every few seconds, and each checkpoint makes the next change of every page write
/// the whole page to WAL (compressed with lz4); recovery after a crash replays more, in exchange.
const TUNING: &[(&str, &str)] = &[
    ("jit", "off"),
    ("max_wal_size", "4GB"),
    ("min_wal_size", "1GB"),
    ("checkpoint_timeout", "15min"),
    ("wal_compression", "lz4"),
];

/// Debian package that provides the PostgreSQL server binaries and PostGIS.
pub const SERVER_PACKAGE: &str = "postgresql-15";
pub const POSTGIS_PACKAGE: &str = "postgresql-15-postgis-3";
const PG_MAJOR: &str = "15";
const SUPERUSER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("PostgreSQL {PG_MAJOR} server binaries not found in {0}: install the Debian package {SERVER_PACKAGE} (apt-get install {POSTGIS_PACKAGE})")]
    ServerMissing(PathBuf),
    #[error("PostGIS is not installed for PostgreSQL {PG_MAJOR} ({0} missing): install the Debian package {POSTGIS_PACKAGE}")]
    PostgisMissing(PathBuf),
    #[error("running as root, but the unprivileged OS user `{0}` that must own the cluster does not exist: install the Debian package {SERVER_PACKAGE}, which creates it")]
    NoServiceUser(String),
    #[error("the OS user `{user}` cannot reach {dir}: choose a data directory it can traverse (e.g. under /var/lib or /tmp)")]
    Unreachable { user: String, dir: PathBuf },
    #[error("{action} failed ({status}): {stderr}")]
    Command { action: String, status: String, stderr: String },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io { path: path.to_path_buf(), source }
}

/// A running private cluster. Dropping the handle does not stop the server: call [`Self::stop`]
/// (the server binaries guarantee a clean shutdown; a crash of cctrack leaves a server that the
/// next start adopts).
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    pgdata: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    service_user: Option<String>,
    launched: bool,
}

impl EmbeddedCluster {
    /// Initialises (first time) and starts the cluster in `dir/pg`, or adopts a server that is
    /// already running there. A stale `postmaster.pid` left by a crash is removed.
    pub fn start(dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_server_binaries()?;
        check_postgis()?;
        let service_user = service_user()?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let dir = dir.canonicalize().map_err(io_err(dir))?;
        let pgdata = dir.join("pg");
        let password_file = dir.join("pg.password");
        let mut cluster =
            EmbeddedCluster { pgdata, bin_dir, port: 0, password: String::new(), service_user, launched: false };
        if let Some(user) = &cluster.service_user {
            cluster.check_reachable(user, &dir)?;
        }
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init(&password_file)?;
        }
        cluster.password = fs::read_to_string(&password_file).map_err(io_err(&password_file))?.trim().to_string();
        match cluster.running_port() {
            Some(port) => {
                tracing::info!(port, pgdata = %cluster.pgdata.display(), "adopting running embedded PostgreSQL");
                cluster.port = port;
            }
            None => {
                cluster.remove_stale_pid();
                cluster.port = port_for(&dir.join("pg.port")).map_err(io_err(&dir))?;
                cluster.launch(&dir.join("pg.log"))?;
                cluster.launched = true;
            }
        }
        Ok(cluster)
    }

    /// Connection URL for `database` as the cluster's superuser over the cluster's Unix socket
    /// (inside its private directory): on a busy ingest the loopback TCP stack cost both
    /// processes more CPU than the socket does.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@localhost:{}/{database}?host={}",
            self.password,
            self.port,
            percent_encoded(&self.pgdata.display().to_string())
        )
    }

    /// Whether this handle started the server (as opposed to adopting one already running,
    /// e.g. the demo's while a CLI command runs beside it).
    pub fn launched(&self) -> bool {
        self.launched
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Fast shutdown: active transactions are rolled back, everything committed is on disk.
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let out = self.run_as_service(
            Command::new(pg_ctl).arg("-D").arg(&self.pgdata).args(["-m", "fast", "-w", "-t", "60", "stop"]),
        )?;
        check("pg_ctl stop", &out)
    }

    fn init(&self, password_file: &Path) -> Result<(), EmbeddedError> {
        let parent = self.pgdata.parent().expect("pgdata has a parent");
        let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect();
        // The password is readable by cctrack's own user only.
        write_private(password_file, &password)?;
        fs::create_dir_all(&self.pgdata).map_err(io_err(&self.pgdata))?;
        fs::set_permissions(&self.pgdata, fs::Permissions::from_mode(0o700)).map_err(io_err(&self.pgdata))?;
        // initdb reads the password from a file the service user can read; it lives inside the
        // (private) cluster directory only for the duration of initdb.
        let pwfile = parent.join(".initdb.pw");
        write_private(&pwfile, &password)?;
        if let Some(user) = &self.service_user {
            chown(&self.pgdata, user)?;
            chown(&pwfile, user)?;
        }
        let out = self.run_as_service(
            Command::new(self.bin_dir.join("initdb"))
                .arg("-D")
                .arg(&self.pgdata)
                .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale", "-A", "scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        let _ = fs::remove_file(&pwfile);
        check("initdb", &out?)?;
        let conf = self.pgdata.join("postgresql.conf");
        let mut f = fs::OpenOptions::new().append(true).open(&conf).map_err(io_err(&conf))?;
        writeln!(
            f,
            "\n# cctrack embedded cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 200\nshared_buffers = 256MB\nlogging_collector = off",
            self.pgdata.display()
        )
        .map_err(io_err(&conf))?;
        Ok(())
    }

    fn launch(&self, log: &Path) -> Result<(), EmbeddedError> {
        if let Some(user) = &self.service_user {
            // The log file lives beside the cluster and must be writable by the server.
            if !log.exists() {
                fs::write(log, b"").map_err(io_err(log))?;
            }
            chown(log, user)?;
        }
        let out = self.run_as_service(
            Command::new(self.bin_dir.join("pg_ctl"))
                .arg("-D")
                .arg(&self.pgdata)
                .arg("-l")
                .arg(log)
                .args(["-w", "-t", "120", "-o"])
                .arg(format!(
                    "-p {} {}",
                    self.port,
                    TUNING.iter().map(|(k, v)| format!("-c {k}={v}")).collect::<Vec<_>>().join(" ")
                ))
                .arg("start"),
        )?;
        check("pg_ctl start", &out).map_err(|e| match e {
            EmbeddedError::Command { action, status, stderr } => {
                EmbeddedError::Command { action, status, stderr: format!("{stderr} (see {})", log.display()) }
            }
            other => other,
        })
    }

    /// The port of a server already running on this cluster, from `postmaster.pid` (line 4),
    /// if `pg_ctl status` confirms it is alive.
    fn running_port(&self) -> Option<u16> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let contents = fs::read_to_string(&pid_file).ok()?;
        let out = self
            .run_as_service(Command::new(self.bin_dir.join("pg_ctl")).arg("-D").arg(&self.pgdata).arg("status"))
            .ok()?;
        if !out.status.success() {
            return None;
        }
        contents.lines().nth(3)?.trim().parse().ok()
    }

    /// A `postmaster.pid` whose server is gone (cctrack or the machine crashed). PostgreSQL would
    /// usually recover by itself, but not when the recorded PID was reused by another process.
    fn remove_stale_pid(&self) {
        let pid_file = self.pgdata.join("postmaster.pid");
        if pid_file.exists() {
            tracing::warn!(path = %pid_file.display(), "removing stale postmaster.pid left by a crash");
            let _ = fs::remove_file(pid_file);
        }
    }

    fn check_reachable(&self, user: &str, dir: &Path) -> Result<(), EmbeddedError> {
        let out =
            Command::new("runuser").args(["-u", user, "--", "test", "-x"]).arg(dir).output().map_err(io_err(dir))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedError::Unreachable { user: user.to_string(), dir: dir.to_path_buf() })
        }
    }

    fn run_as_service(&self, cmd: &mut Command) -> Result<Output, EmbeddedError> {
        let program = PathBuf::from(cmd.get_program());
        let mut wrapped = match &self.service_user {
            Some(user) => {
                let mut w = Command::new("runuser");
                w.args(["-u", user, "--"]).arg(cmd.get_program()).args(cmd.get_args());
                // The server must not inherit the caller's working directory (root's may be
                // unreadable to the service user).
                w.current_dir("/");
                w
            }
            None => {
                let mut w = Command::new(cmd.get_program());
                w.args(cmd.get_args());
                w
            }
        };
        // Its own process group: a Ctrl-C in the terminal (or `timeout`) signals cctrack, which
        // then stops the database in order, instead of hitting pg_ctl and the server directly.
        wrapped.process_group(0).output().map_err(io_err(&program))
    }
}

fn check(action: &str, out: &Output) -> Result<(), EmbeddedError> {
    if out.status.success() {
        return Ok(());
    }
    Err(EmbeddedError::Command {
        action: action.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn find_server_binaries() -> Result<PathBuf, EmbeddedError> {
    let dir = std::env::var_os("CCTRACK_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/postgresql/{PG_MAJOR}/bin")));
    if dir.join("postgres").exists() && dir.join("initdb").exists() {
        Ok(dir)
    } else {
        Err(EmbeddedError::ServerMissing(dir))
    }
}

fn check_postgis() -> Result<(), EmbeddedError> {
    let control = PathBuf::from(format!("/usr/share/postgresql/{PG_MAJOR}/extension/postgis.control"));
    if control.exists() {
        Ok(())
    } else {
        Err(EmbeddedError::PostgisMissing(control))
    }
}

/// `Some("postgres")` when running as root, since the server refuses to run as root.
fn service_user() -> Result<Option<String>, EmbeddedError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::env::var("CCTRACK_PG_OS_USER").unwrap_or_else(|_| "postgres".to_string());
    if lookup_user(&name).is_none() {
        return Err(EmbeddedError::NoServiceUser(name));
    }
    Ok(Some(name))
}

fn lookup_user(name: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy the ids out
    // immediately and this is only called from start-up code.
    let pw = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

fn chown(path: &Path, user: &str) -> Result<(), EmbeddedError> {
    let (uid, gid) = lookup_user(user).ok_or_else(|| EmbeddedError::NoServiceUser(user.to_string()))?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err(path))
}

fn write_private(path: &Path, contents: &str) -> Result<(), EmbeddedError> {
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err(path))?;
    f.write_all(contents.as_bytes()).map_err(io_err(path))
}

fn free_loopback_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The port the cluster used last time if it is still free, else a new free one (remembered in
/// `file`). A restarted database keeps its address, so running servers reconnect by themselves.
fn port_for(file: &Path) -> std::io::Result<u16> {
    let previous = fs::read_to_string(file).ok().and_then(|s| s.trim().parse::<u16>().ok());
    let port = match previous {
        Some(p) if TcpListener::bind(("127.0.0.1", p)).is_ok() => p,
        _ => free_loopback_port()?,
    };
    fs::write(file, port.to_string())?;
    Ok(port)
}

/// `s` fit for a URL's query value (a data directory may hold spaces, `&` or `#`).
fn percent_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_encoded;
    use sqlx::postgres::PgConnectOptions;

    #[test]
    fn a_socket_directory_with_spaces_and_ampersands_survives_the_url() {
        let dir = "/srv/cctrack data/a&b#c/pg";
        let url = format!("postgres://postgres:pw@localhost:5433/cctrack?host={}", percent_encoded(dir));
        let options: PgConnectOptions = url.parse().unwrap();
        assert_eq!(options.get_socket().map(|p| p.to_str().unwrap()), Some(dir));
        assert_eq!(options.get_port(), 5433);
        assert_eq!(options.get_database(), Some("cctrack"));
    }
}
