//! One error enum per accounts use case.

use super::model::InvalidRegistration;
use super::ports::{HashError, TokenError};
use crate::error::BackendError;

/// Why a session could not be opened (shared by register, login and refresh).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Signing the access token failed.
    #[error("could not sign the access token")]
    Token(#[source] TokenError),
    /// Persisting the refresh token failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<TokenError> for SessionError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Backend(b) => Self::Backend(b),
            other => Self::Token(other),
        }
    }
}

fn hash_to_backend(e: HashError) -> BackendError {
    match e {
        HashError::MalformedHash => BackendError::msg("stored password hash is malformed"),
        HashError::Backend(b) => b,
    }
}

fn session_to_backend(e: SessionError) -> BackendError {
    match e {
        SessionError::Token(t) => BackendError::new("could not sign the access token", t),
        SessionError::Backend(b) => b,
    }
}

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// One or more fields are invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidRegistration),
    /// The username is taken (case-insensitively).
    #[error("has already been taken")]
    UsernameTaken,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<HashError> for RegisterError {
    fn from(e: HashError) -> Self {
        Self::Backend(hash_to_backend(e))
    }
}

impl From<SessionError> for RegisterError {
    fn from(e: SessionError) -> Self {
        Self::Backend(session_to_backend(e))
    }
}

/// Why login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password (deliberately not told apart).
    #[error("Invalid username/password combination.")]
    InvalidCredentials,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> Self {
        Self::Backend(hash_to_backend(e))
    }
}

impl From<SessionError> for LoginError {
    fn from(e: SessionError) -> Self {
        Self::Backend(session_to_backend(e))
    }
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown token, or its user is gone.
    #[error("invalid refresh token")]
    Invalid,
    /// The token expired.
    #[error("refresh token expired")]
    Expired,
    /// The token (or its family) was revoked, e.g. by logout.
    #[error("refresh token revoked")]
    Revoked,
    /// The token was already spent; its whole family is now revoked.
    #[error("refresh token already used; the session was revoked")]
    Reused,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<SessionError> for RefreshError {
    fn from(e: SessionError) -> Self {
        Self::Backend(session_to_backend(e))
    }
}

/// Why logout failed.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Malformed, forged, wrong algorithm or not yet valid.
    #[error("invalid access token")]
    Invalid,
    /// Expired.
    #[error("expired access token")]
    Expired,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid => Self::Invalid,
            TokenError::Expired => Self::Expired,
            TokenError::Backend(b) => Self::Backend(b),
        }
    }
}
