//! `StorageService`: store, download, list, share, move, rename, delete, usage, search —
//! with visibility and creator-only rules enforced here.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use bytes::BytesMut;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use super::error::{
    ChangeError, DeleteFolderError, DownloadError, LookupError, MoveFolderError, PurgeError, QuotaError,
    RestoreError, ShareError, StoreError, VersionError,
};
use super::model::{
    Allowance, ContentType, Envelope, FileName, FolderListing, FolderPath, MAX_SHARE_PARTNERS,
    MAX_SHARED_FILES, MAX_TOP_USERS, Media, MediaPage, MediaParts, PageRequest, QuotaSetting, Share,
    SharedFile, SortOrder, StorageKey, TrashPage, UploadedContent, Usage, UsageSort, UserUsage,
};
use super::ports::{
    AddShareError, ByteStream, InsertMediaError, KeyWrapper, MediaRepository, RelocateError,
    RelocateFolderError, ReplaceContentError, ReserveError, RestoreMediaError, StorageError, StorageProvider,
    WrappedKey,
};
use super::search::SearchCache;
use crate::accounts::model::{Owner, Username};
use crate::accounts::ports::AccountRepository;
use crate::clock::{Clock, ClockExt};
use crate::content::{self, ContentCache, ContentError, DataKey, DecryptSpec};
use crate::error::BackendError;
use crate::events::{Event, Notifier};
use crate::ids::{MediaId, UserId};
use crate::jobs::model::Task;
use crate::jobs::runner::{JobWaker, due_now, later};

/// How long a deleted file stays in the trash by default: 30 days.
pub const DEFAULT_TRASH_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Tunables of the storage service.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Plaintext bytes per encrypted chunk.
    pub chunk_size: u32,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Transfers (uploads and downloads) running at once.
    pub max_concurrent_transfers: usize,
    /// How long a transfer waits for a free slot before answering busy.
    pub transfer_wait: Duration,
    /// Sliding expiry of cached content.
    pub cache_ttl: Duration,
    /// Total bytes of cached content.
    pub cache_max_bytes: u64,
    /// Largest file whose content is cached.
    pub cache_max_entry_bytes: u64,
    /// Files searched at once.
    pub search_concurrency: usize,
    /// Time allowed to search one file.
    pub search_timeout: Duration,
    /// How long a search result per (file, expression) is reused.
    pub search_cache_ttl: Duration,
    /// Recompute the whole file's SHA-256 on full downloads and hold the last chunk back
    /// until it matches. Off by default: every chunk is already authenticated by the AEAD
    /// (tag, counter and last flag against the recorded size), and the digest check caps a
    /// download at SHA-256's speed (see docs/decisions/0002).
    pub verify_digest_on_download: bool,
    /// How long a pending upload holds its name without a renewal: a node that dies
    /// mid-upload frees the name this long after its last renewal.
    pub upload_lease: Duration,
    /// How often an upload under way renews its lease (well below `upload_lease`).
    pub lease_renewal: Duration,
    /// Quota of users who have none of their own, in bytes; `None`: no limit.
    pub default_quota: Option<u64>,
    /// How long a deleted file stays in its creator's trash before it is purged; `None`:
    /// there is no trash and a delete is permanent.
    pub trash_retention: Option<Duration>,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            chunk_size: content::DEFAULT_CHUNK_SIZE,
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            max_concurrent_transfers: 64,
            transfer_wait: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(60),
            cache_max_bytes: 64 * 1024 * 1024,
            cache_max_entry_bytes: 1024 * 1024,
            search_concurrency: 4,
            search_timeout: Duration::from_secs(10),
            search_cache_ttl: Duration::from_secs(60),
            upload_lease: Duration::from_secs(30),
            lease_renewal: Duration::from_secs(10),
            verify_digest_on_download: false,
            default_quota: None,
            trash_retention: Some(DEFAULT_TRASH_RETENTION),
        }
    }
}

/// The ports the storage service runs on.
#[derive(Clone)]
pub struct StoragePorts {
    /// Media metadata and shares.
    pub media: Arc<dyn MediaRepository>,
    /// Users (to resolve sharees).
    pub accounts: Arc<dyn AccountRepository>,
    /// Object storage of ciphertext.
    pub storage: Arc<dyn StorageProvider>,
    /// Data-key wrapping.
    pub keys: Arc<dyn KeyWrapper>,
    /// Per-user events.
    pub notifier: Arc<dyn Notifier>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

/// The intent to store a file.
pub struct StoreRequest {
    /// Who uploads it (becomes the creator).
    pub user: UserId,
    /// The file name.
    pub name: FileName,
    /// The folder to put it in.
    pub folder: FolderPath,
    /// The MIME type; guessed from the name when absent.
    pub content_type: Option<ContentType>,
    /// The content's length, or a bound of it, when the client announced one
    /// (`Content-Length`): reserved from the quota before the first byte is read (what the
    /// file does not use goes back when it is stored). Without it, quota is reserved in
    /// steps as the bytes come.
    pub length: Option<u64>,
    /// The plaintext.
    pub content: ByteStream,
}

/// The content of a new version of a file.
pub struct VersionUpload {
    /// Its declared content type (`None`: guessed from the file's name).
    pub content_type: Option<ContentType>,
    /// Its length when known ahead (`Content-Length`): checked against the limits first.
    pub length: Option<u64>,
    /// The bytes, as a stream.
    pub content: ByteStream,
}

impl std::fmt::Debug for StoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRequest")
            .field("user", &self.user)
            .field("name", &self.name)
            .field("folder", &self.folder)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// A download under way: the media and its (verified) plaintext.
pub struct Download {
    /// The file.
    pub media: Media,
    /// The bytes being delivered (a sub-range when one was asked for).
    pub range: Range<u64>,
    /// The plaintext; integrity or storage failures arrive as stream errors.
    pub content: ByteStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("media", &self.media)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// An object encrypted with the content pipeline, as [`StorageService::download_object`]
/// reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredObject<'a> {
    /// Where its ciphertext lives.
    pub(crate) key: &'a StorageKey,
    /// How it is encrypted.
    pub(crate) envelope: &'a Envelope,
    /// Its plaintext size.
    pub(crate) size: u64,
    /// The plaintext's SHA-256 to check on a whole read, if it should be checked.
    pub(crate) digest: Option<content::Digest>,
}

/// What a user shares and what is shared with them (see
/// [`StorageService::sharing_overview`]).
#[derive(Debug, Clone)]
pub struct SharingOverview {
    /// Their shared files, once per sharee (`with` the sharee).
    pub outgoing: Vec<SharedFile>,
    /// The files shared with them (`with` the creator).
    pub incoming: Vec<SharedFile>,
    /// Whether either list had more than it holds.
    pub truncated: bool,
}

/// What a folder delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderDeleted {
    /// The user's files that went (to the trash, or for good without one).
    pub deleted: u64,
    /// Files shared with the user that stayed (only their creators delete them).
    pub kept: u64,
}

/// The storage use cases.
#[derive(Clone)]
pub struct StorageService {
    pub(super) ports: StoragePorts,
    pub(super) settings: StorageSettings,
    pub(super) cache: Arc<ContentCache>,
    pub(super) search_cache: Arc<SearchCache>,
    transfers: Arc<Semaphore>,
    cleanups: TaskTracker,
    jobs: JobWaker,
}

impl std::fmt::Debug for StorageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl StorageService {
    /// A service over `ports`.
    #[must_use]
    pub fn new(ports: StoragePorts, settings: StorageSettings) -> Self {
        let cache =
            ContentCache::new(settings.cache_ttl, settings.cache_max_bytes, settings.cache_max_entry_bytes);
        Self {
            cache: Arc::new(cache),
            search_cache: Arc::new(SearchCache::new(settings.search_cache_ttl)),
            transfers: Arc::new(Semaphore::new(settings.max_concurrent_transfers.max(1))),
            cleanups: TaskTracker::new(),
            jobs: JobWaker::default(),
            ports,
            settings,
        }
    }

