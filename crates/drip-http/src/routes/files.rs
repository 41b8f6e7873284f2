//! File routes of `/api/v1`: streamed upload (raw body or multipart), metadata, streamed
//! download with ranges and entity tags, move/rename, delete, folder listing and the list
//! of everything visible.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Json;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use drip_core::content::ContentError;
use drip_core::storage::error::{StoreError, VersionError};
use drip_core::storage::model::{ContentType, FileName, FolderPath, Media};
use drip_core::storage::ports::ByteStream;
use drip_core::storage::{StoreRequest, VersionUpload};
use drip_core::{MediaId, UserId};
use futures::{Stream, StreamExt};
use headers::{AcceptRanges, CacheControl, ContentLength, ContentRange, ETag, HeaderMapExt};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::client_ip::ClientIp;
use crate::cursor;
use crate::dto::PatchFileBody;
use crate::dto::{ErrorBody, FileDto, FilePageDto, FolderDto, FolderListingDto, Sharers};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody, Params};
use crate::idle::{Idle, IdleTimeout, with_idle_timeout};
use crate::metrics::Outcome;
use crate::middleware;
use crate::openapi::{ContentHeaders, CreatorOnly, JsonRefused, TransferRefused, Unauthenticated, Upload};
use crate::range::{self, Resolved};
use crate::schemas::{
    CursorSchema, FileNameOrEmptySchema, FileNameSchema, FileSortSchema, FolderQuerySchema, PageLimitSchema,
    SortOrderSchema, UploadConflictSchema,
};
use crate::state::AppState;
use crate::transfers::TransferPermit;

/// Room for the parts of a multipart form around the file itself.
const FORM_OVERHEAD: u64 = 1024 * 1024;
/// Longest text field of an upload form.
const MAX_FORM_FIELD: usize = 4096;

/// Where to store an upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// The folder to store the file in (default `$`).
    #[param(value_type = Option<FolderQuerySchema>)]
    pub(crate) folder: Option<String>,
    /// The file name (default: the form's `name` field, else the file part's filename).
    #[param(value_type = Option<FileNameOrEmptySchema>)]
    pub(crate) name: Option<String>,
    /// When the user has a file of that name there: `fail` (default, `409`) or `replace`
    /// (the upload becomes its new version: `200`, same id, shares and links).
    #[param(value_type = Option<UploadConflictSchema>)]
    pub(crate) conflict: Option<String>,
}

/// Whether an upload onto a taken name replaces the file there.
fn replaces(conflict: Option<&str>) -> Result<bool, ApiError> {
    match conflict {
        None | Some("fail") => Ok(false),
        Some("replace") => Ok(true),
        Some(_) => Err(ApiError::bad_request("invalid_conflict", "`conflict` is `fail` or `replace`")),
    }
}

/// A `multipart/form-data` upload.
// Documentation only: the form is parsed as a stream.
#[allow(dead_code)]
#[derive(ToSchema)]
pub(crate) struct UploadForm {
    /// The folder (default: the `folder` query parameter, else `$`); must come before
    /// `file`.
    #[schema(value_type = FolderQuerySchema, required = false)]
    folder: Option<String>,
    /// The file name (default: the `name` query parameter, else the file part's
    /// filename); must come before `file`.
    #[schema(value_type = FileNameOrEmptySchema, required = false)]
    name: Option<String>,
    /// The content; its part's `Content-Type` is recorded.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Raw file content.
// Documentation only: content is streamed, never held in one of these.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(crate) struct Binary(Vec<u8>);

/// A page of a listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<CursorSchema>)]
    pub(crate) cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<PageLimitSchema>)]
    pub(crate) limit: Option<u32>,
}

