//! Storage domain values: file names, folder paths, storage keys, media and listings.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::accounts::model::{Owner, Username};
use crate::ids::{MediaId, UserId};

pub use crate::content::{Digest, InvalidDigest};

/// Longest file name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest folder path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Deepest folder path, in segments below `$`.
pub const MAX_PATH_DEPTH: usize = 64;

/// Why a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid file name")]
pub struct InvalidName;

/// Why a folder path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid full path")]
pub struct InvalidPath;

/// Characters that reorder the text around them (bidirectional embeddings, overrides,
/// isolates and marks): `invoice\u{202e}txt.exe` shows as `invoiceexe.txt`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A file name: non-empty, no `/`, not `.` or `..`, no control characters (bidirectional
/// controls included), at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName(String);

impl FileName {
    /// Validates a file name.
    ///
    /// # Errors
    /// [`InvalidName`] when the rules of the type are broken.
    pub fn parse(name: &str) -> Result<Self, InvalidName> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.chars().any(|c| c.is_control() || is_bidi_control(c));
        if ok { Ok(Self(name.to_owned())) } else { Err(InvalidName) }
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The extension with its dot (`.txt`), if the name has one that is not the whole name.
    #[must_use]
    pub fn extension(&self) -> Option<&str> {
        match self.0.rfind('.') {
            Some(0) | None => None,
            Some(i) if i + 1 == self.0.len() => None,
            Some(i) => Some(&self.0[i..]),
        }
    }

