//! Black-box tests of `LocalKeyWrapper`: round trip, rotation, tampering, unknown ids.

// Helpers outside `#[test]` functions unwrap too: in a test, a panic is a failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use drip_auth::{InvalidKeyring, InvalidMasterKey, LocalKeyWrapper, MasterKey};
use drip_core::content::DataKey;
use drip_core::storage::ports::{KeyError, KeyWrapper, WrappedKey};

fn key(id: &str, fill: u8) -> MasterKey {
    MasterKey::from_base64(id, &STANDARD.encode([fill; 32])).unwrap()
}

fn single(id: &str, fill: u8) -> LocalKeyWrapper {
    LocalKeyWrapper::new(key(id, fill), []).unwrap()
}

#[tokio::test]
async fn round_trip() {
    let wrapper = single("k1", 1);
    let data_key = DataKey::generate();
    let wrapped = wrapper.wrap(&data_key).await.unwrap();
    assert_eq!(wrapped.key_id, "k1");
    assert_eq!(wrapper.current_key_id(), "k1");
    assert_eq!(wrapped.bytes.len(), 12 + 32 + 16);
    assert!(!wrapped.bytes.windows(32).any(|w| w == data_key.expose()));
    let back = wrapper.unwrap(&wrapped).await.unwrap();
    assert_eq!(back.expose(), data_key.expose());
}

#[tokio::test]
async fn nonces_are_fresh() {
    let wrapper = single("k1", 1);
    let data_key = DataKey::generate();
    let a = wrapper.wrap(&data_key).await.unwrap();
    let b = wrapper.wrap(&data_key).await.unwrap();
    assert_ne!(a.bytes[..12], b.bytes[..12]);
    assert_ne!(a.bytes, b.bytes);
}

#[tokio::test]
async fn rotation() {
    let old = single("2024", 1);
    let data_key = DataKey::generate();
    let wrapped_old = old.wrap(&data_key).await.unwrap();

    let rotated = LocalKeyWrapper::new(key("2025", 2), [key("2024", 1)]).unwrap();
    assert_eq!(rotated.current_key_id(), "2025");
    assert_eq!(rotated.unwrap(&wrapped_old).await.unwrap().expose(), data_key.expose());
    let rewrapped = rotated.wrap(&data_key).await.unwrap();
    assert_eq!(rewrapped.key_id, "2025");
    assert_eq!(rotated.unwrap(&rewrapped).await.unwrap().expose(), data_key.expose());

    // The old configuration does not know the new key.
    assert!(matches!(old.unwrap(&rewrapped).await, Err(KeyError::UnknownKey(id)) if id == "2025"));

    // The same keyring built from a list.
    let listed = LocalKeyWrapper::from_keys(vec![key("2024", 1), key("2025", 2)], "2025").unwrap();
    assert_eq!(listed.current_key_id(), "2025");
    assert_eq!(listed.unwrap(&wrapped_old).await.unwrap().expose(), data_key.expose());
}

#[tokio::test]
async fn tampering_fails_authentication() {
    let wrapper = single("k1", 1);
    let wrapped = wrapper.wrap(&DataKey::generate()).await.unwrap();
    for i in 0..wrapped.bytes.len() {
        let mut bytes = wrapped.bytes.clone();
        bytes[i] ^= 0x01;
        let tampered = WrappedKey { key_id: "k1".to_owned(), bytes };
        assert!(matches!(wrapper.unwrap(&tampered).await, Err(KeyError::Integrity)), "byte {i}");
    }
}

#[tokio::test]
async fn a_key_relabelled_or_under_another_key_fails() {
    let wrapped = single("k1", 1).wrap(&DataKey::generate()).await.unwrap();
    // Same id, different key material.
    assert!(matches!(single("k1", 2).unwrap(&wrapped).await, Err(KeyError::Integrity)));
    // Same key material under another id: the id is authenticated data.
    let both = LocalKeyWrapper::new(key("k2", 1), [key("k1", 1)]).unwrap();
    let relabelled = WrappedKey { key_id: "k2".to_owned(), bytes: wrapped.bytes.clone() };
    assert!(matches!(both.unwrap(&relabelled).await, Err(KeyError::Integrity)));
    assert!(both.unwrap(&wrapped).await.is_ok());
}

#[tokio::test]
async fn unknown_ids_are_reported() {
    let wrapper = single("k1", 1);
    let mut wrapped = wrapper.wrap(&DataKey::generate()).await.unwrap();
    wrapped.key_id = "k9".to_owned();
    assert!(matches!(wrapper.unwrap(&wrapped).await, Err(KeyError::UnknownKey(id)) if id == "k9"));
}

#[tokio::test]
async fn wrong_lengths_fail_authentication() {
    let wrapper = single("k1", 1);
    let wrapped = wrapper.wrap(&DataKey::generate()).await.unwrap();
    let mut long = wrapped.bytes.clone();
    long.push(0);
    for bytes in [vec![], vec![0; 11], vec![0; 28], wrapped.bytes[..59].to_vec(), long] {
        let len = bytes.len();
        let bad = WrappedKey { key_id: "k1".to_owned(), bytes };
        assert!(matches!(wrapper.unwrap(&bad).await, Err(KeyError::Integrity)), "{len} bytes");
    }
}

#[test]
fn master_keys_are_validated_and_never_print() {
    assert_eq!(MasterKey::new("k1", &[0; 31]).unwrap_err(), InvalidMasterKey::Length(31));
    assert_eq!(MasterKey::new("k1", &[0; 33]).unwrap_err(), InvalidMasterKey::Length(33));
    assert_eq!(MasterKey::from_base64("k1", "not base64!").unwrap_err(), InvalidMasterKey::Base64);
    for bad_id in ["", "a b", "k/1", "é", &"k".repeat(129)] {
        assert_eq!(MasterKey::new(bad_id, &[0; 32]).unwrap_err(), InvalidMasterKey::Id, "{bad_id:?}");
    }
    assert!(MasterKey::new(&"k".repeat(128), &[0; 32]).is_ok());
    let master = MasterKey::new("prod-2025.01:a_b", &[0xAB; 32]).unwrap();
    assert_eq!(master.id(), "prod-2025.01:a_b");

    let secret_b64 = STANDARD.encode([0xAB; 32]);
    let printed_key = format!("{master:?}");
    let printed = format!("{printed_key} {:?}", LocalKeyWrapper::new(master, []).unwrap());
    assert!(printed.contains("<redacted>"), "{printed}");
    assert!(!printed.contains(&secret_b64) && !printed.to_lowercase().contains("abab"), "{printed}");
}

#[test]
fn keyrings_are_validated() {
    assert_eq!(
        LocalKeyWrapper::new(key("k1", 1), [key("k1", 2)]).unwrap_err(),
        InvalidKeyring::DuplicateId("k1".to_owned())
    );
    assert_eq!(
        LocalKeyWrapper::new(key("k1", 1), [key("k2", 2), key("k2", 3)]).unwrap_err(),
        InvalidKeyring::DuplicateId("k2".to_owned())
    );
    assert_eq!(
        LocalKeyWrapper::from_keys(vec![key("k1", 1)], "k2").unwrap_err(),
        InvalidKeyring::UnknownCurrent("k2".to_owned())
    );
    assert_eq!(
        LocalKeyWrapper::from_keys(vec![key("k1", 1), key("k1", 2)], "k1").unwrap_err(),
        InvalidKeyring::DuplicateId("k1".to_owned())
    );
}