/// A page of a folder.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FolderQuery {
    /// The folder, `$` or `$/a/b` (default `$`).
    #[param(value_type = Option<FolderQuerySchema>)]
    path: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<CursorSchema>)]
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<PageLimitSchema>)]
    limit: Option<u32>,
    /// What the files are ordered by: `name` (default), `size` or `modified` (upload
    /// time); ties by name. A `cursor` continues in the order it was made in.
    #[param(value_type = Option<FileSortSchema>)]
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(value_type = Option<SortOrderSchema>)]
    order: Option<String>,
}

/// How a file is deleted.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// `true`: delete it for good at once, skipping the trash (default `false`).
    permanent: Option<bool>,
}

/// A media id from a path; ids that cannot exist are not found.
pub(crate) fn media_id(text: &str) -> Result<MediaId, ApiError> {
    MediaId::parse(text).map_err(|_| ApiError::file_not_found())
}

/// A folder from a query parameter; absent or empty means the root.
pub(crate) fn folder_or_root(text: Option<&str>) -> Result<FolderPath, ApiError> {
    Ok(match text {
        None | Some("") => FolderPath::root(),
        Some(path) => FolderPath::parse(path)?,
    })
}

pub(crate) fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// A header holding a whole number of bytes: `None` when absent, `Err` when it is not
/// only digits (or does not fit).
pub(crate) fn header_number(headers: &HeaderMap, name: &header::HeaderName) -> Option<Result<u64, ()>> {
    let text = headers.get(name)?.to_str().map_err(|_| ());
    Some(text.and_then(|t| {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            Err(())
        } else {
            t.parse().map_err(|_| ())
        }
    }))
}

/// The body's length as the client declared it (`Content-Length`).
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    header_number(headers, &header::CONTENT_LENGTH).and_then(Result::ok)
}

/// 413 when the declared length is over `limit`, before any byte is read.
pub(crate) fn check_declared_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    match declared_length(headers) {
        Some(length) if length > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// The content type a client declared, `None` when it declared nothing useful (no
/// header, or the generic types HTTP clients send by default): the name decides then.
pub(crate) fn declared_content_type(value: Option<&str>) -> Result<Option<ContentType>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence.is_empty()
        || essence == "application/octet-stream"
        || essence == "application/x-www-form-urlencoded"
    {
        return Ok(None);
    }
    ContentType::parse(text).map(Some).map_err(|_| {
        ApiError::bad_request("invalid_content_type", "the content type is not a valid MIME type")
    })
}

pub(crate) fn take_slot(
    state: &AppState,
    user: &UserId,
    client: ClientIp,
) -> Result<TransferPermit, ApiError> {
    state.transfers().try_acquire(*user, client).map_err(ApiError::too_many_transfers)
}

/// An upload's body as a stream, cut when idle for the configured time.
pub(crate) fn upload_body(state: &AppState, body: Body) -> IdleTimeout<BodyDataStream> {
    with_idle_timeout(body.into_data_stream(), state.settings().transfer_idle)
}

/// Turns a body stream into the core's `ByteStream`, keeping each error whole (so that a
/// multipart overflow can be recognised later); with `count`, the bytes go to the metrics.
pub(crate) fn byte_stream<S, E>(body: S, count: Option<AppState>) -> ByteStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    body.map(move |item| {
        let bytes = item.map_err(io::Error::other)?;
        if let Some(state) = &count {
            state.metrics().add_bytes_in(bytes.len() as u64);
        }
        Ok(bytes)
    })
    .boxed()
}

/// The answer to a broken multipart form: 413 when it outgrew the limit of a form around
/// a file of at most `limit` bytes, 408 when its body stalled, else 400.
pub(crate) fn form_error(e: &multer::Error, limit: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => ApiError::too_large(limit),
        other => match Idle::find_in(other) {
            Some(idle) => ApiError::transfer_idle(idle),
            None => ApiError::bad_request("invalid_request", format!("malformed multipart form: {other}")),
        },
    }
}

