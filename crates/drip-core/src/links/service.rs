//! `LinkService`: public links to files (download without an account) and drop links to
//! folders (upload without an account), with their expiry, password, limits and counters
//! enforced here.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Duration, Utc};
use futures::Stream;
use futures::future::BoxFuture;

use super::error::{CreateLinkError, DropUploadError, LinkDownloadError, ManageLinkError, VisitError};
use super::model::{Created, Credentials, DropLink, DropRequest, Guard, LinkRequest, LinkToken, PublicLink};
use super::ports::{InsertLinkError, LinkRepository};
use crate::accounts::model::{AttemptKey, Password, PasswordHash};
use crate::accounts::ports::{AccountRepository, HashError, PasswordHasher};
use crate::accounts::throttle::{Refused, ThrottleSettings};
use crate::clock::Clock;
use crate::error::BackendError;
use crate::events::{Event, Notifier};
use crate::ids::{DropId, LinkId, MediaId, UserId};
use crate::storage::model::{ContentType, FileName, Media};
use crate::storage::ports::{ByteStream, MediaRepository};
use crate::storage::{Download, StorageService, StoreRequest};

/// The ports the link service runs on.
#[derive(Clone)]
pub struct LinkPorts {
    /// Links and drops.
    pub links: Arc<dyn LinkRepository>,
    /// Media (who may link what).
    pub media: Arc<dyn MediaRepository>,
    /// Failed password counts (throttling).
    pub accounts: Arc<dyn AccountRepository>,
    /// Link passwords are hashed like account passwords.
    pub hasher: Arc<dyn PasswordHasher>,
    /// The creator's `download` events.
    pub notifier: Arc<dyn Notifier>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

/// Tunables of the link service.
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    /// How long a correct password is remembered for a visitor (the page's cookie).
    pub grant_ttl: Duration,
    /// Wrong link passwords are throttled like logins.
    pub throttle: ThrottleSettings,
    /// Most links (and drops) one listing answers.
    pub max_listed: u32,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { grant_ttl: Duration::minutes(15), throttle: ThrottleSettings::default(), max_listed: 1000 }
    }
}

/// A visitor let in by a link: the link, and when they just gave its password, a grant
/// that lets them in again without it until it expires.
#[derive(Debug, Clone)]
pub struct Visit<T> {
    /// The link.
    pub link: T,
    /// Proof of the password, for the page's cookie.
    pub grant: Option<Grant>,
}

/// Proof that a visitor gave a link's password: opaque text valid until `expires_at`,
/// only for that link, and void once the password changes or the link goes.
#[derive(Clone)]
pub struct Grant {
    /// The text to present back.
    pub value: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A visitor let in by a public link, and the link's file.
#[derive(Debug, Clone)]
pub struct OpenLink {
    /// The link.
    pub link: PublicLink,
    /// Its file.
    pub media: Media,
    /// Proof of the password just given, for the page's cookie.
    pub grant: Option<Grant>,
}

/// A download through a public link under way.
#[derive(Debug)]
pub struct LinkDownload {
    /// The link.
    pub link: PublicLink,
    /// The file and its content (the download is counted once it completes; dropped
    /// before that, it is given back).
    pub download: Download,
}

/// An upload to a drop link.
pub struct DropUpload {
    /// The file name the uploader gave (a free variant is used when it is taken).
    pub name: FileName,
    /// The MIME type; guessed from the name when absent.
    pub content_type: Option<ContentType>,
    /// The size, or a bound of it, when known before reading (required by drops with a
    /// byte limit; what the file turns out not to use is given back).
    pub length: Option<u64>,
    /// The content.
    pub content: ByteStream,
}

impl std::fmt::Debug for DropUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropUpload")
            .field("name", &self.name)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// The link use cases.
#[derive(Clone)]
pub struct LinkService {
    ports: LinkPorts,
    storage: StorageService,
    settings: LinkSettings,
}

impl std::fmt::Debug for LinkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl LinkService {
    /// A service over `ports`, streaming content through `storage`.
    #[must_use]
    pub fn new(ports: LinkPorts, storage: StorageService, settings: LinkSettings) -> Self {
        Self { ports, storage, settings }
    }