    /// The same service, waking `jobs` whenever it enqueues a job (an object to delete).
    #[must_use]
    pub fn with_job_waker(mut self, jobs: JobWaker) -> Self {
        self.jobs = jobs;
        self
    }

    /// The content cache (for metrics).
    #[must_use]
    pub fn cache(&self) -> &ContentCache {
        &self.cache
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &StorageSettings {
        &self.settings
    }

    /// Transfers running now.
    #[must_use]
    pub fn transfers_in_flight(&self) -> usize {
        self.settings.max_concurrent_transfers.max(1) - self.transfers.available_permits()
    }

    /// Waits until the removals started for cancelled uploads have finished: a dropped
    /// [`store`](Self::store) future removes what it reserved on a spawned task, which the
    /// runtime must outlive, and the storage provider may abort what the upload began in
    /// the background ([`StorageProvider::settled`]). For shutdown, once no request runs
    /// any more.
    pub async fn cleanups_finished(&self) {
        self.cleanups.close();
        self.cleanups.wait().await;
        self.ports.storage.settled().await;
    }

    pub(crate) async fn transfer_slot(&self) -> Option<OwnedSemaphorePermit> {
        let acquire = Arc::clone(&self.transfers).acquire_owned();
        tokio::time::timeout(self.settings.transfer_wait, acquire).await.ok()?.ok()
    }

    /// Stores a file: reserves its name, streams the content through hashing and
    /// encryption into the object store, then marks it uploaded and notifies the user.
    /// A failure at any point (or dropping the future) removes the metadata and object.
    ///
    /// # Errors
    /// See [`StoreError`].
    pub async fn store(&self, request: StoreRequest) -> Result<Media, StoreError> {
        self.store_named(request, Naming::Exact).await
    }

    /// Stores a file like [`store`](Self::store), but under a free name when the one asked
    /// for is taken: `report.pdf`, then `report (1).pdf`, `report (2).pdf`, ... — a taken
    /// name is never overwritten. For uploads from people who cannot see the folder (drop
    /// links).
    ///
    /// # Errors
    /// See [`StoreError`]; [`StoreError::AlreadyExists`] only when no free name was found.
    pub(crate) async fn store_under_free_name(&self, request: StoreRequest) -> Result<Media, StoreError> {
        self.store_named(request, Naming::FirstFree).await
    }

    async fn store_named(&self, request: StoreRequest, naming: Naming) -> Result<Media, StoreError> {
        let StoreRequest { user, name, folder, content_type, length, content } = request;
        if length.is_some_and(|l| l > self.settings.max_upload_bytes) {
            return Err(StoreError::TooLarge { limit: self.settings.max_upload_bytes });
        }
        let _slot = self.transfer_slot().await.ok_or(StoreError::Busy)?;
        let (reserved, data_key) = match naming {
            Naming::Exact => {
                let lease_until = later(self.ports.clock.now(), self.settings.upload_lease);
                self.reserve(user, name, folder, content_type, lease_until).await?
            }
            Naming::FirstFree => self.reserve_free_name(user, &name, folder, content_type).await?,
        };
        let announce = match naming {
            Naming::Exact => upload_event,
            Naming::FirstFree => drop_event,
        };
        self.receive(
            &reserved,
            &data_key,
            length,
            content,
            async |uploaded| self.finish(&reserved, uploaded).await,
            announce,
        )
        .await
    }

    /// Stores a new version of one of the user's files: the content is uploaded as a
    /// pending record of its own (holding its quota, removed on failure, reclaimed after a
    /// crash), then takes the file's place in one step — the file keeps its id, name,
    /// folder, shares and public links; its old content goes by a job. Readers of the
    /// file see the old content or the new, never a mix.
    ///
    /// # Errors
    /// See [`VersionError`]: [`VersionError::Changed`] when another version (or a delete)
    /// came first while this one uploaded.
    pub async fn store_version(
        &self,
        user: &UserId,
        id: &MediaId,
        upload: VersionUpload,
    ) -> Result<Media, VersionError> {
        let target = self.ports.media.find_visible(user, id).await?.ok_or(VersionError::NotFound)?;
        if target.creator() != *user {
            return Err(VersionError::Forbidden);
        }
        self.land_version(target, upload).await
    }

    /// Stores a file, or a new version of the file of that name when the user has one
    /// there (see [`store_version`](Self::store_version)): an upload that replaces. Answers
    /// the file and whether it was one already.
    ///
    /// # Errors
    /// See [`VersionError`]; [`StoreError::AlreadyExists`] when the name is held by an
    /// upload still under way.
    pub async fn store_or_replace(&self, request: StoreRequest) -> Result<(Media, bool), VersionError> {
        let existing = self.ports.media.find_named(&request.user, &request.folder, &request.name).await?;
        match existing {
            Some(target) if target.uploaded().is_some() => {
                let StoreRequest { content_type, length, content, .. } = request;
                let upload = VersionUpload { content_type, length, content };
                Ok((self.land_version(target, upload).await?, true))
            }
            Some(_) => Err(StoreError::AlreadyExists.into()),
            None => Ok((self.store(request).await?, false)),
        }
    }

    async fn land_version(&self, target: Media, upload: VersionUpload) -> Result<Media, VersionError> {
        let VersionUpload { content_type, length, content } = upload;
        if length.is_some_and(|l| l > self.settings.max_upload_bytes) {
            return Err(StoreError::TooLarge { limit: self.settings.max_upload_bytes }.into());
        }
        let _slot = self.transfer_slot().await.ok_or(StoreError::Busy)?;
        // A record of its own in the file's folder, under a name nobody types: pending, it
        // is in no listing, and it holds the new object until it takes the file's place.
        let name = FileName::parse(&format!(".drip-version-{}", self.ports.clock.new_media_id()))
            .map_err(|e| BackendError::new("a version's name", e))?;
        let content_type = Some(content_type.unwrap_or_else(|| ContentType::guess(target.name())));
        let lease_until = later(self.ports.clock.now(), self.settings.upload_lease);
        let (version, data_key) =
            self.reserve(target.creator(), name, target.folder().clone(), content_type, lease_until).await?;
        let land = async |uploaded| self.take_place(&target, &version, uploaded).await;
        self.receive(&version, &data_key, length, content, land, upload_event).await
    }

    /// Receives the content of `reserved` (quota as it comes, the lease renewed), then
    /// `land`s it (as the file it was reserved as, or as another file's new content) and
    /// tells the creator `announce`; on any failure the reserved record and its object go.
    async fn receive<E: From<StoreError>>(
        &self,
        reserved: &Media,
        data_key: &DataKey,
        length: Option<u64>,
        content: ByteStream,
        land: impl AsyncFnOnce(UploadedContent) -> Result<Media, E>,
        announce: fn(&Media) -> Event,
    ) -> Result<Media, E> {
        let mut cleanup = Cleanup::armed(self, reserved);
        let quota = Quota::new(self, reserved);
        let stored = async {
            let ahead = length.unwrap_or(0);
            if ahead > 0 {
                quota.reserve(ahead).await?;
            }
            let (content, progress) = Progress::watch(quota.meter(content, ahead));
            let upload = self.upload(reserved.storage_key(), data_key, content);
            let uploaded = self.holding_lease(reserved, &progress, upload).await;
            let uploaded = quota.explain(uploaded)?;
            land(uploaded).await
        };
        match stored.await {
            Ok(stored) => {
                cleanup.disarm();
                self.notify(&stored.creator(), announce(&stored)).await;
                Ok(stored)
            }
            Err(e) => {
                cleanup.run().await;
                Err(e)
            }
        }
    }

    /// The uploaded `version` becomes `target`'s content; the old object goes by a job.
    async fn take_place(
        &self,
        target: &Media,
        version: &Media,
        uploaded: UploadedContent,
    ) -> Result<Media, VersionError> {
        // Downloads of the old content already under way may finish: its object goes later.
        let mut old = due_now(&*self.ports.clock, Task::DeleteObject { key: target.storage_key().clone() });
        old.run_at = later(old.run_at, OLD_VERSION_GRACE);
        let replaced = self
            .ports
            .media
            .replace_content(&target.id(), target.storage_key(), &version.id(), uploaded, &old)
            .await
            .map_err(|e| match e {
                ReplaceContentError::TargetChanged => VersionError::Changed,
                ReplaceContentError::VersionGone => VersionError::Backend(BackendError::msg(
                    "the new version's record vanished during upload",
                )),
                ReplaceContentError::Backend(b) => VersionError::Backend(b),
            })?;
        self.jobs.wake();
        self.cache.evict(&target.id());
        self.search_cache.evict(&target.id());
        Ok(replaced)
    }

    /// Reserves the first free name of `name`, `name (1)`, `name (2)`, ... (the suffix goes
    /// before the extension).
    async fn reserve_free_name(
        &self,
        creator: UserId,
        name: &FileName,
        folder: FolderPath,
        content_type: Option<ContentType>,
    ) -> Result<(Media, DataKey), StoreError> {
        /// Names tried before giving up: a folder with a hundred copies of one name is
        /// someone flooding it.
        const ATTEMPTS: u32 = 100;
        let content_type = content_type.unwrap_or_else(|| ContentType::guess(name));
        let lease_until = later(self.ports.clock.now(), self.settings.upload_lease);
        for n in 0..ATTEMPTS {
            let Some(candidate) = name.numbered(n) else { break };
            match self
                .reserve(creator, candidate, folder.clone(), Some(content_type.clone()), lease_until)
                .await
            {
                Err(StoreError::AlreadyExists) => {}
                reserved => return reserved,
            }
        }
        Err(StoreError::AlreadyExists)
    }

    /// A fresh data key and the envelope that holds it wrapped.
    pub(crate) async fn new_data_key(&self) -> Result<(DataKey, Envelope), BackendError> {
        let data_key = DataKey::generate();
        let wrapped = self
            .ports
            .keys
            .wrap(&data_key)
            .await
            .map_err(|e| BackendError::new("wrapping the data key", e))?;
        let envelope =
            Envelope::new(content::ALGORITHM, self.settings.chunk_size, &wrapped.key_id, wrapped.bytes)
                .map_err(|e| BackendError::new("building the envelope", e))?;
        Ok((data_key, envelope))
    }

    /// Inserts the record of a file whose content is not stored yet (so its name is
    /// taken until `lease_until`, or longer while it is renewed), with a fresh data key
    /// wrapped into its envelope.
    async fn reserve(
        &self,
        creator: UserId,
        name: FileName,
        folder: FolderPath,
        content_type: Option<ContentType>,
        lease_until: DateTime<Utc>,
    ) -> Result<(Media, DataKey), StoreError> {
        let now = self.ports.clock.now();
        let id = self.ports.clock.new_media_id();
        let (data_key, envelope) = self.new_data_key().await?;
        let media = Media::from_parts(MediaParts {
            id,
            creator,
            storage_key: StorageKey::new(id, now, &name),
            content_type: content_type.unwrap_or_else(|| ContentType::guess(&name)),
            name,
            folder,
            envelope,
            metadata: serde_json::Map::new(),
            uploaded: None,
            created_at: now,
            updated_at: now,
        });
        let lease_until = Some(lease_until);
        let inserted = match self.ports.media.insert(&media, lease_until).await {
            // An abandoned upload (its node died) never blocks the name: take it over.
            Err(InsertMediaError::AlreadyExists) if self.reclaim_name(&media, now).await? => {
                self.ports.media.insert(&media, lease_until).await
            }
            inserted => inserted,
        };
        inserted.map_err(|e| match e {
            InsertMediaError::AlreadyExists => StoreError::AlreadyExists,
            InsertMediaError::UnknownCreator => StoreError::UnknownUser,
            InsertMediaError::Backend(b) => StoreError::Backend(b),
        })?;
        Ok((media, data_key))
    }

    /// Reclaims the abandoned upload holding `media`'s name, if there is one (its object
    /// goes by a job); whether one was reclaimed.
    async fn reclaim_name(&self, media: &Media, now: DateTime<Utc>) -> Result<bool, BackendError> {
        let repository = &self.ports.media;
        let Some(abandoned) =
            repository.abandoned_upload(&media.creator(), media.folder(), media.name(), now).await?
        else {
            return Ok(false);
        };
        Ok(reclaim(&**repository, &*self.ports.clock, &self.jobs, &abandoned, now).await?.is_some())
    }

    /// Reclaims every upload abandoned at the clock's now (their nodes died: no renewal
    /// within the lease): their records go, their objects and parts by jobs. Answers how
    /// many were reclaimed. For a periodic sweep.
    ///
    /// # Errors
    /// [`BackendError`] when the repository fails.
    pub async fn reclaim_abandoned(&self) -> Result<usize, BackendError> {
        const BATCH: u32 = 100;
        let mut reclaimed = 0;
        loop {
            let now = self.ports.clock.now();
            let abandoned = self.ports.media.abandoned_uploads(now, BATCH).await?;
            for media in &abandoned {
                if reclaim(&*self.ports.media, &*self.ports.clock, &self.jobs, media, now).await?.is_some() {
                    reclaimed += 1;
                }
            }
            if abandoned.len() < BATCH as usize {
                return Ok(reclaimed);
            }
        }
    }

    /// Runs `upload` while renewing the reservation's lease every
    /// [`StorageSettings::lease_renewal`] in which bytes flowed (or after the input ended,
    /// while the store finishes): a client that stalls for a whole lease loses the name. An
    /// upload whose reservation was lost (taken over after a lapse) fails.
    async fn holding_lease<T>(
        &self,
        reserved: &Media,
        progress: &Progress,
        upload: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let renewals = async {
            // Bytes the pipeline read before this loop first ran count as flow too: an
            // upload whose first (or only) chunk came at once still renews.
            let mut seen = 0;
            loop {
                tokio::time::sleep(self.settings.lease_renewal).await;
                let read = progress.bytes();
                if read == seen && !progress.ended() {
                    continue;
                }
                seen = read;
                let until = later(self.ports.clock.now(), self.settings.upload_lease);
                match self.ports.media.renew_lease(&reserved.id(), until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return StoreError::from(BackendError::msg("the upload lost its reservation"));
                    }
                    // A failed renewal is retried at the next one; the lease outlasts a few.
                    Err(e) => tracing::warn!(
                        error = &e as &dyn std::error::Error,
                        "could not renew an upload's lease"
                    ),
                }
            }
        };
        tokio::select! {
            done = upload => done,
            lost = renewals => Err(lost),
        }
    }

