//! A random workload over the repository ports and a brute-force recount of what listings
//! must show: checks that folder statistics an adapter maintains on every write stay exact.
// Test support: a broken fixture or a failing adapter panics, as a test should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use drip_core::accounts::model::{Email, Owner, PasswordHash, User, Username};
use drip_core::accounts::ports::AccountRepository;
use drip_core::jobs::model::{NewJob, Task};
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FolderPath, FolderSummary, Media, MediaParts, PageRequest,
    StorageKey, UploadedContent,
};
use drip_core::storage::ports::{MediaRepository, RelocateFolderError, ReplaceContentError};
use drip_core::{JobId, Ksuid, MediaId, UserId};

/// Folders the workload uses: prefixes of each other, look-alikes and LIKE wildcards.
pub const FOLDERS: &[&str] =
    &["$", "$/a", "$/a/b", "$/a/b/c", "$/ab", "$/a_b", "$/a%", "$/a b", "$/x/y/z", "$/x/yz"];
const NAMES: &[&str] = &["f", "g", "h%", "i_", "j k"];

/// A deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A pseudo-random number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A fixture time: a fixed base plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_709_251_200 + secs, 0).unwrap()
}

/// The lease of fixture uploads: far beyond every fixture time, so a pending fixture
/// holds its name.
pub fn held() -> Option<DateTime<Utc>> {
    Some(at(1_000_000_000))
}

/// The job that removes the object of media `id` once the media is deleted (a key of that
/// media: repository fixtures store no objects).
pub fn object_deletion(id: MediaId) -> NewJob {
    let key = StorageKey::new(id, at(0), &FileName::parse("f").unwrap());
    NewJob {
        id: JobId::from_ksuid(Ksuid::generate(at(0))),
        task: Task::DeleteObject { key },
        run_at: at(0),
        created_at: at(0),
    }
}

/// Creates users with these names (and fixture emails and hashes).
pub async fn add_users(accounts: &dyn AccountRepository, names: &[&str]) -> Vec<Owner> {
    let mut out = Vec::new();
    for name in names {
        let owner = Owner {
            id: UserId::from_ksuid(Ksuid::generate(at(0))),
            username: Username::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.com")).unwrap(),
        };
        let user = User {
            owner: owner.clone(),
            password_hash: PasswordHash::parse("$x$y").unwrap(),
            created_at: at(0),
        };
        accounts.create_user(&user).await.unwrap();
        out.push(owner);
    }
    out
}

/// A not-yet-uploaded media of `creator` at `folder`/`name`.
pub fn new_media(creator: UserId, folder: &str, name: &str) -> Media {
    let id = MediaId::from_ksuid(Ksuid::generate(at(1)));
    let name = FileName::parse(name).unwrap();
    Media::from_parts(MediaParts {
        id,
        creator,
        storage_key: StorageKey::new(id, at(1), &name),
        content_type: ContentType::guess(&name),
        name,
        folder: FolderPath::parse(folder).unwrap(),
        envelope: Envelope::new(drip_core::content::ALGORITHM, 65_536, "k1", vec![1; 60]).unwrap(),
        metadata: serde_json::Map::new(),
        uploaded: None,
        created_at: at(1),
        updated_at: at(1),
    })
}

/// Uploaded content of `size` bytes.
pub fn content(size: u64) -> UploadedContent {
    UploadedContent { size, digest: Digest::from_bytes([5; 32]), uploaded_at: at(2) }
}

/// Runs `steps` random operations (insert, upload, re-upload, relocate, folder move,
/// new version, delete, share, unshare) by `users`; conflicts and misses are part of the game.
pub async fn random_operations(media: Arc<dyn MediaRepository>, users: &[Owner], seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut known: Vec<MediaId> = Vec::new();
    for step in 0..steps {
        let user = users[rng.below(users.len())].id;
        let target = if known.is_empty() { None } else { Some(rng.pick(&known)) };
        match (rng.below(11), target) {
            (0..=2, _) | (_, None) => {
                let m = new_media(user, rng.pick(FOLDERS), rng.pick(NAMES));
                if media.insert(&m, held()).await.is_ok() {
                    known.push(m.id());
                }
            }
            (3 | 4, Some(id)) => {
                media.mark_uploaded(&id, content(1 + rng.below(1000) as u64)).await.unwrap();
            }
            (5, Some(id)) => {
                let folder = FolderPath::parse(rng.pick(FOLDERS)).unwrap();
                let name = FileName::parse(rng.pick(NAMES)).unwrap();
                let _ = media.relocate(&id, &folder, &name, at(10 + step as i64)).await;
            }
            (6, Some(id)) => {
                media.delete(&id, &object_deletion(id)).await.unwrap();
                known.retain(|k| *k != id);
            }
            (7, Some(id)) => {
                let _ = media.add_share(&id, &user, at(10)).await;
            }
            (8, Some(_)) => {
                let from = FolderPath::parse(rng.pick(FOLDERS)).unwrap();
                let to = FolderPath::parse(rng.pick(FOLDERS)).unwrap();
                // The repository's rule: neither folder holds the other.
                if !from.contains(&to) && !to.contains(&from) {
                    match media.relocate_folder(&user, &from, &to, at(10 + step as i64)).await {
                        Ok(_) | Err(RelocateFolderError::AlreadyExists) => {}
                        Err(e) => panic!("moving {from} to {to}: {e:?}"),
                    }
                }
            }
            (10, Some(id)) => {
                // A new version of an uploaded file of the creator's.
                let Some(file) = media.find(&id).await.unwrap().filter(|m| m.uploaded_at().is_some()) else {
                    continue;
                };
                let version = new_media(file.creator(), file.folder().as_str(), &format!(".version-{step}"));
                if media.insert(&version, held()).await.is_ok() {
                    let job = object_deletion(file.id());
                    let uploaded = content(1 + rng.below(1000) as u64);
                    match media
                        .replace_content(&file.id(), file.storage_key(), &version.id(), uploaded, &job)
                        .await
                    {
                        Ok(_) | Err(ReplaceContentError::TargetChanged) => {}
                        Err(e) => panic!("a new version: {e:?}"),
                    }
                }
            }
            (_, Some(id)) => {
                media.remove_share(&id, &user).await.unwrap();
            }
        }
    }
}