    /// The `n`-th variant of the name for when it is taken: the name itself for 0, then
    /// `report (1).pdf`, `report (2).pdf`, ... (the number before the extension). A name
    /// too long for the number loses the end of its stem (or, when the extension leaves no
    /// room, of the whole name) to make room; `None` only if no valid name comes out.
    #[must_use]
    pub fn numbered(&self, n: u32) -> Option<Self> {
        if n == 0 {
            return Some(self.clone());
        }
        let number = format!(" ({n})");
        let room = MAX_NAME_BYTES.checked_sub(number.len())?;
        let extension = self.extension().filter(|e| e.len() < room).unwrap_or("");
        let stem = &self.0[..self.0.len() - extension.len()];
        let stem = cut_at_char_boundary(stem, room - extension.len());
        Self::parse(&format!("{stem}{number}{extension}")).ok()
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut_at_char_boundary(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A virtual folder: `$` (the user's root) or `$/seg/seg/...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FolderPath(String);

impl FolderPath {
    /// The user's root folder, `$`.
    #[must_use]
    pub fn root() -> Self {
        Self("$".to_owned())
    }

    /// Validates a folder path.
    ///
    /// # Errors
    /// [`InvalidPath`] unless the text is `$` or `$/` followed by valid file names
    /// joined by `/`, at most 1024 bytes and 64 segments deep.
    pub fn parse(path: &str) -> Result<Self, InvalidPath> {
        if path == "$" {
            return Ok(Self::root());
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(InvalidPath);
        }
        let rest = path.strip_prefix("$/").ok_or(InvalidPath)?;
        let mut depth = 0;
        for segment in rest.split('/') {
            FileName::parse(segment).map_err(|_| InvalidPath)?;
            depth += 1;
        }
        if depth > MAX_PATH_DEPTH {
            return Err(InvalidPath);
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `$`.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0 == "$"
    }

    /// The segments below `$`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').skip(1)
    }

    /// Number of segments below `$`.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The folder `name` inside this one.
    ///
    /// # Errors
    /// [`InvalidPath`] when the result would be too long or too deep.
    pub fn child(&self, name: &FileName) -> Result<Self, InvalidPath> {
        Self::parse(&format!("{}/{}", self.0, name.as_str()))
    }

    /// The folder holding this one; `None` for `$`.
    #[must_use]
    pub fn parent(&self) -> Option<Self> {
        let cut = self.0.rfind('/')?;
        Some(Self(self.0[..cut].to_owned()))
    }

    /// Whether `other` is this folder or lies anywhere below it
    /// (`$/a` contains `$/a/x` but not `$/ab`).
    #[must_use]
    pub fn contains(&self, other: &FolderPath) -> bool {
        other.0 == self.0
            || (other.0.len() > self.0.len()
                && other.0.starts_with(&self.0)
                && other.0.as_bytes()[self.0.len()] == b'/')
    }

    /// This folder with its `from` part replaced by `to` (`$/a/x` from `$/a` to `$/b/c` is
    /// `$/b/c/x`); itself when `from` does not contain it.
    ///
    /// # Errors
    /// [`InvalidPath`] when the result would be too long or too deep.
    pub fn rebased(&self, from: &FolderPath, to: &FolderPath) -> Result<Self, InvalidPath> {
        if !from.contains(self) {
            return Ok(self.clone());
        }
        Self::parse(&format!("{}{}", to.0, &self.0[from.0.len()..]))
    }

    /// If `other` lies strictly below this folder, the name of the immediate subfolder
    /// that leads to it.
    #[must_use]
    pub fn child_towards<'a>(&self, other: &'a FolderPath) -> Option<&'a str> {
        if other.0.len() <= self.0.len() || !self.contains(other) {
            return None;
        }
        let rest = &other.0[self.0.len() + 1..];
        Some(rest.split('/').next().unwrap_or(rest))
    }
}

/// Why a storage key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid storage key")]
pub struct InvalidStorageKey;

/// The longest extension a storage key keeps, dot excluded.
const MAX_KEY_EXTENSION: usize = 16;

/// Where a media's content lives in the object store: `{media_id}_{YYYYMMDDTHHMMSS}{.ext}`.
/// The extension is the name's when it is short ASCII letters and digits (`.pdf`, `.tar`,
/// `.mp4`), lowercased, and left out otherwise: any name the domain accepts makes a key
/// every backend can store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey(String);

impl StorageKey {
    /// The key of a media created at `at` with file name `name`.
    #[must_use]
    pub fn new(id: MediaId, at: DateTime<Utc>, name: &FileName) -> Self {
        let ext = name
            .extension()
            .map(|ext| &ext[1..])
            .filter(|ext| ext.len() <= MAX_KEY_EXTENSION && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|ext| format!(".{}", ext.to_ascii_lowercase()))
            .unwrap_or_default();
        Self(format!("{id}_{}{ext}", at.format("%Y%m%dT%H%M%S")))
    }

    /// Validates a stored key (as read back from a repository).
    ///
    /// # Errors
    /// [`InvalidStorageKey`] unless the text is an id, `_`, a basic ISO-8601 timestamp and
    /// an optional extension that is a valid file name.
    pub fn parse(text: &str) -> Result<Self, InvalidStorageKey> {
        let (id, rest) = text.split_once('_').ok_or(InvalidStorageKey)?;
        MediaId::parse(id).map_err(|_| InvalidStorageKey)?;
        if rest.len() < 15 {
            return Err(InvalidStorageKey);
        }
        let (stamp, ext) = rest.split_at(15);
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").map_err(|_| InvalidStorageKey)?;
        if !ext.is_empty() && (!ext.starts_with('.') || FileName::parse(ext).is_err()) {
            return Err(InvalidStorageKey);
        }
        Ok(Self(text.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a content type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid content type")]
pub struct InvalidContentType;

/// A MIME type such as `text/plain` (parameters allowed, at most 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType(String);

impl ContentType {
    /// `application/octet-stream`.
    #[must_use]
    pub fn octet_stream() -> Self {
        Self("application/octet-stream".to_owned())
    }

    /// Validates a MIME type.
    ///
    /// # Errors
    /// [`InvalidContentType`] unless it is `type/subtype[; params]` in printable ASCII.
    pub fn parse(text: &str) -> Result<Self, InvalidContentType> {
        let text = text.trim();
        let essence = text.split(';').next().unwrap_or("").trim();
        let token = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        let ok = text.len() <= 255
            && text.bytes().all(|b| (0x20..0x7f).contains(&b))
            && essence.split_once('/').is_some_and(|(t, s)| token(t) && token(s));
        if ok { Ok(Self(text.to_owned())) } else { Err(InvalidContentType) }
    }

    /// A guess from the file name's extension, `application/octet-stream` when unknown.
    #[must_use]
    pub fn guess(name: &FileName) -> Self {
        let ext = name.extension().map(str::to_ascii_lowercase);
        let mime = match ext.as_deref() {
            Some(".txt" | ".log" | ".md") => "text/plain; charset=utf-8",
            Some(".csv") => "text/csv",
            Some(".html" | ".htm") => "text/html",
            Some(".css") => "text/css",
            Some(".js") => "text/javascript",
            Some(".json") => "application/json",
            Some(".xml") => "application/xml",
            Some(".pdf") => "application/pdf",
            Some(".zip") => "application/zip",
            Some(".gz") => "application/gzip",
            Some(".png") => "image/png",
            Some(".jpg" | ".jpeg") => "image/jpeg",
            Some(".gif") => "image/gif",
            Some(".svg") => "image/svg+xml",
            Some(".webp") => "image/webp",
            Some(".mp3") => "audio/mpeg",
            Some(".mp4") => "video/mp4",
            _ => "application/octet-stream",
        };
        Self(mime.to_owned())
    }

    /// The type as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Display` of the text newtypes: the text as is (`Debug`, derived, quotes it).
macro_rules! display_as_text {
    ($($name:ident),+) => {
        $(impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        })+
    };
}

display_as_text!(FileName, FolderPath, StorageKey);

/// Why an encryption envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEnvelope {
    /// Unknown algorithm name.
    #[error("unknown content encryption algorithm {0:?}")]
    Algorithm(String),
    /// The key id is empty or too long.
    #[error("invalid master key id")]
    KeyId,
    /// The wrapped key is empty or implausibly long.
    #[error("invalid wrapped data key")]
    WrappedKey,
    /// The chunk size is zero or too large.
    #[error("invalid chunk size")]
    ChunkSize,
}

/// How a media's content was encrypted: algorithm, chunk size, and the data key wrapped by
/// a master key identified by `key_id`.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    algorithm: String,
    chunk_size: u32,
    key_id: String,
    wrapped_key: Vec<u8>,
}

impl Envelope {
    /// Validates an envelope.
    ///
    /// # Errors
    /// [`InvalidEnvelope`] naming the offending field.
    pub fn new(
        algorithm: &str,
        chunk_size: u32,
        key_id: &str,
        wrapped_key: Vec<u8>,
    ) -> Result<Self, InvalidEnvelope> {
        if algorithm != crate::content::ALGORITHM {
            return Err(InvalidEnvelope::Algorithm(algorithm.to_owned()));
        }
        if chunk_size == 0 || chunk_size > crate::content::MAX_CHUNK_SIZE {
            return Err(InvalidEnvelope::ChunkSize);
        }
        if key_id.is_empty() || key_id.len() > 128 {
            return Err(InvalidEnvelope::KeyId);
        }
        if wrapped_key.is_empty() || wrapped_key.len() > 1024 {
            return Err(InvalidEnvelope::WrappedKey);
        }
        Ok(Self { algorithm: algorithm.to_owned(), chunk_size, key_id: key_id.to_owned(), wrapped_key })
    }

    /// The AEAD construction, e.g. `AES-256-GCM-STREAM-64K`.
    #[must_use]
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// Plaintext bytes per chunk.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The master key that wrapped the data key.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The wrapped data key.
    #[must_use]
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("algorithm", &self.algorithm)
            .field("chunk_size", &self.chunk_size)
            .field("key_id", &self.key_id)
            .field("wrapped_key", &format_args!("<{} bytes>", self.wrapped_key.len()))
            .finish()
    }
}

/// What is known once a media's content is durably stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadedContent {
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub digest: Digest,
    /// When the object finished storing.
    pub uploaded_at: DateTime<Utc>,
}

/// Every field of a [`Media`], for repositories rebuilding one from storage.
#[derive(Debug, Clone)]
pub struct MediaParts {
    /// The id.
    pub id: MediaId,
    /// The creator.
    pub creator: UserId,
    /// The file name.
    pub name: FileName,
    /// The folder holding the file.
    pub folder: FolderPath,
    /// The MIME type.
    pub content_type: ContentType,
    /// Where the ciphertext lives.
    pub storage_key: StorageKey,
    /// How the content is encrypted.
    pub envelope: Envelope,
    /// Free-form metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Size, digest and time, once the content is stored.
    pub uploaded: Option<UploadedContent>,
    /// Creation time of the record.
    pub created_at: DateTime<Utc>,
    /// Last change of the record.
    pub updated_at: DateTime<Utc>,
}

/// A stored file's metadata.
#[derive(Debug, Clone)]
pub struct Media(MediaParts);

impl Media {
    /// Rebuilds a media from its parts (every part is already a validated value).
    #[must_use]
    pub fn from_parts(parts: MediaParts) -> Self {
        Self(parts)
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> MediaId {
        self.0.id
    }
    /// The user who stored it.
    #[must_use]
    pub fn creator(&self) -> UserId {
        self.0.creator
    }
    /// The file name.
    #[must_use]
    pub fn name(&self) -> &FileName {
        &self.0.name
    }
    /// The folder holding it (the original's `full_path`).
    #[must_use]
    pub fn folder(&self) -> &FolderPath {
        &self.0.folder
    }
    /// The MIME type.
    #[must_use]
    pub fn content_type(&self) -> &ContentType {
        &self.0.content_type
    }
    /// Plaintext size in bytes (0 until uploaded).
    #[must_use]
    pub fn size(&self) -> u64 {
        self.0.uploaded.map_or(0, |u| u.size)
    }
    /// SHA-256 of the plaintext, once uploaded.
    #[must_use]
    pub fn digest(&self) -> Option<Digest> {
        self.0.uploaded.map(|u| u.digest)
    }
    /// Where the ciphertext lives.
    #[must_use]
    pub fn storage_key(&self) -> &StorageKey {
        &self.0.storage_key
    }
    /// How the content is encrypted.
    #[must_use]
    pub fn envelope(&self) -> &Envelope {
        &self.0.envelope
    }
    /// Free-form metadata.
    #[must_use]
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0.metadata
    }
    /// When the content finished storing; `None` while the upload runs.
    #[must_use]
    pub fn uploaded_at(&self) -> Option<DateTime<Utc>> {
        self.0.uploaded.map(|u| u.uploaded_at)
    }
    /// Size, digest and upload time together.
    #[must_use]
    pub fn uploaded(&self) -> Option<UploadedContent> {
        self.0.uploaded
    }
    /// Creation time.
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last change.
    #[must_use]
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// All parts, for repositories writing it out.
    #[must_use]
    pub fn parts(&self) -> &MediaParts {
        &self.0
    }

    /// The same media once its content is stored.
    #[must_use]
    pub fn with_uploaded(mut self, uploaded: UploadedContent) -> Self {
        self.0.updated_at = uploaded.uploaded_at;
        self.0.uploaded = Some(uploaded);
        self
    }

    /// The same media (id, name, folder, creator, metadata, creation time) with the content
    /// of `new` (its object, envelope and type) once stored as `uploaded`: a new version.
    #[must_use]
    pub fn with_content_of(mut self, new: &Media, uploaded: UploadedContent) -> Self {
        self.0.storage_key = new.0.storage_key.clone();
        self.0.envelope = new.0.envelope.clone();
        self.0.content_type = new.0.content_type.clone();
        self.with_uploaded(uploaded)
    }

    /// The same media at another folder and name.
    #[must_use]
    pub fn relocated(mut self, folder: FolderPath, name: FileName, at: DateTime<Utc>) -> Self {
        self.0.folder = folder;
        self.0.name = name;
        self.0.updated_at = at;
        self
    }

    /// The same media under another wrapped data key (master-key rotation).
    #[must_use]
    pub fn rewrapped(mut self, envelope: Envelope, at: DateTime<Utc>) -> Self {
        self.0.envelope = envelope;
        self.0.updated_at = at;
        self
    }
}

/// A media shared with a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The shared media.
    pub media_id: MediaId,
    /// The user it is shared with.
    pub sharee: Owner,
    /// When it was shared.
    pub created_at: DateTime<Utc>,
}

/// A file and one person it is shared with (or, seen by a sharee, who shares it).
#[derive(Debug, Clone)]
pub struct SharedFile {
    /// The file (uploaded, not trashed).
    pub media: Media,
    /// The sharee (the creator's view) or the creator (a sharee's view).
    pub with: Owner,
}

/// Most entries a sharing overview holds of each kind.
pub const MAX_SHARED_FILES: u32 = 500;

/// An immediate subfolder in a listing, with totals over everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSummary {
    /// The subfolder's name (one segment).
    pub name: FileName,
    /// Number of files anywhere below it.
    pub file_count: u64,
    /// Total bytes of those files.
    pub total_size: u64,
}

