//! Conformance suite of the `JobQueue` port: one scenario per clause of the port's
//! contract (claimable jobs, leases, claim tokens, failures, dead jobs, listings, stats),
//! run against every adapter (memory, SQLite, PostgreSQL) through
//! [`job_queue_conformance!`](crate::job_queue_conformance).
//!
//! Scenarios rely on the port's contract only and never read a clock: every `now`, due
//! time and lease end is a fixture time (a fixed base plus whole seconds, or a
//! microsecond off one), and timestamps are compared truncated to microseconds (what SQL
//! databases keep). Job ids are built so that `job_id(1) < job_id(2) < …`, in `JobId`'s
//! order and in the text order SQL compares (`COLLATE "C"` / `BINARY`).
// Scenarios are test code shipped as a library: a failed expectation is a panic, and
// `expect` on fixtures says which fixture broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::slice;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use drip_core::jobs::model::{Claim, Job, JobState, JobStats, NewJob, TaskKind};
use drip_core::jobs::ports::JobQueue;
use drip_core::{ClaimToken, JobId, Ksuid, MediaId};
use tokio::sync::Barrier;

use crate::workload::{at, object_deletion};

/// A fresh, empty job queue for one scenario.
pub struct Queue {
    /// The queue under test.
    pub jobs: Arc<dyn JobQueue>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per job
/// queue scenario, each calling `$setup().await` for a fresh, empty queue.
///
/// `$setup` is the path of an `async fn() -> Queue` (or `-> Option<Queue>`, `None`
/// skipping the scenario when the backend is unavailable). The calling crate needs `tokio`
/// (with the `macros` and `rt-multi-thread` features) among its dev-dependencies.
#[macro_export]
macro_rules! job_queue_conformance {
    ($setup:path) => {
        $crate::job_queue_conformance!(@scenarios $setup;
            enqueue_then_list_round_trips_every_field,
            enqueue_refuses_an_existing_id,
            jobs_are_claimable_from_their_run_at,
            claims_take_jobs_by_run_at_then_id,
            a_claim_holds_the_job_running_until_its_lease_lapses,
            a_lapsed_lease_passes_the_job_to_the_next_claim,
            complete_removes_the_job,
            fail_with_retry_at_queues_the_job_again,
            fail_without_retry_at_makes_the_job_dead,
            retry_queues_a_dead_job_again_with_attempts_reset,
            retry_refuses_unknown_and_live_jobs,
            list_filters_by_state_and_limits,
            stats_count_kinds_and_states_and_find_the_oldest_queued,
            concurrent_claims_take_each_job_once,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(queue) = $crate::MaybeFixture::<$crate::jobs::Queue>::into_fixture($setup().await) {
                    $crate::jobs::$scenario(queue).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// How many concurrent claimers the race scenario starts.
const CLAIMERS: usize = 8;
/// How many jobs they race for.
const RACED_JOBS: u8 = 20;
/// More jobs than any scenario lists.
const ALL: u32 = 1000;

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// One microsecond before `t`: the last instant something due at `t` is not due yet.
fn just_before(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::microseconds(1)
}

/// The `n`-th job id: ids sort by `n`.
fn job_id(n: u8) -> JobId {
    JobId::from_ksuid(Ksuid::from_parts(at(0), [n; 16]))
}

fn token() -> ClaimToken {
    ClaimToken::from_ksuid(Ksuid::generate(at(0)))
}

/// A job (removing the object of a new media) with id `job_id(n)`, due at `at(run_at)`.
fn new_job(n: u8, run_at: i64) -> NewJob {
    NewJob {
        id: job_id(n),
        run_at: at(run_at),
        ..object_deletion(MediaId::from_ksuid(Ksuid::generate(at(0))))
    }
}

/// The job as the queue keeps it right after `enqueue` (the domain's definition).
fn queued(job: &NewJob) -> Job {
    job.queued()
}

/// `job` with its timestamps truncated to microseconds.
fn in_micros(job: Job) -> Job {
    Job {
        run_at: micros(job.run_at),
        lease_until: job.lease_until.map(micros),
        created_at: micros(job.created_at),
        ..job
    }
}

/// Enqueues `new_job(n, run_at)`.
async fn enqueue(queue: &Queue, n: u8, run_at: i64) -> NewJob {
    let job = new_job(n, run_at);
    queue.jobs.enqueue(&job).await.unwrap_or_else(|e| panic!("enqueueing job {n}: {e}"));
    job
}

async fn claim(
    queue: &Queue,
    token: &ClaimToken,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Option<Job> {
    queue.jobs.claim(token, now, lease_until).await.expect("claiming").map(in_micros)
}

/// What a claim under a new token at `now` (with a minute's lease) takes, if anything.
async fn claim_at(queue: &Queue, now: DateTime<Utc>) -> Option<Job> {
    claim(queue, &token(), now, now + Duration::seconds(60)).await
}

/// Claims the next job at `at(now)` until `at(lease_until)` under a new token; panics when
/// none is claimable.
async fn claim_next(queue: &Queue, now: i64, lease_until: i64) -> (Claim, Job) {
    let token = token();
    let job = claim(queue, &token, at(now), at(lease_until)).await.expect("a claimable job");
    (Claim { job: job.id, token }, job)
}

/// Every job, or those in `state`, in listing order.
async fn listed(queue: &Queue, state: Option<JobState>) -> Vec<Job> {
    queue.jobs.list(state, ALL).await.expect("listing jobs").into_iter().map(in_micros).collect()
}

/// The ids `list(state, limit)` answers.
async fn listed_ids(queue: &Queue, state: Option<JobState>, limit: u32) -> Vec<JobId> {
    queue.jobs.list(state, limit).await.expect("listing jobs").iter().map(|job| job.id).collect()
}

async fn complete(queue: &Queue, claim: &Claim) -> bool {
    queue.jobs.complete(claim).await.expect("completing a job")
}

async fn fail(queue: &Queue, claim: &Claim, error: &str, retry_at: Option<DateTime<Utc>>) -> bool {
    queue.jobs.fail(claim, error, retry_at).await.expect("failing a job")
}

/// Claims the next job at `at(now)` and fails it for good, leaving it dead.
async fn kill_next(queue: &Queue, now: i64) {
    let (claim, _) = claim_next(queue, now, now + 60).await;
    assert!(fail(queue, &claim, "gave up", None).await, "the claim holds the job it just took");
}

/// The counts of `stats`, as `(kind, state, count)`, in a fixed order (the port sets none).
fn counts(stats: &JobStats) -> Vec<(TaskKind, JobState, u64)> {
    let mut out: Vec<_> = stats.counts.iter().map(|c| (c.kind, c.state, c.count)).collect();
    out.sort_unstable();
    out
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// An enqueued job is listed queued, with no attempt, due at its `run_at`, every field as
/// enqueued (times to the microsecond).
pub async fn enqueue_then_list_round_trips_every_field(queue: Queue) {
    assert!(listed(&queue, None).await.is_empty(), "a fresh queue is empty");
    let job = NewJob {
        run_at: at(5) + Duration::nanoseconds(1_234_567),
        created_at: at(1) + Duration::nanoseconds(7_654_321),
        ..new_job(1, 0)
    };
    queue.jobs.enqueue(&job).await.expect("enqueueing a job");
    assert_eq!(listed(&queue, None).await, [in_micros(queued(&job))]);
}

/// Enqueueing an id that is queued already fails and leaves the first job as it was.
pub async fn enqueue_refuses_an_existing_id(queue: Queue) {
    let first = enqueue(&queue, 1, 0).await;
    let twin = new_job(1, 9);
    assert_ne!(twin.task, first.task, "the fixture twin differs but for its id");
    assert!(queue.jobs.enqueue(&twin).await.is_err(), "an existing id is refused");
    assert_eq!(listed(&queue, None).await, [queued(&first)]);
}

/// A queued job is not claimable before its `run_at`, and is at it.
pub async fn jobs_are_claimable_from_their_run_at(queue: Queue) {
    let job = enqueue(&queue, 1, 10).await;
    assert_eq!(claim_at(&queue, at(0)).await, None, "not due long before its run_at");
    assert_eq!(claim_at(&queue, just_before(at(10))).await, None, "not due before its run_at");
    assert_eq!(listed(&queue, None).await, [queued(&job)], "a claim that finds nothing changes nothing");
    let claimed = claim_at(&queue, at(10)).await.expect("due at its run_at");
    assert_eq!(claimed.id, job.id);
}

/// Claims take the job due first, ties by id, whatever the order jobs were enqueued in.
pub async fn claims_take_jobs_by_run_at_then_id(queue: Queue) {
    for (n, run_at) in [(5, 20), (1, 30), (3, 20), (4, 10), (2, 20)] {
        enqueue(&queue, n, run_at).await;
    }
    let expected: Vec<JobId> = [4, 2, 3, 5, 1].into_iter().map(job_id).collect();
    assert_eq!(listed_ids(&queue, None, ALL).await, expected, "listing order");
    let mut claimed = Vec::new();
    while let Some(job) = claim_at(&queue, at(100)).await {
        claimed.push(job.id);
        assert!(claimed.len() <= expected.len(), "a job was claimed twice: {claimed:?}");
    }
    assert_eq!(claimed, expected, "claim order");
}

/// A claim marks the job running under its lease and counts an attempt; the job is not
/// claimable again before the lease lapses.
pub async fn a_claim_holds_the_job_running_until_its_lease_lapses(queue: Queue) {
    let job = enqueue(&queue, 1, 0).await;
    let (_, claimed) = claim_next(&queue, 0, 60).await;
    let running = Job { state: JobState::Running, attempts: 1, lease_until: Some(at(60)), ..queued(&job) };
    assert_eq!(claimed, running, "the claim answers the job as it now is");
    assert_eq!(listed(&queue, None).await, slice::from_ref(&running));
    assert_eq!(claim_at(&queue, at(30)).await, None, "held during its lease");
    assert_eq!(claim_at(&queue, just_before(at(60))).await, None, "held until its lease ends");
    assert_eq!(listed(&queue, None).await, [running], "refused claims count no attempt");
}

/// Once its lease lapsed, a job goes to the next claim (a second attempt); the first
/// claim can then neither complete nor fail it, the second can.
pub async fn a_lapsed_lease_passes_the_job_to_the_next_claim(queue: Queue) {
    let job = enqueue(&queue, 1, 0).await;
    let (first, _) = claim_next(&queue, 0, 60).await;
    let (second, reclaimed) = claim_next(&queue, 60, 120).await;
    let running = Job { state: JobState::Running, attempts: 2, lease_until: Some(at(120)), ..queued(&job) };
    assert_eq!(reclaimed, running, "the lapsed job, claimed again");
    assert_ne!(first.token, second.token);
    assert!(!complete(&queue, &first).await, "the first claim no longer holds the job");
    assert!(!fail(&queue, &first, "late", Some(at(200))).await, "nor can it re-queue it");
    assert!(!fail(&queue, &first, "late", None).await, "nor kill it");
    assert_eq!(listed(&queue, None).await, [running], "the stale claim changed nothing");
    assert!(complete(&queue, &second).await, "the current claim completes the job");
    assert!(listed(&queue, None).await.is_empty());
}

/// Completing a job removes it (and only it); completing it again is refused.
pub async fn complete_removes_the_job(queue: Queue) {
    enqueue(&queue, 1, 0).await;
    let other = enqueue(&queue, 2, 10).await;
    let (claim, _) = claim_next(&queue, 0, 60).await;
    assert!(complete(&queue, &claim).await, "the claim holds the job");
    assert_eq!(listed(&queue, None).await, [queued(&other)], "only the completed job is gone");
    assert!(!complete(&queue, &claim).await, "a completed job is not held any more");
    let (claim, _) = claim_next(&queue, 10, 60).await;
    assert!(complete(&queue, &claim).await);
    assert!(listed(&queue, None).await.is_empty());
    assert_eq!(queue.jobs.stats().await.expect("stats"), JobStats::default(), "an empty queue has no stats");
}

/// A failure with a `retry_at` queues the job again, due then, with its error; the next
/// claim is a second attempt.
pub async fn fail_with_retry_at_queues_the_job_again(queue: Queue) {
    let job = enqueue(&queue, 1, 0).await;
    let (claim, _) = claim_next(&queue, 0, 60).await;
    assert!(fail(&queue, &claim, "boom", Some(at(30))).await, "the claim holds the job");
    let requeued = Job { attempts: 1, run_at: at(30), last_error: Some("boom".into()), ..queued(&job) };
    assert_eq!(listed(&queue, None).await, slice::from_ref(&requeued));
    assert!(!complete(&queue, &claim).await, "a failed claim holds the job no more");
    assert_eq!(claim_at(&queue, just_before(at(30))).await, None, "not due before its retry_at");
    let (_, retried) = claim_next(&queue, 30, 90).await;
    let running = Job { state: JobState::Running, attempts: 2, lease_until: Some(at(90)), ..requeued };
    assert_eq!(retried, running, "claimed again at its retry_at, its last error kept");
}

/// A failure without `retry_at` makes the job dead: never claimable, listed as dead with
/// its error, and out of reach of the claim that failed it.
pub async fn fail_without_retry_at_makes_the_job_dead(queue: Queue) {
    let job = enqueue(&queue, 1, 10).await;
    let (claim, _) = claim_next(&queue, 10, 60).await;
    assert!(fail(&queue, &claim, "gave up", None).await, "the claim holds the job");
    let dead = Job { state: JobState::Dead, attempts: 1, last_error: Some("gave up".into()), ..queued(&job) };
    assert_eq!(listed(&queue, Some(JobState::Dead)).await, slice::from_ref(&dead));
    assert!(listed(&queue, Some(JobState::Queued)).await.is_empty());
    assert!(listed(&queue, Some(JobState::Running)).await.is_empty());
    assert_eq!(claim_at(&queue, at(60)).await, None, "a dead job is not claimable");
    assert_eq!(claim_at(&queue, at(1_000_000)).await, None, "a dead job is never claimable");
    assert!(!complete(&queue, &claim).await, "the claim that killed the job holds it no more");
    assert!(!fail(&queue, &claim, "again", Some(at(20))).await);
    assert_eq!(listed(&queue, None).await, [dead]);
}

/// `retry` queues a dead job again, due at `now`, with its attempts reset.
pub async fn retry_queues_a_dead_job_again_with_attempts_reset(queue: Queue) {
    let job = enqueue(&queue, 1, 0).await;
    kill_next(&queue, 0).await;
    assert!(queue.jobs.retry(&job.id, at(500)).await.expect("retrying"), "the job is dead");
    let jobs = listed(&queue, None).await;
    let [retried] = &jobs[..] else { panic!("one job, not {jobs:?}") };
    assert_eq!(
        (retried.id, retried.state, retried.attempts, retried.run_at, retried.lease_until),
        (job.id, JobState::Queued, 0, at(500), None)
    );
    assert!(!queue.jobs.retry(&job.id, at(600)).await.expect("retrying"), "a queued job is not dead");
    assert_eq!(claim_at(&queue, just_before(at(500))).await, None, "due at the retry's now, not before");
    let (_, claimed) = claim_next(&queue, 500, 560).await;
    assert_eq!((claimed.id, claimed.attempts), (job.id, 1), "attempts count again from zero");
}

/// `retry` answers `false` for an unknown id and for queued or running jobs, and leaves
/// them as they are.
pub async fn retry_refuses_unknown_and_live_jobs(queue: Queue) {
    assert!(!queue.jobs.retry(&job_id(9), at(0)).await.expect("retrying"), "unknown id");
    let running = enqueue(&queue, 1, 0).await;
    let waiting = enqueue(&queue, 2, 0).await;
    claim_next(&queue, 0, 60).await;
    let before = listed(&queue, None).await;
    assert!(!queue.jobs.retry(&running.id, at(5)).await.expect("retrying"), "a running job is not dead");
    assert!(!queue.jobs.retry(&waiting.id, at(5)).await.expect("retrying"), "a queued job is not dead");
    assert_eq!(listed(&queue, None).await, before, "refused retries change nothing");
}

/// `list` orders by `run_at` then id, keeps the jobs in the state asked for, and answers
/// at most `limit` of them.
pub async fn list_filters_by_state_and_limits(queue: Queue) {
    for (n, run_at) in [(4, 10), (5, 20), (1, 30), (6, 30), (2, 40), (3, 50)] {
        enqueue(&queue, n, run_at).await;
    }
    claim_next(&queue, 20, 100).await; // 4 runs
    kill_next(&queue, 20).await; // 5 is dead
    let ids = |ns: &[u8]| ns.iter().copied().map(job_id).collect::<Vec<_>>();
    assert_eq!(listed_ids(&queue, None, ALL).await, ids(&[4, 5, 1, 6, 2, 3]));
    assert_eq!(listed_ids(&queue, None, 3).await, ids(&[4, 5, 1]));
    assert_eq!(listed_ids(&queue, None, 0).await, ids(&[]));
    assert_eq!(listed_ids(&queue, Some(JobState::Queued), ALL).await, ids(&[1, 6, 2, 3]));
    assert_eq!(listed_ids(&queue, Some(JobState::Queued), 2).await, ids(&[1, 6]));
    assert_eq!(listed_ids(&queue, Some(JobState::Running), ALL).await, ids(&[4]));
    assert_eq!(listed_ids(&queue, Some(JobState::Dead), ALL).await, ids(&[5]));
}

/// `stats` counts the jobs of each kind in each state (leaving out states without jobs)
/// and finds the `run_at` of the oldest queued job (running and dead ones do not count).
pub async fn stats_count_kinds_and_states_and_find_the_oldest_queued(queue: Queue) {
    let stats = || async { queue.jobs.stats().await.expect("stats") };
    assert_eq!(stats().await, JobStats::default(), "an empty queue");
    for (n, run_at) in [(1, 30), (2, 10), (3, 20), (4, 40)] {
        enqueue(&queue, n, run_at).await;
    }
    let all = stats().await;
    assert_eq!(counts(&all), [(TaskKind::DeleteObject, JobState::Queued, 4)]);
    assert_eq!(all.oldest_queued.map(micros), Some(at(10)));

    let (running, _) = claim_next(&queue, 10, 100).await; // 2 (due at 10) runs
    kill_next(&queue, 20).await; // 3 (due at 20) is dead
    let mixed = stats().await;
    let mut expected = vec![
        (TaskKind::DeleteObject, JobState::Queued, 2),
        (TaskKind::DeleteObject, JobState::Running, 1),
        (TaskKind::DeleteObject, JobState::Dead, 1),
    ];
    expected.sort_unstable();
    assert_eq!(counts(&mixed), expected);
    assert_eq!(mixed.oldest_queued.map(micros), Some(at(30)), "the oldest job still queued");

    assert!(complete(&queue, &running).await);
    let mut expected =
        vec![(TaskKind::DeleteObject, JobState::Queued, 2), (TaskKind::DeleteObject, JobState::Dead, 1)];
    expected.sort_unstable();
    assert_eq!(counts(&stats().await), expected, "no running jobs, no running count");
}

/// Concurrent claimers take every due job, each exactly once.
pub async fn concurrent_claims_take_each_job_once(queue: Queue) {
    assert_each_job_claimed_once(&[Arc::clone(&queue.jobs)], CLAIMERS).await;
}

/// Enqueues due jobs (through the first of `nodes`), then starts `claimers` tasks, spread
/// over `nodes` (queues over one store, e.g. the pools of two processes), each claiming
/// until nothing is claimable: asserts that every job was claimed exactly once, with one
/// attempt.
pub async fn assert_each_job_claimed_once(nodes: &[Arc<dyn JobQueue>], claimers: usize) {
    let first = nodes.first().expect("at least one node");
    let mut expected: Vec<JobId> = Vec::new();
    for n in 1..=RACED_JOBS {
        let job = new_job(n, i64::from(n % 3));
        first.enqueue(&job).await.unwrap_or_else(|e| panic!("enqueueing job {n}: {e}"));
        expected.push(job.id);
    }
    let barrier = Arc::new(Barrier::new(claimers));
    let tasks: Vec<_> = (0..claimers)
        .map(|i| {
            let (queue, barrier) = (Arc::clone(&nodes[i % nodes.len()]), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let mut claimed = Vec::new();
                while let Some(job) = queue.claim(&token(), at(100), at(10_000)).await.expect("claiming") {
                    assert_eq!(job.attempts, 1, "job {} was claimed before", job.id);
                    claimed.push(job.id);
                }
                claimed
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.expect("claiming task"));
    }
    claimed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(claimed, expected, "every job claimed exactly once");
    let running = first.list(Some(JobState::Running), ALL).await.expect("listing jobs");
    assert_eq!(running.len(), expected.len(), "every job runs");
}