/// Three rounds of [`random_operations`] by `users` (seeds 1, 2, 3), each followed by
/// [`assert_listings_match_recount`].
pub async fn assert_random_rounds_match_recount(media: Arc<dyn MediaRepository>, users: &[Owner]) {
    for seed in [1, 2, 3] {
        random_operations(media.clone(), users, seed, 300).await;
        assert_listings_match_recount(&*media, users).await;
    }
}

/// Eight writers of [`random_operations`] by `users` at once (on overlapping folders: moves
/// in opposite directions, shares, uploads), then [`assert_listings_match_recount`]: no
/// writer fails and no statistics update is lost.
pub async fn assert_concurrent_writers_match_recount(media: Arc<dyn MediaRepository>, users: &[Owner]) {
    let writers: Vec<_> = (0..8u64)
        .map(|seed| {
            let (media, users) = (media.clone(), users.to_vec());
            tokio::spawn(async move { random_operations(media, &users, 100 + seed, 150).await })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    assert_listings_match_recount(&*media, users).await;
}

/// Every uploaded media `user` sees, through `list_visible` (all pages).
async fn visible(media: &dyn MediaRepository, user: &UserId) -> Vec<Media> {
    let mut page = PageRequest::first(1000);
    let mut out = Vec::new();
    loop {
        let result = media.list_visible(user, None, &page).await.unwrap();
        out.extend(result.items);
        match result.next {
            Some(next) => page = PageRequest::after(1000, next),
            None => return out,
        }
    }
}

/// Asserts that `list_folder` of every folder on the way to a visible media (and of the
/// workload's folders) shows exactly the files and recursive totals a recount gives, and
/// that there was something to see.
pub async fn assert_listings_match_recount(media: &dyn MediaRepository, users: &[Owner]) {
    let mut total = 0;
    for user in users {
        let seen = visible(media, &user.id).await;
        total += seen.len();
        let mut folders: Vec<FolderPath> = FOLDERS.iter().map(|f| FolderPath::parse(f).unwrap()).collect();
        for m in &seen {
            let mut folder = Some(m.folder().clone());
            while let Some(f) = folder {
                folder = f.parent();
                folders.push(f);
            }
        }
        folders.sort();
        folders.dedup();
        for folder in folders {
            let mut files: Vec<&Media> = seen.iter().filter(|m| m.folder() == &folder).collect();
            files.sort_by(|a, b| (a.name(), a.id()).cmp(&(b.name(), b.id())));
            let expected_files: Vec<MediaId> = files.iter().map(|m| m.id()).collect();
            let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for m in &seen {
                if let Some(child) = folder.child_towards(m.folder()) {
                    let entry = totals.entry(child.to_owned()).or_default();
                    entry.0 += 1;
                    entry.1 += m.size();
                }
            }
            let expected_folders: Vec<FolderSummary> = totals
                .into_iter()
                .map(|(name, (file_count, total_size))| FolderSummary {
                    name: FileName::parse(&name).unwrap(),
                    file_count,
                    total_size,
                })
                .collect();
            let listing = media.list_folder(&user.id, &folder, &PageRequest::default()).await.unwrap();
            let listed: Vec<MediaId> = listing.files.iter().map(Media::id).collect();
            assert_eq!(listed, expected_files, "files of {folder} for {}", user.username);
            assert_eq!(listing.folders, expected_folders, "subfolders of {folder} for {}", user.username);
        }
    }
    assert!(total >= 10, "the workload left too little to check ({total} visible media)");
}
