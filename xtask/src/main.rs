//! `cargo xtask`: the project's task runner — tests with their services, lints, benchmarks.

use std::env;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};

mod postgres;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test [args...]        run every test of the workspace (starts PostgreSQL if none is reachable);
                        extra args go to `cargo nextest run` (or `cargo test`)
  lint                  cargo fmt --check, cargo clippy -D warnings, cargo deny (licenses, bans, sources)
  bench repo [--quick]  repository latency on SQLite and PostgreSQL (10k/100k/1M media)
  bench transfer        upload/download throughput against a plain std::fs baseline
  with-pg <cmd> [args]  run a command with DATABASE_URL pointing at a throwaway PostgreSQL cluster";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("lint") => lint(),
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

fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// Runs every test with PostgreSQL provided: `DATABASE_URL` if set, else the server on
/// 127.0.0.1:5432 if reachable, else a throwaway cluster under `target/` (stopped after).
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
    let mut cmd = cargo();
    if has_cargo_subcommand("nextest") {
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
    }
    cmd.args(extra);
    if !database_url.is_empty() {
        cmd.env("DATABASE_URL", &database_url);
    }
    run(cmd)?;
    if has_cargo_subcommand("nextest") && extra.is_empty() {
        // nextest does not run doctests.
        let mut doc = cargo();
        doc.args(["test", "--workspace", "--doc"]);
        run(doc)?;
    }
    Ok(())
}

/// Runs a command against a throwaway cluster (also how the fallback of `test` is checked).
fn with_pg(args: &[String]) -> Result<()> {
    let (program, rest) = args.split_first().context("with-pg needs a command")?;
    let cluster = postgres::Cluster::start(&root().join("target").join("xtask-pg"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest).env("DATABASE_URL", cluster.url());
    run(cmd)
}

/// Formatting, clippy with warnings denied, and cargo-deny's offline checks.
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
    run(deny)
}

fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("repo") => bench_repo(&args[1..]),
        Some("transfer") => bench_transfer(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}

fn bench_repo(_args: &[String]) -> Result<()> {
    bail!("the repository benchmark is not wired yet")
}

fn bench_transfer(_args: &[String]) -> Result<()> {
    bail!("the transfer benchmark is not wired yet")
}
