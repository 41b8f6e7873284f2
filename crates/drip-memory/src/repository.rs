//! In-memory `AccountRepository` and `MediaRepository` over one shared state, honouring
//! every contract of the ports (they pass `drip-testkit`'s conformance suite).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::{
    AttemptKey, Failures, Owner, PasswordHash, RefreshTokenHash, RefreshTokenRecord, SessionSummary, User,
    Username,
};
use drip_core::accounts::ports::{AccountRepository, ConsumeOutcome, CreateUserError, DeleteUserError};
use drip_core::jobs::model::{Claim, Job, JobState, JobStats, NewJob};
use drip_core::jobs::ports::JobQueue;
use drip_core::links::model::{DropLink, PublicLink};
use drip_core::storage::model::{
    Allowance, Envelope, FileCursor, FileName, FolderListing, FolderPath, FolderSummary, Media, MediaPage,
    PageRequest, QuotaExceeded, QuotaSetting, Share, SharedFile, SortOrder, StorageKey, TrashPage,
    TrashedMedia, UploadedContent, Usage, UsageSort, UserUsage,
};
use drip_core::storage::ports::{
    AddShareError, InsertMediaError, MediaRepository, RelocateError, RelocateFolderError,
    ReplaceContentError, ReserveError, RestoreMediaError,
};
use drip_core::uploads::model::{ResumableUpload, UploadPart};
use drip_core::{BackendError, ClaimToken, DropId, JobId, LinkId, MediaId, TokenFamilyId, UploadId, UserId};

use crate::archives::{ArchiveTable, MemoryArchiveRepository};
use crate::jobs::JobTable;
use crate::links::MemoryLinkRepository;
use crate::uploads::MemoryUploadRepository;

/// Everything the two repositories hold, guarded by one lock so that every operation is
/// atomic (and transactions spanning users and media are trivially consistent).
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) users: BTreeMap<UserId, User>,
    /// Normalized username → id: the case-insensitive unique index.
    usernames: HashMap<String, UserId>,
    tokens: HashMap<RefreshTokenHash, RefreshTokenRecord>,
    pub(crate) media: BTreeMap<MediaId, Media>,
    /// (media, sharee) → when it was shared.
    shares: BTreeMap<(MediaId, UserId), DateTime<Utc>>,
    /// Background jobs, enqueued with the writes that need them.
    pub(crate) jobs: JobTable,
    /// Prepared folder archives.
    pub(crate) archives: ArchiveTable,
    /// Until when each pending media holds its name (absent: abandoned).
    leases: HashMap<MediaId, DateTime<Utc>>,
    /// The trashed media: when each was trashed and when it is due to be purged.
    trash: HashMap<MediaId, (DateTime<Utc>, DateTime<Utc>)>,
    /// Failed logins per account and client.
    failures: HashMap<AttemptKey, Failures>,
    /// Public links (their file names are read from `media`).
    pub(crate) links: BTreeMap<LinkId, PublicLink>,
    /// Drop links.
    pub(crate) drops: BTreeMap<DropId, DropLink>,
    /// Bytes of its creator's quota each pending media holds.
    reserved: HashMap<MediaId, u64>,
    /// Quotas set for users (absent: the default).
    quotas: HashMap<UserId, QuotaSetting>,
    /// Resumable uploads (each goes with its pending media).
    pub(crate) uploads: BTreeMap<UploadId, ResumableUpload>,
    /// Parts of resumable uploads, by object key (they outlive their upload).
    pub(crate) parts: BTreeMap<StorageKey, UploadPart>,
}

impl State {
    fn is_shared(&self, media: MediaId, user: UserId) -> bool {
        self.shares.contains_key(&(media, user))
    }

    /// Whether `user` sees `media` (created it or has it shared), whatever its state.
    fn sees(&self, user: UserId, media: &Media) -> bool {
        media.creator() == user || self.is_shared(media.id(), user)
    }

    /// Whether `media` is uploaded and not trashed: what every listing, download and link
    /// shows.
    pub(crate) fn is_listed(&self, media: &Media) -> bool {
        media.uploaded_at().is_some() && !self.trash.contains_key(&media.id())
    }

    /// The listed media `user` sees.
    fn visible(&self, user: UserId) -> impl Iterator<Item = &Media> {
        self.media.values().filter(move |m| self.is_listed(m) && self.sees(user, m))
    }

