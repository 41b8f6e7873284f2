//! Drip's [`StorageProvider`](drip_core::storage::ports::StorageProvider) on the
//! [`object_store`] crate: Google Cloud Storage, Amazon S3 (and S3-compatible stores), local
//! disk (the embedded default) and memory.
//!
//! One adapter, [`ObjectStoreProvider`], serves every backend:
//!
//! - [`ObjectStoreProvider::gcs`] talks to a bucket through object_store's GCS client
//!   (configured by [`GcsConfig`]: bucket, optional prefix, service-account credentials from a
//!   file, a base64 environment variable or raw JSON, an optional base URL for emulators and
//!   test doubles, retry settings);
//! - [`ObjectStoreProvider::s3`] talks to a bucket through object_store's S3 client
//!   (configured by [`S3Config`]: bucket, region, optional endpoint of an S3-compatible store
//!   such as MinIO, Ceph, R2, Garage or SeaweedFS, optional prefix, static keys or the AWS
//!   environment's credential chain, path-style or virtual-hosted requests, retry settings);
//! - [`ObjectStoreProvider::local`] stores files under a directory (normally under Drip's data
//!   directory);
//! - [`ObjectStoreProvider::memory`] keeps objects in memory (tests, throwaway servers).
//!
//! # How content moves
//! `put` reads the content stream once. Content that fits in one part
//! ([`UploadSettings::part_size`]) is written with one atomic put; larger content goes up as
//! a multipart upload through object_store's `WriteMultipart`, whose parts are uploaded with
//! bounded concurrency ([`UploadSettings::concurrency`]), so at most `concurrency + 1` parts
//! are held in memory, never the whole object. When the input stream fails, a part fails, or
//! the `put` future is dropped, the multipart upload is aborted (the upload aborts itself when
//! dropped unfinished): no object appears and no parts are left behind.
//! `get` streams the object (or a byte range of it) without buffering it.
//!
//! # Atomicity
//! - GCS and S3: a single `PUT` and the completion of a multipart upload both make the object
//!   visible at once (both have strong read-after-write consistency). Both keep the parts of
//!   an unfinished multipart upload until it is aborted, so each upload's id is written down
//!   in the bucket while it runs (`<object>.uploading`) and `remove_unfinished` aborts what a
//!   process that died left.
//! - Local disk: object_store's `LocalFileSystem` writes every object into a staging file
//!   next to its destination (`<name>#<n>`) and renames it into place once complete
//!   (rename is atomic on POSIX file systems); with fsync enabled (always, here) the file and
//!   its directory are synced before the put returns. A crash mid-write leaves only a staging
//!   file, which is never returned by `get` and never listed; stale staging files are swept
//!   when the store is opened (see [`ObjectStoreProvider::local`]). Keys are percent-escaped on
//!   disk so that no key can ever look like a staging file.
//! - Memory: objects are replaced under a lock.
//!
//! # Errors
//! object_store errors map to the port's variants: not found → `NotFound`, already exists →
//! `AlreadyExists`, bad keys and ranges → `Invalid`, failures of the input stream → `Input`,
//! HTTP 5xx/408/429 and connection failures (after object_store's retries with backoff gave
//! up) → `Unavailable`, anything else → `Other`, always with the operation and key as context.
//! object_store's errors repeat their source in their message; the adapter's errors drop the
//! repeated links from the `source()` chain, so a report of the chain prints each cause once.

mod errors;
mod gcs;
mod keys;
mod local;
mod local_put;
mod marked;
mod provider;
mod retry;
mod s3;
mod upload;

pub use gcs::{GcsConfig, GcsCredentials};
pub use provider::{ConfigError, ObjectStoreProvider, UploadSettings};
pub use retry::RetrySettings;
pub use s3::{S3Config, S3Credentials};
