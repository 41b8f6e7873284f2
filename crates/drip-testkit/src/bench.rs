//! The repository benchmark behind `cargo xtask bench repo`, written once for every SQL
//! adapter: what to seed, how to measure, what to print. An adapter's example implements
//! [`Backend`] (a fresh database, and the bulk inserts of its dialect) and calls [`main`].
//!
//! For each size it seeds, in bulk, that many uploaded media of [`USERS`] users spread
//! over a three-level folder tree (1,111 folders per user; the measured user creates half of
//! the media and has a tenth of the others' shared with them; the two measured folders hold
//! a fixed number of files directly, so answers have the same size at every scale and only
//! the cost of finding them can grow), then measures through the `MediaRepository` port,
//! one call at a time:
//! - `list_root`: `list_folder` of `$` (its [`ROOT_FILES`] files and 10 subfolders with
//!   recursive totals over everything),
//! - `list_mid`: `list_folder` of [`MID_FOLDER`] (its [`MID_FILES`] files, one page, and
//!   10 subfolders),
//! - `store`: `insert` + `mark_uploaded` of a new media in a third-level folder.
//!
//! Each size prints `<backend> media=<n> visible_to_user=<n> seed_s=<x>
//! list_root_p50_ms=<x> list_root_p99_ms=<x> list_mid_p50_ms=<x> list_mid_p99_ms=<x>
//! store_p50_ms=<x> store_p99_ms=<x>`, and the run ends with one summary line for the
//! largest size: `repo backend=<backend> media=<n> list_root_p50_ms=<x>
//! list_root_p99_ms=<x> store_p50_ms=<x>` (the lines `cargo xtask bench repo` reads).
// A benchmark is a program: a broken setup or a failing adapter panics with what broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::{Email, Owner, PasswordHash, User, Username};
use drip_core::accounts::ports::AccountRepository;
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FolderPath, Media, MediaParts, PageRequest, StorageKey,
    UploadedContent,
};
use drip_core::storage::ports::MediaRepository;
use drip_core::{Ksuid, MediaId, UserId};

use crate::workload::Rng;

/// Users of every run; the first one is measured.
pub const USERS: usize = 4;
/// Files of the measured user directly in `$`.
pub const ROOT_FILES: usize = 20;
/// Files of the measured user directly in [`MID_FOLDER`].
pub const MID_FILES: usize = 100;
/// The second-level folder whose listing is measured.
pub const MID_FOLDER: &str = "$/d03/e05";
/// Media per call of [`Backend::insert_media`].
const BATCH: usize = 10_000;
/// Calls before the measured ones.
const WARM_UP: usize = 20;

/// The content type of every seeded media.
pub const CONTENT_TYPE: &str = "application/octet-stream";
/// The envelope chunk size of every seeded media.
pub const CHUNK_SIZE: i64 = 65_536;
/// The key id of every seeded media's envelope.
pub const KEY_ID: &str = "bench-key";
/// The wrapped data key of every seeded media's envelope.
pub const WRAPPED_KEY: [u8; 60] = [7; 60];
/// The content digest of every seeded media.
pub const DIGEST: [u8; 32] = [3; 32];

/// The command line: `[--media 10000,100000,1000000] [--quick] [--iterations 200]`, plus
/// the options of the backend.
#[derive(Debug)]
pub struct Args {
    /// Media counts to measure, one fresh database each.
    pub sizes: Vec<usize>,
    /// Measured calls per operation and size.
    pub iterations: usize,
    options: HashMap<String, Option<String>>,
}

impl Args {
    /// Parses the process's arguments for the example `example`, whose own options are
    /// `values` (followed by a value) and `flags` (alone). `--quick` keeps the sizes up to
    /// 100,000. Panics on an unknown argument.
    #[must_use]
    pub fn parse(example: &str, values: &[&str], flags: &[&str]) -> Self {
        let mut args =
            Self { sizes: vec![10_000, 100_000, 1_000_000], iterations: 200, options: HashMap::new() };
        let mut quick = false;
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            let mut value = || given.next().unwrap_or_else(|| panic!("{arg} needs a value"));
            match arg.as_str() {
                "--media" => {
                    let list = value();
                    args.sizes =
                        list.split(',').map(|n| n.trim().replace('_', "").parse().expect("a size")).collect();
                }
                "--iterations" => args.iterations = value().parse().expect("a number of iterations"),
                "--quick" => quick = true,
                name if values.contains(&name) => {
                    let value = value();
                    args.options.insert(arg, Some(value));
                }
                name if flags.contains(&name) => {
                    args.options.insert(arg, None);
                }
                other => panic!("unknown argument {other:?} (see the doc comment of {example})"),
            }
        }
        if quick {
            args.sizes.retain(|&n| n <= 100_000);
        }
        args
    }

    /// The value given to the backend option `name`.
    #[must_use]
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(Option::as_deref)
    }

    /// Whether the backend flag `name` was given.
    #[must_use]
    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
}

