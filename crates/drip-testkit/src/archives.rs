//! Conformance suite of the `ArchiveRepository` port: one scenario per clause of the
//! port's contract (insert with its jobs, unknown owners, build attempts and what they
//! replace, ready and failed only for the current attempt, listings, deletion, the
//! owner's account closing), run against every adapter (memory, SQLite, PostgreSQL)
//! through [`archive_conformance!`](crate::archive_conformance).
//!
//! Scenarios never read a clock: every time is a fixture time in whole seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use drip_core::accounts::model::{Email, Owner, PasswordHash, User, Username};
use drip_core::accounts::ports::AccountRepository;
use drip_core::archives::model::{
    Archive, ArchiveContent, ArchiveParts, ArchiveState, ArchiveStatus, FailureReason, attempt_key,
};
use drip_core::archives::ports::{ArchiveRepository, BuildStart, InsertArchiveError};
use drip_core::jobs::model::{NewJob, Task};
use drip_core::jobs::ports::JobQueue;
use drip_core::storage::model::{Digest, Envelope, FolderPath, StorageKey};
use drip_core::{ArchiveId, JobId, Ksuid, UserId};

use crate::workload::at;

/// Fresh, empty repositories for one scenario: archives, the accounts they belong to and
/// the job queue they enqueue into (one store).
pub struct Archives {
    /// The archive repository under test.
    pub archives: Arc<dyn ArchiveRepository>,
    /// Users of the same store.
    pub accounts: Arc<dyn AccountRepository>,
    /// The job queue of the same store.
    pub jobs: Arc<dyn JobQueue>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per
/// archive repository scenario, each calling `$setup().await` for fresh, empty
/// repositories (`-> Archives`, or `-> Option<Archives>` to skip without the backend).
#[macro_export]
macro_rules! archive_conformance {
    ($setup:path) => {
        $crate::archive_conformance!(@scenarios $setup;
            insert_then_find_round_trips_and_enqueues_both_jobs,
            insert_refuses_an_unknown_owner_and_enqueues_nothing,
            start_build_records_the_attempt_enqueues_its_job_and_answers_the_previous,
            start_build_of_a_finished_or_unknown_archive_changes_nothing,
            start_build_finds_an_archive_busy_while_its_attempt_holds_it,
            renew_attempt_extends_only_the_current_attempt,
            mark_ready_takes_only_the_current_attempt,
            mark_failed_takes_only_the_current_attempt,
            list_by_owner_is_newest_first_own_only_and_limited,
            delete_answers_the_archive_once,
            closing_the_owners_account_removes_their_archives,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(repos) = $crate::MaybeFixture::<$crate::archives::Archives>::into_fixture($setup().await) {
                    $crate::archives::$scenario(repos).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn ksuid() -> Ksuid {
    Ksuid::generate(at(0))
}

async fn add_user(repos: &Archives, name: &str) -> Owner {
    let owner = Owner {
        id: UserId::from_ksuid(ksuid()),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
    };
    let user = User {
        owner: owner.clone(),
        password_hash: PasswordHash::parse("$fake$c2FsdHNhbHQ$aGFzaGhhc2g").unwrap(),
        created_at: at(0),
    };
    repos.accounts.create_user(&user).await.unwrap();
    owner
}

fn pending(owner: &Owner, folder: &str, created: i64) -> Archive {
    Archive::from_parts(ArchiveParts {
        id: ArchiveId::from_ksuid(Ksuid::generate(at(created))),
        owner: owner.id,
        folder: FolderPath::parse(folder).unwrap(),
        state: ArchiveState::Pending { attempt: None },
        created_at: at(created),
        expires_at: at(created + 3600),
    })
}

fn job(task: Task, run_at: DateTime<Utc>) -> NewJob {
    NewJob { id: JobId::from_ksuid(ksuid()), task, run_at, created_at: at(0) }
}

fn jobs_of(archive: &Archive) -> (NewJob, NewJob) {
    let id = archive.id();
    (
        job(Task::BuildArchive { archive: id }, at(0)),
        job(Task::PurgeArchive { archive: id }, archive.expires_at()),
    )
}

async fn insert(repos: &Archives, archive: &Archive) {
    let (build, purge) = jobs_of(archive);
    repos.archives.insert(archive, &build, &purge).await.unwrap();
}

fn key() -> StorageKey {
    attempt_key(ksuid(), at(0))
}

fn removal(key: &StorageKey) -> NewJob {
    job(Task::ReclaimUpload { key: key.clone() }, at(3600))
}

/// Starts an attempt at `at(100)` whose lease has lapsed by the next one (`at(100)`
/// again: leases end at `now`).
async fn start(repos: &Archives, archive: &Archive, key: &StorageKey) -> BuildStart {
    repos.archives.start_build(&archive.id(), key, at(100), at(100), &removal(key)).await.unwrap()
}

fn content(key: &StorageKey) -> ArchiveContent {
    ArchiveContent {
        storage_key: key.clone(),
        envelope: Envelope::new(drip_core::content::ALGORITHM, 65536, "k1", vec![9; 60]).unwrap(),
        size: 5_000_000_000,
        digest: Digest::from_bytes([4; 32]),
        files: 70_000,
        ready_at: at(30),
    }
}

fn reason() -> FailureReason {
    FailureReason::new("the content of a/b.txt failed integrity verification").unwrap()
}

async fn find(repos: &Archives, archive: &Archive) -> Option<Archive> {
    repos.archives.find(&archive.id()).await.unwrap()
}

async fn queued_tasks(repos: &Archives) -> Vec<Task> {
    repos.jobs.list(None, 100).await.unwrap().into_iter().map(|j| j.task).collect()
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// `insert` stores every field, and the build and purge jobs with it.
pub async fn insert_then_find_round_trips_and_enqueues_both_jobs(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a/b c", 0);
    let (build, purge) = jobs_of(&archive);
    repos.archives.insert(&archive, &build, &purge).await.unwrap();
    assert_eq!(find(&repos, &archive).await, Some(archive.clone()));
    let jobs = repos.jobs.list(None, 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().any(|j| j.id == build.id && j.task == build.task && j.run_at == at(0)));
    assert!(jobs.iter().any(|j| j.id == purge.id && j.task == purge.task && j.run_at == at(3600)));
    let again =
        repos.archives.insert(&archive, &job(build.task.clone(), at(0)), &job(purge.task, at(1))).await;
    assert!(matches!(again, Err(InsertArchiveError::Backend(_))), "an existing id");
    assert_eq!(repos.jobs.list(None, 10).await.unwrap().len(), 2, "nothing more enqueued");
    assert!(repos.archives.find(&ArchiveId::from_ksuid(ksuid())).await.unwrap().is_none());
}

/// An owner that is no user is refused, with nothing recorded or enqueued.
pub async fn insert_refuses_an_unknown_owner_and_enqueues_nothing(repos: Archives) {
    let ghost = Owner {
        id: UserId::from_ksuid(ksuid()),
        username: Username::parse("ghost").unwrap(),
        email: Email::parse("ghost@example.com").unwrap(),
    };
    let archive = pending(&ghost, "$", 0);
    let (build, purge) = jobs_of(&archive);
    let refused = repos.archives.insert(&archive, &build, &purge).await;
    assert!(matches!(refused, Err(InsertArchiveError::UnknownOwner)), "{refused:?}");
    assert!(find(&repos, &archive).await.is_none());
    assert!(queued_tasks(&repos).await.is_empty());
}

/// Each attempt's key is recorded with its removal job; the previous key is answered.
pub async fn start_build_records_the_attempt_enqueues_its_job_and_answers_the_previous(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let (first, second) = (key(), key());
    assert_eq!(start(&repos, &archive, &first).await, BuildStart::Started { previous: None });
    let found = find(&repos, &archive).await.unwrap();
    assert_eq!(found.state(), &ArchiveState::Pending { attempt: Some(first.clone()) });
    assert_eq!(found.object_key(), Some(&first));
    assert_eq!(start(&repos, &archive, &second).await, BuildStart::Started { previous: Some(first.clone()) });
    assert_eq!(find(&repos, &archive).await.unwrap().object_key(), Some(&second));
    let tasks = queued_tasks(&repos).await;
    for key in [&first, &second] {
        assert!(tasks.contains(&Task::ReclaimUpload { key: key.clone() }), "{tasks:?}");
    }
}

/// A ready, failed or unknown archive starts no build and enqueues nothing.
pub async fn start_build_of_a_finished_or_unknown_archive_changes_nothing(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let (ready, failed) = (pending(&alice, "$/r", 0), pending(&alice, "$/f", 1));
    insert(&repos, &ready).await;
    insert(&repos, &failed).await;
    let (k1, k2) = (key(), key());
    start(&repos, &ready, &k1).await;
    assert!(repos.archives.mark_ready(&ready.id(), &content(&k1)).await.unwrap());
    start(&repos, &failed, &k2).await;
    assert!(repos.archives.mark_failed(&failed.id(), &k2, &reason()).await.unwrap());
    let before = queued_tasks(&repos).await.len();
    assert_eq!(start(&repos, &ready, &key()).await, BuildStart::Finished);
    assert_eq!(start(&repos, &failed, &key()).await, BuildStart::Finished);
    let unknown = pending(&alice, "$", 2);
    assert_eq!(start(&repos, &unknown, &key()).await, BuildStart::Gone);
    assert_eq!(queued_tasks(&repos).await.len(), before);
    assert_eq!(find(&repos, &ready).await.unwrap().object_key(), Some(&k1));
}

/// An attempt whose lease runs past `now` keeps the archive: another start is busy and
/// records nothing; once the lease ended, the next one starts.
pub async fn start_build_finds_an_archive_busy_while_its_attempt_holds_it(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let (first, second) = (key(), key());
    let started = repos.archives.start_build(&archive.id(), &first, at(10), at(70), &removal(&first)).await;
    assert_eq!(started.unwrap(), BuildStart::Started { previous: None });
    let before = queued_tasks(&repos).await.len();
    for now in [at(10), at(69)] {
        let then = removal(&second);
        let busy =
            repos.archives.start_build(&archive.id(), &second, now, now + Duration::seconds(60), &then).await;
        assert_eq!(busy.unwrap(), BuildStart::Busy, "at {now}");
    }
    assert_eq!(queued_tasks(&repos).await.len(), before, "nothing enqueued while busy");
    assert_eq!(find(&repos, &archive).await.unwrap().object_key(), Some(&first));
    let started =
        repos.archives.start_build(&archive.id(), &second, at(70), at(130), &removal(&second)).await;
    assert_eq!(started.unwrap(), BuildStart::Started { previous: Some(first) });
}

/// Renewing moves the current attempt's lease; a replaced or finished attempt is told so.
pub async fn renew_attempt_extends_only_the_current_attempt(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let (first, second) = (key(), key());
    assert!(!repos.archives.renew_attempt(&archive.id(), &first, at(50)).await.unwrap(), "no attempt yet");
    repos.archives.start_build(&archive.id(), &first, at(10), at(70), &removal(&first)).await.unwrap();
    assert!(repos.archives.renew_attempt(&archive.id(), &first, at(200)).await.unwrap());
    let busy = repos.archives.start_build(&archive.id(), &second, at(150), at(210), &removal(&second)).await;
    assert_eq!(busy.unwrap(), BuildStart::Busy, "renewed past 150");
    let started =
        repos.archives.start_build(&archive.id(), &second, at(200), at(260), &removal(&second)).await;
    assert_eq!(started.unwrap(), BuildStart::Started { previous: Some(first.clone()) });
    assert!(!repos.archives.renew_attempt(&archive.id(), &first, at(300)).await.unwrap(), "replaced");
    assert!(repos.archives.mark_ready(&archive.id(), &content(&second)).await.unwrap());
    assert!(!repos.archives.renew_attempt(&archive.id(), &second, at(300)).await.unwrap(), "finished");
    let unknown = ArchiveId::from_ksuid(ksuid());
    assert!(!repos.archives.renew_attempt(&unknown, &second, at(300)).await.unwrap());
}

/// Only the current attempt's key makes an archive ready, once; every field round-trips.
pub async fn mark_ready_takes_only_the_current_attempt(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let (old, current) = (key(), key());
    assert!(!repos.archives.mark_ready(&archive.id(), &content(&old)).await.unwrap(), "no attempt yet");
    start(&repos, &archive, &old).await;
    start(&repos, &archive, &current).await;
    assert!(!repos.archives.mark_ready(&archive.id(), &content(&old)).await.unwrap(), "overtaken");
    assert_eq!(find(&repos, &archive).await.unwrap().status(), ArchiveStatus::Pending);
    assert!(repos.archives.mark_ready(&archive.id(), &content(&current)).await.unwrap());
    let ready = find(&repos, &archive).await.unwrap();
    assert_eq!(ready.content(), Some(&content(&current)));
    assert_eq!(ready.status(), ArchiveStatus::Ready);
    assert_eq!((ready.created_at(), ready.expires_at(), ready.folder()), (at(0), at(3600), archive.folder()));
    assert!(!repos.archives.mark_ready(&archive.id(), &content(&current)).await.unwrap(), "once");
    let unknown = ArchiveId::from_ksuid(ksuid());
    assert!(!repos.archives.mark_ready(&unknown, &content(&current)).await.unwrap());
}

/// Only the current attempt's key makes an archive failed; its reason is kept.
pub async fn mark_failed_takes_only_the_current_attempt(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let (old, current) = (key(), key());
    start(&repos, &archive, &old).await;
    start(&repos, &archive, &current).await;
    assert!(!repos.archives.mark_failed(&archive.id(), &old, &reason()).await.unwrap());
    assert!(repos.archives.mark_failed(&archive.id(), &current, &reason()).await.unwrap());
    let failed = find(&repos, &archive).await.unwrap();
    assert_eq!(failed.state(), &ArchiveState::Failed { reason: reason(), attempt: Some(current.clone()) });
    assert!(
        !repos.archives.mark_ready(&archive.id(), &content(&current)).await.unwrap(),
        "failed stays failed"
    );
    assert!(!repos.archives.mark_failed(&archive.id(), &current, &reason()).await.unwrap());
}

/// An owner's archives, newest first, nobody else's, at most `limit`.
pub async fn list_by_owner_is_newest_first_own_only_and_limited(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let archives: Vec<Archive> = [10, 30, 20].iter().map(|&t| pending(&alice, "$", t)).collect();
    for archive in &archives {
        insert(&repos, archive).await;
    }
    insert(&repos, &pending(&bob, "$", 40)).await;
    let listed = repos.archives.list_by_owner(&alice.id, 10).await.unwrap();
    let times: Vec<DateTime<Utc>> = listed.iter().map(Archive::created_at).collect();
    assert_eq!(times, [at(30), at(20), at(10)]);
    let limited = repos.archives.list_by_owner(&alice.id, 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0].created_at(), at(30));
    assert_eq!(repos.archives.list_by_owner(&bob.id, 10).await.unwrap().len(), 1);
    let nobody = UserId::from_ksuid(ksuid());
    assert!(repos.archives.list_by_owner(&nobody, 10).await.unwrap().is_empty());
}

/// `delete` answers the archive as it was, once.
pub async fn delete_answers_the_archive_once(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let archive = pending(&alice, "$/a", 0);
    insert(&repos, &archive).await;
    let attempt = key();
    start(&repos, &archive, &attempt).await;
    let deleted = repos.archives.delete(&archive.id()).await.unwrap().expect("deleted");
    assert_eq!(deleted.object_key(), Some(&attempt));
    assert!(find(&repos, &archive).await.is_none());
    assert!(repos.archives.delete(&archive.id()).await.unwrap().is_none());
    assert_eq!(start(&repos, &archive, &key()).await, BuildStart::Gone);
}

/// Deleting the owner removes their archives (and nobody else's); the jobs stay.
pub async fn closing_the_owners_account_removes_their_archives(repos: Archives) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let (mine, theirs) = (pending(&alice, "$", 0), pending(&bob, "$", 0));
    insert(&repos, &mine).await;
    insert(&repos, &theirs).await;
    let attempt = key();
    start(&repos, &mine, &attempt).await;
    assert!(repos.accounts.delete_user(&alice.id).await.unwrap());
    assert!(find(&repos, &mine).await.is_none());
    assert!(find(&repos, &theirs).await.is_some());
    assert!(
        queued_tasks(&repos).await.contains(&Task::ReclaimUpload { key: attempt }),
        "its object still goes"
    );
}
