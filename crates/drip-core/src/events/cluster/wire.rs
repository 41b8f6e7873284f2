//! The text form of [`ClusterMessage`]s for buses that carry text (PostgreSQL `NOTIFY`
//! payloads): compact JSON with ids and names only, well under [`MAX_PAYLOAD`] bytes even
//! for the longest names.

use serde::{Deserialize, Serialize};

use super::{ClusterMessage, NodeName};
use crate::accounts::model::Username;
use crate::events::Event;
use crate::ids::{ArchiveId, MediaId, TokenFamilyId, UserId};
use crate::storage::model::{FileName, FolderPath};

/// The largest payload PostgreSQL's `NOTIFY` takes (8000 bytes), minus one.
pub const MAX_PAYLOAD: usize = 7999;

/// A payload that is no message of this version (a newer node's kind, or garbage).
#[derive(Debug, thiserror::Error)]
#[error("not a cluster message: {0}")]
pub struct WireError(String);

#[derive(Serialize, Deserialize)]
#[serde(tag = "k")]
enum Wire {
    #[serde(rename = "e")]
    Event { n: String, u: String, e: WireEvent },
    #[serde(rename = "p")]
    Presence { n: String, v: u64, u: String, name: String, c: usize },
    #[serde(rename = "end")]
    SessionEnded { n: String, s: String },
    #[serde(rename = "bye")]
    Goodbye { n: String },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t")]
enum WireEvent {
    #[serde(rename = "upload")]
    Upload { m: String, name: String },
    #[serde(rename = "dropped")]
    Dropped { m: String, name: String, f: String },
    #[serde(rename = "share_sent")]
    ShareSent { m: String, to: String },
    #[serde(rename = "share_received")]
    ShareReceived { m: String, by: String },
    #[serde(rename = "share_withdrawn")]
    ShareWithdrawn { m: String },
    #[serde(rename = "download")]
    Download { a: String, link: String },
    #[serde(rename = "link_downloaded")]
    LinkDownloaded { m: String, name: String },
}

/// The message as text.
#[must_use]
pub fn encode(message: &ClusterMessage) -> String {
    let wire = match message {
        ClusterMessage::Event { from, user, event } => {
            Wire::Event { n: from.to_string(), u: user.to_string(), e: encode_event(event) }
        }
        ClusterMessage::Presence { from, version, count: (user, username, connections) } => Wire::Presence {
            n: from.to_string(),
            v: *version,
            u: user.to_string(),
            name: username.to_string(),
            c: *connections,
        },
        ClusterMessage::SessionEnded { from, session } => {
            Wire::SessionEnded { n: from.to_string(), s: session.to_string() }
        }
        ClusterMessage::Goodbye { from } => Wire::Goodbye { n: from.to_string() },
    };
    // Strings and integers only: serializing cannot fail.
    serde_json::to_string(&wire).unwrap_or_default()
}

fn encode_event(event: &Event) -> WireEvent {
    match event {
        Event::Upload { media_id, name } => {
            WireEvent::Upload { m: media_id.to_string(), name: name.to_string() }
        }
        Event::Dropped { media_id, name, folder } => {
            WireEvent::Dropped { m: media_id.to_string(), name: name.to_string(), f: folder.to_string() }
        }
        Event::ShareSent { media_id, sharee } => {
            WireEvent::ShareSent { m: media_id.to_string(), to: sharee.to_string() }
        }
        Event::ShareReceived { media_id, owner } => {
            WireEvent::ShareReceived { m: media_id.to_string(), by: owner.to_string() }
        }
        Event::ShareWithdrawn { media_id } => WireEvent::ShareWithdrawn { m: media_id.to_string() },
        Event::LinkDownloaded { media_id, name } => {
            WireEvent::LinkDownloaded { m: media_id.to_string(), name: name.to_string() }
        }
        Event::Download { archive, link } => {
            WireEvent::Download { a: archive.to_string(), link: link.clone() }
        }
    }
}

/// The message a text stands for.
///
/// # Errors
/// [`WireError`] when it is no message of this version.
pub fn decode(text: &str) -> Result<ClusterMessage, WireError> {
    let wire: Wire = serde_json::from_str(text).map_err(|e| WireError(e.to_string()))?;
    Ok(match wire {
        Wire::Event { n, u, e } => {
            ClusterMessage::Event { from: node(&n)?, user: user(&u)?, event: decode_event(e)? }
        }
        Wire::Presence { n, v, u, name, c } => {
            ClusterMessage::Presence { from: node(&n)?, version: v, count: (user(&u)?, username(&name)?, c) }
        }
        Wire::SessionEnded { n, s } => ClusterMessage::SessionEnded {
            from: node(&n)?,
            session: TokenFamilyId::parse(&s).map_err(|e| WireError(e.to_string()))?,
        },
        Wire::Goodbye { n } => ClusterMessage::Goodbye { from: node(&n)? },
    })
}

fn decode_event(event: WireEvent) -> Result<Event, WireError> {
    Ok(match event {
        WireEvent::Upload { m, name } => Event::Upload {
            media_id: media(&m)?,
            name: FileName::parse(&name).map_err(|e| WireError(e.to_string()))?,
        },
        WireEvent::Dropped { m, name, f } => Event::Dropped {
            media_id: media(&m)?,
            name: FileName::parse(&name).map_err(|e| WireError(e.to_string()))?,
            folder: FolderPath::parse(&f).map_err(|e| WireError(e.to_string()))?,
        },
        WireEvent::ShareSent { m, to } => Event::ShareSent { media_id: media(&m)?, sharee: username(&to)? },
        WireEvent::ShareReceived { m, by } => {
            Event::ShareReceived { media_id: media(&m)?, owner: username(&by)? }
        }
        WireEvent::ShareWithdrawn { m } => Event::ShareWithdrawn { media_id: media(&m)? },
        WireEvent::LinkDownloaded { m, name } => Event::LinkDownloaded {
            media_id: media(&m)?,
            name: FileName::parse(&name).map_err(|e| WireError(e.to_string()))?,
        },
        WireEvent::Download { a, link } => {
            Event::Download { archive: ArchiveId::parse(&a).map_err(|e| WireError(e.to_string()))?, link }
        }
    })
}

fn node(text: &str) -> Result<NodeName, WireError> {
    NodeName::parse(text).map_err(|e| WireError(e.to_string()))
}

fn user(text: &str) -> Result<UserId, WireError> {
    UserId::parse(text).map_err(|e| WireError(e.to_string()))
}

fn media(text: &str) -> Result<MediaId, WireError> {
    MediaId::parse(text).map_err(|e| WireError(e.to_string()))
}

fn username(text: &str) -> Result<Username, WireError> {
    Username::parse(text).map_err(|e| WireError(e.to_string()))
}
