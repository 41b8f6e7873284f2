//! The link repository port: public links and drop links, looked up by token hash, with
//! their counters changed atomically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{DropLink, PublicLink, TokenHash};
use crate::error::BackendError;
use crate::ids::{DropId, LinkId, MediaId, UserId};

/// Why a link could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertLinkError {
    /// The file (or, for a drop, the owner) does not exist any more.
    #[error("the link's file or owner does not exist")]
    Gone,
    /// Infrastructure failure (an existing id or token hash included).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Public links to files and drop links to folders.
///
/// A public link lives as long as its file: deleting the media deletes its links, and a
/// link whose media is not uploaded is found by no query. A drop link lives as long as its
/// owner. Every list is ordered by creation time then id, newest last.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LinkRepository: Send + Sync + 'static {
    /// Stores a new public link (its `file_name` and `downloads` are ignored: the media's
    /// name is read with the link, and a new link counts 0 downloads).
    ///
    /// # Errors
    /// [`InsertLinkError::Gone`] when the media is unknown; [`InsertLinkError::Backend`]
    /// otherwise.
    async fn insert_link(&self, link: &PublicLink) -> Result<(), InsertLinkError>;

    /// The link whose token has this hash, if its media is uploaded.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn link_by_token(&self, token: &TokenHash) -> Result<Option<PublicLink>, BackendError>;

    /// The link with this id, if its media is uploaded.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn find_link(&self, id: &LinkId) -> Result<Option<PublicLink>, BackendError>;

    /// The links to a media.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn links_of_media(&self, media: &MediaId) -> Result<Vec<PublicLink>, BackendError>;

    /// At most `limit` links `creator` made, to any of their uploaded media.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn links_of(&self, creator: &UserId, limit: u32) -> Result<Vec<PublicLink>, BackendError>;

    /// Deletes a link; whether there was one.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn delete_link(&self, id: &LinkId) -> Result<bool, BackendError>;

    /// Counts one download of a link, if it still allows one at `now`: not expired (its
    /// `expires_at` after `now`), under its `max_downloads`, its media uploaded. Atomic:
    /// of concurrent counts on a link allowing `n` more, exactly `n` succeed.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; a link that allows none (or is gone)
    /// is `Ok(false)`.
    async fn count_download(&self, id: &LinkId, now: DateTime<Utc>) -> Result<bool, BackendError>;

    /// Gives back a download counted by [`LinkRepository::count_download`] that did not
    /// complete (never below 0; a link gone is no error).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn uncount_download(&self, id: &LinkId) -> Result<(), BackendError>;

    /// Stores a new drop link (its `uploads` and `bytes` are ignored: a new drop counts 0).
    ///
    /// # Errors
    /// [`InsertLinkError::Gone`] when the owner is unknown; [`InsertLinkError::Backend`]
    /// otherwise.
    async fn insert_drop(&self, drop: &DropLink) -> Result<(), InsertLinkError>;

    /// The drop whose token has this hash.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn drop_by_token(&self, token: &TokenHash) -> Result<Option<DropLink>, BackendError>;

    /// The drop with this id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn find_drop(&self, id: &DropId) -> Result<Option<DropLink>, BackendError>;

    /// At most `limit` drops `owner` made.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn drops_of(&self, owner: &UserId, limit: u32) -> Result<Vec<DropLink>, BackendError>;

    /// Deletes a drop; whether there was one.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn delete_drop(&self, id: &DropId) -> Result<bool, BackendError>;

    /// Reserves one upload of `bytes` bytes on a drop, if it still accepts one at `now`:
    /// not expired, its uploads under `max_uploads`, its bytes plus `bytes` within
    /// `max_bytes`. Atomic: concurrent reservations never pass a limit together.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; a drop that accepts no such upload
    /// (or is gone) is `Ok(false)`.
    async fn reserve_upload(&self, id: &DropId, bytes: u64, now: DateTime<Utc>)
    -> Result<bool, BackendError>;

    /// Gives back `uploads` uploads and `bytes` bytes of reservations of
    /// [`LinkRepository::reserve_upload`]: a failed upload gives back its whole
    /// reservation, a stored one what it reserved beyond its size (counters never go below
    /// 0; a drop gone is no error).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn release_upload(&self, id: &DropId, uploads: u32, bytes: u64) -> Result<(), BackendError>;
}
