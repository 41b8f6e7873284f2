//! `Digest`: the SHA-256 of a file's plaintext, as the upload pipeline computes it and
//! media records keep it.

use std::fmt;

/// Why a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sha-256 digest")]
pub struct InvalidDigest;

/// SHA-256 of a file's plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Wraps raw digest bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hexadecimal characters.
    ///
    /// # Errors
    /// [`InvalidDigest`] for anything else.
    pub fn parse_hex(text: &str) -> Result<Self, InvalidDigest> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| InvalidDigest)?;
        Ok(Self(out))
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hexadecimal form.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}