    /// Makes a public link to a file (its creator only). The token is in the answer and
    /// nowhere else.
    ///
    /// # Errors
    /// See [`CreateLinkError`].
    pub async fn create_link(
        &self,
        user: &UserId,
        media: &MediaId,
        request: LinkRequest,
    ) -> Result<Created<PublicLink>, CreateLinkError> {
        let now = self.ports.clock.now();
        check_expiry(request.expires_at, now)?;
        if request.max_downloads == Some(0) {
            return Err(CreateLinkError::Invalid("max_downloads is at least 1"));
        }
        let media = self.own_media(user, media).await.map_err(|e| match e {
            ManageLinkError::NotFound => CreateLinkError::NotFound,
            ManageLinkError::Forbidden => CreateLinkError::Forbidden,
            ManageLinkError::Backend(b) => CreateLinkError::Backend(b),
        })?;
        let token = LinkToken::generate();
        let link = PublicLink {
            id: LinkId::from_ksuid(self.ports.clock.new_ksuid()),
            media: media.id(),
            creator: *user,
            file_name: media.name().clone(),
            token: token.hash(),
            guard: Guard { expires_at: request.expires_at, password: self.hash(request.password).await? },
            max_downloads: request.max_downloads,
            downloads: 0,
            notify: request.notify,
            created_at: now,
        };
        self.ports.links.insert_link(&link).await.map_err(|e| match e {
            InsertLinkError::Gone => CreateLinkError::NotFound,
            InsertLinkError::Backend(b) => CreateLinkError::Backend(b),
        })?;
        Ok(Created { link, token })
    }

    /// The links to a file (its creator only).
    ///
    /// # Errors
    /// See [`ManageLinkError`].
    pub async fn links_of_file(
        &self,
        user: &UserId,
        media: &MediaId,
    ) -> Result<Vec<PublicLink>, ManageLinkError> {
        let media = self.own_media(user, media).await?;
        Ok(self.ports.links.links_of_media(&media.id()).await?)
    }

    /// Every link the user made.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn my_links(&self, user: &UserId) -> Result<Vec<PublicLink>, BackendError> {
        self.ports.links.links_of(user, self.settings.max_listed).await
    }

    /// Revokes one of the user's links; another user's is not found.
    ///
    /// # Errors
    /// [`ManageLinkError::NotFound`] / backend.
    pub async fn revoke_link(&self, user: &UserId, id: &LinkId) -> Result<(), ManageLinkError> {
        let link = self.ports.links.find_link(id).await?.filter(|l| l.creator == *user);
        if link.is_some() && self.ports.links.delete_link(id).await? {
            Ok(())
        } else {
            Err(ManageLinkError::NotFound)
        }
    }

    /// Lets a visitor in by a public link: the token must name a live link (not expired,
    /// not used up, its file still there) and, when it has a password, the credentials
    /// must hold it (or a grant of it).
    ///
    /// # Errors
    /// See [`VisitError`].
    pub async fn visit_link(
        &self,
        token: &str,
        credentials: &Credentials,
    ) -> Result<Visit<PublicLink>, VisitError> {
        let now = self.ports.clock.now();
        let link = match LinkToken::from_client(token) {
            Some(token) => self.ports.links.link_by_token(&token.hash()).await?,
            None => None,
        };
        let Some(link) = link.filter(|l| !l.guard.expired(now) && !l.exhausted()) else {
            return Err(self.unknown(credentials).await);
        };
        let grant = self.unlock(&link.id.to_string(), &link.guard, credentials, now).await?;
        Ok(Visit { link, grant })
    }

    /// Lets a visitor in by a public link (see [`LinkService::visit_link`]) and reads the
    /// link's file, for what a download needs to know first (its size, its digest).
    ///
    /// # Errors
    /// See [`VisitError`]; a file gone is [`VisitError::NotFound`].
    pub async fn open_link(&self, token: &str, credentials: &Credentials) -> Result<OpenLink, VisitError> {
        let Visit { link, grant } = self.visit_link(token, credentials).await?;
        let media = self.ports.media.find(&link.media).await?.filter(|m| m.uploaded_at().is_some());
        let media = media.ok_or(VisitError::NotFound)?;
        Ok(OpenLink { link, media, grant })
    }

    /// Streams the file of a public link to a visitor: [`LinkService::open_link`], then
    /// [`LinkService::download_opened`].
    ///
    /// # Errors
    /// See [`LinkDownloadError`].
    pub async fn download_link(
        &self,
        token: &str,
        credentials: &Credentials,
        range: Option<Range<u64>>,
    ) -> Result<LinkDownload, LinkDownloadError> {
        let open = self.open_link(token, credentials).await?;
        self.download_opened(open, range).await
    }

