//! A small in-process test double of Google Cloud Storage's XML API: the subset that
//! object_store's GCS client uses, served over HTTP by axum with objects kept in memory.
//!
//! The emulators that can be installed on a development machine speak only the JSON API
//! for writes (fake-gcs-server answers object_store's XML uploads with 400,
//! gcp-storage-emulator with 501), while object_store writes through the XML API. This double
//! implements that XML subset faithfully to Google's public XML API documentation, so the
//! GCS adapter can be tested as it is configured in production: a service-account JSON key
//! with `gcs_base_url` pointing here and `disable_oauth: true`
//! ([`GcsDouble::service_account_json`]).
//!
//! # Implemented
//! | request | answer |
//! |---|---|
//! | `PUT /{bucket}/{object}` | 200, `ETag`, `x-goog-generation`; honours `x-goog-if-generation-match` (412 `PreconditionFailed`) |
//! | `GET` / `HEAD /{bucket}/{object}` | 200 with `Content-Length`, `Content-Type`, `ETag`, `Last-Modified`, `x-goog-generation`...; `Range: bytes=a-b`, `a-`, `-n` → 206 with `Content-Range`, unsatisfiable → 416 `InvalidRange` with `Content-Range: bytes */size`; other or multiple ranges are ignored (200); `?generation=` of another generation → 404 |
//! | `DELETE /{bucket}/{object}` | 204 |
//! | `POST /{bucket}/{object}?uploads` | 200, `InitiateMultipartUploadResult` with `UploadId` |
//! | `PUT /{bucket}/{object}?partNumber=N&uploadId=U` | 200, `ETag`; part numbers 1..=10000 (else 400 `InvalidArgument`) |
//! | `POST /{bucket}/{object}?uploadId=U` + `CompleteMultipartUpload` | 200, `CompleteMultipartUploadResult`; the object appears only now, atomically; 400 `MalformedXML` (bad or empty list), `InvalidPartOrder`, `InvalidPart` (unknown part or ETag mismatch), `EntityTooSmall` (a part other than the last below [`GcsDoubleOptions::min_part_size`], 5 MiB like GCS) |
//! | `DELETE /{bucket}/{object}?uploadId=U` | 204; the upload and its parts are gone |
//! | `GET /{bucket}?list-type=2` | `ListBucketResult` with `prefix`, `delimiter`, `start-after`, `max-keys`, `continuation-token` (object_store's listing) |
//! | `GET /storage/v1/b/{bucket}/o` | the JSON API listing (`prefix`, `delimiter`, `maxResults`, `pageToken`) |
//!
//! Errors have Google's XML body, `<Error><Code>…</Code><Message>…</Message><Details>…</Details></Error>`:
//! a missing object is 404 `NoSuchKey`, an unknown upload id (or one started for another
//! object) 404 `NoSuchUpload`, another bucket 404 `NoSuchBucket`.
//!
//! # Not implemented
//! Authentication (any or no `Authorization` header is accepted), several buckets, object
//! metadata other than `Content-Type` (`x-goog-meta-*`, ACLs, storage classes, encryption),
//! conditional reads (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`: answered 501), copies (`x-goog-copy-source`: 501), listing the
//! parts or the uploads in progress (501; see [`GcsDouble::in_progress_uploads`]),
//! resumable uploads, signed URLs, versioning (only the live generation is kept), the rest of
//! the JSON API (501). ETags are opaque unique values rather than MD5 digests, and no
//! `x-goog-hash` header is sent.
//!
//! # Test hooks
//! [`GcsDouble::in_progress_uploads`] (stray multipart uploads), [`GcsDouble::object`],
//! [`GcsDouble::object_names`], [`GcsDouble::requests`] (what was asked and answered), and
//! fault injection with [`GcsDouble::inject`] (e.g. answer the next two requests 503).

mod api;
mod state;
mod xml;

use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use state::Shared;

