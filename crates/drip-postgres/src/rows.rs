//! Rows to domain values, through the domain's validating constructors: a stored value
//! they refuse is reported as a corrupt row, never trusted.

use chrono::{DateTime, Utc};
use drip_core::accounts::model::{
    Email, Owner, PasswordHash, RefreshTokenHash, RefreshTokenRecord, User, Username,
};
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FolderPath, Media, MediaParts, StorageKey, UploadedContent,
};
use drip_core::{BackendError, MediaId, TokenFamilyId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::{backend, corrupt, corrupt_msg};

/// The columns [`media`] reads, prefixed with the `m` alias of `storage_media`.
macro_rules! media_columns {
    () => {
        "m.id, m.creator_id, m.file_name, m.full_path, m.content_type, m.storage_key, m.algorithm, \
         m.chunk_size, m.key_id, m.wrapped_key, m.metadata, m.file_size, m.digest, m.uploaded_at, \
         m.created_at, m.updated_at"
    };
}
pub(crate) use media_columns;

/// Reads one column.
fn get<'r, T>(row: &'r PgRow, table: &str, column: &str) -> Result<T, BackendError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| backend(format!("reading {table}.{column}"), e))
}

fn user_id(row: &PgRow, table: &str, column: &str) -> Result<UserId, BackendError> {
    let text: String = get(row, table, column)?;
    UserId::parse(&text).map_err(|e| corrupt(table, column, e))
}

fn hash32(row: &PgRow, table: &str, column: &str) -> Result<[u8; 32], BackendError> {
    let bytes: Vec<u8> = get(row, table, column)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt_msg(table, column, "not 32 bytes"))
}

fn unsigned(row: &PgRow, table: &str, column: &str) -> Result<u64, BackendError> {
    let value: i64 = get(row, table, column)?;
    u64::try_from(value).map_err(|e| corrupt(table, column, e))
}

/// A user's public face from a row with `id`, `username`, `email`.
pub(crate) fn owner(row: &PgRow) -> Result<Owner, BackendError> {
    let username: String = get(row, "users", "username")?;
    let email: String = get(row, "users", "email")?;
    Ok(Owner {
        id: user_id(row, "users", "id")?,
        username: Username::parse(&username).map_err(|e| corrupt("users", "username", e))?,
        email: Email::parse(&email).map_err(|e| corrupt("users", "email", e))?,
    })
}

/// A user from a row of `users`.
pub(crate) fn user(row: &PgRow) -> Result<User, BackendError> {
    let hash: String = get(row, "users", "password_hash")?;
    Ok(User {
        owner: owner(row)?,
        password_hash: PasswordHash::parse(&hash).map_err(|e| corrupt("users", "password_hash", e))?,
        created_at: get(row, "users", "created_at")?,
    })
}

/// A refresh token record from a row of `refresh_tokens`.
pub(crate) fn refresh_token(row: &PgRow) -> Result<RefreshTokenRecord, BackendError> {
    const T: &str = "refresh_tokens";
    let family: String = get(row, T, "family_id")?;
    Ok(RefreshTokenRecord {
        hash: RefreshTokenHash::from_bytes(hash32(row, T, "token_hash")?),
        user_id: user_id(row, T, "user_id")?,
        family_id: TokenFamilyId::parse(&family).map_err(|e| corrupt(T, "family_id", e))?,
        issued_at: get(row, T, "issued_at")?,
        expires_at: get(row, T, "expires_at")?,
        used_at: get(row, T, "used_at")?,
        revoked_at: get(row, T, "revoked_at")?,
    })
}

/// A media from a row with the [`media_columns`].
pub(crate) fn media(row: &PgRow) -> Result<Media, BackendError> {
    const T: &str = "storage_media";
    let id: String = get(row, T, "id")?;
    let name: String = get(row, T, "file_name")?;
    let folder: String = get(row, T, "full_path")?;
    let content_type: String = get(row, T, "content_type")?;
    let storage_key: String = get(row, T, "storage_key")?;
    let algorithm: String = get(row, T, "algorithm")?;
    let chunk_size: i64 = get(row, T, "chunk_size")?;
    let key_id: String = get(row, T, "key_id")?;
    let wrapped_key: Vec<u8> = get(row, T, "wrapped_key")?;
    let metadata: sqlx::types::Json<serde_json::Value> = get(row, T, "metadata")?;
    let uploaded_at: Option<DateTime<Utc>> = get(row, T, "uploaded_at")?;
    let digest: Option<Vec<u8>> = get(row, T, "digest")?;

    let chunk_size = u32::try_from(chunk_size).map_err(|e| corrupt(T, "chunk_size", e))?;
    let serde_json::Value::Object(metadata) = metadata.0 else {
        return Err(corrupt_msg(T, "metadata", "not a json object"));
    };
    let uploaded = match (uploaded_at, digest) {
        (None, None) => None,
        (Some(uploaded_at), Some(digest)) => Some(UploadedContent {
            size: unsigned(row, T, "file_size")?,
            digest: Digest::from_bytes(
                <[u8; 32]>::try_from(digest.as_slice())
                    .map_err(|_| corrupt_msg(T, "digest", "not 32 bytes"))?,
            ),
            uploaded_at,
        }),
        _ => return Err(corrupt_msg(T, "uploaded_at", "digest and upload time disagree")),
    };
    Ok(Media::from_parts(MediaParts {
        id: MediaId::parse(&id).map_err(|e| corrupt(T, "id", e))?,
        creator: user_id(row, T, "creator_id")?,
        name: FileName::parse(&name).map_err(|e| corrupt(T, "file_name", e))?,
        folder: FolderPath::parse(&folder).map_err(|e| corrupt(T, "full_path", e))?,
        content_type: ContentType::parse(&content_type).map_err(|e| corrupt(T, "content_type", e))?,
        storage_key: StorageKey::parse(&storage_key).map_err(|e| corrupt(T, "storage_key", e))?,
        envelope: Envelope::new(&algorithm, chunk_size, &key_id, wrapped_key)
            .map_err(|e| corrupt(T, "envelope", e))?,
        metadata,
        uploaded,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    }))
}

/// A size or count for a signed 64-bit column.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, BackendError> {
    i64::try_from(value).map_err(|e| BackendError::new(format!("{what} does not fit in 64 signed bits"), e))
}
