//! [`MediaRepository`] in SQL: media, ownership and shares, folder listings backed by
//! `folder_stats`, usage counters.
//!
//! Every write that changes what a user sees runs in a write transaction
//! ([`Dialect::BEGIN_WRITE`]) that locks the media row first ([`Dialect::LOCK`]), so writes
//! to one media are serialized, then changes the media, its `media_owners` copies and the
//! `folder_stats` rows of its ancestor folders together. Name conflicts are a creator's own
//! (decision 0012): decided by the unique constraint `storage_media_creator_folder_name_key`
//! (and a `NOT EXISTS` inside a move, with the constraint as the backstop under
//! concurrency); share duplicates by the `media_owners_single_share_key` primary key.
//!
//! The trash: a trashed media keeps its row with `trashed_at` and `purge_at` set; its
//! `media_owners` rows have `uploaded` cleared (so every listing and share skips it) and its
//! folder statistics are taken back, while its creator's usage counters keep it until the
//! row goes. The name constraint is a partial unique index over the rows outside the trash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::Owner;
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::{
    Allowance, Envelope, FileName, FolderListing, FolderPath, MAX_TOP_USERS, Media, MediaPage, PageRequest,
    QuotaExceeded, QuotaSetting, Share, SharedFile, SortOrder, StorageKey, TrashPage, TrashedMedia,
    UploadedContent, Usage, UsageSort, UserUsage,
};
use drip_core::storage::ports::{
    AddShareError, InsertMediaError, MediaRepository, RelocateError, RelocateFolderError,
    ReplaceContentError, ReserveError, RestoreMediaError,
};
use drip_core::{BackendError, MediaId, UserId};
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::jobs::insert_job;
use super::{Repositories, shares};
use crate::error::{FOREIGN_KEY, to_i64, violated};
use crate::folder_stats::{FolderDelta, Viewers, file_deltas, move_deltas};
use crate::page::{self, Scope};
use crate::rows::{Conn, Reads};
use crate::{Dialect, LockedMedia, Param, constraint, media_columns, ranking, returning_media_columns};

/// Locks a media row against concurrent writes to it and reads what they change.
pub(super) async fn lock_media<D: Dialect>(
    conn: &mut Conn<D>,
    id: &MediaId,
) -> Result<Option<LockedMedia>, BackendError>
where
    String: Param<D::Db>,
{
    let sql = format!(
        "SELECT creator_id, full_path, file_size, uploaded_at IS NOT NULL AS uploaded, reserved_bytes, \
         trashed_at IS NOT NULL AS trashed FROM storage_media WHERE id = $1{}",
        D::LOCK
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(D::on(conn))
        .await
        .map_err(|e| D::backend("locking a media", e))?;
    row.as_ref().map(D::locked_media).transpose()
}

/// Adds `count` files and `size` bytes to a creator's usage counters.
pub(super) async fn add_usage<D: Dialect>(
    conn: &mut Conn<D>,
    creator: &UserId,
    count: i64,
    size: i64,
) -> Result<(), BackendError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    if count == 0 && size == 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE users SET media_count = media_count + $2, disk_usage = disk_usage + $3 WHERE id = $1",
    )
    .bind(creator.to_string())
    .bind(count)
    .bind(size)
    .execute(D::on(conn))
    .await
    .map_err(|e| D::backend("updating usage counters", e))?;
    Ok(())
}

/// Adds `delta` (negative: gives back) to the bytes a creator's uploads under way reserve.
pub(super) async fn add_reserved<D: Dialect>(
    conn: &mut Conn<D>,
    creator: &UserId,
    delta: i64,
) -> Result<(), BackendError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    if delta == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE users SET reserved_bytes = reserved_bytes + $2 WHERE id = $1")
        .bind(creator.to_string())
        .bind(delta)
        .execute(D::on(conn))
        .await
        .map_err(|e| D::backend("updating reserved bytes", e))?;
    Ok(())
}

/// A quota as stored: `None` (no limit) is the largest value, so one comparison serves.
fn stored_quota(quota: Option<u64>) -> i64 {
    quota.map_or(i64::MAX, |q| i64::try_from(q).unwrap_or(i64::MAX))
}

