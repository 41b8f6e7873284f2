//! GCS adapter behaviour beyond the conformance suite, against the XML-API test double:
//! aborted and cancelled multipart uploads leave no parts, retries of transient failures,
//! `Unavailable` when retries give up (its causes reported once each), object naming,
//! configuration errors, and the credential sources the suite does not use (base64 in an
//! environment variable, read through a lookup and from the real process environment).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use drip_core::storage::ports::{StorageError, StorageProvider};
use drip_gcs_double::{Fault, GcsDouble, Operation, RecordedRequest};
use drip_object_store::{ConfigError, GcsConfig, GcsCredentials, ObjectStoreProvider, UploadSettings};
use futures::{StreamExt, TryStreamExt, stream};

mod common;

use common::{chain, failing_after, key, retries, run_child_test, zeros};

const PART: usize = 5 * 1024 * 1024;
const ENV_VAR: &str = "DRIP_TEST_GCS_CREDENTIALS_B64";
const BUCKET_VAR: &str = "DRIP_TEST_GCS_BUCKET";

fn provider_for(double: &GcsDouble, prefix: Option<&str>, max_retries: usize) -> ObjectStoreProvider {
    let mut config = GcsConfig::new(double.bucket(), GcsCredentials::Json(double.service_account_json()));
    config.prefix = prefix.map(str::to_owned);
    config.retry = retries(max_retries);
    ObjectStoreProvider::gcs(&config)
        .and_then(|p| p.with_uploads(UploadSettings { part_size: PART, concurrency: 2 }))
        .unwrap()
}

async fn start() -> (GcsDouble, ObjectStoreProvider) {
    let double = GcsDouble::start().await.unwrap();
    let provider = provider_for(&double, None, 3);
    (double, provider)
}

/// A put of `len` bytes to a double that refuses every `operation`: the double and the
/// put's result.
async fn put_refused_at(operation: Operation, len: usize) -> (GcsDouble, Result<u64, StorageError>) {
    let (double, provider) = start().await;
    double.inject(Fault::always(400).on(operation));
    let result = provider.put(&key("x.bin"), zeros(len)).await;
    (double, result)
}

/// The failed upload left no parts and no object behind.
fn assert_nothing_left(double: &GcsDouble) {
    assert_eq!(double.in_progress_uploads(), 0, "no stray parts");
    assert!(double.object_names().is_empty());
}

#[tokio::test]
async fn objects_are_named_prefix_slash_key() {
    let double = GcsDouble::start().await.unwrap();
    let provider = provider_for(&double, Some("/drip/media/"), 3);
    assert_eq!(provider.prefix(), Some("drip/media"));
    let key = key("photo #1.jpg");
    provider.put(&key, zeros(10)).await.unwrap();
    assert_eq!(double.object_names(), [format!("drip/media/{key}")]);
    assert_eq!(double.object(&format!("drip/media/{key}")).unwrap().len(), 10);
}

#[tokio::test]
async fn content_up_to_one_part_is_one_put_and_more_is_a_multipart_upload() {
    let (double, provider) = start().await;
    let (small, big) = (key("a.bin"), key("b.bin"));
    provider.put(&small, zeros(PART)).await.unwrap();
    assert_eq!(double.count(Operation::PutObject), 1);
    assert_eq!(double.count(Operation::InitiateUpload), 0);

    provider.put(&big, zeros(2 * PART + 1)).await.unwrap();
    assert_eq!(double.count(Operation::InitiateUpload), 1);
    assert_eq!(double.count(Operation::UploadPart), 3);
    assert_eq!(double.count(Operation::CompleteUpload), 1);
    assert_eq!(double.in_progress_uploads(), 0);
    // The upload's id was written down while it ran (one more put), and forgotten after.
    assert_eq!(double.count(Operation::PutObject), 2);
    assert_eq!(double.count(Operation::DeleteObject), 1);
    let mut expected = [small.to_string(), big.to_string()];
    expected.sort();
    assert_eq!(double.object_names(), expected, "no id left written down");
}

/// An upload whose process died leaves its parts on GCS; `remove_unfinished` aborts it by
/// the id it wrote down. The "process" is a runtime of its own, shut down mid-upload: its
/// tasks are dropped and the upload's abort never runs, as after `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_unfinished_aborts_an_upload_left_by_a_dead_process() {
    let (double, provider) = start().await;
    let (double, provider) = (Arc::new(double), Arc::new(provider));
    let key = key("left.bin");
    let dead = {
        let (provider, key, double) = (Arc::clone(&provider), key.clone(), Arc::clone(&double));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let content = zeros(2 * PART + 5).chain(stream::pending()).boxed();
                tokio::spawn(async move { provider.put(&key, content).await });
                let two_parts = |log: &[RecordedRequest]| {
                    log.iter().filter(|r| r.operation == Operation::UploadPart && r.status == 200).count()
                        == 2
                };
                double.requests_until(two_parts).await;
            });
            runtime.shutdown_background();
        })
    };
    dead.join().unwrap();
    assert_eq!(double.in_progress_uploads(), 1, "the dead process left its upload");
    provider.remove_unfinished(&key).await.unwrap();
    assert_eq!(double.in_progress_uploads(), 0, "aborted by its written-down id");
    assert!(double.object_names().is_empty(), "and the id forgotten");
    provider.remove_unfinished(&key).await.unwrap();
}

