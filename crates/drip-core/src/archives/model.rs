//! Archive domain values: where a prepared archive stands ([`ArchiveState`]), what a ready
//! one holds ([`ArchiveContent`]), the archive itself ([`Archive`]) and the entry paths
//! its ZIP uses ([`entry_path`]).

use chrono::{DateTime, Utc};

use crate::ids::{ArchiveId, Ksuid, MediaId, UserId};
use crate::storage::model::{Digest, Envelope, FileName, FolderPath, StorageKey};

/// Longest failure reason kept, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

/// Where an archive stands, as stored and shown (`pending`, `ready`, `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveStatus {
    /// Requested; a job builds it.
    Pending,
    /// Built and stored; it can be fetched until it expires.
    Ready,
    /// Could not be built (see its reason).
    Failed,
}

impl ArchiveStatus {
    /// Every status, in a fixed order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Ready, Self::Failed];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    /// The status of a stored name.
    ///
    /// # Errors
    /// [`InvalidArchive`] for an unknown name.
    pub fn parse(text: &str) -> Result<Self, InvalidArchive> {
        Self::ALL.into_iter().find(|s| s.as_str() == text).ok_or(InvalidArchive("unknown status"))
    }
}

impl std::fmt::Display for ArchiveStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored archive values that do not describe an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid archive: {0}")]
pub struct InvalidArchive(&'static str);

/// Why an archive failed, in words for its owner: non-empty, at most
/// [`MAX_REASON_BYTES`] (longer text is cut at a character boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason(String);

impl FailureReason {
    /// A reason from `text`, cut to [`MAX_REASON_BYTES`].
    ///
    /// # Errors
    /// [`InvalidArchive`] when `text` is empty.
    pub fn new(text: &str) -> Result<Self, InvalidArchive> {
        let text = text.trim();
        if text.is_empty() {
            return Err(InvalidArchive("empty failure reason"));
        }
        let mut end = text.len().min(MAX_REASON_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Self(text[..end].to_owned()))
    }

    /// The reason as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a ready archive holds: its object, how it is encrypted, and what the ZIP measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveContent {
    /// Where the ciphertext of the ZIP lives.
    pub storage_key: StorageKey,
    /// How it is encrypted (its own data key, wrapped by a master key).
    pub envelope: Envelope,
    /// Size of the ZIP in bytes.
    pub size: u64,
    /// SHA-256 of the ZIP.
    pub digest: Digest,
    /// Files in the ZIP.
    pub files: u64,
    /// When it was stored.
    pub ready_at: DateTime<Utc>,
}

/// Where an archive stands, with what each state carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveState {
    /// Requested, not built yet.
    Pending {
        /// The object key of the current build attempt, once one started (its object is
        /// never served: it may be partial, or stale).
        attempt: Option<StorageKey>,
    },
    /// Built and stored.
    Ready(ArchiveContent),
    /// Could not be built.
    Failed {
        /// Why, in words for the owner.
        reason: FailureReason,
        /// The object key of the attempt that failed, if one started (removed with it).
        attempt: Option<StorageKey>,
    },
}

/// Every field of an [`Archive`], for the service creating one and repositories rebuilding
/// one from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveParts {
    /// The id.
    pub id: ArchiveId,
    /// Who asked for it: the only user who sees it.
    pub owner: UserId,
    /// The folder it packs (with everything below it).
    pub folder: FolderPath,
    /// Where it stands.
    pub state: ArchiveState,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it expires: from then on it is not served, and a job removes it.
    pub expires_at: DateTime<Utc>,
}

/// A prepared archive of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive(ArchiveParts);