    /// Streams the plaintext through hashing and encryption into the object store; what
    /// the pipeline measured once the object is complete.
    pub(crate) async fn upload(
        &self,
        key: &StorageKey,
        data_key: &DataKey,
        plaintext: ByteStream,
    ) -> Result<UploadedContent, StoreError> {
        let limit = self.settings.max_upload_bytes;
        let encrypted = content::encrypt(plaintext, data_key, self.settings.chunk_size, Some(limit)).await;
        let put = self.ports.storage.put(key, encrypted.ciphertext).await;
        // The pipeline's own verdict explains a failed put best (the client's error, the
        // limit); the store's error matters when the plaintext was fine.
        let summary = match encrypted.summary.await {
            Ok(Ok(summary)) => summary,
            Ok(Err(ContentError::TooLarge { limit })) => return Err(StoreError::TooLarge { limit }),
            Ok(Err(ContentError::Input(e))) => return Err(StoreError::Input(e)),
            Ok(Err(e @ ContentError::Integrity(_))) => {
                return Err(BackendError::new("content pipeline", e).into());
            }
            Err(_) => {
                return Err(put.err().map_or_else(
                    || BackendError::msg("the object store did not consume the content").into(),
                    StoreError::Storage,
                ));
            }
        };
        put.map_err(StoreError::Storage)?;
        Ok(UploadedContent {
            size: summary.size,
            digest: summary.digest,
            uploaded_at: self.ports.clock.now(),
        })
    }

