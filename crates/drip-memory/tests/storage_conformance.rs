//! Runs the storage conformance suite of `drip-testkit` against `MemoryStorage`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_memory::MemoryStorage;
use drip_testkit::storage::StorageFixture;

async fn setup() -> StorageFixture {
    // MemoryStorage has no multipart uploads: any small part size exercises the scenarios.
    StorageFixture {
        provider: Arc::new(MemoryStorage::new()),
        part_size: 64 * 1024,
        guard: None,
        unfinished_uploads: None,
    }
}

drip_testkit::storage_conformance!(setup);
