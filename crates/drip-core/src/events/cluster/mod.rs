//! Events and presence across nodes: the messages nodes exchange, the two ports they go
//! through — an [`EventBus`] that carries messages to every node (PostgreSQL
//! `LISTEN/NOTIFY`, or in process) and a [`NodeRegistry`] that remembers which nodes are
//! alive and who is connected to each (for a node that starts, reconnects or missed
//! messages) — and the [`ClusterNode`] that runs a node's part.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::Event;
use crate::accounts::model::Username;
use crate::error::BackendError;
use crate::ids::{TokenFamilyId, UserId};

mod node;
pub mod wire;

pub use super::hub::{LocalCount, RemotePresence};
pub use node::{ClusterNode, ClusterPorts, ClusterSettings};

/// Longest node name, in bytes.
pub const MAX_NODE_NAME: usize = 64;

/// A node's name, unique among the nodes sharing a database: 1–64 ASCII letters, digits,
/// `-`, `_`, `.`, `@` or `:` (a Kubernetes pod name, `host-pid`, `drip@10.0.0.7`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(String);

/// A node name that breaks the rules of [`NodeName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node name has 1-64 ASCII letters, digits, '-', '_', '.', '@' or ':'")]
pub struct InvalidNodeName;

impl NodeName {
    /// Checks `text` against the rules.
    ///
    /// # Errors
    /// [`InvalidNodeName`] when it breaks them.
    pub fn parse(text: &str) -> Result<Self, InvalidNodeName> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.@:".contains(c);
        if text.is_empty() || text.len() > MAX_NODE_NAME || !text.chars().all(allowed) {
            return Err(InvalidNodeName);
        }
        Ok(Self(text.to_owned()))
    }

    /// A name for a node that was given none: `host-pid` from the host name (characters
    /// outside the rules become `-`, cut to fit) and the process id, so that several
    /// processes on one host differ.
    #[must_use]
    pub fn derived(hostname: &str, pid: u32) -> Self {
        let suffix = format!("-{pid}");
        let host: String = hostname
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
            .take(MAX_NODE_NAME - suffix.len())
            .collect();
        let host = if host.is_empty() { "drip".to_owned() } else { host };
        Self(format!("{host}{suffix}"))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node: its name and the host it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its unique name.
    pub name: NodeName,
    /// The host name it reported (informational).
    pub hostname: String,
}

/// A message from one node to all (its sender receives it too, and ignores it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterMessage {
    /// An event for `user`'s connections on every node.
    Event {
        /// The node it was published on (which delivered it to its own connections).
        from: NodeName,
        /// Whose event it is.
        user: UserId,
        /// The event.
        event: Event,
    },
    /// A user's count of connections on `from` changed.
    Presence {
        /// The node whose count it is.
        from: NodeName,
        /// The number of the change (each node numbers its changes upwards).
        version: u64,
        /// The user, their name and their connections on `from` (0: none left).
        count: LocalCount,
    },
    /// A session (a refresh-token family) ended on `from`: other nodes forget it and close
    /// its event connections.
    SessionEnded {
        /// The node that ended it.
        from: NodeName,
        /// The session.
        session: TokenFamilyId,
    },
    /// `from` is stopping: its users are gone from it.
    Goodbye {
        /// The node.
        from: NodeName,
    },
}

impl ClusterMessage {
    /// The node that sent it.
    #[must_use]
    pub fn from(&self) -> &NodeName {
        match self {
            Self::Event { from, .. }
            | Self::Presence { from, .. }
            | Self::SessionEnded { from, .. }
            | Self::Goodbye { from } => from,
        }
    }
}

/// The messages a listener receives; an `Err` means the listener lost its connection
/// (what was sent meanwhile is lost) and the stream ends after it.
pub type MessageStream = BoxStream<'static, Result<ClusterMessage, BackendError>>;

/// Carries [`ClusterMessage`]s to every node that listens, the sender included, each at
/// most once per listener, in the order one sender sent them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends `message` to every listener.
    ///
    /// # Errors
    /// [`BackendError`] when the bus cannot be reached.
    async fn publish(&self, message: &ClusterMessage) -> Result<(), BackendError>;

    /// Starts listening: the stream yields what is published from the moment this
    /// returns.
    ///
    /// # Errors
    /// [`BackendError`] when the bus cannot be reached.
    async fn listen(&self) -> Result<MessageStream, BackendError>;
}

/// What the registry knows of one live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node.
    pub node: NodeInfo,
    /// Its connections per user, as of its change `version`.
    pub presence: RemotePresence,
}

/// Which nodes are alive (they beat within a bound) and who is connected to each — the
/// state a node reads when it starts, reconnects or checks for nodes that died.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NodeRegistry: Send + Sync + 'static {
    /// Records that `node` is alive now. Answers `true` when the registry did not know it
    /// (a first beat, or its entry was pruned after a long pause): its presence must be
    /// reported again.
    ///
    /// # Errors
    /// [`BackendError`] when the registry cannot be reached.
    async fn heartbeat(&self, node: &NodeInfo) -> Result<bool, BackendError>;

    /// Records `node`'s count of connections of a user (0 removes the user) as its change
    /// `version`, which becomes the node's version.
    ///
    /// # Errors
    /// [`BackendError`] when the registry cannot be reached, or does not know the node
    /// (it must beat first).
    async fn set_presence(
        &self,
        node: &NodeName,
        version: u64,
        count: &LocalCount,
    ) -> Result<(), BackendError>;

    /// Every node that beat within `within`, with its presence.
    ///
    /// # Errors
    /// [`BackendError`] when the registry cannot be reached.
    async fn live(&self, within: Duration) -> Result<Vec<NodeReport>, BackendError>;

    /// Forgets the nodes that did not beat within `within` and their presence; answers how
    /// many.
    ///
    /// # Errors
    /// [`BackendError`] when the registry cannot be reached.
    async fn prune(&self, within: Duration) -> Result<u64, BackendError>;

    /// Forgets `node` and its presence (it is stopping).
    ///
    /// # Errors
    /// [`BackendError`] when the registry cannot be reached.
    async fn remove(&self, node: &NodeName) -> Result<(), BackendError>;
}

/// Groups presence rows `(user, username, connections)` of one node into its report.
#[must_use]
pub fn presence_of(version: u64, rows: impl IntoIterator<Item = LocalCount>) -> RemotePresence {
    let users: HashMap<_, _> = rows
        .into_iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(user, username, n)| (user, (username, n)))
        .collect();
    RemotePresence { version, users }
}

/// A username from a trusted store (the registry), refused loudly when it does not parse.
///
/// # Errors
/// [`BackendError`] naming the stored value's problem.
pub fn stored_username(text: &str) -> Result<Username, BackendError> {
    Username::parse(text).map_err(|e| BackendError::new("the node registry holds an invalid username", e))
}

#[cfg(test)]
mod tests;
