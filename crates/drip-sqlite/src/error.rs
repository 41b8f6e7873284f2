//! Translation of SQLite's constraint errors to the constraint names of the schema, which
//! the shared repositories map to domain variants (see [`drip_sql::error`]).
//!
//! SQLite names a violated CHECK constraint, but reports a UNIQUE or PRIMARY KEY violation
//! by its columns (`UNIQUE constraint failed: users.username_lower`) and a FOREIGN KEY
//! violation by nothing at all. [`constraint_name`] translates column lists back to the
//! constraint names of the schema through [`UNIQUE_COLUMNS`]; foreign-key failures are
//! reported as [`drip_sql::error::FOREIGN_KEY`] and each statement knows which of its
//! references can fail.

use sqlx::error::{DatabaseError, ErrorKind};

/// Constraint names of the schema (migrations/) that map to domain errors: the ones both
/// schemas have, and SQLite's own.
pub(crate) mod constraint {
    pub(crate) use drip_sql::constraint::*;

    /// Storage keys are unique.
    pub(crate) const MEDIA_STORAGE_KEY: &str = "storage_media_storage_key_key";
    /// One creator row per media.
    pub(crate) const OWNERS_CREATOR: &str = "media_owners_creator_key";
    /// Folder statistics rows are unique per user and folder.
    pub(crate) const FOLDER_STATS_PKEY: &str = "folder_stats_pkey";
}

/// The column lists SQLite reports for each UNIQUE / PRIMARY KEY constraint of the schema.
pub(crate) const UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("users.id", constraint::USERS_PKEY),
    ("users.username_lower", constraint::USERNAME_LOWER),
    ("storage_media.id", constraint::MEDIA_PKEY),
    (
        "storage_media.creator_id, storage_media.full_path, storage_media.file_name",
        constraint::MEDIA_CREATOR_FOLDER_NAME,
    ),
    ("storage_media.storage_key", constraint::MEDIA_STORAGE_KEY),
    ("media_owners.media_id, media_owners.user_id", constraint::SINGLE_SHARE),
    ("media_owners.media_id", constraint::OWNERS_CREATOR),
    ("refresh_tokens.token_hash", constraint::REFRESH_TOKENS_PKEY),
    ("folder_stats.user_id, folder_stats.parent_path, folder_stats.name", constraint::FOLDER_STATS_PKEY),
];

