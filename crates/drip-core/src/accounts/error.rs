//! One error enum per accounts use case.

use super::model::InvalidRegistration;
use super::ports::{HashError, TokenError};
use super::throttle::{Refused, Throttled};
use crate::error::BackendError;

/// The infrastructure failure behind a failed password hash or verification (a stored
/// hash the hasher cannot read is one too: nothing a user can fix).
pub(super) fn hash_failure(e: HashError) -> BackendError {
    match e {
        HashError::MalformedHash => BackendError::msg("stored password hash is malformed"),
        HashError::Backend(b) => b,
    }
}

/// The infrastructure failure behind an access token that could not be signed.
pub(super) fn signing_failure(e: TokenError) -> BackendError {
    match e {
        TokenError::Backend(b) => b,
        other => BackendError::new("could not sign the access token", other),
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

/// Why login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password (deliberately not told apart).
    #[error("Invalid username/password combination.")]
    InvalidCredentials,
    /// Too many failures lately for this account or client; nothing was checked.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown token, or its user is gone.
    #[error("invalid refresh token")]
    Invalid,
    /// Too many unknown tokens from this client lately; nothing was checked.
    #[error(transparent)]
    Throttled(#[from] Throttled),
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

/// Why a download ticket was refused.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Malformed, forged, not a ticket (an access token, say), or its session ended.
    #[error("no such download")]
    Invalid,
    /// Past its expiry.
    #[error("this download link has expired")]
    Expired,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an account could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseAccountError {
    /// The password is not the user's.
    #[error("Invalid username/password combination.")]
    InvalidCredentials,
    /// Too many wrong passwords lately; nothing was checked.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// New files kept arriving while the account was closing; try again.
    #[error("files kept arriving while the account was closing")]
    StillUploading,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a password could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password given is not the user's.
    #[error("the current password is not right")]
    InvalidCredentials,
    /// The new password breaks the rules (8 to 100 characters).
    #[error("a password has 8 to 100 characters")]
    InvalidPassword,
    /// Too many wrong passwords lately; nothing was checked.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a session could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// The user has no open session with this id (never had, or it ended already).
    #[error("no such session")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A refused attempt becomes each use case's own `Throttled` or `Backend` variant.
macro_rules! from_refused {
    ($($error:ident),*) => {$(
        impl From<Refused> for $error {
            fn from(e: Refused) -> Self {
                match e {
                    Refused::Throttled(t) => Self::Throttled(t),
                    Refused::Backend(b) => Self::Backend(b),
                }
            }
        }
    )*};
}

from_refused!(LoginError, RefreshError, CloseAccountError, ChangePasswordError);
