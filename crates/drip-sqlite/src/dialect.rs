//! How SQLite does what the shared repositories ([`drip_sql::Repositories`]) leave to the
//! dialect: timestamps as microseconds since the Unix epoch (the precision PostgreSQL
//! keeps), JSON as text, `BEGIN IMMEDIATE` writes, constraint names from error messages,
//! and the folder-statistics upserts over a `json_each`ed array.

use drip_sql::folder_stats::FolderDelta;
use drip_sql::{DeltaStatements, Dialect, Query};
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::{Executor, SqliteConnection, SqlitePool};

/// The SQLite dialect of Drip's SQL repositories.
#[derive(Debug, Clone, Copy)]
pub struct Sqlite;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    type Time = i64;
    type MaybeTime = Option<i64>;
    type Json = String;

    const MIGRATOR: &'static Migrator = &crate::MIGRATOR;
    const UPLOADED: &'static str = "o.uploaded = 1";
    /// Takes the database's single write lock up front (waiting up to the busy timeout), so
    /// a transaction never reads a state another writer changes before it writes, and
    /// never fails half-way to upgrade its lock.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// The write transaction already excludes every other writer.
    const LOCK: &'static str = "";
    const LOCK_TO_DELETE: &'static str = "";
    const CLAIM_LOCK: &'static str = "";

    /// SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
    fn is_transient_code(code: &str) -> bool {
        code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }

    fn constraint(error: &dyn DatabaseError) -> Option<&str> {
        crate::error::constraint_name(error)
    }

    fn on(conn: &mut SqliteConnection) -> impl Executor<'_, Database = sqlx::Sqlite> {
        conn
    }

    fn on_pool(pool: &SqlitePool) -> impl Executor<'_, Database = sqlx::Sqlite> {
        pool
    }

    /// The deltas travel as one JSON array (`$2`) of `[parent, name, count, size]`.
    const MEDIA_DELTAS: DeltaStatements = DeltaStatements {
        upsert: "INSERT INTO folder_stats (user_id, parent_path, name, file_count, total_size) \
                 SELECT o.user_id, d.value ->> 0, d.value ->> 1, d.value ->> 2, d.value ->> 3 \
                 FROM media_owners o, json_each($2) d WHERE o.media_id = $1 \
                 ON CONFLICT (user_id, parent_path, name) DO UPDATE \
                 SET file_count = file_count + excluded.file_count, total_size = total_size + excluded.total_size",
        cleanup: "DELETE FROM folder_stats WHERE file_count = 0 AND (user_id, parent_path, name) IN ( \
                      SELECT o.user_id, d.value ->> 0, d.value ->> 1 \
                      FROM media_owners o, json_each($2) d WHERE o.media_id = $1)",
    };
    const USER_DELTAS: DeltaStatements = DeltaStatements {
        upsert: "INSERT INTO folder_stats (user_id, parent_path, name, file_count, total_size) \
                 SELECT $1, d.value ->> 0, d.value ->> 1, d.value ->> 2, d.value ->> 3 \
                 FROM json_each($2) d WHERE true \
                 ON CONFLICT (user_id, parent_path, name) DO UPDATE \
                 SET file_count = file_count + excluded.file_count, total_size = total_size + excluded.total_size",
        cleanup: "DELETE FROM folder_stats WHERE file_count = 0 AND (user_id, parent_path, name) IN ( \
                      SELECT $1, d.value ->> 0, d.value ->> 1 FROM json_each($2) d)",
    };

    fn bind_deltas<'q>(query: Query<'q, sqlx::Sqlite>, deltas: &[FolderDelta]) -> Query<'q, sqlx::Sqlite> {
        let rows = deltas.iter().map(|d| serde_json::json!([d.parent, d.name, d.count, d.size])).collect();
        query.bind(serde_json::Value::Array(rows).to_string())
    }
}
