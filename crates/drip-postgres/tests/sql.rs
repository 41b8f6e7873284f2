//! PostgreSQL-specific checks beyond the conformance suite: migrations, constraint names,
//! corrupt rows, and folder statistics under random and concurrent writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;
use drip_testkit::workload;

use std::sync::Arc;

use drip_core::accounts::ports::AccountRepository;
use drip_core::storage::ports::MediaRepository;
use sqlx::Row;

/// Runs `$body` with a fresh database, or returns (skipped) when there is no server.
macro_rules! with_db {
    ($pool:literal, |$db:ident| $body:block) => {
        let Some($db) = common::fresh_database($pool).await else { return };
        $body
    };
}

#[tokio::test]
async fn migrations_are_idempotent() {
    with_db!(2, |db| {
        db.repos.migrate().await.expect("second migration run");
        db.repos.migrate().await.expect("third migration run");
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(db.repos.pool())
            .await
            .unwrap();
        assert_eq!(applied, drip_postgres::MIGRATOR.iter().count() as i64);
    });
}

/// The adapter maps errors by these names: they must exist in the schema.
#[tokio::test]
async fn constraints_carry_the_names_errors_are_mapped_by() {
    with_db!(2, |db| {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT conname::text FROM pg_constraint UNION SELECT indexname::text FROM pg_indexes",
        )
        .fetch_all(db.repos.pool())
        .await
        .unwrap();
        for expected in [
            "users_pkey",
            "users_username_lower_key",
            "storage_media_pkey",
            "storage_media_creator_id_fkey",
            "storage_media_creator_folder_name_key",
            "media_owners_single_share_key",
            "media_owners_user_id_fkey",
            "media_owners_media_id_fkey",
            "refresh_tokens_pkey",
            "refresh_tokens_user_id_fkey",
        ] {
            assert!(names.iter().any(|n| n == expected), "missing constraint {expected}");
        }
    });
}

/// Text columns that are compared or range-scanned use byte order whatever the locale.
#[tokio::test]
async fn compared_text_columns_collate_in_byte_order() {
    with_db!(2, |db| {
        let rows = sqlx::query(
            "SELECT table_name::text, column_name::text, collation_name::text FROM information_schema.columns \
             WHERE (table_name, column_name) IN (('storage_media', 'full_path'), ('storage_media', 'file_name'), \
                 ('media_owners', 'full_path'), ('media_owners', 'file_name'), ('folder_stats', 'parent_path'), \
                 ('folder_stats', 'name'), ('users', 'username_lower'))",
        )
        .fetch_all(db.repos.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 7);
        for row in rows {
            let collation: Option<String> = row.get(2);
            assert_eq!(
                collation.as_deref(),
                Some("C"),
                "{}.{}",
                row.get::<String, _>(0),
                row.get::<String, _>(1)
            );
        }
    });
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors_with_context() {
    with_db!(2, |db| {
        let users = workload::add_users(&db.repos, &["alice"]).await;
        let media = workload::new_media(users[0].id, "$/a", "f");
        db.repos.insert(&media, None).await.unwrap();

        sqlx::query("UPDATE users SET username = 'not a name!' WHERE id = $1")
            .bind(users[0].id.to_string())
            .execute(db.repos.pool())
            .await
            .unwrap();
        let error = db.repos.find_owner(&users[0].id).await.expect_err("a corrupt username");
        assert_eq!(error.context(), "corrupt row in users: invalid username");

        sqlx::query("UPDATE storage_media SET storage_key = '../../etc/passwd' WHERE id = $1")
            .bind(media.id().to_string())
            .execute(db.repos.pool())
            .await
            .unwrap();
        let error = db.repos.find(&media.id()).await.expect_err("a corrupt storage key");
        assert_eq!(error.context(), "corrupt row in storage_media: invalid storage_key");
    });
}

#[tokio::test]
async fn folder_statistics_stay_exact_under_random_operations() {
    with_db!(2, |db| {
        let users = workload::add_users(&db.repos, &["alice", "bob", "carol"]).await;
        let repos = Arc::new(db.repos);
        workload::assert_random_rounds_match_recount(repos.clone(), &users).await;
        let empty: i64 = sqlx::query_scalar("SELECT count(*) FROM folder_stats WHERE file_count <= 0")
            .fetch_one(repos.pool())
            .await
            .unwrap();
        assert_eq!(empty, 0, "rows of emptied folders are dropped");
    });
}

/// Concurrent writers on overlapping folders (moves in opposite directions, shares,
/// uploads) neither deadlock nor lose a statistics update.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folder_statistics_stay_exact_under_concurrent_writers() {
    with_db!(12, |db| {
        let users = workload::add_users(&db.repos, &["alice", "bob", "carol"]).await;
        workload::assert_concurrent_writers_match_recount(Arc::new(db.repos), &users).await;
    });
}
