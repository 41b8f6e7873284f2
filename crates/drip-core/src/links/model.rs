//! Public links to files and upload-only drop links to folders: their secret tokens, what
//! is stored of them, and the requests that create them.

use std::fmt;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::accounts::model::{Password, PasswordHash};
use crate::ids::{DropId, LinkId, MediaId, UserId};
use crate::storage::model::{FileName, FolderPath};

/// Length of a token's text: 32 random bytes in unpadded base64url.
pub const TOKEN_LEN: usize = 43;

/// The secret of a public or drop link, as it appears in its URL: 256 bits from the
/// operating system's RNG in 43 base64url characters. Stored only as its [`TokenHash`];
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(Zeroizing<String>);

impl LinkToken {
    /// A fresh random token.
    #[must_use]
    pub fn generate() -> Self {
        Self(crate::crypto::random_token())
    }

    /// A token as a visitor sent it; `None` when it cannot be one (wrong length or
    /// alphabet), which callers answer like an unknown token.
    #[must_use]
    pub fn from_client(text: &str) -> Option<Self> {
        let ok = text.len() == TOKEN_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(Zeroizing::new(text.to_owned())))
    }

    /// The token text, for the link's URL (shown once, at creation).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 under which the token is stored and looked up.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(crate::crypto::sha256(self.0.as_bytes()))
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

/// SHA-256 of a [`LinkToken`]: what repositories store. A token has 256 bits of entropy,
/// so a fast hash is enough: the hash cannot be turned back into a usable token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps raw hash bytes (as read from storage).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}..)", hex::encode(&self.0[..4]))
    }
}

/// What guards a link besides its token: an optional expiry and an optional password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// After this instant the link answers like an unknown one.
    pub expires_at: Option<DateTime<Utc>>,
    /// The hash of the link's password, when it has one.
    pub password: Option<PasswordHash>,
}

impl Guard {
    /// Whether the link has expired at `now`.
    #[must_use]
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A public link to a file, as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicLink {
    /// Its id (to list and revoke it).
    pub id: LinkId,
    /// The file.
    pub media: MediaId,
    /// Who made it: the file's creator.
    pub creator: UserId,
    /// The file's current name (read with the link, not stored with it).
    pub file_name: FileName,
    /// The hash of its token.
    pub token: TokenHash,
    /// Expiry and password.
    pub guard: Guard,
    /// How many downloads it allows (`None`: any number).
    pub max_downloads: Option<u32>,
    /// How many downloads were counted.
    pub downloads: u32,
    /// Whether the creator is told of each download.
    pub notify: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl PublicLink {
    /// Whether it allows no more downloads.
    #[must_use]
    pub fn exhausted(&self) -> bool {
        self.max_downloads.is_some_and(|max| self.downloads >= max)
    }
}

/// An upload-only drop link to a folder, as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropLink {
    /// Its id.
    pub id: DropId,
    /// Who made it: uploads become their files.
    pub owner: UserId,
    /// Where uploads go.
    pub folder: FolderPath,
    /// The hash of its token.
    pub token: TokenHash,
    /// Expiry and password.
    pub guard: Guard,
    /// How many uploads it accepts (`None`: any number).
    pub max_uploads: Option<u32>,
    /// How many bytes it accepts in all (`None`: up to the owner's limits).
    pub max_bytes: Option<u64>,
    /// Uploads accepted (and under way) so far.
    pub uploads: u32,
    /// Bytes accepted (and reserved by uploads under way) so far.
    pub bytes: u64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl DropLink {
    /// Whether an upload of `size` bytes more would pass one of its limits.
    #[must_use]
    pub fn would_exceed(&self, size: u64) -> bool {
        self.max_uploads.is_some_and(|max| self.uploads >= max)
            || self.max_bytes.is_some_and(|max| self.bytes.saturating_add(size) > max)
    }
}

/// The options of a new public link.
#[derive(Debug, Clone, Default)]
pub struct LinkRequest {
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// A password visitors must give.
    pub password: Option<Password>,
    /// How many downloads it allows (at least 1).
    pub max_downloads: Option<u32>,
    /// Tell the creator of each download (a `download` event).
    pub notify: bool,
}

/// The options of a new drop link.
#[derive(Debug, Clone)]
pub struct DropRequest {
    /// Where uploads go.
    pub folder: FolderPath,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// A password uploaders must give.
    pub password: Option<Password>,
    /// How many uploads it accepts (at least 1).
    pub max_uploads: Option<u32>,
    /// How many bytes it accepts in all (at least 1).
    pub max_bytes: Option<u64>,
}

/// A link just made, with the one copy of its token there will ever be.
#[derive(Debug, Clone)]
pub struct Created<T> {
    /// The stored link.
    pub link: T,
    /// Its token, for its URL.
    pub token: LinkToken,
}

/// What a visitor presents besides the token.
#[derive(Clone, Default)]
pub struct Credentials {
    /// A password they typed (HTTP Basic, or the page's form).
    pub password: Option<Zeroizing<String>>,
    /// A grant from an earlier correct password (the page's cookie).
    pub grant: Option<String>,
    /// Their address, for throttling wrong passwords.
    pub client: Option<std::net::IpAddr>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("grant", &self.grant.as_ref().map(|_| "<redacted>"))
            .field("client", &self.client)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_hash_stably() {
        let token = LinkToken::generate();
        assert_eq!(token.expose().len(), TOKEN_LEN);
        let back = LinkToken::from_client(token.expose()).unwrap();
        assert_eq!(back.hash(), token.hash());
        assert_ne!(LinkToken::generate().hash(), token.hash());
        assert_eq!(format!("{token:?}"), "LinkToken(<redacted>)");
    }

    proptest! {
        #[test]
        fn client_tokens_of_another_shape_are_refused(text in "\\PC{0,60}") {
            let accepted = LinkToken::from_client(&text).is_some();
            let shaped = text.len() == TOKEN_LEN
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            prop_assert_eq!(accepted, shaped);
        }
    }

    #[test]
    fn drop_limits_count_uploads_and_bytes() {
        let now = Utc::now();
        let drop = DropLink {
            id: DropId::from_ksuid(crate::Ksuid::generate(now)),
            owner: UserId::from_ksuid(crate::Ksuid::generate(now)),
            folder: FolderPath::root(),
            token: LinkToken::generate().hash(),
            guard: Guard { expires_at: Some(now), password: None },
            max_uploads: Some(2),
            max_bytes: Some(10),
            uploads: 1,
            bytes: 4,
            created_at: now,
        };
        assert!(!drop.would_exceed(6));
        assert!(drop.would_exceed(7));
        assert!(drop.guard.expired(now));
        assert!(!drop.guard.expired(now - chrono::Duration::seconds(1)));
        assert!(DropLink { uploads: 2, ..drop }.would_exceed(0));
    }
}
