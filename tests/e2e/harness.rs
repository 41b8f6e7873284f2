//! Spawns the real `drip` binary for one test: a fresh data directory, port 0, an
//! environment cleared of `DRIP_*` leftovers, the bound address read from the startup
//! banner on stdout, and SIGTERM-then-kill when the test is done. Also: a fresh PostgreSQL
//! database per test (dropped afterwards) for the production variant.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tempfile::TempDir;

/// The binary under test.
pub(crate) const DRIP: &str = env!("CARGO_BIN_EXE_drip");

/// What the binary prints once it accepts connections.
const BANNER: &str = "drip listening on http://";

/// How long the binary may take to start (it migrates and computes a reference hash).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of the binary's log shown when a test fails.
const LOG_TAIL: usize = 30;

/// Environment variables of the original deployment the configuration also honours; a
/// test never inherits them.
const FOREIGN_CONFIG_VARS: [&str; 3] = ["DATABASE_URL", "PORT", "GOOGLE_STORAGE_CREDENTIALS"];

/// A JWT secret for production settings (40+ characters).
pub(crate) const JWT_SECRET: &str = "e2e-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/// `drip` with a clean environment, run in `dir` (so no stray `./drip.toml` is read).
pub(crate) fn drip_command(dir: &Path) -> Command {
    let mut command = Command::new(DRIP);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("DRIP_") || FOREIGN_CONFIG_VARS.contains(&n)) {
            command.env_remove(&name);
        }
    }
    command.env("NO_COLOR", "1");
    // stderr goes to a file; `ops::logs_to_a_pipe_have_no_colour_escapes` checks that a
    // log is plain text without `NO_COLOR` too.
    command.current_dir(dir);
    command
}

/// A `k1:<base64 of 32 random bytes>` master key list.
pub(crate) fn random_master_keys() -> String {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).expect("random bytes");
    format!("k1:{}", STANDARD.encode(key))
}

/// How to start a binary.
#[derive(Debug, Default, Clone)]
pub(crate) struct Launch {
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
}

impl Launch {
    /// The embedded defaults: SQLite and local disk under a fresh data directory.
    pub(crate) fn embedded() -> Self {
        Self::default()
    }

    /// Adds an environment variable of the child.
    pub(crate) fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// The environment variables it sets (to run another `drip` command against the same
    /// stack).
    pub(crate) fn vars(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// Serves an existing data directory instead of a fresh one.
    pub(crate) fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// Starts `drip serve` and waits for its banner.
    pub(crate) async fn start(self) -> Server {
        let root = tempfile::Builder::new().prefix("drip-e2e-").tempdir().expect("a temporary directory");
        let data_dir = self.data_dir.clone().unwrap_or_else(|| root.path().join("data"));
        let log_path = root.path().join("drip.log");
        let mut log = std::fs::File::create(&log_path).expect("the log file");
        let mut command = drip_command(root.path());
        command
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0", "serve"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawning the drip binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, mut address_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let collected = Arc::clone(&lines);
        // Reads stdout to its end (so the child never blocks on a full pipe) and hands the
        // banner line over.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix(BANNER) {
                    let _ = address_tx.send(address.trim().to_owned());
                }
                collected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
            }
        });
        // Copies stderr to the log file line by line, announcing each line to `wait_for_log`.
        let stderr = child.stderr.take().expect("piped stderr");
        let logged = Logged::default();
        let announced = logged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                announced.push(line);
            }
        });
        let mut server =
            Server { child: Some(child), addr: None, _root: root, data_dir, log_path, stdout: lines, logged };
        match tokio::time::timeout(START_TIMEOUT, address_rx.recv()).await {
            Ok(Some(address)) => {
                server.addr =
                    Some(address.parse().unwrap_or_else(|e| panic!("bad banner address {address:?}: {e}")));
            }
            Ok(None) => {
                let status = server.child.as_mut().and_then(|c| c.wait().ok());
                panic!("drip exited before listening ({status:?}); stderr:\n{}", server.log());
            }
            Err(_) => {
                panic!("drip did not print its banner within {START_TIMEOUT:?}; stderr:\n{}", server.log())
            }
        }
        // The rest of the banner (database, storage, data dir) follows the address line.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !server.stdout().iter().any(|l| l.trim_start().starts_with("data dir:"))
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server
    }
}

