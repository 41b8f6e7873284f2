//! The S3 adapter against a real S3 server (moto, started by `cargo xtask test` at
//! `DRIP_TEST_S3_ENDPOINT`), each test on a bucket of its own: the storage conformance
//! suite, object naming, one put versus a multipart upload, failed, cancelled and abandoned
//! multipart uploads leaving neither parts nor objects, error mapping, configuration errors,
//! and credentials from the AWS environment. Without a server the tests report `SKIPPED`
//! (a failure under CI), as the PostgreSQL tests do without a database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;

use bytes::Bytes;
use drip_core::storage::ports::{StorageError, StorageProvider};
use drip_object_store::{ConfigError, ObjectStoreProvider, S3Config, S3Credentials, UploadSettings};
use drip_testkit::s3::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, TestBucket, block_on};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectStoreExt as _;
use tokio::sync::oneshot;

mod common;

use common::{chain, failing_after, key, retries, run_child_test, zeros};

/// S3's smallest part (moto enforces it like S3).
const PART: usize = 5 * 1024 * 1024;
/// The bucket the child process of the environment-credentials test writes to.
const BUCKET_VAR: &str = "DRIP_TEST_S3_BUCKET";

fn static_keys() -> S3Credentials {
    S3Credentials::Static {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        secret_access_key: SECRET_ACCESS_KEY.to_owned(),
        session_token: None,
    }
}

/// The configuration of `bucket` on the test server, path-style over plain HTTP.
fn config_of(bucket: &str, endpoint: &str, credentials: S3Credentials) -> S3Config {
    let mut config = S3Config::new(bucket, credentials);
    config.endpoint = Some(endpoint.to_owned());
    config.allow_http = true;
    config.retry = retries(3);
    config
}

fn provider_for(bucket: &TestBucket, prefix: Option<&str>, concurrency: usize) -> ObjectStoreProvider {
    let mut config = config_of(bucket.name(), bucket.endpoint(), static_keys());
    config.prefix = prefix.map(str::to_owned);
    ObjectStoreProvider::s3(&config)
        .and_then(|p| p.with_uploads(UploadSettings { part_size: PART, concurrency }))
        .unwrap()
}

/// A fresh bucket and a provider on it (no prefix); `None` without an S3 server.
async fn start() -> Option<(TestBucket, ObjectStoreProvider)> {
    let bucket = TestBucket::create().await?;
    let provider = provider_for(&bucket, None, 2);
    Some((bucket, provider))
}

/// The failed upload left no parts, no object and no written-down upload id behind.
async fn assert_nothing_left(bucket: &TestBucket) {
    assert!(bucket.uploads_in_progress().await.is_empty(), "no stray parts");
    assert!(bucket.object_names().await.is_empty(), "{:?}", bucket.object_names().await);
}

mod conformance {
    use drip_testkit::storage::StorageFixture;

    use super::*;

    /// A provider as production configures one (with a prefix), on a fresh bucket.
    async fn setup() -> Option<StorageFixture> {
        let bucket = TestBucket::create().await?;
        let provider = provider_for(&bucket, Some("drip/media"), 3);
        let probe = bucket.clone();
        Some(StorageFixture {
            provider: Arc::new(provider),
            part_size: PART,
            guard: Some(Box::new(bucket)),
            unfinished_uploads: Some(Box::new(move || block_on(probe.uploads_in_progress()).len())),
        })
    }

