//! Repository benchmark on PostgreSQL: folder-listing and store-metadata latency at growing
//! numbers of media (what `cargo xtask bench repo` runs).
//!
//! ```text
//! cargo run --release -p drip-postgres --example repo_bench_postgres -- [--media 10000,100000,1000000]
//!     [--quick] [--iterations 200] [--url postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//! For each size it creates a throwaway database on the server (`--url`, else
//! `DATABASE_URL`, else the local default), seeds it in bulk with that many uploaded media
//! of four users spread over a three-level folder tree (1,111 folders per user; the measured
//! user creates half of the media and has a tenth of the others' shared with them; the two
//! measured folders hold a fixed number of files directly, so answers have the same size at
//! every scale and only the cost of finding them can grow), then
//! measures through the `MediaRepository` port, one call at a time:
//! - `list_root`: `list_folder` of `$` (its 20 files and 10 subfolders with recursive
//!   totals over everything),
//! - `list_mid`: `list_folder` of a second-level folder (its 100 files, one page, and 10
//!   subfolders),
//! - `store`: `insert` + `mark_uploaded` of a new media in a third-level folder.
//!
//! It ends with one summary line for the largest size:
//! `repo backend=postgres media=<n> list_root_p50_ms=<x> list_root_p99_ms=<x> store_p50_ms=<x>`.
//! `--quick` stops at 100,000 media; `--explain` also prints the plans (with buffer counts)
//! of the two queries behind a root listing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use drip_core::accounts::model::{Email, Owner, PasswordHash, User, Username};
use drip_core::accounts::ports::AccountRepository;
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FolderPath, Media, MediaParts, PageRequest, StorageKey,
    UploadedContent,
};
use drip_core::storage::ports::MediaRepository;
use drip_core::{Ksuid, MediaId, UserId};
use drip_postgres::PgRepositories;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

const USERS: usize = 4;
const BATCH: usize = 10_000;

struct Args {
    sizes: Vec<usize>,
    iterations: usize,
    url: String,
    explain: bool,
}

fn args() -> Args {
    let mut sizes = vec![10_000, 100_000, 1_000_000];
    let mut iterations = 200;
    let mut url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut quick = false;
    let mut explain = false;
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--media" => {
                let list = given.next().expect("--media needs a list of sizes");
                sizes = list.split(',').map(|n| n.trim().replace('_', "").parse().expect("a size")).collect();
            }
            "--iterations" => {
                iterations = given.next().expect("--iterations needs a number").parse().unwrap()
            }
            "--url" => url = given.next().expect("--url needs a URL"),
            "--quick" => quick = true,
            "--explain" => explain = true,
            other => panic!("unknown argument {other:?} (see the doc comment of repo_bench_postgres)"),
        }
    }
    if quick {
        sizes.retain(|&n| n <= 100_000);
    }
    Args { sizes, iterations, url, explain }
}

/// A small deterministic generator (xorshift64*), so runs seed the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Files of the measured user directly in `$`.
const ROOT_FILES: usize = 20;
/// Files of the measured user directly in [`MID_FOLDER`].
const MID_FILES: usize = 100;
/// The second-level folder whose listing is measured.
const MID_FOLDER: &str = "$/d03/e05";

fn mid_folder(folders: &[FolderPath]) -> usize {
    folders.iter().position(|f| f.as_str() == MID_FOLDER).unwrap()
}

/// `$`, then 10 folders, 10 below each, 10 below each of those.
fn folder_tree() -> Vec<FolderPath> {
    let mut out = vec![FolderPath::root()];
    for a in 0..10 {
        out.push(FolderPath::parse(&format!("$/d{a:02}")).unwrap());
        for b in 0..10 {
            out.push(FolderPath::parse(&format!("$/d{a:02}/e{b:02}")).unwrap());
            for c in 0..10 {
                out.push(FolderPath::parse(&format!("$/d{a:02}/e{b:02}/f{c:02}")).unwrap());
            }
        }
    }
    out
}

