//! Storage service tests against mockall mocks of every port.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use mockall::predicate::{always, eq};

use super::model::*;
use super::ports::*;
use super::{StoragePorts, StorageService, StorageSettings, StoreRequest};
use crate::accounts::model::{Email, Owner, PasswordHash, User, Username};
use crate::accounts::ports::MockAccountRepository;
use crate::accounts::tests::{at, fixed_clock};
use crate::clock::MockClock;
use crate::content::DataKey;
use crate::events::{Event, MockNotifier};
use crate::ids::{Ksuid, MediaId, UserId};
use crate::jobs::model::{NewJob, Task};
use crate::storage::error::{ChangeError, PurgeError, RestoreError, ShareError, StoreError};

fn ksuid(n: u8) -> Ksuid {
    Ksuid::from_parts(at(), [n; 16])
}

fn user(n: u8) -> UserId {
    UserId::from_ksuid(ksuid(n))
}

const MEDIA_BYTE: u8 = 100;

fn media_id() -> MediaId {
    MediaId::from_ksuid(ksuid(MEDIA_BYTE))
}

struct Mocks {
    media: MockMediaRepository,
    accounts: MockAccountRepository,
    storage: MockStorageProvider,
    keys: MockKeyWrapper,
    notifier: MockNotifier,
    clock: MockClock,
}

impl Mocks {
    fn new() -> Self {
        let mut keys = MockKeyWrapper::new();
        keys.expect_current_key_id().returning(|| "k1".into());
        keys.expect_wrap()
            .returning(|key| Ok(WrappedKey { key_id: "k1".into(), bytes: key.expose().to_vec() }));
        keys.expect_unwrap().returning(|w| {
            let mut raw = [0u8; 32];
            raw.copy_from_slice(&w.bytes);
            Ok(DataKey::from_bytes(raw))
        });
        // Quota is reserved as the content comes (tests/quotas.rs checks how much).
        let mut media = MockMediaRepository::new();
        media.expect_reserve().returning(|_, _, _| Ok(()));
        Self {
            media,
            accounts: MockAccountRepository::new(),
            storage: MockStorageProvider::new(),
            keys,
            notifier: MockNotifier::new(),
            clock: fixed_clock(ksuid(MEDIA_BYTE)),
        }
    }

    fn service(mut self) -> StorageService {
        let storage = Arc::new(std::mem::replace(&mut self.storage, MockStorageProvider::new()));
        self.service_storing_in(
            storage,
            StorageSettings { max_upload_bytes: 1000, ..StorageSettings::default() },
        )
    }

    /// The service over these mocks with `settings`, storing objects in `storage` instead of
    /// the mock.
    fn service_storing_in(
        self,
        storage: Arc<dyn StorageProvider>,
        settings: StorageSettings,
    ) -> StorageService {
        StorageService::new(
            StoragePorts {
                media: Arc::new(self.media),
                accounts: Arc::new(self.accounts),
                storage,
                keys: Arc::new(self.keys),
                notifier: Arc::new(self.notifier),
                clock: Arc::new(self.clock),
            },
            settings,
        )
    }

    /// A service in which every lookup finds `visible` and nothing may be removed or moved.
    fn service_refusing_changes(mut self, visible: Option<Media>) -> StorageService {
        self.media.expect_find_visible().returning(move |_, _| Ok(visible.clone()));
        self.media.expect_delete().never();
        self.media.expect_trash().never();
        self.media.expect_relocate().never();
        self.storage.expect_delete().never();
        self.service()
    }
}

fn request(content: &'static [u8]) -> StoreRequest {
    StoreRequest {
        user: user(1),
        name: FileName::parse("notes.txt").unwrap(),
        folder: FolderPath::parse("$/docs").unwrap(),
        content_type: None,
        length: None,
        content: futures::stream::iter([Ok(Bytes::from_static(content))]).boxed(),
    }
}

fn expected_key() -> StorageKey {
    StorageKey::new(media_id(), at(), &FileName::parse("notes.txt").unwrap())
}

/// A stored media created by `creator`.
fn stored(creator: UserId) -> Media {
    stored_as(creator, media_id(), "notes.txt")
}