    /// Streams the file of a link just opened. A full download, or a range from the first
    /// byte, counts once it completes; the count is taken before the first byte (and
    /// refused when the link allows no more, whatever happened since it was opened), so
    /// that `max_downloads` holds under concurrency, and given back if the transfer does
    /// not complete. When the link asks for it, a completed counted download tells the
    /// creator.
    ///
    /// # Errors
    /// See [`LinkDownloadError`].
    pub async fn download_opened(
        &self,
        open: OpenLink,
        range: Option<Range<u64>>,
    ) -> Result<LinkDownload, LinkDownloadError> {
        let OpenLink { link, media, .. } = open;
        let counts = range.as_ref().is_none_or(|r| r.start == 0);
        if counts && !self.ports.links.count_download(&link.id, self.ports.clock.now()).await? {
            return Err(VisitError::NotFound.into());
        }
        let giveback = counts.then(|| self.giveback_download(link.id));
        let mut download = match self.storage.download_media(media, range).await {
            Ok(download) => download,
            Err(e) => {
                if let Some(giveback) = giveback {
                    giveback.await;
                }
                return Err(e.into());
            }
        };
        if counts {
            let on_completion = (link.notify).then(|| {
                let event = Event::LinkDownloaded { media_id: link.media, name: link.file_name.clone() };
                let (notifier, creator) = (Arc::clone(&self.ports.notifier), link.creator);
                let notify: BoxFuture<'static, ()> = Box::pin(async move {
                    if let Err(e) = notifier.publish(&creator, event).await {
                        tracing::warn!(error = &e as &dyn std::error::Error, "could not publish an event");
                    }
                });
                notify
            });
            let giveback = giveback.map(|g| -> BoxFuture<'static, ()> { Box::pin(g) });
            let length = download.range.end - download.range.start;
            download.content = Box::pin(Settled::new(download.content, length, on_completion, giveback));
        }
        Ok(LinkDownload { link, download })
    }

    /// Makes a drop link to one of the user's folders.
    ///
    /// # Errors
    /// See [`CreateLinkError`] (`NotFound` when the user is gone).
    pub async fn create_drop(
        &self,
        user: &UserId,
        request: DropRequest,
    ) -> Result<Created<DropLink>, CreateLinkError> {
        let now = self.ports.clock.now();
        check_expiry(request.expires_at, now)?;
        if request.max_uploads == Some(0) {
            return Err(CreateLinkError::Invalid("max_uploads is at least 1"));
        }
        if request.max_bytes == Some(0) {
            return Err(CreateLinkError::Invalid("max_bytes is at least 1"));
        }
        let token = LinkToken::generate();
        let drop = DropLink {
            id: DropId::from_ksuid(self.ports.clock.new_ksuid()),
            owner: *user,
            folder: request.folder,
            token: token.hash(),
            guard: Guard { expires_at: request.expires_at, password: self.hash(request.password).await? },
            max_uploads: request.max_uploads,
            max_bytes: request.max_bytes,
            uploads: 0,
            bytes: 0,
            created_at: now,
        };
        self.ports.links.insert_drop(&drop).await.map_err(|e| match e {
            InsertLinkError::Gone => CreateLinkError::NotFound,
            InsertLinkError::Backend(b) => CreateLinkError::Backend(b),
        })?;
        Ok(Created { link: drop, token })
    }

    /// Every drop link the user made.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn my_drops(&self, user: &UserId) -> Result<Vec<DropLink>, BackendError> {
        self.ports.links.drops_of(user, self.settings.max_listed).await
    }

    /// Revokes one of the user's drops; another user's is not found.
    ///
    /// # Errors
    /// [`ManageLinkError::NotFound`] / backend.
    pub async fn revoke_drop(&self, user: &UserId, id: &DropId) -> Result<(), ManageLinkError> {
        let drop = self.ports.links.find_drop(id).await?.filter(|d| d.owner == *user);
        if drop.is_some() && self.ports.links.delete_drop(id).await? {
            Ok(())
        } else {
            Err(ManageLinkError::NotFound)
        }
    }

    /// Lets a visitor in by a drop link: live (not expired, not used up) and, when it has
    /// a password, the credentials hold it.
    ///
    /// # Errors
    /// See [`VisitError`].
    pub async fn visit_drop(
        &self,
        token: &str,
        credentials: &Credentials,
    ) -> Result<Visit<DropLink>, VisitError> {
        let now = self.ports.clock.now();
        let drop = match LinkToken::from_client(token) {
            Some(token) => self.ports.links.drop_by_token(&token.hash()).await?,
            None => None,
        };
        let Some(drop) = drop.filter(|d| !d.guard.expired(now) && !d.would_exceed(0)) else {
            return Err(self.unknown(credentials).await);
        };
        let grant = self.unlock(&drop.id.to_string(), &drop.guard, credentials, now).await?;
        Ok(Visit { link: drop, grant })
    }

    /// Stores one file through a drop link into its owner's folder, as the owner's file and
    /// within the owner's limits, under a free name (a taken one gets a number). The owner
    /// gets the `upload` event. The uploader learns nothing of the folder.
    ///
    /// # Errors
    /// See [`DropUploadError`].
    pub async fn upload_to_drop(
        &self,
        token: &str,
        credentials: &Credentials,
        upload: DropUpload,
    ) -> Result<Media, DropUploadError> {
        let drop = self.visit_drop(token, credentials).await?.link;
        self.upload_to(&drop, upload).await
    }

    /// Stores one file through a drop just visited ([`LinkService::visit_drop`]): within its
    /// limits (reserved atomically, whatever happened since the visit) and its owner's.
    ///
    /// # Errors
    /// See [`DropUploadError`].
    pub async fn upload_to(&self, drop: &DropLink, upload: DropUpload) -> Result<Media, DropUploadError> {
        let bytes = match (drop.max_bytes, upload.length) {
            (Some(_), None) => return Err(DropUploadError::LengthRequired),
            (_, length) => length.unwrap_or(0),
        };
        if !self
            .ports
            .links
            .reserve_upload(&drop.id, bytes, self.ports.clock.now())
            .await
            .map_err(VisitError::from)?
        {
            return Err(DropUploadError::LimitReached);
        }
        // Given back when the upload fails or is dropped midway.
        let mut giveback = Giveback::armed(self.giveback_reservation(drop.id, 1, bytes));
        let request = StoreRequest {
            user: drop.owner,
            name: upload.name,
            folder: drop.folder.clone(),
            content_type: upload.content_type,
            length: upload.length,
            content: upload.content,
        };
        let stored = self.storage.store_under_free_name(request).await;
        match stored {
            Ok(media) => {
                giveback.disarm();
                // A length that bounded more than the file (a form around it) gives the
                // rest back.
                if let Some(surplus) = bytes.checked_sub(media.size()).filter(|s| *s > 0) {
                    self.giveback_reservation(drop.id, 0, surplus).await;
                }
                Ok(media)
            }
            Err(e) => {
                giveback.run().await;
                Err(e.into())
            }
        }
    }

    /// The creator's uploaded media `id`.
    async fn own_media(&self, user: &UserId, id: &MediaId) -> Result<Media, ManageLinkError> {
        let media = self.ports.media.find_visible(user, id).await?.ok_or(ManageLinkError::NotFound)?;
        if media.creator() == *user { Ok(media) } else { Err(ManageLinkError::Forbidden) }
    }

    async fn hash(&self, password: Option<Password>) -> Result<Option<PasswordHash>, BackendError> {
        match password {
            None => Ok(None),
            Some(password) => self.ports.hasher.hash(&password).await.map(Some).map_err(hash_failure),
        }
    }

    /// The answer to an unknown (or dead) token, spending the time a password check would
    /// so that timing does not tell the two apart.
    async fn unknown(&self, credentials: &Credentials) -> VisitError {
        if let Some(password) = credentials.password.as_deref().and_then(|p| Password::parse(p).ok()) {
            self.ports.hasher.dummy_verify(&password).await;
        }
        VisitError::NotFound
    }

    /// Checks the password of the link `subject` guarded by `guard`: a valid grant, or the
    /// password itself (throttled like a login; a correct one answers a new grant).
    async fn unlock(
        &self,
        subject: &str,
        guard: &Guard,
        credentials: &Credentials,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, VisitError> {
        let Some(hash) = &guard.password else { return Ok(None) };
        if credentials.grant.as_deref().is_some_and(|g| grant_holds(hash, subject, g, now)) {
            return Ok(None);
        }
        let Some(password) = &credentials.password else { return Err(VisitError::PasswordRequired) };
        let throttle = &self.settings.throttle;
        let keys = throttle.link_keys(subject, credentials.client);
        let accounts = &*self.ports.accounts;
        throttle.check(accounts, &keys, now).await.map_err(|e| match e {
            Refused::Throttled(t) => VisitError::Throttled(t),
            Refused::Backend(b) => VisitError::Backend(b),
        })?;
        let correct = match Password::parse(password) {
            Ok(password) => self.ports.hasher.verify(&password, hash).await.map_err(hash_failure)?,
            Err(_) => false,
        };
        if !correct {
            throttle.failed(accounts, &keys, now).await?;
            return Err(VisitError::NotFound);
        }
        accounts.clear_failures(&AttemptKey::link(subject)).await?;
        let expires_at = now + self.settings.grant_ttl;
        Ok(Some(Grant { value: grant_value(hash, subject, expires_at), expires_at }))
    }

    fn giveback_download(&self, id: LinkId) -> impl Future<Output = ()> + Send + 'static {
        let links = Arc::clone(&self.ports.links);
        async move {
            if let Err(e) = links.uncount_download(&id).await {
                tracing::warn!(link = %id, error = &e as &dyn std::error::Error, "could not give back an incomplete download");
            }
        }
    }

    fn giveback_reservation(&self, id: DropId, uploads: u32, bytes: u64) -> BoxFuture<'static, ()> {
        let links = Arc::clone(&self.ports.links);
        Box::pin(async move {
            if let Err(e) = links.release_upload(&id, uploads, bytes).await {
                tracing::warn!(drop = %id, error = &e as &dyn std::error::Error, "could not give back a failed upload");
            }
        })
    }
}

