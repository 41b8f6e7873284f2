//! [`MediaRepository`] on PostgreSQL: media, ownership and shares, folder listings backed
//! by `folder_stats`, usage counters.
//!
//! Every write that changes what a user sees locks the media row first (`FOR NO KEY
//! UPDATE` / `FOR UPDATE`), so writes to one media are serialized, then changes the media,
//! its `media_owners` copies and the `folder_stats` rows of its ancestor folders in the same
//! transaction. Name conflicts are decided by `NOT EXISTS` inside the writing statement
//! with the unique constraint `storage_media_creator_folder_name_key` as the backstop under
//! concurrency; share duplicates by the `media_owners_single_share_key` primary key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::storage::model::{
    Envelope, FileName, FolderListing, FolderPath, MAX_TOP_USERS, Media, MediaPage, PageRequest, Share,
    SortOrder, UploadedContent, Usage, UsageSort, UserUsage,
};
use drip_core::storage::ports::{AddShareError, InsertMediaError, MediaRepository, RelocateError};
use drip_core::{BackendError, MediaId, UserId};
use drip_sql::error::to_i64;
use drip_sql::folder_stats::{FolderDelta, Viewers, file_deltas, move_deltas};
use drip_sql::page::{self, Scope};
use drip_sql::ranking;
use drip_sql::{Dialect, LockedMedia, media_columns};
use sqlx::{PgConnection, QueryBuilder};

use crate::PgRepositories;
use crate::dialect::Postgres;
use crate::error::{backend, constraint, violated};

/// Locks a media row against concurrent writes to it and reads what they change.
async fn lock_media(conn: &mut PgConnection, id: &MediaId) -> Result<Option<LockedMedia>, BackendError> {
    let row = sqlx::query(
        "SELECT creator_id, full_path, file_size, uploaded_at IS NOT NULL AS uploaded \
         FROM storage_media WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| backend("locking a media", e))?;
    row.as_ref().map(Postgres::locked_media).transpose()
}

/// Applies folder-statistics deltas for `viewers`, in one statement that locks rows in
/// (user, parent, name) order (so concurrent writers cannot deadlock on them), then drops
/// rows that no longer count any file.
async fn apply_deltas(
    conn: &mut PgConnection,
    viewers: Viewers<'_>,
    deltas: &[FolderDelta],
) -> Result<(), BackendError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let parents: Vec<&str> = deltas.iter().map(|d| d.parent.as_str()).collect();
    let names: Vec<&str> = deltas.iter().map(|d| d.name.as_str()).collect();
    let counts: Vec<i64> = deltas.iter().map(|d| d.count).collect();
    let sizes: Vec<i64> = deltas.iter().map(|d| d.size).collect();
    let (upsert, cleanup, key) = match viewers {
        Viewers::OfMedia(id) => (
            "INSERT INTO folder_stats AS fs (user_id, parent_path, name, file_count, total_size) \
             SELECT o.user_id, d.parent, d.name, d.cnt, d.size FROM media_owners o \
             CROSS JOIN unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) \
                 WITH ORDINALITY AS d(parent, name, cnt, size, ord) \
             WHERE o.media_id = $1 ORDER BY o.user_id, d.ord \
             ON CONFLICT (user_id, parent_path, name) DO UPDATE \
             SET file_count = fs.file_count + EXCLUDED.file_count, \
                 total_size = fs.total_size + EXCLUDED.total_size",
            "DELETE FROM folder_stats fs USING media_owners o, unnest($2::text[], $3::text[]) AS d(parent, name) \
             WHERE o.media_id = $1 AND fs.user_id = o.user_id AND fs.parent_path = d.parent \
               AND fs.name = d.name AND fs.file_count = 0",
            id.to_string(),
        ),
        Viewers::User(user) => (
            "INSERT INTO folder_stats AS fs (user_id, parent_path, name, file_count, total_size) \
             SELECT $1, d.parent, d.name, d.cnt, d.size \
             FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) \
                 WITH ORDINALITY AS d(parent, name, cnt, size, ord) \
             ORDER BY d.ord \
             ON CONFLICT (user_id, parent_path, name) DO UPDATE \
             SET file_count = fs.file_count + EXCLUDED.file_count, \
                 total_size = fs.total_size + EXCLUDED.total_size",
            "DELETE FROM folder_stats fs USING unnest($2::text[], $3::text[]) AS d(parent, name) \
             WHERE fs.user_id = $1 AND fs.parent_path = d.parent AND fs.name = d.name AND fs.file_count = 0",
            user.to_string(),
        ),
    };
    sqlx::query(upsert)
        .bind(&key)
        .bind(&parents)
        .bind(&names)
        .bind(&counts)
        .bind(&sizes)
        .execute(&mut *conn)
        .await
        .map_err(|e| backend("updating folder statistics", e))?;
    if deltas.iter().any(|d| d.count < 0) {
        sqlx::query(cleanup)
            .bind(&key)
            .bind(&parents)
            .bind(&names)
            .execute(&mut *conn)
            .await
            .map_err(|e| backend("dropping empty folder statistics", e))?;
    }
    Ok(())
}

