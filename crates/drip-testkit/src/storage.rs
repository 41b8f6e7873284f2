//! Conformance suite of `StorageProvider`: one scenario per contract of the port (sizes
//! around the multipart part size, streaming of large content, overwrite, not-found, input
//! failures, cancellation, concurrency, ranges), run against every adapter (memory, local
//! disk, GCS, S3) through [`storage_conformance!`](crate::storage_conformance).
//!
//! Content is a deterministic pseudo-random pattern that depends on the offset of every byte
//! (so misordered, repeated or lost parts are caught), produced and checked piece by piece:
//! the large scenarios never hold a whole object in memory.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use drip_core::ids::{Ksuid, MediaId};
use drip_core::storage::model::{FileName, StorageKey};
use drip_core::storage::ports::{ByteStream, StorageError, StorageProvider};
use futures::{StreamExt, stream};
use tokio::sync::oneshot;

/// A fresh, empty object store for one scenario.
pub struct StorageFixture {
    /// The provider under test.
    pub provider: Arc<dyn StorageProvider>,
    /// Size of one multipart part in bytes (scenarios store exactly one part, and one part
    /// plus one byte); providers without multipart uploads pick any small size.
    pub part_size: usize,
    /// Kept alive for the scenario, dropped after it (e.g. a temp dir or an emulator).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
    /// Counts the uploads begun and neither completed nor aborted (multipart uploads of a
    /// bucket, staging files on disk): what a cancelled put could leave behind. `None` for
    /// providers where nothing outlives a dropped put.
    pub unfinished_uploads: Option<Box<dyn Fn() -> usize + Send + Sync>>,
}

/// Expands to one `#[tokio::test]` per storage scenario, each calling `$setup().await` for
/// a fresh [`StorageFixture`] (or `Option<StorageFixture>`, `None` skipping the scenario
/// when the store is not available here). The calling crate needs `tokio` (features
/// `macros`, `rt-multi-thread`) among its dev-dependencies.
#[macro_export]
macro_rules! storage_conformance {
    ($setup:path) => {
        $crate::storage_conformance!(@scenarios $setup;
            put_get_size_delete,
            empty_object,
            one_byte,
            exactly_one_part,
            one_part_plus_one_byte,
            twenty_mib_streamed_in_uneven_pieces,
            overwrite_replaces_the_whole_object,
            missing_objects_are_not_found,
            failing_input_stores_nothing,
            failing_input_keeps_the_previous_object,
            cancelled_put_stores_nothing,
            concurrent_puts_of_distinct_keys,
            ranged_reads,
            ranges_starting_at_or_past_the_end_are_invalid,
            get_stream_stays_usable_while_another_put_runs,
            unusual_key_names_round_trip,
            every_name_the_domain_accepts_stores,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(fixture) = $crate::MaybeFixture::<$crate::storage::StorageFixture>::into_fixture($setup().await) {
                    $crate::storage::$scenario(fixture).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Content and helpers
// ---------------------------------------------------------------------------------------

const MIB: u64 = 1024 * 1024;

/// How long a scenario waits for something that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(30);

/// A fresh key for a file named `name` (its extension ends the key).
fn key(name: &str) -> StorageKey {
    let now = Utc::now();
    StorageKey::new(
        MediaId::from_ksuid(Ksuid::generate(now)),
        now,
        &FileName::parse(name).expect("valid name"),
    )
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Bytes `range` of the pattern of `seed`.
fn pattern(seed: u64, range: Range<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    let mut offset = range.start;
    while offset < range.end {
        let word = splitmix(seed.wrapping_mul(0x1_0000_0001).wrapping_add(offset / 8)).to_le_bytes();
        let from = usize::try_from(offset % 8).unwrap_or(0);
        let take = (8 - from).min(usize::try_from(range.end - offset).unwrap_or(8));
        out.extend_from_slice(&word[from..from + take]);
        offset += take as u64;
    }
    out
}

/// The first `len` bytes of the pattern of `seed`, streamed in pieces whose sizes cycle
/// through `pieces` (a zero piece yields an empty chunk), generated as they are pulled.
fn pattern_stream(seed: u64, len: u64, pieces: &'static [u64]) -> ByteStream {
    stream::unfold((0_u64, 0_usize), move |(offset, turn)| async move {
        if offset >= len {
            return None;
        }
        let piece = pieces[turn % pieces.len()].min(len - offset);
        let chunk: io::Result<Bytes> = Ok(Bytes::from(pattern(seed, offset..offset + piece)));
        Some((chunk, (offset + piece, turn + 1)))
    })
    .boxed()
}

/// `bytes` as one chunk.
fn once(bytes: &'static [u8]) -> ByteStream {
    stream::iter([Ok(Bytes::from_static(bytes))]).boxed()
}

/// The pattern content, then an input error.
fn failing_stream(seed: u64, len: u64) -> ByteStream {
    let failure: io::Result<Bytes> = Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away"));
    pattern_stream(seed, len, &[64 * 1024 + 3]).chain(stream::iter([failure])).boxed()
}

async fn put(provider: &dyn StorageProvider, key: &StorageKey, content: ByteStream) -> u64 {
    provider.put(key, content).await.unwrap_or_else(|e| panic!("put {key} failed: {e:?}"))
}

async fn read_all(provider: &dyn StorageProvider, key: &StorageKey, range: Option<Range<u64>>) -> Vec<u8> {
    let mut content = provider.get(key, range).await.unwrap_or_else(|e| panic!("get {key} failed: {e:?}"));
    let mut out = Vec::new();
    while let Some(chunk) = content.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("reading {key} failed: {e}")));
    }
    out
}

/// Reads `content` to its end, checking it against bytes `range` of the pattern of `seed`
/// chunk by chunk.
async fn expect_pattern(mut content: ByteStream, seed: u64, range: Range<u64>, what: &str) {
    let mut offset = range.start;
    while let Some(chunk) = content.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("{what}: reading failed at {offset}: {e}"));
        let end = offset + chunk.len() as u64;
        assert!(end <= range.end, "{what}: {end} bytes read, more than the {} expected", range.end);
        assert!(chunk[..] == pattern(seed, offset..end)[..], "{what}: wrong bytes in {offset}..{end}");
        offset = end;
    }
    assert_eq!(offset, range.end, "{what}: content ended early");
}

