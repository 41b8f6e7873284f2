//! Property checks of HS256 token verification against a fixed key, shared by the
//! `cargo fuzz` target `jwt` (`fuzz/`) and the replay of its seed corpus in this crate's
//! tests; compiled only for tests and with the `fuzzing` feature.
//!
//! The first byte of an input picks what the rest is (its value modulo 3):
//! - 0: a token, as a client would send it;
//! - 1: an edit script applied to [`valid_token`] (4 bytes per edit: operation, 16-bit
//!   position, byte), so the signature usually stays the issuer's;
//! - 2: `header \0 payload` (or a payload alone, under the issuer's header), JSON that is
//!   base64url-encoded and signed with the key: what verification lets through once the
//!   signature is right.

// A broken property is reported the way a fuzzer and a test both understand: a panic.
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use drip_core::accounts::model::{Claims, Username};
use drip_core::accounts::ports::{TokenError, TokenIssuer};
use drip_core::{TokenFamilyId, UserId};
use serde_json::Value;

use crate::jwt::{ISSUER, JwtSecret, JwtTokenIssuer, TIME_LEEWAY_SECS};

/// The key every fuzzed token is verified with.
pub const SECRET: &[u8] = b"drip-fuzzing-secret-0123456789abcdef";
/// Issue time of [`valid_token`], in seconds since the epoch; it lives 900 s.
pub const ISSUED_AT: i64 = 1_700_000_000;
/// The verifier's clock, 100 s after [`ISSUED_AT`].
pub const NOW: i64 = ISSUED_AT + 100;

/// The issuer under the fixed key, and the token it made for alice at [`ISSUED_AT`].
struct Fixture {
    issuer: JwtTokenIssuer,
    valid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let issuer = JwtTokenIssuer::new(JwtSecret::new(SECRET).expect("a long enough secret"));
        let claims = Claims {
            user_id: UserId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").expect("a fixed id"),
            username: Username::parse("alice").expect("a fixed name"),
            session: TokenFamilyId::parse("0ujzPyRiIAffKhBux4PvQdDqMHY").expect("a fixed session"),
            issued_at: at(ISSUED_AT),
            expires_at: at(ISSUED_AT + 900),
        };
        let valid = ready(issuer.issue(&claims)).expect("issuing a token").as_str().to_owned();
        Fixture { issuer, valid }
    })
}

/// The token the issuer makes for alice (one fixed session) at [`ISSUED_AT`]: what
/// mutations start from.
#[must_use]
pub fn valid_token() -> &'static str {
    &fixture().valid
}

/// Checks one input (see the module docs for its three forms): a token that verifies is
/// byte for byte a token the issuer makes for the verified claims (no forgery, no second
/// spelling of a real token), and verified claims obey the time and claim rules.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                only_issued_tokens_verify(token);
            }
        }
        1 => {
            if let Ok(token) = String::from_utf8(edited(valid_token(), rest)) {
                only_issued_tokens_verify(&token);
            }
        }
        _ => signed(rest),
    }
}

fn only_issued_tokens_verify(token: &str) {
    let Ok(claims) = verify(token) else { return };
    claims_obey_the_rules(&claims);
    let reissued = ready(fixture().issuer.issue(&claims)).expect("issuing a token");
    assert_eq!(reissued.as_str(), token, "a token verified that the issuer did not make");
}

/// `token` after the edits of `script`: per 4 bytes, an operation (replace, insert,
/// delete), a position (16 bits little-endian, modulo the length) and a byte.
fn edited(token: &str, script: &[u8]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    for edit in script.chunks(4) {
        let byte = |i: usize| edit.get(i).copied().unwrap_or_default();
        let at = usize::from(u16::from_le_bytes([byte(1), byte(2)])) % (bytes.len() + 1);
        match (edit[0] % 3, at < bytes.len()) {
            (0, true) => bytes[at] = byte(3),
            (2, true) => drop(bytes.remove(at)),
            _ => bytes.insert(at, byte(3)),
        }
    }
    bytes
}

/// A token of arbitrary header and payload, correctly signed: what it verifies to matches
/// its payload, under an `HS256` header, with the issuer's `iss` and no audience.
fn signed(data: &[u8]) {
    let (header, payload) = match data.iter().position(|&b| b == 0) {
        Some(cut) => (&data[..cut], &data[cut + 1..]),
        None => (&br#"{"typ":"JWT","alg":"HS256"}"#[..], data),
    };
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(hmac::sign(&key, message.as_bytes())));
    let Ok(claims) = verify(&token) else { return };
    claims_obey_the_rules(&claims);
    let header = json(header);
    assert_eq!(header["alg"], "HS256", "verified under {header}");
    let payload = json(payload);
    assert_eq!(payload["iss"], ISSUER, "{payload}");
    assert!(payload.get("aud").is_none(), "a token with an audience verified: {payload}");
    assert_eq!(payload["sub"], claims.user_id.to_string(), "{payload}");
    assert_eq!(payload["username"].as_str().map(str::trim), Some(claims.username.as_str()), "{payload}");
    assert_eq!(payload["sid"], claims.session.to_string(), "{payload}");
    assert_eq!(payload["iat"], claims.issued_at.timestamp(), "{payload}");
    assert_eq!(payload["exp"], claims.expires_at.timestamp(), "{payload}");
    let nbf = payload["nbf"].as_i64().expect("a verified token has a whole nbf");
    assert!(nbf <= NOW + TIME_LEEWAY_SECS, "not before {nbf}, verified at {NOW}");
    let reissued = ready(fixture().issuer.issue(&claims)).expect("issuing a token");
    assert_eq!(verify(reissued.as_str()).ok(), Some(claims), "the claims re-issue");
}

/// A verified header or payload as JSON. Invalid UTF-8 inside a value nobody reads
/// (an unknown claim) passes verification, as serde skips such values unchecked; it is
/// read here with replacement characters, which leave the claims compared intact.
fn json(part: &[u8]) -> Value {
    serde_json::from_str(&String::from_utf8_lossy(part)).expect("a verified part is JSON")
}

fn claims_obey_the_rules(claims: &Claims) {
    let latest_start = at(NOW) + TimeDelta::seconds(TIME_LEEWAY_SECS);
    assert!(claims.expires_at > at(NOW), "expired at {}", claims.expires_at);
    assert!(claims.issued_at <= latest_start, "issued at {}", claims.issued_at);
}

fn verify(token: &str) -> Result<Claims, TokenError> {
    ready(fixture().issuer.verify(token, at(NOW)))
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a fixed time")
}

/// The output of a future that completes at its first poll, as issuing and verifying do
/// (they wait on nothing).
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("token signing and verification wait on nothing"),
    }
}

#[cfg(test)]
mod tests {
    use drip_testkit::corpus::{dir, replay};

    #[test]
    fn jwt_seeds_hold() {
        replay("jwt", super::jwt);
    }

    /// The seed `valid` is the fixture's token (mode 0), so mutations start from a token
    /// that verifies.
    #[test]
    fn the_valid_seed_verifies() {
        let seed = std::fs::read(dir("jwt").join("valid")).unwrap();
        let token = super::valid_token();
        assert!(
            seed == [b"\0", token.as_bytes()].concat(),
            "the token format changed: printf '\\0{token}' > fuzz/corpus/jwt/valid"
        );
        assert!(super::verify(super::valid_token()).is_ok());
    }
}
