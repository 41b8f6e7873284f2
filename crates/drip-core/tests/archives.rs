//! Prepared folder archives through the services on the in-memory fakes of `drip-mock`:
//! what goes in (the requester's visible files only, deleted ones skipped, names made
//! safe), who sees them, the `download` event, ranges, a build that died, a corrupt file,
//! and expiry and purge driven by the fake clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::io::{Cursor, Read};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::{Owner, RegisterRequest, Username};
use drip_core::archives::error::{ArchiveDownloadError, ArchiveLookupError};
use drip_core::archives::model::{ArchiveStatus, attempt_key};
use drip_core::archives::ports::ArchiveRepository;
use drip_core::archives::{ArchiveService, ArchiveSettings, content_link};
use drip_core::clock::Clock;
use drip_core::events::Event;
use drip_core::jobs::model::{NewJob, Task, TaskKind};
use drip_core::storage::model::{
    Allowance, Envelope, FileName, FolderListing, FolderPath, Media, MediaPage, PageRequest, QuotaSetting,
    Share, SharedFile, SortOrder, StorageKey, TrashPage, TrashedMedia, UploadedContent, Usage, UsageSort,
    UserUsage,
};
use drip_core::storage::ports::{
    AddShareError, ByteStream, InsertMediaError, MediaRepository, RelocateError, RelocateFolderError,
    ReplaceContentError, ReserveError, RestoreMediaError, StorageProvider,
};
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_core::{ArchiveId, BackendError, JobId, MediaId, UserId};
use drip_mock::FakePorts;
use futures::{StreamExt, TryStreamExt};