impl Archive {
    /// Rebuilds an archive from its parts (every part is already a validated value).
    #[must_use]
    pub fn from_parts(parts: ArchiveParts) -> Self {
        Self(parts)
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> ArchiveId {
        self.0.id
    }

    /// Who asked for it.
    #[must_use]
    pub fn owner(&self) -> UserId {
        self.0.owner
    }

    /// The folder it packs.
    #[must_use]
    pub fn folder(&self) -> &FolderPath {
        &self.0.folder
    }

    /// Where it stands, with what that state carries.
    #[must_use]
    pub fn state(&self) -> &ArchiveState {
        &self.0.state
    }

    /// Its status.
    #[must_use]
    pub fn status(&self) -> ArchiveStatus {
        match self.0.state {
            ArchiveState::Pending { .. } => ArchiveStatus::Pending,
            ArchiveState::Ready(_) => ArchiveStatus::Ready,
            ArchiveState::Failed { .. } => ArchiveStatus::Failed,
        }
    }

    /// What it holds, once ready.
    #[must_use]
    pub fn content(&self) -> Option<&ArchiveContent> {
        match &self.0.state {
            ArchiveState::Ready(content) => Some(content),
            _ => None,
        }
    }

    /// Why it failed, if it did.
    #[must_use]
    pub fn reason(&self) -> Option<&FailureReason> {
        match &self.0.state {
            ArchiveState::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The key of the object it may have in the store: the ready object's, or the latest
    /// build attempt's.
    #[must_use]
    pub fn object_key(&self) -> Option<&StorageKey> {
        match &self.0.state {
            ArchiveState::Ready(content) => Some(&content.storage_key),
            ArchiveState::Pending { attempt } | ArchiveState::Failed { attempt, .. } => attempt.as_ref(),
        }
    }

    /// When it was requested.
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it expires.
    #[must_use]
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// Whether it has expired at `now`.
    #[must_use]
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.0.expires_at <= now
    }

    /// Every field.
    #[must_use]
    pub fn parts(&self) -> &ArchiveParts {
        &self.0
    }

    /// The name a download of it is saved under: the folder's last segment (`files` for
    /// the root) with `.zip`.
    #[must_use]
    pub fn file_name(&self) -> String {
        let last = self.0.folder.segments().last().unwrap_or("files");
        format!("{last}.zip")
    }
}

/// The object key of one build attempt of an archive: fresh for every attempt (an attempt
/// never overwrites another's object, so a slow attempt whose lease lapsed cannot replace
/// the object a newer one recorded).
#[must_use]
pub fn attempt_key(attempt: Ksuid, at: DateTime<Utc>) -> StorageKey {
    // Storage keys are `{ksuid}_{time}{.ext}`; an attempt's KSUID is as unique as a media's.
    // A constant, valid name: parsing cannot fail.
    #[allow(clippy::expect_used)]
    let name = FileName::parse("archive.zip").expect("a valid constant name");
    StorageKey::new(MediaId::from_ksuid(attempt), at, &name)
}

/// Makes one path segment safe for a ZIP entry: no `/` or `\` (each becomes `_`), no
/// control or bidirectional control character (dropped), never empty, `.` or `..`
/// (those become `_`, `_.`, `_..`).
#[must_use]
pub fn sanitize_segment(segment: &str) -> String {
    let mut out: String = segment
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out.insert(0, '_');
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The path of a file's entry in an archive of `root`: the folders below `root` and the
/// name, each segment sanitized ([`sanitize_segment`]) and joined by `/`; never absolute,
/// never with a `..` segment, a backslash or a control character. `None` when `folder` is
/// not `root` or below it.
#[must_use]
pub fn entry_path(root: &FolderPath, folder: &FolderPath, name: &FileName) -> Option<String> {
    if !root.contains(folder) {
        return None;
    }
    let below = folder.segments().skip(root.depth()).filter(|s| !s.is_empty());
    let mut path: Vec<String> = below.map(sanitize_segment).collect();
    path.push(sanitize_segment(name.as_str()));
    Some(path.join("/"))
}

/// `path` made different from every path `taken` holds: `a.txt`, then `a (1).txt`,
/// `a (2).txt`... (the suffix goes before the last extension of the last segment).
#[must_use]
pub fn unique_path(path: &str, taken: &std::collections::HashSet<String>) -> String {
    if !taken.contains(path) {
        return path.to_owned();
    }
    let (dir, file) = match path.rfind('/') {
        Some(cut) => (&path[..=cut], &path[cut + 1..]),
        None => ("", path),
    };
    let (stem, ext) = match file.rfind('.') {
        Some(dot) if dot > 0 => (&file[..dot], &file[dot..]),
        _ => (file, ""),
    };
    (1u64..)
        .map(|n| format!("{dir}{stem} ({n}){ext}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use proptest::prelude::*;

    fn folder(text: &str) -> FolderPath {
        FolderPath::parse(text).unwrap()
    }

    fn name(text: &str) -> FileName {
        FileName::parse(text).unwrap()
    }

    #[test]
    fn entry_paths_are_relative_to_the_archived_folder() {
        let root = folder("$/photos");
        assert_eq!(entry_path(&root, &folder("$/photos"), &name("a.jpg")).as_deref(), Some("a.jpg"));
        assert_eq!(
            entry_path(&root, &folder("$/photos/2024/june"), &name("b.jpg")).as_deref(),
            Some("2024/june/b.jpg")
        );
        assert_eq!(entry_path(&root, &folder("$/photosx"), &name("c.jpg")), None);
        assert_eq!(entry_path(&root, &folder("$"), &name("c.jpg")), None);
        assert_eq!(entry_path(&FolderPath::root(), &folder("$/a"), &name("d")).as_deref(), Some("a/d"));
    }

    #[test]
    fn segments_lose_what_unzip_would_misread() {
        assert_eq!(sanitize_segment("a\\..\\b"), "a_.._b");
        assert_eq!(sanitize_segment(".."), "_..");
        assert_eq!(sanitize_segment("."), "_.");
        assert_eq!(sanitize_segment(""), "_");
        assert_eq!(sanitize_segment("x\u{0}y\u{202e}z"), "xyz");
        assert_eq!(sanitize_segment("\u{7}"), "_");
        assert_eq!(sanitize_segment("ok name.txt"), "ok name.txt");
    }

    #[test]
    fn taken_paths_get_a_number_before_the_extension() {
        let mut taken = HashSet::new();
        assert_eq!(unique_path("d/a.txt", &taken), "d/a.txt");
        taken.insert("d/a.txt".to_owned());
        assert_eq!(unique_path("d/a.txt", &taken), "d/a (1).txt");
        taken.insert("d/a (1).txt".to_owned());
        assert_eq!(unique_path("d/a.txt", &taken), "d/a (2).txt");
        taken.insert(".env".to_owned());
        assert_eq!(unique_path(".env", &taken), ".env (1)");
    }

    #[test]
    fn statuses_round_trip_and_reasons_are_cut() {
        for status in ArchiveStatus::ALL {
            assert_eq!(ArchiveStatus::parse(status.as_str()), Ok(status));
        }
        assert!(ArchiveStatus::parse("done").is_err());
        assert!(FailureReason::new("  ").is_err());
        let long = "é".repeat(400);
        let cut = FailureReason::new(&long).unwrap();
        assert!(cut.as_str().len() <= MAX_REASON_BYTES && cut.as_str().chars().all(|c| c == 'é'));
    }

    #[test]
    fn downloads_are_named_after_the_folder() {
        let parts = |f: &str| ArchiveParts {
            id: ArchiveId::from_ksuid(Ksuid::from_parts(DateTime::UNIX_EPOCH, [1; 16])),
            owner: UserId::from_ksuid(Ksuid::from_parts(DateTime::UNIX_EPOCH, [2; 16])),
            folder: folder(f),
            state: ArchiveState::Pending { attempt: None },
            created_at: DateTime::UNIX_EPOCH,
            expires_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(Archive::from_parts(parts("$/a/holiday")).file_name(), "holiday.zip");
        assert_eq!(Archive::from_parts(parts("$")).file_name(), "files.zip");
        let key = attempt_key(Ksuid::from_parts(DateTime::UNIX_EPOCH, [3; 16]), DateTime::UNIX_EPOCH);
        assert!(key.as_str().ends_with(".zip"));
        assert_eq!(StorageKey::parse(key.as_str()), Ok(key));
    }

    proptest! {
        #[test]
        fn sanitized_paths_are_safe(segments in proptest::collection::vec("\\PC{0,12}|[./\\\\]{1,3}", 1..5)) {
            let path: Vec<String> = segments.iter().map(|s| sanitize_segment(s)).collect();
            let joined = path.join("/");
            prop_assert!(!joined.starts_with('/'));
            prop_assert!(!joined.contains('\\'));
            prop_assert!(!joined.chars().any(char::is_control));
            for segment in joined.split('/') {
                prop_assert!(!segment.is_empty() && segment != "." && segment != "..", "{joined:?}");
            }
        }

        #[test]
        fn entry_paths_of_valid_names_are_safe(
            below in proptest::collection::vec("[^/\\x00-\\x1f]{1,8}", 0..4),
            file in "[^/\\x00-\\x1f]{1,8}",
        ) {
            let Ok(name) = FileName::parse(&file) else { return Ok(()) };
            let text = std::iter::once("$".to_owned()).chain(below).collect::<Vec<_>>().join("/");
            let Ok(inner) = FolderPath::parse(&text) else { return Ok(()) };
            let path = entry_path(&FolderPath::root(), &inner, &name).unwrap();
            prop_assert!(!path.starts_with('/') && !path.contains('\\'));
            prop_assert!(path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
            prop_assert_eq!(path.split('/').count(), inner.depth() + 1);
        }
    }
}
