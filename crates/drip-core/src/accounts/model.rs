//! Account domain values: usernames, emails, passwords, users, sessions and refresh tokens.

use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use zeroize::Zeroizing;

use crate::ids::{ArchiveId, MediaId, TokenFamilyId, UserId};

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a username has 1 to 30 characters: letters, digits, '_', '-' or '.'")]
pub struct InvalidUsername;

/// A username: trimmed, 1–30 characters of letters, digits, `_`, `-`, `.`.
/// Uniqueness is case-insensitive (see [`Username::normalized`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Validates a username (surrounding white space is trimmed first).
    ///
    /// # Errors
    /// [`InvalidUsername`] when the rules are broken.
    pub fn parse(text: &str) -> Result<Self, InvalidUsername> {
        let text = text.trim();
        let count = text.chars().count();
        let ok = (1..=30).contains(&count)
            && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok { Ok(Self(text.to_owned())) } else { Err(InvalidUsername) }
    }

    /// The username as entered.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness is decided on.
    #[must_use]
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an email address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid email address")]
pub struct InvalidEmail;

// The original's pattern, case-insensitive. Compiling a constant pattern cannot fail.
#[allow(clippy::expect_used)]
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}$").expect("constant pattern"));

/// An email address matching `^[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}$` (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates an address (trimmed; at most 254 bytes).
    ///
    /// # Errors
    /// [`InvalidEmail`] when it does not match.
    pub fn parse(text: &str) -> Result<Self, InvalidEmail> {
        let text = text.trim();
        if text.len() <= 254 && EMAIL.is_match(text) { Ok(Self(text.to_owned())) } else { Err(InvalidEmail) }
    }

    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a password has 8 to 100 characters")]
pub struct InvalidPassword;

/// A plain password: 8–100 characters, wiped from memory on drop, never printed.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Validates a password.
    ///
    /// # Errors
    /// [`InvalidPassword`] when it is too short or too long.
    pub fn parse(text: &str) -> Result<Self, InvalidPassword> {
        let count = text.chars().count();
        if (8..=100).contains(&count) {
            Ok(Self(Zeroizing::new(text.to_owned())))
        } else {
            Err(InvalidPassword)
        }
    }

    /// The secret itself, for a password hasher.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a stored password hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid password hash")]
pub struct InvalidPasswordHash;

/// A salted slow hash of a password in PHC string form (`$argon2id$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Validates the PHC string shape (`$alg$...`, printable ASCII, at most 512 bytes).
    ///
    /// # Errors
    /// [`InvalidPasswordHash`] otherwise.
    pub fn parse(text: &str) -> Result<Self, InvalidPasswordHash> {
        let ok = text.len() <= 512
            && text.starts_with('$')
            && text.len() > 2
            && text.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(text.to_owned())) } else { Err(InvalidPasswordHash) }
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The storage side's narrow view of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The id.
    pub id: UserId,
    /// The username.
    pub username: Username,
    /// The email address.
    pub email: Email,
}

/// A registered user, as the account repository keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Who the user is.
    pub owner: Owner,
    /// Their password hash.
    pub password_hash: PasswordHash,
    /// When they registered.
    pub created_at: DateTime<Utc>,
}

/// The intent to register: validated fields, not yet a user.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// Desired username.
    pub username: Username,
    /// Contact address.
    pub email: Email,
    /// Chosen password.
    pub password: Password,
}

/// Why a registration request is invalid, field by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid registration: {}", .fields.join(", "))]
pub struct InvalidRegistration {
    /// The names of the invalid fields (`username`, `email`, `password`).
    pub fields: Vec<&'static str>,
}

impl RegisterRequest {
    /// Validates all three fields at once, reporting every invalid one.
    ///
    /// # Errors
    /// [`InvalidRegistration`] listing the fields that failed.
    pub fn parse(username: &str, email: &str, password: &str) -> Result<Self, InvalidRegistration> {
        let (u, e, p) = (Username::parse(username), Email::parse(email), Password::parse(password));
        match (u, e, p) {
            (Ok(username), Ok(email), Ok(password)) => Ok(Self { username, email, password }),
            (u, e, p) => {
                let mut fields = Vec::new();
                if u.is_err() {
                    fields.push("username");
                }
                if e.is_err() {
                    fields.push("email");
                }
                if p.is_err() {
                    fields.push("password");
                }
                Err(InvalidRegistration { fields })
            }
        }
    }
}

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The authenticated user.
    pub user_id: UserId,
    /// Their username at the time of issue.
    pub username: Username,
    /// The session the token belongs to (the family of its refresh tokens): logging out
    /// or a revoked family ends the token with it.
    pub session: TokenFamilyId,
    /// Issue time (also the not-before time).
    pub issued_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
}