fn stream_of(data: &[u8]) -> ByteStream {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

async fn read_all(stream: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

fn path(p: &str) -> FolderPath {
    FolderPath::parse(p).unwrap()
}

async fn register(fakes: &FakePorts, username: &str) -> Owner {
    let email = format!("{username}@example.com");
    let request = RegisterRequest::parse(username, &email, "correct horse").unwrap();
    fakes.account_service().register(request).await.unwrap().owner
}

/// Every entry of a ZIP, in order, as (path, content).
fn entries(zip: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn names(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    let mut names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names
}

/// Fakes with alice and bob, and the services over them.
struct World {
    fakes: FakePorts,
    storage: StorageService,
    archives: ArchiveService,
    alice: Owner,
    bob: Owner,
}

impl World {
    async fn new() -> Self {
        let fakes = drip_mock::fake_ports();
        let storage = fakes.storage_service(StorageSettings::default());
        Self::over(fakes, storage).await
    }

    async fn over(fakes: FakePorts, storage: StorageService) -> Self {
        let archives = fakes.archive_service(storage.clone(), ArchiveSettings::default());
        let alice = register(&fakes, "alice").await;
        let bob = register(&fakes, "bob").await;
        Self { fakes, storage, archives, alice, bob }
    }

    async fn store(&self, user: &Owner, folder: &str, name: &str, content: &[u8]) -> Media {
        let request = StoreRequest {
            user: user.id,
            name: FileName::parse(name).unwrap(),
            folder: path(folder),
            content_type: None,
            length: None,
            content: stream_of(content),
        };
        self.storage.store(request).await.unwrap()
    }

    async fn run_jobs(&self) -> usize {
        self.fakes.run_jobs_with(&self.archives).await
    }

    /// The whole ZIP of a ready archive of alice's.
    async fn zip_of(&self, user: &Owner, id: &ArchiveId) -> Vec<u8> {
        read_all(self.archives.download(&user.id, id, None).await.unwrap().content).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_files_the_requester_sees_under_the_folder_go_in() {
    let w = World::new().await;
    let report = w.store(&w.alice, "$/docs", "report.txt", b"the report").await;
    w.store(&w.alice, "$/docs/2024/june", "photo.jpg", &[7u8; 150_000]).await;
    w.store(&w.alice, "$/docs/empty", "nothing.bin", b"").await;
    w.store(&w.alice, "$/docsx", "beside.txt", b"not below $/docs").await;
    w.store(&w.alice, "$", "root.txt", b"above").await;
    let shared = w.store(&w.bob, "$/docs/from-bob", "shared.txt", b"bob shares this").await;
    w.store(&w.bob, "$/docs", "private.txt", b"bob keeps this").await;
    let alice_name = Username::parse("alice").unwrap();
    w.storage.share(&w.bob.id, &shared.id(), &alice_name).await.unwrap();

    let archive = w.archives.request(&w.alice.id, path("$/docs")).await.unwrap();
    assert_eq!(archive.status(), ArchiveStatus::Pending);
    assert!(matches!(
        w.archives.download(&w.alice.id, &archive.id(), None).await,
        Err(ArchiveDownloadError::Pending)
    ));
    w.run_jobs().await;

    let ready = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    assert_eq!(ready.status(), ArchiveStatus::Ready);
    let content = ready.content().unwrap().clone();
    assert_eq!(content.files, 4);
    let zip = w.zip_of(&w.alice, &archive.id()).await;
    assert_eq!(zip.len() as u64, content.size);
    let found = entries(zip);
    assert_eq!(
        names(&found),
        ["2024/june/photo.jpg", "empty/nothing.bin", "from-bob/shared.txt", "report.txt"]
    );
    let get = |name: &str| found.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("report.txt"), b"the report");
    assert_eq!(get("2024/june/photo.jpg"), vec![7u8; 150_000]);
    assert!(get("empty/nothing.bin").is_empty());
    assert_eq!(get("from-bob/shared.txt"), b"bob shares this");

    let told = w.fakes.notifier.events_for(&w.alice.id);
    let link = content_link(&archive.id());
    assert!(told.contains(&Event::Download { archive: archive.id(), link: link.clone() }), "{told:?}");
    assert_eq!(link, format!("/api/v1/archives/{}/content", archive.id()));
    assert!(w.fakes.notifier.events_for(&w.bob.id).iter().all(|e| !matches!(e, Event::Download { .. })));
    // The folder's own files stay untouched.
    assert!(w.storage.info(&w.alice.id, &report.id()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_gets_the_answer_of_an_unknown_archive() {
    let w = World::new().await;
    w.store(&w.alice, "$/a", "x.txt", b"x").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.run_jobs().await;
    let (bob, id) = (w.bob.id, archive.id());
    let unknown = ArchiveId::from_ksuid(w.fakes.clock.new_ksuid());
    for id in [id, unknown] {
        assert!(matches!(w.archives.status(&bob, &id).await, Err(ArchiveLookupError::NotFound)));
        assert!(matches!(w.archives.download(&bob, &id, None).await, Err(ArchiveDownloadError::NotFound)));
        assert!(matches!(w.archives.delete(&bob, &id).await, Err(ArchiveLookupError::NotFound)));
    }
    assert!(w.archives.list(&bob).await.unwrap().is_empty());
    assert_eq!(w.archives.list(&w.alice.id).await.unwrap().len(), 1);
    assert!(w.archives.status(&w.alice.id, &id).await.is_ok(), "bob's attempts changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_between_the_request_and_the_build_is_skipped() {
    let w = World::new().await;
    w.store(&w.alice, "$/a", "keep.txt", b"keep").await;
    let gone = w.store(&w.alice, "$/a/sub", "gone.txt", b"gone").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.storage.delete(&w.alice.id, &gone.id()).await.unwrap();
    w.run_jobs().await;
    let ready = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    assert_eq!(ready.status(), ArchiveStatus::Ready, "skipped, not failed");
    assert_eq!(names(&entries(w.zip_of(&w.alice, &archive.id()).await)), ["keep.txt"]);
}

/// A media repository that deletes one file right after a listing named it: the file
/// goes while the build runs, between its listing and its read.
struct DeletesAfterListing {
    inner: Arc<dyn MediaRepository>,
    victim: std::sync::Mutex<Option<MediaId>>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl MediaRepository for DeletesAfterListing {
    async fn insert(&self, media: &Media, lease: Option<DateTime<Utc>>) -> Result<(), InsertMediaError> {
        self.inner.insert(media, lease).await
    }
    async fn mark_uploaded(&self, id: &MediaId, up: UploadedContent) -> Result<Option<Media>, BackendError> {
        self.inner.mark_uploaded(id, up).await
    }
    async fn renew_lease(&self, id: &MediaId, until: DateTime<Utc>) -> Result<bool, BackendError> {
        self.inner.renew_lease(id, until).await
    }
    async fn abandoned_upload(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
        now: DateTime<Utc>,
    ) -> Result<Option<Media>, BackendError> {
        self.inner.abandoned_upload(creator, folder, name, now).await
    }
    async fn abandoned_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Media>, BackendError> {
        self.inner.abandoned_uploads(now, limit).await
    }
    async fn reclaim(
        &self,
        id: &MediaId,
        now: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        self.inner.reclaim(id, now, then).await
    }
    async fn find(&self, id: &MediaId) -> Result<Option<Media>, BackendError> {
        self.inner.find(id).await
    }
    async fn created_by(&self, creator: &UserId, limit: u32) -> Result<Vec<Media>, BackendError> {
        self.inner.created_by(creator, limit).await
    }
    async fn find_visible(&self, user: &UserId, id: &MediaId) -> Result<Option<Media>, BackendError> {
        self.inner.find_visible(user, id).await
    }
    async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError> {
        self.inner.list_folder(user, folder, page).await
    }
    async fn list_visible<'a>(
        &self,
        user: &UserId,
        under: Option<&'a FolderPath>,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError> {
        let listed = self.inner.list_visible(user, under, page).await?;
        let victim = self.victim.lock().unwrap().take();
        if let Some(id) = victim {
            assert!(listed.items.iter().any(|m| m.id() == id), "the victim was listed");
            let job = NewJob {
                id: JobId::from_ksuid(self.clock.new_ksuid()),
                task: Task::DeleteObject { key: self.inner.find(&id).await?.unwrap().storage_key().clone() },
                run_at: self.clock.now(),
                created_at: self.clock.now(),
            };
            self.inner.delete(&id, &job).await?;
        }
        Ok(listed)
    }
    async fn relocate(
        &self,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RelocateError> {
        self.inner.relocate(id, folder, name, at).await
    }
    async fn find_named(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Option<Media>, BackendError> {
        self.inner.find_named(creator, folder, name).await
    }
    async fn replace_content(
        &self,
        target: &MediaId,
        expected: &StorageKey,
        version: &MediaId,
        uploaded: UploadedContent,
        then: &NewJob,
    ) -> Result<Media, ReplaceContentError> {
        self.inner.replace_content(target, expected, version, uploaded, then).await
    }
    async fn shared_by(&self, creator: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        self.inner.shared_by(creator, limit).await
    }
    async fn shared_with(&self, user: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        self.inner.shared_with(user, limit).await
    }
    async fn relocate_folder(
        &self,
        creator: &UserId,
        from: &FolderPath,
        to: &FolderPath,
        at: DateTime<Utc>,
    ) -> Result<u64, RelocateFolderError> {
        self.inner.relocate_folder(creator, from, to, at).await
    }
    async fn update_envelope(
        &self,
        id: &MediaId,
        e: &Envelope,
        at: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        self.inner.update_envelope(id, e, at).await
    }
    async fn delete(&self, id: &MediaId, then: &NewJob) -> Result<Option<Media>, BackendError> {
        self.inner.delete(id, then).await
    }
    async fn trash(
        &self,
        id: &MediaId,
        at: DateTime<Utc>,
        purge_at: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<TrashedMedia>, BackendError> {
        self.inner.trash(id, at, purge_at, then).await
    }
    async fn restore(
        &self,
        id: &MediaId,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RestoreMediaError> {
        self.inner.restore(id, name, at).await
    }
    async fn trashed(&self, creator: &UserId, id: &MediaId) -> Result<Option<TrashedMedia>, BackendError> {
        self.inner.trashed(creator, id).await
    }
    async fn list_trash(&self, creator: &UserId, page: &PageRequest) -> Result<TrashPage, BackendError> {
        self.inner.list_trash(creator, page).await
    }
    async fn purge(
        &self,
        id: &MediaId,
        due_by: Option<DateTime<Utc>>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        self.inner.purge(id, due_by, then).await
    }
    async fn add_share(
        &self,
        media: &MediaId,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> Result<Share, AddShareError> {
        self.inner.add_share(media, user, at).await
    }
    async fn remove_share(&self, media: &MediaId, user: &UserId) -> Result<bool, BackendError> {
        self.inner.remove_share(media, user).await
    }
    async fn list_shares(&self, media: &MediaId) -> Result<Vec<Share>, BackendError> {
        self.inner.list_shares(media).await
    }
    async fn share_partners(&self, user: &UserId, limit: u32) -> Result<Vec<Owner>, BackendError> {
        self.inner.share_partners(user, limit).await
    }
    async fn usage(&self, user: &UserId) -> Result<Usage, BackendError> {
        self.inner.usage(user).await
    }
    async fn reserve(
        &self,
        id: &MediaId,
        bytes: u64,
        default_quota: Option<u64>,
    ) -> Result<(), ReserveError> {
        self.inner.reserve(id, bytes, default_quota).await
    }
    async fn allowance(&self, user: &UserId, default_quota: Option<u64>) -> Result<Allowance, BackendError> {
        self.inner.allowance(user, default_quota).await
    }
    async fn set_quota(&self, user: &UserId, quota: QuotaSetting) -> Result<bool, BackendError> {
        self.inner.set_quota(user, quota).await
    }
    async fn top_users(
        &self,
        sort: UsageSort,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<UserUsage>, BackendError> {
        self.inner.top_users(sort, order, limit).await
    }
    async fn media_not_wrapped_with(&self, key_id: &str, limit: u32) -> Result<Vec<MediaId>, BackendError> {
        self.inner.media_not_wrapped_with(key_id, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_while_the_build_runs_is_skipped() {
    let fakes = drip_mock::fake_ports();
    let repository = Arc::new(DeletesAfterListing {
        inner: Arc::clone(&fakes.storage_ports.media),
        victim: std::sync::Mutex::new(None),
        clock: fakes.clock.clone(),
    });
    let mut ports = fakes.storage_ports.clone();
    ports.media = repository.clone();
    let storage = StorageService::new(ports, StorageSettings::default());
    let w = World::over(fakes, storage).await;
    w.store(&w.alice, "$/a", "keep.txt", b"keep").await;
    let victim = w.store(&w.alice, "$/a", "victim.txt", b"deleted mid-build").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    *repository.victim.lock().unwrap() = Some(victim.id());
    w.run_jobs().await;
    let ready = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    assert_eq!(ready.status(), ArchiveStatus::Ready);
    assert_eq!(ready.content().unwrap().files, 1);
    assert_eq!(names(&entries(w.zip_of(&w.alice, &archive.id()).await)), ["keep.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_folder_is_a_valid_empty_zip_and_ranges_are_served() {
    let w = World::new().await;
    let archive = w.archives.request(&w.alice.id, path("$/nothing/here")).await.unwrap();
    w.run_jobs().await;
    let zip = w.zip_of(&w.alice, &archive.id()).await;
    assert!(entries(zip.clone()).is_empty());
    let part = w.archives.download(&w.alice.id, &archive.id(), Some(4..10)).await.unwrap();
    assert_eq!(part.range, 4..10);
    assert_eq!(read_all(part.content).await, zip[4..10]);
    let beyond = w.archives.download(&w.alice.id, &archive.id(), Some(10_000..10_001)).await;
    assert!(
        matches!(beyond, Err(ArchiveDownloadError::RangeNotSatisfiable { size }) if size == zip.len() as u64)
    );
    assert_eq!(w.archives.status(&w.alice.id, &archive.id()).await.unwrap().file_name(), "here.zip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clashing_names_get_numbers_and_odd_names_are_made_safe() {
    let w = World::new().await;
    w.store(&w.alice, "$/a", "same.txt", b"alice's").await;
    let bobs = w.store(&w.bob, "$/a", "same.txt", b"bob's").await;
    w.storage.share(&w.bob.id, &bobs.id(), &Username::parse("alice").unwrap()).await.unwrap();
    w.store(&w.alice, "$/a/..weird\\dir", "back\\slash.txt", b"odd").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.run_jobs().await;
    let found = entries(w.zip_of(&w.alice, &archive.id()).await);
    assert_eq!(names(&found), ["..weird_dir/back_slash.txt", "same (1).txt", "same.txt"]);
    let mut contents: Vec<&[u8]> =
        found.iter().filter(|(n, _)| n.starts_with("same")).map(|(_, c)| &c[..]).collect();
    contents.sort_unstable();
    assert_eq!(contents, [&b"alice's"[..], &b"bob's"[..]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_expire_and_their_purge_removes_record_and_objects() {
    let w = World::new().await;
    let file = w.store(&w.alice, "$/a", "x.txt", b"x").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    assert_eq!(archive.expires_at() - archive.created_at(), chrono::Duration::hours(1));
    w.run_jobs().await;
    let key =
        w.archives.status(&w.alice.id, &archive.id()).await.unwrap().content().unwrap().storage_key.clone();
    assert!(w.fakes.objects.object(&key).is_some());

    w.fakes.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(w.run_jobs().await, 0, "nothing is due before the expiry");
    assert!(w.archives.download(&w.alice.id, &archive.id(), None).await.is_ok());

    w.fakes.clock.advance(chrono::Duration::minutes(1));
    assert!(matches!(
        w.archives.download(&w.alice.id, &archive.id(), None).await,
        Err(ArchiveDownloadError::Expired)
    ));
    assert!(matches!(w.archives.status(&w.alice.id, &archive.id()).await, Err(ArchiveLookupError::NotFound)));
    assert!(w.archives.list(&w.alice.id).await.unwrap().is_empty());
    let kinds: Vec<TaskKind> =
        w.fakes.job_ports.queue.list(None, 10).await.unwrap().iter().map(|j| j.task.kind()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&TaskKind::PurgeArchive) && kinds.contains(&TaskKind::ReclaimUpload));
    assert_eq!(w.run_jobs().await, 2);
    assert!(w.fakes.archive_ports.archives.find(&archive.id()).await.unwrap().is_none());
    assert_eq!(w.fakes.objects.keys(), [file.storage_key().clone()], "only the file's object is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_died_is_run_again_from_scratch_and_its_object_never_served() {
    let w = World::new().await;
    w.store(&w.alice, "$/a", "x.txt", b"the real content").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    // The first attempt: claimed, recorded its key, wrote part of an object, and died
    // (its job stays claimed until the lease lapses).
    let queue = &w.fakes.job_ports.queue;
    let now = w.fakes.clock.now();
    let token = drip_core::ClaimToken::from_ksuid(w.fakes.clock.new_ksuid());
    let claimed = queue.claim(&token, now, now + chrono::Duration::seconds(60)).await.unwrap().unwrap();
    assert_eq!(claimed.task, Task::BuildArchive { archive: archive.id() });
    let stale = attempt_key(w.fakes.clock.new_ksuid(), now);
    let expiry = NewJob {
        id: JobId::from_ksuid(w.fakes.clock.new_ksuid()),
        task: Task::ReclaimUpload { key: stale.clone() },
        run_at: archive.expires_at(),
        created_at: now,
    };
    let lease_until = now + chrono::Duration::seconds(60);
    w.fakes
        .archive_ports
        .archives
        .start_build(&archive.id(), &stale, now, lease_until, &expiry)
        .await
        .unwrap();
    w.fakes.objects.insert(stale.clone(), Bytes::from_static(b"half a zip"));
    assert_eq!(w.run_jobs().await, 0, "the dead attempt's claim still holds");
    assert!(matches!(
        w.archives.download(&w.alice.id, &archive.id(), None).await,
        Err(ArchiveDownloadError::Pending)
    ));

    w.fakes.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(w.run_jobs().await, 1, "claimed again after the lease");
    let ready = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    let key = &ready.content().unwrap().storage_key;
    assert_ne!(key, &stale);
    assert!(w.fakes.objects.object(&stale).is_none(), "the stale object went");
    let found = entries(w.zip_of(&w.alice, &archive.id()).await);
    assert_eq!(found, [("x.txt".to_owned(), b"the real content".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_claimed_again_while_another_attempt_holds_the_archive_waits_for_it() {
    let w = World::new().await;
    w.store(&w.alice, "$/a", "x.txt", b"x").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    // Another node's attempt holds the archive for a minute (and would renew it).
    let now = w.fakes.clock.now();
    let theirs = attempt_key(w.fakes.clock.new_ksuid(), now);
    let expiry = NewJob {
        id: JobId::from_ksuid(w.fakes.clock.new_ksuid()),
        task: Task::ReclaimUpload { key: theirs.clone() },
        run_at: archive.expires_at(),
        created_at: now,
    };
    let lease_until = now + chrono::Duration::seconds(60);
    w.fakes
        .archive_ports
        .archives
        .start_build(&archive.id(), &theirs, now, lease_until, &expiry)
        .await
        .unwrap();
    assert_eq!(w.run_jobs().await, 1, "the build found it busy and will retry");
    let jobs = w.fakes.job_ports.queue.list(None, 10).await.unwrap();
    let build =
        jobs.iter().find(|j| j.task.kind() == TaskKind::BuildArchive).expect("the build is queued again");
    assert!(build.last_error.as_deref().unwrap_or_default().contains("another attempt"), "{build:?}");
    assert_eq!(w.archives.status(&w.alice.id, &archive.id()).await.unwrap().object_key(), Some(&theirs));

    // That node died: once its lease lapsed, the retry builds the archive.
    w.fakes.clock.advance(chrono::Duration::seconds(61));
    w.run_jobs().await;
    let ready = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    assert_eq!(ready.status(), ArchiveStatus::Ready);
    assert_eq!(names(&entries(w.zip_of(&w.alice, &archive.id()).await)), ["x.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_content_fails_verification_fails_the_archive_with_a_reason() {
    let w = World::new().await;
    let media = w.store(&w.alice, "$/a", "broken.bin", &[1u8; 100_000]).await;
    let mut tampered = w.fakes.objects.object(media.storage_key()).unwrap().to_vec();
    tampered[10] ^= 1;
    w.fakes.objects.insert(media.storage_key().clone(), Bytes::from(tampered));
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.run_jobs().await;
    let failed = w.archives.status(&w.alice.id, &archive.id()).await.unwrap();
    assert_eq!(failed.status(), ArchiveStatus::Failed);
    assert!(failed.reason().unwrap().as_str().contains("broken.bin"), "{:?}", failed.reason());
    match w.archives.download(&w.alice.id, &archive.id(), None).await {
        Err(ArchiveDownloadError::Failed { reason }) => assert!(reason.contains("integrity")),
        other => panic!("{other:?}"),
    }
    let objects = w.fakes.objects.keys();
    assert_eq!(objects, [media.storage_key().clone()], "the failed attempt's object went");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_an_archive_and_its_object() {
    let w = World::new().await;
    let file = w.store(&w.alice, "$/a", "x.txt", b"x").await;
    let archive = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.run_jobs().await;
    w.archives.delete(&w.alice.id, &archive.id()).await.unwrap();
    assert!(matches!(w.archives.status(&w.alice.id, &archive.id()).await, Err(ArchiveLookupError::NotFound)));
    assert_eq!(w.fakes.objects.keys(), [file.storage_key().clone()]);
    // A pending one goes too, and its build then finds nothing to do.
    let pending = w.archives.request(&w.alice.id, path("$/a")).await.unwrap();
    w.archives.delete(&w.alice.id, &pending.id()).await.unwrap();
    w.run_jobs().await;
    assert_eq!(w.fakes.objects.keys(), [file.storage_key().clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_account_removes_its_archives_and_their_objects_by_expiry() {
    let w = World::new().await;
    let archive = w.archives.request(&w.alice.id, path("$")).await.unwrap();
    w.store(&w.alice, "$", "x.txt", b"x").await;
    w.run_jobs().await;
    w.fakes.account_service().close_account(&w.storage, &w.alice.id, None).await.unwrap();
    assert!(w.fakes.archive_ports.archives.find(&archive.id()).await.unwrap().is_none());
    w.run_jobs().await;
    w.fakes.clock.advance(chrono::Duration::hours(1));
    w.run_jobs().await;
    assert!(w.fakes.objects.is_empty(), "{:?}", w.fakes.objects.keys());
    assert!(w.fakes.job_ports.queue.list(None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_cannot_ask_for_an_archive() {
    let w = World::new().await;
    let nobody = UserId::from_ksuid(w.fakes.clock.new_ksuid());
    let refused = w.archives.request(&nobody, FolderPath::root()).await;
    assert!(matches!(refused, Err(drip_core::archives::error::RequestArchiveError::UnknownUser)));
    assert!(w.fakes.job_ports.queue.list(None, 10).await.unwrap().is_empty(), "nothing enqueued");
}

#[tokio::test]
async fn the_service_reports_its_settings() {
    let fakes = drip_mock::fake_ports();
    let storage = fakes.storage_service(StorageSettings::default());
    let settings = ArchiveSettings { ttl: std::time::Duration::from_secs(60), ..ArchiveSettings::default() };
    let archives = fakes.archive_service(storage, settings);
    assert_eq!(archives.settings().ttl.as_secs(), 60);
    let _: &dyn ArchiveRepository = &*fakes.archive_ports.archives;
    let _: &dyn StorageProvider = &*fakes.objects;
}
