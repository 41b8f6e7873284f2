//! The OpenAPI description of `/api/v1`, generated from the handlers' annotations and the
//! DTOs (utoipa), served at `/api/v1/openapi.json` and kept in `docs/openapi.json`.

use std::sync::LazyLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

use crate::dto::{ErrorBody, FileDto};
use crate::routes::{
    accounts, archives, downloads, events, files, folders, links, ops, public, search, shares, trash, uploads,
};
use crate::schemas::{
    CursorSchema, FileNameOrEmptySchema, FileSortSchema, FolderQuerySchema, PageLimitSchema, SortOrderSchema,
    SubfolderSchema, TopLimitSchema, TusVersionSchema, UploadConflictSchema, UsageSortSchema,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Drip API",
        version = "1",
        description = "Encrypted file storage: accounts, files in virtual folders, shares, search and real-time events. \
Authenticate with `Authorization: Bearer <access_token>` from `POST /api/v1/sessions`. \
Errors are `{\"error\":{\"code\",\"message\",\"request_id\"}}` with a stable `code`."
    ),
    paths(
        accounts::register,
        accounts::login,
        accounts::refresh,
        accounts::logout,
        accounts::me,
        accounts::close,
        accounts::change_password,
        accounts::sessions,
        accounts::end_session,
        accounts::usage,
        files::upload,
        files::upload_form,
        files::list_all,
        files::info,
        files::update,
        files::delete,
        files::download,
        files::replace_content,
        files::list_folder,
        folders::move_folder,
        folders::delete_folder,
        downloads::for_file,
        downloads::for_archive,
        downloads::download,
        uploads::options,
        uploads::create,
        uploads::status,
        uploads::append,
        uploads::terminate,
        trash::list,
        trash::restore,
        trash::purge,
        trash::empty,
        archives::create,
        archives::list,
        archives::show,
        archives::delete,
        archives::content,
        shares::create,
        shares::list,
        shares::partners,
        shares::overview,
        shares::remove,
        links::create,
        links::list_of_file,
        links::list,
        links::revoke,
        links::create_drop,
        links::list_drops,
        links::revoke_drop,
        public::link_page,
        public::unlock_link,
        public::link_content,
        public::drop_page,
        public::drop_post,
        search::search,
        search::search_names,
        search::top_users,
        events::connect,
        ops::openapi,
    ),
    // Query parameters' schemas are not collected from the handlers: listed here.
    components(schemas(
        CursorSchema, FileNameOrEmptySchema, FolderQuerySchema, PageLimitSchema, TopLimitSchema,
        UsageSortSchema, SortOrderSchema, FileSortSchema, TusVersionSchema, SubfolderSchema,
        UploadConflictSchema,
    )),
    modifiers(&BearerScheme, &HeadLimits, &EmptyContent),
    tags(
        (name = "accounts", description = "Registration, sessions and the current user"),
        (name = "files", description = "Upload, download, move, rename, delete and list files"),
        (name = "folders", description = "Move, rename and delete whole folders (listing one is with the files)"),
        (name = "downloads", description = "Download URLs: short-lived links to one file or archive that a browser opens in its own download manager"),
        (name = "uploads", description = "Resumable uploads over the tus 1.0.0 protocol (creation, creation-with-upload, termination, expiration)"),
        (name = "trash", description = "Deleted files: list, restore, purge; purged for good after `storage.trash_days`"),
        (name = "archives", description = "Prepared ZIP archives of folders, built in the background"),
        (name = "shares", description = "Share files with other users"),
        (name = "links", description = "Public links to files and upload-only drop links to folders"),
        (name = "search", description = "Search file contents and rank users by usage"),
        (name = "events", description = "Real-time events and presence over a WebSocket"),
        (name = "meta", description = "This description"),
    )
)]
struct ApiDoc;

/// An upload's body is its content, and an absent body (no `Content-Length`, no chunks) is
/// empty content: an empty file or version, not a refusal. The document says so for the
/// raw uploads (`required: false`), which `#[utoipa::path]` cannot.
struct EmptyContent;