    drip_testkit::storage_conformance!(setup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_named_prefix_slash_key() {
    let Some(bucket) = TestBucket::create().await else { return };
    let provider = provider_for(&bucket, Some("/drip/media/"), 2);
    assert_eq!(provider.prefix(), Some("drip/media"));
    let key = key("photo #1.jpg");
    provider.put(&key, zeros(10)).await.unwrap();
    let name = format!("drip/media/{key}");
    assert_eq!(bucket.object_names().await, std::slice::from_ref(&name));
    assert_eq!(bucket.object(&name).await.map(|content| content.len()), Some(10));
}

/// S3 tags an object made of parts `<digest>-<parts>`, one put with a plain digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_up_to_one_part_is_one_put_and_more_is_a_multipart_upload() {
    let Some((bucket, provider)) = start().await else { return };
    let (small, big) = (key("a.bin"), key("b.bin"));
    provider.put(&small, zeros(PART)).await.unwrap();
    provider.put(&big, zeros(2 * PART + 1)).await.unwrap();
    let e_tag = |key| {
        let (provider, path) = (&provider, provider.object_path(key).unwrap());
        async move { provider.object_store().head(&path).await.unwrap().e_tag.unwrap() }
    };
    let (small_tag, big_tag) = (e_tag(&small).await, e_tag(&big).await);
    assert!(!small_tag.contains('-'), "one put: {small_tag}");
    assert!(big_tag.trim_matches('"').ends_with("-3"), "three parts: {big_tag}");
    assert!(bucket.uploads_in_progress().await.is_empty());
    let mut expected = [small.to_string(), big.to_string()];
    expected.sort();
    assert_eq!(bucket.object_names().await, expected, "no upload id left written down");
    assert_eq!(provider.size(&big).await.unwrap(), Some(2 * PART as u64 + 1));
}

/// An upload whose process died leaves its parts in the bucket; `remove_unfinished` aborts
/// it by the id it wrote down. The "process" is a runtime of its own, shut down once the
/// upload has begun: its tasks are dropped and the upload's abort never runs, as after
/// `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_unfinished_aborts_an_upload_left_by_a_dead_process() {
    let Some((bucket, provider)) = start().await else { return };
    let provider = Arc::new(provider);
    let key = key("left.bin");
    let dead = {
        let (provider, key) = (Arc::clone(&provider), key.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let (reached, stalled) = oneshot::channel::<()>();
                let stall = async move {
                    let _ = reached.send(());
                    futures::future::pending::<std::io::Result<Bytes>>().await
                };
                // More than a part read: the upload has begun and its id is written down.
                let content = zeros(PART + 5).chain(stream::once(stall)).boxed();
                tokio::spawn(async move { provider.put(&key, content).await });
                stalled.await.unwrap();
            });
            runtime.shutdown_background();
        })
    };
    dead.join().unwrap();
    assert_eq!(bucket.uploads_in_progress().await.len(), 1, "the dead process left its upload");
    assert_eq!(bucket.object_names().await, [format!("{key}.uploading")], "with its id written down");
    provider.remove_unfinished(&key).await.unwrap();
    assert_nothing_left(&bucket).await;
    provider.remove_unfinished(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_input_aborts_the_multipart_upload() {
    let Some((bucket, provider)) = start().await else { return };
    let result = provider.put(&key("broken.bin"), failing_after(2 * PART + 100)).await;
    assert!(matches!(result, Err(StorageError::Input(_))), "{result:?}");
    assert_nothing_left(&bucket).await;
}

/// The upload is aborted behind the adapter's back while its input stalls (as a lifecycle
/// rule would): the next part fails, so does the put, and nothing is left (the abort of an
/// upload already gone counts as done, and its written-down id is forgotten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_aborted_behind_the_adapters_back_fails_the_put_and_leaves_nothing() {
    let Some((bucket, provider)) = start().await else { return };
    let (reached, stalled) = oneshot::channel::<()>();
    let (release, released) = oneshot::channel::<()>();
    let stall = async move {
        let _ = reached.send(());
        let _ = released.await;
        Ok(Bytes::from(vec![7_u8; PART]))
    };
    let content = zeros(PART + 5).chain(stream::once(stall)).chain(zeros(PART)).boxed();
    let key = key("x.bin");
    let put = provider.put(&key, content);
    let meddle = async {
        stalled.await.unwrap();
        let uploads = bucket.uploads_in_progress().await;
        assert_eq!(uploads.len(), 1, "{uploads:?}");
        bucket.abort(&uploads[0]).await;
        release.send(()).unwrap();
    };
    let (result, ()) = tokio::join!(put, meddle);
    // S3 answers the part `404 NoSuchUpload` (`Other`); moto 5.2 answers 500 (`Unavailable`
    // once the retries gave up).
    match result {
        Err(StorageError::Other(err) | StorageError::Unavailable(err)) => {
            assert!(err.context().contains(&format!("put {key}")), "{err}");
        }
        other => panic!("expected a store failure, got {other:?}"),
    }
    assert_nothing_left(&bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_unavailable() {
    let mut config = config_of("drip", "http://127.0.0.1:9", static_keys());
    config.retry = retries(1);
    let provider = ObjectStoreProvider::s3(&config).unwrap();
    match provider.size(&key("x")).await {
        Err(StorageError::Unavailable(err)) => {
            assert!(err.is_transient());
            let report = chain(&err).join(": ");
            assert_eq!(report.matches("error sending request").count(), 1, "each cause once: {report}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_an_error_not_a_missing_object_on_put() {
    let Some(bucket) = TestBucket::create().await else { return };
    let missing = format!("{}-missing", bucket.name());
    let provider = ObjectStoreProvider::s3(&config_of(&missing, bucket.endpoint(), static_keys())).unwrap();
    assert!(matches!(provider.put(&key("x"), zeros(1)).await, Err(StorageError::Other(_))));
}

#[test]
fn configuration_errors() {
    let config = config_of("b", "http://127.0.0.1:9", static_keys());
    let mut bad_prefix = config.clone();
    bad_prefix.prefix = Some("a/../b".into());
    assert!(matches!(ObjectStoreProvider::s3(&bad_prefix), Err(ConfigError::InvalidPrefix(_))));

    let provider = ObjectStoreProvider::s3(&config).unwrap();
    let small = UploadSettings { part_size: PART - 1, concurrency: 1 };
    assert!(matches!(provider.clone().with_uploads(small), Err(ConfigError::PartSize { min: PART, .. })));
    let none = UploadSettings { part_size: PART, concurrency: 0 };
    assert!(matches!(provider.clone().with_uploads(none), Err(ConfigError::Concurrency)));
    assert!(!format!("{provider:?}").contains(SECRET_ACCESS_KEY));
    assert!(format!("{provider:?}").contains("s3 bucket b"), "{provider:?}");
}

/// Runs `child_reads_credentials_from_the_aws_environment` in a child process whose
/// environment holds the keys as `AWS_*` variables. Without credentials the client would ask the instance metadata service and
/// fail; with them, the child's put lands in the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_aws_environment() {
    let Some(bucket) = TestBucket::create().await else { return };
    let env = vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        (BUCKET_VAR, bucket.name().to_owned()),
    ];
    run_child_test("child_reads_credentials_from_the_aws_environment", env).await;
    assert_eq!(bucket.object_names().await.len(), 1);
}

#[tokio::test]
#[ignore = "run in a child process by credentials_from_the_aws_environment"]
async fn child_reads_credentials_from_the_aws_environment() {
    let bucket = std::env::var(BUCKET_VAR).expect("started by the parent test");
    let endpoint = std::env::var(drip_testkit::s3::ENDPOINT_VAR).expect("the parent's S3 server");
    let provider =
        ObjectStoreProvider::s3(&config_of(&bucket, &endpoint, S3Credentials::Environment)).unwrap();
    let key = key("env.txt");
    provider.put(&key, zeros(42)).await.unwrap();
    let content: Vec<Bytes> = provider.get(&key, None).await.unwrap().try_collect().await.unwrap();
    assert_eq!(content.concat(), vec![7_u8; 42]);
}
