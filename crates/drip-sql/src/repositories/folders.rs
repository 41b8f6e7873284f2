//! Moving a whole folder of a creator's media in SQL ([`MediaRepository::relocate_folder`]):
//! one transaction that rewrites the folder prefix of their media and of every viewer's
//! copy, and moves every viewer's folder statistics with them.
//!
//! [`MediaRepository::relocate_folder`]: drip_core::storage::ports::MediaRepository::relocate_folder

use chrono::{DateTime, Utc};
use drip_core::storage::model::FolderPath;
use drip_core::storage::ports::RelocateFolderError;
use drip_core::{BackendError, UserId};
use sqlx::AssertSqlSafe;

use super::Repositories;
use super::media::apply_deltas;
use crate::error::{corrupt, violated};
use crate::folder_stats::{MergedDeltas, Viewers, move_deltas};
use crate::rows::Reads;
use crate::{Dialect, Param, constraint};

/// `column` is `$n` (a folder) or lies below it: `$n+1` is the folder with `/` after it
/// and `$n+2` with `0` (the byte after `/`), so every path below it, and no other, lies in
/// between (`$/a` never matches `$/ab`; `%` and `_` are plain characters).
fn within(column: &str, n: u8) -> String {
    format!("({column} = ${n} OR ({column} >= ${} AND {column} < ${}))", n + 1, n + 2)
}

/// The three binds [`within`] reads for `folder`.
fn bounds(folder: &FolderPath) -> [String; 3] {
    [folder.as_str().to_owned(), format!("{folder}/"), format!("{folder}0")]
}

/// See [`MediaRepository::relocate_folder`](drip_core::storage::ports::MediaRepository::relocate_folder).
pub(super) async fn relocate_folder<D: Dialect>(
    repos: &Repositories<D>,
    creator: &UserId,
    from: &FolderPath,
    to: &FolderPath,
    at: DateTime<Utc>,
) -> Result<u64, RelocateFolderError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let mut tx = repos.write().await?;
    let [from_path, from_below, from_after] = bounds(from);
    let [to_path, to_below, to_after] = bounds(to);

    // Every folder that moves, checked before anything changes: a path too long or too
    // deep below `to` refuses the whole move.
    let sql = format!(
        "SELECT DISTINCT full_path FROM storage_media \
         WHERE creator_id = $1 AND trashed_at IS NULL AND {}",
        within("full_path", 2)
    );
    let folders = sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(from_path.clone())
        .bind(from_below.clone())
        .bind(from_after.clone())
        .fetch_all(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("listing the folders a move takes", e))?;
    if folders.is_empty() {
        return Ok(0);
    }
    for row in &folders {
        let old: String = row.read("storage_media", "full_path")?;
        let old = FolderPath::parse(&old).map_err(|e| corrupt("storage_media", "full_path", e))?;
        old.rebased(from, to).map_err(|_| RelocateFolderError::TooDeep)?;
    }

    let sql = format!(
        "SELECT id FROM storage_media WHERE creator_id = $1 AND trashed_at IS NULL AND {} LIMIT 1",
        within("full_path", 2)
    );
    let taken = sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(to_path.clone())
        .bind(to_below.clone())
        .bind(to_after.clone())
        .fetch_optional(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("looking for files in a move's target", e))?;
    if taken.is_some() {
        return Err(RelocateFolderError::AlreadyExists);
    }

    // `to` and `from` are disjoint (the caller's rule), so no moved path collides with
    // another moved one midway; a file of the creator's put into `to` meanwhile meets the
    // name constraint.
    let start = i64::try_from(from.as_str().chars().count() + 1)
        .map_err(|e| BackendError::new("folder length", e))?;
    let sql = format!(
        "UPDATE storage_media SET full_path = $5 || substr(full_path, CAST($6 AS INTEGER)), updated_at = $7 \
         WHERE creator_id = $1 AND trashed_at IS NULL AND {}",
        within("full_path", 2)
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(from_path.clone())
        .bind(from_below.clone())
        .bind(from_after.clone())
        .bind(to_path.clone())
        .bind(start)
        .bind(D::time(at))
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(constraint::MEDIA_CREATOR_FOLDER_NAME) => RelocateFolderError::AlreadyExists,
            _ => RelocateFolderError::Backend(D::backend("moving a folder's media", e)),
        })?;
    // The target held none of the creator's files before: what it holds now moved.
    let sql = format!(
        "SELECT COUNT(*) AS moved FROM storage_media WHERE creator_id = $1 AND trashed_at IS NULL AND {}",
        within("full_path", 2)
    );
    let moved: i64 = sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(to_path.clone())
        .bind(to_below.clone())
        .bind(to_after.clone())
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("counting a folder's moved media", e))?
        .read("storage_media", "moved")?;

    // The moved media are the creator's in `to` whose viewers' copies are still in `from`.
    let moved_copies = format!(
        "FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
         WHERE m.creator_id = $1 AND m.trashed_at IS NULL AND {} AND {}",
        within("m.full_path", 5),
        within("o.full_path", 2)
    );
    let sql = format!(
        "SELECT o.user_id, o.full_path, COUNT(*) AS files, CAST(SUM(m.file_size) AS BIGINT) AS bytes \
         {moved_copies} AND o.uploaded GROUP BY o.user_id, o.full_path ORDER BY o.user_id"
    );
    let groups = sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(from_path.clone())
        .bind(from_below.clone())
        .bind(from_after.clone())
        .bind(to_path.clone())
        .bind(to_below.clone())
        .bind(to_after.clone())
        .fetch_all(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("summing a moved folder's files per viewer", e))?;
    let mut per_viewer: Vec<(UserId, MergedDeltas)> = Vec::new();
    for row in &groups {
        let viewer: String = row.read("media_owners", "user_id")?;
        let viewer = UserId::parse(&viewer).map_err(|e| corrupt("media_owners", "user_id", e))?;
        let old: String = row.read("media_owners", "full_path")?;
        let old = FolderPath::parse(&old).map_err(|e| corrupt("media_owners", "full_path", e))?;
        let new = old.rebased(from, to).map_err(|_| RelocateFolderError::TooDeep)?;
        let files: i64 = row.read("media_owners", "files")?;
        let bytes: i64 = row.read("media_owners", "bytes")?;
        if per_viewer.last().is_none_or(|(last, _)| *last != viewer) {
            per_viewer.push((viewer, MergedDeltas::default()));
        }
        if let Some((_, deltas)) = per_viewer.last_mut() {
            deltas.add(move_deltas(&old, &new, files, bytes));
        }
    }

    let sql = format!(
        "UPDATE media_owners SET full_path = $8 || substr(full_path, CAST($9 AS INTEGER)) \
         WHERE {} AND media_id IN (SELECT m.id FROM storage_media m \
             WHERE m.creator_id = $1 AND m.trashed_at IS NULL AND {})",
        within("full_path", 2),
        within("m.full_path", 5)
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(creator.to_string())
        .bind(from_path)
        .bind(from_below)
        .bind(from_after)
        .bind(to_path.clone())
        .bind(to_below)
        .bind(to_after)
        .bind(to_path)
        .bind(start)
        .execute(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("moving a folder's ownerships", e))?;

    for (viewer, deltas) in per_viewer {
        apply_deltas::<D>(&mut tx, Viewers::User(&viewer), &deltas.into_sorted()).await?;
    }
    tx.commit().await.map_err(|e| D::backend("committing a folder move", e))?;
    Ok(u64::try_from(moved).unwrap_or(0))
}
