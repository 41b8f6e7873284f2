//! Small wrappers over the operating system's CSPRNG and SHA-256, shared by the core.

use aws_lc_rs::{digest, hmac};

/// Fills an array with bytes from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS has no entropy source at all; continuing
    // with zeros would silently weaken every key and id, so stopping is the safe choice.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut out).expect("the operating system's random source failed");
    out
}

/// A secret token: 256 bits from the operating system's CSPRNG in 43 base64url characters
/// (refresh tokens, link tokens).
pub(crate) fn random_token() -> zeroize::Zeroizing<String> {
    use base64::Engine as _;
    let bytes: [u8; 32] = random_array();
    zeroize::Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a byte slice.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// HMAC-SHA-256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

/// Whether `tag` is the HMAC-SHA-256 of `message` under `key`, compared in constant time.
pub(crate) fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), message, tag).is_ok()
}
