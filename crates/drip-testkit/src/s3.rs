//! A bucket of its own on the S3 server of the test run (feature `s3`): moto, which
//! `cargo xtask test` starts and names in `DRIP_TEST_S3_ENDPOINT`.
//!
//! [`TestBucket::create`] makes a uniquely named bucket, so that no test depends on what
//! another left, and gives it a policy that lets anyone read it and abort its multipart
//! uploads: the test then looks at the bucket from outside (objects, their content,
//! multipart uploads in progress) with plain unsigned requests, the adapter under test
//! being the only client that writes. Without an
//! S3 server the tests that need one report `SKIPPED` and pass, as the PostgreSQL tests do
//! without a database — except under CI (`CI` set), where that is a failure.
//!
//! The adapter signs its requests with [`ACCESS_KEY_ID`] and [`SECRET_ACCESS_KEY`]: moto
//! serves any credentials (it does not check signatures).

use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

/// The variable naming the S3 server's endpoint (`http://127.0.0.1:PORT`).
pub const ENDPOINT_VAR: &str = "DRIP_TEST_S3_ENDPOINT";

/// The access key id the adapter under test signs with (any key passes moto).
pub const ACCESS_KEY_ID: &str = "drip-test";

/// The secret access key the adapter under test signs with.
pub const SECRET_ACCESS_KEY: &str = "drip-test-secret";

static BUCKETS: AtomicU64 = AtomicU64::new(0);
static SKIP_REPORTED: AtomicBool = AtomicBool::new(false);

/// A fresh bucket on the test run's S3 server, readable by anyone.
#[derive(Debug, Clone)]
pub struct TestBucket {
    client: Client,
    endpoint: String,
    name: String,
}

/// `ListObjectsV2`'s answer, the parts a test reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
}

/// `ListMultipartUploads`' answer, the parts a test reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    #[serde(default)]
    upload: Vec<Upload>,
    is_truncated: bool,
}

/// One multipart upload in progress.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Upload {
    /// The object it will become.
    pub key: String,
    /// Its id.
    pub upload_id: String,
}

impl TestBucket {
    /// Creates a uniquely named bucket on the server named by [`ENDPOINT_VAR`]; `None`
    /// (after saying `SKIPPED` once) when the variable is not set (or empty) or the server does not
    /// answer. Panics in that case when `CI` is set, and whenever the server refuses.
    pub async fn create() -> Option<Self> {
        let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.trim().is_empty()) else {
            return skipped(&format!("{ENDPOINT_VAR} is not set"));
        };
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name =
            format!("drip-test-{}-{}-{nanos}", std::process::id(), BUCKETS.fetch_add(1, Ordering::Relaxed));
        let bucket = Self { client: Client::new(), endpoint, name };
        let created = match bucket.client.put(bucket.url(&[])).send().await {
            Ok(answer) => answer,
            Err(err) => return skipped(&format!("{} does not answer: {err}", bucket.endpoint)),
        };
        assert!(created.status().is_success(), "creating bucket {}: {}", bucket.name, created.status());
        let readable = bucket
            .client
            .put(bucket.url(&[]))
            .query(&[("policy", "")])
            .body(bucket.read_policy())
            .send()
            .await
            .expect("setting the bucket's policy");
        assert!(readable.status().is_success(), "bucket policy of {}: {}", bucket.name, readable.status());
        Some(bucket)
    }

    /// The server's endpoint (`http://127.0.0.1:PORT`).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every object's name, sorted.
    pub async fn object_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = self.client.get(self.url(&[])).query(&[("list-type", "2")]);
            if let Some(token) = &token {
                request = request.query(&[("continuation-token", token)]);
            }
            let page: ListBucketResult = self.xml(request).await;
            names.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        names.sort();
        names
    }

    /// The content of the object `name`, `None` when there is none.
    pub async fn object(&self, name: &str) -> Option<Vec<u8>> {
        let segments: Vec<&str> = name.split('/').collect();
        let answer = self.client.get(self.url(&segments)).send().await.expect("reading an object");
        match answer.status() {
            StatusCode::NOT_FOUND => None,
            status if status.is_success() => {
                Some(answer.bytes().await.expect("an object's content").to_vec())
            }
            status => panic!("reading {name} of {}: {status}", self.name),
        }
    }

    /// Every object with its content, sorted by name.
    pub async fn objects(&self) -> Vec<(String, Vec<u8>)> {
        let mut objects = Vec::new();
        for name in self.object_names().await {
            // Gone between the listing and the read: deleted meanwhile, not an object now.
            if let Some(content) = self.object(&name).await {
                objects.push((name, content));
            }
        }
        objects
    }

    /// The multipart uploads begun and neither completed nor aborted.
    pub async fn uploads_in_progress(&self) -> Vec<Upload> {
        let request = self.client.get(self.url(&[])).query(&[("uploads", "")]);
        let list: ListMultipartUploadsResult = self.xml(request).await;
        assert!(!list.is_truncated, "a test bucket holds fewer than 1000 uploads");
        list.upload
    }

    /// Aborts `upload` behind the adapter's back, as an operator or a lifecycle rule would.
    pub async fn abort(&self, upload: &Upload) {
        let segments: Vec<&str> = upload.key.split('/').collect();
        let request = self.client.delete(self.url(&segments)).query(&[("uploadId", &upload.upload_id)]);
        let answer = request.send().await.expect("aborting an upload");
        assert!(answer.status().is_success(), "aborting {upload:?}: {}", answer.status());
    }

    /// The URL of the bucket, or of the object whose name has these `/`-separated segments.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = Url::parse(&self.endpoint).expect("the S3 endpoint is a URL");
        url.path_segments_mut().expect("an http(s) URL").pop_if_empty().push(&self.name).extend(segments);
        url
    }

    /// Anyone may list the bucket and its uploads, read its objects and abort its uploads
    /// (and nothing else).
    fn read_policy(&self) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    "Resource": format!("arn:aws:s3:::{}", self.name),
                },
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:AbortMultipartUpload"],
                    "Resource": format!("arn:aws:s3:::{}/*", self.name),
                },
            ],
        })
        .to_string()
    }

    /// Sends `request` and reads its XML answer.
    async fn xml<T: for<'de> Deserialize<'de>>(&self, request: reqwest::RequestBuilder) -> T {
        let answer = request.send().await.expect("a request to the S3 server");
        let status = answer.status();
        let text = answer.text().await.expect("an answer of the S3 server");
        assert!(status.is_success(), "{} answered {status}: {text}", self.name);
        quick_xml::de::from_str(&text).unwrap_or_else(|e| panic!("unexpected answer ({e}): {text}"))
    }
}

/// Runs `future` to its end from synchronous code inside a test on tokio's multi-thread
/// runtime (a fixture's callback, a check that is not async), without blocking the runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

fn skipped<T>(why: &str) -> Option<T> {
    assert!(std::env::var_os("CI").is_none(), "no S3 server under CI: {why}");
    if !SKIP_REPORTED.swap(true, Ordering::Relaxed) {
        // Written straight to stderr, past the test harness's output capture.
        let _ = writeln!(std::io::stderr(), "SKIPPED: no S3 server ({why})");
    }
    None
}
