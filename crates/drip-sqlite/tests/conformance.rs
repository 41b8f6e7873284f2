//! The shared repository conformance suite (`drip-testkit`) against SQLite: every scenario
//! on a fresh database file in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_testkit::repository::Repos;

async fn setup() -> Repos {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("drip.db");
    let repos = drip_sqlite::open(file.to_str().expect("a utf-8 temp path")).await.expect("opening sqlite");
    let repos = Arc::new(repos);
    Repos { accounts: repos.clone(), media: repos.clone(), jobs: repos, guard: Some(Box::new(dir)) }
}

drip_testkit::repository_conformance!(setup);
drip_testkit::quota_conformance!(setup);