    /// Whether `creator` may not put a media at `folder`/`name`: they have one there
    /// (uploaded or not, not trashed). Media shared with them never claim their names.
    fn is_claimed(&self, creator: UserId, folder: &FolderPath, name: &FileName) -> bool {
        self.media.values().any(|m| {
            m.folder() == folder
                && m.name() == name
                && m.creator() == creator
                && !self.trash.contains_key(&m.id())
        })
    }

    /// `media` as its creator's trash shows it, if it is trashed.
    fn trashed(&self, media: &Media) -> Option<TrashedMedia> {
        let (trashed_at, purge_at) = *self.trash.get(&media.id())?;
        Some(TrashedMedia { media: media.clone(), trashed_at, purge_at })
    }

    /// Whether `media` is an abandoned upload at `now`: pending, its lease lapsed or absent.
    fn is_abandoned(&self, media: &Media, now: DateTime<Utc>) -> bool {
        media.uploaded_at().is_none() && self.leases.get(&media.id()).is_none_or(|until| *until <= now)
    }

    /// `user`'s quota (their own or `default_quota`) and the bytes they have taken.
    fn allowance(&self, user: UserId, default_quota: Option<u64>) -> Allowance {
        let quota = match self.quotas.get(&user).copied().unwrap_or_default() {
            QuotaSetting::Default => default_quota,
            QuotaSetting::Unlimited => None,
            QuotaSetting::Bytes(bytes) => Some(bytes),
        };
        let mine = self.media.values().filter(|m| m.creator() == user);
        let used = mine
            .map(|m| {
                if m.uploaded_at().is_some() {
                    m.size()
                } else {
                    self.reserved.get(&m.id()).copied().unwrap_or(0)
                }
            })
            .sum();
        Allowance { quota, used }
    }

    fn usage_by_creator(&self) -> HashMap<UserId, Usage> {
        let mut usage: HashMap<UserId, Usage> = HashMap::new();
        for media in self.media.values().filter(|m| m.uploaded_at().is_some()) {
            let entry = usage.entry(media.creator()).or_default();
            entry.media_count += 1;
            entry.disk_usage += media.size();
        }
        usage
    }
}

/// One page of `items` in the request's order, after the request's cursor.
fn paginate(mut items: Vec<Media>, page: &PageRequest) -> (Vec<Media>, Option<FileCursor>) {
    if let Some(after) = page.cursor() {
        items.retain(|m| after.precedes(m));
    }
    let order = page.order();
    items.sort_by(|a, b| order.compare(a, b));
    let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let next = items.last().map(|m| FileCursor::after(m, order));
    (items, next)
}

/// Case-insensitive username order, made total by the username as entered.
fn by_username(a: &Username, b: &Username) -> std::cmp::Ordering {
    a.normalized().cmp(&b.normalized()).then_with(|| a.cmp(b))
}

/// The shared in-memory store behind a [`MemoryAccountRepository`] and a
/// [`MemoryMediaRepository`]; clones share the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepositories {
    state: Arc<Mutex<State>>,
}

pub(crate) fn lock(state: &Mutex<State>) -> Result<MutexGuard<'_, State>, BackendError> {
    state.lock().map_err(|_| BackendError::msg("the memory repository was poisoned by a panic"))
}

impl MemoryRepositories {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The account repository over this store.
    #[must_use]
    pub fn accounts(&self) -> MemoryAccountRepository {
        MemoryAccountRepository { state: Arc::clone(&self.state) }
    }

    /// The media repository over this store.
    #[must_use]
    pub fn media(&self) -> MemoryMediaRepository {
        MemoryMediaRepository { state: Arc::clone(&self.state) }
    }

    /// The job queue over this store (the media repository enqueues into it).
    #[must_use]
    pub fn jobs(&self) -> MemoryJobQueue {
        MemoryJobQueue { state: Arc::clone(&self.state) }
    }

    /// The public and drop links.
    #[must_use]
    pub fn links(&self) -> MemoryLinkRepository {
        MemoryLinkRepository { state: Arc::clone(&self.state) }
    }

    /// The resumable uploads over this store (they enqueue into the same job queue).
    #[must_use]
    pub fn uploads(&self) -> MemoryUploadRepository {
        MemoryUploadRepository { state: Arc::clone(&self.state) }
    }

