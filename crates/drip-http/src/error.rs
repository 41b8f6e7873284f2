//! `ApiError`: every failure of `/api/v1` as a status, a stable code and a message, and the
//! hand-written mapping of the core's error enums onto it; plus `LegacyError`, the error
//! shapes of the original's endpoints. Internal details are logged with the request id and
//! never sent.

use std::borrow::Cow;
use std::fmt;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drip_core::BackendError;
use drip_core::accounts::Throttled;
use drip_core::accounts::error::{
    AuthError, ChangePasswordError, CloseAccountError, EndSessionError, LoginError, LogoutError,
    RefreshError, RegisterError, TicketError,
};
use drip_core::archives::error::{ArchiveDownloadError, ArchiveLookupError, RequestArchiveError};
use drip_core::links::error::{
    CreateLinkError, DropUploadError, LinkDownloadError, ManageLinkError, VisitError,
};
use drip_core::storage::error::{
    ChangeError, DeleteFolderError, DownloadError, LookupError, MoveFolderError, PurgeError, RestoreError,
    SearchError, ShareError, StoreError, VersionError,
};
use drip_core::storage::model::{InvalidName, InvalidPath, QuotaExceeded};
use drip_core::storage::ports::StorageError;
use drip_core::uploads::error::{CreateUploadError, UploadError};
use serde_json::{Value, json};

use crate::dto::{ErrorBody, ErrorDetail};
use crate::idle::Idle;
use crate::middleware;
use crate::transfers::Refusal;