/// One seeded media, uploaded, with the constant columns above.
#[derive(Debug)]
pub struct SeededMedia {
    /// `storage_media.id`.
    pub id: String,
    /// The creator's user id.
    pub creator: String,
    /// `file_name`.
    pub name: String,
    /// `full_path`.
    pub folder: String,
    /// `storage_key`.
    pub storage_key: String,
    /// `file_size`.
    pub size: i64,
    /// The user it is shared with, if any (the measured user).
    pub sharee: Option<String>,
}

/// One `media_owners` row of a seeded media.
#[derive(Debug)]
pub struct Ownership<'a> {
    /// The media.
    pub media: &'a SeededMedia,
    /// The user who sees it.
    pub user: &'a str,
    /// Whether that user created it.
    pub is_creator: bool,
}

/// The `media_owners` rows of `batch`: each media's creator, then its sharee.
#[must_use]
pub fn ownerships(batch: &[SeededMedia]) -> Vec<Ownership<'_>> {
    let mut out = Vec::with_capacity(batch.len() * 11 / 10);
    for media in batch {
        out.push(Ownership { media, user: &media.creator, is_creator: true });
        if let Some(sharee) = &media.sharee {
            out.push(Ownership { media, user: sharee, is_creator: false });
        }
    }
    out
}

/// One `folder_stats` row.
#[derive(Debug)]
pub struct FolderStat {
    /// `user_id`.
    pub user: String,
    /// `parent_path`.
    pub parent: String,
    /// `name`.
    pub name: String,
    /// `file_count`.
    pub count: i64,
    /// `total_size`.
    pub size: i64,
}

/// A user's usage counters (`media_count`, `disk_usage`).
#[derive(Debug)]
pub struct UserTotals {
    /// The user id.
    pub user: String,
    /// Media created.
    pub media_count: i64,
    /// Bytes of those media.
    pub disk_usage: i64,
}

/// A SQL adapter under benchmark: fresh databases, and bulk inserts in its dialect that
/// leave the tables as the repository itself would (media, ownerships, folder statistics,
/// usage counters).
#[async_trait(?Send)]
pub trait Backend {
    /// The name the output lines start with (`sqlite`, `postgres`).
    const NAME: &'static str;
    /// The repositories under test.
    type Repos: AccountRepository + MediaRepository;

    /// Fresh, migrated, empty repositories for the run with `n` media.
    async fn create(&mut self, n: usize) -> Self::Repos;

    /// Inserts `batch` (uploaded at `now`) and its [`ownerships`].
    async fn insert_media(&mut self, repos: &Self::Repos, batch: &[SeededMedia], now: DateTime<Utc>);

    /// Inserts the folder statistics and sets the usage counters of the seeded media, then
    /// refreshes the planner's statistics.
    async fn finish_seed(&mut self, repos: &Self::Repos, stats: &[FolderStat], totals: &[UserTotals]);

    /// Called once seeded, before measuring `user` (e.g. to print query plans).
    async fn before_measuring(&mut self, _repos: &Self::Repos, _user: &UserId) {}

    /// Closes `repos` and removes their database.
    async fn remove(&mut self, repos: Self::Repos);
}

/// Runs the benchmark on `backend` for every size of `args`, and prints the summary line.
pub async fn main<B: Backend>(mut backend: B, args: &Args) {
    let mut last = None;
    for &n in &args.sizes {
        last = Some(run(&mut backend, n, args.iterations).await);
    }
    if let Some(m) = last {
        println!(
            "repo backend={} media={} list_root_p50_ms={:.3} list_root_p99_ms={:.3} store_p50_ms={:.3}",
            B::NAME,
            m.n,
            m.list_root.0,
            m.list_root.1,
            m.store.0
        );
    }
}

struct Measured {
    n: usize,
    list_root: (f64, f64),
    store: (f64, f64),
}