/// A stored quota as the domain reads it.
fn read_quota(stored: i64) -> Option<u64> {
    (stored < i64::MAX).then(|| u64::try_from(stored).unwrap_or(0))
}

/// Marks a media's ownerships listed or not (`media_owners.uploaded`: uploaded and outside
/// the trash), under `name` (a restore may give it another).
async fn set_listed<D: Dialect>(
    conn: &mut Conn<D>,
    id: &MediaId,
    listed: bool,
    name: &FileName,
) -> Result<(), BackendError>
where
    String: Param<D::Db>,
    bool: Param<D::Db>,
{
    sqlx::query("UPDATE media_owners SET uploaded = $2, file_name = $3 WHERE media_id = $1")
        .bind(id.to_string())
        .bind(listed)
        .bind(name.as_str().to_owned())
        .execute(D::on(conn))
        .await
        .map_err(|e| D::backend("listing or unlisting ownerships", e))?;
    Ok(())
}

/// Applies folder-statistics deltas for `viewers` with the dialect's statements: the
/// upsert, then, when some folder lost files, the cleanup of rows that count none.
pub(super) async fn apply_deltas<D: Dialect>(
    conn: &mut Conn<D>,
    viewers: Viewers<'_>,
    deltas: &[FolderDelta],
) -> Result<(), BackendError>
where
    String: Param<D::Db>,
{
    if deltas.is_empty() {
        return Ok(());
    }
    let (key, statements) = match viewers {
        Viewers::OfMedia(id) => (id.to_string(), D::MEDIA_DELTAS),
        Viewers::User(user) => (user.to_string(), D::USER_DELTAS),
    };
    let removes_files = deltas.iter().any(|d| d.count < 0);
    let steps = [
        (statements.upsert, "updating folder statistics"),
        (statements.cleanup, "dropping empty folder statistics"),
    ];
    for (sql, context) in steps.into_iter().take(if removes_files { 2 } else { 1 }) {
        D::bind_deltas(sqlx::query(sql).bind(key.clone()), deltas)
            .execute(D::on(&mut *conn))
            .await
            .map_err(|e| D::backend(context, e))?;
    }
    Ok(())
}

/// A user's quota and the bytes they have taken, read on `conn`.
async fn allowance_of<D: Dialect>(
    conn: &mut Conn<D>,
    user: &UserId,
    default_quota: Option<u64>,
) -> Result<Allowance, BackendError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let row = sqlx::query(
        "SELECT COALESCE(quota_bytes, $2) AS quota, disk_usage + reserved_bytes AS used FROM users WHERE id = $1",
    )
    .bind(user.to_string())
    .bind(stored_quota(default_quota))
    .fetch_optional(D::on(conn))
    .await
    .map_err(|e| D::backend("reading a quota", e))?;
    let Some(row) = row else { return Ok(Allowance { quota: default_quota, used: 0 }) };
    let quota: i64 = row.read("users", "quota")?;
    let used: i64 = row.read("users", "used")?;
    Ok(Allowance { quota: read_quota(quota), used: u64::try_from(used).unwrap_or(0) })
}

