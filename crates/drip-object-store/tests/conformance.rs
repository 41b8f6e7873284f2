//! The `StorageProvider` conformance suite against every backend: memory, local disk (a
//! temp dir) and GCS (the XML-API test double, configured as production is: a
//! service-account key file with `gcs_base_url` and `disable_oauth`; the other credential
//! sources have a test each in `gcs.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drip_gcs_double::GcsDouble;
use drip_object_store::{GcsConfig, GcsCredentials, ObjectStoreProvider, RetrySettings, UploadSettings};
use drip_testkit::storage::StorageFixture;

/// Small parts for the backends without a minimum, so that multipart paths run often.
const SMALL_PART: usize = 256 * 1024;
/// GCS's smallest part (the double enforces it like GCS).
const GCS_PART: usize = 5 * 1024 * 1024;

fn uploads(part_size: usize) -> UploadSettings {
    UploadSettings { part_size, concurrency: 3 }
}

/// Quick retries: the suite runs without faults, so they never wait long.
fn quick_retries() -> RetrySettings {
    RetrySettings {
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..RetrySettings::default()
    }
}

mod memory {
    use super::*;

    async fn setup() -> StorageFixture {
        let provider = ObjectStoreProvider::memory().with_uploads(uploads(SMALL_PART)).expect("settings");
        // An unfinished upload of `InMemory` lives in its upload value alone.
        StorageFixture {
            provider: Arc::new(provider),
            part_size: SMALL_PART,
            guard: None,
            unfinished_uploads: None,
        }
    }

    drip_testkit::storage_conformance!(setup);
}

mod local {
    use super::*;

    /// Staging files (`<name>#<n>`) under `dir`: stored names are escaped and hold no `#`.
    fn staging_files(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|entry| match entry.file_type() {
                Ok(kind) if kind.is_dir() => staging_files(&entry.path()),
                _ => usize::from(entry.file_name().to_string_lossy().contains('#')),
            })
            .sum()
    }

    async fn setup() -> StorageFixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("data");
        let provider = ObjectStoreProvider::local(&root)
            .and_then(|p| p.with_prefix("media"))
            .and_then(|p| p.with_uploads(uploads(SMALL_PART)))
            .expect("local store");
        StorageFixture {
            provider: Arc::new(provider),
            part_size: SMALL_PART,
            guard: Some(Box::new(dir)),
            unfinished_uploads: Some(Box::new(move || staging_files(&root))),
        }
    }

    drip_testkit::storage_conformance!(setup);
}

mod gcs {
    use std::io::Write;

    use super::*;

    async fn setup() -> StorageFixture {
        let double = Arc::new(GcsDouble::start().await.expect("gcs double"));
        let mut key_file = tempfile::NamedTempFile::new().expect("key file");
        key_file.write_all(double.service_account_json().as_bytes()).expect("write key");
        let mut config = GcsConfig::new(double.bucket(), GcsCredentials::File(key_file.path().to_owned()));
        config.prefix = Some("drip/media".to_owned());
        config.retry = quick_retries();
        let provider = ObjectStoreProvider::gcs(&config)
            .and_then(|p| p.with_uploads(uploads(GCS_PART)))
            .expect("gcs store");
        let probe = Arc::clone(&double);
        StorageFixture {
            provider: Arc::new(provider),
            part_size: GCS_PART,
            guard: Some(Box::new((double, key_file))),
            unfinished_uploads: Some(Box::new(move || probe.in_progress_uploads())),
        }
    }

    drip_testkit::storage_conformance!(setup);
}
