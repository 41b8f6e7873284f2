//! Several `ClusterNode`s in one process on the in-memory bus and registry: events reach
//! their user's connections on every node once, presence counts add up across nodes, a
//! node that stops says goodbye, one that dies is dropped within the bound, and a node
//! whose listener fails is restarted by its supervisor and catches up.
//!
//! Time is tokio's paused clock (it jumps ahead whenever every task waits), and the
//! registry dates beats by that same clock. Scenarios wait for the nodes' port calls (each
//! one is announced), never for a duration, and bounds are counted in the surviving node's
//! reads of the registry: one per beat.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::AccountService;
use drip_core::accounts::model::{RegisterRequest, Username};
use drip_core::clock::Clock;
use drip_core::events::cluster::{
    ClusterMessage, ClusterNode, ClusterPorts, ClusterSettings, EventBus, LocalCount, MessageStream,
    NodeInfo, NodeName, NodeRegistry, NodeReport,
};
use drip_core::events::{Event, Hub, HubSubscription, Notifier, PresenceChange};
use drip_core::storage::model::FileName;
use drip_core::supervisor::{Backoff, Restarts, supervise};
use drip_core::{BackendError, Ksuid, MediaId, UserId};
use drip_mock::{MemoryBus, MemoryRegistry};
use futures::StreamExt as _;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const BEAT: Duration = Duration::from_secs(1);
const SETTINGS: ClusterSettings = ClusterSettings { heartbeat: BEAT, missed_beats: 3 };
/// Longer than any scenario needs in virtual time.
const PATIENCE: Duration = Duration::from_secs(600);

/// Tokio's (paused) clock as a `Clock`.
struct TokioClock {
    base: DateTime<Utc>,
    start: Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap()
    }

    fn new_ksuid(&self) -> Ksuid {
        Ksuid::generate(self.now())
    }
}

/// Every call a node makes through its ports, counted; each call lets waiting tasks look
/// before it goes on.
#[derive(Clone)]
struct Activity(Arc<watch::Sender<u64>>);

impl Activity {
    async fn call(&self) {
        self.0.send_modify(|n| *n += 1);
        tokio::task::yield_now().await;
    }

    /// Waits until `done` holds, looking again after every port call of any node.
    async fn until(&self, done: impl Fn() -> bool) {
        let mut calls = self.0.subscribe();
        tokio::time::timeout(PATIENCE, async {
            while !done() {
                calls.changed().await.expect("the activity lives");
            }
        })
        .await
        .expect("the condition within the patience");
    }
}

/// A bus whose listeners can be cut (as a lost database connection cuts them).
#[derive(Clone)]
struct CuttableBus {
    inner: MemoryBus,
    cut: broadcast::Sender<()>,
    activity: Activity,
}

#[async_trait]
impl EventBus for CuttableBus {
    async fn publish(&self, message: &ClusterMessage) -> Result<(), BackendError> {
        self.activity.call().await;
        self.inner.publish(message).await
    }

    async fn listen(&self) -> Result<MessageStream, BackendError> {
        self.activity.call().await;
        let messages = self.inner.listen().await?;
        let mut cut = self.cut.subscribe();
        let cut = futures::stream::once(async move {
            let _ = cut.recv().await;
            Err(BackendError::msg("cut"))
        });
        // Ends after its error, as a real listener's stream does.
        let merged = futures::stream::select(messages, cut.boxed());
        let until_cut = merged.scan(false, |ended, item| {
            if *ended {
                return futures::future::ready(None);
            }
            *ended = item.is_err();
            futures::future::ready(Some(item))
        });
        Ok(until_cut.boxed())
    }
}

/// The memory registry, with its calls announced and its reads of live nodes counted.
#[derive(Clone)]
struct CountedRegistry {
    inner: MemoryRegistry,
    activity: Activity,
    reads: Arc<AtomicU64>,
}

#[async_trait]
impl NodeRegistry for CountedRegistry {
    async fn heartbeat(&self, node: &NodeInfo) -> Result<bool, BackendError> {
        self.activity.call().await;
        self.inner.heartbeat(node).await
    }

    async fn set_presence(
        &self,
        node: &NodeName,
        version: u64,
        count: &LocalCount,
    ) -> Result<(), BackendError> {
        self.activity.call().await;
        self.inner.set_presence(node, version, count).await
    }

    async fn live(&self, within: Duration) -> Result<Vec<NodeReport>, BackendError> {
        self.activity.call().await;
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.live(within).await
    }

    async fn prune(&self, within: Duration) -> Result<u64, BackendError> {
        self.activity.call().await;
        self.inner.prune(within).await
    }

    async fn remove(&self, node: &NodeName) -> Result<(), BackendError> {
        self.activity.call().await;
        self.inner.remove(node).await
    }
}

struct Cluster {
    bus: CuttableBus,
    registry: CountedRegistry,
    clock: Arc<TokioClock>,
    activity: Activity,
}

