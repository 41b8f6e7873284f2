//! The cluster conformance suites (`drip-testkit`) against PostgreSQL — the bus's two
//! handles on separate pools, as two nodes hold them — and a listener whose connection is
//! killed by the server: its stream says so and ends, and a new listener works.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

mod common;

use std::sync::Arc;
use std::time::Duration;

use drip_core::events::cluster::{ClusterMessage, EventBus, NodeName};
use drip_postgres::{PgEventBus, PgNodeRegistry};
use drip_testkit::cluster::{Bus, Registry};
use futures::StreamExt as _;

async fn bus() -> Option<Bus> {
    let db = common::fresh_database(2).await?;
    let other = db.guard.connect(2).await;
    Some(Bus {
        bus: Arc::new(PgEventBus::new(db.repos.pool().clone())),
        other: Arc::new(PgEventBus::new(other.pool().clone())),
        guard: Some(Box::new(db.guard)),
    })
}

async fn registry() -> Option<Registry> {
    let db = common::fresh_database(2).await?;
    Some(Registry {
        registry: Arc::new(PgNodeRegistry::new(db.repos.pool().clone())),
        guard: Some(Box::new(db.guard)),
    })
}

drip_testkit::event_bus_conformance!(bus);
drip_testkit::node_registry_conformance!(registry);

/// The server ends the listener's session (a failover, an administrator): the stream yields
/// an error and ends, and listening again receives what is published after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_dies_says_so_and_a_new_one_works() {
    let Some(db) = common::fresh_database(2).await else { return };
    let bus = PgEventBus::new(db.repos.pool().clone());
    let mut listener = bus.listen().await.unwrap();
    let killed = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(db.repos.pool())
    .await
    .unwrap();
    assert_eq!(sqlx::Row::get::<i64, _>(&killed, "n"), 1, "one listening session");
    let end =
        tokio::time::timeout(Duration::from_secs(10), listener.next()).await.expect("the listener notices");
    assert!(matches!(end, Some(Err(_)) | None), "{end:?}");
    assert!(
        tokio::time::timeout(Duration::from_secs(10), listener.next()).await.unwrap().is_none(),
        "then ends"
    );
    let mut again = bus.listen().await.unwrap();
    let bye = ClusterMessage::Goodbye { from: NodeName::parse("n1").unwrap() };
    bus.publish(&bye).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), again.next()).await.unwrap();
    assert_eq!(got.unwrap().unwrap(), bye);
}