/// What a folder's files are listed by; ties are broken by name, then id, in the same
/// direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileOrder {
    /// The name, by code point.
    #[default]
    Name,
    /// The size in bytes.
    Size,
    /// When the content was uploaded (renames and moves do not change it).
    Modified,
}

impl FileOrder {
    /// Parses `name`, `size` or `modified`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "name" => Some(Self::Name),
            "size" => Some(Self::Size),
            "modified" => Some(Self::Modified),
            _ => None,
        }
    }
}

/// The order of a listing: by what, which way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingOrder {
    /// What the files are ordered by.
    pub by: FileOrder,
    /// Which way.
    pub direction: SortOrder,
}

impl Default for ListingOrder {
    /// By name, A to Z.
    fn default() -> Self {
        Self { by: FileOrder::Name, direction: SortOrder::Asc }
    }
}

impl ListingOrder {
    /// How `a` and `b` compare in this order: the key, then the name, then the id, each in
    /// the order's direction.
    #[must_use]
    pub fn compare(self, a: &Media, b: &Media) -> std::cmp::Ordering {
        let (key_a, key_b) = (CursorKey::of(self.by, a).rank(), CursorKey::of(self.by, b).rank());
        self.directed(key_a.cmp(&key_b).then_with(|| (a.name(), a.id()).cmp(&(b.name(), b.id()))))
    }