struct Node {
    cluster: ClusterNode,
    hub: Hub,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Cluster {
    fn new() -> Self {
        let clock = Arc::new(TokioClock { base: Utc::now(), start: Instant::now() });
        let activity = Activity(Arc::new(watch::Sender::new(0)));
        Self {
            bus: CuttableBus {
                inner: MemoryBus::new(),
                cut: broadcast::channel(4).0,
                activity: activity.clone(),
            },
            registry: CountedRegistry {
                inner: MemoryRegistry::new(clock.clone()),
                activity: activity.clone(),
                reads: Arc::default(),
            },
            clock,
            activity,
        }
    }

    /// Waits until `done` holds (see [`Activity::until`]).
    async fn until(&self, done: impl Fn() -> bool) {
        self.activity.until(done).await;
    }

    /// How often the nodes read the live nodes so far (each node once per beat).
    fn registry_reads(&self) -> u64 {
        self.registry.reads.load(Ordering::SeqCst)
    }

    /// A node, running under a supervisor.
    fn start(&self, name: &str) -> Node {
        self.launch(name, true, None)
    }

    /// A node whose run is its task: aborting the task kills the node on the spot (a
    /// supervisor's run would live on without it).
    fn start_killable(&self, name: &str) -> Node {
        self.launch(name, false, None)
    }

    fn launch(&self, name: &str, supervised: bool, accounts: Option<AccountService>) -> Node {
        let hub = Hub::new();
        let ports = ClusterPorts {
            bus: Arc::new(self.bus.clone()),
            registry: Arc::new(self.registry.clone()),
            clock: self.clock.clone(),
        };
        let info = NodeInfo { name: NodeName::parse(name).unwrap(), hostname: format!("{name}.local") };
        let cluster = ClusterNode::new(info, hub.clone(), ports, SETTINGS);
        if let Some(accounts) = accounts {
            cluster.carry_session_ends(accounts);
        }
        let stop = CancellationToken::new();
        let task = if supervised {
            let (cluster, stop) = (cluster.clone(), stop.clone());
            let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
            tokio::spawn(supervise("events", stop.clone(), backoff, Restarts::default(), move || {
                let (cluster, stop) = (cluster.clone(), stop.clone());
                async move { cluster.run(stop).await }
            }))
        } else {
            let (cluster, stop) = (cluster.clone(), stop.clone());
            tokio::spawn(async move { cluster.run(stop).await.unwrap() })
        };
        Node { cluster, hub, stop, task }
    }
}

fn user(n: u8) -> (UserId, Username) {
    let id = UserId::from_ksuid(Ksuid::from_parts(Utc::now(), [n; 16]));
    (id, Username::parse(&format!("user{n}")).unwrap())
}

fn upload(n: u8) -> Event {
    Event::Upload {
        media_id: MediaId::from_ksuid(Ksuid::from_parts(Utc::now(), [n; 16])),
        name: FileName::parse(&format!("file{n}.txt")).unwrap(),
    }
}

async fn next_event(subscription: &mut HubSubscription) -> Event {
    tokio::time::timeout(PATIENCE, subscription.next_event()).await.expect("an event").expect("the hub lives")
}

/// Waits for a presence change matching `wanted`, skipping others.
async fn presence(
    subscription: &mut HubSubscription,
    wanted: impl Fn(&PresenceChange) -> bool,
) -> PresenceChange {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let change = subscription.next_presence().await.expect("the hub lives");
            if wanted(&change) {
                return change;
            }
        }
    })
    .await
    .expect("the presence change")
}

fn joined(user: UserId, connections: usize) -> impl Fn(&PresenceChange) -> bool {
    move |c| matches!(c, PresenceChange::Join(e) if e.user_id == user && e.connections == connections)
}

fn left(user: UserId, connections: usize) -> impl Fn(&PresenceChange) -> bool {
    move |c| matches!(c, PresenceChange::Leave(e) if e.user_id == user && e.connections == connections)
}

#[tokio::test(start_paused = true)]
async fn an_event_reaches_its_users_connections_on_every_node_once_and_no_one_else() {
    let cluster = Cluster::new();
    let (a, b, c) = (cluster.start("a"), cluster.start("b"), cluster.start("c"));
    let (alice, alice_name) = user(1);
    let (bob, bob_name) = user(2);
    let mut alice_on_a = a.hub.subscribe(alice, alice_name.clone());
    let mut alice_on_c = c.hub.subscribe(alice, alice_name);
    let mut bob_on_a = a.hub.subscribe(bob, bob_name);
    cluster.until(|| a.cluster.is_listening() && b.cluster.is_listening() && c.cluster.is_listening()).await;
    b.cluster.publish(&alice, upload(1)).await.unwrap();
    b.cluster.publish(&alice, upload(2)).await.unwrap();
    for connection in [&mut alice_on_a, &mut alice_on_c] {
        assert_eq!(next_event(connection).await, upload(1));
        assert_eq!(next_event(connection).await, upload(2), "the first event came once");
    }
    // Bob's next event is his own: alice's never reached him.
    a.cluster.publish(&bob, upload(3)).await.unwrap();
    assert_eq!(next_event(&mut bob_on_a).await, upload(3));
    drop((a.task, b.task, c.task));
}