impl Modify for EmptyContent {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let raw_uploads = [("/api/v1/files", true), ("/api/v1/files/{id}/content", false)];
        for (path, is_post) in raw_uploads {
            let Some(item) = openapi.paths.paths.get_mut(path) else { continue };
            let operation = if is_post { item.post.as_mut() } else { item.put.as_mut() };
            if let Some(utoipa::openapi::RefOr::T(body)) =
                operation.and_then(|operation| operation.request_body.as_mut())
            {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// Documents on every operation the refusals of an oversized request head, which the
/// router answers before any route runs (`414 uri_too_long`, `431 headers_too_large`).
struct HeadLimits;

impl Modify for HeadLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let refusal = |text: &str| {
            utoipa::openapi::ResponseBuilder::new()
                .description(text)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.insert(
                    "414".to_owned(),
                    refusal("`uri_too_long`: the request target is over 8 KiB").into(),
                );
                responses.insert(
                    "431".to_owned(),
                    refusal("`headers_too_large`: the request headers are over 32 KiB").into(),
                );
            }
        }
    }
}

/// Declares the `bearer` security scheme the operations refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

// The answers several operations share, for their `responses(...)`. Documentation only:
// handlers answer `ApiError`s and DTOs, never these.

/// The request headers of every content download: a range, and the entity tag of an
/// earlier download.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub(crate) struct ContentHeaders {
    /// `bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges get the whole content.
    #[param(rename = "Range")]
    range: Option<String>,
    /// An `ETag` from an earlier download.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
    /// Honour `Range` only if the `ETag` still matches.
    #[param(rename = "If-Range")]
    if_range: Option<String>,
}

/// 401: the route needs a valid access token.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 401, description = "`unauthenticated`, `invalid_token`, `token_expired`")]
pub(crate) struct Unauthenticated(ErrorBody);

/// 400 of a route whose body can only be refused as JSON.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 400, description = "`invalid_json`, `invalid_request`")]
pub(crate) struct InvalidJson(ErrorBody);

/// 413 and 415 of every route that takes a JSON body.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum JsonRefused {
    #[response(status = 413, description = "`payload_too_large`: over the limit of JSON bodies")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "`unsupported_media_type`: not `application/json`")]
    NotJson(ErrorBody),
}

/// 403 and 404 of a route only the file's creator may use.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum CreatorOnly {
    #[response(status = 403, description = "`forbidden`")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "`not_found`")]
    NotFound(ErrorBody),
}

/// 201 of an upload, and the refusals of both kinds of upload but 400 and 415.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum Upload {
    #[response(status = 201, description = "Stored", headers(("Location" = String, description = "The file's URL")))]
    Stored(FileDto),
    #[response(status = 409, description = "`already_exists`")]
    AlreadyExists(ErrorBody),
    #[response(
        status = 408,
        description = "`transfer_idle`: no byte of the body arrived for `http.transfer_idle_secs`; the upload was cut"
    )]
    Idle(ErrorBody),
    #[response(status = 413, description = "`payload_too_large`")]
    TooLarge(ErrorBody),
    #[response(
        status = 507,
        description = "`quota_exceeded`: the file does not fit in the user's storage quota (`details`: `quota`, `used`; refused before the body is read when its length is known, else cut where it passes the quota; nothing is kept); `insufficient_storage`: the object store has no space left"
    )]
    StoreFull(ErrorBody),
}

/// The refusals of a transfer when the user or the server runs too many.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum TransferRefused {
    #[response(
        status = 429,
        description = "`too_many_transfers`: the user, or their address, runs as many transfers as it may"
    )]
    TooManyTransfers(ErrorBody),
    #[response(status = 503, description = "`busy`, `unavailable`")]
    Busy(ErrorBody),
}

static SERVED: LazyLock<String> = LazyLock::new(openapi_json);

/// The document as served (computed once).
pub(crate) fn served() -> &'static str {
    &SERVED
}

/// The OpenAPI document of `/api/v1`, pretty-printed JSON with a final new line (what
/// `/api/v1/openapi.json` serves and `docs/openapi.json` holds).
#[must_use]
pub fn openapi_json() -> String {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialize the OpenAPI document");
            "{}\n".to_owned()
        }
    }
}
