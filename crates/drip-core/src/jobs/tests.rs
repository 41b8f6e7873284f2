//! The runner's policy over mocked ports: success and idempotent deletion complete the
//! job, failures are retried with backoff and dead after the last attempt, a lapsed claim
//! is reported as lost.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mockall::predicate::eq;

use super::model::{Claim, Job, JobState, Task, TaskKind};
use super::ports::MockJobQueue;
use super::runner::{JobPorts, JobRunner, JobSettings, JobWaker, Outcome};
use crate::accounts::tests::{at, fixed_clock};
use crate::error::BackendError;
use crate::ids::{ClaimToken, JobId, Ksuid, MediaId};
use crate::storage::model::{FileName, StorageKey};
use crate::storage::ports::{MockStorageProvider, StorageError};

fn ksuid() -> Ksuid {
    Ksuid::from_parts(at(), [7; 16])
}

fn key() -> StorageKey {
    StorageKey::new(MediaId::from_ksuid(ksuid()), at(), &FileName::parse("a.txt").unwrap())
}

fn job(attempts: u32) -> Job {
    Job {
        id: JobId::from_ksuid(ksuid()),
        task: Task::DeleteObject { key: key() },
        state: JobState::Running,
        attempts,
        run_at: at(),
        lease_until: Some(at() + chrono::Duration::seconds(60)),
        last_error: None,
        created_at: at(),
    }
}

/// A queue that hands out `job` once, then nothing.
fn queue_with(job: Job) -> MockJobQueue {
    let mut queue = MockJobQueue::new();
    let mut pending = Some(job);
    queue
        .expect_claim()
        .withf(|_, now, until| *now == at() && *until == at() + chrono::Duration::seconds(60))
        .returning(move |_, _, _| Ok(pending.take()));
    queue
}

fn runner(queue: MockJobQueue, storage: MockStorageProvider) -> JobRunner {
    let ports = JobPorts {
        queue: Arc::new(queue),
        storage: Arc::new(storage),
        clock: Arc::new(fixed_clock(ksuid())),
    };
    JobRunner::new(ports, JobSettings::default(), JobWaker::default())
}

fn later(secs: i64) -> DateTime<Utc> {
    at() + chrono::Duration::seconds(secs)
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let settings = JobSettings::default();
    let delays: Vec<u64> = [1, 2, 3, 4, 9, 10, 40].iter().map(|&n| settings.backoff(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 256, 300, 300]);
    assert_eq!(settings.backoff(0), Duration::from_secs(1));
}

#[tokio::test]
async fn a_deleted_or_missing_object_completes_the_job() {
    for found in [true, false] {
        let mut queue = queue_with(job(1));
        let token = ClaimToken::from_ksuid(ksuid());
        queue.expect_complete().with(eq(Claim { job: job(1).id, token })).times(1).returning(|_| Ok(true));
        let mut storage = MockStorageProvider::new();
        storage
            .expect_delete()
            .with(eq(key()))
            .times(1)
            .returning(move |k| if found { Ok(()) } else { Err(StorageError::NotFound(k.to_string())) });
        let runner = runner(queue, storage);
        assert_eq!(runner.run_due().await.unwrap(), 1);
        assert_eq!(runner.outcomes(), [(TaskKind::DeleteObject, Outcome::Succeeded, 1)]);
    }
}

#[tokio::test]
async fn a_failing_attempt_is_retried_after_its_backoff() {
    let mut queue = queue_with(job(3));
    queue
        .expect_fail()
        .withf(|_, error, retry_at| error.contains("bucket down") && *retry_at == Some(later(4)))
        .times(1)
        .returning(|_, _, _| Ok(true));
    let mut storage = MockStorageProvider::new();
    storage.expect_delete().returning(|_| Err(StorageError::Unavailable(BackendError::msg("bucket down"))));
    let runner = runner(queue, storage);
    assert_eq!(runner.run_due().await.unwrap(), 1);
    assert_eq!(runner.outcomes(), [(TaskKind::DeleteObject, Outcome::Retried, 1)]);
}

#[tokio::test]
async fn the_last_failing_attempt_makes_the_job_dead() {
    let mut queue = queue_with(job(JobSettings::default().max_attempts));
    queue.expect_fail().withf(|_, _, retry_at| retry_at.is_none()).times(1).returning(|_, _, _| Ok(true));
    let mut storage = MockStorageProvider::new();
    storage.expect_delete().returning(|_| Err(StorageError::Other(BackendError::msg("refused"))));
    let runner = runner(queue, storage);
    runner.run_due().await.unwrap();
    assert_eq!(runner.outcomes(), [(TaskKind::DeleteObject, Outcome::Dead, 1)]);
}

#[tokio::test]
async fn a_lapsed_claim_is_lost_not_completed() {
    let mut queue = queue_with(job(1));
    queue.expect_complete().times(1).returning(|_| Ok(false));
    let mut storage = MockStorageProvider::new();
    storage.expect_delete().returning(|_| Ok(()));
    let runner = runner(queue, storage);
    runner.run_due().await.unwrap();
    assert_eq!(runner.outcomes(), [(TaskKind::DeleteObject, Outcome::Lost, 1)]);
}

#[tokio::test]
async fn a_failing_queue_is_an_error_for_the_supervisor() {
    let mut queue = MockJobQueue::new();
    queue.expect_claim().returning(|_, _, _| Err(BackendError::msg("database down")));
    let runner = runner(queue, MockStorageProvider::new());
    assert!(runner.run_due().await.is_err());
    assert!(runner.outcomes().is_empty());
}
