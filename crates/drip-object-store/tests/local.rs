//! Local-disk adapter behaviour beyond the conformance suite: keys and prefixes never escape
//! the root, objects are plain files, and neither a crash nor a cancelled or failed upload
//! leaves a visible partial object.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use drip_core::ids::{Ksuid, MediaId};
use drip_core::storage::model::{FileName, StorageKey};
use drip_core::storage::ports::{ByteStream, StorageError, StorageProvider};
use drip_object_store::{ConfigError, ObjectStoreProvider, UploadSettings};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::sync::oneshot;

const PART: usize = 64 * 1024;

fn key(name: &str) -> StorageKey {
    let now = chrono::Utc::now();
    StorageKey::new(MediaId::from_ksuid(Ksuid::generate(now)), now, &FileName::parse(name).unwrap())
}

fn open(root: &std::path::Path) -> ObjectStoreProvider {
    ObjectStoreProvider::local(root)
        .unwrap()
        .with_uploads(UploadSettings { part_size: PART, concurrency: 2 })
        .unwrap()
}

fn bytes(len: usize) -> ByteStream {
    let data = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    stream::iter((0..len).step_by(10_000).map(move |at| Ok(data.slice(at..(at + 10_000).min(len))))).boxed()
}

/// Every file below `dir`, relative to it.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

async fn listed(provider: &ObjectStoreProvider) -> Vec<String> {
    let metas: Vec<_> = provider.object_store().list(None).try_collect().await.unwrap();
    metas.into_iter().map(|m| m.location.to_string()).collect()
}

#[test]
fn prefixes_escaping_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["..", "../outside", "a/../../b", "a/./b", "a//b", "a\\..\\b"] {
        let result = ObjectStoreProvider::local(dir.path()).unwrap().with_prefix(bad);
        assert!(matches!(result, Err(ConfigError::InvalidPrefix(_))), "{bad:?}");
    }
}

#[test]
fn an_unusable_root_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(ObjectStoreProvider::local(file.join("data")), Err(ConfigError::Root { .. })));
}

#[tokio::test]
async fn objects_are_plain_files_under_the_root_with_escaped_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/data");
    let provider = open(&root).with_prefix("media").unwrap();
    let plain = key("notes.txt");
    let hashed = key("x.#1");
    provider.put(&plain, bytes(5)).await.unwrap();
    provider.put(&hashed, bytes(3 * PART)).await.unwrap();
    let escaped = hashed.as_str().replace('#', "%23");
    let mut expected = vec![format!("media/{plain}"), format!("media/{escaped}")];
    expected.sort();
    assert_eq!(files(&root), expected);
    assert_eq!(std::fs::read(root.join("media").join(plain.as_str())).unwrap().len(), 5);
    assert_eq!(provider.object_path(&hashed).unwrap().as_ref(), format!("media/{escaped}"));
}

#[tokio::test]
async fn a_crash_mid_write_leaves_no_visible_object_and_is_swept_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let provider = open(dir.path());
    let key = key("crashed.bin");
    // What a crash leaves: the staging file object_store writes before renaming it in place.
    let staging = dir.path().join(format!("{key}#1"));
    std::fs::write(&staging, b"half of the con").unwrap();

    assert_eq!(provider.size(&key).await.unwrap(), None);
    assert!(matches!(provider.get(&key, None).await, Err(StorageError::NotFound(_))));
    assert!(listed(&provider).await.is_empty(), "staging files are never listed");

    let fresh = dir.path().join(format!("{}#1", self::key("running.bin")));
    std::fs::write(&fresh, b"an upload of another process").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options().write(true).open(&staging).unwrap().set_modified(two_days_ago).unwrap();
    let reopened = open(dir.path());
    assert!(!staging.exists(), "stale staging file swept");
    assert!(fresh.exists(), "a recent one may belong to a running upload");
    assert_eq!(reopened.size(&key).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_progress_is_invisible_and_a_cancelled_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(open(dir.path()));
    let key = key("slow.bin");
    let (reached, stalled) = oneshot::channel::<()>();
    let stall = async move {
        let _ = reached.send(());
        std::future::pending::<std::io::Result<Bytes>>().await
    };
    let content = bytes(3 * PART + 7).chain(stream::once(stall)).boxed();
    let uploading = {
        let (provider, key) = (Arc::clone(&provider), key.clone());
        tokio::spawn(async move { provider.put(&key, content).await })
    };
    // More than a part was read: the multipart upload, and its staging file, exist.
    stalled.await.unwrap();
    assert_eq!(files(dir.path()), [format!("{key}#1")]);
    assert_eq!(provider.size(&key).await.unwrap(), None, "nothing visible while uploading");
    assert!(listed(&provider).await.is_empty());

    uploading.abort();
    assert!(uploading.await.unwrap_err().is_cancelled());
    provider.settled().await;
    assert!(files(dir.path()).is_empty(), "the staging file is removed once the provider settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_is_flushed_while_written_and_published_whole() {
    let dir = tempfile::tempdir().unwrap();
    let provider = open(dir.path());
    let key = key("large.bin");
    // Past the flush step of 16 MiB, so the background flusher runs.
    let len = 17 * 1024 * 1024 + 5;
    assert_eq!(provider.put(&key, bytes(len)).await.unwrap(), len as u64);
    assert_eq!(files(dir.path()), [key.to_string()], "the object alone, no staging file");
    let stored: Vec<Bytes> = provider.get(&key, None).await.unwrap().try_collect().await.unwrap();
    let expected: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    assert!(stored.concat() == expected, "the content is stored as sent");
}

#[tokio::test]
async fn a_failed_upload_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let provider = open(dir.path());
    let failing = bytes(3 * PART).chain(stream::iter([Err(std::io::Error::other("gone"))])).boxed();
    assert!(matches!(provider.put(&key("x.bin"), failing).await, Err(StorageError::Input(_))));
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}
