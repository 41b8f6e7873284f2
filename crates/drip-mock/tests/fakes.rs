//! Tests of the fakes other than the repositories (those run the conformance suite), and
//! of `fake_ports` driving the real services.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use std::io;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use drip_core::accounts::model::{Claims, Password, PasswordHash, RegisterRequest, Username};
use drip_core::accounts::ports::{HashError, PasswordHasher, TokenError, TokenIssuer};
use drip_core::clock::{Clock, ClockExt};
use drip_core::content::DataKey;
use drip_core::events::{Event, Notifier};
use drip_core::storage::StoreRequest;
use drip_core::storage::model::{FileName, FolderPath};
use drip_core::storage::ports::{ByteStream, KeyError, KeyWrapper, WrappedKey};
use drip_core::{TokenFamilyId, UserId};
use drip_mock::{
    FakeTokenIssuer, FastPasswordHasher, FixedClock, MemoryKeyWrapper, RecordingNotifier, fake_ports,
};
use futures::StreamExt;

fn password(text: &str) -> Password {
    Password::parse(text).expect("fixture password")
}

fn stream(chunks: Vec<io::Result<&'static [u8]>>) -> ByteStream {
    futures::stream::iter(chunks).map(|c| c.map(Bytes::from_static)).boxed()
}

async fn read(stream: ByteStream) -> Vec<u8> {
    stream.map(|c| c.expect("a stream item").to_vec()).concat().await
}

// --- FastPasswordHasher ---------------------------------------------------------------

#[tokio::test]
async fn hasher_salts_verifies_and_counts() {
    let hasher = FastPasswordHasher::new();
    let first = hasher.hash(&password("correct horse")).await.unwrap();
    let second = hasher.hash(&password("correct horse")).await.unwrap();
    assert!(first.as_str().starts_with("$fake$"));
    assert_ne!(first, second, "every hash has its own salt");
    assert!(hasher.verify(&password("correct horse"), &first).await.unwrap());
    assert!(hasher.verify(&password("correct horse"), &second).await.unwrap());
    assert!(!hasher.verify(&password("wrong horse"), &first).await.unwrap());
    hasher.dummy_verify(&password("anything at all")).await;
    assert_eq!((hasher.hashes(), hasher.verifications(), hasher.dummy_verifications()), (2, 3, 1));
}

#[tokio::test]
async fn hasher_rejects_foreign_or_broken_hashes() {
    let hasher = FastPasswordHasher::new();
    for text in [
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "$fake$",
        "$fake$c2FsdA",
        "$fake$!!$aGFzaA",
        "$fake$c2FsdA$aGFzaA",
    ] {
        let hash = PasswordHash::parse(text).unwrap();
        let result = hasher.verify(&password("password1"), &hash).await;
        assert!(matches!(result, Err(HashError::MalformedHash)), "{text}: {result:?}");
    }
}

// --- FakeTokenIssuer ------------------------------------------------------------------

fn claims(issued_at: DateTime<Utc>, ttl: Duration) -> Claims {
    Claims {
        user_id: UserId::from_ksuid(drip_core::Ksuid::from_parts(issued_at, [7; 16])),
        username: Username::parse("alice").expect("fixture username"),
        session: TokenFamilyId::from_ksuid(drip_core::Ksuid::from_parts(issued_at, [8; 16])),
        issued_at,
        expires_at: issued_at + ttl,
    }
}

#[tokio::test]
async fn tokens_round_trip_until_they_expire() {
    let issuer = FakeTokenIssuer::new();
    let now = FixedClock::epoch() + Duration::nanoseconds(123_456_789);
    let claims = claims(now, Duration::minutes(15));
    let token = issuer.issue(&claims).await.unwrap();
    assert_eq!(issuer.verify(token.as_str(), now).await.unwrap(), claims, "valid from its issue time");
    let just_before = claims.expires_at - Duration::nanoseconds(1);
    assert_eq!(issuer.verify(token.as_str(), just_before).await.unwrap(), claims);
    for later in [claims.expires_at, claims.expires_at + Duration::days(1)] {
        assert!(matches!(issuer.verify(token.as_str(), later).await, Err(TokenError::Expired)));
    }
    let before_issue = now - Duration::seconds(1);
    assert!(matches!(issuer.verify(token.as_str(), before_issue).await, Err(TokenError::Invalid)));
    assert_eq!(issuer.issued(), 1);
}

