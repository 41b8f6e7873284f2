//! Translation of sqlx/PostgreSQL errors: constraint names to domain variants, everything
//! else to a [`BackendError`] with context (transient when retrying may help, see
//! [`drip_sql::error`]).

use drip_core::BackendError;

/// Constraint names of the schema (migrations/) that map to domain errors.
pub(crate) mod constraint {
    /// Primary key of users.
    pub(crate) const USERS_PKEY: &str = "users_pkey";
    /// Case-insensitive unique usernames.
    pub(crate) const USERNAME_LOWER: &str = "users_username_lower_key";
    /// Primary key of media.
    pub(crate) const MEDIA_PKEY: &str = "storage_media_pkey";
    /// The creator of a media must be a user.
    pub(crate) const MEDIA_CREATOR_FKEY: &str = "storage_media_creator_id_fkey";
    /// One (folder, name) per creator.
    pub(crate) const MEDIA_CREATOR_FOLDER_NAME: &str = "storage_media_creator_folder_name_key";
    /// A media is shared with a user at most once.
    pub(crate) const SINGLE_SHARE: &str = "media_owners_single_share_key";
    /// Shares go to users.
    pub(crate) const OWNERS_USER_FKEY: &str = "media_owners_user_id_fkey";
    /// Shares are of media.
    pub(crate) const OWNERS_MEDIA_FKEY: &str = "media_owners_media_id_fkey";
    /// Refresh tokens are unique by hash.
    pub(crate) const REFRESH_TOKENS_PKEY: &str = "refresh_tokens_pkey";
    /// Refresh tokens belong to users.
    pub(crate) const REFRESH_TOKENS_USER_FKEY: &str = "refresh_tokens_user_id_fkey";
}

/// The name of the constraint `error` violates, if it is a constraint violation.
pub(crate) fn violated(error: &sqlx::Error) -> Option<&str> {
    error.as_database_error().and_then(|e| e.constraint())
}

/// SQLSTATEs after which the same statement may succeed later: serialization failure,
/// deadlock, too many connections, the server shutting down or starting up.
const TRANSIENT_STATES: &[&str] = &["40001", "40P01", "53300", "57P01", "57P02", "57P03"];

/// Wraps a driver error with what the adapter was doing (transient for the
/// [`TRANSIENT_STATES`]).
pub(crate) fn backend(context: impl Into<String>, error: sqlx::Error) -> BackendError {
    drip_sql::error::backend(context, error, is_transient_code)
}

/// Whether a SQLSTATE is one of the [`TRANSIENT_STATES`].
pub(crate) fn is_transient_code(code: &str) -> bool {
    TRANSIENT_STATES.contains(&code)
}