async fn expect_object(provider: &dyn StorageProvider, key: &StorageKey, seed: u64, len: u64) {
    let content = provider.get(key, None).await.unwrap_or_else(|e| panic!("get {key} failed: {e:?}"));
    expect_pattern(content, seed, 0..len, &format!("object {key}")).await;
    assert_eq!(provider.size(key).await.expect("size"), Some(len), "size of {key}");
}

async fn expect_absent(provider: &dyn StorageProvider, key: &StorageKey) {
    assert_eq!(provider.size(key).await.expect("size"), None, "{key} should not exist");
    assert!(
        matches!(provider.get(key, None).await, Err(StorageError::NotFound(_))),
        "get of the absent {key} should be NotFound"
    );
}

/// Stores the pattern of `seed` of `len` bytes and checks it reads back whole.
async fn round_trip(fixture: StorageFixture, len: u64, pieces: &'static [u64]) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let key = key("blob.bin");
    assert_eq!(put(&*provider, &key, pattern_stream(len, len, pieces)).await, len, "bytes written");
    expect_object(&*provider, &key, len, len).await;
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// Put answers the bytes written; get, size and delete see the object; after delete it is
/// gone.
pub async fn put_get_size_delete(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let key = key("notes.txt");
    assert_eq!(put(&*provider, &key, once(b"hello, drip")).await, 11);
    assert_eq!(read_all(&*provider, &key, None).await, b"hello, drip");
    assert_eq!(provider.size(&key).await.expect("size"), Some(11));
    provider.delete(&key).await.expect("delete");
    expect_absent(&*provider, &key).await;
}

/// An empty stream (and one of empty chunks) stores an empty object.
pub async fn empty_object(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let nothing = key("empty");
    assert_eq!(put(&*provider, &nothing, stream::empty().boxed()).await, 0);
    assert_eq!(provider.size(&nothing).await.expect("size"), Some(0));
    assert!(read_all(&*provider, &nothing, None).await.is_empty());

    let empty_chunks = key("empty.bin");
    let chunks = stream::iter([Ok(Bytes::new()), Ok(Bytes::new())]).boxed();
    assert_eq!(put(&*provider, &empty_chunks, chunks).await, 0);
    assert_eq!(provider.size(&empty_chunks).await.expect("size"), Some(0));
    provider.delete(&empty_chunks).await.expect("delete an empty object");
    expect_absent(&*provider, &empty_chunks).await;
}

/// One byte round-trips.
pub async fn one_byte(fixture: StorageFixture) {
    round_trip(fixture, 1, &[1]).await;
}

/// Exactly one part's worth of bytes round-trips.
pub async fn exactly_one_part(fixture: StorageFixture) {
    let len = fixture.part_size as u64;
    round_trip(fixture, len, &[4093, 65_536, 1]).await;
}

/// One part plus one byte (the smallest multipart content) round-trips.
pub async fn one_part_plus_one_byte(fixture: StorageFixture) {
    let len = fixture.part_size as u64 + 1;
    round_trip(fixture, len, &[65_536, 17]).await;
}

/// 20 MiB streamed in pieces of uneven sizes (1 byte to over a MiB) round-trip, and are
/// read back as a stream.
pub async fn twenty_mib_streamed_in_uneven_pieces(fixture: StorageFixture) {
    round_trip(fixture, 20 * MIB, &[1, 4093, 65_536, MIB + 3, 0, 7, 300_001, 2 * MIB]).await;
}

/// A put over an existing object replaces all of it, large by small and small by large.
pub async fn overwrite_replaces_the_whole_object(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    let key = key("doc.pdf");
    let large = 2 * part_size as u64 + 1;
    put(&*provider, &key, pattern_stream(1, large, &[100_000])).await;
    put(&*provider, &key, pattern_stream(2, 5, &[5])).await;
    expect_object(&*provider, &key, 2, 5).await;
    put(&*provider, &key, pattern_stream(3, large, &[77_777])).await;
    expect_object(&*provider, &key, 3, large).await;
}

/// Get, ranged get and delete of a missing object are `NotFound`; size is `None`.
pub async fn missing_objects_are_not_found(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let key = key("ghost.txt");
    assert_eq!(provider.size(&key).await.expect("size"), None);
    assert!(matches!(provider.get(&key, None).await, Err(StorageError::NotFound(_))));
    assert!(matches!(provider.get(&key, Some(0..1)).await, Err(StorageError::NotFound(_))));
    assert!(matches!(provider.get(&key, Some(5..5)).await, Err(StorageError::NotFound(_))));
    assert!(matches!(provider.delete(&key).await, Err(StorageError::NotFound(_))));
}

/// A content stream failing before its end is `Input` and stores nothing, whether it fails
/// within the first part or after several.
pub async fn failing_input_stores_nothing(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    for len in [0, part_size as u64 / 2, 2 * part_size as u64 + part_size as u64 / 2] {
        let key = key("broken.bin");
        match provider.put(&key, failing_stream(len, len)).await {
            Err(StorageError::Input(err)) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("failing input after {len} bytes: expected Input, got {other:?}"),
        }
        expect_absent(&*provider, &key).await;
    }
}

/// A failed put over an existing object leaves that object whole.
pub async fn failing_input_keeps_the_previous_object(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    let key = key("kept.bin");
    let len = part_size as u64 + 10;
    put(&*provider, &key, pattern_stream(9, len, &[50_000])).await;
    for failing_after in [3, 2 * part_size as u64 + 1] {
        let result = provider.put(&key, failing_stream(4, failing_after)).await;
        assert!(matches!(result, Err(StorageError::Input(_))), "expected Input, got {result:?}");
        expect_object(&*provider, &key, 9, len).await;
    }
}

/// A put whose future is dropped mid-upload (the client went away) stores nothing, then or
/// later: what it had begun is aborted.
pub async fn cancelled_put_stores_nothing(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, unfinished_uploads } = fixture;
    let key = key("cancelled.bin");
    let (reached, stalled) = oneshot::channel::<()>();
    let stall = async move {
        let _ = reached.send(());
        futures::future::pending::<io::Result<Bytes>>().await
    };
    let content = pattern_stream(5, 2 * part_size as u64 + 3, &[70_001]).chain(stream::once(stall)).boxed();
    let uploading = {
        let (provider, key) = (Arc::clone(&provider), key.clone());
        tokio::spawn(async move { provider.put(&key, content).await })
    };
    tokio::time::timeout(PATIENCE, stalled).await.expect("the put read its input").expect("stall reached");
    if let Some(unfinished) = &unfinished_uploads {
        // More than a part was read: the upload has begun.
        assert_eq!(unfinished(), 1, "one upload in progress before the cancellation");
    }
    uploading.abort();
    assert!(uploading.await.is_err_and(|e| e.is_cancelled()), "the put was cancelled");
    expect_absent(&*provider, &key).await;
    tokio::time::timeout(PATIENCE, provider.settled()).await.expect("the cancelled upload ended");
    if let Some(unfinished) = &unfinished_uploads {
        assert_eq!(unfinished(), 0, "the cancelled upload was aborted once the provider settled");
    }
    expect_absent(&*provider, &key).await;
}

