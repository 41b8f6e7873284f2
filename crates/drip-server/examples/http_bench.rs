//! End-to-end HTTP benchmark (run by `cargo xtask bench http`): spawns the release `drip`
//! binary on the embedded defaults (SQLite + local disk) in a directory of the disk under
//! test, drives it over loopback from in-process clients (one connection per client), and
//! measures in the same run the baselines on the same disk: durable small files written
//! by threads (write, fsync, rename, directory fsync), a `std::fs` write + fdatasync of a
//! big file, and a plain streaming HTTP server (no crypto) serving that file. Prints
//! `http_result name=... key=value ...` lines for the xtask to compare.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SMALL: usize = 4096;
const BLOCK: usize = 1024 * 1024;

struct Args {
    drip: PathBuf,
    dir: PathBuf,
    clients: usize,
    seconds: u64,
    big_bytes: u64,
    /// Run on PostgreSQL (a fresh database on this server) instead of SQLite.
    postgres: Option<String>,
    /// The server's `DRIP_LOG` (default: its own default, INFO access lines).
    log: Option<String>,
    /// Seconds of the mixed phase at the end (0: none): uploads, downloads, listings and
    /// deletes interleaved, with the server's RSS sampled along the way.
    mixed_seconds: u64,
}

fn args() -> Result<Args> {
    let mut args = Args {
        drip: PathBuf::from("target/release/drip"),
        dir: std::env::temp_dir(),
        clients: 16,
        seconds: 10,
        big_bytes: 1 << 30,
        postgres: None,
        log: None,
        mixed_seconds: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--drip" => args.drip = PathBuf::from(value()?),
            "--dir" => args.dir = PathBuf::from(value()?),
            "--clients" => args.clients = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--big-bytes" => args.big_bytes = value()?.parse()?,
            "--postgres" => args.postgres = Some(value()?),
            "--log" => args.log = Some(value()?),
            "--mixed-seconds" => args.mixed_seconds = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// Pseudo-random, incompressible bytes.
fn noise(len: usize, seed: u64) -> Bytes {
    Bytes::from(drip_testkit::pseudo_random(len, seed))
}

/// Latencies of a phase, and how many operations it completed.
#[derive(Default)]
struct Timings(Vec<Duration>);

impl Timings {
    fn merge(parts: Vec<Timings>) -> Self {
        let mut all: Vec<Duration> = parts.into_iter().flat_map(|t| t.0).collect();
        all.sort_unstable();
        Self(all)
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index].as_secs_f64() * 1000.0
    }

    fn line(&self, name: &str, elapsed: Duration) -> String {
        format!(
            "http_result name={name} ops={} per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
            self.0.len(),
            self.0.len() as f64 / elapsed.as_secs_f64(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99)
        )
    }
}

/// The baseline of durable small files: `clients` threads, each writing 4 KiB files as a
/// careful program would (temporary file, write, fsync, rename, fsync of the directory),
/// each into a directory of its own, or all into one (`shared`: as an object store on one
/// file system does).
fn durable_small_files(
    dir: &Path,
    clients: usize,
    run_for: Duration,
    shared: bool,
) -> Result<(Timings, Duration)> {
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|t| {
            let dir = if shared { dir.to_owned() } else { dir.join(format!("baseline-{t}")) };
            std::thread::spawn(move || -> std::io::Result<Timings> {
                std::fs::create_dir_all(&dir)?;
                let content = noise(SMALL, 7 + t as u64);
                let folder = std::fs::File::open(&dir)?;
                let mut timings = Timings::default();
                let mut n = 0u64;
                let start = Instant::now();
                while start.elapsed() < run_for {
                    let one = Instant::now();
                    let temporary = dir.join(format!(".{t}-{n}.tmp"));
                    let mut file = std::fs::File::create(&temporary)?;
                    file.write_all(&content)?;
                    file.sync_all()?;
                    std::fs::rename(&temporary, dir.join(format!("{t}-{n}")))?;
                    folder.sync_all()?;
                    timings.0.push(one.elapsed());
                    n += 1;
                }
                Ok(timings)
            })
        })
        .collect();
    let mut parts = Vec::new();
    for handle in handles {
        parts.push(handle.join().map_err(|_| "a baseline thread panicked")??);
    }
    Ok((Timings::merge(parts), started.elapsed()))
}

/// The server under test and what it reported on start.
struct Server {
    /// Killed when dropped.
    _child: tokio::process::Child,
    base: String,
    pid: u32,
}

/// A fresh PostgreSQL database on the server of `admin_url`: its URL.
async fn fresh_database(admin_url: &str) -> Result<String> {
    use sqlx::Connection as _;
    let name = format!("drip_http_bench_{}", std::process::id());
    let mut connection = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
        .execute(&mut connection)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut connection)
        .await?;
    Ok(drip_testkit::with_database(admin_url, &name))
}