/// Adds `count` files and `size` bytes to a creator's usage counters.
async fn add_usage(
    conn: &mut PgConnection,
    creator: &UserId,
    count: i64,
    size: i64,
) -> Result<(), BackendError> {
    if count == 0 && size == 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE users SET media_count = media_count + $2, disk_usage = disk_usage + $3 WHERE id = $1",
    )
    .bind(creator.to_string())
    .bind(count)
    .bind(size)
    .execute(&mut *conn)
    .await
    .map_err(|e| backend("updating usage counters", e))?;
    Ok(())
}

#[async_trait]
impl MediaRepository for PgRepositories {
    async fn insert(&self, media: &Media) -> Result<(), InsertMediaError> {
        let p = media.parts();
        let size = to_i64(media.size(), "media size")?;
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let inserted = sqlx::query(
            "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                 algorithm, chunk_size, key_id, wrapped_key, metadata, file_size, digest, uploaded_at, \
                 created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 \
             WHERE NOT EXISTS (SELECT 1 FROM media_owners o \
                 WHERE o.user_id = $2 AND o.full_path = $4 AND o.file_name = $3 AND o.uploaded)",
        )
        .bind(p.id.to_string())
        .bind(p.creator.to_string())
        .bind(p.name.as_str())
        .bind(p.folder.as_str())
        .bind(p.content_type.as_str())
        .bind(p.storage_key.as_str())
        .bind(p.envelope.algorithm())
        .bind(i64::from(p.envelope.chunk_size()))
        .bind(p.envelope.key_id())
        .bind(p.envelope.wrapped_key())
        .bind(sqlx::types::Json(&p.metadata))
        .bind(size)
        .bind(p.uploaded.map(|u| u.digest.as_bytes().to_vec()))
        .bind(media.uploaded_at())
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match violated(&e) {
            Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => InsertMediaError::AlreadyExists,
            Some(constraint::MEDIA_CREATOR_FKEY) => InsertMediaError::UnknownCreator,
            Some(constraint::MEDIA_PKEY) => {
                InsertMediaError::Backend(backend("inserting a media: the id exists", e))
            }
            _ => InsertMediaError::Backend(backend("inserting a media", e)),
        })?;
        if inserted.rows_affected() == 0 {
            return Err(InsertMediaError::AlreadyExists);
        }
        sqlx::query(
            "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
             VALUES ($1, $2, true, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.creator.to_string())
        .bind(p.folder.as_str())
        .bind(p.name.as_str())
        .bind(p.uploaded.is_some())
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| backend("inserting the creator's ownership", e))?;
        if p.uploaded.is_some() {
            apply_deltas(&mut tx, Viewers::OfMedia(&p.id), &file_deltas(&p.folder, 1, size)).await?;
            add_usage(&mut tx, &p.creator, 1, size).await?;
        }
        tx.commit().await.map_err(|e| backend("committing a media insert", e))?;
        Ok(())
    }

    async fn mark_uploaded(
        &self,
        id: &MediaId,
        uploaded: UploadedContent,
    ) -> Result<Option<Media>, BackendError> {
        let size = to_i64(uploaded.size, "media size")?;
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let Some(before) = lock_media(&mut tx, id).await? else { return Ok(None) };
        let row = sqlx::query(concat!(
            "UPDATE storage_media AS m SET file_size = $2, digest = $3, uploaded_at = $4, updated_at = $4 \
             WHERE m.id = $1 RETURNING ",
            media_columns!()
        ))
        .bind(id.to_string())
        .bind(size)
        .bind(uploaded.digest.as_bytes().as_slice())
        .bind(uploaded.uploaded_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| backend("marking a media uploaded", e))?;
        let media = Postgres::media(&row)?;
        sqlx::query("UPDATE media_owners SET uploaded = true WHERE media_id = $1 AND NOT uploaded")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend("marking ownerships uploaded", e))?;
        let (count, grown) = if before.uploaded { (0, size - before.size) } else { (1, size) };
        apply_deltas(&mut tx, Viewers::OfMedia(id), &file_deltas(&before.folder, count, grown)).await?;
        add_usage(&mut tx, &before.creator, count, grown).await?;
        tx.commit().await.map_err(|e| backend("committing an upload", e))?;
        Ok(Some(media))
    }

    async fn find(&self, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!("SELECT ", media_columns!(), " FROM storage_media m WHERE m.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("finding a media", e))?;
        row.as_ref().map(Postgres::media).transpose()
    }

    async fn find_visible(&self, user: &UserId, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
             WHERE o.media_id = $1 AND o.user_id = $2 AND m.uploaded_at IS NOT NULL"
        ))
        .bind(id.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend("finding a visible media", e))?;
        row.as_ref().map(Postgres::media).transpose()
    }

    async fn list_folder(
        &self,
        user: &UserId,
        folder: &FolderPath,
        page: &PageRequest,
    ) -> Result<FolderListing, BackendError> {
        let (files, next) = page::fetch::<Postgres>(
            &self.pool,
            user,
            Scope::In(folder),
            page,
            "listing the files of a folder",
        )
        .await?;

        if page.cursor().is_some() {
            return Ok(FolderListing { files, folders: Vec::new(), next });
        }
        let found = sqlx::query(
            "SELECT name, file_count, total_size FROM folder_stats \
             WHERE user_id = $1 AND parent_path = $2 AND file_count > 0 ORDER BY name",
        )
        .bind(user.to_string())
        .bind(folder.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("listing the subfolders of a folder", e))?;
        let folders = found.iter().map(Postgres::folder_summary).collect::<Result<_, _>>()?;
        Ok(FolderListing { files, folders, next })
    }

    async fn list_visible<'a>(
        &self,
        user: &UserId,
        under: Option<&'a FolderPath>,
        page: &PageRequest,
    ) -> Result<MediaPage, BackendError> {
        let (items, next) =
            page::fetch::<Postgres>(&self.pool, user, Scope::Below(under), page, "listing visible media")
                .await?;
        Ok(MediaPage { items, next })
    }

    async fn relocate(
        &self,
        id: &MediaId,
        folder: &FolderPath,
        name: &FileName,
        at: DateTime<Utc>,
    ) -> Result<Media, RelocateError> {
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let before = lock_media(&mut tx, id).await?.ok_or(RelocateError::NotFound)?;
        // The creator's own media at the target (in any state, this one included) and
        // uploaded media shared with them there block the move.
        let row = sqlx::query(concat!(
            "UPDATE storage_media AS m SET full_path = $2, file_name = $3, updated_at = $4 \
             WHERE m.id = $1 \
               AND NOT EXISTS (SELECT 1 FROM storage_media s \
                   WHERE s.creator_id = m.creator_id AND s.full_path = $2 AND s.file_name = $3) \
               AND NOT EXISTS (SELECT 1 FROM media_owners o \
                   WHERE o.user_id = m.creator_id AND o.full_path = $2 AND o.file_name = $3 AND o.uploaded) \
             RETURNING ",
            media_columns!()
        ))
        .bind(id.to_string())
        .bind(folder.as_str())
        .bind(name.as_str())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| match violated(&e) {
            Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => RelocateError::AlreadyExists,
            _ => RelocateError::Backend(backend("relocating a media", e)),
        })?
        .ok_or(RelocateError::AlreadyExists)?;
        let media = Postgres::media(&row)?;
        sqlx::query("UPDATE media_owners SET full_path = $2, file_name = $3 WHERE media_id = $1")
            .bind(id.to_string())
            .bind(folder.as_str())
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend("relocating ownerships", e))?;
        if before.uploaded {
            apply_deltas(&mut tx, Viewers::OfMedia(id), &move_deltas(&before.folder, folder, before.size))
                .await?;
        }
        tx.commit().await.map_err(|e| backend("committing a relocation", e))?;
        Ok(media)
    }

    async fn update_envelope(
        &self,
        id: &MediaId,
        envelope: &Envelope,
        at: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let done = sqlx::query(
            "UPDATE storage_media SET algorithm = $2, chunk_size = $3, key_id = $4, wrapped_key = $5, \
             updated_at = $6 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(envelope.algorithm())
        .bind(i64::from(envelope.chunk_size()))
        .bind(envelope.key_id())
        .bind(envelope.wrapped_key())
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| backend("updating an envelope", e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete(&self, id: &MediaId) -> Result<Option<Media>, BackendError> {
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let row = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM storage_media m WHERE m.id = $1 FOR UPDATE"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| backend("locking a media", e))?;
        let Some(row) = row else { return Ok(None) };
        let media = Postgres::media(&row)?;
        if media.uploaded().is_some() {
            let size = to_i64(media.size(), "media size")?;
            apply_deltas(&mut tx, Viewers::OfMedia(id), &file_deltas(media.folder(), -1, -size)).await?;
            add_usage(&mut tx, &media.creator(), -1, -size).await?;
        }
        // Shares go with the media (media_owners ON DELETE CASCADE).
        sqlx::query("DELETE FROM storage_media WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| backend("deleting a media", e))?;
        tx.commit().await.map_err(|e| backend("committing a delete", e))?;
        Ok(Some(media))
    }

    async fn add_share(
        &self,
        media: &MediaId,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> Result<Share, AddShareError> {
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let locked = lock_media(&mut tx, media).await?.ok_or(AddShareError::MediaNotFound)?;
        let row = sqlx::query(
            "WITH ins AS ( \
                 INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
                 SELECT id, $2, false, full_path, file_name, uploaded_at IS NOT NULL, $3 \
                 FROM storage_media WHERE id = $1 \
                 RETURNING user_id, created_at) \
             SELECT u.id, u.username, u.email, ins.created_at FROM ins JOIN users u ON u.id = ins.user_id",
        )
        .bind(media.to_string())
        .bind(user.to_string())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| match violated(&e) {
            Some(constraint::SINGLE_SHARE) => AddShareError::AlreadyShared,
            Some(constraint::OWNERS_USER_FKEY) => AddShareError::UserNotFound,
            Some(constraint::OWNERS_MEDIA_FKEY) => AddShareError::MediaNotFound,
            _ => AddShareError::Backend(backend("inserting a share", e)),
        })?
        .ok_or(AddShareError::UserNotFound)?;
        let share = Postgres::share(*media, &row)?;
        if locked.uploaded {
            apply_deltas(&mut tx, Viewers::User(user), &file_deltas(&locked.folder, 1, locked.size)).await?;
        }
        tx.commit().await.map_err(|e| backend("committing a share", e))?;
        Ok(share)
    }

    async fn remove_share(&self, media: &MediaId, user: &UserId) -> Result<bool, BackendError> {
        let mut tx = self.pool.begin().await.map_err(|e| backend("starting a transaction", e))?;
        let Some(locked) = lock_media(&mut tx, media).await? else { return Ok(false) };
        let removed =
            sqlx::query("DELETE FROM media_owners WHERE media_id = $1 AND user_id = $2 AND NOT is_creator")
                .bind(media.to_string())
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("removing a share", e))?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        if locked.uploaded {
            apply_deltas(&mut tx, Viewers::User(user), &file_deltas(&locked.folder, -1, -locked.size))
                .await?;
        }
        tx.commit().await.map_err(|e| backend("committing an unshare", e))?;
        Ok(true)
    }

    async fn list_shares(&self, media: &MediaId) -> Result<Vec<Share>, BackendError> {
        let found = sqlx::query(
            "SELECT u.id, u.username, u.email, o.created_at FROM media_owners o JOIN users u ON u.id = o.user_id \
             WHERE o.media_id = $1 AND NOT o.is_creator ORDER BY u.username, u.id",
        )
        .bind(media.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("listing shares", e))?;
        found.iter().map(|row| Postgres::share(*media, row)).collect()
    }

    async fn usage(&self, user: &UserId) -> Result<Usage, BackendError> {
        let row = sqlx::query("SELECT media_count, disk_usage FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| backend("reading usage", e))?;
        row.as_ref().map(Postgres::usage).transpose().map(Option::unwrap_or_default)
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
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("ranking users", e))?;
        found.iter().map(Postgres::user_usage).collect()
    }

    async fn media_not_wrapped_with(&self, key_id: &str, limit: u32) -> Result<Vec<MediaId>, BackendError> {
        let found = sqlx::query("SELECT id FROM storage_media WHERE key_id <> $1 ORDER BY id LIMIT $2")
            .bind(key_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend("finding media to re-wrap", e))?;
        found.iter().map(Postgres::media_id).collect()
    }
}
