//! Keyset-paginated listings of the media a user sees: one query-building path for
//! `list_folder`'s files and `list_visible`, and the cut of the extra row that says
//! whether another page follows.
//!
//! Pages are ordered by `(file_name, media_id)` in byte order and read one index range of
//! `media_owners` (`(user_id, full_path, file_name, media_id)` for a folder,
//! `(user_id, file_name, media_id)` otherwise), or, when the page asks for it, by
//! `(file_size | uploaded_at, file_name, media_id)` either way (the folder's rows sorted);
//! a cursor continues strictly after the last item of the previous page, so pages are
//! stable under concurrent inserts.

use drip_core::storage::model::{
    CursorKey, FileCursor, FileOrder, FolderPath, Media, PageRequest, SortOrder,
};
use drip_core::{BackendError, UserId};
use sqlx::{Pool, QueryBuilder};

use crate::{Dialect, Param};

/// Which of the media a user sees a listing shows.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The files directly in a folder (`list_folder`).
    In(&'a FolderPath),
    /// The files in a folder or any folder below it (`list_visible`); `None` or the root:
    /// every file.
    Below(Option<&'a FolderPath>),
}

/// One page of `scope` for `user`, read from `pool`, and the cursor of the next page if
/// there is one; `context` says what failed.
///
/// # Errors
/// [`BackendError`] when the query fails or a row does not convert.
pub async fn fetch<D>(
    pool: &Pool<D::Db>,
    user: &UserId,
    scope: Scope<'_>,
    page: &PageRequest,
    context: &str,
) -> Result<(Vec<Media>, Option<FileCursor>), BackendError>
where
    D: Dialect,
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let rows = media_page::<D>(user, scope, page)
        .build()
        .fetch_all(D::on_pool(pool))
        .await
        .map_err(|e| D::backend(context, e))?;
    Ok(paginate(D::all_media(&rows)?, page))
}

/// The query of one page of `scope` for `user`: the [`media_columns`](crate::media_columns)
/// of at most `page.limit() + 1` rows (the extra one tells [`paginate`] that another page
/// follows).
pub fn media_page<D>(user: &UserId, scope: Scope<'_>, page: &PageRequest) -> QueryBuilder<D::Db>
where
    D: Dialect,
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let mut query = QueryBuilder::new(concat!(
        "SELECT ",
        crate::media_columns!(),
        " FROM media_owners o JOIN storage_media m ON m.id = o.media_id WHERE o.user_id = "
    ));
    query.push_bind(user.to_string()).push(" AND ").push(D::UPLOADED);
    match scope {
        Scope::In(folder) => {
            query.push(" AND o.full_path = ").push_bind(folder.as_str().to_owned());
        }
        Scope::Below(Some(folder)) if !folder.is_root() => {
            // Every path below `folder` starts with `folder/`, so it lies in
            // [`folder/`, `folder0`) (`0` is the byte after `/`), and no other path does:
            // `$/a` never matches `$/ab`, and `%`/`_` are plain characters.
            query
                .push(" AND (o.full_path = ")
                .push_bind(folder.as_str().to_owned())
                .push(" OR (o.full_path >= ")
                .push_bind(format!("{folder}/"))
                .push(" AND o.full_path < ")
                .push_bind(format!("{folder}0"))
                .push("))");
        }
        Scope::Below(_) => {}
    }
    push_keyset::<D>(&mut query, ("o.file_name", "o.media_id"), page);
    query
}

/// Ends a listing query over `storage_media m` (whose `WHERE` is written) with the keyset
/// of `page` in its order: strictly after the cursor's (key, name, id), ordered by them
/// (`m.file_size` or `m.uploaded_at` for the key, `name` and `id` the columns of the
/// file's name and id), at most `page.limit() + 1` rows (the extra one tells [`paginate`]
/// that another page follows).
pub fn push_keyset<D>(
    query: &mut QueryBuilder<D::Db>,
    (name, id): (&'static str, &'static str),
    page: &PageRequest,
) where
    D: Dialect,
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    let order = page.order();
    let key = match order.by {
        FileOrder::Name => None,
        FileOrder::Size => Some("m.file_size"),
        FileOrder::Modified => Some("m.uploaded_at"),
    };
    let (after, direction) = match order.direction {
        SortOrder::Asc => (" > ", ""),
        SortOrder::Desc => (" < ", " DESC"),
    };
    if let Some(cursor) = page.cursor() {
        query.push(" AND (");
        if let Some(column) = key {
            query.push(column).push(", ");
        }
        query.push(name).push(", ").push(id).push(")").push(after).push("(");
        match cursor.key {
            CursorKey::Name => {}
            // No size is over i64::MAX: past it, nothing follows.
            CursorKey::Size(size) => {
                query.push_bind(i64::try_from(size).unwrap_or(i64::MAX)).push(", ");
            }
            CursorKey::Modified(at) => {
                query.push_bind(D::time(at)).push(", ");
            }
        }
        query
            .push_bind(cursor.name.as_str().to_owned())
            .push(", ")
            .push_bind(cursor.id.to_string())
            .push(")");
    }
    query.push(" ORDER BY ");
    if let Some(column) = key {
        query.push(column).push(direction).push(", ");
    }
    query.push(name).push(direction).push(", ").push(id).push(direction);
    query.push(" LIMIT ").push_bind(i64::from(page.limit()) + 1);
}

/// Cuts the extra row fetched to learn whether another page follows, and answers the
/// cursor of the next page if there is one.
#[must_use]
pub fn paginate(items: Vec<Media>, page: &PageRequest) -> (Vec<Media>, Option<FileCursor>) {
    paginate_by(items, page, |m| m)
}

/// [`paginate`] for items that each hold a media (e.g. a trashed one).
#[must_use]
pub fn paginate_by<T>(
    mut items: Vec<T>,
    page: &PageRequest,
    media: impl Fn(&T) -> &Media,
) -> (Vec<T>, Option<FileCursor>) {
    let limit = page.limit() as usize;
    if items.len() <= limit {
        return (items, None);
    }
    items.truncate(limit);
    let next = items.last().map(media).map(|m| FileCursor::after(m, page.order()));
    (items, next)
}
