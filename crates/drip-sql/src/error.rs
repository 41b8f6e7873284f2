//! Error helpers: a driver error becomes a [`BackendError`] with what the adapter was doing
//! (transient when retrying may help), a stored value the domain refuses a corrupt row.

use drip_core::BackendError;
use sqlx::error::ErrorKind;

use crate::Dialect;

/// What [`violated`] answers for any foreign-key violation: SQLite does not say which
/// reference failed, so each statement knows which of its references can fail (under the
/// locks it holds, at most one).
pub const FOREIGN_KEY: &str = "foreign key";

/// The constraint `error` violates, if it is a constraint violation: the schema's name for
/// unique, primary-key and check constraints ([`Dialect::constraint`]), [`FOREIGN_KEY`]
/// for any foreign key.
#[must_use]
pub fn violated<D: Dialect>(error: &sqlx::Error) -> Option<&str> {
    let db = error.as_database_error()?;
    match db.kind() {
        ErrorKind::ForeignKeyViolation => Some(FOREIGN_KEY),
        _ => D::constraint(db),
    }
}

/// Wraps a driver error with what the adapter was doing. Connection-level failures are
/// transient, and so are database errors whose code `transient_code` accepts (each
/// dialect has its own codes).
pub fn backend(
    context: impl Into<String>,
    error: sqlx::Error,
    transient_code: impl Fn(&str) -> bool,
) -> BackendError {
    let transient = match &error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    };
    let wrapped = BackendError::new(context, error);
    if transient { wrapped.transient() } else { wrapped }
}

/// A stored value that the domain refuses: the row is corrupt.
pub fn corrupt(
    table: &str,
    column: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> BackendError {
    BackendError::new(format!("corrupt row in {table}: invalid {column}"), error)
}

/// A stored value that the domain refuses, without an underlying error value.
pub fn corrupt_msg(table: &str, column: &str, what: &str) -> BackendError {
    BackendError::msg(format!("corrupt row in {table}: invalid {column}: {what}"))
}

/// A size or count for a signed 64-bit column.
///
/// # Errors
/// [`BackendError`] when `value` exceeds `i64::MAX`.
pub fn to_i64(value: u64, what: &str) -> Result<i64, BackendError> {
    i64::try_from(value).map_err(|e| BackendError::new(format!("{what} does not fit in 64 signed bits"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_transient_and_codes_ask_the_dialect() {
        assert!(backend("x", sqlx::Error::PoolTimedOut, |_| false).is_transient());
        assert!(!backend("x", sqlx::Error::RowNotFound, |_| true).is_transient());
        assert_eq!(backend("doing x", sqlx::Error::RowNotFound, |_| false).context(), "doing x");
    }

    #[test]
    fn corrupt_rows_name_table_and_column() {
        assert_eq!(corrupt_msg("users", "id", "empty").context(), "corrupt row in users: invalid id: empty");
        assert!(to_i64(u64::MAX, "a size").is_err());
        assert_eq!(to_i64(7, "a size").ok(), Some(7));
    }
}