/// 201 with the file and its `Location`.
fn created(media: &Media) -> Response {
    let location = format!("/api/v1/files/{}", media.id());
    let mut response = (StatusCode::CREATED, Json(FileDto::from(media))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Stores the content and records the store's duration. The content's own limit is the
/// storage service's (`StoreError::TooLarge`); a form that outgrew its room fails the file
/// part's stream with multer's error, and a stalled body with [`Idle`], which arrive here
/// whole.
async fn store(state: &AppState, request: StoreRequest, replace: bool) -> Result<Response, ApiError> {
    let result = timed_store(state, async {
        if replace {
            state.storage().store_or_replace(request).await
        } else {
            state.storage().store(request).await.map(|media| (media, false)).map_err(VersionError::from)
        }
    })
    .await;
    match result {
        Ok((media, false)) => Ok(created(&media)),
        Ok((media, true)) => Ok(Json(FileDto::from(&media)).into_response()),
        Err(VersionError::Store(e)) => Err(store_failure(state, e)),
        Err(e) => Err(e.into()),
    }
}

/// Runs a store, recording its outcome and duration.
async fn timed_store<T>(
    state: &AppState,
    store: impl Future<Output = Result<T, VersionError>>,
) -> Result<T, VersionError> {
    let started = Instant::now();
    let result = store.await;
    let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Error };
    state.metrics().record_store(outcome, started.elapsed());
    result
}

/// A failed store as the client should hear it: the form's or the idle body's own cause
/// when the stream broke on one.
fn store_failure(state: &AppState, e: StoreError) -> ApiError {
    match e {
        StoreError::Input(e) => match e.get_ref() {
            Some(cause) if let Some(form) = cause.downcast_ref::<multer::Error>() => {
                form_error(form, state.upload_limit())
            }
            Some(cause) if let Some(idle) = Idle::find_in(cause) => ApiError::transfer_idle(idle),
            _ => StoreError::Input(e).into(),
        },
        e => e.into(),
    }
}

/// Stores a new version of a file (creator only): the request body is the content,
/// streamed; the file keeps its id, name, folder, shares and public links, and readers
/// see the old content until the new one is whole. Its old content goes an hour later
/// (downloads of it under way finish).
#[utoipa::path(
    put, path = "/api/v1/files/{id}/content", operation_id = "replace_content",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The new content"),
    responses(
        (status = 200, description = "The file with its new content", body = FileDto),
        (status = 400, description = "`invalid_content_type`, `upload_interrupted`", body = ErrorBody),
        Unauthenticated,
        CreatorOnly,
        (status = 408, description = "`transfer_idle`: no byte of the body arrived for `http.transfer_idle_secs`; the upload was cut", body = ErrorBody),
        (status = 409, description = "`upload_conflict`: another version (or a delete) came first; nothing changed", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 507, description = "`quota_exceeded`: the new content does not fit beside the old until it replaces it; `insufficient_storage`", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn replace_content(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<FileDto>, ApiError> {
    let id = media_id(&id)?;
    let (upload, _slot) = raw_content(&state, &user.id, client, &headers, body)?;
    let result = timed_store(&state, state.storage().store_version(&user.id, &id, upload)).await;
    match result {
        Ok(media) => Ok(Json(FileDto::from(&media))),
        Err(VersionError::Store(e)) => Err(store_failure(&state, e)),
        Err(e) => Err(e.into()),
    }
}

/// Uploads a file: the request body is the content, streamed (never buffered whole);
/// `Content-Type` is recorded (guessed from the name when absent or generic). A
/// `multipart/form-data` body is accepted too, as at `/api/v1/files/form`.
#[utoipa::path(
    post, path = "/api/v1/files",
    security(("bearer" = [])),
    params(
        ("folder" = Option<FolderQuerySchema>, Query, description = "The folder to store the file in (default `$`)"),
        ("name" = FileNameSchema, Query, description = "The file name"),
        ("conflict" = Option<UploadConflictSchema>, Query, description = "When the user has a file of that name there: `fail` (default, `409 already_exists`) or `replace` (the upload becomes its new version: `200`, same id, shares and links)"),
    ),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The file content"),
    responses(
        (status = 200, description = "Replaced (`conflict=replace`): the file with its new content", body = FileDto),
        (status = 400, description = "`invalid_name`, `invalid_path`, `invalid_request`, `invalid_content_type`, `invalid_conflict`, `upload_interrupted`", body = ErrorBody),
        Upload, Unauthenticated, TransferRefused,
    )
)]
pub(crate) async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Params(query): Params<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if is_multipart(&headers) {
        return upload_multipart(state, user, client, query, &headers, body).await;
    }
    let name = query
        .name
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("invalid_request", "the `name` query parameter is required"))?;
    let name = FileName::parse(name)?;
    let folder = folder_or_root(query.folder.as_deref())?;
    let replace = replaces(query.conflict.as_deref())?;
    let (raw, _slot) = raw_content(&state, &user.id, client, &headers, body)?;
    let request = StoreRequest {
        user: user.id,
        name,
        folder,
        content_type: raw.content_type,
        length: raw.length,
        content: raw.content,
    };
    store(&state, request, replace).await
}

