//! In-memory `UploadRepository` over the repositories' shared state: an upload goes with
//! its pending media (the media repository's `delete` and `reclaim` drop it), its parts
//! stay until removed.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::StorageKey;
use drip_core::uploads::model::{ResumableUpload, UploadPart};
use drip_core::uploads::ports::UploadRepository;
use drip_core::{BackendError, UploadId};

use crate::repository::{State, lock};

/// Resumable uploads in memory (see [`crate::MemoryRepositories::uploads`]).
#[derive(Debug, Clone)]
pub struct MemoryUploadRepository {
    pub(crate) state: Arc<Mutex<State>>,
}

#[async_trait]
impl UploadRepository for MemoryUploadRepository {
    async fn insert(&self, upload: &ResumableUpload, expiry: &NewJob) -> Result<(), BackendError> {
        let mut state = lock(&self.state)?;
        if !state.media.contains_key(&upload.media) {
            return Err(BackendError::msg("an upload of an unknown media"));
        }
        if state.uploads.contains_key(&upload.id) {
            return Err(BackendError::msg(format!("duplicate upload id {}", upload.id)));
        }
        state.jobs.enqueue(expiry)?;
        state.uploads.insert(upload.id, ResumableUpload { offset: 0, ..upload.clone() });
        Ok(())
    }

    async fn find(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError> {
        Ok(lock(&self.state)?.uploads.get(id).cloned())
    }

    async fn add_part(&self, part: &UploadPart) -> Result<(), BackendError> {
        let mut state = lock(&self.state)?;
        if state.parts.contains_key(&part.key) {
            return Err(BackendError::msg(format!("duplicate part {}", part.key)));
        }
        state.parts.insert(part.key.clone(), UploadPart { size: None, ..part.clone() });
        Ok(())
    }

    async fn commit_part(
        &self,
        upload: &UploadId,
        key: &StorageKey,
        start: u64,
        size: u64,
    ) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        let at_offset = state.uploads.get(upload).is_some_and(|u| u.offset == start);
        let recorded = state.parts.get(key).is_some_and(|p| p.upload == *upload && p.start == start);
        if !(at_offset && recorded) {
            return Ok(false);
        }
        if let Some(u) = state.uploads.get_mut(upload) {
            u.offset = start + size;
        }
        if let Some(p) = state.parts.get_mut(key) {
            p.size = Some(size);
        }
        Ok(true)
    }

    async fn parts(&self, upload: &UploadId) -> Result<Vec<UploadPart>, BackendError> {
        let state = lock(&self.state)?;
        let mut parts: Vec<UploadPart> =
            state.parts.values().filter(|p| p.upload == *upload).cloned().collect();
        parts.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        Ok(parts)
    }

    async fn remove_part(&self, key: &StorageKey) -> Result<(), BackendError> {
        lock(&self.state)?.parts.remove(key);
        Ok(())
    }

    async fn delete(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError> {
        Ok(lock(&self.state)?.uploads.remove(id))
    }
}
