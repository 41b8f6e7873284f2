//! `cargo xtask bench http`: the end-to-end HTTP benchmark. Builds the release `drip`
//! binary and the `http_bench` example of drip-server, which spawns the binary (SQLite +
//! local disk) and drives it over loopback against baselines measured in the same run on
//! the same disk; writes the table to docs/benchmarks.md and prints the summary line.

use anyhow::{Context as _, Result};

use crate::{capture, cargo, field, machine, root, run, write_section};

/// The issue-11 targets, for the table: (what, target).
const TARGETS: [(&str, &str); 6] = [
    ("small uploads vs durable small files", "≥ 0.60×, p99 ≤ 50 ms"),
    ("1 GiB upload vs write + fdatasync", "≥ 0.95×"),
    ("1 GiB download vs plain streaming server", "≥ 0.60×"),
    ("small cached downloads", "≥ 2× the 2026-11 rate (8,200/s)"),
    ("listing a 1,000-file page", "≤ 10 ms"),
    ("peak RSS (64 MiB cache)", "≤ 128 MiB"),
];

pub(crate) fn bench(args: &[String]) -> Result<()> {
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map_or("10", String::as_str)
        .to_owned();
    let dir = root().join("target").join("bench-http");
    std::fs::create_dir_all(&dir)?;
    let mut build = cargo();
    build.args(["build", "--release", "-q", "-p", "drip-server", "--bin", "drip", "--example", "http_bench"]);
    run(build)?;
    let mut bench = std::process::Command::new(root().join("target/release/examples/http_bench"));
    bench.arg("--drip").arg(root().join("target/release/drip")).arg("--dir").arg(&dir);
    bench.args(["--seconds", &seconds]);
    let output = capture(bench)?;
    let value = |name: &str, key: &str| -> Result<f64> {
        output
            .lines()
            .filter(|l| l.starts_with("http_result") && field(l, "name") == Some(name))
            .find_map(|l| field(l, key)?.parse().ok())
            .with_context(|| format!("no {key} for {name} in the benchmark's output"))
    };
    let small_base = value("small_baseline", "per_s")?;
    let small_up = value("small_upload", "per_s")?;
    let small_up_p50 = value("small_upload", "p50_ms")?;
    let small_up_p99 = value("small_upload", "p99_ms")?;
    let base_p99 = value("small_baseline", "p99_ms")?;
    let miss = value("small_download_miss", "per_s")?;
    let miss_p99 = value("small_download_miss", "p99_ms")?;
    let hit = value("small_download_hit", "per_s")?;
    let hit_p99 = value("small_download_hit", "p99_ms")?;
    let list_ms = value("list_page", "p50_ms")?;
    let big_write = value("big_baseline", "write_mb_s")?;
    let (up, down, plain) =
        (value("big", "upload_mb_s")?, value("big", "download_mb_s")?, value("big", "plain_download_mb_s")?);
    let (fresh, peak, last) =
        (value("rss", "fresh_mib")?, value("rss", "peak_mib")?, value("rss", "final_mib")?);
    let summary = format!(
        "http small_up_ratio={:.2} small_up_p99_ms={small_up_p99:.0} big_up_ratio={:.2} big_down_ratio={:.2} \
         list_1000_ms={list_ms:.1} rss_mib={peak:.0}",
        small_up / small_base,
        up / big_write,
        down / plain,
    );
    let targets: String = TARGETS.iter().map(|(what, target)| format!("| {what} | {target} |\n")).collect();
    let body = format!(
        "## HTTP throughput (issue 11)\n\n\
         Command: `cargo xtask bench http` (`--seconds {seconds}` per small-file phase); {machine}. \
         The release `drip` binary on the embedded defaults (SQLite + local disk, fsync on, default \
         logging to a discarded stderr), 16 clients with one connection each (16 users: the per-user \
         transfer cap is 4), driven over loopback from the same process as the baselines, on the same disk.\n\n\
         | what | Drip | baseline | ratio |\n|---|---|---|---|\n\
         | 4 KiB uploads, 16 clients | {small_up:.0} files/s, p50 {small_up_p50:.1} ms, p99 {small_up_p99:.1} ms | \
         {small_base:.0} files/s durable (write, fsync, rename, dir fsync; 16 threads), p99 {base_p99:.1} ms | {:.2} |\n\
         | 4 KiB downloads, cache misses | {miss:.0} files/s, p99 {miss_p99:.1} ms | – | – |\n\
         | 4 KiB downloads, cache hits | {hit:.0} files/s, p99 {hit_p99:.1} ms | – | – |\n\
         | 1 GiB upload (durable) | {up:.0} MB/s | {big_write:.0} MB/s `std::fs` write + fdatasync | {:.2} |\n\
         | 1 GiB download | {down:.0} MB/s | {plain:.0} MB/s plain streaming HTTP server (no crypto) | {:.2} |\n\
         | listing a 1,000-file page | {list_ms:.1} ms (median of 20) | – | – |\n\
         | server RSS | fresh {fresh:.0} MiB, peak {peak:.0} MiB, final {last:.0} MiB | – | – |\n\n\
         Targets:\n\n| what | target |\n|---|---|\n{targets}\n\
         Summary line:\n\n```\n{summary}\n```\n",
        small_up / small_base,
        up / big_write,
        down / plain,
        machine = machine(),
    );
    write_section("http", &body)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{summary}");
    Ok(())
}