/// Puts of distinct keys running at once each store their own content.
pub async fn concurrent_puts_of_distinct_keys(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    let part = part_size as u64;
    let sizes = [0, 1, part - 1, part, part + 1, 2 * part + 3, 3 * part];
    let keys: Vec<StorageKey> = sizes.iter().map(|_| key("race.bin")).collect();
    let puts = keys.iter().zip(sizes).enumerate().map(|(i, (key, len))| {
        let provider = Arc::clone(&provider);
        let key = key.clone();
        tokio::spawn(async move {
            (provider.put(&key, pattern_stream(100 + i as u64, len, &[33_333])).await, len)
        })
    });
    for (i, joined) in futures::future::join_all(puts).await.into_iter().enumerate() {
        let (written, len) = joined.expect("put task");
        assert_eq!(written.expect("concurrent put"), len, "bytes written by put {i}");
    }
    for (i, (key, len)) in keys.iter().zip(sizes).enumerate() {
        expect_object(&*provider, key, 100 + i as u64, len).await;
    }
}

/// Ranges read just their bytes, across part boundaries too; a range ending past the end is
/// cut at the end; a missing object is `NotFound` whatever the range.
pub async fn ranged_reads(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    let part = part_size as u64;
    let size = 2 * part + 5;
    let key = key("movie.mp4");
    put(&*provider, &key, pattern_stream(7, size, &[123_457])).await;
    let ranges = [
        0..1,
        0..size,
        1..11,
        part - 1..part + 1,
        part..2 * part + 1,
        size - 1..size,
        3..size + 100,
        size - 2..u64::MAX,
    ];
    for range in ranges {
        let content = provider
            .get(&key, Some(range.clone()))
            .await
            .unwrap_or_else(|e| panic!("range {range:?}: {e:?}"));
        let cut = range.start..range.end.min(size);
        expect_pattern(content, 7, cut, &format!("range {range:?}")).await;
    }
}

