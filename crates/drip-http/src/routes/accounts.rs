//! Account routes of `/api/v1`: register, login, refresh, logout, the current user and
//! their usage.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use drip_core::TokenFamilyId;
use drip_core::accounts::error::{EndSessionError, RegisterError};
use drip_core::accounts::model::{RefreshToken, RegisterRequest, Session};

use crate::client_ip::{ClientIp, ClientOrigin};
use crate::dto::{
    ChangePasswordBody, CloseAccountBody, ErrorBody, LoginBody, OpenSessionDto, RefreshBody, RegisterBody,
    SessionDto, SessionListDto, UsageDto, UserDto,
};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody};
use crate::middleware::no_store;
use crate::openapi::{InvalidJson, JsonRefused, Unauthenticated};
use crate::state::AppState;

/// Registers a user and logs them in.
#[utoipa::path(
    post, path = "/api/v1/users",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered and logged in", body = SessionDto),
        (status = 400, description = "`invalid_registration` (with `details.fields`), `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Response, ApiError> {
    let request =
        RegisterRequest::parse(&body.username, &body.email, &body.password).map_err(RegisterError::from)?;
    let session = state.accounts().register_from(request, origin.label).await?;
    Ok(session_response(StatusCode::CREATED, &session))
}

/// A new session's tokens, never cached.
fn session_response(status: StatusCode, session: &Session) -> Response {
    no_store((status, Json(SessionDto::from(session))).into_response())
}

/// Logs in: an access token (bearer) and a refresh token.
#[utoipa::path(
    post, path = "/api/v1/sessions",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = SessionDto),
        InvalidJson,
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins lately for the account or the client (`Retry-After`, `details.retry_after`)", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let session = state.accounts().login_from(&body.username, &body.password, &origin).await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// Trades a refresh token for a new token pair; the old refresh token is spent, and
/// presenting it again revokes the whole session.
#[utoipa::path(
    post, path = "/api/v1/sessions/refresh",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = SessionDto),
        InvalidJson,
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_expired`, `refresh_token_revoked`, `refresh_token_reused`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many unknown refresh tokens lately from the client (`Retry-After`)", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    client: ClientIp,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response, ApiError> {
    let token = RefreshToken::from_client(&body.refresh_token);
    let session = state.accounts().refresh_from(&token, Some(client.ip())).await?;
    Ok(session_response(StatusCode::OK, &session))
}

/// Logs out: revokes the session the refresh token belongs to (unknown tokens are
/// accepted silently).
#[utoipa::path(
    delete, path = "/api/v1/sessions",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "Logged out"),
        InvalidJson,
        JsonRefused,
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    state.accounts().logout(&RefreshToken::from_client(&body.refresh_token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The authenticated user's open sessions (every device or browser logged in), the most
/// recently active first; the one asking is `current`.
#[utoipa::path(
    get, path = "/api/v1/me/sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The open sessions", body = SessionListDto),
        Unauthenticated,
    )
)]
pub(crate) async fn sessions(State(state): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let sessions = state.accounts().sessions(&user.id).await?;
    let sessions = sessions.iter().map(|s| OpenSessionDto::of(s, &user.session)).collect();
    Ok(no_store(Json(SessionListDto { sessions }).into_response()))
}

/// Ends one of the authenticated user's sessions, as logging out there would: its
/// refresh tokens are revoked, its access tokens and event connections stop (at once on
/// this node, within a session check on others). Ending the current one logs out.
#[utoipa::path(
    delete, path = "/api/v1/me/sessions/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id (from the list)")),
    responses(
        (status = 204, description = "The session is over"),
        (status = 404, description = "`session_not_found`: no open session of yours has this id", body = ErrorBody),
        Unauthenticated,
    )
)]
pub(crate) async fn end_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session = TokenFamilyId::parse(&id).map_err(|_| EndSessionError::NotFound)?;
    state.accounts().end_own_session(&user.id, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The authenticated user.
#[utoipa::path(
    get, path = "/api/v1/me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserDto),
        Unauthenticated,
    )
)]
pub(crate) async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<UserDto>, ApiError> {
    let owner = state.accounts().owner(&user.id).await?.ok_or_else(ApiError::invalid_token)?;
    Ok(Json(UserDto::from(&owner)))
}

/// Closes the authenticated user's account: every file they created (and its content),
/// the shares they received, their sessions and the user go. Needs their password.
#[utoipa::path(
    delete, path = "/api/v1/me",
    security(("bearer" = [])),
    request_body = CloseAccountBody,
    responses(
        (status = 204, description = "The account is closed; its tokens are no longer valid"),
        InvalidJson,
        (status = 401, description = "`invalid_credentials` (wrong password), `unauthenticated`, `invalid_token`, `token_expired`", body = ErrorBody),
        (status = 409, description = "`uploads_running`: files kept arriving while closing; try again", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords lately (`Retry-After`)", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn close(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<CloseAccountBody>,
) -> Result<StatusCode, ApiError> {
    state.accounts().close_account(state.storage(), &user.id, Some(&body.password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the authenticated user's password. Every other session of theirs ends (their
/// refresh tokens are revoked, their access tokens and event connections stop at once on
/// this node and within a session check on others); the one asking stays logged in.
#[utoipa::path(
    put, path = "/api/v1/me/password",
    security(("bearer" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed; the other sessions are ended"),
        (status = 401, description = "`invalid_credentials` (the current password is wrong), `unauthenticated`, `invalid_token`, `token_expired`", body = ErrorBody),
        (status = 400, description = "`invalid_password`: the new password is not 8–100 characters; `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords lately (`Retry-After`)", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts()
        .change_password(&user.id, &user.session, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Files and bytes the authenticated user stored, their quota and what is still free.
#[utoipa::path(
    get, path = "/api/v1/me/usage",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage and quota", body = UsageDto),
        Unauthenticated,
    )
)]
pub(crate) async fn usage(State(state): State<AppState>, user: AuthUser) -> Result<Json<UsageDto>, ApiError> {
    let storage = state.storage();
    let (usage, allowance) = tokio::try_join!(storage.usage(&user.id), storage.allowance(&user.id))?;
    Ok(Json(UsageDto::new(usage, allowance)))
}
