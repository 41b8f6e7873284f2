//! Repository benchmark on SQLite: folder-listing and store-metadata latency at growing
//! numbers of media (what `cargo xtask bench repo` runs; the workload, the measures and the
//! output lines are [`drip_testkit::bench`]'s).
//!
//! ```text
//! cargo run --release -p drip-sqlite --example repo_bench_sqlite -- [--media 10000,100000,1000000]
//!     [--quick] [--iterations 200] [--dir DIRECTORY]
//! ```
//! For each size it creates a database file in a temporary directory (below `--dir` if
//! given; WAL, `synchronous = NORMAL`, as [`SqliteRepositories::open`] sets up) and seeds it
//! with multi-row `INSERT`s. `--quick` stops at 100,000 media.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_sqlite::SqliteRepositories;
use drip_testkit::bench::{self, Args, Backend, FolderStat, SeededMedia, UserTotals};
use sqlx::{QueryBuilder, Sqlite};

/// Rows per multi-row INSERT (SQLite allows 32,766 bound values per statement).
const ROWS_PER_STATEMENT: usize = 2_000;

/// Databases in temporary directories below `dir` (or the system's).
struct SqliteBench {
    dir: Option<std::path::PathBuf>,
    temp: Option<tempfile::TempDir>,
}

#[async_trait(?Send)]
impl Backend for SqliteBench {
    const NAME: &'static str = "sqlite";
    type Repos = SqliteRepositories;

    async fn create(&mut self, _n: usize) -> SqliteRepositories {
        let temp = match &self.dir {
            Some(dir) => tempfile::tempdir_in(dir).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let file = temp.path().join("bench.db");
        self.temp = Some(temp);
        drip_sqlite::open(file.to_str().unwrap()).await.unwrap()
    }

    async fn insert_media(&mut self, repos: &SqliteRepositories, batch: &[SeededMedia], now: DateTime<Utc>) {
        let now = now.timestamp_micros();
        let mut tx = repos.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
        for chunk in batch.chunks(ROWS_PER_STATEMENT / 2) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                 algorithm, chunk_size, key_id, wrapped_key, file_size, digest, uploaded_at, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, m| {
                row.push_bind(m.id.clone())
                    .push_bind(m.creator.clone())
                    .push_bind(m.name.clone())
                    .push_bind(m.folder.clone())
                    .push_bind(bench::CONTENT_TYPE)
                    .push_bind(m.storage_key.clone())
                    .push_bind(drip_core::content::ALGORITHM)
                    .push_bind(bench::CHUNK_SIZE)
                    .push_bind(bench::KEY_ID)
                    .push_bind(bench::WRAPPED_KEY.to_vec())
                    .push_bind(m.size)
                    .push_bind(bench::DIGEST.to_vec())
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await.unwrap();
        }
        for chunk in bench::ownerships(batch).chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) ",
            );
            insert.push_values(chunk, |mut row, o| {
                row.push_bind(o.media.id.clone())
                    .push_bind(o.user.to_owned())
                    .push_bind(o.is_creator)
                    .push_bind(o.media.folder.clone())
                    .push_bind(o.media.name.clone())
                    .push("1")
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn finish_seed(&mut self, repos: &SqliteRepositories, stats: &[FolderStat], totals: &[UserTotals]) {
        for chunk in stats.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO folder_stats (user_id, parent_path, name, file_count, total_size) ",
            );
            insert.push_values(chunk, |mut row, s| {
                row.push_bind(s.user.clone())
                    .push_bind(s.parent.clone())
                    .push_bind(s.name.clone())
                    .push_bind(s.count)
                    .push_bind(s.size);
            });
            insert.build().execute(repos.pool()).await.unwrap();
        }
        for t in totals {
            sqlx::query("UPDATE users SET media_count = ?2, disk_usage = ?3 WHERE id = ?1")
                .bind(&t.user)
                .bind(t.media_count)
                .bind(t.disk_usage)
                .execute(repos.pool())
                .await
                .unwrap();
        }
        sqlx::raw_sql("ANALYZE").execute(repos.pool()).await.unwrap();
    }

    async fn remove(&mut self, repos: SqliteRepositories) {
        repos.pool().close().await;
        self.temp = None;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse("repo_bench_sqlite", &["--dir"], &[]);
    let backend = SqliteBench { dir: args.value("--dir").map(Into::into), temp: None };
    bench::main(backend, &args).await;
}
