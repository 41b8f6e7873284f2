//! The original ElixirDrip JSON endpoints, same shapes, for existing clients:
//! `GET /api/files?path=$`, `POST /api/sessions` (sets the session cookies) and
//! `DELETE /api/sessions`.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use drip_core::accounts::error::LoginError;
use drip_core::accounts::model::{RefreshToken, Session};
use drip_core::storage::model::{FolderPath, MAX_PAGE_SIZE, PageRequest};
use serde::Deserialize;
use serde_json::json;

use crate::dto::{LegacyFileDto, LegacyFolderDto, LegacyListingDto, LegacyResponse, LoginBody};
use crate::error::LegacyError;
use crate::extract::{LegacyUser, cookie};
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
    query: Result<axum::extract::Query<FilesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LegacyResponse<LegacyListingDto>>, LegacyError> {
    let path = query
        .ok()
        .and_then(|q| q.0.path)
        .ok_or_else(|| LegacyError::bad_request("Missing 'path' query parameter"))?;
    let folder =
        FolderPath::parse(&path).map_err(|_| LegacyError::bad_request("The path provided is invalid."))?;
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
pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Result<Response, LegacyError> {
    let body = credentials(&state, request).await?;
    let session = match state.accounts().login(&body.username, &body.password).await {
        Ok(session) => session,
        Err(LoginError::InvalidCredentials) => return Err(LegacyError::invalid_login()),
        Err(LoginError::Backend(e)) => return Err(LegacyError::unexpected(e)),
    };
    let message = format!("Logged in as {}", session.owner.username);
    let mut response = Json(json!({ "response": message })).into_response();
    for cookie in session_cookies(&state.settings().cookies, &session) {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// `DELETE /api/sessions`: revokes the session of the refresh cookie, clears both
/// cookies, answers `{"response":"Logged out"}`.
pub(crate) async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
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
