//! The link repository conformance suite (`drip-testkit`) against SQLite: every scenario on
//! a fresh database file in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use drip_testkit::links::Links;

async fn setup() -> Links {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("drip.db");
    let repos = drip_sqlite::open(file.to_str().expect("a utf-8 temp path")).await.expect("opening sqlite");
    let repos = Arc::new(repos);
    Links { links: repos.clone(), accounts: repos.clone(), media: repos, guard: Some(Box::new(dir)) }
}

drip_testkit::link_repository_conformance!(setup);