/// A failure of an `/api/v1` request, rendered as
/// `{"error":{"code","message","request_id","details"?}}`. Boxed, so results stay small.
#[derive(Debug)]
pub(crate) struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    details: Option<Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    retry: bool,
    internal: Option<String>,
    warning: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, a stable code and a message for humans.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(Parts {
            status,
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
            retry: false,
            internal: None,
            warning: None,
        }))
    }

    /// Adds machine-readable details (e.g. the invalid fields).
    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.0.details = Some(details);
        self
    }

    /// Adds a response header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// Adds `Retry-After`.
    fn retry_later(mut self) -> Self {
        self.0.retry = true;
        self
    }

    /// Logs `line` as a warning when the answer is sent (after the handler has returned,
    /// so whatever it held is released by then).
    fn warn(mut self, line: &'static str) -> Self {
        self.0.warning = Some(line);
        self
    }

    /// Keeps a description of the cause for the log.
    fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.0.internal = Some(cause.to_string());
        self
    }

    /// The status.
    pub(crate) fn status(&self) -> StatusCode {
        self.0.status
    }

    /// 400 with `code`.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 with `code`.
    fn unauthorized(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 404 with `code`.
    fn not_found(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with `code`.
    fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503 with `code`, and `Retry-After`.
    fn unavailable(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_later()
    }

    /// 401 `unauthenticated`: no credentials at all.
    pub(crate) fn unauthenticated() -> Self {
        Self::unauthorized("unauthenticated", "authentication required")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 401 `invalid_token`.
    pub(crate) fn invalid_token() -> Self {
        Self::unauthorized("invalid_token", "the access token is invalid")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""))
    }

    /// 401 `token_expired`.
    pub(crate) fn token_expired() -> Self {
        Self::unauthorized("token_expired", "the access token has expired")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""))
    }

    /// 403 `forbidden`.
    fn forbidden(message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409 `already_exists`: a file with this name is already `place`.
    fn file_exists(place: &str) -> Self {
        Self::conflict("already_exists", format!("a file with this name already exists {place}"))
    }

    /// 404 `not_found` for a file.
    pub(crate) fn file_not_found() -> Self {
        Self::not_found("not_found", "file not found")
    }

    /// 404 `link_not_found`: the one answer to an unknown, expired, revoked or used-up
    /// link and to a wrong password.
    pub(crate) fn link_not_found() -> Self {
        Self::not_found("link_not_found", "this link does not exist or no longer works")
    }

    /// 404 `not_found` for an archive.
    pub(crate) fn archive_not_found() -> Self {
        Self::not_found("not_found", "archive not found")
    }

    /// 413 `payload_too_large`.
    pub(crate) fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
        .with_details(json!({ "limit": limit }))
    }

    /// 507 `quota_exceeded`: the upload does not fit in the user's quota; nothing was kept.
    pub(crate) fn quota_exceeded(q: QuotaExceeded) -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "quota_exceeded",
            format!(
                "this file does not fit in your storage quota of {} bytes ({} bytes used)",
                q.quota, q.used
            ),
        )
        .with_details(json!({ "quota": q.quota, "used": q.used }))
    }

    /// 414 `uri_too_long`: the request target is over `limit` bytes.
    pub(crate) fn uri_too_long(limit: usize) -> Self {
        Self::new(StatusCode::URI_TOO_LONG, "uri_too_long", format!("the request URI exceeds {limit} bytes"))
            .with_details(json!({ "limit": limit }))
    }

    /// 431 `headers_too_large`: the request headers are over `limit` bytes.
    pub(crate) fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers exceed {limit} bytes"),
        )
        .with_details(json!({ "limit": limit }))
    }

    /// 415 `unsupported_media_type`.
    pub(crate) fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected a request body of type {expected}"),
        )
    }

    /// 416 `range_not_satisfiable`, with `Content-Range: bytes */size`.
    pub(crate) fn range_not_satisfiable(size: u64) -> Self {
        let value = HeaderValue::from_str(&format!("bytes */{size}"))
            .unwrap_or_else(|_| HeaderValue::from_static("bytes */0"));
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            "the requested range is not satisfiable",
        )
        .with_header(header::CONTENT_RANGE, value)
    }

    /// 429 `too_many_transfers`: the user, or their address, runs as many transfers as
    /// it may.
    pub(crate) fn too_many_transfers(refusal: Refusal) -> Self {
        let message = match refusal {
            Refusal::User => "you have too many uploads and downloads in progress; try again shortly",
            Refusal::Client => {
                "too many uploads and downloads from your address are in progress; try again shortly"
            }
        };
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_transfers", message).retry_later()
    }

    /// 408 `transfer_idle`: no byte of the upload arrived for `idle`; it was cut.
    pub(crate) fn transfer_idle(idle: Idle) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "transfer_idle",
            format!("no byte of the upload arrived for {} s; it was cut", idle.limit().as_secs()),
        )
        .warn("a transfer was idle too long; cut it")
    }

    /// 429 `too_many_attempts`: too many failed logins (or unknown refresh tokens) lately
    /// for the account or the client; `Retry-After` says when the next is accepted.
    pub(crate) fn too_many_attempts(throttled: Throttled) -> Self {
        let seconds = throttled.retry_after.num_seconds().max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed attempts; try again in {seconds} s"),
        )
        .with_details(json!({ "retry_after": seconds }))
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 503 `busy`: the server runs as many transfers as it may.
    pub(crate) fn busy() -> Self {
        Self::unavailable("busy", "too many transfers in progress; try again shortly")
    }

    /// 503 `timeout`.
    pub(crate) fn timeout() -> Self {
        Self::unavailable("timeout", "the request took too long")
    }

    /// 500 `internal`, logging `cause`.
    pub(crate) fn internal(cause: impl fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").caused_by(cause)
    }

    /// 500 `integrity`: stored content failed verification before anything was sent.
    pub(crate) fn integrity(cause: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "integrity",
            "the stored content failed integrity verification",
        )
        .caused_by(cause)
    }

    /// 503 `unavailable` (retry later) or 500 `internal`, by the failure's nature.
    fn backend(error: &BackendError) -> Self {
        if error.is_transient() {
            Self::unavailable("unavailable", "a backing service is unavailable; try again shortly")
                .caused_by(Causes(error))
        } else {
            Self::internal(Causes(error))
        }
    }

    /// The object store failed.
    fn storage(error: &StorageError) -> Self {
        match error {
            StorageError::Unavailable(_) => {
                Self::unavailable("unavailable", "the object store is unavailable; try again shortly")
                    .caused_by(Causes(error))
            }
            StorageError::Full(_) => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the object store has no space left",
            )
            .caused_by(Causes(error)),
            _ => Self::internal(Causes(error)),
        }
    }
}

