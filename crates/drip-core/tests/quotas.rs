//! Quotas through the storage service on the in-memory fakes of `drip-mock`: the exact
//! boundary with and without a known length, uploads cut when they pass the quota with
//! nothing left behind, concurrent uploads racing for the last free bytes, drop uploads
//! counted against their owner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use drip_core::accounts::model::{Owner, RegisterRequest, Username};
use drip_core::links::error::DropUploadError;
use drip_core::links::model::{Credentials, DropRequest};
use drip_core::links::{DropUpload, LinkSettings};
use drip_core::storage::error::{QuotaError, StoreError};
use drip_core::storage::model::{Allowance, FileName, FolderPath, QuotaExceeded, QuotaSetting};
use drip_core::storage::ports::ByteStream;
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_mock::FakePorts;
use futures::StreamExt;

struct World {
    fakes: FakePorts,
    storage: StorageService,
    alice: Owner,
}

async fn world(default_quota: Option<u64>) -> World {
    let fakes = drip_mock::fake_ports();
    let request = RegisterRequest::parse("alice", "alice@example.com", "password1").unwrap();
    let alice = fakes.account_service().register(request).await.unwrap().owner;
    let storage = fakes.storage_service(StorageSettings { default_quota, ..StorageSettings::default() });
    World { fakes, storage, alice }
}

/// `size` bytes in pieces of `piece`.
fn content(size: usize, piece: usize) -> ByteStream {
    let data = vec![7u8; size];
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

/// A stream that records whether anything read it.
fn untouched() -> (ByteStream, Arc<AtomicBool>) {
    let read = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&read);
    let stream = futures::stream::once(async move {
        flag.store(true, Ordering::SeqCst);
        Ok(Bytes::from_static(b"x"))
    });
    (stream.boxed(), read)
}

impl World {
    async fn store(&self, name: &str, length: Option<u64>, content: ByteStream) -> Result<u64, StoreError> {
        let request = StoreRequest {
            user: self.alice.id,
            name: FileName::parse(name).unwrap(),
            folder: FolderPath::root(),
            content_type: None,
            length,
            content,
        };
        self.storage.store(request).await.map(|m| m.size())
    }

    async fn quota(&self, quota: QuotaSetting) {
        self.storage.set_quota(&self.alice.username, quota).await.unwrap();
    }

    async fn allowance(&self) -> Allowance {
        self.storage.allowance(&self.alice.id).await.unwrap()
    }

    /// Runs the cleanups of failed uploads and their jobs; answers the objects stored.
    async fn settled_objects(&self) -> usize {
        self.storage.cleanups_finished().await;
        self.fakes.run_jobs().await;
        self.fakes.objects.len()
    }
}

#[tokio::test]
async fn a_known_length_one_byte_over_the_quota_is_refused_before_reading() {
    let w = world(None).await;
    w.quota(QuotaSetting::Bytes(1_000)).await;
    assert_eq!(w.store("a.bin", Some(999), content(999, 100)).await.unwrap(), 999);
    let (stream, read) = untouched();
    let refused = w.store("b.bin", Some(2), stream).await;
    assert!(
        matches!(refused, Err(StoreError::QuotaExceeded(QuotaExceeded { quota: 1_000, used: 999 }))),
        "{refused:?}"
    );
    assert!(!read.load(Ordering::SeqCst), "refused before the first byte");
    assert_eq!(w.store("c.bin", Some(1), content(1, 1)).await.unwrap(), 1, "the last byte fits");
    assert_eq!(w.allowance().await, Allowance { quota: Some(1_000), used: 1_000 });
    let (stream, _) = untouched();
    assert!(matches!(w.store("d.bin", Some(1), stream).await, Err(StoreError::QuotaExceeded(_))));
    assert!(matches!(w.store("e.bin", Some(0), content(0, 1)).await, Ok(0)), "an empty file always fits");
    assert_eq!(w.settled_objects().await, 3, "refused uploads leave no object");
    assert_eq!(w.storage.usage(&w.alice.id).await.unwrap().media_count, 3);
}

#[tokio::test]
async fn uploads_of_unknown_length_are_cut_when_they_pass_the_quota_and_leave_nothing() {
    let w = world(Some(1_000)).await;
    assert_eq!(w.store("fits.bin", None, content(999, 64)).await.unwrap(), 999);
    let cut = w.store("cut.bin", None, content(2, 1)).await;
    assert!(
        matches!(cut, Err(StoreError::QuotaExceeded(QuotaExceeded { quota: 1_000, used: 999 }))),
        "{cut:?}"
    );
    assert_eq!(
        w.allowance().await,
        Allowance { quota: Some(1_000), used: 999 },
        "the cut upload's bytes are back"
    );
    assert_eq!(w.store("last.bin", None, content(1, 1)).await.unwrap(), 1);
    assert_eq!(w.settled_objects().await, 2, "the cut upload left no object");
    assert_eq!(w.storage.usage(&w.alice.id).await.unwrap().disk_usage, 1_000);
}

