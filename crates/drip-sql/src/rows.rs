//! Rows to domain values, through the domain's validating constructors: a stored value
//! they refuse is reported as a corrupt row, never trusted.
//!
//! Columns of the types both dialects decode natively are read through [`Reads`]; the
//! three a dialect stores its own way (timestamps, optional timestamps, JSON objects) through
//! its [`Dialect`]. Every conversion names the table and column it failed on.

use chrono::{DateTime, Utc};
use drip_core::accounts::model::{
    ClientLabel, Email, Failures, Owner, PasswordHash, RefreshTokenHash, RefreshTokenRecord, SessionSummary,
    User, Username,
};
use drip_core::jobs::model::{Job, JobState, Task};
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FolderPath, FolderSummary, Media, MediaParts, Share, StorageKey,
    TrashedMedia, UploadedContent, Usage, UserUsage,
};
use drip_core::{BackendError, JobId, MediaId, TokenFamilyId, UserId};
use sqlx::error::DatabaseError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use crate::folder_stats::FolderDelta;

use crate::error::{corrupt, corrupt_msg};

/// A row from which a column decodes as `T`.
pub trait Reads<T> {
    /// Reads `column` (of `table`, for the error's context).
    ///
    /// # Errors
    /// [`BackendError`] "reading {table}.{column}" when the column is missing or does not
    /// decode as `T`.
    fn read(&self, table: &str, column: &str) -> Result<T, BackendError>;
}

impl<R, T> Reads<T> for R
where
    R: sqlx::Row,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    for<'c> &'c str: ColumnIndex<R>,
{
    fn read(&self, table: &str, column: &str) -> Result<T, BackendError> {
        // Reading a column fails on the row at hand (missing, wrong type), never on the
        // connection: not transient.
        self.try_get(column).map_err(|e| BackendError::new(format!("reading {table}.{column}"), e))
    }
}

/// A driver's row that decodes the column types both dialects store natively.
pub trait SqlRow:
    Reads<String>
    + Reads<Option<String>>
    + Reads<i64>
    + Reads<Option<i64>>
    + Reads<bool>
    + Reads<Vec<u8>>
    + Reads<Option<Vec<u8>>>
{
}

impl<R> SqlRow for R where
    R: Reads<String>
        + Reads<Option<String>>
        + Reads<i64>
        + Reads<Option<i64>>
        + Reads<bool>
        + Reads<Vec<u8>>
        + Reads<Option<Vec<u8>>>
{
}

/// The row type of a dialect's database.
pub type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// The state of a locked media row that its writes need (`creator_id`, `full_path`,
/// `file_size`, `uploaded`, `reserved_bytes`, `trashed`).
#[derive(Debug)]
pub struct LockedMedia {
    /// Its creator.
    pub creator: UserId,
    /// Its folder.
    pub folder: FolderPath,
    /// Its size in bytes (0 until uploaded).
    pub size: i64,
    /// Whether its content is uploaded.
    pub uploaded: bool,
    /// Bytes of its creator's quota it holds while pending (0 once uploaded).
    pub reserved: i64,
    /// Whether it is in the trash (then it counts in no folder statistics).
    pub trashed: bool,
}

impl LockedMedia {
    /// Whether it counts in listings and folder statistics: uploaded, not trashed.
    #[must_use]
    pub fn listed(&self) -> bool {
        self.uploaded && !self.trashed
    }
}

/// A Rust value a query of `Db` binds.
pub trait Param<Db: Database>: for<'q> Encode<'q, Db> + Type<Db> + Send + 'static {}

impl<Db: Database, T> Param<Db> for T where T: for<'q> Encode<'q, Db> + Type<Db> + Send + 'static {}

/// How a dialect stores a timestamp: the value bound for it and read back.
pub trait TimeColumn: Sized {
    /// The value stored for `at`.
    fn store(at: DateTime<Utc>) -> Self;

