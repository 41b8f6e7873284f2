//! Whole flows through both services on the in-memory fakes of `drip-mock`:
//! register → login → store → list → share → sharee downloads → move → delete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::time::Duration;

use bytes::Bytes;
use drip_core::accounts::AccountService;
use drip_core::accounts::model::{Owner, RegisterRequest, Username};
use drip_core::clock::Clock;
use drip_core::events::Event;
use drip_core::storage::error::{ChangeError, DownloadError, StoreError};
use drip_core::storage::model::{
    ContentType, Envelope, FileName, FolderPath, Media, MediaParts, PageRequest, StorageKey,
};
use drip_core::storage::ports::MediaRepository;
use drip_core::storage::ports::{ByteStream, StorageProvider};
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_core::{Ksuid, MediaId, UserId};
use drip_mock::FakePorts;
use futures::{StreamExt, TryStreamExt};

fn stream_of(data: Vec<u8>, piece: usize) -> ByteStream {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

async fn read_all(stream: ByteStream) -> Result<Vec<u8>, std::io::Error> {
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}

fn path(p: &str) -> FolderPath {
    FolderPath::parse(p).unwrap()
}

fn name(n: &str) -> FileName {
    FileName::parse(n).unwrap()
}

/// Registers `username` (at example.com) and answers who they are.
async fn register(accounts: &AccountService, username: &str, password: &str) -> Owner {
    let email = format!("{username}@example.com");
    accounts.register(RegisterRequest::parse(username, &email, password).unwrap()).await.unwrap().owner
}

/// The fakes (to look behind the services), a storage service on them with `settings`, and
/// alice, registered.
async fn alice_on_fakes(settings: StorageSettings) -> (FakePorts, StorageService, Owner) {
    let fakes = drip_mock::fake_ports();
    let alice = register(&fakes.account_service(), "alice", "password1").await;
    let storage = fakes.storage_service(settings);
    (fakes, storage, alice)
}

/// The request to store `content` as `folder`/`file` for `user`.
fn upload(user: UserId, folder: FolderPath, file: &str, content: ByteStream) -> StoreRequest {
    StoreRequest { user, name: name(file), folder, content_type: None, length: None, content }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_store_share_move_delete() {
    let fakes = drip_mock::fake_ports();
    let accounts = fakes.account_service();
    let storage = fakes.storage_service(StorageSettings::default());

    let alice = register(&accounts, "alice", "correct horse").await;
    let bob = register(&accounts, "bob", "battery staple").await;
    let session = accounts.login("ALICE", "correct horse").await.unwrap();
    let claims = accounts.authenticate(session.access_token.as_str()).await.unwrap();
    assert_eq!(claims.user_id, alice.id);

    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let media = storage
        .store(upload(alice.id, path("$/work/2024"), "report.txt", stream_of(content.clone(), 7_000)))
        .await
        .unwrap();
    assert_eq!(media.size(), content.len() as u64);
    assert_eq!(media.content_type().as_str(), "text/plain; charset=utf-8");
    assert!(matches!(fakes.notifier.events_for(&alice.id).last(), Some(Event::Upload { .. })));

    let root = storage.list_folder(&alice.id, &FolderPath::root(), &PageRequest::default()).await.unwrap();
    assert!(root.files.is_empty());
    assert_eq!(root.folders.len(), 1);
    assert_eq!(root.folders[0].name.as_str(), "work");
    assert_eq!((root.folders[0].file_count, root.folders[0].total_size), (1, content.len() as u64));
    let leaf = storage.list_folder(&alice.id, &path("$/work/2024"), &PageRequest::default()).await.unwrap();
    assert_eq!(leaf.files.len(), 1);

    // Bob cannot see it until it is shared; then he is told and can download it.
    assert!(matches!(storage.download(&bob.id, &media.id(), None).await, Err(DownloadError::NotFound)));
    storage.share(&alice.id, &media.id(), &Username::parse("bob").unwrap()).await.unwrap();
    let told = fakes.notifier.events_for(&bob.id);
    assert_eq!(told.last().map(Event::message).as_deref(), Some("alice has just shared a file with you!"));
    let download = storage.download(&bob.id, &media.id(), None).await.unwrap();
    assert_eq!(read_all(download.content).await.unwrap(), content);
    let part = storage.download(&bob.id, &media.id(), Some(70_000..140_001)).await.unwrap();
    assert_eq!(read_all(part.content).await.unwrap(), &content[70_000..140_001]);

    // Only the creator may move, rename or delete.
    assert!(matches!(
        storage.move_to(&bob.id, &media.id(), &FolderPath::root()).await,
        Err(ChangeError::Forbidden)
    ));
    assert!(matches!(storage.delete(&bob.id, &media.id()).await, Err(ChangeError::Forbidden)));
    let moved = storage.move_to(&alice.id, &media.id(), &path("$/archive")).await.unwrap();
    assert_eq!(moved.folder().as_str(), "$/archive");
    let renamed = storage.rename(&alice.id, &media.id(), &name("final.txt")).await.unwrap();
    assert_eq!(renamed.name().as_str(), "final.txt");
    assert!(matches!(
        storage.rename(&alice.id, &media.id(), &name("final.txt")).await,
        Err(ChangeError::AlreadyExists)
    ));

    storage.delete_permanently(&alice.id, &media.id()).await.unwrap();
    assert_eq!(fakes.objects.len(), 1, "the object goes by a job");
    assert_eq!(fakes.run_jobs().await, 1);
    assert!(fakes.objects.is_empty(), "the stored object is gone");
    assert!(matches!(storage.download(&bob.id, &media.id(), None).await, Err(DownloadError::NotFound)));
    assert_eq!(storage.usage(&alice.id).await.unwrap().media_count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_objects_are_ciphertext_and_corruption_is_detected() {
    let (fakes, storage, alice) =
        alice_on_fakes(StorageSettings { cache_max_bytes: 0, ..StorageSettings::default() }).await;
    let content = b"attack at dawn, attack at dawn, attack at dawn".repeat(100);
    let media = storage
        .store(upload(alice.id, FolderPath::root(), "plans.txt", stream_of(content.clone(), 1000)))
        .await
        .unwrap();
    let mut object = fakes.objects.object(media.storage_key()).unwrap().to_vec();
    assert!(!object.windows(13).any(|w| w == &b"attack at dawn"[..13]), "plaintext found in the store");
    object[100] ^= 1;
    fakes.objects.insert(media.storage_key().clone(), Bytes::from(object));
    let download = storage.download(&alice.id, &media.id(), None).await.unwrap();
    let err = read_all(download.content).await.unwrap_err();
    assert!(err.to_string().contains("integrity"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_leaves_nothing_behind() {
    let (fakes, storage, alice) = alice_on_fakes(StorageSettings::default()).await;
    // A client that sends one piece and then stalls forever.
    let stalled: ByteStream =
        futures::stream::iter([Ok(Bytes::from_static(b"partial"))]).chain(futures::stream::pending()).boxed();
    let request = upload(alice.id, FolderPath::root(), "stalled.bin", stalled);
    let outcome = tokio::time::timeout(Duration::from_millis(200), storage.store(request)).await;
    assert!(outcome.is_err(), "the upload cannot finish");
    // The cleanup runs on a spawned task once the future is dropped.
    storage.cleanups_finished().await;
    assert!(fakes.repositories.all_media().unwrap().is_empty(), "the reserved record was removed");
    assert!(fakes.objects.is_empty());
    // And the name is free again.
    let again = storage
        .store(upload(alice.id, FolderPath::root(), "stalled.bin", stream_of(b"done".to_vec(), 2)))
        .await;
    assert!(again.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_transfers_are_refused_not_queued_forever() {
    let (_fakes, storage, alice) = alice_on_fakes(StorageSettings {
        max_concurrent_transfers: 1,
        transfer_wait: Duration::from_millis(50),
        ..StorageSettings::default()
    })
    .await;
    let media = storage
        .store(upload(alice.id, FolderPath::root(), "a.bin", stream_of(vec![1; 10], 10)))
        .await
        .unwrap();
    let held = storage.download(&alice.id, &media.id(), None).await.unwrap();
    assert_eq!(storage.transfers_in_flight(), 1);
    let err = storage
        .store(upload(alice.id, FolderPath::root(), "b.bin", stream_of(vec![1; 10], 10)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy));
    drop(held);
    assert_eq!(storage.transfers_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_lines_and_reports_bad_patterns() {
    let (_fakes, storage, alice) = alice_on_fakes(StorageSettings::default()).await;
    for (file, text) in
        [("a.txt", "one\ntwo fish\nred fish\n"), ("b.txt", "no match here"), ("c.txt", "fish")]
    {
        storage
            .store(upload(alice.id, path("$/notes"), file, stream_of(text.as_bytes().to_vec(), 3)))
            .await
            .unwrap();
    }
    let results = storage.search(&alice.id, "fish$", &FolderPath::root()).await.unwrap();
    let found: Vec<(String, Vec<u64>)> = results
        .matches
        .iter()
        .map(|m| (m.media.name().to_string(), m.lines.iter().map(|l| l.line_no).collect()))
        .collect();
    assert_eq!(found, vec![("a.txt".into(), vec![2, 3]), ("c.txt".into(), vec![1])]);
    assert!(results.timed_out.is_empty() && results.failed.is_empty());
    assert!(storage.search(&alice.id, "(", &FolderPath::root()).await.is_err());
}

#[tokio::test]
async fn a_new_version_keeps_the_file_its_shares_and_replaces_its_content() {
    use drip_core::jobs::model::Task;
    use drip_core::jobs::ports::JobQueue;
    use drip_core::storage::VersionUpload;
    use drip_core::storage::error::VersionError;
    let (fakes, storage, alice) = alice_on_fakes(StorageSettings::default()).await;
    let accounts = fakes.account_service();
    let bob = register(&accounts, "bob", "password1").await;
    let first =
        storage.store(upload(alice.id, path("$/d"), "f.txt", stream_of(b"v1".to_vec(), 1))).await.unwrap();
    storage.share(&alice.id, &first.id(), &bob.username).await.unwrap();

    let again = upload(alice.id, path("$/d"), "f.txt", stream_of(b"version two".to_vec(), 4));
    let (replaced, was_there) = storage.store_or_replace(again).await.unwrap();
    assert!(was_there);
    assert_eq!((replaced.id(), replaced.name().as_str(), replaced.size()), (first.id(), "f.txt", 11));
    assert_ne!(replaced.storage_key(), first.storage_key());
    let seen = storage.download(&bob.id, &first.id(), None).await.unwrap();
    assert_eq!(read_all(seen.content).await.unwrap(), b"version two", "the sharee reads the new content");
    assert_eq!(storage.usage(&alice.id).await.unwrap().disk_usage, 11);
    let queued = fakes.repositories.jobs().list(None, 10).await.unwrap();
    let removal = queued
        .iter()
        .find(|job| job.task == Task::DeleteObject { key: first.storage_key().clone() })
        .expect("the old object's removal");
    assert_eq!(removal.run_at, fakes.clock.now() + chrono::Duration::hours(1), "after downloads under way");
    let created = fakes.repositories.media().created_by(&alice.id, 10).await.unwrap();
    assert_eq!(created.len(), 1, "no version record is left: {created:?}");

    let version = |bytes: &[u8]| VersionUpload {
        content_type: None,
        length: Some(bytes.len() as u64),
        content: stream_of(bytes.to_vec(), 2),
    };
    let refused = storage.store_version(&bob.id, &first.id(), version(b"bob's")).await;
    assert!(matches!(refused, Err(VersionError::Forbidden)), "{refused:?}");
    let unknown = MediaId::from_ksuid(Ksuid::generate(fakes.clock.now()));
    assert!(matches!(
        storage.store_version(&alice.id, &unknown, version(b"x")).await,
        Err(VersionError::NotFound)
    ));
    let broken = VersionUpload {
        content_type: None,
        length: None,
        content: futures::stream::iter([
            Ok(bytes::Bytes::from_static(b"half")),
            Err(std::io::Error::other("cut")),
        ])
        .boxed(),
    };
    let failed = storage.store_version(&alice.id, &first.id(), broken).await;
    assert!(matches!(failed, Err(VersionError::Store(StoreError::Input(_)))), "{failed:?}");
    let kept = storage.download(&alice.id, &first.id(), None).await.unwrap();
    assert_eq!(read_all(kept.content).await.unwrap(), b"version two", "a failed version changes nothing");
    assert_eq!(fakes.repositories.media().created_by(&alice.id, 10).await.unwrap().len(), 1);

    let third = storage.store_version(&alice.id, &first.id(), version(b"3")).await.unwrap();
    assert_eq!((third.id(), third.size()), (first.id(), 1));
}

#[tokio::test]
async fn a_password_change_keeps_the_asking_session_and_ends_the_others() {
    use drip_core::accounts::error::{ChangePasswordError, LoginError, RefreshError};
    let fakes = drip_mock::fake_ports();
    let accounts = fakes.account_service();
    let email = "alice@example.com";
    let here = accounts.register(RegisterRequest::parse("alice", email, "password1").unwrap()).await.unwrap();
    let elsewhere = accounts.login("alice", "password1").await.unwrap();
    let claims = accounts.authenticate(here.access_token.as_str()).await.unwrap();
    let other = accounts.authenticate(elsewhere.access_token.as_str()).await.unwrap().session;
    let mut ended = accounts.ended_sessions();

    let wrong = accounts.change_password(&claims.user_id, &claims.session, "not it", "new password").await;
    assert!(matches!(wrong, Err(ChangePasswordError::InvalidCredentials)), "{wrong:?}");
    let short = accounts.change_password(&claims.user_id, &claims.session, "password1", "short").await;
    assert!(matches!(short, Err(ChangePasswordError::InvalidPassword)), "{short:?}");
    assert!(accounts.login("alice", "password1").await.is_ok(), "nothing changed yet");

    accounts.change_password(&claims.user_id, &claims.session, "password1", "new password").await.unwrap();
    assert_eq!(ended.recv().await.unwrap(), other, "the other session ends at once");
    assert!(matches!(accounts.refresh(&elsewhere.refresh_token).await, Err(RefreshError::Revoked)));
    assert!(accounts.authenticate(elsewhere.access_token.as_str()).await.is_err(), "its access token too");
    assert!(accounts.refresh(&here.refresh_token).await.is_ok(), "the asking session stays");
    assert!(matches!(accounts.login("alice", "password1").await, Err(LoginError::InvalidCredentials)));
    assert!(accounts.login("alice", "new password").await.is_ok());
}

#[tokio::test]
async fn a_name_search_finds_parts_of_names_ignoring_case_below_a_folder() {
    let (_fakes, storage, alice) = alice_on_fakes(StorageSettings::default()).await;
    for (folder, file) in [
        ("$/notes", "Report 2026.PDF"),
        ("$/notes/old", "report-draft.txt"),
        ("$", "RÉSUMÉ.txt"),
        ("$/other", "report.txt"),
        ("$/notes", "summary.txt"),
    ] {
        storage.store(upload(alice.id, path(folder), file, stream_of(b"x".to_vec(), 1))).await.unwrap();
    }
    let names = |found: &drip_core::storage::search::NameMatches| -> Vec<String> {
        found.files.iter().map(|m| format!("{}/{}", m.folder(), m.name())).collect()
    };
    let found = storage.find_names(&alice.id, "REPORT", &path("$/notes")).await.unwrap();
    assert_eq!(names(&found), vec!["$/notes/Report 2026.PDF", "$/notes/old/report-draft.txt"]);
    assert!(!found.truncated);
    let found = storage.find_names(&alice.id, "résumé", &FolderPath::root()).await.unwrap();
    assert_eq!(names(&found), vec!["$/RÉSUMÉ.txt"], "beyond ASCII too");
    assert!(
        storage.find_names(&alice.id, "(", &FolderPath::root()).await.unwrap().files.is_empty(),
        "plain text"
    );

    for i in 0..=drip_core::storage::search::MAX_NAME_MATCHES {
        let file = format!("many-{i:03}.txt");
        storage.store(upload(alice.id, path("$/many"), &file, stream_of(b"x".to_vec(), 1))).await.unwrap();
    }
    let found = storage.find_names(&alice.id, "MANY-", &FolderPath::root()).await.unwrap();
    assert_eq!(found.files.len(), drip_core::storage::search::MAX_NAME_MATCHES);
    assert!(found.truncated, "one more matched than it answers");
    assert_eq!(found.files[0].name().as_str(), "many-000.txt");
}

/// An upload whose node died (its record left pending, its lease never renewed) does not
/// block its name once the lease lapsed: of concurrent stores of that name exactly one
/// takes it over, the others find it taken; the abandoned object goes by the reclaim job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stores_take_over_an_abandoned_name_once() {
    let (fakes, storage, alice) = alice_on_fakes(StorageSettings::default()).await;
    let now = fakes.clock.now();
    let id = MediaId::from_ksuid(Ksuid::generate(now));
    let key = StorageKey::new(id, now, &name("big.bin"));
    let abandoned = Media::from_parts(MediaParts {
        id,
        creator: alice.id,
        name: name("big.bin"),
        folder: FolderPath::root(),
        content_type: ContentType::octet_stream(),
        storage_key: key.clone(),
        envelope: Envelope::new(drip_core::content::ALGORITHM, 64 * 1024, "k1", vec![0; 44]).unwrap(),
        metadata: serde_json::Map::new(),
        uploaded: None,
        created_at: now,
        updated_at: now,
    });
    let lease_until = now + chrono::Duration::seconds(30);
    fakes.repositories.media().insert(&abandoned, Some(lease_until)).await.unwrap();
    fakes.objects.put(&key, stream_of(b"what the dead node wrote".to_vec(), 8)).await.unwrap();
    let held =
        storage.store(upload(alice.id, FolderPath::root(), "big.bin", stream_of(b"x".to_vec(), 1))).await;
    assert!(matches!(held, Err(StoreError::AlreadyExists)), "the lease runs: {held:?}");

    fakes.clock.advance(chrono::Duration::seconds(30));
    let stores = (0..8).map(|n| {
        let storage = storage.clone();
        let content = stream_of(format!("take {n}").into_bytes(), 3);
        tokio::spawn(
            async move { storage.store(upload(alice.id, FolderPath::root(), "big.bin", content)).await },
        )
    });
    let outcomes = futures::future::join_all(stores).await;
    let won = outcomes.iter().filter(|o| matches!(o, Ok(Ok(_)))).count();
    let refused = outcomes.iter().filter(|o| matches!(o, Ok(Err(StoreError::AlreadyExists)))).count();
    assert_eq!((won, refused), (1, 7), "{outcomes:?}");
    let records = fakes.repositories.all_media().unwrap();
    assert!(records.len() == 1 && records[0].id() != id, "only the winner's record is left");
    assert_eq!(fakes.run_jobs().await, 1, "the reclaim job ran");
    assert_eq!(fakes.objects.size(&key).await.unwrap(), None, "the abandoned object is gone");
}