#[tokio::test]
async fn reservations_in_steps_still_fill_the_quota_to_the_byte() {
    // 20 MiB + 5 bytes: two full steps of 8 MiB, then only what the last pieces need.
    let quota = 20 * 1024 * 1024 + 5;
    let w = world(Some(quota)).await;
    let size = usize::try_from(quota).unwrap();
    assert_eq!(w.store("exact.bin", None, content(size, 256 * 1024 + 3)).await.unwrap(), quota);
    assert_eq!(w.allowance().await, Allowance { quota: Some(quota), used: quota });
    assert!(matches!(w.store("more.bin", None, content(1, 1)).await, Err(StoreError::QuotaExceeded(_))));
    let w = world(Some(quota)).await;
    let over = w.store("over.bin", None, content(size + 1, 1024 * 1024)).await;
    assert!(matches!(over, Err(StoreError::QuotaExceeded(_))), "{over:?}");
    assert_eq!(w.allowance().await.used, 0);
    assert_eq!(w.settled_objects().await, 0);
}

#[tokio::test]
async fn twenty_concurrent_uploads_racing_for_the_last_free_bytes_never_pass_the_quota() {
    let w = world(None).await;
    w.quota(QuotaSetting::Bytes(1_000)).await;
    w.store("resident.bin", Some(350), content(350, 50)).await.unwrap();
    let uploads = (0..20).map(|n| {
        // Half announce their length, half do not.
        let length = (n % 2 == 0).then_some(100);
        let w = &w;
        async move { w.store(&format!("{n}.bin"), length, content(100, 30)).await }
    });
    let results = futures::future::join_all(uploads).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    assert!(results.iter().all(|r| matches!(r, Ok(100) | Err(StoreError::QuotaExceeded(_)))), "{results:?}");
    assert_eq!(stored, 6, "650 free bytes hold six files of 100");
    assert_eq!(w.settled_objects().await, 7);
    let allowance = w.allowance().await;
    assert_eq!(allowance, Allowance { quota: Some(1_000), used: 950 }, "no reservation outlives its upload");
}

#[tokio::test]
async fn a_users_own_quota_beats_the_default_and_unknown_users_are_an_error() {
    let w = world(Some(10)).await;
    assert!(matches!(w.store("big.bin", Some(11), content(11, 11)).await, Err(StoreError::QuotaExceeded(_))));
    w.quota(QuotaSetting::Unlimited).await;
    assert_eq!(w.allowance().await.quota, None);
    assert_eq!(w.store("big.bin", Some(11), content(11, 11)).await.unwrap(), 11);
    w.quota(QuotaSetting::Default).await;
    assert_eq!(w.allowance().await, Allowance { quota: Some(10), used: 11 });
    assert_eq!(w.allowance().await.available(), Some(0));
    let ghost = Username::parse("ghost").unwrap();
    assert!(matches!(
        w.storage.set_quota(&ghost, QuotaSetting::Bytes(1)).await,
        Err(QuotaError::UnknownUser)
    ));
}

#[tokio::test]
async fn drop_uploads_count_against_the_owners_quota() {
    let w = world(Some(100)).await;
    let links = w.fakes.link_service(w.storage.clone(), LinkSettings::default());
    let drop = DropRequest {
        folder: FolderPath::parse("$/inbox").unwrap(),
        expires_at: None,
        password: None,
        max_uploads: None,
        max_bytes: None,
    };
    let token = links.create_drop(&w.alice.id, drop).await.unwrap().token.expose().to_owned();
    let upload = |name: &str, size: usize| DropUpload {
        name: FileName::parse(name).unwrap(),
        content_type: None,
        length: None,
        content: content(size, 10),
    };
    links.upload_to_drop(&token, &Credentials::default(), upload("a.txt", 60)).await.unwrap();
    let refused = links.upload_to_drop(&token, &Credentials::default(), upload("b.txt", 41)).await;
    assert!(matches!(refused, Err(DropUploadError::Store(StoreError::QuotaExceeded(_)))), "{refused:?}");
    assert_eq!(w.allowance().await.used, 60);
}

#[tokio::test]
async fn the_trash_counts_towards_the_quota_until_it_is_purged() {
    let w = world(Some(1_000)).await;
    let request = StoreRequest {
        user: w.alice.id,
        name: FileName::parse("old.bin").unwrap(),
        folder: FolderPath::root(),
        content_type: None,
        length: Some(800),
        content: content(800, 100),
    };
    let old = w.storage.store(request).await.unwrap();
    w.storage.delete(&w.alice.id, &old.id()).await.unwrap();
    assert_eq!(w.allowance().await.used, 800, "a trashed file still counts");
    let refused = w.store("new.bin", Some(300), content(300, 100)).await;
    assert!(
        matches!(refused, Err(StoreError::QuotaExceeded(QuotaExceeded { quota: 1_000, used: 800 }))),
        "{refused:?}"
    );
    w.storage.restore(&w.alice.id, &old.id(), None).await.unwrap();
    assert_eq!(w.allowance().await.used, 800, "a restore changes nothing");
    w.storage.delete(&w.alice.id, &old.id()).await.unwrap();
    w.storage.purge(&w.alice.id, &old.id()).await.unwrap();
    assert_eq!(w.allowance().await.used, 0, "a purge gives the bytes back");
    assert_eq!(w.store("new.bin", Some(300), content(300, 100)).await.unwrap(), 300);
}