/// What a download ticket lets its bearer fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadTarget {
    /// A file's content.
    File(MediaId),
    /// A prepared folder archive.
    Archive(ArchiveId),
}

/// What a download ticket asserts: for a short while, whoever holds it may fetch one
/// file or archive as `user_id` in `session`. A ticket is never an access token, nor an
/// access token a ticket: the two are told apart by the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    /// The user the download is made as (what they may see is checked at download).
    pub user_id: UserId,
    /// The session the ticket was issued in: it ends with the session.
    pub session: TokenFamilyId,
    /// What may be fetched.
    pub target: DownloadTarget,
    /// Issue time (also the not-before time).
    pub issued_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
}

/// A signed download ticket: the last segment of a download URL, which a browser can
/// open without any header (so its own download manager streams the content).
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadTicket {
    token: String,
    expires_at: DateTime<Utc>,
}

impl DownloadTicket {
    /// Wraps a signed ticket and its expiry.
    #[must_use]
    pub fn new(token: String, expires_at: DateTime<Utc>) -> Self {
        Self { token, expires_at }
    }
    /// The ticket text (URL-safe).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.token
    }
    /// When the ticket stops opening its download (a download under way goes on).
    #[must_use]
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

impl fmt::Debug for DownloadTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadTicket").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A signed access token (a JWT in production).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }
    /// The token text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// An opaque refresh token as handed to the client (43 base64url characters).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// A fresh random token (256 bits).
    #[must_use]
    pub fn generate() -> Self {
        Self(crate::crypto::random_token())
    }

    /// Wraps a token received from a client (any text; unknown tokens simply match nothing).
    #[must_use]
    pub fn from_client(token: &str) -> Self {
        Self(Zeroizing::new(token.to_owned()))
    }

    /// The token text, to send to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash under which the token is stored (never the raw token).
    #[must_use]
    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(crate::crypto::sha256(self.0.as_bytes()))
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of a refresh token: what repositories store and look up.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

impl RefreshTokenHash {
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

impl fmt::Debug for RefreshTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshTokenHash({}..)", hex::encode(&self.0[..4]))
    }
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Hash of the token.
    pub hash: RefreshTokenHash,
    /// Whose token it is.
    pub user_id: UserId,
    /// The rotation family: every token obtained by refreshing shares it.
    pub family_id: TokenFamilyId,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
    /// When it was spent on a refresh, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When it (or its family) was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the session was opened from (carried over by every rotation).
    pub client: Option<ClientLabel>,
}

/// Most characters of a [`ClientLabel`].
pub const MAX_CLIENT_LABEL: usize = 200;

/// What a session was opened from, as the client described itself (a browser's
/// `User-Agent`): printable text on one line, at most [`MAX_CLIENT_LABEL`] characters,
/// never empty. It helps a user tell their sessions apart; it proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientLabel(String);

impl ClientLabel {
    /// The label of a client's self-description: control characters dropped, runs of
    /// white space made one space, trimmed, cut to [`MAX_CLIENT_LABEL`] characters;
    /// `None` when nothing is left.
    #[must_use]
    pub fn describe(text: &str) -> Option<Self> {
        let words: Vec<String> = text
            .split_whitespace()
            .map(|word| word.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|word| !word.is_empty())
            .collect();
        let label: String = words.join(" ").chars().take(MAX_CLIENT_LABEL).collect();
        let label = label.trim_end();
        (!label.is_empty()).then(|| Self(label.to_owned()))
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One open session of a user, as they may see it: a family of refresh tokens with one
/// still unrevoked and unexpired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session (its token family).
    pub id: TokenFamilyId,
    /// What it was opened from, if the client said.
    pub client: Option<ClientLabel>,
    /// When it was opened (its first token).
    pub started_at: DateTime<Utc>,
    /// When it last renewed its tokens (its newest token): a client in use renews at
    /// least once an access token's lifetime.
    pub last_active_at: DateTime<Utc>,
    /// When it ends unless renewed (its newest token's expiry).
    pub expires_at: DateTime<Utc>,
}

/// A logged-in session: what login, register and refresh hand back.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is logged in.
    pub owner: Owner,
    /// When the session's tokens were issued (by the service's clock).
    pub issued_at: DateTime<Utc>,
    /// Short-lived bearer token.
    pub access_token: AccessToken,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// Long-lived token that buys a new pair, once.
    pub refresh_token: RefreshToken,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_labels() {
        let label = ClientLabel::describe("  Mozilla/5.0 \u{7}(X11;\tLinux)\r\n Chrome/156 ").unwrap();
        assert_eq!(label.as_str(), "Mozilla/5.0 (X11; Linux) Chrome/156");
        for nothing in ["", "   ", "\u{0}\u{1b}", "\n\t"] {
            assert_eq!(ClientLabel::describe(nothing), None, "{nothing:?}");
        }
        let long = ClientLabel::describe(&"ab ".repeat(300)).unwrap();
        assert!(long.as_str().chars().count() <= MAX_CLIENT_LABEL);
        assert!(!long.as_str().ends_with(' '));
    }

