//! `UploadService`: create, continue, inspect, end and expire resumable uploads, and turn
//! a complete one into a file.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::oneshot;

use super::error::{CreateUploadError, UploadError};
use super::model::{NewUpload, ResumableUpload, UploadPart};
use super::ports::UploadRepository;
use crate::error::BackendError;
use crate::ids::{JobId, MediaId, UploadId, UserId};
use crate::jobs::model::{NewJob, Task};
use crate::jobs::runner::later;
use crate::storage::StorageService;
use crate::storage::error::DownloadError;
use crate::storage::model::{FileName, Media, StorageKey};
use crate::storage::ports::{ByteStream, StorageError};
use crate::storage::service::StoredObject;

/// Tunables of resumable uploads.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// How long an upload may take, from its creation (`Upload-Expires`).
    pub expiry: Duration,
    /// Bytes per stored part: a request's body is stored in parts of this size, each
    /// durable once written, so a crash loses at most the part under way.
    pub part_bytes: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self { expiry: Duration::from_secs(24 * 3600), part_bytes: 16 * 1024 * 1024 }
    }
}

/// What a request continuing an upload achieved.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The upload after the request (its offset: what is durably stored).
    pub upload: ResumableUpload,
    /// The file, when the request stored the last byte.
    pub file: Option<Media>,
    /// Whether the body ended early (the client went away or stalled): what arrived is
    /// kept.
    pub interrupted: bool,
}

/// The resumable-upload use cases, over the storage service (which reserves, stores and
/// finishes the file) and the upload repository.
#[derive(Clone)]
pub struct UploadService {
    uploads: Arc<dyn UploadRepository>,
    storage: StorageService,
    settings: UploadSettings,
}

