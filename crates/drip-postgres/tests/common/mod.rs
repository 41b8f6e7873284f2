//! Test support: a fresh, migrated PostgreSQL database per test on the server named by
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the
//! test ends. Without a reachable server a test is skipped, loudly — and fails under CI.
// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use drip_postgres::PgRepositories;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The server tests use when `DATABASE_URL` is not set.
pub(crate) const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SKIP_REPORTED: AtomicBool = AtomicBool::new(false);

/// A migrated database of its own; dropping it drops the database.
pub(crate) struct FreshDatabase {
    /// The repositories over it.
    pub(crate) repos: PgRepositories,
    /// Drops the database when dropped (keep it alive as long as the repositories).
    pub(crate) guard: DropDatabase,
}

/// Drops a test database (with `WITH (FORCE)`, closing leftover connections) on drop.
pub(crate) struct DropDatabase {
    admin: PgConnectOptions,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), std::mem::take(&mut self.name));
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
        // with a runtime of its own.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect_with(&admin).await.map_err(std::io::Error::other)?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        });
        if let Ok(Err(e)) = dropper.join() {
            let _ = writeln!(std::io::stderr(), "warning: could not drop a test database: {e}");
        }
    }
}

impl DropDatabase {
    /// A new pool of `pool_size` connections to this database, beside the one its
    /// [`FreshDatabase`] holds (as a second process on the same database would have).
    pub(crate) async fn connect(&self, pool_size: u32) -> PgRepositories {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .connect_with(self.admin.clone().database(&self.name))
            .await
            .expect("connecting to the test database");
        PgRepositories::from_pool(pool)
    }
}

/// The options of the server under test.
pub(crate) fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    PgConnectOptions::from_str(&url).expect("DATABASE_URL is a postgres:// URL")
}

/// A fresh, migrated database with a pool of `pool_size`; `None` (after saying so) when
/// no server is reachable. Panics when no server is reachable and `CI` is set.
pub(crate) async fn fresh_database(pool_size: u32) -> Option<FreshDatabase> {
    let admin = admin_options();
    let connected = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&admin)).await;
    let mut conn = match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return skipped(&e.to_string()),
        Err(_) => return skipped("connection timed out"),
    };
    let name = format!(
        "drip_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    conn.close().await.ok();
    let guard = DropDatabase { admin, name };
    let repos = guard.connect(pool_size).await;
    repos.migrate().await.expect("migrating the test database");
    Some(FreshDatabase { repos, guard })
}

fn skipped<T>(why: &str) -> Option<T> {
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL not reachable under CI: {why}");
    }
    if !SKIP_REPORTED.swap(true, Ordering::Relaxed) {
        // Written straight to stderr, past the test harness's output capture.
        let _ = writeln!(std::io::stderr(), "SKIPPED: PostgreSQL not reachable ({why})");
    }
    None
}
