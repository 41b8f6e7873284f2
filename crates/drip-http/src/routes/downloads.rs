//! Download URLs: a short-lived ticket for one file or archive that a browser opens with
//! no header, so its own download manager streams the content to disk (resumable with
//! ranges) instead of a page holding it in memory. The DTO of these routes lives here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use drip_core::accounts::model::{DownloadTarget, DownloadTicket};
use serde::Serialize;
use utoipa::ToSchema;

use crate::client_ip::ClientIp;
use crate::dto::{ErrorBody, timestamp};
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::openapi::{ContentHeaders, TransferRefused, Unauthenticated};
use crate::routes::files::{Binary, media_id};
use crate::routes::{archives, files};
use crate::state::AppState;

/// A URL that downloads one file or archive without any header, until it expires.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DownloadUrlDto {
    /// The URL, relative to this service: `/api/v1/downloads/<ticket>`.
    url: String,
    /// When it stops opening the download (RFC 3339); a download under way goes on.
    expires_at: String,
}

impl From<&DownloadTicket> for DownloadUrlDto {
    fn from(ticket: &DownloadTicket) -> Self {
        Self {
            url: format!("/api/v1/downloads/{}", ticket.as_str()),
            expires_at: timestamp(ticket.expires_at()),
        }
    }
}

/// A download URL for a file the user can see (their own or shared with them), valid for
/// `auth.download_ticket_secs` (5 minutes) or until the session ends.
#[utoipa::path(
    post, path = "/api/v1/files/{id}/download-url", tag = "downloads", operation_id = "file_download_url",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The URL", body = DownloadUrlDto),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such file, or not visible to the user", body = ErrorBody),
    )
)]
pub(crate) async fn for_file(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DownloadUrlDto>, ApiError> {
    let id = media_id(&id)?;
    state.storage().info(&user.id, &id).await?;
    grant(&state, &user, DownloadTarget::File(id)).await
}

/// A download URL for an archive of the user's, valid like a file's.
#[utoipa::path(
    post, path = "/api/v1/archives/{id}/download-url", tag = "downloads", operation_id = "archive_download_url",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The archive's id")),
    responses(
        (status = 200, description = "The URL", body = DownloadUrlDto),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such archive of the user's (or it expired)", body = ErrorBody),
    )
)]
pub(crate) async fn for_archive(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DownloadUrlDto>, ApiError> {
    let id = archives::archive_id(&id)?;
    state.archives().status(&user.id, &id).await?;
    grant(&state, &user, DownloadTarget::Archive(id)).await
}

async fn grant(
    state: &AppState,
    user: &AuthUser,
    target: DownloadTarget,
) -> Result<Json<DownloadUrlDto>, ApiError> {
    let ticket = state.accounts().grant_download(&user.id, &user.session, target).await?;
    Ok(Json(DownloadUrlDto::from(&ticket)))
}

/// Downloads what a download URL names, as its user may see it now, exactly like the file
/// or archive download (`Content-Disposition: attachment`, ranges, entity tags); no
/// `Authorization` header: the URL is the credential.
#[utoipa::path(
    get, path = "/api/v1/downloads/{ticket}", tag = "downloads", operation_id = "download_by_url",
    params(
        ("ticket" = String, Path, description = "The ticket of a download URL"),
        ContentHeaders,
    ),
    responses(
        (status = 200, description = "The whole content, as the file's own content type (an archive's is `application/zip`)", content_type = "*/*", body = Binary,
            headers(("ETag" = String), ("Content-Disposition" = String), ("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "Part of the content", content_type = "*/*", body = Binary,
            headers(("Content-Range" = String), ("ETag" = String), ("Content-Length" = u64))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "`not_found`: no such download (a wrong URL, its session ended), or the file is gone or no longer visible to the user", body = ErrorBody),
        (status = 409, description = "`archive_pending`, `archive_failed`", body = ErrorBody),
        (status = 410, description = "`download_expired`: ask for a new URL; `archive_expired`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`", body = ErrorBody),
        (status = 500, description = "`integrity`", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let claims = state.accounts().redeem_download(&ticket).await?;
    match claims.target {
        DownloadTarget::File(id) => files::serve(&state, &claims.user_id, client, &id, &headers).await,
        DownloadTarget::Archive(id) => archives::serve(&state, &claims.user_id, client, &id, &headers).await,
    }
}