/// An error and its chain of causes for the log, `error: cause: cause`, each cause once: a
/// cause whose message the text so far already holds (printed by its parent) is skipped.
struct Causes<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&drip_core::error::report(self.0))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = *self.0;
        let context = middleware::current();
        let request_id = context.as_ref().map(|c| c.id.clone());
        let id = request_id.as_deref().unwrap_or("-");
        // A full quota is the user's to fix, not the server's: no error in the log.
        if error.status.is_server_error() && error.code != "quota_exceeded" {
            let cause = error.internal.as_deref().unwrap_or(&error.message);
            tracing::error!(request_id = %id, code = error.code, status = error.status.as_u16(), error = %cause, "request failed");
        } else if let Some(line) = error.warning {
            tracing::warn!(request_id = %id, code = error.code, status = error.status.as_u16(), "{line}");
        } else {
            tracing::debug!(request_id = %id, code = error.code, status = error.status.as_u16(), "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: error.code.to_owned(),
                message: error.message.into_owned(),
                request_id,
                details: error.details,
            },
        };
        let mut response = (error.status, Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in error.headers {
            headers.insert(name, value);
        }
        if error.retry {
            let secs = context.map_or(1, |c| c.retry_after);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        Self::backend(&e)
    }
}

impl From<InvalidPath> for ApiError {
    fn from(_: InvalidPath) -> Self {
        Self::bad_request("invalid_path", "the folder path is invalid")
    }
}

