//! Resumable uploads over the tus 1.0.0 protocol (core, `creation`,
//! `creation-with-upload`, `termination`, `expiration`) at `/api/v1/uploads`, with the
//! bearer token; `Upload-Metadata` carries `filename`, `folder` and `content_type`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use drip_core::UploadId;
use drip_core::storage::model::{FileName, FolderPath};
use drip_core::storage::ports::ByteStream;
use drip_core::uploads::Appended;
use drip_core::uploads::model::{NewUpload, ResumableUpload};

use crate::client_ip::ClientIp;
use crate::dto::ErrorBody;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::openapi::{TransferRefused, Unauthenticated};
use crate::routes::files::{
    byte_stream, declared_content_type, header_number as number, take_slot, upload_body,
};
use crate::schemas::TusVersionSchema;
use crate::state::AppState;

/// The protocol version spoken (and the only one).
pub(crate) const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration";
/// The content type of a body that continues an upload.
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_HEADER: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// The file an upload became, on the response that stored its last byte.
const DRIP_FILE_ID: HeaderName = HeaderName::from_static("drip-file-id");

/// Adds `Tus-Resumable` to every response of the upload routes, errors included.
pub(crate) async fn tus_resumable(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    response
}

/// A refused tus request: an API error, or the `412` that names the version spoken.
pub(crate) enum Refusal {
    /// Any other refusal.
    Api(ApiError),
    /// The request does not speak tus 1.0.0.
    Version,
}

impl<E: Into<ApiError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Version => {
                let refusal = ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "unsupported_tus_version",
                    "send `Tus-Resumable: 1.0.0`: this server speaks tus 1.0.0",
                );
                ([(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION))], refusal).into_response()
            }
        }
    }
}

/// 412 unless the request speaks this protocol version.
fn check_version(headers: &HeaderMap) -> Result<(), Refusal> {
    let version = headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()).map(str::trim);
    if version == Some(TUS_VERSION) { Ok(()) } else { Err(Refusal::Version) }
}

fn expires(at: DateTime<Utc>) -> HeaderValue {
    // RFC 9110's IMF-fixdate, as the expiration extension asks.
    let text = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

fn offset_headers(upload: &ResumableUpload) -> [(HeaderName, HeaderValue); 2] {
    [(UPLOAD_OFFSET, HeaderValue::from(upload.offset)), (UPLOAD_EXPIRES, expires(upload.expires_at))]
}

/// `filename`, `folder` and `content_type` from `Upload-Metadata` (`key base64,key base64`).
fn metadata(headers: &HeaderMap) -> Result<(FileName, FolderPath, Option<String>), ApiError> {
    let invalid = |why: &str| ApiError::bad_request("invalid_metadata", format!("Upload-Metadata: {why}"));
    let text = match headers.get(&UPLOAD_METADATA) {
        Some(value) => value.to_str().map_err(|_| invalid("not visible ASCII"))?,
        None => "",
    };
    let (mut name, mut folder, mut content_type) = (None, None, None);
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| invalid("a value is not base64"))?;
        let value = String::from_utf8(bytes).map_err(|_| invalid("a value is not UTF-8"))?;
        match key {
            "filename" | "name" => name = Some(value),
            "folder" => folder = Some(value),
            "content_type" | "filetype" => content_type = Some(value),
            _ => {}
        }
    }
    let name = FileName::parse(name.as_deref().ok_or_else(|| invalid("`filename` is required"))?)?;
    let folder = match folder.as_deref() {
        None | Some("") => FolderPath::root(),
        Some(path) => FolderPath::parse(path)?,
    };
    Ok((name, folder, content_type))
}

/// Whether the request carries content to append (creation-with-upload, PATCH).
fn carries_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

fn upload_id(text: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(text).map_err(|_| upload_not_found())
}

pub(crate) fn upload_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such upload")
}

