//! The shared repository conformance suite (`drip-testkit`) against PostgreSQL: every
//! scenario on a fresh database of its own, dropped afterwards.

mod common;

use std::sync::Arc;

use drip_testkit::repository::Repos;

/// Fresh repositories over a new database. Without a reachable server (outside CI, where
/// that fails) the suite says `SKIPPED` once and runs each scenario against the in-memory
/// fake instead, because the suite's macro has no way to skip a scenario.
async fn setup() -> Repos {
    match common::fresh_database(10).await {
        Some(db) => {
            let repos = Arc::new(db.repos);
            Repos { accounts: repos.clone(), media: repos, guard: Some(Box::new(db.guard)) }
        }
        None => {
            let memory = drip_mock::MemoryRepositories::new();
            Repos { accounts: Arc::new(memory.accounts()), media: Arc::new(memory.media()), guard: None }
        }
    }
}

drip_testkit::repository_conformance!(setup);