    /// The archive repository over this store (it enqueues into the same job queue).
    #[must_use]
    pub fn archives(&self) -> MemoryArchiveRepository {
        MemoryArchiveRepository { state: Arc::clone(&self.state) }
    }

    /// Every media record whatever its state (e.g. to check that a failed upload left
    /// nothing behind), by id.
    ///
    /// # Errors
    /// [`BackendError`] if a panic poisoned the store.
    pub fn all_media(&self) -> Result<Vec<Media>, BackendError> {
        Ok(lock(&self.state)?.media.values().cloned().collect())
    }

    /// Every refresh-token record, by issue time.
    ///
    /// # Errors
    /// [`BackendError`] if a panic poisoned the store.
    pub fn refresh_tokens(&self) -> Result<Vec<RefreshTokenRecord>, BackendError> {
        let mut tokens: Vec<_> = lock(&self.state)?.tokens.values().cloned().collect();
        tokens.sort_by(|a, b| {
            a.issued_at.cmp(&b.issued_at).then_with(|| a.hash.as_bytes().cmp(b.hash.as_bytes()))
        });
        Ok(tokens)
    }

    /// Number of shares held.
    ///
    /// # Errors
    /// [`BackendError`] if a panic poisoned the store.
    pub fn share_count(&self) -> Result<usize, BackendError> {
        Ok(lock(&self.state)?.shares.len())
    }
}

/// [`JobQueue`] in memory; get one from [`MemoryRepositories::jobs`].
#[derive(Debug, Clone)]
pub struct MemoryJobQueue {
    state: Arc<Mutex<State>>,
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(&self, job: &NewJob) -> Result<(), BackendError> {
        lock(&self.state)?.jobs.enqueue(job)
    }

    async fn claim(
        &self,
        token: &ClaimToken,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, BackendError> {
        Ok(lock(&self.state)?.jobs.claim(token, now, lease_until))
    }

    async fn complete(&self, claim: &Claim) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.jobs.complete(claim))
    }

    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.jobs.fail(claim, error, retry_at))
    }

    async fn list(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, BackendError> {
        Ok(lock(&self.state)?.jobs.list(state, limit))
    }

    async fn retry(&self, id: &JobId, now: DateTime<Utc>) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.jobs.retry(id, now))
    }

    async fn stats(&self) -> Result<JobStats, BackendError> {
        Ok(lock(&self.state)?.jobs.stats())
    }
}

/// [`AccountRepository`] in memory; get one from [`MemoryRepositories::accounts`].
#[derive(Debug, Clone)]
pub struct MemoryAccountRepository {
    state: Arc<Mutex<State>>,
}

