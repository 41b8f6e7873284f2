//! The event hub of one node: per-user event channels of its own connections, and presence
//! with connection counts — its own connections plus, when the node is part of a cluster,
//! those other nodes reported (see [`super::cluster`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::{Notify, broadcast};

use super::cluster::NodeName;
use super::{Event, Notifier};
use crate::accounts::model::Username;
use crate::error::BackendError;
use crate::ids::UserId;

/// Events buffered per user before a slow connection starts missing some.
const USER_BUFFER: usize = 64;
/// Presence changes buffered before a slow connection starts missing some.
const PRESENCE_BUFFER: usize = 256;

/// One online user and how many connections they have open (on every node the hub knows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEntry {
    /// The user.
    pub user_id: UserId,
    /// Their username.
    pub username: Username,
    /// Open connections.
    pub connections: usize,
}

/// A change of presence, pushed to every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceChange {
    /// A connection opened; `entry` has the new count.
    Join(PresenceEntry),
    /// A connection closed; `entry` has the new count (0 means offline).
    Leave(PresenceEntry),
}

struct UserChannel {
    sender: broadcast::Sender<Event>,
    username: Username,
    connections: usize,
}

/// What another node last reported: its connections per user, and the version of its
/// latest report (older reports arriving late are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePresence {
    /// The version of the report (each node numbers its changes).
    pub version: u64,
    /// Connections per user on that node (users with none are absent).
    pub users: HashMap<UserId, (Username, usize)>,
}

#[derive(Default)]
struct State {
    local: HashMap<UserId, UserChannel>,
    remote: BTreeMap<NodeName, RemotePresence>,
    /// Users whose local count changed since the cluster last took them (`None`: the hub is
    /// not part of a cluster, nothing is tracked).
    changed: Option<HashMap<UserId, Username>>,
}

impl State {
    fn total(&self, user: &UserId) -> Option<PresenceEntry> {
        let local = self.local.get(user).map(|c| (c.username.clone(), c.connections));
        let mut username = local.as_ref().map(|(name, _)| name.clone());
        let mut connections = local.map_or(0, |(_, n)| n);
        for node in self.remote.values() {
            if let Some((name, n)) = node.users.get(user) {
                connections += n;
                username.get_or_insert_with(|| name.clone());
            }
        }
        username.map(|username| PresenceEntry { user_id: *user, username, connections })
    }

    fn totals(&self) -> HashMap<UserId, PresenceEntry> {
        let users: HashSet<UserId> =
            self.local.keys().chain(self.remote.values().flat_map(|n| n.users.keys())).copied().collect();
        self.totals_of(users)
    }

    /// The totals of `users` only (those a change can touch), not of everyone online.
    fn totals_of(&self, users: impl IntoIterator<Item = UserId>) -> HashMap<UserId, PresenceEntry> {
        users.into_iter().filter_map(|u| self.total(&u).map(|e| (u, e))).collect()
    }

    fn mark_changed(&mut self, user: UserId, username: &Username) {
        if let Some(changed) = self.changed.as_mut() {
            changed.insert(user, username.clone());
        }
    }
}

struct Inner {
    state: Mutex<State>,
    presence: broadcast::Sender<PresenceChange>,
    /// Woken when a local count changes (for the cluster, when tracked).
    local_changed: Notify,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters behind; keep serving.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn announce(&self, changes: Vec<PresenceChange>) {
        for change in changes {
            // Nobody listening is fine.
            let _ = self.presence.send(change);
        }
    }
}

/// The node's [`Notifier`] when it runs alone: connections subscribe to their own user's
/// events only.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("online", &self.online().len()).finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

/// A local count: the user and their connections on this node.
pub type LocalCount = (UserId, Username, usize);

