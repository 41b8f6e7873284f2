//! Runs the link repository conformance suite of `drip-testkit` against the memory
//! repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::links::Links;

async fn setup() -> Links {
    let store = MemoryRepositories::new();
    Links {
        links: Arc::new(store.links()),
        accounts: Arc::new(store.accounts()),
        media: Arc::new(store.media()),
        guard: None,
    }
}

drip_testkit::link_repository_conformance!(setup);
