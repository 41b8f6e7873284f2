//! `ArchiveService`: request a ZIP of a folder, follow it, fetch it, delete it — only ever
//! the requester's own — and the two job handlers behind it: the build (visible files
//! streamed through the ZIP writer and the content pipeline into the object store) and the
//! purge at expiry.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::error::{ArchiveDownloadError, ArchiveLookupError, RequestArchiveError};
use super::model::{
    Archive, ArchiveContent, ArchiveParts, ArchiveState, FailureReason, attempt_key, entry_path, unique_path,
};
use super::ports::{ArchiveRepository, BuildStart, InsertArchiveError};
use super::zip::{self, EntryHeader, Method, WriterStopped, ZipInput};
use crate::clock::Clock;
use crate::content::{self, ByteStream, ContentError, DataKey};
use crate::error::{BackendError, report};
use crate::events::{Event, Notifier};
use crate::ids::{ArchiveId, JobId, UserId};
use crate::jobs::model::{NewJob, Task};
use crate::jobs::runner::{JobWaker, due_now, later};
use crate::storage::StorageService;
use crate::storage::error::{DownloadError, LookupError};
use crate::storage::model::{Envelope, FolderPath, Media, PageRequest, StorageKey};
use crate::storage::ports::{KeyWrapper, StorageError, StorageProvider};
use crate::storage::service::StoredObject;

/// Files listed per page while an archive is built.
const PAGE: u32 = 200;
/// Archives a listing shows.
pub const MAX_LISTED: u32 = 100;

/// Tunables of the archive service.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// How long an archive lives after it was requested (then it is not served, and a job
    /// removes it).
    pub ttl: Duration,
    /// Plaintext bytes per encrypted chunk of the stored ZIP.
    pub chunk_size: u32,
    /// How long a build attempt holds its archive without a renewal (it renews every third
    /// of it while it builds): another node starts over this long after the last renewal
    /// of an attempt whose node died.
    pub attempt_lease: Duration,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            chunk_size: content::DEFAULT_CHUNK_SIZE,
            attempt_lease: Duration::from_secs(60),
        }
    }
}

/// The ports the archive service runs on (besides the storage service, which reads the
/// files it packs).
#[derive(Clone)]
pub struct ArchivePorts {
    /// Archive records and the jobs they need.
    pub archives: Arc<dyn ArchiveRepository>,
    /// Object storage of the encrypted ZIPs.
    pub objects: Arc<dyn StorageProvider>,
    /// Data-key wrapping.
    pub keys: Arc<dyn KeyWrapper>,
    /// Per-user events (`download` once an archive is ready).
    pub notifier: Arc<dyn Notifier>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

/// An archive download under way.
pub struct ArchiveDownload {
    /// The archive.
    pub archive: Archive,
    /// Its size.
    pub size: u64,
    /// The bytes being delivered (a sub-range when one was asked for).
    pub range: Range<u64>,
    /// The verified ZIP bytes; integrity or storage failures arrive as stream errors.
    pub content: ByteStream,
}

impl std::fmt::Debug for ArchiveDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveDownload")
            .field("archive", &self.archive.id())
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Where the owner fetches an archive: the `link` of its `download` event.
#[must_use]
pub fn content_link(id: &ArchiveId) -> String {
    format!("/api/v1/archives/{id}/content")
}

/// The prepared-archive use cases.
#[derive(Clone)]
pub struct ArchiveService {
    ports: ArchivePorts,
    storage: StorageService,
    settings: ArchiveSettings,
    jobs: JobWaker,
}

impl std::fmt::Debug for ArchiveService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// How a build attempt ended without an archive.
enum BuildFailure {
    /// Nothing another attempt would change (a file's content fails verification): the
    /// archive fails with this reason.
    Permanent(String),
    /// Worth another attempt (the store or the database failed).
    Transient(BackendError),
}

impl From<BackendError> for BuildFailure {
    fn from(e: BackendError) -> Self {
        Self::Transient(e)
    }
}

impl ArchiveService {
    /// A service over `ports`, reading files through `storage`.
    #[must_use]
    pub fn new(ports: ArchivePorts, storage: StorageService, settings: ArchiveSettings) -> Self {
        Self { ports, storage, settings, jobs: JobWaker::default() }
    }

