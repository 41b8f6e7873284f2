//! The shared job queue conformance suite (`drip-testkit`) against PostgreSQL, every
//! scenario on a fresh database of its own; and claims from two pools on one database, as
//! two nodes of a deployment make them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::sync::Arc;

use drip_core::jobs::ports::JobQueue;
use drip_testkit::jobs::Queue;

/// How many connections each node's pool has.
const POOL_SIZE: u32 = 10;

/// A queue over a new database; `None` (after saying `SKIPPED` once) when no server is
/// reachable outside CI — under CI that panics instead.
async fn setup() -> Option<Queue> {
    let db = common::fresh_database(POOL_SIZE).await?;
    Some(Queue { jobs: Arc::new(db.repos), guard: Some(Box::new(db.guard)) })
}

drip_testkit::job_queue_conformance!(setup);

/// Claimers on two pools over one database (two nodes) take every job exactly once: the
/// claim's row lock, not anything in one process, keeps them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claim_each_job_once() {
    let Some(db) = common::fresh_database(POOL_SIZE).await else { return };
    let other = db.guard.connect(POOL_SIZE).await;
    let nodes: [Arc<dyn JobQueue>; 2] = [Arc::new(db.repos), Arc::new(other)];
    drip_testkit::jobs::assert_each_job_claimed_once(&nodes, 8).await;
}
