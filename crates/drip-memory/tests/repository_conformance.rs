//! Runs the repository conformance suite of `drip-testkit` against the memory repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::repository::Repos;

async fn setup() -> Repos {
    let store = MemoryRepositories::new();
    Repos {
        accounts: Arc::new(store.accounts()),
        media: Arc::new(store.media()),
        jobs: Arc::new(store.jobs()),
        guard: None,
    }
}

drip_testkit::repository_conformance!(setup);
drip_testkit::quota_conformance!(setup);
