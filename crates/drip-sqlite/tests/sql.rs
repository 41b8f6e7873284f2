//! SQLite-specific checks beyond the conformance suite: opening and migrating (the trash's
//! table rebuild included), connection settings, corrupt rows, query plans, and folder
//! statistics under random and concurrent writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use drip_testkit::workload;

use std::sync::Arc;

use drip_core::accounts::ports::AccountRepository;
use drip_core::storage::ports::MediaRepository;
use drip_sqlite::SqliteRepositories;
use sqlx::Row;

async fn open_in(dir: &tempfile::TempDir) -> SqliteRepositories {
    let file = dir.path().join("drip.db");
    drip_sqlite::open(file.to_str().expect("a utf-8 temp path")).await.expect("opening sqlite")
}

#[tokio::test]
async fn open_creates_the_file_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = open_in(&dir).await;
    assert!(dir.path().join("drip.db").exists());
    first.migrate().await.expect("migrating again");
    workload::add_users(&first, &["alice"]).await;
    first.pool().close().await;

    let again = open_in(&dir).await;
    assert_eq!(again.list_owners().await.unwrap().len(), 1, "reopening keeps the data");
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(again.pool()).await.unwrap();
    assert_eq!(applied, drip_sqlite::MIGRATOR.iter().count() as i64);
}

#[tokio::test]
async fn open_accepts_urls_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("by-url.db").display());
    let by_url = drip_sqlite::open(&url).await.expect("opening by url");
    workload::add_users(&by_url, &["alice"]).await;
    assert!(dir.path().join("by-url.db").exists());

    let memory = drip_sqlite::open("sqlite::memory:").await.expect("opening in memory");
    workload::add_users(&memory, &["bob"]).await;
    // The database lives as long as its one connection: the pool keeps it open for good.
    let pool = memory.pool().options();
    assert_eq!((pool.get_max_connections(), pool.get_min_connections()), (1, 1), "one connection, kept");
    assert_eq!(pool.get_idle_timeout(), None, "the connection never idles out");
    assert_eq!(pool.get_max_lifetime(), None, "the connection is never recycled");
    assert_eq!(memory.list_owners().await.unwrap().len(), 1, "the in-memory database persists");
}

#[tokio::test]
async fn connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let repos = open_in(&dir).await;
    let mut conn = repos.pool().acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(mode, "wal");
    let keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(keys, 1);
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(timeout, drip_sqlite::BUSY_TIMEOUT.as_millis() as i64);
}

#[tokio::test]
async fn one_connection_writes_and_the_read_connections_refuse_to() {
    let dir = tempfile::tempdir().unwrap();
    let repos = open_in(&dir).await;
    assert_eq!(repos.pool().options().get_max_connections(), 1, "writes queue for one connection");
    assert_eq!(repos.read_pool().options().get_max_connections(), drip_sqlite::DEFAULT_POOL_SIZE);
    let refused = sqlx::query("DELETE FROM users").execute(repos.read_pool()).await.unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");

    // Many writers at once all get their turn, and readers see each commit.
    let names: Vec<String> = (0..24).map(|i| format!("user{i}")).collect();
    let repos = &repos;
    let writes = names.iter().map(|name| async move { workload::add_users(repos, &[name.as_str()]).await });
    futures::future::join_all(writes).await;
    assert_eq!(repos.list_owners().await.unwrap().len(), names.len());
}

#[tokio::test]
async fn corrupt_rows_are_backend_errors_with_context() {
    let dir = tempfile::tempdir().unwrap();
    let repos = open_in(&dir).await;
    let users = workload::add_users(&repos, &["alice"]).await;
    let media = workload::new_media(users[0].id, "$/a", "f");
    repos.insert(&media, None).await.unwrap();

    sqlx::query("UPDATE users SET username = 'not a name!' WHERE id = ?1")
        .bind(users[0].id.to_string())
        .execute(repos.pool())
        .await
        .unwrap();
    let error = repos.find_owner(&users[0].id).await.expect_err("a corrupt username");
    assert_eq!(error.context(), "corrupt row in users: invalid username");

    sqlx::query("UPDATE storage_media SET storage_key = '../../etc/passwd' WHERE id = ?1")
        .bind(media.id().to_string())
        .execute(repos.pool())
        .await
        .unwrap();
    let error = repos.find(&media.id()).await.expect_err("a corrupt storage key");
    assert_eq!(error.context(), "corrupt row in storage_media: invalid storage_key");
}

