//! What visitors without an account reach through links, outside `/api/v1`:
//! `/s/{token}` (a file's page, `/s/{token}/content` its content) and `/d/{token}` (a
//! drop's upload page, where `POST` uploads). A password comes as HTTP Basic (any user
//! name) or through the page's form, which answers a cookie scoped to that link's path.
//! Every way a token can be wrong answers the same 404.

use std::fmt::Write as _;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drip_core::links::DropUpload;
use drip_core::links::Grant;
use drip_core::links::error::VisitError;
use drip_core::links::model::Credentials;
use drip_core::storage::model::FileName;
use headers::authorization::Basic;
use headers::{Authorization, HeaderMapExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::client_ip::ClientIp;
use crate::dto::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Params, cookie};
use crate::openapi::{ContentHeaders, TransferRefused};
use crate::range;
use crate::routes::files::Binary;
use crate::routes::files::{
    FormUpload, Payload, UploadQuery, Wanted, byte_stream, check_declared_length, declared_content_type,
    declared_length, deliver, form_boundary, form_upload, is_multipart, not_modified, recorded, upload_body,
    wanted,
};
use crate::routes::ui::CONTENT_SECURITY_POLICY;
use crate::schemas::FileNameSchema;
use crate::state::AppState;

/// The cookie holding a grant of a link's password (scoped to the link's path).
const GRANT_COOKIE: &str = "drip_link";

/// The password form of a page.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordForm {
    /// The link's password.
    password: String,
}

/// What a drop received.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DropReceived {
    /// The file name as it was sent (the stored one may carry a number: the uploader is
    /// not told what the folder holds).
    name: String,
    /// Its size in bytes.
    size: u64,
}

/// What the visitor presents: a Basic password, the grant cookie, their address.
fn credentials(headers: &HeaderMap, client: ClientIp) -> Credentials {
    Credentials {
        password: headers
            .typed_get::<Authorization<Basic>>()
            .map(|basic| Zeroizing::new(basic.password().to_owned())),
        grant: cookie(headers, GRANT_COOKIE).map(str::to_owned),
        client: Some(client.ip()),
    }
}

/// A public link's page: the file's name and size with a download button, or the
/// password form. Every failure is the same not-found page.
#[utoipa::path(
    get, path = "/s/{token}", operation_id = "link_page", tag = "links",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The file's page", content_type = "text/html", body = String),
        (status = 401, description = "The password form: the link has a password", content_type = "text/html", body = String),
        (status = 404, description = "Unknown, expired, revoked or used up", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong passwords lately", content_type = "text/html", body = String,
            headers(("Retry-After" = u64))),
        (status = 503, description = "A backing service is down", content_type = "text/html", body = String),
    )
)]
pub(crate) async fn link_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Response {
    match state.links().open_link(&token, &credentials(&headers, client)).await {
        Ok(open) => {
            let body = format!(
                "<h1>{}</h1><p>{} bytes</p><p><a class=\"button\" href=\"/s/{token}/content\" download>Download</a></p>",
                escape(open.media.name().as_str()),
                open.media.size(),
            );
            page(StatusCode::OK, "Shared file", &body)
        }
        Err(e) => visit_refused(&e, "Download"),
    }
}

