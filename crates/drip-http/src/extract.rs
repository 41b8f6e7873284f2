//! Extractors: the authenticated user (bearer token, or the session cookie on the
//! original's endpoints), and JSON bodies and query strings whose rejections become
//! `ApiError`s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use drip_core::accounts::model::Username;
use drip_core::{TokenFamilyId, UserId};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, LegacyError};
use crate::state::AppState;

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of the cookie `name`, from any `Cookie` header.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"'))
}

/// Whether a browser request comes from this site: no `Origin` (not a browser acting for
/// another page), or an `Origin` naming this host or one of the `allowed` (CORS) origins.
/// An `Origin` that is not text is foreign.
pub(crate) fn from_this_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str().map(str::trim) else { return false };
    if allowed.iter().any(|a| a.trim() == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::trim);
    origin.split_once("://").map(|(_, authority)| authority).is_some_and(|a| Some(a) == host)
}

/// A user authenticated by an access token.
#[derive(Debug, Clone)]
pub(crate) struct AuthUser {
    /// Who they are.
    pub(crate) id: UserId,
    /// Their username when the token was issued.
    pub(crate) username: Username,
    /// The session the token belongs to.
    pub(crate) session: TokenFamilyId,
}

/// Checks an access token.
///
/// # Errors
/// 401 `invalid_token` / `token_expired`, or a backend failure.
pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state.accounts().authenticate(token).await?;
    Ok(AuthUser { id: claims.user_id, username: claims.username, session: claims.session })
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        authenticate(state, token).await
    }
}

/// A user of the original's endpoints: a bearer token or the session cookie.
#[derive(Debug, Clone)]
pub(crate) struct LegacyUser(pub(crate) AuthUser);

impl FromRequestParts<AppState> for LegacyUser {
    type Rejection = LegacyError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, LegacyError> {
        let token = bearer(&parts.headers)
            .or_else(|| cookie(&parts.headers, &state.settings().cookies.access_name))
            .ok_or_else(LegacyError::unauthenticated)?;
        match authenticate(state, token).await {
            Ok(user) => Ok(Self(user)),
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => Err(LegacyError::unauthenticated()),
            Err(e) => Err(LegacyError::unexpected(format!("{e:?}"))),
        }
    }
}

/// A JSON request body; malformed JSON is 400 `invalid_json`, a wrong shape 400
/// `invalid_request`, another content type 415, an oversized body 413.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection, state.settings().max_json_bytes)),
        }
    }
}

/// A JSON request body that may be left out: an empty body is `T::default()`, whatever
/// the request's `Content-Type`; anything else is read as a [`JsonBody`], with its
/// refusals (the body is read first, within the JSON limit).
#[derive(Debug)]
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        // Read within the router's body limit (`max_json_bytes`), as `Json` reads.
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(
            |rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(state.settings().max_json_bytes as u64),
                _ => ApiError::bad_request("invalid_request", rejection.body_text()),
            },
        )?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        JsonBody::from_request(request, state).await.map(|JsonBody(value)| Self(value))
    }
}

fn json_rejection(rejection: &JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("invalid_json", e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::bad_request("invalid_request", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type("application/json"),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(limit as u64),
        other => ApiError::bad_request("invalid_request", other.body_text()),
    }
}

/// Whether the request's query string decodes to UTF-8. Deserializing it replaces invalid
/// bytes with U+FFFD, so `name=%FF.txt` and `name=%FE.txt` would both name `\u{fffd}.txt`:
/// such a query is refused instead. (Decoding the whole string at once is enough: the
/// separators between parameters are ASCII, which no multi-byte sequence spans.)
pub(crate) fn query_is_utf8(uri: &Uri) -> bool {
    let query = uri.query().unwrap_or_default();
    percent_encoding::percent_decode_str(query).decode_utf8().is_ok()
}

/// Query parameters; a query that does not deserialize, or is not UTF-8 once decoded, is
/// 400 `invalid_query`.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if !query_is_utf8(&parts.uri) {
            return Err(ApiError::bad_request("invalid_query", "The query string is not valid UTF-8."));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_bearer_tokens_and_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; drip_session=tok; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(cookie(&headers, "drip_session"), Some("tok"));
        assert_eq!(cookie(&headers, "c"), Some("3"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
