//! HS256 JSON Web Tokens: the production [`TokenIssuer`] of access tokens and download
//! tickets.
//!
//! Token claims: `sub` (the user's KSUID), `username`, `iat`, `nbf` (= `iat`), `exp` and
//! `iss` (= [`ISSUER`]), times in whole seconds since the Unix epoch (truncated). Only
//! HS256 is accepted: `alg: none`, other HMAC sizes and asymmetric algorithms are refused
//! before any signature check, so a token cannot pick its own verification algorithm.
//! Time claims are checked against the `now` handed to [`TokenIssuer::verify`], never
//! against the system clock.
//!
//! Download tickets carry `sub`, `sid`, `tgt` (`file:<id>` or `archive:<id>`), the same
//! times and issuer, and `aud` (= [`TICKET_AUDIENCE`]); access tokens carry no `aud` and
//! are refused when they do, so neither is accepted in place of the other.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use drip_core::BackendError;
use drip_core::accounts::model::{
    AccessToken, Claims, DownloadTarget, DownloadTicket, TicketClaims, Username,
};
use drip_core::accounts::ports::{TokenError, TokenIssuer};
use drip_core::{ArchiveId, MediaId, TokenFamilyId, UserId};

/// Fewest bytes a signing secret may have (the HS256 output size).
pub const MIN_SECRET_LEN: usize = 32;

/// The `iss` claim of every token, checked on verification.
pub const ISSUER: &str = "drip";

/// How far in the future `iat`/`nbf` may lie and still be accepted, in seconds: absorbs
/// clock skew between the node that issued a token and the one verifying it. Expiry gets
/// no leeway (`exp > now` strictly).
pub const TIME_LEEWAY_SECS: i64 = 30;

const ALGORITHM: Algorithm = Algorithm::HS256;

/// Why a signing secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJwtSecret {
    /// Fewer than [`MIN_SECRET_LEN`] bytes.
    #[error("a jwt secret has at least {MIN_SECRET_LEN} bytes, got {0}")]
    TooShort(usize),
    /// The text is not standard base64.
    #[error("the jwt secret is not valid base64")]
    Base64,
}

/// The HMAC key tokens are signed with: at least [`MIN_SECRET_LEN`] bytes, wiped from
/// memory on drop, never printed.
pub struct JwtSecret(Zeroizing<Vec<u8>>);

impl JwtSecret {
    /// Takes raw secret bytes (for a secret given as text, its UTF-8 bytes).
    ///
    /// # Errors
    /// [`InvalidJwtSecret::TooShort`] below [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, InvalidJwtSecret> {
        let secret = Zeroizing::new(secret.into());
        if secret.len() < MIN_SECRET_LEN {
            return Err(InvalidJwtSecret::TooShort(secret.len()));
        }
        Ok(Self(secret))
    }

    /// Decodes a secret written in standard base64 (surrounding white space ignored).
    ///
    /// # Errors
    /// [`InvalidJwtSecret::Base64`] when the text does not decode,
    /// [`InvalidJwtSecret::TooShort`] when it decodes to fewer than [`MIN_SECRET_LEN`] bytes.
    pub fn from_base64(text: &str) -> Result<Self, InvalidJwtSecret> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| InvalidJwtSecret::Base64)?;
        Self::new(bytes)
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// The claims as they travel inside the token.
#[derive(Serialize, Deserialize)]
struct TokenClaims {
    sub: String,
    username: String,
    sid: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    /// Never issued: whether the token carries an `aud` claim, whatever its value.
    #[serde(default, rename = "aud", skip_serializing)]
    audience: Carried,
}

/// Whether a claim is in the token at all, whatever its value (`null` included): a
/// claim jsonwebtoken cannot parse (an `aud` of `5`, `{}` or invalid UTF-8) it skips.
#[derive(Default)]
struct Carried(bool);

impl<'de> Deserialize<'de> for Carried {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Self(true))
    }
}

/// The `aud` claim of every download ticket (and of nothing else), checked on
/// verification: access tokens carry no audience, so neither passes for the other.
pub const TICKET_AUDIENCE: &str = "drip-download";

/// The claims of a download ticket as they travel inside it.
#[derive(Serialize, Deserialize)]
struct WireTicket {
    sub: String,
    sid: String,
    /// What may be downloaded: `file:<id>` or `archive:<id>`.
    tgt: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A ticket's target as text, `file:<id>` or `archive:<id>`.
fn target_text(target: DownloadTarget) -> String {
    match target {
        DownloadTarget::File(id) => format!("file:{id}"),
        DownloadTarget::Archive(id) => format!("archive:{id}"),
    }
}

fn parse_target(text: &str) -> Option<DownloadTarget> {
    match text.split_once(':')? {
        ("file", id) => MediaId::parse(id).ok().map(DownloadTarget::File),
        ("archive", id) => ArchiveId::parse(id).ok().map(DownloadTarget::Archive),
        _ => None,
    }
}

/// Signs and verifies HS256 access tokens and download tickets with one shared secret.
pub struct JwtTokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ticket_validation: Validation,
}

