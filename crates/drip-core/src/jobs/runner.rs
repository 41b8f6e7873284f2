//! The job runner: claims due jobs one at a time, runs their handlers, and completes them
//! or schedules a retry with exponential backoff (dead after too many attempts).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::model::{Claim, Job, NewJob, Task, TaskKind};
use super::ports::JobQueue;
use crate::archives::ArchiveService;
use crate::clock::Clock;
use crate::error::{BackendError, report};
use crate::ids::{ClaimToken, JobId};
use crate::storage::StorageService;
use crate::storage::model::StorageKey;
use crate::storage::ports::{StorageError, StorageProvider};
use crate::uploads::UploadService;

/// How jobs are claimed and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// How long a claim lasts: a job whose worker died runs again this long after it was
    /// claimed.
    pub lease: Duration,
    /// How long the runner waits for work between passes when nothing wakes it.
    pub poll_interval: Duration,
    /// Attempts after which a failing job is dead.
    pub max_attempts: u32,
    /// The delay before the first retry; each further retry waits twice as long ...
    pub backoff_base: Duration,
    /// ... but never longer than this.
    pub backoff_cap: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
        }
    }
}

impl JobSettings {
    /// The delay before retrying a job that failed its `attempts`-th attempt:
    /// `backoff_base × 2^(attempts − 1)`, capped at `backoff_cap`.
    #[must_use]
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.backoff_base.saturating_mul(1 << doublings).min(self.backoff_cap)
    }
}

/// What the runner needs: the queue and what the handlers act on.
#[derive(Clone)]
pub struct JobPorts {
    /// The queue.
    pub queue: Arc<dyn JobQueue>,
    /// Object storage (object deletions).
    pub storage: Arc<dyn StorageProvider>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

/// Wakes a runner as soon as a job was enqueued, so that it need not wait for its next
/// poll. Clones wake the same runner.
#[derive(Debug, Clone, Default)]
pub struct JobWaker(Arc<Notify>);

impl JobWaker {
    /// Wakes the runner (or makes its next wait return at once).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The handler succeeded and the job is gone.
    Succeeded,
    /// The handler failed; the job runs again later.
    Retried,
    /// The handler failed for the last time; the job is dead.
    Dead,
    /// The claim lapsed before the attempt ended: another worker holds the job now.
    Lost,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Succeeded, Self::Retried, Self::Dead, Self::Lost];

    /// The name shown in metrics (`succeeded`, `retried`, `dead`, `lost`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retried => "retried",
            Self::Dead => "dead",
            Self::Lost => "lost",
        }
    }
}