/// A stored media created by `creator` with this id and name, in `$/docs`.
fn stored_as(creator: UserId, id: MediaId, name: &str) -> Media {
    Media::from_parts(MediaParts {
        id,
        creator,
        name: FileName::parse(name).unwrap(),
        folder: FolderPath::parse("$/docs").unwrap(),
        content_type: ContentType::octet_stream(),
        storage_key: expected_key(),
        envelope: Envelope::new(crate::content::ALGORITHM, 65536, "k1", vec![1; 32]).unwrap(),
        metadata: serde_json::Map::new(),
        uploaded: Some(UploadedContent { size: 5, digest: Digest::from_bytes([0; 32]), uploaded_at: at() }),
        created_at: at(),
        updated_at: at(),
    })
}

/// Drains a stream handed to a mocked `put` (the mock's closure is synchronous).
fn drain(stream: ByteStream) -> Result<u64, StorageError> {
    futures::executor::block_on(async {
        let mut stream = stream;
        let mut n = 0u64;
        while let Some(item) = stream.next().await {
            n += item.map_err(StorageError::Input)?.len() as u64;
        }
        Ok(n)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_puts_once_under_the_storage_key_then_marks_uploaded_and_notifies() {
    let mut m = Mocks::new();
    m.media
        .expect_insert()
        .withf(|_, lease| *lease == Some(at() + chrono::Duration::seconds(30)))
        .times(1)
        .returning(|_, _| Ok(()));
    m.storage.expect_put().with(eq(expected_key()), always()).times(1).returning(|_, s| drain(s));
    m.media.expect_mark_uploaded().with(eq(media_id()), always()).times(1).returning(|_, up| {
        assert_eq!(up.size, 5);
        assert_eq!(up.digest.as_bytes(), &crate::crypto::sha256(b"hello"));
        Ok(Some(stored(user(1)).with_uploaded(up)))
    });
    m.notifier
        .expect_publish()
        .withf(|u, e| *u == user(1) && matches!(e, Event::Upload { .. }))
        .times(1)
        .returning(|_, _| Ok(()));
    let media = m.service().store(request(b"hello")).await.unwrap();
    assert_eq!(media.size(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_put_removes_the_metadata() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Ok(()));
    m.storage.expect_put().times(1).returning(|_, _| {
        Err(StorageError::Unavailable(crate::BackendError::msg("bucket down").transient()))
    });
    // The object, if any, goes by the job enqueued with the record's removal.
    m.storage.expect_delete().never();
    m.media
        .expect_delete()
        .withf(|id, job| *id == media_id() && removes_an_object(job))
        .times(1)
        .returning(|_, _| Ok(Some(stored(user(1)))));
    m.media.expect_mark_uploaded().never();
    m.notifier.expect_publish().never();
    let err = m.service().store(request(b"hello")).await.unwrap_err();
    assert!(matches!(err, StoreError::Storage(StorageError::Unavailable(_))), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_upload_is_refused_and_removed() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Ok(()));
    m.storage.expect_put().times(1).returning(|_, s| drain(s));
    m.storage.expect_delete().never();
    m.media
        .expect_delete()
        .withf(|_, job| removes_an_object(job))
        .times(1)
        .returning(|_, _| Ok(Some(stored(user(1)))));
    m.media.expect_mark_uploaded().never();
    let big: &'static [u8] = Box::leak(vec![7u8; 1001].into_boxed_slice());
    let err = m.service().store(request(big)).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { limit: 1000 }), "{err:?}");
}

/// A failed upload whose record is already gone (reclaimed after its lease lapsed) removes
/// what it stored itself: no job was enqueued for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_whose_record_was_reclaimed_removes_its_object() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Ok(()));
    m.storage.expect_put().times(1).returning(|_, s| drain(s));
    m.media.expect_mark_uploaded().times(1).returning(|_, _| Ok(None));
    m.media.expect_delete().times(1).returning(|_, _| Ok(None));
    m.storage.expect_delete().with(eq(expected_key())).times(1).returning(|_| Ok(()));
    assert!(m.service().store(request(b"hello")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_conflict_stores_nothing() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Err(InsertMediaError::AlreadyExists));
    // Held by a live upload or a file: nothing abandoned to take over.
    m.media.expect_abandoned_upload().times(1).returning(|_, _, _, _| Ok(None));
    m.media.expect_reclaim().never();
    m.storage.expect_put().never();
    let err = m.service().store(request(b"hello")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists));
}

/// The abandoned upload of a dead node holding the name is reclaimed (its object and parts
/// going by a job) and the store takes the name over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_upload_does_not_block_its_name() {
    let mut m = Mocks::new();
    let mut seq = mockall::Sequence::new();
    m.media
        .expect_insert()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(InsertMediaError::AlreadyExists));
    let abandoned = stored(user(1));
    let old_key = abandoned.storage_key().clone();
    m.media
        .expect_abandoned_upload()
        .withf(|creator, folder, name, now| {
            *creator == user(1) && folder.as_str() == "$/docs" && name.as_str() == "notes.txt" && *now == at()
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _, _| Ok(Some(abandoned.clone())));
    m.media
        .expect_reclaim()
        .withf(move |id, now, job| {
            *id == media_id() && *now == at() && job.task == Task::ReclaimUpload { key: old_key.clone() }
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(Some(stored(user(1)))));
    m.media.expect_insert().times(1).in_sequence(&mut seq).returning(|_, _| Ok(()));
    m.storage.expect_put().times(1).returning(|_, s| drain(s));
    m.media.expect_mark_uploaded().times(1).returning(|_, up| Ok(Some(stored(user(1)).with_uploaded(up))));
    m.notifier.expect_publish().returning(|_, _| Ok(()));
    assert!(m.service().store(request(b"hello")).await.is_ok());
}

/// An upload renews its lease while it runs; one whose reservation was taken over (its
/// lease lapsed) fails and removes what it reserved. (Real time: the pipeline's threads
/// keep a paused clock from advancing; the renewal interval is a millisecond.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_lost_its_reservation_fails() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Ok(()));
    m.media
        .expect_renew_lease()
        .withf(|id, until| *id == media_id() && *until == at() + chrono::Duration::seconds(30))
        .times(1)
        .returning(|_, _| Ok(false));
    m.media.expect_delete().withf(|_, job| removes_an_object(job)).times(1).returning(|_, _| Ok(None));
    m.media.expect_mark_uploaded().never();
    // The client sent bytes, then never finishes: the renewal sees them flow (and is
    // refused), so only the lost lease stops the upload.
    let mut request = request(b"");
    request.content =
        futures::stream::iter([Ok(Bytes::from_static(b"some"))]).chain(futures::stream::pending()).boxed();
    let settings = StorageSettings { lease_renewal: Duration::from_millis(1), ..StorageSettings::default() };
    let err = m.service_storing_in(Arc::new(Draining), settings).store(request).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

/// A client that sends nothing keeps no lease: its reservation is not renewed (so it lapses
/// and the name can be taken over), however long the request stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_does_not_renew_its_lease() {
    let mut m = Mocks::new();
    m.media.expect_insert().times(1).returning(|_, _| Ok(()));
    m.media.expect_renew_lease().never();
    m.media.expect_delete().returning(|_, _| Ok(Some(stored(user(1)))));
    let mut request = request(b"");
    request.content = futures::stream::pending().boxed();
    let settings = StorageSettings { lease_renewal: Duration::from_millis(1), ..StorageSettings::default() };
    let service = m.service_storing_in(Arc::new(Draining), settings);
    // Give the renewal timer many ticks, then hang up (the request cannot end by itself).
    let stalled = tokio::time::timeout(Duration::from_millis(50), service.store(request)).await;
    assert!(stalled.is_err(), "a stalled upload does not finish");
    service.cleanups_finished().await;
}

