//! Runs the repository conformance suite of `drip-testkit` against the memory repositories.

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::repository::Repos;

async fn setup() -> Repos {
    let store = MemoryRepositories::new();
    Repos { accounts: Arc::new(store.accounts()), media: Arc::new(store.media()), guard: None }
}

drip_testkit::repository_conformance!(setup);
