//! Translation of sqlx/PostgreSQL errors: constraint names to domain variants, everything
//! else to a [`BackendError`] with context (transient when retrying may help, see
//! [`drip_sql::error`]).

use drip_core::BackendError;
use drip_sql::Dialect;

use crate::dialect::Postgres;

/// Constraint names of the schema (migrations/) that map to domain errors: the ones both
/// schemas have, and PostgreSQL's foreign keys (SQLite does not name those).
pub(crate) mod constraint {
    pub(crate) use drip_sql::constraint::*;

    /// The creator of a media must be a user.
    pub(crate) const MEDIA_CREATOR_FKEY: &str = "storage_media_creator_id_fkey";
    /// Shares go to users.
    pub(crate) const OWNERS_USER_FKEY: &str = "media_owners_user_id_fkey";
    /// Shares are of media.
    pub(crate) const OWNERS_MEDIA_FKEY: &str = "media_owners_media_id_fkey";
    /// Refresh tokens belong to users.
    pub(crate) const REFRESH_TOKENS_USER_FKEY: &str = "refresh_tokens_user_id_fkey";
}

/// The name of the constraint `error` violates, if it is a constraint violation.
pub(crate) fn violated(error: &sqlx::Error) -> Option<&str> {
    error.as_database_error().and_then(|e| e.constraint())
}

/// Wraps a driver error with what the adapter was doing (transient when retrying may help:
/// [`Postgres::is_transient_code`]).
pub(crate) fn backend(context: impl Into<String>, error: sqlx::Error) -> BackendError {
    Postgres::backend(context, error)
}