/// A store that reads its input to the end (awaiting it, unlike the mock) and keeps nothing.
#[derive(Debug)]
struct Draining;

#[async_trait::async_trait]
impl StorageProvider for Draining {
    async fn put(&self, _key: &StorageKey, mut content: ByteStream) -> Result<u64, StorageError> {
        let mut n = 0;
        while let Some(chunk) = content.next().await {
            n += chunk.map_err(StorageError::Input)?.len() as u64;
        }
        Ok(n)
    }

    async fn get(
        &self,
        key: &StorageKey,
        _range: Option<std::ops::Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        Err(StorageError::NotFound(key.to_string()))
    }

    async fn size(&self, _key: &StorageKey) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        Err(StorageError::NotFound(key.to_string()))
    }

    async fn remove_unfinished(&self, _key: &StorageKey) -> Result<(), StorageError> {
        Ok(())
    }
}

#[tokio::test]
async fn share_by_a_non_creator_is_forbidden_and_writes_nothing() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(2)))));
    m.media.expect_add_share().never();
    m.accounts.expect_find_user_by_username().never();
    let alice = Username::parse("alice").unwrap();
    let err = m.service().share(&user(1), &media_id(), &alice).await.unwrap_err();
    assert!(matches!(err, ShareError::Forbidden));
}