impl Hub {
    /// An empty hub.
    #[must_use]
    pub fn new() -> Self {
        let (presence, _) = broadcast::channel(PRESENCE_BUFFER);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                presence,
                local_changed: Notify::new(),
            }),
        }
    }

    /// Opens a connection for an authenticated user: it receives that user's events and
    /// every presence change from now on. Dropping the subscription closes the connection.
    #[must_use]
    pub fn subscribe(&self, user: UserId, username: Username) -> HubSubscription {
        let presence = self.inner.presence.subscribe();
        let (events, entry) = {
            let mut state = self.inner.state();
            let channel = state.local.entry(user).or_insert_with(|| UserChannel {
                sender: broadcast::channel(USER_BUFFER).0,
                username: username.clone(),
                connections: 0,
            });
            channel.connections += 1;
            let events = channel.sender.subscribe();
            state.mark_changed(user, &username);
            #[allow(clippy::expect_used)] // the user was just counted
            let entry = state.total(&user).expect("a counted user has a total");
            (events, entry)
        };
        self.inner.local_changed.notify_one();
        self.inner.announce(vec![PresenceChange::Join(entry)]);
        HubSubscription { hub: Arc::clone(&self.inner), user, events, presence }
    }

    /// Everyone online on every node the hub knows of, by username, with their total counts.
    #[must_use]
    pub fn online(&self) -> Vec<PresenceEntry> {
        let mut list: Vec<_> =
            self.inner.state().totals().into_values().filter(|e| e.connections > 0).collect();
        list.sort_by(|a, b| a.username.cmp(&b.username));
        list
    }

    /// The connections of this node alone, by username.
    #[must_use]
    pub fn local_online(&self) -> Vec<PresenceEntry> {
        let mut list: Vec<_> = self
            .inner
            .state()
            .local
            .iter()
            .filter(|(_, c)| c.connections > 0)
            .map(|(id, c)| PresenceEntry {
                user_id: *id,
                username: c.username.clone(),
                connections: c.connections,
            })
            .collect();
        list.sort_by(|a, b| a.username.cmp(&b.username));
        list
    }

    /// Delivers an event to a user's open connections on this node (none: dropped).
    pub fn send(&self, user: &UserId, event: Event) {
        if let Some(channel) = self.inner.state().local.get(user) {
            let _ = channel.sender.send(event);
        }
    }

    /// Starts tracking which local counts change, for [`Hub::take_local_changes`]; every
    /// user connected now counts as changed.
    pub(crate) fn track_local_changes(&self) {
        let mut state = self.inner.state();
        let all = state.local.iter().map(|(id, c)| (*id, c.username.clone())).collect();
        state.changed = Some(all);
        drop(state);
        self.inner.local_changed.notify_one();
    }

    /// Resolves once a local count changed since the last [`Hub::take_local_changes`]
    /// (at once if one did). Cancel-safe.
    pub(crate) async fn local_changes(&self) {
        self.inner.local_changed.notified().await;
    }

    /// The current local counts of the users whose count changed since the last call (0
    /// for those who left this node).
    pub(crate) fn take_local_changes(&self) -> Vec<LocalCount> {
        let mut state = self.inner.state();
        let changed = state.changed.as_mut().map(std::mem::take).unwrap_or_default();
        changed
            .into_iter()
            .map(|(user, username)| {
                let connections = state.local.get(&user).map_or(0, |c| c.connections);
                (user, username, connections)
            })
            .collect()
    }

    /// Sets one user's count on another node, from that node's report numbered `version`;
    /// an older report than the last one applied is ignored.
    pub(crate) fn apply_remote(&self, node: &NodeName, version: u64, count: LocalCount) {
        let changes = {
            let mut state = self.inner.state();
            if state.remote.get(node).is_some_and(|known| version <= known.version) {
                return;
            }
            let (user, username, connections) = count;
            let before = state.totals_of([user]);
            let remote = state.remote.entry(node.clone()).or_default();
            remote.version = version;
            if connections == 0 {
                remote.users.remove(&user);
            } else {
                remote.users.insert(user, (username, connections));
            }
            diff(&before, &state.totals_of([user]))
        };
        self.inner.announce(changes);
    }

    /// Replaces what the hub knows of other nodes with `nodes` (each with its report's
    /// version); a node's report older than what was applied already is kept as it is,
    /// and a node absent from `nodes` is gone (its users leave).
    pub(crate) fn replace_remote(&self, nodes: BTreeMap<NodeName, RemotePresence>) {
        let changes = {
            let mut state = self.inner.state();
            let before = state.totals();
            let mut merged = BTreeMap::new();
            for (name, report) in nodes {
                let newest = match state.remote.remove(&name) {
                    Some(known) if known.version > report.version => known,
                    _ => report,
                };
                merged.insert(name, newest);
            }
            state.remote = merged;
            diff(&before, &state.totals())
        };
        self.inner.announce(changes);
    }

    /// Forgets another node (it said goodbye): its users leave.
    pub(crate) fn forget_remote(&self, node: &NodeName) {
        let changes = {
            let mut state = self.inner.state();
            let Some(gone) = state.remote.get(node) else { return };
            let users: Vec<UserId> = gone.users.keys().copied().collect();
            let before = state.totals_of(users.iter().copied());
            state.remote.remove(node);
            diff(&before, &state.totals_of(users))
        };
        self.inner.announce(changes);
    }
}

