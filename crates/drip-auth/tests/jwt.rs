//! Black-box tests of `JwtTokenIssuer`: round trip, time checks against the caller's clock,
//! forgeries and algorithm confusion.

// Helpers outside `#[test]` functions unwrap too: in a test, a panic is a failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use drip_auth::{InvalidJwtSecret, JwtSecret, JwtTokenIssuer, TIME_LEEWAY_SECS};
use drip_core::accounts::model::{Claims, Username};
use drip_core::accounts::ports::{TokenError, TokenIssuer};
use drip_core::{TokenFamilyId, UserId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const USER: &str = "0ujtsYcgvSTl8PAuAdqWYSMnLOv";
const SESSION: &str = "0ujtsYcgvSTl8PAuAdqWYSMnLOw";

fn issuer() -> JwtTokenIssuer {
    JwtTokenIssuer::new(JwtSecret::new(SECRET).unwrap())
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

/// Issued at 1 000 000 000 s, valid 15 minutes.
fn claims() -> Claims {
    Claims {
        user_id: UserId::parse(USER).unwrap(),
        username: Username::parse("alice").unwrap(),
        session: TokenFamilyId::parse(SESSION).unwrap(),
        issued_at: at(1_000_000_000),
        expires_at: at(1_000_000_900),
    }
}

/// The payload `issuer()` would sign for `claims()`.
fn payload() -> Value {
    json!({
        "sub": USER, "username": "alice", "sid": SESSION, "iss": "drip",
        "iat": 1_000_000_000, "nbf": 1_000_000_000, "exp": 1_000_000_900,
    })
}

fn sign(alg: Algorithm, secret: &[u8], payload: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), payload, &EncodingKey::from_secret(secret)).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

async fn verify(token: &str) -> Result<Claims, TokenError> {
    issuer().verify(token, at(1_000_000_100)).await
}

#[tokio::test]
async fn round_trip() {
    let token = issuer().issue(&claims()).await.unwrap();
    assert_eq!(token.as_str().split('.').count(), 3);
    let back = issuer().verify(token.as_str(), at(1_000_000_100)).await.unwrap();
    assert_eq!(back, claims());
}

#[tokio::test]
async fn times_travel_as_whole_seconds() {
    let mut precise = claims();
    precise.issued_at += TimeDelta::milliseconds(700);
    precise.expires_at += TimeDelta::milliseconds(700);
    let token = issuer().issue(&precise).await.unwrap();
    let back = issuer().verify(token.as_str(), at(1_000_000_100)).await.unwrap();
    assert_eq!(back, claims());
}

#[tokio::test]
async fn expiry_is_checked_against_the_given_now() {
    let token = issuer().issue(&claims()).await.unwrap();
    let token = token.as_str();
    let iss = issuer();
    assert!(iss.verify(token, at(1_000_000_899)).await.is_ok());
    assert!(iss.verify(token, at(1_000_000_899) + TimeDelta::milliseconds(999)).await.is_ok());
    assert!(matches!(iss.verify(token, at(1_000_000_900)).await, Err(TokenError::Expired)));
    assert!(matches!(iss.verify(token, at(2_000_000_000)).await, Err(TokenError::Expired)));
}

#[tokio::test]
async fn tokens_from_the_future_are_invalid_beyond_the_leeway() {
    let token = issuer().issue(&claims()).await.unwrap();
    let token = token.as_str();
    let iss = issuer();
    assert!(iss.verify(token, at(1_000_000_000 - TIME_LEEWAY_SECS)).await.is_ok());
    let too_early = at(1_000_000_000 - TIME_LEEWAY_SECS - 1);
    assert!(matches!(iss.verify(token, too_early).await, Err(TokenError::Invalid)));

    // nbf alone in the future (signed with the right key) is also refused.
    let mut late_nbf = payload();
    late_nbf["nbf"] = json!(1_000_000_500);
    assert!(matches!(verify(&sign(Algorithm::HS256, SECRET, &late_nbf)).await, Err(TokenError::Invalid)));
}

#[tokio::test]
async fn a_correctly_signed_hand_made_token_is_accepted() {
    // Guards the other tests: their rejections come from what they change, not the payload.
    let token = sign(Algorithm::HS256, SECRET, &payload());
    assert_eq!(verify(&token).await.unwrap(), claims());
}

#[tokio::test]
async fn another_secret_is_a_forgery() {
    let token = sign(Algorithm::HS256, b"another secret, also long enough!!", &payload());
    assert!(matches!(verify(&token).await, Err(TokenError::Invalid)));
}

#[tokio::test]
async fn alg_none_is_refused() {
    for alg in ["none", "None", "NONE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }));
        let body = b64(&payload());
        for token in
            [format!("{header}.{body}."), format!("{header}.{body}"), format!("{header}.{body}.AAAA")]
        {
            assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "{token}");
        }
    }
}

#[tokio::test]
async fn other_algorithms_with_the_same_secret_are_refused() {
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, SECRET, &payload());
        assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "{alg:?}");
    }
    // An HS256 signature relabelled as another algorithm is refused too.
    let good = sign(Algorithm::HS256, SECRET, &payload());
    let (_, rest) = good.split_once('.').unwrap();
    for alg in ["HS512", "RS256", "ES256", "EdDSA"] {
        let token = format!("{}.{rest}", b64(&json!({ "alg": alg, "typ": "JWT" })));
        assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "{alg}");
    }
}

