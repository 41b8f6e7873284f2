//! Drip's SQL repositories, written once for every dialect: [`Repositories`] implements
//! the account and media ports against a [`Dialect`], which each SQL adapter
//! (`drip-sqlite`, `drip-postgres`) implements for its driver. Also shared: rows to domain
//! values through the domain's validating constructors (provided methods of [`Dialect`]),
//! error helpers and the constraint names both schemas share ([`error`], [`constraint`]),
//! the folder-statistics deltas of a write ([`folder_stats`]), the keyset-paginated listing
//! query ([`page`]) and the ranking order ([`ranking`]).
//!
//! What differs between dialects stays in its adapter, next to its `migrations/`: how a
//! timestamp or a JSON object is stored, how a write transaction begins and locks a row,
//! which error codes are transient, how violated constraints are named, and the
//! folder-statistics statements. This crate depends on sqlx's database-generic types
//! only, never on a driver.

pub mod constraint;
pub mod error;
pub mod folder_stats;
pub mod page;
pub mod ranking;
mod repositories;
mod rows;

pub use repositories::Repositories;
pub use rows::{
    Conn, DeltaStatements, Dialect, JsonColumn, LockedMedia, Param, Query, Reads, Row, SqlRow, TimeColumn,
};

/// The columns [`Dialect::media`] reads, prefixed with the `m` alias of `storage_media`.
#[macro_export]
macro_rules! media_columns {
    () => {
        "m.id, m.creator_id, m.file_name, m.full_path, m.content_type, m.storage_key, m.algorithm, \
         m.chunk_size, m.key_id, m.wrapped_key, m.metadata, m.file_size, m.digest, m.uploaded_at, \
         m.created_at, m.updated_at"
    };
}

/// The columns [`Dialect::job`] reads.
#[macro_export]
macro_rules! job_columns {
    () => {
        "id, kind, payload, state, attempts, run_at, lease_until, last_error, created_at"
    };
}

/// The columns [`Dialect::media`] reads, unqualified (for `RETURNING`, where SQLite knows
/// no table alias).
#[macro_export]
macro_rules! returning_media_columns {
    () => {
        "id, creator_id, file_name, full_path, content_type, storage_key, algorithm, chunk_size, key_id, \
         wrapped_key, metadata, file_size, digest, uploaded_at, created_at, updated_at"
    };
}