#[tokio::test]
async fn tokens_of_others_or_altered_are_invalid() {
    let issuer = FakeTokenIssuer::new();
    let now = FixedClock::epoch();
    let token = issuer.issue(&claims(now, Duration::minutes(15))).await.unwrap();
    let text = token.as_str();
    let other = FakeTokenIssuer::new().issue(&claims(now, Duration::minutes(15))).await.unwrap();
    let (head, tag) = text.rsplit_once('.').unwrap();
    let mut flipped = tag.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let altered_tag = format!("{head}.{}", String::from_utf8(flipped).unwrap());
    let forged_payload = {
        let evil = claims(now, Duration::days(365));
        let evil = issuer.issue(&evil).await.unwrap();
        let (evil_head, _) = evil.as_str().rsplit_once('.').unwrap();
        format!("{evil_head}.{tag}")
    };
    let candidates = [
        other.as_str().to_owned(),
        altered_tag,
        forged_payload,
        String::new(),
        "fake.".into(),
        "a.b.c".into(),
    ];
    for candidate in &candidates {
        let result = issuer.verify(candidate, now).await;
        assert!(matches!(result, Err(TokenError::Invalid)), "{candidate:?}: {result:?}");
    }
}

// --- MemoryKeyWrapper -----------------------------------------------------------------

#[tokio::test]
async fn keys_wrap_and_unwrap() {
    let keys = MemoryKeyWrapper::default();
    assert_eq!(keys.current_key_id(), "k1");
    let data = DataKey::generate();
    let wrapped = keys.wrap(&data).await.unwrap();
    assert_eq!(wrapped.key_id, "k1");
    assert!(!wrapped.bytes.windows(32).any(|w| w == data.expose()), "the key is not stored in clear");
    assert_eq!(keys.unwrap(&wrapped).await.unwrap().expose(), data.expose());
    assert_ne!(keys.wrap(&data).await.unwrap(), wrapped, "fresh nonce per wrapping");
}

#[tokio::test]
async fn keys_detect_tampering_and_unknown_ids() {
    let keys = MemoryKeyWrapper::new("old");
    let wrapped = keys.wrap(&DataKey::generate()).await.unwrap();
    for i in [0, 12, wrapped.bytes.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered.bytes[i] ^= 1;
        assert!(matches!(keys.unwrap(&tampered).await, Err(KeyError::Integrity)), "byte {i}");
    }
    let truncated = WrappedKey { key_id: "old".into(), bytes: wrapped.bytes[..40].to_vec() };
    assert!(matches!(keys.unwrap(&truncated).await, Err(KeyError::Integrity)));
    let unknown = WrappedKey { key_id: "nope".into(), ..wrapped.clone() };
    assert!(matches!(keys.unwrap(&unknown).await, Err(KeyError::UnknownKey(id)) if id == "nope"));

    keys.rotate_to("new");
    assert_eq!(keys.current_key_id(), "new");
    assert_eq!(keys.key_ids(), ["new", "old"]);
    assert!(keys.unwrap(&wrapped).await.is_ok(), "old keys still unwrap");
    let relabelled = WrappedKey { key_id: "new".into(), ..wrapped.clone() };
    assert!(matches!(keys.unwrap(&relabelled).await, Err(KeyError::Integrity)), "bound to its key id");
    assert_eq!(keys.wrap(&DataKey::generate()).await.unwrap().key_id, "new");

    assert!(keys.forget("old"));
    assert!(matches!(keys.unwrap(&wrapped).await, Err(KeyError::UnknownKey(_))));
    assert!(keys.forget("new"));
    assert!(matches!(keys.wrap(&DataKey::generate()).await, Err(KeyError::Backend(_))));
}

// --- RecordingNotifier ----------------------------------------------------------------

#[tokio::test]
async fn notifier_records_in_order() {
    let notifier = RecordingNotifier::new();
    let clock = FixedClock::default();
    let (alice, bob, media) = (clock.new_user_id(), clock.new_user_id(), clock.new_media_id());
    let upload = Event::Upload { media_id: media, name: FileName::parse("a.txt").unwrap() };
    let shared = Event::ShareReceived { media_id: media, owner: Username::parse("alice").unwrap() };
    notifier.publish(&alice, upload.clone()).await.unwrap();
    notifier.publish(&bob, shared.clone()).await.unwrap();
    assert_eq!(notifier.events(), vec![(alice, upload.clone()), (bob, shared.clone())]);
    assert_eq!(notifier.events_for(&bob), vec![shared]);

    notifier.set_failing(true);
    assert!(notifier.publish(&alice, upload.clone()).await.is_err());
    notifier.set_failing(false);
    assert_eq!(notifier.take().len(), 2, "a failed publication is not recorded");
    assert!(notifier.events().is_empty());
}

// --- fake_ports with the real services ------------------------------------------------

