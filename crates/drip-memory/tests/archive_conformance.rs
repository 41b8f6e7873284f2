//! Runs the archive repository conformance suite of `drip-testkit` against the memory
//! archive repository.

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::archives::Archives;

async fn setup() -> Archives {
    let store = MemoryRepositories::new();
    Archives {
        archives: Arc::new(store.archives()),
        accounts: Arc::new(store.accounts()),
        jobs: Arc::new(store.jobs()),
        guard: None,
    }
}

drip_testkit::archive_conformance!(setup);