/// A range starting at or past the end of the object, or an empty range, is `Invalid`.
pub async fn ranges_starting_at_or_past_the_end_are_invalid(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let key = key("short.txt");
    put(&*provider, &key, once(b"0123456789")).await;
    for range in [10..11, 11..20, 1000..2000, 5..5] {
        let result = provider.get(&key, Some(range.clone())).await;
        assert!(matches!(result, Err(StorageError::Invalid(_))), "range {range:?}: expected Invalid");
    }
    assert_eq!(read_all(&*provider, &key, Some(9..10)).await, b"9", "the last byte is still readable");
}

/// A get stream opened before another put (of another key) keeps working during and after
/// it.
pub async fn get_stream_stays_usable_while_another_put_runs(fixture: StorageFixture) {
    let StorageFixture { provider, part_size, guard: _guard, .. } = fixture;
    let len = 2 * part_size as u64 + 11;
    let (first, second) = (key("first.bin"), key("second.bin"));
    put(&*provider, &first, pattern_stream(21, len, &[90_001])).await;

    let mut reading = provider.get(&first, None).await.expect("open the first object");
    let head = reading.next().await.expect("a first chunk").expect("first chunk");
    assert!(head[..] == pattern(21, 0..head.len() as u64)[..], "first chunk");
    let rest = expect_pattern(reading, 21, head.len() as u64..len, "the first object, read during a put");
    let writing = provider.put(&second, pattern_stream(22, len, &[100_003]));
    let ((), written) = tokio::join!(rest, writing);
    assert_eq!(written.expect("put during a read"), len);
    expect_object(&*provider, &second, 22, len).await;
}

/// Keys whose file extension holds characters that are special somewhere (URLs, file
/// systems, staging-file names) round-trip, and do not collide.
pub async fn unusual_key_names_round_trip(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    let names = [
        "x.#1",
        "x.%41",
        "x.%2F",
        "x. spaced out ",
        "x.ünï cødé",
        "x.a#b",
        "x.*?",
        "x.[1]{2}",
        "Makefile",
        "x.~",
    ];
    let keys: Vec<StorageKey> = names.iter().map(|name| key(name)).collect();
    for (i, key) in keys.iter().enumerate() {
        put(&*provider, key, pattern_stream(300 + i as u64, 100 + i as u64, &[40])).await;
    }
    for (i, key) in keys.iter().enumerate() {
        expect_object(&*provider, key, 300 + i as u64, 100 + i as u64).await;
        provider.delete(key).await.unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
        expect_absent(&*provider, key).await;
    }
}

/// Every name `FileName` accepts gives a key the provider stores: backslashes, long
/// extensions and long multi-byte names included (the extension is copied into the key).
pub async fn every_name_the_domain_accepts_stores(fixture: StorageFixture) {
    let StorageFixture { provider, guard: _guard, .. } = fixture;
    // 6 + 1 + 70 × 3 = 217 bytes, 70 CJK characters after the dot.
    let cjk = format!("文件.{}", "漢".repeat(70));
    let names = [
        "a.\\x".to_owned(),
        "..\\..\\etc\\passwd".to_owned(),
        format!("x.{}", "b".repeat(230)),
        format!("{}.{}", "y".repeat(100), "c".repeat(154)),
        cjk,
        "x.a:b|c<d>e\"f".to_owned(),
        "x.CON".to_owned(),
    ];
    for (i, name) in names.iter().enumerate() {
        assert!(name.len() <= 255, "{name:?} is a valid name");
        let key = key(name);
        put(&*provider, &key, pattern_stream(500 + i as u64, 64, &[64])).await;
        expect_object(&*provider, &key, 500 + i as u64, 64).await;
        provider.delete(&key).await.unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
        expect_absent(&*provider, &key).await;
    }
}