#[tokio::test]
async fn invisible_media_answer_not_found_everywhere() {
    let s = Mocks::new().service_refusing_changes(None);
    let u = user(1);
    assert!(matches!(s.info(&u, &media_id()).await, Err(crate::storage::error::LookupError::NotFound)));
    assert!(matches!(
        s.download(&u, &media_id(), None).await,
        Err(crate::storage::error::DownloadError::NotFound)
    ));
    assert!(matches!(s.delete(&u, &media_id()).await, Err(ChangeError::NotFound)));
    assert!(matches!(
        s.rename(&u, &media_id(), &FileName::parse("x").unwrap()).await,
        Err(ChangeError::NotFound)
    ));
    let bob = Username::parse("bob").unwrap();
    assert!(matches!(s.share(&u, &media_id(), &bob).await, Err(ShareError::NotFound)));
}

#[tokio::test]
async fn non_creator_cannot_move_rename_or_delete() {
    let s = Mocks::new().service_refusing_changes(Some(stored(user(2))));
    let u = user(1);
    assert!(matches!(s.delete(&u, &media_id()).await, Err(ChangeError::Forbidden)));
    assert!(matches!(s.move_to(&u, &media_id(), &FolderPath::root()).await, Err(ChangeError::Forbidden)));
    assert!(matches!(s.list_shares(&u, &media_id()).await, Err(ChangeError::Forbidden)));
}

#[tokio::test]
async fn share_partners_are_the_callers_own_and_capped() {
    let mut m = Mocks::new();
    m.media
        .expect_share_partners()
        .withf(|who, limit| *who == user(1) && *limit == crate::storage::model::MAX_SHARE_PARTNERS)
        .times(1)
        .returning(|_, _| Ok(Vec::new()));
    assert!(m.service().share_partners(&user(1)).await.unwrap().is_empty());
}

#[tokio::test]
async fn share_notifies_both_sides() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    let bob = Owner {
        id: user(2),
        username: Username::parse("bob").unwrap(),
        email: Email::parse("bob@example.com").unwrap(),
    };
    let bob_user =
        User { owner: bob.clone(), password_hash: PasswordHash::parse("$x$y").unwrap(), created_at: at() };
    m.accounts.expect_find_user_by_username().returning(move |_| Ok(Some(bob_user.clone())));
    let alice = Owner {
        id: user(1),
        username: Username::parse("alice").unwrap(),
        email: Email::parse("a@example.com").unwrap(),
    };
    m.accounts.expect_find_owner().returning(move |_| Ok(Some(alice.clone())));
    let sharee = bob.clone();
    m.media
        .expect_add_share()
        .with(eq(media_id()), eq(user(2)), always())
        .times(1)
        .returning(move |id, _, at| Ok(Share { media_id: *id, sharee: sharee.clone(), created_at: at }));
    m.notifier
        .expect_publish()
        .withf(|u, e| *u == user(1) && e.message() == "Successfully shared the file with bob.")
        .times(1)
        .returning(|_, _| Ok(()));
    m.notifier
        .expect_publish()
        .withf(|u, e| *u == user(2) && e.message() == "alice has just shared a file with you!")
        .times(1)
        .returning(|_, _| Ok(()));
    let share = m.service().share(&user(1), &media_id(), &bob.username).await.unwrap();
    assert_eq!(share.sharee, bob);
}

#[tokio::test]
async fn delete_moves_to_the_trash_with_its_purge_job_due_when_the_retention_ends() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    m.storage.expect_delete().never();
    m.media.expect_delete().never();
    let purge_at = at() + chrono::Duration::days(30);
    m.media
        .expect_trash()
        .withf(move |id, trashed_at, due, job| {
            *id == media_id()
                && *trashed_at == at()
                && *due == purge_at
                && job.task == Task::PurgeTrashed { media: media_id() }
                && job.run_at == purge_at
        })
        .times(1)
        .returning(move |_, trashed_at, purge_at, _| {
            Ok(Some(TrashedMedia { media: stored(user(1)), trashed_at, purge_at }))
        });
    let deleted = m.service().delete(&user(1), &media_id()).await.unwrap();
    assert_eq!(deleted.id(), media_id());
}

