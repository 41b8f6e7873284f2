//! Share routes of `/api/v1`: share a file with a user, list and withdraw its shares
//! (creator only), and the overview of what one shares and what is shared with one. The
//! overview's DTOs live here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use drip_core::accounts::model::Username;
use drip_core::storage::error::ShareError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{ErrorBody, FileDto, ShareBody, ShareDto, SharePartnerDto, SharePartnersDto, SharesDto};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody};
use crate::openapi::{CreatorOnly, JsonRefused, Unauthenticated};
use crate::routes::files::media_id;
use crate::schemas::UsernameSchema;
use crate::state::AppState;

/// One of the user's files and everyone it is shared with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OutgoingShareDto {
    /// The file.
    file: FileDto,
    /// The usernames it is shared with, by user id.
    with: Vec<String>,
}

/// A file shared with the user, and who shares it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IncomingShareDto {
    /// The file (`shared_by` says who).
    file: FileDto,
    /// Its creator's username.
    by: String,
}

/// What the user shares and what is shared with them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SharingOverviewDto {
    /// The user's shared files, by name.
    outgoing: Vec<OutgoingShareDto>,
    /// The files shared with the user, by name.
    incoming: Vec<IncomingShareDto>,
    /// Whether either list was cut at 500 entries.
    truncated: bool,
}

/// What the user shares (each file with everyone it is shared with) and what is shared
/// with them (each file with who shares it): the sharing overview. Trashed files are in
/// neither until restored.
#[utoipa::path(
    get, path = "/api/v1/me/shares", operation_id = "sharing_overview",
    security(("bearer" = [])),
    responses((status = 200, description = "The overview", body = SharingOverviewDto), Unauthenticated)
)]
pub(crate) async fn overview(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SharingOverviewDto>, ApiError> {
    let found = state.storage().sharing_overview(&user.id).await?;
    let mut outgoing: Vec<OutgoingShareDto> = Vec::new();
    let mut last = None;
    for entry in &found.outgoing {
        let sharee = entry.with.username.to_string();
        match outgoing.last_mut() {
            // Entries of one file come together (by name, then id).
            Some(same) if last == Some(entry.media.id()) => same.with.push(sharee),
            _ => outgoing.push(OutgoingShareDto { file: FileDto::from(&entry.media), with: vec![sharee] }),
        }
        last = Some(entry.media.id());
    }
    let incoming = found
        .incoming
        .iter()
        .map(|entry| {
            let by = entry.with.username.to_string();
            IncomingShareDto {
                file: FileDto { shared_by: Some(by.clone()), ..FileDto::from(&entry.media) },
                by,
            }
        })
        .collect();
    Ok(Json(SharingOverviewDto { outgoing, incoming, truncated: found.truncated }))
}

/// A username from a client; one that cannot exist is an unknown user.
fn username(text: &str) -> Result<Username, ApiError> {
    Username::parse(text).map_err(|_| ShareError::UserNotFound(text.to_owned()).into())
}

/// Shares a file with a user (creator only); both are notified.
#[utoipa::path(
    post, path = "/api/v1/files/{id}/shares", operation_id = "share_file",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = ShareBody,
    responses(
        (status = 201, description = "Shared", body = ShareDto),
        (status = 400, description = "`self_share`, `invalid_json`, `invalid_request`", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "`forbidden`: only the creator may share", body = ErrorBody),
        (status = 404, description = "`not_found` (file), `user_not_found`", body = ErrorBody),
        (status = 409, description = "`already_shared`", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ShareBody>,
) -> Result<(StatusCode, Json<ShareDto>), ApiError> {
    let id = media_id(&id)?;
    let with = username(&body.username)?;
    let share = state.storage().share(&user.id, &id, &with).await?;
    Ok((StatusCode::CREATED, Json(ShareDto::from(&share))))
}

/// The users a file is shared with (creator only).
#[utoipa::path(
    get, path = "/api/v1/files/{id}/shares", operation_id = "list_shares",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The shares", body = SharesDto), Unauthenticated, CreatorOnly)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<SharesDto>, ApiError> {
    let shares = state.storage().list_shares(&user.id, &media_id(&id)?).await?;
    Ok(Json(SharesDto { shares: shares.iter().map(ShareDto::from).collect() }))
}

/// The people the user shares files with and who share files with them, the latest share
/// first (at most 50): whom a share dialog suggests. No other user is ever listed.
#[utoipa::path(
    get, path = "/api/v1/me/share-partners", operation_id = "list_share_partners",
    security(("bearer" = [])),
    responses((status = 200, description = "Share partners", body = SharePartnersDto), Unauthenticated)
)]
pub(crate) async fn partners(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SharePartnersDto>, ApiError> {
    let partners = state.storage().share_partners(&user.id).await?;
    Ok(Json(SharePartnersDto { users: partners.iter().map(SharePartnerDto::from).collect() }))
}

/// Withdraws a share: the creator withdraws anyone's; a user a file is shared with leaves
/// it by naming themselves.
#[utoipa::path(
    delete, path = "/api/v1/files/{id}/shares/{username}", operation_id = "unshare_file",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The file's id"),
        ("username" = UsernameSchema, Path, description = "The user it is shared with"),
    ),
    responses(
        (status = 204, description = "Withdrawn (or left)"),
        Unauthenticated,
        (status = 403, description = "`forbidden`: a sharee naming someone else", body = ErrorBody),
        (status = 404, description = "`not_found`, `user_not_found`, `not_shared`", body = ErrorBody),
    )
)]
pub(crate) async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = media_id(&id)?;
    let with = username(&name)?;
    state.storage().unshare(&user.id, &id, &with).await?;
    Ok(StatusCode::NO_CONTENT)
}