    proptest! {
        #[test]
        fn a_label_is_its_own_description(text in ".{0,300}") {
            if let Some(label) = ClientLabel::describe(&text) {
                prop_assert!(label.as_str().chars().count() <= MAX_CLIENT_LABEL);
                prop_assert!(!label.as_str().chars().any(char::is_control));
                prop_assert_eq!(ClientLabel::describe(label.as_str()), Some(label.clone()));
            }
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("  alice ").unwrap().as_str(), "alice");
        assert_eq!(Username::parse("Al.ice_-9").unwrap().normalized(), "al.ice_-9");
        for bad in ["", "   ", "a b", "a/b", "a@b", &"x".repeat(31)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"x".repeat(30)).is_ok());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("alice@example.com").is_ok());
        assert!(Email::parse("A.B+c%d@Sub.Example.ORG").is_ok());
        for bad in
            ["", "alice", "alice@", "@example.com", "alice@example", "alice@example.c", "a b@example.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_never_print() {
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(101)).is_err());
        assert!(Password::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn registration_reports_every_field() {
        let err = RegisterRequest::parse("", "nope", "short").unwrap_err();
        assert_eq!(err.fields, vec!["username", "email", "password"]);
        assert!(RegisterRequest::parse("bob", "bob@example.com", "password1").is_ok());
    }

    #[test]
    fn refresh_tokens_hash_stably() {
        let t = RefreshToken::generate();
        assert_eq!(t.expose().len(), 43);
        assert_eq!(t.hash(), RefreshToken::from_client(t.expose()).hash());
        assert_ne!(t.hash(), RefreshToken::generate().hash());
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn valid_usernames_accepted(name in "[A-Za-z0-9_.-]{1,30}") {
            prop_assert!(Username::parse(&name).is_ok());
        }

        #[test]
        fn usernames_never_panic(name in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&name) {
                prop_assert!(u.as_str().chars().count() <= 30);
            }
        }

        #[test]
        fn password_length_rule(p in "\\PC{0,120}") {
            let n = p.chars().count();
            prop_assert_eq!(Password::parse(&p).is_ok(), (8..=100).contains(&n));
        }

        #[test]
        fn generated_emails_accepted(local in "[a-z0-9._%+-]{1,20}", domain in "[a-z0-9-]{1,20}", tld in "[a-z]{2,6}") {
            let address = format!("{local}@{domain}.{tld}");
            prop_assert!(Email::parse(&address).is_ok());
        }
    }
}

/// What failed logins are counted against: an account (by its normalized username, also
/// for names nobody has, so that throttling does not tell which exist) or a client
/// address (IPv6 addresses by their /64, which one client usually holds whole).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptKey(String);

impl AttemptKey {
    /// The key of the account `username` names (whether or not it exists).
    #[must_use]
    pub fn account(username: &str) -> Self {
        let normalized =
            Username::parse(username).map_or_else(|_| username.to_lowercase(), |u| u.normalized());
        // Bounded whatever the input: the stored key of a 10 kB "username" stays short.
        let mut key = format!("account:{normalized}");
        if key.len() > MAX_ATTEMPT_KEY {
            let mut cut = MAX_ATTEMPT_KEY;
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            key.truncate(cut);
        }
        Self(key)
    }

    /// The key of a client address.
    #[must_use]
    pub fn client(address: std::net::IpAddr) -> Self {
        match address.to_canonical() {
            std::net::IpAddr::V4(v4) => Self(format!("ip:{v4}")),
            std::net::IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(format!("ip:{}/64", std::net::Ipv6Addr::from(prefix)))
            }
        }
    }

    /// The key of a public or drop link (its id), whose password guesses are counted.
    #[must_use]
    pub fn link(id: &str) -> Self {
        Self(format!("link:{id}"))
    }

    /// Reads a stored key back.
    #[must_use]
    pub fn from_stored(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest stored [`AttemptKey`] in bytes.
const MAX_ATTEMPT_KEY: usize = 200;

/// Failed attempts counted against a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// How many, since the count was last forgotten.
    pub count: u32,
    /// When the last one was.
    pub last: DateTime<Utc>,
}
