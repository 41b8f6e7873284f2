//! Drip's [`AccountRepository`] and [`MediaRepository`] on PostgreSQL, with sqlx.
//!
//! [`PgRepositories`] implements both ports over one connection pool. The schema lives in
//! this crate's `migrations/` (embedded, applied by [`PgRepositories::migrate`]); its
//! constraints carry explicit names that the adapter maps to the ports' error variants.
//!
//! # Folder listing without reading every file
//! A user's view of a folder is served from two index ranges, whatever the number of
//! media the user sees:
//! - files directly in the folder: `media_owners` carries a copy of each media's folder,
//!   name and upload state per user who sees it (creator and sharees), indexed by
//!   `(user_id, full_path, file_name, media_id)`, so a page is a range scan in name order;
//! - subfolders with recursive totals: `folder_stats(user_id, parent_path, name,
//!   file_count, total_size)` holds, for each user, the totals of every folder below which
//!   they see uploaded media. Every write (`mark_uploaded`, `relocate`, `delete`,
//!   `add_share`, `remove_share`, an uploaded `insert`) updates the rows of the media's
//!   ancestor folders for every user who sees it, in the same transaction, in one
//!   statement that locks rows in key order. Listing the subfolders of `P` reads the rows
//!   `(user, P, *)`: as many as there are subfolders.
//!
//! Writes cost one upsert of `depth × viewers` rows; reads never aggregate files.
//!
//! # Pagination
//! Listings are keyset-paginated on `(file_name, media_id)` in byte order (the
//! [`drip_core::storage::model::FileCursor`] of the last item), so pages are stable under
//! concurrent inserts and each page is one index range.
//!
//! [`AccountRepository`]: drip_core::accounts::ports::AccountRepository
//! [`MediaRepository`]: drip_core::storage::ports::MediaRepository

mod accounts;
mod dialect;
mod error;
mod media;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to postgresql")]
    Connect(#[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("cannot migrate the postgresql schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The schema migrations of this adapter, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Users, refresh tokens, media and shares in one PostgreSQL database.
///
/// Cloning is cheap (the pool is shared).
#[derive(Clone)]
pub struct PgRepositories {
    pool: PgPool,
}

impl std::fmt::Debug for PgRepositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRepositories").field("pool_size", &self.pool.size()).finish_non_exhaustive()
    }
}

impl PgRepositories {
    /// Connects a pool of at most `pool_size` connections to the database at `url`
    /// (`postgres://user:password@host:port/database?...`). Does not migrate.
    ///
    /// # Errors
    /// [`PgSetupError::Connect`] when the server cannot be reached.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, PgSetupError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(PgSetupError::Connect)?;
        Ok(Self { pool })
    }

    /// Repositories over an existing pool.
    #[must_use]
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the migrations not yet applied (none when the schema is current; several
    /// processes migrating at once wait for each other).
    ///
    /// # Errors
    /// [`PgSetupError::Migrate`] when a migration fails or an applied one was changed.
    pub async fn migrate(&self) -> Result<(), PgSetupError> {
        MIGRATOR.run(&self.pool).await.map_err(PgSetupError::Migrate)
    }

    /// The connection pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
