//! Conformance suites for Drip's ports: one scenario per contract in the ports' `# Errors`
//! docs, written once and run against every adapter (memory, SQLite, PostgreSQL; memory,
//! local disk, GCS, S3).
//!
//! An adapter crate runs a suite from its tests with a setup function:
//!
//! ```ignore
//! async fn setup() -> drip_testkit::repository::Repos { /* fresh, empty repositories */ }
//! drip_testkit::repository_conformance!(setup);
//!
//! async fn storage() -> drip_testkit::storage::StorageFixture { /* fresh, empty store */ }
//! drip_testkit::storage_conformance!(storage);
//!
//! async fn queue() -> drip_testkit::jobs::Queue { /* fresh, empty job queue */ }
//! drip_testkit::job_queue_conformance!(queue);
//!
//! async fn archives() -> drip_testkit::archives::Archives { /* fresh, empty store */ }
//! drip_testkit::archive_conformance!(archives);
//!
//! fn issuer() -> MyTokenIssuer { /* an issuer with a fresh secret */ }
//! drip_testkit::token_issuer_conformance!(issuer);
//! ```
//! Each macro expands to one `#[tokio::test]` per scenario, each with its own fresh setup.
//!
//! [`bench`] is the repository benchmark every SQL adapter's example runs, and [`workload`]
//! the random writes whose folder statistics a recount checks. [`corpus`] replays the
//! seed corpora of the `cargo fuzz` targets (`fuzz/`) in the ordinary tests. With the `s3`
//! feature, the `s3` module gives each test a bucket of its own on the test run's S3 server.

// A test-support library: a scenario that finds a broken contract fails its test by
// panicking, as `assert!` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod archives;
pub mod bench;
pub mod cluster;
pub mod corpus;
pub mod jobs;
pub mod links;
pub mod quotas;
pub mod repository;
#[cfg(feature = "s3")]
pub mod s3;
pub mod storage;
pub mod tokens;
pub mod uploads;
pub mod workload;

/// What a suite's setup function may answer: its fixture `F`, or `None` when the backend
/// is not available here (the scenario then passes without running; the setup reports the
/// skip).
pub trait MaybeFixture<F> {
    /// The fixture, if there is one.
    fn into_fixture(self) -> Option<F>;
}

impl<F> MaybeFixture<F> for F {
    fn into_fixture(self) -> Option<F> {
        Some(self)
    }
}

impl<F> MaybeFixture<F> for Option<F> {
    fn into_fixture(self) -> Option<F> {
        self
    }
}

/// `len` deterministic pseudo-random bytes (xorshift64*), different per `seed`:
/// incompressible test and benchmark content that a reader can regenerate to compare.
#[must_use]
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a new file of `bytes` bytes at `path`, `block` after `block` (the last one cut
/// short), then `fdatasync`s it: the benchmarks' baseline of a durable large write.
///
/// # Errors
/// What the file system says.
pub fn write_durably(path: &std::path::Path, bytes: u64, block: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_data()
}

/// A PostgreSQL URL with its database name replaced by `name` (query parameters kept): the
/// URL of a fresh database created through the server's admin URL.
#[must_use]
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_urls_keep_credentials_and_options() {
        assert_eq!(with_database("postgres://u:p@h:5432/postgres", "x"), "postgres://u:p@h:5432/x");
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
