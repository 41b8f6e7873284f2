//! [`LinkRepository`] in SQL: `public_links` (joined with their media for its name,
//! upload and trash state) and `drop_links`. Counters change in one conditional `UPDATE`, so that
//! the limits hold under concurrency without a lock held across statements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::PasswordHash;
use drip_core::links::model::{DropLink, Guard, PublicLink, TokenHash};
use drip_core::links::ports::{InsertLinkError, LinkRepository};
use drip_core::storage::model::{FileName, FolderPath};
use drip_core::{BackendError, DropId, LinkId, MediaId, UserId};
use sqlx::AssertSqlSafe;

use super::Repositories;
use crate::error::{FOREIGN_KEY, corrupt, corrupt_msg, to_i64, violated};
use crate::rows::Reads;
use crate::{Dialect, Param, Row};

/// The columns [`link`] reads: the link's, and its media's name (`l`, `m` aliases).
const LINK_COLUMNS: &str = "l.id, l.media_id, l.creator_id, m.file_name, l.token_hash, l.password_hash, \
     l.expires_at, l.max_downloads, l.downloads, l.notify, l.created_at";

/// Links whose media is uploaded and not trashed (a trashed file's links are suspended),
/// with the media's name.
fn live_links(filter: &str) -> String {
    format!(
        "SELECT {LINK_COLUMNS} FROM public_links l JOIN storage_media m ON m.id = l.media_id \
         WHERE m.uploaded_at IS NOT NULL AND m.trashed_at IS NULL AND {filter}"
    )
}

/// The columns [`drop_link`] reads.
const DROP_COLUMNS: &str = "id, owner_id, full_path, token_hash, password_hash, expires_at, max_uploads, \
     max_bytes, uploads, bytes, created_at";

fn parsed<T, E: std::error::Error + Send + Sync + 'static>(
    table: &str,
    column: &str,
    parsed: Result<T, E>,
) -> Result<T, BackendError> {
    parsed.map_err(|e| corrupt(table, column, e))
}

fn token<D: Dialect>(row: &Row<D>, table: &str) -> Result<TokenHash, BackendError> {
    let bytes: Vec<u8> = row.read(table, "token_hash")?;
    let bytes = <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt_msg(table, "token_hash", "not 32 bytes"))?;
    Ok(TokenHash::from_bytes(bytes))
}

fn guard<D: Dialect>(row: &Row<D>, table: &str) -> Result<Guard, BackendError> {
    let password: Option<String> = row.read(table, "password_hash")?;
    let password = password.map(|p| parsed(table, "password_hash", PasswordHash::parse(&p))).transpose()?;
    Ok(Guard { expires_at: D::read_maybe_time(row, table, "expires_at")?, password })
}

fn count<D: Dialect>(row: &Row<D>, table: &str, column: &str) -> Result<u64, BackendError> {
    let value: i64 = row.read(table, column)?;
    parsed(table, column, u64::try_from(value))
}

fn limit<D: Dialect>(row: &Row<D>, table: &str, column: &str) -> Result<Option<u64>, BackendError> {
    let value: Option<i64> = row.read(table, column)?;
    value.map(|v| parsed(table, column, u64::try_from(v))).transpose()
}

fn small(table: &str, column: &str, value: u64) -> Result<u32, BackendError> {
    parsed(table, column, u32::try_from(value))
}

fn link<D: Dialect>(row: &Row<D>) -> Result<PublicLink, BackendError> {
    const T: &str = "public_links";
    let (id, media, creator, name): (String, String, String, String) =
        (row.read(T, "id")?, row.read(T, "media_id")?, row.read(T, "creator_id")?, row.read(T, "file_name")?);
    Ok(PublicLink {
        id: parsed(T, "id", LinkId::parse(&id))?,
        media: parsed(T, "media_id", MediaId::parse(&media))?,
        creator: parsed(T, "creator_id", UserId::parse(&creator))?,
        file_name: parsed(T, "file_name", FileName::parse(&name))?,
        token: token::<D>(row, T)?,
        guard: guard::<D>(row, T)?,
        max_downloads: limit::<D>(row, T, "max_downloads")?
            .map(|v| small(T, "max_downloads", v))
            .transpose()?,
        downloads: small(T, "downloads", count::<D>(row, T, "downloads")?)?,
        notify: row.read(T, "notify")?,
        created_at: D::read_time(row, T, "created_at")?,
    })
}

