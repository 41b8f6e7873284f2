//! Folder routes of `/api/v1` that change a whole folder: move (or rename) one with every
//! file of the user's in it, and delete one (its files to the trash). Listing a folder is
//! with the file routes. The DTOs of these routes live here.

use axum::Json;
use axum::extract::State;
use drip_core::storage::model::FolderPath;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::ErrorBody;
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody, Params};
use crate::openapi::{JsonRefused, Unauthenticated};
use crate::schemas::SubfolderSchema;
use crate::state::AppState;

/// Where a folder goes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveFolderBody {
    /// The folder to move (not `$`).
    #[schema(value_type = SubfolderSchema)]
    from: String,
    /// Its new path: another name in the same parent renames it; any other place moves
    /// it. Neither folder may hold the other.
    #[schema(value_type = SubfolderSchema)]
    to: String,
}

/// A moved folder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FolderMovedDto {
    /// Where it is now.
    #[schema(value_type = SubfolderSchema)]
    path: String,
    /// How many of the user's files moved with it (subfolders' included).
    moved: u64,
}

/// Which folder to delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FolderPathQuery {
    /// The folder, `$/a` or deeper (not `$`).
    #[param(value_type = SubfolderSchema)]
    path: String,
}

/// A deleted folder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FolderDeletedDto {
    /// How many of the user's files went to the trash (for good when the server keeps no
    /// trash).
    deleted: u64,
    /// How many files shared with the user stayed: only their creators delete them (the
    /// user may leave those shares), so the folder still shows them.
    kept: u64,
}

/// Moves or renames one of the user's folders with every file of theirs in it and below
/// it, in one step: their shares and public links go along and sharees see the files at
/// the new place. Files shared with the user stay where their creators keep them; trashed
/// files are restored where they were deleted from.
#[utoipa::path(
    post, path = "/api/v1/folders/move",
    security(("bearer" = [])),
    request_body = MoveFolderBody,
    responses(
        (status = 200, description = "Moved", body = FolderMovedDto),
        (status = 400, description = "`invalid_path`, `invalid_target` (`$`)", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "`folder_not_found`: the user has no file of their own in it", body = ErrorBody),
        (status = 409, description = "`folder_exists`: the user has files at the target already; `folder_overlaps`: one folder holds the other (or they are one); `folder_too_deep`: a subfolder would be deeper than 64 or longer than 1024 bytes at the target", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn move_folder(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<MoveFolderBody>,
) -> Result<Json<FolderMovedDto>, ApiError> {
    let from = FolderPath::parse(&body.from)?;
    let to = FolderPath::parse(&body.to)?;
    let moved = state.storage().move_folder(&user.id, &from, &to).await?;
    Ok(Json(FolderMovedDto { path: to.to_string(), moved }))
}

/// Deletes one of the user's folders: every file of theirs in it and below it goes to the
/// trash (restore or purge them there), as deleting each would. Files shared with the user
/// stay. File by file: should it fail midway, deleting again goes on.
#[utoipa::path(
    delete, path = "/api/v1/folders",
    security(("bearer" = [])),
    params(FolderPathQuery),
    responses(
        (status = 200, description = "Deleted", body = FolderDeletedDto),
        (status = 400, description = "`invalid_path`, `invalid_target` (`$`), `invalid_query`", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "`folder_not_found`: the user sees no file in it", body = ErrorBody),
    )
)]
pub(crate) async fn delete_folder(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<FolderPathQuery>,
) -> Result<Json<FolderDeletedDto>, ApiError> {
    let folder = FolderPath::parse(&query.path)?;
    let done = state.storage().delete_folder(&user.id, &folder).await?;
    Ok(Json(FolderDeletedDto { deleted: done.deleted, kept: done.kept }))
}