    fn directed(self, ascending: std::cmp::Ordering) -> std::cmp::Ordering {
        match self.direction {
            SortOrder::Asc => ascending,
            SortOrder::Desc => ascending.reverse(),
        }
    }
}

/// The value the last file of a page had in the listing's order, beside its name and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKey {
    /// Ordered by name: the name is the key.
    Name,
    /// Ordered by size: its size.
    Size(u64),
    /// Ordered by upload time: its upload time.
    Modified(DateTime<Utc>),
}

impl CursorKey {
    /// The key of `media` in an order by `by`.
    #[must_use]
    pub fn of(by: FileOrder, media: &Media) -> Self {
        match by {
            FileOrder::Name => Self::Name,
            FileOrder::Size => Self::Size(media.size()),
            FileOrder::Modified => Self::Modified(media.uploaded_at().unwrap_or_else(|| media.updated_at())),
        }
    }

    /// The key as one comparable number (0 for the name order, whose key is the name).
    fn rank(self) -> i128 {
        match self {
            Self::Name => 0,
            Self::Size(size) => i128::from(size),
            Self::Modified(at) => {
                i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos())
            }
        }
    }
}

/// Where a page of files starts: strictly after this file, in the order it was listed in
/// (its key, then name, then id, all in `direction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCursor {
    /// Name of the last file of the previous page.
    pub name: FileName,
    /// Id of the last file of the previous page.
    pub id: MediaId,
    /// Its value in the listing's order.
    pub key: CursorKey,
    /// The listing's direction.
    pub direction: SortOrder,
}