/// The answer to a request that appended: the new offset, and the file once complete.
fn appended(status: StatusCode, appended: &Appended) -> Response {
    let mut response = (status, offset_headers(&appended.upload)).into_response();
    if let Some(file) = &appended.file
        && let Ok(value) = HeaderValue::from_str(&file.id().to_string())
    {
        response.headers_mut().insert(DRIP_FILE_ID, value);
    }
    response
}

/// What the server supports: the protocol version, extensions and the largest upload.
#[utoipa::path(
    options, path = "/api/v1/uploads", operation_id = "tus_options",
    responses(
        (status = 204, description = "tus capabilities", headers(
            ("Tus-Version" = String, description = "`1.0.0`"),
            ("Tus-Extension" = String, description = "`creation,creation-with-upload,termination,expiration`"),
            ("Tus-Max-Size" = u64, description = "The largest `Upload-Length` accepted"),
        )),
    )
)]
pub(crate) async fn options(State(state): State<AppState>) -> Response {
    let max = state.uploads().max_length().min(state.upload_limit());
    let headers = [
        (TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION)),
        (TUS_EXTENSION, HeaderValue::from_static(TUS_EXTENSIONS)),
        (TUS_MAX_SIZE, HeaderValue::from(max)),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}

/// Creates a resumable upload (tus `creation`); with a body of type
/// `application/offset+octet-stream`, also its first bytes (`creation-with-upload`).
/// The file's name and quota are reserved until `Upload-Expires`.
#[utoipa::path(
    post, path = "/api/v1/uploads", operation_id = "create_upload",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = TusVersionSchema, Header, description = "`1.0.0`"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = String, Header, description = "`filename` (required), `folder` (default `$`), `content_type`: `key base64(value)` pairs separated by commas"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Optional: the first bytes"),
    responses(
        (status = 201, description = "Created", headers(
            ("Location" = String, description = "`/api/v1/uploads/{id}`"),
            ("Upload-Offset" = u64, description = "Bytes stored"),
            ("Upload-Expires" = String, description = "When an unfinished upload is given up"),
        )),
        (status = 400, description = "`invalid_upload_length`, `invalid_metadata`, `invalid_name`, `invalid_path`, `invalid_content_type`, `defer_length_unsupported`", body = ErrorBody),
        (status = 409, description = "`already_exists`", body = ErrorBody),
        (status = 412, description = "`unsupported_tus_version`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: `Upload-Length` over the limit; `upload_too_long`", body = ErrorBody),
        (status = 507, description = "`quota_exceeded` (`details`: `quota`, `used`)", body = ErrorBody),
        Unauthenticated, TransferRefused,
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    check_version(&headers)?;
    if headers.contains_key(&UPLOAD_DEFER_LENGTH) {
        return Err(Refusal::from(ApiError::bad_request(
            "defer_length_unsupported",
            "send Upload-Length: deferred lengths are not supported",
        )));
    }
    let length = match number(&headers, &UPLOAD_LENGTH) {
        Some(Ok(length)) => length,
        _ => {
            return Err(Refusal::from(ApiError::bad_request(
                "invalid_upload_length",
                "Upload-Length must be a whole number of bytes",
            )));
        }
    };
    if length > state.upload_limit() {
        return Err(Refusal::from(ApiError::too_large(state.upload_limit())));
    }
    let (name, folder, content_type) = metadata(&headers)?;
    let content_type = declared_content_type(content_type.as_deref())?;
    let request = NewUpload { name, folder, content_type, length };
    let upload = state.uploads().create(&user.id, request).await?;
    let location = format!("/api/v1/uploads/{}", upload.id);
    let with_content = carries_offset_stream(&headers) || length == 0;
    let mut response = if with_content {
        let done = append_body(&state, &user, client, &upload.id, 0, body).await?;
        appended(StatusCode::CREATED, &done)
    } else {
        (StatusCode::CREATED, offset_headers(&upload)).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Where an upload stands (tus `HEAD`): its durable offset, its length and expiry.
#[utoipa::path(
    head, path = "/api/v1/uploads/{id}", operation_id = "upload_status",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersionSchema, Header, description = "`1.0.0`"),
    ),
    responses(
        (status = 200, description = "The upload", headers(
            ("Upload-Offset" = u64, description = "Bytes durably stored: resume from here"),
            ("Upload-Length" = u64, description = "The announced size"),
            ("Upload-Expires" = String, description = "When an unfinished upload is given up"),
        )),
        (status = 404, description = "`not_found`"),
        (status = 410, description = "`upload_expired`"),
        (status = 412, description = "`unsupported_tus_version`"),
        Unauthenticated,
    )
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    check_version(&headers)?;
    let id = upload_id(&id)?;
    let upload = state.uploads().status(&user.id, &id).await?;
    let [offset, expiry] = offset_headers(&upload);
    let headers = [
        offset,
        expiry,
        (UPLOAD_LENGTH, HeaderValue::from(upload.length)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((StatusCode::OK, headers).into_response())
}

/// Continues an upload at `Upload-Offset` (tus `PATCH`): the body is stored in parts, each
/// durable once written; a body that breaks off keeps what arrived. The last byte makes
/// the file (`Drip-File-Id`).
#[utoipa::path(
    patch, path = "/api/v1/uploads/{id}", operation_id = "append_upload",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersionSchema, Header, description = "`1.0.0`"),
        ("Upload-Offset" = u64, Header, description = "The upload's offset (from HEAD)"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "The next bytes"),
    responses(
        (status = 204, description = "Stored", headers(
            ("Upload-Offset" = u64, description = "Bytes durably stored now"),
            ("Upload-Expires" = String, description = "When an unfinished upload is given up"),
            ("Drip-File-Id" = String, description = "With the last byte: the id of the file it became"),
        )),
        (status = 400, description = "`invalid_upload_offset`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`offset_mismatch` (`details.offset`: the upload's), `upload_conflict` (another request stored at this offset first)", body = ErrorBody),
        (status = 410, description = "`upload_expired`", body = ErrorBody),
        (status = 412, description = "`unsupported_tus_version`", body = ErrorBody),
        (status = 413, description = "`upload_too_long`: more bytes than `Upload-Length`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/offset+octet-stream`", body = ErrorBody),
        (status = 507, description = "`insufficient_storage`", body = ErrorBody),
        Unauthenticated, TransferRefused,
    )
)]
pub(crate) async fn append(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    check_version(&headers)?;
    let id = upload_id(&id)?;
    if !carries_offset_stream(&headers) {
        return Err(Refusal::from(ApiError::unsupported_media_type(OFFSET_OCTET_STREAM)));
    }
    let offset = match number(&headers, &UPLOAD_OFFSET) {
        Some(Ok(offset)) => offset,
        _ => {
            return Err(Refusal::from(ApiError::bad_request(
                "invalid_upload_offset",
                "Upload-Offset must be a whole number of bytes",
            )));
        }
    };
    let done = append_body(&state, &user, client, &id, offset, body).await?;
    Ok(appended(StatusCode::NO_CONTENT, &done))
}

/// Streams a request's body into the upload at `offset`, in one of the user's transfer
/// slots, cut when idle like every upload.
async fn append_body(
    state: &AppState,
    user: &AuthUser,
    client: ClientIp,
    id: &UploadId,
    offset: u64,
    body: Body,
) -> Result<Appended, Refusal> {
    let _slot = take_slot(state, &user.id, client)?;
    let content: ByteStream = byte_stream(upload_body(state, body), Some(state.clone()));
    Ok(state.uploads().append(&user.id, id, offset, content).await?)
}

/// Ends an unfinished upload (tus `termination`): what it stored goes, its name and quota
/// are free again.
#[utoipa::path(
    delete, path = "/api/v1/uploads/{id}", operation_id = "terminate_upload",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = TusVersionSchema, Header, description = "`1.0.0`"),
    ),
    responses(
        (status = 204, description = "Terminated"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 412, description = "`unsupported_tus_version`", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn terminate(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    check_version(&headers)?;
    let id = upload_id(&id)?;
    state.uploads().terminate(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
