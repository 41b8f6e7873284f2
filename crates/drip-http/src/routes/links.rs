//! Link routes of `/api/v1`: make, list and revoke public links to files and drop links to
//! folders. Tokens appear once, in the answer that makes them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::Password;
use drip_core::links::model::{Created, DropLink, DropRequest, LinkRequest, PublicLink};
use drip_core::{DropId, LinkId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{ErrorBody, timestamp};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody};
use crate::openapi::{CreatorOnly, JsonRefused, Unauthenticated};
use crate::routes::files::{folder_or_root, media_id};
use crate::schemas::FolderQuerySchema;
use crate::state::AppState;

/// The options of a new public link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkBody {
    /// When the link stops working (RFC 3339, in the future).
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// A password visitors must give (8 to 100 characters).
    #[serde(default)]
    #[schema(min_length = 8, max_length = 100)]
    password: Option<String>,
    /// How many downloads the link allows (at least 1).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 2147483647)]
    max_downloads: Option<u64>,
    /// Send the creator a `download` event for each download (default false).
    #[serde(default)]
    notify: Option<bool>,
}

/// A public link to a file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkDto {
    /// KSUID of the link (to revoke it).
    id: String,
    /// The secret token: only in the answer that made the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The public page of the link, relative to this server (`/s/{token}`): only in the
    /// answer that made the link. Its content is at `{url}/content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// The file.
    file_id: String,
    /// The file's current name.
    file_name: String,
    /// When it stops working (RFC 3339).
    expires_at: Option<String>,
    /// How many downloads it allows.
    max_downloads: Option<u32>,
    /// Downloads so far.
    downloads: u32,
    /// Whether visitors need a password.
    has_password: bool,
    /// Whether the creator hears of each download.
    notify: bool,
    /// When it was made (RFC 3339).
    created_at: String,
}

impl LinkDto {
    fn of(link: &PublicLink) -> Self {
        Self {
            id: link.id.to_string(),
            token: None,
            url: None,
            file_id: link.media.to_string(),
            file_name: link.file_name.to_string(),
            expires_at: link.guard.expires_at.map(timestamp),
            max_downloads: link.max_downloads,
            downloads: link.downloads,
            has_password: link.guard.password.is_some(),
            notify: link.notify,
            created_at: timestamp(link.created_at),
        }
    }

    fn created(created: &Created<PublicLink>) -> Self {
        let token = created.token.expose();
        Self { token: Some(token.to_owned()), url: Some(format!("/s/{token}")), ..Self::of(&created.link) }
    }
}

/// Public links.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinksDto {
    /// Oldest first.
    links: Vec<LinkDto>,
}

/// The options of a new drop link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DropBody {
    /// The folder uploads go to (`$` or `$/a/b`, empty for `$`; it need not hold files
    /// yet).
    #[schema(value_type = FolderQuerySchema)]
    folder: String,
    /// When the drop stops working (RFC 3339, in the future).
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// A password uploaders must give (8 to 100 characters).
    #[serde(default)]
    #[schema(min_length = 8, max_length = 100)]
    password: Option<String>,
    /// How many files it accepts (at least 1).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 2147483647)]
    max_uploads: Option<u64>,
    /// How many bytes it accepts in all (at least 1).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 9223372036854775807_u64)]
    max_bytes: Option<u64>,
}

/// An upload-only drop link to a folder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DropDto {
    /// KSUID of the drop (to revoke it).
    id: String,
    /// The secret token: only in the answer that made the drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The upload page, relative to this server (`/d/{token}`): only in the answer that
    /// made the drop.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// Where uploads go.
    folder: String,
    /// When it stops working (RFC 3339).
    expires_at: Option<String>,
    /// How many files it accepts.
    max_uploads: Option<u32>,
    /// How many bytes it accepts in all.
    max_bytes: Option<u64>,
    /// Files accepted so far (uploads under way included).
    uploads: u32,
    /// Bytes accepted so far (uploads under way included).
    bytes: u64,
    /// Whether uploaders need a password.
    has_password: bool,
    /// When it was made (RFC 3339).
    created_at: String,
}

impl DropDto {
    fn of(drop: &DropLink) -> Self {
        Self {
            id: drop.id.to_string(),
            token: None,
            url: None,
            folder: drop.folder.to_string(),
            expires_at: drop.guard.expires_at.map(timestamp),
            max_uploads: drop.max_uploads,
            max_bytes: drop.max_bytes,
            uploads: drop.uploads,
            bytes: drop.bytes,
            has_password: drop.guard.password.is_some(),
            created_at: timestamp(drop.created_at),
        }
    }
}

/// Drop links.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DropsDto {
    /// Oldest first.
    drops: Vec<DropDto>,
}

/// A body of optional fields read from a JSON object (serde would also read one from an
/// array of the fields' values).
fn object<T: serde::de::DeserializeOwned>(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid body: {e}")))
}

/// A JSON number that is a whole number (`3` or `3.0`, as JSON Schema's `integer` allows).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    let whole = number.as_u64().or_else(|| {
        number.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.9e19).map(|f| f as u64)
    });
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number of at least 0")))
}

/// A limit of at most `max`, else `400 invalid_request`.
fn limit(value: Option<u64>, max: u64, what: &'static str) -> Result<Option<u64>, ApiError> {
    match value {
        Some(v) if v > max => Err(ApiError::bad_request("invalid_request", what)),
        other => Ok(other),
    }
}

