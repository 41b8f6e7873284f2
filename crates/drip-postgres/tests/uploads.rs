//! Runs the upload repository conformance suite of `drip-testkit` against PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::sync::Arc;

use drip_testkit::uploads::Uploads;

async fn setup() -> Option<Uploads> {
    let db = common::fresh_database(10).await?;
    let repos = Arc::new(db.repos);
    Some(Uploads {
        uploads: repos.clone(),
        accounts: repos.clone(),
        media: repos.clone(),
        jobs: repos,
        guard: Some(Box::new(db.guard)),
    })
}

drip_testkit::upload_repository_conformance!(setup);
