//! What visitors without an account reach through links, outside `/api/v1`:
//! `/s/{token}` (a file's page, `/s/{token}/content` its content) and `/d/{token}` (a
//! drop's upload page, where `POST` uploads). A password comes as HTTP Basic (any user
//! name) or through the page's form, which answers a cookie scoped to that link's path.
//! Every way a token can be wrong answers the same 404.

use std::fmt::Write as _;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use drip_core::links::DropUpload;
use drip_core::links::error::VisitError;
use drip_core::links::model::Credentials;
use drip_core::links::{Grant, Visit};
use drip_core::storage::model::FileName;
use headers::authorization::Basic;
use headers::{Authorization, HeaderMapExt};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{Params, cookie};
use crate::range::{self, Resolved};
use crate::routes::files::{
    FormUpload, UploadQuery, byte_stream, check_declared_length, declared_content_type, deliver,
    form_boundary, form_upload, is_multipart, not_modified, upload_body,
};
use crate::routes::ui::CONTENT_SECURITY_POLICY;
use crate::state::AppState;

/// The cookie holding a grant of a link's password (scoped to the link's path).
const GRANT_COOKIE: &str = "drip_link";

/// The password form of a page.
#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    password: String,
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

/// `GET /s/{token}`: the file's name and size with a download button, or the password form.
pub(crate) async fn link_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Response {
    match state.links().visit_link(&token, &credentials(&headers, client)).await {
        Ok(Visit { link, .. }) => {
            let size = state.storage().info(&link.creator, &link.media).await.map(|m| m.size()).unwrap_or(0);
            let body = format!(
                "<h1>{}</h1><p>{size} bytes</p><p><a class=\"button\" href=\"/s/{token}/content\" download>Download</a></p>",
                escape(link.file_name.as_str()),
            );
            page(StatusCode::OK, "Shared file", &body)
        }
        Err(e) => visit_refused(&e, "Download"),
    }
}

/// `POST /s/{token}` with the page's password form: a cookie for a while, back to the page.
pub(crate) async fn unlock_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    Form(form): Form<PasswordForm>,
) -> Response {
    let credentials = password_credentials(form, client);
    match state.links().visit_link(&token, &credentials).await {
        Ok(visit) => unlocked(&format!("/s/{token}"), visit.grant.as_ref(), state.settings().cookies.secure),
        Err(e) => visit_refused(&e, "Download"),
    }
}

/// `GET /s/{token}/content`: the file, with the headers, ranges and `ETag` of an
/// authenticated download.
pub(crate) async fn link_content(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let credentials = credentials(&headers, client);
    let Visit { link, grant } = state.links().visit_link(&token, &credentials).await?;
    // The download checks the link again: with the grant of a password just verified,
    // not the password a second time.
    let credentials = match grant {
        Some(grant) => Credentials { password: None, grant: Some(grant.value), ..credentials },
        None => credentials,
    };
    let media =
        state.storage().info(&link.creator, &link.media).await.map_err(|_| ApiError::link_not_found())?;
    let etag = media.digest().and_then(|d| range::etag(&d.to_hex()));
    if range::not_modified(&headers, etag.as_ref()) {
        return Ok(not_modified(etag));
    }
    let range = match range::requested(&headers, etag.as_ref(), media.size()) {
        Resolved::Full => None,
        Resolved::Partial(range) => Some(range),
        Resolved::Unsatisfiable => return Err(ApiError::range_not_satisfiable(media.size())),
    };
    let slot = state.transfers().try_acquire(link.creator, client).map_err(ApiError::too_many_transfers)?;
    let partial = range.is_some();
    let download = state.links().download_link(&token, &credentials, range).await?;
    let delivery = deliver(&state, download.download, slot, started).await?;
    Ok(delivery.into_response(partial, etag))
}

/// `GET /d/{token}`: the upload form, or the password form.
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

/// `POST /d/{token}`: one file, as the raw body (`?name=`) or the page's
/// `multipart/form-data` form; the page's password form (urlencoded) unlocks the page.
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
    let html = wants_html(&headers);
    match upload_to_drop(&state, &token, client, query, &headers, body).await {
        Ok((name, size)) if html => {
            let body = format!(
                "<h1>Thank you</h1><p>\u{201c}{}\u{201d} ({size} bytes) was received.</p><p><a href=\"/d/{token}\">Send another file</a></p>",
                escape(&name)
            );
            page(StatusCode::CREATED, "Received", &body)
        }
        Ok((name, size)) => {
            (StatusCode::CREATED, Json(json!({ "name": name, "size": size }))).into_response()
        }
        Err(e) if html && e.status() == StatusCode::NOT_FOUND => not_found_page(),
        Err(e) => e.into_response(),
    }
}

async fn unlock_drop(state: &AppState, token: &str, client: ClientIp, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::bad_request("invalid_request", "the form is too large").into_response(),
    };
    let Ok(form) = password_form(&bytes) else {
        return ApiError::bad_request("invalid_request", "the form has no password").into_response();
    };
    match state.links().visit_drop(token, &password_credentials(form, client)).await {
        Ok(visit) => unlocked(&format!("/d/{token}"), visit.grant.as_ref(), state.settings().cookies.secure),
        Err(e) => visit_refused(&e, "Send files"),
    }
}

fn password_form(bytes: &[u8]) -> Result<PasswordForm, ()> {
    let pairs = url_pairs(bytes);
    pairs.into_iter().find(|(k, _)| k == "password").map(|(_, v)| PasswordForm { password: v }).ok_or(())
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
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let _slot = state.transfers().try_acquire(target.owner, client).map_err(ApiError::too_many_transfers)?;
    let (upload, form) = if is_multipart(headers) {
        let boundary = form_boundary(headers)?;
        let FormUpload { name, content_type, content, form, .. } =
            form_upload(state, boundary, UploadQuery { folder: None, name: query.name }, headers, body)
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
    let stored = state.links().upload_to_drop(token, &credentials, upload).await;
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
        VisitError::PasswordRequired => page(
            StatusCode::UNAUTHORIZED,
            title,
            "<h1>This link is protected</h1><form method=\"post\">\
             <label for=\"password\">Password</label> \
             <input id=\"password\" type=\"password\" name=\"password\" required autocomplete=\"current-password\"> \
             <button type=\"submit\">Open</button></form>",
        ),
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
