//! Small wrappers over the operating system's CSPRNG and SHA-256, shared by the core.

use aws_lc_rs::digest;

/// Fills an array with bytes from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS has no entropy source at all; continuing
    // with zeros would silently weaken every key and id, so stopping is the safe choice.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut out).expect("the operating system's random source failed");
    out
}

/// SHA-256 of a byte slice.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
