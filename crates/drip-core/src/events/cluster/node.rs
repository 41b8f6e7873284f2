//! `ClusterNode`: a node's part in the cluster. It publishes the node's events to every
//! node (and delivers them to its own connections at once), reports its connections to the
//! registry and the bus, beats, and keeps its hub's view of the other nodes current: from
//! their messages as they come, and from the registry on every beat, which also drops
//! nodes that stopped beating.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{ClusterMessage, EventBus, NodeInfo, NodeRegistry};
use crate::accounts::AccountService;
use crate::clock::Clock;
use crate::error::{BackendError, report};
use crate::events::{Event, Hub, Notifier};
use crate::ids::{TokenFamilyId, UserId};

/// The ports a cluster node works through.
#[derive(Clone)]
pub struct ClusterPorts {
    /// Carries messages to every node.
    pub bus: Arc<dyn EventBus>,
    /// Which nodes are alive, and their presence.
    pub registry: Arc<dyn NodeRegistry>,
    /// Numbers the node's first presence change (later ones count up from it).
    pub clock: Arc<dyn Clock>,
}

/// How often a node beats, and how many beats it may miss before the others drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSettings {
    /// Time between two beats (and two reads of the registry).
    pub heartbeat: Duration,
    /// Beats a node may miss before it counts as dead: its users leave the others' presence
    /// at most `missed_beats + 1` beats after its last one.
    pub missed_beats: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self { heartbeat: Duration::from_secs(5), missed_beats: 3 }
    }
}

impl ClusterSettings {
    /// How recently a node must have beaten to count as alive.
    #[must_use]
    pub fn alive_within(&self) -> Duration {
        self.heartbeat.saturating_mul(self.missed_beats.max(1))
    }
}

struct Inner {
    node: NodeInfo,
    hub: Hub,
    ports: ClusterPorts,
    settings: ClusterSettings,
    /// Whether the bus listener is connected (for readiness).
    listening: AtomicBool,
    /// The other live nodes, as of the last read of the registry.
    peers: Mutex<Vec<NodeInfo>>,
    /// The number of the node's last presence change.
    version: AtomicU64,
    /// Whose session ends are carried to and from the other nodes, if anyone's.
    accounts: OnceLock<AccountService>,
}

/// One node of a cluster sharing a bus and a registry; also the services' [`Notifier`].
/// Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode").field("node", &self.inner.node).finish_non_exhaustive()
    }
}