/// Which kind of request the double recognised (for fault injection and the request log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `PUT /{bucket}/{object}`.
    PutObject,
    /// `GET /{bucket}/{object}`.
    GetObject,
    /// `HEAD /{bucket}/{object}`.
    HeadObject,
    /// `DELETE /{bucket}/{object}`.
    DeleteObject,
    /// `POST /{bucket}/{object}?uploads`.
    InitiateUpload,
    /// `PUT /{bucket}/{object}?partNumber=N&uploadId=U`.
    UploadPart,
    /// `POST /{bucket}/{object}?uploadId=U`.
    CompleteUpload,
    /// `DELETE /{bucket}/{object}?uploadId=U`.
    AbortUpload,
    /// `GET /{bucket}?list-type=2` or `GET /storage/v1/b/{bucket}/o`.
    ListObjects,
    /// Anything else (answered 501 or 404).
    Unsupported,
}

/// A rule making requests fail with an HTTP status instead of being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    operation: Option<Operation>,
    status: u16,
    remaining: Option<usize>,
}

impl Fault {
    /// Fails the next `times` requests with `status`.
    #[must_use]
    pub fn next(times: usize, status: u16) -> Self {
        Self { operation: None, status, remaining: Some(times) }
    }

    /// Fails every request with `status` until [`GcsDouble::clear_faults`].
    #[must_use]
    pub fn always(status: u16) -> Self {
        Self { operation: None, status, remaining: None }
    }

    /// Restricts the rule to one kind of request.
    #[must_use]
    pub fn on(mut self, operation: Operation) -> Self {
        self.operation = Some(operation);
        self
    }
}

/// One request the double received and the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// What kind of request it was.
    pub operation: Operation,
    /// The HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// The status answered.
    pub status: u16,
}

/// How to start a double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsDoubleOptions {
    /// The one bucket it serves.
    pub bucket: String,
    /// Smallest size of every part of a multipart upload but the last (GCS: 5 MiB).
    pub min_part_size: usize,
}

impl Default for GcsDoubleOptions {
    fn default() -> Self {
        Self { bucket: "drip-test-bucket".to_owned(), min_part_size: 5 * 1024 * 1024 }
    }
}

/// A running double, serving on a port of 127.0.0.1 until dropped.
#[derive(Debug)]
pub struct GcsDouble {
    shared: Arc<Shared>,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl GcsDouble {
    /// Starts a double with the default bucket and GCS's part size limit.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(GcsDoubleOptions::default()).await
    }

    /// Starts a double on a free local port, on the current tokio runtime.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start_with(options: GcsDoubleOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::new(options, base_url.clone()));
        let app = api::router(Arc::clone(&shared));
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            if let Err(err) = serving.await {
                eprintln!("gcs double stopped: {err}");
            }
        });
        Ok(Self { shared, base_url, shutdown: Some(shutdown), server })
    }

    /// Where the double listens, e.g. `http://127.0.0.1:41234` (the `gcs_base_url`).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bucket it serves.
    #[must_use]
    pub fn bucket(&self) -> &str {
        self.shared.bucket()
    }

    /// A service-account JSON key as production uses one, pointing object_store at this
    /// double (`gcs_base_url`) without OAuth (`disable_oauth`).
    #[must_use]
    pub fn service_account_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "drip-test",
            "private_key_id": "0000000000000000000000000000000000000000",
            "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n",
            "client_email": "drip-test@drip-test.iam.gserviceaccount.com",
            "client_id": "000000000000000000000",
            "token_uri": "https://oauth2.googleapis.com/token",
            "gcs_base_url": self.base_url,
            "disable_oauth": true,
        })
        .to_string()
    }

    /// Multipart uploads initiated and neither completed nor aborted.
    #[must_use]
    pub fn in_progress_uploads(&self) -> usize {
        self.shared.in_progress_uploads()
    }

    /// The content of an object, if there is one.
    #[must_use]
    pub fn object(&self, name: &str) -> Option<Bytes> {
        self.shared.object(name)
    }

    /// Names of all objects, in order.
    #[must_use]
    pub fn object_names(&self) -> Vec<String> {
        self.shared.object_names()
    }

    /// Adds a fault rule; rules apply in the order they were added.
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Waits until the request log satisfies `done` (checked after every request): for a
    /// test that must see the client reach a point of its work.
    pub async fn requests_until(&self, done: impl Fn(&[RecordedRequest]) -> bool) {
        self.shared.requests_until(done).await;
    }

    /// How many requests of one kind were received.
    #[must_use]
    pub fn count(&self, operation: Operation) -> usize {
        self.requests().iter().filter(|r| r.operation == operation).count()
    }
}

impl Drop for GcsDouble {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.abort();
    }
}

#[cfg(test)]
mod tests;
