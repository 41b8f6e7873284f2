//! Tests of `MemoryStorage` beyond the conformance suite: read chunking, ranges, the
//! all-or-nothing put, and the simulated outage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::io;

use bytes::Bytes;
use drip_core::Ksuid;
use drip_core::MediaId;
use drip_core::storage::model::{FileName, StorageKey};
use drip_core::storage::ports::{ByteStream, StorageError, StorageProvider};
use drip_memory::MemoryStorage;
use futures::{FutureExt as _, StreamExt};

fn key(n: u8) -> StorageKey {
    let at = chrono::DateTime::UNIX_EPOCH;
    let id = MediaId::from_ksuid(Ksuid::from_parts(at, [n; 16]));
    StorageKey::new(id, at, &FileName::parse("f.bin").expect("fixture name"))
}

fn stream(chunks: Vec<io::Result<&'static [u8]>>) -> ByteStream {
    futures::stream::iter(chunks.into_iter().map(|c| c.map(Bytes::from_static))).boxed()
}

async fn read(stream: ByteStream) -> (Vec<u8>, usize) {
    let chunks: Vec<Bytes> = stream.map(|c| c.expect("a stream item")).collect().await;
    (chunks.concat(), chunks.len())
}

// --- MemoryStorage --------------------------------------------------------------------

#[tokio::test]
async fn storage_puts_gets_sizes_and_deletes() {
    let storage = MemoryStorage::with_read_chunk(4);
    let written = storage.put(&key(1), stream(vec![Ok(b"hello "), Ok(b""), Ok(b"world")])).await.unwrap();
    assert_eq!(written, 11);
    assert_eq!(storage.size(&key(1)).await.unwrap(), Some(11));
    let (bytes, chunks) = read(storage.get(&key(1), None).await.unwrap()).await;
    assert_eq!((bytes.as_slice(), chunks), (&b"hello world"[..], 3), "read in chunks of 4");

    storage.put(&key(1), stream(vec![Ok(b"new")])).await.unwrap();
    assert_eq!(storage.object(&key(1)).unwrap(), Bytes::from_static(b"new"), "put replaces");

    storage.put(&key(2), stream(vec![])).await.unwrap();
    assert_eq!(storage.size(&key(2)).await.unwrap(), Some(0));
    assert!(read(storage.get(&key(2), None).await.unwrap()).await.0.is_empty());

    assert_eq!(storage.keys(), vec![key(1), key(2)]);
    storage.delete(&key(1)).await.unwrap();
    assert!(matches!(storage.delete(&key(1)).await, Err(StorageError::NotFound(_))));
    assert!(matches!(storage.get(&key(1), None).await, Err(StorageError::NotFound(_))));
    assert_eq!(storage.size(&key(1)).await.unwrap(), None);
    assert_eq!(storage.len(), 1);
}

#[tokio::test]
async fn storage_serves_ranges_like_object_stores() {
    let storage = MemoryStorage::new();
    storage.put(&key(1), stream(vec![Ok(b"0123456789")])).await.unwrap();
    let range = |r: std::ops::Range<u64>| {
        let storage = &storage;
        async move {
            match storage.get(&key(1), Some(r)).await {
                Ok(stream) => Ok(read(stream).await.0),
                Err(e) => Err(e),
            }
        }
    };
    assert_eq!(range(2..5).await.unwrap(), b"234");
    assert_eq!(range(0..10).await.unwrap(), b"0123456789");
    assert_eq!(range(7..100).await.unwrap(), b"789", "an end beyond the object is cut");
    assert_eq!(range(9..10).await.unwrap(), b"9");
    for bad in [10..12, 11..20, 5..5] {
        assert!(matches!(range(bad.clone()).await, Err(StorageError::Invalid(_))), "{bad:?}");
    }
}

#[tokio::test]
async fn storage_stores_nothing_when_the_stream_fails() {
    let storage = MemoryStorage::new();
    let failing = stream(vec![Ok(b"partial"), Err(io::Error::other("client went away")), Ok(b"more")]);
    assert!(matches!(storage.put(&key(1), failing).await, Err(StorageError::Input(_))));
    assert!(storage.is_empty());

    storage.put(&key(1), stream(vec![Ok(b"old")])).await.unwrap();
    let failing = stream(vec![Ok(b"new"), Err(io::Error::other("boom"))]);
    assert!(matches!(storage.put(&key(1), failing).await, Err(StorageError::Input(_))));
    assert_eq!(storage.object(&key(1)).unwrap(), Bytes::from_static(b"old"), "the old object stays");

    // A put abandoned half-way stores nothing either.
    let (tx, rx) = futures::channel::mpsc::unbounded::<io::Result<Bytes>>();
    tx.unbounded_send(Ok(Bytes::from_static(b"half"))).unwrap();
    let half = key(2);
    // The stream stays open with nothing more to read: the put cannot finish, and is
    // dropped after its first poll.
    assert!(storage.put(&half, rx.boxed()).now_or_never().is_none());
    assert_eq!(storage.size(&key(2)).await.unwrap(), None);
}

#[tokio::test]
async fn storage_can_simulate_an_outage() {
    let storage = MemoryStorage::new();
    storage.set_failing(true);
    assert!(matches!(storage.put(&key(1), stream(vec![Ok(b"x")])).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(storage.size(&key(1)).await, Err(StorageError::Unavailable(_))));
    storage.set_failing(false);
    assert!(storage.put(&key(1), stream(vec![Ok(b"x")])).await.is_ok());
}