/// Marks the listener connected while it lives.
struct Listening<'a>(&'a AtomicBool);

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl ClusterNode {
    /// The node `node`, whose connections are `hub`'s.
    #[must_use]
    pub fn new(node: NodeInfo, hub: Hub, ports: ClusterPorts, settings: ClusterSettings) -> Self {
        hub.track_local_changes();
        // Numbered from the clock, so that a node restarted under the same name counts on
        // from its earlier life and the others do not take its reports for old ones.
        let first = u64::try_from(ports.clock.now().timestamp_micros()).unwrap_or(0);
        Self {
            inner: Arc::new(Inner {
                node,
                hub,
                ports,
                settings,
                listening: AtomicBool::new(false),
                peers: Mutex::new(Vec::new()),
                version: AtomicU64::new(first),
                accounts: OnceLock::new(),
            }),
        }
    }

    /// Carries the session ends of `accounts` to the other nodes, and theirs to it (so a
    /// logout on one node closes the session's event connections on every node at once,
    /// and no node keeps trusting it from memory). Set once, before [`ClusterNode::run`].
    pub fn carry_session_ends(&self, accounts: AccountService) {
        let _ = self.inner.accounts.set(accounts);
    }

    /// This node.
    #[must_use]
    pub fn node(&self) -> &NodeInfo {
        &self.inner.node
    }

    /// The other nodes alive as of the last beat, by name.
    #[must_use]
    pub fn peers(&self) -> Vec<NodeInfo> {
        self.inner.peers.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether the node currently receives the other nodes' messages.
    #[must_use]
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }

    /// Takes part until `stop` is cancelled, then says goodbye. Returns an error when the
    /// bus or the registry fails (the listener lost its connection, say): run it under a
    /// supervisor, which starts it again — and a new run catches up from the registry.
    ///
    /// # Errors
    /// [`BackendError`] of the bus or the registry.
    pub async fn run(&self, stop: CancellationToken) -> Result<(), BackendError> {
        let inner = &self.inner;
        let mut ended_here = inner.accounts.get().map(AccountService::sessions_ended_here);
        let mut messages = inner.ports.bus.listen().await?;
        inner.listening.store(true, Ordering::SeqCst);
        let _listening = Listening(&inner.listening);
        tracing::info!(node = %inner.node.name, "listening to the other nodes");
        // Everyone connected now is reported again: messages sent while this node was not
        // listening, or failed to send, are lost.
        inner.ports.registry.heartbeat(&inner.node).await?;
        inner.hub.track_local_changes();
        self.report_local_changes().await?;
        self.catch_up().await?;
        let beat = inner.settings.heartbeat.max(Duration::from_millis(10));
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                message = messages.next() => match message {
                    Some(Ok(message)) => self.receive(message),
                    Some(Err(e)) => return Err(e),
                    None => return Err(BackendError::msg("the event bus listener stopped").transient()),
                },
                () = inner.hub.local_changes() => self.report_local_changes().await?,
                ended = next_ended(ended_here.as_mut()) => {
                    if let Some(session) = ended {
                        let from = inner.node.name.clone();
                        inner.ports.bus.publish(&ClusterMessage::SessionEnded { from, session }).await?;
                    }
                }
                _ = beats.tick() => {
                    if inner.ports.registry.heartbeat(&inner.node).await? {
                        tracing::warn!(node = %inner.node.name, "the node registry had forgotten this node; reporting its connections again");
                        inner.hub.track_local_changes();
                    }
                    let pruned = inner.ports.registry.prune(inner.settings.alive_within()).await?;
                    if pruned > 0 {
                        tracing::info!(pruned, "forgot nodes that stopped beating");
                    }
                    self.catch_up().await?;
                }
            }
        }
        self.goodbye().await;
        Ok(())
    }

    /// Applies another node's message to this node's hub.
    fn receive(&self, message: ClusterMessage) {
        let inner = &self.inner;
        if message.from() == &inner.node.name {
            return;
        }
        match message {
            ClusterMessage::Event { user, event, .. } => inner.hub.send(&user, event),
            ClusterMessage::Presence { from, version, count } => {
                inner.hub.apply_remote(&from, version, count)
            }
            ClusterMessage::SessionEnded { session, .. } => {
                if let Some(accounts) = inner.accounts.get() {
                    accounts.session_ended_elsewhere(&session);
                }
            }
            ClusterMessage::Goodbye { from } => {
                inner.hub.forget_remote(&from);
                self.inner.peers.lock().unwrap_or_else(PoisonError::into_inner).retain(|p| p.name != from);
            }
        }
    }

    /// Records and announces every local count that changed since the last report.
    async fn report_local_changes(&self) -> Result<(), BackendError> {
        let inner = &self.inner;
        for count in inner.hub.take_local_changes() {
            let version = inner.version.fetch_add(1, Ordering::SeqCst) + 1;
            // On failure the count is marked again by the next run's full report.
            inner.ports.registry.set_presence(&inner.node.name, version, &count).await?;
            let from = inner.node.name.clone();
            inner.ports.bus.publish(&ClusterMessage::Presence { from, version, count }).await?;
        }
        Ok(())
    }

    /// Replaces the hub's view of the other nodes with the registry's live ones.
    async fn catch_up(&self) -> Result<(), BackendError> {
        let inner = &self.inner;
        let live = inner.ports.registry.live(inner.settings.alive_within()).await?;
        let mut peers = Vec::new();
        let mut reports = BTreeMap::new();
        for report in live.into_iter().filter(|r| r.node.name != inner.node.name) {
            reports.insert(report.node.name.clone(), report.presence);
            peers.push(report.node);
        }
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        inner.hub.replace_remote(reports);
        let names = |list: &[NodeInfo]| list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",");
        let mut known = inner.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if names(&known) != names(&peers) {
            tracing::info!(peers = %names(&peers), "the nodes this node sees changed");
        }
        *known = peers;
        Ok(())
    }

    /// Leaves the registry and tells the others (best effort: otherwise they drop this
    /// node once it misses its beats).
    async fn goodbye(&self) {
        let inner = &self.inner;
        if let Err(e) = inner.ports.registry.remove(&inner.node.name).await {
            tracing::warn!(error = %report(&e), "could not remove this node from the registry");
        }
        let from = inner.node.name.clone();
        if let Err(e) = inner.ports.bus.publish(&ClusterMessage::Goodbye { from }).await {
            tracing::warn!(error = %report(&e), "could not say goodbye to the other nodes");
        }
    }
}

/// The next session this node ended; pending forever without a receiver. `None` when some
/// were missed (the receiver lagged): their connections close at their next token check.
async fn next_ended(receiver: Option<&mut broadcast::Receiver<TokenFamilyId>>) -> Option<TokenFamilyId> {
    let Some(receiver) = receiver else { return std::future::pending().await };
    match receiver.recv().await {
        Ok(session) => Some(session),
        Err(broadcast::error::RecvError::Lagged(_)) => None,
        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

#[async_trait]
impl Notifier for ClusterNode {
    /// Delivers to the user's connections on this node at once, and through the bus to
    /// those on the others.
    async fn publish(&self, user: &UserId, event: Event) -> Result<(), BackendError> {
        self.inner.hub.send(user, event.clone());
        let from = self.inner.node.name.clone();
        self.inner.ports.bus.publish(&ClusterMessage::Event { from, user: *user, event }).await
    }
}
