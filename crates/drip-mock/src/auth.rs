//! Fast fakes of the credential ports: a salted SHA-256 password hasher and an
//! HMAC-checked (but not JWT) access-token issuer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_lc_rs::{constant_time, digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use drip_core::BackendError;
use drip_core::accounts::model::{
    AccessToken, Claims, DownloadTarget, DownloadTicket, Password, PasswordHash, TicketClaims, Username,
};
use drip_core::accounts::ports::{HashError, PasswordHasher, TokenError, TokenIssuer};
use drip_core::{ArchiveId, MediaId, TokenFamilyId, UserId};

use crate::random::random_array;

/// Prefix of the hashes [`FastPasswordHasher`] writes: `$fake$<salt>$<sha256>`.
const HASH_PREFIX: &str = "$fake$";
/// Salt hashed by [`FastPasswordHasher::dummy_verify`].
const DUMMY_SALT: [u8; 16] = [0x5a; 16];

/// A [`PasswordHasher`] that is fast enough for tests yet behaves like a real one: each
/// hash has a fresh random salt, in a PHC-like string `$fake$<salt>$<sha256(salt‖password)>`
/// (base64 without padding), verification compares in constant time, and
/// [`PasswordHasher::dummy_verify`] does the same work as a failed verification.
///
/// It counts its calls, so tests can check that a login with an unknown user still spent
/// a verification.
#[derive(Debug, Default)]
pub struct FastPasswordHasher {
    hashes: AtomicU64,
    verifications: AtomicU64,
    dummy_verifications: AtomicU64,
}

impl FastPasswordHasher {
    /// A hasher with zeroed counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many passwords were hashed.
    #[must_use]
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::SeqCst)
    }

    /// How many verifications against a stored hash ran.
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }

    /// How many dummy verifications ran.
    #[must_use]
    pub fn dummy_verifications(&self) -> u64 {
        self.dummy_verifications.load(Ordering::SeqCst)
    }
}

fn salted_sha256(salt: &[u8], password: &Password) -> digest::Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(salt);
    context.update(password.expose().as_bytes());
    context.finish()
}

/// Salt and digest of a `$fake$` hash.
fn parse_hash(hash: &str) -> Result<(Vec<u8>, Vec<u8>), HashError> {
    let rest = hash.strip_prefix(HASH_PREFIX).ok_or(HashError::MalformedHash)?;
    let (salt, sum) = rest.split_once('$').ok_or(HashError::MalformedHash)?;
    let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| HashError::MalformedHash)?;
    let sum = STANDARD_NO_PAD.decode(sum).map_err(|_| HashError::MalformedHash)?;
    if salt.is_empty() || sum.len() != digest::SHA256_OUTPUT_LEN {
        return Err(HashError::MalformedHash);
    }
    Ok((salt, sum))
}

fn matches(password: &Password, salt: &[u8], expected: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(salted_sha256(salt, password).as_ref(), expected).is_ok()
}

#[async_trait]
impl PasswordHasher for FastPasswordHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        let salt: [u8; 16] = random_array();
        let sum = salted_sha256(&salt, password);
        let text =
            format!("{HASH_PREFIX}{}${}", STANDARD_NO_PAD.encode(salt), STANDARD_NO_PAD.encode(sum.as_ref()));
        PasswordHash::parse(&text).map_err(|e| BackendError::new("formatting a fake password hash", e).into())
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let (salt, sum) = parse_hash(hash.as_str())?;
        Ok(matches(password, &salt, &sum))
    }

    async fn dummy_verify(&self, password: &Password) {
        self.dummy_verifications.fetch_add(1, Ordering::SeqCst);
        // Same work as `verify`: one salted digest and one constant-time comparison.
        let expected = [0u8; digest::SHA256_OUTPUT_LEN];
        let _ = matches(password, &DUMMY_SALT, &expected);
    }
}

/// Prefix of the access tokens [`FakeTokenIssuer`] issues.
const TOKEN_PREFIX: &str = "fake.";
/// Prefix of the download tickets [`FakeTokenIssuer`] issues.
const TICKET_PREFIX: &str = "faketicket.";

/// A [`TokenIssuer`] whose tokens are `fake.<payload>.<tag>` and whose download tickets
/// are `faketicket.<payload>.<tag>`: the claims in plain text (base64url) and an
/// HMAC-SHA-256 tag of prefix and payload under a random per-instance secret. Only the
/// instance that issued a token accepts it, and only as what it was issued as; anything
/// else (forged, altered, another instance's, a JWT, a ticket shown as a token) is
/// [`TokenError::Invalid`].
///
/// Time claims are checked with no leeway: `expires_at <= now` is
/// [`TokenError::Expired`], `issued_at > now` is [`TokenError::Invalid`]. Claims round-trip
/// exactly (nanosecond timestamps).
pub struct FakeTokenIssuer {
    key: hmac::Key,
    issued: AtomicU64,
}

