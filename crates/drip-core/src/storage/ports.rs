//! Ports of the storage domain: media metadata, object storage and data-key wrapping.

use std::ops::Range;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{
    Allowance, Envelope, FileName, FolderListing, FolderPath, Media, MediaPage, PageRequest, QuotaExceeded,
    QuotaSetting, Share, SharedFile, SortOrder, StorageKey, TrashPage, TrashedMedia, UploadedContent, Usage,
    UsageSort, UserUsage,
};
use crate::accounts::model::Owner;
pub use crate::content::ByteStream;
use crate::content::DataKey;
use crate::error::BackendError;
use crate::ids::{MediaId, UserId};
use crate::jobs::model::NewJob;

/// Why a media could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertMediaError {
    /// The creator already sees a media with the same folder and name (their own, even
    /// one still uploading, or one shared with them).
    #[error("a file with this name already exists in this folder")]
    AlreadyExists,
    /// The creator does not exist.
    #[error("unknown creator")]
    UnknownCreator,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why bytes could not be reserved for an upload.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// The reservation would take the creator past their quota; nothing was reserved.
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
    /// The media is gone or already uploaded (the upload lost its reservation).
    #[error("the upload is gone")]
    Gone,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a media could not be moved or renamed.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// No media has this id.
    #[error("media not found")]
    NotFound,
    /// The creator already sees a media at the target folder and name.
    #[error("a file with this name already exists in the target folder")]
    AlreadyExists,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a folder could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum RelocateFolderError {
    /// The creator already has a media in the target folder or below it.
    #[error("the target folder already holds files")]
    AlreadyExists,
    /// A moved media's folder would be too long or too deep.
    #[error("a moved file's folder would be too long or too deep")]
    TooDeep,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a media's content could not be replaced by a new version's.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceContentError {
    /// The media to replace is gone, trashed, not uploaded, or no longer holds the object
    /// the caller saw (another version replaced it meanwhile): nothing changed.
    #[error("the file changed or went while its new version was uploading")]
    TargetChanged,
    /// The new version's pending record is gone (reclaimed): nothing changed.
    #[error("the new version's upload record is gone")]
    VersionGone,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a share could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AddShareError {
    /// No media has this id.
    #[error("media not found")]
    MediaNotFound,
    /// No user has this id.
    #[error("user not found")]
    UserNotFound,
    /// The media is already shared with the user.
    #[error("already shared with this user")]
    AlreadyShared,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a trashed media could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreMediaError {
    /// No media with this id is in the trash.
    #[error("not in the trash")]
    NotTrashed,
    /// The creator has a media (in any state, the trash aside) at its folder and the name
    /// asked for.
    #[error("a file with this name already exists in this folder")]
    AlreadyExists,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Media metadata, shares and the queries the storage service needs.
///
/// "Visible to a user" means: the user created the media or it is shared with them.
/// Media whose upload has not finished (`uploaded_at` absent) are visible to no query
/// except [`MediaRepository::find`], but still claim their folder and name while their
/// *lease* runs: the uploading node renews it while the upload is under way. A pending
/// media whose lease lapsed (or that has none) is *abandoned*: [`MediaRepository::reclaim`]
/// removes it.
///
/// An uploaded media may be *trashed* ([`MediaRepository::trash`]): from then on it is
/// visible to no query but [`MediaRepository::find`], [`MediaRepository::trashed`] and
/// [`MediaRepository::list_trash`] (not to its creator, not to its sharees, not through
/// its public links, not in folder totals), and it claims no folder and name; its shares
/// and links are kept, suspended, and its size still counts in [`MediaRepository::usage`].
/// [`MediaRepository::restore`] brings all of it back; [`MediaRepository::purge`] (or
/// [`MediaRepository::delete`]) removes it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MediaRepository: Send + Sync + 'static {
    /// Inserts a media record (normally not yet uploaded) and the creator's ownership, in
    /// one transaction; a pending media holds its name until `lease_until` (ignored for an
    /// uploaded one).
    ///
    /// # Errors
    /// - [`InsertMediaError::AlreadyExists`] when the creator already has a media (uploaded
    ///   or not; trashed ones never count) with the same folder and name; of concurrent
    ///   inserts of the same creator, folder and name exactly one wins;
    /// - [`InsertMediaError::UnknownCreator`] when the creator is not a user;
    /// - [`InsertMediaError::Backend`] otherwise.
    async fn insert(&self, media: &Media, lease_until: Option<DateTime<Utc>>)
    -> Result<(), InsertMediaError>;

    /// Reserves `bytes` more of the creator's quota for a pending media (an upload under
    /// way): the creator's stored bytes plus everything reserved stay within their quota
    /// (their own, or `default_quota` when they have none; `None` = no limit), also under
    /// concurrent reservations. The reservation is the media's: it is given back when the
    /// media is marked uploaded (its size counts instead), deleted or reclaimed.
    ///
    /// # Errors
    /// - [`ReserveError::QuotaExceeded`] (with the quota and the bytes taken) when the
    ///   bytes do not fit; nothing is reserved;
    /// - [`ReserveError::Gone`] when the media is unknown or already uploaded;
    /// - [`ReserveError::Backend`] otherwise.
    async fn reserve(&self, id: &MediaId, bytes: u64, default_quota: Option<u64>)
    -> Result<(), ReserveError>;

    /// A user's quota (their own, or `default_quota`) and the bytes they have taken
    /// (stored files, whatever their state, plus reservations); an unknown user has used
    /// nothing.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn allowance(&self, user: &UserId, default_quota: Option<u64>) -> Result<Allowance, BackendError>;

    /// Sets a user's quota; `false` for an unknown user. A quota below what the user
    /// already stores refuses their uploads and keeps their files.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn set_quota(&self, user: &UserId, quota: QuotaSetting) -> Result<bool, BackendError>;

    /// Records that a media's content is stored (its lease ends); answers the updated media.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown id is `Ok(None)`.
    async fn mark_uploaded(
        &self,
        id: &MediaId,
        uploaded: UploadedContent,
    ) -> Result<Option<Media>, BackendError>;

    /// Extends the lease of a pending media to `until`; `false` when the media is gone or
    /// uploaded (the upload lost its reservation).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn renew_lease(&self, id: &MediaId, until: DateTime<Utc>) -> Result<bool, BackendError>;

    /// The abandoned upload — pending, its lease lapsed at `now` or absent — of `creator` at
    /// `folder`/`name`, if there is one.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn abandoned_upload(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
        now: DateTime<Utc>,
    ) -> Result<Option<Media>, BackendError>;

    /// At most `limit` abandoned uploads (pending, lease lapsed at `now` or absent), by id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn abandoned_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Media>, BackendError>;

    /// Removes a media if it is an abandoned upload at `now`, and enqueues `then` (the
    /// removal of what the store holds of it) in the same transaction; answers the removed
    /// media, `None` (and nothing enqueued) when it is not abandoned or gone.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn reclaim(
        &self,
        id: &MediaId,
        now: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError>;

    /// The media with this id whatever its state or owner (for the services' own
    /// bookkeeping, never to answer users directly).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; unknown is `Ok(None)`.
    async fn find(&self, id: &MediaId) -> Result<Option<Media>, BackendError>;

    /// Up to `limit` media `creator` created, in any state (uploads running or abandoned
    /// included), by id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn created_by(&self, creator: &UserId, limit: u32) -> Result<Vec<Media>, BackendError>;

    /// The uploaded media with this id if `user` can see it.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; unknown or invisible is `Ok(None)`.
    async fn find_visible(&self, user: &UserId, id: &MediaId) -> Result<Option<Media>, BackendError>;

    /// The uploaded media visible to `user` directly in `folder` (one page in the page's
    /// [`ListingOrder`](super::model::ListingOrder): its key, then name, then id, all in its
    /// direction; exact folder match), and, on the first page, every immediate subfolder of
    /// `folder` that holds visible media anywhere below it, by name, with the recursive
    /// count and total size. Prefixes match whole segments (`$/a` never matches `$/ab`)
    /// and `%`/`_` are literal characters. An unknown folder is an empty listing.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError>;

    /// One page of the uploaded media visible to `user`, in the page's order (by name then
    /// id unless it asks otherwise); with `under`, only those in that folder or below it.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_visible<'a>(
        &self,
        user: &UserId,
        under: Option<&'a FolderPath>,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError>;

    /// The media `creator` has at `folder`/`name` (in any state; trashed ones never), if any.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn find_named(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Option<Media>, BackendError>;

    /// Makes `version` (a pending media of the same creator whose object now holds the
    /// content `uploaded`) the new content of `target`, an uploaded media outside the trash
    /// whose object is still `expected`: `target` keeps its id, name, folder, shares, links,
    /// metadata and creation time and takes `version`'s object, envelope and content type
    /// with `uploaded` (`updated_at` its upload time); `version`'s record goes (its
    /// reservation given back); the creator's usage and every viewer's folder totals change
    /// by the difference in size; `then` (the removal of the old object) is enqueued — all
    /// in one transaction. Answers the updated `target`.
    ///
    /// # Errors
    /// - [`ReplaceContentError::TargetChanged`] when `target` is unknown, pending, trashed,
    ///   another creator's, or its object is no longer `expected`;
    /// - [`ReplaceContentError::VersionGone`] when `version` is no pending media;
    /// - [`ReplaceContentError::Backend`] otherwise. Nothing changes on an error.
    async fn replace_content(
        &self,
        target: &MediaId,
        expected: &StorageKey,
        version: &MediaId,
        uploaded: UploadedContent,
        then: &NewJob,
    ) -> Result<Media, ReplaceContentError>;

    /// Moves and/or renames a media (whatever its state), setting `updated_at = at`;
    /// answers the updated media.
    ///
    /// # Errors
    /// - [`RelocateError::NotFound`] for an unknown id;
    /// - [`RelocateError::AlreadyExists`] when the creator already has another media at
    ///   the target folder and name (including the media itself when neither changes;
    ///   trashed ones never count);
    /// - [`RelocateError::Backend`] otherwise.
    async fn relocate(
        &self,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RelocateError>;

    /// Moves every media `creator` created in `from` or below it, whatever its state
    /// (trashed ones excepted: they stay where they were trashed from, to be restored
    /// there), to the same place below `to` (`from/x/f` to `to/x/f`), with their shares and
    /// every viewer's folder totals, setting `updated_at = at`, in one transaction: all of
    /// them move or none does. Answers how many moved (0 when `creator` has none there).
    /// The caller ensures `from` is not `$` and `to` is not `from` or below it.
    ///
    /// # Errors
    /// - [`RelocateFolderError::AlreadyExists`] when `creator` has a media (not trashed)
    ///   in `to` or below it;
    /// - [`RelocateFolderError::TooDeep`] when a moved media's folder would be too long or
    ///   too deep for a [`FolderPath`];
    /// - [`RelocateFolderError::Backend`] otherwise.
    async fn relocate_folder(
        &self,
        creator: &UserId,
        from: &FolderPath,
        to: &FolderPath,
        at: DateTime<Utc>,
    ) -> Result<u64, RelocateFolderError>;

    /// Replaces a media's encryption envelope (master-key rotation).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; unknown id is `Ok(false)`.
    async fn update_envelope(
        &self,
        id: &MediaId,
        envelope: &Envelope,
        at: DateTime<Utc>,
    ) -> Result<bool, BackendError>;

    /// Deletes a media (whatever its state, trashed too) and, with it, all its shares, and
    /// enqueues `then` (the removal of its object) in the same transaction: either both
    /// happen or neither does. Answers the deleted media.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; unknown id is `Ok(None)` and
    /// enqueues nothing.
    async fn delete(&self, id: &MediaId, then: &NewJob) -> Result<Option<Media>, BackendError>;

    // --- The trash -----------------------------------------------------------------------

    /// Moves an uploaded media to its creator's trash at `at`, to be purged at `purge_at`,
    /// and enqueues `then` (the purge job) in the same transaction. From then on it is
    /// hidden and frees its name (see the trait's docs); its shares, links and usage stay.
    /// Answers it as trashed; `None` (and nothing enqueued) when it is unknown, pending or
    /// already trashed.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn trash(
        &self,
        id: &MediaId,
        at: DateTime<Utc>,
        purge_at: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<TrashedMedia>, BackendError>;

    /// Takes a trashed media out of the trash, back into its folder under `name` (its own
    /// or another), with its shares and public links, setting `updated_at = at`; answers
    /// the restored media.
    ///
    /// # Errors
    /// - [`RestoreMediaError::NotTrashed`] when no media with this id is trashed;
    /// - [`RestoreMediaError::AlreadyExists`] when the creator has a media (any state, the
    ///   trash aside) at its folder and `name`; of concurrent restores (or inserts, moves)
    ///   onto one folder and name exactly one wins;
    /// - [`RestoreMediaError::Backend`] otherwise.
    async fn restore(
        &self,
        id: &MediaId,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RestoreMediaError>;

    /// The media `id` if it is in `creator`'s trash.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; not trashed, or another's, is `Ok(None)`.
    async fn trashed(&self, creator: &UserId, id: &MediaId) -> Result<Option<TrashedMedia>, BackendError>;

    /// One page of `creator`'s trash, by name then id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_trash(&self, creator: &UserId, page: &PageRequest) -> Result<TrashPage, BackendError>;

    /// Removes a trashed media as [`MediaRepository::delete`] does (its row, shares and
    /// links go, its usage is given back) and enqueues `then` (the removal of its object)
    /// in the same transaction — only while it is trashed and, with `due_by`, only when its
    /// purge time is at or before `due_by` (so a purge job left by an earlier trashing is
    /// void after a restore). Answers the purged media; `None` (and nothing enqueued)
    /// otherwise.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn purge(
        &self,
        id: &MediaId,
        due_by: Option<DateTime<Utc>>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError>;

    // --- Shares ----------------------------------------------------------------------------

    /// Shares a media with a user.
    ///
    /// # Errors
    /// - [`AddShareError::MediaNotFound`] / [`AddShareError::UserNotFound`] for unknown ids;
    /// - [`AddShareError::AlreadyShared`] when the user already has it (also when they are
    ///   its creator); of concurrent identical shares exactly one wins;
    /// - [`AddShareError::Backend`] otherwise.
    async fn add_share(
        &self,
        media: &MediaId,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> Result<Share, AddShareError>;

    /// Removes a share; answers whether there was one. The creator's own ownership is
    /// never removed this way.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn remove_share(&self, media: &MediaId, user: &UserId) -> Result<bool, BackendError>;

    /// The users a media is shared with (not its creator), by username.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_shares(&self, media: &MediaId) -> Result<Vec<Share>, BackendError>;

    /// The uploaded media `creator` shares (not trashed), one entry per file and sharee:
    /// by file name, then file id, then the sharee's id; at most `limit` entries.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn shared_by(&self, creator: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError>;

    /// The uploaded media shared with `user` (not trashed), each with its creator: by file
    /// name, then file id; at most `limit`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn shared_with(&self, user: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError>;

    /// The users `user` shares media with and those who share media with `user`, each
    /// once (never `user`), the one of the latest share between the two first (then by
    /// username, then id), at most `limit`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn share_partners(&self, user: &UserId, limit: u32) -> Result<Vec<Owner>, BackendError>;

    /// Count and bytes of the uploaded media `user` created.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn usage(&self, user: &UserId) -> Result<Usage, BackendError>;

    /// Users ranked by usage (users without files count 0); ties broken by username then
    /// id; at most `limit` rows.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn top_users(
        &self,
        sort: UsageSort,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<UserUsage>, BackendError>;

    /// Ids of media whose data key is wrapped with a master key other than `key_id`
    /// (at most `limit`, for re-wrapping in batches).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn media_not_wrapped_with(&self, key_id: &str, limit: u32) -> Result<Vec<MediaId>, BackendError>;
}

/// Why an object-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under the key.
    #[error("object not found: {0}")]
    NotFound(String),
    /// An object exists where none was expected.
    #[error("object already exists: {0}")]
    AlreadyExists(String),
    /// The key or range cannot be served (e.g. a key escaping the store's root, a range
    /// beyond the end).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The content stream handed to `put` failed; nothing was stored.
    #[error("input stream failed")]
    Input(#[source] std::io::Error),
    /// The store is unreachable or overloaded (after retries), or refuses to serve this
    /// process (permission denied, a read-only file system): nothing a user can fix,
    /// something to retry later.
    #[error("storage unavailable")]
    Unavailable(#[source] BackendError),
    /// The store has no space left (a full disk, a quota).
    #[error("storage full")]
    Full(#[source] BackendError),
    /// Any other failure.
    #[error(transparent)]
    Other(#[from] BackendError),
}

/// Object storage of ciphertext under storage keys (GCS, local disk, memory).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StorageProvider: Send + Sync + std::fmt::Debug + 'static {
    /// Stores the whole stream under `key`, replacing any object there; answers the number
    /// of bytes written. Either the whole content is stored and visible at once, or
    /// nothing is (no partial object, no stray multipart parts), also when the input
    /// stream fails or the future is dropped.
    ///
    /// # Errors
    /// [`StorageError::Input`] when `content` yields an error (nothing stored);
    /// [`StorageError::Invalid`] for a key the store cannot hold;
    /// [`StorageError::Unavailable`] / [`StorageError::Other`] for store failures.
    async fn put(&self, key: &StorageKey, content: ByteStream) -> Result<u64, StorageError>;

    /// Streams the object under `key`, or the bytes `range` of it.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] for a missing object; [`StorageError::Invalid`] for a
    /// range starting beyond the end (a range ending beyond the end is cut at the end);
    /// [`StorageError::Unavailable`] / [`StorageError::Other`] for store failures. Errors
    /// after the stream started arrive as stream items.
    async fn get(&self, key: &StorageKey, range: Option<Range<u64>>) -> Result<ByteStream, StorageError>;

    /// Size in bytes of the object under `key`, `None` if there is none.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] / [`StorageError::Other`] for store failures.
    async fn size(&self, key: &StorageKey) -> Result<Option<u64>, StorageError>;

    /// Deletes the object under `key`.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when there is none; [`StorageError::Unavailable`] /
    /// [`StorageError::Other`] for store failures.
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError>;

    /// Removes what unfinished uploads of `key` left in the store (staging files, parts) —
    /// for an upload whose process died, never one under way (the caller knows it is
    /// abandoned). A store where nothing outlives a dropped `put` has nothing to remove.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] / [`StorageError::Other`] for store failures.
    async fn remove_unfinished(&self, key: &StorageKey) -> Result<(), StorageError>;

    /// Waits until every upload this provider began has ended — completed, failed or
    /// aborted. A `put` dropped mid-way may abort what it began in the background (e.g. a
    /// multipart upload); once this returns, nothing of it is left. Providers that leave
    /// nothing running in the background answer at once.
    async fn settled(&self) {}
}

/// A data key wrapped by a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which master key wrapped it.
    pub key_id: String,
    /// The wrapped bytes.
    pub bytes: Vec<u8>,
}

/// Why wrapping or unwrapping a data key failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No master key with this id is configured.
    #[error("unknown master key {0:?}")]
    UnknownKey(String),
    /// The wrapped key fails authentication (tampered, or wrapped by another key).
    #[error("wrapped data key failed authentication")]
    Integrity,
    /// Infrastructure failure (e.g. a remote KMS).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Wraps per-media data keys with a master key (envelope encryption).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait KeyWrapper: Send + Sync + 'static {
    /// Id of the master key new data keys are wrapped with.
    fn current_key_id(&self) -> String;

    /// Wraps a data key with the current master key.
    ///
    /// # Errors
    /// [`KeyError::Backend`] when wrapping cannot run.
    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, KeyError>;

    /// Unwraps a data key with the master key named in `wrapped`.
    ///
    /// # Errors
    /// [`KeyError::UnknownKey`] when that master key is not configured;
    /// [`KeyError::Integrity`] when the bytes do not authenticate.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, KeyError>;
}
