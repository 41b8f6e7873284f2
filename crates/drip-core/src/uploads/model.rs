//! Domain types of resumable uploads: the upload, its parts, and what a client asks for.

use chrono::{DateTime, Utc};

use crate::ids::{MediaId, UploadId, UserId};
use crate::storage::model::{ContentType, Envelope, FileName, FolderPath, StorageKey};

/// A resumable upload: `length` bytes announced, `offset` of them durably stored, the
/// pending file `media` holding the name and `length` bytes of the creator's quota until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableUpload {
    /// Its id (the last segment of its URL).
    pub id: UploadId,
    /// Who uploads (only they see it).
    pub creator: UserId,
    /// The pending file it becomes.
    pub media: MediaId,
    /// The announced size in bytes.
    pub length: u64,
    /// Bytes durably stored, from the start: the parts committed so far.
    pub offset: u64,
    /// When an unfinished upload is given up (and everything it stored removed).
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl ResumableUpload {
    /// Whether every byte is stored.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.offset >= self.length
    }
}

/// A stretch of an upload's content, encrypted under a data key of its own into an object
/// of its own. A part is recorded before its object is written (so that whatever happens,
/// its object is found and removed later), and counts once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPart {
    /// Its object (unique: also the part's id).
    pub key: StorageKey,
    /// The upload it belongs to.
    pub upload: UploadId,
    /// The offset of its first byte.
    pub start: u64,
    /// Its size in bytes once committed; `None` while it is written (or if its writer
    /// died).
    pub size: Option<u64>,
    /// How its object is encrypted.
    pub envelope: Envelope,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// What a client asks for when it creates an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The file's name.
    pub name: FileName,
    /// The folder it goes to.
    pub folder: FolderPath,
    /// Its MIME type; guessed from the name when absent.
    pub content_type: Option<ContentType>,
    /// Its size in bytes.
    pub length: u64,
}
