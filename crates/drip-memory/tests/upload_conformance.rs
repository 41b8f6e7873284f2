//! Runs the upload repository conformance suite of `drip-testkit` against the memory repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::uploads::Uploads;

async fn setup() -> Uploads {
    let store = MemoryRepositories::new();
    Uploads {
        uploads: Arc::new(store.uploads()),
        accounts: Arc::new(store.accounts()),
        media: Arc::new(store.media()),
        jobs: Arc::new(store.jobs()),
        guard: None,
    }
}

drip_testkit::upload_repository_conformance!(setup);