    /// The same service, waking `jobs` whenever it enqueues a job (a build).
    #[must_use]
    pub fn with_job_waker(mut self, jobs: JobWaker) -> Self {
        self.jobs = jobs;
        self
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &ArchiveSettings {
        &self.settings
    }

    /// Asks for a ZIP of `folder` (and everything below it) as `user` sees it: records a
    /// pending archive with its build (due now) and its purge (due at its expiry), and
    /// wakes the job runner.
    ///
    /// # Errors
    /// See [`RequestArchiveError`].
    pub async fn request(&self, user: &UserId, folder: FolderPath) -> Result<Archive, RequestArchiveError> {
        let clock = &*self.ports.clock;
        let now = clock.now();
        let id = ArchiveId::from_ksuid(clock.new_ksuid());
        let expires_at = later(now, self.settings.ttl);
        let archive = Archive::from_parts(ArchiveParts {
            id,
            owner: *user,
            folder,
            state: ArchiveState::Pending { attempt: None },
            created_at: now,
            expires_at,
        });
        let build = due_now(clock, Task::BuildArchive { archive: id });
        let purge = NewJob {
            id: JobId::from_ksuid(clock.new_ksuid()),
            task: Task::PurgeArchive { archive: id },
            run_at: expires_at,
            created_at: now,
        };
        self.ports.archives.insert(&archive, &build, &purge).await.map_err(|e| match e {
            InsertArchiveError::UnknownOwner => RequestArchiveError::UnknownUser,
            InsertArchiveError::Backend(b) => RequestArchiveError::Backend(b),
        })?;
        self.jobs.wake();
        tracing::info!(archive = %id, "an archive was requested");
        Ok(archive)
    }

    /// An archive of the user's (another user's, or an expired one, is not found).
    ///
    /// # Errors
    /// See [`ArchiveLookupError`].
    pub async fn status(&self, user: &UserId, id: &ArchiveId) -> Result<Archive, ArchiveLookupError> {
        self.owned(user, id).await?.ok_or(ArchiveLookupError::NotFound)
    }

    /// The user's archives that have not expired, newest first (at most [`MAX_LISTED`]).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn list(&self, user: &UserId) -> Result<Vec<Archive>, BackendError> {
        let now = self.ports.clock.now();
        let mut archives = self.ports.archives.list_by_owner(user, MAX_LISTED).await?;
        archives.retain(|a| !a.is_expired(now));
        Ok(archives)
    }

    /// Streams a ready archive of the user's, verified; `range` (clamped to the size) asks
    /// for part of it.
    ///
    /// # Errors
    /// See [`ArchiveDownloadError`].
    pub async fn download(
        &self,
        user: &UserId,
        id: &ArchiveId,
        range: Option<Range<u64>>,
    ) -> Result<ArchiveDownload, ArchiveDownloadError> {
        let archive = self.ports.archives.find(id).await?.filter(|a| a.owner() == *user);
        let archive = archive.ok_or(ArchiveDownloadError::NotFound)?;
        if archive.is_expired(self.ports.clock.now()) {
            return Err(ArchiveDownloadError::Expired);
        }
        let content = match archive.state() {
            ArchiveState::Pending { .. } => return Err(ArchiveDownloadError::Pending),
            ArchiveState::Failed { reason, .. } => {
                return Err(ArchiveDownloadError::Failed { reason: reason.as_str().to_owned() });
            }
            ArchiveState::Ready(content) => content,
        };
        let size = content.size;
        let range = match range {
            None => 0..size,
            Some(r) if r.start >= size && !(size == 0 && r.start == 0) => {
                return Err(ArchiveDownloadError::RangeNotSatisfiable { size });
            }
            Some(r) => r.start..r.end.min(size).max(r.start),
        };
        let object =
            StoredObject { key: &content.storage_key, envelope: &content.envelope, size, digest: None };
        let stream = self.storage.download_object(&object, range.clone()).await?;
        Ok(ArchiveDownload { archive, size, range, content: stream })
    }

