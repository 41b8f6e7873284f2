//! Per-user events (the book's Phoenix channel messages), the `Notifier` port, the hub
//! that delivers them on a node, and the cluster that carries them across nodes.

use async_trait::async_trait;

use crate::accounts::model::Username;
use crate::error::BackendError;
use crate::ids::{ArchiveId, MediaId, UserId};
use crate::storage::model::{FileName, FolderPath};

pub mod cluster;
mod hub;
pub use cluster::ClusterNode;
pub use hub::{Hub, HubMessage, HubSubscription, PresenceChange, PresenceEntry};

/// Something a user is told about in real time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One of the user's uploads finished.
    Upload {
        /// The stored media.
        media_id: MediaId,
        /// Its name.
        name: FileName,
    },
    /// Someone put a file in one of the user's folders through a drop link (to the
    /// folder's owner).
    Dropped {
        /// The stored media.
        media_id: MediaId,
        /// Its name.
        name: FileName,
        /// The folder it landed in.
        folder: FolderPath,
    },
    /// The user shared a file with someone (to the sharer).
    ShareSent {
        /// The shared media.
        media_id: MediaId,
        /// Who received it.
        sharee: Username,
    },
    /// Someone shared a file with the user (to the sharee).
    ShareReceived {
        /// The shared media.
        media_id: MediaId,
        /// Who shared it.
        owner: Username,
    },
    /// A file shared with the user is shared no more (to the sharee): its creator withdrew
    /// the share, or the user left it (their other tabs hear of it).
    ShareWithdrawn {
        /// The media.
        media_id: MediaId,
    },
    /// Someone downloaded a file through one of the user's public links (to its creator,
    /// when the link asks for it).
    LinkDownloaded {
        /// The file.
        media_id: MediaId,
        /// Its name.
        name: FileName,
    },
    /// A download the user asked for (a prepared folder archive) is ready.
    Download {
        /// The archive.
        archive: ArchiveId,
        /// Where to fetch it.
        link: String,
    },
}

impl Event {
    /// The channel event name: `upload`, `share`, `unshare` or `download`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Upload { .. } | Self::Dropped { .. } => "upload",
            Self::ShareSent { .. } | Self::ShareReceived { .. } => "share",
            Self::ShareWithdrawn { .. } => "unshare",
            Self::Download { .. } | Self::LinkDownloaded { .. } => "download",
        }
    }

    /// The message the original application showed, word for word.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::Upload { name, .. } => format!("The file \"{name}\" was successfully uploaded."),
            Self::Dropped { name, folder, .. } => {
                format!("\"{name}\" was dropped into {folder} through one of your drop links.")
            }
            Self::ShareSent { sharee, .. } => format!("Successfully shared the file with {sharee}."),
            Self::ShareReceived { owner, .. } => format!("{owner} has just shared a file with you!"),
            Self::ShareWithdrawn { .. } => "A file shared with you is no longer shared.".to_owned(),
            Self::Download { .. } => "Your download is ready. Start it by clicking here.".to_owned(),
            Self::LinkDownloaded { name, .. } => format!("Your link to \"{name}\" was downloaded."),
        }
    }

    /// The media the event is about, if it is about one.
    #[must_use]
    pub fn media_id(&self) -> Option<MediaId> {
        match self {
            Self::Upload { media_id, .. }
            | Self::Dropped { media_id, .. }
            | Self::ShareSent { media_id, .. }
            | Self::ShareReceived { media_id, .. }
            | Self::ShareWithdrawn { media_id }
            | Self::LinkDownloaded { media_id, .. } => Some(*media_id),
            Self::Download { .. } => None,
        }
    }

    /// The archive the event is about, if it is about one.
    #[must_use]
    pub fn archive_id(&self) -> Option<ArchiveId> {
        match self {
            Self::Download { archive, .. } => Some(*archive),
            Self::Upload { .. }
            | Self::Dropped { .. }
            | Self::ShareSent { .. }
            | Self::ShareReceived { .. }
            | Self::ShareWithdrawn { .. }
            | Self::LinkDownloaded { .. } => None,
        }
    }
}

/// Publishes per-user events (an in-process [`Hub`], or a cross-node bus).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers `event` to every live connection of `user`, and to no one else.
    /// Users without connections simply miss it.
    ///
    /// # Errors
    /// [`BackendError`] when a cross-node bus cannot be reached.
    async fn publish(&self, user: &UserId, event: Event) -> Result<(), BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_the_original() {
        let id = MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap();
        let alice = Username::parse("alice").unwrap();
        let e = Event::Upload { media_id: id, name: FileName::parse("a.txt").unwrap() };
        assert_eq!(e.message(), "The file \"a.txt\" was successfully uploaded.");
        assert_eq!(e.kind(), "upload");
        let e = Event::Dropped {
            media_id: id,
            name: FileName::parse("cv.pdf").unwrap(),
            folder: FolderPath::parse("$/jobs").unwrap(),
        };
        assert_eq!(e.message(), "\"cv.pdf\" was dropped into $/jobs through one of your drop links.");
        assert_eq!(e.kind(), "upload");
        let e = Event::ShareSent { media_id: id, sharee: alice.clone() };
        assert_eq!(e.message(), "Successfully shared the file with alice.");
        let e = Event::ShareReceived { media_id: id, owner: alice };
        assert_eq!(e.message(), "alice has just shared a file with you!");
        assert_eq!(e.kind(), "share");
        let e = Event::LinkDownloaded { media_id: id, name: FileName::parse("a.txt").unwrap() };
        assert_eq!(e.message(), "Your link to \"a.txt\" was downloaded.");
        assert_eq!(e.kind(), "download");
        assert_eq!(e.media_id(), Some(id));
        let archive = ArchiveId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap();
        let e = Event::Download { archive, link: "/api/v1/archives/x/content".into() };
        assert_eq!(e.message(), "Your download is ready. Start it by clicking here.");
        assert_eq!(e.kind(), "download");
        assert_eq!((e.media_id(), e.archive_id()), (None, Some(archive)));
    }
}
