//! The job table of the memory store: jobs live in the same locked state as the media, so
//! a repository write and the job it enqueues are one atomic step.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use drip_core::jobs::model::{Claim, Job, JobCount, JobState, JobStats, NewJob, TaskKind};
use drip_core::{BackendError, ClaimToken, JobId};

/// Every job, and the claim each running job is held under.
#[derive(Debug, Default)]
pub(crate) struct JobTable {
    pub(crate) jobs: BTreeMap<JobId, Job>,
    pub(crate) claims: BTreeMap<JobId, ClaimToken>,
}

impl JobTable {
    /// Adds a job, queued and due at its `run_at`.
    pub(crate) fn enqueue(&mut self, job: &NewJob) -> Result<(), BackendError> {
        if self.jobs.contains_key(&job.id) {
            return Err(BackendError::msg(format!("a job with id {} exists", job.id)));
        }
        self.jobs.insert(job.id, job.queued());
        Ok(())
    }
}

impl JobTable {
    /// Claims the claimable job due first (ties by id) under `token`.
    pub(crate) fn claim(
        &mut self,
        token: &ClaimToken,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Option<Job> {
        let claimable = |job: &&Job| match job.state {
            JobState::Queued => job.run_at <= now,
            JobState::Running => job.lease_until.is_some_and(|until| until <= now),
            JobState::Dead => false,
        };
        let id = self.jobs.values().filter(claimable).min_by_key(|job| (job.run_at, job.id))?.id;
        let job = self.jobs.get_mut(&id)?;
        job.state = JobState::Running;
        job.attempts += 1;
        job.lease_until = Some(lease_until);
        self.claims.insert(id, *token);
        Some(job.clone())
    }

    /// The job of `claim` if the claim still holds it.
    fn held(&mut self, claim: &Claim) -> Option<&mut Job> {
        let job = self.jobs.get_mut(&claim.job).filter(|job| job.state == JobState::Running)?;
        (self.claims.get(&claim.job) == Some(&claim.token)).then_some(job)
    }

    pub(crate) fn complete(&mut self, claim: &Claim) -> bool {
        if self.held(claim).is_none() {
            return false;
        }
        self.jobs.remove(&claim.job);
        self.claims.remove(&claim.job);
        true
    }

    pub(crate) fn fail(&mut self, claim: &Claim, error: &str, retry_at: Option<DateTime<Utc>>) -> bool {
        let Some(job) = self.held(claim) else { return false };
        job.state = if retry_at.is_some() { JobState::Queued } else { JobState::Dead };
        job.run_at = retry_at.unwrap_or(job.run_at);
        job.lease_until = None;
        job.last_error = Some(error.to_owned());
        self.claims.remove(&claim.job);
        true
    }

    pub(crate) fn list(&self, state: Option<JobState>, limit: u32) -> Vec<Job> {
        let mut found: Vec<Job> =
            self.jobs.values().filter(|job| state.is_none_or(|s| job.state == s)).cloned().collect();
        found.sort_by_key(|job| (job.run_at, job.id));
        found.truncate(limit as usize);
        found
    }

    pub(crate) fn retry(&mut self, id: &JobId, now: DateTime<Utc>) -> bool {
        let Some(job) = self.jobs.get_mut(id).filter(|job| job.state == JobState::Dead) else { return false };
        job.state = JobState::Queued;
        job.attempts = 0;
        job.run_at = now;
        true
    }

    pub(crate) fn stats(&self) -> JobStats {
        let mut counts = BTreeMap::<(TaskKind, JobState), u64>::new();
        for job in self.jobs.values() {
            *counts.entry((job.task.kind(), job.state)).or_default() += 1;
        }
        JobStats {
            counts: counts
                .into_iter()
                .map(|((kind, state), count)| JobCount { kind, state, count })
                .collect(),
            oldest_queued: self
                .jobs
                .values()
                .filter(|job| job.state == JobState::Queued)
                .map(|job| job.run_at)
                .min(),
        }
    }
}