impl std::fmt::Debug for UploadService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl UploadService {
    /// A service over `uploads` and `storage`.
    #[must_use]
    pub fn new(
        uploads: Arc<dyn UploadRepository>,
        storage: StorageService,
        settings: UploadSettings,
    ) -> Self {
        Self {
            uploads,
            storage,
            settings: UploadSettings { part_bytes: settings.part_bytes.max(1), ..settings },
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &UploadSettings {
        &self.settings
    }

    /// The largest upload accepted, in bytes.
    #[must_use]
    pub fn max_length(&self) -> u64 {
        self.storage.settings().max_upload_bytes
    }

    fn now(&self) -> DateTime<Utc> {
        self.storage.clock().now()
    }

    /// Creates an upload: reserves the file (its name, and `length` bytes of the quota)
    /// until the upload expires, and queues its end at expiry.
    ///
    /// # Errors
    /// [`CreateUploadError::Store`] when the file cannot be reserved (name taken, too
    /// large, over quota, unknown user); nothing is kept.
    pub async fn create(
        &self,
        user: &UserId,
        request: NewUpload,
    ) -> Result<ResumableUpload, CreateUploadError> {
        let now = self.now();
        let expires_at = later(now, self.settings.expiry);
        let NewUpload { name, folder, content_type, length } = request;
        let media =
            self.storage.reserve_pending(*user, name, folder, content_type, length, expires_at).await?;
        let clock = self.storage.clock();
        let upload = ResumableUpload {
            id: UploadId::from_ksuid(clock.new_ksuid()),
            creator: *user,
            media: media.id(),
            length,
            offset: 0,
            expires_at,
            created_at: now,
        };
        let expiry = NewJob {
            id: JobId::from_ksuid(clock.new_ksuid()),
            task: Task::ExpireUpload { upload: upload.id },
            run_at: expires_at,
            created_at: now,
        };
        if let Err(e) = self.uploads.insert(&upload, &expiry).await {
            self.storage.discard_pending(&media).await?;
            return Err(e.into());
        }
        self.storage.job_waker().wake();
        Ok(upload)
    }

    /// The upload as its creator sees it (its durable offset). An upload whose every byte
    /// is stored but whose file was not made yet (its node died between the two) is made
    /// a file now.
    ///
    /// # Errors
    /// [`UploadError::NotFound`] (unknown, someone else's, ended), [`UploadError::Expired`].
    pub async fn status(&self, user: &UserId, id: &UploadId) -> Result<ResumableUpload, UploadError> {
        let (upload, media) = self.open(user, id).await?;
        if upload.is_complete() && media.uploaded().is_none() {
            self.finish(&upload, &media).await?;
        }
        Ok(upload)
    }

    /// Appends `content` at `offset` (which must be the upload's), storing it in parts of
    /// [`UploadSettings::part_bytes`], each durable once committed. A body that breaks off
    /// (the client went away, or stalled) keeps what arrived. With the last byte, the
    /// upload becomes a file.
    ///
    /// # Errors
    /// [`UploadError::NotFound`], [`UploadError::Expired`], [`UploadError::OffsetMismatch`],
    /// [`UploadError::Conflict`] (another request stored at this offset first),
    /// [`UploadError::TooLong`], [`UploadError::Busy`], storage failures.
    pub async fn append(
        &self,
        user: &UserId,
        id: &UploadId,
        offset: u64,
        content: ByteStream,
    ) -> Result<Appended, UploadError> {
        let (mut upload, media) = self.open(user, id).await?;
        if media.uploaded().is_some() {
            return Ok(Appended {
                upload: ResumableUpload { offset: upload.length, ..upload },
                file: Some(media),
                interrupted: false,
            });
        }
        if offset != upload.offset {
            return Err(UploadError::OffsetMismatch { offset: upload.offset });
        }
        let _slot = self.storage.transfer_slot().await.ok_or(UploadError::Busy)?;
        let mut body = Body::new(content, upload.length - upload.offset);
        while !upload.is_complete() && body.has_more().await {
            let (part, back) = body.part(self.settings.part_bytes);
            let stored = self.store_part(&upload, part).await;
            // The body comes back when the part's stream ended; without it, the store
            // stopped reading (it failed).
            body = match (stored, back.await) {
                (_, Ok(body)) if body.overflowed => {
                    return Err(UploadError::TooLong { length: upload.length });
                }
                (Ok(size), Ok(body)) => {
                    upload.offset += size;
                    body
                }
                (Err(e), _) => return Err(e),
                (Ok(_), Err(_)) => return Err(BackendError::msg("a part's store stopped reading").into()),
            };
        }
        let interrupted = body.interrupted;
        drop(body);
        let file = if upload.is_complete() { Some(self.finish(&upload, &media).await?) } else { None };
        Ok(Appended { upload, file, interrupted })
    }

    /// Ends an upload before it completed: its record, the pending file (its name and
    /// quota are free again) and every part go.
    ///
    /// # Errors
    /// [`UploadError::NotFound`] (unknown, someone else's, ended).
    pub async fn terminate(&self, user: &UserId, id: &UploadId) -> Result<(), UploadError> {
        let upload =
            self.uploads.find(id).await?.filter(|u| u.creator == *user).ok_or(UploadError::NotFound)?;
        self.discard(&upload).await?;
        self.remove_parts(id).await?;
        Ok(())
    }

    /// The expiry job: an upload still unfinished at its expiry is removed (a complete one
    /// whose file was never made is made one), then every part object left of it, whatever
    /// became of the upload (completed, terminated, taken with its file).
    ///
    /// # Errors
    /// [`BackendError`] when the repositories or the store fail (the job is retried).
    pub async fn expire(&self, id: &UploadId) -> Result<(), BackendError> {
        if let Some(upload) = self.uploads.find(id).await? {
            if upload.expires_at > self.now() {
                return Err(BackendError::msg(format!(
                    "upload {id} does not expire before {}",
                    upload.expires_at
                )));
            }
            let media = self.storage.media_repository().find(&upload.media).await?;
            match media {
                Some(media) if upload.is_complete() && media.uploaded().is_none() => {
                    self.finish(&upload, &media)
                        .await
                        .map_err(|e| BackendError::new("finishing an upload", e))?;
                }
                _ => self.discard(&upload).await?,
            }
        }
        self.remove_parts(id).await
    }

    /// The creator's live upload and its pending (or just finished) file.
    async fn open(&self, user: &UserId, id: &UploadId) -> Result<(ResumableUpload, Media), UploadError> {
        let upload =
            self.uploads.find(id).await?.filter(|u| u.creator == *user).ok_or(UploadError::NotFound)?;
        let media =
            self.storage.media_repository().find(&upload.media).await?.ok_or(UploadError::NotFound)?;
        if media.uploaded().is_none() && upload.expires_at <= self.now() {
            return Err(UploadError::Expired);
        }
        Ok((upload, media))
    }

    /// Stores one part at the upload's offset: records it, writes its object under a
    /// fresh data key, then commits it. Answers its size (0: nothing arrived, nothing
    /// kept). A part that cannot be committed (another request committed at this offset
    /// first) is removed.
    async fn store_part(&self, upload: &ResumableUpload, content: ByteStream) -> Result<u64, UploadError> {
        let now = self.now();
        let (data_key, envelope) = self.storage.new_data_key().await?;
        let name = FileName::parse("part").map_err(|e| BackendError::new("a part's name", e))?;
        let key = StorageKey::new(MediaId::from_ksuid(self.storage.clock().new_ksuid()), now, &name);
        let part = UploadPart {
            key: key.clone(),
            upload: upload.id,
            start: upload.offset,
            size: None,
            envelope,
            created_at: now,
        };
        self.uploads.add_part(&part).await?;
        let stored = self.storage.upload(&key, &data_key, content).await;
        let size = match stored {
            Ok(stored) if stored.size > 0 => stored.size,
            Ok(_) => {
                self.remove_part(&part).await?;
                return Ok(0);
            }
            Err(e) => {
                self.remove_part(&part).await?;
                return Err(e.into());
            }
        };
        if self.uploads.commit_part(&upload.id, &key, upload.offset, size).await? {
            Ok(size)
        } else {
            self.remove_part(&part).await?;
            Err(UploadError::Conflict)
        }
    }

    /// Makes the complete upload a file: its parts, decrypted in order, stored as the
    /// pending file's content; then the upload's record and parts go.
    async fn finish(&self, upload: &ResumableUpload, media: &Media) -> Result<Media, UploadError> {
        let parts = self.committed_parts(upload).await?;
        let plaintext = self.plaintext_of(parts);
        let _slot = self.storage.transfer_slot().await.ok_or(UploadError::Busy)?;
        let file = self.storage.complete_pending(media, plaintext).await?;
        self.uploads.delete(&upload.id).await?;
        // What is left of the parts goes with the expiry job if this fails.
        if let Err(e) = self.remove_parts(&upload.id).await {
            tracing::warn!(upload = %upload.id, error = &e as &dyn std::error::Error, "could not remove the parts of a finished upload");
        }
        Ok(file)
    }

    /// The committed parts that make up the upload's bytes `0..offset`, in order.
    async fn committed_parts(&self, upload: &ResumableUpload) -> Result<Vec<UploadPart>, BackendError> {
        let parts: Vec<UploadPart> =
            self.uploads.parts(&upload.id).await?.into_iter().filter(|p| p.size.is_some()).collect();
        let mut at = 0;
        for part in &parts {
            if part.start != at {
                return Err(BackendError::msg(format!("upload {}: no part starts at {at}", upload.id)));
            }
            at += part.size.unwrap_or(0);
        }
        if at != upload.offset {
            return Err(BackendError::msg(format!(
                "upload {}: parts hold {at} of {} bytes",
                upload.id, upload.offset
            )));
        }
        Ok(parts)
    }

    /// The plaintext of `parts`, one after the other, each decrypted and verified.
    fn plaintext_of(&self, parts: Vec<UploadPart>) -> ByteStream {
        let storage = self.storage.clone();
        futures::stream::iter(parts)
            .then(move |part| {
                let storage = storage.clone();
                async move {
                    let size = part.size.unwrap_or(0);
                    let object =
                        StoredObject { key: &part.key, envelope: &part.envelope, size, digest: None };
                    storage.decrypt_object(&object, 0..size).await.map_err(|e| match e {
                        DownloadError::Storage(s) => std::io::Error::other(s),
                        other => std::io::Error::other(other),
                    })
                }
            })
            .try_flatten()
            .boxed()
    }

    /// Removes an upload's record and its pending file (unless that became a file).
    async fn discard(&self, upload: &ResumableUpload) -> Result<(), BackendError> {
        self.uploads.delete(&upload.id).await?;
        if let Some(media) = self.storage.media_repository().find(&upload.media).await? {
            self.storage.discard_pending(&media).await?;
        }
        Ok(())
    }

    /// Removes every part object of `upload` and its record.
    async fn remove_parts(&self, upload: &UploadId) -> Result<(), BackendError> {
        for part in self.uploads.parts(upload).await? {
            self.remove_part(&part).await?;
        }
        Ok(())
    }

    async fn remove_part(&self, part: &UploadPart) -> Result<(), BackendError> {
        match self.storage.objects().delete(&part.key).await {
            Ok(()) | Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(BackendError::new(format!("removing part {}", part.key), e)),
        }
        self.uploads.remove_part(&part.key).await
    }
}

/// A request's body, cut into parts: at most `left` bytes are read from it (more is an
/// overflow), and a body that breaks off just ends (what arrived counts).
struct Body {
    content: ByteStream,
    held: Option<Bytes>,
    left: u64,
    ended: bool,
    interrupted: bool,
    overflowed: bool,
}

impl Body {
    fn new(content: ByteStream, left: u64) -> Self {
        Self { content, held: None, left, ended: false, interrupted: false, overflowed: false }
    }

    /// Reads ahead until a byte is held or the body ended.
    async fn has_more(&mut self) -> bool {
        while self.held.is_none() && !self.ended {
            match self.content.next().await {
                Some(Ok(bytes)) if bytes.is_empty() => {}
                Some(Ok(bytes)) => self.held = Some(bytes),
                Some(Err(e)) => {
                    tracing::info!(error = %e, "an upload's body broke off; keeping what arrived");
                    self.interrupted = true;
                    self.ended = true;
                }
                None => self.ended = true,
            }
        }
        self.held.is_some()
    }

    /// The next at most `max` bytes (fewer when the body ends first), and the body back
    /// once that stream ended. Bytes beyond what the upload announced end the stream with
    /// an error (so that the part is not kept) and mark the body overflowed.
    fn part(self, max: u64) -> (ByteStream, oneshot::Receiver<Self>) {
        let (send, receive) = oneshot::channel();
        let stream = futures::stream::unfold(Some((self, max, send)), |state| async move {
            let (mut body, room, send) = state?;
            if room == 0 || !body.has_more().await {
                let _ = send.send(body);
                return None;
            }
            let mut bytes = body.held.take().unwrap_or_default();
            let len = bytes.len() as u64;
            if len > body.left {
                body.overflowed = true;
                let _ = send.send(body);
                return Some((Err(std::io::Error::other("more bytes than the upload's length")), None));
            }
            if len > room {
                body.held = Some(bytes.split_off(usize::try_from(room).unwrap_or(usize::MAX)));
            }
            let taken = bytes.len() as u64;
            body.left -= taken;
            Some((Ok(bytes), Some((body, room - taken, send))))
        });
        (stream.boxed(), receive)
    }
}