fn envelope() -> Envelope {
    Envelope::new(drip_core::content::ALGORITHM, 65_536, "bench-key", vec![7; 60]).unwrap()
}

fn new_media(creator: UserId, folder: FolderPath, name: &str, at: DateTime<Utc>) -> Media {
    let id = MediaId::from_ksuid(Ksuid::generate(at));
    let name = FileName::parse(name).unwrap();
    Media::from_parts(MediaParts {
        id,
        creator,
        storage_key: StorageKey::new(id, at, &name),
        content_type: ContentType::guess(&name),
        name,
        folder,
        envelope: envelope(),
        metadata: serde_json::Map::new(),
        uploaded: None,
        created_at: at,
        updated_at: at,
    })
}

/// Row data of one seeded media.
struct Seeded {
    id: String,
    creator: usize,
    folder: usize,
    name: String,
    storage_key: String,
    size: i64,
    shared_with_first: bool,
}

async fn create_users(repos: &PgRepositories, now: DateTime<Utc>) -> Vec<Owner> {
    let mut owners = Vec::new();
    for i in 0..USERS {
        let owner = Owner {
            id: UserId::from_ksuid(Ksuid::generate(now)),
            username: Username::parse(&format!("bench{i}")).unwrap(),
            email: Email::parse(&format!("bench{i}@example.com")).unwrap(),
        };
        let user = User {
            owner: owner.clone(),
            password_hash: PasswordHash::parse("$bench$not-a-real-hash").unwrap(),
            created_at: now,
        };
        repos.create_user(&user).await.unwrap();
        owners.push(owner);
    }
    owners
}

/// Seeds `n` uploaded media straight into the tables (media, ownership, shares, folder
/// statistics and usage counters, consistent with what the repository maintains).
async fn seed(pool: &PgPool, owners: &[Owner], folders: &[FolderPath], n: usize, now: DateTime<Utc>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mid = mid_folder(folders);
    let mut stats: HashMap<(usize, usize), (i64, i64)> = HashMap::new(); // (user, folder) -> totals
    let mut usage = [(0i64, 0i64); USERS];
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let rows: Vec<Seeded> = (start..end)
            .map(|i| {
                // The measured user has exactly ROOT_FILES files in `$` and MID_FILES in the
                // measured mid folder, so both listings answer the same amount at every size;
                // everything else goes to the other folders.
                let (creator, folder) = if i < ROOT_FILES {
                    (0, 0)
                } else if i < ROOT_FILES + MID_FILES {
                    (0, mid)
                } else {
                    let folder = 1 + rng.below(folders.len() - 1);
                    ([0, 0, 0, 1, 2, 3][i % 6], if folder == mid { mid + 1 } else { folder })
                };
                let name = format!("file-{i:07}.dat");
                let id = MediaId::from_ksuid(Ksuid::generate(now));
                let key = StorageKey::new(id, now, &FileName::parse(&name).unwrap());
                Seeded {
                    id: id.to_string(),
                    creator,
                    folder,
                    name,
                    storage_key: key.as_str().to_owned(),
                    size: 1 + rng.below(8 << 20) as i64,
                    shared_with_first: creator != 0 && rng.below(10) == 0,
                }
            })
            .collect();
        for row in &rows {
            usage[row.creator].0 += 1;
            usage[row.creator].1 += row.size;
            for user in std::iter::once(row.creator).chain(row.shared_with_first.then_some(0)) {
                let entry = stats.entry((user, row.folder)).or_default();
                entry.0 += 1;
                entry.1 += row.size;
            }
        }
        insert_batch(pool, owners, folders, &rows, now).await;
        start = end;
    }
    // Recursive totals: each folder's files count in every ancestor folder.
    let mut rollup: HashMap<(usize, String, String), (i64, i64)> = HashMap::new();
    for ((user, folder), (count, size)) in stats {
        let mut parent = String::from("$");
        for segment in folders[folder].segments() {
            let entry = rollup.entry((user, parent.clone(), segment.to_owned())).or_default();
            entry.0 += count;
            entry.1 += size;
            parent.push('/');
            parent.push_str(segment);
        }
    }
    let (mut users, mut parents, mut names, mut counts, mut sizes) = (vec![], vec![], vec![], vec![], vec![]);
    for ((user, parent, name), (count, size)) in rollup {
        users.push(owners[user].id.to_string());
        parents.push(parent);
        names.push(name);
        counts.push(count);
        sizes.push(size);
    }
    sqlx::query(
        "INSERT INTO folder_stats (user_id, parent_path, name, file_count, total_size) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])",
    )
    .bind(users)
    .bind(parents)
    .bind(names)
    .bind(counts)
    .bind(sizes)
    .execute(pool)
    .await
    .unwrap();
    for (user, (count, size)) in usage.iter().enumerate() {
        sqlx::query("UPDATE users SET media_count = $2, disk_usage = $3 WHERE id = $1")
            .bind(owners[user].id.to_string())
            .bind(count)
            .bind(size)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await.unwrap();
}