/// The presence changes from one set of totals to another: a user with more connections
/// joined, one with fewer left.
fn diff(
    before: &HashMap<UserId, PresenceEntry>,
    after: &HashMap<UserId, PresenceEntry>,
) -> Vec<PresenceChange> {
    let mut changes = Vec::new();
    for (user, now) in after {
        let was = before.get(user).map_or(0, |e| e.connections);
        if now.connections > was {
            changes.push(PresenceChange::Join(now.clone()));
        } else if now.connections < was {
            changes.push(PresenceChange::Leave(now.clone()));
        }
    }
    for (user, was) in before {
        if !after.contains_key(user) && was.connections > 0 {
            changes.push(PresenceChange::Leave(PresenceEntry { connections: 0, ..was.clone() }));
        }
    }
    changes
}

#[async_trait]
impl Notifier for Hub {
    async fn publish(&self, user: &UserId, event: Event) -> Result<(), BackendError> {
        self.send(user, event);
        Ok(())
    }
}

/// What a connection receives: its user's events and everyone's presence changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubMessage {
    /// An event for the connection's user.
    Event(Event),
    /// Someone joined or left.
    Presence(PresenceChange),
}

/// One open connection of one user.
pub struct HubSubscription {
    hub: Arc<Inner>,
    user: UserId,
    events: broadcast::Receiver<Event>,
    presence: broadcast::Receiver<PresenceChange>,
}

impl std::fmt::Debug for HubSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSubscription").field("user", &self.user).finish()
    }
}

impl HubSubscription {
    /// The user's next event; `None` once the hub is gone. Events missed by a connection
    /// that fell more than the buffer behind are skipped.
    pub async fn next_event(&mut self) -> Option<Event> {
        next_skipping_lag(&mut self.events).await
    }

    /// Whichever comes first: the user's next event or the next presence change; `None`
    /// once the hub is gone. Cancel-safe (usable in `select!`).
    pub async fn next(&mut self) -> Option<HubMessage> {
        tokio::select! {
            event = next_skipping_lag(&mut self.events) => event.map(HubMessage::Event),
            change = next_skipping_lag(&mut self.presence) => change.map(HubMessage::Presence),
        }
    }

    /// The next presence change; `None` once the hub is gone.
    pub async fn next_presence(&mut self) -> Option<PresenceChange> {
        next_skipping_lag(&mut self.presence).await
    }
}

/// The next message of a broadcast channel, skipping what a lagging receiver missed;
/// `None` once the channel is closed. Cancel-safe, as `recv` is: a message is only taken
/// when it is returned.
async fn next_skipping_lag<T: Clone>(receiver: &mut broadcast::Receiver<T>) -> Option<T> {
    loop {
        match receiver.recv().await {
            Ok(message) => return Some(message),
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

impl Drop for HubSubscription {
    fn drop(&mut self) {
        let entry = {
            let mut state = self.hub.state();
            let Some(channel) = state.local.get_mut(&self.user) else { return };
            channel.connections = channel.connections.saturating_sub(1);
            let username = channel.username.clone();
            if channel.connections == 0 {
                state.local.remove(&self.user);
            }
            state.mark_changed(self.user, &username);
            state.total(&self.user).unwrap_or(PresenceEntry { user_id: self.user, username, connections: 0 })
        };
        self.hub.local_changed.notify_one();
        self.hub.announce(vec![PresenceChange::Leave(entry)]);
    }
}

#[cfg(test)]
mod tests;
