//! Conformance suites for Drip's ports: one scenario per contract in the ports' `# Errors`
//! docs, written once and run against every adapter (memory, SQLite, PostgreSQL; memory,
//! local disk, GCS).
//!
//! An adapter crate runs a suite from its tests with a setup function:
//!
//! ```ignore
//! async fn setup() -> drip_testkit::repository::Repos { /* fresh, empty repositories */ }
//! drip_testkit::repository_conformance!(setup);
//!
//! async fn storage() -> drip_testkit::storage::StorageFixture { /* fresh, empty store */ }
//! drip_testkit::storage_conformance!(storage);
//! ```
//! Each macro expands to one `#[tokio::test]` per scenario, each with its own fresh setup.
//!
//! [`bench`] is the repository benchmark every SQL adapter's example runs, and [`workload`]
//! the random writes whose folder statistics a recount checks.

// A test-support library: a scenario that finds a broken contract fails its test by
// panicking, as `assert!` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod repository;
pub mod storage;
pub mod workload;
