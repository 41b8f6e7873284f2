//! Runs the upload repository conformance suite of `drip-testkit` against SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_testkit::uploads::Uploads;

async fn setup() -> Uploads {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("drip.db");
    let repos = drip_sqlite::open(file.to_str().expect("a utf-8 temp path")).await.expect("opening sqlite");
    let repos = Arc::new(repos);
    Uploads {
        uploads: repos.clone(),
        accounts: repos.clone(),
        media: repos.clone(),
        jobs: repos,
        guard: Some(Box::new(dir)),
    }
}

drip_testkit::upload_repository_conformance!(setup);