/// A count limit (at most 2^31 − 1).
fn count_limit(value: Option<u64>, what: &'static str) -> Result<Option<u32>, ApiError> {
    Ok(limit(value, i32::MAX as u64, what)?.map(|v| v as u32))
}

fn expiry(text: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t).map(|at| at.with_timezone(&Utc)).map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                "expires_at is an RFC 3339 time, e.g. 2030-01-01T00:00:00Z",
            )
        })
    })
    .transpose()
}

fn password(text: Option<&str>) -> Result<Option<Password>, ApiError> {
    text.map(|p| {
        Password::parse(p)
            .map_err(|_| ApiError::bad_request("invalid_password", "a password has 8 to 100 characters"))
    })
    .transpose()
}

/// Makes a public link to a file (creator only): anyone with its URL (and its password,
/// when it has one) can download the file without an account.
#[utoipa::path(
    post, path = "/api/v1/files/{id}/links", operation_id = "create_link",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = LinkBody,
    responses(
        (status = 201, description = "Made; `token` and `url` appear only here", body = LinkDto),
        (status = 400, description = "`invalid_request` (an expiry in the past, a limit of 0), `invalid_password`, `invalid_json`", body = ErrorBody),
        Unauthenticated, CreatorOnly, JsonRefused,
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<LinkDto>), ApiError> {
    let body: LinkBody = object(body)?;
    let id = media_id(&id)?;
    let request = LinkRequest {
        expires_at: expiry(body.expires_at.as_deref())?,
        password: password(body.password.as_deref())?,
        max_downloads: count_limit(body.max_downloads, "max_downloads is at most 2147483647")?,
        notify: body.notify.unwrap_or(false),
    };
    let created = state.links().create_link(&user.id, &id, request).await?;
    Ok((StatusCode::CREATED, Json(LinkDto::created(&created))))
}

/// The public links to a file (creator only), without their tokens.
#[utoipa::path(
    get, path = "/api/v1/files/{id}/links", operation_id = "list_file_links",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The links", body = LinksDto), Unauthenticated, CreatorOnly)
)]
pub(crate) async fn list_of_file(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<LinksDto>, ApiError> {
    let links = state.links().links_of_file(&user.id, &media_id(&id)?).await?;
    Ok(Json(LinksDto { links: links.iter().map(LinkDto::of).collect() }))
}

/// Every public link the user made, without their tokens.
#[utoipa::path(
    get, path = "/api/v1/links", operation_id = "list_links",
    security(("bearer" = [])),
    responses((status = 200, description = "The links", body = LinksDto), Unauthenticated)
)]
pub(crate) async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<LinksDto>, ApiError> {
    let links = state.links().my_links(&user.id).await?;
    Ok(Json(LinksDto { links: links.iter().map(LinkDto::of).collect() }))
}

/// Revokes one of the user's public links: it stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/links/{id}", operation_id = "revoke_link",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Revoked"),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such link of this user", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id =
        LinkId::parse(&id).map_err(|_| ApiError::from(drip_core::links::error::ManageLinkError::NotFound))?;
    state.links().revoke_link(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes an upload-only drop link to one of the user's folders: anyone with its URL (and
/// its password) can upload files into it, and see nothing.
#[utoipa::path(
    post, path = "/api/v1/drops", operation_id = "create_drop",
    security(("bearer" = [])),
    request_body = DropBody,
    responses(
        (status = 201, description = "Made; `token` and `url` appear only here", body = DropDto),
        (status = 400, description = "`invalid_path`, `invalid_request` (an expiry in the past, a limit of 0), `invalid_password`, `invalid_json`", body = ErrorBody),
        Unauthenticated, JsonRefused,
    )
)]
pub(crate) async fn create_drop(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<DropDto>), ApiError> {
    let body: DropBody = object(body)?;
    let request = DropRequest {
        folder: folder_or_root(Some(&body.folder))?,
        expires_at: expiry(body.expires_at.as_deref())?,
        password: password(body.password.as_deref())?,
        max_uploads: count_limit(body.max_uploads, "max_uploads is at most 2147483647")?,
        max_bytes: limit(body.max_bytes, i64::MAX as u64, "max_bytes is at most 9223372036854775807")?,
    };
    let created = state.links().create_drop(&user.id, request).await?;
    let token = created.token.expose();
    let dto = DropDto {
        token: Some(token.to_owned()),
        url: Some(format!("/d/{token}")),
        ..DropDto::of(&created.link)
    };
    Ok((StatusCode::CREATED, Json(dto)))
}

/// Every drop link the user made, without their tokens.
#[utoipa::path(
    get, path = "/api/v1/drops", operation_id = "list_drops",
    security(("bearer" = [])),
    responses((status = 200, description = "The drops", body = DropsDto), Unauthenticated)
)]
pub(crate) async fn list_drops(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<DropsDto>, ApiError> {
    let drops = state.links().my_drops(&user.id).await?;
    Ok(Json(DropsDto { drops: drops.iter().map(DropDto::of).collect() }))
}

/// Revokes one of the user's drop links: it stops accepting uploads at once.
#[utoipa::path(
    delete, path = "/api/v1/drops/{id}", operation_id = "revoke_drop",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The drop's id")),
    responses(
        (status = 204, description = "Revoked"),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such drop of this user", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_drop(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id =
        DropId::parse(&id).map_err(|_| ApiError::from(drip_core::links::error::ManageLinkError::NotFound))?;
    state.links().revoke_drop(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