/// A raw upload's body as content: its declared length checked against the upload limit
/// first, its declared type, and the transfer slot it runs in (held while it is kept).
fn raw_content(
    state: &AppState,
    user: &UserId,
    client: ClientIp,
    headers: &HeaderMap,
    body: Body,
) -> Result<(VersionUpload, TransferPermit), ApiError> {
    check_declared_length(headers, state.upload_limit())?;
    let content_type =
        declared_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    let slot = take_slot(state, user, client)?;
    let content = byte_stream(upload_body(state, body), Some(state.clone()));
    Ok((VersionUpload { content_type, length: declared_length(headers), content }, slot))
}

/// Uploads a file from a `multipart/form-data` form; the `file` part is streamed.
#[utoipa::path(
    post, path = "/api/v1/files/form",
    security(("bearer" = [])),
    params(UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 400, description = "`invalid_name`, `invalid_path`, `invalid_request` (no `file` part, malformed form), `invalid_conflict`", body = ErrorBody),
        (status = 200, description = "Replaced (`conflict=replace`): the file with its new content", body = FileDto),
        (status = 415, description = "`unsupported_media_type`: not a multipart form", body = ErrorBody),
        Upload, Unauthenticated, TransferRefused,
    )
)]
pub(crate) async fn upload_form(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Params(query): Params<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    upload_multipart(state, user, client, query, &headers, body).await
}

async fn upload_multipart(
    state: AppState,
    user: AuthUser,
    client: ClientIp,
    query: UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let boundary = form_boundary(headers)?;
    let replace = replaces(query.conflict.as_deref())?;
    let _slot = take_slot(&state, &user.id, client)?;
    let upload = form_upload(&state, boundary, query, headers, body).await?;
    let folder = folder_or_root(upload.folder.as_deref())?;
    let request = StoreRequest {
        user: user.id,
        name: upload.name,
        folder,
        content_type: upload.content_type,
        // The form's length bounds the file's: reserved, and the rest given back.
        length: declared_length(headers),
        content: upload.content,
    };
    let response = store(&state, request, replace).await;
    drop(upload.form);
    response
}

/// The boundary of a `multipart/form-data` body; 415 for any other body.
pub(crate) fn form_boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::unsupported_media_type("multipart/form-data"))
}

/// The file of an upload form, read up to its `file` part, whose content streams on.
pub(crate) struct FormUpload {
    /// The file name (the `name` field or query parameter, else the part's filename).
    pub(crate) name: FileName,
    /// The `folder` field or query parameter.
    pub(crate) folder: Option<String>,
    /// The part's declared content type, if useful.
    pub(crate) content_type: Option<ContentType>,
    /// The file's content.
    pub(crate) content: ByteStream,
    /// The form, kept alive while its file streams.
    pub(crate) form: multer::Multipart<'static>,
}