    /// Reserves a file whose content arrives over several requests (a resumable upload):
    /// its name until `lease_until` and `length` bytes of the creator's quota. The record
    /// stays pending (invisible) until [`complete_pending`](Self::complete_pending); on any
    /// refusal nothing is kept.
    ///
    /// # Errors
    /// [`StoreError::TooLarge`], [`StoreError::AlreadyExists`],
    /// [`StoreError::QuotaExceeded`], [`StoreError::UnknownUser`], backend failures.
    pub(crate) async fn reserve_pending(
        &self,
        user: UserId,
        name: FileName,
        folder: FolderPath,
        content_type: Option<ContentType>,
        length: u64,
        lease_until: DateTime<Utc>,
    ) -> Result<Media, StoreError> {
        if length > self.settings.max_upload_bytes {
            return Err(StoreError::TooLarge { limit: self.settings.max_upload_bytes });
        }
        let (media, _) = self.reserve(user, name, folder, content_type, lease_until).await?;
        if length > 0
            && let Err(e) = self.ports.media.reserve(&media.id(), length, self.settings.default_quota).await
        {
            self.discard_pending(&media).await?;
            return Err(e.into());
        }
        Ok(media)
    }

    /// Stores the whole plaintext of a pending file (one reserved by
    /// [`reserve_pending`](Self::reserve_pending)) and marks it uploaded: from now on it
    /// is a file like any other, and its creator gets the `upload` event. The caller holds
    /// a transfer slot.
    ///
    /// # Errors
    /// See [`StoreError`]; the record stays pending on failure (the content can be stored
    /// again).
    pub(crate) async fn complete_pending(
        &self,
        media: &Media,
        plaintext: ByteStream,
    ) -> Result<Media, StoreError> {
        let old = media.envelope();
        let wrapped = WrappedKey { key_id: old.key_id().to_owned(), bytes: old.wrapped_key().to_vec() };
        let data_key = self
            .ports
            .keys
            .unwrap(&wrapped)
            .await
            .map_err(|e| BackendError::new("unwrapping the data key of a pending file", e))?;
        let uploaded = self.upload(media.storage_key(), &data_key, plaintext).await?;
        let stored = self.finish(media, uploaded).await?;
        self.notify(&stored.creator(), upload_event(&stored)).await;
        Ok(stored)
    }

    /// Removes a pending file (its name and quota are free again, whatever it stored goes
    /// by a job); a file already uploaded is left alone. Answers whether it was removed.
    ///
    /// # Errors
    /// [`BackendError`] when the repository fails.
    pub(crate) async fn discard_pending(&self, media: &Media) -> Result<bool, BackendError> {
        let now = self.ports.clock.now();
        // Ending the lease first makes the removal conditional on the file being pending.
        if !self.ports.media.renew_lease(&media.id(), now).await? {
            return Ok(false);
        }
        Ok(reclaim(&*self.ports.media, &*self.ports.clock, &self.jobs, media, now).await?.is_some())
    }

    /// The media repository (for the services that build on this one).
    pub(crate) fn media_repository(&self) -> &Arc<dyn MediaRepository> {
        &self.ports.media
    }

    /// The object store.
    pub(crate) fn objects(&self) -> &Arc<dyn StorageProvider> {
        &self.ports.storage
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.ports.clock
    }

    /// The job waker (for services that enqueue jobs of their own).
    pub(crate) fn job_waker(&self) -> &JobWaker {
        &self.jobs
    }

    /// Marks the reserved record uploaded: from now on the file is listed and served.
    async fn finish(&self, reserved: &Media, uploaded: UploadedContent) -> Result<Media, StoreError> {
        self.ports
            .media
            .mark_uploaded(&reserved.id(), uploaded)
            .await?
            .ok_or_else(|| BackendError::msg("the media record vanished during upload").into())
    }

