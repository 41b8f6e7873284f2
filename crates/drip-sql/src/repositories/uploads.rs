//! [`UploadRepository`] in SQL: `resumable_uploads` (each cascading from its pending
//! `storage_media` row) and `upload_parts` (no foreign key: a part outlives its upload until
//! the expiry job removed its object). A part commits in one conditional `UPDATE` of the
//! upload's offset, so that of concurrent requests at one offset exactly one wins.

use async_trait::async_trait;
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::{Envelope, StorageKey};
use drip_core::uploads::model::{ResumableUpload, UploadPart};
use drip_core::uploads::ports::UploadRepository;
use drip_core::{BackendError, MediaId, UploadId, UserId};

use super::Repositories;
use super::jobs::insert_job;
use crate::error::{corrupt, to_i64};
use crate::rows::Reads;
use crate::{Dialect, Param, Row};

const UPLOAD_COLUMNS: &str = "id, creator_id, media_id, length, upload_offset, expires_at, created_at";
const PART_COLUMNS: &str =
    "storage_key, upload_id, start_offset, part_size, algorithm, chunk_size, key_id, wrapped_key, created_at";

fn unsigned<D: Dialect>(row: &Row<D>, table: &str, column: &str) -> Result<u64, BackendError> {
    let value: i64 = row.read(table, column)?;
    u64::try_from(value).map_err(|e| corrupt(table, column, e))
}

fn upload<D: Dialect>(row: &Row<D>) -> Result<ResumableUpload, BackendError> {
    const T: &str = "resumable_uploads";
    let (id, creator, media): (String, String, String) =
        (row.read(T, "id")?, row.read(T, "creator_id")?, row.read(T, "media_id")?);
    Ok(ResumableUpload {
        id: UploadId::parse(&id).map_err(|e| corrupt(T, "id", e))?,
        creator: UserId::parse(&creator).map_err(|e| corrupt(T, "creator_id", e))?,
        media: MediaId::parse(&media).map_err(|e| corrupt(T, "media_id", e))?,
        length: unsigned::<D>(row, T, "length")?,
        offset: unsigned::<D>(row, T, "upload_offset")?,
        expires_at: D::read_time(row, T, "expires_at")?,
        created_at: D::read_time(row, T, "created_at")?,
    })
}

fn part<D: Dialect>(row: &Row<D>) -> Result<UploadPart, BackendError> {
    const T: &str = "upload_parts";
    let (key, upload, algorithm, key_id, wrapped): (String, String, String, String, Vec<u8>) = (
        row.read(T, "storage_key")?,
        row.read(T, "upload_id")?,
        row.read(T, "algorithm")?,
        row.read(T, "key_id")?,
        row.read(T, "wrapped_key")?,
    );
    let chunk_size: i64 = row.read(T, "chunk_size")?;
    let size: Option<i64> = row.read(T, "part_size")?;
    Ok(UploadPart {
        key: StorageKey::parse(&key).map_err(|e| corrupt(T, "storage_key", e))?,
        upload: UploadId::parse(&upload).map_err(|e| corrupt(T, "upload_id", e))?,
        start: unsigned::<D>(row, T, "start_offset")?,
        size: size.map(|s| u64::try_from(s).map_err(|e| corrupt(T, "part_size", e))).transpose()?,
        envelope: Envelope::new(
            &algorithm,
            u32::try_from(chunk_size).map_err(|e| corrupt(T, "chunk_size", e))?,
            &key_id,
            wrapped,
        )
        .map_err(|e| corrupt(T, "envelope", e))?,
        created_at: D::read_time(row, T, "created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> UploadRepository for Repositories<D>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
{
    async fn insert(&self, upload: &ResumableUpload, expiry: &NewJob) -> Result<(), BackendError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO resumable_uploads (id, creator_id, media_id, length, upload_offset, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(upload.id.to_string())
        .bind(upload.creator.to_string())
        .bind(upload.media.to_string())
        .bind(to_i64(upload.length, "upload length")?)
        .bind(D::time(upload.expires_at))
        .bind(D::time(upload.created_at))
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("inserting a resumable upload", e))?;
        insert_job::<D>(&mut tx, expiry).await?;
        tx.commit().await.map_err(|e| D::backend("committing a resumable upload", e))
    }

    async fn find(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM resumable_uploads WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("finding a resumable upload", e))?;
        row.as_ref().map(upload::<D>).transpose()
    }

    async fn add_part(&self, part: &UploadPart) -> Result<(), BackendError> {
        let envelope = &part.envelope;
        sqlx::query(
            "INSERT INTO upload_parts (storage_key, upload_id, start_offset, algorithm, chunk_size, key_id, \
                 wrapped_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(part.key.as_str().to_owned())
        .bind(part.upload.to_string())
        .bind(to_i64(part.start, "part start")?)
        .bind(envelope.algorithm().to_owned())
        .bind(i64::from(envelope.chunk_size()))
        .bind(envelope.key_id().to_owned())
        .bind(envelope.wrapped_key().to_vec())
        .bind(D::time(part.created_at))
        .execute(D::on_pool(&self.pool))
        .await
        .map_err(|e| D::backend("recording an upload part", e))?;
        Ok(())
    }

    async fn commit_part(
        &self,
        upload: &UploadId,
        key: &StorageKey,
        start: u64,
        size: u64,
    ) -> Result<bool, BackendError> {
        let (start, size) = (to_i64(start, "part start")?, to_i64(size, "part size")?);
        let mut tx = self.write().await?;
        let moved = sqlx::query(
            "UPDATE resumable_uploads SET upload_offset = upload_offset + $3 \
             WHERE id = $1 AND upload_offset = $2 RETURNING id",
        )
        .bind(upload.to_string())
        .bind(start)
        .bind(size)
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("moving an upload's offset", e))?;
        if moved.is_none() {
            return Ok(false);
        }
        let committed = sqlx::query(
            "UPDATE upload_parts SET part_size = $4 \
             WHERE storage_key = $1 AND upload_id = $2 AND start_offset = $3 AND part_size IS NULL RETURNING storage_key",
        )
        .bind(key.as_str().to_owned())
        .bind(upload.to_string())
        .bind(start)
        .bind(size)
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("committing an upload part", e))?;
        if committed.is_none() {
            // Not this upload's part at this offset: nothing moves.
            return Ok(false);
        }
        tx.commit().await.map_err(|e| D::backend("committing an upload part", e))?;
        Ok(true)
    }

    async fn parts(&self, upload: &UploadId) -> Result<Vec<UploadPart>, BackendError> {
        let sql = format!(
            "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = $1 ORDER BY start_offset, storage_key"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(upload.to_string())
            .fetch_all(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("listing upload parts", e))?;
        rows.iter().map(part::<D>).collect()
    }

    async fn remove_part(&self, key: &StorageKey) -> Result<(), BackendError> {
        sqlx::query("DELETE FROM upload_parts WHERE storage_key = $1")
            .bind(key.as_str().to_owned())
            .execute(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("forgetting an upload part", e))?;
        Ok(())
    }

    async fn delete(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError> {
        let sql = format!("DELETE FROM resumable_uploads WHERE id = $1 RETURNING {UPLOAD_COLUMNS}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("removing a resumable upload", e))?;
        row.as_ref().map(upload::<D>).transpose()
    }
}