#[tokio::test]
async fn failing_input_aborts_the_multipart_upload() {
    let (double, provider) = start().await;
    let key = key("broken.bin");
    let result = provider.put(&key, failing_after(2 * PART + 100)).await;
    assert!(matches!(result, Err(StorageError::Input(_))), "{result:?}");
    assert_eq!(double.count(Operation::InitiateUpload), 1);
    assert_eq!(double.count(Operation::AbortUpload), 1);
    assert_nothing_left(&double);
}

#[tokio::test]
async fn failing_part_upload_aborts_and_is_other() {
    let (double, result) = put_refused_at(Operation::UploadPart, 3 * PART).await;
    match result {
        Err(StorageError::Other(err)) => assert!(err.to_string().contains("put"), "{err}"),
        other => panic!("expected Other, got {other:?}"),
    }
    assert_nothing_left(&double);
}

#[tokio::test]
async fn failing_completion_aborts() {
    let (double, result) = put_refused_at(Operation::CompleteUpload, PART + 1).await;
    assert!(matches!(result, Err(StorageError::Other(_))), "{result:?}");
    assert_eq!(double.count(Operation::AbortUpload), 1);
    assert_nothing_left(&double);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_put_aborts_the_multipart_upload() {
    let (double, provider) = start().await;
    let provider = Arc::new(provider);
    let content = zeros(2 * PART + 5).chain(stream::pending()).boxed();
    let key = key("cancelled.bin");
    let uploading = {
        let (provider, key) = (Arc::clone(&provider), key.clone());
        tokio::spawn(async move { provider.put(&key, content).await })
    };
    let two_parts = |log: &[RecordedRequest]| {
        log.iter().filter(|r| r.operation == Operation::UploadPart && r.status == 200).count() == 2
    };
    tokio::time::timeout(Duration::from_secs(30), double.requests_until(two_parts))
        .await
        .expect("two parts uploaded");
    assert_eq!(double.in_progress_uploads(), 1);
    uploading.abort();
    assert!(uploading.await.unwrap_err().is_cancelled());
    // The double logs each request before it answers: settled, the abort is in the log.
    provider.settled().await;
    assert_eq!(double.in_progress_uploads(), 0);
    assert_eq!(double.count(Operation::AbortUpload), 1);
    assert!(double.object_names().is_empty());
    assert_eq!(provider.size(&key).await.unwrap(), None);
}

#[tokio::test]
async fn transient_failures_are_retried_then_succeed() {
    let (double, provider) = start().await;
    let key = key("retried.bin");
    double.inject(Fault::next(2, 503));
    assert_eq!(provider.put(&key, zeros(10)).await.unwrap(), 10);
    assert_eq!(double.count(Operation::PutObject), 3);

    double.inject(Fault::next(1, 429).on(Operation::HeadObject));
    assert_eq!(provider.size(&key).await.unwrap(), Some(10));
    double.inject(Fault::next(2, 500).on(Operation::GetObject));
    let mut content = provider.get(&key, Some(2..5)).await.unwrap();
    assert_eq!(content.next().await.unwrap().unwrap().len(), 3);

    let big = self::key("big.bin");
    double.inject(Fault::next(2, 503).on(Operation::UploadPart));
    double.inject(Fault::next(1, 503).on(Operation::CompleteUpload));
    provider.put(&big, zeros(2 * PART + 1)).await.unwrap();
    assert_eq!(double.count(Operation::UploadPart), 3 + 2);
    assert_eq!(provider.size(&big).await.unwrap(), Some(2 * PART as u64 + 1));
    assert_eq!(double.in_progress_uploads(), 0);
}

#[tokio::test]
async fn persistent_failures_surface_as_unavailable_after_the_retries() {
    let double = GcsDouble::start().await.unwrap();
    let provider = provider_for(&double, None, 2);
    let key = key("down.bin");
    double.inject(Fault::always(503));
    match provider.put(&key, zeros(10)).await {
        Err(StorageError::Unavailable(err)) => {
            assert!(err.is_transient());
            assert!(err.context().contains(key.as_str()), "{err}");
            let report = chain(&err).join(": ");
            assert!(report.contains("503"), "{report}");
            assert_eq!(report.matches("503 Service Unavailable").count(), 1, "each cause once: {report}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(double.count(Operation::PutObject), 3, "one attempt and two retries");
    assert!(matches!(provider.get(&key, None).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(provider.get(&key, Some(0..1)).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(provider.size(&key).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(provider.delete(&key).await, Err(StorageError::Unavailable(_))));

    double.clear_faults();
    double.inject(Fault::always(429));
    assert!(matches!(provider.size(&key).await, Err(StorageError::Unavailable(_))));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let double = GcsDouble::start().await.unwrap();
    let mut config = GcsConfig::new(double.bucket(), GcsCredentials::Json(double.service_account_json()));
    config.base_url = Some("http://127.0.0.1:9".to_owned());
    config.retry = retries(1);
    let provider = ObjectStoreProvider::gcs(&config).unwrap();
    match provider.size(&key("x")).await {
        Err(StorageError::Unavailable(err)) => {
            let report = chain(&err).join(": ");
            assert_eq!(report.matches("error sending request").count(), 1, "each cause once: {report}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(double.requests().is_empty(), "the base url override wins over the key's gcs_base_url");
}

#[tokio::test]
async fn another_bucket_is_an_error_not_a_missing_object_on_put() {
    let double = GcsDouble::start().await.unwrap();
    let mut config = GcsConfig::new("not-the-bucket", GcsCredentials::Json(double.service_account_json()));
    config.retry = retries(0);
    let provider = ObjectStoreProvider::gcs(&config).unwrap();
    assert!(matches!(provider.put(&key("x"), zeros(1)).await, Err(StorageError::Other(_))));
}

#[test]
fn configuration_errors() {
    let json = r#"{"client_email":"a","private_key":"b","private_key_id":"c","disable_oauth":true}"#;
    let env = GcsConfig::new("b", GcsCredentials::Base64Env("MISSING".into()));
    assert!(
        matches!(ObjectStoreProvider::gcs_with_env(&env, |_| None), Err(ConfigError::MissingEnv(v)) if v == "MISSING")
    );
    assert!(matches!(
        ObjectStoreProvider::gcs_with_env(&env, |_| Some("not base64!".into())),
        Err(ConfigError::InvalidBase64(_))
    ));
    let file = GcsConfig::new("b", GcsCredentials::File("/nonexistent/key.json".into()));
    assert!(matches!(ObjectStoreProvider::gcs(&file), Err(ConfigError::CredentialsFile { .. })));
    let incomplete = GcsConfig::new("b", GcsCredentials::Json(r#"{"disable_oauth":true}"#.into()));
    assert!(matches!(ObjectStoreProvider::gcs(&incomplete), Err(ConfigError::Build(_))));

    let mut bad_prefix = GcsConfig::new("b", GcsCredentials::Json(json.into()));
    bad_prefix.prefix = Some("a/../b".into());
    assert!(matches!(ObjectStoreProvider::gcs(&bad_prefix), Err(ConfigError::InvalidPrefix(_))));

    let provider = ObjectStoreProvider::gcs(&GcsConfig::new("b", GcsCredentials::Json(json.into()))).unwrap();
    let small = UploadSettings { part_size: PART - 1, concurrency: 1 };
    assert!(matches!(provider.clone().with_uploads(small), Err(ConfigError::PartSize { min: PART, .. })));
    let none = UploadSettings { part_size: PART, concurrency: 0 };
    assert!(matches!(provider.clone().with_uploads(none), Err(ConfigError::Concurrency)));
    assert!(!format!("{provider:?}").contains("private_key"));
}

#[tokio::test]
async fn credentials_from_base64_in_an_environment_variable() {
    let double = GcsDouble::start().await.unwrap();
    let encoded = STANDARD.encode(double.service_account_json());
    let config = GcsConfig::new(double.bucket(), GcsCredentials::Base64Env("CREDS".into()));
    // Read through a lookup: a test cannot set process variables (`unsafe` in edition 2024);
    // the next test covers the real process environment.
    let provider =
        ObjectStoreProvider::gcs_with_env(&config, |name| (name == "CREDS").then(|| encoded.clone()))
            .unwrap();
    let key = key("env.txt");
    assert_eq!(provider.put(&key, zeros(42)).await.unwrap(), 42);
    let content: Vec<Bytes> = provider.get(&key, None).await.unwrap().try_collect().await.unwrap();
    assert_eq!(content.concat(), vec![7_u8; 42]);
    provider.delete(&key).await.unwrap();
    assert!(double.object_names().is_empty());
}

/// Runs `child_reads_credentials_from_the_process_environment` in a child process whose
/// environment holds the base64 key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_a_base64_process_environment_variable() {
    let double = GcsDouble::start().await.unwrap();
    let encoded = STANDARD.encode(double.service_account_json());
    let env = vec![(ENV_VAR, encoded), (BUCKET_VAR, double.bucket().to_owned())];
    run_child_test("child_reads_credentials_from_the_process_environment", env).await;
    assert_eq!(double.count(Operation::PutObject), 1);
    assert_eq!(double.object_names().len(), 1);
}

#[tokio::test]
#[ignore = "run in a child process by credentials_from_a_base64_process_environment_variable"]
async fn child_reads_credentials_from_the_process_environment() {
    let bucket = std::env::var(BUCKET_VAR).expect("started by the parent test");
    let provider =
        ObjectStoreProvider::gcs(&GcsConfig::new(bucket, GcsCredentials::Base64Env(ENV_VAR.into()))).unwrap();
    let key = key("env.txt");
    provider.put(&key, zeros(42)).await.unwrap();
    assert_eq!(provider.size(&key).await.unwrap(), Some(42));
}
