//! The production stack on S3: PostgreSQL and a bucket of its own on the test run's S3
//! server (moto, started by `cargo xtask test`), configured through the environment only,
//! with static keys, a prefix, an endpoint over plain HTTP and explicit secrets. The user
//! story of `flow` (uploads in parts, listings, ranged downloads, shares, deletes whose job
//! removes the object from the bucket), then a restart that keeps every file. Without
//! PostgreSQL or an S3 server the tests report `SKIPPED`.

use std::time::Duration;

use drip_testkit::s3::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, TestBucket};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::Value;

use crate::api::{self, Api, PASSWORD, headers};
use crate::flow::{self, ObjectStore};
use crate::harness::{self, FreshDatabase, JWT_SECRET, Launch};

/// Where the objects live inside the bucket.
const PREFIX: &str = "drip/media";

/// A fresh PostgreSQL database and a fresh bucket; `None` (the test is skipped) without
/// either server.
async fn services() -> Option<(FreshDatabase, TestBucket)> {
    let database = FreshDatabase::create().await?;
    let bucket = TestBucket::create().await?;
    Some((database, bucket))
}

/// `drip serve` on PostgreSQL and the bucket, set up as an operator would with the
/// environment alone.
fn production(database: &FreshDatabase, bucket: &TestBucket) -> Launch {
    Launch::embedded()
        .env("DRIP_DATABASE__KIND", "postgres")
        .env("DRIP_DATABASE__URL", database.url())
        .env("DRIP_DATABASE__POOL_SIZE", "4")
        .env("DRIP_STORAGE__KIND", "s3")
        .env("DRIP_STORAGE__BUCKET", bucket.name())
        .env("DRIP_STORAGE__ENDPOINT", bucket.endpoint())
        .env("DRIP_STORAGE__ALLOW_HTTP", "true")
        .env("DRIP_STORAGE__PREFIX", PREFIX)
        .env("DRIP_STORAGE__ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("DRIP_STORAGE__SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("DRIP_STORAGE__PART_SIZE_MIB", "5")
        .env("DRIP_AUTH__JWT_SECRET", JWT_SECRET)
        .env("DRIP_KEYS__MASTER_KEYS", harness::random_master_keys())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_on_postgres_and_s3() {
    let Some((database, bucket)) = services().await else { return };
    let server = production(&database, &bucket).start().await;
    let label = format!("storage:  s3 bucket {}", bucket.name());
    assert!(
        server.stdout().iter().any(|l| l.contains(&label)),
        "the banner names the bucket: {:?}",
        server.stdout()
    );
    assert!(!server.data_dir().join("secrets").exists(), "no secrets are generated for production settings");
    flow::run(&server, &ObjectStore::S3(&bucket)).await;
    // The 5 MiB file went up in parts, and no multipart upload was left open.
    assert!(server.logged(&["started a large upload in parts"]) >= 1, "{}", server.log());
    assert!(bucket.uploads_in_progress().await.is_empty());
    drop(server);
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_files_on_postgres_and_s3() {
    let Some((database, bucket)) = services().await else { return };
    let launch = production(&database, &bucket);
    let mut server = launch.clone().start().await;
    let api = Api::new(&server);
    let alice = api.register("alice").await;
    let big = api::pseudo_random(6 * 1024 * 1024 + 11, 3);
    let small = b"kept across a restart".to_vec();
    let id = |file: Value| file["id"].as_str().expect("id").to_owned();
    let big_id = id(api.upload(&alice, "$/kept", "big.bin", &big).await);
    let small_id = id(api.upload(&alice, "$/kept", "small.txt", &small).await);
    let status = server.terminate(Duration::from_secs(10)).await.expect("drip stops on SIGTERM");
    assert!(status.success(), "{status}");

    let restarted = launch.data_dir(server.data_dir().to_owned()).start().await;
    let api = Api::new(&restarted);
    let alice = api.login("alice", PASSWORD).await;
    let kept = api.folder(&alice, "$/kept").await;
    let names: Vec<&str> =
        kept["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["big.bin", "small.txt"]);
    assert_eq!(api.content(&alice, &small_id).await, small);
    assert!(api.content(&alice, &big_id).await == big, "the file in parts comes back whole");
    // A range across the first part's end (5 MiB of ciphertext lie a little before it).
    let (start, end) = (5 * 1024 * 1024 - 100, 5 * 1024 * 1024 + 99);
    let range = format!("bytes={start}-{end}");
    let response = api.download(&alice, &big_id, headers(&[(header::RANGE, &range)])).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(response.bytes().await.unwrap().as_ref() == &big[start..=end], "bytes of {range}");

    let objects = bucket.object_names().await;
    assert_eq!(objects.len(), 2, "one object per file and nothing else: {objects:?}");
    assert!(objects.iter().all(|name| name.starts_with(&format!("{PREFIX}/"))), "{objects:?}");
    assert!(bucket.uploads_in_progress().await.is_empty());
    drop(restarted);
    drop(server);
    drop(database);
}