    /// Deletes an archive of the user's (pending, ready or failed), its object with it.
    ///
    /// # Errors
    /// See [`ArchiveLookupError`].
    pub async fn delete(&self, user: &UserId, id: &ArchiveId) -> Result<(), ArchiveLookupError> {
        self.owned(user, id).await?.ok_or(ArchiveLookupError::NotFound)?;
        if let Some(deleted) = self.ports.archives.delete(id).await? {
            self.remove_object(&deleted).await;
        }
        Ok(())
    }

    /// The archive `id` if `user` owns it and it has not expired.
    async fn owned(&self, user: &UserId, id: &ArchiveId) -> Result<Option<Archive>, BackendError> {
        let now = self.ports.clock.now();
        Ok(self.ports.archives.find(id).await?.filter(|a| a.owner() == *user && !a.is_expired(now)))
    }

    /// The build job: packs the files the owner sees under the folder, now, into a ZIP,
    /// stores it encrypted under a key of this attempt's own, marks the archive ready and
    /// tells its owner. An archive that is gone, finished or expired is left alone. A file
    /// deleted (or unshared) since the request is skipped. A failure worth retrying is an
    /// error (the job runs again, from scratch) unless `last_attempt`; the others, and the
    /// last attempt's, fail the archive with a reason. The attempt holds the archive with a
    /// lease it renews while it builds: a job claimed again meanwhile (its claim outlived
    /// by a long build) finds it busy and comes back later, and an attempt that was
    /// replaced (its node stalled past the lease) stops.
    ///
    /// # Errors
    /// [`BackendError`] when the attempt should be retried.
    pub(crate) async fn build(&self, id: &ArchiveId, last_attempt: bool) -> Result<(), BackendError> {
        let clock = &*self.ports.clock;
        let Some(archive) = self.ports.archives.find(id).await? else { return Ok(()) };
        let now = clock.now();
        if archive.is_expired(now) || !matches!(archive.state(), ArchiveState::Pending { .. }) {
            return Ok(());
        }
        let key = attempt_key(clock.new_ksuid(), now);
        // This attempt's object goes at the archive's expiry whatever happens to it (the
        // record may go first: its owner's account closed).
        let expiry = NewJob {
            id: JobId::from_ksuid(clock.new_ksuid()),
            task: Task::ReclaimUpload { key: key.clone() },
            run_at: archive.expires_at(),
            created_at: now,
        };
        let lease_until = later(now, self.settings.attempt_lease);
        match self.ports.archives.start_build(id, &key, now, lease_until, &expiry).await? {
            BuildStart::Gone | BuildStart::Finished => return Ok(()),
            // The attempt under way elsewhere ends the job if it can; should its node die,
            // the retries of this one pick the archive up.
            BuildStart::Busy if last_attempt => return Ok(()),
            BuildStart::Busy => {
                return Err(BackendError::msg("another attempt is building this archive").transient());
            }
            BuildStart::Started { previous: Some(stale) } => {
                remove_object(&*self.ports.objects, &stale).await
            }
            BuildStart::Started { previous: None } => {}
        }
        tracing::info!(archive = %id, %key, "building an archive");
        let written = tokio::select! {
            written = self.write(&archive, &key) => written,
            () = self.holding(id, &key) => {
                tracing::warn!(archive = %id, %key, "an archive build lost its attempt; it stops");
                remove_object(&*self.ports.objects, &key).await;
                return Ok(());
            }
        };
        match written {
            Ok(content) => self.finish(&archive, content).await,
            Err(failure) => {
                remove_object(&*self.ports.objects, &key).await;
                let reason = match failure {
                    BuildFailure::Permanent(reason) => reason,
                    BuildFailure::Transient(e) if !last_attempt => return Err(e),
                    BuildFailure::Transient(e) => {
                        tracing::warn!(archive = %id, error = %report(&e), "an archive's last build attempt failed");
                        "the archive could not be built; ask for it again later".to_owned()
                    }
                };
                let reason =
                    FailureReason::new(&reason).map_err(|e| BackendError::new("a failure reason", e))?;
                self.ports.archives.mark_failed(id, &key, &reason).await?;
                tracing::warn!(archive = %id, reason = reason.as_str(), "an archive failed");
                Ok(())
            }
        }
    }

