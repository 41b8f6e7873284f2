//! In-process `EventBus` and `NodeRegistry`: several nodes of one process (tests, or an
//! embedding service that runs a few) share one bus and one registry by cloning them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::BackendError;
use drip_core::UserId;
use drip_core::accounts::model::Username;
use drip_core::clock::Clock;
use drip_core::events::cluster::{
    ClusterMessage, EventBus, LocalCount, MessageStream, NodeInfo, NodeName, NodeRegistry, NodeReport,
    RemotePresence,
};
use futures::StreamExt as _;
use tokio::sync::broadcast;

/// Messages buffered per listener before a slow one misses some (and is told so).
const BUS_BUFFER: usize = 1024;

/// An [`EventBus`] within one process; clones share it.
#[derive(Clone)]
pub struct MemoryBus {
    sender: broadcast::Sender<ClusterMessage>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").field("listeners", &self.sender.receiver_count()).finish()
    }
}

impl MemoryBus {
    /// A bus nobody listens to yet.
    #[must_use]
    pub fn new() -> Self {
        Self { sender: broadcast::channel(BUS_BUFFER).0 }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, message: &ClusterMessage) -> Result<(), BackendError> {
        // No listener is no failure: nobody is there to miss it.
        let _ = self.sender.send(message.clone());
        Ok(())
    }

    async fn listen(&self) -> Result<MessageStream, BackendError> {
        let receiver = self.sender.subscribe();
        let stream = futures::stream::unfold(Some(receiver), |receiver| async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Ok(message) => Some((Ok(message), Some(receiver))),
                Err(broadcast::error::RecvError::Lagged(missed)) => Some((
                    Err(BackendError::msg(format!("the listener fell behind and missed {missed} messages"))),
                    None,
                )),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Ok(stream.boxed())
    }
}

struct Entry {
    info: NodeInfo,
    seen_at: DateTime<Utc>,
    version: u64,
    users: HashMap<UserId, (Username, usize)>,
}

/// A [`NodeRegistry`] within one process, timed by a [`Clock`]; clones share it.
#[derive(Clone)]
pub struct MemoryRegistry {
    nodes: Arc<Mutex<HashMap<NodeName, Entry>>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRegistry").field("nodes", &self.nodes().len()).finish()
    }
}

impl MemoryRegistry {
    /// An empty registry whose beats are dated by `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { nodes: Arc::default(), clock }
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<NodeName, Entry>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a beat at `seen_at` is within `within` of now (strictly: a zero bound
    /// holds no node).
    fn alive(&self, seen_at: DateTime<Utc>, within: Duration) -> bool {
        let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
        self.clock.now().signed_duration_since(seen_at) < within
    }
}

#[async_trait]
impl NodeRegistry for MemoryRegistry {
    async fn heartbeat(&self, node: &NodeInfo) -> Result<bool, BackendError> {
        let now = self.clock.now();
        let mut nodes = self.nodes();
        if let Some(entry) = nodes.get_mut(&node.name) {
            entry.seen_at = now;
            entry.info = node.clone();
            return Ok(false);
        }
        let entry = Entry { info: node.clone(), seen_at: now, version: 0, users: HashMap::new() };
        nodes.insert(node.name.clone(), entry);
        Ok(true)
    }

    async fn set_presence(
        &self,
        node: &NodeName,
        version: u64,
        count: &LocalCount,
    ) -> Result<(), BackendError> {
        let mut nodes = self.nodes();
        let entry = nodes
            .get_mut(node)
            .ok_or_else(|| BackendError::msg(format!("the registry does not know node {node}")))?;
        let (user, username, connections) = count;
        if *connections == 0 {
            entry.users.remove(user);
        } else {
            entry.users.insert(*user, (username.clone(), *connections));
        }
        entry.version = entry.version.max(version);
        Ok(())
    }

    async fn live(&self, within: Duration) -> Result<Vec<NodeReport>, BackendError> {
        let nodes = self.nodes();
        let mut live: Vec<NodeReport> = nodes
            .values()
            .filter(|e| self.alive(e.seen_at, within))
            .map(|e| NodeReport {
                node: e.info.clone(),
                presence: RemotePresence { version: e.version, users: e.users.clone() },
            })
            .collect();
        live.sort_by(|a, b| a.node.name.cmp(&b.node.name));
        Ok(live)
    }

    async fn prune(&self, within: Duration) -> Result<u64, BackendError> {
        let mut nodes = self.nodes();
        let before = nodes.len();
        nodes.retain(|_, e| self.alive(e.seen_at, within));
        Ok(u64::try_from(before - nodes.len()).unwrap_or(u64::MAX))
    }

    async fn remove(&self, node: &NodeName) -> Result<(), BackendError> {
        self.nodes().remove(node);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use drip_core::clock::SystemClock;

    use super::*;

    async fn bus() -> drip_testkit::cluster::Bus {
        let bus = MemoryBus::new();
        drip_testkit::cluster::Bus { bus: Arc::new(bus.clone()), other: Arc::new(bus), guard: None }
    }

    async fn registry() -> drip_testkit::cluster::Registry {
        let registry = MemoryRegistry::new(Arc::new(SystemClock));
        drip_testkit::cluster::Registry { registry: Arc::new(registry), guard: None }
    }

    drip_testkit::event_bus_conformance!(bus);
    drip_testkit::node_registry_conformance!(registry);
}
