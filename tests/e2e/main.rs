//! Black-box end-to-end tests of the `drip` binary: each test spawns the real binary on
//! port 0 with its own data directory (and, for the production variant, its own PostgreSQL
//! database and GCS double) and drives it over HTTP and WebSocket only.
//!
//! - `archives`: a prepared folder archive (nested folders, an empty file, 50 MiB): the
//!   `download` event, the ZIP checked by standard unzips against the originals.
//! - `flow`: the user story against SQLite + local disk and against PostgreSQL + GCS.
//! - `errors`: bad inputs get the documented status and JSON error and leave data intact.
//! - `abuse`: hostile clients: stalled uploads holding the transfer slots, slow headers,
//!   oversized request heads.
//! - `ops`: shutdown, refused production start without secrets, `migrate`, `user create`.
//! - `crash`: `kill -9` during uploads and deletes, then a restart, on both stacks.
//! - `multinode`: several nodes on one PostgreSQL and one bucket: events and presence
//!   across nodes, a killed node, jobs run once, deletes and unshares honoured everywhere.
//! - `jobs`: a storage failure during an object deletion is retried until the store is
//!   back; `drip jobs list` and `drip jobs retry` on a dead job (PostgreSQL + GCS).
//! - `healthcheck`: `drip healthcheck` against a serving node, a stopped one, a closed port.
//! - `links`: public links and drop links through curl-like requests and the pages' forms.
//! - `quotas`: the default quota to the byte, `507 quota_exceeded` before or while reading,
//!   nothing left behind, `drip user quota`, twenty uploads racing for the last bytes.
//! - `tus_protocol`: the tus protocol's refusals and edge cases with raw requests (412, 409,
//!   413, 415, 507, 404), creation-with-upload, termination, concurrent PATCHes.
//! - `s3`: the story and a restart on PostgreSQL + S3 (a bucket of its own on the test
//!   run's moto).
//! - `tus`: the tus upload endpoint driven by the real tuspy and tus-js-client (scripts in
//!   `tests/tus/`): whole, interrupted and resumed by a new client process, resumed after a
//!   `kill -9` (also by the other client), terminated.
//! - `trash`: delete to the trash (hidden from sharee, link, listings and search; the name
//!   free), restore (409, then under another name), purge and permanent delete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod abuse;
mod api;
mod archives;
mod crash;
mod errors;
mod flow;
mod harness;
mod healthcheck;
mod jobs;
mod links;
mod multinode;
mod ops;
mod quotas;
mod s3;
mod trash;
mod tus;
mod tus_protocol;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use drip_gcs_double::GcsDouble;

use crate::flow::ObjectStore;
use crate::harness::{FreshDatabase, JWT_SECRET, Launch};

/// The story on the embedded defaults: SQLite and the local disk store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_on_sqlite_and_local_disk() {
    let server = Launch::embedded().start().await;
    let store = ObjectStore::Local(server.objects_dir());
    flow::run(&server, &store).await;
}

/// The story on the production adapters: PostgreSQL and GCS (the in-process double),
/// configured through the environment only, with explicit secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_on_postgres_and_gcs() {
    let Some((database, gcs)) = production_services().await else { return };
    let server = production(&database, &gcs).start().await;
    assert!(
        server.stdout().iter().any(|l| l.contains("database: postgres")),
        "the banner names PostgreSQL: {:?}",
        server.stdout()
    );
    assert!(!server.data_dir().join("secrets").exists(), "no secrets are generated for production settings");
    flow::run(&server, &ObjectStore::Gcs(&gcs)).await;
    // The 5 MiB file went up in parts, and no multipart upload was left open.
    assert!(gcs.count(drip_gcs_double::Operation::UploadPart) >= 2, "{:?}", gcs.requests());
    assert_eq!(gcs.in_progress_uploads(), 0);
    drop(server);
    drop(database);
}

/// A fresh PostgreSQL database and a GCS double; `None` (the test is skipped) without a
/// PostgreSQL server.
pub(crate) async fn production_services() -> Option<(FreshDatabase, GcsDouble)> {
    let database = FreshDatabase::create().await?;
    Some((database, GcsDouble::start().await.expect("the GCS double")))
}

/// PostgreSQL and GCS (the in-process double), configured through the environment only,
/// with explicit secrets.
pub(crate) fn production(database: &FreshDatabase, gcs: &GcsDouble) -> Launch {
    Launch::embedded()
        .env("DRIP_DATABASE__KIND", "postgres")
        .env("DRIP_DATABASE__URL", database.url())
        .env("DRIP_DATABASE__POOL_SIZE", "4")
        .env("DRIP_STORAGE__KIND", "gcs")
        .env("DRIP_STORAGE__BUCKET", gcs.bucket())
        .env("DRIP_STORAGE__CREDENTIALS_BASE64", STANDARD.encode(gcs.service_account_json()))
        .env("DRIP_STORAGE__PART_SIZE_MIB", "5")
        .env("DRIP_AUTH__JWT_SECRET", JWT_SECRET)
        .env("DRIP_KEYS__MASTER_KEYS", harness::random_master_keys())
}

/// `kill -9` during uploads, then during a burst of deletes, each followed by a restart,
/// on SQLite and the local disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_on_sqlite_and_local_disk() {
    crash::kill_during_uploads(crash::crash_settings(Launch::embedded()), None).await;
    crash::kill_during_deletes(crash::crash_settings(Launch::embedded()), None).await;
}

/// The same crashes on PostgreSQL and GCS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_on_postgres_and_gcs() {
    let Some((database, gcs)) = production_services().await else { return };
    crash::kill_during_uploads(crash::crash_settings(production(&database, &gcs)), Some(&gcs)).await;
    let Some((database, gcs)) = production_services().await else { return };
    crash::kill_during_deletes(crash::crash_settings(production(&database, &gcs)), Some(&gcs)).await;
}