impl FakeTokenIssuer {
    /// An issuer with a fresh random secret.
    #[must_use]
    pub fn new() -> Self {
        let secret: [u8; 32] = random_array();
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, &secret), issued: AtomicU64::new(0) }
    }

    /// How many tokens (and tickets) were issued.
    #[must_use]
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    /// `prefix<payload>.<tag>`, the tag over prefix and payload.
    fn sign(&self, prefix: &str, fields: &[String]) -> String {
        self.issued.fetch_add(1, Ordering::SeqCst);
        let payload = URL_SAFE_NO_PAD.encode(fields.join("|"));
        let tag = hmac::sign(&self.key, format!("{prefix}{payload}").as_bytes());
        format!("{prefix}{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The `count` fields of a token `sign` made with `prefix`, if its tag is right.
    fn open(&self, prefix: &str, token: &str, count: usize) -> Option<Vec<String>> {
        let rest = token.strip_prefix(prefix)?;
        let (payload, tag) = rest.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, format!("{prefix}{payload}").as_bytes(), &tag).ok()?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let fields: Vec<String> = payload.splitn(count, '|').map(str::to_owned).collect();
        (fields.len() == count).then_some(fields)
    }

    fn decode(&self, token: &str) -> Option<Claims> {
        let [user_id, username, session, issued_at, expires_at] =
            <[String; 5]>::try_from(self.open(TOKEN_PREFIX, token, 5)?).ok()?;
        Some(Claims {
            user_id: UserId::parse(&user_id).ok()?,
            username: Username::parse(&username).ok()?,
            session: TokenFamilyId::parse(&session).ok()?,
            issued_at: parse_time(&issued_at)?,
            expires_at: parse_time(&expires_at)?,
        })
    }

    fn decode_ticket(&self, ticket: &str) -> Option<TicketClaims> {
        let [user_id, session, kind, id, issued_at, expires_at] =
            <[String; 6]>::try_from(self.open(TICKET_PREFIX, ticket, 6)?).ok()?;
        let target = match kind.as_str() {
            "file" => DownloadTarget::File(MediaId::parse(&id).ok()?),
            "archive" => DownloadTarget::Archive(ArchiveId::parse(&id).ok()?),
            _ => return None,
        };
        Some(TicketClaims {
            user_id: UserId::parse(&user_id).ok()?,
            session: TokenFamilyId::parse(&session).ok()?,
            target,
            issued_at: parse_time(&issued_at)?,
            expires_at: parse_time(&expires_at)?,
        })
    }
}

impl Default for FakeTokenIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FakeTokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeTokenIssuer").field("issued", &self.issued()).finish_non_exhaustive()
    }
}

fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The times of a decoded token, checked against `now` with no leeway.
fn check_times(
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), TokenError> {
    if issued_at > now {
        return Err(TokenError::Invalid);
    }
    if expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[async_trait]
impl TokenIssuer for FakeTokenIssuer {
    async fn issue(&self, claims: &Claims) -> Result<AccessToken, TokenError> {
        let fields = [
            claims.user_id.to_string(),
            claims.username.to_string(),
            claims.session.to_string(),
            format_time(claims.issued_at),
            format_time(claims.expires_at),
        ];
        Ok(AccessToken::new(self.sign(TOKEN_PREFIX, &fields)))
    }

    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let claims = self.decode(token).ok_or(TokenError::Invalid)?;
        check_times(claims.issued_at, claims.expires_at, now)?;
        Ok(claims)
    }

    async fn issue_ticket(&self, claims: &TicketClaims) -> Result<DownloadTicket, TokenError> {
        let (kind, id) = match claims.target {
            DownloadTarget::File(id) => ("file", id.to_string()),
            DownloadTarget::Archive(id) => ("archive", id.to_string()),
        };
        let fields = [
            claims.user_id.to_string(),
            claims.session.to_string(),
            kind.to_owned(),
            id,
            format_time(claims.issued_at),
            format_time(claims.expires_at),
        ];
        Ok(DownloadTicket::new(self.sign(TICKET_PREFIX, &fields), claims.expires_at))
    }

    async fn verify_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<TicketClaims, TokenError> {
        let claims = self.decode_ticket(ticket).ok_or(TokenError::Invalid)?;
        check_times(claims.issued_at, claims.expires_at, now)?;
        Ok(claims)
    }
}