/// The schema's name of the UNIQUE, PRIMARY KEY or CHECK constraint `error` violates.
pub(crate) fn constraint_name(error: &dyn DatabaseError) -> Option<&str> {
    let message = error.message();
    match error.kind() {
        ErrorKind::UniqueViolation => {
            let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
            let columns =
                columns.strip_prefix("index '").and_then(|c| c.strip_suffix('\'')).unwrap_or(columns);
            UNIQUE_COLUMNS.iter().find(|(cols, _)| *cols == columns).map(|(_, name)| *name).or(Some(columns))
        }
        ErrorKind::CheckViolation => message.strip_prefix("CHECK constraint failed: "),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use drip_sql::Dialect;
    use drip_sql::error::{FOREIGN_KEY, violated};

    use super::*;
    use crate::{Sqlite, SqliteRepositories};

    /// Runs `sql` (expected to fail) and answers the constraint it violated.
    async fn violation(repos: &SqliteRepositories, sql: &'static str) -> String {
        let error = sqlx::raw_sql(sql).execute(repos.pool()).await.expect_err(sql);
        violated::<Sqlite>(&error).unwrap_or_else(|| panic!("not a constraint violation: {error}")).to_owned()
    }

    /// Every UNIQUE / PRIMARY KEY constraint of the schema, violated, maps to its name;
    /// CHECK constraints by their own name; foreign keys to [`FOREIGN_KEY`].
    #[tokio::test]
    async fn violations_map_to_constraint_names() {
        let repos = crate::open("sqlite::memory:").await.unwrap();
        let id = |c: char| c.to_string().repeat(27);
        let (u1, u2, m1, m2) = (id('a'), id('b'), id('m'), id('n'));
        let setup = format!(
            "INSERT INTO users (id, username, username_lower, email, password_hash, created_at, updated_at) \
                 VALUES ('{u1}', 'Alice', 'alice', 'a@example.com', '$x$y', 0, 0), \
                        ('{u2}', 'Bob', 'bob', 'b@example.com', '$x$y', 0, 0); \
             INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                 algorithm, chunk_size, key_id, wrapped_key, created_at, updated_at) \
                 VALUES ('{m1}', '{u1}', 'f', '$', 'text/plain', 'key1', 'alg', 1, 'k', x'01', 0, 0); \
             INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
                 VALUES ('{m1}', '{u1}', 1, '$', 'f', 0, 0); \
             INSERT INTO refresh_tokens (token_hash, user_id, family_id, issued_at, expires_at) \
                 VALUES (zeroblob(32), '{u1}', 'fam', 0, 1); \
             INSERT INTO folder_stats VALUES ('{u1}', '$', 'a', 1, 1);"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(repos.pool()).await.unwrap();
        let _ = (m2, u2);

        let cases: &[(&'static str, &str)] = &[
            (
                "INSERT INTO users VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaa', 'x', 'x', 'x@example.com', '$x$y', 0, 0, 0, 0, NULL, 0)",
                constraint::USERS_PKEY,
            ),
            (
                "INSERT INTO users VALUES ('ccccccccccccccccccccccccccc', 'ALICE', 'alice', 'x@example.com', '$x$y', 0, 0, 0, 0, NULL, 0)",
                constraint::USERNAME_LOWER,
            ),
            (
                "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                     algorithm, chunk_size, key_id, wrapped_key, created_at, updated_at) \
                 VALUES ('mmmmmmmmmmmmmmmmmmmmmmmmmmm', 'aaaaaaaaaaaaaaaaaaaaaaaaaaa', 'g', '$', 't/p', 'key2', 'a', 1, 'k', x'01', 0, 0)",
                constraint::MEDIA_PKEY,
            ),
            (
                "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                     algorithm, chunk_size, key_id, wrapped_key, created_at, updated_at) \
                 VALUES ('nnnnnnnnnnnnnnnnnnnnnnnnnnn', 'aaaaaaaaaaaaaaaaaaaaaaaaaaa', 'f', '$', 't/p', 'key2', 'a', 1, 'k', x'01', 0, 0)",
                constraint::MEDIA_CREATOR_FOLDER_NAME,
            ),
            (
                "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                     algorithm, chunk_size, key_id, wrapped_key, created_at, updated_at) \
                 VALUES ('nnnnnnnnnnnnnnnnnnnnnnnnnnn', 'aaaaaaaaaaaaaaaaaaaaaaaaaaa', 'g', '$', 't/p', 'key1', 'a', 1, 'k', x'01', 0, 0)",
                constraint::MEDIA_STORAGE_KEY,
            ),
            (
                "INSERT INTO media_owners VALUES ('mmmmmmmmmmmmmmmmmmmmmmmmmmm', 'aaaaaaaaaaaaaaaaaaaaaaaaaaa', 0, '$', 'f', 0, 0)",
                constraint::SINGLE_SHARE,
            ),
            (
                "INSERT INTO media_owners VALUES ('mmmmmmmmmmmmmmmmmmmmmmmmmmm', 'bbbbbbbbbbbbbbbbbbbbbbbbbbb', 1, '$', 'f', 0, 0)",
                constraint::OWNERS_CREATOR,
            ),
            (
                "INSERT INTO refresh_tokens (token_hash, user_id, family_id, issued_at, expires_at) \
                 VALUES (zeroblob(32), 'aaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fam', 0, 1)",
                constraint::REFRESH_TOKENS_PKEY,
            ),
            (
                "INSERT INTO folder_stats VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaa', '$', 'a', 2, 2)",
                constraint::FOLDER_STATS_PKEY,
            ),
            ("UPDATE storage_media SET digest = zeroblob(32)", "storage_media_uploaded_check"),
            (
                "INSERT INTO media_owners VALUES ('mmmmmmmmmmmmmmmmmmmmmmmmmmm', 'zzzzzzzzzzzzzzzzzzzzzzzzzzz', 0, '$', 'f', 0, 0)",
                FOREIGN_KEY,
            ),
        ];
        let mut mapped = Vec::new();
        for (sql, expected) in cases {
            assert_eq!(violation(&repos, sql).await, *expected, "{sql}");
            mapped.push(*expected);
        }
        for (_, name) in UNIQUE_COLUMNS {
            assert!(mapped.contains(name), "no case violates {name}");
        }
    }

    #[test]
    fn busy_and_locked_are_transient() {
        assert!(Sqlite::is_transient_code("5"));
        assert!(Sqlite::is_transient_code("517"));
        assert!(Sqlite::is_transient_code("6"));
        assert!(!Sqlite::is_transient_code("19"));
        assert!(!Sqlite::is_transient_code("2067"));
    }
}
