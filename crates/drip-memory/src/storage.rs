//! `MemoryStorage`: a `StorageProvider` keeping objects in a map in memory.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use drip_core::BackendError;
use drip_core::storage::model::StorageKey;
use drip_core::storage::ports::{ByteStream, StorageError, StorageProvider};
use futures::StreamExt;

/// Bytes per item of the streams [`MemoryStorage::get`] answers, unless set otherwise.
pub const DEFAULT_READ_CHUNK: usize = 64 * 1024;

/// A [`StorageProvider`] over an in-memory map from storage key to bytes.
///
/// `put` consumes the whole stream before storing anything, so a failing stream (or a
/// dropped future) leaves no object behind. `get` serves ranges with the semantics of
/// object stores: a range must be non-empty and start before the end of the object
/// ([`StorageError::Invalid`] otherwise); its end is cut at the end of the object.
/// Content comes back in chunks of [`MemoryStorage::with_read_chunk`] bytes.
///
/// Tests inspect or tamper with objects through [`MemoryStorage::object`] and
/// [`MemoryStorage::insert`], and simulate an outage with [`MemoryStorage::set_failing`].
#[derive(Debug)]
pub struct MemoryStorage {
    objects: Mutex<BTreeMap<StorageKey, Bytes>>,
    read_chunk: usize,
    failing: AtomicBool,
}

impl MemoryStorage {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::with_read_chunk(DEFAULT_READ_CHUNK)
    }

    /// An empty store whose `get` streams items of at most `bytes` bytes (at least 1).
    #[must_use]
    pub fn with_read_chunk(bytes: usize) -> Self {
        Self { objects: Mutex::default(), read_chunk: bytes.max(1), failing: AtomicBool::new(false) }
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<StorageKey, Bytes>> {
        // Every update of the map is a single insert or remove, so it stays whole even if
        // a holder panicked.
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn available(&self) -> Result<(), StorageError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StorageError::Unavailable(BackendError::msg("memory storage set to fail").transient()))
        } else {
            Ok(())
        }
    }

    /// Whether every operation fails with [`StorageError::Unavailable`] from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The bytes stored under `key`.
    #[must_use]
    pub fn object(&self, key: &StorageKey) -> Option<Bytes> {
        self.objects().get(key).cloned()
    }

    /// Stores `bytes` under `key` directly (e.g. to tamper with a ciphertext).
    pub fn insert(&self, key: StorageKey, bytes: Bytes) {
        self.objects().insert(key, bytes);
    }

    /// The keys of every stored object, in order.
    #[must_use]
    pub fn keys(&self) -> Vec<StorageKey> {
        self.objects().keys().cloned().collect()
    }

    /// Number of stored objects.
    #[must_use]
    pub fn len(&self) -> usize {
        self.objects().len()
    }

    /// Whether nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.objects().is_empty()
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

/// The bytes of `range` within an object of `len` bytes, as object stores cut it.
fn cut(range: Range<u64>, len: u64) -> Result<Range<usize>, StorageError> {
    if range.end <= range.start {
        return Err(StorageError::Invalid(format!("empty range {}..{}", range.start, range.end)));
    }
    if range.start >= len {
        return Err(StorageError::Invalid(format!(
            "range starts at {} of an object of {len} bytes",
            range.start
        )));
    }
    let end = range.end.min(len);
    // Both bounds are at most `len`, the length of an in-memory buffer, so they fit.
    Ok(usize::try_from(range.start).unwrap_or(usize::MAX)..usize::try_from(end).unwrap_or(usize::MAX))
}

#[async_trait]
impl StorageProvider for MemoryStorage {
    async fn put(&self, key: &StorageKey, mut content: ByteStream) -> Result<u64, StorageError> {
        self.available()?;
        let mut buffer = BytesMut::new();
        while let Some(chunk) = content.next().await {
            buffer.extend_from_slice(&chunk.map_err(StorageError::Input)?);
        }
        let written = buffer.len() as u64;
        self.objects().insert(key.clone(), buffer.freeze());
        Ok(written)
    }

    async fn get(&self, key: &StorageKey, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        self.available()?;
        let object = self.object(key).ok_or_else(|| StorageError::NotFound(key.to_string()))?;
        let object = match range {
            None => object,
            Some(range) => object.slice(cut(range, object.len() as u64)?),
        };
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..object.len())
            .step_by(self.read_chunk)
            .map(|start| Ok(object.slice(start..(start + self.read_chunk).min(object.len()))))
            .collect();
        Ok(futures::stream::iter(chunks).boxed())
    }

    async fn size(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        self.available()?;
        Ok(self.objects().get(key).map(|bytes| bytes.len() as u64))
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.available()?;
        match self.objects().remove(key) {
            Some(_) => Ok(()),
            None => Err(StorageError::NotFound(key.to_string())),
        }
    }

    /// Nothing of a dropped put outlives it here.
    async fn remove_unfinished(&self, _key: &StorageKey) -> Result<(), StorageError> {
        self.available()
    }
}
