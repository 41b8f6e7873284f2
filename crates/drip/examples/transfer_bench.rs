//! Transfer benchmark (run by `cargo xtask bench transfer`): plain `std::fs` write and read
//! of N bytes (the disk's limit) against a Drip upload and download of N bytes through
//! `StorageService` (encryption, local-disk provider, SQLite metadata), on the same disk,
//! with the page cache dropped before each read when the machine allows it. Prints
//! `transfer_result ...` lines for the xtask to compare.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use drip::{Config, Drip};
use drip_core::accounts::model::RegisterRequest;
use drip_core::storage::StoreRequest;
use drip_core::storage::model::{FileName, FolderPath};
use futures::StreamExt;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const BLOCK: usize = 1024 * 1024;

struct Args {
    bytes: u64,
    dir: PathBuf,
    baseline: bool,
    drip: bool,
}

fn args() -> Result<Args> {
    let mut args = Args { bytes: 1 << 30, dir: std::env::temp_dir(), baseline: true, drip: true };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bytes" => args.bytes = it.next().ok_or("--bytes needs a value")?.parse()?,
            "--dir" => args.dir = PathBuf::from(it.next().ok_or("--dir needs a value")?),
            "--drip-only" => args.baseline = false,
            "--baseline-only" => args.drip = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// A block of pseudo-random bytes (incompressible, not all equal).
fn block() -> Bytes {
    Bytes::from(drip_testkit::pseudo_random(BLOCK, 1))
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Drops the page cache so reads come from the disk; false when not permitted.
fn drop_caches() -> bool {
    let synced = std::process::Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

fn baseline(dir: &Path, bytes: u64, block: &Bytes) -> Result<()> {
    let path = dir.join("baseline.bin");
    let started = Instant::now();
    drip_testkit::write_durably(&path, bytes, block)?;
    let write = started.elapsed().as_secs_f64();
    let cold = drop_caches();
    let started = Instant::now();
    let mut file = std::fs::File::open(&path)?;
    let mut buffer = vec![0u8; BLOCK];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let read_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    assert_eq!(read, bytes, "baseline read back a different size");
    println!(
        "transfer_result kind=baseline bytes={bytes} write_mb_s={:.1} read_mb_s={:.1} cold_read={cold}",
        mb_per_s(bytes, write),
        mb_per_s(bytes, read_secs)
    );
    Ok(())
}

async fn drip(dir: &Path, bytes: u64, block: &Bytes) -> Result<()> {
    let data_dir = dir.join("drip-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    let config = Config::embedded(&data_dir)?;
    let drip = Drip::build(&config).await?;
    let session = drip
        .accounts
        .register(RegisterRequest::parse("bench", "bench@example.com", "benchmark-password")?)
        .await?;
    let user = session.owner.id;

    // Peak memory from here on: the resident size sampled every 2 ms by a thread (the
    // kernel's VmHWM is updated lazily and cannot be reset reliably everywhere).
    let rss_before = status_kib("VmRSS:");
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_kib("VmRSS:"));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        })
    };

    let block = block.clone();
    let content = futures::stream::unfold(bytes, move |left| {
        let block = block.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(BLOCK as u64) as usize;
                (Ok(block.slice(..n)), left - n as u64)
            })
        }
    })
    .boxed();
    let started = Instant::now();
    let media = drip
        .storage
        .store(StoreRequest {
            user,
            name: FileName::parse("big.bin")?,
            folder: FolderPath::root(),
            content_type: None,
            length: None,
            content,
        })
        .await?;
    let upload = started.elapsed().as_secs_f64();
    assert_eq!(media.size(), bytes);

    let cold = drop_caches();
    let started = Instant::now();
    let download = drip.storage.download(&user, &media.id(), None).await?;
    let mut content = download.content;
    let mut read = 0u64;
    while let Some(chunk) = content.next().await {
        read += chunk?.len() as u64;
    }
    let download_secs = started.elapsed().as_secs_f64();
    assert_eq!(read, bytes, "drip delivered a different size");
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().map_err(|_| "the memory sampler panicked")?;
    println!(
        "transfer_result kind=drip bytes={bytes} upload_mb_s={:.1} download_mb_s={:.1} rss_before_mib={:.1} peak_rss_mib={:.1} peak_growth_mib={:.1} cold_read={cold}",
        mb_per_s(bytes, upload),
        mb_per_s(bytes, download_secs),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(rss_before) as f64 / 1024.0,
    );
    drip.storage.delete(&user, &media.id()).await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    std::fs::create_dir_all(&args.dir)?;
    let block = block();
    if args.baseline {
        baseline(&args.dir, args.bytes, &block)?;
    }
    if args.drip {
        drip(&args.dir, args.bytes, &block).await?;
    }
    Ok(())
}
