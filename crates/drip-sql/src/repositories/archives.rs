//! [`ArchiveRepository`] in SQL: the `archives` table. A new archive and its build and
//! purge jobs are inserted in one transaction, and so are a build attempt's key and the
//! job that removes its object at expiry; becoming ready or failed is one conditional
//! `UPDATE` (pending, and still the same attempt), so an overtaken attempt changes nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::archives::model::{
    Archive, ArchiveContent, ArchiveParts, ArchiveState, ArchiveStatus, FailureReason,
};
use drip_core::archives::ports::{ArchiveRepository, BuildStart, InsertArchiveError};
use drip_core::jobs::model::NewJob;
use drip_core::storage::model::{Digest, Envelope, FolderPath, StorageKey};
use drip_core::{ArchiveId, BackendError, UserId};
use sqlx::AssertSqlSafe;

use super::Repositories;
use super::jobs::insert_job;
use crate::error::{FOREIGN_KEY, corrupt, corrupt_msg, to_i64, violated};
use crate::rows::Row;
use crate::{Dialect, Param, Reads};

/// The columns [`archive`] reads.
const COLUMNS: &str = "id, owner_id, folder, status, reason, storage_key, algorithm, chunk_size, key_id, \
     wrapped_key, size, digest, files, ready_at, created_at, expires_at";

const T: &str = "archives";

/// An archive from a row with the [`COLUMNS`].
fn archive<D: Dialect>(row: &Row<D>) -> Result<Archive, BackendError> {
    let text = |column: &str| -> Result<String, BackendError> { row.read(T, column) };
    let maybe_text = |column: &str| -> Result<Option<String>, BackendError> { row.read(T, column) };
    let unsigned = |column: &str| -> Result<u64, BackendError> {
        let value: i64 = row.read(T, column)?;
        u64::try_from(value).map_err(|e| corrupt(T, column, e))
    };
    let key = maybe_text("storage_key")?
        .map(|k| StorageKey::parse(&k).map_err(|e| corrupt(T, "storage_key", e)))
        .transpose()?;
    let state = match ArchiveStatus::parse(&text("status")?).map_err(|e| corrupt(T, "status", e))? {
        ArchiveStatus::Pending => ArchiveState::Pending { attempt: key },
        ArchiveStatus::Failed => {
            let reason = maybe_text("reason")?.ok_or_else(|| corrupt_msg(T, "reason", "absent"))?;
            let reason = FailureReason::new(&reason).map_err(|e| corrupt(T, "reason", e))?;
            ArchiveState::Failed { reason, attempt: key }
        }
        ArchiveStatus::Ready => {
            let absent = |column| move || corrupt_msg(T, column, "absent on a ready archive");
            let algorithm = maybe_text("algorithm")?.ok_or_else(absent("algorithm"))?;
            let key_id = maybe_text("key_id")?.ok_or_else(absent("key_id"))?;
            let wrapped: Option<Vec<u8>> = row.read(T, "wrapped_key")?;
            let digest: Option<Vec<u8>> = row.read(T, "digest")?;
            let chunk_size =
                u32::try_from(unsigned("chunk_size")?).map_err(|e| corrupt(T, "chunk_size", e))?;
            let digest = <[u8; 32]>::try_from(digest.ok_or_else(absent("digest"))?.as_slice())
                .map_err(|_| corrupt_msg(T, "digest", "not 32 bytes"))?;
            ArchiveState::Ready(ArchiveContent {
                storage_key: key.ok_or_else(absent("storage_key"))?,
                envelope: Envelope::new(
                    &algorithm,
                    chunk_size,
                    &key_id,
                    wrapped.ok_or_else(absent("wrapped_key"))?,
                )
                .map_err(|e| corrupt(T, "envelope", e))?,
                size: unsigned("size")?,
                digest: Digest::from_bytes(digest),
                files: unsigned("files")?,
                ready_at: D::read_maybe_time(row, T, "ready_at")?.ok_or_else(absent("ready_at"))?,
            })
        }
    };
    Ok(Archive::from_parts(ArchiveParts {
        id: ArchiveId::parse(&text("id")?).map_err(|e| corrupt(T, "id", e))?,
        owner: UserId::parse(&text("owner_id")?).map_err(|e| corrupt(T, "owner_id", e))?,
        folder: FolderPath::parse(&text("folder")?).map_err(|e| corrupt(T, "folder", e))?,
        state,
        created_at: D::read_time(row, T, "created_at")?,
        expires_at: D::read_time(row, T, "expires_at")?,
    }))
}

