//! Repository benchmark on PostgreSQL: folder-listing and store-metadata latency at growing
//! numbers of media (what `cargo xtask bench repo` runs; the workload, the measures and the
//! output lines are [`drip_testkit::bench`]'s).
//!
//! ```text
//! cargo run --release -p drip-postgres --example repo_bench_postgres -- [--media 10000,100000,1000000]
//!     [--quick] [--iterations 200] [--url postgres://postgres@127.0.0.1:5432/postgres] [--explain]
//! ```
//! For each size it creates a throwaway database on the server (`--url`, else
//! `DATABASE_URL`, else the local default) and seeds it with `unnest` inserts.
//! `--quick` stops at 100,000 media; `--explain` also prints the plans (with buffer counts)
//! of the two queries behind a root listing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::UserId;
use drip_postgres::PgRepositories;
use drip_testkit::bench::{self, Args, Backend, FolderStat, SeededMedia, UserTotals};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// Throwaway databases on one server.
struct PgBench {
    admin: PgConnectOptions,
    explain: bool,
    database: String,
}

impl PgBench {
    /// Runs `sql` on the server's administrative database.
    async fn admin(&self, sql: String) {
        let mut conn = PgConnection::connect_with(&self.admin).await.expect("connecting to postgresql");
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

#[async_trait(?Send)]
impl Backend for PgBench {
    const NAME: &'static str = "postgres";
    type Repos = PgRepositories;

    async fn create(&mut self, n: usize) -> PgRepositories {
        self.database = format!("drip_bench_{}_{n}", std::process::id());
        self.admin(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database)).await;
        self.admin(format!("CREATE DATABASE \"{}\"", self.database)).await;
        let options = self.admin.clone().database(&self.database);
        let pool = PgPoolOptions::new().max_connections(4).connect_with(options).await.unwrap();
        let repos = PgRepositories::from_pool(pool);
        repos.migrate().await.unwrap();
        repos
    }

    async fn insert_media(&mut self, repos: &PgRepositories, batch: &[SeededMedia], now: DateTime<Utc>) {
        sqlx::query(
            "INSERT INTO storage_media (id, creator_id, file_name, full_path, content_type, storage_key, \
                 algorithm, chunk_size, key_id, wrapped_key, file_size, digest, uploaded_at, created_at, updated_at) \
             SELECT r.id, r.creator, r.name, r.path, $7, r.key, $8, $9, $10, $11, r.size, $12, $13, $13, $13 \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
                 AS r(id, creator, name, path, key, size)",
        )
        .bind(column(batch, |m| m.id.as_str()))
        .bind(column(batch, |m| m.creator.as_str()))
        .bind(column(batch, |m| m.name.as_str()))
        .bind(column(batch, |m| m.folder.as_str()))
        .bind(column(batch, |m| m.storage_key.as_str()))
        .bind(column(batch, |m| m.size))
        .bind(bench::CONTENT_TYPE)
        .bind(drip_core::content::ALGORITHM)
        .bind(bench::CHUNK_SIZE)
        .bind(bench::KEY_ID)
        .bind(bench::WRAPPED_KEY.as_slice())
        .bind(bench::DIGEST.as_slice())
        .bind(now)
        .execute(repos.pool())
        .await
        .unwrap();
        let owners = bench::ownerships(batch);
        sqlx::query(
            "INSERT INTO media_owners (media_id, user_id, is_creator, full_path, file_name, uploaded, created_at) \
             SELECT r.media, r.usr, r.creator, r.path, r.name, true, $6 \
             FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[]) AS r(media, usr, creator, path, name)",
        )
        .bind(column(&owners, |o| o.media.id.as_str()))
        .bind(column(&owners, |o| o.user))
        .bind(column(&owners, |o| o.is_creator))
        .bind(column(&owners, |o| o.media.folder.as_str()))
        .bind(column(&owners, |o| o.media.name.as_str()))
        .bind(now)
        .execute(repos.pool())
        .await
        .unwrap();
    }

    async fn finish_seed(&mut self, repos: &PgRepositories, stats: &[FolderStat], totals: &[UserTotals]) {
        sqlx::query(
            "INSERT INTO folder_stats (user_id, parent_path, name, file_count, total_size) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])",
        )
        .bind(column(stats, |s| s.user.as_str()))
        .bind(column(stats, |s| s.parent.as_str()))
        .bind(column(stats, |s| s.name.as_str()))
        .bind(column(stats, |s| s.count))
        .bind(column(stats, |s| s.size))
        .execute(repos.pool())
        .await
        .unwrap();
        sqlx::query(
            "UPDATE users u SET media_count = t.media_count, disk_usage = t.disk_usage \
             FROM unnest($1::text[], $2::int8[], $3::int8[]) AS t(id, media_count, disk_usage) WHERE u.id = t.id",
        )
        .bind(column(totals, |t| t.user.as_str()))
        .bind(column(totals, |t| t.media_count))
        .bind(column(totals, |t| t.disk_usage))
        .execute(repos.pool())
        .await
        .unwrap();
        sqlx::raw_sql("VACUUM ANALYZE").execute(repos.pool()).await.unwrap();
    }

    async fn before_measuring(&mut self, repos: &PgRepositories, user: &UserId) {
        if self.explain {
            print_plans(repos.pool(), user).await;
        }
    }

    async fn remove(&mut self, repos: PgRepositories) {
        repos.pool().close().await;
        self.admin(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database)).await;
    }
}

/// One column of `rows`, as an array parameter for `unnest`.
fn column<'a, T, V>(rows: &'a [T], value: impl Fn(&'a T) -> V) -> Vec<V> {
    rows.iter().map(value).collect()
}

/// Prints the plans of the queries behind `list_folder(user, $)`.
async fn print_plans(pool: &PgPool, user: &UserId) {
    let queries = [
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT m.* FROM media_owners o \
         JOIN storage_media m ON m.id = o.media_id WHERE o.user_id = $1 AND o.full_path = '$' AND o.uploaded \
         ORDER BY o.file_name, o.media_id LIMIT 101",
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT name, file_count, total_size FROM folder_stats \
         WHERE user_id = $1 AND parent_path = '$' AND file_count > 0 ORDER BY name",
    ];
    for sql in queries {
        let plan: Vec<String> = sqlx::query_scalar(sql).bind(user.to_string()).fetch_all(pool).await.unwrap();
        for line in plan {
            println!("  {line}");
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse("repo_bench_postgres", &["--url"], &["--explain"]);
    let url = args.value("--url").map(str::to_owned).unwrap_or_else(|| {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    });
    let admin = PgConnectOptions::from_str(&url).expect("a postgres:// URL");
    let backend = PgBench { admin, explain: args.flag("--explain"), database: String::new() };
    bench::main(backend, &args).await;
}