#[async_trait]
impl AccountRepository for MemoryAccountRepository {
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let mut state = lock(&self.state)?;
        let normalized = user.owner.username.normalized();
        if state.usernames.contains_key(&normalized) {
            return Err(CreateUserError::UsernameTaken);
        }
        if state.users.contains_key(&user.owner.id) {
            return Err(CreateUserError::IdTaken);
        }
        state.usernames.insert(normalized, user.owner.id);
        state.users.insert(user.owner.id, user.clone());
        Ok(())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.usernames.get(&username.normalized()).and_then(|id| state.users.get(id)).cloned())
    }

    async fn find_owner(&self, id: &UserId) -> Result<Option<Owner>, BackendError> {
        Ok(lock(&self.state)?.users.get(id).map(|u| u.owner.clone()))
    }

    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> Result<(), BackendError> {
        let mut state = lock(&self.state)?;
        if !state.users.contains_key(&record.user_id) {
            return Err(BackendError::msg("refresh token of an unknown user"));
        }
        if state.tokens.contains_key(&record.hash) {
            return Err(BackendError::msg("duplicate refresh token hash"));
        }
        state.tokens.insert(record.hash, record.clone());
        Ok(())
    }

    async fn consume_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(record) = state.tokens.get_mut(hash) else {
            return Ok(ConsumeOutcome::Unknown);
        };
        if record.used_at.is_some() || record.revoked_at.is_some() || record.expires_at <= now {
            return Ok(ConsumeOutcome::Rejected(record.clone()));
        }
        record.used_at = Some(now);
        Ok(ConsumeOutcome::Consumed(record.clone()))
    }

    async fn revoke_token_family(
        &self,
        family: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<u64, BackendError> {
        let mut state = lock(&self.state)?;
        let mut changed = 0;
        for record in state.tokens.values_mut() {
            if record.family_id == *family && record.revoked_at.is_none() {
                record.revoked_at = Some(at);
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn find_token_family(
        &self,
        hash: &RefreshTokenHash,
    ) -> Result<Option<TokenFamilyId>, BackendError> {
        Ok(lock(&self.state)?.tokens.get(hash).map(|r| r.family_id))
    }

    async fn session_active(&self, user: &UserId, family: &TokenFamilyId) -> Result<bool, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.users.contains_key(user)
            && state
                .tokens
                .values()
                .any(|t| t.family_id == *family && t.user_id == *user && t.revoked_at.is_none()))
    }

    async fn list_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, BackendError> {
        let state = lock(&self.state)?;
        let mut families: HashMap<TokenFamilyId, (SessionSummary, bool)> = HashMap::new();
        for token in state.tokens.values().filter(|t| t.user_id == *user) {
            let alive = token.revoked_at.is_none() && token.expires_at > now;
            let (summary, open) = families.entry(token.family_id).or_insert_with(|| {
                let summary = SessionSummary {
                    id: token.family_id,
                    client: token.client.clone(),
                    started_at: token.issued_at,
                    last_active_at: token.issued_at,
                    expires_at: token.expires_at,
                };
                (summary, false)
            });
            *open |= alive;
            summary.started_at = summary.started_at.min(token.issued_at);
            summary.last_active_at = summary.last_active_at.max(token.issued_at);
            summary.expires_at = summary.expires_at.max(token.expires_at);
        }
        let mut open: Vec<SessionSummary> =
            families.into_values().filter(|(_, open)| *open).map(|(summary, _)| summary).collect();
        open.sort_by(|a, b| b.last_active_at.cmp(&a.last_active_at).then_with(|| a.id.cmp(&b.id)));
        Ok(open)
    }

    async fn change_password(
        &self,
        user: &UserId,
        hash: &PasswordHash,
        keep: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<TokenFamilyId>>, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(record) = state.users.get_mut(user) else { return Ok(None) };
        record.password_hash = hash.clone();
        let mut revoked = BTreeSet::new();
        for token in state.tokens.values_mut() {
            if token.user_id == *user && token.family_id != *keep && token.revoked_at.is_none() {
                token.revoked_at = Some(at);
                revoked.insert(token.family_id);
            }
        }
        Ok(Some(revoked.into_iter().collect()))
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool, DeleteUserError> {
        let mut state = lock(&self.state)?;
        if state.media.values().any(|m| m.creator() == *id) {
            return Err(DeleteUserError::HasFiles);
        }
        let Some(user) = state.users.remove(id) else { return Ok(false) };
        state.usernames.remove(&user.owner.username.normalized());
        state.tokens.retain(|_, t| t.user_id != *id);
        state.shares.retain(|(_, sharee), _| sharee != id);
        state.drops.retain(|_, d| d.owner != *id);
        state.quotas.remove(id);
        state.archives.remove_owned_by(id);
        Ok(true)
    }

    async fn failures(
        &self,
        key: &AttemptKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Failures>, BackendError> {
        Ok(lock(&self.state)?.failures.get(key).filter(|f| f.last > since).copied())
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<u32, BackendError> {
        let mut state = lock(&self.state)?;
        state.failures.retain(|k, f| k == key || f.last > since);
        let entry = state.failures.entry(key.clone()).or_insert(Failures { count: 0, last: now });
        entry.count = if entry.last <= since { 1 } else { entry.count + 1 };
        entry.last = now;
        Ok(entry.count)
    }

    async fn clear_failures(&self, key: &AttemptKey) -> Result<(), BackendError> {
        lock(&self.state)?.failures.remove(key);
        Ok(())
    }

    async fn list_owners(&self) -> Result<Vec<Owner>, BackendError> {
        let mut owners: Vec<Owner> = lock(&self.state)?.users.values().map(|u| u.owner.clone()).collect();
        owners.sort_by(|a, b| by_username(&a.username, &b.username));
        Ok(owners)
    }
}

/// [`MediaRepository`] in memory; get one from [`MemoryRepositories::media`].
#[derive(Debug, Clone)]
pub struct MemoryMediaRepository {
    state: Arc<Mutex<State>>,
}

#[async_trait]
impl MediaRepository for MemoryMediaRepository {
    async fn insert(
        &self,
        media: &Media,
        lease_until: Option<DateTime<Utc>>,
    ) -> Result<(), InsertMediaError> {
        let mut state = lock(&self.state)?;
        if !state.users.contains_key(&media.creator()) {
            return Err(InsertMediaError::UnknownCreator);
        }
        if state.is_claimed(media.creator(), media.folder(), media.name()) {
            return Err(InsertMediaError::AlreadyExists);
        }
        if state.media.contains_key(&media.id()) {
            return Err(BackendError::msg(format!("duplicate media id {}", media.id())).into());
        }
        state.media.insert(media.id(), media.clone());
        if let Some(until) = lease_until.filter(|_| media.uploaded_at().is_none()) {
            state.leases.insert(media.id(), until);
        }
        Ok(())
    }

    async fn reserve(
        &self,
        id: &MediaId,
        bytes: u64,
        default_quota: Option<u64>,
    ) -> Result<(), ReserveError> {
        let mut state = lock(&self.state)?;
        let creator =
            state.media.get(id).filter(|m| m.uploaded_at().is_none()).ok_or(ReserveError::Gone)?.creator();
        let allowance = state.allowance(creator, default_quota);
        if let Some(quota) = allowance.quota.filter(|q| allowance.used.saturating_add(bytes) > *q) {
            return Err(QuotaExceeded { quota, used: allowance.used }.into());
        }
        *state.reserved.entry(*id).or_default() += bytes;
        Ok(())
    }

    async fn allowance(&self, user: &UserId, default_quota: Option<u64>) -> Result<Allowance, BackendError> {
        Ok(lock(&self.state)?.allowance(*user, default_quota))
    }

    async fn set_quota(&self, user: &UserId, quota: QuotaSetting) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        if !state.users.contains_key(user) {
            return Ok(false);
        }
        state.quotas.insert(*user, quota);
        Ok(true)
    }

    async fn mark_uploaded(
        &self,
        id: &MediaId,
        uploaded: UploadedContent,
    ) -> Result<Option<Media>, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(slot) = state.media.get_mut(id) else { return Ok(None) };
        *slot = slot.clone().with_uploaded(uploaded);
        let updated = slot.clone();
        state.leases.remove(id);
        state.reserved.remove(id);
        Ok(Some(updated))
    }

    async fn renew_lease(&self, id: &MediaId, until: DateTime<Utc>) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        let pending = state.media.get(id).is_some_and(|m| m.uploaded_at().is_none());
        if pending {
            state.leases.insert(*id, until);
        }
        Ok(pending)
    }

    async fn abandoned_upload(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
        now: DateTime<Utc>,
    ) -> Result<Option<Media>, BackendError> {
        let state = lock(&self.state)?;
        let at_name = |m: &&Media| m.creator() == *creator && m.folder() == folder && m.name() == name;
        Ok(state.media.values().filter(at_name).find(|m| state.is_abandoned(m, now)).cloned())
    }

    async fn abandoned_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Media>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state
            .media
            .values()
            .filter(|m| state.is_abandoned(m, now))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn reclaim(
        &self,
        id: &MediaId,
        now: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        let mut state = lock(&self.state)?;
        if !state.media.get(id).is_some_and(|m| state.is_abandoned(m, now)) {
            return Ok(None);
        }
        state.jobs.enqueue(then)?;
        state.leases.remove(id);
        state.reserved.remove(id);
        state.uploads.retain(|_, u| u.media != *id);
        state.shares.retain(|(media, _), _| media != id);
        state.links.retain(|_, l| l.media != *id);
        Ok(state.media.remove(id))
    }

    async fn find(&self, id: &MediaId) -> Result<Option<Media>, BackendError> {
        Ok(lock(&self.state)?.media.get(id).cloned())
    }

    async fn created_by(&self, creator: &UserId, limit: u32) -> Result<Vec<Media>, BackendError> {
        let state = lock(&self.state)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(state.media.values().filter(|m| m.creator() == *creator).take(limit).cloned().collect())
    }

    async fn find_visible(&self, user: &UserId, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.media.get(id).filter(|m| state.is_listed(m) && state.sees(*user, m)).cloned())
    }

    async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError> {
        let state = lock(&self.state)?;
        let files: Vec<Media> = state.visible(*user).filter(|m| m.folder() == folder).cloned().collect();
        let (files, next) = paginate(files, page);
        let mut folders = Vec::new();
        if page.cursor().is_none() {
            let mut totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for media in state.visible(*user) {
                if let Some(child) = folder.child_towards(media.folder()) {
                    let entry = totals.entry(child).or_default();
                    entry.0 += 1;
                    entry.1 += media.size();
                }
            }
            for (name, (file_count, total_size)) in totals {
                let name = FileName::parse(name)
                    .map_err(|e| BackendError::new(format!("folder segment {name:?}"), e))?;
                folders.push(FolderSummary { name, file_count, total_size });
            }
        }
        Ok(FolderListing { files, folders, next })
    }

    async fn list_visible<'a>(
        &self,
        user: &UserId,
        under: Option<&'a FolderPath>,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError> {
        let state = lock(&self.state)?;
        let items: Vec<Media> = state
            .visible(*user)
            .filter(|m| under.is_none_or(|folder| folder.contains(m.folder())))
            .cloned()
            .collect();
        let (items, next) = paginate(items, page);
        Ok(MediaPage { items, next })
    }

    async fn relocate(
        &self,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RelocateError> {
        let mut state = lock(&self.state)?;
        let creator = state.media.get(id).ok_or(RelocateError::NotFound)?.creator();
        // The media itself counts: relocating it onto its own folder and name conflicts.
        if state.is_claimed(creator, folder, name) {
            return Err(RelocateError::AlreadyExists);
        }
        let slot = state.media.get_mut(id).ok_or(RelocateError::NotFound)?;
        *slot = slot.clone().relocated(folder.clone(), name.clone(), at);
        Ok(slot.clone())
    }

    async fn find_named(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Option<Media>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state
            .media
            .values()
            .find(|m| {
                m.creator() == *creator
                    && m.folder() == folder
                    && m.name() == name
                    && !state.trash.contains_key(&m.id())
            })
            .cloned())
    }

    async fn replace_content(
        &self,
        target: &MediaId,
        expected: &StorageKey,
        version: &MediaId,
        uploaded: UploadedContent,
        then: &NewJob,
    ) -> Result<Media, ReplaceContentError> {
        let mut state = lock(&self.state)?;
        let new = state
            .media
            .get(version)
            .filter(|m| m.uploaded_at().is_none())
            .cloned()
            .ok_or(ReplaceContentError::VersionGone)?;
        let old = state
            .media
            .get(target)
            .filter(|m| {
                state.is_listed(m)
                    && m.storage_key() == expected
                    && m.creator() == new.creator()
                    && m.id() != new.id()
            })
            .cloned()
            .ok_or(ReplaceContentError::TargetChanged)?;
        state.jobs.enqueue(then)?;
        state.media.remove(version);
        state.leases.remove(version);
        state.reserved.remove(version);
        let replaced = old.with_content_of(&new, uploaded);
        state.media.insert(*target, replaced.clone());
        Ok(replaced)
    }

    async fn relocate_folder(
        &self,
        creator: &UserId,
        from: &FolderPath,
        to: &FolderPath,
        at: DateTime<Utc>,
    ) -> Result<u64, RelocateFolderError> {
        let mut state = lock(&self.state)?;
        let untrashed_in = |state: &State, folder: &FolderPath| -> Vec<MediaId> {
            state
                .media
                .values()
                .filter(|m| {
                    m.creator() == *creator
                        && !state.trash.contains_key(&m.id())
                        && folder.contains(m.folder())
                })
                .map(Media::id)
                .collect()
        };
        let moving = untrashed_in(&state, from);
        if moving.is_empty() {
            return Ok(0);
        }
        if !untrashed_in(&state, to).is_empty() {
            return Err(RelocateFolderError::AlreadyExists);
        }
        let mut moved = Vec::with_capacity(moving.len());
        for id in &moving {
            let media = state.media.get(id).ok_or_else(|| BackendError::msg("a moving media vanished"))?;
            let folder = media.folder().rebased(from, to).map_err(|_| RelocateFolderError::TooDeep)?;
            moved.push(media.clone().relocated(folder, media.name().clone(), at));
        }
        for media in moved {
            state.media.insert(media.id(), media);
        }
        Ok(moving.len() as u64)
    }

    async fn update_envelope(
        &self,
        id: &MediaId,
        envelope: &Envelope,
        at: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(slot) = state.media.get_mut(id) else { return Ok(false) };
        *slot = slot.clone().rewrapped(envelope.clone(), at);
        Ok(true)
    }

    async fn delete(&self, id: &MediaId, then: &NewJob) -> Result<Option<Media>, BackendError> {
        let mut state = lock(&self.state)?;
        if !state.media.contains_key(id) {
            return Ok(None);
        }
        state.jobs.enqueue(then)?;
        state.leases.remove(id);
        state.reserved.remove(id);
        state.uploads.retain(|_, u| u.media != *id);
        state.trash.remove(id);
        state.shares.retain(|(media, _), _| media != id);
        state.links.retain(|_, l| l.media != *id);
        Ok(state.media.remove(id))
    }

    async fn trash(
        &self,
        id: &MediaId,
        at: DateTime<Utc>,
        purge_at: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<TrashedMedia>, BackendError> {
        let mut state = lock(&self.state)?;
        let Some(media) = state.media.get(id).filter(|m| state.is_listed(m)).cloned() else {
            return Ok(None);
        };
        state.jobs.enqueue(then)?;
        state.trash.insert(*id, (at, purge_at));
        Ok(state.trashed(&media))
    }

    async fn restore(
        &self,
        id: &MediaId,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RestoreMediaError> {
        let mut state = lock(&self.state)?;
        let media = state.media.get(id).filter(|_| state.trash.contains_key(id)).cloned();
        let media = media.ok_or(RestoreMediaError::NotTrashed)?;
        if state.is_claimed(media.creator(), media.folder(), name) {
            return Err(RestoreMediaError::AlreadyExists);
        }
        let folder = media.folder().clone();
        let restored = media.relocated(folder, name.clone(), at);
        state.trash.remove(id);
        state.media.insert(*id, restored.clone());
        Ok(restored)
    }

    async fn trashed(&self, creator: &UserId, id: &MediaId) -> Result<Option<TrashedMedia>, BackendError> {
        let state = lock(&self.state)?;
        Ok(state.media.get(id).filter(|m| m.creator() == *creator).and_then(|m| state.trashed(m)))
    }

    async fn list_trash(&self, creator: &UserId, page: &PageRequest) -> Result<TrashPage, BackendError> {
        let state = lock(&self.state)?;
        let mine: Vec<Media> = state
            .media
            .values()
            .filter(|m| m.creator() == *creator && state.trash.contains_key(&m.id()))
            .cloned()
            .collect();
        let (items, next) = paginate(mine, page);
        Ok(TrashPage { items: items.iter().filter_map(|m| state.trashed(m)).collect(), next })
    }

    async fn purge(
        &self,
        id: &MediaId,
        due_by: Option<DateTime<Utc>>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        let mut state = lock(&self.state)?;
        let due = state.trash.get(id).is_some_and(|(_, purge_at)| due_by.is_none_or(|by| *purge_at <= by));
        if !due {
            return Ok(None);
        }
        // As `delete`: the lease (none), the trash entry, a finished upload's record, shares
        // and links go with it.
        state.jobs.enqueue(then)?;
        state.trash.remove(id);
        state.uploads.retain(|_, u| u.media != *id);
        state.shares.retain(|(media, _), _| media != id);
        state.links.retain(|_, l| l.media != *id);
        Ok(state.media.remove(id))
    }

    async fn add_share(
        &self,
        media: &MediaId,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> Result<Share, AddShareError> {
        let mut state = lock(&self.state)?;
        let creator = state.media.get(media).ok_or(AddShareError::MediaNotFound)?.creator();
        let sharee = state.users.get(user).ok_or(AddShareError::UserNotFound)?.owner.clone();
        if creator == *user || state.is_shared(*media, *user) {
            return Err(AddShareError::AlreadyShared);
        }
        state.shares.insert((*media, *user), at);
        Ok(Share { media_id: *media, sharee, created_at: at })
    }

    async fn remove_share(&self, media: &MediaId, user: &UserId) -> Result<bool, BackendError> {
        Ok(lock(&self.state)?.shares.remove(&(*media, *user)).is_some())
    }

    async fn list_shares(&self, media: &MediaId) -> Result<Vec<Share>, BackendError> {
        let state = lock(&self.state)?;
        let mut shares: Vec<Share> = state
            .shares
            .iter()
            .filter(|((m, _), _)| m == media)
            .filter_map(|((_, user), at)| {
                let sharee = state.users.get(user)?.owner.clone();
                Some(Share { media_id: *media, sharee, created_at: *at })
            })
            .collect();
        shares.sort_by(|a, b| by_username(&a.sharee.username, &b.sharee.username));
        Ok(shares)
    }

    async fn shared_by(&self, creator: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        let state = lock(&self.state)?;
        let mut found: Vec<SharedFile> = state
            .shares
            .keys()
            .filter_map(|(media, sharee)| {
                let media =
                    state.media.get(media).filter(|m| m.creator() == *creator && state.is_listed(m))?;
                let with = state.users.get(sharee)?.owner.clone();
                Some(SharedFile { media: media.clone(), with })
            })
            .collect();
        found.sort_by(|a, b| {
            (a.media.name(), a.media.id(), a.with.id).cmp(&(b.media.name(), b.media.id(), b.with.id))
        });
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn shared_with(&self, user: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        let state = lock(&self.state)?;
        let mut found: Vec<SharedFile> = state
            .shares
            .keys()
            .filter(|(_, sharee)| sharee == user)
            .filter_map(|(media, _)| {
                let media = state.media.get(media).filter(|m| state.is_listed(m))?;
                let with = state.users.get(&media.creator())?.owner.clone();
                Some(SharedFile { media: media.clone(), with })
            })
            .collect();
        found.sort_by(|a, b| (a.media.name(), a.media.id()).cmp(&(b.media.name(), b.media.id())));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn share_partners(&self, user: &UserId, limit: u32) -> Result<Vec<Owner>, BackendError> {
        let state = lock(&self.state)?;
        let mut latest: HashMap<UserId, DateTime<Utc>> = HashMap::new();
        for ((media, sharee), at) in &state.shares {
            let Some(creator) = state.media.get(media).map(Media::creator) else { continue };
            let partner = match (creator == *user, sharee == user) {
                (true, false) => *sharee,
                (false, true) => creator,
                _ => continue,
            };
            let seen = latest.entry(partner).or_insert(*at);
            *seen = (*seen).max(*at);
        }
        let mut partners: Vec<(DateTime<Utc>, Owner)> = latest
            .into_iter()
            .filter_map(|(id, at)| Some((at, state.users.get(&id)?.owner.clone())))
            .collect();
        partners.sort_by(|(a_at, a), (b_at, b)| {
            b_at.cmp(a_at).then_with(|| by_username(&a.username, &b.username)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(partners.into_iter().take(limit as usize).map(|(_, owner)| owner).collect())
    }

    async fn usage(&self, user: &UserId) -> Result<Usage, BackendError> {
        Ok(lock(&self.state)?.usage_by_creator().remove(user).unwrap_or_default())
    }

    async fn top_users(
        &self,
        sort: UsageSort,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<UserUsage>, BackendError> {
        let state = lock(&self.state)?;
        let usage = state.usage_by_creator();
        let mut rows: Vec<UserUsage> = state
            .users
            .values()
            .map(|u| UserUsage {
                user_id: u.owner.id,
                username: u.owner.username.clone(),
                usage: usage.get(&u.owner.id).copied().unwrap_or_default(),
            })
            .collect();
        rows.sort_by(|a, b| {
            let primary = match sort {
                UsageSort::MediaCount => a.usage.media_count.cmp(&b.usage.media_count),
                UsageSort::DiskUsage => a.usage.disk_usage.cmp(&b.usage.disk_usage),
                UsageSort::Username => by_username(&a.username, &b.username),
            };
            let primary = match order {
                SortOrder::Asc => primary,
                SortOrder::Desc => primary.reverse(),
            };
            primary
                .then_with(|| by_username(&a.username, &b.username))
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    async fn media_not_wrapped_with(&self, key_id: &str, limit: u32) -> Result<Vec<MediaId>, BackendError> {
        let state = lock(&self.state)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(state
            .media
            .values()
            .filter(|m| m.envelope().key_id() != key_id)
            .map(Media::id)
            .take(limit)
            .collect())
    }
}