/// Reads a form up to its `file` part (413 before any byte when the declared length is
/// over the upload limit plus the room of a form).
pub(crate) async fn form_upload(
    state: &AppState,
    boundary: String,
    query: UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<FormUpload, ApiError> {
    let limit = state.upload_limit();
    let form_limit = limit.saturating_add(FORM_OVERHEAD);
    check_declared_length(headers, form_limit)?;
    let room = multer::SizeLimit::new().whole_stream(form_limit);
    let constraints = multer::Constraints::new().size_limit(room);
    let mut form = multer::Multipart::with_constraints(upload_body(state, body), boundary, constraints);
    let (mut folder, mut name) = (query.folder, query.name);
    let file = loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| form_error(&e, limit))?
            .ok_or_else(|| ApiError::bad_request("invalid_request", "the form has no `file` part"))?;
        match field.name() {
            Some("file") => break field,
            Some("folder") => folder = Some(small_field(field, limit).await?),
            Some("name") => name = Some(small_field(field, limit).await?),
            _ => skip_field(field).await.map_err(|e| form_error(&e, limit))?,
        }
    };
    let name =
        name.filter(|n| !n.is_empty()).or_else(|| file.file_name().map(str::to_owned)).ok_or_else(|| {
            ApiError::bad_request("invalid_request", "name the file: a `name` field or a filename")
        })?;
    let name = FileName::parse(&name)?;
    let part_type = file.content_type().map(ToString::to_string);
    let content_type = declared_content_type(part_type.as_deref()).unwrap_or(None);
    let content = byte_stream(file, Some(state.clone()));
    Ok(FormUpload { name, folder, content_type, content, form })
}

/// Reads a short text field of a form.
async fn small_field(mut field: multer::Field<'static>, limit: u64) -> Result<String, ApiError> {
    let mut text = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                text.extend_from_slice(&chunk);
                if text.len() > MAX_FORM_FIELD {
                    return Err(ApiError::bad_request("invalid_request", "a form field is too long"));
                }
            }
            Ok(None) => break,
            Err(e) => return Err(form_error(&e, limit)),
        }
    }
    String::from_utf8(text).map_err(|_| ApiError::bad_request("invalid_request", "a form field is not UTF-8"))
}

