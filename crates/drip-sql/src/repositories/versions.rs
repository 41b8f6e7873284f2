//! A new version of a file in SQL ([`MediaRepository::replace_content`]): the pending
//! record that received the new content hands its object to the file and goes, in one
//! transaction with the usage counters, every viewer's folder totals and the job that
//! removes the old object.
//!
//! [`MediaRepository::replace_content`]: drip_core::storage::ports::MediaRepository::replace_content

use drip_core::MediaId;
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::{Media, StorageKey, UploadedContent};
use drip_core::storage::ports::ReplaceContentError;
use sqlx::AssertSqlSafe;

use super::Repositories;
use super::jobs::insert_job;
use super::media::{add_reserved, add_usage, apply_deltas, lock_media};
use crate::error::to_i64;
use crate::folder_stats::{Viewers, file_deltas};
use crate::rows::Reads;
use crate::{Dialect, Param, media_columns, returning_media_columns};

/// See [`MediaRepository::replace_content`](drip_core::storage::ports::MediaRepository::replace_content).
pub(super) async fn replace_content<D: Dialect>(
    repos: &Repositories<D>,
    target: &MediaId,
    expected: &StorageKey,
    version: &MediaId,
    uploaded: UploadedContent,
    then: &NewJob,
) -> Result<Media, ReplaceContentError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
    bool: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
    Option<Vec<u8>>: Param<D::Db>,
    Option<i64>: Param<D::Db>,
{
    let size = to_i64(uploaded.size, "media size")?;
    let mut tx = repos.write().await?;
    // The file first, then its version: concurrent versions of one file queue on the file.
    let before = lock_media::<D>(&mut tx, target).await?.ok_or(ReplaceContentError::TargetChanged)?;
    // The version, locked and read whole in one query (its record gives the file its content).
    let sql = format!(
        concat!("SELECT ", media_columns!(), ", m.reserved_bytes FROM storage_media m WHERE m.id = $1{}"),
        D::LOCK
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(version.to_string())
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("locking a new version", e))?
        .ok_or(ReplaceContentError::VersionGone)?;
    let new = D::media(&row)?;
    let reserved: i64 = row.read("storage_media", "reserved_bytes")?;
    if new.uploaded().is_some() {
        return Err(ReplaceContentError::VersionGone);
    }
    if !before.listed() || before.creator != new.creator() || target == version {
        return Err(ReplaceContentError::TargetChanged);
    }
    // The version's row goes first: it holds the object key the file takes.
    sqlx::query("DELETE FROM storage_media WHERE id = $1")
        .bind(version.to_string())
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("removing a new version's record", e))?;
    let envelope = new.envelope();
    let row = sqlx::query(concat!(
        "UPDATE storage_media SET storage_key = $3, content_type = $4, algorithm = $5, chunk_size = $6, \
         key_id = $7, wrapped_key = $8, file_size = $9, digest = $10, uploaded_at = $11, updated_at = $11 \
         WHERE id = $1 AND storage_key = $2 RETURNING ",
        returning_media_columns!()
    ))
    .bind(target.to_string())
    .bind(expected.as_str().to_owned())
    .bind(new.storage_key().as_str().to_owned())
    .bind(new.content_type().as_str().to_owned())
    .bind(envelope.algorithm().to_owned())
    .bind(i64::from(envelope.chunk_size()))
    .bind(envelope.key_id().to_owned())
    .bind(envelope.wrapped_key().to_vec())
    .bind(size)
    .bind(uploaded.digest.as_bytes().to_vec())
    .bind(D::time(uploaded.uploaded_at))
    .fetch_optional(D::on(&mut tx))
    .await
    .map_err(|e| D::backend("giving a file its new version", e))?
    .ok_or(ReplaceContentError::TargetChanged)?;
    let media = D::media(&row)?;
    let grown = size - before.size;
    apply_deltas::<D>(&mut tx, Viewers::OfMedia(target), &file_deltas(&before.folder, 0, grown)).await?;
    add_usage::<D>(&mut tx, &before.creator, 0, grown).await?;
    add_reserved::<D>(&mut tx, &before.creator, -reserved).await?;
    insert_job::<D>(&mut tx, then).await?;
    tx.commit().await.map_err(|e| D::backend("committing a new version", e))?;
    Ok(media)
}