impl FileCursor {
    /// A cursor in name order, A to Z (every listing but a folder's sorted otherwise).
    #[must_use]
    pub fn by_name(name: FileName, id: MediaId) -> Self {
        Self { name, id, key: CursorKey::Name, direction: SortOrder::Asc }
    }

    /// The cursor after `media` in a listing in `order`.
    #[must_use]
    pub fn after(media: &Media, order: ListingOrder) -> Self {
        let key = CursorKey::of(order.by, media);
        Self { name: media.name().clone(), id: media.id(), key, direction: order.direction }
    }

    /// Whether `media` comes strictly after the cursor in the cursor's order.
    #[must_use]
    pub fn precedes(&self, media: &Media) -> bool {
        let order = self.order();
        let ascending = CursorKey::of(order.by, media)
            .rank()
            .cmp(&self.key.rank())
            .then_with(|| (media.name(), media.id()).cmp(&(&self.name, self.id)));
        order.directed(ascending).is_gt()
    }

    /// The order of the listing the cursor continues.
    #[must_use]
    pub fn order(&self) -> ListingOrder {
        let by = match self.key {
            CursorKey::Name => FileOrder::Name,
            CursorKey::Size(_) => FileOrder::Size,
            CursorKey::Modified(_) => FileOrder::Modified,
        };
        ListingOrder { by, direction: self.direction }
    }
}

/// Largest page size a listing returns.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A request for one page of a listing: by (name, id) unless a folder listing is asked
/// for another [`ListingOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<FileCursor>,
    order: ListingOrder,
}

impl PageRequest {
    /// The first page of at most `limit` items (clamped to 1..=[`MAX_PAGE_SIZE`]), by name.
    #[must_use]
    pub fn first(limit: u32) -> Self {
        Self::first_in(limit, ListingOrder::default())
    }

    /// The first page of at most `limit` items in `order` (only folder listings honour
    /// an order other than by name).
    #[must_use]
    pub fn first_in(limit: u32, order: ListingOrder) -> Self {
        Self { limit: limit.clamp(1, MAX_PAGE_SIZE), after: None, order }
    }

    /// The page after `cursor`, in the order the cursor was made in.
    #[must_use]
    pub fn after(limit: u32, cursor: FileCursor) -> Self {
        let order = cursor.order();
        Self { limit: limit.clamp(1, MAX_PAGE_SIZE), after: Some(cursor), order }
    }

    /// Page size.
    #[must_use]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Where the page starts.
    #[must_use]
    pub fn cursor(&self) -> Option<&FileCursor> {
        self.after.as_ref()
    }

    /// The order of the listing.
    #[must_use]
    pub fn order(&self) -> ListingOrder {
        self.order
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(MAX_PAGE_SIZE)
    }
}

/// The content of one folder as a user sees it.
#[derive(Debug, Clone, Default)]
pub struct FolderListing {
    /// Files directly in the folder, by name then id (one page).
    pub files: Vec<Media>,
    /// Immediate subfolders by name, with recursive totals (complete on the first page,
    /// empty on later pages).
    pub folders: Vec<FolderSummary>,
    /// Cursor of the next page of files, if there is one.
    pub next: Option<FileCursor>,
}

/// One page of media.
#[derive(Debug, Clone, Default)]
pub struct MediaPage {
    /// The media, by name then id.
    pub items: Vec<Media>,
    /// Cursor of the next page, if there is one.
    pub next: Option<FileCursor>,
}

/// A file in its creator's trash: the media as it was deleted, when, and when it is purged.
/// Until it is restored or purged it is visible to no listing, download, search, share or
/// public link, its folder and name are free, and its bytes still count in its creator's
/// usage.
#[derive(Debug, Clone)]
pub struct TrashedMedia {
    /// The file (its folder and name are where a restore puts it back).
    pub media: Media,
    /// When it was moved to the trash.
    pub trashed_at: DateTime<Utc>,
    /// When the purge job removes it for good.
    pub purge_at: DateTime<Utc>,
}