async fn insert_batch(
    pool: &PgPool,
    owners: &[Owner],
    folders: &[FolderPath],
    rows: &[Seeded],
    now: DateTime<Utc>,
) {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let creators: Vec<String> = rows.iter().map(|r| owners[r.creator].id.to_string()).collect();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let paths: Vec<&str> = rows.iter().map(|r| folders[r.folder].as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.storage_key.as_str()).collect();
    let sizes: Vec<i64> = rows.iter().map(|r| r.size).collect();
    let digest = Digest::from_bytes([3; 32]);
    sqlx::query(
        "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
             algorithm, chunk_size, key_id, wrapped_key, file_size, digest, uploaded_at, created_at, updated_at) \
         SELECT r.id, r.creator, r.name, r.path, 'application/octet-stream', r.key, $7, 65536, 'bench-key', \
             $8, r.size, $9, $10, $10, $10 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
             AS r(id, creator, name, path, key, size)",
    )
    .bind(&ids)
    .bind(&creators)
    .bind(&names)
    .bind(&paths)
    .bind(&keys)
    .bind(&sizes)
    .bind(drip_core::content::ALGORITHM)
    .bind(vec![7u8; 60])
    .bind(digest.as_bytes().as_slice())
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    let mut owner_media = Vec::new();
    let mut owner_users = Vec::new();
    let mut owner_creator = Vec::new();
    let mut owner_paths = Vec::new();
    let mut owner_names = Vec::new();
    for (row, creator) in rows.iter().zip(&creators) {
        owner_media.push(row.id.as_str());
        owner_users.push(creator.clone());
        owner_creator.push(true);
        owner_paths.push(folders[row.folder].as_str());
        owner_names.push(row.name.as_str());
        if row.shared_with_first {
            owner_media.push(row.id.as_str());
            owner_users.push(owners[0].id.to_string());
            owner_creator.push(false);
            owner_paths.push(folders[row.folder].as_str());
            owner_names.push(row.name.as_str());
        }
    }
    sqlx::query(
        "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
         SELECT r.media, r.usr, r.creator, r.path, r.name, true, $6 \
         FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[]) AS r(media, usr, creator, path, name)",
    )
    .bind(&owner_media)
    .bind(&owner_users)
    .bind(&owner_creator)
    .bind(&owner_paths)
    .bind(&owner_names)
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
}

/// Median and 99th percentile in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

struct Measured {
    n: usize,
    list_root: (f64, f64),
    store: (f64, f64),
}

