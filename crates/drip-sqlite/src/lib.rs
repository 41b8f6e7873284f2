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
//! Within a process, every write goes through one connection, so writers queue in the
//! pool in arrival order rather than in SQLite's busy handler (which polls with sleeps of
//! up to 100 ms, the tail of concurrent uploads); reads go through read-only connections
//! (`query_only`) and never wait for the writer (WAL). The busy timeout still covers other
//! processes on the same file, such as the `drip` command line.
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

/// Read connections of the pools [`open`] creates for a database file (plus one that writes).
pub const DEFAULT_POOL_SIZE: u32 = 4;

/// Page cache of each read connection (`PRAGMA cache_size`, negative: KiB), half of
/// SQLite's default: the operating system caches the file for all of them anyway.
const READ_CACHE_KIB: &str = "-1024";

/// Rows a read connection's worker thread may run ahead of the task reading them.
const READ_ROW_BUFFER: usize = 1024;

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
/// [`BUSY_TIMEOUT`]: one connection writes, [`DEFAULT_POOL_SIZE`] read-only ones read.
/// An in-memory database lives in one connection that the pool keeps open.
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

/// Opens the pools on `options`: one connection for every write, and at most `pool_size`
/// read-only ones for reads (a single connection does both when `pool_size` is 1, as an
/// in-memory database needs). The adapter's settings are added (file created if missing,
/// WAL, foreign keys, busy timeout). Does not migrate.
///
/// SQLite lets one connection write at a time; a second writer would wait in SQLite's busy
/// handler, which polls with sleeps of up to 100 ms. With one writing connection, writes
/// queue in the pool instead, in arrival order, each starting as soon as the last ends.
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
    let pool = |size: u32| SqlitePoolOptions::new().max_connections(size).acquire_timeout(BUSY_TIMEOUT);
    if pool_size <= 1 {
        // A single connection may be the only handle on an in-memory database: keep it.
        let single = pool(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        let single = single.connect_with(options).await.map_err(SqliteSetupError::Open)?;
        return Ok(SqliteRepositories::from_pool(single));
    }
    let writes = pool(1).connect_with(options.clone()).await.map_err(SqliteSetupError::Open)?;
    // A listing page is up to 1,000 rows: buffered whole, the worker thread produces it
    // without waiting for the reader to take each row (every wait a thread hand-off).
    let reads = pool(pool_size)
        .connect_with(
            options
                .pragma("query_only", "ON")
                .pragma("cache_size", READ_CACHE_KIB)
                .row_buffer_size(READ_ROW_BUFFER),
        )
        .await
        .map_err(SqliteSetupError::Open)?;
    Ok(SqliteRepositories::from_pools(writes, reads))
}