    /// Renews the attempt's lease every third of it; returns once the attempt is no longer
    /// the archive's current one (a failed renewal is retried at the next).
    async fn holding(&self, id: &ArchiveId, key: &StorageKey) {
        let lease = self.settings.attempt_lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = later(self.ports.clock.now(), lease);
            match self.ports.archives.renew_attempt(id, key, until).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(archive = %id, error = %report(&e), "could not renew an archive build's lease")
                }
            }
        }
    }

    /// Records a stored archive ready and tells its owner; an attempt that lost the archive
    /// meanwhile (deleted, purged, or attempted again) removes its object instead.
    async fn finish(&self, archive: &Archive, content: ArchiveContent) -> Result<(), BackendError> {
        let id = archive.id();
        if self.ports.archives.mark_ready(&id, &content).await? {
            tracing::info!(archive = %id, size = content.size, files = content.files, "an archive is ready");
            let event = Event::Download { archive: id, link: content_link(&id) };
            if let Err(e) = self.ports.notifier.publish(&archive.owner(), event).await {
                tracing::warn!(error = &e as &dyn std::error::Error, "could not publish an event");
            }
        } else {
            tracing::info!(archive = %id, "an archive build was overtaken; its object goes");
            remove_object(&*self.ports.objects, &content.storage_key).await;
        }
        Ok(())
    }

    /// Writes the ZIP of `archive` under `key`: the feeding of the ZIP stage and the store
    /// of its encrypted output run together (each waits for the other), with a data key
    /// of the attempt's own.
    async fn write(&self, archive: &Archive, key: &StorageKey) -> Result<ArchiveContent, BuildFailure> {
        let data_key = DataKey::generate();
        let wrapped = self
            .ports
            .keys
            .wrap(&data_key)
            .await
            .map_err(|e| BackendError::new("wrapping an archive's data key", e))?;
        let envelope =
            Envelope::new(content::ALGORITHM, self.settings.chunk_size, &wrapped.key_id, wrapped.bytes)
                .map_err(|e| BackendError::new("building an archive's envelope", e))?;
        let (input, zip) = zip::spawn();
        let store = async {
            let encrypted = content::encrypt(zip, &data_key, self.settings.chunk_size, None).await;
            let put = self.ports.objects.put(key, encrypted.ciphertext).await;
            (put, encrypted.summary.await)
        };
        let (fed, (put, summary)) = tokio::join!(self.feed(archive, input), store);
        // The feeding side knows best why an archive stopped (its cause reached the store
        // as the end of its input), unless it only saw the writer stop because the store
        // failed first.
        let files = match (fed, put) {
            (Ok(files), Ok(_)) => files,
            (Err(BuildFailure::Permanent(reason)), _) => return Err(BuildFailure::Permanent(reason)),
            (Err(fed), Err(StorageError::Input(_))) | (Err(fed), Ok(_)) => return Err(fed),
            (_, Err(e)) => {
                return Err(BackendError::new(format!("storing the archive {key}"), e).transient().into());
            }
        };
        let summary = match summary {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => return Err(BackendError::new("the archive's content pipeline", e).into()),
            Err(_) => return Err(BackendError::msg("the archive's content pipeline stopped").into()),
        };
        Ok(ArchiveContent {
            storage_key: key.clone(),
            envelope,
            size: summary.size,
            digest: summary.digest,
            files,
            ready_at: self.ports.clock.now(),
        })
    }

    /// Sends every file the owner sees under the folder to the ZIP stage, page by page;
    /// answers how many went in.
    async fn feed(&self, archive: &Archive, input: ZipInput) -> Result<u64, BuildFailure> {
        let (owner, root) = (archive.owner(), archive.folder());
        let mut taken = HashSet::new();
        let mut files = 0;
        let mut page = PageRequest::first(PAGE);
        loop {
            let listing = self.storage.list_under(&owner, root, &page).await?;
            for media in &listing.items {
                let Some(path) = entry_path(root, media.folder(), media.name()) else { continue };
                let path = unique_path(&path, &taken);
                if self.add(&input, &owner, media, &path).await? {
                    taken.insert(path);
                    files += 1;
                }
            }
            match listing.next {
                Some(cursor) => page = PageRequest::after(PAGE, cursor),
                None => break,
            }
        }
        input.finish().await.map_err(stopped)?;
        Ok(files)
    }

    /// Adds one file as `path`; `false` when it is gone (deleted or no longer visible since
    /// it was listed) and was skipped.
    async fn add(
        &self,
        input: &ZipInput,
        owner: &UserId,
        listed: &Media,
        path: &str,
    ) -> Result<bool, BuildFailure> {
        let media = match self.storage.info(owner, &listed.id()).await {
            Ok(media) => media,
            Err(LookupError::NotFound) => return Ok(false),
            Err(LookupError::Backend(b)) => return Err(b.into()),
        };
        let mut content = match self.storage.plaintext(&media).await {
            Ok(content) => content,
            // Deleted between the look-up and the read: its object went with it.
            Err(DownloadError::Storage(StorageError::NotFound(_)) | DownloadError::NotFound) => {
                return Ok(false);
            }
            Err(DownloadError::Integrity) => return Err(unreadable(path)),
            Err(e) => return Err(BackendError::new(format!("reading {path}"), e).transient().into()),
        };
        let header = EntryHeader {
            path: path.to_owned(),
            size: media.size(),
            method: method_for(&media),
            modified: media.uploaded_at().unwrap_or_else(|| media.updated_at()),
        };
        input.start(header).await.map_err(stopped)?;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| match ContentError::find_in(&e) {
                Some(ContentError::Integrity(_)) => unreadable(path),
                _ => BuildFailure::Transient(BackendError::new(format!("reading {path}"), e).transient()),
            })?;
            input.write(chunk).await.map_err(stopped)?;
        }
        Ok(true)
    }

    /// The purge job: removes an archive at its expiry, its object first (so that a failed
    /// removal is retried with the record still naming it).
    ///
    /// # Errors
    /// [`BackendError`] when the removal should be retried.
    pub(crate) async fn purge(&self, id: &ArchiveId) -> Result<(), BackendError> {
        let Some(archive) = self.ports.archives.find(id).await? else { return Ok(()) };
        if let Some(key) = archive.object_key() {
            delete_object(&*self.ports.objects, key).await?;
        }
        if self.ports.archives.delete(id).await?.is_some() {
            tracing::info!(archive = %id, "an expired archive was purged");
        }
        Ok(())
    }

    async fn remove_object(&self, archive: &Archive) {
        if let Some(key) = archive.object_key() {
            remove_object(&*self.ports.objects, key).await;
        }
    }
}

