//! In-process event hub: per-user event channels and presence with connection counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Event, Notifier};
use crate::accounts::model::Username;
use crate::error::BackendError;
use crate::ids::UserId;

/// Events buffered per user before a slow connection starts missing some.
const USER_BUFFER: usize = 64;
/// Presence changes buffered before a slow connection starts missing some.
const PRESENCE_BUFFER: usize = 256;

/// One online user and how many connections they have open.
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

struct Inner {
    users: Mutex<HashMap<UserId, UserChannel>>,
    presence: broadcast::Sender<PresenceChange>,
}

impl Inner {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, UserChannel>> {
        // A panic while holding this lock leaves only counters behind; keep serving.
        self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The single-node [`Notifier`]: connections subscribe to their own user's events only.
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

impl Hub {
    /// An empty hub.
    #[must_use]
    pub fn new() -> Self {
        let (presence, _) = broadcast::channel(PRESENCE_BUFFER);
        Self { inner: Arc::new(Inner { users: Mutex::new(HashMap::new()), presence }) }
    }

    /// Opens a connection for an authenticated user: it receives that user's events and
    /// every presence change from now on. Dropping the subscription closes the connection.
    #[must_use]
    pub fn subscribe(&self, user: UserId, username: Username) -> HubSubscription {
        let presence = self.inner.presence.subscribe();
        let (events, entry) = {
            let mut users = self.inner.users();
            let channel = users.entry(user).or_insert_with(|| UserChannel {
                sender: broadcast::channel(USER_BUFFER).0,
                username: username.clone(),
                connections: 0,
            });
            channel.connections += 1;
            let entry = PresenceEntry { user_id: user, username, connections: channel.connections };
            (channel.sender.subscribe(), entry)
        };
        // Nobody listening is fine.
        let _ = self.inner.presence.send(PresenceChange::Join(entry));
        HubSubscription { hub: Arc::clone(&self.inner), user, events, presence }
    }

    /// Everyone online, by username.
    #[must_use]
    pub fn online(&self) -> Vec<PresenceEntry> {
        let mut list: Vec<_> = self
            .inner
            .users()
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

    /// Delivers an event to a user's open connections (none: dropped).
    pub fn send(&self, user: &UserId, event: Event) {
        if let Some(channel) = self.inner.users().get(user) {
            let _ = channel.sender.send(event);
        }
    }
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
            let mut users = self.hub.users();
            let Some(channel) = users.get_mut(&self.user) else { return };
            channel.connections = channel.connections.saturating_sub(1);
            let entry = PresenceEntry {
                user_id: self.user,
                username: channel.username.clone(),
                connections: channel.connections,
            };
            if channel.connections == 0 {
                users.remove(&self.user);
            }
            entry
        };
        let _ = self.hub.presence.send(PresenceChange::Leave(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Ksuid, MediaId};
    use crate::storage::model::FileName;

    fn user(n: u8) -> (UserId, Username) {
        let id = UserId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [n; 16]));
        (id, Username::parse(&format!("user{n}")).unwrap())
    }

    fn upload() -> Event {
        Event::Upload {
            media_id: MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap(),
            name: FileName::parse("a.txt").unwrap(),
        }
    }

    #[tokio::test]
    async fn events_reach_only_their_user() {
        let hub = Hub::new();
        let (a, an) = user(1);
        let (b, bn) = user(2);
        let mut sa = hub.subscribe(a, an);
        let mut sb = hub.subscribe(b, bn);
        hub.publish(&a, upload()).await.unwrap();
        assert_eq!(sa.next_event().await, Some(upload()));
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(20), sb.next_event()).await;
        assert!(nothing.is_err(), "b received a's event");
    }

    #[tokio::test]
    async fn presence_counts_connections() {
        let hub = Hub::new();
        let (a, an) = user(1);
        let mut watcher = hub.subscribe(a, an.clone());
        assert!(matches!(watcher.next_presence().await, Some(PresenceChange::Join(e)) if e.connections == 1));
        let second = hub.subscribe(a, an.clone());
        assert!(matches!(watcher.next_presence().await, Some(PresenceChange::Join(e)) if e.connections == 2));
        assert_eq!(hub.online()[0].connections, 2);
        drop(second);
        assert!(
            matches!(watcher.next_presence().await, Some(PresenceChange::Leave(e)) if e.connections == 1)
        );
        drop(watcher);
        assert!(hub.online().is_empty());
    }

    #[tokio::test]
    async fn next_interleaves_events_and_presence() {
        let hub = Hub::new();
        let (a, an) = user(1);
        let mut s = hub.subscribe(a, an);
        assert!(matches!(s.next().await, Some(HubMessage::Presence(PresenceChange::Join(_)))));
        hub.send(&a, upload());
        assert_eq!(s.next().await, Some(HubMessage::Event(upload())));
    }
}