#[tokio::test]
async fn without_a_trash_a_delete_is_permanent() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    m.media.expect_trash().never();
    m.media
        .expect_delete()
        .withf(|id, job| *id == media_id() && removes_an_object(job))
        .times(1)
        .returning(|_, _| Ok(Some(stored(user(1)))));
    let settings = StorageSettings { trash_retention: None, ..StorageSettings::default() };
    let service = m.service_storing_in(Arc::new(MockStorageProvider::new()), settings);
    assert_eq!(service.delete(&user(1), &media_id()).await.unwrap().id(), media_id());
}

#[tokio::test]
async fn a_permanent_delete_removes_the_record_and_enqueues_the_removal_of_its_object() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    m.storage.expect_delete().never();
    m.media.expect_trash().never();
    m.media
        .expect_delete()
        .withf(|id, job| *id == media_id() && job.task == Task::DeleteObject { key: expected_key() })
        .times(1)
        .returning(|_, _| Ok(Some(stored(user(1)))));
    let deleted = m.service().delete_permanently(&user(1), &media_id()).await.unwrap();
    assert_eq!(deleted.id(), media_id());
}

#[tokio::test]
async fn failing_record_delete_or_trash_is_a_backend_error() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    m.storage.expect_delete().never();
    m.media.expect_delete().returning(|_, _| Err(crate::BackendError::msg("boom")));
    m.media.expect_trash().returning(|_, _, _, _| Err(crate::BackendError::msg("boom")));
    let service = m.service();
    assert!(matches!(service.delete_permanently(&user(1), &media_id()).await, Err(ChangeError::Backend(_))));
    assert!(matches!(service.delete(&user(1), &media_id()).await, Err(ChangeError::Backend(_))));
}

#[tokio::test]
async fn only_the_creators_trash_is_restored_or_purged() {
    let mut m = Mocks::new();
    m.media.expect_trashed().returning(|_, _| Ok(None));
    m.media.expect_restore().never();
    m.media.expect_purge().never();
    let service = m.service();
    let name = FileName::parse("x").unwrap();
    assert!(matches!(service.restore(&user(2), &media_id(), Some(&name)).await, Err(RestoreError::NotFound)));
    assert!(matches!(service.purge(&user(2), &media_id()).await, Err(PurgeError::NotFound)));
}

#[tokio::test]
async fn a_restore_keeps_the_name_unless_given_another_and_maps_conflicts() {
    let mut m = Mocks::new();
    m.media.expect_trashed().returning(|_, _| {
        Ok(Some(TrashedMedia { media: stored(user(1)), trashed_at: at(), purge_at: at() }))
    });
    m.media
        .expect_restore()
        .withf(|_, name, _| name.as_str() == "notes.txt")
        .times(1)
        .returning(|_, _, _| Err(RestoreMediaError::AlreadyExists));
    m.media
        .expect_restore()
        .withf(|_, name, _| name.as_str() == "notes (1).txt")
        .times(1)
        .returning(|_, name, at| Ok(stored(user(1)).relocated(FolderPath::root(), name.clone(), at)));
    let service = m.service();
    assert!(matches!(service.restore(&user(1), &media_id(), None).await, Err(RestoreError::AlreadyExists)));
    let other = FileName::parse("notes (1).txt").unwrap();
    let restored = service.restore(&user(1), &media_id(), Some(&other)).await.unwrap();
    assert_eq!(restored.name(), &other);
}

fn removes_an_object(job: &NewJob) -> bool {
    matches!(job.task, Task::DeleteObject { .. })
}

#[tokio::test]
async fn range_beyond_the_end_is_not_satisfiable() {
    let mut m = Mocks::new();
    m.media.expect_find_visible().returning(|_, _| Ok(Some(stored(user(1)))));
    m.storage.expect_get().never();
    let err = m.service().download(&user(1), &media_id(), Some(5..10)).await.unwrap_err();
    assert!(matches!(err, crate::storage::error::DownloadError::RangeNotSatisfiable { size: 5 }));
}

fn folder(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap()
}

