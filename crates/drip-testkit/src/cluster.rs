//! Conformance suites of the cluster ports, run against every adapter (memory, PostgreSQL):
//! [`event_bus_conformance!`](crate::event_bus_conformance) for the `EventBus` (every
//! listener gets each message once, in the order one sender sent them, the longest
//! messages included) and [`node_registry_conformance!`](crate::node_registry_conformance)
//! for the `NodeRegistry` (beats, presence, versions, bounds, pruning, removal).
//!
//! No scenario sleeps: bounds are checked at their extremes (a zero bound holds no node, an
//! hour holds every node that just beat), and a wait for a message is bounded only to turn
//! a lost message into a failure instead of a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use drip_core::accounts::model::Username;
use drip_core::events::Event;
use drip_core::events::cluster::{
    ClusterMessage, EventBus, LocalCount, MAX_NODE_NAME, MessageStream, NodeInfo, NodeName, NodeRegistry,
};
use drip_core::storage::model::{FileName, MAX_NAME_BYTES};
use drip_core::{Ksuid, MediaId, UserId};
use futures::StreamExt as _;

/// Two handles on one fresh bus, as two nodes hold it.
pub struct Bus {
    /// The first node's handle.
    pub bus: Arc<dyn EventBus>,
    /// Another node's handle on the same bus (its own connection where there are any).
    pub other: Arc<dyn EventBus>,
    /// Kept alive for the scenario (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// A fresh, empty registry.
pub struct Registry {
    /// The registry under test.
    pub registry: Arc<dyn NodeRegistry>,
    /// Kept alive for the scenario.
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one test per event bus scenario, each calling `$setup().await` (an `async
/// fn() -> Bus`, or `-> Option<Bus>` to skip without the backend).
#[macro_export]
macro_rules! event_bus_conformance {
    ($setup:path) => {
        $crate::event_bus_conformance!(@scenarios $setup;
            a_message_reaches_every_listener_the_sender_included,
            a_listener_receives_only_what_is_published_after_it_listens,
            messages_of_one_sender_arrive_once_and_in_order,
            every_kind_of_message_arrives_whole_at_its_longest,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(bus) = $crate::MaybeFixture::<$crate::cluster::Bus>::into_fixture($setup().await) {
                    $crate::cluster::$scenario(bus).await;
                }
            }
        )*
    };
}

/// Expands to one test per node registry scenario, each calling `$setup().await` (an
/// `async fn() -> Registry`, or `-> Option<Registry>`).
#[macro_export]
macro_rules! node_registry_conformance {
    ($setup:path) => {
        $crate::node_registry_conformance!(@scenarios $setup;
            the_first_beat_registers_a_node_and_later_ones_renew_it,
            live_nodes_come_with_their_presence_and_version,
            a_count_of_zero_removes_the_user,
            versions_only_grow,
            presence_of_an_unknown_node_is_refused,
            bounds_decide_who_is_alive_and_who_is_pruned,
            a_removed_node_is_forgotten_with_its_presence,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(registry) = $crate::MaybeFixture::<$crate::cluster::Registry>::into_fixture($setup().await) {
                    $crate::cluster::$scenario(registry).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// The longest a lost message may keep a scenario waiting before it fails.
const PATIENCE: Duration = Duration::from_secs(10);
const HOUR: Duration = Duration::from_secs(3600);

fn node(name: &str) -> NodeName {
    NodeName::parse(name).unwrap()
}

fn info(name: &str) -> NodeInfo {
    NodeInfo { name: node(name), hostname: format!("host-of-{name}") }
}

fn user(n: u8) -> UserId {
    let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    UserId::from_ksuid(Ksuid::from_parts(at, [n; 16]))
}

fn count(n: u8, connections: usize) -> LocalCount {
    (user(n), Username::parse(&format!("user{n}")).unwrap(), connections)
}

fn goodbye(n: usize) -> ClusterMessage {
    ClusterMessage::Goodbye { from: node(&format!("node-{n}")) }
}

async fn next(listener: &mut MessageStream) -> ClusterMessage {
    match tokio::time::timeout(PATIENCE, listener.next()).await {
        Ok(Some(Ok(message))) => message,
        Ok(Some(Err(e))) => panic!("the listener failed: {e:#}"),
        Ok(None) => panic!("the listener ended"),
        Err(_) => panic!("no message within {PATIENCE:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Event bus scenarios
// ---------------------------------------------------------------------------------------

/// One publish reaches a listener of the publishing handle and one of another node's.
pub async fn a_message_reaches_every_listener_the_sender_included(fixture: Bus) {
    let mut own = fixture.bus.listen().await.unwrap();
    let mut others = fixture.other.listen().await.unwrap();
    fixture.bus.publish(&goodbye(1)).await.unwrap();
    assert_eq!(next(&mut own).await, goodbye(1));
    assert_eq!(next(&mut others).await, goodbye(1));
    fixture.other.publish(&goodbye(2)).await.unwrap();
    assert_eq!(next(&mut own).await, goodbye(2));
    assert_eq!(next(&mut others).await, goodbye(2));
}

/// What was published before `listen` returned is not delivered to that listener.
pub async fn a_listener_receives_only_what_is_published_after_it_listens(fixture: Bus) {
    let mut early = fixture.bus.listen().await.unwrap();
    fixture.bus.publish(&goodbye(1)).await.unwrap();
    assert_eq!(next(&mut early).await, goodbye(1));
    let mut late = fixture.other.listen().await.unwrap();
    fixture.bus.publish(&goodbye(2)).await.unwrap();
    assert_eq!(next(&mut late).await, goodbye(2), "the earlier message is not replayed");
}

/// Many messages of one sender arrive each once, in order, at a listener of another node.
pub async fn messages_of_one_sender_arrive_once_and_in_order(fixture: Bus) {
    let mut listener = fixture.other.listen().await.unwrap();
    for n in 0..100 {
        fixture.bus.publish(&goodbye(n)).await.unwrap();
    }
    for n in 0..100 {
        assert_eq!(next(&mut listener).await, goodbye(n), "message {n}");
    }
}

/// Each kind of message, with the longest names and ids there are, arrives unchanged.
pub async fn every_kind_of_message_arrives_whole_at_its_longest(fixture: Bus) {
    let from = node(&"n".repeat(MAX_NODE_NAME));
    let media_id = MediaId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [0xff; 16]));
    // Four-byte characters: the most bytes a name can take.
    let name = FileName::parse(&"\u{1f600}".repeat(MAX_NAME_BYTES / 4)).unwrap();
    let username = Username::parse(&"\u{1d532}".repeat(30)).unwrap();
    let messages = vec![
        ClusterMessage::Event { from: from.clone(), user: user(1), event: Event::Upload { media_id, name } },
        ClusterMessage::Event {
            from: from.clone(),
            user: user(1),
            event: Event::ShareSent { media_id, sharee: username.clone() },
        },
        ClusterMessage::Event {
            from: from.clone(),
            user: user(1),
            event: Event::ShareReceived { media_id, owner: username.clone() },
        },
        ClusterMessage::Event {
            from: from.clone(),
            user: user(1),
            event: Event::Download {
                archive: drip_core::ArchiveId::from_ksuid(media_id.ksuid()),
                link: format!("/api/v1/archives/{media_id}/content"),
            },
        },
        ClusterMessage::Presence {
            from: from.clone(),
            version: u64::MAX,
            count: (user(2), username, usize::MAX),
        },
        ClusterMessage::SessionEnded {
            from: from.clone(),
            session: drip_core::TokenFamilyId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [0xff; 16])),
        },
        ClusterMessage::Goodbye { from },
    ];
    let mut listener = fixture.other.listen().await.unwrap();
    for message in &messages {
        fixture.bus.publish(message).await.unwrap();
    }
    for message in messages {
        assert_eq!(next(&mut listener).await, message);
    }
}

// ---------------------------------------------------------------------------------------
// Node registry scenarios
// ---------------------------------------------------------------------------------------

/// `heartbeat` answers `true` for a node the registry did not know, `false` after.
pub async fn the_first_beat_registers_a_node_and_later_ones_renew_it(fixture: Registry) {
    let registry = fixture.registry;
    assert!(registry.heartbeat(&info("a")).await.unwrap(), "a first beat");
    assert!(!registry.heartbeat(&info("a")).await.unwrap(), "a renewal");
    assert!(registry.heartbeat(&info("b")).await.unwrap(), "another node");
}

/// `live` lists the nodes that beat, by name, with their host names, presence and version.
pub async fn live_nodes_come_with_their_presence_and_version(fixture: Registry) {
    let registry = fixture.registry;
    registry.heartbeat(&info("b")).await.unwrap();
    registry.heartbeat(&info("a")).await.unwrap();
    registry.set_presence(&node("a"), 5, &count(1, 2)).await.unwrap();
    registry.set_presence(&node("a"), 6, &count(2, 1)).await.unwrap();
    registry.set_presence(&node("a"), 7, &count(1, 3)).await.unwrap();
    let live = registry.live(HOUR).await.unwrap();
    let names: Vec<&str> = live.iter().map(|r| r.node.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(live[0].node.hostname, "host-of-a");
    assert_eq!(live[0].presence.version, 7);
    let (u1, n1, _) = count(1, 0);
    let (u2, n2, _) = count(2, 0);
    assert_eq!(live[0].presence.users.len(), 2);
    assert_eq!(live[0].presence.users.get(&u1), Some(&(n1, 3)));
    assert_eq!(live[0].presence.users.get(&u2), Some(&(n2, 1)));
    assert!(live[1].presence.users.is_empty());
}

/// A count of zero takes the user out of the node's presence.
pub async fn a_count_of_zero_removes_the_user(fixture: Registry) {
    let registry = fixture.registry;
    registry.heartbeat(&info("a")).await.unwrap();
    registry.set_presence(&node("a"), 1, &count(1, 2)).await.unwrap();
    registry.set_presence(&node("a"), 2, &count(1, 0)).await.unwrap();
    let live = registry.live(HOUR).await.unwrap();
    assert!(live[0].presence.users.is_empty(), "{live:?}");
    assert_eq!(live[0].presence.version, 2);
}

/// A node's version is the highest it reported, whatever the order of the reports.
pub async fn versions_only_grow(fixture: Registry) {
    let registry = fixture.registry;
    registry.heartbeat(&info("a")).await.unwrap();
    registry.set_presence(&node("a"), 10, &count(1, 1)).await.unwrap();
    registry.set_presence(&node("a"), 7, &count(2, 1)).await.unwrap();
    assert_eq!(registry.live(HOUR).await.unwrap()[0].presence.version, 10);
}

/// Presence of a node that never beat (or was forgotten) is refused.
pub async fn presence_of_an_unknown_node_is_refused(fixture: Registry) {
    let registry = fixture.registry;
    assert!(registry.set_presence(&node("ghost"), 1, &count(1, 1)).await.is_err());
    assert!(registry.live(HOUR).await.unwrap().is_empty());
}

/// A zero bound holds no node and an hour every node that just beat; pruning with a bound
/// forgets the nodes outside it, presence included, until they beat again.
pub async fn bounds_decide_who_is_alive_and_who_is_pruned(fixture: Registry) {
    let registry = fixture.registry;
    registry.heartbeat(&info("a")).await.unwrap();
    registry.heartbeat(&info("b")).await.unwrap();
    registry.set_presence(&node("a"), 1, &count(1, 1)).await.unwrap();
    assert!(registry.live(Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(registry.live(HOUR).await.unwrap().len(), 2);
    assert_eq!(registry.prune(HOUR).await.unwrap(), 0);
    assert_eq!(registry.prune(Duration::ZERO).await.unwrap(), 2);
    assert!(registry.live(HOUR).await.unwrap().is_empty());
    assert!(registry.heartbeat(&info("a")).await.unwrap(), "a pruned node registers anew");
    let live = registry.live(HOUR).await.unwrap();
    assert!(live[0].presence.users.is_empty(), "its old presence is gone: {live:?}");
}

/// `remove` forgets a node and its presence; the other nodes stay.
pub async fn a_removed_node_is_forgotten_with_its_presence(fixture: Registry) {
    let registry = fixture.registry;
    registry.heartbeat(&info("a")).await.unwrap();
    registry.heartbeat(&info("b")).await.unwrap();
    registry.set_presence(&node("a"), 1, &count(1, 1)).await.unwrap();
    registry.remove(&node("a")).await.unwrap();
    registry.remove(&node("never-seen")).await.unwrap();
    let live = registry.live(HOUR).await.unwrap();
    assert_eq!(live.iter().map(|r| r.node.name.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(registry.set_presence(&node("a"), 2, &count(1, 1)).await.is_err());
}