#[tokio::test(start_paused = true)]
async fn presence_adds_up_across_nodes_and_a_node_that_stops_takes_its_users_along_at_once() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.start("a"), cluster.start("b"));
    let (alice, alice_name) = user(1);
    let (bob, bob_name) = user(2);
    let mut watcher = a.hub.subscribe(alice, alice_name.clone());
    let _on_b = [b.hub.subscribe(alice, alice_name.clone()), b.hub.subscribe(alice, alice_name.clone())];
    let bob_on_b = b.hub.subscribe(bob, bob_name.clone());
    // b reports its users in any order: wait for the totals, then check the diffs said so.
    let online = || -> Vec<(Username, usize)> {
        a.hub.online().into_iter().map(|e| (e.username, e.connections)).collect()
    };
    cluster.until(|| online() == vec![(alice_name.clone(), 3), (bob_name.clone(), 1)]).await;
    presence(&mut watcher, joined(alice, 3)).await;
    assert_eq!(a.hub.local_online().len(), 1);
    drop(bob_on_b);
    presence(&mut watcher, left(bob, 0)).await;
    cluster
        .until(|| a.cluster.peers().iter().any(|p| p.name.as_str() == "b" && p.hostname == "b.local"))
        .await;

    let reads = cluster.registry_reads();
    b.stop.cancel();
    b.task.await.unwrap();
    presence(&mut watcher, left(alice, 1)).await;
    assert_eq!(cluster.registry_reads(), reads, "a goodbye needs no beat: no read of the registry");
    assert!(a.cluster.peers().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_node_that_dies_without_goodbye_is_dropped_within_the_bound() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.start("a"), cluster.start_killable("b"));
    let (alice, alice_name) = user(1);
    let (bob, bob_name) = user(2);
    let mut watcher = a.hub.subscribe(alice, alice_name);
    let bob_on_b = b.hub.subscribe(bob, bob_name);
    presence(&mut watcher, joined(bob, 1)).await;
    cluster.until(|| !a.cluster.peers().is_empty()).await;
    // Killed: no goodbye, no more beats; its connection objects linger.
    b.task.abort();
    let reads = cluster.registry_reads();
    presence(&mut watcher, left(bob, 0)).await;
    // Only a beats now: each read of the registry is one of its beats.
    let beats = cluster.registry_reads() - reads;
    let bound = u64::from(SETTINGS.missed_beats + 1);
    assert!(beats <= bound, "dropped after {beats} beats, bound {bound}");
    assert!(beats >= u64::from(SETTINGS.missed_beats - 1), "not before it missed beats: {beats}");
    assert!(a.cluster.peers().is_empty());
    drop(bob_on_b);
}

#[tokio::test(start_paused = true)]
async fn a_node_whose_listener_fails_is_not_listening_until_restarted_and_then_catches_up() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.start("a"), cluster.start("b"));
    let (alice, alice_name) = user(1);
    let (bob, bob_name) = user(2);
    let mut watcher = a.hub.subscribe(alice, alice_name);
    cluster.until(|| a.cluster.is_listening() && b.cluster.is_listening()).await;
    cluster.bus.cut.send(()).unwrap();
    cluster.until(|| !a.cluster.is_listening()).await;
    // While the nodes are deaf, bob connects to b: a learns of it once both are back.
    let bob_on_b = b.hub.subscribe(bob, bob_name);
    presence(&mut watcher, joined(bob, 1)).await;
    cluster.until(|| a.cluster.is_listening()).await;
    drop(bob_on_b);
}

#[tokio::test(start_paused = true)]
async fn a_session_ended_on_one_node_ends_on_the_others_at_once() {
    let cluster = Cluster::new();
    // Two nodes' account services over one database.
    let fakes = drip_mock::fake_ports();
    let (on_a, on_b) = (fakes.account_service(), fakes.account_service());
    let a = cluster.launch("a", true, Some(on_a.clone()));
    let b = cluster.launch("b", true, Some(on_b.clone()));
    let request = RegisterRequest::parse("alice", "alice@example.com", "correct horse").unwrap();
    let session = on_a.register(request).await.unwrap();
    let token = session.access_token.as_str().to_owned();
    // b has checked the session once, and trusts it from memory for a while.
    let claims = on_b.authenticate(&token).await.unwrap();
    let mut ended_on_b = on_b.ended_sessions();
    cluster.until(|| a.cluster.is_listening() && b.cluster.is_listening()).await;
    on_a.logout(&session.refresh_token).await.unwrap();
    let ended = tokio::time::timeout(PATIENCE, ended_on_b.recv()).await.expect("told").expect("a session");
    assert_eq!(ended, claims.session);
    assert!(on_b.authenticate(&token).await.is_err(), "b asks the database again, and the session is over");
    drop((a.task, b.task));
}