/// One page of a trash.
#[derive(Debug, Clone, Default)]
pub struct TrashPage {
    /// The trashed files, by name then id.
    pub items: Vec<TrashedMedia>,
    /// Cursor of the next page, if there is one.
    pub next: Option<FileCursor>,
}

/// Files and bytes a user has stored (as creator, uploaded files only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Number of files.
    pub media_count: u64,
    /// Total plaintext bytes.
    pub disk_usage: u64,
}

/// A user's storage limit as set for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuotaSetting {
    /// The configured default (`limits.default_quota_mib`).
    #[default]
    Default,
    /// No limit, whatever the default.
    Unlimited,
    /// At most this many bytes.
    Bytes(u64),
}

impl QuotaSetting {
    /// Parses `default`, `unlimited`, or a size: a whole number of bytes with an optional
    /// unit, binary (`KiB`, `MiB`, `GiB`, `TiB`) or decimal (`B`, `KB`, `MB`, `GB`, `TB`),
    /// case-insensitive, e.g. `10GiB`, `500 MB`, `1048576`.
    ///
    /// # Errors
    /// [`InvalidQuota`] for anything else (fractions, negative numbers, unknown units, a
    /// size beyond 8 EiB).
    pub fn parse(text: &str) -> Result<Self, InvalidQuota> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "default" => return Ok(Self::Default),
            "unlimited" | "none" => return Ok(Self::Unlimited),
            _ => {}
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 = digits.parse().map_err(|_| InvalidQuota(text.to_owned()))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return Err(InvalidQuota(text.to_owned())),
        };
        number
            .checked_mul(multiplier)
            .filter(|bytes| i64::try_from(*bytes).is_ok())
            .map(Self::Bytes)
            .ok_or_else(|| InvalidQuota(text.to_owned()))
    }
}

/// A quota that is neither `default`, `unlimited` nor a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a quota: give `default`, `unlimited` or a size such as 10GiB or 500MB")]
pub struct InvalidQuota(String);

/// How much a user may store and how much of it is taken: files (in the trash too),
/// and what uploads under way have reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The limit in bytes; `None` when there is none.
    pub quota: Option<u64>,
    /// Bytes taken: stored files plus the reservations of uploads under way.
    pub used: u64,
}

impl Allowance {
    /// Bytes still free; `None` when there is no limit (0 when the quota was lowered
    /// below what is used).
    #[must_use]
    pub fn available(&self) -> Option<u64> {
        self.quota.map(|quota| quota.saturating_sub(self.used))
    }
}

/// An upload would take more than the uploader's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the storage quota of {quota} bytes is used up ({used} bytes used)")]
pub struct QuotaExceeded {
    /// The quota in bytes.
    pub quota: u64,
    /// Bytes taken when the upload was refused.
    pub used: u64,
}

/// A user's usage, for the top-users ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUsage {
    /// The user.
    pub user_id: UserId,
    /// Their username.
    pub username: Username,
    /// Their totals.
    pub usage: Usage,
}

/// Field the top-users ranking sorts by (a closed whitelist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageSort {
    /// Number of files.
    #[default]
    MediaCount,
    /// Total bytes.
    DiskUsage,
    /// Username, case-insensitively.
    Username,
}

impl UsageSort {
    /// Parses `media_count`, `disk_usage` or `username`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "media_count" => Some(Self::MediaCount),
            "disk_usage" => Some(Self::DiskUsage),
            "username" => Some(Self::Username),
            _ => None,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first.
    Asc,
    /// Largest first.
    #[default]
    Desc,
}

impl SortOrder {
    /// Parses `asc` or `desc`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }
}

/// Largest number of users the top-users ranking returns.
pub const MAX_TOP_USERS: u32 = 100;

