//! The `StorageProvider` conformance suite against every backend: memory, local disk (a
//! temp dir) and GCS (the XML-API test double, configured as production is: a
//! service-account key with `gcs_base_url` and `disable_oauth`, given as a file and as
//! base64 in an environment variable).

use std::sync::Arc;
use std::time::Duration;

use drip_gcs_double::GcsDouble;
use drip_object_store::{GcsConfig, GcsCredentials, GcsRetry, ObjectStoreProvider, UploadSettings};
use drip_testkit::storage::StorageFixture;

/// Small parts for the backends without a minimum, so that multipart paths run often.
const SMALL_PART: usize = 256 * 1024;
/// GCS's smallest part (the double enforces it like GCS).
const GCS_PART: usize = 5 * 1024 * 1024;

fn uploads(part_size: usize) -> UploadSettings {
    UploadSettings { part_size, concurrency: 3 }
}

/// Quick retries: the suite runs without faults, so they never wait long.
fn quick_retries() -> GcsRetry {
    GcsRetry {
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..GcsRetry::default()
    }
}

mod memory {
    use super::*;

    async fn setup() -> StorageFixture {
        let provider = ObjectStoreProvider::memory().with_uploads(uploads(SMALL_PART)).expect("settings");
        StorageFixture { provider: Arc::new(provider), part_size: SMALL_PART, guard: None }
    }

    drip_testkit::storage_conformance!(setup);
}

mod local {
    use super::*;

    async fn setup() -> StorageFixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let provider = ObjectStoreProvider::local(dir.path().join("data"))
            .and_then(|p| p.with_prefix("media"))
            .and_then(|p| p.with_uploads(uploads(SMALL_PART)))
            .expect("local store");
        StorageFixture { provider: Arc::new(provider), part_size: SMALL_PART, guard: Some(Box::new(dir)) }
    }

    drip_testkit::storage_conformance!(setup);
}

mod gcs_key_file {
    use std::io::Write;

    use super::*;

    async fn setup() -> StorageFixture {
        let double = GcsDouble::start().await.expect("gcs double");
        let mut key_file = tempfile::NamedTempFile::new().expect("key file");
        key_file.write_all(double.service_account_json().as_bytes()).expect("write key");
        let mut config = GcsConfig::new(double.bucket(), GcsCredentials::File(key_file.path().to_owned()));
        config.prefix = Some("drip/media".to_owned());
        config.retry = quick_retries();
        let provider = ObjectStoreProvider::gcs(&config)
            .and_then(|p| p.with_uploads(uploads(GCS_PART)))
            .expect("gcs store");
        StorageFixture {
            provider: Arc::new(provider),
            part_size: GCS_PART,
            guard: Some(Box::new((double, key_file))),
        }
    }

    drip_testkit::storage_conformance!(setup);
}

mod gcs_base64_env {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const VAR: &str = "DRIP_GCS_CREDENTIALS";

    async fn setup() -> StorageFixture {
        let double = GcsDouble::start().await.expect("gcs double");
        let encoded = STANDARD.encode(double.service_account_json());
        let mut config = GcsConfig::new(double.bucket(), GcsCredentials::Base64Env(VAR.to_owned()));
        config.retry = quick_retries();
        // The environment is read through a lookup: tests cannot set process variables
        // (`unsafe` in edition 2024). `tests/gcs.rs` covers the real process environment.
        let provider =
            ObjectStoreProvider::gcs_with_env(&config, |name| (name == VAR).then(|| encoded.clone()))
                .and_then(|p| p.with_uploads(uploads(GCS_PART)))
                .expect("gcs store");
        StorageFixture { provider: Arc::new(provider), part_size: GCS_PART, guard: Some(Box::new(double)) }
    }

    drip_testkit::storage_conformance!(setup);
}