/// Reads past a form part nobody asked for.
async fn skip_field(mut field: multer::Field<'static>) -> Result<(), multer::Error> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

/// A file's metadata.
#[utoipa::path(
    get, path = "/api/v1/files/{id}", operation_id = "file_info",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The file", body = FileDto),
        Unauthenticated,
        (status = 404, description = "`not_found`: no such file, or not visible to the user", body = ErrorBody),
    )
)]
pub(crate) async fn info(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<FileDto>, ApiError> {
    let media = state.storage().info(&user.id, &media_id(&id)?).await?;
    let sharers = Sharers::of(state.accounts(), &user.id, [&media]).await?;
    Ok(Json(sharers.file(&media)))
}

/// Downloads a file, streamed and verified. `Range: bytes=a-b | a- | -n` answers 206 with
/// only the chunks the range touches decrypted; `If-None-Match` with the `ETag` answers
/// 304. If stored content fails verification after the first bytes were sent, the
/// response is cut short (never completed with unverified bytes).
#[utoipa::path(
    get, path = "/api/v1/files/{id}/content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The file's id"),
        ContentHeaders,
    ),
    responses(
        (status = 200, description = "The whole content, as the file's own content type", content_type = "*/*", body = Binary,
            headers(("ETag" = String), ("Content-Disposition" = String), ("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "Part of the content, as the file's own content type", content_type = "*/*", body = Binary,
            headers(("Content-Range" = String), ("ETag" = String), ("Content-Length" = u64))),
        (status = 304, description = "Not modified"),
        Unauthenticated,
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */size`", body = ErrorBody),
        (status = 500, description = "`integrity`: the stored content failed verification", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn download(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&state, &user.id, client, &media_id(&id)?, &headers).await
}

/// A file's content as `user` may see it, for `headers` (ranges, entity tags): the file
/// download, and the download of a ticket for one.
pub(crate) async fn serve(
    state: &AppState,
    user: &UserId,
    client: ClientIp,
    id: &MediaId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let media = state.storage().info(user, id).await?;
    let etag = media.digest().and_then(|d| range::etag(&d.to_hex()));
    let range = match wanted(headers, etag.as_ref(), media.size())? {
        Wanted::NotModified => return Ok(not_modified(etag)),
        Wanted::Whole => None,
        Wanted::Part(range) => Some(range),
    };
    let slot = take_slot(state, user, client)?;
    let partial = range.is_some();
    let delivery = recorded(state, started, async {
        let download = state.storage().download(user, id, range).await?;
        deliver(state, Payload::of(&download.media), download.range, download.content, slot, started).await
    })
    .await?;
    Ok(delivery.into_response(partial, etag))
}

/// What a conditional, possibly ranged, request asks of content of `size` bytes tagged
/// `etag`.
pub(crate) enum Wanted {
    /// `304`: the client's copy is current.
    NotModified,
    /// The whole content.
    Whole,
    /// These bytes of it.
    Part(std::ops::Range<u64>),
}

/// Reads `If-None-Match`, `Range` and `If-Range`; a range past the end is `416`.
pub(crate) fn wanted(headers: &HeaderMap, etag: Option<&ETag>, size: u64) -> Result<Wanted, ApiError> {
    if range::not_modified(headers, etag) {
        return Ok(Wanted::NotModified);
    }
    match range::requested(headers, etag, size) {
        Resolved::Full => Ok(Wanted::Whole),
        Resolved::Partial(range) => Ok(Wanted::Part(range)),
        Resolved::Unsatisfiable => Err(ApiError::range_not_satisfiable(size)),
    }
}

/// Runs the start of a download, recording it as a failed download when it fails.
pub(crate) async fn recorded(
    state: &AppState,
    started: Instant,
    start: impl Future<Output = Result<Delivery, ApiError>>,
) -> Result<Delivery, ApiError> {
    let delivery = start.await;
    if delivery.is_err() {
        state.metrics().record_download(Outcome::Error, started.elapsed());
    }
    delivery
}

/// What a download is, for its headers: a type, a name to save it under, a size.
pub(crate) struct Payload {
    /// The `Content-Type`.
    pub(crate) content_type: HeaderValue,
    /// The file name of the `Content-Disposition`.
    pub(crate) name: String,
    /// The whole content's size (a range's `Content-Range` names it).
    pub(crate) size: u64,
}

impl Payload {
    /// A stored file.
    pub(crate) fn of(media: &Media) -> Self {
        let content_type = HeaderValue::from_str(media.content_type().as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        Self { content_type, name: media.name().to_string(), size: media.size() }
    }
}

/// Starts the download and waits for its first verified chunk: nothing is sent before,
/// so a failure there is still a proper error answer.
pub(crate) async fn deliver(
    state: &AppState,
    payload: Payload,
    served: std::ops::Range<u64>,
    mut content: ByteStream,
    slot: TransferPermit,
    started: Instant,
) -> Result<Delivery, ApiError> {
    let first = match content.next().await {
        Some(Err(e)) => return Err(stream_error(&e)),
        first => first,
    };
    let mut delivery = Delivery {
        inner: futures::stream::iter(first).chain(content).boxed(),
        state: state.clone(),
        started,
        remaining: served.end - served.start,
        finished: false,
        request_id: middleware::current().map(|c| c.id).unwrap_or_default(),
        payload,
        served,
        _slot: slot,
    };
    if delivery.remaining == 0 {
        // hyper may never poll an empty body.
        delivery.finish(Outcome::Ok);
    }
    Ok(delivery)
}

/// The headers of a download: what it is and which part of it, how it may be cached, and
/// that a browser saves it (never renders or sniffs it).
fn content_headers(
    out: &mut HeaderMap,
    payload: &Payload,
    served: &std::ops::Range<u64>,
    partial: bool,
    etag: Option<ETag>,
) {
    out.insert(header::CONTENT_TYPE, payload.content_type.clone());
    out.typed_insert(ContentLength(served.end - served.start));
    out.typed_insert(AcceptRanges::bytes());
    if partial && let Ok(content_range) = ContentRange::bytes(served.clone(), payload.size) {
        out.typed_insert(content_range);
    }
    if let Some(etag) = etag {
        out.typed_insert(etag);
    }
    if let Ok(value) = HeaderValue::from_str(&range::content_disposition(&payload.name)) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    out.typed_insert(private_no_cache());
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
}

/// Downloads may be kept by the user's browser, but revalidated each time.
fn private_no_cache() -> CacheControl {
    CacheControl::new().with_private().with_no_cache()
}

pub(crate) fn not_modified(etag: Option<ETag>) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Some(etag) = etag {
        response.headers_mut().typed_insert(etag);
    }
    response.headers_mut().typed_insert(private_no_cache());
    response
}

/// The answer to a content stream failing before anything was sent.
pub(crate) fn stream_error(e: &io::Error) -> ApiError {
    match ContentError::find_in(e) {
        Some(ContentError::Integrity(_)) => ApiError::integrity(e),
        _ => ApiError::internal(format!("reading the stored content: {e}")),
    }
}

/// A download's body: counts bytes out, records the duration when it ends (or is
/// dropped), and holds the user's transfer slot until then.
pub(crate) struct Delivery {
    inner: ByteStream,
    state: AppState,
    started: Instant,
    /// Bytes still to send: hyper stops polling once `Content-Length` bytes are out, so
    /// success is recorded when this reaches zero, not at the end of the stream.
    remaining: u64,
    finished: bool,
    request_id: String,
    /// What is sent, and which bytes of it.
    payload: Payload,
    served: std::ops::Range<u64>,
    _slot: TransferPermit,
}

impl Delivery {
    /// The response streaming this delivery, with the download headers.
    pub(crate) fn into_response(self, partial: bool, etag: Option<ETag>) -> Response {
        let mut headers = HeaderMap::new();
        content_headers(&mut headers, &self.payload, &self.served, partial, etag);
        let mut response = Response::new(Body::from_stream(self));
        if partial {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        response.headers_mut().extend(headers);
        response
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.finished {
            self.finished = true;
            self.state.metrics().record_download(outcome, self.started.elapsed());
        }
    }
}

impl Stream for Delivery {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.state.metrics().add_bytes_out(bytes.len() as u64);
                this.remaining = this.remaining.saturating_sub(bytes.len() as u64);
                if this.remaining == 0 {
                    this.finish(Outcome::Ok);
                }
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::error!(request_id = %this.request_id, error = %e, "download aborted: the content failed");
                this.finish(Outcome::Error);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(Outcome::Ok);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.finish(Outcome::Aborted);
    }
}

/// Moves and/or renames a file (creator only). Renaming a file to its current name, or
/// moving it where it is, is a conflict, as in the original.
#[utoipa::path(
    patch, path = "/api/v1/files/{id}", operation_id = "move_file",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = PatchFileBody,
    responses(
        (status = 200, description = "The moved/renamed file", body = FileDto),
        (status = 400, description = "`invalid_name`, `invalid_path`, `invalid_request`, `invalid_json`", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "`forbidden`: only the creator may change a file", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`already_exists` at the target", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchFileBody>,
) -> Result<Json<FileDto>, ApiError> {
    let id = media_id(&id)?;
    let folder = body.folder.as_deref().map(FolderPath::parse).transpose()?;
    let name = body.name.as_deref().map(FileName::parse).transpose()?;
    let storage = state.storage();
    let media = match (folder, name) {
        (None, None) => {
            return Err(ApiError::bad_request("invalid_request", "give a `folder`, a `name` or both"));
        }
        (Some(folder), None) => storage.move_to(&user.id, &id, &folder).await?,
        (None, Some(name)) => storage.rename(&user.id, &id, &name).await?,
        (Some(folder), Some(name)) => storage.relocate_to(&user.id, &id, &folder, &name).await?,
    };
    Ok(Json(FileDto::from(&media)))
}

/// Deletes a file (creator only): moves it to the trash (see `/api/v1/trash`), where it is
/// hidden from everyone, its shares and links suspended and its name free, until it is
/// restored or purged; with `permanent=true` (or when the server keeps no trash) it goes
/// for good at once, its content, metadata, shares and links.
#[utoipa::path(
    delete, path = "/api/v1/files/{id}", operation_id = "delete_file",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id"), DeleteQuery),
    responses(
        (status = 204, description = "Moved to the trash, or deleted for good",
            links(
                ("RestoreFile" = (operation_id = "restore_file", parameters(("id" = "$request.path.id")),
                    description = "Restore the file from the trash")),
                ("PurgeFile" = (operation_id = "purge_file", parameters(("id" = "$request.path.id")),
                    description = "Purge the file from the trash")),
            )),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        Unauthenticated,
        CreatorOnly,
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Params(query): Params<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let id = media_id(&id)?;
    if query.permanent.unwrap_or(false) {
        state.storage().delete_permanently(&user.id, &id).await?;
    } else {
        state.storage().delete(&user.id, &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The files directly in a folder (one page, by name unless `sort` says otherwise) and, on
/// the first page, its immediate subfolders (by name) with recursive totals.
#[utoipa::path(
    get, path = "/api/v1/folders",
    security(("bearer" = [])),
    params(FolderQuery),
    responses(
        (status = 200, description = "The folder", body = FolderListingDto),
        (status = 400, description = "`invalid_path`, `invalid_cursor` (also one made for another order), `invalid_sort`, `invalid_order`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn list_folder(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<FolderQuery>,
) -> Result<Json<FolderListingDto>, ApiError> {
    let folder = folder_or_root(query.path.as_deref())?;
    let order = cursor::listing_order(query.sort.as_deref(), query.order.as_deref())?;
    let page = cursor::ordered_page(query.cursor.as_deref(), query.limit, order)?;
    let listing = state.storage().list_folder(&user.id, &folder, &page).await?;
    let sharers = Sharers::of(state.accounts(), &user.id, &listing.files).await?;
    Ok(Json(FolderListingDto {
        path: folder.to_string(),
        files: listing.files.iter().map(|m| sharers.file(m)).collect(),
        folders: listing.folders.iter().map(FolderDto::from).collect(),
        next_cursor: listing.next.as_ref().map(cursor::encode),
    }))
}

/// Every file the user sees (their own and those shared with them), by name, one page.
#[utoipa::path(
    get, path = "/api/v1/files", operation_id = "list_files",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of files", body = FilePageDto),
        (status = 400, description = "`invalid_cursor`, `invalid_query`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn list_all(
    State(state): State<AppState>,
    user: AuthUser,
    Params(query): Params<PageQuery>,
) -> Result<Json<FilePageDto>, ApiError> {
    let page = cursor::page(query.cursor.as_deref(), query.limit)?;
    let listing = state.storage().list_all(&user.id, &page).await?;
    let sharers = Sharers::of(state.accounts(), &user.id, &listing.items).await?;
    Ok(Json(FilePageDto {
        items: listing.items.iter().map(|m| sharers.file(m)).collect(),
        next_cursor: listing.next.as_ref().map(cursor::encode),
    }))
}
