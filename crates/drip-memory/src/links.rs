//! In-memory `LinkRepository` over the repositories' shared state: links go with their
//! media (the media repository's `delete` drops them), drops with their owner.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::links::model::{DropLink, PublicLink, TokenHash};
use drip_core::links::ports::{InsertLinkError, LinkRepository};
use drip_core::{BackendError, DropId, LinkId, MediaId, UserId};

use crate::repository::{State, lock};

/// Public and drop links in memory (see [`crate::MemoryRepositories::links`]).
#[derive(Debug, Clone)]
pub struct MemoryLinkRepository {
    pub(crate) state: Arc<Mutex<State>>,
}

impl State {
    /// A link as its queries answer it: with its media's current name, if uploaded and not
    /// trashed (a trashed file's links are suspended).
    fn live_link(&self, link: &PublicLink) -> Option<PublicLink> {
        let media = self.media.get(&link.media).filter(|m| self.is_listed(m))?;
        Some(PublicLink { file_name: media.name().clone(), ..link.clone() })
    }

    fn live_links(&self, keep: impl Fn(&PublicLink) -> bool) -> Vec<PublicLink> {
        let mut links: Vec<_> =
            self.links.values().filter(|l| keep(l)).filter_map(|l| self.live_link(l)).collect();
        links.sort_by_key(|l| (l.created_at, l.id));
        links
    }
}

#[async_trait]
impl LinkRepository for MemoryLinkRepository {
    async fn insert_link(&self, link: &PublicLink) -> Result<(), InsertLinkError> {
        let mut state = lock(&self.state)?;
        if !state.media.contains_key(&link.media) {
            return Err(InsertLinkError::Gone);
        }
        if state.links.contains_key(&link.id) || state.links.values().any(|l| l.token == link.token) {
            return Err(BackendError::msg("a link with this id or token exists").into());
        }
        state.links.insert(link.id, PublicLink { downloads: 0, ..link.clone() });
        Ok(())
    }

    async fn link_by_token(&self, token: &TokenHash) -> Result<Option<PublicLink>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.links.values().find(|l| l.token == *token).and_then(|l| state.live_link(l)))
    }

    async fn find_link(&self, id: &LinkId) -> Result<Option<PublicLink>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.links.get(id).and_then(|l| state.live_link(l)))
    }

    async fn links_of_media(&self, media: &MediaId) -> Result<Vec<PublicLink>, BackendError> {
        Ok(lock(&self.state)?.live_links(|l| l.media == *media))
    }

    async fn links_of(&self, creator: &UserId, limit: u32) -> Result<Vec<PublicLink>, BackendError> {
        let mut links = lock(&self.state)?.live_links(|l| l.creator == *creator);
        links.truncate(limit as usize);
        Ok(links)
    }

    async fn delete_link(&self, id: &LinkId) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.links.remove(id).is_some())
    }

    async fn count_download(&self, id: &LinkId, now: DateTime<Utc>) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        let allows = state
            .links
            .get(id)
            .and_then(|l| state.live_link(l))
            .is_some_and(|l| !l.guard.expired(now) && !l.exhausted());
        if allows && let Some(link) = state.links.get_mut(id) {
            link.downloads += 1;
        }
        Ok(allows)
    }

    async fn uncount_download(&self, id: &LinkId) -> Result<(), BackendError> {
        if let Some(link) = lock(&self.state)?.links.get_mut(id) {
            link.downloads = link.downloads.saturating_sub(1);
        }
        Ok(())
    }

    async fn insert_drop(&self, drop: &DropLink) -> Result<(), InsertLinkError> {
        let mut state = lock(&self.state)?;
        if !state.users.contains_key(&drop.owner) {
            return Err(InsertLinkError::Gone);
        }
        if state.drops.contains_key(&drop.id) || state.drops.values().any(|d| d.token == drop.token) {
            return Err(BackendError::msg("a drop with this id or token exists").into());
        }
        state.drops.insert(drop.id, DropLink { uploads: 0, bytes: 0, ..drop.clone() });
        Ok(())
    }

    async fn drop_by_token(&self, token: &TokenHash) -> Result<Option<DropLink>, BackendError> {
        Ok(lock(&self.state)?.drops.values().find(|d| d.token == *token).cloned())
    }

    async fn find_drop(&self, id: &DropId) -> Result<Option<DropLink>, BackendError> {
        Ok(lock(&self.state)?.drops.get(id).cloned())
    }

    async fn drops_of(&self, owner: &UserId, limit: u32) -> Result<Vec<DropLink>, BackendError> {
        let state = lock(&self.state)?;
        let mut drops: Vec<_> = state.drops.values().filter(|d| d.owner == *owner).cloned().collect();
        drops.sort_by_key(|d| (d.created_at, d.id));
        drops.truncate(limit as usize);
        Ok(drops)
    }

    async fn delete_drop(&self, id: &DropId) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.drops.remove(id).is_some())
    }

    async fn reserve_upload(
        &self,
        id: &DropId,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(drop) = state.drops.get_mut(id) else { return Ok(false) };
        if drop.guard.expired(now) || drop.would_exceed(bytes) {
            return Ok(false);
        }
        drop.uploads += 1;
        drop.bytes = drop.bytes.saturating_add(bytes);
        Ok(true)
    }

    async fn release_upload(&self, id: &DropId, uploads: u32, bytes: u64) -> Result<(), BackendError> {
        if let Some(drop) = lock(&self.state)?.drops.get_mut(id) {
            drop.uploads = drop.uploads.saturating_sub(uploads);
            drop.bytes = drop.bytes.saturating_sub(bytes);
        }
        Ok(())
    }
}
