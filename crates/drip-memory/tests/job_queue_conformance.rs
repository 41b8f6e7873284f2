//! Runs the job queue conformance suite of `drip-testkit` against the memory job queue.

use std::sync::Arc;

use drip_memory::MemoryRepositories;
use drip_testkit::jobs::Queue;

async fn setup() -> Queue {
    Queue { jobs: Arc::new(MemoryRepositories::new().jobs()), guard: None }
}

drip_testkit::job_queue_conformance!(setup);