async fn run<B: Backend>(backend: &mut B, n: usize, iterations: usize) -> Measured {
    let repos = backend.create(n).await;
    let now = Utc::now();
    let folders = folder_tree();
    let owners = create_users(&repos, now).await;
    let seeding = Instant::now();
    let visible = seed(backend, &repos, &owners, &folders, n, now).await;
    let seed_secs = seeding.elapsed().as_secs_f64();

    let user = owners[0].id;
    backend.before_measuring(&repos, &user).await;
    let root = FolderPath::root();
    let mid = FolderPath::parse(MID_FOLDER).unwrap();
    let page = PageRequest::first(MID_FILES as u32);
    let sample = |f: &FolderPath| {
        let (repos, page, f) = (&repos, &page, f.clone());
        async move {
            let started = Instant::now();
            let listing = repos.list_folder(&user, &f, page).await.unwrap();
            assert!(listing.files.len() == ROOT_FILES || listing.files.len() == MID_FILES);
            started.elapsed()
        }
    };
    for _ in 0..WARM_UP {
        sample(&root).await;
        sample(&mid).await;
    }
    let mut root_times = Vec::with_capacity(iterations);
    let mut mid_times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        root_times.push(sample(&root).await);
        mid_times.push(sample(&mid).await);
    }
    let store_times = store(&repos, user, &folders, iterations).await;
    let (list_root, list_mid, store) =
        (percentiles(root_times), percentiles(mid_times), percentiles(store_times));
    println!(
        "{} media={n} visible_to_user={visible} seed_s={seed_secs:.1} \
         list_root_p50_ms={:.3} list_root_p99_ms={:.3} list_mid_p50_ms={:.3} list_mid_p99_ms={:.3} \
         store_p50_ms={:.3} store_p99_ms={:.3}",
        B::NAME,
        list_root.0,
        list_root.1,
        list_mid.0,
        list_mid.1,
        store.0,
        store.1
    );
    backend.remove(repos).await;
    Measured { n, list_root, store }
}

/// Times `insert` + `mark_uploaded` of new media in third-level folders.
async fn store(
    repos: &impl MediaRepository,
    user: UserId,
    folders: &[FolderPath],
    iterations: usize,
) -> Vec<Duration> {
    let mut rng = Rng(42);
    let mut times = Vec::with_capacity(iterations);
    for k in 0..iterations + WARM_UP {
        let folder = folders[1 + 10 + 100 + rng.below(1000)].clone();
        let media = new_media(user, folder, &format!("new-{k:05}.dat"), Utc::now());
        let uploaded = UploadedContent {
            size: 1 + rng.below(1 << 20) as u64,
            digest: Digest::from_bytes([9; 32]),
            uploaded_at: Utc::now(),
        };
        let started = Instant::now();
        repos.insert(&media, None).await.unwrap();
        repos.mark_uploaded(&media.id(), uploaded).await.unwrap().unwrap();
        if k >= WARM_UP {
            times.push(started.elapsed());
        }
    }
    times
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
        envelope: Envelope::new(drip_core::content::ALGORITHM, 65_536, KEY_ID, WRAPPED_KEY.to_vec()).unwrap(),
        metadata: serde_json::Map::new(),
        uploaded: None,
        created_at: at,
        updated_at: at,
    })
}

async fn create_users(repos: &impl AccountRepository, now: DateTime<Utc>) -> Vec<Owner> {
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

/// Seeds `n` uploaded media through `backend`, with the folder statistics and usage
/// counters the repository would keep; answers how many of them the measured user sees.
async fn seed<B: Backend>(
    backend: &mut B,
    repos: &B::Repos,
    owners: &[Owner],
    folders: &[FolderPath],
    n: usize,
    now: DateTime<Utc>,
) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mid = folders.iter().position(|f| f.as_str() == MID_FOLDER).unwrap();
    let mut stats: HashMap<(usize, usize), (i64, i64)> = HashMap::new(); // (user, folder) -> totals
    let mut usage = [(0i64, 0i64); USERS];
    let mut visible = 0;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let mut batch = Vec::with_capacity(end - start);
        for i in start..end {
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
            let size = 1 + rng.below(8 << 20) as i64;
            let shared = creator != 0 && rng.below(10) == 0;
            usage[creator].0 += 1;
            usage[creator].1 += size;
            for user in std::iter::once(creator).chain(shared.then_some(0)) {
                let entry = stats.entry((user, folder)).or_default();
                entry.0 += 1;
                entry.1 += size;
                visible += usize::from(user == 0);
            }
            batch.push(SeededMedia {
                id: id.to_string(),
                creator: owners[creator].id.to_string(),
                storage_key: StorageKey::new(id, now, &FileName::parse(&name).unwrap()).as_str().to_owned(),
                name,
                folder: folders[folder].as_str().to_owned(),
                size,
                sharee: shared.then(|| owners[0].id.to_string()),
            });
        }
        backend.insert_media(repos, &batch, now).await;
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
    let stats: Vec<FolderStat> = rollup
        .into_iter()
        .map(|((user, parent, name), (count, size))| FolderStat {
            user: owners[user].id.to_string(),
            parent,
            name,
            count,
            size,
        })
        .collect();
    let totals: Vec<UserTotals> = usage
        .iter()
        .zip(owners)
        .map(|(&(media_count, disk_usage), owner)| UserTotals {
            user: owner.id.to_string(),
            media_count,
            disk_usage,
        })
        .collect();
    backend.finish_seed(repos, &stats, &totals).await;
    visible
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_has_1111_folders_and_the_measured_one() {
        let folders = folder_tree();
        assert_eq!(folders.len(), 1 + 10 + 100 + 1000);
        assert!(folders.iter().any(|f| f.as_str() == MID_FOLDER));
    }

    #[test]
    fn percentiles_pick_ranks() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentiles(samples), (50.0, 99.0));
    }
}
