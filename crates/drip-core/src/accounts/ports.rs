//! Ports of the accounts domain: user repository, password hashing, access tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{
    AccessToken, AttemptKey, Claims, DownloadTicket, Failures, Owner, Password, PasswordHash,
    RefreshTokenHash, RefreshTokenRecord, SessionSummary, TicketClaims, User, Username,
};
use crate::error::BackendError;
use crate::ids::{TokenFamilyId, UserId};

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Another user has the same username, compared case-insensitively.
    #[error("username already taken")]
    UsernameTaken,
    /// The id is already in use (a clock that repeats ids).
    #[error("user id already exists")]
    IdTaken,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a user could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteUserError {
    /// Media they created (uploaded or not) still exist: those go first.
    #[error("the user still has files")]
    HasFiles,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// The token was unspent, unrevoked and unexpired; it is now marked used.
    /// The record is returned as it is after marking.
    Consumed(RefreshTokenRecord),
    /// The token exists but was already used, revoked or has expired; nothing was changed.
    /// The record is returned as stored.
    Rejected(RefreshTokenRecord),
    /// No token has this hash.
    Unknown,
}

/// Users and their refresh tokens.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync + 'static {
    /// Creates a user.
    ///
    /// # Errors
    /// - [`CreateUserError::UsernameTaken`] when a user with the same username,
    ///   compared case-insensitively, exists (also under concurrent creation: exactly one
    ///   of two racing creations succeeds);
    /// - [`CreateUserError::IdTaken`] when the id exists;
    /// - [`CreateUserError::Backend`] for infrastructure failures.
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError>;

    /// The user with this username, compared case-insensitively.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only; an unknown name is `Ok(None)`.
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, BackendError>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only; an unknown id is `Ok(None)`.
    async fn find_owner(&self, id: &UserId) -> Result<Option<Owner>, BackendError>;

    /// Stores a refresh token record (its hash, never the token).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures, including a duplicate hash or an
    /// unknown user.
    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> Result<(), BackendError>;

    /// Atomically spends a refresh token: if the token with `hash` is unused, unrevoked
    /// and `expires_at > now`, sets `used_at = now` and answers
    /// [`ConsumeOutcome::Consumed`]; otherwise changes nothing and answers
    /// [`ConsumeOutcome::Rejected`] or [`ConsumeOutcome::Unknown`]. Of two concurrent calls
    /// with the same hash, at most one is `Consumed`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn consume_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, BackendError>;

    /// Revokes every not-yet-revoked token of a family (sets `revoked_at = at`); answers how
    /// many tokens changed. An unknown family changes nothing.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn revoke_token_family(
        &self,
        family: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<u64, BackendError>;

    /// The family of the token with this hash, whatever its state.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only; unknown is `Ok(None)`.
    async fn find_token_family(&self, hash: &RefreshTokenHash)
    -> Result<Option<TokenFamilyId>, BackendError>;

    /// Whether the session `family` of `user` is open: the user exists and a token of the
    /// family is not revoked (logout and a detected reuse revoke the family; deleting the
    /// user deletes its tokens). Used, unrevoked tokens keep the session open: rotation
    /// spends one before it issues the next.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn session_active(&self, user: &UserId, family: &TokenFamilyId) -> Result<bool, BackendError>;

    /// The sessions of `user` that can still go on at `now`: every family of theirs with a
    /// token unrevoked and `expires_at > now`, summed up over all its tokens (first and
    /// newest issue time, newest expiry, and its client: every token of a family carries
    /// the one it was opened with), newest activity first (ties by family id). Unknown
    /// users have none.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, BackendError>;

    /// Replaces a user's password hash (`updated_at = at`) and revokes every session of
    /// theirs but `keep` (every unrevoked refresh token of another family), in one
    /// transaction. Answers the sessions it revoked, each once; `None` (nothing changed)
    /// for an unknown user.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn change_password(
        &self,
        user: &UserId,
        hash: &PasswordHash,
        keep: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<TokenFamilyId>>, BackendError>;

    /// Deletes a user with their refresh tokens, the shares they received and their
    /// folder statistics; answers whether they existed. The username is free afterwards.
    ///
    /// # Errors
    /// [`DeleteUserError::HasFiles`] while media they created remain (nothing changes);
    /// [`DeleteUserError::Backend`] for infrastructure failures.
    async fn delete_user(&self, id: &UserId) -> Result<bool, DeleteUserError>;

    /// The failures counted against `key`, if any were recorded after `since` (older ones
    /// are forgotten).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn failures(
        &self,
        key: &AttemptKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Failures>, BackendError>;

    /// Counts a failure against `key` at `now` (starting again from 1 when the last one
    /// was at or before `since`) and answers the new count; atomic under concurrency (two
    /// failures count two). Keys whose last failure was at or before `since` may be
    /// deleted on the way.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn record_failure(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<u32, BackendError>;

    /// Forgets the failures counted against `key`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn clear_failures(&self, key: &AttemptKey) -> Result<(), BackendError>;

    /// Every user, ordered by username case-insensitively (for admin tooling).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_owners(&self) -> Result<Vec<Owner>, BackendError>;
}

/// Why hashing or verifying a password failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The stored hash could not be parsed by the hasher.
    #[error("stored password hash is malformed")]
    MalformedHash,
    /// Infrastructure failure (e.g. the blocking pool is gone).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Salted slow password hashing (argon2id in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes a password with a fresh salt.
    ///
    /// # Errors
    /// [`HashError::Backend`] when hashing cannot run.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Whether `password` matches `hash`.
    ///
    /// # Errors
    /// [`HashError::MalformedHash`] when `hash` is not one this hasher reads;
    /// [`HashError::Backend`] when verification cannot run. A wrong password is `Ok(false)`.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;

    /// Spends the same time as a failed [`PasswordHasher::verify`] against a real hash,
    /// so that an unknown user cannot be told from a wrong password by timing.
    async fn dummy_verify(&self, password: &Password);
}

/// Why a token could not be issued or verified.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, forged, wrongly signed, of another algorithm, or not yet valid.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("expired token")]
    Expired,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Signs and verifies access tokens (JWT in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenIssuer: Send + Sync + 'static {
    /// Signs the claims into a token.
    ///
    /// # Errors
    /// [`TokenError::Backend`] when signing fails.
    async fn issue(&self, claims: &Claims) -> Result<AccessToken, TokenError>;

    /// Verifies a token's signature and algorithm and its time claims against `now`
    /// (`exp > now`, `nbf`/`iat <= now` allowing no more leeway than the adapter documents),
    /// and returns its claims.
    ///
    /// # Errors
    /// [`TokenError::Expired`] for an expired token, [`TokenError::Invalid`] for anything
    /// else wrong with it.
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError>;

    /// Signs a download ticket: URL-safe text that [`TokenIssuer::verify`] refuses (it is
    /// no access token) and [`TokenIssuer::verify_ticket`] accepts.
    ///
    /// # Errors
    /// [`TokenError::Backend`] when signing fails.
    async fn issue_ticket(&self, claims: &TicketClaims) -> Result<DownloadTicket, TokenError>;

    /// Verifies a download ticket like [`TokenIssuer::verify`] does an access token, and
    /// refuses access tokens.
    ///
    /// # Errors
    /// [`TokenError::Expired`] for an expired ticket, [`TokenError::Invalid`] for anything
    /// else wrong with it (an access token included).
    async fn verify_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<TicketClaims, TokenError>;
}
