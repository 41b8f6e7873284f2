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
use drip_core::accounts::model::{AccessToken, Claims, Password, PasswordHash, Username};
use drip_core::accounts::ports::{HashError, PasswordHasher, TokenError, TokenIssuer};
use drip_core::{TokenFamilyId, UserId};

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

/// Prefix of the tokens [`FakeTokenIssuer`] issues.
const TOKEN_PREFIX: &str = "fake.";

/// A [`TokenIssuer`] whose tokens are `fake.<payload>.<tag>`: the claims in plain text
/// (base64url) and an HMAC-SHA-256 tag under a random per-instance secret. Only the
/// instance that issued a token accepts it; anything else (forged, altered, another
/// instance's, a JWT) is [`TokenError::Invalid`].
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

    /// How many tokens were issued.
    #[must_use]
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::SeqCst)
    }

    fn decode(&self, token: &str) -> Option<Claims> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (payload, tag) = rest.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, payload.as_bytes(), &tag).ok()?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mut fields = payload.splitn(5, '|');
        let user_id = UserId::parse(fields.next()?).ok()?;
        let username = Username::parse(fields.next()?).ok()?;
        let session = TokenFamilyId::parse(fields.next()?).ok()?;
        let issued_at = parse_time(fields.next()?)?;
        let expires_at = parse_time(fields.next()?)?;
        Some(Claims { user_id, username, session, issued_at, expires_at })
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

#[async_trait]
impl TokenIssuer for FakeTokenIssuer {
    async fn issue(&self, claims: &Claims) -> Result<AccessToken, TokenError> {
        self.issued.fetch_add(1, Ordering::SeqCst);
        let payload = format!(
            "{}|{}|{}|{}|{}",
            claims.user_id,
            claims.username,
            claims.session,
            format_time(claims.issued_at),
            format_time(claims.expires_at)
        );
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let tag = hmac::sign(&self.key, payload.as_bytes());
        Ok(AccessToken::new(format!("{TOKEN_PREFIX}{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))))
    }

    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let claims = self.decode(token).ok_or(TokenError::Invalid)?;
        if claims.issued_at > now {
            return Err(TokenError::Invalid);
        }
        if claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}
