//! `cargo xtask bench http`: the end-to-end HTTP benchmark. Builds the release `drip`
//! binary and the `http_bench` example of drip-server, which spawns the binary and drives
//! it over loopback against baselines measured in the same run on the same disk — on
//! SQLite + local disk, then on PostgreSQL + local disk when a PostgreSQL server is there
//! (`DATABASE_URL`, else 127.0.0.1:5432) — writes the table to docs/benchmarks.md and
//! prints the summary line (of the SQLite run, the embedded defaults the targets are for).

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::{capture, cargo, field, machine, reachable, root, run, write_section};

/// The issue-11 targets, for the table: (what, target).
const TARGETS: [(&str, &str); 6] = [
    ("small uploads vs durable small files", "≥ 0.60×, p99 ≤ 50 ms"),
    ("1 GiB upload vs write + fdatasync", "≥ 0.95×"),
    ("1 GiB download vs plain streaming server", "≥ 0.60×"),
    ("small cached downloads vs plain server", "≥ 2× the first run's 0.16× (so ≥ 0.32×)"),
    ("listing a 1,000-file page", "≤ 10 ms"),
    ("peak RSS (64 MiB cache)", "≤ 128 MiB"),
];

/// The numbers of one run of the example.
struct Run {
    output: String,
}

impl Run {
    fn value(&self, name: &str, key: &str) -> Result<f64> {
        let text = self.text(name, key)?;
        text.parse().with_context(|| format!("{key}={text} of {name} is not a number"))
    }

    fn text(&self, name: &str, key: &str) -> Result<String> {
        self.output
            .lines()
            .filter(|l| l.starts_with("http_result") && field(l, "name") == Some(name))
            .find_map(|l| field(l, key).map(str::to_owned))
            .with_context(|| format!("no {key} for {name} in the benchmark's output"))
    }

    /// The rows of this run's stack.
    fn rows(&self, stack: &str) -> Result<String> {
        let v = |name: &str, key: &str| self.value(name, key);
        let (base, up) = (v("small_baseline", "per_s")?, v("small_upload", "per_s")?);
        let shared = v("small_baseline_shared", "per_s")?;
        let (write, plain) = (v("big_baseline", "write_mb_s")?, v("big", "plain_download_mb_s")?);
        let (big_up, big_down) = (v("big", "upload_mb_s")?, v("big", "download_mb_s")?);
        Ok(format!(
            "| {stack}: 4 KiB uploads, 16 clients | {up:.0} files/s, p50 {:.1} ms, p99 {:.1} ms | {base:.0} files/s durable \
             (write, fsync, rename, dir fsync; 16 threads, a directory each), p99 {:.1} ms | {:.2} |\n\
             | {stack}: the same, one directory for all | – | {shared:.0} files/s, p99 {:.1} ms (as one object directory) | {:.2} |\n\
             | {stack}: 4 KiB downloads, cache misses | {:.0} files/s, p99 {:.1} ms | – | – |\n\
             | {stack}: 4 KiB downloads, cache hits | {:.0} files/s, p99 {:.1} ms | {:.0} files/s plain HTTP server \
             (axum, keep-alive, the body from memory) | {:.2} |\n\
             | {stack}: 1 GiB upload (durable) | {big_up:.0} MB/s | {write:.0} MB/s `std::fs` write + fdatasync | {:.2} |\n\
             | {stack}: 1 GiB download | {big_down:.0} MB/s | {plain:.0} MB/s plain streaming HTTP server (no crypto) | {:.2} |\n\
             | {stack}: listing a 1,000-file page | {:.1} ms (median of 20) | – | – |\n\
             | {stack}: mixed load (upload, download, list, delete; 16 clients) | {:.0} requests/s; RSS {:.0} MiB at its \
             start, {:.0} MiB at its end (tenths: {}) | – | – |\n\
             | {stack}: server RSS | fresh {:.0} MiB, peak {:.0} MiB, final {:.0} MiB | – | – |\n",
            v("small_upload", "p50_ms")?,
            v("small_upload", "p99_ms")?,
            v("small_baseline", "p99_ms")?,
            up / base,
            v("small_baseline_shared", "p99_ms")?,
            up / shared,
            v("small_download_miss", "per_s")?,
            v("small_download_miss", "p99_ms")?,
            v("small_download_hit", "per_s")?,
            v("small_download_hit", "p99_ms")?,
            v("small_download_plain", "per_s")?,
            v("small_download_hit", "per_s")? / v("small_download_plain", "per_s")?,
            big_up / write,
            big_down / plain,
            v("list_page", "p50_ms")?,
            v("mixed", "per_s")?,
            v("mixed", "rss_start_mib")?,
            v("mixed", "rss_end_mib")?,
            self.text("mixed", "rss_tenths_mib")?,
            v("rss", "fresh_mib")?,
            v("rss", "peak_mib")?,
            v("rss", "final_mib")?,
        ))
    }

