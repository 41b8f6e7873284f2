//! Prepared folder archive routes of `/api/v1`: ask for a ZIP of a folder (202, built by a
//! job), follow it, list and delete one's own, and download it once ready — streamed and
//! verified, with ranges and entity tags like file downloads. The DTOs of these routes live
//! here.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drip_core::archives::model::{Archive, ArchiveStatus};
use drip_core::archives::{ArchiveDownload, content_link};
use drip_core::storage::model::FolderPath;
use drip_core::{ArchiveId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client_ip::ClientIp;
use crate::dto::{ErrorBody, timestamp};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody};
use crate::openapi::{ContentHeaders, JsonRefused, TransferRefused, Unauthenticated};
use crate::range;
use crate::routes::files::{Binary, Payload, Wanted, deliver, not_modified, recorded, take_slot, wanted};
use crate::schemas::FolderPathSchema;
use crate::state::AppState;

/// What to pack.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchiveBody {
    /// The folder: its files and everything below it, as the user sees them (their own and
    /// those shared with them).
    #[schema(value_type = FolderPathSchema)]
    folder: String,
}

/// Where an archive stands: `pending` (a job builds it), `ready` (fetch it at `link`),
/// `failed` (see `reason`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ArchiveStatusDto {
    /// A job builds it.
    Pending,
    /// Built: fetch it at `link`.
    Ready,
    /// Could not be built: see `reason`.
    Failed,
}

/// A prepared archive of a folder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ArchiveDto {
    /// Its id.
    id: String,
    /// The folder it packs.
    #[schema(value_type = FolderPathSchema)]
    folder: String,
    /// Where it stands.
    status: ArchiveStatusDto,
    /// Why it failed (`failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Size of the ZIP in bytes (`ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    /// Files in the ZIP (`ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<u64>,
    /// Where to download it (`ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// When it was requested (RFC 3339).
    created_at: String,
    /// When it expires (RFC 3339): from then on it is gone.
    expires_at: String,
}

impl From<&Archive> for ArchiveDto {
    fn from(archive: &Archive) -> Self {
        let content = archive.content();
        Self {
            id: archive.id().to_string(),
            folder: archive.folder().to_string(),
            status: match archive.status() {
                ArchiveStatus::Pending => ArchiveStatusDto::Pending,
                ArchiveStatus::Ready => ArchiveStatusDto::Ready,
                ArchiveStatus::Failed => ArchiveStatusDto::Failed,
            },
            reason: archive.reason().map(|r| r.as_str().to_owned()),
            size: content.map(|c| c.size),
            files: content.map(|c| c.files),
            link: content.map(|_| content_link(&archive.id())),
            created_at: timestamp(archive.created_at()),
            expires_at: timestamp(archive.expires_at()),
        }
    }
}

/// The user's archives.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ArchiveListDto {
    /// Newest first (those that have not expired, at most 100).
    items: Vec<ArchiveDto>,
}

/// An archive id from a path; ids that cannot exist are not found.
pub(crate) fn archive_id(text: &str) -> Result<ArchiveId, ApiError> {
    ArchiveId::parse(text).map_err(|_| ApiError::archive_not_found())
}

