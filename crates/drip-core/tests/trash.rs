//! The trash through the storage service on the in-memory fakes of `drip-mock`: a delete
//! hides a file from everyone (listings, downloads, search, shares, public links) and frees
//! its name; a restore brings it back with its shares and links; the purge job, driven by
//! the fixed clock, removes it for good once its time has come, and only then.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use chrono::Duration;
use drip_core::accounts::model::{Owner, RegisterRequest, Username};
use drip_core::clock::Clock;
use drip_core::jobs::model::{JobState, Task};
use drip_core::links::model::{Credentials, LinkRequest};
use drip_core::links::{LinkService, LinkSettings};
use drip_core::storage::error::{ChangeError, DownloadError, LookupError, PurgeError, RestoreError};
use drip_core::storage::model::{FileName, FolderPath, Media, PageRequest, Usage};
use drip_core::storage::ports::ByteStream;
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_mock::FakePorts;

const CONTENT: &[u8] = b"line one\nthe quarterly report\nline three\n";

fn stream_of(data: &[u8]) -> ByteStream {
    drip_mock::stream_of(data, 7)
}

async fn read_all(stream: ByteStream) -> Vec<u8> {
    drip_mock::read_all(stream).await.unwrap()
}

fn folder(p: &str) -> FolderPath {
    FolderPath::parse(p).unwrap()
}

fn name(n: &str) -> FileName {
    FileName::parse(n).unwrap()
}

/// Alice with `$/work/report.txt` shared with bob.
struct World {
    fakes: FakePorts,
    storage: StorageService,
    links: LinkService,
    alice: Owner,
    bob: Owner,
    file: Media,
}

impl World {
    async fn new() -> Self {
        let fakes = drip_mock::fake_ports();
        let accounts = fakes.account_service();
        let mut owners = Vec::new();
        for user in ["alice", "bob"] {
            let request = RegisterRequest::parse(user, &format!("{user}@example.com"), "password1").unwrap();
            owners.push(accounts.register(request).await.unwrap().owner);
        }
        let (alice, bob) = (owners[0].clone(), owners[1].clone());
        let storage = fakes.storage_service(StorageSettings::default());
        let links = fakes.link_service(storage.clone(), LinkSettings::default());
        let world = Self {
            file: store(&storage, &alice, "report.txt", CONTENT).await,
            fakes,
            storage,
            links,
            alice,
            bob,
        };
        world
            .storage
            .share(&world.alice.id, &world.file.id(), &Username::parse("bob").unwrap())
            .await
            .unwrap();
        world
    }

    async fn store(
        &self,
        file: &str,
        content: &[u8],
    ) -> Result<Media, drip_core::storage::error::StoreError> {
        let request = StoreRequest {
            user: self.alice.id,
            name: name(file),
            folder: folder("$/work"),
            content_type: None,
            length: None,
            content: stream_of(content),
        };
        self.storage.store(request).await
    }

    /// The names `user` sees in `$/work`.
    async fn names_in_work(&self, user: &Owner) -> Vec<String> {
        let listing =
            self.storage.list_folder(&user.id, &folder("$/work"), &PageRequest::default()).await.unwrap();
        listing.files.iter().map(|m| m.name().to_string()).collect()
    }

    /// The count of `$/work` in `user`'s root listing (0 when it is not listed).
    async fn work_count(&self, user: &Owner) -> u64 {
        let root =
            self.storage.list_folder(&user.id, &FolderPath::root(), &PageRequest::default()).await.unwrap();
        root.folders.iter().find(|f| f.name.as_str() == "work").map_or(0, |f| f.file_count)
    }

    async fn sees(&self, user: &Owner, file: &Media) -> bool {
        let listed = self.storage.list_all(&user.id, &PageRequest::default()).await.unwrap();
        let found = self.storage.search(&user.id, "^", &FolderPath::root()).await.unwrap();
        let visible = match self.storage.info(&user.id, &file.id()).await {
            Ok(_) => true,
            Err(LookupError::NotFound) => false,
            Err(e) => panic!("{e}"),
        };
        let downloadable =
            !matches!(self.storage.download(&user.id, &file.id(), None).await, Err(DownloadError::NotFound));
        let in_list = listed.items.iter().any(|m| m.id() == file.id());
        let in_search = found.matches.iter().any(|m| m.media.id() == file.id());
        assert!(
            visible == downloadable && visible == in_list && visible == in_search,
            "info {visible}, download {downloadable}, list {in_list}, search {in_search}"
        );
        visible
    }