/// The listing queries read index ranges, never a scan of a whole table.
#[tokio::test]
async fn listing_queries_are_index_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let repos = open_in(&dir).await;
    let plans = [
        (
            "files of a folder",
            "SELECT m.id FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
             WHERE o.user_id = ?1 AND o.full_path = ?2 AND o.uploaded = 1 \
               AND (o.file_name, o.media_id) > (?4, ?5) ORDER BY o.file_name, o.media_id LIMIT ?3",
            "media_owners_user_folder_idx",
        ),
        (
            "subfolders of a folder",
            "SELECT name, file_count, total_size FROM folder_stats \
             WHERE user_id = ?1 AND parent_path = ?2 AND file_count > 0 ORDER BY name",
            "PRIMARY KEY",
        ),
        (
            "a trash",
            "SELECT m.id FROM storage_media m WHERE m.trashed_at IS NOT NULL AND m.creator_id = ?1 \
             AND (m.file_name, m.id) > (?3, ?4) ORDER BY m.file_name, m.id LIMIT ?2",
            "storage_media_trash_idx",
        ),
        (
            "visible media",
            "SELECT m.id FROM media_owners o JOIN storage_media m ON m.id = o.media_id \
             WHERE o.user_id = ?1 AND o.uploaded = 1 AND (o.file_name, o.media_id) > (?3, ?4) \
             ORDER BY o.file_name, o.media_id LIMIT ?2",
            "media_owners_user_name_idx",
        ),
    ];
    for (what, sql, index) in plans {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(repos.pool())
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(plan.iter().any(|step| step.contains(index)), "{what}: {plan:?}");
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN") || step.contains("TEMP B-TREE")),
            "{what}: {plan:?}"
        );
    }
}

#[tokio::test]
async fn folder_statistics_stay_exact_under_random_operations() {
    let dir = tempfile::tempdir().unwrap();
    let repos = Arc::new(open_in(&dir).await);
    let users = workload::add_users(&*repos, &["alice", "bob", "carol"]).await;
    workload::assert_random_rounds_match_recount(repos.clone(), &users).await;
    let empty: i64 = sqlx::query_scalar("SELECT count(*) FROM folder_stats WHERE file_count <= 0")
        .fetch_one(repos.pool())
        .await
        .unwrap();
    assert_eq!(empty, 0, "rows of emptied folders are dropped");
}

/// Concurrent writers (each waiting for the single write lock) lose no statistics update
/// and never fail with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folder_statistics_stay_exact_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let repos = Arc::new(open_in(&dir).await);
    let users = workload::add_users(&*repos, &["alice", "bob", "carol"]).await;
    workload::assert_concurrent_writers_match_recount(repos, &users).await;
}

/// The trash migration rebuilds `storage_media` (SQLite cannot drop its old unique
/// constraint) with foreign keys enforced: every media, ownership, share and public link of
/// a database migrated before it is still there after it, and the schema checks out.
#[tokio::test]
async fn the_trash_migration_keeps_every_media_share_and_link() {
    use drip_core::links::ports::LinkRepository;
    use drip_core::storage::model::{FolderPath, PageRequest};

    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    std::fs::create_dir(&before).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() < "0008" {
            std::fs::copy(entry.path(), before.join(entry.file_name())).unwrap();
        }
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("drip.db"));
    let repos = drip_sqlite::open_with(options, 2).await.unwrap();
    sqlx::migrate::Migrator::new(before.as_path()).await.unwrap().run(repos.pool()).await.unwrap();

    let users = workload::add_users(&repos, &["alice", "bob"]).await;
    let (alice, bob) = (&users[0], &users[1]);
    let file = workload::new_media(alice.id, "$/d", "f.txt").with_uploaded(workload::content(5));
    repos.insert(&file, None).await.unwrap();
    sqlx::query(
        "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
         VALUES (?1, ?2, 0, '$/d', 'f.txt', 1, 0)",
    )
    .bind(file.id().to_string())
    .bind(bob.id.to_string())
    .execute(repos.pool())
    .await
    .unwrap();
    let link = drip_testkit::links::public_link(1, &file, 1);
    repos.insert_link(&link).await.unwrap();

    repos.migrate().await.expect("the trash migration");
    let (folder, page) = (FolderPath::parse("$/d").unwrap(), PageRequest::default());
    for user in [alice, bob] {
        let listing = repos.list_folder(&user.id, &folder, &page).await.unwrap();
        let files: Vec<_> = listing.files.iter().map(|m| m.id()).collect();
        assert_eq!(files, [file.id()], "{} still sees the file", user.username);
    }
    assert_eq!(repos.list_shares(&file.id()).await.unwrap().len(), 1, "the share survived");
    assert_eq!(repos.link_by_token(&link.token).await.unwrap().map(|l| l.id), Some(link.id));
    let violations = sqlx::query("PRAGMA foreign_key_check").fetch_all(repos.pool()).await.unwrap();
    assert!(violations.is_empty(), "{} foreign-key violations", violations.len());
    let integrity: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(repos.pool()).await.unwrap();
    assert_eq!(integrity, "ok");
    let taken = repos.insert(&workload::new_media(alice.id, "$/d", "f.txt"), None).await;
    assert!(taken.is_err(), "the name is still claimed outside the trash");
}