    fn summary(&self) -> Result<String> {
        let v = |name: &str, key: &str| self.value(name, key);
        Ok(format!(
            "http small_up_ratio={:.2} small_up_p99_ms={:.0} small_hit_ratio={:.2} big_up_ratio={:.2} \
             big_down_ratio={:.2} list_1000_ms={:.1} rss_mib={:.0}",
            v("small_upload", "per_s")? / v("small_baseline", "per_s")?,
            v("small_upload", "p99_ms")?,
            v("small_download_hit", "per_s")? / v("small_download_plain", "per_s")?,
            v("big", "upload_mb_s")? / v("big_baseline", "write_mb_s")?,
            v("big", "download_mb_s")? / v("big", "plain_download_mb_s")?,
            v("list_page", "p50_ms")?,
            v("rss", "peak_mib")?,
        ))
    }
}

/// The PostgreSQL server to run against, if there is one.
fn postgres() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if reachable("127.0.0.1:5432") => {
            Some("postgres://postgres@127.0.0.1:5432/postgres".to_owned())
        }
        Err(_) => None,
    }
}

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let flag = |name: &str, default: &'static str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, String::as_str)
            .to_owned()
    };
    let seconds = flag("--seconds", "10");
    let mixed = flag("--mixed-seconds", "60");
    let dir = root().join("target").join("bench-http");
    std::fs::create_dir_all(&dir)?;
    let mut build = cargo();
    build.args(["build", "--release", "-q", "-p", "drip-server", "--bin", "drip", "--example", "http_bench"]);
    run(build)?;
    let example = |postgres: Option<&str>| -> Result<Run> {
        let mut bench = Command::new(root().join("target/release/examples/http_bench"));
        bench.arg("--drip").arg(root().join("target/release/drip")).arg("--dir").arg(&dir);
        bench.args(["--seconds", &seconds, "--mixed-seconds", &mixed]);
        if let Some(url) = postgres {
            bench.args(["--postgres", url]);
        }
        Ok(Run { output: capture(bench)? })
    };
    let sqlite = example(None)?;
    let mut rows = sqlite.rows("SQLite")?;
    let on_postgres = postgres();
    if let Some(url) = &on_postgres {
        rows.push_str(&example(Some(url))?.rows("PostgreSQL")?);
    }
    let summary = sqlite.summary()?;
    let targets: String = TARGETS.iter().map(|(what, target)| format!("| {what} | {target} |\n")).collect();
    let body = format!(
        "## HTTP throughput (issue 11)\n\n\
         Command: `cargo xtask bench http` (`--seconds {seconds}` per small-file phase, \
         `--mixed-seconds {mixed}` of mixed load at the end); {machine}. \
         The release `drip` binary on SQLite + local disk (the embedded defaults){pg}, fsync on, default \
         logging to a discarded stderr; 16 clients with one connection each (16 users: the per-user \
         transfer cap is 4), driven over loopback from the same process as the baselines, on the same disk. \
         Each stack's baselines are measured again just before it.\n\n\
         | what | Drip | baseline | ratio |\n|---|---|---|---|\n{rows}\n\
         Targets (on SQLite + local disk):\n\n| what | target |\n|---|---|\n{targets}\n\
         Summary line (SQLite):\n\n```\n{summary}\n```\n",
        machine = machine(),
        pg = if on_postgres.is_some() {
            ", then PostgreSQL + local disk"
        } else {
            " (no PostgreSQL server was reachable)"
        },
    );
    write_section("http", &body)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{summary}");
    Ok(())
}
