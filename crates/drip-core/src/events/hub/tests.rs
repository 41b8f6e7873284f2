//! Unit tests of the hub: events per user, local counts, and other nodes' reports merged
//! into the totals.

use super::*;
use crate::ids::{Ksuid, MediaId};
use crate::storage::model::FileName;

fn user(n: u8) -> (UserId, Username) {
    let id = UserId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [n; 16]));
    (id, Username::parse(&format!("user{n}")).unwrap())
}

fn node(name: &str) -> NodeName {
    NodeName::parse(name).unwrap()
}

fn upload() -> Event {
    Event::Upload {
        media_id: MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap(),
        name: FileName::parse("a.txt").unwrap(),
    }
}

fn report(version: u64, users: &[(UserId, Username, usize)]) -> RemotePresence {
    RemotePresence { version, users: users.iter().map(|(id, name, n)| (*id, (name.clone(), *n))).collect() }
}

/// Drains the presence changes announced so far, in order.
fn drained(subscription: &mut HubSubscription) -> Vec<PresenceChange> {
    let mut changes = Vec::new();
    while let Ok(change) = subscription.presence.try_recv() {
        changes.push(change);
    }
    changes
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
    assert!(sb.events.try_recv().is_err(), "b received a's event");
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
    assert!(matches!(watcher.next_presence().await, Some(PresenceChange::Leave(e)) if e.connections == 1));
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

#[test]
fn other_nodes_counts_add_to_the_totals_and_changes_are_announced_with_them() {
    let hub = Hub::new();
    let (a, an) = user(1);
    let (b, bn) = user(2);
    let mut watcher = hub.subscribe(a, an.clone());
    drained(&mut watcher);
    hub.apply_remote(&node("n2"), 1, (a, an.clone(), 2));
    hub.apply_remote(&node("n2"), 2, (b, bn.clone(), 1));
    assert_eq!(
        drained(&mut watcher),
        vec![
            PresenceChange::Join(PresenceEntry { user_id: a, username: an.clone(), connections: 3 }),
            PresenceChange::Join(PresenceEntry { user_id: b, username: bn.clone(), connections: 1 }),
        ]
    );
    let online = hub.online();
    assert_eq!(online.iter().map(|e| e.connections).collect::<Vec<_>>(), vec![3, 1]);
    assert_eq!(hub.local_online().len(), 1, "the node's own connections are a's one");
    hub.apply_remote(&node("n2"), 3, (a, an.clone(), 0));
    assert_eq!(
        drained(&mut watcher),
        vec![PresenceChange::Leave(PresenceEntry { user_id: a, username: an, connections: 1 })]
    );
}

#[test]
fn a_report_older_than_the_one_applied_is_ignored() {
    let hub = Hub::new();
    let (a, an) = user(1);
    hub.apply_remote(&node("n2"), 5, (a, an.clone(), 2));
    hub.apply_remote(&node("n2"), 4, (a, an.clone(), 7));
    assert_eq!(hub.online()[0].connections, 2);
    // A snapshot read before the newest report does not undo it either.
    hub.replace_remote(BTreeMap::from([(node("n2"), report(3, &[(a, an.clone(), 1)]))]));
    assert_eq!(hub.online()[0].connections, 2);
    hub.replace_remote(BTreeMap::from([(node("n2"), report(6, &[(a, an, 1)]))]));
    assert_eq!(hub.online()[0].connections, 1);
}

#[test]
fn a_node_missing_from_the_snapshot_or_saying_goodbye_takes_its_users_along() {
    let hub = Hub::new();
    let (a, an) = user(1);
    let (b, bn) = user(2);
    let mut watcher = hub.subscribe(a, an.clone());
    hub.replace_remote(BTreeMap::from([
        (node("n2"), report(1, &[(a, an.clone(), 1), (b, bn.clone(), 1)])),
        (node("n3"), report(1, &[(b, bn.clone(), 2)])),
    ]));
    assert_eq!(hub.online().iter().map(|e| e.connections).collect::<Vec<_>>(), vec![2, 3]);
    drained(&mut watcher);
    hub.replace_remote(BTreeMap::from([(node("n3"), report(1, &[(b, bn.clone(), 2)]))]));
    let changes = drained(&mut watcher);
    assert!(changes.contains(&PresenceChange::Leave(PresenceEntry {
        user_id: a,
        username: an,
        connections: 1
    })));
    assert!(changes.contains(&PresenceChange::Leave(PresenceEntry {
        user_id: b,
        username: bn.clone(),
        connections: 2
    })));
    hub.forget_remote(&node("n3"));
    assert_eq!(
        drained(&mut watcher),
        vec![PresenceChange::Leave(PresenceEntry { user_id: b, username: bn, connections: 0 })]
    );
}

#[test]
fn local_changes_are_tracked_once_the_cluster_asks_and_report_the_local_count() {
    let hub = Hub::new();
    let (a, an) = user(1);
    let (b, bn) = user(2);
    let first = hub.subscribe(a, an.clone());
    assert!(hub.take_local_changes().is_empty(), "nothing is tracked outside a cluster");
    hub.track_local_changes();
    assert_eq!(hub.take_local_changes(), vec![(a, an.clone(), 1)], "who was there counts as changed");
    hub.apply_remote(&node("n2"), 1, (a, an.clone(), 4));
    let second = hub.subscribe(b, bn.clone());
    drop(first);
    let mut changes = hub.take_local_changes();
    changes.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(changes, vec![(a, an, 0), (b, bn, 1)], "local counts, not the totals");
    assert!(hub.take_local_changes().is_empty());
    drop(second);
}