#[tokio::test]
async fn garbage_is_invalid() {
    let cases = [
        "",
        ".",
        "..",
        "a.b.c",
        "not a token",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "eyJhbGciOiJIUzI1NiJ9.e30.e30.e30",
        "Bearer abc.def.ghi",
        "\u{0}\u{1}.\u{2}.\u{3}",
    ];
    for token in cases {
        assert!(matches!(verify(token).await, Err(TokenError::Invalid)), "{token:?}");
    }
}

#[tokio::test]
async fn a_tampered_payload_is_invalid() {
    let token = issuer().issue(&claims()).await.unwrap();
    let parts: Vec<&str> = token.as_str().split('.').collect();
    let mut forged = payload();
    forged["username"] = json!("mallory");
    let token = format!("{}.{}.{}", parts[0], b64(&forged), parts[2]);
    assert!(matches!(verify(&token).await, Err(TokenError::Invalid)));

    // Flipping one character of the signature breaks it as well.
    let mut signature = parts[2].to_owned();
    let last = if signature.ends_with('A') { "B" } else { "A" };
    signature.replace_range(signature.len() - 1.., last);
    let token = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert!(matches!(verify(&token).await, Err(TokenError::Invalid)));
}

#[tokio::test]
async fn bad_claims_are_invalid_even_when_signed() {
    let edits: [(&str, Value); 7] = [
        ("sub", json!("not-a-ksuid")),
        ("sub", json!(42)),
        ("username", json!("has spaces")),
        ("iss", json!("someone-else")),
        ("exp", json!("tomorrow")),
        ("aud", json!("another-service")),
        ("iat", json!(1_000_000_500)),
    ];
    for (claim, value) in edits {
        let mut body = payload();
        body[claim] = value;
        let token = sign(Algorithm::HS256, SECRET, &body);
        assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "{claim}");
    }
    for missing in ["sub", "username", "sid", "iss", "iat", "nbf", "exp"] {
        let mut body = payload();
        body.as_object_mut().unwrap().remove(missing);
        let token = sign(Algorithm::HS256, SECRET, &body);
        assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "without {missing}");
    }
}

/// Found by the fuzz target `jwt`: jsonwebtoken skips an `aud` claim it cannot parse (a
/// number, an object, a string of invalid UTF-8) and treats `null` as absent, so such a
/// token verified although no token issued here carries an audience.
#[tokio::test]
async fn an_audience_of_any_shape_is_refused() {
    let audiences = [json!(5), json!({ "x": 1 }), json!(null), json!(true), json!(["drip"]), json!("drip")];
    for audience in audiences {
        let mut body = payload();
        body["aud"] = audience.clone();
        let token = sign(Algorithm::HS256, SECRET, &body);
        assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "aud {audience}");
    }
    // `{"aud":"\xff",...}`: not UTF-8, signed by hand.
    let mut raw = serde_json::to_vec(&payload()).unwrap();
    raw.splice(1..1, *b"\"aud\":\"\xff\",");
    let message =
        format!("{}.{}", b64(&json!({ "typ": "JWT", "alg": "HS256" })), URL_SAFE_NO_PAD.encode(raw));
    let key = EncodingKey::from_secret(SECRET);
    let token = format!(
        "{message}.{}",
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap()
    );
    assert!(matches!(verify(&token).await, Err(TokenError::Invalid)), "aud of invalid UTF-8");
}

#[test]
fn secrets_are_long_and_never_print() {
    assert_eq!(JwtSecret::new(&b"short"[..]).unwrap_err(), InvalidJwtSecret::TooShort(5));
    assert!(JwtSecret::new(vec![7u8; 31]).is_err());
    assert!(JwtSecret::new(vec![7u8; 32]).is_ok());
    let secret = JwtSecret::new("a text secret of more than 32 bytes").unwrap();
    assert_eq!(format!("{secret:?}"), "JwtSecret(<redacted>)");

    let encoded = base64::engine::general_purpose::STANDARD.encode([9u8; 48]);
    assert!(JwtSecret::from_base64(&format!(" {encoded}\n")).is_ok());
    assert_eq!(JwtSecret::from_base64("***").unwrap_err(), InvalidJwtSecret::Base64);
    let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
    assert_eq!(JwtSecret::from_base64(&short).unwrap_err(), InvalidJwtSecret::TooShort(16));

    assert!(!format!("{:?}", issuer()).contains("0123456789"));
}

/// An issuer with a secret of its own for the port's conformance suite: no two calls
/// share one.
fn fresh_issuer() -> JwtTokenIssuer {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ISSUERS: AtomicU64 = AtomicU64::new(0);
    let secret = format!("conformance-secret-{:020}", ISSUERS.fetch_add(1, Ordering::Relaxed));
    JwtTokenIssuer::new(JwtSecret::new(secret).unwrap())
}

mod conformance {
    use super::fresh_issuer;
    drip_testkit::token_issuer_conformance!(fresh_issuer);
}
