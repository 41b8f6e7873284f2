//! [`Repositories`]: Drip's [`AccountRepository`] and [`MediaRepository`] written once for
//! every SQL [`Dialect`], over one connection pool.
//!
//! Every query uses `$N` placeholders, which both PostgreSQL and SQLite read as the N-th
//! bound value; what a dialect writes its own way comes from its [`Dialect`] (a lock
//! clause, the predicate of the partial indexes, the folder-statistics statements).
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
mod archives;
mod folders;
mod jobs;
mod links;
mod media;
mod shares;
mod uploads;
mod versions;

use drip_core::BackendError;
use sqlx::migrate::MigrateError;
use sqlx::{Pool, Transaction};

use crate::{Dialect, Query};

/// Users, refresh tokens, media and shares in one SQL database of dialect `D`.
///
/// Writes go through one pool and reads through another, which may be the same: SQLite
/// writes through a single connection (its one writer waits in the pool's fair queue
/// instead of sleeping in SQLite's busy handler) and reads through several read-only ones.
///
/// Cloning is cheap (the pools are shared).
pub struct Repositories<D: Dialect> {
    /// Every write, and whatever must see them at once (migrations, transactions).
    pool: Pool<D::Db>,
    /// Reads outside a transaction.
    reads: Pool<D::Db>,
}

impl<D: Dialect> Clone for Repositories<D> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), reads: self.reads.clone() }
    }
}

impl<D: Dialect> std::fmt::Debug for Repositories<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories")
            .field("pool_size", &self.pool.size())
            .field("read_pool_size", &self.reads.size())
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> Repositories<D> {
    /// Repositories over an existing pool, for reads and writes (whose schema
    /// [`Repositories::migrate`] applies).
    #[must_use]
    pub fn from_pool(pool: Pool<D::Db>) -> Self {
        Self { reads: pool.clone(), pool }
    }

    /// Repositories writing through `writes` and reading through `reads`, two pools on one
    /// database. `reads` may refuse writes (SQLite's `query_only`): no write goes there.
    #[must_use]
    pub fn from_pools(writes: Pool<D::Db>, reads: Pool<D::Db>) -> Self {
        Self { pool: writes, reads }
    }

    /// The pool writes go through (any statement may run on it).
    #[must_use]
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// The pool reads outside transactions go through.
    #[must_use]
    pub fn read_pool(&self) -> &Pool<D::Db> {
        &self.reads
    }

    /// Closes both pools, waiting for their connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
        self.reads.close().await;
    }

    /// Applies the migrations of the dialect's schema not yet applied (none when the schema
    /// is current; several processes migrating at once wait for each other).
    ///
    /// # Errors
    /// [`MigrateError`] when a migration fails or an applied one was changed.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        D::MIGRATOR.run(&self.pool).await
    }

    /// Runs `query` — a statement answering a row per change (`RETURNING`) — on the pool;
    /// whether it changed anything. `context` says what failed.
    async fn changed(&self, query: Query<'_, D::Db>, context: &str) -> Result<bool, BackendError> {
        let row = query.fetch_optional(D::on_pool(&self.pool)).await.map_err(|e| D::backend(context, e))?;
        Ok(row.is_some())
    }

    /// Begins a transaction that writes ([`Dialect::BEGIN_WRITE`]).
    async fn write(&self) -> Result<Transaction<'static, D::Db>, BackendError> {
        self.pool.begin_with(D::BEGIN_WRITE).await.map_err(|e| D::backend("starting a transaction", e))
    }
}
