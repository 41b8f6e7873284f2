//! Drip's [`AccountRepository`] and [`MediaRepository`] on PostgreSQL, with sqlx.
//!
//! [`PgRepositories`] implements both ports over one connection pool ([`connect`]);
//! [`PgEventBus`] and [`PgNodeRegistry`] are the cluster ports (`LISTEN/NOTIFY` and the
//! node registry tables) for several nodes on one database. The schema lives in
//! this crate's `migrations/` (embedded, applied by [`drip_sql::Repositories::migrate`]); its
//! constraints carry explicit names that the adapter maps to the ports' error variants.
//!
//! The queries are [`drip_sql::Repositories`]' (folder listings, pagination, locking);
//! this crate gives them the [`Postgres`] dialect.
//!
//! [`AccountRepository`]: drip_core::accounts::ports::AccountRepository
//! [`MediaRepository`]: drip_core::storage::ports::MediaRepository

mod cluster;
mod dialect;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

pub use cluster::{CHANNEL, PgEventBus, PgNodeRegistry};
pub use dialect::Postgres;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to postgresql")]
    Connect(#[source] sqlx::Error),
}

/// The schema migrations of this adapter, embedded at compile time (applied by
/// [`drip_sql::Repositories::migrate`]).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Users, refresh tokens, media and shares in one PostgreSQL database: the shared SQL
/// repositories in the [`Postgres`] dialect.
///
/// Cloning is cheap (the pool is shared).
pub type PgRepositories = drip_sql::Repositories<Postgres>;

/// Connects a pool of at most `pool_size` connections to the database at `url`
/// (`postgres://user:password@host:port/database?...`). Does not migrate.
///
/// # Errors
/// [`PgSetupError::Connect`] when the server cannot be reached.
pub async fn connect(url: &str, pool_size: u32) -> Result<PgRepositories, PgSetupError> {
    let pool = PgPoolOptions::new()
        .max_connections(pool_size.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(PgSetupError::Connect)?;
    Ok(PgRepositories::from_pool(pool))
}