#[tokio::test]
async fn accounts_service_runs_on_the_fakes() {
    let fakes = fake_ports();
    let accounts = fakes.account_service();
    let session = accounts
        .register(RegisterRequest::parse("alice", "alice@example.com", "correct horse").unwrap())
        .await
        .unwrap();
    let claims = accounts.authenticate(session.access_token.as_str()).await.unwrap();
    assert_eq!((claims.user_id, claims.issued_at), (session.owner.id, FixedClock::epoch()));
    assert_eq!(session.owner.id.ksuid().timestamp(), FixedClock::epoch(), "ids come from the fixed clock");

    assert!(accounts.login("ALICE", "correct horse").await.is_ok());
    assert!(accounts.login("nobody", "correct horse").await.is_err());
    assert_eq!(fakes.hasher.dummy_verifications(), 1, "an unknown user still costs a verification");

    let refreshed = accounts.refresh(&session.refresh_token).await.unwrap();
    assert!(accounts.refresh(&session.refresh_token).await.is_err(), "a spent token is refused");
    assert!(accounts.refresh(&refreshed.refresh_token).await.is_err(), "reuse revoked the family");
    let tokens = fakes.repositories.refresh_tokens().unwrap();
    assert!(tokens.iter().any(|t| t.revoked_at.is_some()));

    fakes.clock.advance(Duration::minutes(16));
    assert!(accounts.authenticate(session.access_token.as_str()).await.is_err(), "expired");
}

#[tokio::test]
async fn storage_service_runs_on_the_fakes() {
    let fakes = fake_ports();
    let accounts = fakes.account_service();
    let storage = fakes.storage_service(Default::default());
    let register = |name: &'static str| {
        let accounts = &accounts;
        async move {
            let request = RegisterRequest::parse(name, &format!("{name}@example.com"), "password1").unwrap();
            accounts.register(request).await.unwrap().owner
        }
    };
    let (alice, bob) = (register("alice").await, register("bob").await);

    let content = stream(vec![Ok(b"hello "), Ok(b"drip")]);
    let request = StoreRequest {
        user: alice.id,
        name: FileName::parse("hello.txt").unwrap(),
        folder: FolderPath::parse("$/docs").unwrap(),
        content_type: None,
        length: None,
        content,
    };
    let media = storage.store(request).await.unwrap();
    assert_eq!(media.size(), 10);
    assert_eq!(fakes.objects.len(), 1);
    assert_eq!(media.envelope().key_id(), "k1");
    let download = storage.download(&alice.id, &media.id(), None).await.unwrap();
    assert_eq!(read(download.content).await, b"hello drip");

    storage.share(&alice.id, &media.id(), &bob.username).await.unwrap();
    assert!(storage.info(&bob.id, &media.id()).await.is_ok());
    assert_eq!(
        fakes.notifier.events(),
        vec![
            (alice.id, Event::Upload { media_id: media.id(), name: media.name().clone() }),
            (alice.id, Event::ShareSent { media_id: media.id(), sharee: bob.username.clone() }),
            (bob.id, Event::ShareReceived { media_id: media.id(), owner: alice.username.clone() }),
        ]
    );

    fakes.keys.rotate_to("k2");
    assert_eq!(storage.rewrap_keys(10).await.unwrap(), 1);
    let rewrapped = storage.info(&alice.id, &media.id()).await.unwrap();
    assert_eq!(rewrapped.envelope().key_id(), "k2");
    assert_eq!(rewrapped.updated_at(), fakes.clock.now());

    storage.delete_permanently(&alice.id, &media.id()).await.unwrap();
    assert_eq!(fakes.run_jobs().await, 1, "the delete enqueued the removal of the object");
    assert!(fakes.objects.is_empty(), "the stored object is gone");
    assert!(fakes.repositories.all_media().unwrap().is_empty());
}

#[tokio::test]
async fn failed_uploads_leave_nothing_behind() {
    let fakes = fake_ports();
    let alice = fakes
        .account_service()
        .register(RegisterRequest::parse("alice", "alice@example.com", "password1").unwrap())
        .await
        .unwrap()
        .owner;
    let storage = fakes.storage_service(Default::default());
    let request = |content| StoreRequest {
        user: alice.id,
        name: FileName::parse("a.bin").unwrap(),
        folder: FolderPath::root(),
        content_type: None,
        length: None,
        content,
    };
    let broken = stream(vec![Ok(b"some bytes"), Err(io::Error::other("client went away"))]);
    assert!(storage.store(request(broken)).await.is_err());
    fakes.objects.set_failing(true);
    assert!(storage.store(request(stream(vec![Ok(b"x")]))).await.is_err());
    fakes.objects.set_failing(false);
    assert!(fakes.objects.is_empty());
    assert!(fakes.repositories.all_media().unwrap().is_empty());
    assert!(fakes.notifier.events().is_empty());
}

mod token_issuer_conformance {
    drip_testkit::token_issuer_conformance!(drip_mock::FakeTokenIssuer::new);
}
