//! How SQLite stores what SQL has no common type for — timestamps as microseconds since
//! the Unix epoch (the precision PostgreSQL keeps), JSON as text — for the row conversions
//! of [`drip_sql::Dialect`].

use chrono::{DateTime, Utc};
use drip_core::BackendError;
use drip_sql::error::{corrupt, corrupt_msg};
use drip_sql::{Dialect, Reads, Row};

/// The SQLite dialect.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;

    const UPLOADED: &'static str = "o.uploaded = 1";

    /// SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
    fn is_transient_code(code: &str) -> bool {
        code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }

    fn time(row: &Row<Self>, table: &str, column: &str) -> Result<DateTime<Utc>, BackendError> {
        from_micros(row.read(table, column)?, table, column)
    }

    fn maybe_time(row: &Row<Self>, table: &str, column: &str) -> Result<Option<DateTime<Utc>>, BackendError> {
        let micros: Option<i64> = row.read(table, column)?;
        micros.map(|m| from_micros(m, table, column)).transpose()
    }

    fn json(row: &Row<Self>, table: &str, column: &str) -> Result<serde_json::Value, BackendError> {
        let text: String = row.read(table, column)?;
        serde_json::from_str(&text).map_err(|e| corrupt(table, column, e))
    }
}

fn from_micros(micros: i64, table: &str, column: &str) -> Result<DateTime<Utc>, BackendError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt_msg(table, column, "timestamp out of range"))
}

/// How a timestamp is stored: microseconds since the Unix epoch (finer digits are dropped).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}
