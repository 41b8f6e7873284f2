//! The shared repository conformance suite (`drip-testkit`) against PostgreSQL: every
//! scenario on a fresh database of its own, dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::sync::Arc;

use drip_testkit::repository::Repos;

/// Fresh repositories over a new database; `None` (after saying `SKIPPED` once) when no
/// server is reachable outside CI — under CI that panics instead.
async fn setup() -> Option<Repos> {
    let db = common::fresh_database(10).await?;
    let repos = Arc::new(db.repos);
    Some(Repos {
        accounts: repos.clone(),
        media: repos.clone(),
        jobs: repos,
        guard: Some(Box::new(db.guard)),
    })
}

drip_testkit::repository_conformance!(setup);
drip_testkit::quota_conformance!(setup);