    /// The timestamp a stored value stands for; `None` when out of range.
    fn load(self) -> Option<DateTime<Utc>>;
}

/// A native timestamp type (`timestamptz`): stored as is.
impl TimeColumn for DateTime<Utc> {
    fn store(at: DateTime<Utc>) -> Self {
        at
    }

    fn load(self) -> Option<DateTime<Utc>> {
        Some(self)
    }
}

/// Microseconds since the Unix epoch, the precision PostgreSQL keeps (finer digits are
/// dropped).
impl TimeColumn for i64 {
    fn store(at: DateTime<Utc>) -> Self {
        at.timestamp_micros()
    }

    fn load(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self)
    }
}

/// How a dialect stores a JSON object: the value bound for it and read back.
pub trait JsonColumn: Sized {
    /// The value stored for `value`.
    fn store(value: &serde_json::Map<String, serde_json::Value>) -> Self;

    /// The JSON a stored value holds.
    ///
    /// # Errors
    /// [`serde_json::Error`] when it is not JSON.
    fn load(self) -> Result<serde_json::Value, serde_json::Error>;
}

/// A native JSON type (`jsonb`).
impl JsonColumn for sqlx::types::Json<serde_json::Value> {
    fn store(value: &serde_json::Map<String, serde_json::Value>) -> Self {
        Self(serde_json::Value::Object(value.clone()))
    }

    fn load(self) -> Result<serde_json::Value, serde_json::Error> {
        Ok(self.0)
    }
}

/// JSON as text.
impl JsonColumn for String {
    fn store(value: &serde_json::Map<String, serde_json::Value>) -> Self {
        serde_json::Value::Object(value.clone()).to_string()
    }

    fn load(self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self)
    }
}

/// A query of `Db` with its arguments.
pub type Query<'q, Db> = sqlx::query::Query<'q, Db, <Db as Database>::Arguments>;

/// The two statements that apply folder-statistics deltas ([`crate::folder_stats`]) in a
/// dialect: `$1` is whose rows change, the deltas are bound by [`Dialect::bind_deltas`].
#[derive(Debug, Clone, Copy)]
pub struct DeltaStatements {
    /// Adds the deltas to the rows (creating missing ones), in one statement that locks rows
    /// in (user, parent, name) order so that concurrent writers cannot deadlock on them.
    pub upsert: &'static str,
    /// Drops the rows of the deltas' folders that no longer count any file.
    pub cleanup: &'static str,
}

