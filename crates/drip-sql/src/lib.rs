//! The Rust that Drip's SQL repository adapters (`drip-sqlite`, `drip-postgres`) share,
//! whatever their dialect: rows to domain values through the domain's validating
//! constructors ([`Dialect`]), error helpers and the constraint names both schemas share
//! ([`error`], [`constraint`]), the folder-statistics deltas of a write ([`folder_stats`]),
//! the keyset-paginated listing query ([`page`]) and the ranking order ([`ranking`]).
//!
//! The SQL of each dialect stays in its adapter, next to its `migrations/`: what differs
//! between dialects here (how a timestamp or a JSON object is stored, which error codes are
//! transient, how an uploaded ownership is tested) is a [`Dialect`] the adapter implements.
//! This crate depends on sqlx's database-generic types only, never on a driver.

pub mod constraint;
pub mod error;
pub mod folder_stats;
pub mod page;
pub mod ranking;
mod rows;

pub use rows::{Dialect, LockedMedia, Reads, Row, SqlRow};

/// The columns [`Dialect::media`] reads, prefixed with the `m` alias of `storage_media`.
#[macro_export]
macro_rules! media_columns {
    () => {
        "m.id, m.creator_id, m.file_name, m.full_path, m.content_type, m.storage_key, m.algorithm, \
         m.chunk_size, m.key_id, m.wrapped_key, m.metadata, m.file_size, m.digest, m.uploaded_at, \
         m.created_at, m.updated_at"
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
