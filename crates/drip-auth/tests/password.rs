//! Black-box tests of `Argon2PasswordHasher` (at the cheapest cost, for speed).

// Helpers outside `#[test]` functions unwrap too: in a test, a panic is a failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use drip_auth::{Argon2Cost, Argon2PasswordHasher, Argon2SetupError};
use drip_core::accounts::model::{Password, PasswordHash};
use drip_core::accounts::ports::{HashError, PasswordHasher};

fn hasher() -> Argon2PasswordHasher {
    Argon2PasswordHasher::new(Argon2Cost::FOR_TESTS).unwrap()
}

fn password(text: &str) -> Password {
    Password::parse(text).unwrap()
}

#[tokio::test]
async fn hash_then_verify() {
    let h = hasher();
    let hash = h.hash(&password("correct horse")).await.unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{}", hash.as_str());
    assert!(h.verify(&password("correct horse"), &hash).await.unwrap());
    assert!(!h.verify(&password("correct horsE"), &hash).await.unwrap());
    assert!(!h.verify(&password("battery staple"), &hash).await.unwrap());
}

#[tokio::test]
async fn salts_differ() {
    let h = hasher();
    let a = h.hash(&password("same password")).await.unwrap();
    let b = h.hash(&password("same password")).await.unwrap();
    assert_ne!(a, b);
    assert!(h.verify(&password("same password"), &a).await.unwrap());
    assert!(h.verify(&password("same password"), &b).await.unwrap());
}

#[tokio::test]
async fn verification_uses_the_cost_stored_in_the_hash() {
    let cheap = hasher().hash(&password("rotate me")).await.unwrap();
    let dearer =
        Argon2PasswordHasher::new(Argon2Cost { memory_kib: 64, iterations: 2, parallelism: 2 }).unwrap();
    assert!(dearer.verify(&password("rotate me"), &cheap).await.unwrap());
    let hash = dearer.hash(&password("rotate me")).await.unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=2,p=2$"), "{}", hash.as_str());
    assert!(hasher().verify(&password("rotate me"), &hash).await.unwrap());
}

// The dummy verification's contract needs the reference hash, which is private: it is
// checked next to it, in `src/password.rs` (`dummy_verify_does_the_work_of_a_failed_verify`).

#[tokio::test]
async fn malformed_hashes_are_reported() {
    let h = hasher();
    let real = h.hash(&password("correct horse")).await.unwrap();
    let salt_and_hash = real.as_str().rsplitn(3, '$').take(2).collect::<Vec<_>>();
    let cases = [
        "$argon2id$".to_owned(),
        "$argon2id$v=19$m=8,t=1,p=1".to_owned(),
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ".to_owned(),
        "$argon2id$v=19$m=8,t=1,p=1$!!!$!!!".to_owned(),
        "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned(),
        "$argon2id$v=99$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned(),
        "$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned(),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        format!("$argon2id$v=19$m=8,t=1,p=1$x${}", salt_and_hash[0]),
    ];
    for stored in cases {
        let hash = PasswordHash::parse(&stored).unwrap();
        let result = h.verify(&password("correct horse"), &hash).await;
        assert!(matches!(result, Err(HashError::MalformedHash)), "{stored}: {result:?}");
    }
}

#[test]
fn costs_are_validated() {
    assert_eq!(Argon2Cost::default(), Argon2Cost::RECOMMENDED);
    assert_eq!(Argon2Cost::RECOMMENDED, Argon2Cost { memory_kib: 19_456, iterations: 2, parallelism: 1 });
    for bad in [
        Argon2Cost { memory_kib: 7, iterations: 1, parallelism: 1 },
        Argon2Cost { memory_kib: 8, iterations: 0, parallelism: 1 },
        Argon2Cost { memory_kib: 8, iterations: 1, parallelism: 0 },
        Argon2Cost { memory_kib: 8, iterations: 1, parallelism: 2 },
    ] {
        let err = Argon2PasswordHasher::new(bad).unwrap_err();
        assert!(matches!(err, Argon2SetupError::InvalidCost(_)), "{bad:?}: {err}");
    }
    let h = hasher();
    assert_eq!(h.cost(), Argon2Cost::FOR_TESTS);
    assert!(format!("{h:?}").contains("memory_kib: 8"));
}

#[tokio::test]
async fn the_recommended_cost_works() {
    let h = Argon2PasswordHasher::new(Argon2Cost::RECOMMENDED).unwrap();
    let hash = h.hash(&password("correct horse")).await.unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());
    assert!(h.verify(&password("correct horse"), &hash).await.unwrap());
}
