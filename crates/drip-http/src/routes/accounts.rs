//! Account routes of `/api/v1`: register, login, refresh, logout, the current user and
//! their usage.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use drip_core::accounts::error::RegisterError;
use drip_core::accounts::model::{RefreshToken, RegisterRequest};

use crate::dto::{ErrorBody, LoginBody, RefreshBody, RegisterBody, SessionDto, UsageDto, UserDto};
use crate::error::ApiError;
use crate::extract::{AuthUser, JsonBody};
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
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<SessionDto>), ApiError> {
    let request =
        RegisterRequest::parse(&body.username, &body.email, &body.password).map_err(RegisterError::from)?;
    let session = state.accounts().register(request).await?;
    Ok((StatusCode::CREATED, Json(SessionDto::from(&session))))
}

/// Logs in: an access token (bearer) and a refresh token.
#[utoipa::path(
    post, path = "/api/v1/sessions",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = SessionDto),
        InvalidJson,
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        JsonRefused,
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<SessionDto>, ApiError> {
    let session = state.accounts().login(&body.username, &body.password).await?;
    Ok(Json(SessionDto::from(&session)))
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
        JsonRefused,
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<SessionDto>, ApiError> {
    let session = state.accounts().refresh(&RefreshToken::from_client(&body.refresh_token)).await?;
    Ok(Json(SessionDto::from(&session)))
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

/// Files and bytes the authenticated user stored.
#[utoipa::path(
    get, path = "/api/v1/me/usage",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage", body = UsageDto),
        Unauthenticated,
    )
)]
pub(crate) async fn usage(State(state): State<AppState>, user: AuthUser) -> Result<Json<UsageDto>, ApiError> {
    Ok(Json(UsageDto::from(state.storage().usage(&user.id).await?)))
}
