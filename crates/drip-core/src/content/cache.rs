//! The content cache of small files: sliding expiry, bounded total bytes, hit counter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::ids::MediaId;

struct Entry {
    content: Bytes,
    last_access: Instant,
    hits: u64,
}

/// Counters of a [`ContentCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes: u64,
}

/// Decrypted content of small files by media id (the book's CacheWorker).
///
/// Each hit pushes the entry's expiry `ttl` into the future (sliding expiry); the total
/// size stays under `max_bytes` by evicting the least recently used entries; files larger
/// than `max_entry_bytes` are never cached.
pub struct ContentCache {
    ttl: Duration,
    max_bytes: u64,
    max_entry_bytes: u64,
    entries: Mutex<HashMap<MediaId, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for ContentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentCache").field("stats", &self.stats()).finish()
    }
}

impl ContentCache {
    /// A cache with the given expiry and bounds (`max_bytes == 0` disables it).
    #[must_use]
    pub fn new(ttl: Duration, max_bytes: u64, max_entry_bytes: u64) -> Self {
        Self {
            ttl,
            max_bytes,
            max_entry_bytes: max_entry_bytes.min(max_bytes),
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MediaId, Entry>> {
        // The map holds only cached copies; after a panic elsewhere it is still usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Largest file size that is cached.
    #[must_use]
    pub fn max_entry_bytes(&self) -> u64 {
        self.max_entry_bytes
    }

    /// The cached content of `id`, extending its expiry.
    pub fn get(&self, id: &MediaId) -> Option<Bytes> {
        let now = Instant::now();
        let mut entries = self.lock();
        let found = match entries.get_mut(id) {
            Some(entry) if now.duration_since(entry.last_access) < self.ttl => {
                entry.last_access = now;
                entry.hits += 1;
                Some(entry.content.clone())
            }
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches the content of `id` if it is small enough, evicting expired entries and then
    /// the least recently used ones to make room.
    pub fn insert(&self, id: MediaId, content: Bytes) {
        let size = content.len() as u64;
        if size > self.max_entry_bytes {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        entries.remove(&id);
        entries.retain(|_, e| now.duration_since(e.last_access) < self.ttl);
        let mut total: u64 = entries.values().map(|e| e.content.len() as u64).sum();
        while total + size > self.max_bytes {
            let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.last_access).map(|(k, _)| *k) else {
                break;
            };
            if let Some(e) = entries.remove(&oldest) {
                total -= e.content.len() as u64;
            }
        }
        entries.insert(id, Entry { content, last_access: now, hits: 0 });
    }

    /// Forgets `id` (after a delete or a content change).
    pub fn evict(&self, id: &MediaId) {
        self.lock().remove(id);
    }

    /// How often `id` was served from the cache since it was cached.
    #[must_use]
    pub fn hits_of(&self, id: &MediaId) -> Option<u64> {
        self.lock().get(id).map(|e| e.hits)
    }

    /// Current counters.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let entries = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.len() as u64,
            bytes: entries.values().map(|e| e.content.len() as u64).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Ksuid;

    fn id(n: u8) -> MediaId {
        MediaId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [n; 16]))
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_slides_with_each_hit() {
        let cache = ContentCache::new(Duration::from_secs(60), 1000, 100);
        cache.insert(id(1), Bytes::from_static(b"hello"));
        tokio::time::advance(Duration::from_secs(50)).await;
        assert!(cache.get(&id(1)).is_some());
        tokio::time::advance(Duration::from_secs(50)).await;
        assert!(cache.get(&id(1)).is_some(), "the hit at 50 s extended the expiry");
        assert_eq!(cache.hits_of(&id(1)), Some(2));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(cache.get(&id(1)).is_none());
        assert_eq!(cache.stats(), CacheStats { hits: 2, misses: 1, entries: 0, bytes: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_by_total_bytes_lru_first() {
        let cache = ContentCache::new(Duration::from_secs(60), 10, 10);
        cache.insert(id(1), Bytes::from_static(b"aaaa"));
        tokio::time::advance(Duration::from_millis(1)).await;
        cache.insert(id(2), Bytes::from_static(b"bbbb"));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(cache.get(&id(1)).is_some());
        cache.insert(id(3), Bytes::from_static(b"cccc"));
        assert!(cache.get(&id(2)).is_none(), "least recently used is evicted");
        assert!(cache.get(&id(1)).is_some());
        assert!(cache.stats().bytes <= 10);
        cache.insert(id(4), Bytes::from(vec![0u8; 11]));
        assert!(cache.get(&id(4)).is_none(), "too large to cache");
        cache.evict(&id(1));
        assert!(cache.get(&id(1)).is_none());
    }
}
