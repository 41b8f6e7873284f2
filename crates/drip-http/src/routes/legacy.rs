//! The original ElixirDrip JSON endpoints, same shapes, for existing clients:
//! `GET /api/files?path=$`, `POST /api/sessions` (sets the session cookies) and
//! `DELETE /api/sessions`.

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use drip_core::accounts::error::LoginError;
use drip_core::accounts::model::{RefreshToken, Session};
use drip_core::storage::model::{FolderPath, MAX_PAGE_SIZE, PageRequest};
use serde::Deserialize;
use serde_json::json;

use crate::client_ip::ClientOrigin;
use crate::dto::{LegacyFileDto, LegacyFolderDto, LegacyListingDto, LegacyResponse, LoginBody};
use crate::error::LegacyError;
use crate::extract::{LegacyUser, cookie, from_this_site, query_is_utf8};
use crate::middleware::no_store;
use crate::state::{AppState, CookieSettings};

/// Path of the refresh-token cookie: it only travels to the session endpoints.
const REFRESH_COOKIE_PATH: &str = "/api/sessions";

#[derive(Debug, Deserialize)]
pub(crate) struct FilesQuery {
    path: Option<String>,
}

/// `GET /api/files?path=$`: the folder's files and subfolders, every page of them.
pub(crate) async fn files(
    State(state): State<AppState>,
    LegacyUser(user): LegacyUser,
    uri: Uri,
) -> Result<Json<LegacyResponse<LegacyListingDto>>, LegacyError> {
    let folder = requested_folder(&uri)?;
    let mut page = PageRequest::first(MAX_PAGE_SIZE);
    let mut listing = LegacyListingDto { files: Vec::new(), folders: Vec::new() };
    loop {
        let part =
            state.storage().list_folder(&user.id, &folder, &page).await.map_err(LegacyError::unexpected)?;
        listing.files.extend(part.files.iter().map(|m| LegacyFileDto {
            id: m.id().to_string(),
            name: m.name().to_string(),
            full_path: m.folder().to_string(),
            size: m.size(),
        }));
        listing.folders.extend(part.folders.iter().map(|f| LegacyFolderDto {
            name: f.name.to_string(),
            size: f.total_size,
            files: f.file_count,
        }));
        match part.next {
            Some(cursor) => page = PageRequest::after(MAX_PAGE_SIZE, cursor),
            None => break,
        }
    }
    Ok(Json(LegacyResponse { response: listing }))
}

/// The folder of `?path=`, as the query decodes (the fuzz target `legacy_path` checks it).
///
/// # Errors
/// 400 when the query does not decode, names no `path` or an invalid one, or is not
/// UTF-8 once percent-decoded.
pub(crate) fn requested_folder(uri: &Uri) -> Result<FolderPath, LegacyError> {
    let path = Query::<FilesQuery>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.path)
        .ok_or_else(|| LegacyError::bad_request("Missing 'path' query parameter"))?;
    FolderPath::parse(&path)
        .ok()
        .filter(|_| query_is_utf8(uri))
        .ok_or_else(|| LegacyError::bad_request("The path provided is invalid."))
}

/// Credentials as JSON or as a form, as Phoenix accepted both.
async fn credentials(state: &AppState, request: Request) -> Result<LoginBody, LegacyError> {
    let is_form =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
        });
    let missing = || LegacyError::bad_request("Missing 'username' or 'password' parameter");
    if is_form {
        Form::<LoginBody>::from_request(request, state).await.map(|Form(body)| body).map_err(|_| missing())
    } else {
        Json::<LoginBody>::from_request(request, state).await.map(|Json(body)| body).map_err(|_| missing())
    }
}

/// `POST /api/sessions`: logs in, answers `{"response":"Logged in as U"}` and sets the
/// session cookies (the access token, and the refresh token for the logout).
///
/// A cookie login from another site is refused (login CSRF: a foreign page would log the
/// browser into the attacker's account): a browser's `Sec-Fetch-Site` must say
/// `same-origin` or `none`, and an `Origin` must be this host's or a configured CORS
/// origin. Clients that send neither (curl, the original's scripts) are not browsers
/// acting for another site and may log in.
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    request: Request,
) -> Result<Response, LegacyError> {
    if is_cross_site(request.headers(), &state.settings().cors_origins) {
        return Err(LegacyError::cross_site_login());
    }
    let body = credentials(&state, request).await?;
    let session = match state.accounts().login_from(&body.username, &body.password, &origin).await {
        Ok(session) => session,
        Err(LoginError::InvalidCredentials) => return Err(LegacyError::invalid_login()),
        Err(LoginError::Throttled(t)) => return Err(LegacyError::too_many_attempts(t)),
        Err(LoginError::Backend(e)) => return Err(LegacyError::unexpected(e)),
    };
    let message = format!("Logged in as {}", session.owner.username);
    let mut response = Json(json!({ "response": message })).into_response();
    for cookie in session_cookies(&state.settings().cookies, &session) {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(no_store(response))
}

/// Whether a request was sent by a browser on behalf of another site.
fn is_cross_site(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let site = headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?").trim());
    site.is_some_and(|site| !matches!(site, "same-origin" | "none"))
        || !from_this_site(headers, allowed_origins)
}

/// `DELETE /api/sessions`: revokes the session of the refresh cookie, clears both
/// cookies, answers `{"response":"Logged out"}`.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let settings = &state.settings().cookies;
    let revoked = match cookie(&headers, &settings.refresh_name) {
        Some(token) => state.accounts().logout(&RefreshToken::from_client(token)).await,
        None => Ok(()),
    };
    let mut response = match revoked {
        Ok(()) => Json(json!({ "response": "Logged out" })).into_response(),
        Err(e) => LegacyError::unexpected(e).into_response(),
    };
    for cookie in cleared_cookies(settings) {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn attributes(settings: &CookieSettings, path: &str) -> String {
    let mut text = format!("Path={path}; HttpOnly; SameSite=Lax");
    if settings.secure {
        text.push_str("; Secure");
    }
    if let Some(domain) = &settings.domain {
        text.push_str("; Domain=");
        text.push_str(domain);
    }
    text
}

/// Session cookies, each living as long as the token inside it (`Max-Age` from the
/// service's own issue and expiry times, so no clock of this layer is involved).
fn session_cookies(settings: &CookieSettings, session: &Session) -> [String; 2] {
    let seconds = |until: chrono::DateTime<chrono::Utc>| (until - session.issued_at).num_seconds().max(0);
    [
        format!(
            "{}={}; Max-Age={}; {}",
            settings.access_name,
            session.access_token.as_str(),
            seconds(session.access_expires_at),
            attributes(settings, "/")
        ),
        format!(
            "{}={}; Max-Age={}; {}",
            settings.refresh_name,
            session.refresh_token.expose(),
            seconds(session.refresh_expires_at),
            attributes(settings, REFRESH_COOKIE_PATH)
        ),
    ]
}

fn cleared_cookies(settings: &CookieSettings) -> [String; 2] {
    [
        format!("{}=; Max-Age=0; {}", settings.access_name, attributes(settings, "/")),
        format!("{}=; Max-Age=0; {}", settings.refresh_name, attributes(settings, REFRESH_COOKIE_PATH)),
    ]
}