/// How many share partners (people one shares with, or who share with one) are answered.
pub const MAX_SHARE_PARTNERS: u32 = 50;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 _%.-]{1,20}".prop_filter("not a dot name", |s| s != "." && s != "..")
    }

    fn valid_path() -> impl Strategy<Value = String> {
        proptest::collection::vec(segment(), 0..6)
            .prop_map(|segs| std::iter::once("$".to_owned()).chain(segs).collect::<Vec<_>>().join("/"))
    }

    #[test]
    fn quotas_parse_from_words_and_sizes_with_units() {
        let parse = |s: &str| QuotaSetting::parse(s);
        assert_eq!(parse("default"), Ok(QuotaSetting::Default));
        assert_eq!(parse("Unlimited"), Ok(QuotaSetting::Unlimited));
        assert_eq!(parse("1048576"), Ok(QuotaSetting::Bytes(1 << 20)));
        assert_eq!(parse("10GiB"), Ok(QuotaSetting::Bytes(10 << 30)));
        assert_eq!(parse("500 mb"), Ok(QuotaSetting::Bytes(500_000_000)));
        assert_eq!(parse("0"), Ok(QuotaSetting::Bytes(0)));
        for bad in ["", "1.5GiB", "-1", "10 parsecs", "GiB", "9999999TiB", "18446744073709551615"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn available_bytes_never_go_below_zero() {
        assert_eq!(Allowance { quota: Some(10), used: 4 }.available(), Some(6));
        assert_eq!(Allowance { quota: Some(10), used: 12 }.available(), Some(0));
        assert_eq!(Allowance { quota: None, used: 12 }.available(), None);
    }

    #[test]
    fn numbered_names_put_the_number_before_the_extension() {
        let name = |s: &str| FileName::parse(s).unwrap();
        assert_eq!(name("report.pdf").numbered(0), Some(name("report.pdf")));
        assert_eq!(name("report.pdf").numbered(1), Some(name("report (1).pdf")));
        assert_eq!(name("archive.tar.gz").numbered(2), Some(name("archive.tar (2).gz")));
        assert_eq!(name("README").numbered(3), Some(name("README (3)")));
        assert_eq!(name(".env").numbered(1), Some(name(".env (1)")));
        let long = name(&format!("{}.pdf", "é".repeat(125)));
        let variant = long.numbered(12).unwrap();
        assert!(
            variant.as_str().len() <= MAX_NAME_BYTES && variant.as_str().ends_with("é (12).pdf"),
            "{variant:?}"
        );
        let no_room = name(&format!("a.{}", "x".repeat(MAX_NAME_BYTES - 2)));
        let variant = no_room.numbered(3).unwrap();
        assert!(
            variant.as_str().len() <= MAX_NAME_BYTES && variant.as_str().ends_with(" (3)"),
            "{variant:?}"
        );
        assert_ne!(name(&"a".repeat(MAX_NAME_BYTES)).numbered(1), Some(name(&"a".repeat(MAX_NAME_BYTES))));
    }

    #[test]
    fn original_path_examples() {
        assert!(FolderPath::parse("$").is_ok());
        assert!(FolderPath::parse("$/abc").is_ok());
        assert!(FolderPath::parse("$/abc/").is_err());
        assert!(FolderPath::parse("/abc").is_err());
        assert!(FolderPath::parse("abc").is_err());
    }

    #[test]
    fn tighter_path_rules() {
        for bad in ["", "$/", "$abc", "$/a//b", "$/./a", "$/a/..", "$/a\u{0}b", "$/a\nb", "$$", "$ /a"] {
            assert_eq!(FolderPath::parse(bad), Err(InvalidPath), "{bad:?}");
        }
        let deep = format!("$/{}", vec!["a"; MAX_PATH_DEPTH].join("/"));
        assert!(FolderPath::parse(&deep).is_ok());
        assert!(FolderPath::parse(&format!("{deep}/a")).is_err());
        let long = format!("$/{}", vec!["x".repeat(200); 6].join("/"));
        assert!(long.len() > MAX_PATH_BYTES);
        assert!(FolderPath::parse(&long).is_err());
        assert!(FolderPath::parse("$/ünï cødé/100% _x_").is_ok());
    }

    #[test]
    fn rebasing_replaces_a_whole_segment_prefix_within_the_limits() {
        let p = |t: &str| FolderPath::parse(t).unwrap();
        assert_eq!(p("$/a/x y").rebased(&p("$/a"), &p("$/b/c")), Ok(p("$/b/c/x y")));
        assert_eq!(p("$/a").rebased(&p("$/a"), &p("$/z")), Ok(p("$/z")));
        assert_eq!(p("$/ab").rebased(&p("$/a"), &p("$/z")), Ok(p("$/ab")), "not below $/a");
        assert_eq!(p("$/ü/a").rebased(&p("$/ü"), &p("$/é")), Ok(p("$/é/a")));
        let deep = format!("$/{}", vec!["a"; MAX_PATH_DEPTH].join("/"));
        assert_eq!(p(&deep).rebased(&p("$/a"), &p("$/b/a")), Err(InvalidPath));
    }

    #[test]
    fn containment_is_by_segment() {
        let a = FolderPath::parse("$/a").unwrap();
        assert!(a.contains(&FolderPath::parse("$/a").unwrap()));
        assert!(a.contains(&FolderPath::parse("$/a/x/y").unwrap()));
        assert!(!a.contains(&FolderPath::parse("$/ab").unwrap()));
        assert!(!a.contains(&FolderPath::root()));
        assert!(FolderPath::root().contains(&a));
        assert_eq!(a.child_towards(&FolderPath::parse("$/a/x/y").unwrap()), Some("x"));
        assert_eq!(a.child_towards(&a), None);
        assert_eq!(FolderPath::root().child_towards(&a), Some("a"));
        assert_eq!(a.parent(), Some(FolderPath::root()));
        assert_eq!(FolderPath::root().parent(), None);
    }

    #[test]
    fn names() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\u{0}",
            "tab\there",
            &"x".repeat(256),
            "invoice\u{202e}txt.exe",
            "a\u{2066}b",
        ] {
            assert_eq!(FileName::parse(bad), Err(InvalidName), "{bad:?}");
        }
        for good in ["a", "...", ".hidden", "100%_done.txt", "ünï cødé", &"x".repeat(255)] {
            assert!(FileName::parse(good).is_ok(), "{good:?}");
        }
        let ext = |n: &str| FileName::parse(n).unwrap().extension().map(str::to_owned);
        assert_eq!(ext("a.txt"), Some(".txt".into()));
        assert_eq!(ext("a.tar.gz"), Some(".gz".into()));
        assert_eq!(ext(".bashrc"), None);
        assert_eq!(ext("noext"), None);
        assert_eq!(ext("trailing."), None);
    }

    #[test]
    fn storage_key_format() {
        let id = MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap();
        let at = DateTime::parse_from_rfc3339("2018-04-29T16:55:35Z").unwrap().with_timezone(&Utc);
        let key = StorageKey::new(id, at, &FileName::parse("notes.txt").unwrap());
        assert_eq!(key.as_str(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv_20180429T165535.txt");
        assert_eq!(StorageKey::parse(key.as_str()), Ok(key));
        let bare = StorageKey::new(id, at, &FileName::parse("Makefile").unwrap());
        assert_eq!(bare.as_str(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv_20180429T165535");
        assert!(StorageKey::parse("../etc/passwd").is_err());
        assert!(StorageKey::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv_20181329T165535").is_err());
        assert!(StorageKey::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv_20180429T165535/x").is_err());
        let key_of = |name: &str| StorageKey::new(id, at, &FileName::parse(name).unwrap());
        assert_eq!(key_of("Movie.MP4").as_str(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv_20180429T165535.mp4");
        let cjk = format!("文.{}", "漢".repeat(70));
        for unsafe_ext in
            ["a.\\x", "..\\..\\etc\\passwd", &format!("x.{}", "b".repeat(230)), &cjk, "a. b", "a.x:y"]
        {
            let key = key_of(unsafe_ext);
            assert_eq!(key.as_str(), "0ujtsYcgvSTl8PAuAdqWYSMnLOv_20180429T165535", "{unsafe_ext:?}");
            assert_eq!(StorageKey::parse(key.as_str()), Ok(key));
        }
    }

    #[test]
    fn content_types() {
        assert!(ContentType::parse("text/plain; charset=utf-8").is_ok());
        assert!(ContentType::parse("image/svg+xml").is_ok());
        for bad in ["", "text", "text/", "/plain", "te xt/plain", "text/plain\r\nX: y"] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ContentType::guess(&FileName::parse("A.PNG").unwrap()).as_str(), "image/png");
    }

    #[test]
    fn digest_hex() {
        let d = Digest::from_bytes([0xab; 32]);
        assert_eq!(Digest::parse_hex(&d.to_hex()), Ok(d));
        assert!(Digest::parse_hex("abc").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn generated_paths_are_valid(path in valid_path()) {
            prop_assert!(FolderPath::parse(&path).is_ok());
        }

        #[test]
        fn valid_path_plus_slash_is_invalid(path in valid_path()) {
            let with_slash = format!("{path}/");
            prop_assert!(FolderPath::parse(&with_slash).is_err());
        }

        #[test]
        fn not_starting_with_dollar_is_invalid(path in "[^$].*") {
            prop_assert!(FolderPath::parse(&path).is_err());
        }

        #[test]
        fn parent_of_child_is_self(path in valid_path(), seg in segment()) {
            let folder = FolderPath::parse(&path).unwrap();
            let child = folder.child(&FileName::parse(&seg).unwrap()).unwrap();
            prop_assert_eq!(child.parent(), Some(folder.clone()));
            prop_assert!(folder.contains(&child));
            prop_assert!(!child.contains(&folder));
        }

        #[test]
        fn names_never_panic_and_accepted_names_obey_rules(name in "\\PC{0,300}") {
            if let Ok(n) = FileName::parse(&name) {
                prop_assert!(!n.as_str().contains('/'));
                prop_assert!(n.as_str().len() <= MAX_NAME_BYTES);
            }
        }
    }
}
