//! How PostgreSQL does what the shared repositories ([`drip_sql::Repositories`]) leave to
//! the dialect: `timestamptz` and `jsonb` columns, row locks, constraint names, and the
//! folder-statistics upserts over `unnest`ed arrays.

use chrono::{DateTime, Utc};
use drip_sql::folder_stats::FolderDelta;
use drip_sql::{DeltaStatements, Dialect, Query};
use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::{Executor, PgConnection, PgPool};

/// The PostgreSQL dialect of Drip's SQL repositories.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    type Time = DateTime<Utc>;
    type MaybeTime = Option<DateTime<Utc>>;
    type Json = Json<serde_json::Value>;

    const MIGRATOR: &'static Migrator = &crate::MIGRATOR;
    const UPLOADED: &'static str = "o.uploaded";
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// A key-share lock: shares referencing the media may still be inserted meanwhile.
    const LOCK: &'static str = " FOR NO KEY UPDATE";
    const LOCK_TO_DELETE: &'static str = " FOR UPDATE";
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    /// Serialization failure, deadlock, too many connections, the server shutting down or
    /// starting up.
    fn is_transient_code(code: &str) -> bool {
        matches!(code, "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03")
    }

    /// PostgreSQL names every violated constraint, as the schema names it.
    fn constraint(error: &dyn DatabaseError) -> Option<&str> {
        error.constraint()
    }

    fn on(conn: &mut PgConnection) -> impl Executor<'_, Database = sqlx::Postgres> {
        conn
    }

    fn on_pool(pool: &PgPool) -> impl Executor<'_, Database = sqlx::Postgres> {
        pool
    }

    /// The deltas travel as four arrays (`$2` parents, `$3` names, `$4` counts, `$5`
    /// sizes); the upsert locks rows in (user, parent, name) order.
    const MEDIA_DELTAS: DeltaStatements = DeltaStatements {
        upsert: "INSERT INTO folder_stats AS fs (user_id, parent_path, name, file_count, total_size) \
                 SELECT o.user_id, d.parent, d.name, d.cnt, d.size FROM media_owners o \
                 CROSS JOIN unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) \
                     WITH ORDINALITY AS d(parent, name, cnt, size, ord) \
                 WHERE o.media_id = $1 ORDER BY o.user_id, d.ord \
                 ON CONFLICT (user_id, parent_path, name) DO UPDATE \
                 SET file_count = fs.file_count + EXCLUDED.file_count, \
                     total_size = fs.total_size + EXCLUDED.total_size",
        cleanup: "DELETE FROM folder_stats fs \
                  USING media_owners o, unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) AS d(parent, name, cnt, size) \
                  WHERE o.media_id = $1 AND fs.user_id = o.user_id AND fs.parent_path = d.parent \
                    AND fs.name = d.name AND fs.file_count = 0",
    };
    const USER_DELTAS: DeltaStatements = DeltaStatements {
        upsert: "INSERT INTO folder_stats AS fs (user_id, parent_path, name, file_count, total_size) \
                 SELECT $1, d.parent, d.name, d.cnt, d.size \
                 FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) \
                     WITH ORDINALITY AS d(parent, name, cnt, size, ord) \
                 ORDER BY d.ord \
                 ON CONFLICT (user_id, parent_path, name) DO UPDATE \
                 SET file_count = fs.file_count + EXCLUDED.file_count, \
                     total_size = fs.total_size + EXCLUDED.total_size",
        cleanup: "DELETE FROM folder_stats fs \
                  USING unnest($2::text[], $3::text[], $4::int8[], $5::int8[]) AS d(parent, name, cnt, size) \
                  WHERE fs.user_id = $1 AND fs.parent_path = d.parent AND fs.name = d.name AND fs.file_count = 0",
    };

    fn bind_deltas<'q>(
        query: Query<'q, sqlx::Postgres>,
        deltas: &[FolderDelta],
    ) -> Query<'q, sqlx::Postgres> {
        query
            .bind(deltas.iter().map(|d| d.parent.clone()).collect::<Vec<_>>())
            .bind(deltas.iter().map(|d| d.name.clone()).collect::<Vec<_>>())
            .bind(deltas.iter().map(|d| d.count).collect::<Vec<_>>())
            .bind(deltas.iter().map(|d| d.size).collect::<Vec<_>>())
    }
}