fn drop_link<D: Dialect>(row: &Row<D>) -> Result<DropLink, BackendError> {
    const T: &str = "drop_links";
    let (id, owner, folder): (String, String, String) =
        (row.read(T, "id")?, row.read(T, "owner_id")?, row.read(T, "full_path")?);
    Ok(DropLink {
        id: parsed(T, "id", DropId::parse(&id))?,
        owner: parsed(T, "owner_id", UserId::parse(&owner))?,
        folder: parsed(T, "full_path", FolderPath::parse(&folder))?,
        token: token::<D>(row, T)?,
        guard: guard::<D>(row, T)?,
        max_uploads: limit::<D>(row, T, "max_uploads")?.map(|v| small(T, "max_uploads", v)).transpose()?,
        max_bytes: limit::<D>(row, T, "max_bytes")?,
        uploads: small(T, "uploads", count::<D>(row, T, "uploads")?)?,
        bytes: count::<D>(row, T, "bytes")?,
        created_at: D::read_time(row, T, "created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> LinkRepository for Repositories<D>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
    bool: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
    Option<String>: Param<D::Db>,
    Option<i64>: Param<D::Db>,
{
    async fn insert_link(&self, link: &PublicLink) -> Result<(), InsertLinkError> {
        sqlx::query(
            "INSERT INTO public_links (id, media_id, creator_id, token_hash, password_hash, expires_at, \
                 max_downloads, downloads, notify, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
        )
        .bind(link.id.to_string())
        .bind(link.media.to_string())
        .bind(link.creator.to_string())
        .bind(link.token.as_bytes().to_vec())
        .bind(link.guard.password.as_ref().map(|p| p.as_str().to_owned()))
        .bind(D::maybe_time(link.guard.expires_at))
        .bind(link.max_downloads.map(i64::from))
        .bind(link.notify)
        .bind(D::time(link.created_at))
        .execute(D::on_pool(&self.pool))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(FOREIGN_KEY) => InsertLinkError::Gone,
            _ => InsertLinkError::Backend(D::backend("inserting a public link", e)),
        })?;
        Ok(())
    }

    async fn link_by_token(&self, token: &TokenHash) -> Result<Option<PublicLink>, BackendError> {
        let row = sqlx::query(AssertSqlSafe(live_links("l.token_hash = $1")))
            .bind(token.as_bytes().to_vec())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a link by token", e))?;
        row.as_ref().map(link::<D>).transpose()
    }

    async fn find_link(&self, id: &LinkId) -> Result<Option<PublicLink>, BackendError> {
        let row = sqlx::query(AssertSqlSafe(live_links("l.id = $1")))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a link", e))?;
        row.as_ref().map(link::<D>).transpose()
    }

    async fn links_of_media(&self, media: &MediaId) -> Result<Vec<PublicLink>, BackendError> {
        let sql = format!("{} ORDER BY l.created_at, l.id", live_links("l.media_id = $1"));
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(media.to_string())
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing the links of a file", e))?;
        rows.iter().map(link::<D>).collect()
    }

    async fn links_of(&self, creator: &UserId, limit: u32) -> Result<Vec<PublicLink>, BackendError> {
        let sql = format!("{} ORDER BY l.created_at, l.id LIMIT $2", live_links("l.creator_id = $1"));
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(creator.to_string())
            .bind(i64::from(limit))
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing a user's links", e))?;
        rows.iter().map(link::<D>).collect()
    }

    async fn delete_link(&self, id: &LinkId) -> Result<bool, BackendError> {
        let query = sqlx::query("DELETE FROM public_links WHERE id = $1 RETURNING id").bind(id.to_string());
        self.changed(query, "deleting a link").await
    }

    async fn count_download(&self, id: &LinkId, now: DateTime<Utc>) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE public_links SET downloads = downloads + 1 \
             WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2) \
               AND (max_downloads IS NULL OR downloads < max_downloads) \
               AND EXISTS (SELECT 1 FROM storage_media m WHERE m.id = media_id AND m.uploaded_at IS NOT NULL \
                   AND m.trashed_at IS NULL) \
             RETURNING id",
        )
        .bind(id.to_string())
        .bind(D::time(now));
        self.changed(query, "counting a download").await
    }

    async fn uncount_download(&self, id: &LinkId) -> Result<(), BackendError> {
        let query = sqlx::query(
            "UPDATE public_links SET downloads = downloads - 1 WHERE id = $1 AND downloads > 0 RETURNING id",
        )
        .bind(id.to_string());
        self.changed(query, "giving back a download").await.map(|_| ())
    }

    async fn insert_drop(&self, drop: &DropLink) -> Result<(), InsertLinkError> {
        let max_bytes = drop.max_bytes.map(|b| to_i64(b, "max_bytes")).transpose()?;
        sqlx::query(
            "INSERT INTO drop_links (id, owner_id, full_path, token_hash, password_hash, expires_at, \
                 max_uploads, max_bytes, uploads, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9)",
        )
        .bind(drop.id.to_string())
        .bind(drop.owner.to_string())
        .bind(drop.folder.as_str().to_owned())
        .bind(drop.token.as_bytes().to_vec())
        .bind(drop.guard.password.as_ref().map(|p| p.as_str().to_owned()))
        .bind(D::maybe_time(drop.guard.expires_at))
        .bind(drop.max_uploads.map(i64::from))
        .bind(max_bytes)
        .bind(D::time(drop.created_at))
        .execute(D::on_pool(&self.pool))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(FOREIGN_KEY) => InsertLinkError::Gone,
            _ => InsertLinkError::Backend(D::backend("inserting a drop link", e)),
        })?;
        Ok(())
    }

    async fn drop_by_token(&self, token: &TokenHash) -> Result<Option<DropLink>, BackendError> {
        let sql = format!("SELECT {DROP_COLUMNS} FROM drop_links WHERE token_hash = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(token.as_bytes().to_vec())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a drop by token", e))?;
        row.as_ref().map(drop_link::<D>).transpose()
    }

    async fn find_drop(&self, id: &DropId) -> Result<Option<DropLink>, BackendError> {
        let sql = format!("SELECT {DROP_COLUMNS} FROM drop_links WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a drop", e))?;
        row.as_ref().map(drop_link::<D>).transpose()
    }

    async fn drops_of(&self, owner: &UserId, limit: u32) -> Result<Vec<DropLink>, BackendError> {
        let sql = format!(
            "SELECT {DROP_COLUMNS} FROM drop_links WHERE owner_id = $1 ORDER BY created_at, id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner.to_string())
            .bind(i64::from(limit))
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing a user's drops", e))?;
        rows.iter().map(drop_link::<D>).collect()
    }

    async fn delete_drop(&self, id: &DropId) -> Result<bool, BackendError> {
        let query = sqlx::query("DELETE FROM drop_links WHERE id = $1 RETURNING id").bind(id.to_string());
        self.changed(query, "deleting a drop").await
    }

    async fn reserve_upload(
        &self,
        id: &DropId,
        bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE drop_links SET uploads = uploads + 1, bytes = bytes + $2 \
             WHERE id = $1 AND (expires_at IS NULL OR expires_at > $3) \
               AND (max_uploads IS NULL OR uploads < max_uploads) \
               AND (max_bytes IS NULL OR bytes + $2 <= max_bytes) \
             RETURNING id",
        )
        .bind(id.to_string())
        .bind(to_i64(bytes, "upload size")?)
        .bind(D::time(now));
        self.changed(query, "reserving a drop upload").await
    }

    async fn release_upload(&self, id: &DropId, uploads: u32, bytes: u64) -> Result<(), BackendError> {
        let bytes = to_i64(bytes, "upload size")?;
        let query = sqlx::query(
            "UPDATE drop_links SET uploads = CASE WHEN uploads > $2 THEN uploads - $2 ELSE 0 END, \
                 bytes = CASE WHEN bytes > $3 THEN bytes - $3 ELSE 0 END \
             WHERE id = $1 RETURNING id",
        )
        .bind(id.to_string())
        .bind(i64::from(uploads))
        .bind(bytes);
        self.changed(query, "giving back a drop upload").await.map(|_| ())
    }
}