#[async_trait]
impl<D: Dialect> ArchiveRepository for Repositories<D>
where
    String: Param<D::Db>,
    Option<String>: Param<D::Db>,
    i64: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
{
    async fn insert(
        &self,
        archive: &Archive,
        build: &NewJob,
        purge: &NewJob,
    ) -> Result<(), InsertArchiveError> {
        let p = archive.parts();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO archives (id, owner_id, folder, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.id.to_string())
        .bind(p.owner.to_string())
        .bind(p.folder.as_str().to_owned())
        .bind(archive.status().as_str().to_owned())
        .bind(D::time(p.created_at))
        .bind(D::time(p.expires_at))
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| match violated::<D>(&e) {
            // The owner is the only reference of an archive row.
            Some(FOREIGN_KEY) => InsertArchiveError::UnknownOwner,
            _ => InsertArchiveError::Backend(D::backend("inserting an archive", e)),
        })?;
        insert_job::<D>(&mut tx, build).await?;
        insert_job::<D>(&mut tx, purge).await?;
        tx.commit().await.map_err(|e| D::backend("committing an archive insert", e))?;
        Ok(())
    }

    async fn find(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError> {
        let sql = format!("SELECT {COLUMNS} FROM archives WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding an archive", e))?;
        row.as_ref().map(archive::<D>).transpose()
    }

    async fn list_by_owner(&self, owner: &UserId, limit: u32) -> Result<Vec<Archive>, BackendError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM archives WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner.to_string())
            .bind(i64::from(limit))
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing archives", e))?;
        rows.iter().map(archive::<D>).collect()
    }

    async fn start_build(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<BuildStart, BackendError> {
        let mut tx = self.write().await?;
        let sql = format!(
            "SELECT status, storage_key, COALESCE(storage_key IS NOT NULL AND attempt_until > $2, false) AS busy \
             FROM archives WHERE id = $1{}",
            D::LOCK
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(D::time(now))
            .fetch_optional(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("locking an archive", e))?;
        let Some(row) = row else { return Ok(BuildStart::Gone) };
        let status: String = row.read(T, "status")?;
        if ArchiveStatus::parse(&status).map_err(|e| corrupt(T, "status", e))? != ArchiveStatus::Pending {
            return Ok(BuildStart::Finished);
        }
        let busy: bool = row.read(T, "busy")?;
        if busy {
            return Ok(BuildStart::Busy);
        }
        let previous: Option<String> = row.read(T, "storage_key")?;
        let previous =
            previous.map(|k| StorageKey::parse(&k).map_err(|e| corrupt(T, "storage_key", e))).transpose()?;
        sqlx::query("UPDATE archives SET storage_key = $2, attempt_until = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(key.as_str().to_owned())
            .bind(D::time(lease_until))
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("recording an archive's build attempt", e))?;
        insert_job::<D>(&mut tx, then).await?;
        tx.commit().await.map_err(|e| D::backend("committing an archive's build attempt", e))?;
        Ok(BuildStart::Started { previous })
    }

    async fn renew_attempt(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        until: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE archives SET attempt_until = $3 \
             WHERE id = $1 AND status = 'pending' AND storage_key = $2 RETURNING id",
        )
        .bind(id.to_string())
        .bind(key.as_str().to_owned())
        .bind(D::time(until));
        self.changed(query, "renewing an archive's build attempt").await
    }

    async fn mark_ready(&self, id: &ArchiveId, content: &ArchiveContent) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE archives SET status = 'ready', attempt_until = NULL, algorithm = $3, chunk_size = $4, key_id = $5, wrapped_key = $6, \
                 size = $7, digest = $8, files = $9, ready_at = $10 \
             WHERE id = $1 AND status = 'pending' AND storage_key = $2 RETURNING id",
        )
        .bind(id.to_string())
        .bind(content.storage_key.as_str().to_owned())
        .bind(content.envelope.algorithm().to_owned())
        .bind(i64::from(content.envelope.chunk_size()))
        .bind(content.envelope.key_id().to_owned())
        .bind(content.envelope.wrapped_key().to_vec())
        .bind(to_i64(content.size, "archive size")?)
        .bind(content.digest.as_bytes().to_vec())
        .bind(to_i64(content.files, "archive entries")?)
        .bind(D::time(content.ready_at));
        self.changed(query, "marking an archive ready").await
    }

    async fn mark_failed(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        reason: &FailureReason,
    ) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE archives SET status = 'failed', reason = $3, attempt_until = NULL \
             WHERE id = $1 AND status = 'pending' AND storage_key = $2 RETURNING id",
        )
        .bind(id.to_string())
        .bind(key.as_str().to_owned())
        .bind(reason.as_str().to_owned());
        self.changed(query, "marking an archive failed").await
    }

    async fn delete(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError> {
        let sql = format!("DELETE FROM archives WHERE id = $1 RETURNING {COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("deleting an archive", e))?;
        row.as_ref().map(archive::<D>).transpose()
    }
}
