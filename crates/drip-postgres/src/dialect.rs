//! How PostgreSQL stores what SQL has no common type for — `timestamptz` (microseconds),
//! `jsonb` — for the row conversions of [`drip_sql::Dialect`].

use chrono::{DateTime, Utc};
use drip_core::BackendError;
use drip_sql::{Dialect, Reads, Row};

/// The PostgreSQL dialect.
pub(crate) struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;

    const UPLOADED: &'static str = "o.uploaded";

    /// Serialization failure, deadlock, too many connections, the server shutting down or
    /// starting up.
    fn is_transient_code(code: &str) -> bool {
        matches!(code, "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03")
    }

    fn time(row: &Row<Self>, table: &str, column: &str) -> Result<DateTime<Utc>, BackendError> {
        row.read(table, column)
    }

    fn maybe_time(row: &Row<Self>, table: &str, column: &str) -> Result<Option<DateTime<Utc>>, BackendError> {
        row.read(table, column)
    }

    fn json(row: &Row<Self>, table: &str, column: &str) -> Result<serde_json::Value, BackendError> {
        let json: sqlx::types::Json<serde_json::Value> = row.read(table, column)?;
        Ok(json.0)
    }
}