/// A running `drip serve`; stopped (SIGTERM, then kill) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Option<Child>,
    addr: Option<SocketAddr>,
    /// Holds the data directory and the log until the server is gone.
    _root: TempDir,
    data_dir: PathBuf,
    log_path: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    logged: Logged,
}

/// The stderr lines of a server so far, and a signal for each new one.
#[derive(Debug, Clone)]
struct Logged {
    lines: Arc<Mutex<Vec<String>>>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Logged {
    fn default() -> Self {
        Self { lines: Arc::default(), count: Arc::new(tokio::sync::watch::Sender::new(0)) }
    }
}

impl Logged {
    fn push(&self, line: String) {
        let count = {
            let mut lines = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            lines.push(line);
            lines.len()
        };
        self.count.send_replace(count);
    }
}

impl Server {
    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr.expect("started")
    }

    /// `http://addr` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// `ws://addr` + `path`.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the embedded local store keeps objects.
    pub(crate) fn objects_dir(&self) -> PathBuf {
        self.data_dir.join("objects")
    }

    /// Waits until the lines the binary logged to stderr satisfy `done` (checked after each
    /// new line): the event a black-box test waits for when the binary works in the
    /// background (a job done, an upload reclaimed). Panics naming `what` after `limit`.
    pub(crate) async fn wait_for_log(&self, what: &str, limit: Duration, done: impl Fn(&[String]) -> bool) {
        let mut count = self.logged.count.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let lines = self.logged.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            if done(&lines) {
                return;
            }
            if tokio::time::timeout_at(deadline, count.changed()).await.is_err() {
                panic!("drip did not log {what} within {limit:?}; stderr:\n{}", lines.join("\n"));
            }
        }
    }

    /// Waits until `done` holds, checked after each line any of `servers` logs (what
    /// several nodes do between them). Panics naming `what` after `limit`.
    pub(crate) async fn wait_for_any_log(
        servers: &[Server],
        what: &str,
        limit: Duration,
        done: impl Fn() -> bool,
    ) {
        let mut counts: Vec<_> = servers.iter().map(|s| s.logged.count.subscribe()).collect();
        let deadline = tokio::time::Instant::now() + limit;
        while !done() {
            let changed = futures::future::select_all(counts.iter_mut().map(|c| Box::pin(c.changed())));
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("the nodes did not log {what} within {limit:?}");
            }
        }
    }

    /// How many stderr lines logged so far contain every one of `parts`.
    pub(crate) fn logged(&self, parts: &[&str]) -> usize {
        let lines = self.logged.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::logged_lines(&lines, parts)
    }

    /// How many of `lines` contain every one of `parts`.
    pub(crate) fn logged_lines(lines: &[String], parts: &[&str]) -> usize {
        lines.iter().filter(|l| parts.iter().all(|p| l.contains(p))).count()
    }

    /// What the binary wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// What the binary wrote to stdout so far.
    pub(crate) fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Kills the process with SIGKILL (a crash: nothing runs on the way out) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL");
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit.
    pub(crate) async fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }
}

/// `kill -<name> <pid>` (the workspace forbids the `unsafe` a direct `libc::kill` needs).
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
            let _ = writeln!(std::io::stderr(), "--- last lines of drip's stderr ---\n{tail}");
        }
        if matches!(child.try_wait(), Ok(None)) {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The PostgreSQL server tests use when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static DATABASES: AtomicU64 = AtomicU64::new(0);

/// A database of its own on the test server, dropped (`WITH (FORCE)`) when this is.
#[derive(Debug)]
pub(crate) struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// Creates a uniquely named database; `None` after printing `SKIPPED` when no server
    /// answers. Panics in that case when `CI` is set.
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let connected = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await;
        let why = match connected {
            Ok(Ok(mut conn)) => {
                let name = format!(
                    "drip_e2e_{}_{}_{}",
                    std::process::id(),
                    DATABASES.fetch_add(1, Ordering::Relaxed),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos())
                );
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("creating the test database");
                let _ = conn.close().await;
                let url = drip_testkit::with_database(&admin_url, &name);
                return Some(Self { admin_url, name, url });
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "connection timed out".to_owned(),
        };
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL not reachable under CI: {why}");
        let _ = writeln!(std::io::stderr(), "SKIPPED: PostgreSQL not reachable ({why})");
        None
    }

    /// The URL of the fresh database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which must not be blocked: a thread with a
        // runtime of its own does the work.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await.map_err(|e| e.to_string())?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            let _ = writeln!(std::io::stderr(), "warning: could not drop test database {}: {e}", self.name);
        }
    }
}
