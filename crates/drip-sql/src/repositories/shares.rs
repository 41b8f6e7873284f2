//! The sharing overview in SQL ([`MediaRepository::shared_by`] and
//! [`MediaRepository::shared_with`]): a creator's shared files with each sharee, and the
//! files shared with a user with each creator, one indexed query each.
//!
//! [`MediaRepository::shared_by`]: drip_core::storage::ports::MediaRepository::shared_by
//! [`MediaRepository::shared_with`]: drip_core::storage::ports::MediaRepository::shared_with

use drip_core::storage::model::SharedFile;
use drip_core::{BackendError, UserId};

use super::Repositories;
use crate::{Dialect, Param, media_columns};

/// The columns of the other side of a share, after a media's.
macro_rules! partner_columns {
    () => {
        ", u.id AS partner_id, u.username AS partner_username, u.email AS partner_email"
    };
}

/// A creator's shared files, once per sharee (`$1` the creator, `$2` the limit).
/// `media_owners.uploaded` is cleared while a file is pending or in the trash.
pub(super) const SHARED_BY: &str = concat!(
    "SELECT ",
    media_columns!(),
    partner_columns!(),
    " FROM storage_media m JOIN media_owners o ON o.media_id = m.id JOIN users u ON u.id = o.user_id \
     WHERE m.creator_id = $1 AND NOT o.is_creator AND o.uploaded \
     ORDER BY m.file_name, m.id, o.user_id LIMIT $2"
);

/// The files shared with a user, with their creators (`$1` the user, `$2` the limit).
pub(super) const SHARED_WITH: &str = concat!(
    "SELECT ",
    media_columns!(),
    partner_columns!(),
    " FROM media_owners o JOIN storage_media m ON m.id = o.media_id JOIN users u ON u.id = m.creator_id \
     WHERE o.user_id = $1 AND NOT o.is_creator AND o.uploaded \
     ORDER BY m.file_name, m.id LIMIT $2"
);

/// Runs [`SHARED_BY`] or [`SHARED_WITH`] for `user`.
pub(super) async fn shared_files<D: Dialect>(
    repos: &Repositories<D>,
    sql: &'static str,
    user: &UserId,
    limit: u32,
    context: &str,
) -> Result<Vec<SharedFile>, BackendError>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let rows = sqlx::query(sql)
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(D::on_pool(&repos.reads))
        .await
        .map_err(|e| D::backend(context, e))?;
    rows.iter()
        .map(|row| {
            let with = D::owner_in(row, ["partner_id", "partner_username", "partner_email"])?;
            Ok(SharedFile { media: D::media(row)?, with })
        })
        .collect()
}
