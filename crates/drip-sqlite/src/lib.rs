//! Drip's [`AccountRepository`] and [`MediaRepository`] on SQLite, with sqlx: the embedded
//! default store of metadata.
//!
//! [`SqliteRepositories`] implements both ports over one connection pool to one database
//! file, opened in WAL mode with foreign keys enforced and a busy timeout. The schema lives
//! in this crate's `migrations/` (embedded, applied by [`open`]).
//!
//! # Writes
//! SQLite has one writer at a time. Every multi-statement write runs in a `BEGIN IMMEDIATE`
//! transaction, which takes the write lock up front (waiting up to the busy timeout), so a
//! transaction never reads a state that another writer changes before it writes, and never
//! fails half-way to upgrade its lock. Name and share conflicts are still decided by the
//! schema's unique constraints, so of two racing identical inserts exactly one wins.
//!
//! The queries are [`drip_sql::Repositories`]' (folder listings, pagination, locking);
//! this crate gives them the [`Sqlite`] dialect.
//!
//! [`AccountRepository`]: drip_core::accounts::ports::AccountRepository
//! [`MediaRepository`]: drip_core::storage::ports::MediaRepository

mod dialect;
mod error;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use dialect::Sqlite;

/// Connections of the pool [`open`] creates for a database file.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum SqliteSetupError {
    /// The location is not a path or a `sqlite:` URL.
    #[error("invalid sqlite location")]
    Location(#[source] sqlx::Error),
    /// The database could not be opened or created.
    #[error("cannot open the sqlite database")]
    Open(#[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("cannot migrate the sqlite schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The schema migrations of this adapter, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Users, refresh tokens, media and shares in one SQLite database: the shared SQL
/// repositories in the [`Sqlite`] dialect.
///
/// Cloning is cheap (the pool is shared).
pub type SqliteRepositories = drip_sql::Repositories<Sqlite>;

/// Opens the database at `location` — a file path, or a URL such as
/// `sqlite://data/drip.db` or `sqlite::memory:` — creating the file if it is missing,
/// and applies the migrations.
///
/// Files are opened in WAL mode (readers do not block the writer) with
/// `synchronous = NORMAL` (a commit survives a crash of the process; a power loss may
/// lose the last commits, never consistency), foreign keys on and a busy timeout of
/// [`BUSY_TIMEOUT`], in a pool of [`DEFAULT_POOL_SIZE`] connections. An in-memory
/// database lives in one connection that the pool keeps open.
///
/// # Errors
/// [`SqliteSetupError`] when the location is invalid, the file cannot be opened or
/// created, or a migration fails.
pub async fn open(location: &str) -> Result<SqliteRepositories, SqliteSetupError> {
    let options = if location.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(location).map_err(SqliteSetupError::Location)?
    } else {
        SqliteConnectOptions::new().filename(location)
    };
    let in_memory = location.contains(":memory:") || options.get_filename().as_os_str() == ":memory:";
    let repositories = open_with(options, if in_memory { 1 } else { DEFAULT_POOL_SIZE }).await?;
    repositories.migrate().await.map_err(SqliteSetupError::Migrate)?;
    Ok(repositories)
}

/// Opens a pool of at most `pool_size` connections with `options`, adding the
/// settings the adapter relies on (file created if missing, WAL, foreign keys, busy
/// timeout). Does not migrate.
///
/// # Errors
/// [`SqliteSetupError::Open`] when the database cannot be opened.
pub async fn open_with(
    options: SqliteConnectOptions,
    pool_size: u32,
) -> Result<SqliteRepositories, SqliteSetupError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool_size = pool_size.max(1);
    let mut pool = SqlitePoolOptions::new().max_connections(pool_size).acquire_timeout(BUSY_TIMEOUT);
    if pool_size == 1 {
        // A single connection may be the only handle on an in-memory database: keep it.
        pool = pool.min_connections(1).idle_timeout(None).max_lifetime(None);
    }
    let pool = pool.connect_with(options).await.map_err(SqliteSetupError::Open)?;
    Ok(SqliteRepositories::from_pool(pool))
}