    async fn link(&self) -> String {
        let created =
            self.links.create_link(&self.alice.id, &self.file.id(), LinkRequest::default()).await.unwrap();
        created.token.expose().to_owned()
    }

    async fn link_serves(&self, token: &str) -> bool {
        match self.links.download_link(token, &Credentials::default(), None).await {
            Ok(download) => read_all(download.download.content).await == CONTENT,
            Err(_) => false,
        }
    }
}

async fn store(storage: &StorageService, owner: &Owner, file: &str, content: &[u8]) -> Media {
    let request = StoreRequest {
        user: owner.id,
        name: name(file),
        folder: folder("$/work"),
        content_type: None,
        length: None,
        content: stream_of(content),
    };
    storage.store(request).await.unwrap()
}

#[tokio::test]
async fn delete_then_restore_brings_back_the_same_content_shares_and_links() {
    let w = World::new().await;
    let token = w.link().await;
    assert!(w.sees(&w.bob, &w.file).await && w.link_serves(&token).await);

    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    for user in [&w.alice, &w.bob] {
        assert!(!w.sees(user, &w.file).await, "{} still sees the trashed file", user.username);
        assert!(w.names_in_work(user).await.is_empty());
        assert_eq!(w.work_count(user).await, 0, "folder totals leave the trash out");
    }
    assert!(!w.link_serves(&token).await, "the link is suspended");
    assert!(w.links.my_links(&w.alice.id).await.unwrap().is_empty());
    assert_eq!(w.fakes.repositories.share_count().unwrap(), 1, "the share is kept, suspended");
    let usage = w.storage.usage(&w.alice.id).await.unwrap();
    assert_eq!(usage, Usage { media_count: 1, disk_usage: CONTENT.len() as u64 }, "the trash counts");
    assert!(w.storage.trash(&w.bob.id, &PageRequest::default()).await.unwrap().items.is_empty());

    let trash = w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap();
    assert_eq!(trash.items.len(), 1);
    let trashed = &trash.items[0];
    assert_eq!((trashed.media.id(), trashed.media.folder().as_str()), (w.file.id(), "$/work"));
    assert_eq!(trashed.trashed_at, w.fakes.clock.now());
    assert_eq!(trashed.purge_at, w.fakes.clock.now() + Duration::days(30));

    let restored = w.storage.restore(&w.alice.id, &w.file.id(), None).await.unwrap();
    assert_eq!((restored.name(), restored.folder()), (w.file.name(), w.file.folder()));
    assert!(w.sees(&w.bob, &w.file).await, "the share is back");
    assert!(w.link_serves(&token).await, "the link is back");
    let download = w.storage.download(&w.alice.id, &w.file.id(), None).await.unwrap();
    assert_eq!(read_all(download.content).await, CONTENT);
    assert_eq!(w.work_count(&w.bob).await, 1);
    assert!(w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_trashed_name_is_free_and_a_restore_onto_a_taken_one_needs_another() {
    let w = World::new().await;
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    let newer = w.store("report.txt", b"the new report").await.unwrap();

    let taken = w.storage.restore(&w.alice.id, &w.file.id(), None).await;
    assert!(matches!(taken, Err(RestoreError::AlreadyExists)), "{taken:?}");
    let restored =
        w.storage.restore(&w.alice.id, &w.file.id(), Some(&name("report (old).txt"))).await.unwrap();
    assert_eq!(restored.name().as_str(), "report (old).txt");
    assert_eq!(w.names_in_work(&w.alice).await, ["report (old).txt", "report.txt"]);
    assert!(w.sees(&w.alice, &newer).await);
    let again = w.storage.restore(&w.alice.id, &w.file.id(), None).await;
    assert!(matches!(again, Err(RestoreError::NotFound)), "not in the trash any more: {again:?}");
}

#[tokio::test]
async fn a_sharee_can_neither_delete_nor_restore_nor_purge() {
    let w = World::new().await;
    assert!(matches!(w.storage.delete(&w.bob.id, &w.file.id()).await, Err(ChangeError::Forbidden)));
    assert!(matches!(
        w.storage.delete_permanently(&w.bob.id, &w.file.id()).await,
        Err(ChangeError::Forbidden)
    ));
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    assert!(matches!(w.storage.restore(&w.bob.id, &w.file.id(), None).await, Err(RestoreError::NotFound)));
    assert!(matches!(w.storage.purge(&w.bob.id, &w.file.id()).await, Err(PurgeError::NotFound)));
    assert!(matches!(w.storage.delete(&w.alice.id, &w.file.id()).await, Err(ChangeError::NotFound)));
    assert_eq!(w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn the_job_purges_once_the_retention_has_passed_and_never_before() {
    let w = World::new().await;
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    assert_eq!(w.fakes.run_jobs().await, 0, "nothing is due yet");
    w.fakes.clock.advance(Duration::days(30) - Duration::seconds(1));
    assert_eq!(w.fakes.run_jobs().await, 0, "nothing is due a second early");
    assert_eq!(w.fakes.objects.len(), 1);

    w.fakes.clock.advance(Duration::seconds(1));
    assert_eq!(w.fakes.run_jobs().await, 2, "the purge, then the removal of the object it enqueued");
    assert!(w.fakes.objects.is_empty(), "the object is gone");
    assert!(w.fakes.repositories.all_media().unwrap().is_empty(), "the record is gone");
    assert_eq!(w.fakes.repositories.share_count().unwrap(), 0, "its shares went with it");
    assert_eq!(w.storage.usage(&w.alice.id).await.unwrap(), Usage::default(), "the quota is given back");
    assert!(w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.is_empty());
    assert!(matches!(w.storage.restore(&w.alice.id, &w.file.id(), None).await, Err(RestoreError::NotFound)));
}

#[tokio::test]
async fn a_restore_or_a_later_trashing_voids_an_earlier_purge_job() {
    let w = World::new().await;
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    w.storage.restore(&w.alice.id, &w.file.id(), None).await.unwrap();
    w.fakes.clock.advance(Duration::days(10));
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();

    w.fakes.clock.advance(Duration::days(20));
    assert_eq!(w.fakes.run_jobs().await, 1, "the first purge job runs ...");
    assert_eq!(
        w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.len(),
        1,
        "... void"
    );
    assert_eq!(w.fakes.objects.len(), 1);
    let queued = w.fakes.job_ports.queue.list(Some(JobState::Queued), 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].task, Task::PurgeTrashed { media: w.file.id() });

    w.storage.restore(&w.alice.id, &w.file.id(), None).await.unwrap();
    w.fakes.clock.advance(Duration::days(10));
    assert_eq!(w.fakes.run_jobs().await, 1, "the second one is void too: the file was restored");
    assert!(w.sees(&w.alice, &w.file).await);
    assert_eq!(w.fakes.objects.len(), 1);
}

#[tokio::test]
async fn purge_now_and_empty_trash_remove_what_is_trashed_only() {
    let w = World::new().await;
    let other = w.store("other.txt", b"other").await.unwrap();
    let kept = w.store("kept.txt", b"kept").await.unwrap();
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    w.storage.delete(&w.alice.id, &other.id()).await.unwrap();

    w.storage.purge(&w.alice.id, &w.file.id()).await.unwrap();
    assert!(matches!(w.storage.purge(&w.alice.id, &w.file.id()).await, Err(PurgeError::NotFound)));
    assert!(
        matches!(w.storage.purge(&w.alice.id, &kept.id()).await, Err(PurgeError::NotFound)),
        "not trashed"
    );
    let trash = w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap();
    assert_eq!(trash.items.iter().map(|t| t.media.id()).collect::<Vec<_>>(), [other.id()]);

    assert_eq!(w.storage.empty_trash(&w.alice.id).await.unwrap(), 1);
    assert_eq!(w.storage.empty_trash(&w.alice.id).await.unwrap(), 0);
    w.fakes.run_jobs().await;
    assert_eq!(w.fakes.objects.len(), 1, "only the object of the file never deleted is left");
    assert_eq!(w.storage.usage(&w.alice.id).await.unwrap().media_count, 1);
    assert!(w.sees(&w.alice, &kept).await);
}

#[tokio::test]
async fn a_permanent_delete_skips_the_trash() {
    let w = World::new().await;
    w.storage.delete_permanently(&w.alice.id, &w.file.id()).await.unwrap();
    assert!(w.storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.is_empty());
    assert_eq!(w.fakes.run_jobs().await, 1, "the object goes at once");
    assert!(w.fakes.objects.is_empty());
    assert_eq!(w.storage.usage(&w.alice.id).await.unwrap(), Usage::default());
}

#[tokio::test]
async fn without_a_trash_every_delete_is_permanent() {
    let w = World::new().await;
    let storage =
        w.fakes.storage_service(StorageSettings { trash_retention: None, ..StorageSettings::default() });
    storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    assert!(storage.trash(&w.alice.id, &PageRequest::default()).await.unwrap().items.is_empty());
    assert!(w.fakes.repositories.all_media().unwrap().is_empty());
}