/// How a file's bytes go into the ZIP: text deflated, everything else (mostly compressed
/// already: images, video, archives) stored.
fn method_for(media: &Media) -> Method {
    let essence = media.content_type().as_str().split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let textual = essence.starts_with("text/")
        || essence.ends_with("+xml")
        || essence.ends_with("+json")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript" | "application/x-ndjson"
        );
    if textual { Method::Deflated } else { Method::Stored }
}

fn unreadable(path: &str) -> BuildFailure {
    BuildFailure::Permanent(format!("the content of {path} failed integrity verification"))
}

fn stopped(_: WriterStopped) -> BuildFailure {
    BuildFailure::Transient(BackendError::msg("the archive writer stopped").transient())
}

/// Removes what the store holds under `key` (also unfinished parts of an attempt that
/// died), best effort: the attempt's expiry job removes it otherwise.
async fn remove_object(objects: &dyn StorageProvider, key: &StorageKey) {
    let removed = match objects.remove_unfinished(key).await {
        Ok(()) => delete_object(objects, key).await,
        Err(e) => Err(BackendError::new(format!("removing the unfinished parts of {key}"), e)),
    };
    if let Err(e) = removed {
        tracing::warn!(%key, error = %report(&e), "could not remove an archive's object; its expiry job will");
    }
}

async fn delete_object(objects: &dyn StorageProvider, key: &StorageKey) -> Result<(), BackendError> {
    match objects.delete(key).await {
        Ok(()) | Err(StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(BackendError::new(format!("deleting the object {key}"), e)),
    }
}