/// Asks for a ZIP of a folder: answers at once (202) with the pending archive; a job
/// builds it and the user gets the `download` event, with its `link`, once it is ready.
/// A file deleted before the job reads it is left out; an empty folder is an empty ZIP.
#[utoipa::path(
    post, path = "/api/v1/archives", tag = "archives",
    security(("bearer" = [])),
    request_body = ArchiveBody,
    responses(
        (status = 202, description = "Requested", body = ArchiveDto,
            headers(("Location" = String, description = "The archive's URL"))),
        (status = 400, description = "`invalid_path`, `invalid_json`, `invalid_request`", body = ErrorBody),
        Unauthenticated,
        JsonRefused,
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<ArchiveBody>,
) -> Result<Response, ApiError> {
    let folder = FolderPath::parse(&body.folder)?;
    let archive = state.archives().request(&user.id, folder).await?;
    let mut response = (StatusCode::ACCEPTED, Json(ArchiveDto::from(&archive))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/archives/{}", archive.id())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The user's archives that have not expired, newest first.
#[utoipa::path(
    get, path = "/api/v1/archives", tag = "archives", operation_id = "list_archives",
    security(("bearer" = [])),
    responses((status = 200, description = "The archives", body = ArchiveListDto), Unauthenticated)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ArchiveListDto>, ApiError> {
    let archives = state.archives().list(&user.id).await?;
    Ok(Json(ArchiveListDto { items: archives.iter().map(ArchiveDto::from).collect() }))
}

/// An archive of the user's: its status, and once ready its size and link.
#[utoipa::path(
    get, path = "/api/v1/archives/{id}", tag = "archives", operation_id = "archive_info",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The archive's id")),
    responses(
        (status = 200, description = "The archive", body = ArchiveDto),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such archive of the user's (or it expired)", body = ErrorBody),
    )
)]
pub(crate) async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ArchiveDto>, ApiError> {
    let archive = state.archives().status(&user.id, &archive_id(&id)?).await?;
    Ok(Json(ArchiveDto::from(&archive)))
}

/// Deletes an archive of the user's (pending, ready or failed) and its content.
#[utoipa::path(
    delete, path = "/api/v1/archives/{id}", tag = "archives", operation_id = "delete_archive",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The archive's id")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthenticated,
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.archives().delete(&user.id, &archive_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Downloads a ready archive (`application/zip`, saved as `<folder name>.zip`), streamed
/// and verified. `Range` answers 206 with only the chunks the range touches decrypted;
/// `If-None-Match` with the `ETag` answers 304.
#[utoipa::path(
    get, path = "/api/v1/archives/{id}/content", tag = "archives",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The archive's id"),
        ContentHeaders,
    ),
    responses(
        (status = 200, description = "The ZIP", content_type = "application/zip", body = Binary,
            headers(("ETag" = String), ("Content-Disposition" = String), ("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "Part of the ZIP", content_type = "application/zip", body = Binary,
            headers(("Content-Range" = String), ("ETag" = String), ("Content-Length" = u64))),
        (status = 304, description = "Not modified"),
        Unauthenticated,
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`archive_pending`: not built yet (wait for the `download` event); `archive_failed`: it could not be built (`details.reason`)", body = ErrorBody),
        (status = 410, description = "`archive_expired`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */size`", body = ErrorBody),
        (status = 500, description = "`integrity`: the stored archive failed verification", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn content(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&state, &user.id, client, &archive_id(&id)?, &headers).await
}

/// An archive of `user`'s, for `headers` (ranges, entity tags): the archive download, and
/// the download of a ticket for one.
pub(crate) async fn serve(
    state: &AppState,
    user: &UserId,
    client: ClientIp,
    id: &ArchiveId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    // The state decides the answer before any transfer slot is taken.
    let archive = state.archives().status(user, id).await?;
    let etag = archive.content().and_then(|content| range::etag(&content.digest.to_hex()));
    let range = match archive.content() {
        // Not ready: the download itself says why.
        None => None,
        Some(content) => match wanted(headers, etag.as_ref(), content.size)? {
            Wanted::NotModified => return Ok(not_modified(etag)),
            Wanted::Whole => None,
            Wanted::Part(range) => Some(range),
        },
    };
    let slot = take_slot(state, user, client)?;
    let partial = range.is_some();
    let delivery = recorded(state, started, async {
        let ArchiveDownload { archive, size, range: served, content } =
            state.archives().download(user, id, range).await?;
        let payload = Payload {
            content_type: HeaderValue::from_static("application/zip"),
            name: archive.file_name(),
            size,
        };
        deliver(state, payload, served, content, slot, started).await
    })
    .await?;
    Ok(delivery.into_response(partial, etag))
}