/// The connection type of a dialect's database.
pub type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// What a SQL dialect does its own way — how it stores timestamps and JSON, locks rows,
/// begins a write, names violated constraints, applies folder-statistics deltas — and the
/// conversions of its rows to domain values (provided: they are the same for every dialect).
///
/// The repositories ([`crate::Repositories`]) are written once against this trait; an
/// adapter implements it for its driver.
pub trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx database.
    type Db: Database<
            Row: SqlRow + Reads<Self::Time> + Reads<Self::MaybeTime> + Reads<Self::Json>,
            Arguments: IntoArguments<Self::Db>,
            Connection: Migrate,
        >;

    /// How a timestamp column is stored.
    type Time: Param<Self::Db> + TimeColumn;

    /// How a nullable timestamp column is stored (`Option<Self::Time>`).
    type MaybeTime: Param<Self::Db> + From<Option<Self::Time>> + Into<Option<Self::Time>>;

    /// How a JSON column is stored.
    type Json: Param<Self::Db> + JsonColumn;

    /// The migrations of the dialect's schema (its adapter's `migrations/`).
    const MIGRATOR: &'static Migrator;

    /// The predicate, on `media_owners o`, of an uploaded ownership, as the schema's
    /// partial indexes state it (so that listings use them).
    const UPLOADED: &'static str;

    /// The statement that begins a transaction that writes.
    const BEGIN_WRITE: &'static str;

    /// What follows a `SELECT` of one `storage_media` row to lock it against concurrent
    /// writes until the transaction ends (empty where a write transaction already excludes
    /// every other writer).
    const LOCK: &'static str;

    /// What follows a `SELECT` of one `storage_media` row about to be deleted.
    const LOCK_TO_DELETE: &'static str;

    /// What follows the `SELECT` of the job to claim: a lock that concurrent claimers skip
    /// (empty where the write transaction already excludes them).
    const CLAIM_LOCK: &'static str;

    /// Whether a database error code says the same statement may succeed later.
    fn is_transient_code(code: &str) -> bool;

    /// The name of the unique, primary-key or check constraint a database error violates,
    /// as the schema names it (foreign keys: see [`crate::error::FOREIGN_KEY`]).
    fn constraint(error: &dyn DatabaseError) -> Option<&str>;

    /// A connection as an executor of queries.
    fn on(conn: &mut Conn<Self>) -> impl Executor<'_, Database = Self::Db>;

    /// A pool as an executor of queries.
    fn on_pool(pool: &Pool<Self::Db>) -> impl Executor<'_, Database = Self::Db>;

    /// The folder-statistics statements for everyone who sees a media (`$1` its id).
    const MEDIA_DELTAS: DeltaStatements;

    /// The folder-statistics statements for one user (`$1` the user's id).
    const USER_DELTAS: DeltaStatements;

    /// Binds `deltas`, as the dialect's [`DeltaStatements`] read them from `$2` on.
    fn bind_deltas<'q>(query: Query<'q, Self::Db>, deltas: &[FolderDelta]) -> Query<'q, Self::Db>;

    /// A timestamp to bind.
    fn time(at: DateTime<Utc>) -> Self::Time {
        Self::Time::store(at)
    }

    /// An optional timestamp to bind.
    fn maybe_time(at: Option<DateTime<Utc>>) -> Self::MaybeTime {
        at.map(Self::Time::store).into()
    }

    /// A JSON object to bind.
    fn json(value: &serde_json::Map<String, serde_json::Value>) -> Self::Json {
        Self::Json::store(value)
    }

    /// Reads a timestamp column.
    ///
    /// # Errors
    /// [`BackendError`] when the column does not decode or is out of range.
    fn read_time(row: &Row<Self>, table: &str, column: &str) -> Result<DateTime<Utc>, BackendError> {
        let stored: Self::Time = row.read(table, column)?;
        stored.load().ok_or_else(|| corrupt_msg(table, column, "timestamp out of range"))
    }

    /// Reads a nullable timestamp column.
    ///
    /// # Errors
    /// [`BackendError`] when the column does not decode or is out of range.
    fn read_maybe_time(
        row: &Row<Self>,
        table: &str,
        column: &str,
    ) -> Result<Option<DateTime<Utc>>, BackendError> {
        let stored: Self::MaybeTime = row.read(table, column)?;
        let stored: Option<Self::Time> = stored.into();
        stored
            .map(|t| t.load().ok_or_else(|| corrupt_msg(table, column, "timestamp out of range")))
            .transpose()
    }

    /// Reads a JSON column.
    ///
    /// # Errors
    /// [`BackendError`] when the column does not decode or is not JSON.
    fn read_json(row: &Row<Self>, table: &str, column: &str) -> Result<serde_json::Value, BackendError> {
        let stored: Self::Json = row.read(table, column)?;
        stored.load().map_err(|e| corrupt(table, column, e))
    }

    /// Wraps a driver error with what the adapter was doing (see [`crate::error::backend`]).
    fn backend(context: impl Into<String>, error: sqlx::Error) -> BackendError {
        crate::error::backend(context, error, Self::is_transient_code)
    }

    /// A user's public face from a row with `id`, `username`, `email`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn owner(row: &Row<Self>) -> Result<Owner, BackendError> {
        Self::owner_in(row, ["id", "username", "email"])
    }

    /// A user's public face from a row where `[id, username, email]` have these names
    /// (a user joined beside another table's `id`).
    ///
    /// # Errors
    /// As [`Dialect::owner`].
    fn owner_in(row: &Row<Self>, [id, username, email]: [&str; 3]) -> Result<Owner, BackendError> {
        const T: &str = "users";
        let name: String = row.read(T, username)?;
        let address: String = row.read(T, email)?;
        Ok(Owner {
            id: user_id(row, T, id)?,
            username: Username::parse(&name).map_err(|e| corrupt(T, username, e))?,
            email: Email::parse(&address).map_err(|e| corrupt(T, email, e))?,
        })
    }

    /// A user from a row with `id`, `username`, `email`, `password_hash`, `created_at`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn user(row: &Row<Self>) -> Result<User, BackendError> {
        let hash: String = row.read("users", "password_hash")?;
        Ok(User {
            owner: Self::owner(row)?,
            password_hash: PasswordHash::parse(&hash).map_err(|e| corrupt("users", "password_hash", e))?,
            created_at: Self::read_time(row, "users", "created_at")?,
        })
    }

    /// A refresh token record from a row with every column of `refresh_tokens`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn refresh_token(row: &Row<Self>) -> Result<RefreshTokenRecord, BackendError> {
        const T: &str = "refresh_tokens";
        let hash: Vec<u8> = row.read(T, "token_hash")?;
        Ok(RefreshTokenRecord {
            hash: RefreshTokenHash::from_bytes(hash32(hash, T, "token_hash")?),
            user_id: user_id(row, T, "user_id")?,
            family_id: Self::token_family(row)?,
            issued_at: Self::read_time(row, T, "issued_at")?,
            expires_at: Self::read_time(row, T, "expires_at")?,
            used_at: Self::read_maybe_time(row, T, "used_at")?,
            revoked_at: Self::read_maybe_time(row, T, "revoked_at")?,
            client: client_label(row)?,
        })
    }

    /// A session summed up from `refresh_tokens` (`family_id`, `started_at`,
    /// `last_active_at`, `expires_at`, `client`).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn session_summary(row: &Row<Self>) -> Result<SessionSummary, BackendError> {
        const T: &str = "refresh_tokens";
        Ok(SessionSummary {
            id: Self::token_family(row)?,
            client: client_label(row)?,
            started_at: Self::read_time(row, T, "started_at")?,
            last_active_at: Self::read_time(row, T, "last_active_at")?,
            expires_at: Self::read_time(row, T, "expires_at")?,
        })
    }

    /// The counters of a row of `login_failures` (`failures`, `last_failure`).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or is out of range.
    fn failures(row: &Row<Self>) -> Result<Failures, BackendError> {
        const T: &str = "login_failures";
        let count: i64 = row.read(T, "failures")?;
        Ok(Failures {
            count: u32::try_from(count).map_err(|e| corrupt(T, "failures", e))?,
            last: Self::read_time(row, T, "last_failure")?,
        })
    }

    /// The `family_id` of a row of `refresh_tokens`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn token_family(row: &Row<Self>) -> Result<TokenFamilyId, BackendError> {
        let family: String = row.read("refresh_tokens", "family_id")?;
        TokenFamilyId::parse(&family).map_err(|e| corrupt("refresh_tokens", "family_id", e))
    }

    /// A media from a row with the [`media_columns`](crate::media_columns).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn media(row: &Row<Self>) -> Result<Media, BackendError> {
        const T: &str = "storage_media";
        let name: String = row.read(T, "file_name")?;
        let folder: String = row.read(T, "full_path")?;
        let content_type: String = row.read(T, "content_type")?;
        let storage_key: String = row.read(T, "storage_key")?;
        let algorithm: String = row.read(T, "algorithm")?;
        let chunk_size: i64 = row.read(T, "chunk_size")?;
        let key_id: String = row.read(T, "key_id")?;
        let wrapped_key: Vec<u8> = row.read(T, "wrapped_key")?;
        let uploaded_at = Self::read_maybe_time(row, T, "uploaded_at")?;
        let digest: Option<Vec<u8>> = row.read(T, "digest")?;

        let chunk_size = u32::try_from(chunk_size).map_err(|e| corrupt(T, "chunk_size", e))?;
        let serde_json::Value::Object(metadata) = Self::read_json(row, T, "metadata")? else {
            return Err(corrupt_msg(T, "metadata", "not a json object"));
        };
        let uploaded = match (uploaded_at, digest) {
            (None, None) => None,
            (Some(uploaded_at), Some(digest)) => Some(UploadedContent {
                size: unsigned(row, T, "file_size")?,
                digest: Digest::from_bytes(hash32(digest, T, "digest")?),
                uploaded_at,
            }),
            _ => return Err(corrupt_msg(T, "uploaded_at", "digest and upload time disagree")),
        };
        Ok(Media::from_parts(MediaParts {
            id: media_id(row, T, "id")?,
            creator: user_id(row, T, "creator_id")?,
            name: FileName::parse(&name).map_err(|e| corrupt(T, "file_name", e))?,
            folder: FolderPath::parse(&folder).map_err(|e| corrupt(T, "full_path", e))?,
            content_type: ContentType::parse(&content_type).map_err(|e| corrupt(T, "content_type", e))?,
            storage_key: StorageKey::parse(&storage_key).map_err(|e| corrupt(T, "storage_key", e))?,
            envelope: Envelope::new(&algorithm, chunk_size, &key_id, wrapped_key)
                .map_err(|e| corrupt(T, "envelope", e))?,
            metadata,
            uploaded,
            created_at: Self::read_time(row, T, "created_at")?,
            updated_at: Self::read_time(row, T, "updated_at")?,
        }))
    }

    /// Media rows to domain values.
    ///
    /// # Errors
    /// [`BackendError`] for the first row that does not convert.
    fn all_media(rows: &[Row<Self>]) -> Result<Vec<Media>, BackendError> {
        rows.iter().map(Self::media).collect()
    }

    /// The `id` of a row of `storage_media`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn media_id(row: &Row<Self>) -> Result<MediaId, BackendError> {
        media_id(row, "storage_media", "id")
    }

    /// What a write to a media needs from its locked row (`creator_id`, `full_path`,
    /// `file_size`, `uploaded`, `trashed`).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn locked_media(row: &Row<Self>) -> Result<LockedMedia, BackendError> {
        const T: &str = "storage_media";
        let folder: String = row.read(T, "full_path")?;
        Ok(LockedMedia {
            creator: user_id(row, T, "creator_id")?,
            folder: FolderPath::parse(&folder).map_err(|e| corrupt(T, "full_path", e))?,
            size: row.read(T, "file_size")?,
            uploaded: row.read(T, "uploaded")?,
            reserved: row.read(T, "reserved_bytes")?,
            trashed: row.read(T, "trashed")?,
        })
    }

    /// A trashed media from a row with the [`media_columns`](crate::media_columns),
    /// `trashed_at` and `purge_at`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn trashed_media(row: &Row<Self>) -> Result<TrashedMedia, BackendError> {
        const T: &str = "storage_media";
        Ok(TrashedMedia {
            media: Self::media(row)?,
            trashed_at: Self::read_time(row, T, "trashed_at")?,
            purge_at: Self::read_time(row, T, "purge_at")?,
        })
    }

    /// A share of `media` from a row with the sharee's `id`, `username`, `email` and the
    /// share's `created_at`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn share(media: MediaId, row: &Row<Self>) -> Result<Share, BackendError> {
        Ok(Share {
            media_id: media,
            sharee: Self::owner(row)?,
            created_at: Self::read_time(row, "media_owners", "created_at")?,
        })
    }

    /// A job from a row with the [`job_columns`](crate::job_columns).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn job(row: &Row<Self>) -> Result<Job, BackendError> {
        const T: &str = "jobs";
        let id: String = row.read(T, "id")?;
        let kind: String = row.read(T, "kind")?;
        let serde_json::Value::Object(payload) = Self::read_json(row, T, "payload")? else {
            return Err(corrupt_msg(T, "payload", "not a json object"));
        };
        let state: String = row.read(T, "state")?;
        let attempts: i64 = row.read(T, "attempts")?;
        Ok(Job {
            id: JobId::parse(&id).map_err(|e| corrupt(T, "id", e))?,
            task: Task::from_stored(&kind, &payload).map_err(|e| corrupt(T, "payload", e))?,
            state: JobState::parse(&state).map_err(|e| corrupt(T, "state", e))?,
            attempts: u32::try_from(attempts).map_err(|e| corrupt(T, "attempts", e))?,
            run_at: Self::read_time(row, T, "run_at")?,
            lease_until: Self::read_maybe_time(row, T, "lease_until")?,
            last_error: row.read(T, "last_error")?,
            created_at: Self::read_time(row, T, "created_at")?,
        })
    }

    /// A subfolder's totals from a row of `folder_stats` (`name`, `file_count`, `total_size`).
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn folder_summary(row: &Row<Self>) -> Result<FolderSummary, BackendError> {
        const T: &str = "folder_stats";
        let name: String = row.read(T, "name")?;
        Ok(FolderSummary {
            name: FileName::parse(&name).map_err(|e| corrupt(T, "name", e))?,
            file_count: unsigned(row, T, "file_count")?,
            total_size: unsigned(row, T, "total_size")?,
        })
    }

    /// A user's counters from a row with `media_count` and `disk_usage`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a negative counter.
    fn usage(row: &Row<Self>) -> Result<Usage, BackendError> {
        Ok(Usage {
            media_count: unsigned(row, "users", "media_count")?,
            disk_usage: unsigned(row, "users", "disk_usage")?,
        })
    }

    /// A ranking row: `id`, `username`, `media_count`, `disk_usage` of `users`.
    ///
    /// # Errors
    /// [`BackendError`] for a column that does not decode or a value the domain refuses.
    fn user_usage(row: &Row<Self>) -> Result<UserUsage, BackendError> {
        let username: String = row.read("users", "username")?;
        Ok(UserUsage {
            user_id: user_id(row, "users", "id")?,
            username: Username::parse(&username).map_err(|e| corrupt("users", "username", e))?,
            usage: Self::usage(row)?,
        })
    }
}

