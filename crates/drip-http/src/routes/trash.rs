//! Trash routes of `/api/v1`: list the files one deleted (`DELETE /api/v1/files/{id}` moves
//! a file here), restore one to its folder (under another name when its own was taken
//! since), purge one now, or empty the trash. The DTOs of these routes live here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use drip_core::storage::model::{FileName, TrashedMedia};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cursor;
use crate::dto::{ErrorBody, FileDto, timestamp};
use crate::error::ApiError;
use crate::extract::{AuthUser, OptionalJsonBody, Params};
use crate::openapi::{JsonRefused, Unauthenticated};
use crate::routes::files::{PageQuery, media_id};
use crate::schemas::FileNameSchema;
use crate::state::AppState;

/// A file in the trash: its metadata as it was deleted (its `folder` is where a restore
/// puts it back, its `size` still counts in the owner's usage until it is purged), and when.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrashedFileDto {
    /// The file.
    #[serde(flatten)]
    file: FileDto,
    /// When it was deleted (RFC 3339).
    deleted_at: String,
    /// When it is purged for good (RFC 3339), unless restored before.
    purge_at: String,
}

impl From<&TrashedMedia> for TrashedFileDto {
    fn from(trashed: &TrashedMedia) -> Self {
        Self {
            file: FileDto::from(&trashed.media),
            deleted_at: timestamp(trashed.trashed_at),
            purge_at: timestamp(trashed.purge_at),
        }
    }
}

/// One page of the trash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrashPageDto {
    /// The deleted files, by name.
    items: Vec<TrashedFileDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// How to restore a file; the body may be left out (or be `{}` or `null`) to restore it
/// under its own name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreBody {
    /// The name to restore it under, for when its own is taken in its folder again.
    #[serde(default, deserialize_with = "crate::dto::present")]
    #[schema(value_type = FileNameSchema, required = false)]
    name: Option<String>,
}

/// What emptying the trash did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmptiedDto {
    /// How many files were purged.
    purged: u64,
}

/// The files the user deleted and may still restore, by name, one page.
#[utoipa::path(
    get, path = "/api/v1/trash", tag = "trash", operation_id = "list_trash",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the trash", body = TrashPageDto),
        (status = 400, description = "`invalid_cursor`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<PageQuery>,
) -> Result<Json<TrashPageDto>, ApiError> {
    let page = cursor::page(query.cursor.as_deref(), query.limit)?;
    let trash = state.storage().trash(&user.id, &page).await?;
    Ok(Json(TrashPageDto {
        items: trash.items.iter().map(TrashedFileDto::from).collect(),
        next_cursor: trash.next.as_ref().map(cursor::encode),
    }))
}

/// Restores a file from the trash into its folder, with its shares and public links: under
/// its own name, or under `name` when given. A name taken again in the meantime is `409`.
#[utoipa::path(
    post, path = "/api/v1/trash/{id}/restore", tag = "trash", operation_id = "restore_file",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = Option<RestoreBody>,
    responses(
        (status = 200, description = "The restored file", body = FileDto),
        (status = 400, description = "`invalid_name`, `invalid_json`, `invalid_request`", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such file in the user's trash", body = ErrorBody),
        (status = 409, description = "`already_exists`: its folder holds a file of that name again", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn restore(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<Option<RestoreBody>>,
) -> Result<Json<FileDto>, ApiError> {
    let id = media_id(&id)?;
    let name = body.unwrap_or_default().name.as_deref().map(FileName::parse).transpose()?;
    let media = state.storage().restore(&user.id, &id, name.as_ref()).await?;
    Ok(Json(FileDto::from(&media)))
}

/// Purges a file from the trash now: it cannot be restored any more, its bytes leave the
/// user's usage, its content is removed by a job.
#[utoipa::path(
    delete, path = "/api/v1/trash/{id}", tag = "trash", operation_id = "purge_file",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 204, description = "Purged"),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such file in the user's trash", body = ErrorBody),
    )
)]
pub(crate) async fn purge(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.storage().purge(&user.id, &media_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Empties the trash: purges every file in it now.
#[utoipa::path(
    delete, path = "/api/v1/trash", tag = "trash", operation_id = "empty_trash",
    security(("bearer" = [])),
    responses((status = 200, description = "Emptied", body = EmptiedDto), Unauthenticated)
)]
pub(crate) async fn empty(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<EmptiedDto>, ApiError> {
    let purged = state.storage().empty_trash(&user.id).await?;
    Ok(Json(EmptiedDto { purged }))
}