    /// A user's quota and what they have taken of it (files, the trash included, and the
    /// reservations of their uploads under way).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn allowance(&self, user: &UserId) -> Result<Allowance, BackendError> {
        self.ports.media.allowance(user, self.settings.default_quota).await
    }

    /// Sets the quota of the user named `username` (an administrator's command).
    ///
    /// # Errors
    /// [`QuotaError::UnknownUser`] when no user has this name; backend failures.
    pub async fn set_quota(&self, username: &Username, quota: QuotaSetting) -> Result<Allowance, QuotaError> {
        let user = self
            .ports
            .accounts
            .find_user_by_username(username)
            .await?
            .ok_or(QuotaError::UnknownUser)?
            .owner
            .id;
        if !self.ports.media.set_quota(&user, quota).await? {
            return Err(QuotaError::UnknownUser);
        }
        Ok(self.allowance(&user).await?)
    }

    /// The metadata of a file the user sees.
    ///
    /// # Errors
    /// [`LookupError::NotFound`] when the user does not see it.
    pub async fn info(&self, user: &UserId, id: &MediaId) -> Result<Media, LookupError> {
        self.ports.media.find_visible(user, id).await?.ok_or(LookupError::NotFound)
    }

    /// Streams a file the user sees, verified; `range` (clamped to the size) asks for
    /// part of it, decrypting only the chunks it touches.
    ///
    /// # Errors
    /// See [`DownloadError`].
    pub async fn download(
        &self,
        user: &UserId,
        id: &MediaId,
        range: Option<Range<u64>>,
    ) -> Result<Download, DownloadError> {
        let media = self.ports.media.find_visible(user, id).await?.ok_or(DownloadError::NotFound)?;
        self.download_media(media, range).await
    }

    /// Streams an uploaded media whoever asks: the caller decided they may read it (a
    /// public link).
    pub(crate) async fn download_media(
        &self,
        media: Media,
        range: Option<Range<u64>>,
    ) -> Result<Download, DownloadError> {
        let size = media.size();
        let range = match range {
            None => 0..size,
            Some(r) if r.start >= size && !(size == 0 && r.start == 0) => {
                return Err(DownloadError::RangeNotSatisfiable { size });
            }
            Some(r) => r.start..r.end.min(size).max(r.start),
        };
        let slot = self.transfer_slot().await.ok_or(DownloadError::Busy)?;
        let content = self.open_content(&media, range.clone()).await?;
        // The transfer slot is held until the stream is dropped.
        let content = content.map(move |item| {
            let _held = &slot;
            item
        });
        Ok(Download { media, range, content: content.boxed() })
    }

    /// The plaintext of `range` of a media: from the cache, or decrypted from the store
    /// (whole small files are cached on the way).
    pub(super) async fn open_content(
        &self,
        media: &Media,
        range: Range<u64>,
    ) -> Result<ByteStream, DownloadError> {
        let size = media.size();
        if let Some(bytes) = self.cache.get(&media.id()) {
            let slice = bytes.slice(range.start as usize..range.end as usize);
            return Ok(futures::stream::iter([Ok(slice)]).boxed());
        }
        let object = StoredObject {
            key: media.storage_key(),
            envelope: media.envelope(),
            size,
            digest: media.digest().filter(|_| self.settings.verify_digest_on_download),
        };
        let whole = range.start == 0 && range.end == size;
        let plain = self.decrypt_object(&object, range).await?;
        Ok(if whole && size <= self.cache.max_entry_bytes() {
            self.caching(media.id(), size, plain)
        } else {
            plain
        })
    }

    /// The verified plaintext of a whole file the services read for a user (an archive
    /// build), whatever its size: a stream, never held whole.
    pub(crate) async fn plaintext(&self, media: &Media) -> Result<ByteStream, DownloadError> {
        self.open_content(media, 0..media.size()).await
    }

    /// One page of the uploaded media visible to `user` in `folder` or below it, by name.
    pub(crate) async fn list_under(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError> {
        self.ports.media.list_visible(user, Some(folder), page).await
    }

    /// Streams `range` (already clamped to the size) of an object encrypted with the
    /// content pipeline (a prepared archive), decrypting only the chunks it touches, under
    /// a transfer slot held until the stream is dropped.
    pub(crate) async fn download_object(
        &self,
        object: &StoredObject<'_>,
        range: Range<u64>,
    ) -> Result<ByteStream, DownloadError> {
        let slot = self.transfer_slot().await.ok_or(DownloadError::Busy)?;
        let content = self.decrypt_object(object, range).await?;
        Ok(content
            .map(move |item| {
                let _held = &slot;
                item
            })
            .boxed())
    }

    /// The verified plaintext of `range` of an encrypted object.
    pub(crate) async fn decrypt_object(
        &self,
        object: &StoredObject<'_>,
        range: Range<u64>,
    ) -> Result<ByteStream, DownloadError> {
        let StoredObject { key: storage_key, envelope, size, digest } = *object;
        let wrapped =
            WrappedKey { key_id: envelope.key_id().to_owned(), bytes: envelope.wrapped_key().to_vec() };
        let key = self.ports.keys.unwrap(&wrapped).await?;
        let whole = range.start == 0 && range.end == size;
        if whole {
            let ciphertext =
                self.ports.storage.get(storage_key, None).await.map_err(DownloadError::Storage)?;
            let spec = DecryptSpec {
                chunk_size: envelope.chunk_size(),
                plain_size: size,
                first_chunk: 0,
                through_end: true,
                digest,
            };
            return Ok(content::decrypt(ciphertext, &key, spec));
        }
        let plan = content::cipher_range(&range, size, envelope.chunk_size());
        let ciphertext = self
            .ports
            .storage
            .get(storage_key, Some(plan.bytes.clone()))
            .await
            .map_err(DownloadError::Storage)?;
        let spec = DecryptSpec {
            chunk_size: envelope.chunk_size(),
            plain_size: size,
            first_chunk: plan.first_chunk,
            through_end: plan.through_end,
            digest: None,
        };
        Ok(content::slice_stream(content::decrypt(ciphertext, &key, spec), plan.skip, plan.take))
    }

    /// Passes a small file's verified plaintext through, caching it once it completed.
    fn caching(&self, id: MediaId, size: u64, plain: ByteStream) -> ByteStream {
        let cache = Arc::clone(&self.cache);
        let mut copy = BytesMut::with_capacity(size as usize);
        // Only verified bytes reach this point, and the final chunk only after the digest
        // matched, so a complete copy is always good to cache.
        let mut done = false;
        plain
            .map(move |item| {
                match &item {
                    Ok(bytes) if !done => copy.extend_from_slice(bytes),
                    Ok(_) => {}
                    Err(_) => done = true,
                }
                if !done && copy.len() as u64 == size {
                    cache.insert(id, std::mem::take(&mut copy).freeze());
                    done = true;
                }
                item
            })
            .boxed()
    }

    /// The files directly in `folder` and its immediate subfolders with recursive totals.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown folder is empty.
    pub async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError> {
        self.ports.media.list_folder(user, folder, page).await
    }

    /// Every file the user sees, by name (one page).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn list_all(&self, user: &UserId, page: &PageRequest) -> Result<MediaPage, BackendError> {
        self.ports.media.list_visible(user, None, page).await
    }

    async fn creators_media(&self, user: &UserId, id: &MediaId) -> Result<Media, ChangeError> {
        let media = self.ports.media.find_visible(user, id).await?.ok_or(ChangeError::NotFound)?;
        if media.creator() == *user { Ok(media) } else { Err(ChangeError::Forbidden) }
    }

    async fn shareable_media(&self, user: &UserId, id: &MediaId) -> Result<Media, ShareError> {
        self.creators_media(user, id).await.map_err(|e| match e {
            ChangeError::NotFound | ChangeError::AlreadyExists => ShareError::NotFound,
            ChangeError::Forbidden => ShareError::Forbidden,
            ChangeError::Backend(b) => ShareError::Backend(b),
        })
    }

    /// Shares a file with another user (creator only) and tells both of them.
    ///
    /// # Errors
    /// See [`ShareError`].
    pub async fn share(&self, user: &UserId, id: &MediaId, with: &Username) -> Result<Share, ShareError> {
        let media = self.shareable_media(user, id).await?;
        let sharee = self
            .ports
            .accounts
            .find_user_by_username(with)
            .await?
            .ok_or_else(|| ShareError::UserNotFound(with.to_string()))?
            .owner;
        if sharee.id == *user {
            return Err(ShareError::SelfShare);
        }
        let share =
            self.ports.media.add_share(&media.id(), &sharee.id, self.ports.clock.now()).await.map_err(
                |e| match e {
                    AddShareError::MediaNotFound => ShareError::NotFound,
                    AddShareError::UserNotFound => ShareError::UserNotFound(with.to_string()),
                    AddShareError::AlreadyShared => ShareError::AlreadyShared(sharee.username.to_string()),
                    AddShareError::Backend(b) => ShareError::Backend(b),
                },
            )?;
        let owner = self.ports.accounts.find_owner(user).await?;
        self.notify(user, Event::ShareSent { media_id: media.id(), sharee: sharee.username.clone() }).await;
        if let Some(owner) = owner {
            self.notify(&sharee.id, Event::ShareReceived { media_id: media.id(), owner: owner.username })
                .await;
        }
        Ok(share)
    }

    /// Withdraws a share: the creator withdraws anyone's, a sharee leaves their own
    /// (`with` is their own name); a sharee naming anyone else is [`ShareError::Forbidden`].
    ///
    /// # Errors
    /// See [`ShareError`]; [`ShareError::NotShared`] when there was no such share.
    pub async fn unshare(&self, user: &UserId, id: &MediaId, with: &Username) -> Result<(), ShareError> {
        let received = self.ports.media.find_visible(user, id).await?.filter(|m| m.creator() != *user);
        let media = match received {
            Some(media) => media,
            None => self.shareable_media(user, id).await?,
        };
        let sharee = self
            .ports
            .accounts
            .find_user_by_username(with)
            .await?
            .ok_or_else(|| ShareError::UserNotFound(with.to_string()))?;
        if media.creator() != *user && sharee.owner.id != *user {
            return Err(ShareError::Forbidden);
        }
        if self.ports.media.remove_share(&media.id(), &sharee.owner.id).await? {
            self.notify(&sharee.owner.id, Event::ShareWithdrawn { media_id: media.id() }).await;
            Ok(())
        } else {
            Err(ShareError::NotShared(with.to_string()))
        }
    }

    /// The users a file is shared with (creator only).
    ///
    /// # Errors
    /// [`ChangeError::NotFound`] / [`ChangeError::Forbidden`] / backend.
    pub async fn list_shares(&self, user: &UserId, id: &MediaId) -> Result<Vec<Share>, ChangeError> {
        let media = self.creators_media(user, id).await?;
        Ok(self.ports.media.list_shares(&media.id()).await?)
    }

    /// The people `user` shares files with and who share files with them, the latest
    /// first, at most [`MAX_SHARE_PARTNERS`]: those a share dialog can suggest without
    /// telling anyone of a user they have no file in common with.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn share_partners(&self, user: &UserId) -> Result<Vec<Owner>, BackendError> {
        self.ports.media.share_partners(user, MAX_SHARE_PARTNERS).await
    }

    /// What the user shares and what is shared with them: each of their shared files once
    /// per sharee, and each file shared with them with its creator (by name), at most
    /// [`MAX_SHARED_FILES`] entries of each; `truncated` when either had more.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn sharing_overview(&self, user: &UserId) -> Result<SharingOverview, BackendError> {
        let (mut outgoing, mut incoming) = futures::try_join!(
            self.ports.media.shared_by(user, MAX_SHARED_FILES + 1),
            self.ports.media.shared_with(user, MAX_SHARED_FILES + 1),
        )?;
        let cap = MAX_SHARED_FILES as usize;
        let truncated = outgoing.len() > cap || incoming.len() > cap;
        outgoing.truncate(cap);
        incoming.truncate(cap);
        Ok(SharingOverview { outgoing, incoming, truncated })
    }

    /// Moves a file to another folder (creator only).
    ///
    /// # Errors
    /// See [`ChangeError`].
    pub async fn move_to(
        &self,
        user: &UserId,
        id: &MediaId,
        folder: &FolderPath,
    ) -> Result<Media, ChangeError> {
        let media = self.creators_media(user, id).await?;
        self.relocate(&media, folder, media.name()).await
    }

    /// Renames a file (creator only); renaming to its current name is a conflict, as in
    /// the original.
    ///
    /// # Errors
    /// See [`ChangeError`].
    pub async fn rename(&self, user: &UserId, id: &MediaId, name: &FileName) -> Result<Media, ChangeError> {
        let media = self.creators_media(user, id).await?;
        self.relocate(&media, media.folder(), name).await
    }

    /// Moves and renames a file in one step (creator only): the target folder and name are
    /// checked and taken atomically.
    ///
    /// # Errors
    /// See [`ChangeError`].
    pub async fn relocate_to(
        &self,
        user: &UserId,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Media, ChangeError> {
        let media = self.creators_media(user, id).await?;
        self.relocate(&media, folder, name).await
    }

    async fn relocate(
        &self,
        media: &Media,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Media, ChangeError> {
        self.ports.media.relocate(&media.id(), folder, name, self.ports.clock.now()).await.map_err(
            |e| match e {
                RelocateError::NotFound => ChangeError::NotFound,
                RelocateError::AlreadyExists => ChangeError::AlreadyExists,
                RelocateError::Backend(b) => ChangeError::Backend(b),
            },
        )
    }

    /// Moves (or renames: a target with the same parent) one of the user's folders with
    /// every file of theirs in it and below it, in one step: their shares and public
    /// links go along, and sharees see the files at their new place. Files shared with the
    /// user stay where their creator keeps them, and trashed files are restored where they
    /// were trashed from.
    ///
    /// # Errors
    /// See [`MoveFolderError`]: `$` cannot move, nor can a folder move onto itself, inside
    /// itself or onto a folder that holds it; a target where the user has files is taken.
    pub async fn move_folder(
        &self,
        user: &UserId,
        from: &FolderPath,
        to: &FolderPath,
    ) -> Result<u64, MoveFolderError> {
        if from.is_root() {
            return Err(MoveFolderError::Root);
        }
        if from.contains(to) || to.contains(from) {
            return Err(MoveFolderError::Overlaps);
        }
        let moved =
            self.ports.media.relocate_folder(user, from, to, self.ports.clock.now()).await.map_err(|e| {
                match e {
                    RelocateFolderError::AlreadyExists => MoveFolderError::AlreadyExists,
                    RelocateFolderError::TooDeep => MoveFolderError::TooDeep,
                    RelocateFolderError::Backend(b) => MoveFolderError::Backend(b),
                }
            })?;
        if moved == 0 {
            return Err(MoveFolderError::NotFound);
        }
        Ok(moved)
    }

    /// Deletes one of the user's folders: every file of theirs in it and below it goes to
    /// the trash (or for good without one), as [`delete`](Self::delete) sends one file;
    /// files shared with them stay (they may leave those shares). File by file: a failure
    /// midway leaves the rest where they were, and deleting again goes on.
    ///
    /// # Errors
    /// See [`DeleteFolderError`]: `$` cannot be deleted; a folder holding no file the user
    /// sees is not found.
    pub async fn delete_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
    ) -> Result<FolderDeleted, DeleteFolderError> {
        if folder.is_root() {
            return Err(DeleteFolderError::Root);
        }
        let mut outcome = FolderDeleted { deleted: 0, kept: 0 };
        let mut page = PageRequest::first(FOLDER_DELETE_PAGE);
        loop {
            let found = self.ports.media.list_visible(user, Some(folder), &page).await?;
            for media in found.items {
                if media.creator() != *user {
                    outcome.kept += 1;
                    continue;
                }
                match self.discard(media).await {
                    // Gone meanwhile (another tab deleted it): nothing left to do.
                    Ok(_) | Err(ChangeError::NotFound) => outcome.deleted += 1,
                    Err(ChangeError::Backend(b)) => return Err(DeleteFolderError::Backend(b)),
                    Err(ChangeError::Forbidden | ChangeError::AlreadyExists) => {
                        return Err(DeleteFolderError::Backend(BackendError::msg(
                            "deleting a folder's file",
                        )));
                    }
                }
            }
            match found.next {
                Some(cursor) => page = PageRequest::after(FOLDER_DELETE_PAGE, cursor),
                None => break,
            }
        }
        if outcome.deleted == 0 && outcome.kept == 0 {
            return Err(DeleteFolderError::NotFound);
        }
        Ok(outcome)
    }

    /// Deletes a file (creator only): moves it to the trash, from which the purge job
    /// removes it once [`StorageSettings::trash_retention`] has passed (the job is enqueued
    /// with the move). Until then it is hidden from everyone, its shares and links
    /// suspended, its name free, its bytes still counted. Without a trash (no retention)
    /// the delete is permanent ([`delete_permanently`](Self::delete_permanently)).
    ///
    /// # Errors
    /// See [`ChangeError`].
    pub async fn delete(&self, user: &UserId, id: &MediaId) -> Result<Media, ChangeError> {
        let media = self.creators_media(user, id).await?;
        self.discard(media).await
    }

    /// Trashes a media the user created, or deletes it for good without a trash.
    async fn discard(&self, media: Media) -> Result<Media, ChangeError> {
        let Some(retention) = self.settings.trash_retention else {
            return self.remove(media).await;
        };
        let now = self.ports.clock.now();
        let purge_at = later(now, retention);
        let mut purge = due_now(&*self.ports.clock, Task::PurgeTrashed { media: media.id() });
        purge.run_at = purge_at;
        let trashed =
            self.ports.media.trash(&media.id(), now, purge_at, &purge).await?.ok_or(ChangeError::NotFound)?;
        self.cache.evict(&media.id());
        self.search_cache.evict(&media.id());
        Ok(trashed.media)
    }

    /// Deletes a file for good (creator only), skipping the trash: its metadata and shares
    /// at once, its stored object by a job enqueued with the delete.
    ///
    /// # Errors
    /// See [`ChangeError`].
    pub async fn delete_permanently(&self, user: &UserId, id: &MediaId) -> Result<Media, ChangeError> {
        let media = self.creators_media(user, id).await?;
        self.remove(media).await
    }

    /// Deletes a media the user created for good.
    async fn remove(&self, media: Media) -> Result<Media, ChangeError> {
        // The object goes by a job enqueued with the delete: a crash after the delete
        // leaves an object for the job, never a listed file without its object.
        let remove_object =
            due_now(&*self.ports.clock, Task::DeleteObject { key: media.storage_key().clone() });
        let deleted =
            self.ports.media.delete(&media.id(), &remove_object).await?.ok_or(ChangeError::NotFound)?;
        self.jobs.wake();
        self.cache.evict(&media.id());
        self.search_cache.evict(&media.id());
        Ok(deleted)
    }

    /// One page of the user's trash, by name.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn trash(&self, user: &UserId, page: &PageRequest) -> Result<TrashPage, BackendError> {
        self.ports.media.list_trash(user, page).await
    }

    /// Restores a file from the user's trash into its folder, under its own name or
    /// `name`, with its shares and public links.
    ///
    /// # Errors
    /// See [`RestoreError`]: [`RestoreError::AlreadyExists`] when the name is taken again.
    pub async fn restore(
        &self,
        user: &UserId,
        id: &MediaId,
        name: Option<&FileName>,
    ) -> Result<Media, RestoreError> {
        let trashed = self.ports.media.trashed(user, id).await?.ok_or(RestoreError::NotFound)?;
        let name = name.unwrap_or_else(|| trashed.media.name());
        self.ports.media.restore(id, name, self.ports.clock.now()).await.map_err(|e| match e {
            RestoreMediaError::NotTrashed => RestoreError::NotFound,
            RestoreMediaError::AlreadyExists => RestoreError::AlreadyExists,
            RestoreMediaError::Backend(b) => RestoreError::Backend(b),
        })
    }

    /// Purges a file from the user's trash now: its metadata and shares at once, its
    /// object by a job.
    ///
    /// # Errors
    /// See [`PurgeError`].
    pub async fn purge(&self, user: &UserId, id: &MediaId) -> Result<Media, PurgeError> {
        let trashed = self.ports.media.trashed(user, id).await?.ok_or(PurgeError::NotFound)?;
        self.purge_trashed(&trashed.media, None).await?.ok_or(PurgeError::NotFound)
    }

    /// Purges every file in the user's trash now; answers how many.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; what was purged stays purged.
    pub async fn empty_trash(&self, user: &UserId) -> Result<u64, BackendError> {
        let mut purged = 0;
        let mut page = PageRequest::first(100);
        loop {
            let batch = self.ports.media.list_trash(user, &page).await?;
            for trashed in &batch.items {
                if self.purge_trashed(&trashed.media, None).await?.is_some() {
                    purged += 1;
                }
            }
            match batch.next {
                Some(cursor) => page = PageRequest::after(100, cursor),
                None => return Ok(purged),
            }
        }
    }

    /// Purges a trashed media whose purge time has come (the purge job's work): nothing
    /// when it is gone, restored, or trashed again since with a later purge time.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures (the job is retried).
    pub async fn purge_due(&self, id: &MediaId) -> Result<(), BackendError> {
        let Some(media) = self.ports.media.find(id).await? else { return Ok(()) };
        self.purge_trashed(&media, Some(self.ports.clock.now())).await?;
        Ok(())
    }

    /// Purges `media` if it is trashed (and, with `due_by`, due by then), its object going
    /// by a job enqueued with the purge.
    async fn purge_trashed(
        &self,
        media: &Media,
        due_by: Option<DateTime<Utc>>,
    ) -> Result<Option<Media>, BackendError> {
        let remove_object =
            due_now(&*self.ports.clock, Task::DeleteObject { key: media.storage_key().clone() });
        let purged = self.ports.media.purge(&media.id(), due_by, &remove_object).await?;
        if purged.is_some() {
            self.jobs.wake();
        }
        Ok(purged)
    }

    /// Deletes every media `user` created, uploaded or not (their account is closing),
    /// each with the removal of its object queued in the same write; answers how many.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; what was deleted stays deleted.
    pub async fn delete_all_created_by(&self, user: &UserId) -> Result<u64, BackendError> {
        let mut deleted = 0;
        loop {
            let batch = self.ports.media.created_by(user, 100).await?;
            if batch.is_empty() {
                return Ok(deleted);
            }
            for media in batch {
                let key = media.storage_key().clone();
                let task = if media.uploaded().is_some() {
                    Task::DeleteObject { key }
                } else {
                    Task::ReclaimUpload { key }
                };
                if self.ports.media.delete(&media.id(), &due_now(&*self.ports.clock, task)).await?.is_some() {
                    deleted += 1;
                }
                self.cache.evict(&media.id());
                self.search_cache.evict(&media.id());
            }
            self.jobs.wake();
        }
    }

    /// Files and bytes the user created.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn usage(&self, user: &UserId) -> Result<Usage, BackendError> {
        self.ports.media.usage(user).await
    }

    /// Users ranked by usage; `limit` is capped at [`MAX_TOP_USERS`].
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn top_users(
        &self,
        sort: UsageSort,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<UserUsage>, BackendError> {
        self.ports.media.top_users(sort, order, limit.clamp(1, MAX_TOP_USERS)).await
    }

    /// Re-wraps up to `batch` data keys that are not wrapped with the current master key;
    /// content is untouched. Answers how many were re-wrapped (0 when done).
    ///
    /// # Errors
    /// [`BackendError`] when a key cannot be unwrapped or the repository fails.
    pub async fn rewrap_keys(&self, batch: u32) -> Result<u64, BackendError> {
        let current = self.ports.keys.current_key_id();
        let ids = self.ports.media.media_not_wrapped_with(&current, batch).await?;
        let mut done = 0;
        for id in ids {
            let Some(media) = self.ports.media.find(&id).await? else { continue };
            let old = media.envelope();
            let wrapped = WrappedKey { key_id: old.key_id().to_owned(), bytes: old.wrapped_key().to_vec() };
            let key = self
                .ports
                .keys
                .unwrap(&wrapped)
                .await
                .map_err(|e| BackendError::new(format!("unwrapping the key of {id}"), e))?;
            let rewrapped = self
                .ports
                .keys
                .wrap(&key)
                .await
                .map_err(|e| BackendError::new(format!("wrapping the key of {id}"), e))?;
            let envelope =
                Envelope::new(old.algorithm(), old.chunk_size(), &rewrapped.key_id, rewrapped.bytes)
                    .map_err(|e| BackendError::new("building the envelope", e))?;
            if self.ports.media.update_envelope(&id, &envelope, self.ports.clock.now()).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Publishes an event; a notification failure never fails the use case.
    async fn notify(&self, user: &UserId, event: Event) {
        if let Err(e) = self.ports.notifier.publish(user, event).await {
            tracing::warn!(error = &e as &dyn std::error::Error, "could not publish an event");
        }
    }
}

/// Quota reserved for one upload, ahead of the bytes it reads: the content the pipeline
/// gets never passes what the pending media holds reserved, so concurrent uploads cannot
/// overshoot the quota together. What is reserved goes back when the record goes (or
/// counts as the file's size once it is uploaded). Clones share the refusal.
#[derive(Clone)]
struct Quota {
    media: Arc<dyn MediaRepository>,
    id: MediaId,
    default_quota: Option<u64>,
    /// Why the metered stream stopped the upload, if it did.
    refused: Arc<std::sync::Mutex<Option<ReserveError>>>,
}

/// Bytes reserved at a time for content of unknown length (fewer when only fewer fit).
const RESERVATION_STEP: u64 = 8 * 1024 * 1024;

/// How long the object of a file's replaced content outlives it: downloads of it already
/// under way finish (new ones get the new content).
pub const OLD_VERSION_GRACE: Duration = Duration::from_secs(3600);

/// How many files a folder delete reads at a time.
const FOLDER_DELETE_PAGE: u32 = 200;

impl Quota {
    fn new(service: &StorageService, media: &Media) -> Self {
        Self {
            media: Arc::clone(&service.ports.media),
            id: media.id(),
            default_quota: service.settings.default_quota,
            refused: Arc::default(),
        }
    }

    /// Reserves `bytes` up front (the announced length).
    async fn reserve(&self, bytes: u64) -> Result<(), StoreError> {
        self.media.reserve(&self.id, bytes, self.default_quota).await.map_err(StoreError::from)
    }

    /// `content`, with quota reserved before each chunk passes what is reserved (starting
    /// from `reserved`, see [`Quota::grow`]). A refusal ends the stream with an error and
    /// is kept for [`Quota::explain`].
    fn meter(&self, content: ByteStream, reserved: u64) -> ByteStream {
        let state = (self.clone(), content, 0_u64, reserved);
        futures::stream::try_unfold(state, |(quota, mut content, read, reserved)| async move {
            let Some(chunk) = content.next().await.transpose()? else { return Ok(None) };
            let wanted = read + chunk.len() as u64;
            let reserved =
                if wanted > reserved { quota.grow(reserved, wanted - reserved).await? } else { reserved };
            Ok(Some((chunk, (quota, content, wanted, reserved))))
        })
        .boxed()
    }

    /// Reserves at least `needed` bytes more than the `reserved` so far: a step of
    /// [`RESERVATION_STEP`], or just `needed` when the step does not fit. Answers what is
    /// reserved then; a refusal is kept for [`Quota::explain`], counting as used only what
    /// the other files and uploads take.
    async fn grow(&self, reserved: u64, needed: u64) -> std::io::Result<u64> {
        let step = needed.max(RESERVATION_STEP);
        let mut outcome = self.media.reserve(&self.id, step, self.default_quota).await.map(|()| step);
        if matches!(outcome, Err(ReserveError::QuotaExceeded(_))) && needed < step {
            outcome = self.media.reserve(&self.id, needed, self.default_quota).await.map(|()| needed);
        }
        match outcome {
            Ok(granted) => Ok(reserved + granted),
            Err(mut e) => {
                if let ReserveError::QuotaExceeded(q) = &mut e {
                    q.used = q.used.saturating_sub(reserved);
                }
                let message = e.to_string();
                *self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                Err(std::io::Error::other(message))
            }
        }
    }

    /// `uploaded`, its failure explained by the quota when the metered stream refused.
    fn explain<T>(&self, uploaded: Result<T, StoreError>) -> Result<T, StoreError> {
        uploaded.map_err(|e| {
            let refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            refused.map_or(e, StoreError::from)
        })
    }
}

/// What the creator hears of a stored file or new version.
fn upload_event(stored: &Media) -> Event {
    Event::Upload { media_id: stored.id(), name: stored.name().clone() }
}

/// What a folder's owner hears of a file put in through a drop link.
fn drop_event(stored: &Media) -> Event {
    Event::Dropped { media_id: stored.id(), name: stored.name().clone(), folder: stored.folder().clone() }
}

/// How [`StorageService::store_named`] names the file.
#[derive(Debug, Clone, Copy)]
enum Naming {
    /// The name asked for, or [`StoreError::AlreadyExists`].
    Exact,
    /// The first free one of the name and its numbered variants.
    FirstFree,
}

/// Removes a reserved media's metadata, and enqueues the removal of its object, unless
/// disarmed; if dropped armed (the store future was cancelled), the removal runs on a
/// spawned task, tracked for [`StorageService::cleanups_finished`].
struct Cleanup {
    media: Arc<dyn MediaRepository>,
    storage: Arc<dyn StorageProvider>,
    clock: Arc<dyn Clock>,
    jobs: JobWaker,
    tracker: TaskTracker,
    target: Option<(MediaId, StorageKey)>,
}

impl Cleanup {
    fn armed(service: &StorageService, media: &Media) -> Self {
        Self {
            media: Arc::clone(&service.ports.media),
            storage: Arc::clone(&service.ports.storage),
            clock: Arc::clone(&service.ports.clock),
            jobs: service.jobs.clone(),
            tracker: service.cleanups.clone(),
            target: Some((media.id(), media.storage_key().clone())),
        }
    }

    fn disarm(&mut self) {
        self.target = None;
    }

    async fn run(&mut self) {
        if let Some((id, key)) = self.target.take() {
            remove(&*self.media, &*self.storage, &*self.clock, &self.jobs, id, key).await;
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((id, key)) = self.target.take() {
            let (media, storage) = (Arc::clone(&self.media), Arc::clone(&self.storage));
            let (clock, jobs) = (Arc::clone(&self.clock), self.jobs.clone());
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let removal = async move { remove(&*media, &*storage, &*clock, &jobs, id, key).await };
                self.tracker.spawn_on(removal, &handle);
            }
        }
    }
}

/// How far an upload has read its input: bytes so far, and whether the input ended.
#[derive(Debug, Default)]
struct Progress {
    bytes: AtomicU64,
    ended: AtomicBool,
}

impl Progress {
    /// `content`, counting what is read of it into the answered progress.
    fn watch(content: ByteStream) -> (ByteStream, Arc<Self>) {
        let progress = Arc::new(Self::default());
        let counted = Arc::clone(&progress);
        let content = content
            .inspect(move |item| {
                if let Ok(chunk) = item {
                    counted.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            })
            .map(Some)
            .chain(futures::stream::once({
                let ended = Arc::clone(&progress);
                async move {
                    ended.ended.store(true, Ordering::Relaxed);
                    None
                }
            }))
            .filter_map(std::future::ready)
            .boxed();
        (content, progress)
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

/// Reclaims `media` if it is still an abandoned upload at `now`, its object and parts
/// going by a job enqueued with the removal (the runner is woken).
async fn reclaim(
    repository: &dyn MediaRepository,
    clock: &dyn Clock,
    jobs: &JobWaker,
    media: &Media,
    now: DateTime<Utc>,
) -> Result<Option<Media>, BackendError> {
    let job = due_now(clock, Task::ReclaimUpload { key: media.storage_key().clone() });
    let reclaimed = repository.reclaim(&media.id(), now, &job).await?;
    if reclaimed.is_some() {
        tracing::info!(media = %media.id(), key = %media.storage_key(), "reclaimed an abandoned upload");
        jobs.wake();
    }
    Ok(reclaimed)
}

/// Removes the record of a failed upload and, by a job enqueued with it, whatever of its
/// object the store holds. When the record is already gone (its lease lapsed and another
/// upload reclaimed it, perhaps before this one wrote its object), what this upload stored
/// is removed here.
async fn remove(
    media: &dyn MediaRepository,
    storage: &dyn StorageProvider,
    clock: &dyn Clock,
    jobs: &JobWaker,
    id: MediaId,
    key: StorageKey,
) {
    match media.delete(&id, &due_now(clock, Task::DeleteObject { key: key.clone() })).await {
        Ok(Some(_)) => jobs.wake(),
        Ok(None) => match storage.delete(&key).await {
            Ok(()) | Err(StorageError::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(%key, error = &e as &dyn std::error::Error, "could not remove the object of a reclaimed upload");
            }
        },
        Err(e) => {
            tracing::warn!(%id, error = &e as &dyn std::error::Error, "could not remove the record of a failed upload");
        }
    }
}