fn check_expiry(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), CreateLinkError> {
    match expires_at {
        Some(at) if at <= now => Err(CreateLinkError::Invalid("expires_at is in the past")),
        _ => Ok(()),
    }
}

fn hash_failure(e: HashError) -> BackendError {
    BackendError::new("checking a link password", e)
}

/// The grant text for `subject` until `expires_at`: `<unix seconds>.<hex HMAC>`, keyed by
/// the password's stored hash (secret to the server, changed with the password).
fn grant_value(hash: &PasswordHash, subject: &str, expires_at: DateTime<Utc>) -> String {
    let expiry = expires_at.timestamp();
    let tag = crate::crypto::hmac_sha256(hash.as_str().as_bytes(), grant_message(subject, expiry).as_bytes());
    format!("{expiry}.{}", hex::encode(tag))
}

fn grant_message(subject: &str, expiry: i64) -> String {
    format!("drip link grant\n{subject}\n{expiry}")
}

/// Whether `grant` is a grant of `subject`'s password `hash`, unexpired at `now`.
fn grant_holds(hash: &PasswordHash, subject: &str, grant: &str, now: DateTime<Utc>) -> bool {
    let Some((expiry, tag)) = grant.split_once('.') else { return false };
    let (Ok(expiry), Ok(tag)) = (expiry.parse::<i64>(), hex::decode(tag)) else { return false };
    expiry > now.timestamp()
        && crate::crypto::hmac_sha256_verify(
            hash.as_str().as_bytes(),
            grant_message(subject, expiry).as_bytes(),
            &tag,
        )
}

