//! `ArchiveRepository` in memory: archive records in the same locked state as the users
//! and the job table, so a record and the jobs it enqueues are one atomic step, and
//! deleting a user deletes their archives (as `ON DELETE CASCADE` does in SQL).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::archives::model::{Archive, ArchiveContent, ArchiveParts, ArchiveState, FailureReason};
use drip_core::archives::ports::{ArchiveRepository, BuildStart, InsertArchiveError};
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::StorageKey;
use drip_core::{ArchiveId, BackendError, UserId};

use crate::repository::{State, lock};

/// Every archive record, by id, and until when each current build attempt holds its
/// archive.
#[derive(Debug, Default)]
pub(crate) struct ArchiveTable {
    rows: BTreeMap<ArchiveId, Archive>,
    leases: BTreeMap<ArchiveId, DateTime<Utc>>,
}

impl ArchiveTable {
    /// Removes the archives of `owner` (their account is gone).
    pub(crate) fn remove_owned_by(&mut self, owner: &UserId) {
        self.rows.retain(|_, archive| archive.owner() != *owner);
        let rows = &self.rows;
        self.leases.retain(|id, _| rows.contains_key(id));
    }

    /// The pending archive `id` and its current attempt, if it is pending.
    fn pending_attempt(&self, id: &ArchiveId) -> Option<Option<&StorageKey>> {
        match self.rows.get(id)?.state() {
            ArchiveState::Pending { attempt } => Some(attempt.as_ref()),
            _ => None,
        }
    }

    fn set_state(&mut self, id: &ArchiveId, state: ArchiveState) {
        if let Some(slot) = self.rows.get_mut(id) {
            *slot = Archive::from_parts(ArchiveParts { state, ..slot.parts().clone() });
        }
    }
}

/// [`ArchiveRepository`] in memory; get one from
/// [`MemoryRepositories::archives`](crate::MemoryRepositories::archives).
#[derive(Debug, Clone)]
pub struct MemoryArchiveRepository {
    pub(crate) state: Arc<Mutex<State>>,
}

#[async_trait]
impl ArchiveRepository for MemoryArchiveRepository {
    async fn insert(
        &self,
        archive: &Archive,
        build: &NewJob,
        purge: &NewJob,
    ) -> Result<(), InsertArchiveError> {
        let mut state = lock(&self.state)?;
        if !state.users.contains_key(&archive.owner()) {
            return Err(InsertArchiveError::UnknownOwner);
        }
        if state.archives.rows.contains_key(&archive.id()) {
            return Err(BackendError::msg(format!("an archive with id {} exists", archive.id())).into());
        }
        if build.id == purge.id
            || state.jobs.jobs.contains_key(&build.id)
            || state.jobs.jobs.contains_key(&purge.id)
        {
            return Err(BackendError::msg("a job with this id exists").into());
        }
        state.jobs.enqueue(build)?;
        state.jobs.enqueue(purge)?;
        state.archives.rows.insert(archive.id(), archive.clone());
        Ok(())
    }

    async fn find(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError> {
        Ok(lock(&self.state)?.archives.rows.get(id).cloned())
    }

    async fn list_by_owner(&self, owner: &UserId, limit: u32) -> Result<Vec<Archive>, BackendError> {
        let state = lock(&self.state)?;
        let mut found: Vec<Archive> =
            state.archives.rows.values().filter(|a| a.owner() == *owner).cloned().collect();
        found.sort_by_key(|a| std::cmp::Reverse((a.created_at(), a.id())));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn start_build(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<BuildStart, BackendError> {
        let mut state = lock(&self.state)?;
        if !state.archives.rows.contains_key(id) {
            return Ok(BuildStart::Gone);
        }
        let Some(previous) = state.archives.pending_attempt(id).map(|k| k.cloned()) else {
            return Ok(BuildStart::Finished);
        };
        if previous.is_some() && state.archives.leases.get(id).is_some_and(|until| *until > now) {
            return Ok(BuildStart::Busy);
        }
        state.jobs.enqueue(then)?;
        state.archives.set_state(id, ArchiveState::Pending { attempt: Some(key.clone()) });
        state.archives.leases.insert(*id, lease_until);
        Ok(BuildStart::Started { previous })
    }

    async fn renew_attempt(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        until: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        if state.archives.pending_attempt(id) != Some(Some(key)) {
            return Ok(false);
        }
        state.archives.leases.insert(*id, until);
        Ok(true)
    }

    async fn mark_ready(&self, id: &ArchiveId, content: &ArchiveContent) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        if state.archives.pending_attempt(id) != Some(Some(&content.storage_key)) {
            return Ok(false);
        }
        state.archives.set_state(id, ArchiveState::Ready(content.clone()));
        state.archives.leases.remove(id);
        Ok(true)
    }

    async fn mark_failed(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        reason: &FailureReason,
    ) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        if state.archives.pending_attempt(id) != Some(Some(key)) {
            return Ok(false);
        }
        let failed = ArchiveState::Failed { reason: reason.clone(), attempt: Some(key.clone()) };
        state.archives.set_state(id, failed);
        state.archives.leases.remove(id);
        Ok(true)
    }

    async fn delete(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError> {
        let mut state = lock(&self.state)?;
        state.archives.leases.remove(id);
        Ok(state.archives.rows.remove(id))
    }
}
