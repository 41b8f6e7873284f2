//! The constraint names both schemas give the constraints that map to domain errors
//! (each adapter adds the names only its schema has, e.g. PostgreSQL's foreign keys).

/// Primary key of users.
pub const USERS_PKEY: &str = "users_pkey";
/// Case-insensitive unique usernames.
pub const USERNAME_LOWER: &str = "users_username_lower_key";
/// Primary key of media.
pub const MEDIA_PKEY: &str = "storage_media_pkey";
/// One (folder, name) per creator, the trash aside (a partial unique index since the trash).
pub const MEDIA_CREATOR_FOLDER_NAME: &str = "storage_media_creator_folder_name_key";
/// A media is shared with a user at most once.
pub const SINGLE_SHARE: &str = "media_owners_single_share_key";
/// Refresh tokens are unique by hash.
pub const REFRESH_TOKENS_PKEY: &str = "refresh_tokens_pkey";
