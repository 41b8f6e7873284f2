//! Unit tests of node names and the text form of cluster messages.

use super::wire::{MAX_PAYLOAD, decode, encode};
use super::*;
use crate::ids::{Ksuid, MediaId};
use crate::storage::model::FileName;

fn ids() -> (UserId, MediaId) {
    let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    (UserId::from_ksuid(Ksuid::from_parts(at, [7; 16])), MediaId::from_ksuid(Ksuid::from_parts(at, [9; 16])))
}

#[test]
fn node_names_follow_the_rules() {
    for good in ["a", "drip-7f9c-x2", "drip@10.0.0.7", "host:4000", &"n".repeat(64)] {
        assert_eq!(NodeName::parse(good).unwrap().as_str(), good);
    }
    for bad in ["", "has space", "ünï", "a/b", &"n".repeat(65)] {
        assert_eq!(NodeName::parse(bad), Err(InvalidNodeName), "{bad:?}");
    }
}

#[test]
fn a_derived_name_is_valid_whatever_the_host_name() {
    for host in ["web-1", "", "weird host/ñame", &"h".repeat(200)] {
        let name = NodeName::derived(host, 4_294_967_295);
        assert!(NodeName::parse(name.as_str()).is_ok(), "{name}");
        assert!(name.as_str().ends_with("-4294967295"), "{name}");
    }
    assert_eq!(NodeName::derived("web-1", 42).as_str(), "web-1-42");
}

#[test]
fn every_message_survives_its_text_form_and_fits_a_notify_payload_at_the_longest() {
    let (user, media_id) = ids();
    let longest_name = "é".repeat(127);
    let from = NodeName::parse(&"n".repeat(MAX_NODE_NAME)).unwrap();
    let username = Username::parse(&"\u{1d532}".repeat(30)).unwrap();
    let messages = [
        ClusterMessage::Event {
            from: from.clone(),
            user,
            event: Event::Upload { media_id, name: FileName::parse(&longest_name).unwrap() },
        },
        ClusterMessage::Event {
            from: from.clone(),
            user,
            event: Event::ShareSent { media_id, sharee: username.clone() },
        },
        ClusterMessage::Event {
            from: from.clone(),
            user,
            event: Event::ShareReceived { media_id, owner: username.clone() },
        },
        ClusterMessage::Event { from: from.clone(), user, event: Event::ShareWithdrawn { media_id } },
        ClusterMessage::Event {
            from: from.clone(),
            user,
            event: Event::Dropped {
                media_id,
                name: FileName::parse(&longest_name).unwrap(),
                folder: crate::storage::model::FolderPath::parse("$/in box/%_").unwrap(),
            },
        },
        ClusterMessage::Event {
            from: from.clone(),
            user,
            event: Event::Download {
                archive: crate::ids::ArchiveId::from_ksuid(media_id.ksuid()),
                link: format!("/api/v1/archives/{media_id}/content"),
            },
        },
        ClusterMessage::Presence { from: from.clone(), version: u64::MAX, count: (user, username, 3) },
        ClusterMessage::SessionEnded {
            from: from.clone(),
            session: crate::ids::TokenFamilyId::from_ksuid(Ksuid::from_parts(chrono::Utc::now(), [3; 16])),
        },
        ClusterMessage::Goodbye { from },
    ];
    for message in messages {
        let text = encode(&message);
        assert!(text.len() <= MAX_PAYLOAD / 4, "{} bytes: {text}", text.len());
        assert_eq!(decode(&text).unwrap(), message);
    }
}

#[test]
fn text_that_is_no_message_is_refused() {
    for text in [
        "",
        "{}",
        "{\"k\":\"later-kind\",\"n\":\"a\"}",
        "{\"k\":\"bye\",\"n\":\"bad name\"}",
        "[1]",
        "{\"k\":\"e\",\"n\":\"a\",\"u\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"e\":{\"t\":\"download\",\"a\":\"bad\",\"link\":\"/\"}}",
    ] {
        assert!(decode(text).is_err(), "{text:?}");
    }
}

#[test]
fn reports_keep_only_users_with_connections() {
    let (user, _) = ids();
    let name = Username::parse("alice").unwrap();
    let report = presence_of(4, [(user, name.clone(), 2)]);
    assert_eq!(report.version, 4);
    assert_eq!(report.users.get(&user), Some(&(name.clone(), 2)));
    assert!(presence_of(5, [(user, name, 0)]).users.is_empty());
}