impl From<InvalidName> for ApiError {
    fn from(_: InvalidName) -> Self {
        Self::bad_request("invalid_name", "the file name is invalid")
    }
}

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Invalid => Self::not_found("not_found", "no such download"),
            TicketError::Expired => Self::new(
                StatusCode::GONE,
                "download_expired",
                "this download link has expired; download the file again from Drip",
            ),
            TicketError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid => Self::invalid_token(),
            AuthError::Expired => Self::token_expired(),
            AuthError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Invalid(invalid) => {
                Self::bad_request("invalid_registration", "some fields are invalid")
                    .with_details(json!({ "fields": invalid.fields }))
            }
            RegisterError::UsernameTaken => {
                Self::conflict("username_taken", "the username has already been taken")
            }
            RegisterError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => {
                Self::unauthorized("invalid_credentials", "Invalid username/password combination.")
            }
            LoginError::Throttled(t) => Self::too_many_attempts(t),
            LoginError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::InvalidCredentials => {
                Self::unauthorized("invalid_credentials", "the current password is not right")
            }
            ChangePasswordError::InvalidPassword => {
                Self::bad_request("invalid_password", "a password has 8 to 100 characters")
            }
            ChangePasswordError::NotFound => Self::invalid_token(),
            ChangePasswordError::Throttled(t) => Self::too_many_attempts(t),
            ChangePasswordError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<EndSessionError> for ApiError {
    fn from(e: EndSessionError) -> Self {
        match e {
            EndSessionError::NotFound => {
                Self::not_found("session_not_found", "You have no open session with this id.")
            }
            EndSessionError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<CloseAccountError> for ApiError {
    fn from(e: CloseAccountError) -> Self {
        match e {
            CloseAccountError::InvalidCredentials => {
                Self::unauthorized("invalid_credentials", "Invalid username/password combination.")
            }
            // The token's user is gone: the token is no longer anybody's.
            CloseAccountError::NotFound => Self::invalid_token(),
            CloseAccountError::Throttled(t) => Self::too_many_attempts(t),
            CloseAccountError::StillUploading => Self::new(
                StatusCode::CONFLICT,
                "uploads_running",
                "files kept arriving while the account was closing; try again when the uploads are done",
            ),
            CloseAccountError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        let unauthorized = Self::unauthorized;
        match e {
            RefreshError::Invalid => unauthorized("invalid_refresh_token", "the refresh token is invalid"),
            RefreshError::Throttled(t) => Self::too_many_attempts(t),
            RefreshError::Expired => unauthorized("refresh_token_expired", "the refresh token has expired"),
            RefreshError::Revoked => unauthorized("refresh_token_revoked", "the refresh token was revoked"),
            RefreshError::Reused => unauthorized(
                "refresh_token_reused",
                "the refresh token was already used; the session was revoked",
            ),
            RefreshError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists => Self::file_exists("in this folder"),
            StoreError::TooLarge { limit } => Self::too_large(limit),
            StoreError::QuotaExceeded(q) => Self::quota_exceeded(q),
            StoreError::Busy => Self::busy(),
            StoreError::UnknownUser => {
                Self::unauthorized("invalid_token", "the authenticated user no longer exists")
            }
            StoreError::Input(cause) => {
                Self::bad_request("upload_interrupted", "the upload stream failed before it ended")
                    .caused_by(Causes(&cause))
            }
            StoreError::Storage(s) => Self::storage(&s),
            StoreError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<VersionError> for ApiError {
    fn from(e: VersionError) -> Self {
        match e {
            VersionError::NotFound => Self::file_not_found(),
            VersionError::Forbidden => {
                Self::forbidden("only the creator of a file may store a new version of it")
            }
            VersionError::Changed => Self::conflict(
                "upload_conflict",
                "the file changed while its new version was uploading; nothing changed, try again",
            ),
            VersionError::Store(e) => e.into(),
            VersionError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<DownloadError> for ApiError {
    fn from(e: DownloadError) -> Self {
        match e {
            DownloadError::NotFound => Self::file_not_found(),
            DownloadError::RangeNotSatisfiable { size } => Self::range_not_satisfiable(size),
            DownloadError::Integrity => Self::integrity("the data key failed verification"),
            DownloadError::Busy => Self::busy(),
            DownloadError::Storage(s) => Self::storage(&s),
            DownloadError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound => Self::file_not_found(),
            LookupError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotFound => Self::file_not_found(),
            ChangeError::Forbidden => Self::forbidden("only the creator of a file may change it"),
            ChangeError::AlreadyExists => Self::file_exists("in the target folder"),
            ChangeError::Backend(b) => Self::backend(&b),
        }
    }
}

impl ApiError {
    /// 404 `folder_not_found`.
    fn folder_not_found(why: &'static str) -> Self {
        Self::not_found("folder_not_found", why)
    }
}

impl From<MoveFolderError> for ApiError {
    fn from(e: MoveFolderError) -> Self {
        match e {
            MoveFolderError::Root => Self::bad_request("invalid_target", "the root folder cannot be moved"),
            MoveFolderError::Overlaps => Self::conflict(
                "folder_overlaps",
                "a folder cannot be moved onto itself, into itself or onto a folder that holds it",
            ),
            MoveFolderError::NotFound => Self::folder_not_found("you have no files in this folder"),
            MoveFolderError::AlreadyExists => {
                Self::conflict("folder_exists", "you already have files in the target folder")
            }
            MoveFolderError::TooDeep => Self::conflict(
                "folder_too_deep",
                "the folder's subfolders would be too deep or their paths too long there",
            ),
            MoveFolderError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<DeleteFolderError> for ApiError {
    fn from(e: DeleteFolderError) -> Self {
        match e {
            DeleteFolderError::Root => {
                Self::bad_request("invalid_target", "the root folder cannot be deleted")
            }
            DeleteFolderError::NotFound => Self::folder_not_found("there are no files in this folder"),
            DeleteFolderError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<RestoreError> for ApiError {
    fn from(e: RestoreError) -> Self {
        match e {
            RestoreError::NotFound => Self::file_not_found(),
            RestoreError::AlreadyExists => Self::file_exists("in this folder"),
            RestoreError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<PurgeError> for ApiError {
    fn from(e: PurgeError) -> Self {
        match e {
            PurgeError::NotFound => Self::file_not_found(),
            PurgeError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(e: ShareError) -> Self {
        match e {
            ShareError::NotFound => Self::file_not_found(),
            ShareError::Forbidden => Self::forbidden("only the creator of a file may share it"),
            ShareError::UserNotFound(name) => {
                Self::not_found("user_not_found", format!("no user is called {name}"))
            }
            ShareError::AlreadyShared(name) => {
                Self::conflict("already_shared", format!("the file is already shared with {name}"))
            }
            ShareError::NotShared(name) => {
                Self::not_found("not_shared", format!("the file is not shared with {name}"))
            }
            ShareError::SelfShare => {
                Self::bad_request("self_share", "a file cannot be shared with its creator")
            }
            ShareError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<CreateLinkError> for ApiError {
    fn from(e: CreateLinkError) -> Self {
        match e {
            CreateLinkError::NotFound => Self::file_not_found(),
            CreateLinkError::Forbidden => Self::forbidden("only the creator of a file may make links to it"),
            CreateLinkError::Invalid(reason) => Self::bad_request("invalid_request", reason),
            CreateLinkError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ManageLinkError> for ApiError {
    fn from(e: ManageLinkError) -> Self {
        match e {
            ManageLinkError::NotFound => Self::not_found("not_found", "not found"),
            ManageLinkError::Forbidden => Self::forbidden("only the creator of a file may see its links"),
            ManageLinkError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<VisitError> for ApiError {
    fn from(e: VisitError) -> Self {
        match e {
            VisitError::NotFound => Self::link_not_found(),
            VisitError::PasswordRequired => {
                Self::unauthorized("password_required", "this link needs a password").with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Drip link\", charset=\"UTF-8\""),
                )
            }
            VisitError::Throttled(t) => Self::too_many_attempts(t),
            VisitError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<LinkDownloadError> for ApiError {
    fn from(e: LinkDownloadError) -> Self {
        match e {
            LinkDownloadError::Visit(v) => v.into(),
            // A file gone between the visit and the download is a link gone.
            LinkDownloadError::Download(DownloadError::NotFound) => Self::link_not_found(),
            LinkDownloadError::Download(d) => d.into(),
        }
    }
}

impl From<DropUploadError> for ApiError {
    fn from(e: DropUploadError) -> Self {
        match e {
            DropUploadError::Visit(v) => v.into(),
            DropUploadError::LimitReached => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "drop_limit_reached",
                "this drop link accepts no more uploads of this size",
            ),
            DropUploadError::LengthRequired => Self::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "this drop link limits bytes: send the size (Content-Length)",
            ),
            // The uploader is not the owner: the owner's quota and usage stay theirs.
            DropUploadError::Store(StoreError::QuotaExceeded(_)) => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                "the owner of this drop link has no room for this file",
            ),
            DropUploadError::Store(s) => s.into(),
        }
    }
}

impl From<CreateUploadError> for ApiError {
    fn from(e: CreateUploadError) -> Self {
        match e {
            CreateUploadError::Store(s) => s.into(),
            CreateUploadError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such upload"),
            UploadError::Expired => Self::new(StatusCode::GONE, "upload_expired", "the upload expired"),
            UploadError::OffsetMismatch { offset } => Self::new(
                StatusCode::CONFLICT,
                "offset_mismatch",
                format!("the upload is at offset {offset}: ask with HEAD and continue from there"),
            )
            .with_details(json!({ "offset": offset })),
            UploadError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "upload_conflict",
                "another request continued this upload at the same offset first",
            ),
            UploadError::TooLong { length } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_long",
                format!("the content goes past the upload's length of {length} bytes"),
            )
            .with_details(json!({ "length": length })),
            UploadError::Busy => Self::busy(),
            UploadError::Store(s) => s.into(),
            UploadError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::InvalidPattern(why) => {
                Self::bad_request("invalid_pattern", format!("invalid regular expression: {why}"))
            }
            SearchError::PatternTooLarge => {
                Self::bad_request("pattern_too_large", "the regular expression is too large")
            }
            SearchError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<RequestArchiveError> for ApiError {
    fn from(e: RequestArchiveError) -> Self {
        match e {
            RequestArchiveError::UnknownUser => {
                Self::unauthorized("invalid_token", "the authenticated user no longer exists")
            }
            RequestArchiveError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ArchiveLookupError> for ApiError {
    fn from(e: ArchiveLookupError) -> Self {
        match e {
            ArchiveLookupError::NotFound => Self::archive_not_found(),
            ArchiveLookupError::Backend(b) => Self::backend(&b),
        }
    }
}

impl From<ArchiveDownloadError> for ApiError {
    fn from(e: ArchiveDownloadError) -> Self {
        match e {
            ArchiveDownloadError::NotFound => Self::archive_not_found(),
            ArchiveDownloadError::Pending => Self::conflict(
                "archive_pending",
                "the archive is not ready yet; the download event says when it is",
            ),
            ArchiveDownloadError::Failed { reason } => {
                Self::conflict("archive_failed", format!("the archive could not be built: {reason}"))
                    .with_details(json!({ "reason": reason }))
            }
            ArchiveDownloadError::Expired => {
                Self::new(StatusCode::GONE, "archive_expired", "the archive has expired; ask for a new one")
            }
            ArchiveDownloadError::RangeNotSatisfiable { size } => Self::range_not_satisfiable(size),
            ArchiveDownloadError::Integrity => Self::integrity("the archive's data key failed verification"),
            ArchiveDownloadError::Busy => Self::busy(),
            ArchiveDownloadError::Storage(s) => Self::storage(&s),
            ArchiveDownloadError::Backend(b) => Self::backend(&b),
        }
    }
}

/// A failure of the original's endpoints, in their own shapes:
/// `{"error":"Unauthenticated user."}`, `{"error":"bad request","details":"..."}`.
#[derive(Debug)]
pub(crate) struct LegacyError {
    status: StatusCode,
    body: Value,
    internal: Option<String>,
    retry_after: Option<i64>,
}

impl LegacyError {
    /// `{"error": error}` with `status`.
    fn new(status: StatusCode, error: &str) -> Self {
        Self { status, body: json!({ "error": error }), internal: None, retry_after: None }
    }

    /// 401 `{"error":"Unauthenticated user."}`.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthenticated user.")
    }

    /// 400 `{"error":"bad request","details":details}`.
    pub(crate) fn bad_request(details: &str) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "bad request");
        error.body["details"] = json!(details);
        error
    }

    /// 401 `{"error":"Invalid username/password combination."}`.
    pub(crate) fn invalid_login() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Invalid username/password combination.")
    }

    /// 403 `{"error":"Cross-site login refused."}`.
    pub(crate) fn cross_site_login() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Cross-site login refused.")
    }

    /// 429 `{"error":"Too many failed attempts. Try again later."}` with `Retry-After`.
    pub(crate) fn too_many_attempts(throttled: Throttled) -> Self {
        let seconds = throttled.retry_after.num_seconds().max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many failed attempts. Try again later.")
        }
    }

    /// 500 `{"error":"Unexpected error."}`, logging `cause`.
    pub(crate) fn unexpected(cause: impl fmt::Display) -> Self {
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Unexpected error.")
        }
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.internal {
            let id = middleware::current().map(|c| c.id).unwrap_or_default();
            tracing::error!(request_id = %id, error = %cause, "request failed");
        }
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_is_507_and_an_unavailable_one_503_with_retry_after() {
        let full = ApiError::storage(&StorageError::Full(BackendError::msg("no space left on device")));
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(full.0.code, "insufficient_storage");
        let refused = ApiError::storage(&StorageError::Unavailable(BackendError::msg("permission denied")));
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = refused.into_response();
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn causes_are_logged_once_each() {
        let refused = std::io::Error::other("connection refused");
        let backend = BackendError::new("put k on gcs bucket b failed", refused);
        assert_eq!(Causes(&backend).to_string(), "put k on gcs bucket b failed: connection refused");
        // `StorageError::Unavailable` prints its source too: it is not repeated.
        let unavailable = StorageError::Unavailable(backend);
        assert_eq!(
            Causes(&unavailable).to_string(),
            "storage unavailable: put k on gcs bucket b failed: connection refused"
        );
    }
}