/// The page's password form: a correct password answers a cookie (`drip_link`, scoped to
/// the link's path, 15 minutes) and sends the browser back to the page.
#[utoipa::path(
    post, path = "/s/{token}", operation_id = "unlock_link", tag = "links",
    params(("token" = String, Path, description = "The link's token")),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Back to the page, with the cookie when the link has a password",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "The form has no password", content_type = "text/html", body = String),
        (status = 401, description = "A wrong password for a live link: the form again, saying so", content_type = "text/html", body = String),
        (status = 404, description = "Unknown, expired, revoked or used up", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong passwords lately", content_type = "text/html", body = String,
            headers(("Retry-After" = u64))),
        (status = 503, description = "A backing service is down", content_type = "text/html", body = String),
    )
)]
pub(crate) async fn unlock_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    body: Body,
) -> Response {
    let form = match read_password_form(body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let ip = client.ip();
    let credentials = password_credentials(form, client);
    match state.links().visit_link(&token, &credentials).await {
        Ok(visit) => unlocked(&format!("/s/{token}"), visit.grant.as_ref(), state.settings().cookies.secure),
        Err(VisitError::NotFound) => {
            // Still asking for a password means the link is live and the password was wrong:
            // the form again, saying so. That tells no more than the page's GET already does.
            let probe = Credentials { password: None, grant: None, client: Some(ip) };
            match state.links().visit_link(&token, &probe).await {
                Err(VisitError::PasswordRequired) => {
                    password_page("Download", Some("That password is not right. Try again."))
                }
                _ => not_found_page(),
            }
        }
        Err(e) => visit_refused(&e, "Download"),
    }
}

/// The file of a public link, with the headers, ranges and `ETag` of an authenticated
/// download. A password comes as HTTP Basic (any user name) or the page's cookie.
#[utoipa::path(
    get, path = "/s/{token}/content", operation_id = "link_content", tag = "links",
    params(
        ("token" = String, Path, description = "The link's token"),
        ContentHeaders,
    ),
    responses(
        (status = 200, description = "The whole content, as the file's own content type", content_type = "*/*", body = Binary,
            headers(("ETag" = String), ("Content-Disposition" = String), ("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "Part of the content", content_type = "*/*", body = Binary,
            headers(("Content-Range" = String), ("ETag" = String), ("Content-Length" = u64))),
        (status = 304, description = "Not modified"),
        (status = 401, description = "`password_required`, with `WWW-Authenticate: Basic`", body = ErrorBody),
        (status = 404, description = "`link_not_found`: unknown, expired, revoked or used up, or a wrong password", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`", body = ErrorBody),
        (status = 500, description = "`integrity`", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn link_content(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let open = state.links().open_link(&token, &credentials(&headers, client)).await?;
    let etag = open.media.digest().and_then(|d| range::etag(&d.to_hex()));
    let range = match wanted(&headers, etag.as_ref(), open.media.size())? {
        Wanted::NotModified => return Ok(not_modified(etag)),
        Wanted::Whole => None,
        Wanted::Part(range) => Some(range),
    };
    let slot =
        state.transfers().try_acquire(open.link.creator, client).map_err(ApiError::too_many_transfers)?;
    let partial = range.is_some();
    let delivery = recorded(&state, started, async {
        let download = state.links().download_opened(open, range).await?.download;
        deliver(&state, Payload::of(&download.media), download.range, download.content, slot, started).await
    })
    .await?;
    Ok(delivery.into_response(partial, etag))
}

/// A drop link's upload page (a plain form, and drag and drop from `/ui/drop.js`), or the
/// password form. Every failure is the same not-found page.
#[utoipa::path(
    get, path = "/d/{token}", operation_id = "drop_page", tag = "links",
    params(("token" = String, Path, description = "The drop's token")),
    responses(
        (status = 200, description = "The upload page", content_type = "text/html", body = String),
        (status = 401, description = "The password form: the drop has a password", content_type = "text/html", body = String),
        (status = 404, description = "Unknown, expired, revoked or used up", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong passwords lately", content_type = "text/html", body = String,
            headers(("Retry-After" = u64))),
        (status = 503, description = "A backing service is down", content_type = "text/html", body = String),
    )
)]
pub(crate) async fn drop_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Response {
    match state.links().visit_drop(&token, &credentials(&headers, client)).await {
        Ok(_) => page(
            StatusCode::OK,
            "Send files",
            "<h1>Send files</h1><form method=\"post\" enctype=\"multipart/form-data\" data-drop>\
             <label for=\"file\">File</label> <input id=\"file\" type=\"file\" name=\"file\" required> \
             <button type=\"submit\">Upload</button></form>\
             <p>Or drop files anywhere on this page.</p><ul data-drop-status></ul>\
             <p>The recipient gets the files; you will not see what else they have.</p>\
             <script type=\"module\" src=\"/ui/drop.js\"></script>",
        ),
        Err(e) => visit_refused(&e, "Send files"),
    }
}

/// Uploads one file through a drop link into its owner's folder (a taken name gets a
/// number). Also accepted: the page's `multipart/form-data` form (a browser asking for
/// `text/html` gets a page back), and its urlencoded password form (`password=`, which
/// answers `303` and the cookie, as `POST /s/{token}`).
#[utoipa::path(
    post, path = "/d/{token}", operation_id = "drop_upload", tag = "links",
    params(
        ("token" = String, Path, description = "The drop's token"),
        ("name" = FileNameSchema, Query, description = "The file name"),
    ),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The file content"),
    responses(
        (status = 201, description = "Received: the name sent and the size", body = DropReceived),
        (status = 400, description = "`invalid_name`, `invalid_request`, `invalid_content_type`, `upload_interrupted`", body = ErrorBody),
        (status = 401, description = "`password_required`, with `WWW-Authenticate: Basic`", body = ErrorBody),
        (status = 404, description = "`link_not_found`: unknown, expired, revoked or used up, or a wrong password", body = ErrorBody),
        (status = 408, description = "`transfer_idle`", body = ErrorBody),
        (status = 409, description = "`already_exists`: a hundred numbered variants of the name are taken already", body = ErrorBody),
        (status = 411, description = "`length_required`: the drop limits bytes", body = ErrorBody),
        (status = 413, description = "`payload_too_large`, `drop_limit_reached`", body = ErrorBody),
        (status = 507, description = "`quota_exceeded`: the file does not fit in the owner's storage quota (nothing is kept); `insufficient_storage`: the object store has no space left", body = ErrorBody),
        TransferRefused,
    )
)]
pub(crate) async fn drop_post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    Params(query): Params<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let urlencoded = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    });
    if urlencoded {
        return unlock_drop(&state, &token, client, body).await;
    }
    // The page's form, posted by a browser, gets a page back.
    let html = is_multipart(&headers) && wants_html(&headers);
    match upload_to_drop(&state, &token, client, query, &headers, body).await {
        Ok((name, size)) if html => {
            let body = format!(
                "<h1>Thank you</h1><p>\u{201c}{}\u{201d} ({size} bytes) was received.</p><p><a href=\"/d/{token}\">Send another file</a></p>",
                escape(&name)
            );
            page(StatusCode::CREATED, "Received", &body)
        }
        Ok((name, size)) => (StatusCode::CREATED, Json(DropReceived { name, size })).into_response(),
        Err(e) if html && e.status() == StatusCode::NOT_FOUND => not_found_page(),
        Err(e) => e.into_response(),
    }
}

async fn unlock_drop(state: &AppState, token: &str, client: ClientIp, body: Body) -> Response {
    let form = match read_password_form(body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match state.links().visit_drop(token, &password_credentials(form, client)).await {
        Ok(visit) => unlocked(&format!("/d/{token}"), visit.grant.as_ref(), state.settings().cookies.secure),
        Err(e) => visit_refused(&e, "Send files"),
    }
}

/// The password of a page's urlencoded form; the page of a refusal when there is none.
async fn read_password_form(body: Body) -> Result<PasswordForm, Response> {
    let refused = |text: &str| page(StatusCode::BAD_REQUEST, "Password", &format!("<h1>{text}</h1>"));
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.map_err(|_| refused("The form is too large"))?;
    let password = url_pairs(&bytes).into_iter().find(|(k, _)| k == "password").map(|(_, v)| v);
    password.map(|password| PasswordForm { password }).ok_or_else(|| refused("The form has no password"))
}

/// The `key=value` pairs of an urlencoded form.
fn url_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    };
    String::from_utf8_lossy(bytes)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Stores one upload through a drop: the stored file's name is not told back (it would
/// say what the folder holds), only what was received.
async fn upload_to_drop(
    state: &AppState,
    token: &str,
    client: ClientIp,
    query: UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, u64), ApiError> {
    let credentials = credentials(headers, client);
    let target = state.links().visit_drop(token, &credentials).await?.link;
    let length = declared_length(headers);
    let _slot = state.transfers().try_acquire(target.owner, client).map_err(ApiError::too_many_transfers)?;
    let (upload, form) = if is_multipart(headers) {
        let boundary = form_boundary(headers)?;
        let FormUpload { name, content_type, content, form, .. } = form_upload(
            state,
            boundary,
            UploadQuery { folder: None, name: query.name, conflict: None },
            headers,
            body,
        )
        .await?;
        (DropUpload { name, content_type, length, content }, Some(form))
    } else {
        let name = query.name.as_deref().ok_or_else(|| {
            ApiError::bad_request("invalid_request", "the `name` query parameter is required")
        })?;
        check_declared_length(headers, state.upload_limit())?;
        let content_type =
            declared_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
        let content = byte_stream(upload_body(state, body), Some(state.clone()));
        (DropUpload { name: FileName::parse(name)?, content_type, length, content }, None)
    };
    let given = upload.name.to_string();
    let stored = state.links().upload_to(&target, upload).await;
    drop(form);
    let media = stored?;
    Ok((given, media.size()))
}

fn password_credentials(form: PasswordForm, client: ClientIp) -> Credentials {
    Credentials { password: Some(Zeroizing::new(form.password)), grant: None, client: Some(client.ip()) }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// Back to the page at `path`, with the grant (if one was made) as a cookie of that path.
fn unlocked(path: &str, grant: Option<&Grant>, secure: bool) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(grant) = grant {
        let max_age = (grant.expires_at - chrono::Utc::now()).num_seconds().max(1);
        let mut cookie = format!(
            "{GRANT_COOKIE}={}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict",
            grant.value
        );
        if secure {
            cookie.push_str("; Secure");
        }
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

/// The page for a refused visit: the password form, the one not-found page, or the
/// throttling answer.
fn visit_refused(e: &VisitError, title: &str) -> Response {
    match e {
        VisitError::PasswordRequired => password_page(title, None),
        VisitError::NotFound => not_found_page(),
        VisitError::Throttled(t) => {
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                title,
                "<h1>Too many attempts</h1><p>Wait a moment, then try again.</p>",
            );
            if let Ok(value) = HeaderValue::from_str(&t.retry_after.num_seconds().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        VisitError::Backend(_) => {
            page(StatusCode::SERVICE_UNAVAILABLE, title, "<h1>Unavailable</h1><p>Try again in a moment.</p>")
        }
    }
}

/// The password form of a protected link (401), with `problem` above it if there is one.
fn password_page(title: &str, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"field-error\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "<h1>This link is protected</h1>{problem}<form method=\"post\">\
         <label for=\"password\">Password</label> \
         <input id=\"password\" type=\"password\" name=\"password\" required autofocus autocomplete=\"current-password\"> \
         <button type=\"submit\">Open</button></form>"
    );
    page(StatusCode::UNAUTHORIZED, title, &body)
}

fn not_found_page() -> Response {
    page(StatusCode::NOT_FOUND, "Not found", "<h1>This link does not exist or no longer works</h1>")
}

/// A small page in the UI's style, with the UI's security headers; never cached, never
/// sent on as a referrer (the URL holds the token).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Drip</title><link rel=\"stylesheet\" href=\"/ui/app.css\"></head>\
         <body><main class=\"public\">{body}</main></body></html>",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Text made safe for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