impl JwtTokenIssuer {
    /// An issuer signing with `secret`.
    #[must_use]
    pub fn new(secret: JwtSecret) -> Self {
        // jsonwebtoken picks its crypto backend from its cargo features and panics on first
        // use when both backends end up enabled by feature unification; naming aws-lc-rs
        // explicitly removes that trap. An error only means a provider is already installed.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        // Signature, algorithm, issuer and claim presence are left to jsonwebtoken; times
        // are checked in `verify` against the caller's `now`, so its system-clock checks are
        // switched off. `aud` stays validated with no audience expected: a token carrying
        // one was not issued here (and `verify` refuses the audiences jsonwebtoken skips).
        let mut validation = Validation::new(ALGORITHM);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        // A ticket must name the ticket audience; an access token names none, so fails.
        let mut ticket_validation = validation.clone();
        ticket_validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
        ticket_validation.set_audience(&[TICKET_AUDIENCE]);
        Self {
            encoding: EncodingKey::from_secret(&secret.0),
            decoding: DecodingKey::from_secret(&secret.0),
            validation,
            ticket_validation,
        }
    }
}

impl fmt::Debug for JwtTokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtTokenIssuer")
            .field("algorithm", &ALGORITHM)
            .field("issuer", &ISSUER)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenIssuer for JwtTokenIssuer {
    async fn issue(&self, claims: &Claims) -> Result<AccessToken, TokenError> {
        let issued_at = claims.issued_at.timestamp();
        let body = TokenClaims {
            sub: claims.user_id.to_string(),
            username: claims.username.as_str().to_owned(),
            sid: claims.session.to_string(),
            iat: issued_at,
            nbf: issued_at,
            exp: claims.expires_at.timestamp(),
            iss: ISSUER.to_owned(),
            audience: Carried::default(),
        };
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &body, &self.encoding)
            .map_err(|e| BackendError::new("signing an access token failed", e))?;
        Ok(AccessToken::new(token))
    }

    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let body = jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if body.audience.0 {
            return Err(TokenError::Invalid);
        }
        let user_id = UserId::parse(&body.sub).map_err(|_| TokenError::Invalid)?;
        let username = Username::parse(&body.username).map_err(|_| TokenError::Invalid)?;
        let session = TokenFamilyId::parse(&body.sid).map_err(|_| TokenError::Invalid)?;
        let (issued_at, expires_at) = valid_times(body.iat, body.nbf, body.exp, now)?;
        Ok(Claims { user_id, username, session, issued_at, expires_at })
    }

    async fn issue_ticket(&self, claims: &TicketClaims) -> Result<DownloadTicket, TokenError> {
        let issued_at = claims.issued_at.timestamp();
        let body = WireTicket {
            sub: claims.user_id.to_string(),
            sid: claims.session.to_string(),
            tgt: target_text(claims.target),
            iat: issued_at,
            nbf: issued_at,
            exp: claims.expires_at.timestamp(),
            iss: ISSUER.to_owned(),
            aud: TICKET_AUDIENCE.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(ALGORITHM), &body, &self.encoding)
            .map_err(|e| BackendError::new("signing a download ticket failed", e))?;
        Ok(DownloadTicket::new(token, claims.expires_at))
    }

    async fn verify_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<TicketClaims, TokenError> {
        let body = jsonwebtoken::decode::<WireTicket>(ticket, &self.decoding, &self.ticket_validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        let user_id = UserId::parse(&body.sub).map_err(|_| TokenError::Invalid)?;
        let session = TokenFamilyId::parse(&body.sid).map_err(|_| TokenError::Invalid)?;
        let target = parse_target(&body.tgt).ok_or(TokenError::Invalid)?;
        let (issued_at, expires_at) = valid_times(body.iat, body.nbf, body.exp, now)?;
        Ok(TicketClaims { user_id, session, target, issued_at, expires_at })
    }
}

/// The issue and expiry times of a token with these time claims, checked against `now`:
/// issued (and valid from) no later than [`TIME_LEEWAY_SECS`] ahead, not yet expired.
fn valid_times(
    iat: i64,
    nbf: i64,
    exp: i64,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), TokenError> {
    let issued_at = timestamp(iat)?;
    let not_before = timestamp(nbf)?;
    let expires_at = timestamp(exp)?;
    let latest_start = now.checked_add_signed(TimeDelta::seconds(TIME_LEEWAY_SECS)).unwrap_or(now);
    if issued_at > latest_start || not_before > latest_start {
        return Err(TokenError::Invalid);
    }
    if expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok((issued_at, expires_at))
}

fn timestamp(seconds: i64) -> Result<DateTime<Utc>, TokenError> {
    DateTime::from_timestamp(seconds, 0).ok_or(TokenError::Invalid)
}