/// Work to run when something is dropped before it was disarmed (on a spawned task when
/// dropped outside [`Giveback::run`]).
struct Giveback(Option<BoxFuture<'static, ()>>);

impl Giveback {
    fn armed(work: BoxFuture<'static, ()>) -> Self {
        Self(Some(work))
    }

    fn disarm(&mut self) {
        self.0 = None;
    }

    async fn run(&mut self) {
        if let Some(work) = self.0.take() {
            work.await;
        }
    }
}

impl Drop for Giveback {
    fn drop(&mut self) {
        if let (Some(work), Ok(handle)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            handle.spawn(work);
        }
    }
}

/// A content stream of `remaining` bytes that runs `on_completion` once its last byte was
/// read without an error — a reader that stops there (an HTTP server stops at the
/// `Content-Length`) need not poll the end — and gives back what was counted for it when
/// dropped before that.
struct Settled {
    inner: ByteStream,
    remaining: u64,
    on_completion: Option<BoxFuture<'static, ()>>,
    giveback: Giveback,
    failed: bool,
}

impl Settled {
    fn new(
        inner: ByteStream,
        remaining: u64,
        on_completion: Option<BoxFuture<'static, ()>>,
        giveback: Option<BoxFuture<'static, ()>>,
    ) -> Self {
        let mut settled =
            Self { inner, remaining, on_completion, giveback: Giveback(giveback), failed: false };
        if remaining == 0 {
            settled.complete();
        }
        settled
    }

    fn complete(&mut self) {
        self.giveback.disarm();
        if let (Some(work), Ok(handle)) = (self.on_completion.take(), tokio::runtime::Handle::try_current()) {
            handle.spawn(work);
        }
    }
}

impl Stream for Settled {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(bytes))) if !self.failed && self.remaining > 0 => {
                self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
                if self.remaining == 0 {
                    self.complete();
                }
            }
            // A failed transfer is no delivery, whatever follows.
            Poll::Ready(Some(Err(_))) if self.remaining > 0 => {
                self.on_completion = None;
                self.failed = true;
            }
            _ => {}
        }
        polled
    }
}
