//! Random bytes from the operating system's CSPRNG, for salts, secrets and master keys.

/// Fills an array with bytes from the operating system's CSPRNG.
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS has no entropy source at all; fakes that went
    // on with zeros would make distinct secrets collide, so stopping is the honest choice.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut out).expect("the operating system's random source failed");
    out
}