fn user_id(row: &impl SqlRow, table: &str, column: &str) -> Result<UserId, BackendError> {
    let text: String = row.read(table, column)?;
    UserId::parse(&text).map_err(|e| corrupt(table, column, e))
}

/// The `client` of a row of `refresh_tokens`: stored as described, so anything a
/// description would change is corrupt.
fn client_label(row: &impl SqlRow) -> Result<Option<ClientLabel>, BackendError> {
    let text: Option<String> = row.read("refresh_tokens", "client")?;
    text.map(|text| {
        ClientLabel::describe(&text)
            .filter(|label| label.as_str() == text)
            .ok_or_else(|| corrupt_msg("refresh_tokens", "client", "not a client label"))
    })
    .transpose()
}

fn media_id(row: &impl SqlRow, table: &str, column: &str) -> Result<MediaId, BackendError> {
    let text: String = row.read(table, column)?;
    MediaId::parse(&text).map_err(|e| corrupt(table, column, e))
}

fn hash32(bytes: Vec<u8>, table: &str, column: &str) -> Result<[u8; 32], BackendError> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt_msg(table, column, "not 32 bytes"))
}

fn unsigned(row: &impl SqlRow, table: &str, column: &str) -> Result<u64, BackendError> {
    let value: i64 = row.read(table, column)?;
    u64::try_from(value).map_err(|e| corrupt(table, column, e))
}