#[async_trait]
impl<D: Dialect> MediaRepository for Repositories<D>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
    bool: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
    Option<Vec<u8>>: Param<D::Db>,
    Option<i64>: Param<D::Db>,
{
    async fn insert(
        &self,
        media: &Media,
        lease_until: Option<DateTime<Utc>>,
    ) -> Result<(), InsertMediaError> {
        let p = media.parts();
        let size = to_i64(media.size(), "media size")?;
        let mut tx = self.write().await?;
        // A creator's names are theirs alone: the unique constraint on (creator, folder,
        // name) decides conflicts; files shared with them never do (decision 0012).
        let sql = "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                 algorithm, chunk_size, key_id, wrapped_key, metadata, file_size, digest, uploaded_at, \
                 created_at, updated_at, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";
        sqlx::query(sql)
            .bind(p.id.to_string())
            .bind(p.creator.to_string())
            .bind(p.name.as_str().to_owned())
            .bind(p.folder.as_str().to_owned())
            .bind(p.content_type.as_str().to_owned())
            .bind(p.storage_key.as_str().to_owned())
            .bind(p.envelope.algorithm().to_owned())
            .bind(i64::from(p.envelope.chunk_size()))
            .bind(p.envelope.key_id().to_owned())
            .bind(p.envelope.wrapped_key().to_vec())
            .bind(D::json(&p.metadata))
            .bind(size)
            .bind(p.uploaded.map(|u| u.digest.as_bytes().to_vec()))
            .bind(D::maybe_time(media.uploaded_at()))
            .bind(D::time(p.created_at))
            .bind(D::time(p.updated_at))
            .bind(D::maybe_time(lease_until.filter(|_| p.uploaded.is_none())))
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| match violated::<D>(&e) {
                Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => InsertMediaError::AlreadyExists,
                // The creator is the only reference of a new media row.
                Some(FOREIGN_KEY) => InsertMediaError::UnknownCreator,
                Some(constraint::MEDIA_PKEY) => {
                    InsertMediaError::Backend(D::backend("inserting a media: the id exists", e))
                }
                _ => InsertMediaError::Backend(D::backend("inserting a media", e)),
            })?;
        sqlx::query(
            "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
             VALUES ($1, $2, true, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.creator.to_string())
        .bind(p.folder.as_str().to_owned())
        .bind(p.name.as_str().to_owned())
        .bind(p.uploaded.is_some())
        .bind(D::time(p.created_at))
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("inserting the creator's ownership", e))?;
        if p.uploaded.is_some() {
            apply_deltas::<D>(&mut tx, Viewers::OfMedia(&p.id), &file_deltas(&p.folder, 1, size)).await?;
            add_usage::<D>(&mut tx, &p.creator, 1, size).await?;
        }
        tx.commit().await.map_err(|e| D::backend("committing a media insert", e))?;
        Ok(())
    }

    async fn reserve(
        &self,
        id: &MediaId,
        bytes: u64,
        default_quota: Option<u64>,
    ) -> Result<(), ReserveError> {
        let bytes = to_i64(bytes, "reserved bytes")?;
        let mut tx = self.write().await?;
        let locked = lock_media::<D>(&mut tx, id).await?.filter(|m| !m.uploaded).ok_or(ReserveError::Gone)?;
        // One conditional UPDATE decides: concurrent reservations of one user queue on
        // the user's row, and each re-reads it before its condition holds.
        let granted = sqlx::query(
            "UPDATE users SET reserved_bytes = reserved_bytes + $2 \
             WHERE id = $1 AND disk_usage + reserved_bytes + $2 <= COALESCE(quota_bytes, $3) RETURNING id",
        )
        .bind(locked.creator.to_string())
        .bind(bytes)
        .bind(stored_quota(default_quota))
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("reserving quota", e))?;
        if granted.is_none() {
            let allowance = allowance_of::<D>(&mut tx, &locked.creator, default_quota).await?;
            return Err(
                QuotaExceeded { quota: allowance.quota.unwrap_or(u64::MAX), used: allowance.used }.into()
            );
        }
        sqlx::query("UPDATE storage_media SET reserved_bytes = reserved_bytes + $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(bytes)
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("recording a reservation", e))?;
        tx.commit().await.map_err(|e| D::backend("committing a reservation", e))?;
        Ok(())
    }

    async fn allowance(&self, user: &UserId, default_quota: Option<u64>) -> Result<Allowance, BackendError> {
        let mut conn = self.reads.acquire().await.map_err(|e| D::backend("reading a quota", e))?;
        allowance_of::<D>(&mut *conn, user, default_quota).await
    }

    async fn set_quota(&self, user: &UserId, quota: QuotaSetting) -> Result<bool, BackendError> {
        let stored = match quota {
            QuotaSetting::Default => None,
            QuotaSetting::Unlimited => Some(i64::MAX),
            QuotaSetting::Bytes(bytes) => Some(stored_quota(Some(bytes)).min(i64::MAX - 1)),
        };
        let query = sqlx::query("UPDATE users SET quota_bytes = $2 WHERE id = $1 RETURNING id")
            .bind(user.to_string())
            .bind(stored);
        self.changed(query, "setting a quota").await
    }

    async fn mark_uploaded(
        &self,
        id: &MediaId,
        uploaded: UploadedContent,
    ) -> Result<Option<Media>, BackendError> {
        let size = to_i64(uploaded.size, "media size")?;
        let mut tx = self.write().await?;
        let Some(before) = lock_media::<D>(&mut tx, id).await? else { return Ok(None) };
        let row = sqlx::query(concat!(
            "UPDATE storage_media SET file_size = $2, digest = $3, uploaded_at = $4, updated_at = $4, lease_until = NULL, \
             reserved_bytes = 0 WHERE id = $1 RETURNING ",
            returning_media_columns!()
        ))
        .bind(id.to_string())
        .bind(size)
        .bind(uploaded.digest.as_bytes().to_vec())
        .bind(D::time(uploaded.uploaded_at))
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("marking a media uploaded", e))?;
        let media = D::media(&row)?;
        sqlx::query("UPDATE media_owners SET uploaded = true WHERE media_id = $1 AND NOT uploaded")
            .bind(id.to_string())
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("marking ownerships uploaded", e))?;
        let (count, grown) = if before.uploaded { (0, size - before.size) } else { (1, size) };
        apply_deltas::<D>(&mut tx, Viewers::OfMedia(id), &file_deltas(&before.folder, count, grown)).await?;
        add_usage::<D>(&mut tx, &before.creator, count, grown).await?;
        add_reserved::<D>(&mut tx, &before.creator, -before.reserved).await?;
        tx.commit().await.map_err(|e| D::backend("committing an upload", e))?;
        Ok(Some(media))
    }

    async fn renew_lease(&self, id: &MediaId, until: DateTime<Utc>) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE storage_media SET lease_until = $2 WHERE id = $1 AND uploaded_at IS NULL RETURNING id",
        )
        .bind(id.to_string())
        .bind(D::time(until));
        self.changed(query, "renewing an upload's lease").await
    }

    async fn abandoned_upload(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
        now: DateTime<Utc>,
    ) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM storage_media m WHERE m.creator_id = $1 AND m.full_path = $2 AND m.file_name = $3 \
             AND m.uploaded_at IS NULL AND (m.lease_until IS NULL OR m.lease_until <= $4)"
        ))
        .bind(creator.to_string())
        .bind(folder.as_str().to_owned())
        .bind(name.as_str().to_owned())
        .bind(D::time(now))
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("finding an abandoned upload", e))?;
        row.as_ref().map(D::media).transpose()
    }

    async fn abandoned_uploads(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Media>, BackendError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM storage_media m WHERE m.uploaded_at IS NULL AND (m.lease_until IS NULL OR m.lease_until <= $1) \
             ORDER BY m.id LIMIT $2"
        ))
        .bind(D::time(now))
        .bind(i64::from(limit))
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing abandoned uploads", e))?;
        D::all_media(&found)
    }

    async fn reclaim(
        &self,
        id: &MediaId,
        now: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        let mut tx = self.write().await?;
        // A pending media has no shares and counts in no statistics: removing its row (and
        // the creator's ownership, by cascade) and giving back its reservation is all.
        let row = sqlx::query(concat!(
            "DELETE FROM storage_media WHERE id = $1 AND uploaded_at IS NULL \
             AND (lease_until IS NULL OR lease_until <= $2) RETURNING ",
            returning_media_columns!(),
            ", reserved_bytes"
        ))
        .bind(id.to_string())
        .bind(D::time(now))
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("reclaiming an abandoned upload", e))?;
        let Some(row) = row else { return Ok(None) };
        let media = D::media(&row)?;
        let reserved: i64 = row.read("storage_media", "reserved_bytes")?;
        add_reserved::<D>(&mut tx, &media.creator(), -reserved).await?;
        insert_job::<D>(&mut tx, then).await?;
        tx.commit().await.map_err(|e| D::backend("committing a reclaim", e))?;
        Ok(Some(media))
    }

    async fn find(&self, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!("SELECT ", media_columns!(), " FROM storage_media m WHERE m.id = $1"))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a media", e))?;
        row.as_ref().map(D::media).transpose()
    }

    async fn created_by(&self, creator: &UserId, limit: u32) -> Result<Vec<Media>, BackendError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM storage_media m WHERE m.creator_id = $1 ORDER BY m.id LIMIT $2"
        ))
        .bind(creator.to_string())
        .bind(i64::from(limit))
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing the media of a creator", e))?;
        rows.iter().map(D::media).collect()
    }

    async fn find_visible(&self, user: &UserId, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
             WHERE o.media_id = $1 AND o.user_id = $2 AND m.uploaded_at IS NOT NULL AND m.trashed_at IS NULL"
        ))
        .bind(id.to_string())
        .bind(user.to_string())
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("finding a visible media", e))?;
        row.as_ref().map(D::media).transpose()
    }

    async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError> {
        let (files, next) =
            page::fetch::<D>(&self.reads, user, Scope::In(folder), page, "listing the files of a folder")
                .await?;
        if page.cursor().is_some() {
            return Ok(FolderListing { files, folders: Vec::new(), next });
        }
        let found = sqlx::query(
            "SELECT name, file_count, total_size FROM folder_stats \
             WHERE user_id = $1 AND parent_path = $2 AND file_count > 0 ORDER BY name",
        )
        .bind(user.to_string())
        .bind(folder.as_str().to_owned())
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing the subfolders of a folder", e))?;
        let folders = found.iter().map(D::folder_summary).collect::<Result<_, _>>()?;
        Ok(FolderListing { files, folders, next })
    }

    async fn list_visible<'a>(
        &self,
        user: &UserId,
        under: Option<&'a FolderPath>,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError> {
        let (items, next) =
            page::fetch::<D>(&self.reads, user, Scope::Below(under), page, "listing visible media").await?;
        Ok(MediaPage { items, next })
    }

    async fn relocate(
        &self,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RelocateError> {
        let mut tx = self.write().await?;
        let before = lock_media::<D>(&mut tx, id).await?.ok_or(RelocateError::NotFound)?;
        // The creator's own media at the target (in any state, this one included) block
        // the move; media shared with them do not (decision 0012).
        let sql = concat!(
            "UPDATE storage_media AS m SET full_path = $2, file_name = $3, updated_at = $4 \
             WHERE m.id = $1 \
               AND NOT EXISTS (SELECT 1 FROM storage_media s \
                   WHERE s.creator_id = m.creator_id AND s.full_path = $2 AND s.file_name = $3 \
                     AND s.trashed_at IS NULL) \
             RETURNING ",
            returning_media_columns!()
        );
        let row = sqlx::query(sql)
            .bind(id.to_string())
            .bind(folder.as_str().to_owned())
            .bind(name.as_str().to_owned())
            .bind(D::time(at))
            .fetch_optional(D::on(&mut tx))
            .await
            .map_err(|e| match violated::<D>(&e) {
                Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => RelocateError::AlreadyExists,
                _ => RelocateError::Backend(D::backend("relocating a media", e)),
            })?
            .ok_or(RelocateError::AlreadyExists)?;
        let media = D::media(&row)?;
        sqlx::query("UPDATE media_owners SET full_path = $2, file_name = $3 WHERE media_id = $1")
            .bind(id.to_string())
            .bind(folder.as_str().to_owned())
            .bind(name.as_str().to_owned())
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("relocating ownerships", e))?;
        if before.listed() {
            apply_deltas::<D>(
                &mut tx,
                Viewers::OfMedia(id),
                &move_deltas(&before.folder, folder, 1, before.size),
            )
            .await?;
        }
        tx.commit().await.map_err(|e| D::backend("committing a relocation", e))?;
        Ok(media)
    }

    async fn find_named(
        &self,
        creator: &UserId,
        folder: &FolderPath,
        name: &FileName,
    ) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM storage_media m WHERE m.creator_id = $1 AND m.full_path = $2 AND m.file_name = $3 \
             AND m.trashed_at IS NULL"
        ))
        .bind(creator.to_string())
        .bind(folder.as_str().to_owned())
        .bind(name.as_str().to_owned())
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("finding a media by name", e))?;
        row.as_ref().map(D::media).transpose()
    }

    async fn replace_content(
        &self,
        target: &MediaId,
        expected: &StorageKey,
        version: &MediaId,
        uploaded: UploadedContent,
        then: &NewJob,
    ) -> Result<Media, ReplaceContentError> {
        super::versions::replace_content(self, target, expected, version, uploaded, then).await
    }

    async fn relocate_folder(
        &self,
        creator: &UserId,
        from: &FolderPath,
        to: &FolderPath,
        at: DateTime<Utc>,
    ) -> Result<u64, RelocateFolderError> {
        super::folders::relocate_folder(self, creator, from, to, at).await
    }

    async fn update_envelope(
        &self,
        id: &MediaId,
        envelope: &Envelope,
        at: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE storage_media SET algorithm = $2, chunk_size = $3, key_id = $4, wrapped_key = $5, \
             updated_at = $6 WHERE id = $1 RETURNING id",
        )
        .bind(id.to_string())
        .bind(envelope.algorithm().to_owned())
        .bind(i64::from(envelope.chunk_size()))
        .bind(envelope.key_id().to_owned())
        .bind(envelope.wrapped_key().to_vec())
        .bind(D::time(at));
        self.changed(query, "updating an envelope").await
    }

    async fn delete(&self, id: &MediaId, then: &NewJob) -> Result<Option<Media>, BackendError> {
        let mut tx = self.write().await?;
        let sql = format!(
            concat!(
                "SELECT ",
                media_columns!(),
                ", m.reserved_bytes, m.trashed_at IS NOT NULL AS trashed FROM storage_media m WHERE m.id = $1{}"
            ),
            D::LOCK_TO_DELETE
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("locking a media", e))?;
        let Some(row) = row else { return Ok(None) };
        let media = D::media(&row)?;
        // A trashed media's folder statistics went when it was trashed.
        let trashed: bool = row.read("storage_media", "trashed")?;
        if media.uploaded().is_some() {
            let size = to_i64(media.size(), "media size")?;
            if !trashed {
                apply_deltas::<D>(&mut tx, Viewers::OfMedia(id), &file_deltas(media.folder(), -1, -size))
                    .await?;
            }
            add_usage::<D>(&mut tx, &media.creator(), -1, -size).await?;
        }
        let reserved: i64 = row.read("storage_media", "reserved_bytes")?;
        add_reserved::<D>(&mut tx, &media.creator(), -reserved).await?;
        // Shares go with the media (media_owners ON DELETE CASCADE).
        sqlx::query("DELETE FROM storage_media WHERE id = $1")
            .bind(id.to_string())
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("deleting a media", e))?;
        insert_job::<D>(&mut tx, then).await?;
        tx.commit().await.map_err(|e| D::backend("committing a delete", e))?;
        Ok(Some(media))
    }

    async fn trash(
        &self,
        id: &MediaId,
        at: DateTime<Utc>,
        purge_at: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<Option<TrashedMedia>, BackendError> {
        let mut tx = self.write().await?;
        let Some(before) = lock_media::<D>(&mut tx, id).await? else { return Ok(None) };
        if !before.listed() {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "UPDATE storage_media SET trashed_at = $2, purge_at = $3 WHERE id = $1 RETURNING ",
            returning_media_columns!(),
            ", trashed_at, purge_at"
        ))
        .bind(id.to_string())
        .bind(D::time(at))
        .bind(D::time(purge_at))
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("trashing a media", e))?;
        let trashed = D::trashed_media(&row)?;
        // Its folder statistics go for everyone who sees it, before they stop seeing it.
        apply_deltas::<D>(&mut tx, Viewers::OfMedia(id), &file_deltas(&before.folder, -1, -before.size))
            .await?;
        set_listed::<D>(&mut tx, id, false, trashed.media.name()).await?;
        insert_job::<D>(&mut tx, then).await?;
        tx.commit().await.map_err(|e| D::backend("committing a trashing", e))?;
        Ok(Some(trashed))
    }

    async fn restore(
        &self,
        id: &MediaId,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RestoreMediaError> {
        let mut tx = self.write().await?;
        let before = lock_media::<D>(&mut tx, id).await?.filter(|m| m.trashed);
        let before = before.ok_or(RestoreMediaError::NotTrashed)?;
        // The partial unique index decides whether the name is free (of concurrent restores
        // onto one name, the second waits for the first's commit and fails).
        let row = sqlx::query(concat!(
            "UPDATE storage_media SET trashed_at = NULL, purge_at = NULL, file_name = $2, updated_at = $3 \
             WHERE id = $1 RETURNING ",
            returning_media_columns!()
        ))
        .bind(id.to_string())
        .bind(name.as_str().to_owned())
        .bind(D::time(at))
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => RestoreMediaError::AlreadyExists,
            _ => RestoreMediaError::Backend(D::backend("restoring a media", e)),
        })?;
        let media = D::media(&row)?;
        set_listed::<D>(&mut tx, id, true, name).await?;
        apply_deltas::<D>(&mut tx, Viewers::OfMedia(id), &file_deltas(&before.folder, 1, before.size))
            .await?;
        tx.commit().await.map_err(|e| D::backend("committing a restore", e))?;
        Ok(media)
    }

    async fn trashed(&self, creator: &UserId, id: &MediaId) -> Result<Option<TrashedMedia>, BackendError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            ", m.trashed_at, m.purge_at FROM storage_media m \
             WHERE m.id = $1 AND m.creator_id = $2 AND m.trashed_at IS NOT NULL"
        ))
        .bind(id.to_string())
        .bind(creator.to_string())
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("finding a trashed media", e))?;
        row.as_ref().map(D::trashed_media).transpose()
    }

    async fn list_trash(&self, creator: &UserId, page: &PageRequest) -> Result<TrashPage, BackendError> {
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            media_columns!(),
            ", m.trashed_at, m.purge_at FROM storage_media m WHERE m.trashed_at IS NOT NULL AND m.creator_id = "
        ));
        query.push_bind(creator.to_string());
        page::push_keyset::<D>(&mut query, ("m.file_name", "m.id"), page);
        let rows = query
            .build()
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing a trash", e))?;
        let items = rows.iter().map(D::trashed_media).collect::<Result<Vec<_>, _>>()?;
        let (items, next) = page::paginate_by(items, page, |t| &t.media);
        Ok(TrashPage { items, next })
    }

    async fn purge(
        &self,
        id: &MediaId,
        due_by: Option<DateTime<Utc>>,
        then: &NewJob,
    ) -> Result<Option<Media>, BackendError> {
        let mut tx = self.write().await?;
        let due = if due_by.is_some() { " AND m.purge_at <= $2" } else { "" };
        let sql = format!(
            concat!(
                "SELECT ",
                media_columns!(),
                " FROM storage_media m WHERE m.id = $1 AND m.trashed_at IS NOT NULL{}{}"
            ),
            due,
            D::LOCK_TO_DELETE
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string());
        if let Some(due_by) = due_by {
            query = query.bind(D::time(due_by));
        }
        let row = query
            .fetch_optional(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("locking a trashed media", e))?;
        let Some(row) = row else { return Ok(None) };
        let media = D::media(&row)?;
        // As `delete` does for a trashed media: its folder statistics are gone already, its
        // usage goes now, its shares and links with its row (ON DELETE CASCADE).
        add_usage::<D>(&mut tx, &media.creator(), -1, -to_i64(media.size(), "media size")?).await?;
        sqlx::query("DELETE FROM storage_media WHERE id = $1")
            .bind(id.to_string())
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("purging a media", e))?;
        insert_job::<D>(&mut tx, then).await?;
        tx.commit().await.map_err(|e| D::backend("committing a purge", e))?;
        Ok(Some(media))
    }

    async fn add_share(
        &self,
        media: &MediaId,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> Result<Share, AddShareError> {
        let mut tx = self.write().await?;
        let locked = lock_media::<D>(&mut tx, media).await?.ok_or(AddShareError::MediaNotFound)?;
        sqlx::query(
            "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
             SELECT id, $2, false, full_path, file_name, uploaded_at IS NOT NULL AND trashed_at IS NULL, $3 \
             FROM storage_media WHERE id = $1",
        )
        .bind(media.to_string())
        .bind(user.to_string())
        .bind(D::time(at))
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(constraint::SINGLE_SHARE) => AddShareError::AlreadyShared,
            // The media row is locked above: the user is the reference that failed.
            Some(FOREIGN_KEY) => AddShareError::UserNotFound,
            _ => AddShareError::Backend(D::backend("inserting a share", e)),
        })?;
        let row = sqlx::query(
            "SELECT u.id, u.username, u.email, o.created_at FROM media_owners o JOIN users u ON u.id = o.user_id \
             WHERE o.media_id = $1 AND o.user_id = $2",
        )
        .bind(media.to_string())
        .bind(user.to_string())
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("reading a new share", e))?;
        let share = D::share(*media, &row)?;
        if locked.listed() {
            apply_deltas::<D>(&mut tx, Viewers::User(user), &file_deltas(&locked.folder, 1, locked.size))
                .await?;
        }
        tx.commit().await.map_err(|e| D::backend("committing a share", e))?;
        Ok(share)
    }

    async fn remove_share(&self, media: &MediaId, user: &UserId) -> Result<bool, BackendError> {
        let mut tx = self.write().await?;
        let Some(locked) = lock_media::<D>(&mut tx, media).await? else { return Ok(false) };
        let removed = sqlx::query(
            "DELETE FROM media_owners WHERE media_id = $1 AND user_id = $2 AND NOT is_creator \
                 RETURNING user_id",
        )
        .bind(media.to_string())
        .bind(user.to_string())
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("removing a share", e))?;
        if removed.is_none() {
            return Ok(false);
        }
        if locked.listed() {
            apply_deltas::<D>(&mut tx, Viewers::User(user), &file_deltas(&locked.folder, -1, -locked.size))
                .await?;
        }
        tx.commit().await.map_err(|e| D::backend("committing an unshare", e))?;
        Ok(true)
    }

    async fn list_shares(&self, media: &MediaId) -> Result<Vec<Share>, BackendError> {
        let found = sqlx::query(
            "SELECT u.id, u.username, u.email, o.created_at FROM media_owners o JOIN users u ON u.id = o.user_id \
             WHERE o.media_id = $1 AND NOT o.is_creator ORDER BY u.username, u.id",
        )
        .bind(media.to_string())
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing shares", e))?;
        found.iter().map(|row| D::share(*media, row)).collect()
    }

    async fn shared_by(&self, creator: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        shares::shared_files(self, shares::SHARED_BY, creator, limit, "listing the files a user shares").await
    }

    async fn shared_with(&self, user: &UserId, limit: u32) -> Result<Vec<SharedFile>, BackendError> {
        shares::shared_files(self, shares::SHARED_WITH, user, limit, "listing the files shared with a user")
            .await
    }

    async fn share_partners(&self, user: &UserId, limit: u32) -> Result<Vec<Owner>, BackendError> {
        // The sharees of `user`'s media, and the creators of the media shared with `user`;
        // both halves read an index (`storage_media` by creator, `media_owners` by user).
        let found = sqlx::query(
            "SELECT u.id, u.username, u.email FROM ( \
               SELECT o.user_id AS partner, o.created_at AS shared_at \
                 FROM storage_media m JOIN media_owners o ON o.media_id = m.id \
                 WHERE m.creator_id = $1 AND NOT o.is_creator \
               UNION ALL \
               SELECT m.creator_id, o.created_at \
                 FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
                 WHERE o.user_id = $1 AND NOT o.is_creator \
             ) p JOIN users u ON u.id = p.partner WHERE u.id <> $1 \
             GROUP BY u.id, u.username, u.email \
             ORDER BY MAX(p.shared_at) DESC, u.username, u.id LIMIT $2",
        )
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing share partners", e))?;
        found.iter().map(D::owner).collect()
    }

    async fn usage(&self, user: &UserId) -> Result<Usage, BackendError> {
        let row = sqlx::query("SELECT media_count, disk_usage FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("reading usage", e))?;
        row.as_ref().map(D::usage).transpose().map(Option::unwrap_or_default)
    }

    async fn top_users(
        &self,
        sort: UsageSort,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<UserUsage>, BackendError> {
        let found = QueryBuilder::new("SELECT id, username, media_count, disk_usage FROM users ORDER BY ")
            .push(ranking::order_by(sort, order))
            .push(" LIMIT ")
            .push_bind(i64::from(limit.min(MAX_TOP_USERS)))
            .build()
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("ranking users", e))?;
        found.iter().map(D::user_usage).collect()
    }

    async fn media_not_wrapped_with(&self, key_id: &str, limit: u32) -> Result<Vec<MediaId>, BackendError> {
        let found = sqlx::query("SELECT id FROM storage_media WHERE key_id <> $1 ORDER BY id LIMIT $2")
            .bind(key_id.to_owned())
            .bind(i64::from(limit))
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding media to re-wrap", e))?;
        found.iter().map(D::media_id).collect()
    }
}