async fn start_drip(
    binary: &Path,
    data_dir: &Path,
    postgres: Option<&str>,
    log: Option<&str>,
) -> Result<Server> {
    let mut command = tokio::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("DRIP_")) {
            command.env_remove(&name);
        }
    }
    if let Some(level) = log {
        command.env("DRIP_LOG", level);
    }
    if let Some(url) = postgres {
        // Not the embedded defaults: the secrets are given, as in production.
        let key = base64_of(&noise(32, 13));
        command
            .env("DRIP_DATABASE__KIND", "postgres")
            .env("DRIP_DATABASE__URL", url)
            .env("DRIP_AUTH__JWT_SECRET", "http-bench-jwt-secret-0123456789-abcdefghijklmnop")
            .env("DRIP_KEYS__MASTER_KEYS", format!("k1:{key}"));
    }
    let mut child = command
        .args(["--data-dir"])
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("drip exited at once")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next_line().await?.ok_or("drip stopped before listening")?;
        if let Some(url) = line.strip_prefix("drip listening on ") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { _child: child, base, pid })
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The server's resident memory, MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// One client: its own connection and its user's token.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn register(base: &str, username: &str) -> Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let body = serde_json::json!({
            "username": username, "email": format!("{username}@example.com"), "password": "bench-password",
        });
        let session: serde_json::Value = http
            .post(format!("{base}/api/v1/users"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = session["access_token"].as_str().ok_or("no access token")?.to_owned();
        Ok(Self { http, base: base.to_owned(), token })
    }

    async fn upload(&self, folder: &str, name: &str, body: reqwest::Body) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/api/v1/files", self.base))
            .bearer_auth(&self.token)
            .query(&[("folder", folder), ("name", name)])
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(format!("upload answered {}: {}", response.status(), response.text().await?).into());
        }
        let file: serde_json::Value = response.json().await?;
        Ok(file["id"].as_str().ok_or("no id")?.to_owned())
    }

    /// The first 1,000 files of the folder the small uploads go to.
    async fn small_page(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.small_page_bytes().await?)?)
    }

    /// The same page as the bytes of its JSON (what the listing phase times: the server's
    /// work and the transfer, not the client's parsing).
    async fn small_page_bytes(&self) -> Result<Bytes> {
        self.page("$/small", 1000).await
    }

    /// Deletes a file of this client's for good (not to the trash: the mixed phase's files
    /// would pile up there, and its timings stay comparable with runs before the trash).
    async fn delete(&self, id: &str) -> Result<()> {
        self.http
            .delete(format!("{}/api/v1/files/{id}?permanent=true", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The first `limit` files of `folder`, as the bytes of the page's JSON.
    async fn page(&self, folder: &str, limit: u32) -> Result<Bytes> {
        Ok(self
            .http
            .get(format!("{}/api/v1/folders", self.base))
            .bearer_auth(&self.token)
            .query(&[("path", folder), ("limit", &limit.to_string())])
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?)
    }

    /// Downloads a file to nowhere; answers its length.
    async fn download(&self, id: &str) -> Result<u64> {
        let response = self
            .http
            .get(format!("{}/api/v1/files/{id}/content", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        let mut stream = response.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            total += chunk?.len() as u64;
        }
        Ok(total)
    }
}

/// Runs `work` on every client until `run_for` passes or it answers `false` (nothing
/// left to do); answers the merged timings and the phase's duration.
async fn phase<F, Fut>(clients: &[Client], run_for: Duration, work: F) -> Result<(Timings, Duration)>
where
    F: Fn(Client, usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<bool>> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, client)| {
            let work = work.clone();
            tokio::spawn(async move {
                let mut timings = Timings::default();
                let mut n = 0u64;
                let start = Instant::now();
                while start.elapsed() < run_for {
                    let one = Instant::now();
                    if !work(client.clone(), i, n).await? {
                        break;
                    }
                    timings.0.push(one.elapsed());
                    n += 1;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(timings)
            })
        })
        .collect();
    let mut parts = Vec::new();
    for task in tasks {
        parts.push(task.await??);
    }
    Ok((Timings::merge(parts), started.elapsed()))
}

/// The baseline of big writes: a new file written in 1 MiB blocks, then fdatasync.
fn durable_big_file(path: &Path, bytes: u64) -> Result<f64> {
    let block = noise(BLOCK, 3);
    let started = Instant::now();
    drip_testkit::write_durably(path, bytes, &block)?;
    Ok(bytes as f64 / 1e6 / started.elapsed().as_secs_f64())
}

/// A plain streaming HTTP server (no crypto, no framework): answers every request with
/// `path`'s bytes, read in 256 KiB pieces. Answers its address.
async fn plain_server(path: PathBuf) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let path = path.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let Ok(mut file) = tokio::fs::File::open(&path).await else { return };
                let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let mut buffer = vec![0u8; 256 * 1024];
                loop {
                    match file.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if socket.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Ok(address)
}

/// A plain HTTP server for small files: axum on keep-alive connections, answering
/// `GET /small` with `body` from memory (no crypto, no authentication, no database): what
/// serving a small file costs on this machine's loopback without Drip's work. Answers its
/// address.
async fn plain_small_server(body: Bytes) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app =
        axum::Router::new().route("/small", axum::routing::get(move || std::future::ready(body.clone())));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

/// Sends `request` and reads its answer to nowhere; answers MB/s.
async fn download_rate(request: reqwest::RequestBuilder) -> Result<f64> {
    let started = Instant::now();
    let mut stream = request.send().await?.error_for_status()?.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        total += chunk?.len() as u64;
    }
    Ok(total as f64 / 1e6 / started.elapsed().as_secs_f64())
}

/// Mixed load for `run_for`: each client in turn uploads a 4 KiB file, downloads one of
/// its small files, lists a page of its mixed folder, and deletes the file it uploaded
/// (so the database stays the same size). Prints the request rate and the RSS at the
/// start, at each tenth of the phase, and at the end.
async fn mixed_phase(
    clients: &[Client],
    own: &Arc<Vec<Vec<String>>>,
    content: &Bytes,
    run_for: Duration,
    pid: u32,
) -> Result<()> {
    let rss_start = rss_mib(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let samples = {
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let tenth = run_for / 10;
            while sampling.load(Ordering::Relaxed) {
                tokio::time::sleep(tenth).await;
                samples.push(rss_mib(pid));
            }
            samples
        })
    };
    let (own, body) = (Arc::clone(own), content.clone());
    let (timings, elapsed) = phase(clients, run_for, move |client, i, n| {
        let (own, body) = (Arc::clone(&own), body.clone());
        async move {
            let id = client.upload("$/mixed", &format!("m{i}-{n}.bin"), reqwest::Body::from(body)).await?;
            let files = &own[i];
            client.download(&files[n as usize % files.len()]).await?;
            client.page("$/mixed", 50).await?;
            client.delete(&id).await?;
            Ok(true)
        }
    })
    .await?;
    sampling.store(false, Ordering::Relaxed);
    let samples = samples.await?;
    let requests = timings.0.len() * 4;
    let max = samples.iter().copied().fold(rss_start, f64::max);
    let tenths: Vec<String> = samples.iter().map(|mib| format!("{mib:.0}")).collect();
    println!(
        "http_result name=mixed requests={requests} per_s={:.0} rss_start_mib={rss_start:.0} rss_end_mib={:.0} \
         rss_max_mib={max:.0} rss_tenths_mib={}",
        requests as f64 / elapsed.as_secs_f64(),
        rss_mib(pid),
        tenths.join(",")
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let root = args.dir.join(format!("drip-http-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let run_for = Duration::from_secs(args.seconds);

    // The durable small-file baseline, first, on an idle disk.
    let (baseline, elapsed) = durable_small_files(&root.join("baseline"), args.clients, run_for, false)?;
    println!("{}", baseline.line("small_baseline", elapsed));
    let (shared, elapsed) = durable_small_files(&root.join("baseline-shared"), args.clients, run_for, true)?;
    println!("{}", shared.line("small_baseline_shared", elapsed));

    let database = match &args.postgres {
        Some(admin) => Some(fresh_database(admin).await?),
        None => None,
    };
    let stack = if database.is_some() { "postgres" } else { "sqlite" };
    println!("http_stack {stack}");
    let server = start_drip(&args.drip, &root.join("data"), database.as_deref(), args.log.as_deref()).await?;
    let pid = server.pid;
    let rss_fresh = rss_mib(pid);
    let peak = Arc::new(AtomicU64::new(rss_fresh.to_bits()));
    let sampling = Arc::new(AtomicBool::new(true));
    {
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let now = rss_mib(pid);
                if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                    peak.store(now.to_bits(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let mut clients = Vec::new();
    for i in 0..args.clients {
        clients.push(Client::register(&server.base, &format!("bench{i}")).await?);
    }

    // Small uploads: each client stores 4 KiB files into its own folder.
    let content = noise(SMALL, 11);
    let body = content.clone();
    let (uploads, elapsed) = phase(&clients, run_for, move |client, i, n| {
        let body = body.clone();
        async move {
            client.upload("$/small", &format!("c{i}-{n}.bin"), reqwest::Body::from(body)).await?;
            Ok(true)
        }
    })
    .await?;
    println!("{}", uploads.line("small_upload", elapsed));
    println!("http_result name=rss_after_small_upload mib={:.0}", rss_mib(pid));

    // Small downloads, cache misses: each client reads files of its own it has never read,
    // then cache hits: one file read again and again.
    let mut own: Vec<Vec<String>> = Vec::new();
    for client in &clients {
        let page = client.small_page().await?;
        let ids: Vec<String> = page["files"]
            .as_array()
            .ok_or("no files")?
            .iter()
            .filter_map(|f| f["id"].as_str().map(str::to_owned))
            .collect();
        own.push(ids);
    }
    let own = Arc::new(own);
    let files = Arc::clone(&own);
    let (misses, elapsed) = phase(&clients, run_for / 2, move |client, i, n| {
        let files = Arc::clone(&files);
        async move {
            // Each file once: a second read would be a cache hit.
            let Some(id) = files[i].get(n as usize) else { return Ok(false) };
            client.download(id).await?;
            Ok(true)
        }
    })
    .await?;
    println!("{}", misses.line("small_download_miss", elapsed));
    println!("http_result name=rss_after_small_download_miss mib={:.0}", rss_mib(pid));
    let files = Arc::clone(&own);
    let (hits, elapsed) = phase(&clients, run_for / 2, move |client, i, _| {
        let files = Arc::clone(&files);
        async move {
            client.download(&files[i][0]).await?;
            Ok(true)
        }
    })
    .await?;
    println!("{}", hits.line("small_download_hit", elapsed));
    // The baseline of cached downloads: the same clients against the plain server.
    let plain_small = plain_small_server(content.clone()).await?;
    let (plain_hits, elapsed) = phase(&clients, run_for / 2, move |client, _, _| async move {
        let body = client.http.get(format!("http://{plain_small}/small")).send().await?.bytes().await?;
        Ok(!body.is_empty())
    })
    .await?;
    println!("{}", plain_hits.line("small_download_plain", elapsed));
    println!("http_result name=rss_after_small_download_hit mib={:.0}", rss_mib(pid));

    // A page of 1,000 files: the first client's folder topped up to 1,000.
    let lister = clients[0].clone();
    for n in own[0].len()..1000 {
        lister.upload("$/small", &format!("top-up-{n}.bin"), reqwest::Body::from(content.clone())).await?;
    }
    let mut listing = Timings::default();
    let started = Instant::now();
    for _ in 0..20 {
        let one = Instant::now();
        let page = lister.small_page_bytes().await?;
        listing.0.push(one.elapsed());
        let page: serde_json::Value = serde_json::from_slice(&page)?;
        if page["files"].as_array().map_or(0, Vec::len) < 1000 {
            return Err("a listing page came back short".into());
        }
    }
    listing.0.sort_unstable();
    println!("{} files=1000", listing.line("list_page", started.elapsed()));
    println!("http_result name=rss_after_list_page mib={:.0}", rss_mib(pid));

    // Big files: the fdatasync baseline, Drip's durable upload and its download, and the
    // plain server's download of the baseline's file.
    let big_path = root.join("big.bin");
    let baseline_write = durable_big_file(&big_path, args.big_bytes)?;
    println!("http_result name=big_baseline write_mb_s={baseline_write:.0}");
    let blocks = args.big_bytes.div_ceil(BLOCK as u64);
    let block = noise(BLOCK, 5);
    let total = args.big_bytes;
    let stream = futures::stream::iter(0..blocks).map(move |i| {
        let n = (total - i * BLOCK as u64).min(BLOCK as u64) as usize;
        Ok::<_, std::io::Error>(block.slice(..n))
    });
    let big_client = clients[0].clone();
    let started = Instant::now();
    let id = big_client.upload("$/big", "big.bin", reqwest::Body::wrap_stream(stream)).await?;
    let upload_mb_s = total as f64 / 1e6 / started.elapsed().as_secs_f64();
    println!("http_result name=rss_after_big_upload mib={:.0}", rss_mib(pid));
    let request = big_client
        .http
        .get(format!("{}/api/v1/files/{id}/content", big_client.base))
        .bearer_auth(&big_client.token);
    let download_mb_s = download_rate(request).await?;
    let plain = plain_server(big_path.clone()).await?;
    let http = reqwest::Client::new();
    let plain_mb_s = download_rate(http.get(format!("http://{plain}/big.bin"))).await?;
    println!(
        "http_result name=big upload_mb_s={upload_mb_s:.0} download_mb_s={download_mb_s:.0} plain_download_mb_s={plain_mb_s:.0}"
    );

    if args.mixed_seconds > 0 {
        mixed_phase(&clients, &own, &content, Duration::from_secs(args.mixed_seconds), pid).await?;
    }

    sampling.store(false, Ordering::Relaxed);
    let peak = f64::from_bits(peak.load(Ordering::Relaxed)).max(rss_mib(pid));
    println!(
        "http_result name=rss fresh_mib={rss_fresh:.0} peak_mib={peak:.0} final_mib={:.0}",
        rss_mib(pid)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
