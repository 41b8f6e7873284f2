//! Resumable uploads through the upload service on the in-memory fakes of `drip-mock`:
//! content in parts across requests, offsets, a body that breaks off, two requests at one
//! offset, termination, expiry by the job via the clock port, quota and names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use bytes::Bytes;
use drip_core::accounts::model::{Owner, RegisterRequest};
use drip_core::events::Event;
use drip_core::storage::error::StoreError;
use drip_core::storage::model::{FileName, FolderPath, QuotaSetting};
use drip_core::storage::ports::ByteStream;
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_core::uploads::error::{CreateUploadError, UploadError};
use drip_core::uploads::model::{NewUpload, ResumableUpload};
use drip_core::uploads::{UploadService, UploadSettings};
use drip_mock::FakePorts;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Barrier;

const PART: u64 = 1000;

struct World {
    fakes: FakePorts,
    storage: StorageService,
    uploads: UploadService,
    alice: Owner,
    bob: Owner,
}

async fn world() -> World {
    let fakes = drip_mock::fake_ports();
    let accounts = fakes.account_service();
    let mut owners = Vec::new();
    for name in ["alice", "bob"] {
        let request = RegisterRequest::parse(name, &format!("{name}@example.com"), "password1").unwrap();
        owners.push(accounts.register(request).await.unwrap().owner);
    }
    let storage =
        fakes.storage_service(StorageSettings { max_upload_bytes: 1_000_000, ..StorageSettings::default() });
    let uploads = fakes
        .upload_service(storage.clone(), UploadSettings { part_bytes: PART, ..UploadSettings::default() });
    let bob = owners.pop().unwrap();
    let alice = owners.pop().unwrap();
    World { fakes, storage, uploads, alice, bob }
}

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// `bytes` in pieces of `piece`.
fn stream(bytes: &[u8], piece: usize) -> ByteStream {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        bytes.chunks(piece).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

fn request(name: &str, length: u64) -> NewUpload {
    NewUpload {
        name: FileName::parse(name).unwrap(),
        folder: FolderPath::parse("$/big").unwrap(),
        content_type: None,
        length,
    }
}

impl World {
    async fn create(&self, name: &str, length: u64) -> ResumableUpload {
        self.uploads.create(&self.alice.id, request(name, length)).await.unwrap()
    }

    async fn content_of(&self, id: &drip_core::MediaId) -> Vec<u8> {
        let download = self.storage.download(&self.alice.id, id, None).await.unwrap();
        let chunks: Vec<Bytes> = download.content.try_collect().await.unwrap();
        chunks.concat()
    }

    /// Objects in the store once the removals queued so far ran.
    async fn objects(&self) -> usize {
        self.fakes.run_jobs_with_uploads(&self.uploads).await;
        self.fakes.objects.len()
    }
}

#[tokio::test]
async fn an_upload_in_several_requests_becomes_a_file_and_leaves_only_its_object() {
    let w = world().await;
    let content = data(4321);
    let upload = w.create("disk.img", 4321).await;
    assert_eq!(upload.offset, 0);
    let first = w.uploads.append(&w.alice.id, &upload.id, 0, stream(&content[..1500], 700)).await.unwrap();
    assert_eq!((first.upload.offset, first.file.is_none(), first.interrupted), (1500, true, false));
    assert_eq!(w.uploads.status(&w.alice.id, &upload.id).await.unwrap().offset, 1500);
    assert!(w.storage.info(&w.alice.id, &upload.media).await.is_err(), "invisible until complete");
    let last = w.uploads.append(&w.alice.id, &upload.id, 1500, stream(&content[1500..], 333)).await.unwrap();
    let file = last.file.expect("the last byte makes the file");
    assert_eq!((file.name().as_str(), file.folder().as_str(), file.size()), ("disk.img", "$/big", 4321));
    assert_eq!(w.content_of(&file.id()).await, content);
    assert!(matches!(w.uploads.status(&w.alice.id, &upload.id).await, Err(UploadError::NotFound)));
    let events = w.fakes.notifier.events_for(&w.alice.id);
    assert!(
        events.iter().any(|e| matches!(e, Event::Upload { media_id, .. } if *media_id == file.id())),
        "{events:?}"
    );
    assert_eq!(w.objects().await, 1, "the parts are gone, the file's object stays");
    assert_eq!(w.storage.allowance(&w.alice.id).await.unwrap().used, 4321);
}

#[tokio::test]
async fn offsets_lengths_and_owners_are_checked() {
    let w = world().await;
    let upload = w.create("a.bin", 10).await;
    let wrong = w.uploads.append(&w.alice.id, &upload.id, 3, stream(b"abc", 3)).await;
    assert!(matches!(wrong, Err(UploadError::OffsetMismatch { offset: 0 })), "{wrong:?}");
    let long = w.uploads.append(&w.alice.id, &upload.id, 0, stream(&data(11), 11)).await;
    assert!(matches!(long, Err(UploadError::TooLong { length: 10 })), "{long:?}");
    assert_eq!(w.uploads.status(&w.alice.id, &upload.id).await.unwrap().offset, 0, "nothing of it kept");
    assert!(matches!(w.uploads.status(&w.bob.id, &upload.id).await, Err(UploadError::NotFound)));
    assert!(matches!(
        w.uploads.append(&w.bob.id, &upload.id, 0, stream(b"x", 1)).await,
        Err(UploadError::NotFound)
    ));
    assert!(matches!(w.uploads.terminate(&w.bob.id, &upload.id).await, Err(UploadError::NotFound)));
    let empty = w.create("empty.bin", 0).await;
    let done = w.uploads.append(&w.alice.id, &empty.id, 0, stream(b"", 1)).await.unwrap();
    assert_eq!(done.file.map(|f| f.size()), Some(0), "an empty upload is a file with its (empty) request");
}

#[tokio::test]
async fn a_body_that_breaks_off_keeps_what_arrived_and_the_upload_resumes_there() {
    let w = world().await;
    let content = data(3000);
    let upload = w.create("video.mp4", 3000).await;
    let broken = futures::stream::iter(
        content[..2500].chunks(600).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    )
    .chain(futures::stream::once(async { Err(std::io::Error::other("connection reset")) }))
    .boxed();
    let cut = w.uploads.append(&w.alice.id, &upload.id, 0, broken).await.unwrap();
    assert_eq!((cut.upload.offset, cut.interrupted), (2500, true));
    let resumed =
        w.uploads.append(&w.alice.id, &upload.id, 2500, stream(&content[2500..], 100)).await.unwrap();
    assert_eq!(w.content_of(&resumed.file.unwrap().id()).await, content);
}

/// A stream that waits for `gate` before its bytes, so that two requests are both under
/// way before either stores.
fn gated(bytes: Vec<u8>, gate: Arc<Barrier>) -> ByteStream {
    futures::stream::once(async move {
        gate.wait().await;
        Ok(Bytes::from(bytes))
    })
    .boxed()
}

#[tokio::test]
async fn of_two_requests_at_one_offset_one_wins_and_the_other_keeps_nothing() {
    let w = world().await;
    let upload = w.create("race.bin", 800).await;
    let gate = Arc::new(Barrier::new(2));
    let (one, two) = tokio::join!(
        w.uploads.append(&w.alice.id, &upload.id, 0, gated(vec![1; 500], Arc::clone(&gate))),
        w.uploads.append(&w.alice.id, &upload.id, 0, gated(vec![2; 500], Arc::clone(&gate))),
    );
    let (won, lost): (Vec<_>, Vec<_>) = [one, two].into_iter().partition(Result::is_ok);
    assert_eq!((won.len(), lost.len()), (1, 1));
    assert!(matches!(lost[0], Err(UploadError::Conflict)), "{lost:?}");
    assert_eq!(w.uploads.status(&w.alice.id, &upload.id).await.unwrap().offset, 500);
    assert_eq!(w.fakes.objects.len(), 1, "the loser's part is gone");
}

#[tokio::test]
async fn termination_frees_the_name_the_quota_and_every_part() {
    let w = world().await;
    let upload = w.create("gone.bin", 5000).await;
    w.uploads.append(&w.alice.id, &upload.id, 0, stream(&data(2200), 512)).await.unwrap();
    assert_eq!(w.fakes.objects.len(), 3, "three parts of at most 1000 bytes");
    assert_eq!(w.storage.allowance(&w.alice.id).await.unwrap().used, 5000, "the length is reserved");
    w.uploads.terminate(&w.alice.id, &upload.id).await.unwrap();
    assert!(matches!(w.uploads.status(&w.alice.id, &upload.id).await, Err(UploadError::NotFound)));
    assert_eq!(w.objects().await, 0);
    assert_eq!(w.storage.allowance(&w.alice.id).await.unwrap().used, 0);
    let again = w.create("gone.bin", 1).await;
    assert_ne!(again.id, upload.id, "the name is free again");
}

#[tokio::test]
async fn an_unfinished_upload_expires_by_its_job_and_leaves_nothing() {
    let w = world().await;
    let upload = w.create("late.bin", 5000).await;
    w.uploads.append(&w.alice.id, &upload.id, 0, stream(&data(1500), 500)).await.unwrap();
    assert_eq!(w.objects().await, 2, "the expiry job is not due yet");
    w.fakes.clock.advance(chrono::Duration::hours(24));
    let late = w.uploads.append(&w.alice.id, &upload.id, 1500, stream(&data(10), 10)).await;
    assert!(matches!(late, Err(UploadError::Expired)), "{late:?}");
    assert_eq!(w.objects().await, 0, "the job removed every part");
    assert!(matches!(w.uploads.status(&w.alice.id, &upload.id).await, Err(UploadError::NotFound)));
    assert_eq!(w.storage.allowance(&w.alice.id).await.unwrap().used, 0);
    let request = StoreRequest {
        user: w.alice.id,
        name: FileName::parse("late.bin").unwrap(),
        folder: FolderPath::parse("$/big").unwrap(),
        content_type: None,
        length: None,
        content: stream(b"fresh", 5),
    };
    w.storage.store(request).await.expect("the name is free again");
}

#[tokio::test]
async fn creation_reserves_the_name_and_the_quota_or_keeps_nothing() {
    let w = world().await;
    w.storage.set_quota(&w.alice.username, QuotaSetting::Bytes(10_000)).await.unwrap();
    let over = w.uploads.create(&w.alice.id, request("huge.bin", 10_001)).await;
    assert!(matches!(over, Err(CreateUploadError::Store(StoreError::QuotaExceeded(_)))), "{over:?}");
    let too_large = w.uploads.create(&w.alice.id, request("huge.bin", 1_000_001)).await;
    assert!(matches!(too_large, Err(CreateUploadError::Store(StoreError::TooLarge { .. }))), "{too_large:?}");
    w.create("held.bin", 6_000).await;
    let taken = w.uploads.create(&w.alice.id, request("held.bin", 1)).await;
    assert!(matches!(taken, Err(CreateUploadError::Store(StoreError::AlreadyExists))), "{taken:?}");
    let rest = w.uploads.create(&w.alice.id, request("rest.bin", 4_001)).await;
    assert!(
        matches!(rest, Err(CreateUploadError::Store(StoreError::QuotaExceeded(_)))),
        "the first one counts: {rest:?}"
    );
    assert_eq!(w.storage.allowance(&w.alice.id).await.unwrap().used, 6_000);
}