async fn run(admin: &PgConnectOptions, n: usize, iterations: usize, explain: bool) -> Measured {
    let name = format!("drip_bench_{}_{n}", std::process::id());
    let mut conn = PgConnection::connect_with(admin).await.expect("connecting to postgresql");
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let pool =
        PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&name)).await.unwrap();
    let repos = PgRepositories::from_pool(pool.clone());
    repos.migrate().await.unwrap();

    let now = Utc::now();
    let folders = folder_tree();
    let owners = create_users(&repos, now).await;
    let seeding = Instant::now();
    seed(&pool, &owners, &folders, n, now).await;
    let seed_secs = seeding.elapsed().as_secs_f64();
    let visible: i64 =
        sqlx::query_scalar("SELECT count(*) FROM media_owners WHERE user_id = $1 AND uploaded")
            .bind(owners[0].id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();

    let user = owners[0].id;
    if explain {
        print_plans(&pool, &user).await;
    }
    let root = FolderPath::root();
    let mid = FolderPath::parse(MID_FOLDER).unwrap();
    let page = PageRequest::first(MID_FILES as u32);
    let sample = |f: FolderPath| {
        let (repos, page) = (&repos, &page);
        async move {
            let started = Instant::now();
            let listing = repos.list_folder(&user, &f, page).await.unwrap();
            assert!(listing.files.len() == ROOT_FILES || listing.files.len() == MID_FILES);
            started.elapsed()
        }
    };
    for _ in 0..20 {
        sample(root.clone()).await;
        sample(mid.clone()).await;
    }
    let mut root_times = Vec::with_capacity(iterations);
    let mut mid_times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        root_times.push(sample(root.clone()).await);
        mid_times.push(sample(mid.clone()).await);
    }
    let mut rng = Rng(42);
    let mut store_times = Vec::with_capacity(iterations);
    for k in 0..iterations + 20 {
        let folder = folders[1 + 10 + 100 + rng.below(1000)].clone();
        let media = new_media(user, folder, &format!("new-{k:05}.dat"), Utc::now());
        let uploaded = UploadedContent {
            size: 1 + rng.below(1 << 20) as u64,
            digest: Digest::from_bytes([9; 32]),
            uploaded_at: Utc::now(),
        };
        let started = Instant::now();
        repos.insert(&media).await.unwrap();
        repos.mark_uploaded(&media.id(), uploaded).await.unwrap().unwrap();
        if k >= 20 {
            store_times.push(started.elapsed());
        }
    }
    let (list_root, list_mid, store) =
        (percentiles(root_times), percentiles(mid_times), percentiles(store_times));
    println!(
        "postgres media={n} visible_to_user={visible} seed_s={seed_secs:.1} \
         list_root_p50_ms={:.3} list_root_p99_ms={:.3} list_mid_p50_ms={:.3} list_mid_p99_ms={:.3} \
         store_p50_ms={:.3} store_p99_ms={:.3}",
        list_root.0, list_root.1, list_mid.0, list_mid.1, store.0, store.1
    );
    pool.close().await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .unwrap();
    Measured { n, list_root, store }
}

/// Prints the plans of the queries behind `list_folder(user, $)`.
async fn print_plans(pool: &PgPool, user: &UserId) {
    let queries = [
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT m.* FROM media_owners o \
         JOIN storage_media m ON m.id = o.media_id WHERE o.user_id = $1 AND o.full_path = '$' AND o.uploaded \
         ORDER BY o.file_name, o.media_id LIMIT 101",
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT name, file_count, total_size FROM folder_stats \
         WHERE user_id = $1 AND parent_path = '$' AND file_count > 0 ORDER BY name",
    ];
    for sql in queries {
        let plan: Vec<String> = sqlx::query_scalar(sql).bind(user.to_string()).fetch_all(pool).await.unwrap();
        for line in plan {
            println!("  {line}");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let admin = PgConnectOptions::from_str(&args.url).expect("a postgres:// URL");
    let mut last = None;
    for &n in &args.sizes {
        last = Some(run(&admin, n, args.iterations, args.explain).await);
    }
    if let Some(m) = last {
        println!(
            "repo backend=postgres media={} list_root_p50_ms={:.3} list_root_p99_ms={:.3} store_p50_ms={:.3}",
            m.n, m.list_root.0, m.list_root.1, m.store.0
        );
    }
}
