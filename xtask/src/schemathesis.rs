//! The schemathesis step of `cargo xtask test`: installs a pinned schemathesis from PyPI
//! into a venv under `target/xtask/`, spawns the debug `drip` binary on the embedded
//! defaults in a scratch directory, registers and logs in two users through the API, and runs
//! schemathesis against the served `/api/v1/openapi.json` with a fixed seed and the
//! checks of `xtask/schemathesis.toml`: any 5xx, undocumented status, content type or
//! body that does not match its schema fails the step. `DRIP_SKIP_SCHEMATHESIS=1` skips it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run, venv};

/// The schemathesis release the step installs (reinstalled when the venv holds another).
const VERSION: &str = "4.32.5";

/// The seed of every run, so that a failure found in CI replays locally.
const SEED: &str = "20261201";

/// Test cases per operation and phase: enough to reach each documented refusal, small
/// enough to keep the run within a few minutes on two cores.
const MAX_EXAMPLES: &str = "200";

/// The users schemathesis acts as.
const USERS: [&str; 2] = ["alice", "bob"];

/// What the binary prints once it accepts connections.
const BANNER: &str = "drip listening on http://";

/// How long the binary may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables of the original deployment the configuration also honours; the
/// spawned binary never inherits them (nor any `DRIP_*`).
const FOREIGN_CONFIG_VARS: [&str; 3] = ["DATABASE_URL", "PORT", "GOOGLE_STORAGE_CREDENTIALS"];

/// `var` when set, else `default`: `DRIP_SCHEMATHESIS_SEED` and
/// `DRIP_SCHEMATHESIS_EXAMPLES` explore beyond the fixed run.
fn setting(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Runs the step unless `DRIP_SKIP_SCHEMATHESIS` is set.
pub(crate) fn check() -> Result<()> {
    if std::env::var_os("DRIP_SKIP_SCHEMATHESIS").is_some_and(|v| !v.is_empty() && v != "0") {
        eprintln!("xtask: DRIP_SKIP_SCHEMATHESIS is set; skipping the schemathesis run");
        return Ok(());
    }
    let started = Instant::now();
    let work = root().join("target").join("xtask");
    let schemathesis = install(&work.join("schemathesis-venv")).context(
        "installing schemathesis needs python3 with its venv module and PyPI; DRIP_SKIP_SCHEMATHESIS=1 skips the step",
    )?;
    let mut build = cargo();
    build.args(["build", "-q", "-p", "drip-server", "--bin", "drip"]);
    run(build)?;
    let server = Server::start(&work.join(format!("schemathesis-run-{}", std::process::id())))?;
    let auth = server.dir.join("auth.json");
    write_auth(&auth, server.addr)?;
    let mut cmd = Command::new(schemathesis);
    cmd.current_dir(&server.dir)
        .env("SCHEMATHESIS_HOOKS", root().join("xtask").join("schemathesis_hooks.py"))
        .arg("--config-file")
        .arg(root().join("xtask").join("schemathesis.toml"))
        .arg("run")
        .arg(format!("http://{}/api/v1/openapi.json", server.addr))
        .arg("--url")
        .arg(format!("http://{}", server.addr))
        .arg("--auth-wfc")
        .arg(&auth)
        .arg("--seed")
        .arg(setting("DRIP_SCHEMATHESIS_SEED", SEED))
        .arg("--max-examples")
        .arg(setting("DRIP_SCHEMATHESIS_EXAMPLES", MAX_EXAMPLES))
        // One worker: hypothesis' lambda descriptions hit a CPython 3.11 `ast` race
        // ("AST constructor recursion depth mismatch") when workers run in threads.
        .args(["--workers", "1", "--generation-database", "none", "--no-color"])
        .args(["--request-timeout", "30", "--suppress-health-check", "all"]);
    let result = run(cmd);
    let log = server.log();
    drop(server);
    if result.is_err() {
        eprintln!("xtask: last lines of drip's stderr:\n{}", tail(&log, 40));
    }
    eprintln!("xtask: schemathesis step took {:.0?}", started.elapsed());
    result
}

/// The venv's `schemathesis`, installing the pinned version when it is missing or another.
fn install(venv: &Path) -> Result<PathBuf> {
    venv::ensure(venv, "schemathesis", "", VERSION)?;
    Ok(venv.join("bin").join("schemathesis"))
}

/// A `drip serve` on the embedded defaults in a scratch directory; stopped (SIGTERM, then
/// kill) and its directory removed when dropped, whatever happened.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    pub(crate) fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, &[])
    }

    /// The same with `env` set (configuration of the scenario at hand).
    pub(crate) fn start_with(dir: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
        let mut command = Command::new(target.join("debug").join("drip"));
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("DRIP_") || FOREIGN_CONFIG_VARS.contains(&n)) {
                command.env_remove(&name);
            }
        }
        let log = std::fs::File::create(dir.join("drip.log"))?;
        command.envs(env.iter().copied());
        command
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", "127.0.0.1:0", "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().context("spawning the drip binary")?;
        let stdout = child.stdout.take().context("the binary's stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so that the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix(BANNER) {
                    let _ = tx.send(address.trim().to_owned());
                }
            }
        });
        let mut server = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), dir: dir.to_owned() };
        let address = rx
            .recv_timeout(START_TIMEOUT)
            .with_context(|| format!("drip did not start:\n{}", tail(&server.log(), 40)))?;
        server.addr = address.parse().with_context(|| format!("bad banner address {address:?}"))?;
        eprintln!("xtask: drip listening on {} (data in {})", server.addr, dir.display());
        Ok(server)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("drip.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // `kill -TERM`: the workspace forbids the `unsafe` a direct `libc::kill` needs.
            let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Registers `username` and logs them in through the API; their access token.
fn log_in(addr: SocketAddr, username: &str) -> Result<String> {
    let credentials = serde_json::json!({ "username": username, "password": "schemathesis-password" });
    let mut registration = credentials.clone();
    registration["email"] = format!("{username}@example.com").into();
    let (status, _) = post_json(addr, "/api/v1/users", &registration)?;
    if status != 201 {
        bail!("registering {username} answered {status}");
    }
    let (status, session) = post_json(addr, "/api/v1/sessions", &credentials)?;
    if status != 200 {
        bail!("logging in {username} answered {status}");
    }
    session["access_token"].as_str().map(str::to_owned).context("no access_token in the login answer")
}

/// Writes the users schemathesis acts as, a Web Fuzzing Commons auth document (each user's
/// `Authorization: Bearer` header): two, so that `object_level_authorization` can replay
/// one user's reads as the other. The file lives in the run's directory, removed after.
fn write_auth(path: &Path, addr: SocketAddr) -> Result<()> {
    let mut users = Vec::new();
    for name in USERS {
        let token = log_in(addr, name)?;
        users.push(serde_json::json!({
            "name": name,
            "fixedHeaders": [{ "name": "Authorization", "value": format!("Bearer {token}") }],
        }));
    }
    let document = serde_json::json!({ "auth": users });
    std::fs::write(path, document.to_string()).with_context(|| format!("writing {}", path.display()))
}

/// A JSON `POST` over HTTP/1.1 (`Connection: close`): the status and the JSON body.
fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Result<(u16, serde_json::Value)> {
    let body = body.to_string();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("a malformed HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null)))
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