/// Claims and runs jobs.
pub struct JobRunner {
    ports: JobPorts,
    settings: JobSettings,
    waker: JobWaker,
    /// Runs the archive jobs (builds and purges); without it they fail (and are retried).
    archives: Option<ArchiveService>,
    /// Runs the expiry of resumable uploads; without it they fail (and are retried).
    uploads: Option<UploadService>,
    /// Runs the trash purges; without it they fail (and are retried).
    trash: Option<StorageService>,
    outcomes: Mutex<BTreeMap<(TaskKind, Outcome), u64>>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl JobRunner {
    /// A runner over `ports`, woken by `waker`.
    #[must_use]
    pub fn new(ports: JobPorts, settings: JobSettings, waker: JobWaker) -> Self {
        Self {
            ports,
            settings,
            waker,
            archives: None,
            uploads: None,
            trash: None,
            outcomes: Mutex::default(),
        }
    }

    /// The same runner, running the archive jobs with `archives` (which the facade wires
    /// after the runner: the service only holds the runner's waker, never the runner).
    #[must_use]
    pub fn with_archives(mut self, archives: ArchiveService) -> Self {
        self.archives = Some(archives);
        self
    }

    /// The same runner, running the expiry jobs of resumable uploads with `uploads`.
    #[must_use]
    pub fn with_uploads(mut self, uploads: UploadService) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// The same runner, purging trashed files with `storage` (wired after the runner, as
    /// the archives are).
    #[must_use]
    pub fn with_trash(mut self, storage: StorageService) -> Self {
        self.trash = Some(storage);
        self
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// How many attempts ended how, per kind, since the runner started (for metrics).
    #[must_use]
    pub fn outcomes(&self) -> Vec<(TaskKind, Outcome, u64)> {
        let outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        outcomes.iter().map(|(&(kind, outcome), &n)| (kind, outcome, n)).collect()
    }

    /// Runs the jobs due now, one after another, until none is claimable; answers how
    /// many attempts it made.
    ///
    /// # Errors
    /// [`BackendError`] when the queue fails (a failing handler is not an error: its job
    /// is retried or dead).
    pub async fn run_due(&self) -> Result<usize, BackendError> {
        self.pass(&CancellationToken::new()).await
    }

    /// Runs due jobs until `stop` is cancelled: a pass, then a wait for a wake-up or the
    /// poll interval, and again. A job under way when `stop` is cancelled is finished.
    ///
    /// # Errors
    /// [`BackendError`] when the queue fails (for a supervisor to restart the runner).
    pub async fn run(&self, stop: CancellationToken) -> Result<(), BackendError> {
        let attempts = self.pass(&stop).await?;
        tracing::info!(attempts, "ran the jobs due at start");
        while !stop.is_cancelled() {
            tokio::select! {
                () = stop.cancelled() => {}
                () = self.waker.0.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            self.pass(&stop).await?;
        }
        Ok(())
    }

    /// Runs due jobs until none is claimable or `stop` is cancelled. Each attempt is
    /// logged once its outcome is recorded (queue and counters), so a line says both.
    async fn pass(&self, stop: &CancellationToken) -> Result<usize, BackendError> {
        let mut attempts = 0;
        while !stop.is_cancelled() {
            let Some((job, token)) = self.claim().await? else { break };
            let (outcome, error) = self.attempt(&job, &token).await?;
            self.count(job.task.kind(), outcome);
            let (id, kind, task) = (&job.id, job.task.kind(), &job.task);
            match (outcome, error) {
                (Outcome::Succeeded, _) => tracing::info!(job = %id, %kind, ?task, "a job succeeded"),
                (Outcome::Lost, _) => {
                    tracing::warn!(job = %id, %kind, "a job's claim lapsed before it ended")
                }
                (outcome, error) => tracing::warn!(
                    job = %id, %kind, attempts = job.attempts, error = error.as_deref().unwrap_or(""),
                    dead = outcome == Outcome::Dead, "a job failed"
                ),
            }
            attempts += 1;
        }
        Ok(attempts)
    }

    async fn claim(&self) -> Result<Option<(Job, ClaimToken)>, BackendError> {
        let token = ClaimToken::from_ksuid(self.ports.clock.new_ksuid());
        let now = self.ports.clock.now();
        let job = self.ports.queue.claim(&token, now, later(now, self.settings.lease)).await?;
        Ok(job.map(|job| (job, token)))
    }

    /// One attempt at `job`: its handler, then its completion or its retry; the error of a
    /// failed handler.
    async fn attempt(
        &self,
        job: &Job,
        token: &ClaimToken,
    ) -> Result<(Outcome, Option<String>), BackendError> {
        let queue = &self.ports.queue;
        let claim = Claim { job: job.id, token: *token };
        let error = match self.handle(job).await {
            Ok(()) => {
                let held = queue.complete(&claim).await?;
                return Ok((if held { Outcome::Succeeded } else { Outcome::Lost }, None));
            }
            Err(error) => report(&error),
        };
        let retry_at = (job.attempts < self.settings.max_attempts)
            .then(|| later(self.ports.clock.now(), self.settings.backoff(job.attempts)));
        let outcome = match (queue.fail(&claim, &error, retry_at).await?, retry_at) {
            (false, _) => Outcome::Lost,
            (true, Some(_)) => Outcome::Retried,
            (true, None) => Outcome::Dead,
        };
        Ok((outcome, Some(error)))
    }

    /// Does what the job's task says. Idempotent: an object already gone is deleted, an
    /// archive already built or gone is left alone, a media no longer trashed (or not yet
    /// due) is left alone.
    async fn handle(&self, job: &Job) -> Result<(), BackendError> {
        let storage = &self.ports.storage;
        let archives =
            || self.archives.as_ref().ok_or_else(|| BackendError::msg("no archive service is wired"));
        match &job.task {
            Task::DeleteObject { key } => delete_object(&**storage, key).await,
            Task::ReclaimUpload { key } => {
                storage
                    .remove_unfinished(key)
                    .await
                    .map_err(|e| BackendError::new(format!("removing the unfinished upload of {key}"), e))?;
                delete_object(&**storage, key).await
            }
            Task::BuildArchive { archive } => {
                archives()?.build(archive, job.attempts >= self.settings.max_attempts).await
            }
            Task::PurgeArchive { archive } => archives()?.purge(archive).await,
            Task::ExpireUpload { upload } => {
                let uploads =
                    self.uploads.as_ref().ok_or_else(|| BackendError::msg("no upload service is wired"))?;
                uploads.expire(upload).await
            }
            Task::PurgeTrashed { media } => {
                let trash =
                    self.trash.as_ref().ok_or_else(|| BackendError::msg("no storage service is wired"))?;
                trash.purge_due(media).await
            }
        }
    }

    fn count(&self, kind: TaskKind, outcome: Outcome) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        *outcomes.entry((kind, outcome)).or_default() += 1;
    }
}

async fn delete_object(storage: &dyn StorageProvider, key: &StorageKey) -> Result<(), BackendError> {
    match storage.delete(key).await {
        Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(BackendError::new(format!("deleting the object {key}"), e)),
    }
}

/// A job doing `task`, due now.
#[must_use]
pub fn due_now(clock: &dyn Clock, task: Task) -> NewJob {
    let now = clock.now();
    NewJob { id: JobId::from_ksuid(clock.new_ksuid()), task, run_at: now, created_at: now }
}

/// `now` plus `by` (the far future when `by` does not fit).
pub(crate) fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}