/// A stored media of `creator` with id byte `n`, named `f{n}` in `$/docs`.
fn stored_file(creator: UserId, n: u8) -> Media {
    stored_as(creator, MediaId::from_ksuid(ksuid(n)), &format!("f{n}"))
}

#[tokio::test]
async fn folder_moves_refuse_the_root_and_overlapping_targets_without_asking() {
    use crate::storage::error::MoveFolderError;
    let mut m = Mocks::new();
    m.media.expect_relocate_folder().never();
    let service = m.service();
    for (from, to, root) in
        [("$", "$/a", true), ("$/a", "$/a", false), ("$/a", "$/a/b", false), ("$/a/b", "$/a", false)]
    {
        let result = service.move_folder(&user(1), &folder(from), &folder(to)).await;
        match result {
            Err(MoveFolderError::Root) if root => {}
            Err(MoveFolderError::Overlaps) if !root => {}
            other => panic!("{from} → {to}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_folder_move_answers_how_many_moved_and_none_is_not_found() {
    use crate::storage::error::MoveFolderError;
    let mut m = Mocks::new();
    let outcomes = std::sync::Mutex::new(vec![
        Err(RelocateFolderError::TooDeep),
        Err(RelocateFolderError::AlreadyExists),
        Ok(0),
        Ok(3),
    ]);
    m.media
        .expect_relocate_folder()
        .with(eq(user(1)), eq(folder("$/a")), eq(folder("$/b/a")), eq(at()))
        .times(4)
        .returning(move |_, _, _, _| outcomes.lock().unwrap().pop().unwrap());
    let service = m.service();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(service.move_folder(&user(1), &folder("$/a"), &folder("$/b/a")).await);
    }
    assert!(matches!(answers[0], Ok(3)), "{:?}", answers[0]);
    assert!(matches!(answers[1], Err(MoveFolderError::NotFound)), "{:?}", answers[1]);
    assert!(matches!(answers[2], Err(MoveFolderError::AlreadyExists)), "{:?}", answers[2]);
    assert!(matches!(answers[3], Err(MoveFolderError::TooDeep)), "{:?}", answers[3]);
}

#[tokio::test]
async fn a_folder_delete_trashes_the_users_files_page_by_page_and_keeps_shared_ones() {
    use super::FolderDeleted;
    use crate::storage::error::DeleteFolderError;
    let mut m = Mocks::new();
    let (own, shared, own_later) =
        (stored_file(user(1), 1), stored_file(user(2), 2), stored_file(user(1), 3));
    let first = MediaPage {
        items: vec![own.clone(), shared.clone()],
        next: Some(FileCursor::by_name(shared.name().clone(), shared.id())),
    };
    let second = MediaPage { items: vec![own_later.clone()], next: None };
    m.media
        .expect_list_visible()
        .withf(|viewer, under, page| {
            *viewer == user(1) && *under == Some(&folder("$/docs")) && page.cursor().is_none()
        })
        .times(1)
        .returning(move |_, _, _| Ok(first.clone()));
    m.media
        .expect_list_visible()
        .withf(|_, _, page| page.cursor().is_some())
        .times(1)
        .returning(move |_, _, _| Ok(second.clone()));
    let trashed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&trashed);
    m.media.expect_trash().times(2).returning(move |id, trashed_at, purge_at, job| {
        assert_eq!(job.task, Task::PurgeTrashed { media: *id });
        seen.lock().unwrap().push(*id);
        Ok(Some(TrashedMedia { media: stored_file(user(1), 1), trashed_at, purge_at }))
    });
    let service = m.service();
    let outcome = service.delete_folder(&user(1), &folder("$/docs")).await.unwrap();
    assert_eq!(outcome, FolderDeleted { deleted: 2, kept: 1 });
    assert_eq!(*trashed.lock().unwrap(), vec![own.id(), own_later.id()], "only the user's own, in order");

    let mut m = Mocks::new();
    m.media.expect_list_visible().returning(|_, _, _| Ok(MediaPage { items: Vec::new(), next: None }));
    m.media.expect_trash().never();
    let service = m.service();
    assert!(matches!(
        service.delete_folder(&user(1), &folder("$/none")).await,
        Err(DeleteFolderError::NotFound)
    ));
    assert!(matches!(
        service.delete_folder(&user(1), &FolderPath::root()).await,
        Err(DeleteFolderError::Root)
    ));
}
